package exchange

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cpx-node/cpx/crypto/agencykey"
	"github.com/cpx-node/cpx/crypto/envelope"
	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// OutboxEntry is an envelope waiting for delivery. Its envelope is stored
// beside it (prefixSealed), so that a delivery round reads the waiting
// entries without their envelopes; entries written before carry it in
// Envelope.
type OutboxEntry struct {
	EnvelopeID  string    `json:"envelope_id"`
	Exchange    string    `json:"exchange"`
	Kind        string    `json:"kind"` // the message kind
	Peer        string    `json:"peer"`
	Envelope    []byte    `json:"envelope"`
	Created     time.Time `json:"created"`
	Expires     time.Time `json:"expires"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt"`
	LastError   string    `json:"last_error,omitempty"`
	// HistoryLen is the length of the exchange's history once the state
	// change this envelope carries was recorded.
	HistoryLen int `json:"history_len,omitempty"`
	// Undo is, for a follow-up that changed the exchange's state, the
	// state before it: where the exchange goes back if the peer refuses.
	Undo string `json:"undo,omitempty"`
}

// Offer asks for a referral or a transfer.
type Offer struct {
	Kind    string // KindReferral or KindTransfer
	Case    string // id or number
	To      string // agency
	Service string // referrals: the service asked for
	Note    string
	// OverrideConsent sends without the consent the ISP requires, if the
	// user's role may override consent (audited).
	OverrideConsent bool
}

// Check is a dry run of an offer: what would be sent, withheld or refused,
// field by field, and why.
func (s *Service) Check(ctx context.Context, sub policy.Subject, o Offer) (policy.ISPDecision, error) {
	c, err := s.cases.Get(ctx, sub, o.Case)
	if err != nil {
		return policy.ISPDecision{}, err
	}
	var d policy.ISPDecision
	err = s.store.View(ctx, func(r store.Reader) error {
		d, _, err = s.evaluate(r, s.request(sub, o, c))
		return err
	})
	return d, err
}

func (s *Service) request(sub policy.Subject, o Offer, c casework.Case) policy.Request {
	return policy.Request{
		From: s.agency, To: o.To, Purpose: o.Kind, Now: s.now().UTC(), Fields: c.Fields,
		RiskLevel: c.RiskLevel(), Role: sub.Role.ID, OverrideConsent: o.OverrideConsent,
	}
}

// Send refers or transfers a case to another agency: it checks the user's
// permission on the case and the ISPs in force, seals the projection, and
// queues it in one transaction with the audit entries of the case read
// and of the send, which checks that the case, the ISP and the
// recipient's key it was sealed from still hold.
func (s *Service) Send(ctx context.Context, sub policy.Subject, o Offer) (_ Record, err error) {
	act := policy.ActionRefer
	switch o.Kind {
	case KindReferral:
	case KindTransfer:
		act = policy.ActionTransfer
	default:
		return Record{}, fmt.Errorf("%w: unknown kind %q", ErrInvalid, o.Kind)
	}
	if o.Service, err = trim(o.Service, MaxService); err != nil {
		return Record{}, err
	}
	if o.Note, err = trim(o.Note, MaxNote); err != nil {
		return Record{}, err
	}
	if o.Kind == KindReferral && o.Service == "" {
		return Record{}, fmt.Errorf("%w: a referral needs --service", ErrInvalid)
	}
	// Reading the case checks read access and hides what the user may not
	// see: nothing the user cannot see can leave. The read is audited in
	// the transaction that queues the envelope, or with the refusal, or
	// on its own when the send ends otherwise.
	read, err := s.cases.ReadForWrite(ctx, sub, o.Case)
	if err != nil {
		return Record{}, err
	}
	readAudited := false
	defer func() {
		if !readAudited {
			err = errors.Join(err, s.auditRead(context.WithoutCancel(ctx), read))
		}
	}()
	now := s.now().UTC()
	rec := Record{
		ID: uuid.NewString(), Kind: o.Kind, Direction: Outgoing, Peer: o.To,
		Service: o.Service, Note: o.Note, CreatedBy: actorOf(sub, s.agency), CreatedAt: now,
	}
	// The policy check, the seal and both signatures run before the
	// transaction, so that the store's writer (which commits every
	// caller's transaction one after the other) does not wait for them;
	// the transaction then checks that what they used still holds (the
	// case as read, the same ISP document in force, the same recipient
	// key), else the send is prepared again.
	fresh := false // read the ISPs and the recipient's key again
	var queued OutboxEntry
	for try := 0; ; try++ {
		c := read.Case
		if d := policy.Authorize(sub, policy.ResourceCase, act, &policy.Object{Owner: c.Owner, OwnerGroup: c.OwnerGroup, Agency: c.Agency}); !d.Allowed {
			readAudited = true
			return Record{}, s.refuseRead(ctx, sub, read, o.Kind+".send", "case/"+c.ID, fmt.Errorf("%w: %s", ErrDenied, d.Reason))
		}
		if c.Status != casework.StatusOpen {
			return Record{}, fmt.Errorf("%w: case %s is %s", ErrState, c.Number, c.Status)
		}
		if o.OverrideConsent && !sub.Role.Can(policy.ResourceCase, policy.ActionConsentOverride) {
			readAudited = true
			return Record{}, s.refuseRead(ctx, sub, read, o.Kind+".send", "case/"+c.ID, fmt.Errorf("%w: role %q may not override consent", ErrDenied, sub.Role.ID))
		}
		rec.CaseID, rec.CaseNumber, rec.Owner, rec.OwnerGroup = c.ID, c.Number, c.Owner, c.OwnerGroup
		req := s.request(sub, o, c)
		req.Now = now
		in, err := s.sendInputs(ctx, o.To, now, fresh)
		if err != nil {
			return Record{}, err
		}
		d, isp := s.decide(in.isps, req)
		if !d.Allowed && in.cached {
			fresh = true
			continue // refused on what may be out of date: look again
		}
		if !d.Allowed {
			readAudited = true
			return Record{}, s.refuseRead(ctx, sub, read, o.Kind+".send", "case/"+c.ID, fmt.Errorf("%w: %s", ErrRefused, d.Reason))
		}
		to := in.to
		rec.ISP, rec.ISPVersion, rec.ConsentOverridden = isp.ID, isp.Version, d.ConsentOverridden
		rec.Retention = ""
		if o.Kind == KindTransfer {
			rec.Retention = d.Rule.Retention
		}
		rec.History = nil
		rec.event(now, StatusPending, rec.CreatedBy, "")
		msg := Message{
			Kind: o.Kind, Exchange: rec.ID, CaseNumber: c.Number, Service: o.Service, Note: o.Note,
			Actor: rec.CreatedBy, Fields: d.Send, ConsentOverridden: d.ConsentOverridden,
		}
		e, err := s.seal(&rec, msg, to, now, "")
		if err != nil {
			return Record{}, err
		}
		inputsChanged, caseChanged := false, false
		err = s.store.Update(ctx, func(w store.Writer) error {
			in, err := s.isp(w, isp.ID, now)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			cur, kerr := s.recipientKey(w, o.To, now)
			inputsChanged = err != nil || !in.InForce || in.ISP != isp || kerr != nil || cur.Fingerprint() != to.Fingerprint()
			same, err := read.Unchanged(w)
			if err != nil {
				return err
			}
			if caseChanged = !same; inputsChanged || caseChanged {
				return nil
			}
			if err := read.Audit(w, now); err != nil {
				return err
			}
			if err := s.putOutbox(w, &rec, e); err != nil {
				return err
			}
			queued = e
			_, err = audit.Append(w, now, audit.Event{Actor: sub.User, Action: o.Kind + ".send", Object: "case/" + c.ID,
				Details: map[string]any{"exchange": rec.ID, "to": o.To, "isp": isp.ID, "isp_version": isp.Version, "fields": fieldNames(d.Send), "consent_overridden": d.ConsentOverridden}})
			return err
		})
		if err != nil {
			return Record{}, err
		}
		if !inputsChanged && !caseChanged {
			readAudited = true
			break
		}
		if try >= maxSendTries {
			return Record{}, fmt.Errorf("%w: the case, the ISPs or %s's keys changed during each of %d tries; send again", ErrState, o.To, try+1)
		}
		fresh = inputsChanged
		if caseChanged {
			// The case changed after it was read: read it again (checked
			// and audited as before). The read given up was not used:
			// nothing of it left the node or reached the user.
			if read, err = s.cases.ReadForWrite(ctx, sub, o.Case); err != nil {
				readAudited = true
				return Record{}, err
			}
		}
	}
	s.hint(queued)
	return rec, nil
}

// auditRead audits a read of a case in a transaction of its own.
func (s *Service) auditRead(ctx context.Context, read casework.PendingRead) error {
	now := s.now().UTC()
	return s.store.Update(ctx, func(w store.Writer) error { return read.Audit(w, now) })
}

// maxSendTries bounds how often Send prepares an envelope again because
// the ISP or the recipient's key changed meanwhile.
const maxSendTries = 4

// sendInputsAge is how long Send prepares envelopes from the ISPs and
// a recipient's key as an earlier read found them. A read transaction
// waits for the commits under way, and what it would find changes
// seldom; the transaction that queues the envelope checks both anyway.
const sendInputsAge = time.Second

// sendInput is what Send prepares an envelope to an agency from: the
// applied ISPs and the agency's current key.
type sendInput struct {
	at     time.Time
	isps   []ISPInfo
	to     agencykey.Public
	cached bool // taken from an earlier read
}

// sendInputs returns what Send prepares an envelope to agency from at
// now: what a read at most sendInputsAge ago found, unless fresh, or what
// the store holds now.
func (s *Service) sendInputs(ctx context.Context, agency string, now time.Time, fresh bool) (sendInput, error) {
	s.inputsMu.Lock()
	in, ok := s.inputs[agency]
	s.inputsMu.Unlock()
	if ok && !fresh && !now.Before(in.at) && now.Sub(in.at) < sendInputsAge {
		in.cached = true
		return in, nil
	}
	in = sendInput{at: now}
	err := s.store.View(ctx, func(r store.Reader) error {
		var err error
		if in.isps, err = s.allISPs(r, now); err != nil {
			return err
		}
		in.to, err = s.recipientKey(r, agency, now)
		return err
	})
	if err != nil {
		return sendInput{}, err
	}
	s.inputsMu.Lock()
	if s.inputs == nil || len(s.inputs) >= maxCachedPeers {
		s.inputs = map[string]sendInput{}
	}
	s.inputs[agency] = in
	s.inputsMu.Unlock()
	return in, nil
}

func fieldNames(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// refuse audits a refused request and returns err.
func (s *Service) refuse(ctx context.Context, sub policy.Subject, action, object string, err error) error {
	if aerr := audit.Record(ctx, s.store, s.now(), refusal(sub, action, object, err)); aerr != nil {
		return errors.Join(err, aerr)
	}
	return err
}

// refuseRead audits the case read that a refused request made and the
// refusal, in one transaction, and returns err.
func (s *Service) refuseRead(ctx context.Context, sub policy.Subject, read casework.PendingRead, action, object string, err error) error {
	now := s.now().UTC()
	aerr := s.store.Update(ctx, func(w store.Writer) error {
		if err := read.Audit(w, now); err != nil {
			return err
		}
		_, err := audit.Append(w, now, refusal(sub, action, object, err))
		return err
	})
	if aerr != nil {
		return errors.Join(err, aerr)
	}
	return err
}

// refusal is the audit entry of a refused request.
func refusal(sub policy.Subject, action, object string, err error) audit.Event {
	outcome := audit.Failed
	if errors.Is(err, ErrDenied) || errors.Is(err, ErrRefused) {
		outcome = audit.Denied
	}
	return audit.Event{Actor: sub.User, Action: action, Object: object, Outcome: outcome, Details: err.Error()}
}

// enqueue seals msg to the record's peer under the record's ISP and puts it
// in the outbox, and stores the record, within w. A follow-up is taken to
// have changed the state (see OutboxEntry.Undo).
func (s *Service) enqueue(w store.Writer, rec *Record, msg Message, now time.Time) error {
	undo := ""
	if strings.Contains(msg.Kind, ".") && len(rec.History) >= 2 {
		undo = rec.History[len(rec.History)-2].Status
	}
	return s.enqueueUndo(w, rec, msg, now, undo)
}

func (s *Service) enqueueUndo(w store.Writer, rec *Record, msg Message, now time.Time, undo string) error {
	to, err := s.recipientKey(w, rec.Peer, now)
	if err != nil {
		return err
	}
	e, err := s.seal(rec, msg, to, now, undo)
	if err != nil {
		return err
	}
	return s.putOutbox(w, rec, e)
}

// recipientKey returns the key the peer agency receives envelopes with at
// now.
func (s *Service) recipientKey(r store.Reader, agency string, now time.Time) (agencykey.Public, error) {
	p, err := s.peer(r, agency)
	if err != nil {
		return agencykey.Public{}, err
	}
	to, ok := p.current(now)
	if !ok {
		return agencykey.Public{}, fmt.Errorf("%w: %s has not announced a valid key yet: is its node reachable? (cpx peer list)", ErrNoKeys, agency)
	}
	return to, nil
}

// seal seals msg of the exchange rec to the key to, as the outbox entry
// that carries it.
func (s *Service) seal(rec *Record, msg Message, to agencykey.Public, now time.Time, undo string) (OutboxEntry, error) {
	if err := checkMetadata(msg); err != nil {
		return OutboxEntry{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	plain, err := json.Marshal(msg)
	if err != nil {
		return OutboxEntry{}, err
	}
	h := envelope.Header{
		Sender: s.agency, Recipient: rec.Peer, Purpose: purposeOf(rec.Kind), ISP: rec.ISP, ISPVersion: rec.ISPVersion,
		Created: now, Expires: now.Add(s.ttl), ContentType: "application/vnd.cpx.message+json",
	}
	env, err := envelope.Seal(rand.Reader, h, plain, s.currentKey(), to)
	if err != nil {
		return OutboxEntry{}, err
	}
	b, err := env.MarshalBinary()
	if err != nil {
		return OutboxEntry{}, err
	}
	return OutboxEntry{
		EnvelopeID: env.Header.ID, Exchange: rec.ID, Kind: msg.Kind, Peer: rec.Peer, Envelope: b,
		Created: now, Expires: env.Header.Expires, NextAttempt: now, HistoryLen: len(rec.History), Undo: undo,
	}, nil
}

// putOutbox puts e in the outbox, its envelope beside it, and stores rec,
// the exchange it belongs to, as sending it, within w.
func (s *Service) putOutbox(w store.Writer, rec *Record, e OutboxEntry) error {
	if err := w.Set(key(prefixSealed, e.EnvelopeID), e.Envelope); err != nil {
		return err
	}
	e.Envelope = nil
	if err := putJSON(w, key(prefixOutbox, e.EnvelopeID), e); err != nil {
		return err
	}
	rec.Sync, rec.SyncError, rec.Envelope = SyncSending, "", e.EnvelopeID
	return s.putRecord(w, rec)
}

// Response is what a user does to an exchange.
type Response string

// Responses.
const (
	Accept Response = "accept"
	Reject Response = "reject"
	Done   Response = "done"
	Revoke Response = "revoke"
)

// transitions says which response is possible in which direction and state,
// and the state it leads to.
var transitions = map[Response]struct {
	direction string
	kinds     []string
	from      []string
	to        string
}{
	Accept: {Incoming, []string{KindReferral, KindTransfer, KindDisclosure}, []string{StatusDelivered}, StatusAccepted},
	Reject: {Incoming, []string{KindReferral, KindTransfer, KindDisclosure}, []string{StatusDelivered}, StatusRejected},
	Done:   {Incoming, []string{KindReferral}, []string{StatusAccepted}, StatusDone},
	Revoke: {Outgoing, []string{KindReferral}, []string{StatusPending, StatusDelivered, StatusAccepted}, StatusRevoked},
}

// ErrPeerRefused is wrapped by the error Respond and Resync return when
// the peer refused the change: the exchange here is back in the state the
// peer holds.
var ErrPeerRefused = errors.New("refused by the peer")

// Respond accepts, rejects, completes or revokes an exchange and tells the
// peer, in one transaction with the audit entry, then tries to deliver it
// at once. Accepting an incoming transfer creates the case here, owned by
// the accepting user. The exchange must still be covered by its ISP (or a
// renewal of it) in force here; if the peer refuses the change it is
// undone here and the error wraps ErrPeerRefused. If the peer cannot be
// reached the change waits in the outbox and the Delivery says why.
func (s *Service) Respond(ctx context.Context, sub policy.Subject, id string, resp Response, reason string) (Record, Delivery, error) {
	rec, err := s.respond(ctx, sub, id, resp, reason)
	if err != nil {
		return Record{}, Delivery{}, err
	}
	return s.deliverChange(ctx, rec, string(resp))
}

// deliverChange delivers the latest envelope of rec at once and returns
// the record as it is afterwards.
func (s *Service) deliverChange(ctx context.Context, rec Record, what string) (Record, Delivery, error) {
	d := s.deliverNow(ctx, rec.Envelope)
	var now Record
	if err := s.store.View(ctx, func(r store.Reader) error { return getJSON(r, key(prefixRecord, rec.ID), &now) }); err != nil {
		return rec, d, err
	}
	if d.Refused != "" {
		return now, d, fmt.Errorf("%w: %s did not take the %s of %s %s, which is %s again here: %s", ErrPeerRefused, rec.Peer, what, rec.Kind, rec.ID, now.Status, d.Refused)
	}
	return now, d, nil
}

func (s *Service) respond(ctx context.Context, sub policy.Subject, id string, resp Response, reason string) (Record, error) {
	t, ok := transitions[resp]
	if !ok {
		return Record{}, fmt.Errorf("%w: unknown response %q", ErrInvalid, resp)
	}
	act := policy.ActionRespond
	if resp == Revoke {
		act = policy.ActionRevoke
	}
	if err := s.authorize(ctx, sub, policy.ResourceExchange, act, "exchange."+string(resp), "exchange/"+id); err != nil {
		return Record{}, err
	}
	var err error
	if reason, err = trim(reason, MaxReason); err != nil {
		return Record{}, err
	}
	if resp == Reject && reason == "" {
		return Record{}, fmt.Errorf("%w: a rejection needs --reason", ErrInvalid)
	}
	now := s.now().UTC()
	var rec Record
	var refused error
	var localCase map[string]any
	err = s.store.View(ctx, func(r store.Reader) error {
		if err := getJSON(r, key(prefixRecord, id), &rec); err != nil {
			return err
		}
		if resp == Accept && rec.Kind == KindTransfer && rec.Direction == Incoming {
			localCase = rec.Fields
		}
		if _, err := s.continuingFor(r, rec, now, resp == Revoke); err != nil {
			refused = fmt.Errorf("%w: %w", ErrRefused, err)
		}
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return Record{}, fmt.Errorf("%w: no exchange %q", ErrNotFound, id)
	}
	if err != nil {
		return Record{}, err
	}
	if !s.reaches(sub, act, &rec) {
		return Record{}, s.hidden(ctx, sub, "exchange."+string(resp), id)
	}
	if rec.Direction != t.direction || !contains(t.kinds, rec.Kind) || !contains(t.from, rec.Status) {
		return Record{}, fmt.Errorf("%w: cannot %s an %s %s that is %s", ErrState, resp, rec.Direction, rec.Kind, rec.Status)
	}
	if refused != nil {
		return Record{}, s.refuse(ctx, sub, "exchange."+string(resp), "exchange/"+id, refused)
	}
	if localCase != nil {
		// The transferred case becomes this agency's, owned by the user who
		// accepts it; it must pass this node's own forms.
		c, err := s.cases.Create(ctx, sub, "", localCase)
		if err != nil {
			return Record{}, fmt.Errorf("accepting transfer %s: the received case does not fit this node's forms: %w", id, err)
		}
		rec.LocalCase = c.ID
	}
	var disclosed map[string]any
	if resp == Accept && rec.Kind == KindDisclosure {
		// Disclose what the tracing ISP lets go of the case, as the
		// accepting user may read it (checked and audited by casework).
		if disclosed, err = s.disclose(ctx, sub, rec); err != nil {
			return Record{}, err
		}
	}
	actor := actorOf(sub, s.agency)
	err = s.store.Update(ctx, func(w store.Writer) error {
		refused = nil
		var cur Record
		if err := getJSON(w, key(prefixRecord, id), &cur); err != nil {
			return err
		}
		// The deliverer may have moved it on meanwhile (pending → delivered):
		// what matters is that the response is still possible now.
		if !contains(t.from, cur.Status) {
			refused = fmt.Errorf("%w: the exchange changed meanwhile (now %s)", ErrState, cur.Status)
			return nil
		}
		if _, err := s.continuingFor(w, cur, now, resp == Revoke); err != nil {
			refused = fmt.Errorf("%w: %w", ErrRefused, err)
			return nil
		}
		cur.LocalCase = rec.LocalCase
		cur.event(now, t.to, actor, reason)
		if resp == Accept && cur.Kind == KindTransfer {
			cur.Fields = nil // the data now lives in the local case
		}
		msg := Message{Kind: cur.Kind + "." + string(resp), Exchange: cur.ID, Reason: reason, Actor: actor, Fields: disclosed}
		if err := s.enqueue(w, &cur, msg, now); err != nil {
			return err
		}
		_, err := audit.Append(w, now, audit.Event{Actor: sub.User, Action: "exchange." + string(resp), Object: "exchange/" + id, Details: reason})
		rec = cur
		return err
	})
	if err != nil {
		return Record{}, err
	}
	if refused != nil {
		return Record{}, s.refuse(ctx, sub, "exchange."+string(resp), "exchange/"+id, refused)
	}
	return rec, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Filter selects exchanges in List.
type Filter struct {
	Kind      string
	Direction string
	Status    string
}

// List returns exchanges, newest first.
func (s *Service) List(ctx context.Context, sub policy.Subject, f Filter) ([]Record, error) {
	if err := s.authorize(ctx, sub, policy.ResourceExchange, policy.ActionList, "exchange.list", "exchange"); err != nil {
		return nil, err
	}
	canRead := sub.Role.Can(policy.ResourceExchange, policy.ActionRead)
	var out []Record
	err := s.store.View(ctx, func(r store.Reader) error {
		return r.Scan(prefixRecord, store.ScanOptions{}, func(_, v []byte) error {
			var rec Record
			if err := unmarshal(v, &rec); err != nil {
				return err
			}
			if (f.Kind != "" && rec.Kind != f.Kind) || (f.Direction != "" && rec.Direction != f.Direction) || (f.Status != "" && rec.Status != f.Status) {
				return nil
			}
			if !s.reaches(sub, policy.ActionList, &rec) {
				return nil
			}
			if !canRead || !s.reaches(sub, policy.ActionRead, &rec) {
				rec.Fields, rec.Note = nil, "" // e.g. an administrator sees the traffic, not the content
			}
			out = append(out, rec)
			return nil
		})
	})
	sortNewestFirst(out)
	return out, err
}

// Get returns one exchange, with the received fields, and audits the read.
func (s *Service) Get(ctx context.Context, sub policy.Subject, id string) (Record, error) {
	if err := s.authorize(ctx, sub, policy.ResourceExchange, policy.ActionRead, "exchange.read", "exchange/"+id); err != nil {
		return Record{}, err
	}
	var rec Record
	hide := false
	err := s.store.Update(ctx, func(w store.Writer) error {
		if err := getJSON(w, key(prefixRecord, id), &rec); err != nil {
			return err
		}
		if hide = !s.reaches(sub, policy.ActionRead, &rec); hide {
			return nil
		}
		_, err := audit.Append(w, s.now(), audit.Event{Actor: sub.User, Action: "exchange.read", Object: "exchange/" + id})
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return Record{}, fmt.Errorf("%w: no exchange %q", ErrNotFound, id)
	}
	if err == nil && hide {
		return Record{}, s.hidden(ctx, sub, "exchange.read", id)
	}
	return rec, err
}

// Outbox lists what waits for delivery.
func (s *Service) Outbox(ctx context.Context, sub policy.Subject) ([]OutboxEntry, error) {
	if err := s.authorize(ctx, sub, policy.ResourceExchange, policy.ActionList, "outbox.list", "outbox"); err != nil {
		return nil, err
	}
	var out []OutboxEntry
	err := s.store.View(ctx, func(r store.Reader) error {
		return r.Scan(prefixOutbox, store.ScanOptions{}, func(_, v []byte) error {
			var e OutboxEntry
			if err := unmarshal(v, &e); err != nil {
				return err
			}
			var rec Record
			if err := getJSON(r, key(prefixRecord, e.Exchange), &rec); err == nil {
				if !s.reaches(sub, policy.ActionList, &rec) {
					return nil
				}
			} else if sub.Role.Scope != policy.ScopeAgency && sub.Role.Scope != policy.ScopeAll {
				return nil
			}
			e.Envelope = nil
			out = append(out, e)
			return nil
		})
	})
	return out, err
}
