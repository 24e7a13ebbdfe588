package exchange

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cpx-node/cpx/crypto/agencykey"
	"github.com/cpx-node/cpx/crypto/envelope"
	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/store"
)

// Key and envelope lifetimes (docs/federation.md, "Key lifecycle").
const (
	// DefaultMaxEnvelopeLifetime is the longest an envelope may be valid
	// (Expires - Created) unless Options.MaxEnvelopeLifetime says
	// otherwise. An envelope valid for longer is refused.
	DefaultMaxEnvelopeLifetime = 30 * 24 * time.Hour
	// DefaultKeyGrace is how long after its successor's validity began an
	// own superseded key still opens envelopes newly sealed to it (peers
	// that did not hear of the rotation yet) unless Options.KeyGrace says
	// otherwise.
	DefaultKeyGrace = 7 * 24 * time.Hour
	// KeyOverlap is how long after its successor's validity began a peer's
	// superseded key still signs envelopes and receipts that this node
	// accepts. A node signs with its newest key from the moment it
	// rotates; the successor's validity begins an hour before that.
	KeyOverlap = 2 * time.Hour
)

// Errors of the key lifecycle.
var (
	// ErrKeyNotValid: the envelope (or receipt) was created when the key
	// it names was not valid: before its validity, after it, or after the
	// key was superseded (beyond KeyOverlap or the key grace).
	ErrKeyNotValid = errors.New("key not valid when the envelope was created")
	// ErrLifetime: the envelope is valid for longer than the node allows.
	ErrLifetime = errors.New("envelope lifetime over the limit")
)

// checkTimes refuses an envelope created in the future (beyond
// envelope.ClockSkew), expired, or valid for longer than the maximum
// lifetime. It runs before any key is looked up.
func (s *Service) checkTimes(h envelope.Header, now time.Time) error {
	switch {
	case h.Created.After(now.Add(envelope.ClockSkew)):
		return fmt.Errorf("%w: created in the future (%s, now is %s)", envelope.ErrExpired, h.Created.UTC().Format(time.RFC3339), now.Format(time.RFC3339))
	case !now.Before(h.Expires.Add(envelope.ClockSkew)):
		return fmt.Errorf("%w: expired %s, now is %s", envelope.ErrExpired, h.Expires.UTC().Format(time.RFC3339), now.Format(time.RFC3339))
	case h.Expires.Sub(h.Created) > s.maxLifetime:
		return fmt.Errorf("%w: valid for %s, at most %s", ErrLifetime, h.Expires.Sub(h.Created).Round(time.Second), s.maxLifetime)
	}
	return nil
}

// successorStart is when the validity of the next version after k began
// among keys, and whether there is one.
func successorStart(keys []agencykey.Public, k agencykey.Public) (time.Time, bool) {
	var start time.Time
	found := false
	for _, o := range keys {
		if o.Agency == k.Agency && o.Version > k.Version && (!found || o.NotBefore.Before(start)) {
			start, found = o.NotBefore, true
		}
	}
	return start, found
}

// keyValidAt checks that k was valid at t: within its window, and not
// superseded by a later version (of keys) for longer than grace.
func keyValidAt(keys []agencykey.Public, k agencykey.Public, t time.Time, grace time.Duration) error {
	if t.Before(k.NotBefore) || !t.Before(k.NotAfter) {
		return fmt.Errorf("%w: %s key v%d is valid from %s until %s, the message was created %s", ErrKeyNotValid,
			k.Agency, k.Version, k.NotBefore.UTC().Format(time.RFC3339), k.NotAfter.UTC().Format(time.RFC3339), t.UTC().Format(time.RFC3339))
	}
	if next, ok := successorStart(keys, k); ok && !t.Before(next.Add(grace)) {
		return fmt.Errorf("%w: %s key v%d was superseded at %s, the message was created %s", ErrKeyNotValid,
			k.Agency, k.Version, next.UTC().Format(time.RFC3339), t.UTC().Format(time.RFC3339))
	}
	return nil
}

// senderKey returns the key of peer p with fingerprint fp, checked valid at
// created.
func (p *Peer) senderKey(fp string, created time.Time) (agencykey.Public, error) {
	keys := p.Keys()
	for _, k := range keys {
		if k.Fingerprint() == fp {
			return k, keyValidAt(keys, k, created, KeyOverlap)
		}
	}
	return agencykey.Public{}, fmt.Errorf("%w: %s has not announced key %s", ErrUnknownKey, p.Agency, fp)
}

// ownKey returns this node's key that an envelope names as its
// recipient, checked valid at created (a superseded key for s.keyGrace).
// A retired key is unknown.
func (s *Service) ownKey(recipient, fp string, created time.Time) (*agencykey.Private, error) {
	mine, ok := s.keyByFingerprint(fp)
	if recipient != s.agency || !ok {
		return nil, fmt.Errorf("%w: envelope for %s key %s", envelope.ErrWrongRecipient, recipient, fp)
	}
	if err := keyValidAt(s.ownPublic(), mine.Public(), created, s.keyGrace); err != nil {
		return nil, fmt.Errorf("%w: %w", envelope.ErrWrongRecipient, err)
	}
	return mine, nil
}

func (s *Service) ownPublic() []agencykey.Public {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]agencykey.Public, 0, len(s.byFP))
	for _, k := range s.byFP {
		out = append(out, k.Public())
	}
	return out
}

// retireAfter is how long after its successor began an own key is kept:
// long enough to open every envelope sealed to it that this node may still
// accept (the key grace, then the longest lifetime of an envelope created
// within it).
func (s *Service) retireAfter() time.Duration {
	return s.keyGrace + s.maxLifetime + envelope.ClockSkew
}

// RetireKeys deletes the node's own keys that can no longer open any
// envelope this node accepts: superseded for longer than the key grace
// plus the maximum envelope lifetime, or expired for longer than the
// maximum envelope lifetime. The current key is never retired. Each
// retirement is audited. It returns the retired versions.
func (s *Service) RetireKeys(ctx context.Context) ([]uint32, error) {
	now := s.now().UTC()
	pubs := s.ownPublic()
	cur := s.currentKey()
	var retire []*agencykey.Private
	s.mu.RLock()
	for _, k := range s.byFP {
		if k == cur {
			continue
		}
		pub := k.Public()
		next, superseded := successorStart(pubs, pub)
		if superseded && now.After(next.Add(s.retireAfter())) || now.After(pub.NotAfter.Add(s.maxLifetime+envelope.ClockSkew)) {
			retire = append(retire, k)
		}
	}
	s.mu.RUnlock()
	if len(retire) == 0 {
		return nil, nil
	}
	var out []uint32
	err := s.store.Update(ctx, func(w store.Writer) error {
		for _, k := range retire {
			if err := w.Delete(key(prefixKey, fmt.Sprintf("%010d", k.Version()))); err != nil {
				return err
			}
			if _, err := audit.Append(w, now, audit.Event{Actor: "node", Action: "keys.retire", Object: "agency/" + s.agency,
				Details: map[string]any{"version": k.Version(), "fingerprint": k.Fingerprint()}}); err != nil {
				return err
			}
			out = append(out, k.Version())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	for _, k := range retire {
		delete(s.byFP, k.Fingerprint())
	}
	s.mu.Unlock()
	return out, nil
}
