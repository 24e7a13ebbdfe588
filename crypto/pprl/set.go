package pprl

// Set holds encodings with their popcounts computed once, for the hot
// loop of federated matching: a comparison then costs only |q ∧ s|. The
// encodings are stored contiguously (a CLK is 16 words, so the set is one
// array with a stride of 128 bytes) for the counting kernel.
type Set struct {
	clks    []CLK
	ones    []int32
	minOnes int32 // the least non-zero popcount, 0 if there is none
}

// Add appends c and returns its index.
func (s *Set) Add(c CLK) int {
	n := int32(pop(&c))
	if n > 0 && (s.minOnes == 0 || n < s.minOnes) {
		s.minOnes = n
	}
	s.clks = append(s.clks, c)
	s.ones = append(s.ones, n)
	return len(s.clks) - 1
}

// Len is the number of encodings.
func (s *Set) Len() int { return len(s.clks) }

// At returns encoding i.
func (s *Set) At(i int) *CLK { return &s.clks[i] }

// Above appends to out the indexes of the encodings whose Dice coefficient
// with q is at least threshold, and returns out. It does not allocate
// (beyond growing out). The intersections are counted by the fastest
// kernel the CPU supports (AVX2 on amd64), 256 encodings at a time.
func (s *Set) Above(q *CLK, threshold float64, out []int) []int {
	return s.above(q, threshold, out, false)
}

// above is Above; with generic it counts with the pure-Go reference kernel,
// so that tests and benchmarks can compare the two on the same set. (A
// kernel passed as a func value would move counts to the heap.)
func (s *Set) above(q *CLK, threshold float64, out []int, generic bool) []int {
	nq := pop(q)
	// 2|q∧s| ≥ t(|q|+|s|), in fixed point (t scaled by 1024).
	t := int(threshold * 1024)
	tq := t * nq
	if nq == 0 {
		// |q∧s| = 0: no need to count, and two empty filters never match.
		for i, ns := range s.ones {
			if -t*int(ns) >= tq && ns > 0 {
				out = append(out, i)
			}
		}
		return out
	}
	// |s| ≥ minOnes, so an encoding with 2048|q∧s| < t(minOnes+|q|) cannot
	// match, and one comparison with need dismisses it. (An empty encoding,
	// below minOnes, has |q∧s| = 0 and matches only if t = 0, when need is
	// 0.) Balanced encodings all weigh about 512, so need is close to each
	// one's own bound and dismisses nearly every non-match.
	need := 0
	if t >= 0 && t <= 2048 {
		need = t * (int(s.minOnes) + nq) / 2048
	}
	var counts [batch]uint16
	for start := 0; start < len(s.clks); start += batch {
		clks := s.clks[start:min(start+batch, len(s.clks))]
		n := counts[:len(clks)]
		if generic {
			andCountsGeneric(q, clks, n)
		} else {
			andCounts(q, clks, n)
		}
		ones := s.ones[start : start+len(n)]
		for i, and := range n {
			if int(and) < need || 2048*int(and)-t*int(ones[i]) < tq {
				continue
			}
			out = append(out, start+i)
		}
	}
	return out
}
