package reporting_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cpx-node/cpx/node/reporting"
)

// table2 builds a 2-D table from counts, with margins.
func table2(counts [][]int) *reporting.Table {
	t := &reporting.Table{RowField: "r", ColField: "c"}
	for i := range counts {
		t.Rows = append(t.Rows, reporting.Header{Key: fmt.Sprint("r", i)})
	}
	for j := range counts[0] {
		t.Cols = append(t.Cols, reporting.Header{Key: fmt.Sprint("c", j)})
	}
	t.RowTotals = make([]reporting.Cell, len(counts))
	t.ColTotals = make([]reporting.Cell, len(counts[0]))
	for i, row := range counts {
		var cells []reporting.Cell
		for j, n := range row {
			cells = append(cells, reporting.Cell{Count: n})
			t.RowTotals[i].Count += n
			t.ColTotals[j].Count += n
			t.Total.Count += n
		}
		t.Cells = append(t.Cells, cells)
	}
	return t
}

func table1(counts []int) *reporting.Table {
	t := &reporting.Table{RowField: "r"}
	for i, n := range counts {
		t.Rows = append(t.Rows, reporting.Header{Key: fmt.Sprint("r", i)})
		t.Cells = append(t.Cells, []reporting.Cell{{Count: n}})
		t.Total.Count += n
	}
	return t
}

func marks(t *reporting.Table) string {
	s := ""
	for i, row := range t.Cells {
		for _, c := range row {
			s += map[reporting.Mark]string{reporting.Published: ".", reporting.Primary: "P", reporting.Secondary: "S"}[c.Mark]
		}
		if t.TwoD() {
			s += "|" + map[reporting.Mark]string{reporting.Published: ".", reporting.Primary: "P", reporting.Secondary: "S"}[t.RowTotals[i].Mark]
		}
		s += "/"
	}
	return s
}

func TestProtect(t *testing.T) {
	for _, tc := range []struct {
		name  string
		t     *reporting.Table
		k, p  int
		marks string
	}{
		{"1-D nothing small", table1([]int{7, 0, 12}), 5, 5, "./././"},
		{"1-D one small cell needs a partner", table1([]int{3, 20, 12}), 5, 5, "P/./S/"},
		{"2-D worked example", table2([][]int{{2, 10, 8}, {9, 7, 11}, {12, 15, 6}}), 5, 5, "P.S|./S.S|./...|./"},
		{"k off", table2([][]int{{1, 2}, {3, 4}}), 0, 0, "..|./..|./"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &reporting.Report{Tables: []reporting.Table{*tc.t}}
			if err := r.Protect(tc.k, tc.p); err != nil {
				t.Fatal(err)
			}
			if got := marks(&r.Tables[0]); got != tc.marks {
				t.Errorf("marks: got %s, want %s", got, tc.marks)
			}
			if err := r.Verify(tc.k, tc.p); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestAuditFindsExposedCell(t *testing.T) {
	// Only one cell suppressed in a row with a published total: exact.
	tb := table2([][]int{{2, 10}, {9, 7}})
	tb.Cells[0][0].Mark = reporting.Primary
	rs, err := reporting.Audit(tb)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Lo != 2 || rs[0].Hi != 2 {
		t.Fatalf("ranges: got %+v, want one exact range [2, 2]", rs)
	}
	r := &reporting.Report{Tables: []reporting.Table{*tb}}
	if err := r.Verify(5, 5); !errors.Is(err, reporting.ErrUnprotected) {
		t.Errorf("Verify: got %v, want ErrUnprotected", err)
	}
}

// TestProtectProperty protects random tables and checks that no published
// cell is below k and no suppressed cell's range is narrower than the
// protection interval.
func TestProtectProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := 300
	if testing.Short() {
		n = 50
	}
	for i := range n {
		rows, cols := 1+rng.IntN(8), 1+rng.IntN(6)
		counts := make([][]int, rows)
		for r := range counts {
			counts[r] = make([]int, cols)
			for c := range counts[r] {
				switch rng.IntN(4) {
				case 0:
					counts[r][c] = 0
				case 1:
					counts[r][c] = 1 + rng.IntN(4)
				default:
					counts[r][c] = rng.IntN(40)
				}
			}
		}
		k, p := 2+rng.IntN(8), 1+rng.IntN(10)
		var tb *reporting.Table
		if cols == 1 && rng.IntN(2) == 0 {
			var flat []int
			for _, r := range counts {
				flat = append(flat, r[0])
			}
			tb = table1(flat)
		} else {
			tb = table2(counts)
		}
		r := &reporting.Report{Tables: []reporting.Table{*tb}}
		if err := r.Protect(k, p); err != nil {
			t.Fatalf("table %d %v k=%d p=%d: %v", i, counts, k, p, err)
		}
		if err := r.Verify(k, p); err != nil {
			t.Fatalf("table %d %v k=%d p=%d: %v", i, counts, k, p, err)
		}
		rs, _ := reporting.Audit(&r.Tables[0])
		for _, rg := range rs {
			if float64(rg.Value) < rg.Lo-1e-6 || float64(rg.Value) > rg.Hi+1e-6 {
				t.Fatalf("table %d: cell %s = %d outside its range [%g, %g]", i, rg.Cell, rg.Value, rg.Lo, rg.Hi)
			}
		}
	}
}

func BenchmarkProtect50x20(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	counts := make([][]int, 50)
	for r := range counts {
		counts[r] = make([]int, 20)
		for c := range counts[r] {
			if rng.IntN(5) == 0 {
				counts[r][c] = 1 + rng.IntN(4)
			} else {
				counts[r][c] = rng.IntN(60)
			}
		}
	}
	for b.Loop() {
		r := &reporting.Report{Tables: []reporting.Table{*table2(counts)}}
		if err := r.Protect(5, 5); err != nil {
			b.Fatal(err)
		}
		if err := r.Verify(5, 5); err != nil {
			b.Fatal(err)
		}
	}
}
