package api

import (
	"context"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/users"
	"github.com/cpx-node/cpx/policy"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

// Status implements NodeService.
func (s *Server) Status(ctx context.Context, req *connect.Request[localv1.StatusRequest]) (*connect.Response[localv1.StatusResponse], error) {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	if err := s.allow(ctx, sub, policy.ResourceNode, policy.ActionRead, "node.status", "node"); err != nil {
		return nil, err
	}
	resp := &localv1.StatusResponse{
		AgencyId: s.agency, AgencyName: s.name, Version: s.version, StartedAt: timestamppb.New(s.started),
		Keyring: s.keyring, Caller: sub.User, CallerRole: sub.Role.ID, KeyringOk: true,
	}
	if s.ops != nil {
		resp.KeyringOk, resp.KeyringProblem = s.ops.KeyringHealth()
	}
	if resp.Cases, err = s.cases.Count(ctx); err != nil {
		return nil, s.fail(err)
	}
	err = s.store.View(ctx, func(r store.Reader) error {
		var err error
		if resp.Users, err = users.Count(r); err != nil {
			return err
		}
		resp.AuditHead, _, err = audit.Head(r)
		return err
	})
	if err != nil {
		return nil, s.fail(err)
	}
	return connect.NewResponse(resp), nil
}
