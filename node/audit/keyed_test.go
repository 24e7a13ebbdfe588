package audit_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/memstore"
)

var chainKey = bytes.Repeat([]byte{7}, audit.KeySize)

// rewrite changes entry seq's actor and recomputes the SHA-256 chain from
// there to the head, as someone without the key can.
func rewrite(t *testing.T, s store.Store, seq uint64) {
	t.Helper()
	err := s.Update(context.Background(), func(w store.Writer) error {
		var prev audit.Hash
		var all []audit.Entry
		if err := audit.Scan(w, func(e audit.Entry) error { all = append(all, e); return nil }); err != nil {
			return err
		}
		for i := range all {
			e := &all[i]
			if e.Seq == seq {
				e.Actor = "mallory"
			}
			if e.Seq >= seq {
				e.PrevHash = prev
				e.Hash = unkeyedHash(e)
				b, _ := json.Marshal(e)
				if err := w.Set(entryKey(e.Seq), b); err != nil {
					return err
				}
			}
			prev = e.Hash
		}
		hb, _ := json.Marshal(map[string]any{"seq": all[len(all)-1].Seq, "hash": prev})
		return w.Set([]byte("a/head"), hb)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// unkeyedHash is the entry hash of format cpx-audit-v1, as documented.
func unkeyedHash(e *audit.Entry) audit.Hash {
	h := sha256.New()
	var n [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	field([]byte("cpx-audit-v1"))
	binary.BigEndian.PutUint64(n[:], e.Seq)
	field(n[:])
	field([]byte(e.Time.UTC().Format(time.RFC3339Nano)))
	field([]byte(e.Actor))
	field([]byte(e.Action))
	field([]byte(e.Object))
	field([]byte(e.Outcome))
	field(e.DetailsHash[:])
	field(e.PrevHash[:])
	var out audit.Hash
	copy(out[:], h.Sum(nil))
	return out
}

func TestKeyedChain(t *testing.T) {
	ctx := context.Background()
	base := memstore.New()
	// Three entries before the node had a key, then keyed ones.
	for i := range 3 {
		if err := audit.Record(ctx, base, t0.Add(time.Duration(i)*time.Second), audit.Event{Actor: "alice", Action: "case.read"}); err != nil {
			t.Fatal(err)
		}
	}
	keyed := audit.WithKey(base, chainKey)
	if res := verify(t, keyed); !res.OK || res.KeyedThrough != 0 {
		t.Errorf("an old chain not yet covered: %+v; want ok, keyed through 0", res)
	}
	if covered, err := audit.Cover(ctx, keyed, t0.Add(time.Minute)); err != nil || !covered {
		t.Fatalf("Cover: %v, %v", covered, err)
	}
	for i := range 3 {
		if err := audit.Record(ctx, keyed, t0.Add(time.Hour+time.Duration(i)*time.Second), audit.Event{Actor: "bob", Action: "case.read"}); err != nil {
			t.Fatal(err)
		}
	}
	if res := verify(t, keyed); !res.OK || res.KeyedThrough != 7 || !res.Keyed {
		t.Fatalf("intact keyed chain: %+v; want ok, keyed through 7", res)
	}
	// An entry appended without the key (cpx restore) is covered by Cover.
	if err := audit.Record(ctx, base, t0.Add(2*time.Hour), audit.Event{Actor: "cpx-restore", Action: "node.restore"}); err != nil {
		t.Fatal(err)
	}
	if res := verify(t, keyed); !res.OK || res.KeyedThrough != 7 || res.Entries != 8 {
		t.Errorf("unkeyed tail: %+v; want ok, 8 entries keyed through 7", res)
	}
	if _, err := audit.Cover(ctx, keyed, t0.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if res := verify(t, keyed); !res.OK {
		t.Fatalf("after Cover: %+v", res)
	}

	// A rewrite without the key: the SHA-256 chain verifies, the keyed
	// check does not, whichever entry was changed.
	for _, seq := range []uint64{1, 5, 9} {
		s := memstore.New()
		copyStore(t, keyed, s)
		rewrite(t, s, seq)
		dropMACs(t, s, seq)
		if res := verify(t, s); !res.OK {
			t.Fatalf("seq %d: the unkeyed chain should still link: %+v", seq, res)
		}
		res := verify(t, audit.WithKey(s, chainKey))
		if res.OK {
			t.Errorf("rewrite of entry %d without the key: got ok, want broken", seq)
		}
		t.Logf("rewrite of %d: %s", seq, res.Problem)
	}
}

func copyStore(t *testing.T, from, to store.Store) {
	t.Helper()
	type kv struct{ k, v []byte }
	var all []kv
	from.View(context.Background(), func(r store.Reader) error {
		return r.Scan(nil, store.ScanOptions{}, func(k, v []byte) error {
			all = append(all, kv{bytes.Clone(k), bytes.Clone(v)})
			return nil
		})
	})
	to.Update(context.Background(), func(w store.Writer) error {
		for _, x := range all {
			w.Set(x.k, x.v)
		}
		return nil
	})
}

// dropMACs deletes the MACs from seq on, to pass rewritten entries off as
// entries written without the key.
func dropMACs(t *testing.T, s store.Store, from uint64) {
	t.Helper()
	s.Update(context.Background(), func(w store.Writer) error {
		for seq := from; seq < 100; seq++ {
			w.Delete(binary.BigEndian.AppendUint64([]byte("a/m/"), seq))
		}
		return nil
	})
}
