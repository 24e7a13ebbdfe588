package pprl_test

import (
	"bytes"
	"fmt"
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

func BenchmarkDice(b *testing.B) {
	e := pprl.NewEncoder(pprl.DeriveKeys([]byte("secret"), "net", pprl.DefaultFields))
	x := e.Encode(matching.Person{Names: []string{"Mohammed Ali Hassan"}})
	y := e.Encode(matching.Person{Names: []string{"Mohamed Ali Hasan"}})
	b.ReportAllocs()
	var s float64
	for b.Loop() {
		s += pprl.Dice(&x, &y)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mcmp/s")
	_ = s
}

func BenchmarkDiceMany(b *testing.B) {
	set := make([]pprl.CLK, 1<<16)
	for i := range set {
		for w := range set[i] {
			set[i][w] = uint64(i*2654435761+w) * 0x9e3779b97f4a7c15
		}
	}
	q := set[7]
	out := make([]int, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		out = pprl.DiceMany(&q, set, 0.8, out[:0])
	}
	b.ReportMetric(float64(b.N)*float64(len(set))/b.Elapsed().Seconds()/1e6, "Mcmp/s")
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

func BenchmarkSetAbove(b *testing.B) {
	var set pprl.Set
	for i := range 1 << 16 {
		var c pprl.CLK
		for w := range c {
			c[w] = uint64(i*2654435761+w) * 0x9e3779b97f4a7c15
		}
		set.Add(c)
	}
	q := *set.At(7)
	out := make([]int, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		out = set.Above(&q, 0.8, out[:0])
	}
	b.ReportMetric(float64(b.N)*float64(set.Len())/b.Elapsed().Seconds()/1e6, "Mcmp/s")
}
