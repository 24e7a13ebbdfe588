package api

import (
	"context"
	"errors"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

func timestamp(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// VerifyAudit implements AuditService.
func (s *Server) VerifyAudit(ctx context.Context, req *connect.Request[localv1.VerifyAuditRequest]) (*connect.Response[localv1.VerifyAuditResponse], error) {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	d := policy.Authorize(sub, policy.ResourceAudit, policy.ActionVerify, nil)
	if !d.Allowed {
		return nil, s.deniedCall(ctx, sub, "audit.verify", "audit", d)
	}
	// Verify first, then record the verification, so the result describes
	// the chain as it was asked about.
	var res audit.Result
	if err := s.store.View(ctx, func(r store.Reader) error {
		var err error
		res, err = audit.Verify(r)
		return err
	}); err != nil {
		return nil, s.fail(err)
	}
	resp := &localv1.VerifyAuditResponse{
		Ok: res.OK, Entries: res.Entries, HeadHash: res.HeadHash.String(), BrokenAt: res.BrokenAt, Problem: res.Problem,
		Keyed: res.Keyed, KeyedThrough: res.KeyedThrough,
	}
	// Then against the checkpoints the peers witnessed: what an insider
	// holding every local secret cannot change.
	if s.ex != nil {
		anchors, err := s.ex.VerifyAnchors(ctx)
		if err != nil {
			return nil, s.fail(err)
		}
		for _, a := range anchors {
			resp.Anchors = append(resp.Anchors, &localv1.AnchorCheck{Peer: a.Peer, Checkpoints: a.Checkpoints, Problem: a.Problem, Reached: a.Reached})
			if a.Mismatch && resp.Ok {
				resp.Ok, resp.Problem = false, a.Problem
			}
		}
	}
	details := map[string]any{"ok": resp.Ok, "entries": res.Entries, "keyed_through": res.KeyedThrough, "problem": resp.Problem}
	if err := audit.Record(ctx, s.store, s.now(), audit.Event{Actor: sub.User, Action: "audit.verify", Object: "audit", Details: details}); err != nil {
		return nil, s.fail(err)
	}
	return connect.NewResponse(resp), nil
}

// CheckpointAudit implements AuditService.
func (s *Server) CheckpointAudit(ctx context.Context, req *connect.Request[localv1.CheckpointAuditRequest]) (*connect.Response[localv1.CheckpointAuditResponse], error) {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	if s.ex == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("this node has no peers to witness checkpoints"))
	}
	res, err := s.ex.CheckpointAudit(ctx, sub)
	if err != nil {
		return nil, s.fail(err)
	}
	resp := &localv1.CheckpointAuditResponse{Seq: res.Seq, Hash: res.Hash.String(), WitnessedBy: res.WitnessedBy}
	for peer, why := range res.Missed {
		resp.Missed = append(resp.Missed, &localv1.AnchorCheck{Peer: peer, Problem: why})
	}
	return connect.NewResponse(resp), nil
}

// TailAudit implements AuditService.
func (s *Server) TailAudit(ctx context.Context, req *connect.Request[localv1.TailAuditRequest]) (*connect.Response[localv1.TailAuditResponse], error) {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	if err := s.allow(ctx, sub, policy.ResourceAudit, policy.ActionRead, "audit.tail", "audit"); err != nil {
		return nil, err
	}
	n := int(req.Msg.N)
	if n <= 0 {
		n = 20
	}
	n = min(n, 10000)
	var entries []audit.Entry
	if err := s.store.View(ctx, func(r store.Reader) error {
		var err error
		entries, err = audit.Tail(r, n)
		return err
	}); err != nil {
		return nil, s.fail(err)
	}
	resp := &localv1.TailAuditResponse{}
	for _, e := range entries {
		resp.Entries = append(resp.Entries, entryToWire(e))
	}
	return connect.NewResponse(resp), nil
}

// ExportAudit implements AuditService.
func (s *Server) ExportAudit(ctx context.Context, req *connect.Request[localv1.ExportAuditRequest], stream *connect.ServerStream[localv1.ExportAuditResponse]) error {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return err
	}
	if err := s.allow(ctx, sub, policy.ResourceAudit, policy.ActionExport, "audit.export", "audit"); err != nil {
		return err
	}
	err = s.store.View(ctx, func(r store.Reader) error {
		return audit.Scan(r, func(e audit.Entry) error {
			return stream.Send(&localv1.ExportAuditResponse{Entry: entryToWire(e)})
		})
	})
	if err != nil {
		return s.fail(err)
	}
	return nil
}
