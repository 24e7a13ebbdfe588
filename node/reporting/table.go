package reporting

import (
	"cmp"
	"slices"
	"strconv"
	"time"
)

// Mark says whether and why a cell is suppressed.
type Mark uint8

// Marks.
const (
	Published Mark = iota
	Primary        // its count is between 1 and k−1
	Secondary      // suppressed so that another cannot be worked out
	Sender         // suppressed by the agency that sent it (a merged table)
)

func (m Mark) String() string {
	switch m {
	case Primary:
		return "primary"
	case Secondary:
		return "secondary"
	case Sender:
		return "sender"
	}
	return ""
}

// Header is one row or column of a table.
type Header struct {
	Key   string `json:"key"`
	Label string `json:"label"`
}

// Cell is one count and its mark.
type Cell struct {
	Count int  `json:"count"`
	Mark  Mark `json:"-"`
}

// Table is a one-dimensional (one column, no row totals) or
// two-dimensional table of counts with margins.
type Table struct {
	// Page is the page value this table is for ("" without pages).
	Page      Header   `json:"page"`
	RowField  string   `json:"row_field"`
	ColField  string   `json:"col_field,omitempty"`
	Rows      []Header `json:"rows"`
	Cols      []Header `json:"cols,omitempty"`
	Cells     [][]Cell `json:"-"` // [row][col]; one column when 1-D
	RowTotals []Cell   `json:"-"` // 2-D only
	ColTotals []Cell   `json:"-"` // 2-D only
	Total     Cell     `json:"-"`
}

// TwoD reports whether the table has columns.
func (t *Table) TwoD() bool { return t.ColField != "" }

// Report is the result of one run.
type Report struct {
	Name        string
	Title       string
	Description string
	Record      string
	From, To    time.Time
	Records     int
	// RowField, ColField and PageField are the fields of the dimensions
	// ("" where absent), also when no record was counted.
	RowField, ColField string
	// PageField is the field of the pages dimension ("" without pages).
	PageField string
	Tables    []Table
	// K and Protection are the disclosure-control parameters applied (0:
	// none).
	K, Protection int
}

// Result builds the report's tables from what Add counted. Margins are
// the sums of their cells.
func (q *Query) Result() *Report {
	r := &Report{
		Name: q.def.Name, Title: q.def.Title, Description: q.def.Description, Record: q.def.Record,
		From: q.params.From, To: q.params.To, Records: q.n,
	}
	var seen [3]map[string]bool
	for i := range seen {
		seen[i] = map[string]bool{}
	}
	for k, n := range q.counts {
		if n == 0 {
			continue
		}
		for i := range 3 {
			seen[i][k[i]] = true
		}
	}
	headers := func(i int) []Header {
		if i >= len(q.dims) {
			return []Header{{}}
		}
		dm := q.dims[i]
		keys := make([]string, 0, len(seen[i]))
		for k := range seen[i] {
			keys = append(keys, k)
		}
		if q.def.ShowEmpty {
			for k := range dm.order {
				if !seen[i][k] {
					keys = append(keys, k)
				}
			}
		}
		slices.SortFunc(keys, func(a, b string) int { return dm.compare(a, b) })
		out := make([]Header, len(keys))
		for j, k := range keys {
			out[j] = Header{Key: k, Label: cmp.Or(dm.label[k], k)}
		}
		return out
	}
	rows, cols, pages := headers(0), headers(1), headers(2)
	if len(q.dims) > 0 {
		r.RowField = q.dims[0].d.Field
	}
	if len(q.dims) > 1 {
		r.ColField = q.dims[1].d.Field
	}
	if len(q.dims) > 2 {
		r.PageField = q.dims[2].d.Field
	}
	if len(rows) == 0 {
		rows = nil
	}
	for _, pg := range pages {
		t := Table{Page: pg, Rows: rows}
		if len(q.dims) > 0 {
			t.RowField = q.dims[0].d.Field
		}
		if len(q.dims) > 1 {
			t.ColField = q.dims[1].d.Field
			t.Cols = cols
		}
		nc := 1
		if t.TwoD() {
			nc = len(cols)
			t.RowTotals = make([]Cell, len(rows))
			t.ColTotals = make([]Cell, nc)
		}
		t.Cells = make([][]Cell, len(rows))
		for i, rh := range rows {
			t.Cells[i] = make([]Cell, nc)
			for j := range nc {
				var n int
				if t.TwoD() {
					n = q.counts[[3]string{rh.Key, cols[j].Key, pg.Key}]
					t.RowTotals[i].Count += n
					t.ColTotals[j].Count += n
				} else {
					n = q.counts[[3]string{rh.Key, "", ""}]
				}
				t.Cells[i][j].Count = n
				t.Total.Count += n
			}
		}
		r.Tables = append(r.Tables, t)
	}
	return r
}

// compare orders two keys of a dimension: known keys in their order, then
// others (numbers numerically, dates and text as text), NotRecorded last.
func (dm *dimension) compare(a, b string) int {
	if a == b {
		return 0
	}
	if a == NotRecorded {
		return 1
	}
	if b == NotRecorded {
		return -1
	}
	ia, oka := dm.order[a]
	ib, okb := dm.order[b]
	switch {
	case oka && okb:
		return cmp.Compare(ia, ib)
	case oka:
		return -1
	case okb:
		return 1
	}
	if dm.f.Kind == KindNumber {
		fa, _ := strconv.ParseFloat(a, 64)
		fb, _ := strconv.ParseFloat(b, 64)
		return cmp.Compare(fa, fb)
	}
	return cmp.Compare(a, b)
}
