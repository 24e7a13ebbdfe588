// Package badgerstore is the real store.Store: Badger v4 on local disk,
// encrypted at rest.
//
// # Encryption
//
// Options.EncryptionKey is the 32-byte AES-256 master key; it is kept only
// wrapped by the node's keyring and given here in plaintext. Badger encrypts
// tables, value log and write-ahead log with data keys it derives and stores
// under the master key (AES-CTR: confidentiality, not integrity). Opening a
// directory with another key fails with ErrWrongKey. Only tests that say so
// (Options.Insecure) may run without a key.
//
// # Integrity
//
// Every value is sealed with XChaCha20-Poly1305 under a key derived from
// the master key, with the record's key as associated data (seal.go), so
// a changed, truncated or moved value fails closed with a *RecordError
// (ErrCorrupt) that names the record's kind, never its content. Badger's
// table and value-log checksums are on; every table is checked in full
// once, before it is first served from, and a keyed record of the tables
// checked spares later starts the work (checked.go). The logs and
// MANIFEST are checked before Badger opens them, because Badger would
// truncate them at the first bad entry without a word (logscan.go). A sealed format marker
// guards a one-time migration of older stores (format.go). Verify checks
// a whole store. docs/security.md has the threat model and the limits.
//
// # Durability and sizing
//
// Writes are synced: a committed Update survives kill -9. Memory tables,
// value threshold and caches are sized for a small machine rather than for
// throughput (trials with such sizes stayed under 0.8 GB of RSS while
// writing 100 k × 2 KiB records; Badger's defaults peaked near 2 GB).
// Records above 128 bytes go to the value log and blocks are 16 KiB, so
// the tables stay small; value-log files are 8 MiB. ReleaseMapped gives
// back the resident pages of the mapped files after a burst of work. Get
// keeps the opened values of hot keys, by commit version, in a cache of
// 4 MiB (cache.go).
//
// # Concurrency
//
// A directory can be opened by one Store at a time; a second Open fails
// with ErrLocked. Updates are committed in groups by one writer goroutine
// (commit.go): concurrent Updates share a transaction and an fsync, and
// never conflict with each other. A background loop collects value-log
// garbage every Options.GCInterval; Close stops both and waits for them.
package badgerstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/cpx-node/cpx/node/store"
)

// Errors returned by Open and Update in addition to the store package's.
var (
	// ErrLocked is returned by Open when another Store (in this or another
	// process) has the directory open.
	ErrLocked = errors.New("store: directory is in use by another process")
	// ErrWrongKey is returned by Open when the encryption key is not the one
	// the directory was created with (or the directory is encrypted and no
	// key was given, or the other way round).
	ErrWrongKey = errors.New("store: wrong encryption key")
	// ErrConflict is returned by Update when fn kept conflicting with
	// concurrent transactions for every allowed attempt.
	ErrConflict = errors.New("store: transaction conflict, retries exhausted")
)

const (
	// DefaultGCInterval is how often value-log garbage is collected when
	// Options.GCInterval is zero.
	DefaultGCInterval = 5 * time.Minute

	maxAttempts   = 10
	gcDiscard     = 0.5
	encryptionLen = 32

	// valueThreshold keeps small values (index entries, counters) in the
	// tables and puts records (cases, versions, audit entries) in the
	// value log, whose entries are checked when read and fail closed.
	// Tables stay small, and checking them all at open stays cheap.
	valueThreshold = 128
	// blockSize is the size of a table block. Larger blocks than Badger's
	// 4 KiB mean fewer blocks to decrypt, check and index per table.
	blockSize = 16 << 10
	// valueLogFileSize bounds a value-log file. Open reads the newest in
	// full twice (logscan.go, and Badger to find its end, decrypting every
	// entry: several ms of CPU per MiB), and garbage collection rewrites
	// whole files.
	valueLogFileSize = 8 << 20
)

// Options configure Open. Only Dir and EncryptionKey are required.
type Options struct {
	// Dir is the database directory; it is created if missing.
	Dir string
	// EncryptionKey is the 32-byte AES-256 master key. It may be nil only
	// when Insecure is set.
	EncryptionKey []byte
	// Insecure allows a nil EncryptionKey: data is then stored in clear.
	// For tests that say so explicitly; never in a node.
	Insecure bool
	// Logger receives Badger's warnings and errors; nil discards them.
	Logger *slog.Logger
	// GCInterval is the period of the value-log garbage collection loop;
	// zero means DefaultGCInterval, negative disables the loop.
	GCInterval time.Duration
	// Unsealed stores values without the AEAD seal. It exists only so that
	// benchmarks can measure what sealing costs; a node never sets it.
	// Open refuses it on a directory that holds sealed values.
	Unsealed bool
	// MemTableSize, BlockCacheSize and IndexCacheSize size Badger's
	// memory tables and caches in bytes; zero means 16 MiB each.
	MemTableSize, BlockCacheSize, IndexCacheSize int64
	// Verifying opens the store for Verify: an older store is not
	// migrated (Open fails with ErrUnsealedFormat instead).
	Verifying bool

	// noValueCache turns the cache of opened values off, so that tests
	// and benchmarks can compare.
	noValueCache bool
}

// Store is a store.Store backed by Badger. Create it with Open.
type Store struct {
	db   *badger.DB
	log  *slog.Logger
	seal *sealer // nil when Options.Unsealed

	// mu is held for reading by every running transaction and for writing
	// by Close, so that Close waits for them and the DB is never used after
	// it has been closed.
	mu     sync.RWMutex
	closed bool

	// requests carries Updates to the writer goroutine (commit.go).
	requests   chan *request
	stopWriter chan struct{}

	stopGC context.CancelFunc
	wg     sync.WaitGroup

	// cache keeps opened values of hot keys (cache.go); nil when
	// Options.noValueCache.
	cache *valueCache

	// checked records the tables checked in full; Close checks and
	// records the tables written since Open, so that the next Open need
	// not (checked.go). master is the key to read them; nil when checked is.
	checked *checkedTables
	master  []byte
}

var _ store.Store = (*Store)(nil)

// Open opens (or creates) the store in opts.Dir. It fails with an error
// wrapping ErrLocked if the directory is in use and ErrWrongKey if the key
// does not open it. ctx bounds only the opening.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.Dir == "" {
		return nil, errors.New("badgerstore: no directory")
	}
	if opts.EncryptionKey == nil && !opts.Insecure {
		return nil, errors.New("badgerstore: no encryption key (set Insecure to store in clear, in tests only)")
	}
	if opts.EncryptionKey != nil && len(opts.EncryptionKey) != encryptionLen {
		return nil, fmt.Errorf("badgerstore: encryption key of %d bytes, want %d", len(opts.EncryptionKey), encryptionLen)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With(slog.String(logKeyComponent, "badger"))

	// Badger truncates a write-ahead or value log at its first bad entry
	// without a word; look first, so that no committed record is dropped
	// unseen.
	t0 := time.Now()
	step := func(name string) {
		log.Debug("store open step", "step", name, "took", time.Since(t0).Round(time.Millisecond))
		t0 = time.Now()
	}
	if err := checkLogs(opts.Dir, log); err != nil {
		return nil, err
	}

	// Tables that an earlier Open or Close checked in full, and have not
	// changed since, are not checked again (checked.go).
	// Verify checks every table here (and again in Badger), ignoring the
	// record: Badger's own check panics on some damaged blocks.
	mode := options.OnTableAndBlockRead
	var checked *checkedTables
	if opts.Verifying && opts.EncryptionKey != nil {
		c, err := newChecked(opts.EncryptionKey)
		if err != nil {
			return nil, err
		}
		if _, err := c.check(opts.Dir, opts.EncryptionKey, log); errors.Is(err, ErrCorrupt) {
			return nil, err
		}
	}
	if !opts.Verifying && opts.EncryptionKey != nil {
		var err error
		if checked, err = loadChecked(opts.Dir, opts.EncryptionKey, log); err != nil {
			return nil, err
		}
		start := time.Now()
		n, err := checked.check(opts.Dir, opts.EncryptionKey, log)
		switch {
		case err == nil:
			mode = options.OnBlockRead
		case errors.Is(err, ErrCorrupt):
			return nil, err
		default:
			log.Warn("checking the tables before opening; Badger checks them all", logKeyError, err)
		}
		if n > 0 {
			if err := checked.save(opts.Dir); err != nil {
				log.Warn("saving the checked-tables record", logKeyError, err)
			}
			log.Debug("tables checked", "tables", n, "took", time.Since(start).Round(time.Millisecond))
		}
	}

	step("logs")

	size := func(n int64) int64 {
		if n <= 0 {
			return 16 << 20
		}
		return n
	}
	bo := badger.DefaultOptions(opts.Dir).
		WithLogger(logger{log}).
		WithSyncWrites(true).
		WithMemTableSize(size(opts.MemTableSize)).
		WithNumMemtables(3).
		WithValueThreshold(valueThreshold).
		WithBlockSize(blockSize).
		WithValueLogFileSize(valueLogFileSize).
		WithBlockCacheSize(size(opts.BlockCacheSize)).
		WithIndexCacheSize(size(opts.IndexCacheSize)). // mandatory with encryption: without it the first flush panics
		WithEncryptionKey(opts.EncryptionKey).
		// Every table is checked in full before it is opened (above, or
		// by Badger), every block when it is read, every value-log entry
		// when it is read. Badger treats a block that fails its check
		// during a read as absent (a Get then finds nothing, or an older
		// version), so checking the tables only later would leave a
		// window of wrong answers (docs/security.md).
		WithChecksumVerificationMode(mode).
		WithVerifyValueChecksum(true)

	step("tables")
	db, err := badger.Open(bo)
	if err != nil {
		return nil, classifyOpenError(opts.Dir, err)
	}
	step("badger")
	s := &Store{db: db, log: log, checked: checked}
	if !opts.noValueCache {
		s.cache = newValueCache(valueCacheBytes)
	}
	if checked != nil {
		s.master = bytes.Clone(opts.EncryptionKey)
	}
	if err := s.openFormat(ctx, opts); err != nil {
		db.Close()
		return nil, err
	}
	step("format")
	interval := opts.GCInterval
	if interval == 0 {
		interval = DefaultGCInterval
	}
	gcCtx, stop := context.WithCancel(context.Background())
	s.stopGC = stop
	s.requests, s.stopWriter = make(chan *request), make(chan struct{})
	s.wg.Go(func() { s.runWriter(s.stopWriter) })
	if interval > 0 {
		s.wg.Go(func() { s.gcLoop(gcCtx, interval) })
	}
	return s, nil
}

func classifyOpenError(dir string, err error) error {
	switch {
	case errors.Is(err, ErrCorrupt):
		return err
	case errors.Is(err, badger.ErrEncryptionKeyMismatch):
		return fmt.Errorf("badgerstore: open %s: %w", dir, ErrWrongKey)
	case errors.Is(err, syscall.EWOULDBLOCK),
		// Badger formats the flock error with %+v, not %w.
		strings.Contains(err.Error(), "Cannot acquire directory lock"):
		return fmt.Errorf("badgerstore: open %s: %w (%v)", dir, ErrLocked, err)
	}
	return fmt.Errorf("badgerstore: open %s: %w", dir, err)
}

// gcLoop collects value-log garbage every interval until ctx is done.
func (s *Store) gcLoop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Each successful call rewrites one value-log file; call until there
		// is nothing left worth rewriting.
		for ctx.Err() == nil {
			err := s.db.RunValueLogGC(gcDiscard)
			if err == nil {
				continue
			}
			if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
				s.log.Warn("value log gc failed", slog.Any(logKeyError, err))
			}
			break
		}
	}
}

// View runs fn in a read-only snapshot.
func (s *Store) View(ctx context.Context, fn func(store.Reader) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	return fn(reader{txn: txn, seal: s.seal, cache: s.cache})
}

// Update runs fn in a read-write transaction and commits it if fn returns
// nil; it returns once the transaction is on disk (synced).
//
// Updates are committed in groups (commit.go): fn runs in the writer
// goroutine, one fn at a time, in a transaction it may share with other
// callers' fns, and the whole group commits with one fsync. An error from
// fn counts only when fn ran first in its transaction, so one caller's
// failure never undoes another's writes; fn may run more than once. fn
// must not call Update itself (it would wait for itself).
func (s *Store) Update(ctx context.Context, fn func(store.Writer) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	r := &request{ctx: ctx, fn: fn, done: make(chan result, 1)}
	select {
	case s.requests <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once taken, the request is answered after at most one commit; the
	// caller waits for it even if ctx ends, so that fn never runs after
	// Update returned.
	res := <-r.done
	if res.panic != nil {
		panic(res.panic)
	}
	return res.err
}

// Close stops the garbage collection loop, waits for running transactions
// and closes the database. It is safe to call more than once.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	// No Update is running now (each holds mu for reading): stop the
	// writer and the garbage collection.
	s.stopGC()
	close(s.stopWriter)
	s.wg.Wait()
	s.cache.drop()
	if err := s.db.Close(); err != nil {
		clear(s.master)
		return fmt.Errorf("badgerstore: close: %w", err)
	}
	if s.checked != nil {
		s.recordChecked()
	}
	return nil
}

// CheckTables checks in full the tables written since they were last
// checked (a memory table flushed, a compaction) and records them, so
// that neither Close nor the next Open need check them; a node calls it
// when idle. A table that fails its check is returned as an error
// wrapping ErrCorrupt and is not recorded: the next Open refuses to open.
// Other failures (a table removed by a compaction meanwhile) are left
// for Close. It does nothing for a store opened without a key.
func (s *Store) CheckTables(ctx context.Context) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed || s.checked == nil {
		return 0, nil
	}
	dir := s.db.Opts().Dir
	n, err := s.checked.check(dir, s.master, s.log)
	if n > 0 {
		if serr := s.checked.save(dir); serr != nil {
			s.log.Warn("saving the checked-tables record", logKeyError, serr)
		}
	}
	if errors.Is(err, ErrCorrupt) {
		return n, err
	}
	return n, nil
}

// recordChecked checks the tables written since Open and records them.
// A failure is logged, not returned: the next Open checks what was not
// recorded.
func (s *Store) recordChecked() {
	defer clear(s.master)
	dir := s.db.Opts().Dir
	start := time.Now()
	n, err := s.checked.check(dir, s.master, s.log)
	if err != nil {
		s.log.Warn("checking the tables written since the store was opened", logKeyError, err)
	}
	if n > 0 {
		if err := s.checked.save(dir); err != nil {
			s.log.Warn("saving the checked-tables record", logKeyError, err)
		}
		s.log.Debug("tables checked", "tables", n, "took", time.Since(start).Round(time.Millisecond))
	}
}

// Size returns the size in bytes of the LSM tree and of the value log, as
// last measured by Badger (it refreshes them about once a minute).
func (s *Store) Size() (lsm, vlog int64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, 0
	}
	return s.db.Size()
}

// Backup writes a full backup of the store (Badger's protobuf stream
// format, every key since the beginning) to w.
func (s *Store) Backup(w io.Writer) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	if _, err := s.db.Backup(w, 0); err != nil {
		return fmt.Errorf("badgerstore: backup: %w", err)
	}
	return nil
}

// mapError maps Badger's errors to the store package's.
func mapError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, badger.ErrKeyNotFound):
		return store.ErrNotFound
	case errors.Is(err, badger.ErrTxnTooBig):
		return store.ErrTooBig
	case errors.Is(err, badger.ErrDBClosed):
		return store.ErrClosed
	case errors.Is(err, badger.ErrConflict):
		return err // retried by Update
	}
	return fmt.Errorf("badgerstore: %w", err)
}

type reader struct {
	txn   *badger.Txn
	seal  *sealer
	cache *valueCache // nil: no cache
	// written holds the keys a write transaction has set or deleted; Get
	// reads them around the cache (cache.go). nil in a View.
	written map[string]struct{}
}

func (r reader) Get(key []byte) ([]byte, error) {
	if isMarker(key) {
		return nil, store.ErrNotFound
	}
	item, err := r.txn.Get(key)
	if err != nil {
		return nil, mapError(err)
	}
	if _, ok := r.written[string(key)]; ok {
		return r.value(item)
	}
	if v, ok := r.cache.get(key, item.Version()); ok {
		return v, nil
	}
	v, err := r.value(item)
	if err != nil {
		return nil, err
	}
	r.cache.put(key, item.Version(), v)
	return v, nil
}

// value reads item's value and opens its seal. A value Badger cannot read
// (a bad checksum, a pointer past the end of the value log) is reported,
// like a forged one, as a *RecordError.
func (r reader) value(item *badger.Item) ([]byte, error) {
	v, err := item.ValueCopy(nil)
	if err != nil {
		if errors.Is(err, badger.ErrDBClosed) {
			return nil, store.ErrClosed
		}
		re := recordError(item.Key(), "value unreadable: "+err.Error())
		return nil, re
	}
	if r.seal != nil {
		return r.seal.open(item.Key(), v)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

func (r reader) Scan(prefix []byte, opts store.ScanOptions, fn func(key, value []byte) error) error {
	iopts := badger.DefaultIteratorOptions
	iopts.Reverse = opts.Reverse
	if opts.Limit > 0 && opts.Limit < iopts.PrefetchSize {
		iopts.PrefetchSize = opts.Limit
	}
	// Forward, Prefix lets Badger skip tables and ends the iteration. In
	// reverse the seek key (the prefix's successor) lies outside the prefix,
	// so the prefix is checked in the loop instead.
	if !opts.Reverse {
		iopts.Prefix = prefix
	}
	it := r.txn.NewIterator(iopts)
	defer it.Close()

	if !opts.Reverse {
		it.Seek(prefix)
	} else if succ := successor(prefix); succ != nil {
		// Reverse Seek finds the greatest key <= succ; succ itself is the
		// only such key outside the prefix.
		it.Seek(succ)
		if it.Valid() && bytes.Equal(it.Item().Key(), succ) {
			it.Next()
		}
	} else {
		it.Rewind() // the prefix's keys are the greatest ones
	}

	n := 0
	for ; it.Valid(); it.Next() {
		if opts.Limit > 0 && n >= opts.Limit {
			break
		}
		item := it.Item()
		if !bytes.HasPrefix(item.Key(), prefix) {
			break
		}
		if isMarker(item.Key()) {
			continue
		}
		v, err := r.value(item)
		if err != nil {
			return err
		}
		n++
		if err := fn(item.KeyCopy(nil), v); err != nil {
			if errors.Is(err, store.ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

// successor returns the smallest key greater than every key with the given
// prefix, or nil if there is none (the prefix is empty or all 0xFF).
func successor(prefix []byte) []byte {
	for i := len(prefix) - 1; i >= 0; i-- {
		if prefix[i] != 0xFF {
			s := bytes.Clone(prefix[:i+1])
			s[i]++
			return s
		}
	}
	return nil
}

type writer struct{ reader }

// newWriter returns the writer of one write transaction.
func (s *Store) newWriter(txn *badger.Txn) writer {
	return writer{reader{txn: txn, seal: s.seal, cache: s.cache, written: make(map[string]struct{})}}
}

// Set copies key and value: Badger keeps references to them until commit.
// The value is sealed under key first (a new slice).
func (w writer) Set(key, value []byte) error {
	if isMarker(key) {
		return errReservedKey
	}
	w.written[string(key)] = struct{}{}
	if w.seal != nil {
		value = w.seal.seal(key, value)
	} else {
		value = bytes.Clone(value)
	}
	return mapError(w.txn.Set(bytes.Clone(key), value))
}

func (w writer) Delete(key []byte) error {
	if isMarker(key) {
		return errReservedKey
	}
	w.written[string(key)] = struct{}{}
	return mapError(w.txn.Delete(bytes.Clone(key)))
}
