package command

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/cpx-node/cpx/crypto/keyring"
	"github.com/cpx-node/cpx/node/config"
	"github.com/cpx-node/cpx/node/daemon"
)

// PassphraseEnv names the environment variable that holds the keyring
// passphrase.
const PassphraseEnv = "CPX_PASSPHRASE"

func initCommand() *cli.Command {
	return &cli.Command{
		Name:  "init",
		Usage: "create a node directory for an agency",
		Description: `Creates DIR with the node's configuration (cpx.toml), its keyring
(keyring.json, protected by a passphrase from CPX_PASSPHRASE or a prompt;
a passphrase that zxcvbn estimates fewer than 10^12 guesses would find is
refused),
the wrapped store key, an encrypted store, and an initial administrator
"admin" whose token is written to DIR/credentials.json (mode 0600) and
printed once. Case numbers start with --case-prefix (default: the initials
of the agency id, country codes kept whole: save-the-children-so gives
SCSO-000001); the prefix is cases.number_prefix in cpx.toml.

With --keyring vault, every key is wrapped by a HashiCorp Vault transit key
instead (token from CPX_VAULT_TOKEN, or AppRole from CPX_VAULT_ROLE_ID and
CPX_VAULT_SECRET_ID); see docs/vault.md.

Example:
   CPX_PASSPHRASE=... cpx init --dir ./agency-a --agency save-the-children-so --name "Save the Children Somalia"
   CPX_VAULT_TOKEN=... cpx init --dir ./agency-a --agency save-the-children-so --keyring vault --vault-addr https://vault:8200`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dir", Usage: "node directory to create", Required: true, EnvVars: []string{"CPX_DIR"}},
			&cli.StringFlag{Name: "agency", Usage: "the agency's short stable id, e.g. unicef-so/hargeisa", Required: true},
			&cli.StringFlag{Name: "name", Usage: "the agency's display name"},
			&cli.StringFlag{Name: "case-prefix", Usage: "what case numbers start with, e.g. SCSO for SCSO-000001 (default: the initials of --agency)"},
			&cli.StringFlag{Name: "listen", Usage: "local API address (loopback)", Value: config.Default().API.Listen},
			&cli.StringFlag{Name: "keyring", Usage: "where the node's keys are kept: file (keyring.json, passphrase) or vault", Value: "file"},
			&cli.StringFlag{Name: "vault-addr", Usage: "Vault's address (keyring vault)", EnvVars: []string{"CPX_VAULT_ADDR"}},
			&cli.StringFlag{Name: "vault-transit-mount", Usage: "Vault transit mount", Value: "transit", EnvVars: []string{"CPX_VAULT_TRANSIT_MOUNT"}},
			&cli.StringFlag{Name: "vault-key", Usage: "Vault transit key name", Value: "cpx", EnvVars: []string{"CPX_VAULT_KEY"}},
			&cli.StringFlag{Name: "vault-ca-cert", Usage: "PEM `FILE` of CAs for Vault's TLS certificate", EnvVars: []string{"CPX_VAULT_CA_CERT"}},
			&cli.BoolFlag{Name: "coordination", Usage: "make a coordination node: it holds no case files and receives only aggregates (docs/coordination.md)"},
			&cli.StringSliceFlag{Name: "p2p-listen", Usage: "libp2p `MULTIADDR` other agencies' nodes connect to (repeatable)", Value: cli.NewStringSlice(config.Default().P2P.Listen...)},
			outputFlag(),
		},
		Action: func(c *cli.Context) error {
			if _, err := args(c, 0, 0); err != nil {
				return err
			}
			asJSON, err := jsonOutput(c)
			if err != nil {
				return err
			}
			cfg := config.Default()
			cfg.Agency = config.Agency{ID: c.String("agency"), Name: c.String("name"), Coordination: c.Bool("coordination")}
			cfg.API.Listen = c.String("listen")
			cfg.P2P.Listen = c.StringSlice("p2p-listen")
			if cfg.Agency.Name == "" {
				cfg.Agency.Name = cfg.Agency.ID
			}
			if !config.ValidAgency(cfg.Agency.ID) {
				return usageErrorf("--agency %q: use lowercase letters, digits, '-' and '/' (e.g. unicef-so/hargeisa)", cfg.Agency.ID)
			}
			cfg.Cases.NumberPrefix = config.CasePrefix(cfg.Agency.ID)
			if c.IsSet("case-prefix") {
				cfg.Cases.NumberPrefix = c.String("case-prefix")
				if !config.ValidCasePrefix(cfg.Cases.NumberPrefix) {
					return usageErrorf("--case-prefix %q: use an upper-case letter, then up to 11 upper-case letters or digits (e.g. SCSO)", cfg.Cases.NumberPrefix)
				}
			}
			cfg.Keyring.Kind = c.String("keyring")
			var pass []byte
			switch cfg.Keyring.Kind {
			case "vault":
				cfg.Vault.Addr = c.String("vault-addr")
				cfg.Vault.TransitMount = c.String("vault-transit-mount")
				cfg.Vault.Key = c.String("vault-key")
				cfg.Vault.CACert = c.String("vault-ca-cert")
				// Credentials only from the environment: never on the command line.
				cfg.Vault.Token = os.Getenv("CPX_VAULT_TOKEN")
				cfg.Vault.RoleID, cfg.Vault.SecretID = os.Getenv("CPX_VAULT_ROLE_ID"), os.Getenv("CPX_VAULT_SECRET_ID")
			case "file":
				if pass, err = keyring.Passphrase(PassphraseEnv, newPassphrasePrompt(c)); err != nil {
					return err
				}
				if err := keyring.CheckPassphrase(pass, cfg.Agency.ID, cfg.Agency.Name, filepath.Base(c.String("dir"))); err != nil {
					clear(pass)
					if os.Getenv(PassphraseEnv) != "" {
						return usageErrorf("%s: %v", PassphraseEnv, err)
					}
					return usageErrorf("%v", err)
				}
			default:
				return usageErrorf("--keyring %q: use file or vault", cfg.Keyring.Kind)
			}
			creds, err := daemon.Init(c.Context, daemon.InitOptions{Dir: c.String("dir"), Config: cfg, Passphrase: pass})
			clear(pass)
			if err != nil {
				return err
			}
			out := c.App.Writer
			if asJSON {
				b, err := json.MarshalIndent(map[string]string{"dir": c.String("dir"), "agency": cfg.Agency.ID, "case_prefix": cfg.Cases.NumberPrefix, "user": creds.User, "token": creds.Token}, "", "  ")
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(out, "%s\n", b)
				return err
			}
			fmt.Fprintf(out, "Created node %s for agency %s; case numbers start with %s-.\n", c.String("dir"), cfg.Agency.ID, cfg.Cases.NumberPrefix)
			fmt.Fprintf(out, "Administrator %q, token (shown once; also in %s/credentials.json, mode 0600):\n  %s\n", creds.User, c.String("dir"), creds.Token)
			fmt.Fprintf(out, "Start the node with: cpx start --dir %s\n", c.String("dir"))
			return nil
		},
	}
}

// newPassphrasePrompt asks for a new passphrase twice on the terminal.
func newPassphrasePrompt(c *cli.Context) func() ([]byte, error) {
	return func() ([]byte, error) {
		p, err := readPassphrase(c, "New keyring passphrase: ")
		if err != nil {
			return nil, err
		}
		again, err := readPassphrase(c, "Repeat it: ")
		if err != nil {
			return nil, err
		}
		if string(p) != string(again) {
			return nil, errors.New("the passphrases differ")
		}
		return p, nil
	}
}

// passphrasePrompt asks for an existing passphrase on the terminal.
func passphrasePrompt(c *cli.Context) func() ([]byte, error) {
	return func() ([]byte, error) { return readPassphrase(c, "Keyring passphrase: ") }
}

func readPassphrase(c *cli.Context, prompt string) ([]byte, error) {
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil, fmt.Errorf("no passphrase: set %s or run in a terminal to be asked", PassphraseEnv)
	}
	fmt.Fprint(c.App.ErrWriter, prompt)
	p, err := term.ReadPassword(fd)
	fmt.Fprintln(c.App.ErrWriter)
	return p, err
}
