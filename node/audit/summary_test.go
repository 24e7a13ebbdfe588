package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/memstore"
)

func TestSummaryBoundsEntries(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	s := &audit.Summary{Store: st, Interval: time.Minute, Burst: 3, MaxKeys: 2}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ev := audit.Event{Actor: "peer:x", Action: "peer.refused", Outcome: audit.Denied}
	for i := range 100 {
		// Three sources, one more than MaxKeys: the third shares "other".
		key := []string{"a", "b", "c"}[i%3]
		if _, err := s.Record(ctx, t0.Add(time.Duration(i)*time.Millisecond), key, ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(ctx, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	var full, summaries int
	err := st.View(ctx, func(r store.Reader) error {
		return audit.Scan(r, func(e audit.Entry) error {
			switch e.Action {
			case "peer.refused":
				full++
			case "peer.refused.summary":
				summaries++
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if full != 9 || summaries != 3 {
		t.Errorf("got %d entries in full and %d summaries, want 9 and 3", full, summaries)
	}
}
