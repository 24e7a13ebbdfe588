package exchange

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cpx-node/cpx/crypto/keyring"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/memstore"
)

// hangingTransport blocks deliveries to one peer until released or the
// attempt's context ends, and refuses every other delivery at once
// (unreachable), counting calls per peer.
type hangingTransport struct {
	hangOn  string
	release chan struct{}
	mu      sync.Mutex
	calls   map[string]int
}

var errUnreachable = errors.New("peer unreachable")

func (h *hangingTransport) Allow(string) error { return nil }
func (h *hangingTransport) Deny(string) error  { return nil }
func (h *hangingTransport) Hello(context.Context, string, []string, [][]byte) ([][]byte, error) {
	return nil, errUnreachable
}
func (h *hangingTransport) Connected(string) bool { return false }
func (h *hangingTransport) Query(context.Context, string, []string, []byte) ([]byte, error) {
	return nil, errUnreachable
}

func (h *hangingTransport) Deliver(ctx context.Context, peerID string, _ []string, _ []byte) ([]byte, error) {
	h.mu.Lock()
	h.calls[peerID]++
	h.mu.Unlock()
	if peerID == h.hangOn {
		select {
		case <-h.release:
		case <-ctx.Done():
		}
	}
	return nil, errUnreachable
}

func (h *hangingTransport) count(peerID string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[peerID]
}

// slowAndFast opens a service whose transport hangs on the peer "slow"
// and finds "fast" unreachable, with entries in its outbox.
func slowAndFast(t *testing.T, entries []OutboxEntry) (*Service, store.Store, *hangingTransport) {
	t.Helper()
	ctx := context.Background()
	kr, err := keyring.CreateFileWithParams(filepath.Join(t.TempDir(), "keyring.json"), []byte("passphrase"), keyring.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	st := memstore.New()
	tr := &hangingTransport{hangOn: "peer-slow", release: make(chan struct{}), calls: map[string]int{}}
	s, err := Open(ctx, Options{Store: st, Keyring: kr, Agency: "agency-a", PeerID: "peer-a", Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	err = st.Update(ctx, func(w store.Writer) error {
		for _, p := range []Peer{{Agency: "slow", PeerID: "peer-slow"}, {Agency: "fast", PeerID: "peer-fast"}} {
			if err := putJSON(w, key(prefixPeer, p.Agency), p); err != nil {
				return err
			}
		}
		for _, e := range entries {
			if err := putJSON(w, key(prefixOutbox, e.EnvelopeID), e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, st, tr
}

// TestDeliverySlowPeerDoesNotHoldOthers: while one peer hangs, another
// peer's envelopes are attempted, and once a peer is unreachable the rest
// of its envelopes are rescheduled without an attempt each.
func TestDeliverySlowPeerDoesNotHoldOthers(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	s, st, tr := slowAndFast(t, []OutboxEntry{
		{EnvelopeID: "e1", Exchange: "x1", Peer: "slow", Expires: now.Add(time.Hour)},
		{EnvelopeID: "e2", Exchange: "x2", Peer: "fast", Expires: now.Add(time.Hour)},
		{EnvelopeID: "e3", Exchange: "x3", Peer: "fast", Expires: now.Add(time.Hour)},
	})
	done := make(chan error, 1)
	go func() { done <- s.deliverDue(ctx) }()
	// The fast peer is tried while the slow one still hangs.
	for tr.count("peer-fast") == 0 {
		select {
		case err := <-done:
			t.Fatalf("round ended (%v) before the fast peer was tried", err)
		case <-time.After(time.Millisecond):
		}
	}
	close(tr.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := tr.count("peer-fast"); n != 1 {
		t.Errorf("fast peer: %d delivery attempts in one round, want 1 (it was unreachable; e3 waits for its next attempt)", n)
	}
	for _, id := range []string{"e1", "e2", "e3"} {
		var e OutboxEntry
		if err := st.View(ctx, func(r store.Reader) error { return getJSON(r, key(prefixOutbox, id), &e) }); err != nil {
			t.Fatal(err)
		}
		if e.Attempts != 1 || !e.NextAttempt.After(now) || e.LastError == "" {
			t.Errorf("%s after the round: attempts %d, next %v, last error %q; want rescheduled once", id, e.Attempts, e.NextAttempt, e.LastError)
		}
	}
}

// TestHints: a round woken by a send's hint delivers what was hinted
// without reading the outbox; an entry no hint names waits for a round
// that reads the outbox (a poke, the tick); an entry whose peer's worker
// is busy is kept for the round after that worker ends.
func TestHints(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	entries := map[string]OutboxEntry{}
	var all []OutboxEntry
	for _, e := range []OutboxEntry{
		{EnvelopeID: "hinted", Exchange: "x1", Peer: "fast", Expires: now.Add(time.Hour)},
		{EnvelopeID: "unhinted", Exchange: "x2", Peer: "fast", Expires: now.Add(time.Hour)},
		{EnvelopeID: "slow-1", Exchange: "x3", Peer: "slow", Expires: now.Add(time.Hour)},
		{EnvelopeID: "slow-2", Exchange: "x4", Peer: "slow", Expires: now.Add(time.Hour)},
	} {
		entries[e.EnvelopeID] = e
		all = append(all, e)
	}
	s, _, tr := slowAndFast(t, all)
	var wg sync.WaitGroup
	round := func() int {
		t.Helper()
		n, _, err := s.startDue(ctx, &wg)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	s.hint(entries["hinted"])
	if n := round(); n != 1 {
		t.Fatalf("a round woken by one hint took %d entries, want the hinted one alone", n)
	}
	wg.Wait()
	if got := tr.count("peer-fast"); got != 1 {
		t.Fatalf("fast peer: %d attempts, want 1 (the hinted entry)", got)
	}
	if n := round(); n != 0 {
		t.Fatalf("a round with no hint and no poke took %d entries, want none", n)
	}
	// The slow peer's worker hangs on slow-1; slow-2, hinted meanwhile,
	// is kept until that worker ends.
	s.hint(entries["slow-1"])
	round()
	for tr.count("peer-slow") == 0 {
		time.Sleep(time.Millisecond)
	}
	s.hint(entries["slow-2"])
	round()
	if hints, _ := s.takeHints(); len(hints) != 1 || hints[0].EnvelopeID != "slow-2" {
		t.Fatalf("hints kept while the slow peer's worker is busy: %v, want slow-2", hints)
	} else {
		s.keepHints(hints)
	}
	close(tr.release)
	wg.Wait()
	if n := round(); n != 1 {
		t.Fatalf("after the slow peer's worker ended a round took %d entries, want slow-2", n)
	}
	wg.Wait()
	// A poke reads the whole outbox: the unhinted entry is found (the
	// others were rescheduled by their failed attempts).
	s.poke()
	if n := round(); n != 1 {
		t.Fatalf("a round after a poke took %d entries, want the unhinted one", n)
	}
	wg.Wait()
}

// bareTransport takes batches and lone deliveries, as a peer would: a
// lone envelope with nothing in it is refused for good, a batch is
// answered "unreachable". It records what each call carried.
type bareTransport struct {
	hangingTransport
	batches [][][]byte
	lone    [][]byte
}

func (b *bareTransport) Deliver(_ context.Context, _ string, _ []string, env []byte) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lone = append(b.lone, env)
	if len(env) == 0 {
		return nil, fmt.Errorf("%w: empty envelope", ErrPermanent)
	}
	return nil, errUnreachable
}

func (b *bareTransport) DeliverBatch(_ context.Context, _ string, _ []string, envs [][]byte) (BatchReply, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.batches = append(b.batches, envs)
	return BatchReply{}, errUnreachable
}

// TestBareEntryFailsForGood: an outbox entry whose envelope is not
// stored (store damage) goes one by one, where the peer refuses it and
// it fails for good, rather than being left out of every batch and kept
// in the outbox; the other entries still go in a batch.
func TestBareEntryFailsForGood(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	s, st, _ := slowAndFast(t, nil)
	tr := &bareTransport{hangingTransport: hangingTransport{calls: map[string]int{}}}
	s.transport = tr
	s.noteReached("fast", true)
	if err := st.Update(ctx, func(w store.Writer) error {
		for _, id := range []string{"bare", "whole"} {
			e := OutboxEntry{EnvelopeID: id, Exchange: "x-" + id, Peer: "fast", Kind: KindReferral, Expires: now.Add(time.Hour)}
			if err := putJSON(w, key(prefixOutbox, id), e); err != nil {
				return err
			}
			if err := putJSON(w, key(prefixRecord, e.Exchange), Record{ID: e.Exchange, Kind: KindReferral, Peer: "fast", Status: StatusPending}); err != nil {
				return err
			}
		}
		return w.Set(key(prefixSealed, "whole"), []byte("an envelope"))
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.deliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	if len(tr.batches) != 1 || len(tr.batches[0]) != 1 || string(tr.batches[0][0]) != "an envelope" {
		t.Errorf("batches sent: %q, want one holding the whole entry's envelope", tr.batches)
	}
	if len(tr.lone) != 1 || len(tr.lone[0]) != 0 {
		t.Errorf("lone deliveries: %q, want one, of the bare entry", tr.lone)
	}
	if err := st.View(ctx, func(r store.Reader) error {
		_, err := r.Get(key(prefixOutbox, "bare"))
		return err
	}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the bare entry after the round: %v, want it gone from the outbox (failed)", err)
	}
}

// TestUnbatchedAskedAgain: a peer that took no batches gets its
// envelopes one per call, and is offered batches again an hour later (it
// may have been upgraded meanwhile).
func TestUnbatchedAskedAgain(t *testing.T) {
	s, _, _ := slowAndFast(t, nil)
	s.transport = &bareTransport{hangingTransport: hangingTransport{calls: map[string]int{}}}
	now := time.Now()
	s.now = func() time.Time { return now }
	if _, ok := s.batchable("fast"); !ok {
		t.Fatal("a peer not yet tried: no batches")
	}
	s.noteUnbatched("fast")
	for _, tc := range []struct {
		after time.Duration
		want  bool
	}{{0, false}, {unbatchedFor - time.Second, false}, {unbatchedFor, true}} {
		now = now.Add(tc.after)
		if _, ok := s.batchable("fast"); ok != tc.want {
			t.Errorf("%v after the peer took no batches: batches %t, want %t", tc.after, ok, tc.want)
		}
		now = now.Add(-tc.after)
	}
}
