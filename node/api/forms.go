package api

import (
	"context"

	"connectrpc.com/connect"

	"github.com/cpx-node/cpx/node/forms"
	"github.com/cpx-node/cpx/policy"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

// ListForms implements FormService: the top-level forms, and on request
// their fields, the nested forms, the option lists and the locations.
// Fields the caller's role hides are left out.
func (s *Server) ListForms(ctx context.Context, req *connect.Request[localv1.ListFormsRequest]) (*connect.Response[localv1.ListFormsResponse], error) {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	if err := s.allow(ctx, sub, policy.ResourceForm, policy.ActionRead, "form.list", "form"); err != nil {
		return nil, err
	}
	cfg := s.cases.Forms()
	details := req.Msg.GetDetails()
	form := func(f forms.Form, nested bool) *localv1.Form {
		w := &localv1.Form{Id: f.ID, Name: f.Name, Fields: int32(len(f.Fields)), Nested: nested}
		for _, fld := range f.Fields {
			// Nested fields are named within their row; the role hides
			// top-level fields only.
			if !nested && sub.Role.Hides(cfg, fld.Name) {
				continue
			}
			w.FieldNames = append(w.FieldNames, fld.Name)
			if details {
				w.FieldDefs = append(w.FieldDefs, formFieldToWire(fld))
			}
		}
		return w
	}
	resp := &localv1.ListFormsResponse{}
	for _, f := range cfg.TopForms() {
		resp.Forms = append(resp.Forms, form(f, false))
	}
	if details {
		for _, f := range cfg.Forms {
			if f.Nested {
				resp.Subforms = append(resp.Subforms, form(f, true))
			}
		}
		for _, l := range cfg.Lookups {
			w := &localv1.FormLookup{Id: l.ID, Name: l.Name}
			for _, o := range l.Options {
				w.Options = append(w.Options, &localv1.FormOption{Id: o.ID, Label: o.Label})
			}
			resp.Lookups = append(resp.Lookups, w)
		}
	}
	if req.Msg.GetIncludeLocations() {
		for _, l := range cfg.Locations {
			resp.Locations = append(resp.Locations, &localv1.FormLocation{
				Code: l.Code, Parent: l.Parent, Name: l.Name, AdminLevel: int32(l.AdminLevel), Iso: l.ISO,
			})
		}
	}
	return connect.NewResponse(resp), nil
}

func formFieldToWire(f forms.Field) *localv1.FormField {
	return &localv1.FormField{
		Name: f.Name, Label: f.Label, Type: string(f.Type), Required: f.Required,
		Lookup: f.Lookup, Subform: f.Subform, NotFuture: f.NotFuture,
		Min: f.Min, Max: f.Max, MaxLength: int32(f.MaxLength), ReadOnly: f.ReadOnly,
	}
}
