package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"time"

	"github.com/cpx-node/cpx/node/store"
)

// The chain is keyed by a MAC record beside each entry written with the
// key:
//
//	a/m/SEQ = HMAC-SHA256(key, "cpx-audit-mac/v1" || SEQ (8 bytes) || hash of entry SEQ)
//
// An entry's hash covers every entry before it (the SHA-256 chain), so the
// MAC of entry SEQ authenticates the whole chain up to SEQ: someone who
// changes, removes or reorders an earlier entry without the key cannot
// make a MAC that matches. Entries written before the node had a key, or
// by a tool that opened the store without it (cpx restore), have no MAC
// of their own and are covered by the next keyed entry's. The key is made
// once, wrapped by the keyring, and kept with the node's other secrets.
//
// Someone holding every local secret (the keyring's passphrase or Vault
// token) can recompute the MACs too; checkpoints kept by peers
// (node/exchange) catch that.
//
// The newest keyed sequence number is kept too (a/mhead, with its own
// MAC), so that MACs removed from the end of the chain, to pass rewritten
// entries off as entries written without the key, are caught.
var (
	prefixMAC = []byte("a/m/")
	keyMHead  = []byte("a/mhead")
)

func mheadValue(key []byte, seq uint64) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("cpx-audit-mhead/v1"))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], seq)
	m.Write(n[:])
	return append(n[:], m.Sum(nil)...)
}

// readMHead returns the newest keyed sequence number (0 if none), or an
// error if the record does not authenticate.
func readMHead(r store.Reader, key []byte) (uint64, error) {
	b, err := r.Get(keyMHead)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(b) < 8 {
		return 0, errors.New("audit: keyed head is malformed")
	}
	seq := binary.BigEndian.Uint64(b)
	if !hmac.Equal(b, mheadValue(key, seq)) {
		return 0, errors.New("audit: keyed head does not authenticate")
	}
	return seq, nil
}

// KeySize is the size of the chain key.
const KeySize = 32

// keyHolder is a store.Reader or Writer that carries the chain key.
type keyHolder interface{ chainKey() []byte }

// WithKey returns st with the chain key attached: Append through it MACs
// every entry, and Verify through it checks the MACs.
func WithKey(st store.Store, key []byte) store.Store {
	return &keyedStore{Store: st, key: key}
}

type keyedStore struct {
	store.Store
	key []byte
}

func (s *keyedStore) View(ctx context.Context, fn func(store.Reader) error) error {
	return s.Store.View(ctx, func(r store.Reader) error { return fn(keyedReader{r, s.key}) })
}

func (s *keyedStore) Update(ctx context.Context, fn func(store.Writer) error) error {
	return s.Store.Update(ctx, func(w store.Writer) error { return fn(keyedWriter{w, s.key}) })
}

type keyedReader struct {
	store.Reader
	key []byte
}

func (r keyedReader) chainKey() []byte { return r.key }

type keyedWriter struct {
	store.Writer
	key []byte
}

func (w keyedWriter) chainKey() []byte { return w.key }

func keyOf(r store.Reader) []byte {
	if k, ok := r.(keyHolder); ok {
		return k.chainKey()
	}
	return nil
}

func macKey(seq uint64) []byte {
	k := make([]byte, len(prefixMAC)+8)
	copy(k, prefixMAC)
	binary.BigEndian.PutUint64(k[len(prefixMAC):], seq)
	return k
}

func mac(key []byte, seq uint64, h Hash) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("cpx-audit-mac/v1"))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], seq)
	m.Write(n[:])
	m.Write(h[:])
	return m.Sum(nil)
}

// Keyed reports whether r carries the chain key.
func Keyed(r store.Reader) bool { return keyOf(r) != nil }

// Cover appends, with the key, an entry (audit.keyed) that covers the
// entries at the end of the chain written without it (by cpx restore,
// cpx recover-admin, or before the node had a key), so that the whole
// chain is keyed. It does nothing when the newest entry has its MAC, and
// reports whether it appended.
func Cover(ctx context.Context, st store.Store, now time.Time) (bool, error) {
	covered := false
	err := st.Update(ctx, func(w store.Writer) error {
		covered = false
		if keyOf(w) == nil {
			return errors.New("audit: covering the chain needs its key")
		}
		h, err := readHead(w)
		if err != nil || h.Seq == 0 {
			return err
		}
		if _, err := w.Get(macKey(h.Seq)); err == nil {
			return nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		covered = true
		_, err = Append(w, now, Event{Actor: "node", Action: "audit.keyed", Object: "audit", Details: h.Seq})
		return err
	})
	return covered, err
}
