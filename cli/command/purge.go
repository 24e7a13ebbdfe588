package command

import (
	"fmt"
	"io"
	"strings"

	"connectrpc.com/connect"
	"github.com/urfave/cli/v2"

	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

func casePurgeCommand() *cli.Command {
	return &cli.Command{
		Name:      "purge",
		Usage:     "erase a case for good (right to erasure)",
		ArgsUsage: "ID",
		Description: "Destroys case ID's data key, so its form data can no longer be read from the\n" +
			"store, from old store versions, or from any backup (crypto-shredding). Only a\n" +
			"tombstone (case number, status purged, the reason) and the audit trail remain.\n" +
			"This cannot be undone. Requires the purge permission (role dpo).\n" +
			"See docs/purge.md for what an old copy of the case-key store would revive.\n\n" +
			"Example:\n   cpx case purge CASE-000042 --reason \"erasure request of 2026-11-20\"",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "reason", Usage: "why the case is erased (required, kept in the tombstone)"},
		}, clientFlags()...),
		Action: func(c *cli.Context) error {
			var id string // the case as given: the tombstone has no data to show
			return callWith(c, 1, 1, func([]string) error {
				if strings.TrimSpace(c.String("reason")) == "" {
					return usageErrorf("--reason is required: say why the case is erased")
				}
				return nil
			}, func(cn *conn, a []string) (*connect.Response[localv1.PurgeCaseResponse], error) {
				id = a[0]
				return cn.Cases.PurgeCase(c.Context, connect.NewRequest(&localv1.PurgeCaseRequest{Id: a[0], Reason: c.String("reason")}))
			}, func(w io.Writer, _ *localv1.PurgeCaseResponse) error {
				_, err := fmt.Fprintf(w, "purged case %s: its data key is destroyed\n", id)
				return err
			}, nil)
		},
	}
}
