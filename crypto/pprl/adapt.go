package pprl

import (
	"errors"
	"math"

	"github.com/cpx-node/cpx/crypto/emadapt"
)

// Adaptation is the part of a Model estimated on a node's own data
// without knowing which pairs are true: a shift of each feature bin's
// weight, added to every candidate's score after the floor. Shift[f][b]
// is
//
//	log(m̂_f[b] / m_f[b])
//
// where m is the shipped share of true pairs in bin b (Model.M: Shares on
// the generator the weights were fitted on) and m̂ the same share
// estimated by EM on the node's own requests against its own cases,
// encoded as the federation encodes them. Both are expectations under the
// model, not counts of labelled pairs: the model's probabilities are not
// the labels' (siblings get a share), and a register recorded as the
// training set was must shift nothing. m is how a register records one
// child differently (a given name replaced, a date of birth written
// wrongly, which the generator never does) and is what differs most
// between registers; u, how often different children agree by chance, is
// left as fitted together with the name interactions. It is node/matching's
// Adaptation for Dice bins.
type Adaptation struct {
	Requests int                  `json:"requests"` // requests with at least one candidate
	Pairs    int                  `json:"pairs"`    // candidate pairs
	Matches  float64              `json:"matches"`  // expected true pairs among them
	Rounds   int                  `json:"rounds"`   // EM rounds run
	M        map[string][]float64 `json:"m"`        // m̂ per feature and bin
	Shift    map[string][]float64 `json:"shift"`
}

// AdaptOptions bound Adapt; they are node/matching's too. The zero value
// uses the defaults.
type AdaptOptions = emadapt.Options

// Errors of Adapt; the model passed in stays in use.
var (
	// ErrTooFewRequests: too few requests reached a candidate.
	ErrTooFewRequests = errors.New("pprl: too few requests with candidates to adapt the model")
	// ErrNoShares: the model has no shipped shares of true pairs (M).
	ErrNoShares = errors.New("pprl: the model has no shares of true pairs to adapt")
)

// Adapt estimates base's Adaptation on unlabelled requests (their Truth
// is ignored): each request's candidates as the node's own candidate
// search reaches and compares them (ReachReadings, CompareReadings), by
// expectation–maximisation under the at-most-one-child-per-request
// structure the Model scores with:
//
//   - E: each candidate's probability under base with the current shift
//     (Probabilities: the model that will score);
//   - M: for each feature, m̂[b] = (Σ P·[bin = b] + α·m[b]) / (Σ P + α) over
//     the pairs where the feature is present, α being opt.Strength (a
//     Dirichlet prior at the shipped m); Shift[f][b] = log(m̂/m), both
//     floored at opt.Resolution expected true pairs, and bounded by
//     ±opt.MaxShift.
//
// The floor keeps the thin probability that the many strangers of a
// request each get from raising a bin true pairs never show. base's own
// Adaptation, if any, is replaced.
func Adapt(base Model, reqs []Example, opt AdaptOptions) (Model, error) {
	opt = opt.WithDefaults()
	base.Adapted = nil
	if len(base.M) == 0 {
		return base, ErrNoShares
	}
	var rs []Example
	pairs := 0
	for _, r := range reqs {
		if len(r.Pairs) > 0 {
			rs = append(rs, r)
			pairs += len(r.Pairs)
		}
	}
	if len(rs) < opt.MinRequests {
		return base, ErrTooFewRequests
	}
	nb := len(base.Edges) + 1
	cur := base
	a := &Adaptation{Requests: len(rs), Pairs: pairs}
	for a.Rounds < opt.Rounds {
		a.Rounds++
		mc, matches := cur.counts(rs)
		next := &Adaptation{Requests: a.Requests, Pairs: a.Pairs, Matches: matches, Rounds: a.Rounds,
			M: map[string][]float64{}, Shift: map[string][]float64{}}
		moved := 0.0
		for g := range NumFeatures {
			name := FeatureNames[g]
			m := base.M[name]
			if len(m) != nb {
				continue
			}
			mh, sh := emadapt.Shift(mc[g], m, opt)
			moved = math.Max(moved, emadapt.Moved(sh, a.Shift[name]))
			next.M[name], next.Shift[name] = mh, sh
		}
		a = next
		cur.Adapted = a
		if moved < emadapt.Converged {
			break
		}
	}
	return cur, nil
}

// counts returns, per feature and bin, the expected number of true pairs
// among the examples' candidates under m (the sum of their
// probabilities), and their total.
func (m Model) counts(ex []Example) ([NumFeatures][]float64, float64) {
	var mc [NumFeatures][]float64
	for g := range mc {
		mc[g] = make([]float64, len(m.Edges)+1)
	}
	matches := 0.0
	var ps []float64
	for _, r := range ex {
		ps = m.Posteriors(m.Scores(r.Pairs, r.Rotated, ps[:0]))
		for i, p := range ps {
			matches += p
			for g := range NumFeatures {
				if d := r.Pairs[i][g]; d >= 0 {
					mc[g][m.bin(d)] += p
				}
			}
		}
	}
	return mc, matches
}

// Shares returns, per feature and bin, the share of true pairs whose
// feature falls in the bin among the examples' candidates, as m expects
// it (probabilities, not the examples' Truth): Model.M of a model is its
// Shares on its training set.
func (m Model) Shares(ex []Example) map[string][]float64 {
	mc, _ := m.counts(ex)
	out := map[string][]float64{}
	for g := range NumFeatures {
		var n float64
		for _, x := range mc[g] {
			n += x
		}
		sh := make([]float64, len(mc[g]))
		for b, x := range mc[g] {
			if n > 0 {
				sh[b] = x / n
			}
		}
		out[FeatureNames[g]] = sh
	}
	return out
}
