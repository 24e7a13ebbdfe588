package api_test

import (
	"context"
	"errors"
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
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/memstore"
	"github.com/cpx-node/cpx/node/users"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
	"github.com/cpx-node/cpx/protocol/gen/cpx/local/v1/localv1connect"
)

type clients struct {
	cases localv1connect.CaseServiceClient
	users localv1connect.UserServiceClient
	node  localv1connect.NodeServiceClient
	audit localv1connect.AuditServiceClient
}

func newServer(t *testing.T) (string, store.Store) {
	t.Helper()
	s := memstore.New()
	svc := casework.New(casework.Options{Store: s, Forms: forms.Standard(), Agency: "agency-a"})
	srv := api.New(api.Options{Store: s, Cases: svc, Agency: "agency-a", TokenTTL: time.Hour, Metrics: prometheus.NewRegistry()})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return hs.URL, s
}

func addUser(t *testing.T, s store.Store, name, role, group string) string {
	t.Helper()
	var token string
	err := s.Update(context.Background(), func(w store.Writer) error {
		var err error
		token, err = users.Add(w, users.User{Name: name, Role: role, Group: group}, time.Now().Add(time.Hour))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return token
}

type bearer string

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b != "" {
		r.Header.Set("Authorization", "Bearer "+string(b))
	}
	return http.DefaultTransport.RoundTrip(r)
}

func dial(url, token string) clients {
	hc := &http.Client{Transport: bearer(token)}
	return clients{
		cases: localv1connect.NewCaseServiceClient(hc, url),
		users: localv1connect.NewUserServiceClient(hc, url),
		node:  localv1connect.NewNodeServiceClient(hc, url),
		audit: localv1connect.NewAuditServiceClient(hc, url),
	}
}

func code(err error) connect.Code {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Code()
	}
	if err == nil {
		return 0
	}
	return connect.CodeUnknown
}

func TestAPI(t *testing.T) {
	url, s := newServer(t)
	ctx := context.Background()
	admin := dial(url, addUser(t, s, "admin", "agency_admin", ""))
	alice := dial(url, addUser(t, s, "alice", "caseworker", "north"))
	coord := dial(url, addUser(t, s, "cora", "coordinator", ""))

	fields, _ := structpb.NewStruct(map[string]any{"name_first": "Amina", "sex": "female", "consent_for_services": true, "risk_level": "high"})
	created, err := alice.cases.CreateCase(ctx, connect.NewRequest(&localv1.CreateCaseRequest{Form: "registration", Fields: fields}))
	if err != nil {
		t.Fatal(err)
	}
	id := created.Msg.Case.Id
	if c := created.Msg.Case; c.RiskLevel != "high" || !c.Consent.GetConsentForServices() || c.CaseNumber == "" {
		t.Errorf("created case: got %v", c)
	}

	// The coordinator's view carries no hidden field anywhere in the wire message.
	got, err := coord.cases.GetCase(ctx, connect.NewRequest(&localv1.GetCaseRequest{Id: id}))
	if err != nil {
		t.Fatal(err)
	}
	wire, _ := protojson.Marshal(got.Msg)
	if strings.Contains(string(wire), "Amina") || strings.Contains(string(wire), "name_first") {
		t.Errorf("coordinator response leaks a hidden field: %s", wire)
	}

	tests := []struct {
		name string
		err  error
		want connect.Code
	}{
		{"no token", func() error {
			_, err := dial(url, "").node.Status(ctx, connect.NewRequest(&localv1.StatusRequest{}))
			return err
		}(), connect.CodeUnauthenticated},
		{"bad token", func() error {
			_, err := dial(url, "cpx_nope").node.Status(ctx, connect.NewRequest(&localv1.StatusRequest{}))
			return err
		}(), connect.CodeUnauthenticated},
		{"caseworker adds a user", func() error {
			_, err := alice.users.AddUser(ctx, connect.NewRequest(&localv1.AddUserRequest{Name: "x", Role: "caseworker"}))
			return err
		}(), connect.CodePermissionDenied},
		{"unknown role", func() error {
			_, err := admin.users.AddUser(ctx, connect.NewRequest(&localv1.AddUserRequest{Name: "x", Role: "wizard"}))
			return err
		}(), connect.CodeInvalidArgument},
		{"admin reads a case", func() error {
			_, err := admin.cases.GetCase(ctx, connect.NewRequest(&localv1.GetCaseRequest{Id: id}))
			return err
		}(), connect.CodePermissionDenied},
		{"not found", func() error {
			_, err := alice.cases.GetCase(ctx, connect.NewRequest(&localv1.GetCaseRequest{Id: "nope"}))
			return err
		}(), connect.CodeNotFound},
		{"invalid field", func() error {
			f, _ := structpb.NewStruct(map[string]any{"age": "old"})
			_, err := alice.cases.UpdateCase(ctx, connect.NewRequest(&localv1.UpdateCaseRequest{Id: id, Fields: f}))
			return err
		}(), connect.CodeInvalidArgument},
		{"stale version", func() error {
			f, _ := structpb.NewStruct(map[string]any{"age": 5})
			_, err := alice.cases.UpdateCase(ctx, connect.NewRequest(&localv1.UpdateCaseRequest{Id: id, Fields: f, ExpectedVersion: 7}))
			return err
		}(), connect.CodeAborted},
		{"disable self", func() error {
			_, err := admin.users.DisableUser(ctx, connect.NewRequest(&localv1.DisableUserRequest{Name: "admin"}))
			return err
		}(), connect.CodeFailedPrecondition},
		{"disable alice", func() error {
			_, err := admin.users.DisableUser(ctx, connect.NewRequest(&localv1.DisableUserRequest{Name: "alice"}))
			return err
		}(), 0},
		{"disabled alice", func() error {
			_, err := alice.node.Status(ctx, connect.NewRequest(&localv1.StatusRequest{}))
			return err
		}(), connect.CodeUnauthenticated},
	}
	for _, tt := range tests {
		if got := code(tt.err); got != tt.want {
			t.Errorf("%s: got code %v (%v), want %v", tt.name, got, tt.err, tt.want)
		}
	}

	v, err := admin.audit.VerifyAudit(ctx, connect.NewRequest(&localv1.VerifyAuditRequest{}))
	if err != nil || !v.Msg.Ok || v.Msg.Entries < 10 {
		t.Errorf("verify: got %v, %v; want ok with every call audited", v.Msg, err)
	}
	tail, err := admin.audit.TailAudit(ctx, connect.NewRequest(&localv1.TailAuditRequest{N: 3}))
	if err != nil || len(tail.Msg.Entries) != 3 || tail.Msg.Entries[1].Action != "audit.verify" || tail.Msg.Entries[2].Action != "audit.tail" {
		t.Errorf("tail: got %v, %v", tail.Msg, err)
	}
}
