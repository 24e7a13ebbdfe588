package matching_test

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/cpx-node/cpx/node/matching"
)

// register draws requests from a register that writes a true pair's date
// of birth wrongly (age level 0) for the share wrongDOB of its requests,
// which the shipped model (fitted on a generator that never does) takes
// for a stranger's. Each request reaches its child and a few strangers.
func register(n int, wrongDOB float64, seed uint64) (reqs [][][]matching.Comparison, truth [][]bool) {
	r := rand.New(rand.NewPCG(seed, 7))
	vec := func(name, age, loc int) []matching.Comparison {
		return []matching.Comparison{
			{Field: matching.FieldName, Level: name},
			{Field: matching.FieldAge, Level: age},
			{Field: matching.FieldLocation, Level: loc},
		}
	}
	for range n {
		age := 4
		if r.Float64() < wrongDOB {
			age = 0
		}
		req := [][]matching.Comparison{vec(7, age, 3)}
		same := []bool{true}
		for range 1 + r.IntN(4) {
			req = append(req, vec(r.IntN(3), r.IntN(2), r.IntN(2)))
			same = append(same, false)
		}
		reqs = append(reqs, req)
		truth = append(truth, same)
	}
	return reqs, truth
}

// recall is the share of requests whose child the model gives P ≥ 0.5,
// and falsePos the number of strangers it does.
func recall(t *testing.T, m matching.Model, reqs [][][]matching.Comparison, truth [][]bool) (recall float64, falsePos int) {
	t.Helper()
	found := 0
	for i, req := range reqs {
		for j, p := range m.Posteriors(req) {
			switch {
			case p >= matching.LikelyThreshold && truth[i][j]:
				found++
			case p >= matching.LikelyThreshold:
				falsePos++
			}
		}
	}
	return float64(found) / float64(len(reqs)), falsePos
}

func TestAdaptLearnsTheRegistersErrors(t *testing.T) {
	base := matching.DefaultModel()
	reqs, _ := register(2000, 0.15, 1)
	got, err := matching.Adapt(base, reqs, matching.AdaptOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s := got.Adapted.Shift[matching.FieldAge][0]; s <= 1 {
		t.Errorf("got shift %.2f for a wrong date of birth, want > 1 (the register writes 15 %% of them wrongly)", s)
	}
	// measured on requests it was not estimated on
	test, testTruth := register(2000, 0.15, 2)
	r0, fp0 := recall(t, base, test, testTruth)
	r1, fp1 := recall(t, got, test, testTruth)
	t.Logf("recall %.3f → %.3f, strangers likely %d → %d, %d EM rounds", r0, r1, fp0, fp1, got.Adapted.Rounds)
	if r1 < 0.99 || fp1 > 0 {
		t.Errorf("adapted: got recall %.3f with %d strangers likely, want ≥ 0.99 with none (shipped: %.3f)", r1, fp1, r0)
	}
}

func TestAdaptKeepsAMatchingRegister(t *testing.T) {
	// a register whose true pairs look like the training data's: the
	// shifts stay small
	reqs, _ := register(2000, 0, 3)
	got, err := matching.Adapt(matching.DefaultModel(), reqs, matching.AdaptOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{matching.FieldName, matching.FieldLocation} {
		for l, s := range got.Adapted.Shift[f] {
			if s > 1 {
				t.Errorf("got shift %+.2f for %s level %d, want ≤ 1 (nothing in the data calls for more)", s, f, l)
			}
		}
	}
}

func TestAdaptTooFewRequests(t *testing.T) {
	reqs, _ := register(50, 0.15, 4)
	got, err := matching.Adapt(matching.DefaultModel(), reqs, matching.AdaptOptions{})
	if !errors.Is(err, matching.ErrTooFewRequests) || got.Adapted != nil {
		t.Errorf("got %v and adaptation %v, want ErrTooFewRequests and the shipped model", err, got.Adapted)
	}
}
