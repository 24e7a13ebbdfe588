package pprl

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/cpx-node/cpx/node/matching"
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
	// NumFeatures is the number of features.
	NumFeatures
)

// FeatureNames names the features (the keys of Model.Weights).
var FeatureNames = [NumFeatures]string{"given", "chain", "chain_rest", "father", "mother", "relatives", "sex", "age", "place", "time"}

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
	return d
}

// Model scores the candidates of one request from their Dice coefficients
// per Feature (Compare). Each feature's Dice falls in a bin (bin b holds
// [Edges[b-1], Edges[b]); bin 0 is below Edges[0], the last bin from the
// last edge up) with a weight, a log likelihood ratio; a feature absent
// (-1) weighs 0. A candidate's score is the sum of its weights,
// s_i = Σ_f W_f[bin(d_if)].
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
// Candidates come from blocking on the given-name group (Dice ≥ Block);
// Likely and Possible are the band thresholds on P_i.
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
	Rotated  float64 `json:"rotated"`
	Null     float64 `json:"null"`
	Block    float64 `json:"block"`
	Likely   float64 `json:"likely"`
	Possible float64 `json:"possible"`
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
// (0, 1), len(Edges)+1 finite weights for every feature, finite Null,
// Block and the thresholds within (0, 1), Possible ≤ Likely.
func (m Model) Check() error {
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
	if math.IsNaN(m.Null) || math.IsInf(m.Null, 0) || math.IsNaN(m.Rotated) || math.IsInf(m.Rotated, 0) {
		return fmt.Errorf("null and rotated must be finite")
	}
	for _, v := range []float64{m.Block, m.Likely, m.Possible} {
		if !(v > 0 && v < 1) {
			return fmt.Errorf("block and thresholds must lie in (0, 1)")
		}
	}
	if m.Possible > m.Likely {
		return fmt.Errorf("possible threshold above likely")
	}
	return nil
}

// bin returns the bin of a Dice coefficient.
func (m *Model) bin(d float64) int {
	b, found := slices.BinarySearch(m.Edges, d)
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
	c, found := slices.BinarySearch(m.GivenEdges, d)
	if found {
		c++
	}
	return c
}

// Score returns a candidate's score: the sum of its features' weights and
// interactions.
func (m Model) Score(d Dices) float64 { return m.ScoreReading(d, false) }

// ScoreReading is Score, plus Rotated for a rotated reading.
func (m Model) ScoreReading(d Dices, rotated bool) float64 {
	sc := m.scorer()
	return sc.score(d, rotated)
}

// scorer holds a Model's weights by Feature rather than by name, looked
// up once for the many candidates of one request.
type scorer struct {
	m    *Model
	w    [NumFeatures][]float64
	with [NumFeatures][][]float64 // nil for the given name, or without interactions
}

func (m *Model) scorer() scorer {
	sc := scorer{m: m}
	for g := range NumFeatures {
		sc.w[g] = m.Weights[FeatureNames[g]]
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
	gc := sc.m.givenClass(d[FeatureGiven])
	for g := range NumFeatures {
		if d[g] < 0 {
			continue
		}
		b := sc.m.bin(d[g])
		s += sc.w[g][b]
		if gc >= 0 && sc.with[g] != nil {
			s += sc.with[g][gc][b]
		}
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
		return matching.Likely
	case p >= m.Possible:
		return matching.Possible
	}
	return matching.Unlikely
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

// FitChoice fits the weights, the interactions with the given-name classes
// of givenEdges (none if empty) and Null as a conditional logit model: it
// maximises Σ log P(truth) over the examples (P_i as in Model, the truth
// being the child's candidate or none), with an L2 penalty l2 pulling the
// weights towards m's (the interactions towards 0), by `rounds`
// full-batch Adam steps from m (usually FitLabelled's). Absent features
// keep weight 0. Deterministic.
func FitChoice(ex []Example, m Model, givenEdges []float64, rounds int, l2 float64) Model {
	nb := len(m.Edges) + 1
	nc := len(givenEdges) + 1
	inter := len(givenEdges) > 0
	m.GivenEdges, m.GivenWith = slices.Clone(givenEdges), nil
	// the bins of every feature, then per feature but the given name and
	// per given-name class its bins, then Null
	nw := int(NumFeatures) * nb
	if inter {
		nw += int(NumFeatures-1) * nc * nb
	}
	rot := nw // the weight of a rotated reading
	nw++
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
	type pattern struct {
		f     [2*NumFeatures + 1]int32
		count float64
	}
	type example struct {
		pats  []pattern
		truth int // pattern of the child, -1
		n     float64
	}
	exs := make([]example, len(ex))
	index := map[[2*NumFeatures + 1]int32]int{}
	for r, e := range ex {
		clear(index)
		x := example{truth: -1, n: float64(len(e.Pairs))}
		for i, d := range e.Pairs {
			var f [2*NumFeatures + 1]int32
			f[2*NumFeatures] = -1
			if e.rotated(i) {
				f[2*NumFeatures] = int32(rot)
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
				x.pats = append(x.pats, pattern{f: f})
			}
			x.pats[k].count++
			if i == e.Truth {
				x.truth = k
			}
		}
		exs[r] = x
	}
	grad := make([]float64, len(w))
	mom, vel := make([]float64, len(w)), make([]float64, len(w))
	var s []float64
	const rate, b1, b2 = 0.05, 0.9, 0.999
	for round := 1; round <= rounds; round++ {
		clear(grad)
		for _, x := range exs {
			if x.n == 0 {
				continue
			}
			null := w[nw] + math.Log(x.n)
			top := null
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
			pn := math.Exp(null - top)
			z := pn
			for i, p := range x.pats {
				s[i] = math.Exp(s[i] - top)
				z += p.count * s[i]
			}
			// ∂ log P(truth) = x_truth − Σ_j P_j x_j (the null option's
			// only feature is Null)
			if x.truth >= 0 {
				for _, f := range x.pats[x.truth].f {
					if f >= 0 {
						grad[f]++
					}
				}
			} else {
				grad[nw]++
			}
			grad[nw] -= pn / z
			for i, p := range x.pats {
				q := p.count * s[i] / z
				for _, f := range p.f {
					if f >= 0 {
						grad[f] -= q
					}
				}
			}
		}
		for j := range w {
			g := grad[j]/float64(len(ex)) - l2*(w[j]-w0[j])
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
	out.Null = w[nw]
	return out
}

// Thresholds returns, for each minimum precision, the lowest probability
// threshold (in steps of 0.01) at which the examples' predictions (every
// candidate with P_i ≥ t) have at least that precision; 0.99 if none has.
func (m Model) Thresholds(ex []Example, minPrecision ...float64) []float64 {
	// tp and fp per percentile of probability
	var tp, fp [101]int
	var s []float64
	sc := m.scorer()
	for _, e := range ex {
		s = s[:0]
		for i, d := range e.Pairs {
			s = append(s, sc.score(d, e.rotated(i)))
		}
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
