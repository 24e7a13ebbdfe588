// Package emadapt holds what the local matcher (node/matching) and the
// federated one (crypto/pprl) share when they adapt a fitted model to a
// node's own unlabelled requests by expectation–maximisation: the bounds
// of the adaptation and its M-step, which turns the expected numbers of
// true pairs at each level of a field into estimated shares and bounded
// log shifts from the shipped shares. Each matcher runs its own E-step.
package emadapt

import "math"

// Options bound an adaptation. The zero value uses the defaults.
type Options struct {
	// MinRequests: with fewer requests that reach a candidate, the
	// adaptation is refused (default 100).
	MinRequests int
	// Strength is the weight, in true pairs, of the shipped shares as a
	// Dirichlet prior on each field's estimate (default 200): on a few
	// requests the estimate stays near the shipped model.
	Strength float64
	// MaxShift bounds each level's shift in either direction (default 5,
	// a likelihood ratio of about 150).
	MaxShift float64
	// Resolution is the number of expected true pairs below which a
	// level's share is not told from zero (default 5).
	Resolution float64
	// Rounds bounds the EM rounds (default 100); EM stops earlier when no
	// shift moves by more than Converged.
	Rounds int
}

// Converged is the largest move of any shift at which EM stops.
const Converged = 1e-3

// WithDefaults returns o with its zero fields set to the defaults.
func (o Options) WithDefaults() Options {
	if o.MinRequests <= 0 {
		o.MinRequests = 100
	}
	if o.Strength <= 0 {
		o.Strength = 200
	}
	if o.MaxShift <= 0 {
		o.MaxShift = 5
	}
	if o.Resolution <= 0 {
		o.Resolution = 5
	}
	if o.Rounds <= 0 {
		o.Rounds = 100
	}
	return o
}

// Shift is the M-step for one field: from counts, the expected numbers
// of true pairs at each level, and m, the shipped shares, it returns the
// estimated shares m̂ (the posterior mean under a Dirichlet prior of
// weight o.Strength at m) and each level's shift log(m̂/m). Both sides of
// the shift are floored at o.Resolution expected true pairs, so that the
// thin probability the many strangers of a request each get cannot shift
// a level true pairs (almost) never show, and the shift is bounded by
// ±o.MaxShift. o has its defaults.
func Shift(counts, m []float64, o Options) (mh, shift []float64) {
	mh = Dirichlet(counts, m, o.Strength)
	var n float64
	for _, x := range counts {
		n += x
	}
	floor := o.Resolution / (n + o.Strength)
	shift = make([]float64, len(mh))
	for l := range shift {
		d := math.Log(math.Max(mh[l], floor) / math.Max(m[l], floor))
		shift[l] = math.Max(-o.MaxShift, math.Min(o.MaxShift, d))
	}
	return mh, shift
}

// Dirichlet returns the posterior mean of a distribution with expected
// counts n under a Dirichlet prior of weight alpha at prior.
func Dirichlet(n, prior []float64, alpha float64) []float64 {
	var total float64
	for _, x := range n {
		total += x
	}
	out := make([]float64, len(n))
	for l := range n {
		out[l] = (n[l] + alpha*prior[l]) / (total + alpha)
	}
	return out
}

// Moved returns the largest move from old to shift, level by level (old
// nil or shorter counts as zeros).
func Moved(shift, old []float64) float64 {
	moved := 0.0
	for l, x := range shift {
		o := 0.0
		if l < len(old) {
			o = old[l]
		}
		moved = math.Max(moved, math.Abs(x-o))
	}
	return moved
}
