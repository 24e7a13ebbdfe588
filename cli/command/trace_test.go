package command_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
	"github.com/cpx-node/cpx/protocol/gen/cpx/local/v1/localv1connect"
)

// fakeTracing is an in-memory TracingService, only good enough to test the
// CLI layer. Tokens as for fakeNode.
type fakeTracing struct {
	mu       sync.Mutex
	requests []*localv1.TracingRequest
	lastSet  *structpb.Struct
	lastDoc  *structpb.Struct
	batches  []int
}

// startTracing serves a fakeTracing and returns it and a function running
// cpx against it with the admin token.
func startTracing(t *testing.T) (*fakeTracing, func(args ...string) result) {
	t.Helper()
	for _, v := range []string{"CPX_DIR", "CPX_API", "CPX_TOKEN"} {
		t.Setenv(v, "")
	}
	f := &fakeTracing{}
	mux := http.NewServeMux()
	mux.Handle(localv1connect.NewTracingServiceHandler(f, connect.WithInterceptors(authInterceptor{})))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, func(args ...string) result {
		t.Helper()
		return cpx(t, append(args, "--api", srv.URL, "--token", "admin-token")...)
	}
}

func (f *fakeTracing) find(id string) (*localv1.TracingRequest, error) {
	for _, r := range f.requests {
		if r.Id == id || r.Number == id {
			return r, nil
		}
	}
	return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("no tracing request with id or number %q", id))
}

func (f *fakeTracing) add(doc, set *structpb.Struct) (*localv1.TracingRequest, error) {
	n := len(f.requests) + 1
	r := &localv1.TracingRequest{
		Id: fmt.Sprintf("00000000-0000-0000-0000-%012d", n), Number: fmt.Sprintf("TR-%06d", n), Status: "open",
		Owner: "admin", CreatedAt: timestamppb.New(t0), UpdatedAt: timestamppb.New(t0), Version: 1,
	}
	tr := &localv1.Trace{Index: 1, Status: "open"}
	m := map[string]any{}
	if doc != nil {
		for k, v := range doc.AsMap() {
			m[k] = v
		}
		if ts, ok := m["traces"].([]any); ok && len(ts) > 0 {
			if t0, ok := ts[0].(map[string]any); ok {
				for k, v := range t0 {
					m["trace."+k] = v
				}
			}
		}
	}
	for k, v := range set.AsMap() {
		m[k] = v
	}
	r.InquirerName, _ = m["inquirer_name"].(string)
	r.Relation, _ = m["relation"].(string)
	tr.Name, _ = m["trace.name"].(string)
	tr.Sex, _ = m["trace.sex"].(string)
	switch a := m["trace.age"].(type) {
	case float64:
		tr.Age = &a
	case string:
		var x float64
		fmt.Sscan(a, &x)
		tr.Age = &x
	}
	if tr.Name == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("traces[0].name: no name"))
	}
	r.Traces = []*localv1.Trace{tr}
	f.requests = append(f.requests, r)
	return r, nil
}

func (f *fakeTracing) CreateTracingRequest(ctx context.Context, req *connect.Request[localv1.CreateTracingRequestRequest]) (*connect.Response[localv1.CreateTracingRequestResponse], error) {
	if err := mustWrite(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastSet, f.lastDoc = req.Msg.Set, req.Msg.Request
	r, err := f.add(req.Msg.Request, req.Msg.Set)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&localv1.CreateTracingRequestResponse{Request: r}), nil
}

func (f *fakeTracing) GetTracingRequest(ctx context.Context, req *connect.Request[localv1.GetTracingRequestRequest]) (*connect.Response[localv1.GetTracingRequestResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, err := f.find(req.Msg.Id)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&localv1.GetTracingRequestResponse{Request: r}), nil
}

func (f *fakeTracing) ListTracingRequests(ctx context.Context, req *connect.Request[localv1.ListTracingRequestsRequest]) (*connect.Response[localv1.ListTracingRequestsResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &localv1.ListTracingRequestsResponse{}
	for _, r := range f.requests {
		if req.Msg.Status == "" || r.Status == req.Msg.Status {
			resp.Requests = append(resp.Requests, r)
		}
	}
	return connect.NewResponse(resp), nil
}

func (f *fakeTracing) UpdateTracingRequest(ctx context.Context, req *connect.Request[localv1.UpdateTracingRequestRequest]) (*connect.Response[localv1.UpdateTracingRequestResponse], error) {
	if err := mustWrite(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	r, err := f.find(req.Msg.Id)
	if err != nil {
		return nil, err
	}
	f.lastSet = req.Msg.Set
	if s, ok := req.Msg.Set.AsMap()["status"].(string); ok {
		r.Status = s
	}
	r.Version++
	return connect.NewResponse(&localv1.UpdateTracingRequestResponse{Request: r}), nil
}

func (f *fakeTracing) ImportTracingRequests(ctx context.Context, req *connect.Request[localv1.ImportTracingRequestsRequest]) (*connect.Response[localv1.ImportTracingRequestsResponse], error) {
	if err := mustWrite(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches = append(f.batches, len(req.Msg.Rows))
	resp := &localv1.ImportTracingRequestsResponse{}
	for _, row := range req.Msg.Rows {
		out := &localv1.TracingImportResult{Row: row.Row}
		if _, ok := row.Request.AsMap()["traces"]; !ok {
			out.Error = "traces: no child sought"
			resp.Rejected++
		} else if !req.Msg.DryRun {
			r, err := f.add(row.Request, nil)
			if err != nil {
				out.Error = connect.CodeOf(err).String() + ": " + err.Error()
				resp.Rejected++
			} else {
				out.Id, out.Number = r.Id, r.Number
				resp.Accepted++
			}
		} else {
			resp.Accepted++
		}
		resp.Results = append(resp.Results, out)
	}
	return connect.NewResponse(resp), nil
}

func candidates(trace int32) []*localv1.MatchCandidate {
	fields, _ := structpb.NewStruct(map[string]any{"name_first": "Mohammed", "sex": "male"})
	return []*localv1.MatchCandidate{
		{Trace: trace, CaseId: "c1", CaseNumber: "CASE-000001", Probability: 0.93, Band: "likely",
			Comparisons: []*localv1.MatchComparison{
				{Field: "name", Outcome: "match", Why: "Mohammed Ali Hassan ~ محمد علي حسن (transliteration)"},
				{Field: "sex", Outcome: "match", Why: "male"},
				{Field: "age", Outcome: "match", Why: "9 (estimated) vs 10"},
				{Field: "relatives", Outcome: "blank"},
			},
			Case: &localv1.Case{Id: "c1", CaseNumber: "CASE-000001", Fields: fields}},
		{Trace: trace, CaseId: "c7", CaseNumber: "CASE-000007", Probability: 0.041, Band: "unlikely",
			Comparisons: []*localv1.MatchComparison{{Field: "name", Outcome: "partial", Why: "Ali Hassan ~ علي حسن"}}},
	}
}

func (f *fakeTracing) MatchTracingRequest(ctx context.Context, req *connect.Request[localv1.MatchTracingRequestRequest]) (*connect.Response[localv1.MatchTracingRequestResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, err := f.find(req.Msg.Id)
	if err != nil {
		return nil, err
	}
	cs := candidates(1)
	if l := int(req.Msg.Limit); l > 0 && l < len(cs) {
		cs = cs[:l]
	}
	return connect.NewResponse(&localv1.MatchTracingRequestResponse{Request: r, Candidates: cs}), nil
}

func (f *fakeTracing) MatchAllTracingRequests(ctx context.Context, req *connect.Request[localv1.MatchAllTracingRequestsRequest]) (*connect.Response[localv1.MatchAllTracingRequestsResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &localv1.MatchAllTracingRequestsResponse{}
	for i, r := range f.requests {
		s := &localv1.TracingMatchSummary{Id: r.Id, Number: r.Number}
		if i == 0 {
			s.BestBand, s.Likely, s.Candidates = "likely", 1, 2
		}
		resp.Summaries = append(resp.Summaries, s)
	}
	return connect.NewResponse(resp), nil
}

func (f *fakeTracing) MatchCase(ctx context.Context, req *connect.Request[localv1.MatchCaseRequest]) (*connect.Response[localv1.MatchCaseResponse], error) {
	if req.Msg.Id != "CASE-000002" {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("no case with id or number %q", req.Msg.Id))
	}
	return connect.NewResponse(&localv1.MatchCaseResponse{Candidates: candidates(0)[:1]}), nil
}

func (f *fakeTracing) decide(ctx context.Context, id string, trace int32, caseID, reason, outcome string) (*localv1.TracingRequest, error) {
	if err := mustWrite(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	r, err := f.find(id)
	if err != nil {
		return nil, err
	}
	if trace == 0 {
		trace = 1
	}
	if outcome == "confirmed" {
		r.Traces[0].Status, r.Traces[0].MatchedCaseId, r.Traces[0].MatchedCaseNumber = "matched", "c1", caseID
	}
	r.Decisions = append(r.Decisions, &localv1.TracingDecision{Trace: trace, CaseId: "c1", CaseNumber: caseID, Outcome: outcome, Reason: reason, Actor: "admin", At: timestamppb.New(t0)})
	r.Version++
	return r, nil
}

func (f *fakeTracing) ConfirmTracingMatch(ctx context.Context, req *connect.Request[localv1.ConfirmTracingMatchRequest]) (*connect.Response[localv1.ConfirmTracingMatchResponse], error) {
	r, err := f.decide(ctx, req.Msg.Id, req.Msg.Trace, req.Msg.CaseId, req.Msg.Reason, "confirmed")
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&localv1.ConfirmTracingMatchResponse{Request: r}), nil
}

func (f *fakeTracing) RejectTracingMatch(ctx context.Context, req *connect.Request[localv1.RejectTracingMatchRequest]) (*connect.Response[localv1.RejectTracingMatchResponse], error) {
	r, err := f.decide(ctx, req.Msg.Id, req.Msg.Trace, req.Msg.CaseId, req.Msg.Reason, "rejected")
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&localv1.RejectTracingMatchResponse{Request: r}), nil
}

func TestTraceCreateGetList(t *testing.T) {
	f, run := startTracing(t)
	r := run("trace", "create", "--set", "inquirer_name=علي حسن عمر", "--set", "trace.name=محمد علي حسن", "--set", "trace.age:=10",
		"--set", "trace.sex=male").want(t, 0)
	if r.stdout != "created tracing request TR-000001 (id 00000000-0000-0000-0000-000000000001, 1 children sought)\n" {
		t.Errorf("create: got %q", r.stdout)
	}
	if got := f.lastSet.AsMap(); got["trace.age"] != 10.0 || got["trace.name"] != "محمد علي حسن" {
		t.Errorf("sent set: got %v", got)
	}
	doc := filepath.Join(t.TempDir(), "request.json")
	os.WriteFile(doc, []byte(`{"inquirer_name":"Fatima","traces":[{"name":"Amina Yusuf","age":7}]}`), 0o600)
	run("trace", "create", "--file", doc).want(t, 0)
	if f.lastDoc.AsMap()["traces"] == nil {
		t.Errorf("sent doc: got %v", f.lastDoc.AsMap())
	}
	os.WriteFile(doc, []byte("{\"inquirer_name\":\"\xff\"}"), 0o600)
	if r := run("trace", "create", "--file", doc).want(t, 2); !strings.Contains(r.stderr, "not valid UTF-8") {
		t.Errorf("bad UTF-8: got %q", r.stderr)
	}
	run("trace", "confirm", "TR-000001", "--case", "CASE-000001", "--reason", "father recognised the photo").want(t, 0)
	golden(t, "trace-get.txt", run("trace", "get", "TR-000001").want(t, 0).stdout)
	run("trace", "update", "TR-000002", "--set", "status=closed").want(t, 0)
	golden(t, "trace-list.txt", run("trace", "list").want(t, 0).stdout)
	if r := run("trace", "list", "--status", "closed").want(t, 0); !strings.Contains(r.stdout, "TR-000002") || strings.Contains(r.stdout, "TR-000001") {
		t.Errorf("list --status closed: got\n%s", r.stdout)
	}
	golden(t, "trace-get.json", run("trace", "get", "TR-000001", "-o", "json").want(t, 0).stdout)
}

func TestTraceMatch(t *testing.T) {
	_, run := startTracing(t)
	run("trace", "create", "--set", "trace.name=محمد علي حسن").want(t, 0)
	run("trace", "create", "--set", "trace.name=Amina").want(t, 0)
	golden(t, "trace-match.txt", run("trace", "match", "TR-000001").want(t, 0).stdout)
	if r := run("trace", "match", "TR-000001", "--limit", "1").want(t, 0); strings.Contains(r.stdout, "CASE-000007") {
		t.Errorf("--limit 1: got\n%s", r.stdout)
	}
	golden(t, "trace-match-all.txt", run("trace", "match", "--all").want(t, 0).stdout)
	golden(t, "trace-match-all.json", run("trace", "match", "--all", "-o", "json").want(t, 0).stdout)
	golden(t, "case-match.txt", run("case", "match", "CASE-000002").want(t, 0).stdout)
	run("case", "match", "CASE-000404").want(t, 3)
	run("trace", "match", "TR-000404").want(t, 3)
	r := run("trace", "reject", "TR-000001", "--case", "CASE-000007", "--reason", "different mother").want(t, 0)
	if r.stdout != "rejected case CASE-000007 for trace 1 of TR-000001 (version 2)\n" {
		t.Errorf("reject: got %q", r.stdout)
	}
}

func TestTraceUsageErrors(t *testing.T) {
	_, run := startTracing(t)
	for _, args := range [][]string{
		{"trace", "create"},
		{"trace", "create", "--set", "trace.name"},
		{"trace", "match"},
		{"trace", "match", "TR-000001", "--all"},
		{"trace", "match", "TR-000001", "--limit", "-1"},
		{"trace", "confirm", "TR-000001"},
		{"trace", "list", "--status", "pending"},
		{"trace", "update", "TR-000001"},
		{"trace", "import", "x.jsonl", "--batch", "0"},
	} {
		run(args...).want(t, 2)
	}
}

func TestTraceImport(t *testing.T) {
	f, run := startTracing(t)
	in := filepath.Join(t.TempDir(), "requests.jsonl")
	os.WriteFile(in, []byte(strings.Join([]string{
		`{"inquirer_name":"Fatima","traces":[{"name":"Amina","age":7}]}`,
		`{"inquirer_name":"Yusuf"}`,
		``,
		`{"traces":[{"name":"Hodan"}]`,
		`{"traces":[{"name":"Baraka"}],"form":"x"}`,
		`{"traces":[{"name":"Hodan"}]}`,
	}, "\n")+"\n"), 0o600)
	r := run("trace", "import", in, "--batch", "1", "--dry-run").want(t, 1)
	if !strings.HasPrefix(r.stdout, "dry run: 2 of 5 rows would be accepted, 3 rejected") || len(f.requests) != 0 {
		t.Errorf("dry run: got\n%s", r.stdout)
	}
	report := filepath.Join(t.TempDir(), "rejected.jsonl")
	r = run("trace", "import", in, "--report", report).want(t, 1)
	golden(t, "trace-import.txt", r.stdout)
	if len(f.requests) != 2 {
		t.Errorf("imported %d requests, want 2", len(f.requests))
	}
	b, _ := os.ReadFile(report)
	if got := strings.Count(string(b), "\n"); got != 3 {
		t.Errorf("report: got %d lines, want 3:\n%s", got, b)
	}
}
