package casework

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// maxCandidates is how many cases an ambiguous prefix's error names.
const maxCandidates = 5

// Resolve returns what ref names for sub, as git and docker resolve an
// abbreviated id: ref itself when it is a case id or number (whoever may
// see the case; the operation that follows checks that), else the id of
// the one case sub may read whose id or number begins with ref (numbers
// compared without case). A prefix of no case sub may read is returned as
// it is, so the operation reports it not found; one of several is an
// ErrInvalid error naming them. Cases sub may not read are never matched
// nor named, so a prefix reveals nothing a search would not.
func (s *Service) Resolve(ctx context.Context, sub policy.Subject, ref string) (string, error) {
	if ref == "" {
		return ref, nil
	}
	var found []Case
	exact := false
	err := s.store.View(ctx, func(r store.Reader) error {
		found, exact = found[:0], false
		for _, k := range [][]byte{recordKey(ref), numberKey(ref)} {
			if _, err := r.Get(k); err == nil {
				exact = true
				return nil
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		seen := make(map[string]bool)
		visit := func(id string) error {
			if seen[id] {
				return nil
			}
			seen[id] = true
			b, err := r.Get(recordKey(id))
			if errors.Is(err, store.ErrNotFound) {
				return nil
			} else if err != nil {
				return err
			}
			c, _, err := decodeRecord(b)
			if err != nil {
				return fmt.Errorf("corrupt case record: %w", err)
			}
			if !policy.Authorize(sub, policy.ResourceCase, policy.ActionRead, object(&c)).Allowed {
				return nil
			}
			found = append(found, c)
			if len(found) > maxCandidates {
				return store.ErrStop
			}
			return nil
		}
		err := r.Scan(recordKey(strings.ToLower(ref)), store.ScanOptions{}, func(k, _ []byte) error {
			return visit(string(k[len(prefixRecord):]))
		})
		if err != nil || len(found) > maxCandidates {
			return err
		}
		numbers := []string{ref}
		if up := strings.ToUpper(ref); up != ref {
			numbers = append(numbers, up)
		}
		for _, n := range numbers {
			err := r.Scan(numberKey(n), store.ScanOptions{}, func(_, v []byte) error { return visit(string(v)) })
			if err != nil || len(found) > maxCandidates {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	switch {
	case exact:
		return ref, nil
	case len(found) == 0:
		return ref, nil
	case len(found) == 1:
		return found[0].ID, nil
	}
	names := make([]string, 0, maxCandidates)
	for _, c := range found[:min(len(found), maxCandidates)] {
		names = append(names, c.Number+" ("+c.ID+")")
	}
	more := ""
	if len(found) > maxCandidates {
		more = " and more"
	}
	return "", errorf(ErrInvalid, "%q names more than one case: %s%s; give more of the id or number", ref, strings.Join(names, ", "), more)
}
