package casework

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/casekeys"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// ImportRow is one row of an import: its row number in the source file, the
// form it was entered on and its fields.
type ImportRow struct {
	Row    int64
	Form   string
	Fields map[string]any
}

// ImportResult says what became of one row.
type ImportResult struct {
	Row    int64
	ID     string
	Number string
	Err    error
	// Skipped: an earlier batch of the same import processed the row.
	Skipped bool
}

// ImportProgress is what a resumable import has done over all its
// batches: the last row processed and the rows accepted and rejected.
type ImportProgress struct {
	LastRow  int64 `json:"last_row"`
	Accepted int64 `json:"accepted"`
	Rejected int64 `json:"rejected"`
}

// prefixImport keys the progress of resumable imports: user NUL id.
var prefixImport = []byte("c/im/")

// MaxImportID is the longest import id.
const MaxImportID = 64

// validImportID reports whether id is 1-64 letters, digits, '.', '_' or '-'.
func validImportID(id string) bool {
	if id == "" || len(id) > MaxImportID {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func importKey(user, id string) []byte {
	return append(append(append(slices.Clip(prefixImport), user...), 0), id...)
}

func readProgress(r store.Reader, key []byte) (ImportProgress, error) {
	var p ImportProgress
	b, err := r.Get(key)
	if errors.Is(err, store.ErrNotFound) {
		return p, nil
	}
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("import progress: %w", err)
	}
	return p, nil
}

// Import validates every row and, unless dryRun, creates the valid ones in
// one transaction, each with its audit entry. Invalid rows are reported, not
// fatal; an error is returned only when nothing could be committed.
func (s *Service) Import(ctx context.Context, sub policy.Subject, rows []ImportRow, dryRun bool) ([]ImportResult, error) {
	results, _, err := s.ImportBatch(ctx, sub, "", rows, dryRun)
	return results, err
}

// ImportBatch is Import for one batch of the resumable import id (the
// subject's own; "" for none). The transaction that creates the batch's
// cases also records the import's progress, and rows at or before the
// last row an earlier batch processed are skipped: a batch sent again, or
// an import run again after an interruption, creates no case twice. Rows
// must come in increasing order across batches. With no rows it only
// reads the progress. A dry run neither reads nor records progress.
func (s *Service) ImportBatch(ctx context.Context, sub policy.Subject, id string, rows []ImportRow, dryRun bool) ([]ImportResult, ImportProgress, error) {
	var progress ImportProgress
	if d := policy.Authorize(sub, policy.ResourceCase, policy.ActionImport, nil); !d.Allowed {
		return nil, progress, s.auditDenied(ctx, sub, "case.import", "case", denied(d))
	}
	var pkey []byte
	if id != "" && !dryRun {
		if !validImportID(id) {
			return nil, progress, errorf(ErrInvalid, "import id %q: want 1-%d letters, digits, '.', '_' or '-'", id, MaxImportID)
		}
		pkey = importKey(sub.User, id)
		err := s.store.View(ctx, func(r store.Reader) error {
			var err error
			progress, err = readProgress(r, pkey)
			return err
		})
		if err != nil {
			return nil, progress, err
		}
	}
	if len(rows) == 0 {
		return nil, progress, nil
	}
	now := s.now().UTC()
	results := make([]ImportResult, len(rows))
	valid := make([]map[string]any, len(rows))
	for i, row := range rows {
		results[i].Row = row.Row
		if pkey != nil && row.Row <= progress.LastRow {
			results[i].Skipped = true
			continue
		}
		if err := checkHidden(sub, s.forms, row.Fields); err != nil {
			results[i].Err = err
			continue
		}
		form := row.Form
		if form == "" {
			form = "registration"
		}
		norm, err := s.normalize(form, row.Fields, now, false)
		if err != nil {
			results[i].Err = err
			continue
		}
		valid[i] = norm
	}
	if dryRun {
		return results, progress, nil
	}
	// Create the cases' keys first, in one call if the key store can; an
	// orphan key (the transaction below failed) is harmless.
	ids := make([]string, len(rows))
	var idList []string
	for i := range valid {
		if valid[i] != nil {
			ids[i] = uuid.NewString()
			idList = append(idList, ids[i])
		}
	}
	keys, err := s.createKeys(ctx, idList)
	if err != nil {
		return nil, progress, fmt.Errorf("create the cases' data keys: %w", err)
	}
	sealers := make([]*sealer, len(rows))
	for i, j := 0, 0; i < len(rows); i++ {
		if valid[i] == nil {
			continue
		}
		x, err := newSealer(ids[i], keys[j])
		clear(keys[j])
		j++
		if err != nil {
			return nil, progress, err
		}
		sealers[i] = x
	}
	preErr := make([]error, len(rows))
	for i := range results {
		preErr[i] = results[i].Err
	}
	var created []Case
	err = s.updateBulk(ctx, func(w store.Writer) error { // reportrows_cache.go
		created = created[:0]
		var p ImportProgress
		if pkey != nil {
			var err error
			if p, err = readProgress(w, pkey); err != nil {
				return err
			}
		}
		for i := range results {
			results[i].ID, results[i].Number, results[i].Err, results[i].Skipped = "", "", preErr[i], false
			if pkey != nil && results[i].Row <= p.LastRow {
				// An earlier batch of this import (or this one, sent
				// twice) processed the row.
				results[i].Skipped, results[i].Err = true, nil
				continue
			}
			if valid[i] == nil {
				continue
			}
			c, v, err := s.newCase(w, ids[i], sub, valid[i], now)
			if err != nil {
				return err
			}
			v.Action = "import"
			if err := s.put(w, &c, nil, v, sealers[i]); err != nil {
				if errors.Is(err, ErrTooLarge) {
					results[i].Err = err
					continue
				}
				return err
			}
			if _, err := audit.Append(w, now, audit.Event{Actor: sub.User, Action: "case.import", Object: caseObject(c.ID), Details: map[string]any{"row": results[i].Row}}); err != nil {
				return err
			}
			results[i].ID, results[i].Number = c.ID, c.Number
			created = append(created, c)
		}
		if pkey == nil {
			return nil
		}
		for _, r := range results {
			switch {
			case r.Skipped:
				continue
			case r.Err != nil:
				p.Rejected++
			default:
				p.Accepted++
			}
			p.LastRow = max(p.LastRow, r.Row)
		}
		b, err := json.Marshal(p)
		if err != nil {
			return err
		}
		progress = p
		return w.Set(pkey, b)
	})
	if errors.Is(err, store.ErrTooBig) {
		return nil, progress, errorf(ErrInvalid, "%d rows are too many for one transaction; send smaller batches", len(rows))
	}
	if err == nil {
		for _, c := range created {
			s.notify(c)
		}
	}
	return results, progress, err
}

// createKeys creates the data keys of ids, in one call if the key store
// has CreateMany.
func (s *Service) createKeys(ctx context.Context, ids []string) ([][]byte, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if mc, ok := s.keys.(casekeys.ManyCreator); ok {
		return mc.CreateMany(ctx, ids)
	}
	out := make([][]byte, len(ids))
	for i, id := range ids {
		k, err := s.keys.Create(ctx, id)
		if err != nil {
			return nil, err
		}
		out[i] = k
	}
	return out, nil
}
