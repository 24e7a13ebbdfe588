package command

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func outputFlag() cli.Flag {
	return &cli.StringFlag{
		Name:    "output",
		Aliases: []string{"o"},
		Usage:   "output `FORMAT`: table, or json (the API response message, see docs/cli.md)",
		Value:   "table",
	}
}

// jsonOutput reports whether c asks for JSON output, and fails with a usage
// error for an unknown format.
func jsonOutput(c *cli.Context) (bool, error) {
	switch o := c.String("output"); o {
	case "table", "":
		return false, nil
	case "json":
		return true, nil
	default:
		return false, usageErrorf("unknown output format %q: want table or json", o)
	}
}

var marshalOptions = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

// marshalJSON encodes m with protojson and normalises the whitespace, which
// protojson deliberately varies between builds. With indent == "" the
// result is one line.
func marshalJSON(m proto.Message, indent string) ([]byte, error) {
	b, err := marshalOptions.Marshal(m)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if indent == "" {
		err = json.Compact(&buf, b)
	} else {
		err = json.Indent(&buf, b, "", indent)
	}
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// printJSON writes m to w as one indented JSON document.
func printJSON(w io.Writer, m proto.Message) error {
	b, err := marshalJSON(m, "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// newTable returns a tabwriter for aligned columns; call Flush when done.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

// row writes one tab-separated line, replacing tabs and line breaks inside
// cells so the columns stay aligned.
func row(w io.Writer, cells ...string) {
	for i, c := range cells {
		cells[i] = cellReplacer.Replace(c)
		if cells[i] == "" {
			cells[i] = "-"
		}
	}
	fmt.Fprintln(w, strings.Join(cells, "\t"))
}

var cellReplacer = strings.NewReplacer("\t", " ", "\n", " ", "\r", " ")

// ts formats a timestamp in RFC 3339, UTC; "" when unset.
func ts(t *timestamppb.Timestamp) string {
	if t == nil {
		return ""
	}
	return t.AsTime().UTC().Format(time.RFC3339)
}

// valueText renders a field value for a table or CSV cell: strings as they
// are, numbers without exponent where possible, lists and objects as JSON.
func valueText(v *structpb.Value) string {
	switch k := v.GetKind().(type) {
	case nil, *structpb.Value_NullValue:
		return ""
	case *structpb.Value_StringValue:
		return k.StringValue
	case *structpb.Value_BoolValue:
		if k.BoolValue {
			return "true"
		}
		return "false"
	case *structpb.Value_NumberValue:
		b, _ := json.Marshal(k.NumberValue)
		return string(b)
	default:
		b, err := json.Marshal(v.AsInterface())
		if err != nil {
			return fmt.Sprint(v.AsInterface())
		}
		return string(b)
	}
}
