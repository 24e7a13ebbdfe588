package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cpx-node/cpx/crypto/agencykey"
	"github.com/cpx-node/cpx/crypto/envelope"
	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/store"
)

// ErrPermanent marks a delivery error that retrying will not cure (the
// peer refused the envelope). Transports wrap such errors with it.
var ErrPermanent = errors.New("refused by the peer")

// Receipt is a peer's signed statement that it received an envelope, or
// the envelopes of a batch.
type Receipt struct {
	EnvelopeID  string    `json:"envelope_id,omitempty"`
	EnvelopeIDs []string  `json:"envelope_ids,omitempty"` // a batch's
	From        string    `json:"from"`                   // the receiving agency, which signs
	To          string    `json:"to"`                     // the sender
	ReceivedAt  time.Time `json:"received_at"`
}

type signedReceipt struct {
	Body []byte `json:"body"` // JSON of Receipt
	Sig  []byte `json:"sig"`  // agencykey.Signature, canonical encoding
}

func (s *Service) signReceipt(r Receipt) ([]byte, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	sig, err := s.currentKey().Sign(append([]byte("cpx-receipt-v1\n"), body...))
	if err != nil {
		return nil, err
	}
	sb, err := sig.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return json.Marshal(signedReceipt{Body: body, Sig: sb})
}

// verifyReceipt checks a receipt from peer p for envelope id at now: its
// signature, by a key of p valid when the receipt was made (not in the
// future), and that it names this envelope, p and this node.
func verifyReceipt(p Peer, envelopeID, self string, b []byte, now time.Time) (Receipt, error) {
	r, err := verifySignedReceipt(p, self, b, now)
	if err == nil && !r.names(envelopeID) {
		err = fmt.Errorf("receipt for %s does not name envelope %s", r.EnvelopeID, envelopeID)
	}
	return r, err
}

// verifySignedReceipt checks a receipt from peer p at now: its signature,
// by a key of p valid when the receipt was made (not in the future), and
// that it is from p to this node. Which envelopes it names is the
// caller's to check.
func verifySignedReceipt(p Peer, self string, b []byte, now time.Time) (Receipt, error) {
	var sr signedReceipt
	var r Receipt
	if err := json.Unmarshal(b, &sr); err != nil {
		return r, fmt.Errorf("malformed receipt: %w", err)
	}
	sig, err := agencykey.UnmarshalSignature(sr.Sig)
	if err != nil {
		return r, fmt.Errorf("malformed receipt signature: %w", err)
	}
	if err := json.Unmarshal(sr.Body, &r); err != nil {
		return r, fmt.Errorf("malformed receipt: %w", err)
	}
	if r.ReceivedAt.After(now.Add(envelope.ClockSkew)) {
		return r, fmt.Errorf("receipt made in the future (%s)", r.ReceivedAt.UTC().Format(time.RFC3339))
	}
	pub, err := p.senderKey(sig.Key, r.ReceivedAt)
	if err != nil {
		return r, fmt.Errorf("receipt: %w", err)
	}
	if err := pub.Verify(append([]byte("cpx-receipt-v1\n"), sr.Body...), sig); err != nil {
		return r, fmt.Errorf("receipt signature: %w", err)
	}
	if r.From != p.Agency || r.To != self {
		return r, fmt.Errorf("receipt from %s to %s, not from %s to %s", r.From, r.To, p.Agency, self)
	}
	return r, nil
}

// names reports whether r is a receipt for the envelope id.
func (r Receipt) names(id string) bool {
	return id != "" && (r.EnvelopeID == id || r.EnvelopeID == "" && slices.Contains(r.EnvelopeIDs, id))
}

// roundGap is the time between two delivery rounds that found entries
// due: four times what the last round took to read the outbox, so that
// reading it takes at most a fifth of the deliverer's time, between
// minRoundGap and maxRoundGap.
func roundGap(took time.Duration) time.Duration {
	return min(maxRoundGap, max(minRoundGap, 4*took))
}

const (
	minRoundGap = time.Millisecond
	maxRoundGap = 10 * time.Millisecond
)

// poke wakes the deliverer for a round that reads the whole outbox.
func (s *Service) poke() {
	s.needScan()
	s.wakeUp()
}

// needScan has the next round read the whole outbox.
func (s *Service) needScan() {
	s.hintMu.Lock()
	s.scan = true
	s.hintMu.Unlock()
}

// wakeUp wakes the deliverer.
func (s *Service) wakeUp() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Hints.
//
// A round that reads the whole outbox decrypts and decodes every entry,
// and its read waits for the commits under way; under load nearly every
// send woke such a round. A send now hands the entry it queued to the
// deliverer once committed (hint), and a round woken only by hints
// delivers those without reading the outbox. The outbox is still read in
// full at start, every second (the deliverer's tick, which finds retries
// that became due), when a peer is rushed, and when anything else pokes
// the deliverer: a hint the deliverer drops costs at most a second.
// Hints are only hints: each entry is read afresh before it is sent.

// maxHints bounds the hints kept; past it they are dropped for a round
// that reads the outbox.
const maxHints = 4096

// hint hands e, an outbox entry just committed, to the deliverer.
func (s *Service) hint(e OutboxEntry) {
	e.Envelope = nil
	s.hintMu.Lock()
	if len(s.hints) >= maxHints {
		s.hints, s.scan = nil, true
	} else {
		s.hints = append(s.hints, e)
	}
	s.hintMu.Unlock()
	s.wakeUp()
}

// takeHints returns and forgets the hints, and whether the next round
// must read the whole outbox instead.
func (s *Service) takeHints() ([]OutboxEntry, bool) {
	s.hintMu.Lock()
	defer s.hintMu.Unlock()
	hints, scan := s.hints, s.scan
	s.hints, s.scan = nil, false
	return hints, scan
}

// keepHints hands entries a round could not start back to the deliverer,
// ahead of newer hints, for the round after their peer's worker ends.
func (s *Service) keepHints(entries []OutboxEntry) {
	s.hintMu.Lock()
	defer s.hintMu.Unlock()
	if len(s.hints)+len(entries) > maxHints {
		s.hints, s.scan = nil, true
		return
	}
	s.hints = append(slices.Clone(entries), s.hints...)
}

// backoff is the wait before attempt n+1: 1s doubling up to 5 minutes.
func backoff(attempts int) time.Duration {
	d := time.Second << min(attempts, 9)
	return min(d, 5*time.Minute)
}

// Run delivers the outbox until ctx is done. It first greets every peer
// (in the background), so that partners learn where this node is now.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(3)
	go func() {
		defer wg.Done()
		s.greetPeers(ctx)
	}()
	go func() {
		defer wg.Done()
		s.runCheckpoints(ctx)
	}()
	go func() {
		defer wg.Done()
		s.refusals.Run(ctx)
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	s.poke() // the first round reads the whole outbox
	retired := s.now()
	s.enforceRetention(ctx)
	var last time.Time
	gap := maxRoundGap
	for {
		// A round that reads the whole outbox is at least gap after the
		// last such round that found entries due (what arrives meanwhile
		// goes in the next one). A round of hints alone, or one that found
		// nothing due, holds no other back.
		if wait := gap - time.Since(last); wait > 0 && s.scanPending() {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		}
		t0 := time.Now()
		due, scanned, err := s.startDue(ctx, &wg)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("delivering", "err", err)
		}
		if due > 0 && scanned {
			last, gap = t0, roundGap(time.Since(t0))
		}
		if now := s.now(); now.Sub(retired) > time.Hour {
			retired = now
			if _, err := s.RetireKeys(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("retiring old agency keys", "err", err)
			}
			if err := s.pruneSeen(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("pruning the replay guard", "err", err)
			}
			s.enforceRetention(ctx)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		case <-tick.C:
			s.poke() // a round that finds the retries now due
		}
	}
}

// deliverDue makes one attempt at every outbox entry that is due, and
// waits for them.
func (s *Service) deliverDue(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	s.needScan()
	_, _, err := s.startDue(ctx, &wg)
	return err
}

// startDue starts a delivery worker (counted in wg) for every peer that
// has outbox entries due and no worker yet, at most maxDeliveryWorkers at
// a time, and returns without waiting for them: a peer that stalls holds
// up only its own envelopes, never the next round for the others. A
// worker that ends wakes the deliverer, so that what became due for its
// peer meanwhile goes at once. It returns how many entries were due, and
// whether it read the whole outbox (or took hints alone).
func (s *Service) startDue(ctx context.Context, wg *sync.WaitGroup) (int, bool, error) {
	now := s.now().UTC()
	rushAll, rushed := s.takeRush()
	due, scan := s.takeHints()
	scan = scan || rushAll || len(rushed) > 0
	if scan {
		due = nil
		err := s.store.View(ctx, func(r store.Reader) error {
			return r.Scan(prefixOutbox, store.ScanOptions{}, func(_, v []byte) error {
				var e OutboxEntry
				if err := unmarshal(v, &e); err != nil {
					return err
				}
				if !e.NextAttempt.After(now) || rushAll || rushed[e.Peer] {
					due = append(due, e)
				}
				return nil
			})
		})
		if err != nil {
			s.poke() // read it again next round
			return 0, true, err
		}
	}
	// One worker per peer (at most maxDeliveryWorkers at a time): a slow
	// or unreachable peer holds up only its own envelopes. Within a peer
	// the envelopes go in outbox order, and once the peer cannot be
	// reached the rest of its envelopes wait for their next attempt
	// instead of each waiting out the timeout.
	byPeer := map[string][]OutboxEntry{}
	var peers []string
	for _, e := range due {
		if _, ok := byPeer[e.Peer]; !ok {
			peers = append(peers, e.Peer)
		}
		byPeer[e.Peer] = append(byPeer[e.Peer], e)
	}
	for _, peer := range peers {
		if !s.startDelivering(peer) {
			if rushAll || rushed[peer] {
				s.keepRush(peer) // for the round after its worker ends
			}
			s.keepHints(byPeer[peer])
			continue
		}
		wg.Add(1)
		go func(entries []OutboxEntry) {
			// The peer gets its next worker once this one's calls have
			// returned, while it records the last receipts.
			free := sync.OnceFunc(func() {
				s.stopDelivering(peer)
				s.wakeUp() // for what was kept for this peer meanwhile
			})
			defer func() {
				free()
				wg.Done()
			}()
			s.deliverPeer(ctx, entries, free)
		}(byPeer[peer])
	}
	return len(due), scan, nil
}

// scanPending reports whether the deliverer's next round reads the whole
// outbox.
func (s *Service) scanPending() bool {
	s.hintMu.Lock()
	scan := s.scan
	s.hintMu.Unlock()
	s.rushMu.Lock()
	defer s.rushMu.Unlock()
	return scan || s.rushAll || len(s.rushed) > 0
}

// perPeerInFlight bounds the envelopes sent to one peer at the same time.
// One at a time, a peer got at most one envelope per round trip and two
// synced commits (its own and the receipt's here); several in flight
// share those commits (group commit in the store).
const perPeerInFlight = 16

// deliverPeer makes one attempt at each of one peer's entries: in
// batches when the peer takes them (deliverBatches), otherwise one per
// call, the first alone unless the last attempt reached the peer, then up to
// perPeerInFlight at a time. The entries of one exchange go one after the
// other, in outbox order, so that a follow-up never overtakes what it
// follows. Once the peer cannot be reached, the entries not yet attempted
// wait for their next attempt instead of each waiting out the timeout.
func (s *Service) deliverPeer(ctx context.Context, entries []OutboxEntry, sent func()) {
	var chains [][]OutboxEntry
	at := map[string]int{}
	for _, e := range entries {
		i, ok := at[e.Exchange]
		if !ok {
			i = len(chains)
			at[e.Exchange] = i
			chains = append(chains, nil)
		}
		chains[i] = append(chains[i], e)
	}
	if len(chains) == 0 {
		return
	}
	if bt, ok := s.batchable(entries[0].Peer); ok {
		if chains = s.deliverBatches(ctx, bt, entries[0].Peer, chains, sent); len(chains) == 0 {
			return
		}
	}
	// Unless the last attempt reached the peer, the first envelope goes
	// alone: if the peer cannot be reached, none of the others wait out
	// the timeout beside it.
	if ctx.Err() != nil {
		return
	}
	items := chains
	if rest := chains[0][1:]; len(rest) > 0 {
		items = append([][]OutboxEntry{chains[0][:1], rest}, chains[1:]...)
	}
	retry := func(chain []OutboxEntry, err error) {
		if ctx.Err() == nil { // with ctx done, nothing can be recorded
			for _, e := range chain {
				s.retry(ctx, e, err)
			}
		}
	}
	fanOut(ctx, perPeerInFlight, !s.wasReached(chains[0][0].Peer), items,
		func(chain []OutboxEntry, stopped func() error) error {
			for i, e := range chain {
				if err := stopped(); err != nil {
					retry(chain[i:], err)
					return nil
				}
				if _, err := s.attemptClaimed(ctx, e.EnvelopeID); err != nil {
					retry(chain[i+1:], err)
					return err
				}
			}
			return nil
		}, retry)
}

// fanOut calls send on each of items, up to n at a time, the first alone
// when alone is set. Once a send has failed (the peer could not be
// reached, or takes no batches) or ctx is done, the items not yet started
// go to skip instead, with that error (the first send's error, else
// ctx's); a send that is under way can ask for it with stopped.
func fanOut[T any](ctx context.Context, n int, alone bool, items []T, send func(item T, stopped func() error) error, skip func(item T, err error)) {
	var (
		mu     sync.Mutex
		failed error
		wg     sync.WaitGroup
		slots  = make(chan struct{}, n)
	)
	stopped := func() error {
		mu.Lock()
		defer mu.Unlock()
		if failed != nil {
			return failed
		}
		return ctx.Err()
	}
	run := func(item T) {
		if err := send(item, stopped); err != nil {
			mu.Lock()
			if failed == nil {
				failed = err
			}
			mu.Unlock()
		}
	}
	if alone && len(items) > 0 {
		run(items[0])
		items = items[1:]
	}
	for _, item := range items {
		slots <- struct{}{}
		if err := stopped(); err != nil {
			<-slots
			skip(item, err)
			continue
		}
		wg.Go(func() {
			defer func() { <-slots }()
			run(item)
		})
	}
	wg.Wait()
}

// wasReached reports whether the last delivery attempt to the peer
// agency reached it.
func (s *Service) wasReached(agency string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.reached[agency]
}

// noteReached records whether a delivery attempt reached the peer agency.
func (s *Service) noteReached(agency string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reached == nil {
		s.reached = map[string]bool{}
	}
	s.reached[agency] = ok
}

// startDelivering marks peer as having a delivery worker, unless it has
// one already or maxDeliveryWorkers are busy.
func (s *Service) startDelivering(peer string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.delivering[peer] || len(s.delivering) >= maxDeliveryWorkers {
		return false
	}
	if s.delivering == nil {
		s.delivering = map[string]bool{}
	}
	s.delivering[peer] = true
	return true
}

func (s *Service) stopDelivering(peer string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.delivering, peer)
}

// keepRush keeps agency rushed for a later round without waking the
// deliverer now.
func (s *Service) keepRush(agency string) {
	s.rushMu.Lock()
	defer s.rushMu.Unlock()
	if s.rushed == nil {
		s.rushed = map[string]bool{}
	}
	s.rushed[agency] = true
}

// maxDeliveryWorkers bounds the peers delivered to at the same time.
const maxDeliveryWorkers = 8

// Delivery is the outcome of one delivery attempt.
type Delivery struct {
	// Delivered: the peer returned a valid receipt.
	Delivered bool
	// Refused is the peer's refusal, or why the envelope failed for good
	// (expired); empty otherwise.
	Refused string
	// Err is why the attempt did not succeed and will be retried.
	Err error
}

// claim marks an envelope as being delivered, so that the deliverer and a
// synchronous delivery (Respond, Resync) never attempt it at the same
// time. It reports false if it is already claimed.
func (s *Service) claim(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight == nil {
		s.inflight = map[string]bool{}
	}
	if s.inflight[id] {
		return false
	}
	s.inflight[id] = true
	return true
}

func (s *Service) release(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inflight, id)
}

// attemptClaimed claims the outbox entry id, reads it afresh and makes
// one attempt. It returns the attempt's outcome, and an error when the
// peer could not be reached (as attempt does). An entry claimed elsewhere
// or gone meanwhile is left alone.
func (s *Service) attemptClaimed(ctx context.Context, id string) (Delivery, error) {
	if !s.claim(id) {
		return Delivery{Err: errors.New("a delivery of it is under way")}, nil
	}
	defer s.release(id)
	// One read transaction (each waits for the commits under way) for
	// the entry, its envelope and the peer.
	var e OutboxEntry
	var p Peer
	var perr error
	err := s.store.View(ctx, func(r store.Reader) error {
		var err error
		if e, err = readEntry(r, id); err != nil {
			return err
		}
		p, perr = s.peer(r, e.Peer)
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return Delivery{Delivered: true}, nil // delivered (or failed) meanwhile
	}
	if err != nil {
		return Delivery{Err: err}, nil
	}
	return s.attempt(ctx, e, p, perr)
}

// readEntry reads the outbox entry id within r, with its envelope: nil
// when none is stored (the peer then refuses the entry, which fails for
// good). It returns ErrNotFound when the entry is gone (delivered or
// failed).
func readEntry(r store.Reader, id string) (OutboxEntry, error) {
	var e OutboxEntry
	if err := getJSON(r, key(prefixOutbox, id), &e); err != nil || e.Envelope != nil {
		return e, err
	}
	b, err := r.Get(key(prefixSealed, id))
	if errors.Is(err, store.ErrNotFound) {
		return e, nil
	}
	e.Envelope = b
	return e, err
}

// attempt tries to deliver e once and records the outcome. It returns the
// error when the peer could not be reached (the entry is then rescheduled),
// nil otherwise (delivered, failed for good, or rescheduled for a reason of
// its own). The caller holds the claim on e, and has read its peer p (or
// failed to, with err).
func (s *Service) attempt(ctx context.Context, e OutboxEntry, p Peer, err error) (Delivery, error) {
	now := s.now().UTC()
	if !now.Before(e.Expires) {
		reason := "the envelope expired before the peer could be reached"
		s.fail(ctx, e, reason, false)
		return Delivery{Refused: reason}, nil
	}
	if err != nil {
		s.retry(ctx, e, err)
		return Delivery{Err: err}, nil
	}
	actx, cancel := context.WithTimeout(ctx, 20*time.Second)
	receipt, err := s.transport.Deliver(actx, p.PeerID, p.DialAddrs(), e.Envelope)
	cancel()
	now = s.now().UTC() // the receipt's arrival, as recorded
	s.noteReached(e.Peer, err == nil || errors.Is(err, ErrPermanent))
	if errors.Is(err, ErrPermanent) {
		s.fail(ctx, e, err.Error(), true)
		return Delivery{Refused: err.Error()}, nil
	}
	if err != nil {
		s.retry(ctx, e, err)
		s.notePeerError(ctx, p.Agency, err)
		return Delivery{Err: err}, err
	}
	r, err := verifyReceipt(p, e.EnvelopeID, s.agency, receipt, now)
	if err != nil {
		s.refuseReceipt(ctx, p, e, err, now)
		return Delivery{Err: err}, nil
	}
	err = s.store.Update(ctx, func(w store.Writer) error {
		if err := s.recordDelivery(w, e, p.Agency, r, receipt, now); err != nil {
			return err
		}
		return s.markSeen(w, p.Agency, now)
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Warn("recording a delivery", "err", err)
	}
	return Delivery{Delivered: true}, nil
}

// recordDelivery records within w that the peer agency took e, with
// receipt r (encoded as receipt): the entry leaves the outbox, the
// exchange is delivered (or in sync), and the delivery is audited (the
// caller marks the peer seen). It
// returns store.ErrNotFound, having written nothing, when the entry or
// its exchange is gone (recorded meanwhile).
func (s *Service) recordDelivery(w store.Writer, e OutboxEntry, agency string, r Receipt, receipt []byte, now time.Time) error {
	if _, err := w.Get(key(prefixOutbox, e.EnvelopeID)); err != nil {
		return err // recorded meanwhile
	}
	var rec Record
	if err := getJSON(w, key(prefixRecord, e.Exchange), &rec); err != nil {
		if errors.Is(err, ErrNotFound) {
			return store.ErrNotFound
		}
		return err
	}
	if err := deleteOutbox(w, e.EnvelopeID); err != nil {
		return err
	}
	if !strings.Contains(e.Kind, ".") && rec.Status == StatusPending {
		rec.event(r.ReceivedAt, StatusDelivered, "peer:"+agency, "")
	}
	if rec.Envelope == e.EnvelopeID || rec.Envelope == "" {
		rec.Sync, rec.SyncError = SyncInSync, ""
	}
	if err := s.putRecord(w, &rec); err != nil {
		return err
	}
	_, err := audit.Append(w, now, audit.Event{Actor: "node", Action: "envelope.delivered", Object: "exchange/" + e.Exchange,
		Details: map[string]any{"envelope": e.EnvelopeID, "kind": e.Kind, "to": e.Peer, "receipt": receipt}})
	return err
}

// seenGranularity is how stale a peer's LastSeen may be before an
// exchange with it writes the peer's record again.
const seenGranularity = time.Second

// markSeen records within w that the peer agency answered or called at
// now. It reads the peer afresh (it may have announced new addresses or
// keys meanwhile) and leaves the record alone when it has no error and
// was seen less than seenGranularity ago: every envelope and receipt
// rewrote it, and each rewrite costs a decode on the next lookup.
func (s *Service) markSeen(w store.Writer, agency string, now time.Time) error {
	p, err := s.peer(w, agency)
	if err != nil {
		return nil // removed meanwhile
	}
	if p.LastError == "" && p.LastErrorAt.IsZero() && !now.Before(p.LastSeen) && now.Sub(p.LastSeen) < seenGranularity {
		return nil
	}
	return putJSON(w, key(prefixPeer, agency), withSeen(p, now))
}

func withSeen(p Peer, now time.Time) Peer {
	p.LastSeen, p.LastError, p.LastErrorAt = now, "", time.Time{}
	return p
}

// deleteOutbox removes the outbox entry id and its envelope within w.
func deleteOutbox(w store.Writer, id string) error {
	if err := w.Delete(key(prefixOutbox, id)); err != nil {
		return err
	}
	return w.Delete(key(prefixSealed, id))
}

func (s *Service) retry(ctx context.Context, e OutboxEntry, cause error) {
	e.Attempts++
	e.LastError = cause.Error()
	e.NextAttempt = s.now().UTC().Add(backoff(e.Attempts))
	err := s.store.Update(ctx, func(w store.Writer) error {
		if _, err := w.Get(key(prefixOutbox, e.EnvelopeID)); err != nil {
			return err // delivered or failed meanwhile
		}
		if _, err := w.Get(key(prefixSealed, e.EnvelopeID)); err == nil {
			e.Envelope = nil // kept beside the entry
		}
		var rec Record
		if err := getJSON(w, key(prefixRecord, e.Exchange), &rec); err == nil && rec.Envelope == e.EnvelopeID && rec.SyncError != e.LastError {
			rec.SyncError = e.LastError
			if err := s.putRecord(w, &rec); err != nil {
				return err
			}
		}
		return putJSON(w, key(prefixOutbox, e.EnvelopeID), e)
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Warn("recording a failed delivery", "err", err)
	}
}

// fail gives up on an entry. An offer that never arrived marks the
// exchange failed. A follow-up (accept, done, ...) the peer refused is
// undone here, so that both parties keep the same state: the exchange
// goes back to the state it had before, with an event saying why. A
// follow-up that expired undelivered leaves the exchange out of sync
// until it is sent again (Resync).
func (s *Service) fail(ctx context.Context, e OutboxEntry, reason string, refused bool) {
	now := s.now().UTC()
	err := s.store.Update(ctx, func(w store.Writer) error {
		if _, err := w.Get(key(prefixOutbox, e.EnvelopeID)); err != nil {
			return err // recorded meanwhile
		}
		if err := deleteOutbox(w, e.EnvelopeID); err != nil {
			return err
		}
		var rec Record
		if err := getJSON(w, key(prefixRecord, e.Exchange), &rec); err != nil {
			return err
		}
		latest := rec.Envelope == e.EnvelopeID || rec.Envelope == ""
		unchanged := e.Undo != "" && len(rec.History) == e.HistoryLen
		action := "envelope.failed"
		switch {
		case !strings.Contains(e.Kind, "."):
			rec.event(now, StatusFailed, "node", reason)
			rec.Sync, rec.SyncError = SyncInSync, reason
		case refused && latest && unchanged:
			// The peer did not take the change: go back to the state
			// before it.
			rec.event(now, e.Undo, "node", fmt.Sprintf("%s refused %s: %s", rec.Peer, e.Kind, reason))
			rec.Sync, rec.SyncError = SyncInSync, reason
			action = "envelope.refused_by_peer"
		case latest:
			rec.Sync, rec.SyncError = SyncOutOfSync, reason
		}
		if err := s.putRecord(w, &rec); err != nil {
			return err
		}
		_, err := audit.Append(w, now, audit.Event{Actor: "node", Action: action, Object: "exchange/" + e.Exchange, Outcome: audit.Failed,
			Details: map[string]any{"envelope": e.EnvelopeID, "kind": e.Kind, "reason": reason}})
		return err
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Warn("recording a failed exchange", "err", err)
	}
}

// deliverNow makes one attempt at the outbox entry id at once, waiting at
// most 15 seconds, so that a command can say whether the peer took it.
func (s *Service) deliverNow(ctx context.Context, id string) Delivery {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	d, _ := s.attemptClaimed(ctx, id)
	if d.Err != nil {
		s.poke()
	}
	return d
}

// enforceRetention runs EnforceRetention and logs a failure.
func (s *Service) enforceRetention(ctx context.Context) {
	if _, err := s.EnforceRetention(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("enforcing retention", "err", err)
	}
}

// runCheckpoints makes and sends audit checkpoints (see checkpoint.go),
// looking at the chain's head every minute.
func (s *Service) runCheckpoints(ctx context.Context) {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		if _, err := s.checkpoint(ctx, false); err != nil && ctx.Err() == nil {
			s.log.Warn("audit checkpoint", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
