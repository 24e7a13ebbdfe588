package tracing

import (
	"context"
	"errors"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/matching"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// Candidate is a case that may be the child sought by a trace (or, for
// MatchCase, the same child as a case or a relative).
type Candidate struct {
	Trace       int           // 1-based trace of the request; 0 for MatchCase
	Case        casework.Case // as the caller may see it (read through casework.Get)
	Probability float64
	Band        string // likely, possible or unlikely
	Comparisons []matching.Comparison
}

// Summary is the outcome of matching one open request (MatchAll).
type Summary struct {
	ID, Number string
	BestBand   string // "" when no candidate
	Likely     int
	Possible   int
	Candidates int
}

// readable reports whether the subject may read case id (by what the index
// knows of its owner, without reading it).
func (s *Service) readable(sub policy.Subject, id string) bool {
	m, ok := s.lookup(id)
	if !ok {
		return false
	}
	return policy.Authorize(sub, policy.ResourceCase, policy.ActionRead, &m.obj).Allowed
}

// resolve turns index results into candidates the subject may see: cases
// it may read, read through casework.Get (which audits each read), that
// still have consent for tracing. At most limit; skip excludes one case.
func (s *Service) resolve(ctx context.Context, sub policy.Subject, trace int, res []matching.Result, limit int, skip string) ([]Candidate, error) {
	var out []Candidate
	for _, r := range res {
		if len(out) >= limit {
			break
		}
		if r.ID == skip || !s.readable(sub, r.ID) {
			continue
		}
		c, err := s.cases.Get(ctx, sub, r.ID)
		if errors.Is(err, casework.ErrNotFound) {
			s.forget(r.ID)
			continue
		}
		if errors.Is(err, casework.ErrDenied) {
			continue
		}
		if err != nil {
			return nil, err
		}
		ok, err := s.consented(ctx, sub, c)
		if err != nil {
			return nil, err
		}
		if !ok {
			// consent withdrawn since the index was built
			s.forget(r.ID)
			continue
		}
		out = append(out, Candidate{Trace: trace, Case: c, Probability: r.Probability, Band: r.Band, Comparisons: r.Comparisons})
	}
	return out, nil
}

// consented checks the case still has consent for tracing: on the caller's
// copy, or, if the caller's role hides the consent field, on the system's.
func (s *Service) consented(ctx context.Context, sub policy.Subject, c casework.Case) (bool, error) {
	if !sub.Role.Hides(s.cases.Forms(), casework.FieldConsentForTracing) {
		return c.Consent().ForTracing, nil
	}
	full, err := s.cases.Get(ctx, s.system, c.ID)
	if errors.Is(err, casework.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return full.Consent().ForTracing, nil
}

func clampLimit(limit int) int {
	if limit <= 0 {
		return DefaultMatchLimit
	}
	return min(limit, MaxMatchLimit)
}

// Match returns, for every trace of the request, the cases with consent for
// tracing that may be the child sought, most probable first, at most limit
// per trace (default DefaultMatchLimit). Only cases the subject may read
// are returned, with the fields its role may see; each is read through
// casework (and so audited). The match itself is audited as
// "tracing.match".
func (s *Service) Match(ctx context.Context, sub policy.Subject, ref string, limit int) (Request, []Candidate, error) {
	if err := s.authorize(ctx, sub, ActionMatch, "tracing.match", requestObject(ref)); err != nil {
		return Request{}, nil, err
	}
	req, err := s.peek(ctx, sub, ActionMatch, ref)
	if err != nil {
		return Request{}, nil, s.auditDenied(ctx, sub, "tracing.match", requestObject(ref), err)
	}
	ix, err := s.fresh(ctx)
	if err != nil {
		return Request{}, nil, err
	}
	limit = clampLimit(limit)
	var out []Candidate
	for i := range req.Details.Traces {
		got, err := s.resolve(ctx, sub, i+1, ix.Match(req.person(i, s.location), 0), limit, "")
		if err != nil {
			return Request{}, nil, err
		}
		out = append(out, got...)
	}
	err = audit.Record(ctx, s.store, s.now(), audit.Event{Actor: sub.User, Action: "tracing.match", Object: requestObject(req.ID), Details: map[string]any{"candidates": len(out)}})
	return req, out, err
}

// peek reads a request that sub's role reaches for act, without auditing
// (the caller audits what it does); one it does not reach is not found.
func (s *Service) peek(ctx context.Context, sub policy.Subject, act policy.Action, ref string) (Request, error) {
	var req Request
	err := s.store.View(ctx, func(r store.Reader) error {
		var err error
		req, err = load(r, ref)
		return err
	})
	if err == nil && !reaches(sub, act, &req) {
		return Request{}, notFound(ref)
	}
	return req, err
}

// MatchAll matches every open request and summarises each: the best band
// and the number of likely and possible candidates among the cases the
// subject may read. It reads no case: use Match to see the candidates.
func (s *Service) MatchAll(ctx context.Context, sub policy.Subject) ([]Summary, error) {
	if err := s.authorize(ctx, sub, ActionMatch, "tracing.match_all", "tracing"); err != nil {
		return nil, err
	}
	reqs, err := s.scan(ctx, StatusOpen, 0)
	if err != nil {
		return nil, err
	}
	ix, err := s.fresh(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Summary, 0, len(reqs))
	rank := map[string]int{"": 0, matching.Unlikely: 1, matching.Possible: 2, matching.Likely: 3}
	for _, req := range reqs {
		if !reaches(sub, ActionMatch, &req) {
			continue
		}
		sum := Summary{ID: req.ID, Number: req.Number}
		for i := range req.Details.Traces {
			for _, r := range ix.Match(req.person(i, s.location), 0) {
				if !s.readable(sub, r.ID) {
					continue
				}
				sum.Candidates++
				switch r.Band {
				case matching.Likely:
					sum.Likely++
				case matching.Possible:
					sum.Possible++
				}
				if rank[r.Band] > rank[sum.BestBand] {
					sum.BestBand = r.Band
				}
			}
		}
		out = append(out, sum)
	}
	err = audit.Record(ctx, s.store, s.now(), audit.Event{Actor: sub.User, Action: "tracing.match_all", Object: "tracing", Details: map[string]any{"requests": len(out)}})
	return out, err
}

// MatchCase returns the indexed cases (those with consent for tracing)
// that look like case caseRef: possible duplicates and relatives, the case
// itself excluded. The subject must be able to read caseRef; candidates
// are filtered and read as in Match.
func (s *Service) MatchCase(ctx context.Context, sub policy.Subject, caseRef string, limit int) ([]Candidate, error) {
	if err := s.authorize(ctx, sub, ActionMatch, "tracing.match_case", "case/"+caseRef); err != nil {
		return nil, err
	}
	c, err := s.cases.Get(ctx, sub, caseRef)
	if err != nil {
		return nil, err
	}
	p := CasePerson(c.Fields)
	if err := p.Validate(s.now()); err != nil {
		return nil, errorf(ErrInvalid, "case %s cannot be matched: %v", c.Number, err)
	}
	ix, err := s.fresh(ctx)
	if err != nil {
		return nil, err
	}
	out, err := s.resolve(ctx, sub, 0, ix.Match(p, 0), clampLimit(limit), c.ID)
	if err != nil {
		return nil, err
	}
	err = audit.Record(ctx, s.store, s.now(), audit.Event{Actor: sub.User, Action: "tracing.match_case", Object: "case/" + c.ID, Details: map[string]any{"candidates": len(out)}})
	return out, err
}
