package tracing_test

import (
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/tracing"
)

// TestPacer: a burst of the rate per minute at once, then one query per
// interval (with a tenth's margin), each agency on its own bucket, and
// the bucket refilled by time.
func TestPacer(t *testing.T) {
	var p tracing.Pacer
	t0 := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	for i := range 6 {
		if got := p.Reserve("agency-b", 6, t0); got != 0 {
			t.Fatalf("query %d of the burst: wait %s, want 0", i+1, got)
		}
	}
	for _, tc := range []struct {
		agency string
		at     time.Duration
		want   time.Duration
	}{
		{"agency-b", 0, 11 * time.Second}, // one interval (10 s) and a tenth
		{"agency-b", 0, 22 * time.Second}, // the next one behind it
		{"agency-c", 0, 0},                // another agency, its own bucket
		{"agency-b", 2 * time.Minute, 0},  // refilled
		{"agency-b", 2 * time.Minute, 0},  // still in the refilled burst
	} {
		if got := p.Reserve(tc.agency, 6, t0.Add(tc.at)); got.Round(time.Millisecond) != tc.want {
			t.Errorf("%s at +%s: wait %s, want %s", tc.agency, tc.at, got, tc.want)
		}
	}
}
