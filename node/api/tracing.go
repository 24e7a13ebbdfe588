package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/cpx-node/cpx/node/tracing"
	"github.com/cpx-node/cpx/policy"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
	"github.com/cpx-node/cpx/protocol/gen/cpx/local/v1/localv1connect"
)

var _ localv1connect.TracingServiceHandler = (*Server)(nil)

// tracingSubject authenticates the call and checks the node serves tracing.
func (s *Server) tracingSubject(ctx context.Context, h http.Header, procedure string) (policy.Subject, error) {
	sub, err := s.authenticate(ctx, h, procedure)
	if err != nil {
		return sub, err
	}
	if s.tracing == nil {
		return sub, connect.NewError(connect.CodeUnimplemented, errors.New("family tracing is not enabled on this node"))
	}
	return sub, nil
}

// detailsFromWire decodes a request document and applies the assignments.
func detailsFromWire(doc, set *structpb.Struct) (tracing.Details, error) {
	var d tracing.Details
	if doc != nil {
		b, err := json.Marshal(doc.AsMap())
		if err != nil {
			return d, err
		}
		if d, err = tracing.DecodeDetails(b); err != nil {
			return d, err
		}
	}
	if err := d.SetAll(fieldsFromWire(set)); err != nil {
		return d, err
	}
	return d, nil
}

func requestToWire(r tracing.Request) *localv1.TracingRequest {
	d := r.Details
	w := &localv1.TracingRequest{
		Id: r.ID, Number: r.Number, Status: r.Status, Owner: r.Owner, OwnerGroup: r.OwnerGroup,
		CreatedAt: timestamp(r.CreatedAt), UpdatedAt: timestamp(r.UpdatedAt), Version: r.Version,
		InquirerName: d.InquirerName, Relation: d.Relation, Contact: d.Contact, Location: d.Location,
		DateOfSeparation: d.DateOfSeparation, LocationSeparation: d.LocationSeparation, ConsentForTracing: d.ConsentForTracing,
	}
	for i, t := range d.Traces {
		w.Traces = append(w.Traces, &localv1.Trace{
			Index: int32(i + 1), Name: t.Name, Nicknames: t.Nicknames, OtherNames: t.OtherNames, Sex: t.Sex, Age: t.Age,
			DateOfBirth: t.DateOfBirth, Estimated: t.Estimated, DistinguishingMarks: t.DistinguishingMarks,
			LocationOrigin: t.LocationOrigin, LocationSeparation: t.LocationSeparation, Relatives: t.Relatives,
			Status: t.Status, MatchedCaseId: t.MatchedCaseID, MatchedCaseNumber: t.MatchedCaseNumber,
		})
	}
	for _, x := range r.Decisions {
		w.Decisions = append(w.Decisions, &localv1.TracingDecision{
			Trace: int32(x.Trace), CaseId: x.CaseID, CaseNumber: x.CaseNumber, Outcome: x.Outcome,
			Reason: x.Reason, Actor: x.Actor, At: timestamp(x.At),
		})
	}
	return w
}

func (s *Server) candidatesToWire(sub policy.Subject, cs []tracing.Candidate) ([]*localv1.MatchCandidate, error) {
	out := make([]*localv1.MatchCandidate, 0, len(cs))
	for _, c := range cs {
		k, err := caseToWire(c.Case, sub.Role, s.cases.Forms())
		if err != nil {
			return nil, s.fail(err)
		}
		m := &localv1.MatchCandidate{
			Trace: int32(c.Trace), CaseId: c.Case.ID, CaseNumber: c.Case.Number,
			Probability: c.Probability, Band: c.Band, Case: k,
		}
		for _, cmp := range c.Comparisons {
			m.Comparisons = append(m.Comparisons, &localv1.MatchComparison{Field: cmp.Field, Outcome: cmp.Outcome, Why: cmp.Why})
		}
		out = append(out, m)
	}
	return out, nil
}

// CreateTracingRequest implements TracingService.
func (s *Server) CreateTracingRequest(ctx context.Context, req *connect.Request[localv1.CreateTracingRequestRequest]) (*connect.Response[localv1.CreateTracingRequestResponse], error) {
	sub, err := s.tracingSubject(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	d, err := detailsFromWire(req.Msg.Request, req.Msg.Set)
	if err != nil {
		return nil, s.fail(err)
	}
	r, err := s.tracing.Create(ctx, sub, d)
	if err != nil {
		return nil, s.fail(err)
	}
	return connect.NewResponse(&localv1.CreateTracingRequestResponse{Request: requestToWire(r)}), nil
}

// GetTracingRequest implements TracingService.
func (s *Server) GetTracingRequest(ctx context.Context, req *connect.Request[localv1.GetTracingRequestRequest]) (*connect.Response[localv1.GetTracingRequestResponse], error) {
	sub, err := s.tracingSubject(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	if req.Msg.Id, err = s.tracingRef(ctx, sub, req.Msg.Id); err != nil {
		return nil, err
	}
	r, err := s.tracing.Get(ctx, sub, req.Msg.Id)
	if err != nil {
		return nil, s.fail(err)
	}
	return connect.NewResponse(&localv1.GetTracingRequestResponse{Request: requestToWire(r)}), nil
}

// ListTracingRequests implements TracingService.
func (s *Server) ListTracingRequests(ctx context.Context, req *connect.Request[localv1.ListTracingRequestsRequest]) (*connect.Response[localv1.ListTracingRequestsResponse], error) {
	sub, err := s.tracingSubject(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	list, err := s.tracing.Search(ctx, sub, req.Msg.Status, req.Msg.Query, int(req.Msg.Limit))
	if err != nil {
		return nil, s.fail(err)
	}
	resp := &localv1.ListTracingRequestsResponse{}
	for _, r := range list {
		resp.Requests = append(resp.Requests, requestToWire(r))
	}
	return connect.NewResponse(resp), nil
}

// UpdateTracingRequest implements TracingService.
func (s *Server) UpdateTracingRequest(ctx context.Context, req *connect.Request[localv1.UpdateTracingRequestRequest]) (*connect.Response[localv1.UpdateTracingRequestResponse], error) {
	sub, err := s.tracingSubject(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	if req.Msg.Id, err = s.tracingRef(ctx, sub, req.Msg.Id); err != nil {
		return nil, err
	}
	r, err := s.tracing.Update(ctx, sub, req.Msg.Id, fieldsFromWire(req.Msg.Set))
	if err != nil {
		return nil, s.fail(err)
	}
	return connect.NewResponse(&localv1.UpdateTracingRequestResponse{Request: requestToWire(r)}), nil
}

// ImportTracingRequests implements TracingService.
func (s *Server) ImportTracingRequests(ctx context.Context, req *connect.Request[localv1.ImportTracingRequestsRequest]) (*connect.Response[localv1.ImportTracingRequestsResponse], error) {
	sub, err := s.tracingSubject(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	rows := make([]tracing.ImportRow, len(req.Msg.Rows))
	for i, r := range req.Msg.Rows {
		b, err := json.Marshal(fieldsFromWire(r.Request))
		if err != nil {
			return nil, s.fail(err)
		}
		rows[i] = tracing.ImportRow{Row: r.Row, Doc: b}
	}
	results, err := s.tracing.Import(ctx, sub, rows, req.Msg.DryRun)
	if err != nil {
		return nil, s.fail(err)
	}
	resp := &localv1.ImportTracingRequestsResponse{}
	for _, r := range results {
		out := &localv1.TracingImportResult{Row: r.Row, Id: r.ID, Number: r.Number}
		if r.Err != nil {
			out.Error = r.Err.Error()
			resp.Rejected++
		} else {
			resp.Accepted++
		}
		resp.Results = append(resp.Results, out)
	}
	return connect.NewResponse(resp), nil
}

// MatchTracingRequest implements TracingService.
func (s *Server) MatchTracingRequest(ctx context.Context, req *connect.Request[localv1.MatchTracingRequestRequest]) (*connect.Response[localv1.MatchTracingRequestResponse], error) {
	sub, err := s.tracingSubject(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	if req.Msg.Id, err = s.tracingRef(ctx, sub, req.Msg.Id); err != nil {
		return nil, err
	}
	r, cs, err := s.tracing.Match(ctx, sub, req.Msg.Id, int(req.Msg.Limit))
	if err != nil {
		return nil, s.fail(err)
	}
	w, err := s.candidatesToWire(sub, cs)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&localv1.MatchTracingRequestResponse{Request: requestToWire(r), Candidates: w}), nil
}

// MatchAllTracingRequests implements TracingService.
func (s *Server) MatchAllTracingRequests(ctx context.Context, req *connect.Request[localv1.MatchAllTracingRequestsRequest]) (*connect.Response[localv1.MatchAllTracingRequestsResponse], error) {
	sub, err := s.tracingSubject(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	sums, err := s.tracing.MatchAll(ctx, sub)
	if err != nil {
		return nil, s.fail(err)
	}
	resp := &localv1.MatchAllTracingRequestsResponse{}
	for _, m := range sums {
		resp.Summaries = append(resp.Summaries, &localv1.TracingMatchSummary{
			Id: m.ID, Number: m.Number, BestBand: m.BestBand,
			Likely: int32(m.Likely), Possible: int32(m.Possible), Candidates: int32(m.Candidates),
		})
	}
	return connect.NewResponse(resp), nil
}

// MatchCase implements TracingService.
func (s *Server) MatchCase(ctx context.Context, req *connect.Request[localv1.MatchCaseRequest]) (*connect.Response[localv1.MatchCaseResponse], error) {
	sub, err := s.tracingSubject(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	if req.Msg.Id, err = s.caseRef(ctx, sub, req.Msg.Id); err != nil {
		return nil, err
	}
	cs, err := s.tracing.MatchCase(ctx, sub, req.Msg.Id, int(req.Msg.Limit))
	if err != nil {
		return nil, s.fail(err)
	}
	w, err := s.candidatesToWire(sub, cs)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&localv1.MatchCaseResponse{Candidates: w}), nil
}

// ConfirmTracingMatch implements TracingService.
func (s *Server) ConfirmTracingMatch(ctx context.Context, req *connect.Request[localv1.ConfirmTracingMatchRequest]) (*connect.Response[localv1.ConfirmTracingMatchResponse], error) {
	sub, err := s.tracingSubject(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if m.Id, err = s.tracingRef(ctx, sub, m.Id); err != nil {
		return nil, err
	}
	if m.CaseId, err = s.caseRef(ctx, sub, m.CaseId); err != nil {
		return nil, err
	}
	r, err := s.tracing.Confirm(ctx, sub, m.Id, int(m.Trace), m.CaseId, m.Reason)
	if err != nil {
		return nil, s.fail(err)
	}
	return connect.NewResponse(&localv1.ConfirmTracingMatchResponse{Request: requestToWire(r)}), nil
}

// RejectTracingMatch implements TracingService.
func (s *Server) RejectTracingMatch(ctx context.Context, req *connect.Request[localv1.RejectTracingMatchRequest]) (*connect.Response[localv1.RejectTracingMatchResponse], error) {
	sub, err := s.tracingSubject(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if m.Id, err = s.tracingRef(ctx, sub, m.Id); err != nil {
		return nil, err
	}
	if m.CaseId, err = s.caseRef(ctx, sub, m.CaseId); err != nil {
		return nil, err
	}
	r, err := s.tracing.Reject(ctx, sub, m.Id, int(m.Trace), m.CaseId, m.Reason)
	if err != nil {
		return nil, s.fail(err)
	}
	return connect.NewResponse(&localv1.RejectTracingMatchResponse{Request: requestToWire(r)}), nil
}

// FederatedMatchTracingRequest implements TracingService.
func (s *Server) FederatedMatchTracingRequest(ctx context.Context, req *connect.Request[localv1.FederatedMatchTracingRequestRequest]) (*connect.Response[localv1.FederatedMatchTracingRequestResponse], error) {
	sub, err := s.tracingSubject(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	if req.Msg.Id, err = s.tracingRef(ctx, sub, req.Msg.Id); err != nil {
		return nil, err
	}
	r, matches, unreachable, err := s.tracing.FederatedMatch(ctx, sub, req.Msg.Id)
	if err != nil {
		return nil, s.fail(err)
	}
	resp := &localv1.FederatedMatchTracingRequestResponse{RequestId: r.ID, RequestNumber: r.Number, Unreachable: unreachable}
	for _, m := range matches {
		resp.Matches = append(resp.Matches, &localv1.FederatedTracingMatch{Agency: m.Agency, Trace: int32(m.Trace), Band: m.Band, Level: int32(m.Level), Handle: m.Handle})
	}
	return connect.NewResponse(resp), nil
}

// FederatedMatchAllTracingRequests implements TracingService.
func (s *Server) FederatedMatchAllTracingRequests(ctx context.Context, req *connect.Request[localv1.FederatedMatchAllTracingRequestsRequest], stream *connect.ServerStream[localv1.FederatedMatchAllTracingRequestsResponse]) error {
	sub, err := s.tracingSubject(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var sendErr error
	b, err := s.tracing.FederatedMatchAll(ctx, sub, func(p tracing.BatchProgress) {
		if sendErr != nil {
			return
		}
		if sendErr = stream.Send(&localv1.FederatedMatchAllTracingRequestsResponse{Progress: &localv1.FederatedBatchProgress{
			Agency: p.Agency, Sent: int32(p.Sent), Total: int32(p.Total), WaitingSeconds: p.Waiting.Seconds(),
		}}); sendErr != nil {
			cancel() // the caller is gone: stop asking
		}
	})
	if sendErr != nil {
		return sendErr
	}
	if err != nil {
		return s.fail(err)
	}
	last := &localv1.FederatedMatchAllTracingRequestsResponse{Agencies: int32(b.Agencies), Queries: int32(b.Queries)}
	for _, r := range b.Results {
		w := &localv1.FederatedMatchTracingRequestResponse{RequestId: r.Request.ID, RequestNumber: r.Request.Number, Unreachable: r.Unreachable}
		for _, m := range r.Matches {
			w.Matches = append(w.Matches, &localv1.FederatedTracingMatch{Agency: m.Agency, Trace: int32(m.Trace), Band: m.Band, Level: int32(m.Level), Handle: m.Handle})
		}
		last.Results = append(last.Results, w)
	}
	return stream.Send(last)
}

// RequestTracingDetails implements TracingService.
func (s *Server) RequestTracingDetails(ctx context.Context, req *connect.Request[localv1.RequestTracingDetailsRequest]) (*connect.Response[localv1.RequestTracingDetailsResponse], error) {
	sub, err := s.tracingSubject(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	rec, err := s.tracing.RequestDetails(ctx, sub, req.Msg.Agency, req.Msg.Handle, req.Msg.Note)
	if err != nil {
		return nil, s.fail(err)
	}
	w, err := exchangeToWire(rec)
	if err != nil {
		return nil, s.fail(err)
	}
	return connect.NewResponse(&localv1.RequestTracingDetailsResponse{Exchange: w}), nil
}
