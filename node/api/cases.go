package api

import (
	"context"

	"connectrpc.com/connect"

	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/policy"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

// caseResponse converts a case for the subject or maps the error.
func (s *Server) caseWire(sub policy.Subject, c casework.Case, err error) (*localv1.Case, error) {
	if err != nil {
		return nil, s.fail(err)
	}
	w, err := caseToWire(c, sub.Role, s.cases.Forms())
	if err != nil {
		return nil, s.fail(err)
	}
	return w, nil
}

// CreateCase implements CaseService.
func (s *Server) CreateCase(ctx context.Context, req *connect.Request[localv1.CreateCaseRequest]) (*connect.Response[localv1.CreateCaseResponse], error) {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	c, err := s.cases.Create(ctx, sub, req.Msg.Form, fieldsFromWire(req.Msg.Fields))
	w, err := s.caseWire(sub, c, err)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&localv1.CreateCaseResponse{Case: w}), nil
}

// GetCase implements CaseService.
func (s *Server) GetCase(ctx context.Context, req *connect.Request[localv1.GetCaseRequest]) (*connect.Response[localv1.GetCaseResponse], error) {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	if req.Msg.Id, err = s.caseRef(ctx, sub, req.Msg.Id); err != nil {
		return nil, err
	}
	c, err := s.cases.Get(ctx, sub, req.Msg.Id)
	w, err := s.caseWire(sub, c, err)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&localv1.GetCaseResponse{Case: w}), nil
}

// ListCases implements CaseService.
func (s *Server) ListCases(ctx context.Context, req *connect.Request[localv1.ListCasesRequest]) (*connect.Response[localv1.ListCasesResponse], error) {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	owner := m.Owner
	switch {
	case m.AssignedTo == "me":
		owner = sub.User
	case m.AssignedTo != "":
		owner = m.AssignedTo
	}
	list, err := s.cases.List(ctx, sub, casework.Filter{Status: m.Status, Owner: owner, Query: m.Query, Limit: int(m.Limit)})
	if err != nil {
		return nil, s.fail(err)
	}
	resp := &localv1.ListCasesResponse{}
	for _, c := range list {
		w, err := s.caseWire(sub, c, nil)
		if err != nil {
			return nil, err
		}
		resp.Cases = append(resp.Cases, w)
	}
	return connect.NewResponse(resp), nil
}

// UpdateCase implements CaseService.
func (s *Server) UpdateCase(ctx context.Context, req *connect.Request[localv1.UpdateCaseRequest]) (*connect.Response[localv1.UpdateCaseResponse], error) {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	if req.Msg.Id, err = s.caseRef(ctx, sub, req.Msg.Id); err != nil {
		return nil, err
	}
	c, err := s.cases.Update(ctx, sub, req.Msg.Id, fieldsFromWire(req.Msg.Fields), req.Msg.ExpectedVersion)
	w, err := s.caseWire(sub, c, err)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&localv1.UpdateCaseResponse{Case: w}), nil
}

// CloseCase implements CaseService.
func (s *Server) CloseCase(ctx context.Context, req *connect.Request[localv1.CloseCaseRequest]) (*connect.Response[localv1.CloseCaseResponse], error) {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	if req.Msg.Id, err = s.caseRef(ctx, sub, req.Msg.Id); err != nil {
		return nil, err
	}
	c, err := s.cases.Close(ctx, sub, req.Msg.Id, req.Msg.Reason)
	w, err := s.caseWire(sub, c, err)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&localv1.CloseCaseResponse{Case: w}), nil
}

// CaseHistory implements CaseService.
func (s *Server) CaseHistory(ctx context.Context, req *connect.Request[localv1.CaseHistoryRequest]) (*connect.Response[localv1.CaseHistoryResponse], error) {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	if req.Msg.Id, err = s.caseRef(ctx, sub, req.Msg.Id); err != nil {
		return nil, err
	}
	versions, err := s.cases.History(ctx, sub, req.Msg.Id)
	if err != nil {
		return nil, s.fail(err)
	}
	resp := &localv1.CaseHistoryResponse{}
	for _, v := range versions {
		resp.Versions = append(resp.Versions, &localv1.CaseVersion{
			Version: v.Version, At: timestamp(v.At), Actor: v.Actor, Action: v.Action, ChangedFields: v.ChangedFields(),
		})
	}
	return connect.NewResponse(resp), nil
}

// ImportCases implements CaseService.
func (s *Server) ImportCases(ctx context.Context, req *connect.Request[localv1.ImportCasesRequest]) (*connect.Response[localv1.ImportCasesResponse], error) {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	rows := make([]casework.ImportRow, len(req.Msg.Rows))
	for i, r := range req.Msg.Rows {
		rows[i] = casework.ImportRow{Row: r.Row, Form: r.Form, Fields: fieldsFromWire(r.Fields)}
	}
	results, progress, err := s.cases.ImportBatch(ctx, sub, req.Msg.ImportId, rows, req.Msg.DryRun)
	if err != nil {
		return nil, s.fail(err)
	}
	resp := &localv1.ImportCasesResponse{}
	for _, r := range results {
		out := &localv1.ImportResult{Row: r.Row, Id: r.ID, CaseNumber: r.Number, Skipped: r.Skipped}
		switch {
		case r.Skipped:
			resp.Skipped++
		case r.Err != nil:
			out.Error = r.Err.Error()
			resp.Rejected++
		default:
			resp.Accepted++
		}
		resp.Results = append(resp.Results, out)
	}
	if req.Msg.ImportId != "" && !req.Msg.DryRun {
		resp.Progress = &localv1.ImportProgress{LastRow: progress.LastRow, Accepted: progress.Accepted, Rejected: progress.Rejected}
	}
	return connect.NewResponse(resp), nil
}

// ExportCases implements CaseService.
func (s *Server) ExportCases(ctx context.Context, req *connect.Request[localv1.ExportCasesRequest], stream *connect.ServerStream[localv1.ExportCasesResponse]) error {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return err
	}
	err = s.cases.Export(ctx, sub, req.Msg.Status, func(c casework.Case) error {
		w, err := caseToWire(c, sub.Role, s.cases.Forms())
		if err != nil {
			return err
		}
		return stream.Send(&localv1.ExportCasesResponse{Case: w})
	})
	if err != nil {
		return s.fail(err)
	}
	return nil
}

// PurgeCase implements CaseService.
func (s *Server) PurgeCase(ctx context.Context, req *connect.Request[localv1.PurgeCaseRequest]) (*connect.Response[localv1.PurgeCaseResponse], error) {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	if req.Msg.Id, err = s.caseRef(ctx, sub, req.Msg.Id); err != nil {
		return nil, err
	}
	if err := s.cases.Purge(ctx, sub, req.Msg.Id, req.Msg.Reason); err != nil {
		return nil, s.fail(err)
	}
	return connect.NewResponse(&localv1.PurgeCaseResponse{}), nil
}
