package command

import (
	"fmt"
	"io"

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
					return call(c, 1, 1, func(cn *conn, a []string) (*connect.Response[localv1.IssueTokenResponse], error) {
						resp, err := cn.Users.IssueToken(c.Context, connect.NewRequest(&localv1.IssueTokenRequest{User: a[0], TtlSeconds: int64(c.Duration("ttl").Seconds())}))
						if err == nil {
							fmt.Fprintf(c.App.ErrWriter, "warning: this is the only time this token of %s is shown; store it now\n", a[0])
						}
						return resp, err
					}, func(w io.Writer, r *localv1.IssueTokenResponse) error {
						i := r.GetInfo()
						_, err := fmt.Fprintf(w, "token %s for %s, valid until %s:\n%s\n", i.GetId(), i.GetUser(), ts(i.GetExpiresAt()), r.GetToken())
						return err
					})
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
					return call(c, 0, 1, func(cn *conn, a []string) (*connect.Response[localv1.ListTokensResponse], error) {
						var user string
						if len(a) == 1 {
							user = a[0]
						} else {
							st, err := cn.Node.Status(c.Context, connect.NewRequest(&localv1.StatusRequest{}))
							if err != nil {
								return nil, err
							}
							user = st.Msg.GetCaller()
						}
						return cn.Users.ListTokens(c.Context, connect.NewRequest(&localv1.ListTokensRequest{User: user}))
					}, func(w io.Writer, r *localv1.ListTokensResponse) error {
						tw := newTable(w)
						row(tw, "ID", "USER", "EXPIRES")
						for _, t := range r.GetTokens() {
							row(tw, t.GetId(), t.GetUser(), ts(t.GetExpiresAt()))
						}
						return tw.Flush()
					})
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
					req := &localv1.RevokeTokenRequest{}
					return callWith(c, 0, 1, func(a []string) error {
						req.User, req.All = c.String("user"), c.Bool("all")
						if len(a) == 1 {
							req.Id = a[0]
						}
						if (req.Id == "") == (req.User == "" || !req.All) {
							return usageErrorf("give a token ID, or --user USER --all")
						}
						return nil
					}, func(cn *conn, _ []string) (*connect.Response[localv1.RevokeTokenResponse], error) {
						return cn.Users.RevokeToken(c.Context, connect.NewRequest(req))
					}, func(w io.Writer, r *localv1.RevokeTokenResponse) error {
						_, err := fmt.Fprintf(w, "revoked %d token(s)\n", r.GetRevoked())
						return err
					}, nil)
				},
			},
		},
	}
}
