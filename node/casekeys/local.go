package casekeys

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/dgraph-io/badger/v4"

	"github.com/cpx-node/cpx/crypto/keyring"
)

// DefaultCacheSize is how many unwrapped keys a Local keeps in memory when
// LocalOptions.CacheSize is zero.
const DefaultCacheSize = 1024

// Log keys.
const (
	logKeyComponent = "component"
	logKeyErr       = "err"
)

// LocalOptions configure OpenLocal. Dir and Keyring are required.
type LocalOptions struct {
	// Dir is the key store's own Badger directory (a node uses
	// NODE/casekeys); it is created if missing. It must not be the data
	// store's directory.
	Dir string
	// Keyring wraps every case key (name "case-key:" + case id) before it
	// is written.
	Keyring keyring.Keyring
	// EncryptionKey, if set, is a 32-byte key Badger encrypts its files
	// with, on top of the keyring's wrapping. Without it the case ids are
	// readable in the files (the keys are not: they are wrapped).
	EncryptionKey []byte
	// CacheSize bounds the unwrapped keys kept in memory (default
	// DefaultCacheSize; negative: none). Destroy evicts the key.
	CacheSize int
	// Logger receives Badger's warnings and errors; nil discards them.
	Logger *slog.Logger
}

// Local is a Store in a small Badger database of its own, apart from the
// case data, with every key wrapped by the node's keyring. Open it with
// OpenLocal; it is safe for concurrent use.
//
// # What Destroy removes
//
// Destroy first records that the key is destroyed (so Get answers
// ErrDestroyed even after a crash half way), then calls Badger's DropPrefix
// for the key: it flushes the memory tables and rewrites every table that
// holds any version of the key without it, and the write-ahead files of
// the flushed memory tables are deleted. Case keys are far below Badger's
// value threshold, so they are stored in the tables, never in the value
// log; Destroy still runs value-log GC. After Destroy no file in Dir holds
// the wrapped key (a test greps them).
//
// What is beyond Badger's reach: the blocks of deleted files stay on the
// disk until the file system reuses them (and SSDs remap blocks), and any
// copy of Dir made before Destroy (a file-system snapshot, a backup of the
// whole node directory) still holds the wrapped key. Such a copy together
// with the keyring (keyring.json and its passphrase, or the Vault transit
// key) revives the purged case from any copy of its data. Without the
// keyring a wrapped key is useless. Node backups carry the wrapped keys
// (Export) with the purge log a restore replays; keep them no longer than
// the right to erasure allows (docs/purge.md).
type Local struct {
	db    *badger.DB
	kr    keyring.Keyring
	limit int
	log   *slog.Logger

	// mu is held shared by every operation and exclusively by Destroy
	// (DropPrefix refuses concurrent writes) and Close.
	mu     sync.RWMutex
	closed bool

	cmu   sync.Mutex
	cache map[string][]byte
}

var (
	_ Store       = (*Local)(nil)
	_ ManyCreator = (*Local)(nil)
)

// Key prefixes.
var (
	prefixKey       = []byte("k/") // k/ID/ → wrapped key
	prefixDestroyed = []byte("d/") // d/ID/ → "" once destroyed
)

func localKey(prefix []byte, id string) []byte {
	return append(append(append([]byte{}, prefix...), id...), '/')
}

// OpenLocal opens (or creates) the key store in o.Dir.
func OpenLocal(ctx context.Context, o LocalOptions) (*Local, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if o.Dir == "" {
		return nil, errors.New("casekeys: no directory")
	}
	if o.Keyring == nil {
		return nil, errors.New("casekeys: no keyring")
	}
	if o.EncryptionKey != nil && len(o.EncryptionKey) != 32 {
		return nil, fmt.Errorf("casekeys: encryption key of %d bytes, want 32", len(o.EncryptionKey))
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With(slog.String(logKeyComponent, "casekeys"))
	bo := badger.DefaultOptions(o.Dir).
		WithLogger(badgerLogger{log}).
		WithSyncWrites(true).      // a key must be on disk before data sealed under it commits
		WithMemTableSize(8 << 20). // one transaction holds up to ~1.2 MB: several thousand keys
		WithNumMemtables(2).
		WithValueThreshold(4 << 10). // keys stay in the tables, never in the value log
		WithValueLogFileSize(16 << 20).
		WithBlockCacheSize(4 << 20).
		WithIndexCacheSize(4 << 20).
		WithNumCompactors(2).
		WithEncryptionKey(o.EncryptionKey)
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("casekeys: open %s: %w", o.Dir, err)
	}
	limit := o.CacheSize
	if limit == 0 {
		limit = DefaultCacheSize
	}
	return &Local{db: db, kr: o.Keyring, limit: limit, log: log, cache: map[string][]byte{}}, nil
}

// Close closes the database and forgets the cached keys. It is safe to
// call more than once.
func (l *Local) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	l.cmu.Lock()
	for id, k := range l.cache {
		clear(k)
		delete(l.cache, id)
	}
	l.cmu.Unlock()
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("casekeys: close: %w", err)
	}
	return nil
}

// Create makes a new random key for caseID, wraps it and stores it.
func (l *Local) Create(ctx context.Context, caseID string) ([]byte, error) {
	ks, err := l.CreateMany(ctx, []string{caseID})
	if err != nil {
		return nil, err
	}
	return ks[0], nil
}

// CreateMany creates keys for every id in one synced transaction, all or
// nothing.
func (l *Local) CreateMany(ctx context.Context, caseIDs []string) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, id := range caseIDs {
		if err := CheckID(id); err != nil {
			return nil, err
		}
	}
	keys := make([][]byte, len(caseIDs))
	wrapped := make([][]byte, len(caseIDs))
	for i, id := range caseIDs {
		keys[i] = make([]byte, KeySize)
		rand.Read(keys[i])
		w, err := l.kr.Wrap(ctx, keyName(id), keys[i])
		if err != nil {
			return nil, fmt.Errorf("casekeys: wrap case key: %w", err)
		}
		wrapped[i] = w
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, ErrClosed
	}
	err := l.db.Update(func(txn *badger.Txn) error {
		for i, id := range caseIDs {
			if _, err := txn.Get(localKey(prefixDestroyed, id)); err == nil {
				return ErrDestroyed
			} else if !errors.Is(err, badger.ErrKeyNotFound) {
				return err
			}
			if _, err := txn.Get(localKey(prefixKey, id)); err == nil {
				return ErrExists
			} else if !errors.Is(err, badger.ErrKeyNotFound) {
				return err
			}
			if err := txn.Set(localKey(prefixKey, id), wrapped[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, ErrDestroyed) || errors.Is(err, ErrExists) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("casekeys: store case keys: %w", err)
	}
	out := make([][]byte, len(keys))
	for i, id := range caseIDs {
		l.remember(id, keys[i])
		out[i] = bytes.Clone(keys[i])
	}
	return out, nil
}

// Get returns caseID's key, from the cache or unwrapped from the database.
func (l *Local) Get(ctx context.Context, caseID string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := CheckID(caseID); err != nil {
		return nil, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, ErrClosed
	}
	l.cmu.Lock()
	k, ok := l.cache[caseID]
	l.cmu.Unlock()
	if ok {
		return bytes.Clone(k), nil
	}
	var wrapped []byte
	err := l.db.View(func(txn *badger.Txn) error {
		if _, err := txn.Get(localKey(prefixDestroyed, caseID)); err == nil {
			return ErrDestroyed
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		item, err := txn.Get(localKey(prefixKey, caseID))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		wrapped, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, ErrDestroyed) || errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("casekeys: read case key: %w", err)
	}
	k, err = l.kr.Unwrap(ctx, keyName(caseID), wrapped)
	if err != nil {
		return nil, fmt.Errorf("casekeys: unwrap case key: %w", err)
	}
	if len(k) != KeySize {
		return nil, fmt.Errorf("casekeys: case key of %d bytes, want %d", len(k), KeySize)
	}
	l.remember(caseID, k)
	return k, nil
}

// remember caches a copy of k, evicting an arbitrary entry when full.
func (l *Local) remember(id string, k []byte) {
	if l.limit < 0 {
		return
	}
	l.cmu.Lock()
	defer l.cmu.Unlock()
	if len(l.cache) >= l.limit {
		for old, v := range l.cache {
			clear(v)
			delete(l.cache, old)
			break
		}
	}
	l.cache[id] = bytes.Clone(k)
}

// Destroy evicts caseID's key from the cache, records it destroyed and
// drops every version of the wrapped key from the database files (see
// Local). It blocks other operations on the store while Badger rewrites
// the tables that held the key.
func (l *Local) Destroy(ctx context.Context, caseID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := CheckID(caseID); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	l.cmu.Lock()
	clear(l.cache[caseID])
	delete(l.cache, caseID)
	l.cmu.Unlock()
	// Mark first, then drop: DropPrefix only acts on a prefix it still sees
	// live, and the mark makes Get answer ErrDestroyed whatever happens next.
	if err := l.db.Update(func(txn *badger.Txn) error {
		return txn.Set(localKey(prefixDestroyed, caseID), nil)
	}); err != nil {
		return fmt.Errorf("casekeys: mark case key destroyed: %w", err)
	}
	if err := l.db.DropPrefix(localKey(prefixKey, caseID)); err != nil {
		return fmt.Errorf("casekeys: drop case key: %w", err)
	}
	for {
		err := l.db.RunValueLogGC(0.01)
		if err == nil {
			continue
		}
		if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
			l.log.Warn("value log gc after destroy failed", slog.Any(logKeyErr, err))
		}
		break
	}
	return nil
}

// badgerLogger adapts Badger's logger to slog: errors and warnings pass,
// informational messages go to debug level, debug messages are dropped.
type badgerLogger struct{ l *slog.Logger }

func (g badgerLogger) Errorf(format string, args ...any)   { g.log(slog.LevelError, format, args) }
func (g badgerLogger) Warningf(format string, args ...any) { g.log(slog.LevelWarn, format, args) }
func (g badgerLogger) Infof(format string, args ...any)    { g.log(slog.LevelDebug, format, args) }
func (g badgerLogger) Debugf(string, ...any)               {}

func (g badgerLogger) log(level slog.Level, format string, args []any) {
	ctx := context.Background()
	if g.l.Enabled(ctx, level) {
		g.l.Log(ctx, level, strings.TrimSpace(fmt.Sprintf(format, args...)))
	}
}
