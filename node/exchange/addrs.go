package exchange

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// Following peers that move. A peer announces its own addresses, signed,
// whenever the nodes connect (the transport checks the signature and that
// the announcement came from the peer it is about, then calls
// PeerAnnounced); on start the node greets every peer, so a node that
// restarted somewhere else tells its partners at once. A new connection
// (PeerConnected), a successful greeting and `cpx outbox retry` make the
// peer's waiting envelopes due now.

// Bounds on an announcement.
const (
	maxAnnouncedAddrs = 16
	maxAddrLen        = 256
	// A lower sequence number than the stored one is refused, unless the
	// stored announcement is older than this: the peer's clock was set back.
	announceClockSlack = 10 * time.Minute
)

// PeerAnnounced records addrs as the addresses of the node peerID, as that
// node announced them itself with sequence number seq. The caller must
// have checked that the node signed them and sent them over a connection
// authenticated as peerID: this changes only the peer with that id, so no
// node can announce addresses for another. An unknown node, a malformed
// address or an announcement older than the stored one is refused.
func (s *Service) PeerAnnounced(ctx context.Context, peerID string, addrs []string, seq uint64) error {
	if len(addrs) == 0 || len(addrs) > maxAnnouncedAddrs {
		return fmt.Errorf("%w: %d announced addresses", ErrInvalid, len(addrs))
	}
	for _, a := range addrs {
		if !strings.HasPrefix(a, "/") || len(a) > maxAddrLen || strings.Contains(a, "/p2p/") {
			return fmt.Errorf("%w: announced address %.80q", ErrInvalid, a)
		}
	}
	now := s.now().UTC()
	var refused error
	err := s.store.Update(ctx, func(w store.Writer) error {
		refused = nil
		p, ok, err := s.peerByID(w, peerID)
		if err != nil {
			return err
		}
		if !ok {
			refused = fmt.Errorf("%w: addresses announced by unknown node %s", ErrDenied, peerID)
			return nil
		}
		if seq < p.AnnouncedSeq && now.Sub(p.AnnouncedAt) < announceClockSlack {
			refused = fmt.Errorf("%w: %s announced addresses older than those it announced at %s", ErrRefused, p.Agency, p.AnnouncedAt.Format(time.RFC3339))
			return nil
		}
		previous := p.Announced
		p.Announced, p.AnnouncedSeq, p.AnnouncedAt = slices.Clone(addrs), seq, now
		p.LastSeen, p.LastError, p.LastErrorAt = now, "", time.Time{}
		if err := putJSON(w, key(prefixPeer, p.Agency), p); err != nil {
			return err
		}
		if slices.Equal(previous, addrs) {
			return nil
		}
		_, err = audit.Append(w, now, audit.Event{Actor: "peer:" + p.Agency, Action: "peer.addrs", Object: "agency/" + p.Agency,
			Details: map[string]any{"addrs": addrs, "previous": previous}})
		return err
	})
	if err != nil {
		return err
	}
	if refused != nil {
		_ = audit.Record(ctx, s.store, now, audit.Event{Actor: "peer:" + peerID, Action: "peer.addrs", Object: "peer/" + peerID, Outcome: audit.Denied, Details: refused.Error()})
		return refused
	}
	return nil
}

// PeerConnected is called when a connection to the node peerID opens:
// its waiting envelopes become due now.
func (s *Service) PeerConnected(ctx context.Context, peerID string) {
	var agency string
	_ = s.store.View(ctx, func(r store.Reader) error {
		p, ok, err := s.peerByID(r, peerID)
		if ok {
			agency = p.Agency
		}
		return err
	})
	if agency != "" {
		s.rush(agency)
	}
}

// rush makes the envelopes waiting for agency ("" for every peer) due at
// the deliverer's next round, and wakes it.
func (s *Service) rush(agency string) {
	s.rushMu.Lock()
	if agency == "" {
		s.rushAll = true
	} else {
		if s.rushed == nil {
			s.rushed = map[string]bool{}
		}
		s.rushed[agency] = true
	}
	s.rushMu.Unlock()
	s.poke()
}

// takeRush returns and forgets what rush asked for.
func (s *Service) takeRush() (all bool, agencies map[string]bool) {
	s.rushMu.Lock()
	defer s.rushMu.Unlock()
	all, agencies = s.rushAll, s.rushed
	s.rushAll, s.rushed = false, nil
	return all, agencies
}

// RetryOutbox makes the envelopes waiting for agency ("" for every peer)
// due now and wakes the deliverer. It returns how many are waiting.
func (s *Service) RetryOutbox(ctx context.Context, sub policy.Subject, agency string) (int, error) {
	object := "outbox"
	if agency != "" {
		object = "agency/" + agency
	}
	if err := s.authorize(ctx, sub, policy.ResourceExchange, policy.ActionList, "outbox.retry", object); err != nil {
		return 0, err
	}
	n := 0
	err := s.store.View(ctx, func(r store.Reader) error {
		if agency != "" {
			if _, err := s.peer(r, agency); err != nil {
				return err
			}
		}
		return r.Scan(prefixOutbox, store.ScanOptions{}, func(_, v []byte) error {
			var e OutboxEntry
			if err := unmarshal(v, &e); err != nil {
				return err
			}
			if agency == "" || e.Peer == agency {
				n++
			}
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	if err := audit.Record(ctx, s.store, s.now(), audit.Event{Actor: sub.User, Action: "outbox.retry", Object: object, Details: n}); err != nil {
		return 0, err
	}
	s.rush(agency)
	return n, nil
}

// greetPeers greets every peer once, so that each learns where this node
// is now and which keys it holds. Peers that cannot be reached are tried
// again with backoff until each has been greeted, or ctx is done.
func (s *Service) greetPeers(ctx context.Context) {
	greeted := map[string]bool{}
	for round := 0; ; round++ {
		peers, err := s.listPeers(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("listing peers to greet", "err", err)
		}
		waiting := 0
		for _, p := range peers {
			if greeted[p.Agency] || ctx.Err() != nil {
				continue
			}
			gctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			err := s.Greet(gctx, p.Agency)
			cancel()
			if err != nil {
				waiting++
				if round == 0 {
					s.log.Info("peer not reachable; trying again", "agency", p.Agency, "err", err)
				}
				continue
			}
			greeted[p.Agency] = true
			s.rush(p.Agency)
		}
		if waiting == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff(round)):
		}
	}
}
