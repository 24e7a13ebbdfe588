package pprl_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/cpx-node/cpx/crypto/pprl"
	"github.com/cpx-node/cpx/node/matching"
)

func TestDeriveKeys(t *testing.T) {
	a := pprl.DeriveKeys([]byte("s"), "net", pprl.DefaultFields)
	b := pprl.DeriveKeys([]byte("s"), "net", pprl.DefaultFields)
	c := pprl.DeriveKeys([]byte("s"), "other", pprl.DefaultFields)
	for _, f := range pprl.DefaultFields {
		if !bytes.Equal(a.Field[f], b.Field[f]) {
			t.Errorf("%s: keys differ for the same secret", f)
		}
		if bytes.Equal(a.Field[f], c.Field[f]) {
			t.Errorf("%s: keys equal across networks", f)
		}
	}
	if bytes.Equal(a.Field[pprl.FieldNames], a.Field[pprl.FieldSex]) {
		t.Error("fields share a key")
	}
}

func TestDice(t *testing.T) {
	var full, empty, half pprl.CLK
	for i := range full {
		full[i] = ^uint64(0)
		if i < 8 {
			half[i] = ^uint64(0)
		}
	}
	for _, tc := range []struct {
		a, b *pprl.CLK
		want float64
	}{
		{&full, &full, 1}, {&empty, &empty, 0}, {&full, &empty, 0}, {&full, &half, 2 * 512.0 / 1536},
	} {
		if got := pprl.Dice(tc.a, tc.b); got != tc.want {
			t.Errorf("Dice = %v, want %v", got, tc.want)
		}
	}
	set := []pprl.CLK{full, empty, half}
	if got := pprl.DiceMany(&full, set, 0.6, nil); len(got) != 2 || got[0] != 0 || got[1] != 2 {
		t.Errorf("DiceMany = %v, want [0 2]", got)
	}
}

func TestEncodeAcrossScripts(t *testing.T) {
	e := pprl.NewEncoder(pprl.DeriveKeys([]byte("secret"), "net", pprl.DefaultFields))
	age := 9.0
	lat := e.Encode(matching.Person{Names: []string{"Mohammed Ali Hassan"}, Sex: "male", Age: &age, Locations: []string{"SD0101"}})
	ara := e.Encode(matching.Person{Names: []string{"محمد علي حسن"}, Sex: "male", Age: &age, Locations: []string{"SD0101"}})
	sib := e.Encode(matching.Person{Names: []string{"Youssef Ali Hassan"}, Sex: "male", Age: &age, Locations: []string{"SD0101"}})
	other := e.Encode(matching.Person{Names: []string{"Amina Farah Jama"}, Sex: "female", Age: &age, Locations: []string{"SO0101"}})
	same, s, o := pprl.Dice(&lat, &ara), pprl.Dice(&lat, &sib), pprl.Dice(&lat, &other)
	t.Logf("latin~arabic %.3f, sibling %.3f, other %.3f", same, s, o)
	if !(same > s && s > o) {
		t.Errorf("want latin~arabic (%.3f) > sibling (%.3f) > other (%.3f)", same, s, o)
	}
	if n := lat.Ones(); n < 400 || n > 624 {
		t.Errorf("balanced popcount %d, want about 512", n)
	}
}

// rate runs the benchmark loop of b, each iteration doing n comparisons,
// and reports Mcmp/s of wall time and, where the OS tells the thread's CPU
// time, Mcmp/cpu-s: on a shared machine the second is not lowered by other
// processes taking the core (only by what they do to the caches).
func rate(b *testing.B, n int, iteration func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	cpu0, ok := threadCPU()
	for b.Loop() {
		iteration()
	}
	cpu1, ok1 := threadCPU()
	b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds()/1e6, "Mcmp/s")
	if ok && ok1 && cpu1 > cpu0 {
		b.ReportMetric(float64(b.N)*float64(n)/(cpu1-cpu0).Seconds()/1e6, "Mcmp/cpu-s")
	}
}

// BenchmarkDice compares one pair with the pure-Go popcounts (generic) and
// with the ones chosen for this CPU (dispatch).
func BenchmarkDice(b *testing.B) {
	e := pprl.NewEncoder(pprl.DeriveKeys([]byte("secret"), "net", pprl.DefaultFields))
	x := e.Encode(matching.Person{Names: []string{"Mohammed Ali Hassan"}})
	y := e.Encode(matching.Person{Names: []string{"Mohamed Ali Hasan"}})
	for _, bc := range []struct {
		name string
		dice func(a, b *pprl.CLK) float64
	}{
		{"generic", pprl.DiceGeneric},
		{"dispatch", pprl.Dice},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var s float64
			rate(b, 1, func() { s += bc.dice(&x, &y) })
			_ = s
		})
	}
}

// benchSet is the 65 536 pseudo-random encodings the set benchmarks scan.
func benchSet() []pprl.CLK {
	set := make([]pprl.CLK, 1<<16)
	for i := range set {
		for w := range set[i] {
			set[i][w] = (uint64(i)*2654435761 + uint64(w)) * 0x9e3779b97f4a7c15
		}
	}
	return set
}

// BenchmarkDiceMany compares the pure-Go reference kernel (generic) with
// the kernel chosen for this CPU (dispatch) on the same filters.
func BenchmarkDiceMany(b *testing.B) {
	set := benchSet()
	q := set[7]
	for _, bc := range []struct {
		name string
		many func(q *pprl.CLK, set []pprl.CLK, threshold float64, out []int) []int
	}{
		{"generic", pprl.DiceManyGeneric},
		{"dispatch", pprl.DiceMany},
	} {
		b.Run(bc.name, func(b *testing.B) {
			out := make([]int, 0, 1024)
			rate(b, len(set), func() { out = bc.many(&q, set, 0.8, out[:0]) })
		})
	}
}

func FuzzEncode(f *testing.F) {
	e := pprl.NewEncoder(pprl.DeriveKeys([]byte("secret"), "net", pprl.DefaultFields))
	f.Add("محمد علي", "SD0101", "2020-01-01")
	f.Fuzz(func(t *testing.T, name, loc, date string) {
		c := e.Encode(matching.Person{Names: []string{name}, Locations: []string{loc}, SeparationDate: date, DateOfBirth: date})
		if d := pprl.Dice(&c, &c); c.Ones() > 0 && d != 1 {
			t.Fatalf("self Dice %v", d)
		}
	})
}

func TestSetAboveAgreesWithDice(t *testing.T) {
	e := pprl.NewEncoder(pprl.DeriveKeys([]byte("secret"), "net", pprl.DefaultFields))
	names := []string{"Mohammed Ali Hassan", "Mohamed Ali Hasan", "محمد علي حسن", "Fatima Yusuf", "Ahmed Abdi", ""}
	var set pprl.Set
	var clks []pprl.CLK
	for _, n := range names {
		c := e.Encode(matching.Person{Names: []string{n}})
		clks = append(clks, c)
		set.Add(c)
	}
	for _, threshold := range []float64{0, 0.5, 0.8, 0.95, 1} {
		for qi := range clks {
			got := set.Above(&clks[qi], threshold, nil)
			var want []int
			for i := range clks {
				// The fixed-point comparison rounds the threshold down to 1/1024.
				if d := pprl.Dice(&clks[qi], &clks[i]); d >= float64(int(threshold*1024))/1024 && (clks[qi].Ones()+clks[i].Ones()) > 0 {
					want = append(want, i)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("threshold %v, query %d: got %v, want %v", threshold, qi, got, want)
			}
		}
	}
}

// BenchmarkSetAbove compares the pure-Go reference kernel (generic) with
// the kernel chosen for this CPU (dispatch) on the same set, in one run.
func BenchmarkSetAbove(b *testing.B) {
	var set pprl.Set
	for _, c := range benchSet() {
		set.Add(c)
	}
	q := *set.At(7)
	for _, bc := range []struct {
		name  string
		above func(q *pprl.CLK, threshold float64, out []int) []int
	}{
		{"generic", set.AboveGeneric},
		{"dispatch", set.Above},
	} {
		b.Run(bc.name, func(b *testing.B) {
			out := make([]int, 0, 1024)
			rate(b, set.Len(), func() { out = bc.above(&q, 0.8, out[:0]) })
		})
	}
}

// naiveAbove is the definition Set.Above implements, written out with
// math/bits: 2|q∧s| ≥ t(|q|+|s|) with t = threshold in 1/1024 (rounded
// towards zero, in int arithmetic), never for two empty filters.
func naiveAbove(q *pprl.CLK, set []pprl.CLK, threshold float64) []int {
	ones := func(c *pprl.CLK) (n int) {
		for _, w := range c {
			n += bits.OnesCount64(w)
		}
		return n
	}
	var out []int
	nq := ones(q)
	t := int(threshold * 1024)
	for i := range set {
		and := 0
		for w := range set[i] {
			and += bits.OnesCount64(q[w] & set[i][w])
		}
		ns := ones(&set[i])
		if 2048*and-t*ns >= t*nq && nq+ns > 0 {
			out = append(out, i)
		}
	}
	return out
}

// TestSetAboveLengths compares Set.Above and DiceMany with naiveAbove on
// set lengths around the kernel's unrolling (4) and batch (256), with
// random, empty and full encodings.
func TestSetAboveLengths(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	stored := make([]pprl.CLK, 1000)
	for i := range stored {
		switch i % 331 {
		case 300: // empty, from 300 on (Set.Above's least popcount ignores it)
		case 301:
			for w := range stored[i] {
				stored[i][w] = ^uint64(0)
			}
		default:
			for w := range stored[i] {
				stored[i][w] = r.Uint64()
				if i%3 == 0 {
					stored[i][w] &= r.Uint64()
				}
			}
		}
	}
	queries := []pprl.CLK{{}, stored[301], stored[10], stored[12], stored[999]}
	for _, n := range []int{0, 1, 2, 3, 7, 255, 256, 257, 1000} {
		var set pprl.Set
		for _, c := range stored[:n] {
			set.Add(c)
		}
		for qi := range queries {
			q := &queries[qi]
			for _, threshold := range []float64{-1, 0, 0.45, 0.5, 0.55, 0.66, 0.9, 1, 2} {
				want := fmt.Sprint(naiveAbove(q, stored[:n], threshold))
				for name, got := range map[string][]int{
					"Above":           set.Above(q, threshold, nil),
					"AboveGeneric":    set.AboveGeneric(q, threshold, nil),
					"DiceMany":        pprl.DiceMany(q, stored[:n], threshold, nil),
					"DiceManyGeneric": pprl.DiceManyGeneric(q, stored[:n], threshold, nil),
				} {
					if fmt.Sprint(got) != want {
						t.Errorf("n=%d, query %d, threshold %v: %s = %v, want %v", n, qi, threshold, name, got, want)
					}
				}
			}
		}
	}
}

// FuzzSetAbove checks Set.Above and DiceMany (the dispatched kernels)
// against the pure-Go reference kernel and naiveAbove. The bytes make the
// encodings: the first byte is how many stored encodings (0-40), the rest
// is cut into that many + 1 pieces (the first is the query), each repeated
// to fill 128 bytes (an empty piece is the empty filter).
func FuzzSetAbove(f *testing.F) {
	f.Add([]byte{3, 0xff, 0x0f, 0x01, 0x80}, 0.5)
	f.Add([]byte{0}, 0.0)
	f.Add([]byte{9, 0xaa, 0x55, 0xff, 0, 1, 2, 4, 8, 16, 32, 64, 128}, 0.9)
	f.Add([]byte{40, 0xff}, 1.0)
	f.Add([]byte{5, 1, 2, 3}, -1.5)
	f.Fuzz(func(t *testing.T, data []byte, threshold float64) {
		if len(data) == 0 {
			return
		}
		n := int(data[0]) % 41
		pieces := splitPieces(data[1:], n+1)
		clks := make([]pprl.CLK, n+1)
		for i, p := range pieces {
			clks[i] = fill(p)
		}
		q, stored := &clks[0], clks[1:]
		var set pprl.Set
		for _, c := range stored {
			set.Add(c)
		}
		want := fmt.Sprint(naiveAbove(q, stored, threshold))
		for name, got := range map[string][]int{
			"Above":           set.Above(q, threshold, nil),
			"AboveGeneric":    set.AboveGeneric(q, threshold, nil),
			"DiceMany":        pprl.DiceMany(q, stored, threshold, nil),
			"DiceManyGeneric": pprl.DiceManyGeneric(q, stored, threshold, nil),
		} {
			if fmt.Sprint(got) != want {
				t.Errorf("%s = %v, want %v", name, got, want)
			}
		}
		for i := range stored {
			if d, g := pprl.Dice(q, &stored[i]), pprl.DiceGeneric(q, &stored[i]); d != g {
				t.Errorf("Dice(q, %d) = %v, reference %v", i, d, g)
			}
		}
	})
}

// splitPieces cuts b into n pieces of nearly equal length.
func splitPieces(b []byte, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = b[len(b)*i/n : len(b)*(i+1)/n]
	}
	return out
}

// fill makes an encoding from p repeated over its 128 bytes; the empty
// filter for an empty p.
func fill(p []byte) pprl.CLK {
	var c pprl.CLK
	if len(p) == 0 {
		return c
	}
	var raw [128]byte
	for i := range raw {
		raw[i] = p[i%len(p)]
	}
	for w := range c {
		c[w] = binary.LittleEndian.Uint64(raw[8*w:])
	}
	return c
}
