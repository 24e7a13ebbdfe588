package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/cpx-node/cpx/node/api"
	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/forms"
	"github.com/cpx-node/cpx/node/store/memstore"
	"github.com/cpx-node/cpx/node/tracing"
	"github.com/cpx-node/cpx/policy"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
	"github.com/cpx-node/cpx/protocol/gen/cpx/local/v1/localv1connect"
)

// tracer is the coordinator's view of cases (no identifying fields) with
// the tracing permissions.
func tracerRole() policy.Role {
	r, _ := policy.RoleByID(policy.StandardRoles(), "coordinator")
	r.ID = "tracer"
	for _, a := range []policy.Action{policy.ActionRead, policy.ActionList, policy.ActionCreate, policy.ActionUpdate, policy.ActionImport, tracing.ActionMatch} {
		r.Permissions = append(r.Permissions, policy.Permission{Resource: tracing.Resource, Action: a})
	}
	return r
}

func TestTracingAPI(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	cases := casework.New(casework.Options{Store: s, Forms: forms.Standard(), Agency: "agency-a"})
	tr := tracing.New(tracing.Options{Store: s, Cases: cases})
	srv := api.New(api.Options{Store: s, Cases: cases, Tracing: tr, Agency: "agency-a", TokenTTL: time.Hour, Metrics: prometheus.NewRegistry()})
	api.AddRolesForTest(srv, tracerRole())
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)

	alice := dial(hs.URL, addUser(t, s, "alice", "caseworker", "north"))
	fields, _ := structpb.NewStruct(map[string]any{"name_first": "Amina", "name_last": "Yusuf", "sex": "female", "age": 7, "consent_for_tracing": true})
	created, err := alice.cases.CreateCase(ctx, connect.NewRequest(&localv1.CreateCaseRequest{Form: "registration", Fields: fields}))
	if err != nil {
		t.Fatal(err)
	}
	client := func(token string) localv1connect.TracingServiceClient {
		return localv1connect.NewTracingServiceClient(&http.Client{Transport: bearer(token)}, hs.URL)
	}
	tina := client(addUser(t, s, "tina", "tracer", ""))
	set, _ := structpb.NewStruct(map[string]any{"inquirer_name": "Fatima Yusuf", "trace.name": "Aminah Yusuf", "trace.age": "8", "trace.sex": "female"})
	cr, err := tina.CreateTracingRequest(ctx, connect.NewRequest(&localv1.CreateTracingRequestRequest{Set: set}))
	if err != nil {
		t.Fatal(err)
	}
	id := cr.Msg.Request.Number
	m, err := tina.MatchTracingRequest(ctx, connect.NewRequest(&localv1.MatchTracingRequestRequest{Id: id}))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Msg.Candidates) != 1 || m.Msg.Candidates[0].CaseId != created.Msg.Case.Id || len(m.Msg.Candidates[0].Comparisons) == 0 {
		t.Fatalf("match: got %v", m.Msg)
	}
	// The tracer's role hides identifying fields: the candidate's case
	// carries none of them.
	wire, _ := protojson.Marshal(m.Msg.Candidates[0].Case)
	if strings.Contains(string(wire), "name_first") {
		t.Errorf("candidate leaks a hidden field: %s", wire)
	}
	if _, err := tina.ConfirmTracingMatch(ctx, connect.NewRequest(&localv1.ConfirmTracingMatchRequest{Id: id, CaseId: created.Msg.Case.CaseNumber})); err != nil {
		t.Fatal(err)
	}

	bad, _ := structpb.NewStruct(map[string]any{"trace.name": "A", "trace.age": "130"})
	tests := []struct {
		name string
		err  error
		want connect.Code
	}{
		{"coordinator without tracing permission", func() error {
			_, err := client(addUser(t, s, "bob", "coordinator", "")).GetTracingRequest(ctx, connect.NewRequest(&localv1.GetTracingRequestRequest{Id: id}))
			return err
		}(), connect.CodePermissionDenied},
		{"bad age", func() error {
			_, err := tina.CreateTracingRequest(ctx, connect.NewRequest(&localv1.CreateTracingRequestRequest{Set: bad}))
			return err
		}(), connect.CodeInvalidArgument},
		{"unknown request", func() error {
			_, err := tina.GetTracingRequest(ctx, connect.NewRequest(&localv1.GetTracingRequestRequest{Id: "TR-999999"}))
			return err
		}(), connect.CodeNotFound},
		{"no token", func() error {
			_, err := client("").MatchAllTracingRequests(ctx, connect.NewRequest(&localv1.MatchAllTracingRequestsRequest{}))
			return err
		}(), connect.CodeUnauthenticated},
	}
	for _, tt := range tests {
		if got := code(tt.err); got != tt.want {
			t.Errorf("%s: got %v (%v), want %v", tt.name, got, tt.err, tt.want)
		}
	}
	got, err := tina.GetTracingRequest(ctx, connect.NewRequest(&localv1.GetTracingRequestRequest{Id: id}))
	if err != nil {
		t.Fatal(err)
	}
	if tr := got.Msg.Request.Traces[0]; tr.Status != "matched" || tr.MatchedCaseId != created.Msg.Case.Id || tr.GetAge() != 8 {
		t.Errorf("after confirm: got %v", tr)
	}
}
