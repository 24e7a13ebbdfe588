package command

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/cpx-node/cpx/node/config"
	"github.com/cpx-node/cpx/node/daemon"
)

func storeCommand() *cli.Command {
	return &cli.Command{
		Name:  "store",
		Usage: "check the node's store (offline)",
		Subcommands: []*cli.Command{
			{
				Name:  "verify",
				Usage: "read and authenticate every record of a stopped node's store",
				Description: "Opens the keyring of the stopped node in DIR (CPX_PASSPHRASE, or the Vault\n" +
					"credentials of a Vault node, as cpx start does), checks the store's logs, MANIFEST\n" +
					"and tables, and reads and authenticates the newest value of every record. Each\n" +
					"failure is listed by file or by record kind and key fingerprint (never the key\n" +
					"or the value); any failure exits non-zero. See docs/security.md.\n\n" +
					"Example:\n   CPX_PASSPHRASE=... cpx store verify --dir ./node",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "dir", Usage: "the node `DIR` (the node must be stopped)", Required: true},
					outputFlag(),
				},
				Action: runStoreVerify,
			},
		},
	}
}

type storeFailure struct {
	What  string `json:"what"`
	Error string `json:"error"`
}

type storeVerifyResult struct {
	Dir      string         `json:"dir"`
	OK       bool           `json:"ok"`
	Records  int            `json:"records"`
	Failures []storeFailure `json:"failures"`
}

func runStoreVerify(c *cli.Context) error {
	if _, err := args(c, 0, 0); err != nil {
		return err
	}
	asJSON, err := jsonOutput(c)
	if err != nil {
		return err
	}
	dir := c.String("dir")
	cfg, err := config.Load(dir, os.Environ(), nil)
	if err != nil {
		return err
	}
	pass, err := keyringPassphrase(c, cfg.Keyring.Kind)
	if err != nil {
		return err
	}
	rep, err := daemon.VerifyStore(c.Context, daemon.VerifyStoreOptions{Dir: dir, Passphrase: pass, Environ: os.Environ()})
	clear(pass)
	if err != nil {
		return passphraseError(dir, err)
	}
	res := storeVerifyResult{Dir: dir, OK: len(rep.Failures) == 0, Records: rep.Records, Failures: []storeFailure{}}
	for _, f := range rep.Failures {
		res.Failures = append(res.Failures, storeFailure{What: f.What, Error: f.Err.Error()})
	}
	if asJSON {
		if err := printPlainJSON(c.App.Writer, res); err != nil {
			return err
		}
	} else {
		for _, f := range res.Failures {
			fmt.Fprintf(c.App.Writer, "FAILED  %s: %s\n", f.What, f.Error)
		}
		if res.OK {
			fmt.Fprintf(c.App.Writer, "ok: %d records read and authenticated\n", res.Records)
		}
	}
	if !res.OK {
		return fmt.Errorf("the store in %s failed %d check(s) (%d records read); restore it from a backup (cpx restore, see docs/keys.md)", dir, len(res.Failures), res.Records)
	}
	return nil
}
