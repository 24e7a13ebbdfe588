package command

import (
	"fmt"
	"slices"
	"strings"

	"connectrpc.com/connect"
	"github.com/urfave/cli/v2"

	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

func userCommand() *cli.Command {
	return &cli.Command{
		Name:  "user",
		Usage: "manage the node's users and their tokens",
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "add a user and print their bearer token (shown once)",
				ArgsUsage: "NAME",
				Description: "Adds user NAME with role ROLE (and optionally a group, used by roles that\n" +
					"see only their group's cases). The new user's bearer token is printed once on\n" +
					"stdout: the node keeps only its hash, so store it now.\n\n" +
					"Example:\n   cpx user add amina --role caseworker --group north --dir ./node",
				Flags: append([]cli.Flag{
					&cli.StringFlag{Name: "role", Usage: "the user's `ROLE` (required), e.g. caseworker, supervisor, admin"},
					&cli.StringFlag{Name: "group", Usage: "the user's `GROUP` (team or office)"},
					&cli.StringFlag{Name: "email", Usage: "the `ADDRESS` notifications are sent to"},
					&cli.StringFlag{Name: "language", Usage: "the `LANG` of the user's notifications (en, fr, ar; other languages fall back to en unless the agency adds templates)"},
				}, clientFlags()...),
				Action: runUserAdd,
			},
			{
				Name:  "list",
				Usage: "list the node's users",
				Description: "Lists every user with their role, group, status and creation time.\n\n" +
					"Example:\n   cpx user list --dir ./node",
				Flags:  clientFlags(),
				Action: runUserList,
			},
			{
				Name:      "disable",
				Usage:     "disable a user; their token stops working",
				ArgsUsage: "NAME",
				Description: "Disables user NAME: the node refuses their token from now on. Their cases\n" +
					"and audit entries are kept.\n\n" +
					"Example:\n   cpx user disable amina --dir ./node",
				Flags:  clientFlags(),
				Action: runUserDisable,
			},
			{
				Name:      "approve",
				Usage:     "approve a user another administrator requested, and print their token",
				ArgsUsage: "NAME",
				Description: "A role that reads other people's cases (supervisor, dpo, coordinator) is given\n" +
					"only by two people: an administrator requests it with cpx user add, and a second\n" +
					"administrator approves it here (the node's initial administrator may grant it\n" +
					"alone). The user's first token is printed once.\n\n" +
					"Example:\n   cpx user approve sam --dir ./node",
				Flags: clientFlags(),
				Action: func(c *cli.Context) error {
					a, err := args(c, 1, 1)
					if err != nil {
						return err
					}
					asJSON, cn, err := outputAndDial(c)
					if err != nil {
						return err
					}
					resp, err := cn.Users.ApproveUser(c.Context, connect.NewRequest(&localv1.ApproveUserRequest{Name: a[0]}))
					if err != nil {
						return err
					}
					fmt.Fprintf(c.App.ErrWriter, "warning: this is the only time the token of %s is shown; store it now\n", a[0])
					if asJSON {
						return printJSON(c.App.Writer, resp.Msg)
					}
					u := resp.Msg.GetUser()
					fmt.Fprintf(c.App.Writer, "approved user %s (role %s)\ntoken: %s\n", u.GetName(), u.GetRole(), resp.Msg.GetToken())
					return nil
				},
			},
			userNotifyCommand(),
			userTokenCommand(),
		},
	}
}

func runUserAdd(c *cli.Context) error {
	a, err := args(c, 1, 1)
	if err != nil {
		return err
	}
	if c.String("role") == "" {
		return usageErrorf("--role is required (see cpx user add --help)")
	}
	asJSON, cn, err := outputAndDial(c)
	if err != nil {
		return err
	}
	resp, err := cn.Users.AddUser(c.Context, connect.NewRequest(&localv1.AddUserRequest{
		Name: a[0], Role: c.String("role"), Group: c.String("group"),
		Email: c.String("email"), Language: c.String("language"),
	}))
	if err != nil {
		return err
	}
	if u := resp.Msg.GetUser(); u.GetRequestedBy() != "" {
		if asJSON {
			return printJSON(c.App.Writer, resp.Msg)
		}
		fmt.Fprintf(c.App.Writer, "requested user %s (role %s): the role reads other people's cases, so a second\nadministrator must approve it: cpx user approve %s\n", u.GetName(), u.GetRole(), u.GetName())
		return nil
	}
	fmt.Fprintf(c.App.ErrWriter, "warning: this is the only time the token of %s is shown; store it now (e.g. in a password manager)\n", resp.Msg.GetUser().GetName())
	if asJSON {
		return printJSON(c.App.Writer, resp.Msg)
	}
	u := resp.Msg.GetUser()
	w := c.App.Writer
	fmt.Fprintf(w, "added user %s (role %s", u.GetName(), u.GetRole())
	if u.GetGroup() != "" {
		fmt.Fprintf(w, ", group %s", u.GetGroup())
	}
	fmt.Fprintf(w, ")\ntoken: %s\n", resp.Msg.GetToken())
	return nil
}

func runUserList(c *cli.Context) error {
	if _, err := args(c, 0, 0); err != nil {
		return err
	}
	asJSON, cn, err := outputAndDial(c)
	if err != nil {
		return err
	}
	resp, err := cn.Users.ListUsers(c.Context, connect.NewRequest(&localv1.ListUsersRequest{}))
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.App.Writer, resp.Msg)
	}
	tw := newTable(c.App.Writer)
	row(tw, "NAME", "ROLE", "GROUP", "STATUS", "CREATED")
	for _, u := range resp.Msg.GetUsers() {
		row(tw, u.GetName(), u.GetRole(), u.GetGroup(), userStatus(u), ts(u.GetCreatedAt()))
	}
	return tw.Flush()
}

func userStatus(u *localv1.User) string {
	if u.GetDisabled() {
		return "disabled"
	}
	if u.GetRequestedBy() != "" {
		return "awaiting approval (asked by " + u.GetRequestedBy() + ")"
	}
	return "active"
}

func runUserDisable(c *cli.Context) error {
	a, err := args(c, 1, 1)
	if err != nil {
		return err
	}
	asJSON, cn, err := outputAndDial(c)
	if err != nil {
		return err
	}
	resp, err := cn.Users.DisableUser(c.Context, connect.NewRequest(&localv1.DisableUserRequest{Name: a[0]}))
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.App.Writer, resp.Msg)
	}
	fmt.Fprintf(c.App.Writer, "disabled user %s: their token no longer works\n", resp.Msg.GetUser().GetName())
	return nil
}

func userNotifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "notify",
		Usage:     "show or change which kinds of email notification a user gets",
		ArgsUsage: "[USER]",
		Description: "Without --off or --on, shows which kinds of notification USER (default: you)\n" +
			"gets and which they turned off. --off and --on take kinds, comma-separated:\n" +
			"case_assigned, approval_requested, approval_decided, case_flagged,\n" +
			"referral_received, referral_answered, tracing_match, digest, or the short\n" +
			"names assign, approval (both), flag, referral (both), tracing, all.\n" +
			"Anyone may change their own; an administrator anyone's. Changes are audited.\n\n" +
			"Examples:\n   cpx user notify\n   cpx user notify --off digest,flag\n   cpx user notify amina --on all",
		Flags: append([]cli.Flag{
			&cli.StringSliceFlag{Name: "off", Usage: "turn these `KINDS` off"},
			&cli.StringSliceFlag{Name: "on", Usage: "turn these `KINDS` on again"},
		}, clientFlags()...),
		Action: func(c *cli.Context) error {
			a, err := args(c, 0, 1)
			if err != nil {
				return err
			}
			name := "me"
			if len(a) == 1 {
				name = a[0]
			}
			asJSON, cn, err := outputAndDial(c)
			if err != nil {
				return err
			}
			resp, err := cn.Users.SetNotify(c.Context, connect.NewRequest(&localv1.SetNotifyRequest{
				Name: name, Off: splitList(c.StringSlice("off")), On: splitList(c.StringSlice("on")),
			}))
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(c.App.Writer, resp.Msg)
			}
			m := resp.Msg
			to := m.GetEmail()
			if to == "" {
				to = "(no email address: nothing is sent)"
			}
			fmt.Fprintf(c.App.Writer, "user %s, email %s, language %s\n", m.GetName(), to, orDefault(m.GetLanguage(), "en"))
			tw := newTable(c.App.Writer)
			row(tw, "KIND", "EMAIL")
			for _, k := range m.GetKinds() {
				state := "on"
				if slices.Contains(m.GetOff(), k) {
					state = "off"
				}
				row(tw, k, state)
			}
			return tw.Flush()
		},
	}
}

// splitList splits comma-separated values of a repeatable flag.
func splitList(vs []string) []string {
	var out []string
	for _, v := range vs {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
