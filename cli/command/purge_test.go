package command_test

import (
	"context"
	"testing"

	"connectrpc.com/connect"

	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

// PurgeCase on the fake node turns the case into a tombstone.
func (f *fakeNode) PurgeCase(ctx context.Context, req *connect.Request[localv1.PurgeCaseRequest]) (*connect.Response[localv1.PurgeCaseResponse], error) {
	if err := mustWrite(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k, err := f.find(req.Msg.Id)
	if err != nil {
		return nil, err
	}
	k.Status, k.CloseReason, k.Fields = "purged", req.Msg.Reason, nil
	return connect.NewResponse(&localv1.PurgeCaseResponse{}), nil
}

func TestCasePurge(t *testing.T) {
	e := newEnv(t)
	e.seed(t)
	e.run(t, "case", "purge", "CP-0001").want(t, 2)
	e.run(t, "case", "purge", "CP-0001", "--reason", "erasure request").want(t, 0)
	if k := e.node.cases[0]; k.Status != "purged" || k.Fields != nil {
		t.Errorf("case after purge: %v", k)
	}
	e.run(t, "case", "purge", "NOPE", "--reason", "x").want(t, 3)
}
