// Package memstore is the in-memory twin of badgerstore: a store.Store that
// keeps every key in a map, for fast tests of the packages written against
// store.Store. It behaves like the Badger adapter where the contract says
// anything (snapshot reads, atomic updates, ordered prefix scans, copies
// in and out) but keeps nothing on disk.
//
// Updates are serialised by a write lock, so they never conflict and fn
// runs exactly once. Views read a snapshot: a committed Update is invisible
// to a View that started before it. Old versions are kept only while a View
// that can see them is running.
package memstore

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cpx-node/cpx/node/store"
)

// Errors returned by Store in addition to the store package's.
var (
	// ErrEmptyKey is returned by Set for an empty key (Badger refuses them too).
	ErrEmptyKey = errors.New("memstore: empty key")
	// ErrTxnDone is returned when a Reader or Writer is used after its
	// transaction has ended.
	ErrTxnDone = errors.New("memstore: transaction has ended")
	// ErrReadOnly is returned when a View's Reader is used to write.
	ErrReadOnly = errors.New("memstore: read-only transaction")
)

// version is one committed value of a key.
type version struct {
	ts  uint64
	val []byte
	del bool
}

// Store is an in-memory store.Store. Create it with New.
type Store struct {
	wmu sync.Mutex // serialises Updates

	mu      sync.RWMutex
	ts      uint64               // timestamp of the last commit
	keys    []string             // sorted; every key with a retained version
	vers    map[string][]version // ascending ts
	readers map[uint64]int       // read timestamps of running Views

	closed atomic.Bool
}

var _ store.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{vers: map[string][]version{}, readers: map[uint64]int{}}
}

// View runs fn in a read-only snapshot.
func (s *Store) View(ctx context.Context, fn func(store.Reader) error) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	rts := s.ts
	s.readers[rts]++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.readers[rts]--; s.readers[rts] == 0 {
			delete(s.readers, rts)
		}
		s.mu.Unlock()
	}()
	t := &txn{s: s, rts: rts}
	defer func() { t.done = true }()
	return fn(t)
}

// Update runs fn against an overlay of the current state and, if fn returns
// nil, applies the overlay atomically. If fn returns an error nothing is
// written.
func (s *Store) Update(ctx context.Context, fn func(store.Writer) error) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.check(ctx); err != nil {
		return err
	}
	s.mu.RLock()
	rts := s.ts
	s.mu.RUnlock()
	t := &txn{s: s, rts: rts, writes: map[string]*version{}}
	defer func() { t.done = true }()
	if err := fn(t); err != nil {
		return err
	}
	if s.closed.Load() {
		return store.ErrClosed
	}
	s.commit(t.writes)
	return nil
}

// Close releases the store; later calls return store.ErrClosed. It is safe
// to call more than once.
func (s *Store) Close() error {
	s.closed.Store(true)
	return nil
}

func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return ctx.Err()
}

// commit applies writes as one new version. The caller holds wmu.
func (s *Store) commit(writes map[string]*version) {
	if len(writes) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ts++
	oldest := s.ts // the oldest timestamp a running View reads at
	for rts := range s.readers {
		oldest = min(oldest, rts)
	}
	var added, dropped []string // merged into s.keys once
	for k, w := range writes {
		vs, ok := s.vers[k]
		if !ok {
			added = append(added, k)
		}
		vs = append(vs, version{ts: s.ts, val: w.val, del: w.del})
		// Drop versions no View can see: keep those newer than oldest and
		// the latest one at or before it.
		keep := 0
		for i := range vs {
			if vs[i].ts <= oldest {
				keep = i
			}
		}
		vs = slices.Delete(vs, 0, keep)
		if len(vs) == 1 && vs[0].del && vs[0].ts <= oldest {
			delete(s.vers, k)
			dropped = append(dropped, k)
			continue
		}
		s.vers[k] = vs
	}
	s.mergeKeys(added, dropped)
}

// mergeKeys adds the keys added to the sorted s.keys and removes those
// dropped: a few one by one, more in one pass over s.keys (a commit of
// many new keys would otherwise move s.keys once per key).
func (s *Store) mergeKeys(added, dropped []string) {
	if len(added)+len(dropped) <= 16 {
		for _, k := range added {
			if i, found := slices.BinarySearch(s.keys, k); !found {
				s.keys = slices.Insert(s.keys, i, k)
			}
		}
		for _, k := range dropped {
			if i, found := slices.BinarySearch(s.keys, k); found {
				s.keys = slices.Delete(s.keys, i, i+1)
			}
		}
		return
	}
	slices.Sort(added)
	gone := make(map[string]bool, len(dropped))
	for _, k := range dropped {
		gone[k] = true
	}
	out := make([]string, 0, len(s.keys)+len(added))
	i, j := 0, 0
	for i < len(s.keys) || j < len(added) {
		var k string
		if j == len(added) || (i < len(s.keys) && s.keys[i] < added[j]) {
			k, i = s.keys[i], i+1
		} else {
			k, j = added[j], j+1
		}
		if !gone[k] && (len(out) == 0 || out[len(out)-1] != k) {
			out = append(out, k)
		}
	}
	s.keys = out
}

func (s *Store) get(key string, rts uint64) ([]byte, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	vs := s.vers[key]
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i].ts <= rts {
			if vs[i].del {
				return nil, false
			}
			return vs[i].val, true
		}
	}
	return nil, false
}

// keysWithPrefix returns the keys visible at rts that start with prefix,
// in ascending order.
func (s *Store) keysWithPrefix(prefix string, rts uint64) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for i := sort.SearchStrings(s.keys, prefix); i < len(s.keys) && strings.HasPrefix(s.keys[i], prefix); i++ {
		vs := s.vers[s.keys[i]]
		for j := len(vs) - 1; j >= 0; j-- {
			if vs[j].ts <= rts {
				if !vs[j].del {
					out = append(out, s.keys[i])
				}
				break
			}
		}
	}
	return out
}

// txn is a View's Reader (writes == nil) or an Update's Writer.
type txn struct {
	s      *Store
	rts    uint64
	writes map[string]*version // pending writes of an Update; val nil with del
	done   bool
}

func (t *txn) Get(key []byte) ([]byte, error) {
	if t.done {
		return nil, ErrTxnDone
	}
	if w, ok := t.writes[string(key)]; ok {
		if w.del {
			return nil, store.ErrNotFound
		}
		return cloneNonNil(w.val), nil
	}
	v, ok := t.s.get(string(key), t.rts)
	if !ok {
		return nil, store.ErrNotFound
	}
	return cloneNonNil(v), nil
}

func (t *txn) Scan(prefix []byte, opts store.ScanOptions, fn func(key, value []byte) error) error {
	if t.done {
		return ErrTxnDone
	}
	p := string(prefix)
	if t.writes == nil && !opts.Reverse {
		return t.scanView(p, opts, fn)
	}
	keys := t.s.keysWithPrefix(p, t.rts)
	if len(t.writes) > 0 {
		set := make(map[string]bool, len(keys))
		for _, k := range keys {
			set[k] = true
		}
		for k, w := range t.writes {
			if strings.HasPrefix(k, p) {
				set[k] = !w.del
			}
		}
		keys = keys[:0]
		for k, ok := range set {
			if ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
	}
	if opts.Reverse {
		slices.Reverse(keys)
	}
	n := 0
	for _, k := range keys {
		if opts.Limit > 0 && n >= opts.Limit {
			break
		}
		v, err := t.Get([]byte(k))
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted by fn during the scan
		}
		if err != nil {
			return err
		}
		n++
		if err := fn([]byte(k), v); err != nil {
			if errors.Is(err, store.ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

// scanView is Scan in a View: what the snapshot holds cannot change, so
// keys and values are read together, a batch at a time.
func (t *txn) scanView(p string, opts store.ScanOptions, fn func(key, value []byte) error) error {
	const batch = 256
	var keys []string
	var vals [][]byte
	n := 0
	for from := p; ; {
		keys, vals = t.s.entries(p, from, t.rts, batch, keys[:0], vals[:0])
		for i, k := range keys {
			if opts.Limit > 0 && n >= opts.Limit {
				return nil
			}
			n++
			if err := fn([]byte(k), cloneNonNil(vals[i])); err != nil {
				if errors.Is(err, store.ErrStop) {
					return nil
				}
				return err
			}
		}
		if len(keys) < batch {
			return nil
		}
		from = keys[len(keys)-1] + "\x00"
	}
}

// entries appends to keys and vals up to max keys with prefix p from key
// from on, and their values at rts.
func (s *Store) entries(p, from string, rts uint64, max int, keys []string, vals [][]byte) ([]string, [][]byte) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for i := sort.SearchStrings(s.keys, from); i < len(s.keys) && strings.HasPrefix(s.keys[i], p) && len(keys) < max; i++ {
		vs := s.vers[s.keys[i]]
		for j := len(vs) - 1; j >= 0; j-- {
			if vs[j].ts <= rts {
				if !vs[j].del {
					keys, vals = append(keys, s.keys[i]), append(vals, vs[j].val)
				}
				break
			}
		}
	}
	return keys, vals
}

func (t *txn) Set(key, value []byte) error {
	if t.done {
		return ErrTxnDone
	}
	if t.writes == nil {
		return ErrReadOnly
	}
	if len(key) == 0 {
		return ErrEmptyKey
	}
	t.writes[string(key)] = &version{val: cloneNonNil(value)}
	return nil
}

func (t *txn) Delete(key []byte) error {
	if t.done {
		return ErrTxnDone
	}
	if t.writes == nil {
		return ErrReadOnly
	}
	if len(key) == 0 {
		return ErrEmptyKey
	}
	t.writes[string(key)] = &version{del: true}
	return nil
}

// cloneNonNil copies b; the copy of an empty value is empty but not nil.
func cloneNonNil(b []byte) []byte {
	return append(make([]byte, 0, len(b)), b...)
}
