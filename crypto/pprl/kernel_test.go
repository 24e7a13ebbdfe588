package pprl

import (
	"math/rand/v2"
	"testing"
)

// kernelSets returns the stored encodings the kernels are checked on:
// random ones of several densities, the empty and the full filter, and a
// filter with a single bit at each of the 1024 positions.
func kernelSets(r *rand.Rand) []CLK {
	var set []CLK
	for _, density := range []int{1, 2, 4, 8} {
		for range 64 {
			var c CLK
			for w := range c {
				c[w] = r.Uint64()
				for range density - 1 {
					c[w] &= r.Uint64() // sparser: each AND halves the density
				}
			}
			set = append(set, c, invert(c))
		}
	}
	set = append(set, CLK{}, allOnes)
	for i := range Bits {
		var c CLK
		c.set(uint32(i))
		set = append(set, c)
	}
	r.Shuffle(len(set), func(i, j int) { set[i], set[j] = set[j], set[i] })
	return set
}

func invert(c CLK) CLK {
	for w := range c {
		c[w] = ^c[w]
	}
	return c
}

// naiveAnd is |a ∧ b| bit by bit, independent of every kernel.
func naiveAnd(a, b *CLK) int {
	n := 0
	for i := range Bits {
		if (a[i/64]&b[i/64])>>(i%64)&1 == 1 {
			n++
		}
	}
	return n
}

// TestAndCountsAgree checks the dispatched kernel (AVX2 on this machine
// when it has it) against the pure-Go reference and a bit-by-bit count, for
// set lengths that are not multiples of the kernel's unrolling or of batch.
func TestAndCountsAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	stored := kernelSets(r)
	queries := []CLK{{}, allOnes, stored[0], stored[1], stored[2]}
	for _, i := range []int{0, 1, 63, 64, 511, 1023} {
		var c CLK
		c.set(uint32(i))
		queries = append(queries, c, invert(c))
	}
	for _, n := range []int{0, 1, 2, 3, 4, 5, 7, 8, 255, 256, 257, 1000, len(stored)} {
		set := stored[:n]
		for qi := range queries {
			q := &queries[qi]
			want := make([]uint16, n)
			got := make([]uint16, n+1) // one spare slot: the kernel must not write it
			got[n] = 0xdead
			andCountsGeneric(q, set, want)
			andCounts(q, set, got)
			if got[n] != 0xdead {
				t.Fatalf("n=%d: the kernel wrote past len(set)", n)
			}
			for i := range set {
				if got[i] != want[i] {
					t.Fatalf("n=%d, query %d, encoding %d: kernel %d, reference %d", n, qi, i, got[i], want[i])
				}
				if qi < 3 && int(want[i]) != naiveAnd(q, &set[i]) { // the reference itself, on a few queries
					t.Fatalf("n=%d, query %d, encoding %d: reference %d, bit by bit %d", n, qi, i, want[i], naiveAnd(q, &set[i]))
				}
			}
		}
	}
}

// TestDiceCountsAgree checks the pair counts behind Dice.
func TestDiceCountsAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	set := kernelSets(r)
	for i := range set {
		a, b := &set[i], &set[(i*7+1)%len(set)]
		and, na, nb := diceCounts(a, b)
		wand, wna, wnb := diceCountsGeneric(a, b)
		if and != wand || na != wna || nb != wnb {
			t.Fatalf("pair %d: got %d %d %d, want %d %d %d", i, and, na, nb, wand, wna, wnb)
		}
		if wand != naiveAnd(a, b) || wna != naiveAnd(a, a) || wnb != naiveAnd(b, b) {
			t.Fatalf("pair %d: the reference disagrees with the bit-by-bit count", i)
		}
	}
}

// TestAboveAllocs checks that the hot loop allocates nothing when out has
// room.
func TestAboveAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var s Set
	for _, c := range kernelSets(r) {
		s.Add(c)
	}
	q := *s.At(0)
	out := make([]int, 0, s.Len())
	if n := testing.AllocsPerRun(10, func() { out = s.Above(&q, 0.5, out[:0]) }); n != 0 {
		t.Errorf("Above: %v allocations per run", n)
	}
	clks := s.clks
	if n := testing.AllocsPerRun(10, func() { out = DiceMany(&q, clks, 0.5, out[:0]) }); n != 0 {
		t.Errorf("DiceMany: %v allocations per run", n)
	}
}
