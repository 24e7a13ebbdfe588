package api

import (
	"context"
	"errors"
	"net/http"
	"sort"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cpx-node/cpx/node/exchange"
	"github.com/cpx-node/cpx/policy"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
	"github.com/cpx-node/cpx/protocol/gen/cpx/local/v1/localv1connect"
)

var _ localv1connect.FederationServiceHandler = (*Server)(nil)

func tsOrNil(t interface{ IsZero() bool }, ts *timestamppb.Timestamp) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return ts
}

func (s *Server) peerToWire(p exchange.Peer) *localv1.Peer {
	connected := s.ex.Connected(p)
	w := &localv1.Peer{
		Agency: p.Agency, PeerId: p.PeerID, Addrs: p.DialAddrs(), Connected: connected,
		AddedAt: timestamppb.New(p.AddedAt), LastSeen: tsOrNil(p.LastSeen, timestamppb.New(p.LastSeen)), LastError: p.LastError,
		Reachability: string(p.Reachability(connected)), LastErrorAt: tsOrNil(p.LastErrorAt, timestamppb.New(p.LastErrorAt)),
		AnnouncedAt: tsOrNil(p.AnnouncedAt, timestamppb.New(p.AnnouncedAt)),
	}
	for _, k := range p.Keys() {
		w.KeyFingerprints = append(w.KeyFingerprints, k.Fingerprint())
	}
	return w
}

func policyToWire(in exchange.ISPInfo) *localv1.Policy {
	p := in.ISP
	w := &localv1.Policy{
		Id: p.ID, Version: p.Version, Title: p.Title, InForce: in.InForce, Problem: in.Problem,
		ValidFrom: timestamppb.New(p.ValidFrom), ValidUntil: timestamppb.New(p.ValidUntil), AppliedAt: timestamppb.New(in.AppliedAt),
	}
	for _, pt := range p.Parties {
		w.Parties = append(w.Parties, pt.Agency)
	}
	for _, r := range p.Purposes {
		w.Purposes = append(w.Purposes, r.Name)
	}
	for _, sg := range in.Signatures {
		if sg.Verified {
			w.SignedBy = append(w.SignedBy, sg.Agency)
		} else {
			w.BadSignatures = append(w.BadSignatures, sg.Agency+": "+sg.Problem)
		}
	}
	return w
}

func exchangeToWire(r exchange.Record) (*localv1.Exchange, error) {
	w := &localv1.Exchange{
		Id: r.ID, Kind: r.Kind, Direction: r.Direction, Peer: r.Peer, CaseId: r.CaseID, CaseNumber: r.CaseNumber,
		LocalCase: r.LocalCase, Service: r.Service, Note: r.Note, Status: r.Status, Isp: r.ISP, IspVersion: r.ISPVersion,
		Retention: r.Retention, ConsentOverridden: r.ConsentOverridden, CreatedBy: r.CreatedBy,
		CreatedAt: timestamppb.New(r.CreatedAt), UpdatedAt: timestamppb.New(r.UpdatedAt),
		Sync: r.Sync, SyncError: r.SyncError, Report: r.Report, Period: r.Period,
	}
	if r.Fields != nil {
		f, err := structpb.NewStruct(r.Fields)
		if err != nil {
			return nil, err
		}
		w.Fields = f
	}
	for _, e := range r.History {
		w.History = append(w.History, &localv1.ExchangeEvent{At: timestamppb.New(e.At), Status: e.Status, Actor: e.Actor, Reason: e.Reason})
	}
	return w, nil
}

// fedSubject authenticates a FederationService call and checks that the
// node runs with federation.
func (s *Server) fedSubject(ctx context.Context, h http.Header, procedure string) (policy.Subject, error) {
	sub, err := s.authenticate(ctx, h, procedure)
	if err != nil {
		return sub, err
	}
	if s.ex == nil {
		return sub, connect.NewError(connect.CodeUnimplemented, errors.New("this node runs without federation"))
	}
	return sub, nil
}

// NodeID implements FederationService.
func (s *Server) NodeID(ctx context.Context, req *connect.Request[localv1.NodeIDRequest]) (*connect.Response[localv1.NodeIDResponse], error) {
	sub, err := s.fedSubject(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	if err := s.allow(ctx, sub, policy.ResourceNode, policy.ActionRead, "node.id", "node"); err != nil {
		return nil, err
	}
	id := s.ex.Identity()
	return connect.NewResponse(&localv1.NodeIDResponse{
		AgencyId: id.Agency, PeerId: id.PeerID, Addrs: s.addrs(), KeyFingerprint: id.Fingerprint,
		KeyVersion: id.KeyVersion, KeyNotAfter: timestamppb.New(id.NotAfter),
	}), nil
}

// AddPeer implements FederationService.
func (s *Server) AddPeer(ctx context.Context, req *connect.Request[localv1.AddPeerRequest]) (*connect.Response[localv1.AddPeerResponse], error) {
	sub, err := s.fedSubject(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	p, err := s.ex.AddPeer(ctx, sub, req.Msg.Addr, req.Msg.Agency)
	if err != nil {
		return nil, s.fail(err)
	}
	return connect.NewResponse(&localv1.AddPeerResponse{Peer: s.peerToWire(p)}), nil
}

// ListPeers implements FederationService.
func (s *Server) ListPeers(ctx context.Context, req *connect.Request[localv1.ListPeersRequest]) (*connect.Response[localv1.ListPeersResponse], error) {
	sub, err := s.fedSubject(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	peers, err := s.ex.Peers(ctx, sub)
	if err != nil {
		return nil, s.fail(err)
	}
	resp := &localv1.ListPeersResponse{}
	for _, p := range peers {
		resp.Peers = append(resp.Peers, s.peerToWire(p))
	}
	return connect.NewResponse(resp), nil
}

// RemovePeer implements FederationService.
func (s *Server) RemovePeer(ctx context.Context, req *connect.Request[localv1.RemovePeerRequest]) (*connect.Response[localv1.RemovePeerResponse], error) {
	sub, err := s.fedSubject(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	if err := s.ex.RemovePeer(ctx, sub, req.Msg.Agency); err != nil {
		return nil, s.fail(err)
	}
	return connect.NewResponse(&localv1.RemovePeerResponse{}), nil
}

// RekeyPeer implements FederationService.
func (s *Server) RekeyPeer(ctx context.Context, req *connect.Request[localv1.RekeyPeerRequest]) (*connect.Response[localv1.RekeyPeerResponse], error) {
	sub, err := s.fedSubject(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	p, err := s.ex.RekeyPeer(ctx, sub, req.Msg.Agency, req.Msg.Fingerprint)
	if err != nil {
		return nil, s.fail(err)
	}
	return connect.NewResponse(&localv1.RekeyPeerResponse{Peer: s.peerToWire(p)}), nil
}

// ApplyPolicy implements FederationService.
func (s *Server) ApplyPolicy(ctx context.Context, req *connect.Request[localv1.ApplyPolicyRequest]) (*connect.Response[localv1.ApplyPolicyResponse], error) {
	sub, err := s.fedSubject(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	res, err := s.ex.ApplyISP(ctx, sub, req.Msg.Document, req.Msg.DryRun)
	if err != nil {
		return nil, s.fail(err)
	}
	resp := &localv1.ApplyPolicyResponse{Policy: policyToWire(res.ISP), Changes: res.Changes, Refusal: res.Refusal}
	if res.Previous != nil {
		resp.Previous = policyToWire(*res.Previous)
	}
	return connect.NewResponse(resp), nil
}

// ListPolicies implements FederationService.
func (s *Server) ListPolicies(ctx context.Context, req *connect.Request[localv1.ListPoliciesRequest]) (*connect.Response[localv1.ListPoliciesResponse], error) {
	sub, err := s.fedSubject(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	list, err := s.ex.ISPs(ctx, sub)
	if err != nil {
		return nil, s.fail(err)
	}
	resp := &localv1.ListPoliciesResponse{}
	for _, in := range list {
		resp.Policies = append(resp.Policies, policyToWire(in))
	}
	return connect.NewResponse(resp), nil
}

// ShowPolicy implements FederationService.
func (s *Server) ShowPolicy(ctx context.Context, req *connect.Request[localv1.ShowPolicyRequest]) (*connect.Response[localv1.ShowPolicyResponse], error) {
	sub, err := s.fedSubject(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	in, err := s.ex.ShowISP(ctx, sub, req.Msg.Id)
	if err != nil {
		return nil, s.fail(err)
	}
	doc, err := in.ISP.Marshal()
	if err != nil {
		return nil, s.fail(err)
	}
	return connect.NewResponse(&localv1.ShowPolicyResponse{Policy: policyToWire(in), Document: doc}), nil
}

// SignPolicy implements FederationService.
func (s *Server) SignPolicy(ctx context.Context, req *connect.Request[localv1.SignPolicyRequest]) (*connect.Response[localv1.SignPolicyResponse], error) {
	sub, err := s.fedSubject(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	doc, in, err := s.ex.SignISP(ctx, sub, req.Msg.Document)
	if err != nil {
		return nil, s.fail(err)
	}
	return connect.NewResponse(&localv1.SignPolicyResponse{Document: doc, Policy: policyToWire(in)}), nil
}

// CheckPolicy implements FederationService.
func (s *Server) CheckPolicy(ctx context.Context, req *connect.Request[localv1.CheckPolicyRequest]) (*connect.Response[localv1.CheckPolicyResponse], error) {
	sub, err := s.fedSubject(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if m.CaseId, err = s.caseRef(ctx, sub, m.CaseId); err != nil {
		return nil, err
	}
	d, err := s.ex.Check(ctx, sub, exchange.Offer{Kind: m.Purpose, Case: m.CaseId, To: m.To, OverrideConsent: m.OverrideConsent})
	if err != nil {
		return nil, s.fail(err)
	}
	resp := &localv1.CheckPolicyResponse{Allowed: d.Allowed, Reason: d.Reason, ConsentOverridden: d.ConsentOverridden}
	for _, f := range d.Fields {
		resp.Fields = append(resp.Fields, &localv1.FieldDecision{Field: f.Field, Outcome: f.Outcome, Reason: f.Reason})
	}
	sort.Slice(resp.Fields, func(i, j int) bool { return resp.Fields[i].Field < resp.Fields[j].Field })
	return connect.NewResponse(resp), nil
}

// Send implements FederationService.
func (s *Server) Send(ctx context.Context, req *connect.Request[localv1.SendRequest]) (*connect.Response[localv1.SendResponse], error) {
	sub, err := s.fedSubject(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if m.CaseId, err = s.caseRef(ctx, sub, m.CaseId); err != nil {
		return nil, err
	}
	rec, err := s.ex.Send(ctx, sub, exchange.Offer{Kind: m.Kind, Case: m.CaseId, To: m.To, Service: m.Service, Note: m.Note, OverrideConsent: m.OverrideConsent})
	if err != nil {
		return nil, s.fail(err)
	}
	w, err := exchangeToWire(rec)
	if err != nil {
		return nil, s.fail(err)
	}
	return connect.NewResponse(&localv1.SendResponse{Exchange: w}), nil
}

// ListExchanges implements FederationService.
func (s *Server) ListExchanges(ctx context.Context, req *connect.Request[localv1.ListExchangesRequest]) (*connect.Response[localv1.ListExchangesResponse], error) {
	sub, err := s.fedSubject(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	list, err := s.ex.List(ctx, sub, exchange.Filter{Kind: m.Kind, Direction: m.Direction, Status: m.Status})
	if err != nil {
		return nil, s.fail(err)
	}
	resp := &localv1.ListExchangesResponse{}
	for _, r := range list {
		r.Fields = nil // GetExchange shows the data, and audits it
		w, err := exchangeToWire(r)
		if err != nil {
			return nil, s.fail(err)
		}
		resp.Exchanges = append(resp.Exchanges, w)
	}
	return connect.NewResponse(resp), nil
}

// GetExchange implements FederationService.
func (s *Server) GetExchange(ctx context.Context, req *connect.Request[localv1.GetExchangeRequest]) (*connect.Response[localv1.GetExchangeResponse], error) {
	sub, err := s.fedSubject(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	if req.Msg.Id, err = s.exchangeRef(ctx, sub, req.Msg.Id); err != nil {
		return nil, err
	}
	r, err := s.ex.Get(ctx, sub, req.Msg.Id)
	if err != nil {
		return nil, s.fail(err)
	}
	w, err := exchangeToWire(r)
	if err != nil {
		return nil, s.fail(err)
	}
	return connect.NewResponse(&localv1.GetExchangeResponse{Exchange: w}), nil
}

// Respond implements FederationService.
func (s *Server) Respond(ctx context.Context, req *connect.Request[localv1.RespondRequest]) (*connect.Response[localv1.RespondResponse], error) {
	sub, err := s.fedSubject(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	if req.Msg.Id, err = s.exchangeRef(ctx, sub, req.Msg.Id); err != nil {
		return nil, err
	}
	r, d, err := s.ex.Respond(ctx, sub, req.Msg.Id, exchange.Response(req.Msg.Response), req.Msg.Reason)
	if err != nil {
		return nil, s.fail(err)
	}
	r.Fields = nil
	w, err := exchangeToWire(r)
	if err != nil {
		return nil, s.fail(err)
	}
	return connect.NewResponse(&localv1.RespondResponse{Exchange: w, Delivered: d.Delivered, DeliveryError: errText(d.Err)}), nil
}

// ResyncExchange implements FederationService.
func (s *Server) ResyncExchange(ctx context.Context, req *connect.Request[localv1.ResyncExchangeRequest]) (*connect.Response[localv1.ResyncExchangeResponse], error) {
	sub, err := s.fedSubject(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	if req.Msg.Id, err = s.exchangeRef(ctx, sub, req.Msg.Id); err != nil {
		return nil, err
	}
	r, d, err := s.ex.Resync(ctx, sub, req.Msg.Id)
	if err != nil {
		return nil, s.fail(err)
	}
	r.Fields = nil
	w, err := exchangeToWire(r)
	if err != nil {
		return nil, s.fail(err)
	}
	return connect.NewResponse(&localv1.ResyncExchangeResponse{Exchange: w, Delivered: d.Delivered, DeliveryError: errText(d.Err)}), nil
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Outbox implements FederationService.
func (s *Server) Outbox(ctx context.Context, req *connect.Request[localv1.OutboxRequest]) (*connect.Response[localv1.OutboxResponse], error) {
	sub, err := s.fedSubject(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	list, err := s.ex.Outbox(ctx, sub)
	if err != nil {
		return nil, s.fail(err)
	}
	resp := &localv1.OutboxResponse{}
	for _, e := range list {
		resp.Entries = append(resp.Entries, &localv1.OutboxEntry{
			EnvelopeId: e.EnvelopeID, Exchange: e.Exchange, Kind: e.Kind, Peer: e.Peer, Attempts: int32(e.Attempts),
			LastError: e.LastError, Created: timestamppb.New(e.Created), NextAttempt: timestamppb.New(e.NextAttempt), Expires: timestamppb.New(e.Expires),
		})
	}
	return connect.NewResponse(resp), nil
}

// RetryOutbox implements FederationService.
func (s *Server) RetryOutbox(ctx context.Context, req *connect.Request[localv1.RetryOutboxRequest]) (*connect.Response[localv1.RetryOutboxResponse], error) {
	sub, err := s.fedSubject(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	n, err := s.ex.RetryOutbox(ctx, sub, req.Msg.Peer)
	if err != nil {
		return nil, s.fail(err)
	}
	return connect.NewResponse(&localv1.RetryOutboxResponse{Waiting: int32(n)}), nil
}
