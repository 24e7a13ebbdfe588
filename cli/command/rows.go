package command

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/structpb"
)

// sourceRow is one row read from an import file. Row is 1-based: the line
// number for JSON Lines, the data row number (header excluded) for CSV.
// A malformed row has Err set and no fields.
type sourceRow struct {
	Row    int64
	Form   string // "" unless the row names its form
	Fields *structpb.Struct
	Err    string
}

// rowReader reads an import file one row at a time. Next returns io.EOF at
// the end; any other error is fatal (the file cannot be read further).
// Malformed rows are returned as rows with Err set, not as errors.
type rowReader interface {
	Next() (sourceRow, error)
}

// maxLine bounds one JSON Lines line (and so the memory one row may take).
const maxLine = 16 << 20

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// jsonlReader reads JSON Lines: one JSON object of fields per line. Blank
// lines are skipped. An optional "form" key (a string) names the row's form.
type jsonlReader struct {
	r    *bufio.Reader
	line int64
}

func newJSONLReader(r io.Reader) *jsonlReader {
	return &jsonlReader{r: bufio.NewReaderSize(r, 64<<10)}
}

func (j *jsonlReader) Next() (sourceRow, error) {
	for {
		b, tooLong, err := j.readLine()
		if err != nil {
			return sourceRow{}, err
		}
		j.line++
		if j.line == 1 {
			b = bytes.TrimPrefix(b, utf8BOM)
		}
		if tooLong {
			return sourceRow{Row: j.line, Err: fmt.Sprintf("line longer than %d bytes", maxLine)}, nil
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		if !utf8.Valid(b) {
			return sourceRow{Row: j.line, Err: "not valid UTF-8"}, nil
		}
		fields, err := jsonObject(b)
		if err != nil {
			return sourceRow{Row: j.line, Err: err.Error()}, nil
		}
		r := sourceRow{Row: j.line, Fields: fields}
		if f, ok := fields.Fields["form"]; ok {
			s, isString := f.GetKind().(*structpb.Value_StringValue)
			if !isString {
				return sourceRow{Row: j.line, Err: `"form" must be a string`}, nil
			}
			r.Form = s.StringValue
			delete(fields.Fields, "form")
		}
		return r, nil
	}
}

// readLine returns the next line without its line ending. A line longer
// than maxLine is skipped and reported with tooLong. It returns io.EOF only
// when there is no more input.
func (j *jsonlReader) readLine() (line []byte, tooLong bool, err error) {
	var buf []byte
	for {
		chunk, err := j.r.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > maxLine+2 {
				tooLong, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		switch {
		case err == nil:
			return trimEOL(buf), tooLong, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(buf) == 0 && !tooLong {
				return nil, false, io.EOF
			}
			return trimEOL(buf), tooLong, nil
		default:
			return nil, false, err
		}
	}
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// csvReader reads CSV with a header row of field names. Empty cells are
// omitted; values are sent as strings. A "form" column names the row's form.
// Rows whose cells are all empty are skipped.
type csvReader struct {
	r      *csv.Reader
	header []string
	row    int64
}

// newCSVReader reads the header. A missing, empty or duplicated column name
// is an error: without a good header no row can be read.
func newCSVReader(r io.Reader) (*csvReader, error) {
	br := bufio.NewReader(r)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, utf8BOM) {
		br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("empty CSV file: want a header row of field names")
	}
	if err != nil {
		return nil, fmt.Errorf("reading the CSV header: %w", err)
	}
	seen := map[string]bool{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		header[i] = h
		switch {
		case h == "":
			return nil, fmt.Errorf("CSV header: column %d has no field name", i+1)
		case !utf8.ValidString(h):
			return nil, fmt.Errorf("CSV header: column %d is not valid UTF-8", i+1)
		case seen[h]:
			return nil, fmt.Errorf("CSV header: field %q appears twice", h)
		}
		seen[h] = true
	}
	return &csvReader{r: cr, header: header}, nil
}

func (c *csvReader) Next() (sourceRow, error) {
	for {
		rec, err := c.r.Read()
		if errors.Is(err, io.EOF) {
			return sourceRow{}, io.EOF
		}
		c.row++
		if err != nil {
			if pe, ok := errors.AsType[*csv.ParseError](err); ok {
				return sourceRow{Row: c.row, Err: fmt.Sprintf("malformed CSV at line %d: %v", pe.Line, pe.Err)}, nil
			}
			return sourceRow{}, err
		}
		if len(rec) != len(c.header) {
			line, _ := c.r.FieldPos(0)
			return sourceRow{Row: c.row, Err: fmt.Sprintf("line %d has %d columns, the header has %d", line, len(rec), len(c.header))}, nil
		}
		r := sourceRow{Row: c.row, Fields: &structpb.Struct{Fields: map[string]*structpb.Value{}}}
		empty := true
		for i, v := range rec {
			if v == "" {
				continue
			}
			empty = false
			if !utf8.ValidString(v) {
				return sourceRow{Row: c.row, Err: fmt.Sprintf("field %q is not valid UTF-8", c.header[i])}, nil
			}
			if c.header[i] == "form" {
				r.Form = v
				continue
			}
			r.Fields.Fields[c.header[i]] = structpb.NewStringValue(v)
		}
		if empty {
			continue
		}
		return r, nil
	}
}
