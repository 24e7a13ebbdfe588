package pprl_test

import (
	"math"
	"slices"
	"testing"

	"github.com/cpx-node/cpx/crypto/pprl"
	"github.com/cpx-node/cpx/node/matching"
	"github.com/cpx-node/cpx/node/matching/synth"
)

func age(a float64) *float64 { return &a }

func TestEncodeRecordGroups(t *testing.T) {
	e := pprl.NewRecordEncoder(testKeys)
	all := []pprl.Group{pprl.GroupGiven, pprl.GroupChain, pprl.GroupChainRest, pprl.GroupFather, pprl.GroupMother, pprl.GroupRelatives, pprl.GroupSex, pprl.GroupAge, pprl.GroupPlace, pprl.GroupTime}
	for _, tc := range []struct {
		name    string
		p       matching.Person
		present []pprl.Group
	}{
		{"empty", matching.Person{}, nil},
		{"one-part name", matching.Person{Names: []string{"Amina"}}, []pprl.Group{pprl.GroupGiven}},
		{"nickname only", matching.Person{Nicknames: []string{"Hamoudi"}}, []pprl.Group{pprl.GroupGiven}},
		{"name chain", matching.Person{Names: []string{"Amina Farah Jama"}}, []pprl.Group{pprl.GroupGiven, pprl.GroupChain, pprl.GroupChainRest}},
		{"two-part name", matching.Person{Names: []string{"Amina Farah"}}, []pprl.Group{pprl.GroupGiven, pprl.GroupChain}},
		{"unknown sex is not encoded", matching.Person{Names: []string{"Amina"}, Sex: "unknown"}, []pprl.Group{pprl.GroupGiven}},
		{"everything", matching.Person{
			Names: []string{"Amina Farah Jama"}, Sex: "female", Age: age(7), DateOfBirth: "2018-03-01",
			Locations: []string{"SO0101"},
			Father:    "Farah Jama Ali", Mother: "Hodan Yusuf", Relatives: []string{"Farah Jama Ali", "Hodan Yusuf", "Ali Jama"}, SeparationDate: "2025-01-31",
		}, all},
		{"relatives of unknown relation", matching.Person{Names: []string{"Amina"}, Relatives: []string{"Farah Jama Ali"}}, []pprl.Group{pprl.GroupGiven, pprl.GroupRelatives}},
		{"a father is not also a relative of unknown relation", matching.Person{Names: []string{"Amina"}, Relatives: []string{"Farah Jama Ali"}, Father: "Farah Jama Ali"},
			[]pprl.Group{pprl.GroupGiven, pprl.GroupFather}},
		{"a mother is not also a relative of unknown relation", matching.Person{Names: []string{"Amina"}, Relatives: []string{"Hodan Yusuf", "Hodan Yusuf"}, Mother: "Hodan Yusuf"},
			[]pprl.Group{pprl.GroupGiven, pprl.GroupMother}},
		{"a father not among the relatives is not encoded", matching.Person{Names: []string{"Amina"}, Father: "Farah Jama Ali"}, []pprl.Group{pprl.GroupGiven}},
		{"date of birth alone gives age", matching.Person{Names: []string{"Amina"}, DateOfBirth: "2018-03-01"}, []pprl.Group{pprl.GroupGiven, pprl.GroupAge}},
		{"sex alone gives sex", matching.Person{Names: []string{"Amina"}, Sex: "female"}, []pprl.Group{pprl.GroupGiven, pprl.GroupSex}},
		{"separation date alone gives time", matching.Person{Names: []string{"Amina"}, SeparationDate: "2025-01-31"}, []pprl.Group{pprl.GroupGiven, pprl.GroupTime}},
		{"separation place alone gives place", matching.Person{Names: []string{"Amina"}, SeparationLocation: "SO0101"}, []pprl.Group{pprl.GroupGiven, pprl.GroupPlace}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.EncodeRecord(tc.p)
			want := map[pprl.Group]bool{}
			for _, g := range tc.present {
				want[g] = true
			}
			for _, g := range all {
				if r.Present(g) != want[g] {
					t.Errorf("%v present = %v, want %v", g, r.Present(g), want[g])
				}
				if n := r[g].Ones(); want[g] && (n < 400 || n > 624) {
					t.Errorf("%v: balanced popcount %d, want about 512", g, n)
				}
			}
		})
	}
}

func TestEncodeRecordDeterministicAndKeyed(t *testing.T) {
	p := matching.Person{Names: []string{"Mohammed Ali Hassan"}, Sex: "male", Age: age(9), Locations: []string{"SD0101"}}
	a := pprl.NewRecordEncoder(testKeys).EncodeRecord(p)
	b := pprl.NewRecordEncoder(testKeys).EncodeRecord(p)
	c := pprl.NewRecordEncoder(pprl.DeriveKeys([]byte("other secret"), "net-1", pprl.RecordFields)).EncodeRecord(p)
	if a != b {
		t.Error("the same keys encode one person differently")
	}
	for g := range pprl.NumGroups {
		if d := pprl.Dice(&a[g], &c[g]); d > 0.8 {
			t.Errorf("%v: Dice %.3f across keys, want unrelated (about 0.5–0.75)", g, d)
		}
	}
}

func TestRecordAcrossScriptsAndSiblings(t *testing.T) {
	e := pprl.NewRecordEncoder(testKeys)
	enc := func(name string) pprl.Record {
		return e.EncodeRecord(matching.Person{Names: []string{name}, Sex: "male", Age: age(9), Locations: []string{"SD0101"}})
	}
	lat, ara, sib := enc("Mohammed Ali Hassan"), enc("محمد علي حسن"), enc("Youssef Ali Hassan")
	same, sibling := pprl.Compare(&lat, &ara), pprl.Compare(&lat, &sib)
	for _, f := range []pprl.Feature{pprl.FeatureGiven, pprl.FeatureChain, pprl.FeatureSex, pprl.FeatureAge, pprl.FeaturePlace} {
		if same[f] < 0.95 {
			t.Errorf("%v: Latin vs Arabic script Dice %.3f, want ≥ 0.95", f, same[f])
		}
	}
	// a sister for a brother: the sex group alone tells them apart
	sister := e.EncodeRecord(matching.Person{Names: []string{"Amina Ali Hassan"}, Sex: "female", Age: age(9), Locations: []string{"SD0101"}})
	if d := pprl.Compare(&lat, &sister); d[pprl.FeatureSex] > 0.9 || d[pprl.FeatureAge] < 0.99 {
		t.Errorf("brother vs sister of the same age: sex Dice %.3f (want ≤ 0.9), age Dice %.3f (want 1)", d[pprl.FeatureSex], d[pprl.FeatureAge])
	}
	for _, f := range []pprl.Feature{pprl.FeatureFather, pprl.FeatureMother, pprl.FeatureRelatives} {
		if same[f] != -1 {
			t.Errorf("%v: relatives absent on both sides: Dice %v, want -1", f, same[f])
		}
	}
	if sibling[pprl.FeatureGiven] > 0.85 || sibling[pprl.FeatureChain] < 0.99 {
		t.Errorf("sibling: given %.3f (want ≤ 0.85), chain %.3f (want ≈ 1)", sibling[pprl.FeatureGiven], sibling[pprl.FeatureChain])
	}
	m := pprl.DefaultModel()
	if m.Score(same) <= m.Score(sibling) {
		t.Errorf("score of the same child %.2f ≤ sibling's %.2f", m.Score(same), m.Score(sibling))
	}
}

// TestCompareRelatives: a known father is compared only with a known
// father, a known mother only with a known mother, and a relative of
// unknown relation with any relative (across scripts too).
func TestCompareRelatives(t *testing.T) {
	e := pprl.NewRecordEncoder(testKeys)
	const farah, hodan = "Farah Jama Ali", "هودن يوسف"
	person := func(father, mother string, other ...string) pprl.Record {
		p := matching.Person{Names: []string{"Amina"}, Father: father, Mother: mother, Relatives: other}
		for _, r := range []string{father, mother} {
			if r != "" {
				p.Relatives = append(p.Relatives, r)
			}
		}
		return e.EncodeRecord(p)
	}
	const absent = -1.0
	for _, tc := range []struct {
		name  string
		q, c  pprl.Record
		check map[pprl.Feature]func(float64) bool
	}{
		{"same father", person(farah, ""), person("فارح جامع علي", hodan), map[pprl.Feature]func(float64) bool{
			pprl.FeatureFather: func(d float64) bool { return d > 0.95 }, pprl.FeatureMother: func(d float64) bool { return d == absent },
			pprl.FeatureRelatives: func(d float64) bool { return d == absent }}},
		{"a father is never compared with a mother", person(farah, ""), person("", farah), map[pprl.Feature]func(float64) bool{
			pprl.FeatureFather: func(d float64) bool { return d == absent }, pprl.FeatureMother: func(d float64) bool { return d == absent },
			pprl.FeatureRelatives: func(d float64) bool { return d == absent }}},
		{"a relative of unknown relation meets the mother", person("", "", "Hodan Yusuf"), person(farah, hodan), map[pprl.Feature]func(float64) bool{
			pprl.FeatureFather: func(d float64) bool { return d == absent }, pprl.FeatureMother: func(d float64) bool { return d == absent },
			pprl.FeatureRelatives: func(d float64) bool { return d > 0.95 }}},
		{"the mother meets a relative of unknown relation", person("", "Hodan Yusuf"), person("", "", hodan), map[pprl.Feature]func(float64) bool{
			pprl.FeatureRelatives: func(d float64) bool { return d > 0.95 }}},
		{"different mothers", person("", "Hodan Yusuf"), person("", "Fatima Ahmed"), map[pprl.Feature]func(float64) bool{
			pprl.FeatureMother: func(d float64) bool { return d >= 0 && d < 0.9 }}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := pprl.Compare(&tc.q, &tc.c)
			for f, ok := range tc.check {
				if !ok(d[f]) {
					t.Errorf("%v: Dice %.3f", f, d[f])
				}
			}
			if back := pprl.Compare(&tc.c, &tc.q); back != d {
				t.Errorf("not symmetric: %v, reversed %v", d, back)
			}
		})
	}
}

func TestModelCheck(t *testing.T) {
	if err := pprl.DefaultModel().Check(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(m *pprl.Model)
	}{
		{"no edges", func(m *pprl.Model) { m.Edges = nil }},
		{"edges out of order", func(m *pprl.Model) { m.Edges = []float64{0.9, 0.8} }},
		{"edge at 1", func(m *pprl.Model) { m.Edges = append(m.Edges, 1) }},
		{"group missing", func(m *pprl.Model) { delete(m.Weights, "given") }},
		{"too few weights", func(m *pprl.Model) { m.Weights["place"] = m.Weights["place"][1:] }},
		{"NaN weight", func(m *pprl.Model) { m.Weights["chain"][0] = math.NaN() }},
		{"infinite null", func(m *pprl.Model) { m.Null = math.Inf(1) }},
		{"block 0", func(m *pprl.Model) { m.Block = 0 }},
		{"interactions without given edges", func(m *pprl.Model) { m.GivenEdges = nil }},
		{"given edges without interactions", func(m *pprl.Model) { m.GivenWith = nil }},
		{"given edge at 0", func(m *pprl.Model) { m.GivenEdges = []float64{0, 0.9} }},
		{"interaction missing", func(m *pprl.Model) { delete(m.GivenWith, "father") }},
		{"interaction class missing", func(m *pprl.Model) { m.GivenWith["place"] = m.GivenWith["place"][1:] }},
		{"interaction row short", func(m *pprl.Model) { m.GivenWith["chain"][0] = m.GivenWith["chain"][0][1:] }},
		{"NaN interaction", func(m *pprl.Model) { m.GivenWith["mother"][1][3] = math.NaN() }},
		{"name counts without edges", func(m *pprl.Model) { m.NameCountEdges, m.NameCount = nil, []float64{0} }},
		{"name-count edge at 1", func(m *pprl.Model) { m.NameCountEdges, m.NameCount = []float64{1, 4}, []float64{0, 0, 0} }},
		{"name counts short", func(m *pprl.Model) { m.NameCountEdges, m.NameCount = []float64{2, 4}, []float64{0, 0} }},
		{"NaN name count", func(m *pprl.Model) { m.NameCountEdges, m.NameCount = []float64{2}, []float64{0, math.NaN()} }},
		{"name counts without given classes", func(m *pprl.Model) {
			m.NameCountEdges, m.NameCount, m.GivenEdges, m.GivenWith = []float64{2}, []float64{0, 0}, nil, nil
		}},
		{"likely 1", func(m *pprl.Model) { m.Likely = 1 }},
		{"possible above likely", func(m *pprl.Model) { m.Possible = m.Likely + 0.01 }},
		{"floor above 0", func(m *pprl.Model) { m.Floor = 1 }},
		{"NaN floor", func(m *pprl.Model) { m.Floor = math.NaN() }},
		{"empty blocking key", func(m *pprl.Model) { m.Keys = []pprl.BlockKey{{}} }},
		{"blocking key on a group without a Set", func(m *pprl.Model) { m.Keys = []pprl.BlockKey{{"mother": 0.9}} }},
		{"blocking key on an unknown group", func(m *pprl.Model) { m.Keys = []pprl.BlockKey{{"surname": 0.9}} }},
		{"blocking threshold 0", func(m *pprl.Model) { m.Keys = []pprl.BlockKey{{"chain": 0}} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := pprl.DefaultModel()
			w := map[string][]float64{}
			for g, v := range m.Weights {
				w[g] = append([]float64(nil), v...)
			}
			m.Weights = w
			tc.change(&m)
			if m.Check() == nil {
				t.Error("Check accepted a broken model")
			}
		})
	}
}

func TestPosteriors(t *testing.T) {
	m := pprl.DefaultModel()
	for _, tc := range []struct {
		name   string
		scores []float64
		check  func(p []float64) bool
	}{
		{"none", nil, func(p []float64) bool { return len(p) == 0 }},
		{"one strong candidate is likely", []float64{12}, func(p []float64) bool { return m.Band(p[0]) == matching.Likely }},
		{"one weak candidate is unlikely", []float64{-8}, func(p []float64) bool { return m.Band(p[0]) == matching.Unlikely }},
		{"two look-alikes share", []float64{12, 12}, func(p []float64) bool { return p[0] == p[1] && p[0] < 0.5 && m.Band(p[0]) == matching.Possible }},
		{"no overflow", []float64{1e4, 1e4 - 1, -1e4}, func(p []float64) bool {
			return p[0] > p[1] && p[2] == 0 && p[0]+p[1] <= 1+1e-12 && !math.IsNaN(p[0])
		}},
		{"many unrelated candidates lower the prior", append([]float64{5}, make([]float64, 999)...), func(p []float64) bool { return p[0] < 0.5 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := m.Posteriors(append([]float64(nil), tc.scores...))
			var sum float64
			for _, x := range p {
				if x < 0 || x > 1 {
					t.Fatalf("probability %v outside [0, 1]", x)
				}
				sum += x
			}
			if sum > 1+1e-9 {
				t.Errorf("probabilities sum to %v > 1", sum)
			}
			if !tc.check(p) {
				t.Errorf("posteriors %v", p)
			}
		})
	}
}

// TestScoresNameCount: a candidate bearing the request's given name gets
// the NameCount weight of the number of candidates that bear it; one with
// another name does not, and Score (a request's only candidate) counts 1.
func TestScoresNameCount(t *testing.T) {
	m := pprl.DefaultModel()
	m.NameCountEdges = []float64{2, 4}
	m.NameCount = []float64{0, -1, -2}
	if err := m.Check(); err != nil {
		t.Fatal(err)
	}
	dices := func(given float64) pprl.Dices {
		var d pprl.Dices
		for f := range d {
			d[f] = -1 // absent
		}
		d[pprl.FeatureGiven], d[pprl.FeatureChain] = given, 1
		return d
	}
	named, other := dices(1), dices(0.6)
	for _, tc := range []struct {
		name  string
		pairs []pprl.Dices
		shift float64 // of the first candidate against Score
	}{
		{"alone", []pprl.Dices{named}, 0},
		{"one of two", []pprl.Dices{named, named}, -1},
		{"another name does not count", []pprl.Dices{named, other, other}, 0},
		{"one of four", []pprl.Dices{named, named, named, other, named}, -2},
		{"another name gets nothing", []pprl.Dices{other, named, named, named, named}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := m.Scores(tc.pairs, nil, nil)
			if want := m.Score(tc.pairs[0]) + tc.shift; math.Abs(got[0]-want) > 1e-12 {
				t.Errorf("score %.4f, want %.4f", got[0], want)
			}
			if p := m.Probabilities(tc.pairs, nil); len(p) != len(tc.pairs) {
				t.Errorf("%d probabilities for %d candidates", len(p), len(tc.pairs))
			}
		})
	}
}

func TestRecordSetMatch(t *testing.T) {
	e := pprl.NewRecordEncoder(testKeys)
	child := matching.Person{Names: []string{"Mohammed Ali Hassan"}, Sex: "male", Age: age(9)}
	var set pprl.RecordSet
	for _, p := range []matching.Person{
		{Names: []string{"Amina Farah Jama"}, Sex: "female", Age: age(7)},
		{Names: []string{"Youssef Ali Hassan"}, Sex: "male", Age: age(6)},
		{Names: []string{"Mohamed Ali Hasan"}, Sex: "male", Age: age(9)},
		{Names: []string{"Fatima Yusuf"}},
	} {
		set.Add(e.EncodeRecord(p))
	}
	m := pprl.DefaultModel()
	got := set.Match(m, e.EncodeReadings(child))
	if len(got) == 0 || got[0].Index != 2 || m.Band(got[0].Probability) != matching.Likely {
		t.Fatalf("Match = %+v, want case 2 first and likely", got)
	}
	for _, c := range got[1:] {
		if m.Band(c.Probability) == matching.Likely {
			t.Errorf("case %d also likely (%.3f)", c.Index, c.Probability)
		}
	}
	// the family name written first: reached through the rotated reading
	rotated := e.EncodeReadings(matching.Person{Names: []string{"Hassan Mohammed Ali"}, Sex: "male", Age: age(9)})
	if len(rotated) != 2 {
		t.Fatalf("EncodeReadings gave %d readings of a three-part name, want 2", len(rotated))
	}
	if got := set.Match(m, rotated); len(got) == 0 || got[0].Index != 2 {
		t.Errorf("Match(rotated name) = %+v, want case 2 first", got)
	}
	// readings that reach the same cases list each once, in order
	twice := append(append([]pprl.Record(nil), rotated...), rotated...)
	if idx := set.ReachReadings(twice, m.Blocking(), []int{99}); len(idx) < 2 || idx[0] != 99 ||
		!slices.IsSorted(idx[1:]) || len(slices.Compact(slices.Clone(idx[1:]))) != len(idx)-1 {
		t.Errorf("ReachReadings = %v, want 99 then increasing indexes, each once", idx)
	}
	if got := set.Match(m, []pprl.Record{{}}); got != nil {
		t.Errorf("an empty query reached %v", got)
	}
}

// TestIndependentKeys: the candidate search keeps a child whose given name
// the request leaves out, replaces or swaps with the family name, by the
// shipped model's keys besides the given name's.
func TestIndependentKeys(t *testing.T) {
	e := pprl.NewRecordEncoder(testKeys)
	dob := func(d string) matching.Person {
		return matching.Person{Names: []string{"Amina Warsame"}, Sex: "female", DateOfBirth: d, Locations: []string{"SO-BN-01"}}
	}
	var set pprl.RecordSet
	set.Add(e.EncodeRecord(dob("2015-03-02")))
	for _, p := range []matching.Person{
		{Names: []string{"Hodan Farah"}, Sex: "female", DateOfBirth: "2012-07-11", Locations: []string{"SO-AW-02"}},
		{Names: []string{"Yusuf Abdi"}, Sex: "male", DateOfBirth: "2016-01-20", Locations: []string{"SO-BN-03"}},
	} {
		set.Add(e.EncodeRecord(p))
	}
	m := pprl.DefaultModel()
	if len(m.Keys) == 0 {
		t.Fatal("the shipped model has no blocking keys besides the given name's")
	}
	for _, tc := range []struct {
		name string
		q    matching.Person
	}{
		{"family name alone", matching.Person{Names: []string{"Warsame"}, Sex: "female", DateOfBirth: "2015-03-02"}},
		{"given name replaced", matching.Person{Names: []string{"Ubah Warsame"}, Sex: "female"}},
		{"names swapped, one slip", matching.Person{Names: []string{"Warsame Aminah"}, Sex: "female"}},
		{"no name in common: date of birth and place", matching.Person{Names: []string{"Xaawo"}, DateOfBirth: "2015-03-02", Locations: []string{"SO-BN-01"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			idx := set.ReachReadings(e.EncodeReadings(tc.q), m.Blocking(), nil)
			if !slices.Contains(idx, 0) {
				t.Errorf("reached %v, want case 0 among them", idx)
			}
		})
	}
	if got := e.EncodeReadings(matching.Person{Names: []string{"Warsame"}}); len(got) != 2 || got[1].Present(pprl.GroupGiven) || !got[1].Present(pprl.GroupChain) {
		t.Errorf("readings of a one-part name: %d, want 2, the second with the part as the family name only", len(got))
	}
}

// FuzzEncodeRecord: whatever a person holds, every group is empty or
// balanced within the bounds UnmarshalBinary accepts, and the Record
// survives its binary form.
func FuzzEncodeRecord(f *testing.F) {
	e := pprl.NewRecordEncoder(testKeys)
	f.Add("محمد علي حسن", "Hamoudi", "SD0101", "2020-01-01", "male", 9.0)
	f.Add("Amina", "", "", "", "", -1.0)
	f.Fuzz(func(t *testing.T, name, nick, loc, date, sex string, a float64) {
		p := matching.Person{Names: []string{name}, Nicknames: []string{nick}, Relatives: []string{nick + " " + name},
			Locations: []string{loc}, SeparationLocation: loc, SeparationDate: date, DateOfBirth: date, Sex: sex}
		if a >= 0 && a <= 120 {
			p.Age = &a
		}
		r := e.EncodeRecord(p)
		for g := range pprl.NumGroups {
			if n := r[g].Ones(); n != 0 && (n < pprl.MinBalancedOnes || n > pprl.MaxBalancedOnes) {
				t.Fatalf("%v: %d bits set", g, n)
			}
		}
		b, err := r.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back pprl.Record
		if err := back.UnmarshalBinary(b); err != nil || back != r {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// BenchmarkRecordSetMatch is a peer answering one sought child against
// about 100 000 consented cases (the synth generator's, 17 000 families):
// blocking on the given-name group, then scoring every case reached. The
// sub-benchmarks compare the name as written alone with the two readings a
// query carries (EncodeReadings), in the same run.
func BenchmarkRecordSetMatch(b *testing.B) {
	e := pprl.NewRecordEncoder(testKeys)
	ds := synth.Generate(synth.Config{Seed: 9, Families: 17000})
	var set pprl.RecordSet
	for _, c := range ds.Cases {
		set.Add(e.EncodeRecord(c.Person))
	}
	m := pprl.DefaultModel()
	var queries [][]pprl.Record
	for _, q := range ds.Requests[:64] {
		queries = append(queries, e.EncodeReadings(q.Person))
	}
	for _, bc := range []struct {
		name     string
		readings int
	}{{"as-written", 1}, {"readings", 2}} {
		b.Run(bc.name, func(b *testing.B) {
			candidates := 0
			for i := range b.N {
				q := queries[i%len(queries)]
				candidates += len(set.Match(m, q[:min(len(q), bc.readings)]))
			}
			b.ReportMetric(float64(candidates)/float64(b.N), "candidates/op")
			b.ReportMetric(float64(set.Len()), "cases")
		})
	}
}

// TestCompareLineage: the father named on one side meets the chain of the
// child's name on the other (lineage), whichever side names him and in
// either script; another father does not, and a record with a one-part
// name and no relatives has no lineage to compare.
func TestCompareLineage(t *testing.T) {
	e := pprl.NewRecordEncoder(testKeys)
	request := e.EncodeRecord(matching.Person{Names: []string{"Ubah Abdi Omar"}})
	withFather := func(father string) pprl.Record {
		return e.EncodeRecord(matching.Person{Names: []string{"Ubah"}, Father: father, Relatives: []string{father}})
	}
	for _, tc := range []struct {
		name  string
		q, c  pprl.Record
		check func(float64) bool
	}{
		{"the case names the father", request, withFather("Abdi Omar Ali"), func(d float64) bool { return d > 0.85 }},
		{"the request names the father", withFather("Cabdi Cumar Cali"), request, func(d float64) bool { return d > 0.85 }},
		{"across scripts", request, withFather("عبدي عمر علي"), func(d float64) bool { return d > 0.85 }},
		{"another father", request, withFather("Jama Yusuf Farah"), func(d float64) bool { return d >= 0 && d < 0.8 }},
		{"nothing to compare", e.EncodeRecord(matching.Person{Names: []string{"Ubah"}}), request, func(d float64) bool { return d == -1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := pprl.Compare(&tc.q, &tc.c)[pprl.FeatureLineage]; !tc.check(d) {
				t.Errorf("lineage Dice %.3f", d)
			}
		})
	}
}

// TestEncodeCorrectsSlips: a name part one typing slip from a known name
// (matching.KnownNear) is encoded as that name, in the given name, the
// chain and the relatives alike, so that the slip costs no agreement; a
// known name is never taken for another.
func TestEncodeCorrectsSlips(t *testing.T) {
	e := pprl.NewRecordEncoder(testKeys)
	enc := func(name, father string) pprl.Record {
		p := matching.Person{Names: []string{name}}
		if father != "" {
			p.Father, p.Relatives = father, []string{father}
		}
		return e.EncodeRecord(p)
	}
	for _, tc := range []struct {
		name            string
		a, b            pprl.Record
		feature         pprl.Feature
		atLeast, atMost float64
	}{
		{"given: Faduao for Fadumo", enc("Faduao Ali", ""), enc("Fadumo Ali", ""), pprl.FeatureGiven, 1, 1},
		{"chain: Mustfafa for Mustafa", enc("Ali Mustfafa", ""), enc("Ali Mustafa", ""), pprl.FeatureChain, 1, 1},
		{"father: Ibrhimm for Ibrahim", enc("Ali", "Ibrhimm Hassan"), enc("Ali", "Ibrahim Hassan"), pprl.FeatureFather, 1, 1},
		{"two known names stay apart: Hassan, Hussein", enc("Hassan Ali", ""), enc("Hussein Ali", ""), pprl.FeatureGiven, 0, 0.93},
		{"an unknown name stays itself: Stanekzai", enc("Ali Stanekzai", ""), enc("Ali Stanikzai", ""), pprl.FeatureChain, 0.7, 0.99},
	} {
		d := pprl.Compare(&tc.a, &tc.b)[tc.feature]
		if d < tc.atLeast || d > tc.atMost {
			t.Errorf("%s: %v Dice %.3f, want in [%.2f, %.2f]", tc.name, tc.feature, d, tc.atLeast, tc.atMost)
		}
	}
}
