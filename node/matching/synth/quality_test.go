package synth_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"reflect"
	"testing"

	"github.com/cpx-node/cpx/node/matching"
	"github.com/cpx-node/cpx/node/matching/synth"
)

var (
	update = flag.Bool("update", false, "refit and rewrite node/matching/default_model.json")
	goals  = flag.Bool("goals", false, "fail unless the target figures (F1 ≥ 0.98 latin; R ≥ 0.95 at P ≥ 0.95 across scripts) are met")
	exact  = flag.Bool("exact", false, "measure the Latin figures with every name spelt exactly (TestExactNames; about 5 minutes)")
)

// Floors are the figures as measured on the fixed seeds, rounded down: the
// test fails if a change makes matching worse. The targets are not met yet
// (see docs/matching.md); -goals enforces them.
const (
	latinF1Floor      = 0.96
	latinF1Goal       = 0.98
	crossRecallFloor  = 0.96
	crossRecallGoal   = 0.95
	crossPrecisionMin = 0.95
	// adaptTolerance: the model adapted to a set's own requests may lose
	// this much of the shipped model's figure on the generator, whose
	// registers the shipped model was fitted on (the cross-script recall
	// at P ≥ 0.95 loses 0.006)
	adaptTolerance = 0.01
)

// choiceRidge is the L2 penalty of the conditional-logit fit.
const choiceRidge = 1.0

// Seeds: the model is fitted on trainSeed and measured on the others.
const (
	trainSeed = 1
	latinSeed = 2
	crossSeed = 3
)

// TestFitDefault (with -update) fits the default model on a training set
// mixing both scripts — m/u probabilities from labelled pairs, EM for
// comparison, and the conditional-logit weights Index.Match scores with —
// and writes it to default_model.json.
func TestFitDefault(t *testing.T) {
	if raceEnabled {
		t.Skip("numeric quality run: without -race (the second half of the README test command)")
	}
	if !*update {
		// TestDefaultModelShape (node/matching) checks the shipped file
		// fits the comparison levels; this refit is the tool that makes it.
		t.Skip("refits default_model.json on 2 × 5 000 families (about 5 minutes): run with -update")
	}
	var vecs [][]matching.Comparison
	var labels []bool
	var reqs []matching.ChoiceRequest
	for _, s := range []synth.Script{synth.Latin, synth.ArabicRequest} {
		ds := synth.Generate(synth.Config{Seed: trainSeed, Families: 5000, Script: s})
		r := synth.RunLocal(ds, matching.InitialModel())
		vecs = append(vecs, r.Vectors...)
		labels = append(labels, r.Labels...)
		reqs = append(reqs, r.Requests...)
	}
	m := matching.Fit(vecs)
	lm, err := matching.FitLabelled(vecs, labels)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("EM on %d unlabelled pairs: prior %.4f (labelled: %.4f)", len(vecs), m.Prior, lm.Prior)
	for _, f := range matching.FieldOrder {
		t.Logf("  labelled %-20s m=%.3f u=%.3f", f, lm.Fields[f].M, lm.Fields[f].U)
	}
	for _, f := range matching.FieldOrder {
		t.Logf("  %-20s m=%.3f u=%.3f", f, m.Fields[f].M, m.Fields[f].U)
	}
	// EM is unreliable when true matches are ~0.2% of pairs (it splits
	// on sex agreement instead); on pairs whose given name agrees it is not.
	var strong [][]matching.Comparison
	for _, v := range vecs {
		if v[0].Level >= 3 {
			strong = append(strong, v)
		}
	}
	em := matching.Fit(strong)
	t.Logf("EM on %d pairs with given-name agreement: prior %.4f", len(strong), em.Prior)
	for _, f := range matching.FieldOrder {
		t.Logf("  em %-20s m=%.3f u=%.3f", f, em.Fields[f].M, em.Fields[f].U)
	}
	// The shipped default: labelled fit (the generator knows the truth),
	// and the conditional-logit weights Index.Match scores with.
	m = lm
	ch, err := matching.FitChoice(reqs, choiceRidge)
	if err != nil {
		t.Fatal(err)
	}
	m.Choice = ch
	t.Logf("choice: bias %.2f, ln n %.2f", ch.Bias, ch.LogCandidates)
	for _, f := range matching.FieldOrder {
		t.Logf("  choice %-20s %.2f", f, ch.Level[f])
	}
	if *update {
		b, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("../default_model.json", append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestQuality(t *testing.T) {
	if raceEnabled {
		t.Skip("numeric quality run: without -race (the second half of the README test command)")
	}
	if testing.Short() {
		t.Skip("slow; run without -short")
	}
	m := matching.DefaultModel()
	cases := []struct {
		name        string
		seed        uint64
		script      synth.Script
		what        string
		figure      func(at, rec synth.Figures) float64
		floor, goal float64
	}{
		{"latin", latinSeed, synth.Latin, "latin F1 at likely",
			func(at, _ synth.Figures) float64 { return at.F1 }, latinF1Floor, latinF1Goal},
		{"arabic-request/latin-case", crossSeed, synth.ArabicRequest, fmt.Sprintf("cross-script recall at precision ≥ %.2f", crossPrecisionMin),
			func(_, rec synth.Figures) float64 { return rec.Recall }, crossRecallFloor, crossRecallGoal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ds := synth.Generate(synth.Config{Seed: tc.seed, Families: 2000, Script: tc.script})
			adapted, err := synth.Adapt(ds, m, matching.AdaptOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// the shipped model, then the model adapted to the set's own
			// requests (what a node with this register would run)
			var shipped float64
			for _, m := range []matching.Model{m, adapted} {
				r := synth.RunLocal(ds, m)
				at := synth.At(r.Pairs, r.Positives, matching.LikelyThreshold)
				best, rec := synth.Best(r.Pairs, r.Positives, crossPrecisionMin)
				if m.Adapted == nil {
					t.Logf("%s: %d cases, %d requests (%d with a registered child), %d candidate pairs (%.1f per request), blocking reached %d/%d (%.4f)",
						tc.name, len(ds.Cases), len(ds.Requests), r.Positives, r.Candidates, float64(r.Candidates)/float64(len(ds.Requests)), r.Reached, r.Positives, float64(r.Reached)/float64(r.Positives))
					t.Logf(" shipped model")
				} else {
					t.Logf(" adapted to the requests (EM, %d rounds, %.0f expected true pairs)", m.Adapted.Rounds, m.Adapted.Matches)
				}
				t.Logf("  at likely (%.1f):       %v", matching.LikelyThreshold, at)
				t.Logf("  best F1:               %v", best)
				t.Logf("  best recall at P≥0.95: %v", rec)
				got := tc.figure(at, rec)
				switch {
				case m.Adapted == nil:
					shipped = got
					if got < tc.floor || *goals && got < tc.goal {
						t.Errorf("shipped model: %s = %.4f, want ≥ %.2f (goal %.2f)", tc.what, got, tc.floor, tc.goal)
					}
				case got < shipped-adaptTolerance || *goals && got < tc.goal:
					t.Errorf("adapted model: %s = %.4f, want ≥ %.4f (the shipped model's less %.2f; goal %.2f)", tc.what, got, shipped-adaptTolerance, adaptTolerance, tc.goal)
				}
			}
		})
	}
}

// TestExactNames (with -exact) measures the matcher on the Latin sets with
// every name part written in its table spelling — the same families, ages,
// places and missing fields, no variants or typos — after fitting the
// conditional logit on the training set written the same way. The
// figures bound what better name comparison can gain: the errors left are
// children the records do not tell apart. Without -exact it checks that
// exact spelling changes names only.
func TestExactNames(t *testing.T) {
	noisy := synth.Generate(synth.Config{Seed: latinSeed, Families: 300, Script: synth.Latin})
	clean := synth.Generate(synth.Config{Seed: latinSeed, Families: 300, Script: synth.Latin, ExactNames: true})
	if len(noisy.Cases) != len(clean.Cases) || len(noisy.Requests) != len(clean.Requests) {
		t.Fatalf("exact names: %d cases, %d requests; noisy: %d, %d", len(clean.Cases), len(clean.Requests), len(noisy.Cases), len(noisy.Requests))
	}
	respelt := 0
	for i, c := range clean.Cases {
		n := noisy.Cases[i]
		if c.ID != n.ID || !sameButNames(c.Person, n.Person) {
			t.Fatalf("case %d: exact names changed more than names: %+v vs %+v", i, c.Person, n.Person)
		}
		if c.Person.Names[0] != n.Person.Names[0] {
			respelt++
		}
	}
	for i, q := range clean.Requests {
		if n := noisy.Requests[i]; q.Truth != n.Truth || !sameButNames(q.Person, n.Person) {
			t.Fatalf("request %d: exact names changed more than names: %+v vs %+v", i, q, n)
		}
	}
	if respelt < len(clean.Cases)/4 {
		t.Errorf("only %d of %d cases' names differ from the noisy set's", respelt, len(clean.Cases))
	}
	if !*exact {
		return
	}
	if raceEnabled {
		t.Skip("numeric quality run: without -race")
	}
	train := synth.RunLocal(synth.Generate(synth.Config{Seed: trainSeed, Families: 5000, Script: synth.Latin, ExactNames: true}), matching.InitialModel())
	ch, err := matching.FitChoice(train.Requests, choiceRidge)
	if err != nil {
		t.Fatal(err)
	}
	m := matching.DefaultModel()
	m.Choice = ch
	for _, seed := range []uint64{latinSeed, 4, 5} {
		r := synth.RunLocal(synth.Generate(synth.Config{Seed: seed, Families: 2000, Script: synth.Latin, ExactNames: true}), m)
		at := synth.At(r.Pairs, r.Positives, matching.LikelyThreshold)
		best, rec := synth.Best(r.Pairs, r.Positives, crossPrecisionMin)
		t.Logf("latin, exact names, seed %d: at likely %v; best F1 %v; best recall at P≥0.95 %v", seed, at, best, rec)
	}
}

// sameButNames reports whether two people differ at most in how their
// names and their relatives' names are written.
func sameButNames(a, b matching.Person) bool {
	if len(a.Names) != len(b.Names) || len(a.Nicknames) != len(b.Nicknames) || len(a.Relatives) != len(b.Relatives) ||
		(a.Father == "") != (b.Father == "") || (a.Mother == "") != (b.Mother == "") {
		return false
	}
	a.Names, a.Nicknames, a.Relatives, a.Father, a.Mother = nil, nil, nil, "", ""
	b.Names, b.Nicknames, b.Relatives, b.Father, b.Mother = nil, nil, nil, "", ""
	return reflect.DeepEqual(a, b)
}
