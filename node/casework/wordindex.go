package casework

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/matching"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// Indexes kept on every write of a case record (putRecord), in the same
// transaction as the record:
//
//	c/q/TOKEN ID → ""      one per word of the case's text fields
//	c/k/ID       → tokens  the tokens filed for ID, so that a change removes them
//	c/t/ID       → ""      the case consents to tracing and is open or closed
//	c/rr/ID      → row     what aggregate reports read (reportrows.go)
//	c/rg, c/rl/G, c/re     the report rows' generation, change log and epoch (reportrows_cache.go)
//	c/ix         → meta    format version and a check value of the index key
//
// A token is HMAC-SHA256 of a normalised word (matching.Normalize, as the
// matcher blocks) under the index key, cut to 16 bytes: the index reveals
// which cases share a word, never the word itself, to whoever reads the
// store without the key. The index key is derived from the store key by
// the node (Options.IndexKey); a store opened with another key (a restore
// on a new machine) finds the check value changed and rebuilds the index
// (BuildIndexes).
var (
	prefixToken   = []byte("c/q/")
	prefixTokens  = []byte("c/k/")
	prefixTracing = []byte("c/tc/")
	keyIndexMeta  = []byte("c/wm")
)

const (
	tokenLen        = 16
	indexFormat     = 1
	maxTokensCase   = 256 // words filed per case; the rest are not found by a query
	minWordLen      = 2
	indexBuildBatch = 256
)

// indexMeta is the c/ix record.
type indexMeta struct {
	Format int    `json:"format"`
	Check  string `json:"check"` // hex HMAC of a fixed label under the key
	// Rows names the report fields and format of the report row index
	// (reportrows.go); absent before it existed.
	Rows string `json:"rows,omitempty"`
}

// indexer files cases' words under keyed tokens.
type indexer struct {
	key   []byte
	rows  string      // reportFieldsCheck of the service's report fields
	ready atomic.Bool // the index in the store was built with key
}

func newIndexer(key []byte) *indexer {
	if len(key) == 0 {
		// No key given (tests): one for this process only; the index is
		// rebuilt by BuildIndexes when the store is opened again.
		key = make([]byte, 32)
		rand.Read(key)
	}
	return &indexer{key: slices.Clone(key)}
}

func (ix *indexer) token(word string) []byte {
	m := hmac.New(sha256.New, ix.key)
	m.Write([]byte("cpx-case-word-v1\x00"))
	m.Write([]byte(word))
	return m.Sum(nil)[:tokenLen]
}

func (ix *indexer) meta() indexMeta {
	m := hmac.New(sha256.New, ix.key)
	m.Write([]byte("cpx-case-index-check-v1"))
	return indexMeta{Format: indexFormat, Check: hex.EncodeToString(m.Sum(nil)[:16]), Rows: ix.rows}
}

// Words returns the distinct normalised words of s, in order, as a case
// query matches them (matching.Normalize, at least two letters): other
// services that search by words (tracing requests) use it so that a query
// means the same everywhere.
func Words(s string) []string { return queryWords(s) }

// queryWords returns the distinct normalised words of s, in order.
func queryWords(s string) []string {
	var out []string
	for _, w := range strings.Fields(matching.Normalize(s)) {
		if len([]rune(w)) >= minWordLen && !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

// caseWords returns the distinct normalised words of every text value of
// fields (nested lists and objects included), at most maxTokensCase.
func caseWords(fields map[string]any) []string {
	seen := map[string]bool{}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			for _, w := range queryWords(v) {
				if !seen[w] && len(out) < maxTokensCase {
					seen[w] = true
					out = append(out, w)
				}
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the cap keeps the same words every time
	for _, k := range keys {
		walk(fields[k])
	}
	return out
}

func tokenKey(tok []byte, id string) []byte {
	k := make([]byte, 0, len(prefixToken)+len(tok)+len(id))
	return append(append(append(k, prefixToken...), tok...), id...)
}
func tokensKey(id string) []byte  { return append(slices.Clone(prefixTokens), id...) }
func tracingKey(id string) []byte { return append(slices.Clone(prefixTracing), id...) }

// consentsToTracing reports whether c belongs in the tracing index.
func consentsToTracing(c *Case) bool {
	return c.Consent().ForTracing && (c.Status == StatusOpen || c.Status == StatusClosed)
}

// putIndexes files c (with its form data in clear; none for a tombstone)
// in the word and tracing indexes within w, removing what was filed for
// it before. fresh says c is new (nothing filed yet).
func (s *Service) putIndexes(w store.Writer, c *Case, fresh bool) error {
	if err := s.putWords(w, c, fresh); err != nil {
		return err
	}
	if err := s.putReportRow(w, c, fresh); err != nil { // reportrows.go
		return err
	}
	if consentsToTracing(c) {
		return w.Set(tracingKey(c.ID), nil)
	}
	if fresh {
		return nil
	}
	return w.Delete(tracingKey(c.ID))
}

func (s *Service) putWords(w store.Writer, c *Case, fresh bool) error {
	words := caseWords(c.Fields)
	toks := make([]byte, 0, len(words)*tokenLen)
	for _, word := range words {
		toks = append(toks, s.index.token(word)...)
	}
	if !fresh {
		old, err := w.Get(tokensKey(c.ID))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err == nil && bytes.Equal(old, toks) {
			return nil // unchanged
		}
		for i := 0; i+tokenLen <= len(old); i += tokenLen {
			if err := w.Delete(tokenKey(old[i:i+tokenLen], c.ID)); err != nil {
				return err
			}
		}
	}
	for i := 0; i+tokenLen <= len(toks); i += tokenLen {
		if err := w.Set(tokenKey(toks[i:i+tokenLen], c.ID), nil); err != nil {
			return err
		}
	}
	if len(toks) > 0 {
		return w.Set(tokensKey(c.ID), toks)
	}
	if fresh {
		return nil
	}
	return w.Delete(tokensKey(c.ID))
}

// IndexesReady reports whether the word and tracing indexes are built
// under the current key: until then, a query scans every case and
// ExportConsenting exports every case.
func (s *Service) IndexesReady() bool { return s.index.ready.Load() }

// BuildIndexes checks that the indexes in the store were built under the
// service's index key and format, and rebuilds them from every case
// otherwise (a store from before the indexes, a restore under another
// store key, an interrupted build, a meta record that does not decode or a
// report row that does not authenticate: audited). It is meant to run in
// the background
// while the node serves: queries scan meanwhile. It returns the number of
// cases reindexed (0 when the index was in order).
func (s *Service) BuildIndexes(ctx context.Context) (int, error) {
	want := s.index.meta()
	var have indexMeta
	err := s.store.View(ctx, func(r store.Reader) error {
		b, err := r.Get(keyIndexMeta)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &have)
	})
	if err != nil {
		// A meta record that does not authenticate or decode: the index
		// is not trusted, and is filed again.
		have = indexMeta{}
	}
	if have == want {
		pruneRowLog(ctx, s.store, nil, nil) // reportrows_cache.go; a failure leaves it for a report to prune
		s.index.ready.Store(true)
		if err := s.warmRows(ctx); errors.Is(err, errCorruptRow) {
			return s.rebuildIndexes(ctx, "a report row did not authenticate")
		}
		return 0, nil
	}
	n, err := s.reindexAll(ctx)
	if err != nil {
		return n, fmt.Errorf("case index: %w", err)
	}
	b, _ := json.Marshal(want)
	if err := s.store.Update(ctx, func(w store.Writer) error { return w.Set(keyIndexMeta, b) }); err != nil {
		return n, fmt.Errorf("case index: %w", err)
	}
	pruneRowLog(ctx, s.store, nil, nil)
	s.index.ready.Store(true)
	if err := s.warmRows(ctx); errors.Is(err, errCorruptRow) {
		return s.rebuildIndexes(ctx, "a report row did not authenticate")
	}
	return n, nil
}

// reindexAll files every case again, a batch of cases per transaction.
// Each case is read in the transaction that files it, so a concurrent
// change either comes before (and is read) or conflicts (and is retried).
func (s *Service) reindexAll(ctx context.Context) (int, error) {
	var after []byte
	n := 0
	for {
		var ids []string
		err := s.store.View(ctx, func(r store.Reader) error {
			return r.Scan(prefixRecord, store.ScanOptions{}, func(k, _ []byte) error {
				if after != nil && bytes.Compare(k, after) <= 0 {
					return nil
				}
				ids = append(ids, string(k[len(prefixRecord):]))
				if len(ids) >= indexBuildBatch {
					return store.ErrStop
				}
				return nil
			})
		})
		if err != nil || len(ids) == 0 {
			return n, err
		}
		after = recordKey(ids[len(ids)-1])
		ss := s.sealers(ctx)
		err = s.updateBulk(ctx, func(w store.Writer) error { // reportrows_cache.go
			for _, id := range ids {
				c, err := s.load(ss, w, id)
				switch {
				case errors.Is(err, ErrNotFound):
					// Purged (tombstone or destroyed key), or gone: file
					// no words.
					c = Case{ID: id}
				case err != nil:
					return err
				}
				if err := s.putIndexes(w, &c, false); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		n += len(ids)
	}
}

// ExportConsenting calls fn for every case that consents to tracing and
// is open or closed, with its form data, as the subject may read it (the
// tracing index's system role), and audits the export like Export. Once
// the indexes are ready only those cases are read, so a node where no
// case consents pays almost nothing; before, every case is read.
func (s *Service) ExportConsenting(ctx context.Context, sub policy.Subject, fn func(Case) error) error {
	if !s.IndexesReady() {
		return s.Export(ctx, sub, "", func(c Case) error {
			if !consentsToTracing(&c) {
				return nil
			}
			return fn(c)
		})
	}
	if d := policy.Authorize(sub, policy.ResourceCase, policy.ActionExport, nil); !d.Allowed {
		return s.auditDenied(ctx, sub, "case.export", "case", denied(d))
	}
	var n int
	ss := s.sealers(ctx)
	err := s.store.View(ctx, func(r store.Reader) error {
		return r.Scan(prefixTracing, store.ScanOptions{}, func(k, _ []byte) error {
			c, err := s.load(ss, r, string(k[len(prefixTracing):]))
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			if !policy.Authorize(sub, policy.ResourceCase, policy.ActionRead, object(&c)).Allowed {
				return nil
			}
			n++
			return fn(redacted(sub, s.forms, c))
		})
	})
	outcome := audit.OK
	if err != nil {
		outcome = audit.Failed
	}
	aerr := audit.Record(ctx, s.store, s.now(), audit.Event{Actor: sub.User, Action: "case.export", Object: "case", Outcome: outcome, Details: map[string]any{"count": n, "consenting": true}})
	return errors.Join(err, aerr)
}

// candidates calls fn with the id of every case filed under all of words,
// in id order, until fn returns store.ErrStop.
func (s *Service) candidates(r store.Reader, words []string, fn func(id string) error) error {
	toks := make([][]byte, len(words))
	for i, w := range words {
		toks[i] = s.index.token(w)
	}
	p := append(slices.Clone(prefixToken), toks[0]...)
	return r.Scan(p, store.ScanOptions{}, func(k, _ []byte) error {
		id := string(k[len(p):])
		for _, t := range toks[1:] {
			if _, err := r.Get(tokenKey(t, id)); errors.Is(err, store.ErrNotFound) {
				return nil
			} else if err != nil {
				return err
			}
		}
		return fn(id)
	})
}

// hasWords reports whether the (redacted) case holds every word.
func hasWords(c *Case, words []string) bool {
	have := caseWords(c.Fields)
	for _, w := range words {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// query is scan for a filter with a Query: the case whose number it is
// (case-insensitive), then the cases filed under every word of it. Until
// the index is ready (BuildIndexes) every case is read instead, with the
// same answer. Scope, status, owner and redaction apply as in scan; a
// word found only in a field the subject's role hides does not select.
func (s *Service) query(ctx context.Context, r store.Reader, sub policy.Subject, f Filter, fn func(Case) error) error {
	q := strings.TrimSpace(f.Query)
	words := queryWords(q)
	ss := s.sealers(ctx)
	numbered := ""
	visit := func(b []byte, byNumber bool) error {
		c, sealed, err := decodeRecord(b)
		if err != nil {
			return fmt.Errorf("corrupt case record: %w", err)
		}
		if !byNumber && c.ID == numbered {
			return nil // given already
		}
		if f.Owner != "" && c.Owner != f.Owner {
			return nil
		}
		if (c.Status == StatusPurged) != (f.Status == StatusPurged) || f.Status != "" && c.Status != f.Status {
			return nil
		}
		if !policy.Authorize(sub, policy.ResourceCase, policy.ActionRead, object(&c)).Allowed {
			return nil
		}
		if err := openFields(ss, &c, sealed); errors.Is(err, ErrPurged) {
			return nil
		} else if err != nil {
			return err
		}
		c = redacted(sub, s.forms, c)
		if !byNumber && (len(words) == 0 || !hasWords(&c, words)) {
			return nil
		}
		return fn(c)
	}
	byID := func(id string, byNumber bool) error {
		b, err := r.Get(recordKey(id))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return visit(b, byNumber)
	}
	for _, n := range []string{q, strings.ToUpper(q)} {
		id, err := r.Get(numberKey(n))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		numbered = string(id)
		if err := byID(numbered, true); errors.Is(err, store.ErrStop) {
			return nil
		} else if err != nil {
			return err
		}
		break
	}
	if len(words) == 0 {
		return nil
	}
	if s.IndexesReady() {
		return s.candidates(r, words, func(id string) error { return byID(id, false) })
	}
	return r.Scan(prefixRecord, store.ScanOptions{}, func(_, v []byte) error { return visit(v, false) })
}
