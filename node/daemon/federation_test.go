package daemon_test

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/cpx-node/cpx/crypto/keyring"
	"github.com/cpx-node/cpx/node/config"
	"github.com/cpx-node/cpx/node/daemon"
	"github.com/cpx-node/cpx/node/exchange"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
	"github.com/cpx-node/cpx/protocol/gen/cpx/local/v1/localv1connect"
)

var (
	pass = []byte("test passphrase")
	kdf  = keyring.KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}
)

// client is one user's view of a node's local API.
type client struct {
	cases localv1connect.CaseServiceClient
	users localv1connect.UserServiceClient
	fed   localv1connect.FederationServiceClient
}

type bearer string

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(r)
}

func dial(url, token string) client {
	hc := &http.Client{Transport: bearer(token)}
	return client{
		cases: localv1connect.NewCaseServiceClient(hc, url),
		users: localv1connect.NewUserServiceClient(hc, url),
		fed:   localv1connect.NewFederationServiceClient(hc, url),
	}
}

// node is an in-process node with real Badger and real libp2p on loopback.
type node struct {
	agency      string
	dir         string
	cfg         config.Config
	url         string
	admin       client
	adminToken  bearer
	worker      client // a caseworker
	workerToken bearer
	nd          *daemon.Node
	stop        func()
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func newNode(t testing.TB, agency string) *node {
	t.Helper()
	n := &node{agency: agency, dir: filepath.Join(t.TempDir(), agency)}
	n.cfg = config.Default()
	n.cfg.Agency = config.Agency{ID: agency, Name: agency}
	// Fixed ports, so the node can be restarted at the same addresses.
	n.cfg.API.Listen = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	n.cfg.P2P.Listen = []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", freePort(t))}
	creds, err := daemon.Init(context.Background(), daemon.InitOptions{Dir: n.dir, Config: n.cfg, Passphrase: pass, KDF: &kdf})
	if err != nil {
		t.Fatal(err)
	}
	n.start(t)
	n.admin, n.adminToken = dial(n.url, creds.Token), bearer(creds.Token)
	resp, err := n.admin.users.AddUser(context.Background(), connect.NewRequest(&localv1.AddUserRequest{Name: "worker", Role: "caseworker", Group: exchange.DefaultIntakeGroup}))
	if err != nil {
		t.Fatal(err)
	}
	n.worker, n.workerToken = dial(n.url, resp.Msg.Token), bearer(resp.Msg.Token)
	return n
}

func (n *node) start(t testing.TB) {
	t.Helper()
	nd, err := daemon.Open(context.Background(), n.dir, n.cfg, pass, nil)
	if err != nil {
		t.Fatal(err)
	}
	n.nd = nd
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- nd.Run(ctx, func(u string) { ready <- u }) }()
	select {
	case u := <-ready:
		n.url = u
	case err := <-done:
		t.Fatal(err)
	}
	stopped := false
	n.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-done
		nd.Close()
	}
	t.Cleanup(n.stop)
}

func (n *node) id(t testing.TB) *localv1.NodeIDResponse {
	t.Helper()
	resp, err := n.admin.fed.NodeID(context.Background(), connect.NewRequest(&localv1.NodeIDRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Msg
}

func tcpAddr(id *localv1.NodeIDResponse) string {
	for _, a := range id.Addrs {
		if strings.Contains(a, "/tcp/") {
			return a
		}
	}
	return id.Addrs[0]
}

// connect makes every node a peer of every other one.
func connectAll(t testing.TB, nodes ...*node) {
	t.Helper()
	ids := map[string]*localv1.NodeIDResponse{}
	for _, n := range nodes {
		ids[n.agency] = n.id(t)
	}
	for _, n := range nodes {
		for _, m := range nodes {
			if n == m {
				continue
			}
			if _, err := n.admin.fed.AddPeer(context.Background(), connect.NewRequest(&localv1.AddPeerRequest{Addr: tcpAddr(ids[m.agency]), Agency: m.agency})); err != nil {
				t.Fatalf("%s adds %s: %v", n.agency, m.agency, err)
			}
		}
	}
}

const ispTemplate = `format = "cpx-isp/1"
id = "test-isp"
version = 1
title = "Test ISP"
valid_from = 2026-01-01T00:00:00Z
valid_until = 2030-01-01T00:00:00Z

[[party]]
agency = "agency-a"
name = "A"
signing_key = "%s"

[[party]]
agency = "agency-b"
name = "B"
signing_key = "%s"

[[party]]
agency = "agency-c"
name = "C"
signing_key = "%s"

[[purpose]]
name = "referral"
from = ["agency-a"]
to = ["agency-b"]
required_consent = ["consent_for_services", "disclosure_other_orgs"]
forms = ["registration"]
withheld = ["name_other", "telephone_current"]
retention_days = 90

[[purpose]]
name = "transfer"
from = ["agency-a"]
to = ["agency-c"]
required_consent = ["disclosure_other_orgs"]
forms = ["registration", "protection_concerns"]
retention = "stub"

[[purpose]]
name = "tracing"
from = ["*"]
to = ["*"]
required_consent = ["consent_for_tracing"]
fields = ["sex", "age"]
`

// applyISP has every node sign the ISP in turn, then applies it everywhere.
func applyISP(t testing.TB, nodes ...*node) {
	t.Helper()
	applyISPDoc(t, ispTemplate, nodes...)
}

// applyISPDoc is applyISP with another ISP: tmpl takes the nodes' key
// fingerprints in order.
func applyISPDoc(t testing.TB, tmpl string, nodes ...*node) {
	t.Helper()
	var fps []any
	for _, n := range nodes {
		fps = append(fps, n.id(t).KeyFingerprint)
	}
	doc := []byte(fmt.Sprintf(tmpl, fps...))
	ctx := context.Background()
	for _, n := range nodes {
		resp, err := n.admin.fed.SignPolicy(ctx, connect.NewRequest(&localv1.SignPolicyRequest{Document: doc}))
		if err != nil {
			t.Fatalf("%s signs: %v", n.agency, err)
		}
		doc = resp.Msg.Document
	}
	for _, n := range nodes {
		resp, err := n.admin.fed.ApplyPolicy(ctx, connect.NewRequest(&localv1.ApplyPolicyRequest{Document: doc}))
		if err != nil {
			t.Fatalf("%s applies: %v", n.agency, err)
		}
		if !resp.Msg.Policy.InForce {
			t.Fatalf("%s: ISP not in force: %s", n.agency, resp.Msg.Policy.Problem)
		}
	}
}

func createCase(t testing.TB, n *node, fields map[string]any) *localv1.Case {
	t.Helper()
	f, err := structpb.NewStruct(fields)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := n.worker.cases.CreateCase(context.Background(), connect.NewRequest(&localv1.CreateCaseRequest{Form: "registration", Fields: f}))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Msg.Case
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func exchangeStatus(t *testing.T, n *node, id string) string {
	t.Helper()
	resp, err := n.admin.fed.ListExchanges(context.Background(), connect.NewRequest(&localv1.ListExchangesRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range resp.Msg.Exchanges {
		if e.Id == id {
			return e.Status
		}
	}
	return ""
}

func respond(t *testing.T, n *node, id, response, reason string) {
	t.Helper()
	if _, err := n.worker.fed.Respond(context.Background(), connect.NewRequest(&localv1.RespondRequest{Id: id, Response: response, Reason: reason})); err != nil {
		t.Fatalf("%s %s %s: %v", n.agency, response, id, err)
	}
}

var consenting = map[string]any{
	"name_first": "Amina", "name_last": "Hassan", "name_other": "Mina H.", "sex": "female", "age": 9,
	"telephone_current": "+252 61 000 0000", "risk_level": "medium",
	"consent_for_services": true, "disclosure_other_orgs": true, "protection_concerns": []any{"separated"},
}

func TestFederation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three nodes")
	}
	a, b, c := newNode(t, "agency-a"), newNode(t, "agency-b"), newNode(t, "agency-c")
	connectAll(t, a, b, c)
	applyISP(t, a, b, c)
	ctx := context.Background()

	// Refer: B sees only what the ISP lets go, accepts and completes it.
	cs := createCase(t, a, consenting)
	sent, err := a.worker.fed.Send(ctx, connect.NewRequest(&localv1.SendRequest{Kind: "referral", CaseId: cs.Id, To: "agency-b", Service: "psychosocial", Note: "urgent"}))
	if err != nil {
		t.Fatal(err)
	}
	ref := sent.Msg.Exchange.Id
	waitFor(t, "B to receive the referral", func() bool { return exchangeStatus(t, b, ref) == "delivered" })
	waitFor(t, "A to hold B's receipt", func() bool { return exchangeStatus(t, a, ref) == "delivered" })
	got, err := b.worker.fed.GetExchange(ctx, connect.NewRequest(&localv1.GetExchangeRequest{Id: ref}))
	if err != nil {
		t.Fatal(err)
	}
	fields := got.Msg.Exchange.Fields.AsMap()
	for _, f := range []string{"name_other", "telephone_current", "protection_concerns", "consent_for_services"} {
		if _, ok := fields[f]; ok {
			t.Errorf("B received field %q, which the ISP does not let go", f)
		}
	}
	if fields["name_first"] != "Amina" || got.Msg.Exchange.Service != "psychosocial" || got.Msg.Exchange.Direction != "incoming" {
		t.Errorf("B received %v", got.Msg.Exchange)
	}
	// A caseworker of another group of B: the referral is not theirs to
	// see or answer, and the refusal looks like a missing exchange.
	other, err := b.admin.users.AddUser(ctx, connect.NewRequest(&localv1.AddUserRequest{Name: "outsider", Role: "caseworker", Group: "north"}))
	if err != nil {
		t.Fatal(err)
	}
	outsider := dial(b.url, other.Msg.Token)
	if l, err := outsider.fed.ListExchanges(ctx, connect.NewRequest(&localv1.ListExchangesRequest{Direction: "incoming"})); err != nil || len(l.Msg.Exchanges) != 0 {
		t.Errorf("another group's caseworker lists %v, %v; want nothing", l, err)
	}
	_, errGet := outsider.fed.GetExchange(ctx, connect.NewRequest(&localv1.GetExchangeRequest{Id: ref}))
	_, errMissing := outsider.fed.GetExchange(ctx, connect.NewRequest(&localv1.GetExchangeRequest{Id: "no-such-exchange"}))
	if connect.CodeOf(errGet) != connect.CodeNotFound || strings.Replace(errGet.Error(), ref, "ID", 1) != strings.Replace(errMissing.Error(), "no-such-exchange", "ID", 1) {
		t.Errorf("another group's caseworker reading the referral: %v; a missing one: %v (want the same not found)", errGet, errMissing)
	}
	for _, r := range []string{"accept", "reject", "done"} {
		if _, err := outsider.fed.Respond(ctx, connect.NewRequest(&localv1.RespondRequest{Id: ref, Response: r, Reason: "x"})); connect.CodeOf(err) != connect.CodeNotFound {
			t.Errorf("another group's caseworker %s: %v, want not found", r, err)
		}
	}
	respond(t, b, ref, "accept", "")
	waitFor(t, "A to see the acceptance", func() bool { return exchangeStatus(t, a, ref) == "accepted" })
	respond(t, b, ref, "done", "session held")
	waitFor(t, "A to see it done", func() bool { return exchangeStatus(t, a, ref) == "done" })

	// Revoke.
	sent, err = a.worker.fed.Send(ctx, connect.NewRequest(&localv1.SendRequest{Kind: "referral", CaseId: cs.Id, To: "agency-b", Service: "legal"}))
	if err != nil {
		t.Fatal(err)
	}
	rev := sent.Msg.Exchange.Id
	waitFor(t, "B to receive the second referral", func() bool { return exchangeStatus(t, b, rev) == "delivered" })
	respond(t, a, rev, "revoke", "sent by mistake")
	waitFor(t, "B to see the revocation", func() bool { return exchangeStatus(t, b, rev) == "revoked" })

	// Refusals by policy: no consent; a purpose the ISP does not give A→C.
	noConsent := createCase(t, a, map[string]any{"name_first": "Omar", "sex": "male"})
	if _, err := a.worker.fed.Send(ctx, connect.NewRequest(&localv1.SendRequest{Kind: "referral", CaseId: noConsent.Id, To: "agency-b", Service: "health"})); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("referral without consent: got %v, want permission denied", err)
	}
	if _, err := a.worker.fed.Send(ctx, connect.NewRequest(&localv1.SendRequest{Kind: "referral", CaseId: cs.Id, To: "agency-c", Service: "health"})); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("referral to C: got %v, want permission denied", err)
	}

	// Transfer to C: C accepts and owns a new case; A keeps a stub.
	sent, err = a.worker.fed.Send(ctx, connect.NewRequest(&localv1.SendRequest{Kind: "transfer", CaseId: cs.Id, To: "agency-c"}))
	if err != nil {
		t.Fatal(err)
	}
	tr := sent.Msg.Exchange.Id
	waitFor(t, "C to receive the transfer", func() bool { return exchangeStatus(t, c, tr) == "delivered" })
	respond(t, c, tr, "accept", "")
	waitFor(t, "A to see the transfer accepted", func() bool { return exchangeStatus(t, a, tr) == "accepted" })
	after, err := a.worker.cases.GetCase(ctx, connect.NewRequest(&localv1.GetCaseRequest{Id: cs.Id}))
	if err != nil {
		t.Fatal(err)
	}
	if after.Msg.Case.Status != "transferred" || after.Msg.Case.Fields.AsMap()["name_first"] != nil {
		t.Errorf("A after the transfer: status %s, fields %v; want transferred with a stub", after.Msg.Case.Status, after.Msg.Case.Fields.AsMap())
	}
	list, err := c.worker.cases.ListCases(ctx, connect.NewRequest(&localv1.ListCasesRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Msg.Cases) != 1 || list.Msg.Cases[0].Fields.AsMap()["name_first"] != "Amina" || list.Msg.Cases[0].Owner != "worker" {
		t.Errorf("C's cases after accepting: %v", list.Msg.Cases)
	}
}

func TestOfflinePeerGetsItExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and restarts nodes")
	}
	a, b := newNode(t, "agency-a"), newNode(t, "agency-b")
	c := newNode(t, "agency-c")
	connectAll(t, a, b, c)
	applyISP(t, a, b, c)
	ctx := context.Background()
	b.stop()

	cs := createCase(t, a, consenting)
	sent, err := a.worker.fed.Send(ctx, connect.NewRequest(&localv1.SendRequest{Kind: "referral", CaseId: cs.Id, To: "agency-b", Service: "psychosocial"}))
	if err != nil {
		t.Fatal(err)
	}
	id := sent.Msg.Exchange.Id
	waitFor(t, "a failed attempt in A's outbox", func() bool {
		resp, err := a.admin.fed.Outbox(ctx, connect.NewRequest(&localv1.OutboxRequest{}))
		return err == nil && len(resp.Msg.Entries) == 1 && resp.Msg.Entries[0].Attempts >= 1 && resp.Msg.Entries[0].LastError != ""
	})
	b.start(t)
	waitFor(t, "B to receive the referral after its restart", func() bool { return exchangeStatus(t, b, id) == "delivered" })
	waitFor(t, "A's outbox to empty", func() bool {
		resp, err := a.admin.fed.Outbox(ctx, connect.NewRequest(&localv1.OutboxRequest{}))
		return err == nil && len(resp.Msg.Entries) == 0
	})
	resp, err := b.admin.fed.ListExchanges(ctx, connect.NewRequest(&localv1.ListExchangesRequest{Direction: "incoming"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Msg.Exchanges) != 1 {
		t.Errorf("B holds %d incoming exchanges, want exactly 1", len(resp.Msg.Exchanges))
	}
}

// TestAgencyKeyRotation: an envelope sealed to the receiver's old key while
// the receiver was away still opens after the receiver rotated its keys,
// and what is sent afterwards uses the new key.
func TestAgencyKeyRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and restarts nodes")
	}
	a, b, c := newNode(t, "agency-a"), newNode(t, "agency-b"), newNode(t, "agency-c")
	connectAll(t, a, b, c)
	applyISP(t, a, b, c)
	ctx := context.Background()
	oldKey := b.id(t).KeyFingerprint

	b.stop()
	cs := createCase(t, a, consenting)
	first, err := a.worker.fed.Send(ctx, connect.NewRequest(&localv1.SendRequest{Kind: "referral", CaseId: cs.Id, To: "agency-b", Service: "health"}))
	if err != nil {
		t.Fatal(err)
	}
	b.start(t)
	keys := localv1connect.NewKeysServiceClient(&http.Client{Transport: b.adminToken}, b.url)
	rot, err := keys.RotateKeys(ctx, connect.NewRequest(&localv1.RotateKeysRequest{Agency: true}))
	if err != nil {
		t.Fatal(err)
	}
	newKey := rot.Msg.NewAgencyKey.Fingerprint
	if newKey == oldKey || !slices.Contains(rot.Msg.AnnouncedTo, "agency-a") {
		t.Fatalf("rotation: %v", rot.Msg)
	}
	waitFor(t, "the envelope sealed to the old key to open", func() bool { return exchangeStatus(t, b, first.Msg.Exchange.Id) == "delivered" })

	peers, err := a.admin.fed.ListPeers(ctx, connect.NewRequest(&localv1.ListPeersRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range peers.Msg.Peers {
		if p.Agency == "agency-b" && (len(p.KeyFingerprints) != 2 || p.KeyFingerprints[1] != newKey) {
			t.Errorf("A knows B's keys %v, want [old, %s]", p.KeyFingerprints, newKey)
		}
	}
	second, err := a.worker.fed.Send(ctx, connect.NewRequest(&localv1.SendRequest{Kind: "referral", CaseId: cs.Id, To: "agency-b", Service: "legal"}))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the envelope sealed to the new key to open", func() bool { return exchangeStatus(t, b, second.Msg.Exchange.Id) == "delivered" })
}

// TestFederatedTracing: A asks the other agencies about a tracing request
// with privacy-preserving encodings; B answers with a band and a handle for
// its consented case only, never for the identical case without consent.
func TestFederatedTracing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three nodes")
	}
	a, b, c := newNode(t, "agency-a"), newNode(t, "agency-b"), newNode(t, "agency-c")
	connectAll(t, a, b, c)
	applyISP(t, a, b, c)
	ctx := context.Background()
	child := map[string]any{"name_first": "Mohammed", "name_middle": "Ali", "name_last": "Hassan", "sex": "male", "age": 9, "consent_for_tracing": true}
	createCase(t, b, child)
	twin := maps.Clone(child)
	twin["consent_for_tracing"] = false
	createCase(t, b, twin)

	tr := localv1connect.NewTracingServiceClient(&http.Client{Transport: a.workerToken}, a.url)
	newRequest := func(consent bool) string {
		set, _ := structpb.NewStruct(map[string]any{
			"inquirer_name": "Fatuma Hassan", "consent_for_tracing": consent,
			"trace.name": "Mohammed Ali Hassan", "trace.sex": "male", "trace.age": "9",
		})
		resp, err := tr.CreateTracingRequest(ctx, connect.NewRequest(&localv1.CreateTracingRequestRequest{Set: set}))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Msg.Request.Id
	}
	id := newRequest(true)
	resp, err := tr.FederatedMatchTracingRequest(ctx, connect.NewRequest(&localv1.FederatedMatchTracingRequestRequest{Id: id}))
	if err != nil {
		t.Fatal(err)
	}
	var fromB []*localv1.FederatedTracingMatch
	for _, m := range resp.Msg.Matches {
		if m.Agency == "agency-b" {
			fromB = append(fromB, m)
		}
		if m.Agency == "agency-c" {
			t.Errorf("agency-c, which holds no case, answered %v", m)
		}
	}
	if len(fromB) != 1 || fromB[0].Band != "likely" || len(fromB[0].Handle) != 32 || fromB[0].Trace != 1 {
		t.Fatalf("answers from B: %v (unreachable %v); want exactly one likely match with a handle", fromB, resp.Msg.Unreachable)
	}

	// A asks B to disclose the case behind the handle; B's caseworker
	// accepts, and what the tracing rule lets go (sex and age) arrives.
	det, err := tr.RequestTracingDetails(ctx, connect.NewRequest(&localv1.RequestTracingDetailsRequest{Agency: "agency-b", Handle: fromB[0].Handle, Note: "the mother is here"}))
	if err != nil {
		t.Fatal(err)
	}
	ex := det.Msg.Exchange.Id
	waitFor(t, "B to receive the disclosure request", func() bool { return exchangeStatus(t, b, ex) == "delivered" })
	respond(t, b, ex, "accept", "")
	waitFor(t, "A to receive the disclosed case", func() bool { return exchangeStatus(t, a, ex) == "accepted" })
	got, err := a.worker.fed.GetExchange(ctx, connect.NewRequest(&localv1.GetExchangeRequest{Id: ex}))
	if err != nil {
		t.Fatal(err)
	}
	if f := got.Msg.Exchange.Fields.AsMap(); len(f) != 2 || f["sex"] != "male" || f["age"] != 9.0 {
		t.Errorf("disclosed fields %v, want only sex and age (the ISP's tracing rule)", f)
	}
	if _, err := tr.RequestTracingDetails(ctx, connect.NewRequest(&localv1.RequestTracingDetailsRequest{Agency: "agency-b", Handle: "not-a-handle"})); err != nil {
		t.Fatal(err) // queued; B refuses it on delivery
	}

	// Without the inquirer's consent nothing is asked.
	if _, err := tr.FederatedMatchTracingRequest(ctx, connect.NewRequest(&localv1.FederatedMatchTracingRequestRequest{Id: newRequest(false)})); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("without consent: got %v, want permission denied", err)
	}

	// A peer asking beyond its rate is refused (and audited at B).
	var limited bool
	for range 300 { // the bucket refills at 30 a minute: enough even on a slow machine
		resp, err := tr.FederatedMatchTracingRequest(ctx, connect.NewRequest(&localv1.FederatedMatchTracingRequestRequest{Id: id}))
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range resp.Msg.Unreachable {
			if strings.Contains(u, "agency-b") && strings.Contains(u, "too many queries") {
				limited = true
			}
		}
		if limited {
			break
		}
	}
	if !limited {
		t.Error("B never limited A's queries")
	}
	auditB := localv1connect.NewAuditServiceClient(&http.Client{Transport: b.adminToken}, b.url)
	tail, err := auditB.TailAudit(ctx, connect.NewRequest(&localv1.TailAuditRequest{N: 1000}))
	if err != nil {
		t.Fatal(err)
	}
	var answered, refused bool
	for _, e := range tail.Msg.Entries {
		answered = answered || e.Action == "tracing.query.answer"
		refused = refused || e.Action == "tracing.query.refused"
	}
	if !answered || !refused {
		t.Errorf("B's audit: answered %v, refused %v; want both", answered, refused)
	}
}
