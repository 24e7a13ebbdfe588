package command

import (
	"fmt"
	"io"
	"strconv"

	"connectrpc.com/connect"
	"github.com/urfave/cli/v2"

	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

func retentionCommand() *cli.Command {
	return &cli.Command{
		Name:  "retention",
		Usage: "how long this node keeps the case data other agencies sent it",
		Subcommands: []*cli.Command{{
			Name:  "status",
			Usage: "list received case data: kept, until when, or deleted",
			Description: "Each exchange through which this node received case data (an incoming\n" +
				"referral or transfer, the answer to a disclosure request), among those you\n" +
				"may list: the ISP's retention_days, when the clock started (the end of the\n" +
				"exchange or of the ISP's validity, whichever is first), the deadline, and\n" +
				"whether the data is kept, held until the deadline, or was deleted (shredded).\n" +
				"The node deletes data whose deadline passed on start and every hour.\n\n" +
				"Example:\n   cpx retention status -o json",
			Flags: clientFlags(),
			Action: func(c *cli.Context) error {
				return call(c, 0, 0, func(cn *conn, _ []string) (*connect.Response[localv1.RetentionStatusResponse], error) {
					return cn.Ret.RetentionStatus(c.Context, connect.NewRequest(&localv1.RetentionStatusRequest{}))
				}, func(w io.Writer, r *localv1.RetentionStatusResponse) error {
					if len(r.GetEntries()) == 0 {
						fmt.Fprintln(w, "no received case data")
						return nil
					}
					tw := newTable(w)
					row(tw, "EXCHANGE", "KIND", "PEER", "STATUS", "ISP", "DAYS", "STATE", "DEADLINE", "SHREDDED")
					for _, e := range r.GetEntries() {
						days := strconv.Itoa(int(e.GetDays()))
						if e.GetDays() == 0 {
							days = "no limit"
						}
						row(tw, e.GetExchange(), e.GetDirection()+" "+e.GetKind(), e.GetPeer(), e.GetStatus(), e.GetIsp(), days, e.GetState(), ts(e.GetDeadline()), ts(e.GetShredded()))
					}
					return tw.Flush()
				})
			},
		}},
	}
}
