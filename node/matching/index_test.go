package matching_test

import (
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/matching"
	"github.com/cpx-node/cpx/node/matching/synth"
)

func TestMatchFindsAcrossScripts(t *testing.T) {
	ix := matching.NewIndex()
	ix.Add(matching.Candidate{ID: "c1", Person: matching.Person{Names: []string{"Mohammed Ali Hassan"}, Sex: "male", Age: f(9), AgeEstimated: true, Locations: []string{"SD0101"}, Relatives: []string{"Ali Hassan Omar", "Fatima Ahmed"}}})
	ix.Add(matching.Candidate{ID: "sibling", Person: matching.Person{Names: []string{"Youssef Ali Hassan"}, Sex: "male", Age: f(6), Locations: []string{"SD0101"}, Relatives: []string{"Ali Hassan Omar", "Fatima Ahmed"}}})
	ix.Add(matching.Candidate{ID: "other", Person: matching.Person{Names: []string{"Mahmoud Ali Hassan"}, Sex: "male", Age: f(14), Locations: []string{"SO0101"}}})
	q := matching.Person{Names: []string{"محمد علي حسن"}, Sex: "male", Age: f(10), Locations: []string{"SD0102"}, Relatives: []string{"علي حسن عمر"}}
	res := ix.Match(q, 10)
	if len(res) == 0 || res[0].ID != "c1" {
		t.Fatalf("got %+v, want c1 first", res)
	}
	for _, r := range res {
		t.Logf("%s p=%.3f %s", r.ID, r.Probability, r.Band)
		for _, c := range r.Comparisons {
			t.Logf("  %-20s %-8s %s", c.Field, c.Outcome, c.Why)
		}
	}
	if res[0].Band != matching.Likely {
		t.Errorf("c1 band = %s, want likely", res[0].Band)
	}
	if !ix.Remove("c1") || ix.Remove("c1") {
		t.Error("Remove: want true then false")
	}
	for _, r := range ix.Match(q, 10) {
		if r.ID == "c1" {
			t.Error("removed candidate still found")
		}
	}
}

func TestIndexConcurrent(t *testing.T) {
	ds := synth.Generate(synth.Config{Seed: 9, Families: 100, Background: 200})
	ix := matching.NewIndex()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, c := range ds.Cases {
			ix.Add(c)
		}
		for _, c := range ds.Cases[:50] {
			ix.Remove(c.ID)
		}
	}()
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, q := range ds.Requests {
				ix.Match(q.Person, 5)
			}
		}()
	}
	wg.Wait()
	if got, want := ix.Len(), len(ds.Cases)-50; got != want {
		t.Errorf("Len = %d, want %d", got, want)
	}
}

func TestSyntheticValid(t *testing.T) {
	ds := synth.Generate(synth.Config{Seed: 1, Families: 300})
	for _, c := range ds.Cases {
		if err := c.Person.Validate(time.Now()); err != nil {
			t.Fatalf("case %s: %v", c.ID, err)
		}
	}
	for _, q := range ds.Requests {
		if err := q.Person.Validate(time.Now()); err != nil {
			t.Fatalf("request %s: %v", q.ID, err)
		}
	}
}

// BenchmarkMatch1M matches tracing requests against an index of 1,000,000
// synthetic cases built once outside the timer; it reports ns per request
// and the p50/p99 latency.
var bench1M = sync.OnceValues(func() (*matching.Index, synth.Dataset) {
	ds := synth.Generate(synth.Config{Seed: 42, Families: 1000, Background: 1_000_000 - 2000})
	ix := matching.NewIndex()
	for _, c := range ds.Cases {
		ix.Add(c)
	}
	return ix, ds
})

func BenchmarkMatch1M(b *testing.B) {
	ix, ds := bench1M()
	lat := make([]time.Duration, 0, b.N)
	cands := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q := ds.Requests[i%len(ds.Requests)].Person
		start := time.Now()
		res := ix.Match(q, 20)
		lat = append(lat, time.Since(start))
		cands += len(res)
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(cands)/float64(b.N), "results/op")
}

// TestGivenNameRarity: the index grades how many of its cases bear the
// agreeing given name, keeps the count right on Remove, and leaves the
// comparison blank when the given names differ; Compare (no register)
// always leaves it blank.
func TestGivenNameRarity(t *testing.T) {
	ix := matching.NewIndex()
	for i := range 200 {
		ix.Add(matching.Candidate{ID: "m" + strconv.Itoa(i), Person: matching.Person{Names: []string{"Mohamed Cali Warsame"}}})
	}
	ix.Add(matching.Candidate{ID: "rare", Person: matching.Person{Names: []string{"Zubeir Cali Warsame"}}})
	// a typo on the case's side: the name is still the common one
	ix.Add(matching.Candidate{ID: "typo", Person: matching.Person{Names: []string{"Mohamfed Cali Warsame"}}})
	level := func(q string, id string) int {
		t.Helper()
		for _, r := range ix.Match(matching.Person{Names: []string{q}}, 0) {
			if r.ID != id {
				continue
			}
			for _, c := range r.Comparisons {
				if c.Field == matching.FieldGivenRarity {
					return c.Level
				}
			}
			t.Fatalf("%s: no %s comparison", id, matching.FieldGivenRarity)
		}
		t.Fatalf("%s not reached by %q", id, q)
		return 0
	}
	tests := []struct {
		query, id string
		want      int
	}{
		{"Mohamed Cali Warsame", "m7", 0},   // 200 of 202 cases
		{"Zubeir Cali Warsame", "rare", 2},  // 1 of 202 (under 0.5 %)
		{"Zubeir Cali Warsame", "m7", -1},   // given names differ: blank
		{"Mohamed Cali Warsame", "typo", 0}, // counted as the request spells it
		{"Mohamfed Cali Warsame", "m7", 0},  // and as the case spells it
	}
	for _, tc := range tests {
		if got := level(tc.query, tc.id); got != tc.want {
			t.Errorf("%q against %s: rarity level %d, want %d", tc.query, tc.id, got, tc.want)
		}
	}
	for i := range 200 {
		ix.Remove("m" + strconv.Itoa(i))
	}
	if got := level("Zubeir Cali Warsame", "rare"); got != 0 {
		t.Errorf("after removing the others the rare name is on every case: level %d, want 0", got)
	}
	for _, c := range matching.Compare(matching.Person{Names: []string{"Zubeir"}}, matching.Person{Names: []string{"Zubeir"}}) {
		if c.Field == matching.FieldGivenRarity && c.Level != -1 {
			t.Errorf("Compare: rarity level %d, want blank", c.Level)
		}
	}
}

// TestDateOfBirthReachesWithinRegion: a request whose names share nothing
// with the case's (both replaced) still reaches it through the whole date
// of birth with the district, or with the region when the district is
// recorded wrongly; not through 1 January, where estimated dates go.
func TestDateOfBirthReachesWithinRegion(t *testing.T) {
	ix := matching.NewIndex()
	ix.Add(matching.Candidate{ID: "c1", Person: matching.Person{Names: []string{"Chelsea Meadows"}, DateOfBirth: "2015-11-03", Locations: []string{"SO0302"}}})
	ix.Add(matching.Candidate{ID: "c2", Person: matching.Person{Names: []string{"Amina Farah"}, DateOfBirth: "2015-01-01", Locations: []string{"SO0302"}}})
	reached := func(q matching.Person, id string) bool {
		for _, r := range ix.Match(q, 0) {
			if r.ID == id {
				return true
			}
		}
		return false
	}
	for _, tc := range []struct {
		name string
		q    matching.Person
		id   string
		want bool
	}{
		{"same district", matching.Person{Names: []string{"Hayley Clarke"}, DateOfBirth: "2015-11-03", Locations: []string{"SO0302"}}, "c1", true},
		{"another district of the region", matching.Person{Names: []string{"Hayley Clarke"}, DateOfBirth: "2015-11-03", Locations: []string{"SO0320"}}, "c1", true},
		{"another region", matching.Person{Names: []string{"Hayley Clarke"}, DateOfBirth: "2015-11-03", Locations: []string{"SO0402"}}, "c1", false},
		{"1 January, another district", matching.Person{Names: []string{"Hodan Jama"}, DateOfBirth: "2015-01-01", Locations: []string{"SO0320"}}, "c2", false},
	} {
		if got := reached(tc.q, tc.id); got != tc.want {
			t.Errorf("%s: got reached %v, want %v", tc.name, got, tc.want)
		}
	}
}
