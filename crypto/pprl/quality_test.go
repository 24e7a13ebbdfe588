package pprl_test

import (
	"flag"
	"testing"

	"github.com/cpx-node/cpx/crypto/pprl"
	"github.com/cpx-node/cpx/node/matching/synth"
)

// Floors: the figures of the shipped model on the fixed seeds, rounded
// down. The test fails if a change makes federated matching worse.
const (
	latinLikelyF1Floor = 0.95
	crossRecallFloor   = 0.95
	minPrecision       = 0.95
)

// qualityFamilies is the size of the test sets: as node/matching/synth's
// TestQuality (about 11 400 cases), since a larger register holds more
// children of the same names and is harder.
const qualityFamilies = 2000

// TestFederatedQuality encodes the synth harness's cases and requests as
// Records and reports, for the shipped model, precision/recall/F1 at the
// likely and possible bands (every candidate at or above the threshold
// counts as predicted: a sibling above it is a false positive), the best
// F1 and the best recall at precision ≥ 0.95; and, for comparison, the
// old single-CLK Dice figures.
func TestFederatedQuality(t *testing.T) {
	if raceEnabled {
		t.Skip("numeric quality run: without -race (the second half of the README test command)")
	}
	if testing.Short() {
		t.Skip("slow")
	}
	m := pprl.DefaultModel()
	for _, tc := range []struct {
		name   string
		seed   uint64
		script synth.Script
		check  func(t *testing.T, likely, rec synth.Figures)
	}{
		{"latin", 2, synth.Latin, func(t *testing.T, likely, rec synth.Figures) {
			if likely.F1 < latinLikelyF1Floor {
				t.Errorf("latin F1 at likely = %.4f, want ≥ %.2f", likely.F1, latinLikelyF1Floor)
			}
		}},
		{"arabic-request/latin-case", 3, synth.ArabicRequest, func(t *testing.T, likely, rec synth.Figures) {
			if rec.Recall < crossRecallFloor {
				t.Errorf("cross-script recall at precision ≥ %.2f = %.4f, want ≥ %.2f", minPrecision, rec.Recall, crossRecallFloor)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(testKeys, tc.seed, qualityFamilies, tc.script, m.Blocking())
			pairs := h.scored(m)
			likely := synth.At(pairs, h.positives, m.Likely)
			best, rec := synth.Best(pairs, h.positives, minPrecision)
			t.Logf("%s: %d requests (%d with a registered child), %.1f candidates per request, blocking reached %d/%d",
				tc.name, len(h.ex), h.positives, float64(len(pairs))/float64(len(h.ex)), h.reached, h.positives)
			t.Logf("  at likely (%.2f):   %v", m.Likely, likely)
			t.Logf("  at possible (%.2f): %v", m.Possible, synth.At(pairs, h.positives, m.Possible))
			t.Logf("  best F1:            %v", best)
			t.Logf("  best R at P≥0.95:   %v", rec)
			tc.check(t, likely, rec)
			// adapted to the set's own requests, without the answers
			// (pprl.Adapt): a register that records its children as the
			// generator does must not lose by it
			am, err := pprl.Adapt(m, h.ex, pprl.AdaptOptions{})
			if err != nil {
				t.Fatal(err)
			}
			apairs := h.scored(am)
			alikely := synth.At(apairs, h.positives, am.Likely)
			abest, arec := synth.Best(apairs, h.positives, minPrecision)
			t.Logf("  adapted (%d EM rounds, %.0f expected true pairs): at likely %v; best F1 %v; best R at P≥0.95 %v",
				am.Adapted.Rounds, am.Adapted.Matches, alikely, abest, arec)
			if alikely.F1 < likely.F1-0.01 || arec.Recall < rec.Recall-0.01 {
				t.Errorf("adapted: F1 at likely %.4f, recall at P≥0.95 %.4f; shipped %.4f, %.4f: want no more than 0.01 below",
					alikely.F1, arec.Recall, likely.F1, rec.Recall)
			}
			singleCLK(t, tc.seed, tc.script)
		})
	}
}

// singleCLK logs the figures of the old encoding: one CLK per record and
// one Dice threshold, pairs with Dice ≥ 0.8 counted.
func singleCLK(t *testing.T, seed uint64, script synth.Script) {
	enc := pprl.NewEncoder(pprl.DeriveKeys([]byte("test secret"), "net-1", pprl.DefaultFields))
	ds := synth.Generate(synth.Config{Seed: seed, Families: qualityFamilies, Script: script})
	var set pprl.Set
	for _, c := range ds.Cases {
		set.Add(enc.Encode(c.Person))
	}
	var pairs []synth.Scored
	positives := 0
	var hits []int
	for _, q := range ds.Requests {
		if q.Truth != "" {
			positives++
		}
		qc := enc.Encode(q.Person)
		hits = set.Above(&qc, 0.8, hits[:0])
		for _, i := range hits {
			pairs = append(pairs, synth.Scored{Request: q.ID, ID: ds.Cases[i].ID, Score: pprl.Dice(&qc, set.At(i)), Same: ds.Cases[i].ID == q.Truth})
		}
	}
	best, rec := synth.Best(pairs, positives, minPrecision)
	t.Logf("  single CLK (before): at Dice %.2f %v; best F1 %v; best R at P≥0.95 %v", pprl.LikelyDice, synth.At(pairs, positives, pprl.LikelyDice), best, rec)
}

var exact = flag.Bool("exact", false, "measure the federated Latin figures with every name spelt exactly (TestFederatedExactNames; about 6 minutes)")

// TestFederatedExactNames (with -exact) is node/matching/synth's
// TestExactNames for the federated matcher: the Latin sets with every name
// part in its table spelling, the model refitted on the training set
// written the same way. What it reaches bounds what better encodings of
// names can gain.
func TestFederatedExactNames(t *testing.T) {
	if !*exact {
		t.Skip("a diagnostic: run with -exact")
	}
	if raceEnabled {
		t.Skip("numeric quality run: without -race")
	}
	m := fitModel(harnessOf(testKeys, synth.Config{Seed: trainSeed, Families: trainFamilies, Script: synth.Latin, ExactNames: true}, fitBlocking()).ex)
	for _, seed := range []uint64{2, 4, 5} {
		h := harnessOf(testKeys, synth.Config{Seed: seed, Families: qualityFamilies, Script: synth.Latin, ExactNames: true}, m.Blocking())
		pairs := h.scored(m)
		likely := synth.At(pairs, h.positives, m.Likely)
		best, rec := synth.Best(pairs, h.positives, minPrecision)
		t.Logf("latin, exact names, seed %d: at likely %v; best F1 %v; best R at P≥0.95 %v", seed, likely, best, rec)
	}
}
