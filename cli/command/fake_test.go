package command_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
	"github.com/cpx-node/cpx/protocol/gen/cpx/local/v1/localv1connect"
)

// fakeNode is an in-memory stand-in for a node's local API, only good
// enough to test the CLI layer. Tokens: "admin-token" may do anything,
// "viewer-token" may only read; anything else is refused.
type fakeNode struct {
	// Token management is not faked: its calls answer unimplemented (the
	// conformance suite drives the real ones).
	localv1connect.UnimplementedUserServiceHandler
	mu          sync.Mutex
	cases       []*localv1.Case
	users       []*localv1.User
	batches     []int // number of rows of each ImportCases call
	lastFields  *structpb.Struct
	lastForm    string
	auditBroken bool
	failImport  int                                // if > 0, ImportCases fails from this call on
	imports     map[string]*localv1.ImportProgress // by import id ("" for none)
}

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

type roleKey struct{}

// authInterceptor checks the bearer token of every call.
type authInterceptor struct{}

func role(h http.Header) (string, error) {
	switch h.Get("Authorization") {
	case "Bearer admin-token":
		return "admin", nil
	case "Bearer viewer-token":
		return "viewer", nil
	}
	return "", connect.NewError(connect.CodeUnauthenticated, errors.New("unknown or disabled token"))
}

func (authInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		r, err := role(req.Header())
		if err != nil {
			return nil, err
		}
		return next(context.WithValue(ctx, roleKey{}, r), req)
	}
}

func (authInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (authInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		r, err := role(conn.RequestHeader())
		if err != nil {
			return err
		}
		return next(context.WithValue(ctx, roleKey{}, r), conn)
	}
}

func mustWrite(ctx context.Context) error {
	if ctx.Value(roleKey{}) != "admin" {
		return connect.NewError(connect.CodePermissionDenied, errors.New("role viewer may not change anything"))
	}
	return nil
}

// start serves f on a loopback httptest server and returns its URL.
func (f *fakeNode) start(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	opt := connect.WithInterceptors(authInterceptor{})
	mux.Handle(localv1connect.NewNodeServiceHandler(f, opt))
	mux.Handle(localv1connect.NewUserServiceHandler(f, opt))
	mux.Handle(localv1connect.NewCaseServiceHandler(f, opt))
	mux.Handle(localv1connect.NewFormServiceHandler(f, opt))
	mux.Handle(localv1connect.NewAuditServiceHandler(f, opt))
	mux.Handle(localv1connect.NewFederationServiceHandler(f.fed(), opt))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func (f *fakeNode) Status(ctx context.Context, _ *connect.Request[localv1.StatusRequest]) (*connect.Response[localv1.StatusResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return connect.NewResponse(&localv1.StatusResponse{
		AgencyId: "agency-a", AgencyName: "Agency A", Version: "v0.1.0", StartedAt: timestamppb.New(t0),
		Cases: int64(len(f.cases)), Users: int64(len(f.users)), AuditHead: 42, Keyring: "file", KeyringOk: true,
		Caller: "admin", CallerRole: ctx.Value(roleKey{}).(string),
	}), nil
}

func (f *fakeNode) AddUser(ctx context.Context, req *connect.Request[localv1.AddUserRequest]) (*connect.Response[localv1.AddUserResponse], error) {
	if err := mustWrite(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, u := range f.users {
		if u.Name == req.Msg.Name {
			return nil, connect.NewError(connect.CodeAlreadyExists, fmt.Errorf("user %s exists", u.Name))
		}
	}
	u := &localv1.User{Name: req.Msg.Name, Role: req.Msg.Role, Group: req.Msg.Group, CreatedAt: timestamppb.New(t0)}
	f.users = append(f.users, u)
	return connect.NewResponse(&localv1.AddUserResponse{User: u, Token: "tok-" + u.Name}), nil
}

func (f *fakeNode) ListUsers(ctx context.Context, _ *connect.Request[localv1.ListUsersRequest]) (*connect.Response[localv1.ListUsersResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return connect.NewResponse(&localv1.ListUsersResponse{Users: f.users}), nil
}

func (f *fakeNode) DisableUser(ctx context.Context, req *connect.Request[localv1.DisableUserRequest]) (*connect.Response[localv1.DisableUserResponse], error) {
	if err := mustWrite(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, u := range f.users {
		if u.Name == req.Msg.Name {
			u.Disabled = true
			return connect.NewResponse(&localv1.DisableUserResponse{User: u}), nil
		}
	}
	return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("user %s not found", req.Msg.Name))
}

func (f *fakeNode) newCase(form string, fields *structpb.Struct) *localv1.Case {
	n := len(f.cases) + 1
	k := &localv1.Case{
		Id: fmt.Sprintf("case-%d", n), CaseNumber: fmt.Sprintf("CP-%04d", n), Status: "open", WorkflowStage: "new",
		Owner: "admin", OwnerGroup: "north", Agency: "agency-a", CreatedAt: timestamppb.New(t0),
		UpdatedAt: timestamppb.New(t0), Version: 1, RiskLevel: "low", Fields: fields,
	}
	f.cases = append(f.cases, k)
	return k
}

func (f *fakeNode) find(id string) (*localv1.Case, error) {
	for _, k := range f.cases {
		if k.Id == id || k.CaseNumber == id {
			return k, nil
		}
	}
	return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("case %s not found", id))
}

func (f *fakeNode) CreateCase(ctx context.Context, req *connect.Request[localv1.CreateCaseRequest]) (*connect.Response[localv1.CreateCaseResponse], error) {
	if err := mustWrite(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastFields, f.lastForm = req.Msg.Fields, req.Msg.Form
	return connect.NewResponse(&localv1.CreateCaseResponse{Case: f.newCase(req.Msg.Form, req.Msg.Fields)}), nil
}

func (f *fakeNode) GetCase(ctx context.Context, req *connect.Request[localv1.GetCaseRequest]) (*connect.Response[localv1.GetCaseResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, err := f.find(req.Msg.Id)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&localv1.GetCaseResponse{Case: k}), nil
}

func (f *fakeNode) ListCases(ctx context.Context, req *connect.Request[localv1.ListCasesRequest]) (*connect.Response[localv1.ListCasesResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*localv1.Case
	for _, k := range f.cases {
		if req.Msg.Status != "" && k.Status != req.Msg.Status {
			continue
		}
		if req.Msg.Limit > 0 && len(out) == int(req.Msg.Limit) {
			break
		}
		out = append(out, k)
	}
	return connect.NewResponse(&localv1.ListCasesResponse{Cases: out}), nil
}

func (f *fakeNode) UpdateCase(ctx context.Context, req *connect.Request[localv1.UpdateCaseRequest]) (*connect.Response[localv1.UpdateCaseResponse], error) {
	if err := mustWrite(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k, err := f.find(req.Msg.Id)
	if err != nil {
		return nil, err
	}
	if v := req.Msg.ExpectedVersion; v != 0 && v != k.Version {
		return nil, connect.NewError(connect.CodeAborted, fmt.Errorf("case %s is at version %d, not %d", k.CaseNumber, k.Version, v))
	}
	for name, v := range req.Msg.Fields.GetFields() {
		if _, isNull := v.Kind.(*structpb.Value_NullValue); isNull {
			delete(k.Fields.Fields, name)
			continue
		}
		k.Fields.Fields[name] = v
	}
	k.Version++
	return connect.NewResponse(&localv1.UpdateCaseResponse{Case: k}), nil
}

func (f *fakeNode) CloseCase(ctx context.Context, req *connect.Request[localv1.CloseCaseRequest]) (*connect.Response[localv1.CloseCaseResponse], error) {
	if err := mustWrite(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k, err := f.find(req.Msg.Id)
	if err != nil {
		return nil, err
	}
	k.Status, k.CloseReason = "closed", req.Msg.Reason
	k.Version++
	return connect.NewResponse(&localv1.CloseCaseResponse{Case: k}), nil
}

func (f *fakeNode) CaseHistory(ctx context.Context, req *connect.Request[localv1.CaseHistoryRequest]) (*connect.Response[localv1.CaseHistoryResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, err := f.find(req.Msg.Id)
	if err != nil {
		return nil, err
	}
	resp := &localv1.CaseHistoryResponse{}
	for v := int64(1); v <= k.Version; v++ {
		action, changed := "update", []string{"risk_level"}
		if v == 1 {
			action, changed = "create", sortedFieldNames(k.Fields)
		}
		resp.Versions = append(resp.Versions, &localv1.CaseVersion{
			Version: v, At: timestamppb.New(t0.Add(time.Duration(v) * time.Hour)), Actor: "admin", Action: action, ChangedFields: changed,
		})
	}
	return connect.NewResponse(resp), nil
}

func sortedFieldNames(s *structpb.Struct) []string {
	var names []string
	for n := range s.GetFields() {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ImportCases rejects rows without a name and rows whose age is not a
// number, like a node validating against its forms would.
func (f *fakeNode) ImportCases(ctx context.Context, req *connect.Request[localv1.ImportCasesRequest]) (*connect.Response[localv1.ImportCasesResponse], error) {
	if err := mustWrite(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	id := req.Msg.ImportId
	if req.Msg.DryRun {
		id = ""
	}
	if f.imports == nil {
		f.imports = map[string]*localv1.ImportProgress{}
	}
	p := f.imports[id]
	if p == nil {
		p = &localv1.ImportProgress{}
		f.imports[id] = p
	}
	resp := &localv1.ImportCasesResponse{}
	if id != "" {
		resp.Progress = p
	}
	if len(req.Msg.Rows) == 0 {
		return connect.NewResponse(resp), nil
	}
	f.batches = append(f.batches, len(req.Msg.Rows))
	if f.failImport > 0 && len(f.batches) >= f.failImport {
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("store is closing"))
	}
	for _, r := range req.Msg.Rows {
		res := &localv1.ImportResult{Row: r.Row}
		if id != "" && r.Row <= p.LastRow {
			res.Skipped = true
			resp.Skipped++
			resp.Results = append(resp.Results, res)
			continue
		}
		if id != "" {
			p.LastRow = r.Row
		}
		fields := r.Fields.GetFields()
		switch {
		case r.Form != "registration" && r.Form != "followup":
			res.Error = fmt.Sprintf("unknown form %q", r.Form)
		case fields["name"].GetStringValue() == "":
			res.Error = "name: required"
		case fields["age"] != nil && !isNumber(fields["age"]):
			res.Error = fmt.Sprintf("age: %q is not a number", fields["age"].GetStringValue())
		}
		if res.Error != "" {
			resp.Rejected++
			p.Rejected++
		} else {
			resp.Accepted++
			p.Accepted++
			if !req.Msg.DryRun {
				k := f.newCase(r.Form, r.Fields)
				res.Id, res.CaseNumber = k.Id, k.CaseNumber
			}
		}
		resp.Results = append(resp.Results, res)
	}
	return connect.NewResponse(resp), nil
}

func isNumber(v *structpb.Value) bool {
	if _, ok := v.Kind.(*structpb.Value_NumberValue); ok {
		return true
	}
	_, err := strconv.ParseFloat(v.GetStringValue(), 64)
	return err == nil
}

func (f *fakeNode) ExportCases(ctx context.Context, req *connect.Request[localv1.ExportCasesRequest], stream *connect.ServerStream[localv1.ExportCasesResponse]) error {
	f.mu.Lock()
	cases := make([]*localv1.Case, 0, len(f.cases))
	for _, k := range f.cases {
		if req.Msg.Status == "" || k.Status == req.Msg.Status {
			cases = append(cases, proto.Clone(k).(*localv1.Case))
		}
	}
	f.mu.Unlock()
	for _, k := range cases {
		if err := stream.Send(&localv1.ExportCasesResponse{Case: k}); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeNode) ListForms(ctx context.Context, _ *connect.Request[localv1.ListFormsRequest]) (*connect.Response[localv1.ListFormsResponse], error) {
	return connect.NewResponse(&localv1.ListFormsResponse{Forms: []*localv1.Form{
		{Id: "registration", Name: "Registration", Fields: 3, FieldNames: []string{"name", "age", "sex"}},
		{Id: "followup", Name: "Follow-up", Fields: 1, FieldNames: []string{"notes"}},
	}}), nil
}

func (f *fakeNode) VerifyAudit(ctx context.Context, _ *connect.Request[localv1.VerifyAuditRequest]) (*connect.Response[localv1.VerifyAuditResponse], error) {
	if f.auditBroken {
		return connect.NewResponse(&localv1.VerifyAuditResponse{Ok: false, Entries: 3, BrokenAt: 2, Problem: "prev_hash does not match entry 1"}), nil
	}
	return connect.NewResponse(&localv1.VerifyAuditResponse{Ok: true, Entries: 3, HeadHash: strings.Repeat("ab", 32)}), nil
}

func auditEntries() []*localv1.AuditEntry {
	var out []*localv1.AuditEntry
	for i := uint64(1); i <= 3; i++ {
		out = append(out, &localv1.AuditEntry{
			Seq: i, Time: timestamppb.New(t0.Add(time.Duration(i) * time.Minute)), Actor: "admin", Action: "case.create",
			Object: fmt.Sprintf("case-%d", i), Outcome: "ok", DetailsHash: strings.Repeat("d", 64),
			PrevHash: strings.Repeat(strconv.Itoa(int(i-1)), 64), Hash: strings.Repeat(strconv.Itoa(int(i)), 64),
		})
	}
	return out
}

func (f *fakeNode) TailAudit(ctx context.Context, req *connect.Request[localv1.TailAuditRequest]) (*connect.Response[localv1.TailAuditResponse], error) {
	e := auditEntries()
	if n := int(req.Msg.N); n < len(e) {
		e = e[len(e)-n:]
	}
	return connect.NewResponse(&localv1.TailAuditResponse{Entries: e}), nil
}

func (f *fakeNode) ExportAudit(ctx context.Context, _ *connect.Request[localv1.ExportAuditRequest], stream *connect.ServerStream[localv1.ExportAuditResponse]) error {
	for _, e := range auditEntries() {
		if err := stream.Send(&localv1.ExportAuditResponse{Entry: e}); err != nil {
			return err
		}
	}
	return nil
}

// CheckpointAudit is not faked: the conformance suite drives the real one.
func (f *fakeNode) CheckpointAudit(context.Context, *connect.Request[localv1.CheckpointAuditRequest]) (*connect.Response[localv1.CheckpointAuditResponse], error) {
	return nil, connect.NewError(connect.CodeUnimplemented, nil)
}
