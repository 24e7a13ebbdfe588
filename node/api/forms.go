package api

import (
	"context"

	"connectrpc.com/connect"

	"github.com/cpx-node/cpx/policy"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

// ListForms implements FormService.
func (s *Server) ListForms(ctx context.Context, req *connect.Request[localv1.ListFormsRequest]) (*connect.Response[localv1.ListFormsResponse], error) {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	if err := s.allow(ctx, sub, policy.ResourceForm, policy.ActionRead, "form.list", "form"); err != nil {
		return nil, err
	}
	resp := &localv1.ListFormsResponse{}
	for _, f := range s.cases.Forms().TopForms() {
		w := &localv1.Form{Id: f.ID, Name: f.Name, Fields: int32(len(f.Fields))}
		for _, fld := range f.Fields {
			if !sub.Role.Hides(fld.Name) {
				w.FieldNames = append(w.FieldNames, fld.Name)
			}
		}
		resp.Forms = append(resp.Forms, w)
	}
	return connect.NewResponse(resp), nil
}
