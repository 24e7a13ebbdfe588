package command

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"github.com/urfave/cli/v2"

	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

var approvalTypeUsage = "`TYPE`: assessment, case_plan, action_plan or closure (required)"

func caseAssignCommand() *cli.Command {
	return &cli.Command{
		Name:      "assign",
		Usage:     "hand a case to another caseworker",
		ArgsUsage: "CASE",
		Description: "Makes USER the owner of case CASE (and the user's group its group). Who you may\n" +
			"assign to depends on your role: anyone (assign), anyone of the agency\n" +
			"(assign_within_agency) or your own group (assign_within_user_group). The new\n" +
			"owner is notified; the case's history and the audit log keep who assigned it.\n\n" +
			"Example:\n   cpx case assign CASE-000001 --to sahra --reason \"leave until March\"",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "to", Usage: "the new owner `USER` (required)"},
			&cli.StringFlag{Name: "reason", Usage: "why (kept with the case, not in the notification)"},
		}, clientFlags()...),
		Action: func(c *cli.Context) error {
			return call(c, 1, 1, func(cn *conn, a []string) (*connect.Response[localv1.AssignCaseResponse], error) {
				return cn.Work.AssignCase(c.Context, connect.NewRequest(&localv1.AssignCaseRequest{Id: a[0], To: c.String("to"), Reason: c.String("reason")}))
			}, func(w io.Writer, r *localv1.AssignCaseResponse) error {
				_, err := fmt.Fprintf(w, "assigned %s to %s (group %s, version %d)\n", r.GetCaseNumber(), r.GetOwner(), dash(r.GetOwnerGroup()), r.GetVersion())
				return err
			}, "to")
		},
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func caseWorkCommand() *cli.Command {
	return &cli.Command{
		Name:      "work",
		Usage:     "show a case's assignments, approvals and flags",
		ArgsUsage: "CASE",
		Description: "Shows the day-to-day casework of case CASE: every assignment, every approval\n" +
			"request and its decision, every flag.\n\nExample:\n   cpx case work CASE-000001",
		Flags: clientFlags(),
		Action: func(c *cli.Context) error {
			return call(c, 1, 1, func(cn *conn, a []string) (*connect.Response[localv1.GetCaseworkResponse], error) {
				return cn.Work.GetCasework(c.Context, connect.NewRequest(&localv1.GetCaseworkRequest{Id: a[0]}))
			}, printCasework)
		},
	}
}

func printCasework(w io.Writer, r *localv1.GetCaseworkResponse) error {
	tw := newTable(w)
	row(tw, "WHEN", "WHAT", "WHO", "DETAILS")
	for _, a := range r.GetAssignments() {
		row(tw, ts(a.GetAt()), "assigned", a.GetBy(), a.GetFrom()+" -> "+a.GetTo()+" "+a.GetReason())
	}
	for _, a := range r.GetApprovals() {
		row(tw, ts(a.GetRequestedAt()), a.GetType()+" approval requested", a.GetRequestedBy(), a.GetRequestComment())
		if a.GetDecidedBy() != "" {
			row(tw, ts(a.GetDecidedAt()), a.GetType()+" "+a.GetStatus(), a.GetDecidedBy(), a.GetComment())
		}
	}
	for _, f := range r.GetFlags() {
		row(tw, ts(f.GetFlaggedAt()), "flag "+strconv.Itoa(int(f.GetId())), f.GetFlaggedBy(), f.GetMessage())
		if f.GetResolved() {
			row(tw, ts(f.GetResolvedAt()), "flag "+strconv.Itoa(int(f.GetId()))+" resolved", f.GetResolvedBy(), f.GetResolution())
		}
	}
	return tw.Flush()
}

func caseApprovalCommand() *cli.Command {
	return &cli.Command{
		Name:  "approval",
		Usage: "request approval of a case's assessment, case plan, action plan or closure",
		Subcommands: []*cli.Command{{
			Name:      "request",
			Usage:     "ask the case's managers to approve",
			ArgsUsage: "CASE",
			Description: "Requests approval of the assessment, case plan, action plan or closure of\n" +
				"case CASE. Everyone who may decide it (supervisors of the case's group) is\n" +
				"notified and sees it in cpx approval list --pending.\n\n" +
				"Example:\n   cpx case approval request CASE-000001 --type closure --comment \"reunified\"",
			Flags: append([]cli.Flag{
				&cli.StringFlag{Name: "type", Usage: approvalTypeUsage},
				&cli.StringFlag{Name: "comment", Usage: "a note for the approver (not in the notification)"},
			}, clientFlags()...),
			Action: func(c *cli.Context) error {
				return call(c, 1, 1, func(cn *conn, a []string) (*connect.Response[localv1.RequestApprovalResponse], error) {
					return cn.Work.RequestApproval(c.Context, connect.NewRequest(&localv1.RequestApprovalRequest{Id: a[0], Type: c.String("type"), Comment: c.String("comment")}))
				}, func(w io.Writer, r *localv1.RequestApprovalResponse) error {
					_, err := fmt.Fprintf(w, "requested approval of the %s of %s\n", r.GetApproval().GetType(), r.GetCaseNumber())
					return err
				}, "type")
			},
		}, {
			Name:      "show",
			Usage:     "show the case's approval history (and its other casework)",
			ArgsUsage: "CASE",
			Flags:     clientFlags(),
			Action: func(c *cli.Context) error {
				return call(c, 1, 1, func(cn *conn, a []string) (*connect.Response[localv1.GetCaseworkResponse], error) {
					return cn.Work.GetCasework(c.Context, connect.NewRequest(&localv1.GetCaseworkRequest{Id: a[0]}))
				}, printCasework)
			},
		}},
	}
}

func approvalCommand() *cli.Command {
	decide := func(name string, approve bool) *cli.Command {
		return &cli.Command{
			Name:      name,
			Usage:     name + " a pending approval request",
			ArgsUsage: "CASE",
			Description: "Decides the pending request of type TYPE on case CASE. Your role must hold\n" +
				"approve_TYPE and reach the case; your own request needs self_approve. A\n" +
				"rejection needs a comment. The requester is notified.\n\n" +
				"Example:\n   cpx approval " + name + " CASE-000001 --type closure --comment \"agreed\"",
			Flags: append([]cli.Flag{
				&cli.StringFlag{Name: "type", Usage: approvalTypeUsage},
				&cli.StringFlag{Name: "comment", Usage: "why (required to reject)"},
			}, clientFlags()...),
			Action: func(c *cli.Context) error {
				return call(c, 1, 1, func(cn *conn, a []string) (*connect.Response[localv1.DecideApprovalResponse], error) {
					return cn.Work.DecideApproval(c.Context, connect.NewRequest(&localv1.DecideApprovalRequest{Id: a[0], Type: c.String("type"), Approve: approve, Comment: c.String("comment")}))
				}, func(w io.Writer, r *localv1.DecideApprovalResponse) error {
					_, err := fmt.Fprintf(w, "%s the %s of %s\n", r.GetApproval().GetStatus(), r.GetApproval().GetType(), r.GetCaseNumber())
					return err
				}, "type")
			},
		}
	}
	return &cli.Command{
		Name:  "approval",
		Usage: "list and decide approval requests",
		Subcommands: []*cli.Command{{
			Name:  "list",
			Usage: "list pending approval requests you may decide or made",
			Description: "Lists the pending requests you may decide (CAN DECIDE yes) and those you made.\n\n" +
				"Example:\n   cpx approval list --pending",
			Flags: append([]cli.Flag{
				&cli.BoolFlag{Name: "pending", Usage: "pending requests (the only ones listed; accepted for clarity)"},
			}, clientFlags()...),
			Action: func(c *cli.Context) error {
				return call(c, 0, 0, func(cn *conn, _ []string) (*connect.Response[localv1.ListApprovalsResponse], error) {
					return cn.Work.ListApprovals(c.Context, connect.NewRequest(&localv1.ListApprovalsRequest{Pending: true}))
				}, func(w io.Writer, r *localv1.ListApprovalsResponse) error {
					tw := newTable(w)
					row(tw, "CASE NUMBER", "TYPE", "REQUESTED BY", "REQUESTED AT", "OWNER", "GROUP", "CAN DECIDE")
					for _, a := range r.GetApprovals() {
						row(tw, a.GetCaseNumber(), a.GetType(), a.GetRequestedBy(), a.GetRequestedAt(), a.GetOwner(), a.GetOwnerGroup(), yes(a.GetCanDecide()))
					}
					return tw.Flush()
				})
			},
		}, decide("approve", true), decide("reject", false)},
	}
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// parseDays reads "7d" or "7" as 7 days.
func parseDays(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
	if err != nil || n < 0 || n > 3660 {
		return 0, usageErrorf("--upcoming %q: give a number of days such as 7d (0-3660)", s)
	}
	return n, nil
}

func taskCommand() *cli.Command {
	return &cli.Command{
		Name:  "task",
		Usage: "list what is due on cases",
		Subcommands: []*cli.Command{{
			Name:  "list",
			Usage: "list tasks, oldest first",
			Description: "Lists the tasks derived from the cases you may read: assessments, case plans,\n" +
				"follow-ups and services due, and any date field a form marks as due. A task\n" +
				"goes away when the data that completes it is recorded. Oldest first, with how\n" +
				"many days late (negative: days left).\n\n" +
				"Examples:\n   cpx task list --overdue\n   cpx task list --upcoming 7d --group north",
			Flags: append([]cli.Flag{
				&cli.BoolFlag{Name: "overdue", Usage: "tasks whose due date has passed"},
				&cli.StringFlag{Name: "upcoming", Usage: "tasks due within `DAYS` from today (e.g. 7d)"},
				&cli.StringFlag{Name: "user", Usage: "only cases owned by `USER` (me: yourself)"},
				&cli.StringFlag{Name: "group", Usage: "only cases of `GROUP`"},
				&cli.IntFlag{Name: "limit", Usage: "at most `N` tasks (0: 1000)"},
			}, clientFlags()...),
			Action: func(c *cli.Context) error {
				days := 0
				if u := c.String("upcoming"); u != "" {
					var err error
					if days, err = parseDays(u); err != nil {
						return err
					}
				}
				if c.String("user") != "" && c.String("group") != "" {
					return usageErrorf("give --user or --group, not both")
				}
				return call(c, 0, 0, func(cn *conn, _ []string) (*connect.Response[localv1.ListTasksResponse], error) {
					return cn.Work.ListTasks(c.Context, connect.NewRequest(&localv1.ListTasksRequest{Overdue: c.Bool("overdue"), UpcomingDays: int32(days),
						User: c.String("user"), Group: c.String("group"), Limit: int32(c.Int("limit"))}))
				}, func(w io.Writer, r *localv1.ListTasksResponse) error {
					tw := newTable(w)
					row(tw, "CASE NUMBER", "WHAT", "DUE", "DAYS LATE", "OWNER", "GROUP")
					for _, t := range r.GetTasks() {
						what := t.GetKind()
						if t.GetRow() > 0 {
							what += " #" + strconv.Itoa(int(t.GetRow()))
						}
						row(tw, t.GetCaseNumber(), what, t.GetDue(), strconv.Itoa(int(t.GetDaysLate())), t.GetOwner(), t.GetOwnerGroup())
					}
					return tw.Flush()
				})
			},
		}},
	}
}

// MaxBulkFlags bounds one cpx case flag.
const maxBulkFlags = 100

func caseFlagCommand() *cli.Command {
	return &cli.Command{
		Name:      "flag",
		Usage:     "put a flag on one or more cases",
		ArgsUsage: "CASE...",
		Description: "Puts a flag with MESSAGE on each CASE (at most 100, from the arguments and/or\n" +
			"--from FILE, one case per line). The owner of each case is notified (the\n" +
			"message is not in the notification). Exits non-zero if any case was not flagged.\n\n" +
			"Examples:\n   cpx case flag CASE-000001 --message \"do not contact the father\" --date 2026-12-01\n" +
			"   cpx case flag --from cases.txt --message \"review after the flood\"",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "message", Usage: "what the flag says (required)"},
			&cli.StringFlag{Name: "date", Usage: "the `YYYY-MM-DD` the flag is about"},
			&cli.StringFlag{Name: "from", Usage: "read case numbers from `FILE`, one a line"},
		}, clientFlags()...),
		Action: runCaseFlag,
	}
}

func runCaseFlag(c *cli.Context) error {
	refs, err := args(c, 0, maxBulkFlags)
	if err != nil {
		return err
	}
	if err := need(c, "message"); err != nil {
		return err
	}
	if f := c.String("from"); f != "" {
		more, err := readLines(f)
		if err != nil {
			return err
		}
		refs = append(refs, more...)
	}
	if len(refs) == 0 || len(refs) > maxBulkFlags {
		return usageErrorf("give 1 to %d cases (arguments or --from), not %d", maxBulkFlags, len(refs))
	}
	asJSON, cn, err := outputAndDial(c)
	if err != nil {
		return err
	}
	out := &localv1.ListFlagsResponse{}
	var failed []string
	for _, ref := range refs {
		resp, err := cn.Work.FlagCase(c.Context, connect.NewRequest(&localv1.FlagCaseRequest{Id: ref, Message: c.String("message"), Date: c.String("date")}))
		if err != nil {
			if len(refs) == 1 {
				return err
			}
			fmt.Fprintf(c.App.ErrWriter, "cpx: %s: %s\n", ref, Message(err))
			failed = append(failed, ref)
			continue
		}
		f := resp.Msg.GetFlag()
		f.CaseNumber = resp.Msg.GetCaseNumber()
		out.Flags = append(out.Flags, f)
	}
	if asJSON {
		if err := printJSON(c.App.Writer, out); err != nil {
			return err
		}
	} else {
		for _, f := range out.Flags {
			fmt.Fprintf(c.App.Writer, "flagged %s (flag %d)\n", f.GetCaseNumber(), f.GetId())
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d cases not flagged: %s", len(failed), len(refs), strings.Join(failed, ", "))
	}
	return nil
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageErrorf("--from: %v", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
		if len(out) > maxBulkFlags {
			return nil, usageErrorf("--from %s: more than %d cases", path, maxBulkFlags)
		}
	}
	return out, sc.Err()
}

func caseUnflagCommand(name string) *cli.Command {
	return &cli.Command{
		Name:      name,
		Usage:     "resolve a flag on a case",
		ArgsUsage: "CASE",
		Description: "Resolves flag ID of case CASE (without --id: its only open flag). A flag\n" +
			"someone else put needs resolve_any_flag. The flag stays in the case's history.\n\n" +
			"Example:\n   cpx case " + name + " CASE-000001 --id 2 --reason \"father moved away\"",
		Flags: append([]cli.Flag{
			&cli.IntFlag{Name: "id", Usage: "the flag's `ID` within the case"},
			&cli.StringFlag{Name: "reason", Usage: "how it was resolved"},
		}, clientFlags()...),
		Action: func(c *cli.Context) error {
			if c.Int("id") < 0 {
				return usageErrorf("--id must be positive")
			}
			return call(c, 1, 1, func(cn *conn, a []string) (*connect.Response[localv1.ResolveFlagResponse], error) {
				return cn.Work.ResolveFlag(c.Context, connect.NewRequest(&localv1.ResolveFlagRequest{Id: a[0], FlagId: int32(c.Int("id")), Resolution: c.String("reason")}))
			}, func(w io.Writer, r *localv1.ResolveFlagResponse) error {
				_, err := fmt.Fprintf(w, "resolved flag %d of %s\n", r.GetFlag().GetId(), r.GetCaseNumber())
				return err
			})
		},
	}
}

func flagCommand() *cli.Command {
	return &cli.Command{
		Name:  "flag",
		Usage: "list open flags",
		Subcommands: []*cli.Command{{
			Name:        "list",
			Usage:       "list the open flags on the cases you may read",
			Description: "Example:\n   cpx flag list",
			Flags:       clientFlags(),
			Action: func(c *cli.Context) error {
				return call(c, 0, 0, func(cn *conn, _ []string) (*connect.Response[localv1.ListFlagsResponse], error) {
					return cn.Work.ListFlags(c.Context, connect.NewRequest(&localv1.ListFlagsRequest{}))
				}, func(w io.Writer, r *localv1.ListFlagsResponse) error {
					tw := newTable(w)
					row(tw, "CASE NUMBER", "FLAG", "DATE", "BY", "AT", "OWNER", "MESSAGE")
					for _, f := range r.GetFlags() {
						row(tw, f.GetCaseNumber(), strconv.Itoa(int(f.GetId())), f.GetDate(), f.GetFlaggedBy(), ts(f.GetFlaggedAt()), f.GetOwner(), f.GetMessage())
					}
					return tw.Flush()
				})
			},
		}},
	}
}

func notifyCommand() *cli.Command {
	return &cli.Command{
		Name:  "notify",
		Usage: "email notifications",
		Subcommands: []*cli.Command{{
			Name:  "status",
			Usage: "show the notification queue: queued, sent, failing, last error",
			Description: "Shows whether SMTP is configured and the notification queue's counts. Without\n" +
				"SMTP notifications are recorded and wait. For the node's administrators.\n\n" +
				"Example:\n   cpx notify status --dir ./node",
			Flags: clientFlags(),
			Action: func(c *cli.Context) error {
				return call(c, 0, 0, func(cn *conn, _ []string) (*connect.Response[localv1.NotifyStatusResponse], error) {
					return cn.Work.NotifyStatus(c.Context, connect.NewRequest(&localv1.NotifyStatusRequest{}))
				}, func(w io.Writer, r *localv1.NotifyStatusResponse) error {
					tw := newTable(w)
					smtp := "configured"
					if !r.GetSmtpConfigured() {
						smtp = "not configured: notifications are queued, not sent"
					}
					row(tw, "smtp:", smtp)
					row(tw, "queued:", strconv.FormatInt(r.GetQueued(), 10))
					row(tw, "failing:", strconv.FormatInt(r.GetFailing(), 10))
					row(tw, "sent:", strconv.FormatInt(r.GetSent(), 10))
					row(tw, "skipped:", strconv.FormatInt(r.GetSkipped(), 10))
					row(tw, "last sent:", ts(r.GetLastSentAt()))
					row(tw, "last error:", r.GetLastError()+" "+ts(r.GetLastErrorAt()))
					return tw.Flush()
				})
			},
		}},
	}
}

func dashboardCommand() *cli.Command {
	return &cli.Command{
		Name:  "dashboard",
		Usage: "a manager's view: cases by stage, overdue tasks, approvals, incoming exchanges, flags",
		Description: "Counts over the open cases you may read (of GROUP with --group).\n\n" +
			"Example:\n   cpx dashboard --group north -o json",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "group", Usage: "only cases of `GROUP`"},
		}, clientFlags()...),
		Action: func(c *cli.Context) error {
			return call(c, 0, 0, func(cn *conn, _ []string) (*connect.Response[localv1.DashboardResponse], error) {
				return cn.Work.Dashboard(c.Context, connect.NewRequest(&localv1.DashboardRequest{Group: c.String("group")}))
			}, func(w io.Writer, r *localv1.DashboardResponse) error {
				tw := newTable(w)
				for _, k := range r.GetCasesByStage() {
					row(tw, "cases, "+k.GetKey()+":", strconv.FormatInt(k.GetCount(), 10))
				}
				for _, k := range r.GetOverdueTasksByKind() {
					row(tw, "overdue, "+k.GetKey()+":", strconv.FormatInt(k.GetCount(), 10))
				}
				row(tw, "due within 7 days:", strconv.FormatInt(r.GetUpcomingTasks(), 10))
				row(tw, "approvals pending:", strconv.FormatInt(r.GetApprovalsPending(), 10))
				row(tw, "incoming referrals and transfers waiting:", strconv.FormatInt(r.GetIncomingExchangesWaiting(), 10))
				row(tw, "open flags:", strconv.FormatInt(r.GetOpenFlags(), 10))
				return tw.Flush()
			})
		},
	}
}
