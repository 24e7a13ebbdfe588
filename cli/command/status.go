package command

import (
	"fmt"
	"io"
	"strconv"

	"connectrpc.com/connect"
	"github.com/urfave/cli/v2"

	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show the node's identity, counters and health",
		Description: "Asks a running node who it is (agency, version, start time), how many cases,\n" +
			"users and audit entries it holds, which keyring it uses, and who the caller is:\n" +
			"the node and the identity every other command run the same way will use, and\n" +
			"where each came from (--api, --dir DIR's api.url, CPX_API, CPX_DIR's api.url;\n" +
			"--token, --dir DIR's credentials.json, CPX_TOKEN, CPX_DIR's credentials.json,\n" +
			"in that order).\n\n" +
			"Example:\n   cpx status --dir ./node",
		Flags:  clientFlags(),
		Action: runStatus,
	}
}

func runStatus(c *cli.Context) error {
	var node *conn // the text says where the node and the token came from
	return call(c, 0, 0, func(cn *conn, _ []string) (*connect.Response[localv1.StatusResponse], error) {
		node = cn
		return cn.Node.Status(c.Context, connect.NewRequest(&localv1.StatusRequest{}))
	}, func(w io.Writer, s *localv1.StatusResponse) error {
		tw := newTable(w)
		agency := s.GetAgencyId()
		if s.GetAgencyName() != "" {
			agency = fmt.Sprintf("%s (%s)", s.GetAgencyId(), s.GetAgencyName())
		}
		row(tw, "agency:", agency)
		row(tw, "node:", fmt.Sprintf("%s (from %s)", node.url, node.target.APIFrom))
		row(tw, "version:", s.GetVersion())
		row(tw, "started:", ts(s.GetStartedAt()))
		row(tw, "cases:", strconv.FormatInt(s.GetCases(), 10))
		row(tw, "users:", strconv.FormatInt(s.GetUsers(), 10))
		row(tw, "audit head:", strconv.FormatUint(s.GetAuditHead(), 10))
		keyring := s.GetKeyring()
		if !s.GetKeyringOk() {
			keyring += " (UNREACHABLE: " + s.GetKeyringProblem() + "; serving with the keys in memory)"
		}
		row(tw, "keyring:", keyring)
		row(tw, "caller:", fmt.Sprintf("%s (%s), token from %s", s.GetCaller(), s.GetCallerRole(), node.target.TokenFrom))
		return tw.Flush()
	})
}
