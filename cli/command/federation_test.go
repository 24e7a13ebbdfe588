package command_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cpx-node/cpx/cli/command"
	"github.com/cpx-node/cpx/policy"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

// fakeFed is the FederationService of a fakeNode: enough state to test the
// CLI layer. Agency "agency-a" is this node; "agency-b" is a peer and the
// other party of the ISP; sending to any other agency is refused.
type fakeFed struct {
	mu        sync.Mutex
	peers     []*localv1.Peer
	policies  []*localv1.Policy
	docs      map[string][]byte
	exchanges []*localv1.Exchange
	lastSend  *localv1.SendRequest
	lastCheck *localv1.CheckPolicyRequest
	lastList  *localv1.ListExchangesRequest
	responds  int
}

var feds sync.Map // *fakeNode -> *fakeFed

// fed returns f's FederationService, registered by fakeNode.start.
func (f *fakeNode) fed() *fakeFed {
	v, _ := feds.LoadOrStore(f, newFakeFed())
	return v.(*fakeFed)
}

const fakePeerID = "12D3KooWAgencyBPeer"

func newFakeFed() *fakeFed {
	at := func(h int) *timestamppb.Timestamp { return timestamppb.New(t0.Add(time.Duration(h) * time.Hour)) }
	fields, _ := structpb.NewStruct(map[string]any{"age": 12, "sex": "female", "languages": []any{"so", "en"}})
	tfields, _ := structpb.NewStruct(map[string]any{"name": "Hodan", "age": 9})
	return &fakeFed{
		docs: map[string][]byte{},
		peers: []*localv1.Peer{{
			Agency: "agency-b", PeerId: fakePeerID, Addrs: []string{"/ip4/10.0.0.7/tcp/7071/p2p/" + fakePeerID},
			Connected: true, AddedAt: timestamppb.New(t0), LastSeen: at(5), KeyFingerprints: []string{"bbbbbbb-1111111"},
			Reachability: "connected",
		}, {
			Agency: "agency-d", PeerId: "12D3KooWAgencyDPeer",
			Addrs:   []string{"/ip4/10.0.0.8/tcp/7072", "/ip4/10.0.0.8/udp/7072/quic-v1", "/ip4/10.0.0.8/tcp/7071"},
			AddedAt: timestamppb.New(t0), LastSeen: at(1), AnnouncedAt: at(1), KeyFingerprints: []string{"ddddddd-1111111"},
			Reachability: "unreachable", LastError: "failed to dial: connection refused", LastErrorAt: at(6),
		}},
		exchanges: []*localv1.Exchange{
			{
				Id: "ex-1", Kind: "referral", Direction: "incoming", Peer: "agency-b", CaseId: "b-case-7", CaseNumber: "B-0007",
				Service: "health", Note: "needs a medical check", Status: "delivered", Isp: "test-isp", IspVersion: 1,
				Fields: fields, CreatedBy: "agency-b/fatima", CreatedAt: at(1), UpdatedAt: at(2),
				History: []*localv1.ExchangeEvent{
					{At: at(1), Status: "pending", Actor: "agency-b/fatima"},
					{At: at(2), Status: "delivered", Actor: "agency-b"},
				},
			},
			{
				Id: "ex-2", Kind: "referral", Direction: "outgoing", Peer: "agency-b", CaseId: "case-1", CaseNumber: "CP-0001",
				Service: "education", Status: "accepted", Isp: "test-isp", IspVersion: 1, CreatedBy: "admin",
				CreatedAt: at(3), UpdatedAt: at(4),
			},
			{
				Id: "ex-3", Kind: "transfer", Direction: "incoming", Peer: "agency-b", CaseId: "b-case-9", CaseNumber: "B-0009",
				Status: "delivered", Isp: "test-isp", IspVersion: 1, Retention: "stub", Fields: tfields, CreatedBy: "agency-b/omar",
				CreatedAt: at(3), UpdatedAt: at(3),
			},
		},
	}
}

func (d *fakeFed) NodeID(ctx context.Context, _ *connect.Request[localv1.NodeIDRequest]) (*connect.Response[localv1.NodeIDResponse], error) {
	return connect.NewResponse(&localv1.NodeIDResponse{
		AgencyId: "agency-a", PeerId: "12D3KooWAgencyAPeer",
		Addrs: []string{
			"/ip4/192.168.1.10/tcp/7071/p2p/12D3KooWAgencyAPeer",
			"/ip4/192.168.1.10/udp/7071/quic-v1", // without /p2p/: cpx adds it
		},
		KeyFingerprint: "aaaaaaa-1111111", KeyVersion: 2, KeyNotAfter: timestamppb.New(t0.AddDate(1, 0, 0)),
	}), nil
}

func (d *fakeFed) AddPeer(ctx context.Context, req *connect.Request[localv1.AddPeerRequest]) (*connect.Response[localv1.AddPeerResponse], error) {
	if err := mustWrite(ctx); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	_, id, _ := strings.Cut(req.Msg.Addr, "/p2p/")
	p := &localv1.Peer{Agency: req.Msg.Agency, PeerId: id, Addrs: []string{req.Msg.Addr}, AddedAt: timestamppb.New(t0), Reachability: "never seen"}
	d.peers = append(d.peers, p)
	return connect.NewResponse(&localv1.AddPeerResponse{Peer: p}), nil
}

func (d *fakeFed) ListPeers(ctx context.Context, _ *connect.Request[localv1.ListPeersRequest]) (*connect.Response[localv1.ListPeersResponse], error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return connect.NewResponse(&localv1.ListPeersResponse{Peers: d.peers}), nil
}

func (d *fakeFed) RemovePeer(ctx context.Context, req *connect.Request[localv1.RemovePeerRequest]) (*connect.Response[localv1.RemovePeerResponse], error) {
	if err := mustWrite(ctx); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	i := slices.IndexFunc(d.peers, func(p *localv1.Peer) bool { return p.Agency == req.Msg.Agency })
	if i < 0 {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("no peer %q", req.Msg.Agency))
	}
	d.peers = slices.Delete(d.peers, i, i+1)
	return connect.NewResponse(&localv1.RemovePeerResponse{}), nil
}

func parseISP(doc []byte) (*policy.ISP, error) {
	p, err := policy.ParseISP(doc)
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	return p, nil
}

func policyOf(p *policy.ISP) *localv1.Policy {
	w := &localv1.Policy{
		Id: p.ID, Version: p.Version, Title: p.Title, ValidFrom: timestamppb.New(p.ValidFrom),
		ValidUntil: timestamppb.New(p.ValidUntil), AppliedAt: timestamppb.New(t0),
	}
	for _, pt := range p.Parties {
		w.Parties = append(w.Parties, pt.Agency)
	}
	for _, r := range p.Purposes {
		w.Purposes = append(w.Purposes, r.Name)
	}
	for _, s := range p.Signatures {
		w.SignedBy = append(w.SignedBy, s.Agency)
	}
	var missing []string
	for _, pt := range w.Parties {
		if !slices.Contains(w.SignedBy, pt) {
			missing = append(missing, pt)
		}
	}
	if len(missing) > 0 {
		w.Problem = fmt.Sprintf("policy: ISP %s v%d: missing signatures of %s", p.ID, p.Version, strings.Join(missing, ", "))
	} else {
		w.InForce = true
	}
	return w
}

func (d *fakeFed) ApplyPolicy(ctx context.Context, req *connect.Request[localv1.ApplyPolicyRequest]) (*connect.Response[localv1.ApplyPolicyResponse], error) {
	if err := mustWrite(ctx); err != nil {
		return nil, err
	}
	p, err := parseISP(req.Msg.Document)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	w := policyOf(p)
	d.policies = slices.DeleteFunc(d.policies, func(o *localv1.Policy) bool { return o.Id == w.Id })
	d.policies = append(d.policies, w)
	d.docs[w.Id] = req.Msg.Document
	return connect.NewResponse(&localv1.ApplyPolicyResponse{Policy: w}), nil
}

func (d *fakeFed) ListPolicies(ctx context.Context, _ *connect.Request[localv1.ListPoliciesRequest]) (*connect.Response[localv1.ListPoliciesResponse], error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return connect.NewResponse(&localv1.ListPoliciesResponse{Policies: d.policies}), nil
}

func (d *fakeFed) ShowPolicy(ctx context.Context, req *connect.Request[localv1.ShowPolicyRequest]) (*connect.Response[localv1.ShowPolicyResponse], error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.policies {
		if p.Id == req.Msg.Id {
			return connect.NewResponse(&localv1.ShowPolicyResponse{Policy: p, Document: d.docs[p.Id]}), nil
		}
	}
	return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("no ISP %q", req.Msg.Id))
}

// SignPolicy adds a (fake) signature of agency-a with its party key.
func (d *fakeFed) SignPolicy(ctx context.Context, req *connect.Request[localv1.SignPolicyRequest]) (*connect.Response[localv1.SignPolicyResponse], error) {
	if err := mustWrite(ctx); err != nil {
		return nil, err
	}
	p, err := parseISP(req.Msg.Document)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(p.Parties, func(pt policy.Party) bool { return pt.Agency == "agency-a" })
	if i < 0 {
		return nil, connect.NewError(connect.CodeFailedPrecondition, errors.New("agency-a is not a party"))
	}
	p.AddSignature(policy.ISPSignature{Agency: "agency-a", Key: p.Parties[i].SigningKey, Ed25519: []byte{1}, MLDSA65: []byte{2}})
	doc, err := p.Marshal()
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&localv1.SignPolicyResponse{Document: doc, Policy: policyOf(p)}), nil
}

// CheckPolicy allows exchanges with agency-b and withholds the name.
func (d *fakeFed) CheckPolicy(ctx context.Context, req *connect.Request[localv1.CheckPolicyRequest]) (*connect.Response[localv1.CheckPolicyResponse], error) {
	d.mu.Lock()
	d.lastCheck = req.Msg
	d.mu.Unlock()
	m := req.Msg
	if m.To != "agency-b" {
		return connect.NewResponse(&localv1.CheckPolicyResponse{
			Reason: fmt.Sprintf("no ISP in force lets agency-a send a %s to %s", m.Purpose, m.To),
			Fields: []*localv1.FieldDecision{
				{Field: "age", Outcome: "not_allowed", Reason: "no ISP in force"},
				{Field: "name", Outcome: "not_allowed", Reason: "no ISP in force"},
			},
		}), nil
	}
	return connect.NewResponse(&localv1.CheckPolicyResponse{
		Allowed: true, Reason: "ISP test-isp v1 allows it", ConsentOverridden: m.OverrideConsent,
		Fields: []*localv1.FieldDecision{
			{Field: "age", Outcome: "send", Reason: "form registration"},
			{Field: "name", Outcome: "withheld", Reason: "withheld by ISP test-isp v1"},
			{Field: "telephone", Outcome: "not_allowed", Reason: "not in the purpose's forms or fields"},
		},
	}), nil
}

func (d *fakeFed) Send(ctx context.Context, req *connect.Request[localv1.SendRequest]) (*connect.Response[localv1.SendResponse], error) {
	if err := mustWrite(ctx); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lastSend = req.Msg
	m := req.Msg
	if m.To != "agency-b" {
		return nil, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("%s is not a peer", m.To))
	}
	x := &localv1.Exchange{
		Id: fmt.Sprintf("ex-%d", len(d.exchanges)+1), Kind: m.Kind, Direction: "outgoing", Peer: m.To, CaseId: "case-1",
		CaseNumber: "CP-0001", Service: m.Service, Note: m.Note, Status: "pending", Isp: "test-isp", IspVersion: 1,
		ConsentOverridden: m.OverrideConsent, CreatedBy: "admin", CreatedAt: timestamppb.New(t0), UpdatedAt: timestamppb.New(t0),
	}
	d.exchanges = append(d.exchanges, x)
	return connect.NewResponse(&localv1.SendResponse{Exchange: x}), nil
}

func (d *fakeFed) ListExchanges(ctx context.Context, req *connect.Request[localv1.ListExchangesRequest]) (*connect.Response[localv1.ListExchangesResponse], error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lastList = req.Msg
	m := req.Msg
	resp := &localv1.ListExchangesResponse{}
	for _, x := range d.exchanges {
		if (m.Kind != "" && x.Kind != m.Kind) || (m.Direction != "" && x.Direction != m.Direction) || (m.Status != "" && x.Status != m.Status) {
			continue
		}
		x = proto.Clone(x).(*localv1.Exchange)
		x.Fields, x.History = nil, nil
		resp.Exchanges = append(resp.Exchanges, x)
	}
	return connect.NewResponse(resp), nil
}

func (d *fakeFed) find(id string) (*localv1.Exchange, error) {
	for _, x := range d.exchanges {
		if x.Id == id {
			return x, nil
		}
	}
	return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("no exchange %q", id))
}

func (d *fakeFed) GetExchange(ctx context.Context, req *connect.Request[localv1.GetExchangeRequest]) (*connect.Response[localv1.GetExchangeResponse], error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	x, err := d.find(req.Msg.Id)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&localv1.GetExchangeResponse{Exchange: x}), nil
}

func (d *fakeFed) ResyncExchange(ctx context.Context, req *connect.Request[localv1.ResyncExchangeRequest]) (*connect.Response[localv1.ResyncExchangeResponse], error) {
	if err := mustWrite(ctx); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	x, err := d.find(req.Msg.Id)
	if err != nil {
		return nil, err
	}
	out := proto.Clone(x).(*localv1.Exchange)
	out.Fields, out.Sync = nil, "in_sync"
	return connect.NewResponse(&localv1.ResyncExchangeResponse{Exchange: out, Delivered: true}), nil
}

func (d *fakeFed) Respond(ctx context.Context, req *connect.Request[localv1.RespondRequest]) (*connect.Response[localv1.RespondResponse], error) {
	if err := mustWrite(ctx); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.responds++
	x, err := d.find(req.Msg.Id)
	if err != nil {
		return nil, err
	}
	status := map[string]string{"accept": "accepted", "reject": "rejected", "done": "done", "revoke": "revoked"}[req.Msg.Response]
	if status == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("unknown response %q", req.Msg.Response))
	}
	if x.Status != "delivered" && req.Msg.Response != "revoke" {
		return nil, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("cannot %s an %s %s that is %s", req.Msg.Response, x.Direction, x.Kind, x.Status))
	}
	x.Status = status
	x.History = append(x.History, &localv1.ExchangeEvent{At: timestamppb.New(t0.Add(6 * time.Hour)), Status: status, Actor: "admin", Reason: req.Msg.Reason})
	if x.Kind == "transfer" && status == "accepted" {
		x.LocalCase, x.Fields = "case-9", nil
	}
	out := proto.Clone(x).(*localv1.Exchange)
	out.Fields = nil
	return connect.NewResponse(&localv1.RespondResponse{Exchange: out, Delivered: true}), nil
}

func (d *fakeFed) Outbox(ctx context.Context, _ *connect.Request[localv1.OutboxRequest]) (*connect.Response[localv1.OutboxResponse], error) {
	return connect.NewResponse(&localv1.OutboxResponse{Entries: []*localv1.OutboxEntry{{
		EnvelopeId: "env-1", Exchange: "ex-2", Kind: "referral.revoke", Peer: "agency-b", Attempts: 3,
		LastError: "dial: connection refused", Created: timestamppb.New(t0), NextAttempt: timestamppb.New(t0.Add(10 * time.Minute)),
		Expires: timestamppb.New(t0.AddDate(0, 0, 7)),
	}}}), nil
}

func (d *fakeFed) RetryOutbox(ctx context.Context, req *connect.Request[localv1.RetryOutboxRequest]) (*connect.Response[localv1.RetryOutboxResponse], error) {
	if err := mustWrite(ctx); err != nil {
		return nil, err
	}
	switch req.Msg.Peer {
	case "", "agency-b":
		return connect.NewResponse(&localv1.RetryOutboxResponse{Waiting: 1}), nil
	case "agency-c":
		return connect.NewResponse(&localv1.RetryOutboxResponse{}), nil
	}
	return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("agency %q is not a known peer", req.Msg.Peer))
}

func TestOutboxRetry(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		args   []string
		code   int
		stdout string
	}{
		{[]string{"outbox", "retry"}, 0, "retrying now: 1 envelope(s) waiting for every peer (see cpx outbox)\n"},
		{[]string{"outbox", "retry", "agency-b"}, 0, "retrying now: 1 envelope(s) waiting for agency-b (see cpx outbox)\n"},
		{[]string{"outbox", "retry", "agency-c"}, 0, "nothing is waiting for agency-c\n"},
		{[]string{"outbox", "retry", "agency-b", "-o", "json"}, 0, "{\n  \"waiting\": 1\n}\n"},
		{[]string{"outbox", "retry", "agency-x"}, command.ExitNotFound, ""},
		{[]string{"outbox", "retry", "agency-b", "agency-c"}, command.ExitUsage, ""},
	}
	for _, tt := range tests {
		r := e.run(t, tt.args...).want(t, tt.code)
		if r.stdout != tt.stdout {
			t.Errorf("cpx %s: got stdout %q, want %q", strings.Join(tt.args, " "), r.stdout, tt.stdout)
		}
	}
	e.as(t, "viewer-token", "outbox", "retry").want(t, command.ExitForbidden)
}

func TestNodeIDAndPeers(t *testing.T) {
	e := newEnv(t)
	golden(t, "node-id.txt", e.run(t, "node", "id").want(t, 0).stdout)
	golden(t, "node-id.json", e.run(t, "node", "id", "-o", "json").want(t, 0).stdout)

	addr := "/ip4/10.0.0.9/tcp/7071/p2p/12D3KooWAgencyCPeer"
	r := e.run(t, "peer", "add", addr, "--agency", "agency-c").want(t, 0)
	if r.stdout != "added peer agency-c (peer id 12D3KooWAgencyCPeer)\nnot reachable yet: keys are exchanged when the nodes first connect\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	golden(t, "peer-list.txt", e.run(t, "peer", "list").want(t, 0).stdout)
	golden(t, "peer-list.json", e.run(t, "peer", "list", "-o", "json").want(t, 0).stdout)
	e.run(t, "peer", "remove", "agency-c").want(t, 0)
	if n := len(e.node.fed().peers); n != 2 {
		t.Errorf("%d peers after remove, want 2", n)
	}
	e.run(t, "peer", "remove", "agency-c").want(t, command.ExitNotFound)
	e.as(t, "viewer-token", "peer", "add", addr, "--agency", "agency-c").want(t, command.ExitForbidden)
}

// testISP is an ISP between agency-a (this node) and agency-b.
const testISP = `format = "cpx-isp/1"
id = "test-isp"
version = 1
title = "Test ISP"
valid_from = 2025-01-01T00:00:00Z
valid_until = 2026-12-31T23:59:59Z

[[party]]
agency = "agency-a"
name = "Agency A"
signing_key = "aaaaaaa-1111111"

[[party]]
agency = "agency-b"
name = "Agency B"
signing_key = "bbbbbbb-1111111"

[[purpose]]
name = "referral"
from = ["agency-a", "agency-b"]
to = ["agency-a", "agency-b"]
required_consent = ["consent_for_services"]
fields = ["age", "sex"]
retention_days = 365
`

func TestPolicySignApplyShow(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "isp.toml")
	if err := os.WriteFile(file, []byte(testISP), 0o640); err != nil {
		t.Fatal(err)
	}
	r := e.run(t, "policy", "sign", file).want(t, 0)
	golden(t, "policy-sign.txt", strings.ReplaceAll(r.stdout, file, "FILE"))
	isp, err := policy.ParseISP(mustRead(t, file))
	if err != nil {
		t.Fatal(err)
	}
	if len(isp.Signatures) != 1 || isp.Signatures[0].Agency != "agency-a" {
		t.Errorf("signatures in the file: %+v", isp.Signatures)
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, %v: want the file's mode 0640 kept", st.Mode(), err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %d files, want 1: no temporary files", len(ents))
	}

	// --out leaves the input alone; -o json prints the response and the
	// summary goes to stderr.
	os.WriteFile(file, []byte(testISP), 0o644)
	out := filepath.Join(dir, "signed.toml")
	r = e.run(t, "policy", "sign", "--out", out, file, "-o", "json").want(t, 0)
	if string(mustRead(t, file)) != testISP {
		t.Error("policy sign --out changed the input file")
	}
	var resp struct {
		Document []byte `json:"document"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &resp); err != nil || string(resp.Document) != string(mustRead(t, out)) {
		t.Errorf("json %q: %v; want the signed document", r.stdout, err)
	}
	if !strings.Contains(r.stderr, "not signed by:  agency-b") {
		t.Errorf("stderr %q: want who has not signed", r.stderr)
	}
	// To stdout.
	r = e.run(t, "policy", "sign", file, "--out", "-").want(t, 0)
	if r.stdout != string(mustRead(t, out)) {
		t.Errorf("stdout:\n%s\nwant the signed document", r.stdout)
	}

	r = e.run(t, "policy", "apply", out).want(t, 0)
	golden(t, "policy-apply.txt", r.stdout)
	golden(t, "policy-list.txt", e.run(t, "policy", "list").want(t, 0).stdout)
	golden(t, "policy-show.txt", e.run(t, "policy", "show", "test-isp").want(t, 0).stdout)
	golden(t, "policy-show.json", e.run(t, "policy", "show", "test-isp", "-o", "json").want(t, 0).stdout)
	r = e.run(t, "policy", "show", "--document", "test-isp").want(t, 0)
	if r.stdout != string(mustRead(t, out)) {
		t.Errorf("--document:\n%s", r.stdout)
	}
	e.run(t, "policy", "show", "nope").want(t, command.ExitNotFound)
	e.run(t, "policy", "apply", filepath.Join(dir, "missing.toml")).want(t, command.ExitError)
	os.WriteFile(file, []byte("format = 3\n"), 0o644)
	r = e.run(t, "policy", "sign", file).want(t, command.ExitError)
	if !strings.HasPrefix(r.stderr, "cpx: invalid request: ") || string(mustRead(t, file)) != "format = 3\n" {
		t.Errorf("stderr %q; the file must be left alone", r.stderr)
	}
}

func TestPolicyCheck(t *testing.T) {
	e := newEnv(t)
	r := e.run(t, "policy", "check", "--case", "CP-0001", "--to", "agency-b", "--purpose", "referral", "--override-consent").want(t, 0)
	golden(t, "policy-check.txt", r.stdout)
	if c := e.node.fed().lastCheck; c.CaseId != "CP-0001" || c.Purpose != "referral" || !c.OverrideConsent {
		t.Errorf("sent %v", c)
	}
	r = e.run(t, "policy", "check", "--case", "CP-0001", "--to", "agency-c", "--purpose", "transfer").want(t, command.ExitError)
	if !strings.HasPrefix(r.stdout, "refused: no ISP in force lets agency-a send a transfer to agency-c\n") {
		t.Errorf("stdout %q", r.stdout)
	}
	if r.stderr != "cpx: the ISPs in force do not allow this transfer of CP-0001 to agency-c\n" {
		t.Errorf("stderr %q", r.stderr)
	}
	r = e.run(t, "policy", "check", "--case", "CP-0001", "--to", "agency-c", "--purpose", "transfer", "-o", "json").want(t, command.ExitError)
	golden(t, "policy-check-refused.json", r.stdout)
}

func TestCaseReferTransfer(t *testing.T) {
	e := newEnv(t)
	r := e.run(t, "case", "refer", "CP-0001", "--to", "agency-b", "--service", "health", "--note", "urgent, see notes").want(t, 0)
	if r.stdout != "referral ex-4 of case CP-0001 to agency-b: pending\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	s := e.node.fed().lastSend
	if s.Kind != "referral" || s.CaseId != "CP-0001" || s.To != "agency-b" || s.Service != "health" || s.Note != "urgent, see notes" || s.OverrideConsent {
		t.Errorf("sent %v", s)
	}
	r = e.run(t, "case", "transfer", "--override-consent", "CP-0001", "--to", "agency-b", "-o", "json").want(t, 0)
	golden(t, "case-transfer.json", r.stdout)
	if s := e.node.fed().lastSend; s.Kind != "transfer" || !s.OverrideConsent {
		t.Errorf("sent %v", s)
	}
	r = e.run(t, "case", "refer", "CP-0001", "--to", "agency-z", "--service", "health").want(t, command.ExitError)
	if r.stderr != "cpx: conflict: agency-z is not a peer\n" {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestReferralsAndTransfers(t *testing.T) {
	e := newEnv(t)
	golden(t, "referral-list.txt", e.run(t, "referral", "list").want(t, 0).stdout)
	golden(t, "referral-list.json", e.run(t, "referral", "list", "-o", "json").want(t, 0).stdout)
	e.run(t, "referral", "list", "--incoming", "--status", "delivered").want(t, 0)
	if l := e.node.fed().lastList; l.Kind != "referral" || l.Direction != "incoming" || l.Status != "delivered" {
		t.Errorf("sent %v", l)
	}
	golden(t, "referral-show.txt", e.run(t, "referral", "show", "ex-1").want(t, 0).stdout)
	golden(t, "transfer-list.txt", e.run(t, "transfer", "list", "--outgoing=false").want(t, 0).stdout)
	e.run(t, "referral", "show", "ex-99").want(t, command.ExitNotFound)

	r := e.run(t, "referral", "reject", "ex-1", "--reason", "no capacity").want(t, 0)
	if r.stdout != "referral ex-1 of case B-0007: rejected\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	r = e.run(t, "referral", "accept", "ex-1").want(t, 1)
	if r.stderr != "cpx: conflict: cannot accept an incoming referral that is rejected\n" {
		t.Errorf("stderr %q", r.stderr)
	}
	r = e.run(t, "transfer", "accept", "ex-3").want(t, 0)
	if r.stdout != "transfer ex-3 of case B-0009: accepted\nthe case is now case case-9 on this node (cpx case get case-9)\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	golden(t, "transfer-show.txt", e.run(t, "transfer", "show", "ex-3").want(t, 0).stdout)
	e.run(t, "referral", "revoke", "ex-2", "-o", "json").want(t, 0)
}

func TestOutbox(t *testing.T) {
	e := newEnv(t)
	golden(t, "outbox.txt", e.run(t, "outbox").want(t, 0).stdout)
	golden(t, "outbox.json", e.run(t, "outbox", "-o", "json").want(t, 0).stdout)
}

func TestFederationUsageErrors(t *testing.T) {
	e := newEnv(t)
	addr := "/ip4/10.0.0.9/tcp/7071/p2p/12D3KooWAgencyCPeer"
	for _, args := range [][]string{
		{"node", "id", "extra"},
		{"peer", "add", addr},
		{"peer", "add", "--agency", "agency-c"},
		{"peer", "add", "/ip4/10.0.0.9/tcp/7071", "--agency", "agency-c"},
		{"peer", "remove"},
		{"policy", "apply"},
		{"policy", "sign", "a.toml", "--out", "-", "-o", "json"},
		{"policy", "check", "--to", "agency-b", "--purpose", "referral"},
		{"policy", "check", "--case", "CP-0001", "--purpose", "referral"},
		{"policy", "check", "--case", "CP-0001", "--to", "agency-b"},
		{"policy", "check", "--case", "CP-0001", "--to", "agency-b", "--purpose", "tracing"},
		{"case", "refer", "CP-0001", "--to", "agency-b"},
		{"case", "refer", "CP-0001", "--service", "health"},
		{"case", "transfer", "CP-0001"},
		{"case", "transfer", "CP-0001", "--to", "agency-b", "--service", "health"},
		{"referral", "list", "--incoming", "--outgoing"},
		{"referral", "reject", "ex-1"},
		{"referral", "reject", "ex-1", "--reason", "  "},
		{"referral", "frobnicate", "ex-1"},
		{"transfer", "reject", "ex-3"},
		{"transfer", "done", "ex-3"},
		{"transfer", "accept"},
		{"outbox", "extra"},
	} {
		r := e.run(t, args...)
		if r.code != command.ExitUsage || !strings.HasPrefix(r.stderr, "cpx: ") {
			t.Errorf("cpx %s: exit %d, stderr %q; want exit 2 and a message", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	if n := e.node.fed().responds; n != 0 {
		t.Errorf("%d Respond calls for usage errors", n)
	}
	r := e.run(t, "referral", "reject", "ex-1")
	if !strings.Contains(r.stderr, "--reason is required") {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestFederationHelp(t *testing.T) {
	for _, args := range [][]string{
		{"node", "id"}, {"peer", "add"}, {"peer", "list"}, {"peer", "remove"},
		{"policy", "apply"}, {"policy", "list"}, {"policy", "show"}, {"policy", "sign"}, {"policy", "check"},
		{"case", "refer"}, {"case", "transfer"},
		{"referral", "list"}, {"referral", "show"}, {"referral", "accept"}, {"referral", "reject"}, {"referral", "done"}, {"referral", "revoke"},
		{"transfer", "list"}, {"transfer", "show"}, {"transfer", "accept"}, {"transfer", "reject"},
		{"outbox"}, {"outbox", "retry"},
	} {
		r := cpx(t, append(args, "--help")...).want(t, 0)
		if !strings.Contains(r.stdout, "cpx "+strings.Join(args, " ")) || !strings.Contains(r.stdout, "Example") {
			t.Errorf("cpx %s --help:\n%s", strings.Join(args, " "), r.stdout)
		}
	}
}

func (d *fakeFed) RekeyPeer(ctx context.Context, req *connect.Request[localv1.RekeyPeerRequest]) (*connect.Response[localv1.RekeyPeerResponse], error) {
	return nil, connect.NewError(connect.CodeUnimplemented, nil)
}
