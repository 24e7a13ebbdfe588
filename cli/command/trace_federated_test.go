package command_test

import (
	"context"
	"strings"
	"testing"

	"connectrpc.com/connect"

	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

func (f *fakeTracing) FederatedMatchTracingRequest(ctx context.Context, req *connect.Request[localv1.FederatedMatchTracingRequestRequest]) (*connect.Response[localv1.FederatedMatchTracingRequestResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, err := f.find(req.Msg.Id)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&localv1.FederatedMatchTracingRequestResponse{
		RequestId: r.Id, RequestNumber: r.Number,
		Matches:     []*localv1.FederatedTracingMatch{{Agency: "irc-so", Trace: 1, Band: "likely", Handle: "9f2c"}},
		Unreachable: []string{"unicef-so: peer offline"},
	}), nil
}

func (f *fakeTracing) RequestTracingDetails(ctx context.Context, req *connect.Request[localv1.RequestTracingDetailsRequest]) (*connect.Response[localv1.RequestTracingDetailsResponse], error) {
	return connect.NewResponse(&localv1.RequestTracingDetailsResponse{Exchange: &localv1.Exchange{Id: "ex-1", Kind: "disclosure", Peer: req.Msg.Agency, Status: "pending"}}), nil
}

func TestTraceRequestDetails(t *testing.T) {
	_, run := startTracing(t)
	run("trace", "request-details", "9f2c").want(t, 2)
	r := run("trace", "request-details", "9f2c", "--agency", "irc-so").want(t, 0)
	if r.stdout != "disclosure request ex-1 sent to irc-so (status pending)\n" {
		t.Errorf("stdout %q", r.stdout)
	}
}

func TestTraceMatchFederated(t *testing.T) {
	f, run := startTracing(t)
	f.requests = append(f.requests, &localv1.TracingRequest{Id: "tr-1", Number: "TR-000001"})
	r := run("trace", "match", "TR-000001", "--federated").want(t, 0)
	for _, want := range []string{"irc-so", "likely", "9f2c"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "not asked: unicef-so") {
		t.Errorf("stderr %q", r.stderr)
	}
	run("trace", "match", "--all", "--federated").want(t, 2)
}
