package api

import (
	"context"
	"fmt"
	"strings"

	"github.com/cpx-node/cpx/node/exchange"
	"github.com/cpx-node/cpx/policy"
)

// Every id a call takes (a case id or number, an exchange id, a tracing
// request id or number) may be abbreviated to a unique prefix, as git and
// docker allow. The prefix is resolved here, for the caller and with the
// caller's scope, before the call: only objects the caller may see are
// matched or named. A prefix of nothing is passed on as it is, so the call
// answers not found as for any unknown id.

// caseRef resolves an abbreviated case id or number.
func (s *Server) caseRef(ctx context.Context, sub policy.Subject, ref string) (string, error) {
	id, err := s.cases.Resolve(ctx, sub, ref)
	if err != nil {
		return "", s.fail(err)
	}
	return id, nil
}

// tracingRef resolves an abbreviated tracing request id or number.
func (s *Server) tracingRef(ctx context.Context, sub policy.Subject, ref string) (string, error) {
	if s.tracing == nil {
		return ref, nil
	}
	id, err := s.tracing.Resolve(ctx, sub, ref)
	if err != nil {
		return "", s.fail(err)
	}
	return id, nil
}

// fullIDLen is the length of an exchange id (a UUID): an id this long is
// never a prefix.
const fullIDLen = 36

// exchangeRef resolves an abbreviated exchange id among the exchanges the
// caller may list.
func (s *Server) exchangeRef(ctx context.Context, sub policy.Subject, ref string) (string, error) {
	if s.ex == nil || ref == "" || len(ref) >= fullIDLen || !policy.Authorize(sub, policy.ResourceExchange, policy.ActionList, nil).Allowed {
		return ref, nil
	}
	recs, err := s.ex.List(ctx, sub, exchange.Filter{})
	if err != nil {
		return "", s.fail(err)
	}
	lower := strings.ToLower(ref)
	var found []string
	for _, r := range recs {
		if r.ID == ref {
			return ref, nil
		}
		if strings.HasPrefix(r.ID, lower) {
			found = append(found, r.ID)
		}
	}
	switch len(found) {
	case 0:
		return ref, nil
	case 1:
		return found[0], nil
	}
	more := ""
	if len(found) > maxCandidates {
		found, more = found[:maxCandidates], " and more"
	}
	return "", s.fail(fmt.Errorf("%w: %q names more than one exchange: %s%s; give more of the id", exchange.ErrInvalid, ref, strings.Join(found, ", "), more))
}

// maxCandidates is how many exchanges an ambiguous prefix's error names.
const maxCandidates = 5
