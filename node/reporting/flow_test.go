package reporting

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize/convex/lp"
)

// TestFlowAuditMatchesLP checks the audit by flows against the linear
// programmes on random tables (1-D and 2-D with margins) with random
// cells suppressed, margins included: the same exact range for every
// suppressed cell, and, with a need, a range that is exact when narrower
// than the need and at least the need wide otherwise.
func TestFlowAuditMatchesLP(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	n := 400
	if testing.Short() {
		n = 60
	}
	for i := range n {
		rows, cols := 1+rng.IntN(7), rng.IntN(6)
		tb := &Table{RowField: "r"}
		if cols > 0 {
			tb.ColField = "c"
			for j := range cols {
				tb.Cols = append(tb.Cols, Header{Key: fmt.Sprint("c", j)})
			}
			tb.RowTotals, tb.ColTotals = make([]Cell, rows), make([]Cell, cols)
		}
		nc := max(cols, 1)
		for r := range rows {
			tb.Rows = append(tb.Rows, Header{Key: fmt.Sprint("r", r)})
			row := make([]Cell, nc)
			for j := range row {
				if rng.IntN(4) > 0 {
					row[j].Count = rng.IntN(30)
				}
				if cols > 0 {
					tb.RowTotals[r].Count += row[j].Count
					tb.ColTotals[j].Count += row[j].Count
				}
				tb.Total.Count += row[j].Count
			}
			tb.Cells = append(tb.Cells, row)
		}
		s := newSystem(tb)
		p := 0.2 + 0.6*rng.Float64()
		for _, c := range s.cells {
			if rng.Float64() < p {
				c.Mark = Primary
			}
		}
		got, ok := s.flowAudit(math.Inf(1), nil)
		if !ok {
			t.Fatalf("table %d: not a network", i)
		}
		want, err := s.lpAudit(math.Inf(1), nil)
		if err != nil {
			t.Fatalf("table %d: %v", i, err)
		}
		if len(got) != len(want) {
			t.Fatalf("table %d: got %d ranges, want %d", i, len(got), len(want))
		}
		for j := range got {
			g, w := got[j], want[j]
			if math.IsInf(w.Hi, 1) {
				// lpAudit leaves the minimum of an unbounded cell at
				// the least value seen: solve it here.
				w.Lo = lpMin(t, s, w.id)
				want[j] = w
			}
			if g.id != w.id || !near(g.Lo, w.Lo) || !near(g.Hi, w.Hi) {
				t.Fatalf("table %d: cell %s: got [%g, %g], want [%g, %g]", i, w.Cell, g.Lo, g.Hi, w.Lo, w.Hi)
			}
		}
		need := float64(1 + rng.IntN(12))
		bounded, _ := s.flowAudit(need, nil)
		for j, g := range bounded {
			w := want[j]
			if w.Width() < need && (!near(g.Lo, w.Lo) || !near(g.Hi, w.Hi)) || w.Width() >= need && g.Width() < need || g.Lo < w.Lo-1e-9 || g.Hi > w.Hi+1e-9 {
				t.Fatalf("table %d: need %g: cell %s: got [%g, %g], exact [%g, %g]", i, need, w.Cell, g.Lo, g.Hi, w.Lo, w.Hi)
			}
		}
	}
}

// lpMin solves the minimum of cell c alone.
func lpMin(t *testing.T, s *system, c int) float64 {
	var cells []int
	for i, cl := range s.cells {
		if cl.Mark != Published {
			cells = append(cells, i)
		}
	}
	rows, rhs := s.equations(cells)
	obj := make([]float64, len(cells))
	for i, x := range cells {
		if x == c {
			obj[i] = 1
		}
	}
	if len(rows) == 0 {
		return 0
	}
	a := mat.NewDense(len(rows), len(cells), nil)
	for i, r := range rows {
		a.SetRow(i, r)
	}
	v, _, err := lp.Simplex(obj, a, rhs, 1e-9, nil)
	if err != nil {
		t.Fatal(err)
	}
	return clean(v)
}

func near(a, b float64) bool {
	if math.IsInf(a, 1) || math.IsInf(b, 1) {
		return math.IsInf(a, 1) && math.IsInf(b, 1)
	}
	return math.Abs(a-b) < 1e-6
}

// BenchmarkProtectAudit is BenchmarkProtect50x20 (protect, then audit
// every suppressed cell against the protection interval, as Verify does)
// with the audit by flows and by gonum's simplex, in one run:
//
//	go test -run '^$' -bench 'Protect' -benchtime 5x ./node/reporting/
func BenchmarkProtectAudit(b *testing.B) {
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
	for _, lp := range []bool{false, true} {
		name := "flow"
		if lp {
			name = "simplex"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				tb := &Table{RowField: "r", ColField: "c", RowTotals: make([]Cell, 50), ColTotals: make([]Cell, 20)}
				for j := range 20 {
					tb.Cols = append(tb.Cols, Header{Key: fmt.Sprint("c", j)})
				}
				for i, row := range counts {
					tb.Rows = append(tb.Rows, Header{Key: fmt.Sprint("r", i)})
					cells := make([]Cell, len(row))
					for j, n := range row {
						cells[j].Count = n
						tb.RowTotals[i].Count += n
						tb.ColTotals[j].Count += n
						tb.Total.Count += n
					}
					tb.Cells = append(tb.Cells, cells)
				}
				s := newSystem(tb)
				s.lp = lp
				if err := s.protect(5, 5, false); err != nil {
					b.Fatal(err)
				}
				v := newSystem(tb)
				v.lp = lp
				rs, err := v.audit(5, nil)
				if err != nil {
					b.Fatal(err)
				}
				for _, r := range rs {
					if r.Width() < 5 {
						b.Fatalf("cell %s: [%g, %g]", r.Cell, r.Lo, r.Hi)
					}
				}
			}
		})
	}
}
