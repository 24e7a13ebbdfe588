package pprl

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
	for i := range clks {
		ns := int(ones[i])
		if 2048*popAnd(q, &clks[i])-t*ns >= tq && nq+ns > 0 {
			out = append(out, i)
		}
	}
	return out
}
