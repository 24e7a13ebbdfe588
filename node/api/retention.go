package api

import (
	"context"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
	"github.com/cpx-node/cpx/protocol/gen/cpx/local/v1/localv1connect"
)

var _ localv1connect.RetentionServiceHandler = (*Server)(nil)

// RetentionStatus implements RetentionService.
func (s *Server) RetentionStatus(ctx context.Context, req *connect.Request[localv1.RetentionStatusRequest]) (*connect.Response[localv1.RetentionStatusResponse], error) {
	sub, err := s.fedSubject(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	list, err := s.ex.RetentionStatus(ctx, sub)
	if err != nil {
		return nil, s.fail(err)
	}
	resp := &localv1.RetentionStatusResponse{}
	ts := func(t time.Time) *timestamppb.Timestamp {
		if t.IsZero() {
			return nil
		}
		return timestamppb.New(t)
	}
	for _, r := range list {
		resp.Entries = append(resp.Entries, &localv1.RetentionEntry{
			Exchange: r.Exchange, Kind: r.Kind, Direction: r.Direction, Peer: r.Peer, Status: r.Status, Isp: r.ISP,
			Days: int32(r.Days), Since: ts(r.Since), Deadline: ts(r.Deadline), State: r.State, Shredded: ts(r.Shredded),
		})
	}
	return connect.NewResponse(resp), nil
}
