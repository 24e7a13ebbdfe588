//go:build amd64 && !purego

package pprl

import "golang.org/x/sys/cpu"

// The kernels are chosen at run time from the CPU's features.
var (
	hasAVX2   = cpu.X86.HasAVX2
	hasPOPCNT = cpu.X86.HasPOPCNT
)

// andCountsAVX2 sets counts[i] = |q ∧ set[i]| for every i < len(set):
// AND with the query held in four YMM registers, byte popcounts by nibble
// look-up (VPSHUFB), summed with VPSADBW, four encodings per horizontal
// sum. len(counts) must be at least len(set).
//
//go:noescape
func andCountsAVX2(q *CLK, set []CLK, counts []uint16)

// diceCountsPOPCNT returns |a ∧ b|, |a| and |b| with POPCNTQ.
//
//go:noescape
func diceCountsPOPCNT(a, b *CLK) (and, na, nb int)

// andCounts sets counts[i] = |q ∧ set[i]| for every i < len(set) with the
// fastest kernel the CPU supports. len(counts) must be at least len(set).
func andCounts(q *CLK, set []CLK, counts []uint16) {
	counts = counts[:len(set)]
	if hasAVX2 {
		andCountsAVX2(q, set, counts)
		return
	}
	andCountsGeneric(q, set, counts)
}

// diceCounts returns |a ∧ b|, |a| and |b|.
func diceCounts(a, b *CLK) (and, na, nb int) {
	if hasPOPCNT {
		return diceCountsPOPCNT(a, b)
	}
	return diceCountsGeneric(a, b)
}
