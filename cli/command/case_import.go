package command

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
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
			"An import is resumable. It has an id (--id, else one derived from the file's\n" +
			"content, --form and --format), and the node records in each batch's transaction\n" +
			"the last row it has processed for it. If the import stops in the middle (the\n" +
			"node or cpx stopped, the network failed), the batches sent before are saved and\n" +
			"running the same command again (or --resume ID) continues after the last saved\n" +
			"row: no row is imported twice. Running it again after it finished imports\n" +
			"nothing; to import the same file again on purpose, give another --id.\n\n" +
			"Example:\n   cpx case import registrations.csv --dry-run --report rejected.jsonl",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "form", Value: "registration", Usage: "the `FORM` rows are entered on"},
			&cli.StringFlag{Name: "format", Usage: "file `FORMAT`: jsonl or csv (default: from the extension)"},
			&cli.BoolFlag{Name: "dry-run", Usage: "validate every row but save nothing"},
			&cli.IntFlag{Name: "batch", Value: 200, Usage: "rows per request (`N`, 1-5000)"},
			&cli.StringFlag{Name: "report", Usage: "write the rejected rows to `FILE` as JSON Lines {row, error}"},
			&cli.StringFlag{Name: "id", Usage: "name the import `ID` (default: derived from the file's content)"},
			&cli.StringFlag{Name: "resume", Usage: "resume the import `ID`; fails if the node has no such import of yours"},
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

	id, err := importID(c, f, format)
	if err != nil {
		return err
	}
	im := &importer{conn: cn, form: c.String("form"), dryRun: c.Bool("dry-run"), batch: batch, keepAll: asJSON, id: id}
	if id != "" {
		if err := im.readProgress(c); err != nil {
			return err
		}
		if c.IsSet("resume") && im.before == nil {
			return fmt.Errorf("the node has no import %q of yours to resume", id)
		}
		if p := im.before; p != nil && !asJSON {
			fmt.Fprintf(c.App.ErrWriter, "resuming import %s after row %d (%d rows accepted, %d rejected before)\n", id, p.LastRow, p.Accepted, p.Rejected)
		}
	}

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
			Results: im.results, Accepted: im.accepted, Rejected: im.rejected, Skipped: im.skipped, Progress: im.progress,
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

// importID returns the import's id: --resume, --id, or one derived from
// the file's content, --form and the format ("" on a dry run, or when f
// cannot be read twice).
func importID(c *cli.Context, f *os.File, format string) (string, error) {
	if c.Bool("dry-run") {
		return "", nil
	}
	id := c.String("resume")
	if c.IsSet("id") {
		if id != "" && id != c.String("id") {
			return "", usageErrorf("--id and --resume name different imports")
		}
		id = c.String("id")
	}
	if id != "" {
		if !validImportID(id) {
			return "", usageErrorf("import id %q: want 1-64 letters, digits, '.', '_' or '-'", id)
		}
		return id, nil
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return "", nil
	}
	h := sha256.New()
	fmt.Fprintf(h, "cpx-import/v1\x00%s\x00%s\x00", format, c.String("form"))
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	return "file-" + hex.EncodeToString(h.Sum(nil)[:12]), nil
}

func validImportID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// importer sends rows in batches and keeps the results. One batch is in
// flight while the next is read and encoded; batches are answered in
// order, so a resumable import's progress only moves forward.
type importer struct {
	conn    *conn
	form    string
	dryRun  bool
	batch   int
	keepAll bool   // keep accepted rows' results too (JSON output)
	id      string // the import's id; "" for none

	// Set by the goroutine that sends.
	accepted, rejected, skipped int64
	results                     []*localv1.ImportResult // rejected rows, or all rows when keepAll
	batches                     int
	lastSaved                   int64 // the last row of the last batch the node answered
	progress                    *localv1.ImportProgress

	// Set by the reader.
	local   []*localv1.ImportResult // rows rejected before sending (malformed)
	lastRow int64                   // the last row read
	before  *localv1.ImportProgress // the import's progress before this run; nil if new
}

// readProgress asks the node how far the import got before.
func (im *importer) readProgress(c *cli.Context) error {
	resp, err := im.conn.Cases.ImportCases(c.Context, connect.NewRequest(&localv1.ImportCasesRequest{ImportId: im.id}))
	if err != nil {
		return err
	}
	if p := resp.Msg.GetProgress(); p.GetLastRow() > 0 {
		im.before = p
	}
	im.progress = resp.Msg.GetProgress()
	return nil
}

func (im *importer) send(c *cli.Context, rows []*localv1.ImportRow) error {
	resp, err := im.conn.Cases.ImportCases(c.Context, connect.NewRequest(&localv1.ImportCasesRequest{Rows: rows, DryRun: im.dryRun, ImportId: im.id}))
	if err != nil {
		if im.batches > 0 && !im.dryRun {
			again := ""
			if im.id != "" {
				again = "; run the same command again to continue (import " + im.id + ")"
			}
			return fmt.Errorf("import stopped at row %d: %s; the rows before it (up to row %d, %d accepted) are saved%s", rows[0].Row, Message(err), im.lastSaved, im.accepted, again)
		}
		return err
	}
	im.batches++
	im.lastSaved = rows[len(rows)-1].Row
	im.accepted += resp.Msg.GetAccepted()
	im.rejected += resp.Msg.GetRejected()
	im.skipped += resp.Msg.GetSkipped()
	if p := resp.Msg.GetProgress(); p != nil {
		im.progress = p
	}
	for _, r := range resp.Msg.GetResults() {
		if r.GetError() != "" || im.keepAll {
			im.results = append(im.results, r)
		}
	}
	return nil
}

func (im *importer) run(c *cli.Context, rr rowReader) error {
	queue := make(chan []*localv1.ImportRow, 1)
	sent := make(chan error, 1)
	var failed atomic.Bool
	go func() {
		var err error
		for rows := range queue {
			if err == nil {
				if err = im.send(c, rows); err != nil {
					failed.Store(true)
				}
			}
		}
		sent <- err
	}()
	finish := func(readErr error) error {
		close(queue)
		err := <-sent
		im.rejected += int64(len(im.local))
		im.results = append(im.results, im.local...)
		if err != nil {
			return err
		}
		return readErr
	}
	skipTo := im.before.GetLastRow()
	var pending []*localv1.ImportRow
	for {
		if failed.Load() {
			return finish(nil)
		}
		r, err := rr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if len(pending) > 0 {
				queue <- pending
			}
			return finish(fmt.Errorf("reading the file after row %d: %w", im.lastRow, err))
		}
		im.lastRow = r.Row
		if r.Row <= skipTo {
			continue // saved by an earlier run of this import
		}
		if r.Err != "" {
			im.local = append(im.local, &localv1.ImportResult{Row: r.Row, Error: r.Err})
			continue
		}
		form := r.Form
		if form == "" {
			form = im.form
		}
		pending = append(pending, &localv1.ImportRow{Row: r.Row, Form: form, Fields: r.Fields})
		if len(pending) >= im.batch {
			queue <- pending
			pending = nil
		}
	}
	if len(pending) > 0 {
		queue <- pending
	}
	return finish(nil)
}

func (im *importer) printSummary(w io.Writer) error {
	total := im.accepted + im.rejected
	if im.dryRun {
		fmt.Fprintf(w, "dry run: %d of %d rows would be accepted, %d rejected; nothing was saved\n", im.accepted, total, im.rejected)
	} else {
		fmt.Fprintf(w, "imported %d of %d rows, rejected %d\n", im.accepted, total, im.rejected)
	}
	if n := im.before.GetLastRow(); n > 0 {
		fmt.Fprintf(w, "rows up to %d were imported by an earlier run of import %s; in all %d accepted, %d rejected\n",
			n, im.id, im.progress.GetAccepted(), im.progress.GetRejected())
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
