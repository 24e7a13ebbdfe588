package tracing

import (
	"context"
	"errors"
	"strings"

	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// maxCandidates is how many requests an ambiguous prefix's error names.
const maxCandidates = 5

// Resolve returns what ref names for sub, as git and docker resolve an
// abbreviated id: ref itself when it is a request id or number, else the
// id of the one request whose id or number begins with ref (numbers
// compared without case). Only a subject who may list tracing requests
// has prefixes resolved; for others, and for a prefix of nothing, ref is
// returned as it is and the operation that follows refuses or reports it
// not found. A prefix of several is an ErrInvalid error naming them.
func (s *Service) Resolve(ctx context.Context, sub policy.Subject, ref string) (string, error) {
	if ref == "" || !decide(sub, policy.ActionList).Allowed {
		return ref, nil
	}
	var found []Request
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
			req, err := load(r, id)
			if errors.Is(err, ErrNotFound) {
				return nil
			} else if err != nil {
				return err
			}
			found = append(found, req)
			if len(found) > maxCandidates {
				return store.ErrStop
			}
			return nil
		}
		if err := r.Scan(recordKey(strings.ToLower(ref)), store.ScanOptions{}, func(k, _ []byte) error {
			return visit(string(k[len(prefixRecord):]))
		}); err != nil || len(found) > maxCandidates {
			return err
		}
		numbers := []string{ref}
		if up := strings.ToUpper(ref); up != ref {
			numbers = append(numbers, up)
		}
		for _, n := range numbers {
			if err := r.Scan(numberKey(n), store.ScanOptions{}, func(_, v []byte) error { return visit(string(v)) }); err != nil || len(found) > maxCandidates {
				return err
			}
		}
		return nil
	})
	switch {
	case err != nil:
		return "", err
	case exact || len(found) == 0:
		return ref, nil
	case len(found) == 1:
		return found[0].ID, nil
	}
	names := make([]string, 0, maxCandidates)
	for _, req := range found[:min(len(found), maxCandidates)] {
		names = append(names, req.Number+" ("+req.ID+")")
	}
	more := ""
	if len(found) > maxCandidates {
		more = " and more"
	}
	return "", errorf(ErrInvalid, "%q names more than one tracing request: %s%s; give more of the id or number", ref, strings.Join(names, ", "), more)
}
