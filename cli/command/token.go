package command

import (
	"fmt"

	"connectrpc.com/connect"
	"github.com/urfave/cli/v2"

	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

func userTokenCommand() *cli.Command {
	return &cli.Command{
		Name:  "token",
		Usage: "issue, list and revoke users' bearer tokens",
		Subcommands: []*cli.Command{
			{
				Name:      "issue",
				Usage:     "issue a new token to a user (administrators); shown once",
				ArgsUsage: "USER",
				Description: "Issues a new bearer token to USER, valid for --ttl (default: the node's\n" +
					"auth.token_ttl, 90 days). The token is printed once; the node keeps only its hash.\n\n" +
					"Example:\n   cpx user token issue amina --ttl 720h --dir ./node",
				Flags: append([]cli.Flag{
					&cli.DurationFlag{Name: "ttl", Usage: "the token's lifetime (`DURATION`, e.g. 720h; at most 366 days)"},
				}, clientFlags()...),
				Action: func(c *cli.Context) error {
					a, err := args(c, 1, 1)
					if err != nil {
						return err
					}
					asJSON, cn, err := outputAndDial(c)
					if err != nil {
						return err
					}
					resp, err := cn.Users.IssueToken(c.Context, connect.NewRequest(&localv1.IssueTokenRequest{User: a[0], TtlSeconds: int64(c.Duration("ttl").Seconds())}))
					if err != nil {
						return err
					}
					fmt.Fprintf(c.App.ErrWriter, "warning: this is the only time this token of %s is shown; store it now\n", a[0])
					if asJSON {
						return printJSON(c.App.Writer, resp.Msg)
					}
					i := resp.Msg.GetInfo()
					fmt.Fprintf(c.App.Writer, "token %s for %s, valid until %s:\n%s\n", i.GetId(), i.GetUser(), ts(i.GetExpiresAt()), resp.Msg.GetToken())
					return nil
				},
			},
			{
				Name:      "list",
				Usage:     "list tokens by id (yours, or a user's for administrators)",
				ArgsUsage: "[USER]",
				Description: "Lists tokens by id (the first hex digits of the token's hash: it names the\n" +
					"token and cannot be used as one), holder and expiry. Without USER: your own.\n\n" +
					"Example:\n   cpx user token list amina --dir ./node",
				Flags: clientFlags(),
				Action: func(c *cli.Context) error {
					a, err := args(c, 0, 1)
					if err != nil {
						return err
					}
					asJSON, cn, err := outputAndDial(c)
					if err != nil {
						return err
					}
					user := ""
					if len(a) == 1 {
						user = a[0]
					} else {
						st, err := cn.Node.Status(c.Context, connect.NewRequest(&localv1.StatusRequest{}))
						if err != nil {
							return err
						}
						user = st.Msg.GetCaller()
					}
					resp, err := cn.Users.ListTokens(c.Context, connect.NewRequest(&localv1.ListTokensRequest{User: user}))
					if err != nil {
						return err
					}
					if asJSON {
						return printJSON(c.App.Writer, resp.Msg)
					}
					tw := newTable(c.App.Writer)
					row(tw, "ID", "USER", "EXPIRES")
					for _, t := range resp.Msg.GetTokens() {
						row(tw, t.GetId(), t.GetUser(), ts(t.GetExpiresAt()))
					}
					return tw.Flush()
				},
			},
			{
				Name:      "revoke",
				Usage:     "revoke a token by id, or every token of a user; at once",
				ArgsUsage: "[ID]",
				Description: "Revokes the token whose id starts with ID (at least 6 hex digits, from cpx user\n" +
					"token list), or with --user U --all every token of U. The next call with a revoked\n" +
					"token is refused. Anyone may revoke their own tokens; administrators anyone's.\n\n" +
					"Examples:\n   cpx user token revoke 3fa2b1c0 --dir ./node\n   cpx user token revoke --user amina --all --dir ./node",
				Flags: append([]cli.Flag{
					&cli.StringFlag{Name: "user", Usage: "revoke the tokens of `USER` (with --all)"},
					&cli.BoolFlag{Name: "all", Usage: "every token of --user"},
				}, clientFlags()...),
				Action: func(c *cli.Context) error {
					a, err := args(c, 0, 1)
					if err != nil {
						return err
					}
					req := &localv1.RevokeTokenRequest{User: c.String("user"), All: c.Bool("all")}
					if len(a) == 1 {
						req.Id = a[0]
					}
					if (req.Id == "") == (req.User == "" || !req.All) {
						return usageErrorf("give a token ID, or --user USER --all")
					}
					asJSON, cn, err := outputAndDial(c)
					if err != nil {
						return err
					}
					resp, err := cn.Users.RevokeToken(c.Context, connect.NewRequest(req))
					if err != nil {
						return err
					}
					if asJSON {
						return printJSON(c.App.Writer, resp.Msg)
					}
					fmt.Fprintf(c.App.Writer, "revoked %d token(s)\n", resp.Msg.GetRevoked())
					return nil
				},
			},
		},
	}
}
