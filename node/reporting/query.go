package reporting

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Record is one record as the node hands it over: field name → value
// (string, []string or []any of strings, bool, float64 or int, a date as
// "YYYY-MM-DD" or time.Time).
type Record map[string]any

// Params are the choices of one run.
type Params struct {
	// From and To bound the period (inclusive days); zero means open.
	From, To time.Time
	// By replaces the definition's dimensions (rows, columns, pages).
	By []string
	// Filters are added to the definition's.
	Filters []Filter
}

// NotRecorded is the key and label of records without a value.
const NotRecorded = "(not recorded)"

// Query counts records for one definition. Build it with Compile, feed it
// with Add, read the result with Result.
type Query struct {
	def     *Definition
	schema  *Schema
	params  Params
	dims    []*dimension
	filters []filter
	period  string
	counts  map[[3]string]int
	n       int
}

type dimension struct {
	d     *Dimension
	f     Field
	rs    []numRange
	order map[string]int // known keys in display order
	label map[string]string
}

type filter struct {
	f      Filter
	kind   Kind
	values map[string]bool
}

// Compile checks def against s with the run's params and returns a query.
func Compile(def *Definition, s *Schema, p Params) (*Query, error) {
	q, err := compile(def, s, p)
	return q, invalid(err)
}

func compile(def *Definition, s *Schema, p Params) (*Query, error) {
	if def.Record != s.Record {
		return nil, fmt.Errorf("definition counts %s, schema is for %s", def.Record, s.Record)
	}
	d := *def
	if len(p.By) > 3 {
		return nil, fmt.Errorf("--by: at most 3 dimensions (rows, columns, pages), got %d", len(p.By))
	}
	if len(p.By) > 0 {
		dims := make([]*Dimension, 3)
		for i, name := range p.By {
			x := &Dimension{Field: name}
			if old := findDim(def, name); old != nil {
				x = old
			} else if f, ok := s.Fields[name]; ok && f.Kind == KindNumber && strings.Contains(name, "age") {
				x.AgeGroups = true
			} else if ok && f.Kind == KindDate {
				x.Group = "month"
			}
			dims[i] = x
		}
		d.Rows, d.Columns, d.Pages = dims[0], dims[1], dims[2]
	}
	d.Filters = append(slices.Clone(def.Filters), p.Filters...)
	if err := d.Check(s); err != nil {
		return nil, err
	}
	q := &Query{def: &d, schema: s, params: p, counts: map[[3]string]int{}}
	q.period = d.PeriodField
	if q.period == "" {
		q.period = "created_at"
		if d.Record == RecordCases {
			if _, ok := s.Fields["registration_date"]; ok {
				q.period = "registration_date"
			}
		}
	}
	for _, x := range d.Dimensions() {
		dm := &dimension{d: x, f: s.Fields[x.Field], order: map[string]int{}, label: map[string]string{}}
		ranges := x.Ranges
		if x.AgeGroups {
			ranges = DefaultAgeGroups
		}
		dm.rs, _ = parseRanges(ranges)
		switch {
		case len(dm.rs) > 0:
			for i, r := range dm.rs {
				dm.order[r.label], dm.label[r.label] = i, r.label
			}
		case dm.f.Kind == KindSelect || dm.f.Kind == KindMulti:
			for i, o := range dm.f.Options {
				dm.order[o.ID], dm.label[o.ID] = i, cmp.Or(o.Label, o.ID)
			}
		case dm.f.Kind == KindTick:
			dm.order["yes"], dm.order["no"] = 0, 1
			dm.label["yes"], dm.label["no"] = "Yes", "No"
		case dm.f.Kind == KindLocation:
			codes := make([]string, 0, len(s.Locations))
			for c, l := range s.Locations {
				if x.AdminLevel == 0 || l.Level == x.AdminLevel {
					codes = append(codes, c)
				}
			}
			slices.Sort(codes)
			for i, c := range codes {
				dm.order[c], dm.label[c] = i, cmp.Or(s.Locations[c].Name, c)
			}
		}
		q.dims = append(q.dims, dm)
	}
	for _, f := range d.Filters {
		ff := filter{f: f, kind: s.Fields[f.Field].Kind, values: map[string]bool{}}
		for _, v := range f.Values {
			ff.values[v] = true
		}
		q.filters = append(q.filters, ff)
	}
	return q, nil
}

func findDim(d *Definition, field string) *Dimension {
	for _, x := range d.Dimensions() {
		if x.Field == field {
			return x
		}
	}
	return nil
}

// Definition returns the definition as run (after Params.By and Filters).
func (q *Query) Definition() *Definition { return q.def }

// Add counts one record.
func (q *Query) Add(r Record) { q.AddN(r, 1) }

// AddN counts n records alike (n ≥ 1).
func (q *Query) AddN(r Record, n int) {
	if !q.inPeriod(r) {
		return
	}
	for _, f := range q.filters {
		if !f.match(r[f.f.Field]) {
			return
		}
	}
	var keys [3][]string
	for i := range keys {
		keys[i] = []string{""}
	}
	for i, dm := range q.dims {
		keys[i] = dm.keys(q.schema, r[dm.d.Field])
	}
	q.n += n
	for _, a := range keys[0] {
		for _, b := range keys[1] {
			for _, c := range keys[2] {
				q.counts[[3]string{a, b, c}] += n
			}
		}
	}
}

func (q *Query) inPeriod(r Record) bool {
	if q.params.From.IsZero() && q.params.To.IsZero() {
		return true
	}
	t, ok := asDate(r[q.period])
	if !ok {
		return false
	}
	if !q.params.From.IsZero() && t.Before(q.params.From) {
		return false
	}
	if !q.params.To.IsZero() && t.After(q.params.To) {
		return false
	}
	return true
}

func (f filter) match(v any) bool {
	if f.f.Present != nil {
		if present(v) != *f.f.Present {
			return false
		}
	}
	if len(f.values) == 0 {
		return true
	}
	for _, s := range strs(v, f.kind) {
		if f.values[s] {
			return true
		}
	}
	return false
}

func present(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case string:
		return v != ""
	case []any:
		return len(v) > 0
	case []string:
		return len(v) > 0
	}
	return true
}

// strs renders a value as the strings a filter compares.
func strs(v any, k Kind) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []string:
		return v
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case bool:
		return []string{strconv.FormatBool(v)}
	case time.Time:
		return []string{v.Format(time.DateOnly)}
	case nil:
		return nil
	}
	if f, ok := asFloat(v); ok {
		return []string{strconv.FormatFloat(f, 'f', -1, 64)}
	}
	return nil
}

func asFloat(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, !math.IsNaN(v)
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	case string:
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil
	}
	return 0, false
}

func asDate(v any) (time.Time, bool) {
	switch v := v.(type) {
	case time.Time:
		return v.UTC().Truncate(24 * time.Hour), !v.IsZero()
	case string:
		if len(v) >= 10 {
			t, err := time.Parse(time.DateOnly, v[:10])
			return t, err == nil
		}
	}
	return time.Time{}, false
}

// keys returns the keys a value falls under (one per option of a
// multi-select), NotRecorded when it has none.
func (dm *dimension) keys(s *Schema, v any) []string {
	one := func(k string) []string { return []string{k} }
	switch dm.f.Kind {
	case KindSelect:
		if x, ok := v.(string); ok && x != "" {
			return one(x)
		}
	case KindMulti:
		if l := strs(v, KindMulti); len(l) > 0 {
			return l
		}
	case KindTick:
		if b, ok := v.(bool); ok {
			if b {
				return one("yes")
			}
			return one("no")
		}
	case KindLocation:
		if x, ok := v.(string); ok && x != "" {
			if dm.d.AdminLevel == 0 {
				return one(x)
			}
			if a, ok := s.ancestor(x, dm.d.AdminLevel); ok {
				return one(a)
			}
		}
	case KindNumber:
		if f, ok := asFloat(v); ok {
			if len(dm.rs) == 0 {
				return one(strconv.FormatFloat(f, 'f', -1, 64))
			}
			for _, r := range dm.rs {
				if f >= r.lo && (r.open || f < r.hi+1) {
					return one(r.label)
				}
			}
		}
	case KindDate:
		if t, ok := asDate(v); ok {
			return one(dateKey(t, dm.d.Group))
		}
	}
	return one(NotRecorded)
}

// dateKey renders t at a grouping: 2026-03-14, 2026-W11, 2026-03,
// 2026-Q1, 2026.
func dateKey(t time.Time, group string) string {
	switch group {
	case "week":
		y, w := t.ISOWeek()
		return fmt.Sprintf("%04d-W%02d", y, w)
	case "month":
		return t.Format("2006-01")
	case "quarter":
		return fmt.Sprintf("%04d-Q%d", t.Year(), (int(t.Month())+2)/3)
	case "year":
		return t.Format("2006")
	}
	return t.Format(time.DateOnly)
}

// Records returns how many records were counted.
func (q *Query) Records() int { return q.n }

// Fields returns the fields Add reads: the dimensions', the filters' and
// the period's, each once. A node that hands over records holding only
// these fields gets the same counts as with whole records.
func (q *Query) Fields() []string {
	var out []string
	add := func(f string) {
		if f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	for _, dm := range q.dims {
		add(dm.d.Field)
	}
	for _, f := range q.filters {
		add(f.f.Field)
	}
	if !q.params.From.IsZero() || !q.params.To.IsZero() {
		add(q.period)
	}
	return out
}
