package command

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"github.com/urfave/cli/v2"

	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

func reportCommand() *cli.Command {
	runFlags := []cli.Flag{
		&cli.StringFlag{Name: "file", Usage: "run the definition in `FILE` instead of a named report"},
		&cli.StringFlag{Name: "from", Usage: "first day of the period, `YYYY-MM-DD`"},
		&cli.StringFlag{Name: "to", Usage: "last day of the period, `YYYY-MM-DD`"},
		&cli.StringSliceFlag{Name: "by", Usage: "count by `FIELD` instead of the report's dimensions (repeat: rows, columns, pages)"},
		&cli.StringSliceFlag{Name: "filter", Usage: "keep records where `FIELD=VALUE[,VALUE...]` (repeatable)"},
		&cli.IntFlag{Name: "k", Usage: "disclosure control: suppress counts from 1 to `K`-1", Value: 5},
		&cli.IntFlag{Name: "protection", Usage: "disclosure control: no suppressed cell can be narrowed to less than `P` (default K)"},
		&cli.BoolFlag{Name: "no-suppression", Usage: "show every count as it is (for the agency's own use; audited)"},
		&cli.StringFlag{Name: "out", Usage: "write to `FILE` (required for xlsx; written whole or not at all)"},
		&cli.StringFlag{Name: "period", Usage: "the period `P` (2026-11, 2026-Q4 or 2026) instead of --from and --to"},
		&cli.BoolFlag{Name: "merged", Usage: "on a coordination node: the agencies' latest submissions for --period, merged and controlled again"},
	}
	return &cli.Command{
		Name:  "report",
		Usage: "run aggregate reports over the cases you may see",
		Description: "Reports count records the caller may list: a caseworker's own cases, a\n" +
			"supervisor's group's, the agency's for agency-wide roles. Identifying fields\n" +
			"can never be counted by. Counts below k are suppressed, with enough other\n" +
			"cells that none can be worked out from the totals (docs/reporting.md).",
		Subcommands: []*cli.Command{
			{
				Name:        "list",
				Usage:       "list the managed reports and the node's own",
				Description: "Example:\n   cpx report list --dir ./node",
				Flags:       clientFlags(),
				Action:      runReportList,
			},
			{
				Name:        "show",
				Usage:       "show what a report counts, and its definition",
				ArgsUsage:   "NAME",
				Description: "Example:\n   cpx report show protection_concerns",
				Flags:       clientFlags(),
				Action:      runReportShow,
			},
			{
				Name:      "run",
				Usage:     "run a report",
				ArgsUsage: "NAME",
				Description: "Runs a report and prints it, or writes it with --out.\n" +
					"Output formats: table, json, csv, xlsx (one sheet per table with a chart,\n" +
					"and a sheet About saying what was counted and what was suppressed).\n\n" +
					"Examples:\n   cpx report run cases_by_workflow_stage\n" +
					"   cpx report run protection_concerns --from 2026-11-01 --to 2026-11-30 -o xlsx --out nov.xlsx\n" +
					"   cpx report run case_characteristics --by sex --by risk_level -o csv",
				Flags:  append(reportClientFlags(), runFlags...),
				Action: runReportRun,
			},
			{
				Name:      "push",
				Usage:     "send a report for a period to a coordination node",
				ArgsUsage: "NAME",
				Description: "Runs the report over the whole agency for the period, applies the disclosure\n" +
					"control of the ISP's aggregate rule (its threshold k and protection interval), and\n" +
					"sends the table through the outbox: delivered now, or retried until the coordination\n" +
					"node takes it. Exits non-zero if no ISP allows it or the coordination node refuses it.\n" +
					"Needs a role that counts the whole agency (dpo, coordinator).\n\n" +
					"Example:\n   cpx report push protection_concerns --to cp-subcluster-so --period 2026-11",
				Flags: append(clientFlags(),
					&cli.StringFlag{Name: "to", Usage: "the coordination body's `AGENCY` id", Required: true},
					&cli.StringFlag{Name: "period", Usage: "the period `P`, as the ISP's frequency writes it: 2026-11, 2026-Q4 or 2026", Required: true},
				),
				Action: runReportPush,
			},
			{
				Name:  "submissions",
				Usage: "on a coordination node: which agency sent what for a period, and who is missing",
				Description: "Lists every aggregate received for the period (every version: a resubmission\n" +
					"replaces the earlier one, which stays in the history) and the agencies an ISP in\n" +
					"force expects reports from that sent none.\n\n" +
					"Example:\n   cpx report submissions --period 2026-11",
				Flags: append(clientFlags(),
					&cli.StringFlag{Name: "period", Usage: "the period `P`: 2026-11, 2026-Q4 or 2026", Required: true},
					&cli.StringFlag{Name: "report", Usage: "only this report `NAME`"},
				),
				Action: runReportSubmissions,
			},
			{
				Name:      "validate",
				Usage:     "check a report definition against the node's forms",
				ArgsUsage: "FILE",
				Description: "Checks a TOML definition; errors name the line and the field. Put valid\n" +
					"definitions in the node directory's reports/ folder to list and run them by name.\n\n" +
					"Example:\n   cpx report validate monthly.toml",
				Flags:  clientFlags(),
				Action: runReportValidate,
			},
		},
	}
}

// reportClientFlags are clientFlags with an output flag that also knows
// csv and xlsx.
func reportClientFlags() []cli.Flag {
	var out []cli.Flag
	for _, f := range clientFlags() {
		if f.Names()[0] == "output" {
			f = &cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output `FORMAT`: table, json, csv or xlsx", Value: "table"}
		}
		out = append(out, f)
	}
	return out
}

func runReportList(c *cli.Context) error {
	if _, err := args(c, 0, 0); err != nil {
		return err
	}
	asJSON, cn, err := outputAndDial(c)
	if err != nil {
		return err
	}
	resp, err := cn.Reports.ListReports(c.Context, connect.NewRequest(&localv1.ListReportsRequest{}))
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.App.Writer, resp.Msg)
	}
	tw := newTable(c.App.Writer)
	row(tw, "NAME", "RECORDS", "ORIGIN", "TITLE")
	for _, r := range resp.Msg.GetReports() {
		row(tw, r.GetName(), r.GetRecord(), r.GetOrigin(), r.GetTitle())
	}
	return tw.Flush()
}

func runReportShow(c *cli.Context) error {
	a, err := args(c, 1, 1)
	if err != nil {
		return err
	}
	asJSON, cn, err := outputAndDial(c)
	if err != nil {
		return err
	}
	resp, err := cn.Reports.ShowReport(c.Context, connect.NewRequest(&localv1.ShowReportRequest{Name: a[0]}))
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.App.Writer, resp.Msg)
	}
	r := resp.Msg.GetReport()
	fmt.Fprintf(c.App.Writer, "%s: %s\n\n%s\n\nCounts: %s (%s report)\n\nDefinition:\n%s", r.GetName(), r.GetTitle(), r.GetDescription(), r.GetRecord(), r.GetOrigin(), r.GetDefinition())
	return nil
}

func runReportValidate(c *cli.Context) error {
	a, err := args(c, 1, 1)
	if err != nil {
		return err
	}
	src, err := os.ReadFile(a[0])
	if err != nil {
		return err
	}
	asJSON, cn, err := outputAndDial(c)
	if err != nil {
		return err
	}
	resp, err := cn.Reports.ValidateReport(c.Context, connect.NewRequest(&localv1.ValidateReportRequest{Definition: string(src)}))
	if err != nil {
		if ce := new(connect.Error); errors.As(err, &ce) && ce.Code() == connect.CodeInvalidArgument {
			return fmt.Errorf("%s is not valid:\n  %s", a[0], strings.ReplaceAll(ce.Message(), "\n", "\n  "))
		}
		return err
	}
	if asJSON {
		return printJSON(c.App.Writer, resp.Msg)
	}
	fmt.Fprintf(c.App.Writer, "ok: %s counts %s\n", resp.Msg.GetReport().GetName(), resp.Msg.GetReport().GetRecord())
	return nil
}

func runReportRun(c *cli.Context) error {
	a, err := args(c, 0, 1)
	if err != nil {
		return err
	}
	format := c.String("output")
	switch format {
	case "table", "json", "csv", "xlsx":
	default:
		return usageErrorf("unknown output format %q: want table, json, csv or xlsx", format)
	}
	req := &localv1.RunReportRequest{
		From: c.String("from"), To: c.String("to"), By: c.StringSlice("by"), Filters: c.StringSlice("filter"),
		K: int32(c.Int("k")), Protection: int32(c.Int("protection")), NoSuppression: c.Bool("no-suppression"),
		Period: c.String("period"), Merged: c.Bool("merged"),
	}
	if req.Merged && !c.IsSet("k") {
		req.K = 0 // the ISPs' terms decide
	}
	switch {
	case len(a) == 1 && c.String("file") != "":
		return usageErrorf("give a report NAME or --file, not both")
	case len(a) == 1:
		req.Name = a[0]
	case c.String("file") != "":
		src, err := os.ReadFile(c.String("file"))
		if err != nil {
			return err
		}
		req.Definition = string(src)
	default:
		return usageErrorf("which report? give its NAME (cpx report list) or --file FILE")
	}
	if c.Int("k") < 0 || c.Int("protection") < 0 {
		return usageErrorf("--k and --protection must not be negative")
	}
	out := c.String("out")
	if format == "xlsx" && out == "" {
		return usageErrorf("-o xlsx needs --out FILE")
	}
	if out != "" {
		// Fail before running when the file cannot be written.
		f, err := createOut(out, c.App.Writer)
		if err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		f.Abort()
	}
	cn, err := dial(c)
	if err != nil {
		return err
	}
	resp, err := cn.Reports.RunReport(c.Context, connect.NewRequest(req))
	if err != nil {
		return err
	}
	res := resp.Msg.GetResult()
	dest := "-"
	if out != "" {
		dest = out
	}
	f, err := createOut(dest, c.App.Writer)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	switch format {
	case "json":
		err = printJSON(f, resp.Msg)
	case "csv":
		err = writeReportCSV(f, res)
	case "xlsx":
		err = writeReportXLSX(f, res)
	default:
		err = writeReportText(f, res)
	}
	if err != nil {
		f.Abort()
		return err
	}
	if err := f.Commit(); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if out != "" {
		fmt.Fprintf(c.App.ErrWriter, "wrote %s\n", out)
	}
	return nil
}

// cellText renders a count, or "x" for a suppressed one.
func cellText(c *localv1.ReportCell) string {
	if c.GetSuppressed() != "" {
		return "x"
	}
	return strconv.FormatInt(c.GetCount(), 10)
}

func headerLabel(h *localv1.ReportHeader) string {
	if h.GetLabel() != "" {
		return h.GetLabel()
	}
	return h.GetKey()
}

// grid is a table as rows of text: the header row, one row per row
// header, and the totals row.
func grid(t *localv1.ReportTable) [][]string {
	nc := max(1, len(t.GetCols()))
	head := []string{t.GetRowField()}
	if len(t.GetCols()) > 0 {
		for _, h := range t.GetCols() {
			head = append(head, headerLabel(h))
		}
		head = append(head, "Total")
	} else {
		head = append(head, "Count")
	}
	out := [][]string{head}
	for i, h := range t.GetRows() {
		line := []string{headerLabel(h)}
		for j := range nc {
			line = append(line, cellText(t.GetCells()[i*nc+j]))
		}
		if len(t.GetCols()) > 0 {
			line = append(line, cellText(t.GetRowTotals()[i]))
		}
		out = append(out, line)
	}
	tot := []string{"Total"}
	for _, c := range t.GetColTotals() {
		tot = append(tot, cellText(c))
	}
	tot = append(tot, cellText(t.GetTotal()))
	return append(out, tot)
}

func pageTitle(t *localv1.ReportTable) string {
	if t.GetPageField() == "" {
		return ""
	}
	return t.GetPageField() + ": " + headerLabel(t.GetPage())
}

func writeReportText(w io.Writer, r *localv1.ReportResult) error {
	fmt.Fprintf(w, "%s\n", r.GetTitle())
	if r.GetFrom() != "" || r.GetTo() != "" {
		fmt.Fprintf(w, "Period: %s to %s\n", or(r.GetFrom(), "the start"), or(r.GetTo(), "today"))
	}
	for _, t := range r.GetTables() {
		fmt.Fprintln(w)
		if p := pageTitle(t); p != "" {
			fmt.Fprintln(w, p)
		}
		tw := newTable(w)
		for _, line := range grid(t) {
			row(tw, line...)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if r.GetK() > 0 {
		fmt.Fprintf(w, "\nx: suppressed (counts below %d, and cells that would reveal them; protection interval %d).\n", r.GetK(), r.GetProtection())
	}
	return nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// csvSafe defuses a cell a spreadsheet would read as a formula (CWE-1236):
// a leading =, +, -, @, tab or carriage return gets a leading quote.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func writeReportCSV(w io.Writer, r *localv1.ReportResult) error {
	cw := csv.NewWriter(w)
	for i, t := range r.GetTables() {
		g := grid(t)
		for j, line := range g {
			if j == 0 && i > 0 {
				continue // one header row for the whole file
			}
			rec := make([]string, 0, len(line)+1)
			if t.GetPageField() != "" {
				if j == 0 {
					rec = append(rec, t.GetPageField())
				} else {
					rec = append(rec, headerLabel(t.GetPage()))
				}
			}
			for _, s := range line {
				rec = append(rec, csvSafe(s))
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

func runReportPush(c *cli.Context) error {
	a, err := args(c, 1, 1)
	if err != nil {
		return err
	}
	asJSON, cn, err := outputAndDial(c)
	if err != nil {
		return err
	}
	resp, err := cn.Reports.PushReport(c.Context, connect.NewRequest(&localv1.PushReportRequest{Name: a[0], To: c.String("to"), Period: c.String("period")}))
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.App.Writer, resp.Msg)
	}
	m := resp.Msg
	res := m.GetResult()
	fmt.Fprintf(c.App.Writer, "%s for %s to %s under ISP %s v%d (k %d, protection interval %d): exchange %s\n",
		a[0], c.String("period"), c.String("to"), m.GetIsp(), m.GetIspVersion(), res.GetK(), res.GetProtection(), m.GetExchange().GetId())
	if m.GetDelivered() {
		fmt.Fprintln(c.App.Writer, "delivered: the coordination node returned its signed receipt")
	} else {
		fmt.Fprintf(c.App.Writer, "waiting in the outbox (retried until delivered): %s\n", m.GetWaiting())
	}
	return writeReportText(c.App.Writer, res)
}

func runReportSubmissions(c *cli.Context) error {
	if _, err := args(c, 0, 0); err != nil {
		return err
	}
	asJSON, cn, err := outputAndDial(c)
	if err != nil {
		return err
	}
	resp, err := cn.Reports.ListSubmissions(c.Context, connect.NewRequest(&localv1.ListSubmissionsRequest{Period: c.String("period"), Report: c.String("report")}))
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.App.Writer, resp.Msg)
	}
	tw := newTable(c.App.Writer)
	row(tw, "AGENCY", "REPORT", "VERSION", "RECEIVED", "STATE", "BY", "EXCHANGE")
	for _, s := range resp.Msg.GetSubmissions() {
		state := "current"
		if !s.GetCurrent() {
			state = "replaced"
		}
		row(tw, s.GetAgency(), s.GetReport(), strconv.Itoa(int(s.GetVersion())), s.GetReceivedAt().AsTime().UTC().Format("2006-01-02 15:04:05Z"), state, s.GetActor(), s.GetExchange())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if m := resp.Msg.GetMissing(); len(m) > 0 {
		fmt.Fprintf(c.App.Writer, "\nmissing for %s: %s\n", c.String("period"), strings.Join(m, ", "))
	} else {
		fmt.Fprintf(c.App.Writer, "\nno agency is missing for %s\n", c.String("period"))
	}
	return nil
}
