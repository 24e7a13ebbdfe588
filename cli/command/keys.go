package command

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"github.com/urfave/cli/v2"

	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

func keysCommand() *cli.Command {
	return &cli.Command{
		Name:  "keys",
		Usage: "show and rotate the node's keys",
		Subcommands: []*cli.Command{
			{
				Name:  "status",
				Usage: "show the keyring, its health and the agency's key versions",
				Description: "Shows which keyring wraps the node's keys (file or vault), whether it answers\n" +
					"(a node keeps serving with the keys in memory while Vault is away), the Vault\n" +
					"transit key's versions, and every version of the agency's keys.\n\n" +
					"Example:\n   cpx keys status --dir ./node",
				Flags: clientFlags(),
				Action: func(c *cli.Context) error {
					return call(c, 0, 0, func(cn *conn, _ []string) (*connect.Response[localv1.KeysStatusResponse], error) {
						return cn.Keys.KeysStatus(c.Context, connect.NewRequest(&localv1.KeysStatusRequest{}))
					}, func(w io.Writer, m *localv1.KeysStatusResponse) error {
						tw := newTable(w)
						health := "ok"
						if !m.KeyringOk {
							health = "UNREACHABLE: " + m.KeyringProblem
						}
						row(tw, "keyring:", m.Keyring, health)
						if m.Keyring == "vault" {
							row(tw, "wrapping key:", fmt.Sprintf("version %d (decrypts from %d)", m.WrappingVersion, m.WrappingMinDecryptionVersion))
						}
						tw.Flush()
						fmt.Fprintln(w)
						tw = newTable(w)
						row(tw, "VERSION", "FINGERPRINT", "VALID FROM", "VALID UNTIL", "")
						for _, k := range m.AgencyKeys {
							cur := ""
							if k.Current {
								cur = "current"
							}
							row(tw, strconv.Itoa(int(k.Version)), k.Fingerprint, ts(k.NotBefore), ts(k.NotAfter), cur)
						}
						return tw.Flush()
					})
				},
			},
			{
				Name:  "rotate",
				Usage: "rotate the wrapping key (--wrapping) or the agency's keys (--agency)",
				Description: "--wrapping rotates the Vault transit key and rewraps the store key and every\n" +
					"wrapped private key under the new version.\n" +
					"--agency creates the next version of the agency's encryption and signing keys\n" +
					"and announces it to the peers, signed by the previous version; the old keys stay\n" +
					"to open envelopes still in flight until they expire.\n\n" +
					"Example:\n   cpx keys rotate --agency --dir ./node",
				Flags: append(clientFlags(),
					&cli.BoolFlag{Name: "wrapping", Usage: "rotate the keyring's wrapping key and rewrap every secret"},
					&cli.BoolFlag{Name: "agency", Usage: "rotate the agency's encryption and signing keys"},
				),
				Action: func(c *cli.Context) error {
					return callWith(c, 0, 0, func([]string) error {
						if !c.Bool("wrapping") && !c.Bool("agency") {
							return usageErrorf("say what to rotate: --wrapping, --agency or both")
						}
						return nil
					}, func(cn *conn, _ []string) (*connect.Response[localv1.RotateKeysResponse], error) {
						return cn.Keys.RotateKeys(c.Context, connect.NewRequest(&localv1.RotateKeysRequest{Wrapping: c.Bool("wrapping"), Agency: c.Bool("agency")}))
					}, func(w io.Writer, m *localv1.RotateKeysResponse) error {
						if c.Bool("wrapping") {
							fmt.Fprintf(w, "wrapping key rotated; %d secrets rewrapped\n", m.Rewrapped)
						}
						if k := m.NewAgencyKey; k != nil {
							fmt.Fprintf(w, "agency keys: version %d, fingerprint %s, valid until %s\n", k.Version, k.Fingerprint, ts(k.NotAfter))
							if len(m.AnnouncedTo) > 0 {
								fmt.Fprintf(w, "announced to: %s\n", strings.Join(m.AnnouncedTo, ", "))
							}
							if len(m.NotReached) > 0 {
								fmt.Fprintf(w, "not reachable now (they learn it when they next connect): %s\n", strings.Join(m.NotReached, ", "))
							}
						}
						return nil
					}, nil)
				},
			},
		},
	}
}
