package matching

import (
	"errors"
	"math"

	"github.com/cpx-node/cpx/crypto/emadapt"
)

// Adaptation is the part of a Model estimated on a node's own tracing
// requests, without knowing their answers: a shift of each field level's
// log-odds, added to every candidate's score. Shift[f][l] is
//
//	log(m̂_f[l] / m_f[l])
//
// where m is the shipped Fellegi–Sunter P(level | same child) (Model.Fields,
// counted on the data the weights were fitted on) and m̂ the same
// probability estimated by EM on the node's candidate pairs. m is how a
// register records one child differently (a misspelt name, a date of birth
// written wrongly, which the generator never does), and is what differs
// most between registers; u, how often different children agree by
// chance, is left as fitted together with the weights' name interactions
// (shifting by û too made the figures worse; docs/matching.md). A level
// that true pairs show as often here as in the training data keeps its
// fitted weight; one they show far more often here loses its penalty.
type Adaptation struct {
	Requests int                    `json:"requests"` // requests with at least one candidate
	Pairs    int                    `json:"pairs"`    // candidate pairs
	Matches  float64                `json:"matches"`  // expected true pairs among them
	Rounds   int                    `json:"rounds"`   // EM rounds run
	Fields   map[string]FieldParams `json:"fields"`   // m̂, and û for information
	Shift    map[string][]float64   `json:"shift"`
}

// shift returns the adaptation's term of one candidate's log-odds.
func (a *Adaptation) shift(cs []Comparison) float64 {
	if a == nil {
		return 0
	}
	var s float64
	for _, c := range cs {
		if w := a.Shift[c.Field]; c.Level >= 0 && c.Level < len(w) {
			s += w[c.Level]
		}
	}
	return s
}

// Posteriors returns, for one request's candidates (their comparison
// vectors), the probability that each is the child sought. At most one
// is, and with probability reachedPrior one of them is, each a priori
// equally likely: P_i = (ρ/n)·LR_i / ((1-ρ) + (ρ/n)·Σ_j LR_j), or with a
// Choice model P_i = exp(s_i) / (1 + Σ_j exp(s_j)). Look-alike candidates
// share the probability instead of each claiming it. An adaptation's
// shift is added to each candidate's log-odds.
func (m Model) Posteriors(cands [][]Comparison) []float64 {
	out := make([]float64, len(cands))
	if len(cands) == 0 {
		return out
	}
	// in logs, scaled by the largest term so that nothing overflows; the
	// "none of them" term has log-odds 0
	lw := math.Log(reachedPrior / float64(len(cands)) / (1 - reachedPrior))
	top := 0.0
	for i, cs := range cands {
		if m.Choice != nil {
			out[i] = m.Choice.Score(cs, len(cands))
		} else {
			out[i] = lw + m.LogBayesFactor(cs)
		}
		out[i] += m.Adapted.shift(cs)
		top = math.Max(top, out[i])
	}
	sum := math.Exp(-top)
	for i := range out {
		out[i] = math.Exp(out[i] - top)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

// AdaptOptions bound Adapt; they are crypto/pprl's too. The zero value
// uses the defaults.
type AdaptOptions = emadapt.Options

// ErrTooFewRequests is returned by Adapt when the requests are too few to
// estimate anything from; the shipped model stays in use.
var ErrTooFewRequests = errors.New("matching: too few requests with candidates to adapt the model")

// Adapt estimates base's Adaptation on unlabelled requests, each given as
// the comparison vectors of its candidates (Index.Vectors), by
// expectation–maximisation under the at-most-one-child-per-request
// structure Match scores with:
//
//   - E: each candidate's probability of being the child under base with
//     the current shift (Posteriors: the model that will score);
//   - M: for each field, m̂[l] = (Σ P·[γ=l] + α·m[l]) / (Σ P + α) over the
//     pairs where the field is not blank, α being opt.Strength (a
//     Dirichlet prior at the shipped m); Shift[f][l] = log(m̂/m), both
//     floored at opt.Resolution expected true pairs and the shift bounded
//     by ±opt.MaxShift. û, likewise with 1 − P, is reported only.
//
// The floor matters: hundreds of strangers a request each get a thin
// probability, and without it their sum raised the levels true pairs
// never show (sex or date of birth differing) round after round until
// EM took strangers for children. The Choice weights and their name ×
// field interactions stay as fitted, and only how often true pairs show
// each level is learnt from the node, so that a few hundred requests
// suffice. base's own Adaptation, if any, is replaced; fields without
// shipped m and u are not shifted.
func Adapt(base Model, reqs [][][]Comparison, opt AdaptOptions) (Model, error) {
	opt = opt.WithDefaults()
	base.Adapted = nil
	var rs [][][]Comparison
	pairs := 0
	for _, r := range reqs {
		if len(r) > 0 {
			rs = append(rs, r)
			pairs += len(r)
		}
	}
	if len(rs) < opt.MinRequests {
		return base, ErrTooFewRequests
	}
	cur := base
	a := &Adaptation{Requests: len(rs), Pairs: pairs}
	for a.Rounds < opt.Rounds {
		a.Rounds++
		mc := map[string][]float64{}
		uc := map[string][]float64{}
		for f, fp := range base.Fields {
			mc[f] = make([]float64, len(fp.M))
			uc[f] = make([]float64, len(fp.U))
		}
		matches := 0.0
		for _, r := range rs {
			for i, p := range cur.Posteriors(r) {
				matches += p
				for _, c := range r[i] {
					if m := mc[c.Field]; c.Level >= 0 && c.Level < len(m) {
						m[c.Level] += p
						uc[c.Field][c.Level] += 1 - p
					}
				}
			}
		}
		next := &Adaptation{Requests: a.Requests, Pairs: a.Pairs, Matches: matches, Rounds: a.Rounds,
			Fields: map[string]FieldParams{}, Shift: map[string][]float64{}}
		moved := 0.0
		for f, fp := range base.Fields {
			if len(fp.M) != len(fp.U) {
				continue
			}
			mh, sh := emadapt.Shift(mc[f], fp.M, opt)
			moved = math.Max(moved, emadapt.Moved(sh, a.Shift[f]))
			next.Fields[f] = FieldParams{M: mh, U: emadapt.Dirichlet(uc[f], fp.U, opt.Strength)}
			next.Shift[f] = sh
		}
		a = next
		cur.Adapted = a
		if moved < emadapt.Converged {
			break
		}
	}
	return cur, nil
}
