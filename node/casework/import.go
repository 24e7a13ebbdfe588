package casework

import (
	"context"
	"errors"
	"fmt"

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
}

// Import validates every row and, unless dryRun, creates the valid ones in
// one transaction, each with its audit entry. Invalid rows are reported, not
// fatal; an error is returned only when nothing could be committed.
func (s *Service) Import(ctx context.Context, sub policy.Subject, rows []ImportRow, dryRun bool) ([]ImportResult, error) {
	if d := policy.Authorize(sub, policy.ResourceCase, policy.ActionImport, nil); !d.Allowed {
		return nil, s.auditDenied(ctx, sub, "case.import", "case", denied(d))
	}
	now := s.now().UTC()
	results := make([]ImportResult, len(rows))
	valid := make([]map[string]any, len(rows))
	for i, row := range rows {
		results[i].Row = row.Row
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
		return results, nil
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
		return nil, fmt.Errorf("create the cases' data keys: %w", err)
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
			return nil, err
		}
		sealers[i] = x
	}
	var created []Case
	err = s.store.Update(ctx, func(w store.Writer) error {
		created = created[:0]
		for i := range results {
			results[i].ID, results[i].Number = "", ""
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
		return nil
	})
	if errors.Is(err, store.ErrTooBig) {
		return nil, errorf(ErrInvalid, "%d rows are too many for one transaction; send smaller batches", len(rows))
	}
	if err == nil {
		for _, c := range created {
			s.notify(c)
		}
	}
	return results, err
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
