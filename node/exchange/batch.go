package exchange

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/store"
)

// Batches.
//
// A sender delivers a peer's backlog several envelopes per call
// (DeliverBatch). The receiver checks each envelope as a lone delivery
// would, in the order sent, records every one it takes in one write
// transaction, and signs one receipt naming all of them; an envelope
// delivered before gets its first receipt back, a refused one its reason.
// One call, one commit and one signature then serve the whole batch on
// each side.

const (
	// MaxBatchEnvelopes bounds the envelopes of one batch.
	MaxBatchEnvelopes = 32
	// MaxBatchBytes bounds the envelopes of one batch together. A sender
	// delivers a larger envelope on its own.
	MaxBatchBytes = 2 << 20
)

// ErrBatch is a batch over the limits.
var ErrBatch = errors.New("batch over the limits")

// BatchTransport is a Transport that can deliver several envelopes to a
// peer in one call.
type BatchTransport interface {
	// DeliverBatch sends envelopes, in order, and returns the peer's
	// answer; the error is for the call as a whole (the peer could not
	// be reached, or refused the batch: wrapped in ErrPermanent).
	DeliverBatch(ctx context.Context, peerID string, addrs []string, envelopes [][]byte) (BatchReply, error)
}

// BatchReply is a peer's answer to a batch.
type BatchReply struct {
	// Outcomes has one entry per envelope sent, in order.
	Outcomes []BatchOutcome
	// Receipt is the signed receipt naming every envelope the peer took
	// in this call, nil if it took none.
	Receipt []byte
}

// BatchOutcome is what became of one envelope of a batch.
type BatchOutcome struct {
	// Receipt is the receipt of an envelope the peer had taken before
	// (a retry); nil when Receipt of the batch names it, or it was
	// refused.
	Receipt []byte
	// Refused is why the peer refused the envelope (wrapping ErrPermanent
	// when retrying will not help), nil if it took it.
	Refused error
}

// ReceiveBatch handles envelopes delivered together by the node peerID.
// Each gets the checks a lone delivery gets (Receive), in order, and the
// same audit entries; those taken as new are recorded in one transaction
// and named by one signed receipt, returned with one outcome per
// envelope. The error is for the batch as a whole.
func (s *Service) ReceiveBatch(ctx context.Context, peerID string, raws [][]byte) ([]BatchOutcome, []byte, error) {
	now := s.now().UTC()
	total := 0
	for _, raw := range raws {
		total += len(raw)
	}
	if len(raws) > MaxBatchEnvelopes || total > MaxBatchBytes {
		err := fmt.Errorf("%w: %d envelopes of %d bytes, at most %d of %d", ErrBatch, len(raws), total, MaxBatchEnvelopes, MaxBatchBytes)
		s.refusePeer(ctx, now, audit.Event{Actor: "peer:" + peerID, Action: "envelope.batch.refused", Object: "peer/" + peerID, Outcome: audit.Denied, Details: err.Error()})
		return nil, nil, err
	}
	arrivals := make([]*arrival, len(raws))
	for i, raw := range raws {
		arrivals[i] = s.screen(peerID, raw, now)
	}
	receipt, err := s.receiveBatch(ctx, peerID, arrivals, now)
	if err != nil {
		return nil, nil, err
	}
	out := make([]BatchOutcome, len(arrivals))
	for i, a := range arrivals {
		if a.refused != nil {
			s.auditRefusal(ctx, peerID, a, now)
			out[i].Refused = a.refused
			continue
		}
		if !slices.Equal(a.receipt, receipt) {
			out[i].Receipt = a.receipt
		}
	}
	return out, receipt, nil
}

// receiveBatch checks arrivals (screened; one for Receive) in one read
// transaction, opens the new ones, signs one receipt for those it expects
// to take (naming one envelope in EnvelopeID, as nodes without batches
// expect, several in EnvelopeIDs), and takes them in one write
// transaction. When the transaction would take some envelopes but not
// all the receipt names (a message refused once applied, the ISP changed,
// the replay guard forgot one), it is dropped and the batch prepared
// again without those it refused. It sets each arrival's outcome and
// returns the receipt of those taken as new, nil if none was; the error
// is the store's.
func (s *Service) receiveBatch(ctx context.Context, peerID string, arrivals []*arrival, now time.Time) ([]byte, error) {
	var live []*arrival
	for _, a := range arrivals {
		if a.refused == nil {
			live = append(live, a)
		}
	}
	excluded := map[string]bool{} // refused by a dropped transaction
	for try := 0; ; try++ {
		if len(live) == 0 {
			return nil, nil
		}
		if err := s.store.View(ctx, func(r store.Reader) error {
			l := s.lookups(r, now)
			for _, a := range live {
				a.refused = nil
				if err := s.check(l, peerID, a); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return nil, err
		}
		var expect []string
		checked := live[:0:0]
		open := 0
		for _, a := range live {
			if a.refused != nil {
				continue
			}
			checked = append(checked, a)
			// A second copy of an envelope is a replay of the first.
			if s.open(a, now); a.refused == nil && a.fresh && !excluded[a.env.Header.ID] && !slices.Contains(expect, a.env.Header.ID) {
				expect = append(expect, a.env.Header.ID)
			}
			if a.refused == nil {
				open++
			}
		}
		if open == 0 {
			return nil, nil // all refused: nothing to write
		}
		var signed []byte
		if len(expect) > 0 {
			r := Receipt{EnvelopeIDs: expect, From: s.agency, To: checked[0].p.Agency, ReceivedAt: now}
			if len(expect) == 1 {
				r.EnvelopeID, r.EnvelopeIDs = expect[0], nil
			}
			var err error
			if signed, err = s.signReceipt(r); err != nil {
				return nil, err
			}
		}
		var took []string
		err := s.store.Update(ctx, func(w store.Writer) error {
			took = took[:0]
			l := s.lookups(w, now)
			for _, a := range checked {
				if a.refused != nil {
					continue // refused when opened
				}
				isNew, err := s.take(w, l, a, signed)
				if err != nil {
					return err
				}
				if isNew {
					took = append(took, a.env.Header.ID)
				}
			}
			if len(took) == 0 || slices.Equal(took, expect) {
				// With none taken no receipt was kept: what was
				// refused here stays refused, and no receipt names it.
				return nil
			}
			for _, a := range checked {
				if a.refused != nil {
					excluded[a.env.Header.ID] = true
				}
			}
			return errStale
		})
		if err == nil && len(took) == 0 {
			return nil, nil
		}
		if err == nil {
			return signed, nil
		}
		if !errors.Is(err, errStale) || try >= maxReceiveTries {
			return nil, err
		}
		live = checked
	}
}

// auditRefusal audits a's refusal as Receive does.
func (s *Service) auditRefusal(ctx context.Context, peerID string, a *arrival, now time.Time) {
	sender, action := a.sender, a.action
	if sender == "" {
		sender = peerID
	}
	if action == "" {
		action = "envelope.refused"
	}
	s.refusePeer(ctx, now, audit.Event{Actor: "peer:" + sender, Action: action, Object: a.object, Outcome: audit.Denied, Details: a.refused.Error()})
	s.log.Warn("refused an envelope", "peer", sender, "reason", a.refused)
}

// ErrBatchUnsupported is a peer that does not take batches (an older
// node): its envelopes go one per call.
var ErrBatchUnsupported = errors.New("the peer does not take batches")

// batchesInFlight bounds the batches sent to one peer at the same time.
const batchesInFlight = 4

// unbatchedFor is how long a peer that took no batches (an older node)
// gets its envelopes one per call before it is offered batches again: it
// may have been upgraded meanwhile.
const unbatchedFor = time.Hour

// batchable returns the transport's batch delivery when the peer agency
// takes batches.
func (s *Service) batchable(agency string) (BatchTransport, bool) {
	bt, ok := s.transport.(BatchTransport)
	if !ok {
		return nil, false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	at, unbatched := s.unbatched[agency]
	return bt, !unbatched || s.now().Sub(at) >= unbatchedFor
}

// noteUnbatched records that the peer agency does not take batches.
func (s *Service) noteUnbatched(agency string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unbatched == nil {
		s.unbatched = map[string]time.Time{}
	}
	s.unbatched[agency] = s.now()
}

// deliverBatches makes one attempt at each of one peer's entries, in
// batches: each exchange's entries go in one batch, in outbox order (the
// peer takes a batch in order), a batch holds at most MaxBatchEnvelopes
// envelopes of MaxBatchBytes in all, and up to batchesInFlight batches go
// at once. Unless the last attempt reached the peer, the first batch goes
// alone. Once every batch's call has returned, and none of the chains is
// left for one-by-one delivery, it calls sent (if not nil) before the last
// receipts are recorded. It returns the chains left for one-by-one
// delivery: those too large for a batch, or all of them when the peer
// takes no batches.
func (s *Service) deliverBatches(ctx context.Context, bt BatchTransport, agency string, chains [][]OutboxEntry, sent func()) [][]OutboxEntry {
	claimed := map[string]bool{} // released when this returns
	for _, c := range chains {
		for _, e := range c {
			if s.claim(e.EnvelopeID) {
				claimed[e.EnvelopeID] = true
			}
		}
	}
	defer func() {
		for id := range claimed {
			s.release(id)
		}
	}()
	// One read for the entries afresh, their envelopes and the peer.
	var p Peer
	var perr error
	fresh := map[string]OutboxEntry{}
	err := s.store.View(ctx, func(r store.Reader) error {
		p, perr = s.peer(r, agency)
		for id := range claimed {
			e, err := readEntry(r, id)
			if errors.Is(err, ErrNotFound) {
				continue // delivered (or failed) meanwhile
			} else if err != nil {
				return err
			}
			fresh[id] = e
		}
		return nil
	})
	if err != nil {
		s.log.Warn("reading the outbox", "err", err)
		return nil
	}
	now := s.now().UTC()
	var batches [][]OutboxEntry
	var alone [][]OutboxEntry
	var cur []OutboxEntry
	size := 0
	for _, c := range chains {
		var chain []OutboxEntry
		bytes, bare := 0, false
		for _, e := range c {
			f, ok := fresh[e.EnvelopeID] // claimed here, still queued
			if !ok {
				continue
			}
			if !now.Before(f.Expires) {
				s.fail(ctx, f, "the envelope expired before the peer could be reached", false)
				continue
			}
			chain = append(chain, f)
			bytes += len(f.Envelope)
			bare = bare || f.Envelope == nil
		}
		switch {
		case len(chain) == 0:
		case bare || len(chain) > MaxBatchEnvelopes || bytes > MaxBatchBytes:
			// One by one: too large for a batch, or an entry with no
			// envelope stored, which the peer refuses and which then
			// fails for good.
			alone = append(alone, c)
		default:
			if len(cur)+len(chain) > MaxBatchEnvelopes || size+bytes > MaxBatchBytes {
				batches = append(batches, cur)
				cur, size = nil, 0
			}
			cur = append(cur, chain...)
			size += bytes
		}
	}
	if len(cur) > 0 {
		batches = append(batches, cur)
	}
	// Released now, so that the one-by-one path can claim them.
	for _, c := range alone {
		for _, e := range c {
			if claimed[e.EnvelopeID] {
				s.release(e.EnvelopeID)
				delete(claimed, e.EnvelopeID)
			}
		}
	}
	if len(batches) == 0 {
		return alone
	}
	if perr != nil {
		for _, b := range batches {
			for _, e := range b {
				s.retry(ctx, e, perr)
			}
		}
		return alone
	}
	var (
		mu          sync.Mutex
		unsupported bool
		// Batches whose call has not returned. When none is left and
		// nothing waits for the one-by-one path, sent lets another
		// worker send to the peer while these record their receipts.
		calling = len(batches)
	)
	called := func() {
		mu.Lock()
		calling--
		last := calling == 0
		mu.Unlock()
		if last && len(alone) == 0 && sent != nil {
			sent()
		}
	}
	fanOut(ctx, batchesInFlight, !s.wasReached(agency), batches,
		func(b []OutboxEntry, _ func() error) error {
			err := s.attemptBatch(ctx, bt, p, b, called)
			if errors.Is(err, ErrBatchUnsupported) {
				mu.Lock()
				unsupported = true
				mu.Unlock()
			}
			return err
		},
		func(b []OutboxEntry, err error) {
			if !errors.Is(err, ErrBatchUnsupported) && ctx.Err() == nil {
				for _, e := range b {
					s.retry(ctx, e, err)
				}
			}
			called()
		})
	if unsupported {
		s.noteUnbatched(agency)
		// Sent one by one from the next round (these were claimed here).
		s.keepRush(agency)
	}
	return alone
}

// attemptBatch delivers the entries b (claimed, read afresh, with their
// envelopes) to peer p in one call, calls called once the call returned,
// and records the outcome of each. It
// returns the error when the peer could not be reached (every entry is
// then rescheduled), ErrBatchUnsupported when the peer takes no batches
// (nothing recorded), nil otherwise.
func (s *Service) attemptBatch(ctx context.Context, bt BatchTransport, p Peer, b []OutboxEntry, called func()) error {
	envs := make([][]byte, len(b))
	for i, e := range b {
		envs[i] = e.Envelope
	}
	actx, cancel := context.WithTimeout(ctx, 20*time.Second)
	reply, err := bt.DeliverBatch(actx, p.PeerID, p.DialAddrs(), envs)
	cancel()
	called()
	now := s.now().UTC() // the receipts' arrival, as recorded
	if errors.Is(err, ErrBatchUnsupported) {
		return err
	}
	s.noteReached(p.Agency, err == nil || errors.Is(err, ErrPermanent))
	if errors.Is(err, ErrPermanent) {
		// The batch as a whole was refused (over the peer's limits):
		// each envelope goes on its own next time.
		for _, e := range b {
			s.retry(ctx, e, err)
		}
		return ErrBatchUnsupported
	}
	if err == nil && len(reply.Outcomes) != len(b) {
		err = fmt.Errorf("%w: %d outcomes for %d envelopes", ErrBadMessage, len(reply.Outcomes), len(b))
	}
	if err != nil {
		for _, e := range b {
			s.retry(ctx, e, err)
		}
		s.notePeerError(ctx, p.Agency, err)
		return err
	}
	var batch *Receipt
	var batchErr error
	if reply.Receipt != nil {
		r, err := verifySignedReceipt(p, s.agency, reply.Receipt, now)
		batch, batchErr = &r, err
	}
	type taken struct {
		e       OutboxEntry
		r       Receipt
		receipt []byte
	}
	var took []taken
	for i, e := range b {
		o := reply.Outcomes[i]
		switch {
		case o.Refused != nil && errors.Is(o.Refused, ErrPermanent):
			s.fail(ctx, e, o.Refused.Error(), true)
		case o.Refused != nil:
			s.retry(ctx, e, o.Refused)
		case o.Receipt != nil:
			r, err := verifyReceipt(p, e.EnvelopeID, s.agency, o.Receipt, now)
			if err != nil {
				s.refuseReceipt(ctx, p, e, err, now)
				continue
			}
			took = append(took, taken{e, r, o.Receipt})
		case batch == nil:
			s.refuseReceipt(ctx, p, e, errors.New("no receipt"), now)
		case batchErr != nil:
			s.refuseReceipt(ctx, p, e, batchErr, now)
		case !batch.names(e.EnvelopeID):
			s.refuseReceipt(ctx, p, e, fmt.Errorf("the batch's receipt does not name envelope %s", e.EnvelopeID), now)
		default:
			took = append(took, taken{e, *batch, reply.Receipt})
		}
	}
	if len(took) == 0 {
		return nil
	}
	err = s.store.Update(ctx, func(w store.Writer) error {
		for _, t := range took {
			if err := s.recordDelivery(w, t.e, p.Agency, t.r, t.receipt, now); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		return s.markSeen(w, p.Agency, now)
	})
	if err != nil {
		s.log.Warn("recording deliveries", "err", err)
	}
	return nil
}

// refuseReceipt audits a receipt for e from p that does not verify, and
// keeps e queued: such a receipt proves nothing.
func (s *Service) refuseReceipt(ctx context.Context, p Peer, e OutboxEntry, cause error, now time.Time) {
	s.refusePeer(ctx, now, audit.Event{Actor: "peer:" + p.Agency, Action: "receipt.refused", Object: "exchange/" + e.Exchange, Outcome: audit.Denied, Details: cause.Error()})
	s.retry(ctx, e, cause)
}
