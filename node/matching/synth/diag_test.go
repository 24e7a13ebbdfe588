package synth_test

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/cpx-node/cpx/node/matching"
	"github.com/cpx-node/cpx/node/matching/synth"
)

func TestDiag(t *testing.T) {
	if os.Getenv("DIAG") == "" {
		t.Skip()
	}
	script := synth.Latin
	seed := uint64(2)
	if os.Getenv("DIAG") == "ar" {
		script, seed = synth.ArabicRequest, 3
	}
	ds := synth.Generate(synth.Config{Seed: seed, Families: 2000, Script: script})
	byID := map[string]matching.Person{}
	for _, c := range ds.Cases {
		byID[c.ID] = c.Person
	}
	ix := matching.NewIndex()
	ix.SetModel(matching.DefaultModel())
	for _, c := range ds.Cases {
		ix.Add(c)
	}
	vec := func(cs []matching.Comparison) string {
		var b strings.Builder
		for _, c := range cs {
			fmt.Fprintf(&b, "%s=%d ", c.Field[:3], c.Level)
		}
		return b.String()
	}
	pp := func(p matching.Person) string {
		a := -1.0
		if p.Age != nil {
			a = *p.Age
		}
		return fmt.Sprintf("%q nick=%q sex=%s age=%g est=%v dob=%s loc=%v rel=%q sep=%s@%s", p.Names, p.Nicknames, p.Sex, a, p.AgeEstimated, p.DateOfBirth, p.Locations, p.Relatives, p.SeparationDate, p.SeparationLocation)
	}
	missCount, fpCount := map[string]int{}, map[string]int{}
	nf := 0
	for _, q := range ds.Requests {
		res := ix.Match(q.Person, 0)
		found := false
		for _, x := range res {
			if x.ID == q.Truth {
				found = true
				if x.Probability < matching.LikelyThreshold {
					missCount[vec(x.Comparisons)]++
					if nf < 60 {
						nf++
						t.Logf("FN p=%.3f %s\n   Q %s\n   C %s\n   %v", x.Probability, vec(x.Comparisons), pp(q.Person), pp(byID[x.ID]), whys(x.Comparisons))
					}
				}
			} else if x.Probability >= matching.LikelyThreshold {
				fpCount[vec(x.Comparisons)]++
				if os.Getenv("FP") != "" {
					t.Logf("FP p=%.3f %s\n   Q %s\n   C %s", x.Probability, vec(x.Comparisons), pp(q.Person), pp(byID[x.ID]))
				}
			}
		}
		if !found && q.Truth != "" {
			x := matching.Compare(q.Person, byID[q.Truth])
			t.Logf("UNREACHED %s\n   Q %s\n   C %s\n   %v", vec(x), pp(q.Person), pp(byID[q.Truth]), whys(x))
		}
	}
	dump := func(name string, m map[string]int) {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		sort.Slice(ks, func(i, j int) bool { return m[ks[i]] > m[ks[j]] })
		for _, k := range ks[:min(25, len(ks))] {
			t.Logf("%s %4d %s", name, m[k], k)
		}
	}
	dump("FNvec", missCount)
	dump("FPvec", fpCount)
}

func vecs(cs []matching.Comparison) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "%s=%d ", c.Field[:3], c.Level)
	}
	return b.String()
}

func whys(cs []matching.Comparison) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Field[:3]+":"+c.Why)
	}
	return out
}

func TestDiagRank(t *testing.T) {
	if os.Getenv("DIAG") == "" {
		t.Skip()
	}
	script, seed := synth.Latin, uint64(2)
	if os.Getenv("DIAG") == "ar" {
		script, seed = synth.ArabicRequest, 3
	}
	ds := synth.Generate(synth.Config{Seed: seed, Families: 2000, Script: script})
	ix := matching.NewIndex()
	ix.SetModel(matching.DefaultModel())
	for _, c := range ds.Cases {
		ix.Add(c)
	}
	buckets := map[string]int{}
	for _, q := range ds.Requests {
		if q.Truth == "" {
			continue
		}
		res := ix.Match(q.Person, 0)
		for r, x := range res {
			if x.ID != q.Truth {
				continue
			}
			if x.Probability >= matching.LikelyThreshold {
				buckets["likely"]++
				break
			}
			k := fmt.Sprintf("rank%d", min(r, 3))
			if r >= 1 && os.Getenv("SHOW") != "" {
				t.Logf("RANK %d p=%.3f n=%d %v\n   Q %q rel=%q age=%v dob=%s\n   T %v\n   1 %v", r, x.Probability, len(res), vecs(x.Comparisons), q.Person.Names, q.Person.Relatives, q.Person.Age, q.Person.DateOfBirth, whys(x.Comparisons), whys(res[0].Comparisons))
			}
			if r == 0 {
				gap := 0.0
				if len(res) > 1 {
					gap = x.Probability - res[1].Probability
				}
				k += fmt.Sprintf(" p%.1f gap%.1f n%d", x.Probability, gap, min(len(res)/200, 3))
			}
			buckets[k]++
		}
	}
	var ks []string
	for k := range buckets {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	for _, k := range ks {
		t.Logf("%-30s %d", k, buckets[k])
	}
}

func TestDiagOracle(t *testing.T) {
	if os.Getenv("DIAG") == "" {
		t.Skip()
	}
	ds := synth.Generate(synth.Config{Seed: 2, Families: 2000, Script: synth.Latin})
	r := synth.RunLocal(ds, matching.DefaultModel())
	for _, ridge := range []float64{1, 0.1} {
		ch, err := matching.FitChoice(r.Requests, ridge)
		if err != nil {
			t.Fatal(err)
		}
		m := matching.DefaultModel()
		m.Choice = ch
		r2 := synth.RunLocal(ds, m)
		f := synth.At(r2.Pairs, r2.Positives, 0.5)
		b, _ := synth.Best(r2.Pairs, r2.Positives, 0.95)
		t.Logf("in-sample ridge %g: at 0.5 %v; best %v", ridge, f, b)
	}
}
