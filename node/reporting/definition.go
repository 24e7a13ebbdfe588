package reporting

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Definition is a report definition as written in TOML.
type Definition struct {
	Name        string `toml:"name"`
	Title       string `toml:"title"`
	Description string `toml:"description"`
	// Record is the record type counted (default RecordCases).
	Record string `toml:"record"`
	// Rows, Columns and Pages are the dimensions; Rows is required, a
	// table per Pages value.
	Rows    *Dimension `toml:"rows"`
	Columns *Dimension `toml:"columns"`
	Pages   *Dimension `toml:"pages"`
	Filters []Filter   `toml:"filter"`
	// PeriodField is the date field --from and --to select on (default
	// "registration_date" for cases, "created_at" otherwise).
	PeriodField string `toml:"period_field"`
	// ShowEmpty keeps rows and columns whose counts are all zero.
	ShowEmpty bool `toml:"show_empty"`

	src []byte // the TOML, for line numbers in messages
}

// Dimension groups records by one field.
type Dimension struct {
	Field string `toml:"field"`
	Label string `toml:"label"`
	// Ranges groups a number field: "0-4", "5-11", "18+".
	Ranges []string `toml:"ranges"`
	// AgeGroups groups a number field into DefaultAgeGroups.
	AgeGroups bool `toml:"age_groups"`
	// Group groups a date field: week, month, quarter or year.
	Group string `toml:"group"`
	// AdminLevel groups a location field at that level of the hierarchy
	// (0 or unset: the location as recorded).
	AdminLevel int `toml:"admin_level"`
}

// Filter keeps the records whose field has one of Values (a tick box:
// "true" or "false"; a multi-select: any of them). With Present set, it
// keeps the records where the field has a value (true) or has none (false).
type Filter struct {
	Field   string   `toml:"field"`
	Values  []string `toml:"values"`
	Present *bool    `toml:"present"`
}

// DefaultAgeGroups are the age groups of AgeGroups (Primero's defaults).
var DefaultAgeGroups = []string{"0-5", "6-11", "12-17", "18+"}

// Date groupings.
var dateGroups = []string{"day", "week", "month", "quarter", "year"}

// ErrInvalid is matched (errors.Is) by every error about a definition or
// a run's parameters: Parse, Check and Compile return no other kind.
var ErrInvalid = errors.New("invalid report definition")

type invalidError struct{ err error }

func (e invalidError) Error() string        { return e.err.Error() }
func (e invalidError) Is(target error) bool { return target == ErrInvalid }
func (e invalidError) Unwrap() error        { return e.err }

func invalid(err error) error {
	if err == nil {
		return nil
	}
	return invalidError{err}
}

// MaxDefinitionBytes bounds a definition file.
const MaxDefinitionBytes = 64 << 10

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// Parse decodes a definition. Unknown keys are errors; every error names
// the line and the key. Parse does not check fields against a schema (see
// Definition.Check).
func Parse(src []byte) (*Definition, error) {
	d, err := parse(src)
	return d, invalid(err)
}

func parse(src []byte) (*Definition, error) {
	if len(src) > MaxDefinitionBytes {
		return nil, fmt.Errorf("definition larger than %d bytes", MaxDefinitionBytes)
	}
	var d Definition
	dec := toml.NewDecoder(bytes.NewReader(src)).DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		var strict *toml.StrictMissingError
		var de *toml.DecodeError
		switch {
		case errors.As(err, &strict):
			var errs []error
			for _, e := range strict.Errors {
				row, _ := e.Position()
				errs = append(errs, fmt.Errorf("line %d: %s: unknown key", row, strings.Join(e.Key(), ".")))
			}
			return nil, errors.Join(errs...)
		case errors.As(err, &de):
			row, _ := de.Position()
			key := strings.Join(de.Key(), ".")
			if key == "" {
				return nil, fmt.Errorf("line %d: %s", row, firstLine(de.Error()))
			}
			return nil, fmt.Errorf("line %d: %s: %s", row, key, firstLine(de.Error()))
		}
		return nil, err
	}
	d.src = src
	if d.Record == "" {
		d.Record = RecordCases
	}
	if err := d.checkShape(); err != nil {
		return nil, err
	}
	return &d, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimPrefix(s, "toml: ")
}

// line returns the line of the first `key = ...` assignment whose value
// mentions value (any when value is ""), or 0.
func (d *Definition) line(key, value string) int {
	sc := bufio.NewScanner(bytes.NewReader(d.src))
	n := 0
	for sc.Scan() {
		n++
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok || strings.TrimSpace(k) != key {
			continue
		}
		if value == "" || strings.Contains(v, strconv.Quote(value)) || strings.Contains(v, "'"+value+"'") {
			return n
		}
	}
	return 0
}

// errAt formats an error about key (with value) at its line.
func (d *Definition) errAt(path, key, value, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if n := d.line(key, value); n > 0 {
		return fmt.Errorf("line %d: %s: %s", n, path, msg)
	}
	return fmt.Errorf("%s: %s", path, msg)
}

// Dimensions returns the dimensions in order: rows, columns, pages.
func (d *Definition) Dimensions() []*Dimension {
	var out []*Dimension
	for _, x := range []*Dimension{d.Rows, d.Columns, d.Pages} {
		if x != nil {
			out = append(out, x)
		}
	}
	return out
}

var dimNames = []string{"rows", "columns", "pages"}

// checkShape checks what needs no schema.
func (d *Definition) checkShape() error {
	var errs []error
	if !nameRE.MatchString(d.Name) {
		errs = append(errs, d.errAt("name", "name", "", "must match %s, got %q", nameRE, d.Name))
	}
	if !slices.Contains(RecordTypes, d.Record) {
		errs = append(errs, d.errAt("record", "record", d.Record, "unknown record type %q (want one of %s)", d.Record, strings.Join(RecordTypes, ", ")))
	}
	if d.Rows == nil {
		errs = append(errs, fmt.Errorf("rows: missing: a report needs at least a [rows] dimension"))
	}
	if d.Rows == nil && (d.Columns != nil || d.Pages != nil) {
		errs = append(errs, fmt.Errorf("columns: [columns] or [pages] without [rows]"))
	}
	if d.Rows != nil && d.Columns == nil && d.Pages != nil {
		errs = append(errs, d.errAt("pages", "field", d.Pages.Field, "[pages] without [columns]"))
	}
	for i, x := range []*Dimension{d.Rows, d.Columns, d.Pages} {
		if x == nil {
			continue
		}
		if err := d.checkDimShape(dimNames[i], x); err != nil {
			errs = append(errs, err)
		}
	}
	for i, f := range d.Filters {
		path := fmt.Sprintf("filter[%d]", i)
		if f.Field == "" {
			errs = append(errs, fmt.Errorf("%s.field: missing", path))
		}
		if len(f.Values) == 0 && f.Present == nil {
			errs = append(errs, d.errAt(path+".values", "field", f.Field, "a filter needs values or present"))
		}
	}
	return errors.Join(errs...)
}

func (d *Definition) checkDimShape(path string, x *Dimension) error {
	if x.Field == "" {
		return fmt.Errorf("%s.field: missing", path)
	}
	if x.Group != "" && !slices.Contains(dateGroups, x.Group) {
		return d.errAt(path+".group", "group", x.Group, "unknown date grouping %q (want one of %s)", x.Group, strings.Join(dateGroups, ", "))
	}
	if x.AgeGroups && len(x.Ranges) > 0 {
		return d.errAt(path+".ranges", "ranges", "", "ranges and age_groups together")
	}
	if _, err := parseRanges(x.Ranges); err != nil {
		return d.errAt(path+".ranges", "ranges", "", "%v", err)
	}
	if x.AdminLevel < 0 || x.AdminLevel > 9 {
		return d.errAt(path+".admin_level", "admin_level", "", "must be 0 to 9")
	}
	return nil
}

// Check checks the definition against the schema of its record type:
// every dimension and filter names a known field of a kind it can group,
// and no identifying field. Every problem is reported, each with its line.
func (d *Definition) Check(s *Schema) error { return invalid(d.check(s)) }

func (d *Definition) check(s *Schema) error {
	var errs []error
	seen := map[string]bool{}
	for i, x := range []*Dimension{d.Rows, d.Columns, d.Pages} {
		if x == nil {
			continue
		}
		path := dimNames[i] + ".field"
		if seen[x.Field] {
			errs = append(errs, d.errAt(path, "field", x.Field, "field %q is already a dimension", x.Field))
			continue
		}
		seen[x.Field] = true
		if err := d.checkField(s, path, x.Field); err != nil {
			errs = append(errs, err)
			continue
		}
		f := s.Fields[x.Field]
		switch {
		case x.Group != "" && f.Kind != KindDate:
			errs = append(errs, d.errAt(dimNames[i]+".group", "field", x.Field, "group %q needs a date field; %q is %s", x.Group, x.Field, f.Kind))
		case (x.AgeGroups || len(x.Ranges) > 0) && f.Kind != KindNumber:
			errs = append(errs, d.errAt(dimNames[i]+".ranges", "field", x.Field, "ranges need a number field; %q is %s", x.Field, f.Kind))
		case x.AdminLevel > 0 && f.Kind != KindLocation:
			errs = append(errs, d.errAt(dimNames[i]+".admin_level", "field", x.Field, "admin_level needs a location field; %q is %s", x.Field, f.Kind))
		}
	}
	for i, flt := range d.Filters {
		if err := d.checkField(s, fmt.Sprintf("filter[%d].field", i), flt.Field); err != nil {
			errs = append(errs, err)
		}
	}
	if d.PeriodField != "" {
		if f, ok := s.Fields[d.PeriodField]; !ok || f.Kind != KindDate {
			errs = append(errs, d.errAt("period_field", "period_field", d.PeriodField, "%q is not a date field of %s", d.PeriodField, s.Record))
		}
	}
	return errors.Join(errs...)
}

func (d *Definition) checkField(s *Schema, path, name string) error {
	f, ok := s.Fields[name]
	switch {
	case IsIdentifying(name) || (ok && f.Identifying):
		return d.errAt(path, "field", name, "%q is an identifying field and can never be counted by", name)
	case !ok:
		return d.errAt(path, "field", name, "unknown field %q of %s", name, s.Record)
	case f.Kind == KindOther:
		return d.errAt(path, "field", name, "%q is free text and cannot be grouped", name)
	}
	return nil
}

// numRange is one range of a number dimension: [lo, hi], hi < 0 open.
type numRange struct {
	label  string
	lo, hi float64
	open   bool
}

func parseRanges(rs []string) ([]numRange, error) {
	var out []numRange
	for _, r := range rs {
		r = strings.TrimSpace(r)
		if lo, ok := strings.CutSuffix(r, "+"); ok {
			v, err := strconv.ParseFloat(lo, 64)
			if err != nil {
				return nil, fmt.Errorf("range %q: want N-M or N+", r)
			}
			out = append(out, numRange{label: r, lo: v, open: true})
			continue
		}
		a, b, ok := strings.Cut(r, "-")
		lo, err1 := strconv.ParseFloat(a, 64)
		hi, err2 := strconv.ParseFloat(b, 64)
		if !ok || err1 != nil || err2 != nil || hi < lo {
			return nil, fmt.Errorf("range %q: want N-M or N+", r)
		}
		out = append(out, numRange{label: r, lo: lo, hi: hi})
	}
	for i := 1; i < len(out); i++ {
		p := out[i-1]
		if p.open || out[i].lo <= p.hi {
			return nil, fmt.Errorf("ranges %q and %q overlap or are out of order", p.label, out[i].label)
		}
	}
	return out, nil
}
