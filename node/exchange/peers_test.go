package exchange

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cpx-node/cpx/crypto/agencykey"
	"github.com/cpx-node/cpx/crypto/keyring"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/memstore"
)

// TestPeerByIDFollowsChanges: a node id found once is looked up again by
// its agency's record alone, and the answer still follows the records: a
// peer whose node changed is no longer found under the old id, and one
// that was removed is not found at all.
func TestPeerByIDFollowsChanges(t *testing.T) {
	ctx := context.Background()
	kr, err := keyring.CreateFileWithParams(filepath.Join(t.TempDir(), "keyring.json"), []byte("passphrase"), keyring.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	st := memstore.New()
	s, err := Open(ctx, Options{Store: st, Keyring: kr, Agency: "agency-a", PeerID: "peer-a", Transport: &hangingTransport{calls: map[string]int{}}})
	if err != nil {
		t.Fatal(err)
	}
	put := func(p Peer) {
		t.Helper()
		if err := st.Update(ctx, func(w store.Writer) error { return putJSON(w, key(prefixPeer, p.Agency), p) }); err != nil {
			t.Fatal(err)
		}
	}
	lookup := func(id string) (string, bool) {
		t.Helper()
		var p Peer
		var ok bool
		if err := st.View(ctx, func(r store.Reader) error {
			var err error
			p, ok, err = s.peerByID(r, id)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return p.Agency, ok
	}
	put(Peer{Agency: "agency-b", PeerID: "node-b"})
	put(Peer{Agency: "agency-c", PeerID: "node-c"})
	for range 2 { // the second time from the hint
		if got, ok := lookup("node-c"); !ok || got != "agency-c" {
			t.Errorf("node-c: got %q (found %v), want agency-c", got, ok)
		}
	}
	put(Peer{Agency: "agency-c", PeerID: "node-c2"})
	if got, ok := lookup("node-c"); ok {
		t.Errorf("node-c after agency-c moved to node-c2: got %q, want not found", got)
	}
	if got, ok := lookup("node-c2"); !ok || got != "agency-c" {
		t.Errorf("node-c2: got %q (found %v), want agency-c", got, ok)
	}
	put(Peer{Agency: "agency-d", PeerID: "node-c"}) // the old node id, now another agency's
	if got, ok := lookup("node-c"); !ok || got != "agency-d" {
		t.Errorf("node-c, now agency-d's: got %q (found %v), want agency-d", got, ok)
	}
	if err := st.Update(ctx, func(w store.Writer) error { return w.Delete(key(prefixPeer, "agency-d")) }); err != nil {
		t.Fatal(err)
	}
	if got, ok := lookup("node-c"); ok {
		t.Errorf("node-c after agency-d was removed: got %q, want not found", got)
	}
}

// TestPeerKeysDecodedOnce: a peer's keys come out the same whether their
// announcements were decoded before or not, in order, and an announcement
// that does not decode is left out.
func TestPeerKeysDecodedOnce(t *testing.T) {
	now := time.Now()
	var anns [][]byte
	var want []string
	var prev *agencykey.Private
	for v := range 3 {
		k, err := agencykey.Generate("agency-b", uint32(v+1), now.Add(-time.Hour), now.Add(time.Hour), nil)
		if err != nil {
			t.Fatal(err)
		}
		anns, want, prev = append(anns, announce(t, k, "peer-b", now, prev)), append(want, k.Fingerprint()), k
	}
	p := Peer{Agency: "agency-b", Announcements: append(slices.Clone(anns), []byte("not an announcement"))}
	for round := range 2 { // decoded, then from the cache
		var got []string
		for _, k := range p.Keys() {
			got = append(got, k.Fingerprint())
		}
		if !slices.Equal(got, want) {
			t.Errorf("round %d: keys %v, want %v", round, got, want)
		}
	}
	if k, ok := p.current(now); !ok || k.Fingerprint() != want[2] {
		t.Errorf("current key %s (%v), want %s", k.Fingerprint(), ok, want[2])
	}
}

// announce returns k's announcement from the node peerID at now,
// certified by prev (nil for a first key), encoded.
func announce(t testing.TB, k *agencykey.Private, peerID string, now time.Time, prev *agencykey.Private) []byte {
	t.Helper()
	a, err := agencykey.Announce(k, peerID, now, prev)
	if err != nil {
		t.Fatal(err)
	}
	b, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
