package pprl_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/cpx-node/cpx/crypto/pprl"
	"github.com/cpx-node/cpx/node/matching"
	"github.com/cpx-node/cpx/node/matching/synth"
)

func TestDiagPPRL(t *testing.T) {
	if os.Getenv("DIAG") == "" {
		t.Skip()
	}
	sc, seed := synth.Latin, uint64(2)
	if os.Getenv("DIAG") == "ar" {
		sc, seed = synth.ArabicRequest, 3
	}
	m := pprl.DefaultModel()
	enc := pprl.NewRecordEncoder(testKeys)
	ds := synth.Generate(synth.Config{Seed: seed, Families: 500, Script: sc})
	var set pprl.RecordSet
	for _, c := range ds.Cases {
		set.Add(enc.EncodeRecord(c.Person))
	}
	ix := matching.NewIndex()
	for _, c := range ds.Cases {
		ix.Add(c)
	}
	dd := func(d pprl.Dices) string {
		s := ""
		for g := range pprl.NumFeatures {
			s += fmt.Sprintf("%s=%.2f ", pprl.FeatureNames[g][:3], d[g])
		}
		return s
	}
	for _, q := range ds.Requests {
		rs := enc.EncodeReadings(q.Person)
		cands := set.Match(m, rs)
		local := ix.Match(q.Person, 3)
		lp := 0.0
		for _, x := range local {
			if x.ID == q.Truth {
				lp = x.Probability
			}
		}
		for k, c := range cands {
			id := ds.Cases[c.Index].ID
			same := id == q.Truth
			if same && c.Probability < 0.5 || !same && c.Probability >= 0.5 {
				d, rot := pprl.CompareReadings(rs, set.At(c.Index))
				kind := "FN"
				if !same {
					kind = "FP"
				}
				t.Logf("%s rank %d p=%.2f local(truth)=%.2f rot=%v %s\n   Q %q rel=%q\n   C %q rel=%q", kind, k, c.Probability, lp, rot, dd(d), q.Person.Names, q.Person.Relatives, ds.Cases[c.Index].Person.Names, ds.Cases[c.Index].Person.Relatives)
			}
		}
	}
}
