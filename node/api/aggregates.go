package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/exchange"
	"github.com/cpx-node/cpx/node/reporting"
	"github.com/cpx-node/cpx/policy"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

// anyPeriod reads a period in any frequency's form: 2026-11, 2026-Q4 or
// 2026.
func anyPeriod(p string) (first, last time.Time, err error) {
	for _, f := range []string{policy.FrequencyMonthly, policy.FrequencyQuarterly, policy.FrequencyYearly} {
		if first, last, err = policy.ParsePeriod(f, p); err == nil {
			return first, last, nil
		}
	}
	return first, last, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("--period %q does not parse: write 2026-11 (a month), 2026-Q4 (a quarter) or 2026 (a year)", p))
}

func (s *Server) exchangeOrFail() error {
	if s.ex == nil {
		return connect.NewError(connect.CodeFailedPrecondition, errors.New("this node exchanges nothing with other nodes"))
	}
	return nil
}

// PushReport runs a report over the agency for a period, applies the
// disclosure control the ISP's aggregate rule requires, and sends it.
func (s *Server) PushReport(ctx context.Context, req *connect.Request[localv1.PushReportRequest]) (*connect.Response[localv1.PushReportResponse], error) {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	if err := s.exchangeOrFail(); err != nil {
		return nil, err
	}
	m := req.Msg
	if m.Name == "" || m.To == "" || m.Period == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("a report name, --to and --period are required"))
	}
	if _, err := policy.PeriodFrequency(m.Period); err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	r, err := s.findReport(m.Name)
	if err != nil {
		return nil, err
	}
	rep, isp, err := s.pushable(ctx, sub, r.def, m.To, m.Period)
	if err != nil {
		return nil, err
	}
	agg := reporting.NewAggregate(rep, m.Period)
	rec, d, err := s.ex.PushAggregate(ctx, sub, m.To, agg)
	if err != nil {
		// Refused here, or by the coordination node (the exchange record
		// keeps its reason).
		return nil, s.fail(err)
	}
	xw, err := exchangeToWire(rec)
	if err != nil {
		return nil, s.fail(err)
	}
	resp := &localv1.PushReportResponse{Exchange: xw, Result: s.reportWire(rep), Isp: isp.ID, IspVersion: isp.Version, Delivered: d.Delivered}
	if d.Err != nil {
		resp.Waiting = d.Err.Error()
	}
	return connect.NewResponse(resp), nil
}

// pushable checks that sub may push def to the agency to for period under
// an ISP in force, runs it over the agency and applies the ISP's
// disclosure control. Refusals are audited.
func (s *Server) pushable(ctx context.Context, sub policy.Subject, def *reporting.Definition, to, period string) (*reporting.Report, *policy.ISP, error) {
	refuse := func(err error) error {
		if aerr := audit.Record(ctx, s.store, s.now(), audit.Event{Actor: sub.User, Action: "aggregate.push", Object: "report/" + def.Name, Outcome: audit.Denied, Details: err.Error()}); aerr != nil {
			return s.fail(aerr)
		}
		return s.fail(err)
	}
	if !sub.Role.Can(policy.ResourceCase, policy.ActionList) || (sub.Role.Scope != policy.ScopeAgency && sub.Role.Scope != policy.ScopeAll) {
		return nil, nil, refuse(fmt.Errorf("%w: a pushed report counts the whole agency; role %q counts only its own scope", exchange.ErrDenied, sub.Role.ID))
	}
	var dims []string
	for _, d := range def.Dimensions() {
		dims = append(dims, d.Field)
	}
	terms, isp, err := s.ex.AggregateTerms(ctx, policy.AggregateRequest{To: to, Report: def.Name, Dimensions: dims, Period: period})
	if err != nil {
		return nil, nil, refuse(err)
	}
	first, last, err := policy.ParsePeriod(terms.Every(), period)
	if err != nil {
		return nil, nil, refuse(fmt.Errorf("%w: %v", exchange.ErrInvalid, err))
	}
	rep, err := s.reportRunner().Run(ctx, sub, def, reporting.Params{From: first, To: last})
	if err != nil {
		return nil, nil, s.fail(err)
	}
	if err := rep.Protect(terms.K(), terms.Protection()); err != nil {
		return nil, nil, s.fail(err)
	}
	return rep, isp, nil
}

// ListSubmissions lists the aggregates received for a period.
func (s *Server) ListSubmissions(ctx context.Context, req *connect.Request[localv1.ListSubmissionsRequest]) (*connect.Response[localv1.ListSubmissionsResponse], error) {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if _, _, err := anyPeriod(m.Period); err != nil {
		return nil, err
	}
	if err := s.allow(ctx, sub, policy.ResourceForm, policy.ActionRead, "report.submissions", "report/"+m.Period); err != nil {
		return nil, err
	}
	if err := s.exchangeOrFail(); err != nil {
		return nil, err
	}
	subs, err := s.ex.Submissions(ctx, m.Period)
	if err != nil {
		return nil, s.fail(err)
	}
	reporters, err := s.ex.Reporters(ctx)
	if err != nil {
		return nil, s.fail(err)
	}
	resp := &localv1.ListSubmissionsResponse{}
	sent := map[string]bool{}
	for _, x := range subs {
		if m.Report != "" && x.Report != m.Report {
			continue
		}
		sent[x.Agency] = true
		resp.Submissions = append(resp.Submissions, &localv1.Submission{
			Agency: x.Agency, Report: x.Report, Period: x.Period, Version: int32(x.Version), ReceivedAt: timestamppb.New(x.ReceivedAt),
			Current: x.Current, Exchange: x.Exchange, Isp: x.ISP, IspVersion: x.ISPVersion, Actor: x.Actor, K: int32(x.Aggregate.K),
		})
	}
	for _, r := range reporters {
		if !sent[r.Agency] && !slices.Contains(resp.Missing, r.Agency) {
			resp.Missing = append(resp.Missing, r.Agency)
		}
	}
	slices.Sort(resp.Missing)
	return connect.NewResponse(resp), nil
}

// mergedReport merges the agencies' latest submissions of a report for a
// period and applies disclosure control again, with the strictest terms
// of the ISPs that expect them (at least k and protection if given).
func (s *Server) mergedReport(ctx context.Context, sub policy.Subject, m *localv1.RunReportRequest) (*reporting.Report, error) {
	if m.Name == "" || m.Period == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("--merged needs a report NAME and --period"))
	}
	if m.Definition != "" || m.From != "" || m.To != "" || len(m.By) > 0 || len(m.Filters) > 0 || m.NoSuppression {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("--merged takes a report NAME, --period, --k and --protection only"))
	}
	if _, _, err := anyPeriod(m.Period); err != nil {
		return nil, err
	}
	if err := s.allow(ctx, sub, policy.ResourceForm, policy.ActionRead, "report.merged", "report/"+m.Name+"/"+m.Period); err != nil {
		return nil, err
	}
	if err := s.exchangeOrFail(); err != nil {
		return nil, err
	}
	subs, err := s.ex.Submissions(ctx, m.Period)
	if err != nil {
		return nil, s.fail(err)
	}
	reporters, err := s.ex.Reporters(ctx)
	if err != nil {
		return nil, s.fail(err)
	}
	k, prot := int(m.K), int(m.Protection)
	var parts []reporting.Part
	for _, x := range subs {
		if x.Report != m.Name || !x.Current {
			continue
		}
		parts = append(parts, reporting.Part{Agency: x.Agency, Aggregate: x.Aggregate})
		k, prot = max(k, x.Aggregate.K), max(prot, x.Aggregate.Protection)
		for _, r := range reporters {
			if r.Agency == x.Agency {
				k, prot = max(k, r.Terms.K()), max(prot, r.Terms.Protection())
			}
		}
	}
	if len(parts) == 0 {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("no agency has sent report %s for %s (cpx report submissions --period %s)", m.Name, m.Period, m.Period))
	}
	k = max(k, DefaultReportK)
	prot = max(prot, k)
	rep, err := reporting.Merge(parts, k, prot)
	if err != nil {
		return nil, s.fail(err)
	}
	return rep, nil
}
