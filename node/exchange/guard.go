package exchange

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cpx-node/cpx/crypto/envelope"
	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/store"
)

// Limits a peer meets before the node spends work on what it sends
// (docs/federation.md, "Attacks and what stops them"). Each is checked
// before decoding, looking anything up or decrypting.
const (
	// DefaultMaxEnvelopeBytes bounds an envelope delivered by a peer
	// (Options.MaxEnvelopeBytes): four times the default largest case
	// record, far below envelope.MaxSize.
	DefaultMaxEnvelopeBytes = 4 << 20
	// MaxHelloBytes bounds a Hello request, MaxHelloAnnouncements the key
	// announcements in it (each about 10 KiB).
	MaxHelloBytes         = 256 << 10
	MaxHelloAnnouncements = 8
	// MaxQueryBytes bounds a sealed tracing query.
	MaxQueryBytes = 1 << 20

	// Per-peer rates (per second) and bursts.
	DefaultDeliveryRate  = 2000.0
	DefaultDeliveryBurst = 2000.0
	helloRate            = 1.0
	helloBurst           = 10.0
	// Tracing queries: the rate of the ISP the query names
	// (policy.ISP.TracingRate, per minute, burst as many), checked once
	// the peer and that ISP are looked up and before any signature or
	// decryption; policy.DefaultQueriesPerMinute otherwise.
)

// limiter allows each peer a burst, refilled at rate per second. It keeps
// at most maxLimited peers (only peers through the gater reach it); past
// that it starts afresh.
type limiter struct {
	rate, burst float64

	mu     sync.Mutex
	tokens map[string]float64
	last   map[string]time.Time
}

const maxLimited = 4096

func (l *limiter) allow(peer string, now time.Time) bool {
	return l.allowAt(peer, now, l.rate, l.burst)
}

// allowAt is allow at a given rate and burst (the peer's, looked up by
// the caller).
func (l *limiter) allowAt(peer string, now time.Time, rate, burst float64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tokens == nil || len(l.tokens) >= maxLimited {
		l.tokens, l.last = map[string]float64{}, map[string]time.Time{}
	}
	t, seen := l.tokens[peer]
	if !seen {
		t = burst
	} else {
		t = min(burst, t+now.Sub(l.last[peer]).Seconds()*rate)
	}
	l.last[peer] = now
	if t < 1 {
		l.tokens[peer] = t
		return false
	}
	l.tokens[peer] = t - 1
	return true
}

// checkPurposeSize refuses, before decryption, an envelope of a purpose no
// peer message travels under, or whose ciphertext is over the limit.
func (s *Service) checkPurposeSize(purpose string, ciphertext int) error {
	switch purpose {
	case KindReferral, KindTransfer, PurposeTracing, KindAggregate:
	default:
		return fmt.Errorf("%w: no message travels under purpose %q", ErrUnexpected, purpose)
	}
	if ciphertext > s.maxEnvelope {
		return fmt.Errorf("%w: ciphertext of %d bytes, at most %d", envelope.ErrMalformed, ciphertext, s.maxEnvelope)
	}
	return nil
}

// refusePeer audits a peer's refusal. Refusals of one kind from one peer are
// summarised: the first few each minute in full, the rest in one summary
// entry (audit.Summary), so that a flood cannot fill the audit log.
func (s *Service) refusePeer(ctx context.Context, now time.Time, ev audit.Event) {
	k := ev.Actor + "|" + ev.Action
	if d, ok := ev.Details.(string); ok {
		k += "|" + reasonClass(d)
	}
	if _, err := s.refusals.Record(ctx, now, k, ev); err != nil {
		s.log.Warn("auditing a refusal", "err", err)
	}
}

// reasonClass is the kind of a refusal's reason: its text up to the
// second colon, without digits (sizes, times and ids vary within a kind).
func reasonClass(reason string) string {
	parts := strings.SplitN(reason, ":", 3)
	c := strings.Join(parts[:min(2, len(parts))], ":")
	c = strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return -1
		}
		return r
	}, c)
	if len(c) > 64 {
		c = c[:64]
	}
	return c
}

// pruneSeen forgets the replay guard's entries of envelopes that expired
// (checkTimes refuses them anyway).
func (s *Service) pruneSeen(ctx context.Context) error {
	cutoff := s.now().UTC().Add(-envelope.ClockSkew)
	var old [][]byte
	err := s.store.View(ctx, func(r store.Reader) error {
		return r.Scan(prefixSeenBy, store.ScanOptions{}, func(k, v []byte) error {
			var e seen
			if err := unmarshal(v, &e); err == nil && e.Expires.Before(cutoff) {
				old = append(old, bytes.Clone(k))
			}
			return nil
		})
	})
	if err != nil || len(old) == 0 {
		return err
	}
	return s.store.Update(ctx, func(w store.Writer) error {
		for _, k := range old {
			if err := w.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}
