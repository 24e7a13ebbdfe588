package command

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"connectrpc.com/connect"
	"github.com/urfave/cli/v2"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/types/known/structpb"

	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

func caseExportCommand() *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "export every case you may read to a JSON Lines or CSV file",
		ArgsUsage: "FILE",
		Description: "Streams the cases from the node into FILE (\"-\" for stdout). The file is\n" +
			"written under a temporary name and renamed when complete, with mode 0600: it\n" +
			"holds case data, keep it safe.\n\n" +
			"Formats (--format, default from the extension, else jsonl):\n" +
			"   jsonl  one case per line, as the API's Case message in JSON (all attributes).\n" +
			"   csv    columns id, case_number, status, workflow_stage, owner, owner_group,\n" +
			"          agency, created_at, updated_at, version, risk_level, then one column\n" +
			"          per form field seen, sorted by name (prefixed \"field.\" if the name is\n" +
			"          a core column); lists and objects are JSON text in the cell. Text\n" +
			"          that a spreadsheet would run as a formula (=, +, -, @, tab, CR first)\n" +
			"          gets a leading '.\n\n" +
			"Example:\n   cpx case export open-cases.csv --status open",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "format", Usage: "`FORMAT`: jsonl or csv"},
			&cli.StringFlag{Name: "status", Usage: "only cases with this `STATUS`"},
		}, clientFlags()...),
		Action: runCaseExport,
	}
}

// csvCoreColumns are the first columns of a CSV export.
var csvCoreColumns = []string{"id", "case_number", "status", "workflow_stage", "owner", "owner_group",
	"agency", "created_at", "updated_at", "version", "risk_level"}

func runCaseExport(c *cli.Context) error {
	a, err := args(c, 1, 1)
	if err != nil {
		return err
	}
	if _, err := jsonOutput(c); err != nil {
		return err
	}
	path := a[0]
	format := "jsonl"
	if c.String("format") != "" || path != "-" {
		if format, err = fileFormat(c.String("format"), path); err != nil {
			if c.String("format") != "" {
				return err
			}
			format = "jsonl"
		}
	}
	cn, err := dial(c)
	if err != nil {
		return err
	}
	out, err := createOut(path, c.App.Writer)
	if err != nil {
		return err
	}
	defer out.Abort()

	stream, err := cn.Cases.ExportCases(c.Context, connect.NewRequest(&localv1.ExportCasesRequest{Status: c.String("status")}))
	if err != nil {
		return err
	}
	defer stream.Close()
	bar := progressBar(c, false, nil, "exporting cases")
	var counter adder
	if bar != nil {
		counter = bar
	}

	var n int64
	switch format {
	case "csv":
		n, err = exportCSV(stream, out, counter)
	default:
		n, err = exportJSONL(stream, out, counter)
	}
	if bar != nil {
		_ = bar.Finish()
	}
	if err != nil {
		return err
	}
	if err := out.Commit(); err != nil {
		return err
	}
	if path != "-" {
		fmt.Fprintf(c.App.ErrWriter, "exported %d cases to %s (%s)\n", n, path, format)
	}
	return nil
}

type adder interface{ Add64(int64) error }

func tick(bar adder) {
	if bar != nil {
		_ = bar.Add64(1)
	}
}

func exportJSONL(stream *connect.ServerStreamForClient[localv1.ExportCasesResponse], w io.Writer, bar adder) (int64, error) {
	var n int64
	for stream.Receive() {
		b, err := marshalJSON(stream.Msg().GetCase(), "")
		if err != nil {
			return n, err
		}
		b = append(b, '\n')
		if _, err := w.Write(b); err != nil {
			return n, err
		}
		n++
		tick(bar)
	}
	return n, stream.Err()
}

// exportCSV needs every field name before it writes the header, so it first
// spools the cases (length-delimited protobuf, mode 0600, removed at the
// end) while collecting the names, then writes the CSV from the spool.
func exportCSV(stream *connect.ServerStreamForClient[localv1.ExportCasesResponse], w io.Writer, bar adder) (int64, error) {
	spool, err := os.CreateTemp("", "cpx-export-*.spool")
	if err != nil {
		return 0, err
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	sw := bufio.NewWriter(spool)
	names := map[string]bool{}
	var n int64
	for stream.Receive() {
		k := stream.Msg().GetCase()
		for name := range k.GetFields().GetFields() {
			names[name] = true
		}
		if _, err := protodelim.MarshalTo(sw, k); err != nil {
			return n, err
		}
		n++
		tick(bar)
	}
	if err := stream.Err(); err != nil {
		return n, err
	}
	if err := sw.Flush(); err != nil {
		return n, err
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return n, err
	}

	core := map[string]bool{}
	for _, col := range csvCoreColumns {
		core[col] = true
	}
	fieldNames := sortedKeys(names)
	header := append([]string(nil), csvCoreColumns...)
	for _, name := range fieldNames {
		if core[name] {
			name = "field." + name
		}
		header = append(header, name)
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return n, err
	}
	sr := bufio.NewReader(spool)
	rec := make([]string, len(header))
	for {
		k := &localv1.Case{}
		err := protodelim.UnmarshalFrom(sr, k)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return n, fmt.Errorf("reading the export spool: %w", err)
		}
		rec = append(rec[:0], k.GetId(), k.GetCaseNumber(), k.GetStatus(), k.GetWorkflowStage(), csvSafe(k.GetOwner()),
			csvSafe(k.GetOwnerGroup()), k.GetAgency(), ts(k.GetCreatedAt()), ts(k.GetUpdatedAt()),
			strconv.FormatInt(k.GetVersion(), 10), csvSafe(k.GetRiskLevel()))
		fields := k.GetFields().GetFields()
		for _, name := range fieldNames {
			v, ok := fields[name]
			if !ok {
				rec = append(rec, "")
				continue
			}
			if _, number := v.GetKind().(*structpb.Value_NumberValue); number {
				rec = append(rec, valueText(v)) // -5 stays a number
			} else {
				rec = append(rec, csvSafe(valueText(v))) // text a spreadsheet would run as a formula is defused
			}
		}
		if err := cw.Write(rec); err != nil {
			return n, err
		}
	}
	cw.Flush()
	return n, cw.Error()
}
