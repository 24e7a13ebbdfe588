// Package peerapi connects the exchange to libp2p: it serves the peer API
// (Hello, Deliver) to other nodes, and implements exchange.Transport by
// calling theirs. Connect's gzip is off both ways: sealed envelopes do not
// compress, and gzip made large calls several times slower.
package peerapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"connectrpc.com/connect"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/cpx-node/cpx/crypto/agencykey"
	"github.com/cpx-node/cpx/crypto/envelope"
	"github.com/cpx-node/cpx/node/exchange"
	"github.com/cpx-node/cpx/node/p2p"
	peerv1 "github.com/cpx-node/cpx/protocol/gen/cpx/peer/v1"
	"github.com/cpx-node/cpx/protocol/gen/cpx/peer/v1/peerv1connect"
)

// MaxMessageBytes bounds one peer API message.
const MaxMessageBytes = envelope.MaxSize + 64<<10

// Handler serves the peer API for an exchange.
type Handler struct {
	ex func() *exchange.Service
}

var _ peerv1connect.PeerServiceHandler = (*Handler)(nil)

// Serve registers the peer API on host. ex returns the exchange (it is
// created after the host, which it needs for its peer id); opts are added
// to the handler's (e.g. an interceptor that counts calls).
func Serve(host *p2p.Host, ex func() *exchange.Service, opts ...connect.HandlerOption) {
	h := &Handler{ex: ex}
	path, handler := peerv1connect.NewPeerServiceHandler(h, append([]connect.HandlerOption{
		connect.WithReadMaxBytes(MaxMessageBytes),
		connect.WithCompressMinBytes(1 << 30),
	}, opts...)...)
	host.Handle(path, limitBodies(handler))
}

// Request body limits per method, applied before Connect reads a byte: a
// declared length over the limit is refused at once, a body that grows
// past it is cut off.
var bodyLimits = map[string]int64{
	peerv1connect.PeerServiceHelloProcedure:   exchange.MaxHelloBytes,
	peerv1connect.PeerServiceQueryProcedure:   exchange.MaxQueryBytes + 4<<10,
	peerv1connect.PeerServiceDeliverProcedure: MaxMessageBytes,
	// The envelopes and their encoding: a few bytes each.
	peerv1connect.PeerServiceDeliverBatchProcedure: exchange.MaxBatchBytes + 64<<10,
}

func limitBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit, ok := bodyLimits[r.URL.Path]
		if !ok {
			limit = exchange.MaxHelloBytes
		}
		if r.ContentLength > limit {
			http.Error(w, fmt.Sprintf("request body over %d bytes", limit), http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}

// Hello implements PeerService.
func (h *Handler) Hello(ctx context.Context, req *connect.Request[peerv1.HelloRequest]) (*connect.Response[peerv1.HelloResponse], error) {
	ex := h.ex()
	if ex == nil {
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("starting"))
	}
	anns, err := ex.Hello(ctx, p2p.PeerID(ctx).String(), req.Msg.Announcements)
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&peerv1.HelloResponse{Announcements: anns}), nil
}

// Deliver implements PeerService.
func (h *Handler) Deliver(ctx context.Context, req *connect.Request[peerv1.DeliverRequest]) (*connect.Response[peerv1.DeliverResponse], error) {
	ex := h.ex()
	if ex == nil {
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("starting"))
	}
	receipt, err := ex.Receive(ctx, p2p.PeerID(ctx).String(), req.Msg.Envelope)
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&peerv1.DeliverResponse{Receipt: receipt}), nil
}

// DeliverBatch implements PeerService.
func (h *Handler) DeliverBatch(ctx context.Context, req *connect.Request[peerv1.DeliverBatchRequest]) (*connect.Response[peerv1.DeliverBatchResponse], error) {
	ex := h.ex()
	if ex == nil {
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("starting"))
	}
	outcomes, receipt, err := ex.ReceiveBatch(ctx, p2p.PeerID(ctx).String(), req.Msg.Envelopes)
	if err != nil {
		return nil, toConnect(err)
	}
	resp := &peerv1.DeliverBatchResponse{Receipt: receipt, Outcomes: make([]*peerv1.DeliverOutcome, len(outcomes))}
	for i, o := range outcomes {
		out := &peerv1.DeliverOutcome{Receipt: o.Receipt}
		if o.Refused != nil {
			var ce *connect.Error
			if errors.As(toConnect(o.Refused), &ce) {
				out.Code, out.Reason = uint32(ce.Code()), ce.Message()
			}
		}
		resp.Outcomes[i] = out
	}
	return connect.NewResponse(resp), nil
}

// Query implements PeerService.
func (h *Handler) Query(ctx context.Context, req *connect.Request[peerv1.QueryRequest]) (*connect.Response[peerv1.QueryResponse], error) {
	ex := h.ex()
	if ex == nil {
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("starting"))
	}
	answer, err := ex.HandleQuery(ctx, p2p.PeerID(ctx).String(), req.Msg.Envelope)
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&peerv1.QueryResponse{Envelope: answer}), nil
}

// Witness implements PeerService.
func (h *Handler) Witness(ctx context.Context, req *connect.Request[peerv1.WitnessRequest]) (*connect.Response[peerv1.WitnessResponse], error) {
	ex := h.ex()
	if ex == nil {
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("starting"))
	}
	sig, err := ex.Witness(ctx, p2p.PeerID(ctx).String(), req.Msg.Checkpoint)
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&peerv1.WitnessResponse{Countersignature: sig}), nil
}

// Checkpoints implements PeerService.
func (h *Handler) Checkpoints(ctx context.Context, req *connect.Request[peerv1.CheckpointsRequest]) (*connect.Response[peerv1.CheckpointsResponse], error) {
	ex := h.ex()
	if ex == nil {
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("starting"))
	}
	cps, more, err := ex.WitnessedCheckpoints(ctx, p2p.PeerID(ctx).String(), req.Msg.After)
	if err != nil {
		return nil, toConnect(err)
	}
	resp := &peerv1.CheckpointsResponse{More: more}
	for _, c := range cps {
		resp.Checkpoints = append(resp.Checkpoints, &peerv1.WitnessedCheckpoint{Seq: c.Seq, Hash: append([]byte(nil), c.Hash[:]...)})
	}
	return connect.NewResponse(resp), nil
}

// toConnect maps refusals to codes a sender treats as final; anything else
// is unavailable (the sender retries).
func toConnect(err error) error {
	switch {
	case errors.Is(err, exchange.ErrRateLimited):
		return connect.NewError(connect.CodeResourceExhausted, err)
	case errors.Is(err, exchange.ErrReplay), errors.Is(err, exchange.ErrKeyNotValid), errors.Is(err, exchange.ErrKeyContinuity),
		errors.Is(err, exchange.ErrCheckpointConflict), errors.Is(err, agencykey.ErrBadEd25519), errors.Is(err, agencykey.ErrBadMLDSA), errors.Is(err, agencykey.ErrWrongKey):
		return connect.NewError(connect.CodePermissionDenied, err)
	case errors.Is(err, exchange.ErrLifetime):
		return connect.NewError(connect.CodeInvalidArgument, err)
	case errors.Is(err, exchange.ErrRefused), errors.Is(err, exchange.ErrDenied), errors.Is(err, exchange.ErrUnknownPeer),
		errors.Is(err, exchange.ErrSenderMatch), errors.Is(err, exchange.ErrISP), errors.Is(err, exchange.ErrOutsideFields),
		errors.Is(err, envelope.ErrSignature), errors.Is(err, envelope.ErrWrongRecipient), errors.Is(err, envelope.ErrWrongSender):
		return connect.NewError(connect.CodePermissionDenied, err)
	case errors.Is(err, envelope.ErrMalformed), errors.Is(err, envelope.ErrDecrypt), errors.Is(err, envelope.ErrHash),
		errors.Is(err, envelope.ErrExpired), errors.Is(err, exchange.ErrBadMessage), errors.Is(err, exchange.ErrUnexpected),
		errors.Is(err, exchange.ErrUnknownKey), errors.Is(err, exchange.ErrBatch):
		return connect.NewError(connect.CodeInvalidArgument, err)
	}
	return connect.NewError(connect.CodeUnavailable, errors.New("the node could not store the envelope; retry later"))
}

// Transport implements exchange.Transport over a p2p host.
type Transport struct {
	Host *p2p.Host
}

var _ exchange.Transport = Transport{}

func decode(peerID string) (peer.ID, error) {
	id, err := peer.Decode(peerID)
	if err != nil {
		return "", fmt.Errorf("%w: bad peer id %q: %v", exchange.ErrInvalid, peerID, err)
	}
	return id, nil
}

// Allow implements exchange.Transport.
func (t Transport) Allow(peerID string) error {
	id, err := decode(peerID)
	if err != nil {
		return err
	}
	t.Host.Gater().Allow(id)
	return nil
}

// Deny implements exchange.Transport.
func (t Transport) Deny(peerID string) error {
	id, err := decode(peerID)
	if err != nil {
		return err
	}
	t.Host.Gater().Deny(id)
	return nil
}

// Connected implements exchange.Transport.
func (t Transport) Connected(peerID string) bool {
	id, err := decode(peerID)
	return err == nil && t.Host.Connected(id)
}

func (t Transport) client(peerID string, addrs []string) (peerv1connect.PeerServiceClient, error) {
	id, err := decode(peerID)
	if err != nil {
		return nil, err
	}
	var mas []ma.Multiaddr
	for _, a := range addrs {
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			return nil, fmt.Errorf("%w: bad address %q: %v", exchange.ErrInvalid, a, err)
		}
		mas = append(mas, m)
	}
	hc, err := t.Host.Client(id, mas)
	if err != nil {
		return nil, err
	}
	return peerv1connect.NewPeerServiceClient(hc, p2p.BaseURL,
		connect.WithAcceptCompression("gzip", nil, nil),
		connect.WithReadMaxBytes(MaxMessageBytes),
	), nil
}

// Hello implements exchange.Transport.
func (t Transport) Hello(ctx context.Context, peerID string, addrs []string, announcements [][]byte) ([][]byte, error) {
	c, err := t.client(peerID, addrs)
	if err != nil {
		return nil, err
	}
	resp, err := c.Hello(ctx, connect.NewRequest(&peerv1.HelloRequest{Announcements: announcements}))
	if err != nil {
		return nil, final(err)
	}
	return resp.Msg.Announcements, nil
}

// Deliver implements exchange.Transport.
func (t Transport) Deliver(ctx context.Context, peerID string, addrs []string, env []byte) ([]byte, error) {
	c, err := t.client(peerID, addrs)
	if err != nil {
		return nil, err
	}
	resp, err := c.Deliver(ctx, connect.NewRequest(&peerv1.DeliverRequest{Envelope: env}))
	if err != nil {
		return nil, final(err)
	}
	return resp.Msg.Receipt, nil
}

var _ exchange.BatchTransport = Transport{}

// DeliverBatch implements exchange.BatchTransport. A peer that does not
// serve it (an older node) gets exchange.ErrBatchUnsupported.
func (t Transport) DeliverBatch(ctx context.Context, peerID string, addrs []string, envelopes [][]byte) (exchange.BatchReply, error) {
	c, err := t.client(peerID, addrs)
	if err != nil {
		return exchange.BatchReply{}, err
	}
	resp, err := c.DeliverBatch(ctx, connect.NewRequest(&peerv1.DeliverBatchRequest{Envelopes: envelopes}))
	if connect.CodeOf(err) == connect.CodeUnimplemented {
		return exchange.BatchReply{}, fmt.Errorf("%w: %v", exchange.ErrBatchUnsupported, err)
	}
	if err != nil {
		return exchange.BatchReply{}, final(err)
	}
	reply := exchange.BatchReply{Receipt: resp.Msg.Receipt, Outcomes: make([]exchange.BatchOutcome, len(resp.Msg.Outcomes))}
	for i, o := range resp.Msg.Outcomes {
		reply.Outcomes[i].Receipt = o.Receipt
		if o.Code != 0 {
			reply.Outcomes[i].Refused = final(connect.NewError(connect.Code(o.Code), errors.New(o.Reason)))
		}
	}
	return reply, nil
}

// Query implements exchange.Transport.
func (t Transport) Query(ctx context.Context, peerID string, addrs []string, env []byte) ([]byte, error) {
	c, err := t.client(peerID, addrs)
	if err != nil {
		return nil, err
	}
	resp, err := c.Query(ctx, connect.NewRequest(&peerv1.QueryRequest{Envelope: env}))
	if err != nil {
		return nil, err
	}
	return resp.Msg.Envelope, nil
}

var _ exchange.WitnessTransport = Transport{}

// Witness implements exchange.WitnessTransport.
func (t Transport) Witness(ctx context.Context, peerID string, addrs []string, checkpoint []byte) ([]byte, error) {
	c, err := t.client(peerID, addrs)
	if err != nil {
		return nil, err
	}
	resp, err := c.Witness(ctx, connect.NewRequest(&peerv1.WitnessRequest{Checkpoint: checkpoint}))
	if err != nil {
		return nil, err
	}
	return resp.Msg.Countersignature, nil
}

// Checkpoints implements exchange.WitnessTransport.
func (t Transport) Checkpoints(ctx context.Context, peerID string, addrs []string, after uint64) ([]exchange.Witnessed, bool, error) {
	c, err := t.client(peerID, addrs)
	if err != nil {
		return nil, false, err
	}
	resp, err := c.Checkpoints(ctx, connect.NewRequest(&peerv1.CheckpointsRequest{After: after}))
	if err != nil {
		return nil, false, err
	}
	var out []exchange.Witnessed
	for _, w := range resp.Msg.Checkpoints {
		var h [32]byte
		if len(w.Hash) != len(h) {
			return nil, false, fmt.Errorf("checkpoint %d: hash of %d bytes", w.Seq, len(w.Hash))
		}
		copy(h[:], w.Hash)
		out = append(out, exchange.Witnessed{Seq: w.Seq, Hash: h})
	}
	return out, resp.Msg.More, nil
}

// final marks the peer's refusals as permanent.
func final(err error) error {
	switch connect.CodeOf(err) {
	case connect.CodePermissionDenied, connect.CodeInvalidArgument:
		return fmt.Errorf("%w: %v", exchange.ErrPermanent, err)
	}
	return err
}
