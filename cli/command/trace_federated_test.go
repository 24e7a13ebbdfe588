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
	// An agency that could not be asked: the others' answers, then exit 1.
	r := run("trace", "match", "TR-000001", "--federated").want(t, 1)
	for _, want := range []string{"irc-so", "likely", "9f2c"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, want := range []string{"not asked: unicef-so", "1 of the agencies were not asked"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr %q lacks %q", r.stderr, want)
		}
	}
	run("trace", "match", "TR-000001", "--all", "--federated").want(t, 2)
}

func (f *fakeTracing) FederatedMatchAllTracingRequests(ctx context.Context, req *connect.Request[localv1.FederatedMatchAllTracingRequestsRequest], stream *connect.ServerStream[localv1.FederatedMatchAllTracingRequestsResponse]) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range []*localv1.FederatedBatchProgress{
		{Agency: "irc-so", Sent: 0, Total: 2},
		{Agency: "irc-so", Sent: 1, Total: 2, WaitingSeconds: 3.2},
		{Agency: "irc-so", Sent: 2, Total: 2},
	} {
		if err := stream.Send(&localv1.FederatedMatchAllTracingRequestsResponse{Progress: p}); err != nil {
			return err
		}
	}
	last := &localv1.FederatedMatchAllTracingRequestsResponse{Agencies: 2, Queries: 3}
	for _, r := range f.requests {
		last.Results = append(last.Results, &localv1.FederatedMatchTracingRequestResponse{
			RequestId: r.Id, RequestNumber: r.Number,
			Matches:     []*localv1.FederatedTracingMatch{{Agency: "irc-so", Trace: 1, Band: "likely", Handle: "9f2c-" + r.Number}},
			Unreachable: []string{"unicef-so: peer offline"},
		})
	}
	return stream.Send(last)
}

func TestTraceMatchAllFederated(t *testing.T) {
	f, run := startTracing(t)
	f.requests = append(f.requests, &localv1.TracingRequest{Id: "tr-1", Number: "TR-000001"}, &localv1.TracingRequest{Id: "tr-2", Number: "TR-000002"})
	// An agency that could not be asked makes the batch fail, after
	// every answer is shown.
	r := run("trace", "match", "--all", "--federated").want(t, 1)
	for _, want := range []string{"TR-000001  irc-so", "9f2c-TR-000002", "2 requests asked about, 2 agencies, 3 queries: 2 possible matches"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, want := range []string{"irc-so: query 2 of 2, waiting 4 s", "irc-so: 2 of 2 queries sent", "not asked about TR-000002: unicef-so: peer offline", "2 of the request-agency pairs were not asked"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	r = run("trace", "match", "--all", "--federated", "-o", "json").want(t, 1)
	if !strings.Contains(r.stdout, `"queries": 3`) || !strings.Contains(r.stdout, `"handle": "9f2c-TR-000001"`) {
		t.Errorf("JSON output:\n%s", r.stdout)
	}
}
