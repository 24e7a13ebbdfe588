package reporting

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize/convex/lp"
)

// system is a table seen as cells and the additive equations between
// them: for each equation, the sum of its parts equals its total.
type system struct {
	lp    bool // audit by linear programmes only (to compare)
	cells []*Cell
	names []string // for messages: "row/col"
	eqs   []equation
	inEq  [][]int // cell → equations it is in
}

type equation struct {
	parts []int
	total int
}

func newSystem(t *Table) *system {
	s := &system{}
	add := func(c *Cell, name string) int {
		s.cells = append(s.cells, c)
		s.names = append(s.names, name)
		return len(s.cells) - 1
	}
	nc := 1
	if t.TwoD() {
		nc = len(t.Cols)
	}
	ids := make([][]int, len(t.Rows))
	for i := range t.Rows {
		ids[i] = make([]int, nc)
		for j := range nc {
			name := t.Rows[i].Key
			if t.TwoD() {
				name += " × " + t.Cols[j].Key
			}
			ids[i][j] = add(&t.Cells[i][j], name)
		}
	}
	total := add(&t.Total, "total")
	if !t.TwoD() {
		eq := equation{total: total}
		for i := range t.Rows {
			eq.parts = append(eq.parts, ids[i][0])
		}
		s.eqs = append(s.eqs, eq)
	} else {
		rt := make([]int, len(t.Rows))
		ct := make([]int, nc)
		for i := range t.Rows {
			rt[i] = add(&t.RowTotals[i], t.Rows[i].Key+" × total")
			s.eqs = append(s.eqs, equation{parts: ids[i], total: rt[i]})
		}
		for j := range nc {
			ct[j] = add(&t.ColTotals[j], "total × "+t.Cols[j].Key)
			eq := equation{total: ct[j]}
			for i := range t.Rows {
				eq.parts = append(eq.parts, ids[i][j])
			}
			s.eqs = append(s.eqs, eq)
		}
		s.eqs = append(s.eqs, equation{parts: rt, total: total}, equation{parts: ct, total: total})
	}
	s.inEq = make([][]int, len(s.cells))
	for e, eq := range s.eqs {
		for _, c := range append(slices.Clone(eq.parts), eq.total) {
			s.inEq[c] = append(s.inEq[c], e)
		}
	}
	return s
}

// Range is the audit's finding for one suppressed cell: the values it
// could take given everything published.
type Range struct {
	Cell   string  `json:"cell"`
	Value  int     `json:"-"`
	Mark   Mark    `json:"-"`
	Lo, Hi float64 `json:"-"` // Hi is +Inf when unbounded
}

// Width is Hi − Lo.
func (r Range) Width() float64 { return r.Hi - r.Lo }

// Errors of disclosure control.
var (
	// ErrUnprotected is returned by Verify when a suppressed cell's
	// feasible range is narrower than the protection interval, or a
	// published cell is below k.
	ErrUnprotected = errors.New("table is not protected")
)

// Protect applies disclosure control to every table of r: cells (margins
// included) with a count from 1 to k−1 are suppressed, then further cells
// until the audit finds every suppressed cell's feasible range at least
// protection wide. k ≤ 1 turns disclosure control off.
func (r *Report) Protect(k, protection int) error {
	if k <= 1 {
		return nil
	}
	r.K, r.Protection = k, protection
	for i := range r.Tables {
		if err := Protect(&r.Tables[i], k, protection); err != nil {
			return fmt.Errorf("table %d: %w", i+1, err)
		}
	}
	return nil
}

// Protect applies disclosure control to one table (see Report.Protect).
func Protect(t *Table, k, protection int) error { return protect(t, k, protection, false) }

// protect is Protect; with keep, cells already suppressed stay so.
func protect(t *Table, k, protection int, keep bool) error {
	return newSystem(t).protect(k, protection, keep)
}

func (s *system) protect(k, protection int, keep bool) error {
	for _, c := range s.cells {
		if keep && c.Mark != Published {
			continue
		}
		c.Mark = Published
		if c.Count > 0 && c.Count < k {
			c.Mark = Primary
		}
	}
	// Secondary suppression, first pass: no equation may have exactly
	// one suppressed member, or that member is its difference.
	for changed := true; changed; {
		changed = false
		for _, eq := range s.eqs {
			if s.suppressedIn(eq) == 1 {
				if c := s.pick(eq, -1); c >= 0 {
					s.cells[c].Mark = Secondary
					changed = true
				}
			}
		}
	}
	// Then audit and widen until every range is wide enough. Each round
	// suppresses at least one more cell, so this ends, at worst with
	// every cell suppressed and every range unbounded. Suppressing more
	// only widens ranges, so a cell found wide enough stays so and is
	// not audited again.
	wide := map[int]bool{}
	for {
		ranges, err := s.audit(float64(protection), func(c int) bool { return !wide[c] })
		if err != nil {
			return err
		}
		narrow := false
		added := false
		for _, rg := range ranges {
			if rg.Width() >= float64(protection) {
				wide[rg.id] = true
				continue
			}
			narrow = true
			for _, e := range s.inEq[rg.id] {
				if c := s.pick(s.eqs[e], rg.id); c >= 0 {
					s.cells[c].Mark = Secondary
					added = true
					break
				}
			}
		}
		if !narrow {
			return nil
		}
		if !added {
			// Every equation of every narrow cell is fully suppressed:
			// suppress whatever is left.
			for _, c := range s.cells {
				if c.Mark == Published {
					c.Mark, added = Secondary, true
				}
			}
			if !added {
				return fmt.Errorf("%w: cannot widen the ranges any further", ErrUnprotected)
			}
		}
	}
}

func sameEq(a, b equation) bool { return a.total == b.total && slices.Equal(a.parts, b.parts) }

func (s *system) suppressedIn(eq equation) int {
	n := 0
	for _, c := range append(slices.Clone(eq.parts), eq.total) {
		if s.cells[c].Mark != Published {
			n++
		}
	}
	return n
}

// pick returns the cell to suppress next in eq: a published part that
// also completes another equation with a single suppressed cell (one
// suppression then protects two lines), the smallest non-zero first, zeros
// last; else the total; -1 if all are suppressed. except is never chosen.
func (s *system) pick(eq equation, except int) int {
	best, bestPairs := -1, false
	for _, c := range eq.parts {
		cl := s.cells[c]
		if c == except || cl.Mark != Published {
			continue
		}
		pairs := false
		for _, e := range s.inEq[c] {
			if s.suppressedIn(s.eqs[e]) == 1 && !sameEq(s.eqs[e], eq) {
				pairs = true
			}
		}
		if best < 0 || (pairs && !bestPairs) || (pairs == bestPairs && less(cl.Count, s.cells[best].Count)) {
			best, bestPairs = c, pairs
		}
	}
	if best < 0 && eq.total != except && s.cells[eq.total].Mark == Published {
		best = eq.total
	}
	return best
}

// less orders counts for secondary suppression: non-zero counts
// ascending, zeros last (a suppressed zero protects little).
func less(a, b int) bool {
	if (a == 0) != (b == 0) {
		return b == 0
	}
	return a < b
}

type cellRange struct {
	Range
	id int
}

// Audit returns, for every suppressed cell of t (by Protect or by hand),
// the exact range of values consistent with the published cells: the
// minimum and the maximum of a linear programme each (solved as flows on
// the table's network; see flow.go).
func Audit(t *Table) ([]Range, error) {
	rs, err := newSystem(t).audit(math.Inf(1), nil)
	if err != nil {
		return nil, err
	}
	out := make([]Range, len(rs))
	for i, r := range rs {
		out[i] = r.Range
	}
	return out, nil
}

// Verify checks every table of r: no published cell is below k, and every
// suppressed cell's feasible range is at least protection wide. A range
// is proven wide by two feasible tables (the true one and one found by
// augmenting paths or by an earlier programme) whose values of the cell
// differ by that much, or else found narrower by solving its minimum and
// maximum. It returns ErrUnprotected otherwise.
func (r *Report) Verify(k, protection int) error {
	for i := range r.Tables {
		s := newSystem(&r.Tables[i])
		for j, c := range s.cells {
			if c.Mark == Published && c.Count > 0 && c.Count < k {
				return fmt.Errorf("%w: table %d: a published cell (%s) is below %d", ErrUnprotected, i+1, s.names[j], k)
			}
		}
		rs, err := s.audit(float64(protection), nil)
		if err != nil {
			return err
		}
		for _, rg := range rs {
			if rg.Width() < float64(protection) {
				return fmt.Errorf("%w: table %d: cell %s can be narrowed to [%g, %g]", ErrUnprotected, i+1, rg.Cell, rg.Lo, rg.Hi)
			}
		}
	}
	return nil
}

// audit computes the feasible range of the suppressed cells that want
// selects (all when nil), one linear system per connected group of
// suppressed cells. A range already known to be need wide from feasible
// points is returned as found (a lower bound of the true range) without
// solving its programmes; with need +Inf every range is exact.
func (s *system) audit(need float64, want func(int) bool) ([]cellRange, error) {
	if !s.lp {
		if rs, ok := s.flowAudit(need, want); ok {
			return rs, nil
		}
	}
	return s.lpAudit(need, want)
}

// lpAudit is audit by linear programmes (gonum's simplex), for any
// system.
func (s *system) lpAudit(need float64, want func(int) bool) ([]cellRange, error) {
	var unknown []int
	for c, cl := range s.cells {
		if cl.Mark != Published {
			unknown = append(unknown, c)
		}
	}
	// Group suppressed cells that share an equation (union-find).
	parent := map[int]int{}
	var find func(int) int
	find = func(x int) int {
		if parent[x] != x {
			parent[x] = find(parent[x])
		}
		return parent[x]
	}
	for _, c := range unknown {
		parent[c] = c
	}
	for _, eq := range s.eqs {
		first := -1
		for _, c := range append(slices.Clone(eq.parts), eq.total) {
			if s.cells[c].Mark == Published {
				continue
			}
			if first < 0 {
				first = c
			} else {
				parent[find(c)] = find(first)
			}
		}
	}
	groups := map[int][]int{}
	for _, c := range unknown {
		groups[find(c)] = append(groups[find(c)], c)
	}
	var out []cellRange
	for _, g := range unknown {
		cells, ok := groups[g]
		if !ok || find(g) != g {
			continue
		}
		if want != nil && !slices.ContainsFunc(cells, want) {
			continue
		}
		rs, err := s.solve(cells, need, want)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	slices.SortFunc(out, func(a, b cellRange) int { return a.id - b.id })
	return out, nil
}

// solve finds min and max of each wanted unknown in cells subject to the
// equations that involve them, all cells ≥ 0. Every programme's solution
// is a feasible table; the spread of a cell's values over the feasible
// tables seen so far is a lower bound of its range, and a cell whose
// spread already reaches need is not solved.
func (s *system) solve(cells []int, need float64, want func(int) bool) ([]cellRange, error) {
	n := len(cells)
	rows, rhs := s.equations(cells)
	lo := make([]float64, n) // spread over feasible points seen
	hi := make([]float64, n)
	for i, c := range cells {
		lo[i], hi[i] = float64(s.cells[c].Count), float64(s.cells[c].Count)
	}
	seen := func(x []float64) {
		for i, v := range x {
			v = clean(v)
			lo[i], hi[i] = min(lo[i], v), max(hi[i], v)
		}
	}
	var out []cellRange
	if len(rows) == 0 {
		for _, c := range cells {
			if want == nil || want(c) {
				out = append(out, cellRange{Range: Range{Cell: s.names[c], Value: s.cells[c].Count, Mark: s.cells[c].Mark, Hi: math.Inf(1)}, id: c})
			}
		}
		return out, nil
	}
	a := mat.NewDense(len(rows), n, nil)
	for i, r := range rows {
		a.SetRow(i, r)
	}
	obj := make([]float64, n)
	var basis []int // of the last vertex found: a warm start
	simplex := func() ([]float64, error) {
		if basis != nil {
			if x, err := warm(obj, a, rhs, basis); err == nil {
				basis = basisOf(x, a)
				return x, nil
			}
		}
		_, x, err := lp.Simplex(obj, a, rhs, 1e-9, nil)
		if err == nil {
			basis = basisOf(x, a)
		}
		return x, err
	}
	for i, c := range cells {
		if want != nil && !want(c) {
			continue
		}
		if hi[i]-lo[i] < need {
			clear(obj)
			obj[i] = -1
			x, err := simplex()
			switch {
			case errors.Is(err, lp.ErrUnbounded):
				hi[i] = math.Inf(1)
			case err != nil:
				return nil, fmt.Errorf("audit: maximum of %s: %w", s.names[c], err)
			default:
				seen(x)
			}
		}
		if hi[i]-lo[i] < need {
			clear(obj)
			obj[i] = 1
			x, err := simplex()
			if err != nil {
				return nil, fmt.Errorf("audit: minimum of %s: %w", s.names[c], err)
			}
			seen(x)
		}
		out = append(out, cellRange{Range: Range{Cell: s.names[c], Value: s.cells[c].Count, Mark: s.cells[c].Mark, Lo: lo[i], Hi: hi[i]}, id: c})
	}
	return out, nil
}

// warm solves from a known feasible basis; gonum panics when the basis
// is not feasible after all (rounding), which is turned into an error so
// that the caller solves from scratch.
func warm(obj []float64, a *mat.Dense, rhs []float64, basis []int) (x []float64, err error) {
	defer func() {
		if r := recover(); r != nil {
			x, err = nil, fmt.Errorf("warm start: %v", r)
		}
	}()
	_, x, err = lp.Simplex(obj, a, rhs, 1e-9, basis)
	return x, err
}

// basisOf returns a basis for the vertex x of {A y = b, y ≥ 0}: the
// columns where x is non-zero, completed with further independent columns
// to as many as A has rows; nil if that fails.
func basisOf(x []float64, a *mat.Dense) []int {
	m, n := a.Dims()
	var basis []int
	var q [][]float64
	tryCol := func(j int) {
		v := mat.Col(nil, j, a)
		for _, b := range q {
			d := dot(v, b)
			for k := range v {
				v[k] -= d * b[k]
			}
		}
		norm := math.Sqrt(dot(v, v))
		if norm < 1e-7 {
			return
		}
		for k := range v {
			v[k] /= norm
		}
		q = append(q, v)
		basis = append(basis, j)
	}
	for j := range n {
		if x[j] > 1e-9 {
			before := len(basis)
			tryCol(j)
			if len(basis) == before {
				return nil // not a vertex
			}
		}
	}
	for j := 0; j < n && len(basis) < m; j++ {
		if x[j] <= 1e-9 {
			tryCol(j)
		}
	}
	if len(basis) != m {
		return nil
	}
	return basis
}

// clean rounds away the simplex's floating-point noise.
func clean(x float64) float64 {
	if r := math.Round(x); math.Abs(x-r) < 1e-6 {
		return r
	}
	return x
}

// independent keeps a linearly independent subset of the rows (Gram–Schmidt),
// as the simplex needs a matrix of full row rank. The system is consistent
// (the true counts solve it), so dropped rows are implied by kept ones.
func independent(rows [][]float64, rhs []float64) ([][]float64, []float64) {
	var basis [][]float64
	var keptRows [][]float64
	var keptRHS []float64
	for i, r := range rows {
		v := slices.Clone(r)
		for _, q := range basis {
			d := dot(v, q)
			for j := range v {
				v[j] -= d * q[j]
			}
		}
		norm := math.Sqrt(dot(v, v))
		if norm < 1e-9 {
			continue
		}
		for j := range v {
			v[j] /= norm
		}
		basis = append(basis, v)
		keptRows = append(keptRows, r)
		keptRHS = append(keptRHS, rhs[i])
	}
	return keptRows, keptRHS
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// equations returns the equations that involve cells, as rows over those
// cells (in their order) with the published cells moved to the right-hand
// side, made non-negative and linearly independent.
func (s *system) equations(cells []int) ([][]float64, []float64) {
	col := make(map[int]int, len(cells))
	for i, c := range cells {
		col[c] = i
	}
	n := len(cells)
	var rows [][]float64
	var rhs []float64
	for _, eq := range s.eqs {
		row := make([]float64, n)
		b := 0.0
		involved := false
		term := func(c int, coef float64) {
			if j, ok := col[c]; ok {
				row[j] += coef
				involved = true
			} else {
				b -= coef * float64(s.cells[c].Count)
			}
		}
		for _, c := range eq.parts {
			term(c, 1)
		}
		term(eq.total, -1)
		if !involved {
			continue
		}
		if b < 0 {
			for j := range row {
				row[j] = -row[j]
			}
			b = -b
		}
		rows = append(rows, row)
		rhs = append(rhs, b)
	}
	return independent(rows, rhs)
}
