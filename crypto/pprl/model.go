package pprl

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"sync"

	"github.com/cpx-node/cpx/crypto/features"
)

// Feature indexes the comparisons of two Records that a Model weighs:
// one per group, except that the relatives' groups are compared by
// relation (FeatureFather, FeatureMother, FeatureRelatives).
type Feature int

// The features of a comparison (Compare).
const (
	// FeatureGiven compares the given-name groups.
	FeatureGiven Feature = iota
	// FeatureChain compares the second name parts.
	FeatureChain
	// FeatureChainRest compares the third and later name parts.
	FeatureChainRest
	// FeatureFather compares the fathers' groups: a known father only
	// with a known father.
	FeatureFather
	// FeatureMother compares the mothers' groups.
	FeatureMother
	// FeatureRelatives is the best Dice coefficient of a relatives' group
	// of unknown relation on one side with any relatives' group on the
	// other (father, mother or unknown): a relative of unknown relation
	// may be anyone. A known mother is never compared with a known father.
	FeatureRelatives
	// FeatureSex compares the sex groups.
	FeatureSex
	// FeatureAge compares the age groups.
	FeatureAge
	// FeaturePlace compares the place groups.
	FeaturePlace
	// FeatureTime compares the separation months.
	FeatureTime
	// FeatureLineage is the best Dice coefficient of one side's lineage
	// group (its own chain) with the other side's father's or unknown
	// relatives' group: the father named on a case is the chain of the
	// child's name on the request.
	FeatureLineage
	// NumFeatures is the number of features.
	NumFeatures
)

// FeatureNames names the features (the keys of Model.Weights).
var FeatureNames = [NumFeatures]string{"given", "chain", "chain_rest", "father", "mother", "relatives", "sex", "age", "place", "time", "lineage"}

func (f Feature) String() string {
	if f >= 0 && f < NumFeatures {
		return FeatureNames[f]
	}
	return "feature(" + strconv.Itoa(int(f)) + ")"
}

// Dices are the Dice coefficients of one pair of Records, per Feature; a
// feature with a group absent on either side is -1.
type Dices [NumFeatures]float64

// Compare returns the Dice coefficients of q and c per Feature.
func Compare(q, c *Record) Dices {
	dice := func(a, b Group) float64 {
		if !q.Present(a) || !c.Present(b) {
			return -1
		}
		return Dice(&q[a], &c[b])
	}
	d := Dices{
		FeatureGiven:     dice(GroupGiven, GroupGiven),
		FeatureChain:     dice(GroupChain, GroupChain),
		FeatureChainRest: dice(GroupChainRest, GroupChainRest),
		FeatureFather:    dice(GroupFather, GroupFather),
		FeatureMother:    dice(GroupMother, GroupMother),
		FeatureSex:       dice(GroupSex, GroupSex),
		FeatureAge:       dice(GroupAge, GroupAge),
		FeaturePlace:     dice(GroupPlace, GroupPlace),
		FeatureTime:      dice(GroupTime, GroupTime),
	}
	d[FeatureRelatives] = max(dice(GroupRelatives, GroupRelatives),
		dice(GroupRelatives, GroupFather), dice(GroupRelatives, GroupMother),
		dice(GroupFather, GroupRelatives), dice(GroupMother, GroupRelatives))
	d[FeatureLineage] = max(dice(GroupLineage, GroupFather), dice(GroupLineage, GroupRelatives),
		dice(GroupFather, GroupLineage), dice(GroupRelatives, GroupLineage))
	return d
}

// Model scores the candidates of one request from their Dice coefficients
// per Feature (Compare). Each feature's Dice falls in a bin (bin b holds
// [Edges[b-1], Edges[b]); bin 0 is below Edges[0], the last bin from the
// last edge up) with a weight, a log likelihood ratio; a feature absent
// (-1) weighs 0. A candidate's score is the sum of its weights,
// s_i = Σ_f W_f[bin(d_if)], and of the optional terms below (GivenWith,
// Rotated, NameCount).
//
// At most one candidate is the sought child, or none is (the child is not
// registered here, or blocking missed it). Of the n candidates a request
// reached, candidate i is the child with probability
//
//	P_i = exp(s_i) / (n·exp(Null) + Σ_j exp(s_j))
//
// which is Fellegi–Sunter with the per-request prior of node/matching's
// Index.Match when W = log(m/u) and Null = log((1-ρ)/ρ), ρ being the
// chance that the child is among the candidates: look-alikes (siblings)
// share the probability instead of each claiming it. FitLabelled gives
// those weights; FitChoice then fits them as a conditional logit model,
// by maximum likelihood of the choice (which candidate, if any, is the
// child), which corrects for the dependence between features that
// Fellegi–Sunter ignores.
//
// Candidates come from the candidate search (Blocking: the given-name
// group with Dice ≥ Block, or any of the independent Keys); Likely and
// Possible are the band thresholds on P_i.
type Model struct {
	Edges   []float64            `json:"edges"`
	Weights map[string][]float64 `json:"weights"`
	// GivenEdges split the given-name Dice into classes (below the first
	// edge: another name; …; from the last: the same name), and
	// GivenWith[f][class][bin] is added to feature f's weight when the
	// given names fall in that class: a sibling agrees on the family,
	// the places and the dates but not the given name, so the weight of
	// the family's agreement must depend on the given name's (optional:
	// none without).
	GivenEdges []float64              `json:"given_edges,omitempty"`
	GivenWith  map[string][][]float64 `json:"given_with,omitempty"`
	// Rotated is added to the score of a candidate reached through a
	// rotated reading of the name (EncodeReadings): the evidence that the
	// family wrote the name in another order.
	Rotated float64 `json:"rotated"`
	// NameCount[b] is added to the score of a candidate whose given name
	// is the request's (given-name Dice in the last class of GivenEdges)
	// when the number of the request's candidates with that name falls in
	// bin b of NameCountEdges: agreeing on a name that many children here
	// bear is weaker evidence than agreeing on a rare one (the
	// frequency-based weights of Fellegi–Sunter; node/matching's
	// given-name rarity). The peer counts its own candidates, so nothing
	// about name frequencies crosses the network (optional: none without).
	NameCountEdges []float64 `json:"name_count_edges,omitempty"`
	NameCount      []float64 `json:"name_count,omitempty"`
	// Floor, when negative, bounds each feature's contribution to a score
	// (its weight plus its interaction) from below: any field may be
	// mis-recorded, replaced or left over from another record in a share
	// of true pairs, and a model fitted on data without such errors would
	// otherwise let one disagreeing field veto a match that every other
	// field supports (optional: no bound when 0).
	Floor float64 `json:"floor,omitempty"`
	// M[f][b] is the share of true pairs whose feature f falls in bin b
	// (among the pairs where f is present) as the model itself expects
	// it on its training set (Shares): what Adapt shifts the weights
	// from (optional: no adaptation without).
	M map[string][]float64 `json:"m,omitempty"`
	// Adapted is the shift of each feature bin's weight estimated on a
	// node's own data (Adapt); nil for the shipped model.
	Adapted *Adaptation `json:"adapted,omitempty"`
	Null    float64     `json:"null"`
	Block   float64     `json:"block"`
	// Keys are the candidate search's keys besides the given name's
	// (Block): a case any key reaches is a candidate (optional).
	Keys     []BlockKey `json:"blocks,omitempty"`
	Likely   float64    `json:"likely"`
	Possible float64    `json:"possible"`
}

//go:embed default_model.json
var defaultModelJSON []byte

// DefaultModel returns the model fitted on the synthetic generator
// (node/matching/synth, train seed 1, both scripts). Regenerate with
// `go test ./crypto/pprl -run TestFitDefault -update`. It panics if the
// embedded file is invalid, a build defect that the tests catch.
func DefaultModel() Model {
	var m Model
	if err := json.Unmarshal(defaultModelJSON, &m); err != nil {
		panic("pprl: default_model.json: " + err.Error())
	}
	if err := m.Check(); err != nil {
		panic("pprl: default_model.json: " + err.Error())
	}
	return m
}

// Check reports whether the model is usable: edges increasing within
// (0, 1), len(Edges)+1 finite weights for every feature (and as many
// shares of true pairs and finite shifts where there are any), finite Null,
// Block and the thresholds within (0, 1), Possible ≤ Likely.
func (m Model) Check() error {
	nb := len(m.Edges) + 1
	for g, x := range m.M {
		if len(x) != nb {
			return fmt.Errorf("feature %s: %d shares of true pairs, want %d", g, len(x), nb)
		}
	}
	if a := m.Adapted; a != nil {
		for g, x := range a.Shift {
			if len(x) != nb {
				return fmt.Errorf("feature %s: %d shifts, want %d", g, len(x), nb)
			}
			for _, v := range x {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return fmt.Errorf("feature %s: shifts must be finite", g)
				}
			}
		}
	}
	if len(m.Edges) == 0 || !slices.IsSorted(m.Edges) || m.Edges[0] <= 0 || m.Edges[len(m.Edges)-1] >= 1 {
		return fmt.Errorf("edges %v: want increasing within (0, 1)", m.Edges)
	}
	for _, g := range FeatureNames {
		w, ok := m.Weights[g]
		if !ok {
			return fmt.Errorf("no weights for feature %s", g)
		}
		if len(w) != len(m.Edges)+1 {
			return fmt.Errorf("feature %s: %d weights, want %d", g, len(w), len(m.Edges)+1)
		}
		for _, x := range w {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Errorf("feature %s: weights must be finite", g)
			}
		}
	}
	if len(m.GivenWith) > 0 || len(m.GivenEdges) > 0 {
		if len(m.GivenEdges) == 0 || !slices.IsSorted(m.GivenEdges) || m.GivenEdges[0] <= 0 || m.GivenEdges[len(m.GivenEdges)-1] >= 1 {
			return fmt.Errorf("given edges %v: want increasing within (0, 1)", m.GivenEdges)
		}
		for _, g := range FeatureNames[FeatureGiven+1:] {
			t := m.GivenWith[g]
			if len(t) != len(m.GivenEdges)+1 {
				return fmt.Errorf("feature %s: %d given-name classes, want %d", g, len(t), len(m.GivenEdges)+1)
			}
			for _, row := range t {
				if len(row) != len(m.Edges)+1 {
					return fmt.Errorf("feature %s: interaction row of %d, want %d", g, len(row), len(m.Edges)+1)
				}
				for _, x := range row {
					if math.IsNaN(x) || math.IsInf(x, 0) {
						return fmt.Errorf("feature %s: interaction weights must be finite", g)
					}
				}
			}
		}
	}
	if len(m.NameCountEdges) > 0 || len(m.NameCount) > 0 {
		if len(m.GivenEdges) == 0 {
			return fmt.Errorf("name-count weights without given-name classes")
		}
		if !slices.IsSorted(m.NameCountEdges) || len(m.NameCountEdges) == 0 || m.NameCountEdges[0] <= 1 {
			return fmt.Errorf("name-count edges %v: want increasing above 1", m.NameCountEdges)
		}
		if len(m.NameCount) != len(m.NameCountEdges)+1 {
			return fmt.Errorf("%d name-count weights, want %d", len(m.NameCount), len(m.NameCountEdges)+1)
		}
		for _, x := range m.NameCount {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Errorf("name-count weights must be finite")
			}
		}
	}
	if math.IsNaN(m.Null) || math.IsInf(m.Null, 0) || math.IsNaN(m.Rotated) || math.IsInf(m.Rotated, 0) {
		return fmt.Errorf("null and rotated must be finite")
	}
	if !(m.Floor <= 0) || math.IsInf(m.Floor, 0) {
		return fmt.Errorf("floor %v: want finite and not above 0", m.Floor)
	}
	for _, v := range []float64{m.Block, m.Likely, m.Possible} {
		if !(v > 0 && v < 1) {
			return fmt.Errorf("block and thresholds must lie in (0, 1)")
		}
	}
	if m.Possible > m.Likely {
		return fmt.Errorf("possible threshold above likely")
	}
	for i, k := range m.Keys {
		if len(k) == 0 || len(k.terms()) != len(k) {
			return fmt.Errorf("blocking key %d: want one or more of the groups %v", i+1, BlockGroups)
		}
		for _, t := range k {
			if !(t > 0 && t <= 1) {
				return fmt.Errorf("blocking key %d: thresholds must lie in (0, 1]", i+1)
			}
		}
	}
	return nil
}

// Blocking returns the keys of the candidate search: the given-name group
// at Block, then Keys.
func (m Model) Blocking() []BlockKey {
	return append([]BlockKey{{GroupNames[GroupGiven]: m.Block}}, m.Keys...)
}

// bin returns the bin of a Dice coefficient.
func (m *Model) bin(d float64) int { return binOf(m.Edges, d) }

// binOf returns the bin of x among increasing edges: bin b holds
// [edges[b-1], edges[b]), bin 0 is below edges[0].
func binOf(edges []float64, x float64) int {
	b, found := slices.BinarySearch(edges, x)
	if found {
		b++
	}
	return b
}

// givenClass returns the class of a given-name Dice coefficient, -1 if
// the model has no interactions or the group is absent.
func (m *Model) givenClass(d float64) int {
	if len(m.GivenEdges) == 0 || d < 0 {
		return -1
	}
	return binOf(m.GivenEdges, d)
}

// sameName reports whether a given-name Dice coefficient is in the last
// given-name class (the same name), false without classes.
func (m *Model) sameName(d float64) bool {
	return len(m.GivenEdges) > 0 && d >= m.GivenEdges[len(m.GivenEdges)-1]
}

// nameCountBin returns the NameCount bin of n candidates bearing the
// request's given name, -1 if the model has no name-count weights.
func (m *Model) nameCountBin(n int) int {
	if len(m.NameCount) == 0 {
		return -1
	}
	return binOf(m.NameCountEdges, float64(n))
}

// sameNames returns how many of pairs have the request's given name.
func (m *Model) sameNames(pairs []Dices) int {
	n := 0
	for i := range pairs {
		if m.sameName(pairs[i][FeatureGiven]) {
			n++
		}
	}
	return n
}

// Score returns the score of a request's only candidate: the sum of its
// features' weights and interactions.
func (m Model) Score(d Dices) float64 { return m.Scores([]Dices{d}, nil, nil)[0] }

// Scores appends to out the scores of one request's candidates (pairs,
// and rotated parallel to it: reached through a rotated reading, nil if
// none was) and returns it: each the sum of its features' weights and
// interactions, plus Rotated for a rotated reading, plus the NameCount
// weight of the request for a candidate with its given name.
func (m Model) Scores(pairs []Dices, rotated []bool, out []float64) []float64 {
	sc := m.scorer(pairs)
	for i := range pairs {
		out = append(out, sc.score(pairs[i], i < len(rotated) && rotated[i]))
	}
	return out
}

// Probabilities returns the probabilities P_i of one request's candidates
// (Scores, then Posteriors).
func (m Model) Probabilities(pairs []Dices, rotated []bool) []float64 {
	return m.Posteriors(m.Scores(pairs, rotated, make([]float64, 0, len(pairs))))
}

// scorer holds a Model's weights by Feature rather than by name, looked
// up once for the many candidates of one request, and the request's
// NameCount weight.
type scorer struct {
	m         *Model
	w         [NumFeatures][]float64
	shift     [NumFeatures][]float64   // nil without an adaptation
	with      [NumFeatures][][]float64 // nil for the given name, or without interactions
	nameCount float64
}

// scorer returns the scorer of the request whose candidates are pairs.
func (m *Model) scorer(pairs []Dices) scorer {
	sc := scorer{m: m}
	if b := m.nameCountBin(m.sameNames(pairs)); b >= 0 {
		sc.nameCount = m.NameCount[b]
	}
	for g := range NumFeatures {
		sc.w[g] = m.Weights[FeatureNames[g]]
		if m.Adapted != nil {
			sc.shift[g] = m.Adapted.Shift[FeatureNames[g]]
		}
		if g != FeatureGiven {
			sc.with[g] = m.GivenWith[FeatureNames[g]]
		}
	}
	return sc
}

func (sc *scorer) score(d Dices, rotated bool) float64 {
	var s float64
	if rotated {
		s = sc.m.Rotated
	}
	if sc.m.sameName(d[FeatureGiven]) {
		s += sc.nameCount
	}
	gc := sc.m.givenClass(d[FeatureGiven])
	for g := range NumFeatures {
		if d[g] < 0 {
			continue
		}
		b := sc.m.bin(d[g])
		c := sc.w[g][b]
		if gc >= 0 && sc.with[g] != nil {
			c += sc.with[g][gc][b]
		}
		if sc.m.Floor < 0 {
			c = max(c, sc.m.Floor)
		}
		if b < len(sc.shift[g]) {
			c += sc.shift[g][b]
		}
		s += c
	}
	return s
}

// Posteriors turns the scores of one request's candidates into the
// probabilities P_i (see Model), in place, and returns them.
func (m Model) Posteriors(s []float64) []float64 {
	if len(s) == 0 {
		return s
	}
	// in logs, relative to the largest term so that nothing overflows
	null := m.Null + math.Log(float64(len(s)))
	top := null
	for _, x := range s {
		top = max(top, x)
	}
	z := math.Exp(null - top)
	for i, x := range s {
		s[i] = math.Exp(x - top)
		z += s[i]
	}
	for i := range s {
		s[i] /= z
	}
	return s
}

// Band returns likely, possible or unlikely for a probability P_i.
func (m Model) Band(p float64) string {
	switch {
	case p >= m.Likely:
		return features.Likely
	case p >= m.Possible:
		return features.Possible
	}
	return features.Unlikely
}

// Example is one request's candidates (after blocking) for fitting: the
// Dice coefficients of each and the index of the sought child among them,
// -1 if it is not among them.
type Example struct {
	Pairs   []Dices
	Rotated []bool // parallel to Pairs: reached through a rotated reading (nil: none was)
	Truth   int
}

func (e Example) rotated(i int) bool { return i < len(e.Rotated) && e.Rotated[i] }

// DefaultEdges are the Dice bin edges. Balanced filters of unrelated
// values score about 0.5 to 0.75 (sparser groups higher), identical ones 1.
var DefaultEdges = []float64{0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.84, 0.88, 0.91, 0.94, 0.97, 0.995}

// DefaultGivenEdges are the given-name classes of the interactions: another
// name (Dice below 0.8), a close spelling, the same name (0.94 and up).
var DefaultGivenEdges = []float64{0.8, 0.94}

// DefaultNameCountEdges are the bins of the name count (Model.NameCount):
// how many of a request's candidates bear its given name, in powers of 4.
var DefaultNameCountEdges = []float64{4, 16, 64, 256}

// FitLabelled returns the Fellegi–Sunter model of labelled examples: per
// feature and bin, W = log(m/u) with m and u counted over the candidate
// pairs (add-0.5 smoothing, floor 1e-4 so that no bin can veto a match),
// and Null = log((1-ρ)/ρ) with ρ the share of examples whose child is
// among the candidates. Block and the thresholds are left to the caller.
func FitLabelled(ex []Example, edges []float64) Model {
	m := Model{Edges: slices.Clone(edges), Weights: map[string][]float64{}}
	nb := len(edges) + 1
	var cnt [NumFeatures][2][]float64
	for g := range NumFeatures {
		cnt[g] = [2][]float64{make([]float64, nb), make([]float64, nb)}
	}
	reached := 0
	for _, e := range ex {
		if e.Truth >= 0 {
			reached++
		}
		for i, d := range e.Pairs {
			k := 1
			if i == e.Truth {
				k = 0
			}
			for g := range NumFeatures {
				if d[g] >= 0 {
					cnt[g][k][m.bin(d[g])]++
				}
			}
		}
	}
	for g := range NumFeatures {
		mp, up := smooth(cnt[g][0]), smooth(cnt[g][1])
		w := make([]float64, nb)
		for b := range w {
			if cnt[g][0][b]+cnt[g][1][b] > 0 { // a bin never seen is no evidence
				w[b] = math.Log(mp[b]) - math.Log(up[b])
			}
		}
		m.Weights[FeatureNames[g]] = w
	}
	rho := (float64(reached) + 0.5) / (float64(len(ex)) + 1)
	m.Null = math.Log((1 - rho) / rho)
	return m
}

func smooth(c []float64) []float64 {
	var s float64
	for _, x := range c {
		s += x
	}
	out := make([]float64, len(c))
	var t float64
	for i, x := range c {
		out[i] = max((x+0.5)/(s+0.5*float64(len(c))), 1e-4)
		t += out[i]
	}
	for i := range out {
		out[i] /= t
	}
	return out
}

// ChoiceOptions are the settings of FitChoice.
type ChoiceOptions struct {
	// GivenEdges are the given-name classes of the interactions (none if
	// empty; Model.GivenWith).
	GivenEdges []float64
	// NameCountEdges are the bins of Model.NameCount (none if empty); they
	// need GivenEdges.
	NameCountEdges []float64
	// Rounds is the number of Adam steps.
	Rounds int
	// L2 is the weight of the penalty.
	L2 float64
}

// FitChoice fits the weights, the interactions with the given-name
// classes, the name-count weights and Null as a conditional logit model:
// it maximises Σ log P(truth) over the examples (P_i as in Model, the
// truth being the child's candidate or none), with an L2 penalty pulling
// the weights towards m's (the interactions and name-count weights
// towards 0), by full-batch Adam steps from m (usually FitLabelled's).
// Absent features keep weight 0. Deterministic.
func FitChoice(ex []Example, m Model, o ChoiceOptions) Model {
	nb := len(m.Edges) + 1
	nc := len(o.GivenEdges) + 1
	inter := len(o.GivenEdges) > 0
	m.GivenEdges, m.GivenWith = slices.Clone(o.GivenEdges), nil
	m.NameCountEdges, m.NameCount = nil, nil
	if inter && len(o.NameCountEdges) > 0 {
		m.NameCountEdges = slices.Clone(o.NameCountEdges)
		m.NameCount = make([]float64, len(o.NameCountEdges)+1)
	}
	// the bins of every feature, then per feature but the given name and
	// per given-name class its bins, then the rotated reading, the
	// name-count bins and Null
	nw := int(NumFeatures) * nb
	if inter {
		nw += int(NumFeatures-1) * nc * nb
	}
	rot := nw // the weight of a rotated reading
	nw++
	count := nw // the first name-count weight
	nw += len(m.NameCount)
	w := make([]float64, nw+1)
	for g := range NumFeatures {
		copy(w[int(g)*nb:], m.Weights[FeatureNames[g]])
	}
	w[rot] = m.Rotated
	w[nw] = m.Null
	w0 := slices.Clone(w)
	// Per example, the distinct patterns of active weights (one per
	// feature, -1 if absent) with their counts: most of a request's
	// candidates are unrelated children that share a few patterns.
	exs := make([]choiceExample, len(ex))
	index := map[[choiceSlots]int32]int{}
	for r, e := range ex {
		clear(index)
		x := choiceExample{truth: -1, n: float64(len(e.Pairs))}
		countBin := m.nameCountBin(m.sameNames(e.Pairs))
		for i, d := range e.Pairs {
			var f [choiceSlots]int32
			f[slotRotated], f[slotNameCount] = -1, -1
			if e.rotated(i) {
				f[slotRotated] = int32(rot)
			}
			if countBin >= 0 && m.sameName(d[FeatureGiven]) {
				f[slotNameCount] = int32(count + countBin)
			}
			gc := m.givenClass(d[FeatureGiven])
			for g := range NumFeatures {
				f[g], f[NumFeatures+g] = -1, -1
				if d[g] < 0 {
					continue
				}
				b := m.bin(d[g])
				f[g] = int32(int(g)*nb + b)
				if gc >= 0 && g != FeatureGiven {
					f[NumFeatures+g] = int32(int(NumFeatures)*nb + (int(g-1)*nc+gc)*nb + b)
				}
			}
			k, ok := index[f]
			if !ok {
				k = len(x.pats)
				index[f] = k
				x.pats = append(x.pats, choicePattern{f: f})
			}
			x.pats[k].count++
			if i == e.Truth {
				x.truth = k
			}
		}
		exs[r] = x
	}
	// The gradient is summed over a fixed number of shards of the
	// examples, in parallel, then over the shards in order: the same
	// result whatever the number of cores.
	const shards = 8
	var shardGrad [shards][]float64
	for k := range shardGrad {
		shardGrad[k] = make([]float64, len(w))
	}
	grad := make([]float64, len(w))
	mom, vel := make([]float64, len(w)), make([]float64, len(w))
	const rate, b1, b2 = 0.05, 0.9, 0.999
	workers := make(chan struct{}, runtime.GOMAXPROCS(0))
	for round := 1; round <= o.Rounds; round++ {
		var wg sync.WaitGroup
		for k := range shards {
			workers <- struct{}{}
			wg.Go(func() {
				defer func() { <-workers }()
				g := shardGrad[k]
				clear(g)
				var s []float64
				for _, x := range exs[k*len(exs)/shards : (k+1)*len(exs)/shards] {
					s = x.addGradient(w, nw, g, s)
				}
			})
		}
		wg.Wait()
		clear(grad)
		for _, g := range shardGrad {
			for j, v := range g {
				grad[j] += v
			}
		}
		for j := range w {
			g := grad[j]/float64(len(ex)) - o.L2*(w[j]-w0[j])
			mom[j] = b1*mom[j] + (1-b1)*g
			vel[j] = b2*vel[j] + (1-b2)*g*g
			mh := mom[j] / (1 - math.Pow(b1, float64(round)))
			vh := vel[j] / (1 - math.Pow(b2, float64(round)))
			w[j] += rate * mh / (math.Sqrt(vh) + 1e-8)
		}
	}
	out := m
	out.Weights = map[string][]float64{}
	if inter {
		out.GivenWith = map[string][][]float64{}
	}
	for g := range NumFeatures {
		out.Weights[FeatureNames[g]] = slices.Clone(w[int(g)*nb : int(g+1)*nb])
		if inter && g != FeatureGiven {
			t := make([][]float64, nc)
			for c := range t {
				o := int(NumFeatures)*nb + (int(g-1)*nc+c)*nb
				t[c] = slices.Clone(w[o : o+nb])
			}
			out.GivenWith[FeatureNames[g]] = t
		}
	}
	out.Rotated = w[rot]
	if len(m.NameCount) > 0 {
		out.NameCount = slices.Clone(w[count : count+len(m.NameCount)])
	}
	out.Null = w[nw]
	return out
}

// The weights a candidate can have in FitChoice (choiceSlots of them):
// one per feature, one interaction per feature, then the rotated reading
// (slotRotated) and the name count (slotNameCount).
const (
	slotRotated   = 2 * NumFeatures
	slotNameCount = slotRotated + 1
	choiceSlots   = slotNameCount + 1
)

// choicePattern is one pattern of active weights (indexes into FitChoice's
// weight vector, -1 for none) and how many of an example's candidates
// have it.
type choicePattern struct {
	f     [choiceSlots]int32
	count float64
}

// choiceExample is one request's candidates as patterns for FitChoice.
type choiceExample struct {
	pats  []choicePattern
	truth int     // pattern of the child, -1
	n     float64 // candidates
}

// addGradient adds to grad the gradient of log P(truth) of x under the
// weights w (w[null] being Null), and returns the scratch slice s.
func (x *choiceExample) addGradient(w []float64, null int, grad, s []float64) []float64 {
	if x.n == 0 {
		return s
	}
	nullScore := w[null] + math.Log(x.n)
	top := nullScore
	s = s[:0]
	for _, p := range x.pats {
		v := 0.0
		for _, f := range p.f {
			if f >= 0 {
				v += w[f]
			}
		}
		s = append(s, v)
		top = max(top, v)
	}
	pn := math.Exp(nullScore - top)
	z := pn
	for i, p := range x.pats {
		s[i] = math.Exp(s[i] - top)
		z += p.count * s[i]
	}
	// ∂ log P(truth) = x_truth − Σ_j P_j x_j (the null option's only
	// feature is Null)
	if x.truth >= 0 {
		for _, f := range x.pats[x.truth].f {
			if f >= 0 {
				grad[f]++
			}
		}
	} else {
		grad[null]++
	}
	grad[null] -= pn / z
	for i, p := range x.pats {
		q := p.count * s[i] / z
		for _, f := range p.f {
			if f >= 0 {
				grad[f] -= q
			}
		}
	}
	return s
}

// Thresholds returns, for each minimum precision, the lowest probability
// threshold (in steps of 0.01) at which the examples' predictions (every
// candidate with P_i ≥ t) have at least that precision; 0.99 if none has.
func (m Model) Thresholds(ex []Example, minPrecision ...float64) []float64 {
	// tp and fp per percentile of probability
	var tp, fp [101]int
	var s []float64
	for _, e := range ex {
		s = m.Scores(e.Pairs, e.Rotated, s[:0])
		for i, p := range m.Posteriors(s) {
			if i == e.Truth {
				tp[int(p*100)]++
			} else {
				fp[int(p*100)]++
			}
		}
	}
	out := make([]float64, len(minPrecision))
	for k, mp := range minPrecision {
		out[k] = 0.99
		for t := 1; t < 100; t++ {
			a, b := 0, 0
			for j := t; j <= 100; j++ {
				a += tp[j]
				b += fp[j]
			}
			if a+b > 0 && float64(a) >= mp*float64(a+b) {
				out[k] = float64(t) / 100
				break
			}
		}
	}
	return out
}
