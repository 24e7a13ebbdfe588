package pprl

import "math/bits"

// batch is how many stored encodings Set.Above and DiceMany hand to the
// counting kernel at a time: the counts live in a stack array of this size,
// so the loop allocates nothing.
const batch = 256

// andCountsGeneric sets counts[i] = |q ∧ set[i]| for every i < len(set). It
// is the reference the assembly kernels are tested against, and the kernel
// on machines without one.
func andCountsGeneric(q *CLK, set []CLK, counts []uint16) {
	counts = counts[:len(set)]
	// The query's words stay in registers across the loop.
	q0, q1, q2, q3, q4, q5, q6, q7 := q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7]
	q8, q9, q10, q11, q12, q13, q14, q15 := q[8], q[9], q[10], q[11], q[12], q[13], q[14], q[15]
	for i := range set {
		c := &set[i]
		counts[i] = uint16(bits.OnesCount64(q0&c[0]) + bits.OnesCount64(q1&c[1]) + bits.OnesCount64(q2&c[2]) + bits.OnesCount64(q3&c[3]) +
			bits.OnesCount64(q4&c[4]) + bits.OnesCount64(q5&c[5]) + bits.OnesCount64(q6&c[6]) + bits.OnesCount64(q7&c[7]) +
			bits.OnesCount64(q8&c[8]) + bits.OnesCount64(q9&c[9]) + bits.OnesCount64(q10&c[10]) + bits.OnesCount64(q11&c[11]) +
			bits.OnesCount64(q12&c[12]) + bits.OnesCount64(q13&c[13]) + bits.OnesCount64(q14&c[14]) + bits.OnesCount64(q15&c[15]))
	}
}

// diceCountsGeneric returns |a ∧ b|, |a| and |b|: the reference for
// diceCounts.
func diceCountsGeneric(a, b *CLK) (and, na, nb int) {
	return popAnd(a, b), pop(a), pop(b)
}
