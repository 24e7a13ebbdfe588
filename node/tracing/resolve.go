package tracing

import (
	"context"
	"errors"

	"github.com/cpx-node/cpx/node/idprefix"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// Resolve returns what ref names for sub, as git and docker resolve an
// abbreviated id: ref itself when it is a request id or number, else the
// id of the one request whose id or number begins with ref (numbers
// compared without case). Only a subject who may list tracing requests
// has prefixes resolved; for others, and for a prefix of nothing, ref is
// returned as it is and the operation that follows refuses or reports it
// not found. A prefix of several is an ErrInvalid error naming them.
func (s *Service) Resolve(ctx context.Context, sub policy.Subject, ref string) (string, error) {
	if !decide(sub, policy.ActionList).Allowed {
		return ref, nil
	}
	kind := idprefix.Kind{
		Noun:    "tracing request",
		Records: prefixRecord,
		Numbers: prefixNumber,
		Visible: func(r store.Reader, id string) (string, bool, error) {
			req, err := load(r, id)
			if errors.Is(err, ErrNotFound) {
				return "", false, nil
			}
			return req.Number, err == nil, err
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
