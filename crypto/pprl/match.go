package pprl

import (
	"cmp"
	"slices"
)

// RecordSet holds the Records of a node's cases for federated matching,
// with the given-name group also in a Set for blocking.
type RecordSet struct {
	given Set
	recs  []Record
}

// Add appends r and returns its index.
func (s *RecordSet) Add(r Record) int {
	s.given.Add(r[GroupGiven])
	s.recs = append(s.recs, r)
	return len(s.recs) - 1
}

// Len is the number of Records.
func (s *RecordSet) Len() int { return len(s.recs) }

// At returns Record i.
func (s *RecordSet) At(i int) *Record { return &s.recs[i] }

// Reach appends to out the indexes of the Records whose given-name group
// has a Dice coefficient of at least block with q's (blocking), and
// returns out. A query without a given name reaches nothing.
func (s *RecordSet) Reach(q *Record, block float64, out []int) []int {
	if !q.Present(GroupGiven) {
		return out
	}
	return s.given.Above(&q[GroupGiven], block, out)
}

// Candidate is a Record a query reached, with the probability that it is
// the sought child.
type Candidate struct {
	Index       int
	Probability float64
}

// ReachReadings appends to out, in increasing order and once each, the
// indexes of the Records that any of a sought child's readings reaches
// (Reach), and returns out.
func (s *RecordSet) ReachReadings(readings []Record, block float64, out []int) []int {
	start := len(out)
	for k := range readings {
		out = s.Reach(&readings[k], block, out)
	}
	slices.Sort(out[start:])
	return append(out[:start], slices.Compact(out[start:])...)
}

// CompareReadings compares a sought child's readings (EncodeReadings)
// with c and returns the Dice coefficients of the reading whose given name
// agrees best with c's (the name as written on a tie), and whether that
// is a rotated reading.
func CompareReadings(readings []Record, c *Record) (d Dices, rotated bool) {
	best, bestGiven := 0, -2.0
	for k := range readings {
		g := -1.0
		if readings[k].Present(GroupGiven) && c.Present(GroupGiven) {
			g = Dice(&readings[k][GroupGiven], &c[GroupGiven])
		}
		if g > bestGiven {
			best, bestGiven = k, g
		}
	}
	return Compare(&readings[best], c), best > 0
}

// Match blocks every reading of one sought child on the given-name group
// with m.Block, scores each Record reached through its best reading
// (CompareReadings; a rotated one weighs m.Rotated more; Model.Scores
// counts the candidates bearing the child's given name) and returns them
// with their probabilities (Model), most probable first (ties by index).
func (s *RecordSet) Match(m Model, readings []Record) []Candidate {
	idx := s.ReachReadings(readings, m.Block, nil)
	if len(idx) == 0 {
		return nil
	}
	pairs := make([]Dices, len(idx))
	rotated := make([]bool, len(idx))
	for k, i := range idx {
		pairs[k], rotated[k] = CompareReadings(readings, &s.recs[i])
	}
	ps := m.Probabilities(pairs, rotated)
	out := make([]Candidate, len(idx))
	for k, i := range idx {
		out[k] = Candidate{Index: i, Probability: ps[k]}
	}
	slices.SortFunc(out, func(a, b Candidate) int {
		if c := cmp.Compare(b.Probability, a.Probability); c != 0 {
			return c
		}
		return cmp.Compare(a.Index, b.Index)
	})
	return out
}
