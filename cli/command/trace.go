package command

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"connectrpc.com/connect"
	"github.com/urfave/cli/v2"
	"google.golang.org/protobuf/types/known/structpb"

	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

func traceCommand() *cli.Command {
	setFlag := &cli.StringSliceFlag{
		Name: "set",
		Usage: "set a field: `field=value` (text, converted by the node) or field:=JSON. Request fields by name\n" +
			"\t(inquirer_name, relation, contact, location, date_of_separation, location_separation,\n" +
			"\tconsent_for_tracing); the child's as trace.FIELD (trace.name, trace.age, trace.nicknames...),\n" +
			"\tor trace.N.FIELD for child N. Repeatable",
	}
	return &cli.Command{
		Name:  "trace",
		Usage: "family tracing: create tracing requests, match them against cases, confirm or reject candidates",
		Subcommands: []*cli.Command{
			{
				Name:  "create",
				Usage: "create a tracing request from --set fields or a JSON file",
				Description: "Creates a tracing request: the inquirer and one or more children sought\n" +
					"(traces). --file is the full JSON document with a \"traces\" array; --set\n" +
					"applies after it. See docs/tracing.md.\n\n" +
					"Examples:\n" +
					"   cpx trace create --set inquirer_name=\"Fatima Yusuf\" --set relation=mother \\\n" +
					"       --set consent_for_tracing=true --set trace.name=\"Amina Yusuf\" --set trace.age=7\n" +
					"   cpx trace create --file request.json",
				Flags:  append([]cli.Flag{setFlag, &cli.StringFlag{Name: "file", Usage: "read the request from `FILE`, a JSON object"}}, clientFlags()...),
				Action: runTraceCreate,
			},
			{
				Name:        "get",
				Usage:       "show a tracing request",
				ArgsUsage:   "ID",
				Description: "Shows tracing request ID (an id or a number such as TR-000001).",
				Flags:       clientFlags(),
				Action:      runTraceGet,
			},
			{
				Name:  "list",
				Usage: "list tracing requests",
				Flags: append([]cli.Flag{
					&cli.StringFlag{Name: "status", Usage: "only requests with this `STATUS` (open or closed)"},
					&cli.StringFlag{Name: "query", Usage: "only the request numbered `WORDS`, or those whose names hold all of WORDS (whole words)"},
					&cli.IntFlag{Name: "limit", Usage: "at most `N` requests (0: the node's default)"},
				}, clientFlags()...),
				Action: runTraceList,
			},
			{
				Name:      "update",
				Usage:     "change fields of a tracing request",
				ArgsUsage: "ID",
				Description: "Sets fields as --set does for create; field:=null clears one. --set status=closed\n" +
					"closes the request, --set status=open reopens it.\n\n" +
					"Example:\n   cpx trace update TR-000001 --set trace.date_of_birth=2018-05-01",
				Flags:  append([]cli.Flag{setFlag}, clientFlags()...),
				Action: runTraceUpdate,
			},
			traceImportCommand(),
			traceRequestDetailsCommand(),
			{
				Name:      "match",
				Usage:     "find the cases that may be the children sought",
				ArgsUsage: "[ID]",
				Description: "Matches tracing request ID against the node's cases that have consent for\n" +
					"tracing, and lists the candidates you may read: probability, band (likely,\n" +
					"possible, unlikely) and the comparison of every field. With --all, re-matches\n" +
					"every open request and prints one line per request. With --federated, asks the\n" +
					"agencies an ISP allows for purpose tracing, sending only privacy-preserving\n" +
					"encodings of the children sought; they answer with bands and opaque handles.\n" +
					"--all --federated asks about every open request with the inquirer's consent as\n" +
					"one batch, within each ISP's queries_per_minute: it waits when the rate is spent,\n" +
					"showing progress on stderr. Either exits 1 if an agency could not be asked,\n" +
					"after printing what the others answered.\n\n" +
					"Examples:\n   cpx trace match TR-000001 --limit 5\n   cpx trace match --all -o json\n   cpx trace match TR-000001 --federated\n" +
					"   cpx trace match --all --federated -o json",
				Flags: append([]cli.Flag{
					&cli.IntFlag{Name: "limit", Usage: "at most `N` candidates per child (0: 20)"},
					&cli.BoolFlag{Name: "all", Usage: "match every open request and summarise"},
					&cli.BoolFlag{Name: "federated", Usage: "ask the other agencies an ISP allows (bands and handles only)"},
					&cli.StringFlag{Name: "min-probability", Usage: "only candidates whose probability is at least `P` (0 to 1; not with --all or --federated)"},
				}, clientFlags()...),
				Action: runTraceMatch,
			},
			traceDecideCommand("confirm", "confirm that a case is the child sought",
				"Records that case CASE is the child sought: the trace becomes \"matched\" with the\n"+
					"case's id. The decision and who took it are kept on the request and audited.\n\n"+
					"Example:\n   cpx trace confirm TR-000001 --case CASE-000042"),
			traceDecideCommand("reject", "record that a case is not the child sought",
				"Records that case CASE is not the child sought, with an optional reason. If the\n"+
					"trace was matched to that case, it is open again.\n\n"+
					"Example:\n   cpx trace reject TR-000001 --case CASE-000042 --reason \"different mother\""),
		},
	}
}

func traceDecideCommand(name, usage, desc string) *cli.Command {
	return &cli.Command{
		Name: name, Usage: usage, ArgsUsage: "ID", Description: desc,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "case", Usage: "the `CASE` (id or number)"},
			&cli.IntFlag{Name: "trace", Usage: "which child `N` of the request (needed when it seeks several)"},
			&cli.StringFlag{Name: "reason", Usage: "why (kept with the decision)"},
		}, clientFlags()...),
		Action: runTraceDecide,
	}
}

// caseMatchCommand is `cpx case match`.
func caseMatchCommand() *cli.Command {
	return &cli.Command{
		Name:      "match",
		Usage:     "find cases that look like a case (duplicates, relatives)",
		ArgsUsage: "ID",
		Description: "Lists the cases with consent for tracing that look like case ID (the case\n" +
			"itself excluded), with the comparison of every field.\n\n" +
			"Example:\n   cpx case match CASE-000042",
		Flags: append([]cli.Flag{
			&cli.IntFlag{Name: "limit", Usage: "at most `N` candidates (0: 20)"},
		}, clientFlags()...),
		Action: runCaseMatch,
	}
}

// traceSet parses --set arguments into a Struct of assignments.
func traceSet(sets []string) (*structpb.Struct, error) {
	out := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	for _, a := range sets {
		k, v, err := parseSet(a)
		if err != nil {
			return nil, usageErrorf("%v", err)
		}
		out.Fields[k] = v
	}
	return out, nil
}

// traceFile reads a request document.
func traceFile(name string) (*structpb.Struct, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(b) {
		return nil, usageErrorf("%s: not valid UTF-8", name)
	}
	s, err := jsonObject(b)
	if err != nil {
		return nil, usageErrorf("%s: %v: want a JSON object with a \"traces\" array", name, err)
	}
	return s, nil
}

func limitFlag(c *cli.Context) (int32, error) {
	l := c.Int("limit")
	if l < 0 || l > 1<<31-1 {
		return 0, usageErrorf("--limit must be between 0 and %d", 1<<31-1)
	}
	return int32(l), nil
}

func runTraceCreate(c *cli.Context) error {
	if _, err := args(c, 0, 0); err != nil {
		return err
	}
	asJSON, err := jsonOutput(c)
	if err != nil {
		return err
	}
	if c.String("file") == "" && len(c.StringSlice("set")) == 0 {
		return usageErrorf("no request: pass --set trace.name=... or --file FILE (see cpx trace create --help)")
	}
	var doc *structpb.Struct
	if f := c.String("file"); f != "" {
		if doc, err = traceFile(f); err != nil {
			return err
		}
	}
	set, err := traceSet(c.StringSlice("set"))
	if err != nil {
		return err
	}
	cn, err := dial(c)
	if err != nil {
		return err
	}
	resp, err := cn.Trace.CreateTracingRequest(c.Context, connect.NewRequest(&localv1.CreateTracingRequestRequest{Request: doc, Set: set}))
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.App.Writer, resp.Msg)
	}
	r := resp.Msg.GetRequest()
	fmt.Fprintf(c.App.Writer, "created tracing request %s (id %s, %d children sought)\n", r.GetNumber(), r.GetId(), len(r.GetTraces()))
	return nil
}

func runTraceGet(c *cli.Context) error {
	a, err := args(c, 1, 1)
	if err != nil {
		return err
	}
	asJSON, cn, err := outputAndDial(c)
	if err != nil {
		return err
	}
	resp, err := cn.Trace.GetTracingRequest(c.Context, connect.NewRequest(&localv1.GetTracingRequestRequest{Id: a[0]}))
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.App.Writer, resp.Msg)
	}
	return printTracingRequest(c.App.Writer, resp.Msg.GetRequest())
}

func printTracingRequest(w io.Writer, r *localv1.TracingRequest) error {
	tw := newTable(w)
	row(tw, "id:", r.GetId())
	row(tw, "number:", r.GetNumber())
	row(tw, "status:", r.GetStatus())
	row(tw, "owner:", r.GetOwner())
	row(tw, "created:", ts(r.GetCreatedAt()))
	row(tw, "updated:", ts(r.GetUpdatedAt()))
	row(tw, "version:", strconv.FormatInt(r.GetVersion(), 10))
	row(tw, "inquirer:", r.GetInquirerName())
	row(tw, "relation:", r.GetRelation())
	row(tw, "contact:", r.GetContact())
	row(tw, "location:", r.GetLocation())
	row(tw, "separated:", strings.TrimSpace(r.GetDateOfSeparation()+" "+r.GetLocationSeparation()))
	row(tw, "consent for tracing:", strconv.FormatBool(r.GetConsentForTracing()))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = newTable(w)
	row(tw, "TRACE", "NAME", "SEX", "AGE", "BORN", "ORIGIN", "STATUS", "MATCHED CASE")
	for _, t := range r.GetTraces() {
		names := append([]string{t.GetName()}, t.GetOtherNames()...)
		if len(t.GetNicknames()) > 0 {
			names = append(names, "("+strings.Join(t.GetNicknames(), ", ")+")")
		}
		row(tw, strconv.Itoa(int(t.GetIndex())), strings.TrimSpace(strings.Join(names, " / ")), t.GetSex(), traceAge(t),
			t.GetDateOfBirth(), t.GetLocationOrigin(), t.GetStatus(), t.GetMatchedCaseNumber())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.GetDecisions()) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = newTable(w)
	row(tw, "DECIDED", "BY", "TRACE", "CASE", "OUTCOME", "REASON")
	for _, d := range r.GetDecisions() {
		row(tw, ts(d.GetAt()), d.GetActor(), strconv.Itoa(int(d.GetTrace())), d.GetCaseNumber(), d.GetOutcome(), d.GetReason())
	}
	return tw.Flush()
}

func traceAge(t *localv1.Trace) string {
	if t.Age == nil {
		return ""
	}
	s := strconv.FormatFloat(t.GetAge(), 'f', -1, 64)
	if t.GetEstimated() {
		s = "~" + s
	}
	return s
}

func runTraceList(c *cli.Context) error {
	if _, err := args(c, 0, 0); err != nil {
		return err
	}
	asJSON, err := jsonOutput(c)
	if err != nil {
		return err
	}
	limit, err := limitFlag(c)
	if err != nil {
		return err
	}
	switch c.String("status") {
	case "", "open", "closed":
	default:
		return usageErrorf("unknown --status %q: want open or closed", c.String("status"))
	}
	cn, err := dial(c)
	if err != nil {
		return err
	}
	resp, err := cn.Trace.ListTracingRequests(c.Context, connect.NewRequest(&localv1.ListTracingRequestsRequest{Status: c.String("status"), Query: c.String("query"), Limit: limit}))
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.App.Writer, resp.Msg)
	}
	tw := newTable(c.App.Writer)
	row(tw, "NUMBER", "STATUS", "INQUIRER", "CHILDREN", "MATCHED", "OWNER", "UPDATED", "ID")
	for _, r := range resp.Msg.GetRequests() {
		matched := 0
		for _, t := range r.GetTraces() {
			if t.GetStatus() == "matched" {
				matched++
			}
		}
		row(tw, r.GetNumber(), r.GetStatus(), r.GetInquirerName(), strconv.Itoa(len(r.GetTraces())), strconv.Itoa(matched),
			r.GetOwner(), ts(r.GetUpdatedAt()), r.GetId())
	}
	return tw.Flush()
}

func runTraceUpdate(c *cli.Context) error {
	a, err := args(c, 1, 1)
	if err != nil {
		return err
	}
	asJSON, err := jsonOutput(c)
	if err != nil {
		return err
	}
	if len(c.StringSlice("set")) == 0 {
		return usageErrorf("nothing to update: pass --set field=value (see cpx trace update --help)")
	}
	set, err := traceSet(c.StringSlice("set"))
	if err != nil {
		return err
	}
	cn, err := dial(c)
	if err != nil {
		return err
	}
	resp, err := cn.Trace.UpdateTracingRequest(c.Context, connect.NewRequest(&localv1.UpdateTracingRequestRequest{Id: a[0], Set: set}))
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.App.Writer, resp.Msg)
	}
	r := resp.Msg.GetRequest()
	fmt.Fprintf(c.App.Writer, "updated tracing request %s (id %s) to version %d\n", r.GetNumber(), r.GetId(), r.GetVersion())
	return nil
}

func runTraceMatch(c *cli.Context) error {
	a, err := args(c, 0, 1)
	if err != nil {
		return err
	}
	asJSON, err := jsonOutput(c)
	if err != nil {
		return err
	}
	limit, err := limitFlag(c)
	if err != nil {
		return err
	}
	all := c.Bool("all")
	minP, hasMin, err := minProbabilityFlag(c)
	if err != nil {
		return err
	}
	switch {
	case hasMin && c.Bool("federated"):
		return usageErrorf("--min-probability does not apply to --federated: other agencies answer with bands, never probabilities")
	case hasMin && all:
		return usageErrorf("--min-probability applies to one request's candidates: pass its ID, not --all")
	case all && len(a) == 1:
		return usageErrorf("pass a request ID or --all, not both (see cpx trace match --help)")
	case !all && len(a) == 0:
		return usageErrorf("which request? pass its ID, or --all (see cpx trace match --help)")
	}
	cn, err := dial(c)
	if err != nil {
		return err
	}
	if c.Bool("federated") {
		if all {
			return runFederatedMatchAll(c, cn, asJSON)
		}
		return runFederatedMatch(c, cn, a[0], asJSON)
	}
	if all {
		resp, err := cn.Trace.MatchAllTracingRequests(c.Context, connect.NewRequest(&localv1.MatchAllTracingRequestsRequest{}))
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(c.App.Writer, resp.Msg)
		}
		tw := newTable(c.App.Writer)
		row(tw, "NUMBER", "BEST", "LIKELY", "POSSIBLE", "CANDIDATES", "ID")
		for _, s := range resp.Msg.GetSummaries() {
			row(tw, s.GetNumber(), s.GetBestBand(), strconv.Itoa(int(s.GetLikely())), strconv.Itoa(int(s.GetPossible())),
				strconv.Itoa(int(s.GetCandidates())), s.GetId())
		}
		return tw.Flush()
	}
	resp, err := cn.Trace.MatchTracingRequest(c.Context, connect.NewRequest(&localv1.MatchTracingRequestRequest{Id: a[0], Limit: limit}))
	if err != nil {
		return err
	}
	if hasMin {
		// The candidates come most probable first, so keeping those at or
		// above the cut after the limit is the same as before it.
		resp.Msg.Candidates = slices.DeleteFunc(resp.Msg.Candidates, func(m *localv1.MatchCandidate) bool {
			return m.GetProbability() < minP
		})
	}
	if asJSON {
		return printJSON(c.App.Writer, resp.Msg)
	}
	return printCandidates(c.App.Writer, resp.Msg.GetCandidates(), true)
}

// minProbabilityFlag reads --min-probability: a number from 0 to 1, and
// whether it was given.
func minProbabilityFlag(c *cli.Context) (float64, bool, error) {
	if !c.IsSet("min-probability") {
		return 0, false, nil
	}
	v := strings.TrimSpace(c.String("min-probability"))
	p, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(p) || p < 0 || p > 1 {
		return 0, false, usageErrorf("--min-probability %q: want a probability from 0 to 1, such as 0.8", v)
	}
	return p, true, nil
}

func runCaseMatch(c *cli.Context) error {
	a, err := args(c, 1, 1)
	if err != nil {
		return err
	}
	asJSON, err := jsonOutput(c)
	if err != nil {
		return err
	}
	limit, err := limitFlag(c)
	if err != nil {
		return err
	}
	cn, err := dial(c)
	if err != nil {
		return err
	}
	resp, err := cn.Trace.MatchCase(c.Context, connect.NewRequest(&localv1.MatchCaseRequest{Id: a[0], Limit: limit}))
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.App.Writer, resp.Msg)
	}
	return printCandidates(c.App.Writer, resp.Msg.GetCandidates(), false)
}

// printCandidates writes one block per candidate: a header line, then the
// comparison of every field.
func printCandidates(w io.Writer, cs []*localv1.MatchCandidate, traces bool) error {
	if len(cs) == 0 {
		_, err := fmt.Fprintln(w, "no candidates among the cases you may read that have consent for tracing")
		return err
	}
	for i, m := range cs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		head := fmt.Sprintf("%s  %s  p=%.3f", m.GetCaseNumber(), m.GetBand(), m.GetProbability())
		if traces {
			head = fmt.Sprintf("trace %d: %s", m.GetTrace(), head)
		}
		fmt.Fprintln(w, head)
		tw := newTable(w)
		for _, cmp := range m.GetComparisons() {
			row(tw, "  "+cmp.GetField(), cmp.GetOutcome(), cmp.GetWhy())
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func runTraceDecide(c *cli.Context) error {
	a, err := args(c, 1, 1)
	if err != nil {
		return err
	}
	asJSON, err := jsonOutput(c)
	if err != nil {
		return err
	}
	if strings.TrimSpace(c.String("case")) == "" {
		return usageErrorf("--case is required: which case? (see %s --help)", helpName(c))
	}
	trace := c.Int("trace")
	if trace < 0 || trace > 1<<31-1 {
		return usageErrorf("--trace must be a child's number, from 1")
	}
	cn, err := dial(c)
	if err != nil {
		return err
	}
	var r *localv1.TracingRequest
	verb := "confirmed"
	if c.Command.Name == "confirm" {
		resp, err := cn.Trace.ConfirmTracingMatch(c.Context, connect.NewRequest(&localv1.ConfirmTracingMatchRequest{
			Id: a[0], Trace: int32(trace), CaseId: c.String("case"), Reason: c.String("reason"),
		}))
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(c.App.Writer, resp.Msg)
		}
		r = resp.Msg.GetRequest()
	} else {
		verb = "rejected"
		resp, err := cn.Trace.RejectTracingMatch(c.Context, connect.NewRequest(&localv1.RejectTracingMatchRequest{
			Id: a[0], Trace: int32(trace), CaseId: c.String("case"), Reason: c.String("reason"),
		}))
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(c.App.Writer, resp.Msg)
		}
		r = resp.Msg.GetRequest()
	}
	ds := r.GetDecisions()
	if len(ds) == 0 {
		return errors.New("the node recorded no decision")
	}
	d := ds[len(ds)-1]
	fmt.Fprintf(c.App.Writer, "%s case %s for trace %d of %s (version %d)\n", verb, d.GetCaseNumber(), d.GetTrace(), r.GetNumber(), r.GetVersion())
	return nil
}

func traceImportCommand() *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "import tracing requests from a JSON Lines file",
		ArgsUsage: "FILE",
		Description: "Reads FILE, one request document per line (as for create --file), and sends\n" +
			"them in batches; the node validates every row and saves the valid rows of each\n" +
			"batch in one transaction. Rejected rows are reported with their line number;\n" +
			"the exit code is 1 if any row was rejected. --dry-run saves nothing.\n\n" +
			"Example:\n   cpx trace import requests.jsonl --dry-run --report rejected.jsonl",
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "dry-run", Usage: "validate every row but save nothing"},
			&cli.IntFlag{Name: "batch", Value: 200, Usage: "rows per request (`N`, 1-5000)"},
			&cli.StringFlag{Name: "report", Usage: "write the rejected rows to `FILE` as JSON Lines {row, error}"},
		}, clientFlags()...),
		Action: runTraceImport,
	}
}

func runTraceImport(c *cli.Context) error {
	a, err := args(c, 1, 1)
	if err != nil {
		return err
	}
	asJSON, err := jsonOutput(c)
	if err != nil {
		return err
	}
	batch := c.Int("batch")
	if batch < 1 || batch > maxBatch {
		return usageErrorf("--batch must be between 1 and %d", maxBatch)
	}
	cn, err := dial(c)
	if err != nil {
		return err
	}
	f, err := os.Open(a[0])
	if err != nil {
		return err
	}
	defer f.Close()
	var in io.Reader = f
	bar := progressBar(c, asJSON, f, "importing "+filepath.Base(a[0]))
	if bar != nil {
		in = io.TeeReader(f, bar)
	}
	// The summary, report and JSON output are those of case import: the
	// results are converted to its ImportResult.
	im := &importer{dryRun: c.Bool("dry-run"), keepAll: asJSON}
	var pending []*localv1.TracingImportRow
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		resp, err := cn.Trace.ImportTracingRequests(c.Context, connect.NewRequest(&localv1.ImportTracingRequestsRequest{Rows: pending, DryRun: im.dryRun}))
		if err != nil {
			if im.batches > 0 && !im.dryRun {
				return fmt.Errorf("import stopped at row %d: %s; the rows before it (up to row %d, %d accepted) are saved", pending[0].Row, Message(err), im.lastSaved, im.accepted)
			}
			return err
		}
		im.batches++
		im.lastSaved = pending[len(pending)-1].Row
		im.accepted += resp.Msg.GetAccepted()
		im.rejected += resp.Msg.GetRejected()
		for _, r := range resp.Msg.GetResults() {
			if r.GetError() != "" || im.keepAll {
				im.results = append(im.results, &localv1.ImportResult{Row: r.GetRow(), Id: r.GetId(), CaseNumber: r.GetNumber(), Error: r.GetError()})
			}
		}
		pending = pending[:0]
		return nil
	}
	rr := newJSONLReader(in)
	runErr := func() error {
		for {
			r, err := rr.Next()
			if err == io.EOF {
				return flush()
			}
			if err != nil {
				if ferr := flush(); ferr != nil {
					return ferr
				}
				return fmt.Errorf("reading the file after row %d: %w", im.lastRow, err)
			}
			im.lastRow = r.Row
			if r.Err == "" && r.Form != "" {
				r.Err = `unknown field "form"`
			}
			if r.Err != "" {
				im.rejected++
				im.results = append(im.results, &localv1.ImportResult{Row: r.Row, Error: r.Err})
				continue
			}
			pending = append(pending, &localv1.TracingImportRow{Row: r.Row, Request: r.Fields})
			if len(pending) >= batch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}()
	if bar != nil {
		_ = bar.Finish()
	}
	sort.Slice(im.results, func(i, j int) bool { return im.results[i].Row < im.results[j].Row })
	if p := c.String("report"); p != "" {
		if err := writeReport(p, im.results); err != nil {
			return fmt.Errorf("writing the report: %w", err)
		}
	}
	if runErr != nil && im.batches == 0 && im.rejected == 0 {
		return runErr
	}
	if asJSON {
		out := &localv1.ImportTracingRequestsResponse{Accepted: im.accepted, Rejected: im.rejected}
		for _, r := range im.results {
			out.Results = append(out.Results, &localv1.TracingImportResult{Row: r.GetRow(), Id: r.GetId(), Number: r.GetCaseNumber(), Error: r.GetError()})
		}
		if err := printJSON(c.App.Writer, out); err != nil {
			return err
		}
	} else if err := im.printSummary(c.App.Writer); err != nil {
		return err
	}
	if runErr != nil {
		return runErr
	}
	if im.rejected > 0 {
		what := "rows were"
		if im.rejected == 1 {
			what = "row was"
		}
		return fmt.Errorf("%d %s rejected", im.rejected, what)
	}
	return nil
}

// runFederatedMatchAll is cpx trace match --all --federated: progress on
// stderr while the node paces its queries, then every answer.
func runFederatedMatchAll(c *cli.Context, cn *conn, asJSON bool) error {
	stream, err := cn.Trace.FederatedMatchAllTracingRequests(c.Context, connect.NewRequest(&localv1.FederatedMatchAllTracingRequestsRequest{}))
	if err != nil {
		return err
	}
	defer stream.Close()
	var last *localv1.FederatedMatchAllTracingRequestsResponse
	for stream.Receive() {
		m := stream.Msg()
		p := m.GetProgress()
		if p == nil {
			last = m
			continue
		}
		switch {
		case p.GetSent() == p.GetTotal():
			fmt.Fprintf(c.App.ErrWriter, "%s: %d of %d queries sent\n", p.GetAgency(), p.GetSent(), p.GetTotal())
		case p.GetWaitingSeconds() > 0:
			fmt.Fprintf(c.App.ErrWriter, "%s: query %d of %d, waiting %.0f s for the ISP's queries_per_minute\n",
				p.GetAgency(), p.GetSent()+1, p.GetTotal(), math.Ceil(p.GetWaitingSeconds()))
		}
	}
	if err := stream.Err(); err != nil {
		return err
	}
	if last == nil {
		return errors.New("the node ended the batch without its results")
	}
	if asJSON {
		if err := printJSON(c.App.Writer, last); err != nil {
			return err
		}
	} else {
		tw := newTable(c.App.Writer)
		row(tw, "REQUEST", "AGENCY", "CHILD", "BAND", "LEVEL", "HANDLE")
		for _, r := range last.GetResults() {
			for _, x := range rankFederated(r.GetMatches()) {
				row(tw, r.GetRequestNumber(), x.GetAgency(), strconv.Itoa(int(x.GetTrace())), x.GetBand(), levelText(x), x.GetHandle())
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	answers, notAsked := 0, 0
	for _, r := range last.GetResults() {
		answers += len(r.GetMatches())
		for _, u := range r.GetUnreachable() {
			notAsked++
			fmt.Fprintf(c.App.ErrWriter, "not asked about %s: %s\n", r.GetRequestNumber(), u)
		}
	}
	if !asJSON {
		fmt.Fprintf(c.App.Writer, "%d requests asked about, %d agencies, %d queries: %d possible matches\n",
			len(last.GetResults()), last.GetAgencies(), last.GetQueries(), answers)
	}
	if notAsked > 0 {
		return fmt.Errorf("%d of the request-agency pairs were not asked (listed above)", notAsked)
	}
	return nil
}

func runFederatedMatch(c *cli.Context, cn *conn, id string, asJSON bool) error {
	resp, err := cn.Trace.FederatedMatchTracingRequest(c.Context, connect.NewRequest(&localv1.FederatedMatchTracingRequestRequest{Id: id}))
	if err != nil {
		return err
	}
	m := resp.Msg
	if asJSON {
		if err := printJSON(c.App.Writer, m); err != nil {
			return err
		}
	} else {
		tw := newTable(c.App.Writer)
		row(tw, "AGENCY", "CHILD", "BAND", "LEVEL", "HANDLE")
		for _, x := range rankFederated(m.Matches) {
			row(tw, x.Agency, strconv.Itoa(int(x.Trace)), x.Band, levelText(x), x.Handle)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if len(m.Matches) == 0 {
			fmt.Fprintf(c.App.Writer, "no agency reported a possible match for %s\n", m.RequestNumber)
		}
	}
	for _, u := range m.Unreachable {
		fmt.Fprintf(c.App.ErrWriter, "not asked: %s\n", u)
	}
	if n := len(m.Unreachable); n > 0 {
		// The answers above are only from the agencies that were asked.
		return fmt.Errorf("%d of the agencies were not asked (listed above)", n)
	}
	return nil
}

// rankFederated orders federated candidates by child, then highest level
// first (the agencies' own order within a level).
func rankFederated(ms []*localv1.FederatedTracingMatch) []*localv1.FederatedTracingMatch {
	out := slices.Clone(ms)
	slices.SortStableFunc(out, func(a, b *localv1.FederatedTracingMatch) int {
		if a.GetTrace() != b.GetTrace() {
			return int(a.GetTrace()) - int(b.GetTrace())
		}
		return int(b.GetLevel()) - int(a.GetLevel())
	})
	return out
}

// levelText is a candidate's level out of five, or "-" from a node that
// gives none.
func levelText(m *localv1.FederatedTracingMatch) string {
	if m.GetLevel() == 0 {
		return "-"
	}
	return strconv.Itoa(int(m.GetLevel())) + "/5"
}
