package pprl

import "math/bits"

// Set holds encodings with their popcounts computed once, for the hot
// loop of federated matching: a comparison then costs only |q ∧ s|.
type Set struct {
	clks []CLK
	ones []int32
}

// Add appends c and returns its index.
func (s *Set) Add(c CLK) int {
	s.clks = append(s.clks, c)
	s.ones = append(s.ones, int32(pop(&c)))
	return len(s.clks) - 1
}

// Len is the number of encodings.
func (s *Set) Len() int { return len(s.clks) }

// At returns encoding i.
func (s *Set) At(i int) *CLK { return &s.clks[i] }

// Above appends to out the indexes of the encodings whose Dice coefficient
// with q is at least threshold, and returns out. It does not allocate
// (beyond growing out).
func (s *Set) Above(q *CLK, threshold float64, out []int) []int {
	nq := pop(q)
	// 2|q∧s| ≥ t(|q|+|s|), in fixed point (t scaled by 1024).
	t := int(threshold * 1024)
	tq := t * nq
	clks, ones := s.clks, s.ones[:len(s.clks)]
	// The query's words stay in registers across the loop.
	q0, q1, q2, q3, q4, q5, q6, q7 := q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7]
	q8, q9, q10, q11, q12, q13, q14, q15 := q[8], q[9], q[10], q[11], q[12], q[13], q[14], q[15]
	for i := range clks {
		c := &clks[i]
		and := bits.OnesCount64(q0&c[0]) + bits.OnesCount64(q1&c[1]) + bits.OnesCount64(q2&c[2]) + bits.OnesCount64(q3&c[3]) +
			bits.OnesCount64(q4&c[4]) + bits.OnesCount64(q5&c[5]) + bits.OnesCount64(q6&c[6]) + bits.OnesCount64(q7&c[7]) +
			bits.OnesCount64(q8&c[8]) + bits.OnesCount64(q9&c[9]) + bits.OnesCount64(q10&c[10]) + bits.OnesCount64(q11&c[11]) +
			bits.OnesCount64(q12&c[12]) + bits.OnesCount64(q13&c[13]) + bits.OnesCount64(q14&c[14]) + bits.OnesCount64(q15&c[15])
		ns := int(ones[i])
		if 2048*and-t*ns >= tq && nq+ns > 0 {
			out = append(out, i)
		}
	}
	return out
}
