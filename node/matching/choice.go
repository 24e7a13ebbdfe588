package matching

import (
	"errors"
	"fmt"
	"math"
)

// Choice is a conditional-logit ("which of these, or none?") model of one
// tracing request against the n candidates the index reached: candidate i
// gets the score
//
//	s_i = Bias + LogCandidates·ln n + Σ_f Level[f][γ_f] + Σ_f NameWith[f][γ_name][γ_f]
//
// (blank fields contribute nothing) and
//
//	P(i is the child) = exp(s_i) / (1 + Σ_j exp(s_j)),
//
// the 1 standing for "the child is none of them". It has the structure of
// the Fellegi–Sunter posterior Index.Match computes (a log-odds per
// candidate, at most one true candidate), but the weights are fitted
// discriminatively on requests with known answers, and the name × field
// interactions let the weight of agreeing relatives, places and dates
// depend on how well the names agree: a sibling agrees on everything but
// the given name, so the family's agreement must not outweigh it.
type Choice struct {
	Bias          float64                `json:"bias"`
	LogCandidates float64                `json:"log_candidates"`
	Level         map[string][]float64   `json:"level"`
	NameWith      map[string][][]float64 `json:"name_with"`
}

// choiceInteractions are the fields whose weight depends on the name level.
var choiceInteractions = []string{FieldRelatives, FieldLineage, FieldAge, FieldLocation, FieldSepDate, FieldSepLocation, FieldSex, FieldGivenRarity}

// choiceLayout maps comparison levels to positions of the weight vector
// the fit works on: bias, ln n, one slot per field level, then one slot per
// (name level, field level) of each interaction.
type choiceLayout struct {
	level map[string]int // first slot of each field's levels
	with  map[string]int // first slot of each interaction
	size  int
}

func newChoiceLayout() choiceLayout {
	l := choiceLayout{level: map[string]int{}, with: map[string]int{}, size: 2}
	for _, f := range FieldOrder {
		l.level[f] = l.size
		l.size += FieldLevels[f]
	}
	for _, f := range choiceInteractions {
		l.with[f] = l.size
		l.size += FieldLevels[FieldName] * FieldLevels[f]
	}
	return l
}

// nameLevelOf returns the level of the name comparison, or -1.
func nameLevelOf(cs []Comparison) int {
	for _, c := range cs {
		if c.Field == FieldName && c.Level >= 0 && c.Level < FieldLevels[FieldName] {
			return c.Level
		}
	}
	return -1
}

// active appends the weight slots a comparison vector switches on (every
// feature but ln n is an indicator; slot 0 is the bias).
func (l choiceLayout) active(cs []Comparison, out []int32) []int32 {
	out = append(out, 0)
	name := nameLevelOf(cs)
	for _, c := range cs {
		base, ok := l.level[c.Field]
		if !ok || c.Level < 0 || c.Level >= FieldLevels[c.Field] {
			continue
		}
		out = append(out, int32(base+c.Level))
		if w, ok := l.with[c.Field]; ok && name >= 0 {
			out = append(out, int32(w+name*FieldLevels[c.Field]+c.Level))
		}
	}
	return out
}

// Score returns s_i for one candidate among n.
func (m *Choice) Score(cs []Comparison, n int) float64 {
	s := m.Bias + m.LogCandidates*math.Log(float64(max(n, 1)))
	name := nameLevelOf(cs)
	for _, c := range cs {
		if c.Level < 0 {
			continue
		}
		if w := m.Level[c.Field]; c.Level < len(w) {
			s += w[c.Level]
		}
		if t := m.NameWith[c.Field]; name >= 0 && name < len(t) && c.Level < len(t[name]) {
			s += t[name][c.Level]
		}
	}
	return s
}

func (l choiceLayout) weights(w []float64) *Choice {
	m := &Choice{Bias: w[0], LogCandidates: w[1], Level: map[string][]float64{}, NameWith: map[string][][]float64{}}
	for _, f := range FieldOrder {
		b := l.level[f]
		m.Level[f] = append([]float64(nil), w[b:b+FieldLevels[f]]...)
	}
	for _, f := range choiceInteractions {
		b, n := l.with[f], FieldLevels[f]
		t := make([][]float64, FieldLevels[FieldName])
		for i := range t {
			t[i] = append([]float64(nil), w[b+i*n:b+(i+1)*n]...)
		}
		m.NameWith[f] = t
	}
	return m
}

// ChoiceRequest is one training request: the comparison vectors of every
// candidate the index reached and which of them is the child (-1: none).
type ChoiceRequest struct {
	Candidates [][]Comparison
	Truth      int
}

// FitChoice fits a Choice model by damped Newton's method on the
// conditional log-likelihood of the requests, with an L2 penalty
// ridge·|w|² (ridge > 0 keeps levels never seen at weight 0 and the system
// solvable).
func FitChoice(reqs []ChoiceRequest, ridge float64) (*Choice, error) {
	if ridge <= 0 {
		return nil, errors.New("matching: FitChoice needs a positive ridge")
	}
	l := newChoiceLayout()
	d := l.size
	type request struct {
		cands [][]int32 // active slots per candidate
		logN  float64
		truth int
	}
	rs := make([]request, 0, len(reqs))
	for _, r := range reqs {
		if len(r.Candidates) == 0 {
			continue
		}
		if r.Truth >= len(r.Candidates) {
			return nil, fmt.Errorf("matching: truth %d of %d candidates", r.Truth, len(r.Candidates))
		}
		x := request{truth: r.Truth, logN: math.Log(float64(len(r.Candidates)))}
		for _, cs := range r.Candidates {
			x.cands = append(x.cands, l.active(cs, nil))
		}
		rs = append(rs, x)
	}
	g := make([]float64, d)
	h := make([]float64, d*d)
	mu := make([]float64, d)
	var p []float64
	// objective returns the penalised log-likelihood at w and, when grad
	// is set, leaves its gradient in g and negative Hessian in h.
	objective := func(w []float64, grad bool) float64 {
		ll := 0.0
		for i := range w {
			ll -= ridge * w[i] * w[i]
		}
		if grad {
			for i := range g {
				g[i] = -2 * ridge * w[i]
			}
			clear(h)
			for i := 0; i < d; i++ {
				h[i*d+i] = 2 * ridge
			}
		}
		for _, r := range rs {
			// scores and probabilities ("none" has score 0)
			p = p[:0]
			top := 0.0
			for _, act := range r.cands {
				s := w[1] * r.logN
				for _, a := range act {
					s += w[a]
				}
				p = append(p, s)
				top = math.Max(top, s)
			}
			z := math.Exp(-top)
			for j := range p {
				p[j] = math.Exp(p[j] - top)
				z += p[j]
			}
			lz := top + math.Log(z)
			if r.truth >= 0 {
				ll += math.Log(p[r.truth]) + top - lz
			} else {
				ll -= lz
			}
			if !grad {
				continue
			}
			clear(mu)
			for j, act := range r.cands {
				pj := p[j] / z
				p[j] = pj
				for _, a := range act {
					mu[a] += pj
				}
				mu[1] += pj * r.logN
			}
			if r.truth >= 0 {
				for _, a := range r.cands[r.truth] {
					g[a]++
				}
				g[1] += r.logN
			}
			for i := range g {
				g[i] -= mu[i]
			}
			// negative Hessian: Σ_j p_j x_j x_jᵀ − μ μᵀ
			for j, act := range r.cands {
				pj := p[j]
				if pj < 1e-12 {
					continue
				}
				for _, a := range act {
					row := h[int(a)*d:]
					for _, b := range act {
						row[b] += pj
					}
					row[1] += pj * r.logN
					h[1*d+int(a)] += pj * r.logN
				}
				h[1*d+1] += pj * r.logN * r.logN
			}
			for i := 0; i < d; i++ {
				if mu[i] == 0 {
					continue
				}
				row := h[i*d:]
				for k := 0; k < d; k++ {
					row[k] -= mu[i] * mu[k]
				}
			}
		}
		return ll
	}
	w := make([]float64, d)
	next := make([]float64, d)
	for iter := 0; iter < 100; iter++ {
		cur := objective(w, true)
		step, err := solveSPD(h, g, d)
		if err != nil {
			return nil, err
		}
		// damped: halve the step until the objective does not fall
		t := 1.0
		for ; t > 1e-4; t /= 2 {
			for i := range w {
				next[i] = w[i] + t*step[i]
			}
			if objective(next, false) >= cur-1e-9 {
				break
			}
		}
		delta := 0.0
		for i := range w {
			delta = math.Max(delta, math.Abs(next[i]-w[i]))
		}
		copy(w, next)
		if delta < 1e-6 {
			break
		}
	}
	return l.weights(w), nil
}

// solveSPD solves A x = b for a symmetric positive definite A (row-major,
// n×n) by Cholesky decomposition. A is overwritten.
func solveSPD(a, b []float64, n int) ([]float64, error) {
	for j := 0; j < n; j++ {
		s := a[j*n+j]
		for k := 0; k < j; k++ {
			s -= a[j*n+k] * a[j*n+k]
		}
		if s <= 0 {
			return nil, errors.New("matching: FitChoice: Hessian not positive definite")
		}
		a[j*n+j] = math.Sqrt(s)
		for i := j + 1; i < n; i++ {
			s := a[i*n+j]
			for k := 0; k < j; k++ {
				s -= a[i*n+k] * a[j*n+k]
			}
			a[i*n+j] = s / a[j*n+j]
		}
	}
	y := make([]float64, n)
	for i := 0; i < n; i++ {
		s := b[i]
		for k := 0; k < i; k++ {
			s -= a[i*n+k] * y[k]
		}
		y[i] = s / a[i*n+i]
	}
	x := make([]float64, n)
	for i := n - 1; i >= 0; i-- {
		s := y[i]
		for k := i + 1; k < n; k++ {
			s -= a[k*n+i] * x[k]
		}
		x[i] = s / a[i*n+i]
	}
	return x, nil
}
