package reporting

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize/convex/lp"
)

// Suppressed is the count an Aggregate carries for a suppressed cell.
const Suppressed = -1

// Limits of an Aggregate a node accepts.
const (
	MaxAggregateTables  = 200
	MaxAggregateHeaders = 500 // rows or columns of one table
	MaxAggregateText    = 200 // bytes of a key, label, name or title
)

// Aggregate is a disclosure-controlled report as it travels to a
// coordination node: headers and counts, with Suppressed in place of every
// suppressed count, so that no suppressed count leaves the node.
type Aggregate struct {
	Report string `json:"report"`
	Title  string `json:"title,omitempty"`
	Record string `json:"record"`
	// Period is the reporting period as the ISP's frequency writes it.
	Period string `json:"period"`
	// RowField, ColField and PageField are the dimensions ("" if absent).
	RowField  string `json:"row_field"`
	ColField  string `json:"col_field,omitempty"`
	PageField string `json:"page_field,omitempty"`
	// K and Protection are the disclosure control applied.
	K          int              `json:"k"`
	Protection int              `json:"protection"`
	Tables     []AggregateTable `json:"tables"`
}

// AggregateTable is one table of an Aggregate.
type AggregateTable struct {
	Page      Header   `json:"page"`
	Rows      []Header `json:"rows"`
	Cols      []Header `json:"cols,omitempty"`
	Cells     [][]int  `json:"cells"`
	RowTotals []int    `json:"row_totals,omitempty"`
	ColTotals []int    `json:"col_totals,omitempty"`
	Total     int      `json:"total"`
}

// Dimensions returns the fields the aggregate counts by.
func (a *Aggregate) Dimensions() []string {
	var out []string
	for _, f := range []string{a.RowField, a.ColField, a.PageField} {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

func wireCount(c Cell) int {
	if c.Mark != Published {
		return Suppressed
	}
	return c.Count
}

func wireCounts(cs []Cell) []int {
	out := make([]int, len(cs))
	for i, c := range cs {
		out[i] = wireCount(c)
	}
	return out
}

// NewAggregate returns what of r may travel: r must have been protected
// (Report.Protect); suppressed counts become Suppressed.
func NewAggregate(r *Report, period string) Aggregate {
	a := Aggregate{Report: r.Name, Title: r.Title, Record: r.Record, Period: period, RowField: r.RowField, ColField: r.ColField, PageField: r.PageField, K: r.K, Protection: r.Protection}
	for _, t := range r.Tables {
		if a.RowField == "" {
			a.RowField, a.ColField = t.RowField, t.ColField
		}
		at := AggregateTable{Page: t.Page, Rows: slices.Clone(t.Rows), Cols: slices.Clone(t.Cols), Total: wireCount(t.Total)}
		for _, row := range t.Cells {
			at.Cells = append(at.Cells, wireCounts(row))
		}
		if t.TwoD() {
			at.RowTotals, at.ColTotals = wireCounts(t.RowTotals), wireCounts(t.ColTotals)
		}
		a.Tables = append(a.Tables, at)
	}
	return a
}

func tableCell(n int) Cell {
	if n == Suppressed {
		return Cell{Mark: Sender}
	}
	return Cell{Count: n}
}

func tableCells(ns []int) []Cell {
	out := make([]Cell, len(ns))
	for i, n := range ns {
		out[i] = tableCell(n)
	}
	return out
}

// table returns t as a Table whose suppressed cells are marked Sender
// with a count of 0.
func (a *Aggregate) table(t AggregateTable) Table {
	out := Table{Page: t.Page, RowField: a.RowField, ColField: a.ColField, Rows: t.Rows, Cols: t.Cols, Total: tableCell(t.Total)}
	for _, row := range t.Cells {
		out.Cells = append(out.Cells, tableCells(row))
	}
	if out.TwoD() {
		out.RowTotals, out.ColTotals = tableCells(t.RowTotals), tableCells(t.ColTotals)
	}
	return out
}

// ErrViolation is wrapped by the errors Aggregate.Check returns.
var ErrViolation = errors.New("aggregate violates its terms")

func violation(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrViolation, fmt.Sprintf(format, args...))
}

// Check refuses an aggregate that is malformed, counts by an identifying
// field, publishes a count from 1 to k−1 (margins included), lets a
// suppressed cell be worked out as the difference of a line, or whose
// published lines do not add up. It is the receiver's check; the sender
// runs it too.
func (a *Aggregate) Check(k int) error {
	for _, s := range []string{a.Report, a.Title, a.Record, a.Period, a.RowField, a.ColField, a.PageField} {
		if len(s) > MaxAggregateText {
			return violation("a name of %d bytes, at most %d", len(s), MaxAggregateText)
		}
	}
	if a.Report == "" || a.Period == "" || a.RowField == "" {
		return violation("report, period and row field are required")
	}
	if a.PageField != "" && a.ColField == "" {
		return violation("pages without columns")
	}
	for _, f := range a.Dimensions() {
		if IsIdentifying(f) {
			return violation("%q is an identifying field and can never be counted by", f)
		}
	}
	if len(a.Tables) > MaxAggregateTables {
		return violation("%d tables, at most %d", len(a.Tables), MaxAggregateTables)
	}
	twoD := a.ColField != ""
	for i, t := range a.Tables {
		where := fmt.Sprintf("table %d", i+1)
		if t.Page.Key != "" {
			where = fmt.Sprintf("table %s", t.Page.Key)
		}
		if len(t.Rows) > MaxAggregateHeaders || len(t.Cols) > MaxAggregateHeaders {
			return violation("%s: more than %d rows or columns", where, MaxAggregateHeaders)
		}
		for _, h := range slices.Concat(t.Rows, t.Cols, []Header{t.Page}) {
			if len(h.Key) > MaxAggregateText || len(h.Label) > MaxAggregateText {
				return violation("%s: a header of more than %d bytes", where, MaxAggregateText)
			}
		}
		nc := 1
		if twoD {
			nc = len(t.Cols)
			if len(t.RowTotals) != len(t.Rows) || len(t.ColTotals) != nc {
				return violation("%s: margins do not match the rows and columns", where)
			}
		} else if len(t.Cols) > 0 || len(t.RowTotals) > 0 || len(t.ColTotals) > 0 {
			return violation("%s: columns in a one-dimensional table", where)
		}
		if len(t.Cells) != len(t.Rows) {
			return violation("%s: %d rows of cells for %d rows", where, len(t.Cells), len(t.Rows))
		}
		for _, row := range t.Cells {
			if len(row) != nc {
				return violation("%s: a row of %d cells, want %d", where, len(row), nc)
			}
		}
		tt := a.table(t)
		s := newSystem(&tt)
		for j, c := range s.cells {
			n := c.Count
			if c.Mark != Published {
				continue
			}
			switch {
			case n < 0:
				return violation("%s: cell %s has count %d", where, s.names[j], n)
			case n > 0 && n < k:
				return violation("%s: cell %s is %d, below the threshold %d", where, s.names[j], n, k)
			}
		}
		for _, eq := range s.eqs {
			switch s.suppressedIn(eq) {
			case 0:
				sum := 0
				for _, p := range eq.parts {
					sum += s.cells[p].Count
				}
				if sum != s.cells[eq.total].Count {
					return violation("%s: %s is %d but its parts add up to %d", where, s.names[eq.total], s.cells[eq.total].Count, sum)
				}
			case 1:
				return violation("%s: a line with a single suppressed cell, which its total reveals", where)
			}
		}
	}
	if a.K < k {
		return violation("disclosure control with k %d, the ISP requires %d", a.K, k)
	}
	return nil
}

// Part is one agency's aggregate in a merge.
type Part struct {
	Agency    string
	Aggregate Aggregate
}

// Merge adds up the agencies' aggregates of one report and period into one
// report and applies disclosure control again, with k and protection: a
// cell any agency suppressed stays suppressed (Sender), cells of the sum
// from 1 to k−1 are suppressed, then further cells until no suppressed
// cell can be narrowed below the protection interval from what the merged
// table publishes. Rows and columns an agency did not send count 0 for it.
func Merge(parts []Part, k, protection int) (*Report, error) {
	if len(parts) == 0 {
		return nil, errors.New("nothing to merge")
	}
	first := parts[0].Aggregate
	r := &Report{Name: first.Report, Title: first.Title, Record: first.Record, RowField: first.RowField, ColField: first.ColField, PageField: first.PageField}
	if f, l, err := periodDays(first.Period); err == nil {
		r.From, r.To = f, l
	}
	type key struct{ page, row, col string }
	counts := map[key]int{}
	unknown := map[key]bool{}
	var pages, rows, cols []Header
	addHeader := func(hs *[]Header, h Header) {
		if !slices.ContainsFunc(*hs, func(x Header) bool { return x.Key == h.Key }) {
			*hs = append(*hs, h)
		}
	}
	for _, p := range parts {
		a := p.Aggregate
		if a.Report != first.Report || a.Period != first.Period || a.RowField != first.RowField || a.ColField != first.ColField || a.PageField != first.PageField {
			return nil, fmt.Errorf("%s sent %s %s by %v, others %s %s by %v", p.Agency, a.Report, a.Period, a.Dimensions(), first.Report, first.Period, first.Dimensions())
		}
		for _, at := range a.Tables {
			t := a.table(at)
			if err := complete(&t); err != nil {
				return nil, fmt.Errorf("%s: %w", p.Agency, err)
			}
			addHeader(&pages, t.Page)
			for i, rh := range t.Rows {
				addHeader(&rows, rh)
				for j, c := range t.Cells[i] {
					ch := Header{}
					if t.TwoD() {
						ch = t.Cols[j]
						addHeader(&cols, ch)
					}
					k := key{t.Page.Key, rh.Key, ch.Key}
					counts[k] += c.Count
					if c.Mark != Published {
						unknown[k] = true
					}
				}
			}
		}
	}
	// The order of the first agency that has a header, then the others';
	// NotRecorded last.
	last := func(hs []Header) {
		slices.SortStableFunc(hs, func(a, b Header) int {
			switch {
			case a.Key == b.Key:
				return 0
			case a.Key == NotRecorded:
				return 1
			case b.Key == NotRecorded:
				return -1
			}
			return 0
		})
	}
	last(rows)
	last(cols)
	twoD := first.ColField != ""
	if !twoD {
		cols = []Header{{}}
	}
	for _, pg := range pages {
		t := Table{Page: pg, RowField: first.RowField, ColField: first.ColField, Rows: slices.Clone(rows)}
		if twoD {
			t.Cols = slices.Clone(cols)
			t.RowTotals = make([]Cell, len(rows))
			t.ColTotals = make([]Cell, len(cols))
		}
		t.Cells = make([][]Cell, len(rows))
		for i, rh := range rows {
			t.Cells[i] = make([]Cell, len(cols))
			for j, ch := range cols {
				k := key{pg.Key, rh.Key, ch.Key}
				c := Cell{Count: counts[k]}
				if unknown[k] {
					c.Mark = Sender
				}
				t.Cells[i][j] = c
				if twoD {
					t.RowTotals[i].Count += c.Count
					t.ColTotals[j].Count += c.Count
				}
				t.Total.Count += c.Count
			}
		}
		if err := protect(&t, k, protection, true); err != nil {
			return nil, err
		}
		r.Tables = append(r.Tables, t)
	}
	r.K, r.Protection = k, protection
	return r, nil
}

// periodDays reads a period in any of the ISP's frequencies' forms.
func periodDays(p string) (time.Time, time.Time, error) {
	if t, err := time.Parse("2006-01", p); err == nil {
		return t, t.AddDate(0, 1, -1), nil
	}
	var y, q int
	if n, _ := fmt.Sscanf(p, "%4d-Q%d", &y, &q); n == 2 && q >= 1 && q <= 4 {
		t := time.Date(y, time.Month(3*(q-1)+1), 1, 0, 0, 0, 0, time.UTC)
		return t, t.AddDate(0, 3, -1), nil
	}
	if t, err := time.Parse("2006", p); err == nil {
		return t, t.AddDate(1, 0, -1), nil
	}
	return time.Time{}, time.Time{}, fmt.Errorf("period %q does not parse", p)
}

// complete replaces the counts of t's suppressed cells with values
// consistent with everything t publishes (a feasible point of the same
// linear system the audit solves). The merged table is then a feasible
// table too, which the audit of the merge starts from; the values are
// never published.
func complete(t *Table) error {
	s := newSystem(t)
	var cells []int
	for c, cl := range s.cells {
		if cl.Mark != Published {
			cl.Count = 0
			cells = append(cells, c)
		}
	}
	if len(cells) == 0 {
		return nil
	}
	rows, rhs := s.equations(cells)
	if len(rows) == 0 {
		return nil
	}
	a := mat.NewDense(len(rows), len(cells), nil)
	for i, r := range rows {
		a.SetRow(i, r)
	}
	_, x, err := lp.Simplex(make([]float64, len(cells)), a, rhs, 1e-9, nil)
	if err != nil {
		return fmt.Errorf("the published cells admit no table: %w", err)
	}
	for i, c := range cells {
		s.cells[c].Count = int(clean(x[i]) + 0.5)
	}
	return nil
}
