package casework

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/cpx-node/cpx/node/idprefix"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// fullIDLen is the length of a case id (a UUID).
const fullIDLen = 36

// Resolve returns what ref names for sub, as git and docker resolve an
// abbreviated id: ref itself when it is a case id or number (whoever may
// see the case; the operation that follows checks that), else the id of
// the one case sub may read whose id or number begins with ref (numbers
// compared without case). A prefix of no case sub may read is returned as
// it is, so the operation reports it not found; one of several is an
// ErrInvalid error naming them. Cases sub may not read are never matched
// nor named, so a prefix reveals nothing a search would not.
func (s *Service) Resolve(ctx context.Context, sub policy.Subject, ref string) (string, error) {
	if len(ref) == fullIDLen && uuid.Validate(ref) == nil && ref == strings.ToLower(ref) {
		// A whole id names at most itself: no read (each waits for the
		// commits under way) to find that out.
		return ref, nil
	}
	kind := idprefix.Kind{
		Noun:    "case",
		Records: prefixRecord,
		Numbers: prefixNumber,
		Visible: func(r store.Reader, id string) (string, bool, error) {
			b, err := r.Get(recordKey(id))
			if errors.Is(err, store.ErrNotFound) {
				return "", false, nil
			} else if err != nil {
				return "", false, err
			}
			c, _, err := decodeRecord(b)
			if err != nil {
				return "", false, fmt.Errorf("corrupt case record: %w", err)
			}
			return c.Number, policy.Authorize(sub, policy.ResourceCase, policy.ActionRead, object(&c)).Allowed, nil
		},
	}
	var id string
	err := s.store.View(ctx, func(r store.Reader) (err error) {
		id, err = idprefix.Resolve(r, kind, ref)
		return err
	})
	if amb := (*idprefix.AmbiguousError)(nil); errors.As(err, &amb) {
		return "", errorf(ErrInvalid, "%s", amb.Error())
	}
	return id, err
}
