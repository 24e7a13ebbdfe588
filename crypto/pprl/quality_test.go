package pprl_test

import (
	"testing"

	"github.com/cpx-node/cpx/crypto/pprl"
	"github.com/cpx-node/cpx/node/matching/synth"
)

// TestFederatedQuality encodes the synth harness's cases and requests and
// reports precision/recall of Dice thresholds (every pair above the
// threshold counts as a predicted match).
func TestFederatedQuality(t *testing.T) {
	if raceEnabled {
		t.Skip("numeric quality run: without -race (the second half of the README test command)")
	}
	if testing.Short() {
		t.Skip("slow")
	}
	keys := pprl.DeriveKeys([]byte("test secret"), "net-1", pprl.DefaultFields)
	for _, tc := range []struct {
		name    string
		seed    uint64
		script  synth.Script
		balance bool
	}{
		{"latin", 2, synth.Latin, true},
		{"arabic-request/latin-case", 3, synth.ArabicRequest, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc := pprl.NewEncoder(keys)
			enc.Balance = tc.balance
			ds := synth.Generate(synth.Config{Seed: tc.seed, Families: 500, Script: tc.script})
			set := make([]pprl.CLK, len(ds.Cases))
			ones := 0
			for i, c := range ds.Cases {
				set[i] = enc.Encode(c.Person)
				ones += set[i].Ones()
			}
			var pairs []synth.Scored
			positives := 0
			var hits []int
			for _, q := range ds.Requests {
				if q.Truth != "" {
					positives++
				}
				qc := enc.Encode(q.Person)
				hits = pprl.DiceMany(&qc, set, 0.5, hits[:0])
				for _, h := range hits {
					pairs = append(pairs, synth.Scored{Request: q.ID, ID: ds.Cases[h].ID, Score: pprl.Dice(&qc, &set[h]), Same: ds.Cases[h].ID == q.Truth})
				}
			}
			best, rec := synth.Best(pairs, positives, 0.95)
			t.Logf("%s: %d cases, mean popcount %d/1024", tc.name, len(ds.Cases), ones/len(ds.Cases))
			t.Logf("  at likely (%.2f):    %v", pprl.LikelyDice, synth.At(pairs, positives, pprl.LikelyDice))
			t.Logf("  at possible (%.2f):  %v", pprl.PossibleDice, synth.At(pairs, positives, pprl.PossibleDice))
			t.Logf("  best F1:             %v", best)
			t.Logf("  best R at P≥0.95:    %v", rec)
		})
	}
}
