package api

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/exchange"
	"github.com/cpx-node/cpx/node/notify"
	"github.com/cpx-node/cpx/policy"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

// casework runs fn as the request's subject and wraps its result, mapping
// errors: the "authenticate, call, answer" every CaseworkService method
// shares.
func handle[Req, Resp any](s *Server, ctx context.Context, req *connect.Request[Req], fn func(policy.Subject, *Req) (*Resp, error)) (*connect.Response[Resp], error) {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	resp, err := fn(sub, req.Msg)
	if err != nil {
		return nil, s.fail(err)
	}
	return connect.NewResponse(resp), nil
}

func optTime(t interface{ IsZero() bool }, p *timestamppb.Timestamp) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return p
}

func approvalToWire(a casework.Approval) *localv1.Approval {
	return &localv1.Approval{Type: a.Type, Status: a.Status, RequestedBy: a.RequestedBy, RequestedAt: timestamp(a.RequestedAt),
		RequestComment: a.RequestComment, DecidedBy: a.DecidedBy, DecidedAt: optTime(a.DecidedAt, timestamp(a.DecidedAt)), Comment: a.Comment}
}

func flagToWire(f casework.Flag) *localv1.Flag {
	return &localv1.Flag{Id: int32(f.ID), Message: f.Message, Date: f.Date, FlaggedBy: f.FlaggedBy, FlaggedAt: timestamp(f.FlaggedAt),
		Resolved: f.Resolved, ResolvedBy: f.ResolvedBy, ResolvedAt: optTime(f.ResolvedAt, timestamp(f.ResolvedAt)), Resolution: f.Resolution}
}

// AssignCase implements CaseworkService.
func (s *Server) AssignCase(ctx context.Context, req *connect.Request[localv1.AssignCaseRequest]) (*connect.Response[localv1.AssignCaseResponse], error) {
	return handle(s, ctx, req, func(sub policy.Subject, m *localv1.AssignCaseRequest) (*localv1.AssignCaseResponse, error) {
		c, err := s.cases.Assign(ctx, sub, m.Id, m.To, m.Reason)
		if err != nil {
			return nil, err
		}
		return &localv1.AssignCaseResponse{CaseNumber: c.Number, Owner: c.Owner, OwnerGroup: c.OwnerGroup, Version: c.Version}, nil
	})
}

// GetCasework implements CaseworkService.
func (s *Server) GetCasework(ctx context.Context, req *connect.Request[localv1.GetCaseworkRequest]) (*connect.Response[localv1.GetCaseworkResponse], error) {
	return handle(s, ctx, req, func(sub policy.Subject, m *localv1.GetCaseworkRequest) (*localv1.GetCaseworkResponse, error) {
		c, err := s.cases.Get(ctx, sub, m.Id)
		if err != nil {
			return nil, err
		}
		out := &localv1.GetCaseworkResponse{CaseNumber: c.Number}
		for _, a := range c.Assignments {
			out.Assignments = append(out.Assignments, &localv1.Assignment{From: a.From, To: a.To, By: a.By, At: timestamp(a.At), Reason: a.Reason})
		}
		for _, a := range c.Approvals {
			out.Approvals = append(out.Approvals, approvalToWire(a))
		}
		for _, f := range c.Flags {
			out.Flags = append(out.Flags, flagToWire(f))
		}
		return out, nil
	})
}

// ListTasks implements CaseworkService.
func (s *Server) ListTasks(ctx context.Context, req *connect.Request[localv1.ListTasksRequest]) (*connect.Response[localv1.ListTasksResponse], error) {
	return handle(s, ctx, req, func(sub policy.Subject, m *localv1.ListTasksRequest) (*localv1.ListTasksResponse, error) {
		user := m.User
		if user == "me" {
			user = sub.User
		}
		list, err := s.cases.Tasks(ctx, sub, casework.TaskFilter{Overdue: m.Overdue, Upcoming: int(m.UpcomingDays), User: user, Group: m.Group, Limit: int(m.Limit)})
		if err != nil {
			return nil, err
		}
		out := &localv1.ListTasksResponse{}
		for _, t := range list {
			out.Tasks = append(out.Tasks, &localv1.Task{CaseId: t.CaseID, CaseNumber: t.CaseNumber, Owner: t.Owner, OwnerGroup: t.OwnerGroup,
				Kind: t.Kind, Field: t.Field, Row: int32(t.Row), Due: t.Due, DaysLate: int32(t.DaysLate)})
		}
		return out, nil
	})
}

// lastApproval returns the latest approval of kind typ on c.
func lastApproval(c casework.Case, typ string) *localv1.Approval {
	for i := len(c.Approvals) - 1; i >= 0; i-- {
		if c.Approvals[i].Type == typ {
			return approvalToWire(c.Approvals[i])
		}
	}
	return nil
}

// RequestApproval implements CaseworkService.
func (s *Server) RequestApproval(ctx context.Context, req *connect.Request[localv1.RequestApprovalRequest]) (*connect.Response[localv1.RequestApprovalResponse], error) {
	return handle(s, ctx, req, func(sub policy.Subject, m *localv1.RequestApprovalRequest) (*localv1.RequestApprovalResponse, error) {
		c, err := s.cases.RequestApproval(ctx, sub, m.Id, m.Type, m.Comment)
		if err != nil {
			return nil, err
		}
		return &localv1.RequestApprovalResponse{CaseNumber: c.Number, Approval: lastApproval(c, m.Type)}, nil
	})
}

// DecideApproval implements CaseworkService.
func (s *Server) DecideApproval(ctx context.Context, req *connect.Request[localv1.DecideApprovalRequest]) (*connect.Response[localv1.DecideApprovalResponse], error) {
	return handle(s, ctx, req, func(sub policy.Subject, m *localv1.DecideApprovalRequest) (*localv1.DecideApprovalResponse, error) {
		c, err := s.cases.DecideApproval(ctx, sub, m.Id, m.Type, m.Approve, m.Comment)
		if err != nil {
			return nil, err
		}
		return &localv1.DecideApprovalResponse{CaseNumber: c.Number, Approval: lastApproval(c, m.Type)}, nil
	})
}

// ListApprovals implements CaseworkService.
func (s *Server) ListApprovals(ctx context.Context, req *connect.Request[localv1.ListApprovalsRequest]) (*connect.Response[localv1.ListApprovalsResponse], error) {
	return handle(s, ctx, req, func(sub policy.Subject, _ *localv1.ListApprovalsRequest) (*localv1.ListApprovalsResponse, error) {
		list, err := s.cases.PendingApprovals(ctx, sub)
		if err != nil {
			return nil, err
		}
		out := &localv1.ListApprovalsResponse{}
		for _, a := range list {
			out.Approvals = append(out.Approvals, &localv1.PendingApproval{CaseId: a.CaseID, CaseNumber: a.CaseNumber, Owner: a.Owner,
				OwnerGroup: a.OwnerGroup, Type: a.Type, RequestedBy: a.RequestedBy, RequestedAt: a.RequestedAt, CanDecide: a.CanDecide})
		}
		return out, nil
	})
}

// FlagCase implements CaseworkService.
func (s *Server) FlagCase(ctx context.Context, req *connect.Request[localv1.FlagCaseRequest]) (*connect.Response[localv1.FlagCaseResponse], error) {
	return handle(s, ctx, req, func(sub policy.Subject, m *localv1.FlagCaseRequest) (*localv1.FlagCaseResponse, error) {
		c, err := s.cases.FlagCase(ctx, sub, m.Id, m.Message, m.Date)
		if err != nil {
			return nil, err
		}
		return &localv1.FlagCaseResponse{CaseNumber: c.Number, Flag: flagToWire(c.Flags[len(c.Flags)-1])}, nil
	})
}

// ResolveFlag implements CaseworkService.
func (s *Server) ResolveFlag(ctx context.Context, req *connect.Request[localv1.ResolveFlagRequest]) (*connect.Response[localv1.ResolveFlagResponse], error) {
	return handle(s, ctx, req, func(sub policy.Subject, m *localv1.ResolveFlagRequest) (*localv1.ResolveFlagResponse, error) {
		c, err := s.cases.ResolveFlag(ctx, sub, m.Id, int(m.FlagId), m.Resolution)
		if err != nil {
			return nil, err
		}
		out := &localv1.ResolveFlagResponse{CaseNumber: c.Number}
		var last casework.Flag
		for _, f := range c.Flags {
			if f.Resolved && (m.FlagId == 0 || f.ID == int(m.FlagId)) && !f.ResolvedAt.Before(last.ResolvedAt) {
				last = f
			}
		}
		out.Flag = flagToWire(last)
		return out, nil
	})
}

// ListFlags implements CaseworkService.
func (s *Server) ListFlags(ctx context.Context, req *connect.Request[localv1.ListFlagsRequest]) (*connect.Response[localv1.ListFlagsResponse], error) {
	return handle(s, ctx, req, func(sub policy.Subject, _ *localv1.ListFlagsRequest) (*localv1.ListFlagsResponse, error) {
		list, err := s.cases.Flags(ctx, sub)
		if err != nil {
			return nil, err
		}
		out := &localv1.ListFlagsResponse{}
		for _, f := range list {
			w := flagToWire(casework.Flag{ID: f.ID, Message: f.Message, Date: f.Date, FlaggedBy: f.FlaggedBy, FlaggedAt: f.FlaggedAt})
			w.CaseNumber, w.CaseId, w.Owner = f.CaseNumber, f.CaseID, f.Owner
			out.Flags = append(out.Flags, w)
		}
		return out, nil
	})
}

// NotifyStatus implements CaseworkService: the node's operators
// (node update) see the notification queue.
func (s *Server) NotifyStatus(ctx context.Context, req *connect.Request[localv1.NotifyStatusRequest]) (*connect.Response[localv1.NotifyStatusResponse], error) {
	return handle(s, ctx, req, func(sub policy.Subject, _ *localv1.NotifyStatusRequest) (*localv1.NotifyStatusResponse, error) {
		if err := s.allow(ctx, sub, policy.ResourceNode, policy.ActionUpdate, "notify.status", "notify"); err != nil {
			return nil, err
		}
		st, err := notify.ReadStatus(ctx, s.store)
		if err != nil {
			return nil, err
		}
		return &localv1.NotifyStatusResponse{SmtpConfigured: s.smtp, Queued: st.Queued, Sent: st.Sent, Failing: st.Failing, Skipped: st.Skipped,
			LastError: st.LastError, LastErrorAt: optTime(st.LastErrorAt, timestamp(st.LastErrorAt)), LastSentAt: optTime(st.LastSentAt, timestamp(st.LastSentAt))}, nil
	})
}

func counts(m map[string]int64) []*localv1.Count {
	var out []*localv1.Count
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, &localv1.Count{Key: k, Count: m[k]})
	}
	return out
}

// Dashboard implements CaseworkService.
func (s *Server) Dashboard(ctx context.Context, req *connect.Request[localv1.DashboardRequest]) (*connect.Response[localv1.DashboardResponse], error) {
	return handle(s, ctx, req, func(sub policy.Subject, m *localv1.DashboardRequest) (*localv1.DashboardResponse, error) {
		d, err := s.cases.Dashboard(ctx, sub, m.Group)
		if err != nil {
			return nil, err
		}
		out := &localv1.DashboardResponse{CasesByStage: counts(d.CasesByStage), OverdueTasksByKind: counts(d.OverdueTasksByKind),
			UpcomingTasks: d.UpcomingTasks, ApprovalsPending: d.ApprovalsPending, OpenFlags: d.OpenFlags}
		if s.ex != nil {
			n, err := s.incomingWaiting(ctx, sub)
			if err != nil {
				return nil, err
			}
			out.IncomingExchangesWaiting = n
		}
		return out, nil
	})
}

// incomingWaiting counts the referrals and transfers from other agencies
// that wait for an answer, when the subject may list exchanges.
func (s *Server) incomingWaiting(ctx context.Context, sub policy.Subject) (int64, error) {
	if !sub.Role.Can(policy.ResourceExchange, policy.ActionList) {
		return 0, nil
	}
	var n int64
	for _, kind := range []string{exchange.KindReferral, exchange.KindTransfer} {
		list, err := s.ex.List(ctx, sub, exchange.Filter{Kind: kind, Direction: exchange.Incoming, Status: exchange.StatusPending})
		if err != nil {
			return 0, fmt.Errorf("incoming exchanges: %w", err)
		}
		n += int64(len(list))
	}
	return n, nil
}
