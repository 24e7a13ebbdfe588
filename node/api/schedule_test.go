package api

import (
	"testing"
	"time"
)

func TestPreviousPeriod(t *testing.T) {
	for _, tc := range []struct {
		freq, now, period, due string
	}{
		{"monthly", "2026-12-03", "2026-11", "2026-12-03"},
		{"monthly", "2026-01-15", "2025-12", "2026-01-03"},
		{"", "2026-03-01", "2026-02", "2026-03-03"},
		{"quarterly", "2026-11-20", "2026-Q3", "2026-10-03"},
		{"quarterly", "2026-02-01", "2025-Q4", "2026-01-03"},
		{"yearly", "2026-06-01", "2025", "2026-01-03"},
	} {
		now, _ := time.Parse(time.DateOnly, tc.now)
		p, due := previousPeriod(tc.freq, now, 3)
		if p != tc.period || due.Format(time.DateOnly) != tc.due {
			t.Errorf("%s on %s: got %s due %s, want %s due %s", tc.freq, tc.now, p, due.Format(time.DateOnly), tc.period, tc.due)
		}
	}
}
