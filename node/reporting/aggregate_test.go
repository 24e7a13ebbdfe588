package reporting_test

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cpx-node/cpx/node/reporting"
)

func protected(t *testing.T, counts [][]int, k int) reporting.Aggregate {
	t.Helper()
	r := &reporting.Report{Name: "rep", Record: "cases", Tables: []reporting.Table{*table2(counts)}}
	if err := r.Protect(k, k); err != nil {
		t.Fatal(err)
	}
	return reporting.NewAggregate(r, "2026-11")
}

func TestAggregateCheck(t *testing.T) {
	counts := [][]int{{2, 10, 8}, {9, 7, 11}, {12, 15, 6}}
	good := protected(t, counts, 5)
	if err := good.Check(5); err != nil {
		t.Fatalf("a protected table: %v", err)
	}
	if got := good.Tables[0].Cells[0][0]; got != reporting.Suppressed {
		t.Errorf("suppressed cell travels as %d, want %d", got, reporting.Suppressed)
	}
	for _, tc := range []struct {
		name string
		edit func(a *reporting.Aggregate)
		want string
	}{
		{"a cell below k", func(a *reporting.Aggregate) { a.Tables[0].Cells[0][0] = 2; a.Tables[0].Cells[0][2] = 8 }, "below the threshold"},
		{"higher k required", func(a *reporting.Aggregate) {}, "below the threshold 10"},
		{"identifying field", func(a *reporting.Aggregate) { a.RowField = "name_first" }, "identifying"},
		{"single suppressed cell in a line", func(a *reporting.Aggregate) { a.Tables[0].Cells[0][2] = 8 }, "single suppressed"},
		{"totals that do not add up", func(a *reporting.Aggregate) { a.Tables[0].Cells[2][0] = 13 }, "add up"},
		{"ragged rows", func(a *reporting.Aggregate) { a.Tables[0].Cells[1] = a.Tables[0].Cells[1][:2] }, "a row of 2"},
		{"negative count", func(a *reporting.Aggregate) { a.Tables[0].Cells[2][0] = -5 }, "count -5"},
	} {
		a := protected(t, counts, 5)
		tc.edit(&a)
		k := 5
		if tc.name == "higher k required" {
			k = 10
		}
		err := a.Check(k)
		if err == nil || !errors.Is(err, reporting.ErrViolation) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want a violation with %q", tc.name, err, tc.want)
		}
	}
}

// TestMerge merges random protected tables from three agencies and checks
// the merged table: the sums where every agency published, suppressed
// where any did not, and protected again (no published cell below k, no
// suppressed cell narrower than the protection interval).
func TestMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for trial := range 40 {
		nr, nc := 2+rng.IntN(5), 2+rng.IntN(4)
		var parts []reporting.Part
		sum := make([][]int, nr)
		for i := range sum {
			sum[i] = make([]int, nc)
		}
		for a := range 3 {
			counts := make([][]int, nr)
			for i := range counts {
				counts[i] = make([]int, nc)
				for j := range counts[i] {
					counts[i][j] = rng.IntN(12)
					sum[i][j] += counts[i][j]
				}
			}
			ag := protected(t, counts, 5)
			if err := ag.Check(5); err != nil {
				t.Fatalf("trial %d agency %d: %v", trial, a, err)
			}
			parts = append(parts, reporting.Part{Agency: string(rune('a' + a)), Aggregate: ag})
		}
		m, err := reporting.Merge(parts, 5, 5)
		if err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		mt := m.Tables[0]
		for i := range nr {
			for j := range nc {
				c := mt.Cells[i][j]
				if c.Mark == reporting.Published && c.Count != sum[i][j] {
					t.Fatalf("trial %d: merged cell %d,%d = %d, want %d", trial, i, j, c.Count, sum[i][j])
				}
				for _, p := range parts {
					if p.Aggregate.Tables[0].Cells[i][j] == reporting.Suppressed && c.Mark == reporting.Published {
						t.Fatalf("trial %d: cell %d,%d suppressed by %s is published merged", trial, i, j, p.Agency)
					}
				}
			}
		}
		// What the coordination node publishes passes the receiver's check.
		out := reporting.NewAggregate(m, "2026-11")
		if err := out.Check(5); err != nil {
			t.Fatalf("trial %d: merged table: %v", trial, err)
		}
		// Audit the merged table from what it publishes, with the true
		// sums as the hidden values: every range at least 5 wide.
		truth := table2(sum)
		for i := range nr {
			for j := range nc {
				truth.Cells[i][j].Mark = mt.Cells[i][j].Mark
			}
			truth.RowTotals[i].Mark = mt.RowTotals[i].Mark
		}
		for j := range nc {
			truth.ColTotals[j].Mark = mt.ColTotals[j].Mark
		}
		truth.Total.Mark = mt.Total.Mark
		rs, err := reporting.Audit(truth)
		if err != nil {
			t.Fatal(err)
		}
		for _, rg := range rs {
			if rg.Width() < 5 {
				t.Fatalf("trial %d: merged cell %s narrowed to [%g, %g]", trial, rg.Cell, rg.Lo, rg.Hi)
			}
		}
	}
}
