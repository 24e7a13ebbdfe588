package pprl_test

import (
	"encoding/json"
	"flag"
	"math"
	"os"
	"testing"

	"github.com/cpx-node/cpx/crypto/pprl"
	"github.com/cpx-node/cpx/node/matching/synth"
)

var (
	update  = flag.Bool("update", false, "refit and rewrite default_model.json")
	updateM = flag.Bool("update-m", false, "rewrite only default_model.json's shares of true pairs (m, Model.Shares), without the slow Choice refit")
)

// Fitting parameters of the shipped model.
const (
	trainSeed     = 1
	trainFamilies = 2000
	fitBlock      = 0.75
	fitRounds     = 300
	fitL2         = 0.001
	// fitFloor bounds a feature's contribution (Model.Floor): the
	// generator records no date or name wrongly for a true pair, so the
	// fit alone would let one such field veto any match.
	fitFloor = -4
)

// fitKeys are the shipped model's blocking keys besides the given name's
// (Model.Keys).
var fitKeys = []pprl.BlockKey{{"chain": 0.8}, {"age": 0.95, "place": 0.9}}

// fitBlocking is the shipped model's candidate search.
func fitBlocking() []pprl.BlockKey { return pprl.Model{Block: fitBlock, Keys: fitKeys}.Blocking() }

// harness encodes a synthetic data set and returns, per request, the
// candidates blocking reaches (Dice coefficients and truth), the pairs
// for synth's figures once scored, and the number of requests whose child
// is registered.
type harness struct {
	ex        []pprl.Example
	reqs, ids [][]string // per example: request id and case id per candidate
	positives int
	reached   int
}

func newHarness(keys pprl.Keys, seed uint64, families int, script synth.Script, block []pprl.BlockKey) harness {
	return harnessOf(keys, synth.Config{Seed: seed, Families: families, Script: script}, block)
}

// harnessOf is newHarness for any synth configuration.
func harnessOf(keys pprl.Keys, cfg synth.Config, block []pprl.BlockKey) harness {
	enc := pprl.NewRecordEncoder(keys)
	ds := synth.Generate(cfg)
	var set pprl.RecordSet
	for _, c := range ds.Cases {
		set.Add(enc.EncodeRecord(c.Person))
	}
	var h harness
	var idx []int
	for _, q := range ds.Requests {
		if q.Truth != "" {
			h.positives++
		}
		readings := enc.EncodeReadings(q.Person)
		idx = set.ReachReadings(readings, block, idx[:0])
		e := pprl.Example{Truth: -1}
		var reqs, ids []string
		for _, i := range idx {
			if ds.Cases[i].ID == q.Truth {
				e.Truth = len(e.Pairs)
				h.reached++
			}
			d, rotated := pprl.CompareReadings(readings, set.At(i))
			e.Pairs = append(e.Pairs, d)
			e.Rotated = append(e.Rotated, rotated)
			reqs = append(reqs, q.ID)
			ids = append(ids, ds.Cases[i].ID)
		}
		h.ex = append(h.ex, e)
		h.reqs = append(h.reqs, reqs)
		h.ids = append(h.ids, ids)
	}
	return h
}

// scored returns every candidate pair with its probability under m.
func (h harness) scored(m pprl.Model) []synth.Scored {
	var out []synth.Scored
	for r, e := range h.ex {
		for i, p := range m.Probabilities(e.Pairs, e.Rotated) {
			out = append(out, synth.Scored{Request: h.reqs[r][i], ID: h.ids[r][i], Score: p, Same: i == e.Truth})
		}
	}
	return out
}

var testKeys = pprl.DeriveKeys([]byte("test secret"), "net-1", pprl.RecordFields)

// fitDefault fits the default model on the training set (train seed, both
// scripts).
func fitDefault(t *testing.T) pprl.Model { return fitModel(trainExamples(t)) }

// trainExamples returns the training set's examples.
func trainExamples(t *testing.T) []pprl.Example {
	var train []pprl.Example
	for _, s := range []synth.Script{synth.Latin, synth.ArabicRequest} {
		h := newHarness(testKeys, trainSeed, trainFamilies, s, fitBlocking())
		t.Logf("train %v: blocking reached %d of %d registered children", s, h.reached, h.positives)
		train = append(train, h.ex...)
	}
	return train
}

// fitModel fits a model on training examples: Fellegi–Sunter, refined as
// a conditional logit model, with likely at precision ≥ 0.95 (but not
// under 0.5, so that at most one candidate is likely) and possible at
// precision ≥ 0.5 on the training examples.
func fitModel(train []pprl.Example) pprl.Model {
	m := pprl.FitChoice(train, pprl.FitLabelled(train, pprl.DefaultEdges), pprl.ChoiceOptions{
		GivenEdges: pprl.DefaultGivenEdges, NameCountEdges: pprl.DefaultNameCountEdges, Rounds: fitRounds, L2: fitL2})
	m.Block, m.Keys, m.Floor = fitBlock, fitKeys, fitFloor
	th := m.Thresholds(train, 0.95, 0.5)
	// at most one candidate of a request can be likely
	m.Likely, m.Possible = max(th[0], 0.5), th[1]
	m.M = m.Shares(train)
	return m
}

// TestFitDefault refits the default model and checks that the shipped
// default_model.json is that fit; -update rewrites it.
func TestFitDefault(t *testing.T) {
	if raceEnabled {
		t.Skip("numeric quality run: without -race (the second half of the README test command)")
	}
	if testing.Short() && !*update && !*updateM {
		t.Skip("slow; run without -short")
	}
	if *updateM {
		// m depends on the fitted model only through its probabilities
		m := pprl.DefaultModel()
		m.M = m.Shares(trainExamples(t))
		writeDefault(t, m)
		return
	}
	m := fitDefault(t)
	for _, g := range pprl.FeatureNames {
		t.Logf("  %-10s %.2f", g, m.Weights[g])
	}
	t.Logf("  null %.3f, block %.2f, likely %.2f, possible %.2f", m.Null, m.Block, m.Likely, m.Possible)
	if *update {
		writeDefault(t, m)
		return
	}
	shipped := pprl.DefaultModel()
	close := func(a, b float64) bool { return math.Abs(a-b) <= 0.01 }
	for _, g := range pprl.FeatureNames {
		for b := range m.Weights[g] {
			if !close(m.Weights[g][b], shipped.Weights[g][b]) {
				t.Errorf("%s bin %d: refit weight %.4f, shipped %.4f (run with -update)", g, b, m.Weights[g][b], shipped.Weights[g][b])
			}
		}
	}
	for _, g := range pprl.FeatureNames {
		for b := range m.M[g] {
			if b >= len(shipped.M[g]) || !close(m.M[g][b], shipped.M[g][b]) {
				t.Errorf("%s bin %d: refit share of true pairs %.4f, shipped %v (run with -update or -update-m)", g, b, m.M[g][b], shipped.M[g])
				break
			}
		}
	}
	for g, rows := range m.GivenWith {
		for c, row := range rows {
			for b := range row {
				if !close(row[b], shipped.GivenWith[g][c][b]) {
					t.Errorf("%s given class %d bin %d: refit interaction %.4f, shipped %.4f (run with -update)", g, c, b, row[b], shipped.GivenWith[g][c][b])
				}
			}
		}
	}
	for _, v := range []struct {
		name           string
		refit, shipped float64
	}{{"null", m.Null, shipped.Null}, {"rotated", m.Rotated, shipped.Rotated}, {"block", m.Block, shipped.Block}, {"likely", m.Likely, shipped.Likely}, {"possible", m.Possible, shipped.Possible}, {"floor", m.Floor, shipped.Floor}} {
		if !close(v.refit, v.shipped) {
			t.Errorf("%s: refit %.4f, shipped %.4f (run with -update)", v.name, v.refit, v.shipped)
		}
	}
}

// writeDefault writes m to default_model.json.
func writeDefault(t *testing.T, m pprl.Model) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("default_model.json", append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFitChoiceSmall fits a small harness (quick, and under -race the
// parallel gradient too): the model is valid, has the name-count weights
// asked for, scores the training requests better than the Fellegi–Sunter
// start, and two fits are identical.
func TestFitChoiceSmall(t *testing.T) {
	h := newHarness(testKeys, trainSeed, 40, synth.Latin, fitBlocking())
	fs := pprl.FitLabelled(h.ex, pprl.DefaultEdges)
	o := pprl.ChoiceOptions{GivenEdges: pprl.DefaultGivenEdges, NameCountEdges: pprl.DefaultNameCountEdges, Rounds: 30, L2: fitL2}
	m := pprl.FitChoice(h.ex, fs, o)
	m.Block, m.Likely, m.Possible = fitBlock, 0.5, 0.1
	if err := m.Check(); err != nil {
		t.Fatal(err)
	}
	if len(m.NameCount) != len(o.NameCountEdges)+1 {
		t.Errorf("%d name-count weights, want %d", len(m.NameCount), len(o.NameCountEdges)+1)
	}
	logLik := func(m pprl.Model) float64 {
		var ll float64
		for _, e := range h.ex {
			p := m.Probabilities(e.Pairs, e.Rotated)
			if e.Truth >= 0 {
				ll += math.Log(p[e.Truth])
				continue
			}
			none := 1.0
			for _, x := range p {
				none -= x
			}
			ll += math.Log(max(none, 1e-300))
		}
		return ll
	}
	if before, after := logLik(fs), logLik(m); after <= before {
		t.Errorf("log likelihood %.2f after the fit, %.2f before", after, before)
	}
	again := pprl.FitChoice(h.ex, fs, o)
	again.Block, again.Likely, again.Possible = m.Block, m.Likely, m.Possible
	a, _ := json.Marshal(m)
	b, _ := json.Marshal(again)
	if string(a) != string(b) {
		t.Error("two fits of the same examples differ")
	}
}
