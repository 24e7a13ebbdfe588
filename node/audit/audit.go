// Package audit keeps the node's append-only, hash-chained audit log.
//
// Every entry records a sequence number, a time, the actor, the action, the
// object acted on, the outcome and the SHA-256 of the action's details (the
// details themselves are not kept: they could hold case data). Each entry's
// hash covers all of that and the previous entry's hash, so Verify detects
// any entry that was modified, removed or reordered, and a head that does
// not match the last entry.
//
// Entries are appended inside the caller's store transaction, so the state
// change and its audit entry commit together or not at all.
//
// The chain is keyed (see WithKey): a MAC under a key from the keyring
// beside each entry, so that someone without the key cannot recompute it.
// What the chain cannot detect on its own is the removal of the newest
// entries, or a rewrite by someone holding every local secret: the
// checkpoints that peers witness (node/exchange) cover those.
package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cpx-node/cpx/node/store"
)

// Outcomes of an audited action.
const (
	OK     = "ok"
	Denied = "denied"
	Failed = "failed"
)

var (
	prefixEntry = []byte("a/e/")
	keyHead     = []byte("a/head")
)

// Event is what a caller asks to be recorded.
type Event struct {
	Actor   string
	Action  string
	Object  string
	Outcome string // OK when empty
	// Details are hashed into the entry and not stored. They must be
	// JSON-encodable.
	Details any
}

// Hash is a SHA-256 digest, shown in hex.
type Hash [sha256.Size]byte

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText encodes h as hex.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText decodes hex.
func (h *Hash) UnmarshalText(b []byte) error {
	if hex.DecodedLen(len(b)) != len(h) {
		return fmt.Errorf("audit: hash has %d hex digits, want %d", len(b), 2*len(h))
	}
	_, err := hex.Decode(h[:], b)
	return err
}

// Entry is one link of the chain.
type Entry struct {
	Seq         uint64    `json:"seq"`
	Time        time.Time `json:"time"`
	Actor       string    `json:"actor"`
	Action      string    `json:"action"`
	Object      string    `json:"object"`
	Outcome     string    `json:"outcome"`
	DetailsHash Hash      `json:"details_hash"`
	PrevHash    Hash      `json:"prev_hash"`
	Hash        Hash      `json:"hash"`
}

type head struct {
	Seq  uint64 `json:"seq"`
	Hash Hash   `json:"hash"`
}

// computeHash returns the hash an entry must carry: SHA-256 over a
// length-prefixed encoding of every field but Hash itself.
func (e *Entry) computeHash() Hash {
	h := sha256.New()
	var n [8]byte
	writeField := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	writeField([]byte("cpx-audit-v1"))
	binary.BigEndian.PutUint64(n[:], e.Seq)
	writeField(n[:])
	writeField([]byte(e.Time.UTC().Format(time.RFC3339Nano)))
	writeField([]byte(e.Actor))
	writeField([]byte(e.Action))
	writeField([]byte(e.Object))
	writeField([]byte(e.Outcome))
	writeField(e.DetailsHash[:])
	writeField(e.PrevHash[:])
	var out Hash
	copy(out[:], h.Sum(nil))
	return out
}

func entryKey(seq uint64) []byte {
	k := make([]byte, len(prefixEntry)+8)
	copy(k, prefixEntry)
	binary.BigEndian.PutUint64(k[len(prefixEntry):], seq)
	return k
}

func readHead(r store.Reader) (head, error) {
	var h head
	b, err := r.Get(keyHead)
	if errors.Is(err, store.ErrNotFound) {
		return h, nil
	}
	if err != nil {
		return h, err
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return h, fmt.Errorf("audit: corrupt head: %w", err)
	}
	return h, nil
}

// Append adds ev to the chain within the transaction w, at time now.
func Append(w store.Writer, now time.Time, ev Event) (Entry, error) {
	h, err := readHead(w)
	if err != nil {
		return Entry{}, err
	}
	details, err := json.Marshal(ev.Details)
	if err != nil {
		return Entry{}, fmt.Errorf("audit: encoding details: %w", err)
	}
	outcome := ev.Outcome
	if outcome == "" {
		outcome = OK
	}
	e := Entry{
		Seq:         h.Seq + 1,
		Time:        now.UTC(),
		Actor:       ev.Actor,
		Action:      ev.Action,
		Object:      ev.Object,
		Outcome:     outcome,
		DetailsHash: sha256.Sum256(details),
		PrevHash:    h.Hash,
	}
	e.Hash = e.computeHash()
	b, err := json.Marshal(e)
	if err != nil {
		return Entry{}, err
	}
	if err := w.Set(entryKey(e.Seq), b); err != nil {
		return Entry{}, err
	}
	if key := keyOf(w); key != nil {
		if err := w.Set(macKey(e.Seq), mac(key, e.Seq, e.Hash)); err != nil {
			return Entry{}, err
		}
		if err := w.Set(keyMHead, mheadValue(key, e.Seq)); err != nil {
			return Entry{}, err
		}
	}
	hb, err := json.Marshal(head{Seq: e.Seq, Hash: e.Hash})
	if err != nil {
		return Entry{}, err
	}
	if err := w.Set(keyHead, hb); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// Record appends ev in a transaction of its own.
func Record(ctx context.Context, s store.Store, now time.Time, ev Event) error {
	return s.Update(ctx, func(w store.Writer) error {
		_, err := Append(w, now, ev)
		return err
	})
}

// Head returns the sequence number and hash of the newest entry (zero for
// an empty log).
func Head(r store.Reader) (uint64, Hash, error) {
	h, err := readHead(r)
	return h.Seq, h.Hash, err
}

// Scan calls fn for every entry in sequence order, starting after seq from.
func Scan(r store.Reader, fn func(Entry) error) error {
	return r.Scan(prefixEntry, store.ScanOptions{}, func(_, v []byte) error {
		var e Entry
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("audit: corrupt entry: %w", err)
		}
		return fn(e)
	})
}

// Tail returns the newest n entries, oldest first.
func Tail(r store.Reader, n int) ([]Entry, error) {
	if n <= 0 {
		return nil, nil
	}
	var out []Entry
	err := r.Scan(prefixEntry, store.ScanOptions{Reverse: true, Limit: n}, func(_, v []byte) error {
		var e Entry
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("audit: corrupt entry: %w", err)
		}
		out = append(out, e)
		return nil
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, err
}

// Result is the outcome of Verify.
type Result struct {
	OK       bool
	Entries  uint64
	HeadHash Hash
	// BrokenAt is the first sequence number found broken, Problem says how.
	BrokenAt uint64
	Problem  string
	// Keyed says the chain was checked with its key; KeyedThrough is the
	// newest entry whose MAC verified (it covers every entry before it).
	// Entries after it were appended without the key (cpx restore, cpx
	// recover-admin): they cannot have changed anything before it, and
	// the next keyed entry covers them.
	Keyed        bool
	KeyedThrough uint64
}

// EntryHash returns the hash of entry seq, or false if there is none.
func EntryHash(r store.Reader, seq uint64) (Hash, bool, error) {
	b, err := r.Get(entryKey(seq))
	if errors.Is(err, store.ErrNotFound) {
		return Hash{}, false, nil
	}
	if err != nil {
		return Hash{}, false, err
	}
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return Hash{}, false, fmt.Errorf("audit: corrupt entry %d: %w", seq, err)
	}
	return e.Hash, true, nil
}

// Verify walks the whole chain and checks every link and the head, and,
// when r carries the chain key (WithKey), every entry's MAC: each must
// match, and the newest entry must have one (entries written without the
// key are covered by the next keyed one, see Cover).
func Verify(r store.Reader) (Result, error) {
	var (
		res      Result
		prev     Hash
		expected uint64 = 1
	)
	key := keyOf(r)
	res.Keyed = key != nil
	broken := func(seq uint64, format string, args ...any) error {
		res.BrokenAt = seq
		res.Problem = fmt.Sprintf(format, args...)
		return store.ErrStop
	}
	err := r.Scan(prefixEntry, store.ScanOptions{}, func(k, v []byte) error {
		keySeq := binary.BigEndian.Uint64(k[len(prefixEntry):])
		var e Entry
		if err := json.Unmarshal(v, &e); err != nil {
			return broken(keySeq, "entry %d cannot be decoded", keySeq)
		}
		switch {
		case e.Seq != keySeq:
			return broken(keySeq, "entry stored at %d claims sequence %d (reordered)", keySeq, e.Seq)
		case e.Seq != expected:
			return broken(expected, "entry %d is missing (next present is %d)", expected, e.Seq)
		case e.PrevHash != prev:
			return broken(e.Seq, "entry %d does not link to entry %d (removed, reordered or modified)", e.Seq, e.Seq-1)
		case e.computeHash() != e.Hash:
			return broken(e.Seq, "entry %d was modified (its hash does not match its content)", e.Seq)
		}
		if key != nil {
			m, err := r.Get(macKey(e.Seq))
			switch {
			case err == nil && !hmac.Equal(m, mac(key, e.Seq, e.Hash)):
				return broken(e.Seq, "entry %d or one before it was rewritten (its MAC under the chain key does not match)", e.Seq)
			case err == nil:
				res.KeyedThrough = e.Seq
			case !errors.Is(err, store.ErrNotFound):
				return err
			}
		}
		prev = e.Hash
		res.Entries = e.Seq
		expected++
		return nil
	})
	if err != nil {
		return res, err
	}
	if res.Problem != "" {
		return res, nil
	}
	h, err := readHead(r)
	if err != nil {
		res.BrokenAt, res.Problem = res.Entries, err.Error()
		return res, nil
	}
	if h.Seq != res.Entries || h.Hash != prev {
		res.BrokenAt = min(h.Seq, res.Entries) + 1
		res.Problem = fmt.Sprintf("head says %d entries but the chain has %d (entries removed from the end?)", h.Seq, res.Entries)
		return res, nil
	}
	if key != nil {
		mhead, err := readMHead(r, key)
		switch {
		case err != nil:
			res.BrokenAt, res.Problem = res.KeyedThrough+1, err.Error()
			return res, nil
		case mhead > res.KeyedThrough:
			res.BrokenAt = res.KeyedThrough + 1
			res.Problem = fmt.Sprintf("entries %d to %d lost their MACs under the chain key (rewritten without the key?)", res.KeyedThrough+1, mhead)
			return res, nil
		}
	}
	res.OK = true
	res.HeadHash = prev
	return res, nil
}
