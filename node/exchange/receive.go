package exchange

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cpx-node/cpx/crypto/agencykey"
	"github.com/cpx-node/cpx/crypto/envelope"
	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// Errors a receiver refuses envelopes with, beyond crypto/envelope's own.
var (
	ErrUnknownPeer   = errors.New("unknown peer")
	ErrSenderMatch   = errors.New("sender does not match the calling node")
	ErrUnknownKey    = errors.New("unknown key")
	ErrISP           = errors.New("ISP not in force here")
	ErrBadMessage    = errors.New("malformed message")
	ErrUnexpected    = errors.New("unexpected message")
	ErrOutsideFields = errors.New("field outside the ISP projection")
)

// Hello answers a peer's key announcements with ours.
func (s *Service) Hello(ctx context.Context, peerID string, announcements [][]byte) ([][]byte, error) {
	now := s.now().UTC()
	if !s.hellos.allow(peerID, now) {
		s.refusePeer(ctx, now, audit.Event{Actor: "peer:" + peerID, Action: "peer.hello.rate_limited", Object: "peer/" + peerID, Outcome: audit.Denied})
		return nil, ErrRateLimited
	}
	if err := s.learn(ctx, peerID, announcements); err != nil {
		s.refusePeer(ctx, now, audit.Event{Actor: "peer:" + peerID, Action: "peer.hello", Object: "peer/" + peerID, Outcome: audit.Denied, Details: err.Error()})
		return nil, err
	}
	return s.announcements()
}

// Receive handles an envelope delivered by the node peerID and returns a
// signed receipt. The checks run cheapest first and nothing is decrypted
// or looked up by id before the signature verifies: per-peer rate, size
// for the purpose, form, known peer and sender, times and lifetime, keys
// valid when the envelope was created, signatures, then the replay guard
// (per sender: the same envelope again gets the first receipt back and
// changes nothing; another envelope under a used id is refused as an
// attack), ISP, decryption and the message. Every refusal is audited
// (repeated ones summarised, see refuse) and leaves no other state.
func (s *Service) Receive(ctx context.Context, peerID string, raw []byte) ([]byte, error) {
	now := s.now().UTC()
	a := s.screen(peerID, raw, now)
	if _, err := s.receiveBatch(ctx, peerID, []*arrival{a}, now); err != nil {
		a.receipt, a.refused, a.action = nil, err, ""
	}
	if a.refused != nil {
		s.auditRefusal(ctx, peerID, a, now)
		return nil, a.refused
	}
	return a.receipt, nil
}

// ErrReplay is a reused envelope id with a different body.
var ErrReplay = errors.New("envelope id used already for another envelope")

// seen is what the replay guard keeps of an accepted envelope, under its
// sender and id, until it expires.
type seen struct {
	Digest  []byte    `json:"digest"`  // envelope.Digest
	Receipt []byte    `json:"receipt"` // the receipt returned
	Expires time.Time `json:"expires"` // the envelope's
}

// arrival is one delivered envelope on its way through the receiver's
// checks, and their outcome.
type arrival struct {
	raw    []byte
	env    *envelope.Envelope
	p      Peer
	mine   *agencykey.Private
	sealed *envelope.Verified
	digest [32]byte
	fresh  bool // the replay guard had not seen it
	in     ISPInfo
	inErr  error
	msg    Message
	opened bool

	// The outcome: the receipt, or the refusal and what to audit it as.
	receipt                []byte
	sender, object, action string
	refused                error
}

// maxReceiveTries bounds how often a receive is prepared again because
// the replay guard changed between its checks and its transaction.
const maxReceiveTries = 4

// screen makes the checks of an envelope from the node peerID that need
// no store: the peer's rate, the size, the encoding.
func (s *Service) screen(peerID string, raw []byte, now time.Time) *arrival {
	a := &arrival{raw: raw, object: "peer/" + peerID}
	if !s.deliveries.allow(peerID, now) {
		a.action, a.refused = "envelope.rate_limited", ErrRateLimited
		return a
	}
	if len(raw) > s.maxEnvelope {
		a.refused = fmt.Errorf("%w: %d bytes, this node takes at most %d", envelope.ErrMalformed, len(raw), s.maxEnvelope)
		return a
	}
	env, err := envelope.Unmarshal(raw)
	if err != nil {
		a.refused = err
		return a
	}
	a.env, a.object = env, "envelope/"+env.Header.ID
	return a
}

// check makes, within l's read transaction, every check of a before its
// decryption (a transaction waits for the commits under way): known
// peer and sender, size for the purpose, times and lifetime, keys valid
// when the envelope was created, both signatures, and only then, with the
// signatures verified, the replay guard and the ISP. It sets a.refused,
// and returns only the store's errors.
func (s *Service) check(l *lookups, peerID string, a *arrival) error {
	r, now := l.r, l.now
	h := a.env.Header
	p, known, err := l.peerByID(peerID)
	if err != nil {
		return err
	}
	a.p, a.sender = p, p.Agency
	switch {
	case !known:
		a.refused = fmt.Errorf("%w %s", ErrUnknownPeer, peerID)
		return nil
	case h.Sender != p.Agency:
		a.refused = fmt.Errorf("%w: envelope from %q delivered by the node of %q", ErrSenderMatch, h.Sender, p.Agency)
		return nil
	}
	if a.refused = s.checkPurposeSize(h.Purpose, len(a.env.Ciphertext)); a.refused != nil {
		return nil
	}
	if a.refused = s.checkTimes(h, now); a.refused != nil {
		return nil
	}
	if a.mine, a.refused = s.ownKey(h.Recipient, h.RecipientKey, h.Created); a.refused != nil {
		return nil
	}
	theirs, refused := p.senderKey(h.SenderKey, h.Created)
	if a.refused = refused; refused != nil {
		return nil
	}
	if a.sealed == nil {
		if a.sealed, a.refused = envelope.Verify(a.env, theirs); a.refused != nil {
			return nil
		}
		a.digest = a.sealed.Digest()
	}
	// The ISP is checked, the envelope opened and the receipt signed
	// before the write transaction, so that the store's writer (which
	// commits every caller's transaction) does not wait for them; that
	// transaction checks the replay guard and the ISP again. None of it
	// is done for an envelope the replay guard has seen already.
	var before seen
	err = getJSON(r, key(prefixSeenBy, p.Agency+"/"+h.ID), &before)
	if a.fresh = errors.Is(err, ErrNotFound); !a.fresh {
		return err
	}
	a.in, a.inErr = l.isp(h.ISP)
	return nil
}

// lookups looks applied ISPs and the calling peer up within one
// transaction, each once: a batch's envelopes mostly share both, and
// within a transaction they change only by its own writes, and receiving
// writes no ISP and no peer's keys (only when a peer was last seen).
type lookups struct {
	s    *Service
	r    store.Reader
	now  time.Time
	isps map[string]ispLookup
	peer *peerLookup
}

type ispLookup struct {
	in  ISPInfo
	err error
}

type peerLookup struct {
	id    string
	p     Peer
	known bool
}

func (s *Service) lookups(r store.Reader, now time.Time) *lookups {
	return &lookups{s: s, r: r, now: now}
}

// isp is Service.isp, once per id.
func (l *lookups) isp(id string) (ISPInfo, error) {
	if got, ok := l.isps[id]; ok {
		return got.in, got.err
	}
	in, err := l.s.isp(l.r, id, l.now)
	if l.isps == nil {
		l.isps = map[string]ispLookup{}
	}
	l.isps[id] = ispLookup{in, err}
	return in, err
}

// peerByID is Service.peerByID, once per peer id.
func (l *lookups) peerByID(peerID string) (Peer, bool, error) {
	if l.peer != nil && l.peer.id == peerID {
		return l.peer.p, l.peer.known, nil
	}
	p, known, err := l.s.peerByID(l.r, peerID)
	if err == nil {
		l.peer = &peerLookup{peerID, p, known}
	}
	return p, known, err
}

// open checks the ISP of a fresh envelope that passed check, decrypts it
// and decodes its message, or sets the refusal.
func (s *Service) open(a *arrival, now time.Time) {
	if !a.fresh || a.opened {
		return
	}
	if a.refused = refuseISP(a.in, a.inErr, a.env.Header); a.refused != nil {
		return
	}
	if a.msg, a.refused = s.openMessage(a.sealed, a.mine, now); a.refused != nil {
		return
	}
	a.opened = true
}

// take records a, which passed check and open, within w: the replay
// guard (the same envelope again gets its first receipt back and changes
// nothing; another envelope under a used id is refused as an attack),
// the ISP again, and the message, kept with signed, the receipt of the
// batch that took it. It reports whether a was taken as new, sets a's
// outcome, and returns only the store's errors, or errStale when the
// replay guard forgot the envelope since check (it is then prepared
// again).
func (s *Service) take(w store.Writer, l *lookups, a *arrival, signed []byte) (bool, error) {
	now := l.now
	h, p := a.env.Header, a.p
	a.receipt, a.refused, a.action = nil, nil, ""
	var prev seen
	err := getJSON(w, key(prefixSeenBy, p.Agency+"/"+h.ID), &prev)
	switch {
	case err == nil && bytes.Equal(prev.Digest, a.digest[:]):
		// A retry of a delivery that succeeded, or a replay: the first
		// receipt again, and nothing else changes.
		a.receipt = prev.Receipt
		_, err := audit.Append(w, now, audit.Event{Actor: "peer:" + p.Agency, Action: "envelope.replayed", Object: "envelope/" + h.ID})
		return false, err
	case err == nil:
		a.refused, a.action = fmt.Errorf("%w: %s reused id %s", ErrReplay, p.Agency, h.ID), "envelope.attack"
		return false, nil
	case !errors.Is(err, ErrNotFound):
		return false, err
	}
	if old, err := w.Get(key(prefixSeen, h.ID)); err == nil {
		// Accepted before the guard was kept per sender.
		a.receipt = old
		_, err := audit.Append(w, now, audit.Event{Actor: "peer:" + p.Agency, Action: "envelope.replayed", Object: "envelope/" + h.ID})
		return false, err
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	if !a.opened {
		// Seen when check ran, gone since (pruned): opened next time.
		return false, errStale
	}
	in, err := l.isp(h.ISP)
	if a.refused = refuseISP(in, err, h); a.refused != nil {
		return false, nil
	}
	msg := a.msg
	if !in.InForce && !strings.HasSuffix(msg.Kind, "."+string(Revoke)) {
		a.refused = fmt.Errorf("%w: %s version %d (%s); only a revocation is taken under it", ErrISP, h.ISP, h.ISPVersion, in.Problem)
		return false, nil
	}
	if a.refused = s.apply(w, p, in.ISP, h, msg, now); a.refused != nil {
		if msg.Kind == KindAggregate {
			a.action, a.object = "aggregate.refused", "exchange/"+msg.Exchange
		}
		return false, nil
	}
	a.receipt = signed
	if err := putJSON(w, key(prefixSeenBy, p.Agency+"/"+h.ID), seen{Digest: a.digest[:], Receipt: signed, Expires: h.Expires}); err != nil {
		return false, err
	}
	if err := s.markSeen(w, p.Agency, now); err != nil {
		return false, err
	}
	_, err = audit.Append(w, now, audit.Event{Actor: "peer:" + p.Agency, Action: "envelope.received", Object: "exchange/" + msg.Exchange,
		Details: map[string]any{"envelope": h.ID, "kind": msg.Kind, "isp": h.ISP, "isp_version": h.ISPVersion, "in_force_version": in.ISP.Version, "fields": fieldNames(msg.Fields)}})
	return true, err
}

// errStale ends a receive transaction whose preparation no longer holds.
var errStale = errors.New("the replay guard changed meanwhile")

// refuseISP says why an envelope with header h is refused under in, the
// ISP of its id applied here (err if there is none), or nil. The version
// the envelope names, or a newer one that supersedes it, must be in force
// here (docs/isp.md, "Renewal"). A revocation is also taken under a
// version whose validity period is over (checked again once the message
// is open).
func refuseISP(in ISPInfo, err error, h envelope.Header) error {
	if err != nil || !(in.InForce || in.Expired) || in.ISP.Version < h.ISPVersion {
		reason := "not applied"
		if err == nil {
			reason = fmt.Sprintf("applied version %d, in force %v", in.ISP.Version, in.InForce)
		}
		return fmt.Errorf("%w: %s version %d (%s)", ErrISP, h.ISP, h.ISPVersion, reason)
	}
	return nil
}

// openMessage decrypts a verified envelope and decodes its message, or
// returns the refusal.
func (s *Service) openMessage(sealed *envelope.Verified, mine *agencykey.Private, now time.Time) (Message, error) {
	var msg Message
	plain, err := sealed.Open(mine, now)
	if err != nil {
		return msg, err
	}
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&msg); err != nil {
		return msg, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	return msg, nil
}

// apply changes this node's state for a verified message, within w. It
// returns a refusal, or nil.
func (s *Service) apply(w store.Writer, p Peer, isp *policy.ISP, h envelope.Header, msg Message, now time.Time) error {
	if msg.Exchange == "" {
		return fmt.Errorf("%w: exchange id", ErrBadMessage)
	}
	if err := checkMetadata(msg); err != nil {
		return err
	}
	if msg.Kind == KindAggregate && h.Purpose == KindAggregate {
		return s.applyAggregate(w, p, isp, h.ID, msg, now)
	}
	if msg.Aggregate != nil {
		return fmt.Errorf("%w: a table in a %s", ErrUnexpected, msg.Kind)
	}
	kind, resp, isResponse := strings.Cut(msg.Kind, ".")
	if kind != KindReferral && kind != KindTransfer && kind != KindDisclosure || purposeOf(kind) != h.Purpose {
		return fmt.Errorf("%w: %q under purpose %q", ErrUnexpected, msg.Kind, h.Purpose)
	}
	var rec Record
	err := getJSON(w, key(prefixRecord, msg.Exchange), &rec)
	exists := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if !isResponse && kind == KindDisclosure {
		// A request to disclose the case behind one of our tracing answers.
		if exists {
			return fmt.Errorf("%w: exchange %s exists already", ErrUnexpected, msg.Exchange)
		}
		if len(msg.Fields) > 0 {
			return fmt.Errorf("%w: a disclosure request carries no case data", ErrOutsideFields)
		}
		s.mu.RLock()
		resolve := s.resolveHandle
		s.mu.RUnlock()
		if resolve == nil {
			return fmt.Errorf("%w: this node does not answer disclosure requests", ErrUnexpected)
		}
		caseID, err := resolve(w, msg.Handle, p.Agency)
		if err != nil {
			return fmt.Errorf("%w: handle: %v", ErrUnexpected, err)
		}
		rec = Record{
			ID: msg.Exchange, Kind: kind, Direction: Incoming, Peer: p.Agency, CaseID: caseID,
			Note: msg.Note, ISP: h.ISP, ISPVersion: h.ISPVersion, CreatedBy: msg.Actor, CreatedAt: now, Sync: SyncInSync,
			OwnerGroup: s.intake,
		}
		rec.RetentionDays, _ = isp.RetentionDays(purposeOf(kind))
		rec.event(now, StatusDelivered, msg.Actor, "")
		return s.putRecord(w, &rec)
	}
	if !isResponse {
		// An offer: a new incoming referral or transfer.
		if exists {
			return fmt.Errorf("%w: exchange %s exists already", ErrUnexpected, msg.Exchange)
		}
		if err := policy.CheckProjection(isp, p.Agency, s.agency, kind, msg.Fields, s.formFields); err != nil {
			return fmt.Errorf("%w: %v", ErrOutsideFields, err)
		}
		rec = Record{
			ID: msg.Exchange, Kind: kind, Direction: Incoming, Peer: p.Agency, CaseNumber: msg.CaseNumber,
			Service: msg.Service, Note: msg.Note, ISP: h.ISP, ISPVersion: h.ISPVersion, Fields: msg.Fields,
			ConsentOverridden: msg.ConsentOverridden, CreatedBy: msg.Actor, CreatedAt: now, Sync: SyncInSync,
			OwnerGroup: s.intake,
		}
		rec.RetentionDays, _ = isp.RetentionDays(purposeOf(kind))
		rec.event(now, StatusDelivered, msg.Actor, "")
		if err := s.putRecord(w, &rec); err != nil {
			return err
		}
		// The intake group learns that it waits, by exchange id only.
		return s.notifyGroup(w, s.intake, casework.Notice{Kind: casework.NoticeReferralReceived, Type: kind,
			Exchange: rec.ID, Actor: p.Agency, At: now})
	}
	if msg.Kind == KindDisclosure+"."+string(Accept) {
		// The disclosed case: within the tracing projection, from that
		// agency to this one.
		if err := policy.CheckProjection(isp, p.Agency, s.agency, PurposeTracing, msg.Fields, s.formFields); err != nil {
			return fmt.Errorf("%w: %v", ErrOutsideFields, err)
		}
	} else if len(msg.Fields) > 0 {
		return fmt.Errorf("%w: a %s carries no case data", ErrOutsideFields, msg.Kind)
	}
	if !exists || rec.Peer != p.Agency || rec.Kind != kind {
		return fmt.Errorf("%w: %s for an exchange this node did not have with %s", ErrUnexpected, msg.Kind, p.Agency)
	}
	t, ok := transitions[Response(resp)]
	// The peer's response arrives on the other side: what is incoming there
	// is outgoing here.
	wantDirection := Outgoing
	if t.direction == Outgoing {
		wantDirection = Incoming
	}
	if !ok || rec.Direction != wantDirection || !contains(t.kinds, rec.Kind) {
		return fmt.Errorf("%w: %s", ErrUnexpected, msg.Kind)
	}
	// The sender records "delivered" only once it holds the receipt; a
	// response may overtake that.
	from := t.from
	if t.direction == Incoming && contains(from, StatusDelivered) {
		from = append([]string{StatusPending}, from...)
	}
	if rec.Status == t.to && len(msg.Fields) == 0 {
		// The peer sent this state again (cpx referral resync): this node
		// holds it already.
		return nil
	}
	// A follow-up goes under the ISP its exchange started under, or a
	// renewal of it, as in force here now.
	if rec.ISP != h.ISP || h.ISPVersion < rec.ISPVersion {
		return fmt.Errorf("%w: %s under ISP %s version %d for an exchange that started under version %d of %s", ErrISP, msg.Kind, h.ISP, h.ISPVersion, rec.ISPVersion, rec.ISP)
	}
	if _, err := s.continuingFor(w, rec, now, Response(resp) == Revoke); err != nil {
		return fmt.Errorf("%w: %v", ErrISP, err)
	}
	if !contains(from, rec.Status) {
		return fmt.Errorf("%w: %s while the exchange is %s", ErrUnexpected, msg.Kind, rec.Status)
	}
	rec.event(now, t.to, msg.Actor, msg.Reason)
	switch {
	case Response(resp) == Revoke:
		rec.Fields, rec.Note = nil, "" // the sender withdrew it: keep no case data
	case Response(resp) == Accept && kind == KindDisclosure:
		rec.Fields = msg.Fields
		rec.RetentionDays, _ = isp.RetentionDays(PurposeTracing)
	case Response(resp) == Accept && kind == KindTransfer:
		if err := s.cases.ApplyTransfer(w, rec.CaseID, p.Agency, rec.Retention, msg.Actor, now); err != nil && !errors.Is(err, casework.ErrNotFound) {
			return err
		}
	}
	if err := s.putRecord(w, &rec); err != nil {
		return err
	}
	if rec.Direction == Outgoing && kind != KindDisclosure {
		// The sender learns the answer to their referral or transfer.
		return s.notify(w, casework.Notice{Kind: casework.NoticeReferralAnswered, To: senderOf(&rec), Type: kind, Outcome: t.to,
			CaseID: rec.CaseID, CaseNumber: rec.CaseNumber, Exchange: rec.ID, Actor: p.Agency, At: now})
	}
	return nil
}

// notify queues n in w, the transaction of the change that causes it.
func (s *Service) notify(w store.Writer, n casework.Notice) error {
	if s.cases == nil {
		return nil
	}
	return s.cases.Notify(w, n)
}

// notifyGroup queues n in w for the members of group who may read
// exchanges.
func (s *Service) notifyGroup(w store.Writer, group string, n casework.Notice) error {
	if s.cases == nil {
		return nil
	}
	return s.cases.NotifyGroup(w, group, policy.ResourceExchange, n)
}
