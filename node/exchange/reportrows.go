package exchange

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/rowseal"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// The exchange report rows, written by putRecord in the transaction that
// writes the exchange (every state change: sent, received, answered,
// withdrawn, failed, shredded):
//
//	x/rr/ID → row   what reports over referrals and transfers read
//	x/rm    → meta  the rows' format, sealed: rows are ready
//	x/rg    → generation, changed with any row
//
// A row holds the exchange's kind, direction, partner agency, service,
// status and creation time, and for scope its owner, owner group and,
// of an outgoing one, the local user who sent it. No case number, note
// or case data. Aggregates have no row (reports do not count them).
// Rows are sealed like case rows (rowseal), under a key derived from the
// case index key with its own label; Open rebuilds them from the records
// when the meta record is missing, of another format, or does not open
// under that key (a store from before the rows, a restore under another
// key). A node without cases (tests) keeps no rows and reports read the
// records.
var (
	prefixReportRow = []byte("x/rr/")
	keyRowMeta      = []byte("x/rm")
	// keyRowGeneration changes (a random value, written blind so that no
	// two writers conflict on it) in every transaction that changes a
	// row: a report that reads the value it last read counts from the
	// rows it kept in memory.
	keyRowGeneration = []byte("x/rg")
)

const (
	rowFormat = 1
	rowsLabel = "cpx-exchange-rows-v1"
	rowsMeta  = "cpx-exchange-rows-v1 format 1" // changes with rowFormat or the row's fields
	noTime    = math.MinInt64
	// rowBuildBatch bounds the records one rebuild transaction reads.
	rowBuildBatch = 500
)

// ReportRow is what a report counts of one referral, transfer or
// disclosure request.
type ReportRow struct {
	Kind, Direction, Peer, Service, Status string
	CreatedAt                              time.Time
}

// putRecord stores rec and, within the same transaction, its report row.
// Every write of an exchange record goes through it.
func (s *Service) putRecord(w store.Writer, rec *Record) error {
	if err := putJSON(w, key(prefixRecord, rec.ID), rec); err != nil {
		return err
	}
	return s.putRow(w, rec)
}

// putRow files rec's report row unless it holds that row already (most
// writes, e.g. a delivery attempt, change no reportable value), so that
// the rows kept in memory stay valid.
func (s *Service) putRow(w store.Writer, rec *Record) error {
	if s.rows == nil || rec.Kind == KindAggregate {
		return nil
	}
	k, plain := key(prefixReportRow, rec.ID), encodeRow(rec)
	old, err := w.Get(k)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return err
	default:
		if was, _, err := s.rows.Open(nil, nil, []byte(rec.ID), old); err == nil && bytes.Equal(was, plain) {
			return nil
		}
	}
	if err := w.Set(k, s.rows.Seal(rec.ID, plain)); err != nil {
		return err
	}
	return bumpGeneration(w)
}

func bumpGeneration(w store.Writer) error {
	gen := make([]byte, 16)
	rand.Read(gen)
	return w.Set(keyRowGeneration, gen)
}

func appendStr(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// encodeRow encodes what the report row of rec holds.
func encodeRow(rec *Record) []byte {
	sender := ""
	if rec.Direction == Outgoing {
		sender = senderOf(rec)
	}
	b := make([]byte, 0, 96)
	b = append(b, rowFormat)
	for _, v := range []string{rec.Kind, rec.Direction, rec.Peer, rec.Service, rec.Status, rec.Owner, rec.OwnerGroup, sender} {
		b = appendStr(b, v)
	}
	created := int64(noTime)
	if !rec.CreatedAt.IsZero() {
		created = rec.CreatedAt.UnixNano()
	}
	return binary.AppendVarint(b, created)
}

var errCorruptRow = rowseal.ErrCorrupt

// interner hands out one string per distinct value: rows repeat a few
// kinds, peers, services and states, and a report reads many.
type interner map[string]string

func (in interner) str(b []byte) string {
	if s, ok := in[string(b)]; ok {
		return s
	}
	s := string(b)
	in[s] = s
	return s
}

// decodeRow returns the report row b encodes and the record (scope
// fields only) that policy reads of it; in, if not nil, interns the
// strings.
func decodeRow(b []byte, in interner) (ReportRow, Record, error) {
	var (
		row ReportRow
		rec Record
	)
	if len(b) == 0 || b[0] != rowFormat {
		return row, rec, errCorruptRow
	}
	b = b[1:]
	var sender string
	for _, p := range []*string{&row.Kind, &row.Direction, &row.Peer, &row.Service, &row.Status, &rec.Owner, &rec.OwnerGroup, &sender} {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return row, rec, errCorruptRow
		}
		if in != nil {
			*p = in.str(b[k : k+int(n)])
		} else {
			*p = string(b[k : k+int(n)])
		}
		b = b[k+int(n):]
	}
	t, k := binary.Varint(b)
	if k <= 0 || k != len(b) {
		return row, rec, errCorruptRow
	}
	if t != noTime {
		row.CreatedAt = time.Unix(0, t).UTC()
	}
	rec.Kind, rec.Direction, rec.CreatedBy = row.Kind, row.Direction, sender
	return row, rec, nil
}

// buildRows checks the rows' meta record and, unless it opens and names
// the current format, files every exchange's row again (deleting the
// rows there were), a batch per transaction, and writes the meta record
// last: an interrupted build is done again at the next open. It returns
// the number of exchanges filed. It runs in Open, before anything else
// writes exchanges.
func (s *Service) buildRows(ctx context.Context) (int, error) {
	var meta []byte
	err := s.store.View(ctx, func(r store.Reader) error {
		b, err := r.Get(keyRowMeta)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		meta = b
		return err
	})
	if err != nil {
		return 0, err
	}
	if meta != nil {
		if plain, _, err := s.rows.Open(nil, nil, keyRowMeta, meta); err == nil && string(plain) == rowsMeta {
			s.rowsReady = true
			return 0, nil
		}
	}
	// Remove the rows there are (of another format or key), then file
	// every record again.
	if err := s.eachBatch(ctx, prefixReportRow, func(w store.Writer, keys [][]byte) error {
		for _, k := range keys {
			if err := w.Delete(k); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return 0, err
	}
	n, err := s.refileRows(ctx)
	if err != nil {
		return 0, err
	}
	if err := s.store.Update(ctx, func(w store.Writer) error {
		if err := bumpGeneration(w); err != nil {
			return err
		}
		return w.Set(keyRowMeta, s.rows.Seal(string(keyRowMeta), []byte(rowsMeta)))
	}); err != nil {
		return n, err
	}
	s.rowsReady = true
	return n, nil
}

// repairRows deletes the rows that do not authenticate, files every
// exchange's row again from its record, and records in the audit log why
// (cause, which names no case data). Exchanges written meanwhile are
// safe: each batch reads the records in the transaction that files their
// rows, and a record written after the listing filed its own row. It
// returns the number of exchanges filed.
func (s *Service) repairRows(ctx context.Context, cause error) (int, error) {
	s.rowMu.Lock()
	defer s.rowMu.Unlock()
	dropped := 0
	err := s.eachBatch(ctx, prefixReportRow, func(w store.Writer, keys [][]byte) error {
		for _, k := range keys {
			v, err := w.Get(k)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if _, _, err := s.rows.Open(nil, nil, k[len(prefixReportRow):], v); err != nil {
				if err := w.Delete(k); err != nil {
					return err
				}
				dropped++
			}
		}
		return nil
	})
	n := 0
	if err == nil {
		n, err = s.refileRows(ctx)
	}
	if err == nil {
		err = s.store.Update(ctx, bumpGeneration)
	}
	outcome := audit.OK
	if err != nil {
		outcome = audit.Failed
	}
	aerr := audit.Record(ctx, s.store, s.now(), audit.Event{Actor: "system", Action: "exchange.rows.rebuilt", Object: "index/exchanges",
		Outcome: outcome, Details: map[string]any{"reason": cause.Error(), "dropped": dropped, "exchanges": n}})
	s.rowCopy = nil
	return n, errors.Join(err, aerr)
}

// refileRows files the row of every exchange record again, a batch of
// records per transaction, each read in the transaction that files its
// row. It returns the number of records filed.
func (s *Service) refileRows(ctx context.Context) (int, error) {
	n := 0
	err := s.eachBatch(ctx, prefixRecord, func(w store.Writer, keys [][]byte) error {
		for _, k := range keys {
			var rec Record
			if err := getJSON(w, k, &rec); err != nil {
				return err
			}
			if err := s.putRow(w, &rec); err != nil {
				return err
			}
		}
		n += len(keys)
		return nil
	})
	return n, err
}

// eachBatch calls fn, in one transaction per batch, with the keys under
// prefix, rowBuildBatch at a time. The keys are listed once, in one
// snapshot: in Open nothing else writes these prefixes meanwhile, and
// repairRows reads each key again in the transaction that handles it.
func (s *Service) eachBatch(ctx context.Context, prefix []byte, fn func(w store.Writer, keys [][]byte) error) error {
	var keys [][]byte
	err := s.store.View(ctx, func(r store.Reader) error {
		return r.Scan(prefix, store.ScanOptions{}, func(k, _ []byte) error {
			keys = append(keys, k)
			return nil
		})
	})
	for err == nil && len(keys) > 0 {
		batch := keys[:min(rowBuildBatch, len(keys))]
		keys = keys[len(batch):]
		err = s.store.Update(ctx, func(w store.Writer) error { return fn(w, batch) })
	}
	return err
}

// rowCopy is the rows as a report last read them, decoded, and the
// generation they were read at. It is replaced whole, never changed.
type rowCopy struct {
	gen    []byte
	rows   []ReportRow
	scopes []int32 // per row, its index in scope
	scope  []Record
}

// ReportRows calls fn with the report row of every exchange sub may list
// (referrals, transfers and disclosure requests; no aggregate), as List
// would return them. Once the rows are built (Open) it reads them and no
// exchange record: from memory when no row changed since a report last
// read them (keyRowGeneration), else from the store, where a row that
// does not authenticate is never counted: the rows are repaired
// (repairRows, audited) and read again.
func (s *Service) ReportRows(ctx context.Context, sub policy.Subject, fn func(ReportRow) error) error {
	if err := s.authorize(ctx, sub, policy.ResourceExchange, policy.ActionList, "exchange.report", "exchange"); err != nil {
		return err
	}
	if !s.rowsReady {
		return s.store.View(ctx, func(r store.Reader) error {
			return r.Scan(prefixRecord, store.ScanOptions{}, func(_, v []byte) error {
				var rec Record
				if err := unmarshal(v, &rec); err != nil {
					return err
				}
				if rec.Kind == KindAggregate || !s.reaches(sub, policy.ActionList, &rec) {
					return nil
				}
				return fn(ReportRow{Kind: rec.Kind, Direction: rec.Direction, Peer: rec.Peer, Service: rec.Service, Status: rec.Status, CreatedAt: rec.CreatedAt})
			})
		})
	}
	c, err := s.readRows(ctx)
	if errors.Is(err, errCorruptRow) {
		// A damaged or altered row is never counted: the rows are filed
		// again from the records, and read again.
		if _, rerr := s.repairRows(ctx, err); rerr != nil {
			return errors.Join(err, rerr)
		}
		c, err = s.readRows(ctx)
	}
	if err != nil {
		return err
	}
	// Whether sub reaches an exchange depends only on its scope fields:
	// decide once per distinct owner, group, direction and sender.
	reach := make([]bool, len(c.scope))
	for i := range c.scope {
		reach[i] = s.reaches(sub, policy.ActionList, &c.scope[i])
	}
	for i, row := range c.rows {
		if reach[c.scopes[i]] {
			if err := fn(row); err != nil {
				return err
			}
		}
	}
	return nil
}

// readRows returns the rows as they are: the copy in memory if no row
// changed since it was read, else every row read again.
func (s *Service) readRows(ctx context.Context) (*rowCopy, error) {
	s.rowMu.Lock()
	defer s.rowMu.Unlock()
	var c *rowCopy
	err := s.store.View(ctx, func(r store.Reader) error {
		gen, err := r.Get(keyRowGeneration)
		if errors.Is(err, store.ErrNotFound) {
			gen, err = nil, nil
		}
		if err != nil {
			return err
		}
		if s.rowCopy != nil && gen != nil && bytes.Equal(gen, s.rowCopy.gen) {
			c = s.rowCopy
			return nil
		}
		type scopeKey struct{ owner, group, direction, sender string }
		c = &rowCopy{gen: gen}
		index := map[scopeKey]int32{}
		var plain, aad []byte
		in := interner{}
		return r.Scan(prefixReportRow, store.ScanOptions{}, func(k, v []byte) error {
			id := k[len(prefixReportRow):]
			var err error
			if plain, aad, err = s.rows.Open(plain, aad, id, v); err != nil {
				return fmt.Errorf("%w of exchange %s", err, id)
			}
			row, rec, err := decodeRow(plain, in)
			if err != nil {
				return fmt.Errorf("%w of exchange %s", err, id)
			}
			sk := scopeKey{rec.Owner, rec.OwnerGroup, rec.Direction, rec.CreatedBy}
			i, ok := index[sk]
			if !ok {
				i = int32(len(c.scope))
				index[sk] = i
				c.scope = append(c.scope, rec)
			}
			c.rows = append(c.rows, row)
			c.scopes = append(c.scopes, i)
			return nil
		})
	})
	if err != nil {
		s.rowCopy = nil
		return nil, err
	}
	s.rowCopy = c
	return c, nil
}
