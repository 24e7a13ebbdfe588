package emadapt_test

import (
	"math"
	"testing"

	"github.com/cpx-node/cpx/crypto/emadapt"
)

func TestShift(t *testing.T) {
	o := emadapt.Options{}.WithDefaults()
	m := []float64{0.9, 0.0999, 0.0001} // level 2: true pairs (almost) never show it
	for _, tc := range []struct {
		name   string
		counts []float64
		check  func(mh, sh []float64) string
	}{
		{"no evidence keeps the shipped shares", []float64{0, 0, 0}, func(mh, sh []float64) string {
			for l := range m {
				if math.Abs(mh[l]-m[l]) > 1e-12 || sh[l] != 0 {
					return "moved"
				}
			}
			return ""
		}},
		{"evidence at a level raises it", []float64{500, 500, 0}, func(mh, sh []float64) string {
			if !(sh[1] > 0 && sh[0] < 0) {
				return "level 1 not raised over level 0"
			}
			return ""
		}},
		{"a level under the resolution is not raised", []float64{1000, 0, 0.5}, func(mh, sh []float64) string {
			if sh[2] > 0 {
				return "level 2 raised on 0.5 expected pairs"
			}
			return ""
		}},
		{"shifts are bounded", []float64{0, 1e9, 0}, func(mh, sh []float64) string {
			for _, x := range sh {
				if math.Abs(x) > o.MaxShift {
					return "shift over MaxShift"
				}
			}
			return ""
		}},
	} {
		mh, sh := emadapt.Shift(tc.counts, m, o)
		if msg := tc.check(mh, sh); msg != "" {
			t.Errorf("%s: m̂ %v, shift %v: %s", tc.name, mh, sh, msg)
		}
		var sum float64
		for _, x := range mh {
			sum += x
		}
		if math.Abs(sum-1) > 1e-9 {
			t.Errorf("%s: m̂ %v sums to %v", tc.name, mh, sum)
		}
	}
}

func TestMoved(t *testing.T) {
	if got := emadapt.Moved([]float64{0.5, -2}, nil); got != 2 {
		t.Errorf("from nothing: got %v, want 2", got)
	}
	if got := emadapt.Moved([]float64{0.5, -2}, []float64{0.4, -2}); math.Abs(got-0.1) > 1e-12 {
		t.Errorf("got %v, want 0.1", got)
	}
}
