package api

import (
	"context"
	"errors"
	"strings"

	"connectrpc.com/connect"

	"github.com/cpx-node/cpx/protocol/gen/cpx/local/v1/localv1connect"
)

// ErrCoordination is what a coordination node answers to case, referral
// and transfer calls.
var ErrCoordination = errors.New("this is a coordination node: it holds no case files, referrals or transfers, only aggregates (docs/coordination.md)")

// coordinationRefused reports whether a coordination node refuses the
// procedure: every case call, and sending or answering a referral or
// transfer.
func coordinationRefused(procedure string) bool {
	if strings.HasPrefix(procedure, "/"+localv1connect.CaseServiceName+"/") {
		return true
	}
	switch procedure {
	case localv1connect.FederationServiceSendProcedure, localv1connect.FederationServiceRespondProcedure:
		return true
	}
	return false
}

// coordinationGuard refuses, on a coordination node, the calls
// coordinationRefused names, before any handler runs.
func coordinationGuard(on bool) connect.Interceptor { return guard{on} }

type guard struct{ on bool }

func (g guard) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if g.on && coordinationRefused(req.Spec().Procedure) {
			return nil, connect.NewError(connect.CodeFailedPrecondition, ErrCoordination)
		}
		return next(ctx, req)
	}
}

func (g guard) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (g guard) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		if g.on && coordinationRefused(conn.Spec().Procedure) {
			return connect.NewError(connect.CodeFailedPrecondition, ErrCoordination)
		}
		return next(ctx, conn)
	}
}
