package matching

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"

	"github.com/cpx-node/cpx/crypto/features"
)

// Bands (features').
const (
	Likely   = features.Likely
	Possible = features.Possible
	Unlikely = features.Unlikely
)

// Band thresholds on the posterior probability: likely means more likely
// than not to be the child sought (on the synthetic harness precision is
// then about 0.96 and F1 at its best); possible is worth a caseworker's
// look.
const (
	LikelyThreshold   = 0.5
	PossibleThreshold = 0.1
)

// BandOf returns the band of a posterior probability: likely (≥ 0.5),
// possible (≥ 0.1) or unlikely.
func BandOf(p float64) string {
	switch {
	case p >= LikelyThreshold:
		return Likely
	case p >= PossibleThreshold:
		return Possible
	}
	return Unlikely
}

// FieldParams are the Fellegi–Sunter probabilities of one field: M[l] is
// P(level l | same child), U[l] is P(level l | different children).
type FieldParams struct {
	M []float64 `json:"m"`
	U []float64 `json:"u"`
}

// Model is a Fellegi–Sunter model. Prior is the expected share of true
// matches among the candidate pairs the index hands to the model (after
// blocking), not among all pairs; the posterior is
//
//	P(match | γ) = 1 / (1 + (1-Prior)/Prior · Π_f U_f[γ_f]/M_f[γ_f])
//
// with blank fields left out (conditional independence assumed).
//
// When Choice is set, Index.Match scores with it instead (see Choice); the
// m and u probabilities stay for fitting by EM on unlabelled data.
type Model struct {
	Prior  float64                `json:"prior"`
	Fields map[string]FieldParams `json:"fields"`
	Choice *Choice                `json:"choice,omitempty"`
	// Adapted, when set, shifts every candidate's log-odds by what EM
	// estimated on this node's own requests (see Adapt).
	Adapted *Adaptation `json:"adapted,omitempty"`
}

//go:embed default_model.json
var defaultModelJSON []byte

// DefaultModel returns the parameters fitted on the synthetic generator
// (node/matching/synth, fixed seed). Regenerate with
// `go test ./node/matching/synth -run TestFitDefault -args -update`.
func DefaultModel() Model {
	var m Model
	if err := json.Unmarshal(defaultModelJSON, &m); err != nil || len(m.Fields) == 0 {
		return InitialModel()
	}
	return m
}

// InitialModel is the EM starting point: agreement likely for matches,
// disagreement likely for non-matches.
func InitialModel() Model {
	m := Model{Prior: 0.01, Fields: map[string]FieldParams{}}
	for _, f := range FieldOrder {
		n := FieldLevels[f]
		fp := FieldParams{M: make([]float64, n), U: make([]float64, n)}
		var sm, su float64
		for l := 0; l < n; l++ {
			fp.M[l] = math.Pow(3, float64(l))
			fp.U[l] = math.Pow(3, float64(n-1-l))
			sm += fp.M[l]
			su += fp.U[l]
		}
		for l := 0; l < n; l++ {
			fp.M[l] /= sm
			fp.U[l] /= su
		}
		m.Fields[f] = fp
	}
	return m
}

// LogBayesFactor returns Σ log(M/U) over the non-blank comparisons.
func (m Model) LogBayesFactor(cs []Comparison) float64 {
	var s float64
	for _, c := range cs {
		fp, ok := m.Fields[c.Field]
		if !ok || c.Level < 0 || c.Level >= len(fp.M) {
			continue
		}
		s += math.Log(fp.M[c.Level]) - math.Log(fp.U[c.Level])
	}
	return s
}

// Probability returns the posterior probability that the comparisons are of
// the same child.
func (m Model) Probability(cs []Comparison) float64 {
	prior := m.Prior
	if prior <= 0 || prior >= 1 {
		prior = 0.1
	}
	lo := math.Log(prior/(1-prior)) + m.LogBayesFactor(cs)
	return 1 / (1 + math.Exp(-lo))
}

const probFloor = 1e-4

// Fit estimates a model by expectation–maximisation on unlabelled comparison
// vectors (every candidate pair the index produced for a set of requests).
// Identical level vectors are
// grouped first. It starts from InitialModel, runs until the parameters settle
// (at most 500 rounds) and keeps every probability ≥ 1e-4 so that no single field can veto
// a match. The fitted Prior is the estimated share of matches in pairs.
func Fit(pairs [][]Comparison) Model {
	m := InitialModel()
	if len(pairs) == 0 {
		return m
	}
	// identical level vectors are counted once (the usual EM speed-up)
	type pattern struct {
		cs    []Comparison
		count float64
	}
	idx := map[string]int{}
	var pats []pattern
	key := make([]byte, 0, 16)
	for _, cs := range pairs {
		key = key[:0]
		for _, c := range cs {
			key = append(key, c.Field[0], c.Field[len(c.Field)-1], byte(c.Level+1))
		}
		if i, ok := idx[string(key)]; ok {
			pats[i].count++
			continue
		}
		idx[string(key)] = len(pats)
		pats = append(pats, pattern{cs: cs, count: 1})
	}
	for round := 0; round < 500; round++ {
		next := Model{Fields: map[string]FieldParams{}}
		acc := map[string][2][]float64{}
		for _, f := range FieldOrder {
			n := FieldLevels[f]
			acc[f] = [2][]float64{make([]float64, n), make([]float64, n)}
		}
		var sumG float64
		for _, p := range pats {
			g := m.Probability(p.cs)
			sumG += g * p.count
			for _, c := range p.cs {
				a, ok := acc[c.Field]
				if !ok || c.Level < 0 || c.Level >= len(a[0]) {
					continue
				}
				a[0][c.Level] += g * p.count
				a[1][c.Level] += (1 - g) * p.count
			}
		}
		next.Prior = sumG / float64(len(pairs))
		delta := math.Abs(next.Prior - m.Prior)
		for _, f := range FieldOrder {
			a := acc[f]
			fp := FieldParams{M: normalise(a[0]), U: normalise(a[1])}
			for l := range fp.M {
				delta = math.Max(delta, math.Abs(fp.M[l]-m.Fields[f].M[l]))
			}
			next.Fields[f] = fp
		}
		m = next
		if delta < 1e-7 {
			break
		}
	}
	return m
}

// FitLabelled estimates a model from comparison vectors with known truth.
func FitLabelled(pairs [][]Comparison, same []bool) (Model, error) {
	if len(pairs) != len(same) {
		return Model{}, fmt.Errorf("matching: %d pairs but %d labels", len(pairs), len(same))
	}
	m := Model{Fields: map[string]FieldParams{}}
	acc := map[string][2][]float64{}
	for _, f := range FieldOrder {
		n := FieldLevels[f]
		acc[f] = [2][]float64{make([]float64, n), make([]float64, n)}
	}
	matches := 0
	for i, cs := range pairs {
		k := 1
		if same[i] {
			k = 0
			matches++
		}
		for _, c := range cs {
			a, ok := acc[c.Field]
			if !ok || c.Level < 0 || c.Level >= len(a[0]) {
				continue
			}
			a[k][c.Level]++
		}
	}
	for _, f := range FieldOrder {
		a := acc[f]
		m.Fields[f] = FieldParams{M: normalise(a[0]), U: normalise(a[1])}
	}
	if len(pairs) > 0 {
		m.Prior = float64(matches) / float64(len(pairs))
	}
	return m, nil
}

func normalise(v []float64) []float64 {
	out := make([]float64, len(v))
	var s float64
	for _, x := range v {
		s += x
	}
	for i, x := range v {
		p := (x + 1e-3) / (s + 1e-3*float64(len(v)))
		out[i] = math.Max(p, probFloor)
	}
	var t float64
	for _, x := range out {
		t += x
	}
	for i := range out {
		out[i] /= t
	}
	return out
}
