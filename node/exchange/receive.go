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
	receipt, sender, object, action, refused := s.receive(ctx, peerID, raw, now)
	if refused != nil {
		if sender == "" {
			sender = peerID
		}
		if action == "" {
			action = "envelope.refused"
		}
		s.refusePeer(ctx, now, audit.Event{Actor: "peer:" + sender, Action: action, Object: object, Outcome: audit.Denied, Details: refused.Error()})
		s.log.Warn("refused an envelope", "peer", sender, "reason", refused)
		return nil, refused
	}
	return receipt, nil
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

// receive does Receive's work; it returns the receipt, or the refusal with
// what to audit it as.
func (s *Service) receive(ctx context.Context, peerID string, raw []byte, now time.Time) (receipt []byte, sender, object, action string, refused error) {
	object = "peer/" + peerID
	if !s.deliveries.allow(peerID, now) {
		return nil, "", object, "envelope.rate_limited", ErrRateLimited
	}
	if len(raw) > s.maxEnvelope {
		return nil, "", object, "", fmt.Errorf("%w: %d bytes, this node takes at most %d", envelope.ErrMalformed, len(raw), s.maxEnvelope)
	}
	env, err := envelope.Unmarshal(raw)
	if err != nil {
		return nil, "", object, "", err
	}
	h := env.Header
	object = "envelope/" + h.ID
	// One read transaction for every check before the decryption: a
	// transaction waits for the commits under way.
	var (
		p      Peer
		mine   *agencykey.Private
		theirs agencykey.Public
		sealed *envelope.Verified
		digest [32]byte
		fresh  bool
		in     ISPInfo
		inErr  error
		msg    Message
		signed []byte
	)
	err = s.store.View(ctx, func(r store.Reader) error {
		var known bool
		var err error
		if p, known, err = s.peerByID(r, peerID); err != nil {
			return err
		}
		sender = p.Agency
		switch {
		case !known:
			refused = fmt.Errorf("%w %s", ErrUnknownPeer, peerID)
			return nil
		case h.Sender != p.Agency:
			refused = fmt.Errorf("%w: envelope from %q delivered by the node of %q", ErrSenderMatch, h.Sender, p.Agency)
			return nil
		}
		if refused = s.checkPurposeSize(h.Purpose, len(env.Ciphertext)); refused != nil {
			return nil
		}
		if refused = s.checkTimes(h, now); refused != nil {
			return nil
		}
		if mine, refused = s.ownKey(h.Recipient, h.RecipientKey, h.Created); refused != nil {
			return nil
		}
		if theirs, refused = p.senderKey(h.SenderKey, h.Created); refused != nil {
			return nil
		}
		if sealed, refused = envelope.Verify(env, theirs); refused != nil {
			return nil
		}
		digest = sealed.Digest()
		// Only now, with the signatures verified, is the envelope's id
		// looked up. The ISP is checked, the envelope opened and the
		// receipt signed before the write transaction, so that the
		// store's writer (which commits every caller's transaction) does
		// not wait for them; that transaction checks the replay guard
		// and the ISP again. None of it is done for an envelope the
		// replay guard has seen already.
		var before seen
		err = getJSON(r, key(prefixSeenBy, p.Agency+"/"+h.ID), &before)
		if fresh = errors.Is(err, ErrNotFound); !fresh {
			return err
		}
		in, inErr = s.isp(r, h.ISP, now)
		return nil
	})
	if err != nil {
		return nil, sender, object, "", err
	}
	if refused != nil {
		return nil, sender, object, "", refused
	}
	if fresh {
		if refused := refuseISP(in, inErr, h); refused != nil {
			return nil, sender, object, "", refused
		}
		if msg, refused = s.openMessage(sealed, mine, now); refused != nil {
			return nil, sender, object, "", refused
		}
		if signed, err = s.signReceipt(Receipt{EnvelopeID: h.ID, From: s.agency, To: p.Agency, ReceivedAt: now}); err != nil {
			return nil, sender, object, "", err
		}
	}
	err = s.store.Update(ctx, func(w store.Writer) error {
		receipt, refused, action = nil, nil, ""
		var prev seen
		err := getJSON(w, key(prefixSeenBy, p.Agency+"/"+h.ID), &prev)
		switch {
		case err == nil && bytes.Equal(prev.Digest, digest[:]):
			// A retry of a delivery that succeeded, or a replay: the first
			// receipt again, and nothing else changes.
			receipt = prev.Receipt
			_, err := audit.Append(w, now, audit.Event{Actor: "peer:" + p.Agency, Action: "envelope.replayed", Object: "envelope/" + h.ID})
			return err
		case err == nil:
			refused, action = fmt.Errorf("%w: %s reused id %s", ErrReplay, p.Agency, h.ID), "envelope.attack"
			return nil
		case !errors.Is(err, ErrNotFound):
			return err
		}
		if old, err := w.Get(key(prefixSeen, h.ID)); err == nil {
			// Accepted before the guard was kept per sender.
			receipt = old
			_, err := audit.Append(w, now, audit.Event{Actor: "peer:" + p.Agency, Action: "envelope.replayed", Object: "envelope/" + h.ID})
			return err
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if signed == nil {
			// Seen when the view ran, gone since (pruned): opened here.
			return errStale
		}
		in, err := s.isp(w, h.ISP, now)
		if refused = refuseISP(in, err, h); refused != nil {
			return nil
		}
		if !in.InForce && !strings.HasSuffix(msg.Kind, "."+string(Revoke)) {
			refused = fmt.Errorf("%w: %s version %d (%s); only a revocation is taken under it", ErrISP, h.ISP, h.ISPVersion, in.Problem)
			return nil
		}
		if refused = s.apply(w, p, in.ISP, h, msg, now); refused != nil {
			if msg.Kind == KindAggregate {
				action, object = "aggregate.refused", "exchange/"+msg.Exchange
			}
			return nil
		}
		receipt = signed
		if err := putJSON(w, key(prefixSeenBy, p.Agency+"/"+h.ID), seen{Digest: digest[:], Receipt: receipt, Expires: h.Expires}); err != nil {
			return err
		}
		if err := s.markSeen(w, p.Agency, now); err != nil {
			return err
		}
		_, err = audit.Append(w, now, audit.Event{Actor: "peer:" + p.Agency, Action: "envelope.received", Object: "exchange/" + msg.Exchange,
			Details: map[string]any{"envelope": h.ID, "kind": msg.Kind, "isp": h.ISP, "isp_version": h.ISPVersion, "in_force_version": in.ISP.Version, "fields": fieldNames(msg.Fields)}})
		return err
	})
	if errors.Is(err, errStale) {
		return s.receive(ctx, peerID, raw, now)
	}
	if err != nil {
		return nil, sender, object, "", err
	}
	return receipt, sender, object, action, refused
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
