package pprl

// AboveGeneric is Set.Above with the pure-Go reference kernel.
func (s *Set) AboveGeneric(q *CLK, threshold float64, out []int) []int {
	return s.above(q, threshold, out, true)
}
