package badgerstore

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/fb"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2"
	"github.com/dgraph-io/ristretto/v2/z"
)

// The checked-tables record lets Open skip the full check of the tables
// that an earlier Open or Close of this store already checked in full.
//
// Badger's tables never change once written. The record lists, for each
// table checked, the identity of its file as the kernel reports it
// (device, inode, size, modification and status-change times, which no
// write can leave unchanged: the status-change time cannot be set by a
// program), and it carries an HMAC-SHA-256 under a key derived from the
// store's master key. Open checks in full every table that the record
// does not name with the same identity, and Badger checks every block
// again when it reads it. A record that is missing, torn or fails its MAC
// is ignored: every table is then checked, as without a record. A table
// that fails the check stops Open with an error that names the file and
// wraps ErrCorrupt (Badger's own check would panic on some damaged
// blocks). If the check cannot run at all, Badger checks every table.
const (
	checkedFile  = "CPX-CHECKED-TABLES"
	checkedMagic = "cpxchk01"
	checkedInfo  = "cpx badgerstore checked tables v1"
	checkedEntry = 6 * 8 // id, device, inode, size, mtime, ctime
	// checkedAge is how old a table file's status-change time must be
	// before it is recorded: a later write then gets a later time even
	// where the kernel's clock for file times is coarse (a tick).
	checkedAge = 20 * time.Millisecond
)

// fileID is what the record binds a table to.
type fileID struct {
	dev, ino, size uint64
	mtime, ctime   int64 // ns
}

// checkedTables is the record in memory: table id → identity of the file
// that was checked in full.
type checkedTables struct {
	mu     sync.Mutex
	key    []byte // MAC key
	tables map[uint64]fileID
}

func newChecked(master []byte) (*checkedTables, error) {
	k, err := hkdf.Key(sha256.New, master, nil, checkedInfo, 32)
	if err != nil {
		return nil, err
	}
	return &checkedTables{key: k, tables: map[uint64]fileID{}}, nil
}

func (c *checkedTables) mac(body []byte) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write(body)
	return m.Sum(nil)
}

// encode returns the record's bytes: magic, entries in table order, MAC.
func (c *checkedTables) encode() []byte {
	c.mu.Lock()
	tables := maps.Clone(c.tables)
	c.mu.Unlock()
	b := []byte(checkedMagic)
	for _, id := range slices.Sorted(maps.Keys(tables)) {
		f := tables[id]
		for _, v := range []uint64{id, f.dev, f.ino, f.size, uint64(f.mtime), uint64(f.ctime)} {
			b = binary.BigEndian.AppendUint64(b, v)
		}
	}
	return append(b, c.mac(b)...)
}

// decode replaces the entries with those of b if b is a record whose MAC
// verifies under c's key.
func (c *checkedTables) decode(b []byte) error {
	n := len(b) - len(checkedMagic) - sha256.Size
	if n < 0 || n%checkedEntry != 0 || !bytes.HasPrefix(b, []byte(checkedMagic)) {
		return errors.New("not a checked-tables record")
	}
	body, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if !hmac.Equal(c.mac(body), sum) {
		return errors.New("checked-tables record fails its MAC")
	}
	tables := make(map[uint64]fileID, n/checkedEntry)
	for e := body[len(checkedMagic):]; len(e) > 0; e = e[checkedEntry:] {
		u := func(i int) uint64 { return binary.BigEndian.Uint64(e[8*i:]) }
		tables[u(0)] = fileID{dev: u(1), ino: u(2), size: u(3), mtime: int64(u(4)), ctime: int64(u(5))}
	}
	c.mu.Lock()
	c.tables = tables
	c.mu.Unlock()
	return nil
}

// loadChecked reads the record in dir; a missing or invalid record gives
// an empty one.
func loadChecked(dir string, master []byte, log *slog.Logger) (*checkedTables, error) {
	c, err := newChecked(master)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, checkedFile))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			log.Warn("reading the checked-tables record; checking every table", logKeyError, err)
		}
		return c, nil
	}
	if err := c.decode(b); err != nil {
		log.Warn("ignoring the checked-tables record; checking every table", logKeyError, err)
	}
	return c, nil
}

// save writes the record to dir, replacing the old one at once. It is not
// synced: a record lost in a crash only means a full check.
func (c *checkedTables) save(dir string) error {
	f, err := os.CreateTemp(dir, checkedFile+".tmp*")
	if err != nil {
		return err
	}
	_, err = f.Write(c.encode())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(dir, checkedFile))
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// check checks in full each table of the store in dir (not open in
// Badger, or closed) that the record does not name with its current
// identity, records those that pass, and forgets tables the MANIFEST no
// longer names. It returns the number of tables checked and an error if a
// table could not be checked or failed, or the MANIFEST could not be
// read; the record then holds what did pass. The error wraps ErrCorrupt
// when a table failed its check.
func (c *checkedTables) check(dir string, master []byte, log *slog.Logger) (int, error) {
	mf, err := os.Open(filepath.Join(dir, badger.ManifestFilename))
	if errors.Is(err, os.ErrNotExist) {
		c.mu.Lock()
		clear(c.tables)
		c.mu.Unlock()
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	m, _, err := badger.ReplayManifestFile(mf, 0, badger.DefaultOptions(dir).WithLogger(logger{log}))
	mf.Close()
	if err != nil {
		return 0, fmt.Errorf("reading the MANIFEST: %w", err)
	}
	type todo struct {
		id uint64
		tm badger.TableManifest
		fi fileID
	}
	var work []todo
	c.mu.Lock()
	for id := range c.tables {
		if _, ok := m.Tables[id]; !ok {
			delete(c.tables, id)
		}
	}
	c.mu.Unlock()
	for id, tm := range m.Tables {
		fi, err := statID(table.NewFilename(id, dir))
		if errors.Is(err, os.ErrNotExist) {
			continue // removed by a compaction since (or missing: Badger's open fails)
		}
		if err != nil {
			return 0, err
		}
		c.mu.Lock()
		got, ok := c.tables[id]
		c.mu.Unlock()
		if ok && got == fi {
			continue
		}
		work = append(work, todo{id, tm, fi})
	}
	if len(work) == 0 {
		return 0, nil
	}
	var kr *badger.KeyRegistry
	if master != nil {
		if kr, err = badger.OpenKeyRegistry(badger.KeyRegistryOptions{Dir: dir, ReadOnly: true, EncryptionKey: master}); err != nil {
			return 0, fmt.Errorf("reading the key registry: %w", err)
		}
		defer kr.Close()
	}
	cache, err := ristretto.NewCache(&ristretto.Config[uint64, *fb.TableIndex]{NumCounters: 1 << 12, MaxCost: 256 << 20, BufferItems: 64})
	if err != nil {
		return 0, err
	}
	defer cache.Close()

	// A young file waits until a later write would change its time.
	var youngest int64
	for _, w := range work {
		youngest = max(youngest, w.fi.ctime)
	}
	if d := time.Until(time.Unix(0, youngest).Add(checkedAge)); d > 0 {
		time.Sleep(d)
	}
	var (
		wg    sync.WaitGroup
		next  = make(chan todo)
		errMu sync.Mutex
		first error
	)
	for range max(1, min(runtime.GOMAXPROCS(0), len(work))) {
		wg.Go(func() {
			for w := range next {
				err := checkTable(dir, w.id, w.tm, kr, cache)
				if err == nil {
					var after fileID
					if after, err = statID(table.NewFilename(w.id, dir)); err == nil && after != w.fi {
						err = fmt.Errorf("table %d changed while it was checked", w.id)
					}
				}
				if err != nil {
					errMu.Lock()
					first = cmpErr(first, err)
					errMu.Unlock()
					continue
				}
				c.mu.Lock()
				c.tables[w.id] = w.fi
				c.mu.Unlock()
			}
		})
	}
	for _, w := range work {
		next <- w
	}
	close(next)
	wg.Wait()
	return len(work), first
}

// cmpErr returns the error to report of first and err: a damaged table
// before any other.
func cmpErr(first, err error) error {
	if first == nil || !errors.Is(first, ErrCorrupt) && errors.Is(err, ErrCorrupt) {
		return err
	}
	return first
}

// checkTable opens table id as Badger does and checks every block.
func checkTable(dir string, id uint64, tm badger.TableManifest, kr *badger.KeyRegistry, cache *ristretto.Cache[uint64, *fb.TableIndex]) error {
	opts := table.Options{
		ChkMode: options.OnBlockRead, BlockSize: blockSize, Compression: tm.Compression,
		IndexCache: cache,
	}
	if kr != nil {
		dk, err := kr.DataKey(tm.KeyID)
		if err != nil {
			return fmt.Errorf("table %d: data key: %w", id, err)
		}
		opts.DataKey = dk
	}
	mf, err := z.OpenMmapFile(table.NewFilename(id, dir), os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("table %d: %w", id, err)
	}
	name := filepath.Base(mf.Fd.Name())
	t, err := table.OpenTable(mf, opts) // checks the index; closes mf on failure
	if err != nil {
		return fmt.Errorf("store: table %s fails its check: %w (%v)", name, ErrCorrupt, err)
	}
	// Close the mapping, never DecrRef: a table's last reference deletes
	// its file.
	defer t.MmapFile.Close(-1)
	cache.Wait()
	if err := verifyBlocks(t); err != nil {
		return fmt.Errorf("store: table %s fails its check: %w (%v)", name, ErrCorrupt, err)
	}
	return nil
}

// verifyBlocks is table.VerifyChecksum, which panics on an index it
// cannot read (an encrypted table's index is read again through the
// cache).
func verifyBlocks(t *table.Table) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("checking the blocks: %v", r)
		}
	}()
	return t.VerifyChecksum()
}
