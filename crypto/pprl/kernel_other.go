//go:build !amd64 || purego

package pprl

// andCounts sets counts[i] = |q ∧ set[i]| for every i < len(set).
// len(counts) must be at least len(set).
func andCounts(q *CLK, set []CLK, counts []uint16) {
	andCountsGeneric(q, set, counts)
}

// diceCounts returns |a ∧ b|, |a| and |b|.
func diceCounts(a, b *CLK) (and, na, nb int) {
	return diceCountsGeneric(a, b)
}
