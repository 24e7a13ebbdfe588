package pprl

// AboveGeneric is Set.Above with the pure-Go reference kernel.
func (s *Set) AboveGeneric(q *CLK, threshold float64, out []int) []int {
	return s.above(q, threshold, out, true)
}

// DiceManyGeneric is DiceMany with the pure-Go reference kernel.
func DiceManyGeneric(q *CLK, set []CLK, threshold float64, out []int) []int {
	return diceMany(q, set, threshold, out, true)
}

// DiceGeneric is Dice with the pure-Go popcounts.
func DiceGeneric(a, b *CLK) float64 {
	return dice(diceCountsGeneric(a, b))
}
