package matching

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestFitChoiceRecoversWeights draws requests from a known Choice model
// and checks that FitChoice finds its weights again.
func TestFitChoiceRecoversWeights(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	l := newChoiceLayout()
	truth := make([]float64, l.size)
	truth[0] = -3
	truth[l.level[FieldName]+7] = 5
	truth[l.level[FieldName]+1] = -2
	truth[l.level[FieldSex]+0] = -3
	truth[l.level[FieldAge]+3] = 2
	gen := l.weights(truth)
	var reqs []ChoiceRequest
	for range 3000 {
		n := 1 + r.IntN(30)
		var req ChoiceRequest
		var ps []float64
		z := 1.0
		for range n {
			cs := []Comparison{
				{Field: FieldName, Level: r.IntN(8)},
				{Field: FieldSex, Level: r.IntN(2)},
				{Field: FieldAge, Level: r.IntN(5) - 1}, // -1 is blank
			}
			req.Candidates = append(req.Candidates, cs)
			e := math.Exp(gen.Score(cs, n))
			ps = append(ps, e)
			z += e
		}
		u := r.Float64() * z
		req.Truth = -1
		for i, e := range ps {
			if u -= e; u < 0 {
				req.Truth = i
				break
			}
		}
		reqs = append(reqs, req)
	}
	got, err := FitChoice(reqs, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	// Every combination of levels scores as under the generating model
	// that are ever likely to be the child (the fit splits weight between main effects and interactions as the
	// ridge prefers, so compare scores, not single weights).
	worst := 0.0
	for name := range 8 {
		for sex := range 2 {
			for age := -1; age < 4; age++ {
				cs := []Comparison{{Field: FieldName, Level: name}, {Field: FieldSex, Level: sex}, {Field: FieldAge, Level: age}}
				if want := gen.Score(cs, 15); want > -3 {
					// (far below, a candidate is almost never the child and
					// the data say little about how far below)
					worst = math.Max(worst, math.Abs(got.Score(cs, 15)-want))
				}
			}
		}
	}
	if worst > 0.5 {
		t.Errorf("largest score difference to the generating model %.2f, want ≤ 0.5", worst)
	}
}

func TestFitChoiceRefusesBadInput(t *testing.T) {
	if _, err := FitChoice(nil, 0); err == nil {
		t.Error("ridge 0 accepted")
	}
	if _, err := FitChoice([]ChoiceRequest{{Candidates: [][]Comparison{{}}, Truth: 1}}, 1); err == nil {
		t.Error("truth beyond the candidates accepted")
	}
}

// TestDefaultModelShape: the shipped model has a weight for every level of
// every field (a change of levels without a refit fails here).
func TestDefaultModelShape(t *testing.T) {
	m := DefaultModel()
	if m.Choice == nil {
		t.Fatal("default_model.json has no choice weights: go test ./node/matching/synth -run TestFitDefault -args -update")
	}
	for _, f := range FieldOrder {
		if len(m.Fields[f].M) != FieldLevels[f] || len(m.Choice.Level[f]) != FieldLevels[f] {
			t.Errorf("%s: %d m-probabilities, %d choice weights, want %d levels", f, len(m.Fields[f].M), len(m.Choice.Level[f]), FieldLevels[f])
		}
	}
	for _, f := range choiceInteractions {
		tab := m.Choice.NameWith[f]
		if len(tab) != FieldLevels[FieldName] {
			t.Errorf("%s: %d name rows, want %d", f, len(tab), FieldLevels[FieldName])
			continue
		}
		for _, row := range tab {
			if len(row) != FieldLevels[f] {
				t.Errorf("%s: row of %d, want %d", f, len(row), FieldLevels[f])
				break
			}
		}
	}
}
