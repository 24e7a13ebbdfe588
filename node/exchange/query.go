package exchange

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cpx-node/cpx/crypto/envelope"
	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// PurposeTracing is the ISP purpose of federated family tracing.
const PurposeTracing = "tracing"

// ErrRateLimited is returned to a peer that asks more than its share.
var ErrRateLimited = errors.New("too many queries: try again later")

// QueryHandler answers a query from agency `from` under isp. It returns
// the answer's plaintext.
type QueryHandler func(ctx context.Context, from string, isp *policy.ISP, payload []byte) ([]byte, error)

// Target is a peer this agency may query for tracing, under an ISP.
type Target struct {
	Agency string
	ISP    *policy.ISP
}

// OnQuery registers the handler of incoming tracing queries; without one,
// queries are refused.
func (s *Service) OnQuery(h QueryHandler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queryHandler = h
}

// TracingTargets lists the peers that an ISP in force lets this agency ask
// for tracing, each with the first such ISP.
func (s *Service) TracingTargets(ctx context.Context) ([]Target, error) {
	var out []Target
	err := s.store.View(ctx, func(r store.Reader) error {
		isps, err := s.allISPs(r, s.now())
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, in := range isps {
			if !in.InForce {
				continue
			}
			for _, rule := range in.ISP.Purposes {
				if rule.Name != PurposeTracing || !listedOrAny(rule.From, s.agency) {
					continue
				}
				for _, party := range in.ISP.Parties {
					a := party.Agency
					if a == s.agency || seen[a] || !listedOrAny(rule.To, a) {
						continue
					}
					if _, err := s.peer(r, a); err != nil {
						continue // a party this node has no peer for
					}
					seen[a] = true
					out = append(out, Target{Agency: a, ISP: in.ISP})
				}
			}
		}
		return nil
	})
	return out, err
}

func listedOrAny(list []string, agency string) bool {
	return slices.Contains(list, agency) || slices.Contains(list, policy.AnyParty)
}

// Query seals payload to agency `to` under isp for purpose tracing, asks
// it, and returns the opened answer. Both the question and the answer are
// audited (without their content).
func (s *Service) Query(ctx context.Context, to string, isp *policy.ISP, payload []byte) ([]byte, error) {
	now := s.now().UTC()
	p, err := s.getPeer(ctx, to)
	if err != nil {
		return nil, err
	}
	theirs, ok := p.current(now)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoKeys, to)
	}
	h := envelope.Header{
		Sender: s.agency, Recipient: to, Purpose: PurposeTracing, ISP: isp.ID, ISPVersion: isp.Version,
		Created: now, Expires: now.Add(10 * time.Minute), ContentType: "application/vnd.cpx.tracing-query+json",
	}
	mine := s.currentKey()
	env, err := envelope.Seal(rand.Reader, h, payload, mine, theirs)
	if err != nil {
		return nil, err
	}
	raw, err := env.MarshalBinary()
	if err != nil {
		return nil, err
	}
	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	resp, err := s.transport.Query(qctx, p.PeerID, p.DialAddrs(), raw)
	cancel()
	outcome := audit.OK
	if err != nil {
		outcome = audit.Failed
	}
	_ = audit.Record(ctx, s.store, now, audit.Event{Actor: "node", Action: "tracing.query.sent", Object: "agency/" + to, Outcome: outcome, Details: h.ID})
	if err != nil {
		return nil, err
	}
	answer, err := envelope.Unmarshal(resp)
	if err != nil {
		return nil, err
	}
	ah := answer.Header
	if ah.Sender != to || ah.Recipient != s.agency || ah.Purpose != PurposeTracing || ah.ISP != isp.ID {
		return nil, fmt.Errorf("%w: answer from %s does not match the question", ErrUnexpected, to)
	}
	key, ok := s.keyByFingerprint(ah.RecipientKey)
	if !ok {
		return nil, envelope.ErrWrongRecipient
	}
	sender, ok := p.keyByFingerprint(ah.SenderKey)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownKey, ah.SenderKey)
	}
	return envelope.Open(answer, key, sender, s.now())
}

// HandleQuery answers a sealed query from the node peerID: a
// size limit, then the per-peer rate limit of the ISP the query names (policy
// ISP.TracingRate) before any signature or decryption, then the same checks
// as Receive (known peer and sender, times within the query window, keys
// valid at creation, signatures, the envelope id as a nonce answered once,
// ISP in force here at that version and allowing the purpose from that
// agency to this one), decryption, then the registered handler; the answer
// is sealed back. Refusals are audited, repeated ones summarised.
func (s *Service) HandleQuery(ctx context.Context, peerID string, raw []byte) ([]byte, error) {
	now := s.now().UTC()
	refuse := func(from string, err error) ([]byte, error) {
		s.refusePeer(ctx, now, audit.Event{Actor: "peer:" + from, Action: "tracing.query.refused", Object: "peer/" + peerID, Outcome: audit.Denied, Details: err.Error()})
		return nil, err
	}
	// Before any work: the size; then, once the peer and the ISP the
	// query names are looked up, the rate that ISP sets (the default for
	// an unknown peer, an unknown ISP or one that does not bind the peer),
	// before any signature is checked or anything decrypted.
	if len(raw) > MaxQueryBytes {
		if !s.queries.allowAt(peerID, now, perSecond(policy.DefaultQueriesPerMinute), policy.DefaultQueriesPerMinute) {
			return refuse(peerID, ErrRateLimited)
		}
		return refuse(peerID, fmt.Errorf("%w: query of %d bytes, at most %d", envelope.ErrMalformed, len(raw), MaxQueryBytes))
	}
	env, uerr := envelope.Unmarshal(raw)
	var h envelope.Header
	var p Peer
	var known bool
	var in ISPInfo
	if uerr == nil {
		h = env.Header
		err := s.store.View(ctx, func(r store.Reader) error {
			var err error
			if p, known, err = s.peerByID(r, peerID); err != nil || !known {
				return err
			}
			in, err = s.isp(r, h.ISP, now)
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	rate := policy.DefaultQueriesPerMinute
	if known && in.ISP != nil && in.InForce && slices.ContainsFunc(in.ISP.Parties, func(pt policy.Party) bool { return pt.Agency == p.Agency }) {
		rate = in.ISP.TracingRate()
	}
	if !s.queries.allowAt(peerID, now, perSecond(rate), float64(rate)) {
		who := peerID
		if known {
			who = p.Agency
		}
		return refuse(who, ErrRateLimited)
	}
	switch {
	case uerr != nil:
		return refuse(peerID, uerr)
	case !known:
		return refuse(peerID, fmt.Errorf("%w %s", ErrUnknownPeer, peerID))
	case h.Sender != p.Agency:
		return refuse(p.Agency, fmt.Errorf("%w: query from %q by the node of %q", ErrSenderMatch, h.Sender, p.Agency))
	case h.Purpose != PurposeTracing:
		return refuse(p.Agency, fmt.Errorf("%w: purpose %q", ErrUnexpected, h.Purpose))
	}
	// The time window: a query is valid for at most queryWindow, from
	// about now.
	if err := s.checkTimes(h, now); err != nil {
		return refuse(p.Agency, err)
	}
	if h.Expires.Sub(h.Created) > queryWindow || h.Created.Before(now.Add(-queryWindow-envelope.ClockSkew)) {
		return refuse(p.Agency, fmt.Errorf("%w: a query is valid for at most %s from its creation", ErrLifetime, queryWindow))
	}
	mine, err := s.ownKey(h.Recipient, h.RecipientKey, h.Created)
	if err != nil {
		return refuse(p.Agency, err)
	}
	theirs, err := p.senderKey(h.SenderKey, h.Created)
	if err != nil {
		return refuse(p.Agency, err)
	}
	sealed, err := envelope.Verify(env, theirs)
	if err != nil {
		return refuse(p.Agency, err)
	}
	// The envelope id is the query's nonce: each is answered once.
	if !s.queryNonces.add(p.Agency+"/"+h.ID, h.Expires.Add(envelope.ClockSkew), now) {
		s.refusePeer(ctx, now, audit.Event{Actor: "peer:" + p.Agency, Action: "tracing.query.replayed", Object: "envelope/" + h.ID, Outcome: audit.Denied})
		return nil, fmt.Errorf("%w: query %s answered already", ErrReplay, h.ID)
	}
	if in.ISP == nil || !in.InForce || in.ISP.Version != h.ISPVersion {
		return refuse(p.Agency, fmt.Errorf("%w: %s version %d", ErrISP, h.ISP, h.ISPVersion))
	}
	if err := policy.CheckProjection(in.ISP, p.Agency, s.agency, PurposeTracing, nil, s.formFields); err != nil {
		return refuse(p.Agency, fmt.Errorf("%w: %v", ErrRefused, err))
	}
	plain, err := sealed.Open(mine, now)
	if err != nil {
		return refuse(p.Agency, err)
	}
	s.mu.RLock()
	handler := s.queryHandler
	s.mu.RUnlock()
	if handler == nil {
		return refuse(p.Agency, fmt.Errorf("%w: this node does not answer tracing queries", ErrRefused))
	}
	answer, err := handler(ctx, p.Agency, in.ISP, plain)
	if err != nil {
		return refuse(p.Agency, err)
	}
	rh := envelope.Header{
		ID: "", Sender: s.agency, Recipient: p.Agency, Purpose: PurposeTracing, ISP: h.ISP, ISPVersion: h.ISPVersion,
		Created: now, Expires: now.Add(10 * time.Minute), ContentType: "application/vnd.cpx.tracing-answer+json",
	}
	to, ok := p.current(now)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoKeys, p.Agency)
	}
	out, err := envelope.Seal(rand.Reader, rh, answer, s.currentKey(), to)
	if err != nil {
		return nil, err
	}
	_ = audit.Record(ctx, s.store, now, audit.Event{Actor: "peer:" + p.Agency, Action: "tracing.query.answered", Object: "agency/" + p.Agency, Details: h.ID})
	return out.MarshalBinary()
}

// perSecond converts a rate per minute to one per second.
func perSecond(perMinute int) float64 { return float64(perMinute) / 60 }

// queryWindow is the longest validity of a tracing query.
const queryWindow = 10 * time.Minute

// nonces remembers the ids of answered queries until they expire. It
// holds at most maxNonces (the rate limit keeps it far below).
type nonces struct {
	mu sync.Mutex
	m  map[string]time.Time
}

const maxNonces = 1 << 16

// add records id until expires and reports whether it was new.
func (n *nonces) add(id string, expires, now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m == nil {
		n.m = map[string]time.Time{}
	}
	if len(n.m) >= maxNonces/2 {
		for k, e := range n.m {
			if now.After(e) {
				delete(n.m, k)
			}
		}
	}
	if _, ok := n.m[id]; ok {
		return false
	}
	if len(n.m) >= maxNonces {
		return false // full of live nonces: refuse rather than forget one
	}
	n.m[id] = expires
	return true
}
