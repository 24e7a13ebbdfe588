package command

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/cpx-node/cpx/node/nodedir"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

// maxBatch bounds --batch: one batch is one request and one transaction.
const maxBatch = 5000

func caseImportCommand() *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "import cases from a JSON Lines or CSV file",
		ArgsUsage: "FILE",
		Description: "Reads FILE row by row and sends the rows to the node in batches; the node\n" +
			"validates every row and saves the valid rows of each batch in one transaction.\n\n" +
			"Formats (by extension, or --format):\n" +
			"   .jsonl .ndjson .json  JSON Lines: one JSON object of fields per line; an optional\n" +
			"                         \"form\" key overrides --form for that line. Row numbers are\n" +
			"                         line numbers (blank lines are skipped but counted).\n" +
			"   .csv                  a header row of field names, then one case per row; empty\n" +
			"                         cells are omitted, values are sent as text and converted by\n" +
			"                         the node; a \"form\" column overrides --form. Row numbers\n" +
			"                         count data rows: row 1 is the first row after the header\n" +
			"                         (spreadsheet row 2).\n\n" +
			"Malformed rows (bad JSON, a CSV row with the wrong number of columns) are rejected\n" +
			"with their row number like rows the node refuses. At the end cpx prints how many\n" +
			"rows were accepted and rejected, and why; --report writes the rejected rows as JSON\n" +
			"Lines {\"row\": N, \"error\": \"...\"}. The exit code is 1 if any row was rejected.\n" +
			"With --dry-run the node validates the rows but saves nothing.\n\n" +
			"If the node fails in the middle, the batches sent before were saved: the error\n" +
			"says up to which row.\n\n" +
			"Example:\n   cpx case import registrations.csv --dry-run --report rejected.jsonl",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "form", Value: "registration", Usage: "the `FORM` rows are entered on"},
			&cli.StringFlag{Name: "format", Usage: "file `FORMAT`: jsonl or csv (default: from the extension)"},
			&cli.BoolFlag{Name: "dry-run", Usage: "validate every row but save nothing"},
			&cli.IntFlag{Name: "batch", Value: 200, Usage: "rows per request (`N`, 1-5000)"},
			&cli.StringFlag{Name: "report", Usage: "write the rejected rows to `FILE` as JSON Lines {row, error}"},
		}, clientFlags()...),
		Action: runCaseImport,
	}
}

// fileFormat returns "jsonl" or "csv" for name, or the --format value.
func fileFormat(flag, name string) (string, error) {
	switch strings.ToLower(flag) {
	case "jsonl", "ndjson", "json":
		return "jsonl", nil
	case "csv":
		return "csv", nil
	case "":
	default:
		return "", usageErrorf("unknown --format %q: want jsonl or csv", flag)
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jsonl", ".ndjson", ".json":
		return "jsonl", nil
	case ".csv":
		return "csv", nil
	}
	return "", usageErrorf("cannot tell the format of %s from its extension: pass --format jsonl or --format csv", name)
}

func runCaseImport(c *cli.Context) error {
	a, err := args(c, 1, 1)
	if err != nil {
		return err
	}
	asJSON, err := jsonOutput(c)
	if err != nil {
		return err
	}
	name := a[0]
	format, err := fileFormat(c.String("format"), name)
	if err != nil {
		return err
	}
	batch := c.Int("batch")
	if batch < 1 || batch > maxBatch {
		return usageErrorf("--batch must be between 1 and %d", maxBatch)
	}
	if c.String("form") == "" {
		return usageErrorf("--form must not be empty")
	}
	cn, err := dial(c)
	if err != nil {
		return err
	}
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()

	var in io.Reader = f
	bar := progressBar(c, asJSON, f, "importing "+filepath.Base(name))
	if bar != nil {
		in = io.TeeReader(f, bar)
	}
	var rr rowReader
	if format == "csv" {
		cr, err := newCSVReader(in)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		rr = cr
	} else {
		rr = newJSONLReader(in)
	}

	im := &importer{conn: cn, form: c.String("form"), dryRun: c.Bool("dry-run"), batch: batch, keepAll: asJSON}
	runErr := im.run(c, rr)
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
		return runErr // nothing to summarise
	}
	if asJSON {
		if err := printJSON(c.App.Writer, &localv1.ImportCasesResponse{
			Results: im.results, Accepted: im.accepted, Rejected: im.rejected,
		}); err != nil {
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

// importer sends rows in batches and keeps the results.
type importer struct {
	conn    *conn
	form    string
	dryRun  bool
	batch   int
	keepAll bool // keep accepted rows' results too (JSON output)

	accepted, rejected int64
	results            []*localv1.ImportResult // rejected rows, or all rows when keepAll
	batches            int
	lastSaved          int64 // the last row of the last batch the node answered
	lastRow            int64 // the last row read
}

func (im *importer) run(c *cli.Context, rr rowReader) error {
	var pending []*localv1.ImportRow
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		resp, err := im.conn.Cases.ImportCases(c.Context, connect.NewRequest(&localv1.ImportCasesRequest{Rows: pending, DryRun: im.dryRun}))
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
				im.results = append(im.results, r)
			}
		}
		pending = pending[:0]
		return nil
	}
	for {
		r, err := rr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if ferr := flush(); ferr != nil {
				return ferr
			}
			return fmt.Errorf("reading the file after row %d: %w", im.lastRow, err)
		}
		im.lastRow = r.Row
		if r.Err != "" {
			im.rejected++
			im.results = append(im.results, &localv1.ImportResult{Row: r.Row, Error: r.Err})
			continue
		}
		form := r.Form
		if form == "" {
			form = im.form
		}
		pending = append(pending, &localv1.ImportRow{Row: r.Row, Form: form, Fields: r.Fields})
		if len(pending) >= im.batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

func (im *importer) printSummary(w io.Writer) error {
	total := im.accepted + im.rejected
	if im.dryRun {
		fmt.Fprintf(w, "dry run: %d of %d rows would be accepted, %d rejected; nothing was saved\n", im.accepted, total, im.rejected)
	} else {
		fmt.Fprintf(w, "imported %d of %d rows, rejected %d\n", im.accepted, total, im.rejected)
	}
	if im.rejected == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := newTable(w)
	row(tw, "ROW", "ERROR")
	for _, r := range im.results {
		if r.GetError() != "" {
			row(tw, strconv.FormatInt(r.GetRow(), 10), r.GetError())
		}
	}
	return tw.Flush()
}

// writeReport writes the rejected rows to path as JSON Lines, atomically.
func writeReport(path string, results []*localv1.ImportResult) error {
	var b strings.Builder
	for _, r := range results {
		if r.GetError() == "" {
			continue
		}
		line, err := json.Marshal(struct {
			Row   int64  `json:"row"`
			Error string `json:"error"`
		}{r.GetRow(), r.GetError()})
		if err != nil {
			return err
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return nodedir.WriteFileAtomic(path, []byte(b.String()), 0o600)
}

// progressBar returns a progress bar over f's size on stderr, or nil when
// stderr is not a terminal or the output is JSON.
func progressBar(c *cli.Context, asJSON bool, f *os.File, desc string) *progressbar.ProgressBar {
	if asJSON || !isTerminal(c.App.ErrWriter) {
		return nil
	}
	size := int64(-1)
	if f != nil {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
	}
	return progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(c.App.ErrWriter),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(f != nil),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
