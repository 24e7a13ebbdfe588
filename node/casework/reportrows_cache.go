package casework

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/rowseal"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// The report rows, opened, are kept in memory between reports (rowCache)
// and brought up to date from a log of the rows each transaction
// changed:
//
//	c/rg    → G        the generation: a random value every transaction that changes a row writes blind
//	c/rl/G  → ID       one entry per row changed, G the random value written at c/rg with it
//	c/re    → E        the log's epoch: a random value written when the log is pruned, or by a transaction that files many rows instead of their entries (bulkRows)
//
// A report reads c/rg: the value it last read means that no row changed,
// and it counts from memory. Otherwise it reads c/re and the log: under
// the epoch it last read, the entries it has not seen name the rows to
// read again (an entry names a row as it is now, so reading one twice is
// harmless); under another epoch, or when more than rowLogPrune rows (or
// an eighth of those held) changed, it reads every row. Writers write
// every key blind, so that they never conflict on them.
//
// The log is pruned after a report once it holds more than rowLogPrune
// entries, every minute by KeepReportRows, and by BuildIndexes: the first pruning transaction checks that
// the epoch is the one the entries were read under and writes a new one,
// so a cache that had not seen a pruned entry reads every row.
var (
	prefixRowLog = []byte("c/rl/")
	keyRowEpoch  = []byte("c/re")
)

// rowLogPrune is the number of log entries past which a report prunes the
// log; rowLogBatch, the entries deleted per transaction (halved while the
// store finds the transaction too big).
const (
	rowLogPrune = 1024
	rowLogBatch = 20000
)

// noDay is the day of a row with no creation time.
const noDay = math.MinInt32

func rowLogKey(gen []byte) []byte { return append(slices.Clone(prefixRowLog), gen...) }

// logRowChange writes the log entry and the generation for a change of
// the row of case id.
func logRowChange(w store.Writer, id string) error {
	if b, ok := w.(*bulkRows); ok {
		b.changed = true
		return nil
	}
	g := make([]byte, 16)
	rand.Read(g)
	if err := w.Set(rowLogKey(g), []byte(id)); err != nil {
		return err
	}
	return w.Set(keyRowGeneration, g)
}

// warmRows reads the report rows into memory (BuildIndexes, when the
// node opens), so that the first report does not. It returns the failure
// (errCorruptRow for a row that does not authenticate), which a report
// would meet again.
func (s *Service) warmRows(ctx context.Context) error {
	t := &s.rowCache
	t.mu.Lock()
	defer t.mu.Unlock()
	return s.store.View(ctx, func(r store.Reader) error { return t.sync(r, s.rows, s.rowFields) })
}

// rebuildIndexes files every case again after a report row failed to
// authenticate (a damaged or altered index), records that in the audit
// log, and reads the new rows into memory. Only one runs at a time; it
// returns the number of cases filed (0 when another was running).
func (s *Service) rebuildIndexes(ctx context.Context, reason string) (int, error) {
	if !s.rowCache.rebuilding.CompareAndSwap(false, true) {
		return 0, nil
	}
	defer s.rowCache.rebuilding.Store(false)
	n, err := s.reindexAll(ctx)
	outcome := audit.OK
	if err != nil {
		outcome = audit.Failed
	}
	aerr := audit.Record(ctx, s.store, s.now(), audit.Event{Actor: "system", Action: "case.index.rebuilt", Object: "index/cases",
		Outcome: outcome, Details: map[string]any{"reason": reason, "cases": n}})
	if err = errors.Join(err, aerr); err != nil {
		return n, fmt.Errorf("case index: %w", err)
	}
	s.rowCache.damaged.Store(false)
	return n, s.warmRows(ctx)
}

// KeepReportRows keeps the report row log short on a node that runs
// few reports: every period (a minute if zero) until ctx ends, it brings
// the rows in memory up to date and prunes the log entries applied, or,
// with no rows in memory, prunes a log longer than rowLogPrune entries.
// The node runs it in the background.
func (s *Service) KeepReportRows(ctx context.Context, period time.Duration) {
	if period <= 0 {
		period = time.Minute
	}
	tk := time.NewTicker(period)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		if s.IndexesReady() {
			s.keepRows(ctx)
		}
	}
}

func (s *Service) keepRows(ctx context.Context) {
	t := &s.rowCache
	t.mu.Lock()
	valid := t.valid
	var err error
	if valid {
		err = s.store.View(ctx, func(r store.Reader) error { return t.sync(r, s.rows, s.rowFields) })
		valid = err == nil
	}
	t.mu.Unlock()
	if errors.Is(err, errCorruptRow) || t.damaged.Load() {
		_, _ = s.rebuildIndexes(ctx, "a report row did not authenticate") // audited
		return
	}
	if valid {
		t.prune(ctx, s.store)
		return
	}
	n := 0
	if err := s.store.View(ctx, func(r store.Reader) error {
		return r.Scan(prefixRowLog, store.ScanOptions{Limit: rowLogPrune + 1}, func(_, _ []byte) error { n++; return nil })
	}); err == nil && n > rowLogPrune {
		pruneRowLog(ctx, s.store, nil, nil) // nothing in memory to keep current
	}
}

// bulkRows is the writer of a transaction that may file many rows (an
// import, a rebuild of the index): through it, putReportRow writes no log
// entry, and done writes a new epoch and generation instead, once, if a
// row changed, so that every cache reads every row. A log entry per row
// would leave as many deleted entries behind once pruned, which the store
// skips on every later read of the log until it compacts them.
type bulkRows struct {
	store.Writer
	changed bool
}

func (b *bulkRows) done() error {
	if !b.changed {
		return nil
	}
	e, g := make([]byte, 16), make([]byte, 16)
	rand.Read(e)
	rand.Read(g)
	if err := b.Set(keyRowEpoch, e); err != nil {
		return err
	}
	return b.Set(keyRowGeneration, g)
}

// updateBulk is store.Update for a transaction that may file many report
// rows (see bulkRows).
func (s *Service) updateBulk(ctx context.Context, fn func(store.Writer) error) error {
	return s.store.Update(ctx, func(w store.Writer) error {
		b := &bulkRows{Writer: w}
		if err := fn(b); err != nil {
			return err
		}
		return b.done()
	})
}

// rowCache holds the report rows, opened and split in columns of interned
// values, as of one generation. A slot is one case's row; slots of
// removed rows are reused.
type rowCache struct {
	mu         sync.Mutex
	valid      bool
	gen, epoch []byte
	seen       map[string]struct{} // log keys applied
	pending    map[string]struct{} // rows to read again whatever the log says (forget)

	slot  map[string]int32 // case id → slot
	free  []int32
	scope []uint32 // owner, group and agency encoded; 0: a free slot
	group []uint32
	state []uint32 // status and stage, encoded
	day   []int32  // day of creation, Unix days; noDay for none
	cols  [][]uint32
	col   map[string]int // report field → column; a column is nil until it holds a value

	pool map[string]uint32 // interned strings and encoded values; id 0 is none
	strs []string

	// damaged: a report met a row that did not authenticate and counted
	// from the cases instead; KeepReportRows rebuilds the index.
	damaged    atomic.Bool
	rebuilding atomic.Bool // rebuildIndexes is running
}

// forget removes the row of case id from memory at once (a purge: the
// purged case's row does not stay in memory until the next report), and
// has the next report read it again, as it is then: the purge may yet
// fail to commit.
func (t *rowCache) forget(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.valid {
		return
	}
	t.remove(id)
	t.pending[id] = struct{}{}
}

// reset empties t, for rows of the fields fs.
func (t *rowCache) reset(fs []reportField) {
	t.valid, t.gen, t.epoch, t.seen, t.pending = false, nil, nil, nil, nil
	t.slot, t.free = nil, nil
	t.scope, t.group, t.state, t.day, t.cols = nil, nil, nil, nil, nil
	t.pool, t.strs = nil, nil
	if fs == nil {
		return
	}
	t.seen, t.pending = map[string]struct{}{}, map[string]struct{}{}
	t.slot = map[string]int32{}
	t.col = make(map[string]int, len(fs))
	for i, f := range fs {
		t.col[f.name] = i
	}
	t.cols = make([][]uint32, len(fs))
	t.pool = map[string]uint32{}
	t.strs = []string{""}
}

func (t *rowCache) intern(b []byte) uint32 {
	if id, ok := t.pool[string(b)]; ok {
		return id
	}
	id := uint32(len(t.strs))
	s := string(b)
	t.pool[s] = id
	t.strs = append(t.strs, s)
	return id
}

// put files row b (opened) of case id.
func (t *rowCache) put(id string, b []byte) error {
	r, err := splitRow(b)
	if err != nil {
		return err
	}
	i, ok := t.slot[id]
	switch {
	case ok:
	case len(t.free) > 0:
		i, t.free = t.free[len(t.free)-1], t.free[:len(t.free)-1]
	default:
		i = int32(len(t.scope))
		t.scope, t.group, t.state, t.day = append(t.scope, 0), append(t.group, 0), append(t.state, 0), append(t.day, 0)
		for c, col := range t.cols {
			if col != nil {
				t.cols[c] = append(col, 0)
			}
		}
	}
	for _, col := range t.cols {
		if col != nil {
			col[i] = 0
		}
	}
	rc := &rowCursor{b: r.fields}
	for len(rc.b) > 0 {
		name, val := rc.value()
		if rc.err != nil {
			t.clearSlot(i)
			return rc.err
		}
		c, ok := t.col[string(name)]
		if !ok {
			continue // a field no longer reported
		}
		if t.cols[c] == nil {
			t.cols[c] = make([]uint32, len(t.scope))
		}
		t.cols[c][i] = t.intern(val)
	}
	var st []byte
	st = appendBytes(appendBytes(st, r.status), r.stage)
	t.slot[id] = i
	t.scope[i], t.group[i], t.state[i], t.day[i] = t.intern(r.scope), t.intern(r.group), t.intern(st), dayOf(r.created)
	return nil
}

func (t *rowCache) clearSlot(i int32) {
	t.scope[i] = 0
	for _, col := range t.cols {
		if col != nil {
			col[i] = 0
		}
	}
}

// remove forgets the row of case id.
func (t *rowCache) remove(id string) {
	i, ok := t.slot[id]
	if !ok {
		return
	}
	delete(t.slot, id)
	t.clearSlot(i)
	t.free = append(t.free, i)
}

// dayOf returns the Unix day of a creation time in nanoseconds.
func dayOf(created int64) int32 {
	if created == noTime {
		return noDay
	}
	return int32(time.Unix(0, created).UTC().Truncate(24*time.Hour).Unix() / 86400)
}

// sync brings t up to date with the rows r reads. t.mu is held.
func (t *rowCache) sync(r store.Reader, x *rowseal.Sealer, fs []reportField) (err error) {
	gen, err := getOrNil(r, keyRowGeneration)
	if err != nil {
		return err
	}
	if t.valid && gen != nil && bytes.Equal(gen, t.gen) && len(t.pending) == 0 {
		return nil
	}
	epoch, err := getOrNil(r, keyRowEpoch)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			t.reset(nil)
		}
	}()
	full := !t.valid || !bytes.Equal(epoch, t.epoch)
	if full {
		t.reset(fs)
	}
	limit := max(rowLogPrune, len(t.slot)/8)
	changed := maps.Clone(t.pending) // the ids of the rows to read again
	if changed == nil {
		changed = map[string]struct{}{}
	}
	err = r.Scan(prefixRowLog, store.ScanOptions{}, func(k, v []byte) error {
		if _, ok := t.seen[string(k)]; ok {
			return nil
		}
		t.seen[string(k)] = struct{}{}
		if !full && len(changed) <= limit {
			changed[string(v)] = struct{}{}
		}
		return nil
	})
	if err != nil {
		return err
	}
	var plain, aad []byte
	if full || len(changed) > limit {
		seen := t.seen
		t.reset(fs)
		t.seen = seen
		err = r.Scan(prefixReportRow, store.ScanOptions{}, func(k, v []byte) error {
			id := k[len(prefixReportRow):]
			if plain, aad, err = x.Open(plain, aad, id, v); err != nil {
				return fmt.Errorf("%w of case %s", err, id)
			}
			if err := t.put(string(id), plain); err != nil {
				return fmt.Errorf("%w of case %s", err, id)
			}
			return nil
		})
	} else {
		for id := range changed {
			v, gerr := r.Get(reportRowKey(id))
			switch {
			case errors.Is(gerr, store.ErrNotFound):
				t.remove(id)
				continue
			case gerr != nil:
				return gerr
			}
			if plain, aad, err = x.Open(plain, aad, []byte(id), v); err != nil {
				return fmt.Errorf("%w of case %s", err, id)
			}
			if err = t.put(id, plain); err != nil {
				return fmt.Errorf("%w of case %s", err, id)
			}
		}
	}
	if err != nil {
		return err
	}
	// Without a generation no row was ever written through the log: read
	// them all again next time.
	t.valid, t.gen, t.epoch = gen != nil, gen, epoch
	clear(t.pending)
	return nil
}

func getOrNil(r store.Reader, key []byte) ([]byte, error) {
	v, err := r.Get(key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return v, err
}

var errEpochMoved = errors.New("the report row log was pruned meanwhile")

// pruneRowLog deletes the log entries keys, read under epoch old,
// rowLogBatch per transaction, the first writing a new epoch, which it
// returns, provided the epoch is still old (else it deletes nothing and
// returns errEpochMoved: another pruning came between). With keys nil,
// it prunes every entry.
func pruneRowLog(ctx context.Context, st store.Store, keys [][]byte, old []byte) ([]byte, error) {
	if keys == nil {
		if err := st.View(ctx, func(r store.Reader) error {
			var err error
			if old, err = getOrNil(r, keyRowEpoch); err != nil {
				return err
			}
			return r.Scan(prefixRowLog, store.ScanOptions{}, func(k, _ []byte) error {
				keys = append(keys, k)
				return nil
			})
		}); err != nil {
			return nil, err
		}
		if len(keys) == 0 {
			return old, nil
		}
	}
	epoch := make([]byte, 16)
	rand.Read(epoch)
	batch, first := rowLogBatch, true
	for first || len(keys) > 0 {
		n := min(len(keys), batch)
		err := st.Update(ctx, func(w store.Writer) error {
			if first {
				// Read, so that a concurrent pruning conflicts.
				cur, err := getOrNil(w, keyRowEpoch)
				if err != nil {
					return err
				}
				if !bytes.Equal(cur, old) {
					return errEpochMoved
				}
				if err := w.Set(keyRowEpoch, epoch); err != nil {
					return err
				}
			}
			for _, k := range keys[:n] {
				if err := w.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		switch {
		case errors.Is(err, store.ErrTooBig) && n > 1:
			batch = n / 2 // the same again, in a smaller transaction
			continue
		case err != nil && first:
			return nil, err
		case err != nil:
			return epoch, err
		}
		keys, first = keys[n:], false
	}
	return epoch, nil
}

// prune prunes the log entries t has applied, once there are more than
// rowLogPrune, and keeps the rows: they reflect every entry pruned. t.mu
// is not held (a writer may wait for it within its transaction while the
// store waits for that transaction). A failure leaves the log as it is,
// to be pruned after another report.
func (t *rowCache) prune(ctx context.Context, st store.Store) {
	t.mu.Lock()
	if !t.valid || len(t.seen) <= rowLogPrune {
		t.mu.Unlock()
		return
	}
	old := t.epoch
	keys := make([][]byte, 0, len(t.seen))
	for k := range t.seen {
		keys = append(keys, []byte(k))
	}
	t.mu.Unlock()
	slices.SortFunc(keys, bytes.Compare)
	epoch, err := pruneRowLog(ctx, st, keys, old)
	if epoch == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.valid && bytes.Equal(t.epoch, old) {
		// The rows held reflect every entry pruned, and the new epoch
		// followed old directly.
		t.epoch = epoch
	}
	if err == nil && t.seen != nil {
		for _, k := range keys {
			delete(t.seen, string(k))
		}
	}
}

// rowKind is one kind of case a report counts and how many there are.
type rowKind struct {
	c Case
	n int
}

// count returns the kinds of case of the rows t holds that sub may read,
// by the report fields want (birth: counted as an age on day on), with
// created the day of creation, and the number of rows counted. t.mu is
// held.
func (t *rowCache) count(sub policy.Subject, want []string, birth []bool, created bool, on time.Time) ([]rowKind, int, error) {
	cols := make([][]uint32, len(want))
	for i, name := range want {
		if c, ok := t.col[name]; ok {
			cols[i] = t.cols[c] // nil: no row holds it
		}
	}
	reach := make([]int8, len(t.strs)) // by scope: 1 may read, -1 may not
	var ages []uint32                  // by date: the key word, 0 not yet worked out
	if slices.Contains(birth, true) {
		ages = make([]uint32, len(t.strs))
	}
	var (
		kinds []rowKind
		index = map[string]int{}
		key   = make([]byte, 0, 4*(4+len(want)))
		n     int
	)
	for i, sc := range t.scope {
		if sc == 0 {
			continue
		}
		switch reach[sc] {
		case 0:
			rc := &rowCursor{b: []byte(t.strs[sc])}
			o := policy.Object{Owner: string(rc.bytes()), OwnerGroup: string(rc.bytes()), Agency: string(rc.bytes())}
			reach[sc] = -1
			if policy.Authorize(sub, policy.ResourceCase, policy.ActionRead, &o).Allowed {
				reach[sc] = 1
			}
			if reach[sc] < 0 {
				continue
			}
		case -1:
			continue
		}
		key = binary.LittleEndian.AppendUint32(key[:0], t.state[i])
		key = binary.LittleEndian.AppendUint32(key, t.group[i])
		if created {
			key = binary.LittleEndian.AppendUint32(key, uint32(t.day[i]))
		}
		for j, col := range cols {
			var v uint32
			if col != nil {
				v = col[i]
			}
			if v != 0 && birth[j] {
				if ages[v] == 0 {
					ages[v] = v // not a date: counted by its value
					if a, ok := ageOf([]byte(t.strs[v]), on); ok {
						ages[v] = 1<<31 | uint32(a+1<<20)
					}
				}
				v = ages[v]
			}
			key = binary.LittleEndian.AppendUint32(key, v)
		}
		n++
		if k, ok := index[string(key)]; ok {
			kinds[k].n++
			continue
		}
		c, err := t.kind(int32(i), want, cols, created)
		if err != nil {
			return nil, 0, err
		}
		index[string(key)] = len(kinds)
		kinds = append(kinds, rowKind{c: c, n: 1})
	}
	return kinds, n, nil
}

// kind returns the case of slot i as a report sees it.
func (t *rowCache) kind(i int32, want []string, cols [][]uint32, created bool) (Case, error) {
	rc := &rowCursor{b: []byte(t.strs[t.state[i]])}
	c := Case{Status: string(rc.bytes()), Stage: string(rc.bytes()), OwnerGroup: t.strs[t.group[i]], Fields: make(map[string]any, len(want))}
	if created && t.day[i] != noDay {
		c.CreatedAt = time.Unix(int64(t.day[i])*86400, 0).UTC()
	}
	for j, col := range cols {
		if col == nil || col[i] == 0 {
			continue
		}
		v, err := decodeValue([]byte(t.strs[col[i]]))
		if err != nil {
			return Case{}, err
		}
		c.Fields[want[j]] = v
	}
	return c, nil
}
