package audit

import (
	"context"
	"sync"
	"time"

	"github.com/cpx-node/cpx/node/store"
)

// Summary bounds the audit entries a repeated event writes (a stranger's
// refused handshakes, a partner's refused envelopes or queries): per key
// (a source and an action), the first Burst events of each Interval are
// recorded in full, the others only counted, and when the interval ends
// one entry with the action suffixed ".summary" records how many were
// left out (its details: the count). At most MaxKeys keys are tracked;
// events of any further key share the key "other". The zero value is not
// usable: fill Store.
type Summary struct {
	Store    store.Store
	Interval time.Duration // default one minute
	Burst    int           // default 5
	MaxKeys  int           // default 1024

	mu sync.Mutex
	m  map[string]*bucket
}

type bucket struct {
	start   time.Time
	n       int   // events recorded in full in this interval
	dropped int   // events counted only
	last    Event // the last event counted, for the summary
}

// Record records ev under key at now, in full or only counted. It reports
// whether ev was recorded in full.
func (s *Summary) Record(ctx context.Context, now time.Time, key string, ev Event) (bool, error) {
	interval, burst, maxKeys := s.limits()
	s.mu.Lock()
	if s.m == nil {
		s.m = map[string]*bucket{}
	}
	b, ok := s.m[key]
	if !ok && len(s.m) >= maxKeys {
		key = "other"
		b, ok = s.m[key]
	}
	var flush []summaryEntry
	if ok && now.Sub(b.start) >= interval {
		if b.dropped > 0 {
			flush = append(flush, summaryEntry{b.last, b.dropped, now})
		}
		ok = false
	}
	if !ok {
		b = &bucket{start: now}
		s.m[key] = b
	}
	full := b.n < burst
	if full {
		b.n++
	} else {
		b.dropped++
		b.last = ev
	}
	s.mu.Unlock()
	if err := s.write(ctx, flush); err != nil {
		return full, err
	}
	if !full {
		return false, nil
	}
	return true, Record(ctx, s.Store, now, ev)
}

// Flush writes the summaries of the intervals that ended by now and
// forgets their keys.
func (s *Summary) Flush(ctx context.Context, now time.Time) error {
	interval, _, _ := s.limits()
	var flush []summaryEntry
	s.mu.Lock()
	for k, b := range s.m {
		if now.Sub(b.start) < interval {
			continue
		}
		if b.dropped > 0 {
			flush = append(flush, summaryEntry{b.last, b.dropped, now})
		}
		delete(s.m, k)
	}
	s.mu.Unlock()
	return s.write(ctx, flush)
}

// Run flushes every interval until ctx is done, then once more.
func (s *Summary) Run(ctx context.Context) {
	interval, _, _ := s.limits()
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			_ = s.Flush(context.WithoutCancel(ctx), time.Now().Add(interval))
			return
		case now := <-t.C:
			_ = s.Flush(ctx, now)
		}
	}
}

type summaryEntry struct {
	ev    Event
	count int
	at    time.Time
}

func (s *Summary) write(ctx context.Context, entries []summaryEntry) error {
	if len(entries) == 0 {
		return nil
	}
	return s.Store.Update(ctx, func(w store.Writer) error {
		for _, e := range entries {
			ev := e.ev
			ev.Action += ".summary"
			ev.Details = map[string]any{"left_out": e.count}
			if _, err := Append(w, e.at, ev); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Summary) limits() (time.Duration, int, int) {
	interval, burst, maxKeys := s.Interval, s.Burst, s.MaxKeys
	if interval <= 0 {
		interval = time.Minute
	}
	if burst <= 0 {
		burst = 5
	}
	if maxKeys <= 0 {
		maxKeys = 1024
	}
	return interval, burst, maxKeys
}
