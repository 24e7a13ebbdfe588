package casework

import (
	"context"
	"errors"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// Aggregate calls fn for every case the subject may read, redacted for
// the subject, exactly as List would show them but without a limit: the
// input of an aggregate report. It needs the list permission and audits
// one entry naming the report and how many cases were counted, never
// which.
func (s *Service) Aggregate(ctx context.Context, sub policy.Subject, report string, fn func(Case) error) error {
	if d := policy.Authorize(sub, policy.ResourceCase, policy.ActionList, nil); !d.Allowed {
		return s.auditDenied(ctx, sub, "case.report", "report/"+report, denied(d))
	}
	var n int
	err := s.store.View(ctx, func(r store.Reader) error {
		n = 0
		return s.scan(ctx, r, sub, Filter{}, func(c Case) error { n++; return fn(c) })
	})
	outcome := audit.OK
	if err != nil {
		outcome = audit.Failed
	}
	aerr := audit.Record(ctx, s.store, s.now(), audit.Event{Actor: sub.User, Action: "case.report", Object: "report/" + report, Outcome: outcome, Details: map[string]any{"count": n}})
	return errors.Join(err, aerr)
}
