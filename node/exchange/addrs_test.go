package exchange

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cpx-node/cpx/crypto/keyring"
	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/memstore"
	"github.com/cpx-node/cpx/policy"
)

// openWithPeers opens a Service on a memory store holding the given peers
// and outbox entries.
func openWithPeers(t *testing.T, tr Transport, peers []Peer, entries []OutboxEntry) (*Service, store.Store) {
	t.Helper()
	ctx := context.Background()
	kr, err := keyring.CreateFileWithParams(filepath.Join(t.TempDir(), "keyring.json"), []byte("passphrase"), keyring.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	st := memstore.New()
	s, err := Open(ctx, Options{Store: st, Keyring: kr, Agency: "agency-a", PeerID: "peer-a", Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	err = st.Update(ctx, func(w store.Writer) error {
		for _, p := range peers {
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
	return s, st
}

func adminSubject(t *testing.T) policy.Subject {
	t.Helper()
	for _, r := range policy.StandardRoles() {
		if r.ID == "agency_admin" {
			return policy.Subject{User: "admin", Agency: "agency-a", Role: r}
		}
	}
	t.Fatal("no agency_admin role")
	return policy.Subject{}
}

// TestPeerAnnounced: a peer's own announcement replaces the addresses it
// announced before and is dialled first; nobody can announce addresses
// for another node, and stale or malformed announcements are refused.
func TestPeerAnnounced(t *testing.T) {
	ctx := context.Background()
	given := "/ip4/127.0.0.1/tcp/4001"
	s, st := openWithPeers(t, &hangingTransport{calls: map[string]int{}}, []Peer{
		{Agency: "agency-b", PeerID: "peer-b", Addrs: []string{given}},
		{Agency: "agency-c", PeerID: "peer-c", Addrs: []string{"/ip4/127.0.0.1/tcp/4002"}},
	}, nil)
	get := func(agency string) Peer {
		t.Helper()
		p, err := s.getPeer(ctx, agency)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	moved := []string{"/ip4/127.0.0.1/tcp/5001", "/ip4/127.0.0.1/udp/5001/quic-v1"}
	if err := s.PeerAnnounced(ctx, "peer-b", moved, 100); err != nil {
		t.Fatal(err)
	}
	b := get("agency-b")
	if want := append(slices.Clone(moved), given); !slices.Equal(b.DialAddrs(), want) {
		t.Errorf("dial addresses after B moved: got %v, want %v", b.DialAddrs(), want)
	}
	if b.LastSeen.IsZero() || b.AnnouncedSeq != 100 {
		t.Errorf("after the announcement: got last seen %v, seq %d", b.LastSeen, b.AnnouncedSeq)
	}

	// C is a known peer, authenticated as itself: whatever it announces
	// lands on its own record, never on B's.
	if err := s.PeerAnnounced(ctx, "peer-c", []string{"/ip4/10.6.6.6/tcp/6666"}, 999); err != nil {
		t.Fatal(err)
	}
	if got := get("agency-b").DialAddrs(); !slices.Equal(got, b.DialAddrs()) {
		t.Errorf("C's announcement changed B's addresses: got %v, want %v", got, b.DialAddrs())
	}

	refusals := []struct {
		name   string
		peerID string
		addrs  []string
		seq    uint64
		want   error
	}{
		{"unknown node", "peer-x", []string{"/ip4/10.6.6.6/tcp/6666"}, 1, ErrDenied},
		{"older announcement", "peer-b", []string{"/ip4/127.0.0.1/tcp/4001"}, 99, ErrRefused},
		{"address naming another node", "peer-b", []string{"/ip4/127.0.0.1/tcp/1/p2p/peer-c"}, 200, ErrInvalid},
		{"not a multiaddr", "peer-b", []string{"127.0.0.1:1"}, 200, ErrInvalid},
		{"no address", "peer-b", nil, 200, ErrInvalid},
		{"too many addresses", "peer-b", slices.Repeat([]string{"/ip4/127.0.0.1/tcp/1"}, maxAnnouncedAddrs+1), 200, ErrInvalid},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			err := s.PeerAnnounced(ctx, tt.peerID, tt.addrs, tt.seq)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if got := get("agency-b").DialAddrs(); !slices.Equal(got, b.DialAddrs()) {
				t.Errorf("B's addresses changed: got %v, want %v", got, b.DialAddrs())
			}
		})
	}

	// The move and the refusals are in the audit log.
	var actions []string
	err := st.View(ctx, func(r store.Reader) error {
		return audit.Scan(r, func(e audit.Entry) error {
			actions = append(actions, e.Action+"/"+e.Outcome)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(actions, " ")
	if strings.Count(joined, "peer.addrs/ok") != 2 || strings.Count(joined, "peer.addrs/denied") != 2 {
		t.Errorf("audit: got %s; want two peer.addrs ok (B, C) and two denied (unknown node, older announcement)", joined)
	}

	// A peer whose clock was set back is believed again after a while.
	s.now = func() time.Time { return time.Now().Add(time.Hour) }
	if err := s.PeerAnnounced(ctx, "peer-b", []string{"/ip4/127.0.0.1/tcp/7001"}, 5); err != nil {
		t.Errorf("older sequence an hour later: %v", err)
	}
}

func TestReachability(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		p         Peer
		connected bool
		want      Reachability
	}{
		{"never", Peer{}, false, NeverSeen},
		{"connected", Peer{LastError: "x", LastErrorAt: t0}, true, Connected},
		{"seen", Peer{LastSeen: t0}, false, Reachable},
		{"failed after seen", Peer{LastSeen: t0, LastError: "dial", LastErrorAt: t0.Add(time.Minute)}, false, Unreachable},
		{"failed, never seen", Peer{LastError: "dial"}, false, Unreachable},
	}
	for _, tt := range tests {
		if got := tt.p.Reachability(tt.connected); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestRetryOutbox: cpx outbox retry and a new connection make a peer's
// waiting envelopes due now, and only that peer's.
func TestRetryOutbox(t *testing.T) {
	ctx := context.Background()
	later := time.Now().UTC().Add(time.Hour)
	tr := &hangingTransport{calls: map[string]int{}}
	s, _ := openWithPeers(t, tr, []Peer{
		{Agency: "agency-b", PeerID: "peer-b"},
		{Agency: "agency-c", PeerID: "peer-c"},
	}, []OutboxEntry{
		{EnvelopeID: "e1", Exchange: "x1", Peer: "agency-b", NextAttempt: later, Expires: later.Add(time.Hour)},
		{EnvelopeID: "e2", Exchange: "x2", Peer: "agency-b", NextAttempt: later, Expires: later.Add(time.Hour)},
		{EnvelopeID: "e3", Exchange: "x3", Peer: "agency-c", NextAttempt: later, Expires: later.Add(time.Hour)},
	})
	round := func() {
		t.Helper()
		if err := s.deliverDue(ctx); err != nil {
			t.Fatal(err)
		}
	}
	round()
	if b, c := tr.count("peer-b"), tr.count("peer-c"); b+c != 0 {
		t.Fatalf("before any retry: %d and %d attempts, want none (not due)", b, c)
	}
	admin := adminSubject(t)
	n, err := s.RetryOutbox(ctx, admin, "agency-b")
	if err != nil || n != 2 {
		t.Fatalf("retry agency-b: got %d, %v; want 2", n, err)
	}
	round()
	if b, c := tr.count("peer-b"), tr.count("peer-c"); b != 1 || c != 0 {
		t.Errorf("after retry agency-b: got %d and %d attempts, want 1 and 0", b, c)
	}
	if p, _ := s.getPeer(ctx, "agency-b"); p.LastError == "" || p.Reachability(false) != Unreachable {
		t.Errorf("agency-b after a failed attempt: got last error %q, %s", p.LastError, p.Reachability(false))
	}
	round()
	if b := tr.count("peer-b"); b != 1 {
		t.Errorf("a retry is for one round: got %d attempts, want 1", b)
	}
	s.PeerConnected(ctx, "peer-c")
	round()
	if c := tr.count("peer-c"); c != 1 {
		t.Errorf("after agency-c connected: got %d attempts, want 1", c)
	}
	if n, err := s.RetryOutbox(ctx, admin, ""); err != nil || n != 3 {
		t.Errorf("retry all: got %d, %v; want 3", n, err)
	}
	if _, err := s.RetryOutbox(ctx, admin, "agency-x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("retry an unknown peer: got %v, want not found", err)
	}
	if _, err := s.RetryOutbox(ctx, policy.Subject{User: "nobody"}, ""); !errors.Is(err, ErrDenied) {
		t.Errorf("retry without a role: got %v, want denied", err)
	}
}
