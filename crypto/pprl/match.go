package pprl

import (
	"cmp"
	"math"
	"slices"
)

// RecordSet holds the Records of a node's cases for federated matching,
// with the groups that blocking keys may name (BlockGroups) also in Sets
// for the search.
type RecordSet struct {
	block [len(BlockGroups)]Set
	recs  []Record
}

// BlockGroups are the groups a blocking key may name (BlockKey): the given
// name, the second name part (a family name), the age and date of birth,
// and the places. Each is kept in a Set of its own beside the Records.
var BlockGroups = [...]Group{GroupGiven, GroupChain, GroupAge, GroupPlace}

// blockSet returns the index in RecordSet.block of group g, -1 if g is not
// one of BlockGroups.
func blockSet(g Group) int {
	for i, b := range BlockGroups {
		if b == g {
			return i
		}
	}
	return -1
}

// BlockKey is one independent key of the candidate search: a case is
// reached by a query when, for every group the key names, the Dice
// coefficient of the query's group with the case's reaches the key's
// threshold (a group absent on either side never does). Keys are
// conjunctions over BlockGroups, by group name (GroupNames).
type BlockKey map[string]float64

// Add appends r and returns its index.
func (s *RecordSet) Add(r Record) int {
	for i, g := range BlockGroups {
		s.block[i].Add(r[g])
	}
	s.recs = append(s.recs, r)
	return len(s.recs) - 1
}

// Len is the number of Records.
func (s *RecordSet) Len() int { return len(s.recs) }

// At returns Record i.
func (s *RecordSet) At(i int) *Record { return &s.recs[i] }

// blockTerm is one condition of a key: group g's Dice at least t.
type blockTerm struct {
	g Group
	t float64
}

// terms returns the conditions of key k, the first the one the search
// scans for (the highest threshold, the fewest cases), nil if k names a
// group outside BlockGroups.
func (k BlockKey) terms() []blockTerm {
	var out []blockTerm
	for name, t := range k {
		g := groupNamed(name)
		if g < 0 || blockSet(g) < 0 {
			return nil
		}
		out = append(out, blockTerm{g, t})
	}
	slices.SortFunc(out, func(a, b blockTerm) int {
		if c := cmp.Compare(b.t, a.t); c != 0 {
			return c
		}
		return cmp.Compare(a.g, b.g)
	})
	return out
}

// groupNamed returns the group of a name in GroupNames, -1 if none.
func groupNamed(name string) Group {
	for g, n := range GroupNames {
		if n == name {
			return Group(g)
		}
	}
	return -1
}

// Reach appends to out the indexes of the Records that q reaches by any of
// keys (each once, in increasing order), and returns out.
func (s *RecordSet) Reach(q *Record, keys []BlockKey, out []int) []int {
	return s.ReachReadings([]Record{*q}, keys, out)
}

// reach appends the indexes of the Records that q reaches by key.
func (s *RecordSet) reach(q *Record, key []blockTerm, out []int) []int {
	if len(key) == 0 {
		return out
	}
	for _, c := range key {
		if !q.Present(c.g) {
			return out
		}
	}
	start := len(out)
	out = s.block[blockSet(key[0].g)].Above(&q[key[0].g], key[0].t, out)
	if len(key) == 1 {
		return out
	}
	kept := out[:start]
	for _, i := range out[start:] {
		ok := true
		for _, c := range key[1:] {
			r := &s.recs[i]
			if !r.Present(c.g) || Dice(&q[c.g], &r[c.g]) < c.t {
				ok = false
				break
			}
		}
		if ok {
			kept = append(kept, i)
		}
	}
	return kept
}

// Candidate is a Record a query reached, with the probability that it is
// the sought child.
type Candidate struct {
	Index       int
	Probability float64
}

// ReachReadings appends to out, in increasing order and once each, the
// indexes of the Records that any of a sought child's readings reaches by
// any of keys (Model.Blocking), and returns out.
func (s *RecordSet) ReachReadings(readings []Record, keys []BlockKey, out []int) []int {
	start := len(out)
	terms := make([][]blockTerm, len(keys))
	for i, k := range keys {
		terms[i] = k.terms()
	}
	for r := range readings {
		for _, t := range terms {
			out = s.reach(&readings[r], t, out)
		}
	}
	slices.Sort(out[start:])
	return append(out[:start], slices.Compact(out[start:])...)
}

// Unlabelled is what Adapt reads of one request whose answer is unknown:
// its readings compared with every record of s that blocking reaches
// (ReachReadings, with idx as scratch space, returned for reuse).
func (s *RecordSet) Unlabelled(readings []Record, blocking []BlockKey, idx []int) (Example, []int) {
	idx = s.ReachReadings(readings, blocking, idx[:0])
	e := Example{Truth: -1}
	for _, k := range idx {
		d, rotated := CompareReadings(readings, s.At(k))
		e.Pairs = append(e.Pairs, d)
		e.Rotated = append(e.Rotated, rotated)
	}
	return e, idx
}

// CompareReadings compares a sought child's readings (EncodeReadings)
// with c and returns the Dice coefficients of the reading whose name fits
// c's best (the name as written on a tie), and whether that is another
// reading (rotated, or a one-part name read as the family name). A
// reading's fit is the sum, over the name groups present on both sides
// (given name, second part, later parts), of the Dice coefficient less
// nameFitNeutral: the given name alone cannot choose between a one-part
// name read as a given name and read as a family name.
func CompareReadings(readings []Record, c *Record) (d Dices, rotated bool) {
	best, bestFit := 0, math.Inf(-1)
	for k := range readings {
		fit := 0.0
		for _, g := range [...]Group{GroupGiven, GroupChain, GroupChainRest} {
			if readings[k].Present(g) && c.Present(g) {
				fit += Dice(&readings[k][g], &c[g]) - nameFitNeutral
			}
		}
		if fit > bestFit {
			best, bestFit = k, fit
		}
	}
	return Compare(&readings[best], c), best > 0
}

// nameFitNeutral is the Dice coefficient of a name group that neither
// favours nor disfavours a reading: balanced filters of unrelated names
// score about 0.5 to 0.75, one slip in a name about 0.8.
const nameFitNeutral = 0.75

// Match reaches the Records of one sought child by every reading and
// every blocking key (ReachReadings, Model.Blocking), scores each Record reached through its best reading
// (CompareReadings; a rotated one weighs m.Rotated more; Model.Scores
// counts the candidates bearing the child's given name) and returns them
// with their probabilities (Model), most probable first (ties by index).
func (s *RecordSet) Match(m Model, readings []Record) []Candidate {
	idx := s.ReachReadings(readings, m.Blocking(), nil)
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
