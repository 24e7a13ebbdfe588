package conformance_test

import (
	"context"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/cpx-node/cpx/crypto/agencykey"
	"github.com/cpx-node/cpx/crypto/envelope"
	"github.com/cpx-node/cpx/node/exchange"
	"github.com/cpx-node/cpx/node/nodedir"
	"github.com/cpx-node/cpx/node/p2p"
	"github.com/cpx-node/cpx/policy"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
	"github.com/cpx-node/cpx/protocol/gen/cpx/local/v1/localv1connect"
	peerv1 "github.com/cpx-node/cpx/protocol/gen/cpx/peer/v1"
	"github.com/cpx-node/cpx/protocol/gen/cpx/peer/v1/peerv1connect"
)

// An attack is one file of testdata/attacks: a way of tampering with what
// a peer sends, and what the node under test must answer.
type attack struct {
	Description string `json:"description"`
	Mutation    string `json:"mutation"`
	// Want is accepted, replayed, refused_at_gater, or the Connect code of
	// the refusal (permission_denied, invalid_argument).
	Want  string `json:"want"`
	Error string `json:"error"`
}

// fakePeer is a peer node driven by the test (as in Complement): a real
// libp2p host and agency keys, whose messages the test shapes at will.
type fakePeer struct {
	agency string
	host   *p2p.Host
	key    *agencykey.Private
	older  []*agencykey.Private // announced before key, oldest first
	theirs [][]byte             // the node's announcements, learnt in Hello

	mu sync.Mutex
	// onDeliver and onBatch answer the node's deliveries; nil: the
	// method is not served (Unimplemented).
	onDeliver func(env []byte) ([]byte, error)
	onBatch   func(envs [][]byte) (*peerv1.DeliverBatchResponse, error)
}

// answer sets how f answers the node's deliveries.
func (f *fakePeer) answer(deliver func([]byte) ([]byte, error), batch func([][]byte) (*peerv1.DeliverBatchResponse, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onDeliver, f.onBatch = deliver, batch
}

// announcements are f's key announcements, each signed by the previous.
func (f *fakePeer) announcements() ([][]byte, error) {
	var out [][]byte
	var prev *agencykey.Private
	for _, k := range append(slices.Clone(f.older), f.key) {
		a, err := agencykey.Announce(k, f.host.ID().String(), time.Now(), prev)
		if err != nil {
			return nil, err
		}
		b, err := a.MarshalBinary()
		if err != nil {
			return nil, err
		}
		out = append(out, b)
		prev = k
	}
	return out, nil
}

type fakeHandler struct {
	peerv1connect.UnimplementedPeerServiceHandler
	f *fakePeer
}

func (h fakeHandler) Hello(ctx context.Context, req *connect.Request[peerv1.HelloRequest]) (*connect.Response[peerv1.HelloResponse], error) {
	h.f.theirs = req.Msg.Announcements
	anns, err := h.f.announcements()
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&peerv1.HelloResponse{Announcements: anns}), nil
}

// applyISP has the node behind fed sign the ISP doc, adds the signatures
// of the fake peers' keys signers, and applies it; it returns the
// node's refusal to apply it.
func applyISP(t *testing.T, fed localv1connect.FederationServiceClient, doc []byte, signers ...*agencykey.Private) error {
	t.Helper()
	ctx := context.Background()
	resp, err := fed.SignPolicy(ctx, connect.NewRequest(&localv1.SignPolicyRequest{Document: doc}))
	if err != nil {
		t.Fatal(err)
	}
	doc = resp.Msg.Document
	for _, k := range signers {
		p, err := policy.ParseISP(doc)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := k.Sign(p.SigningBytes())
		if err != nil {
			t.Fatal(err)
		}
		p.AddSignature(policy.ISPSignature{Agency: k.Public().Agency, Key: sig.Key, Ed25519: sig.Ed25519, MLDSA65: sig.MLDSA65})
		if doc, err = p.Marshal(); err != nil {
			t.Fatal(err)
		}
	}
	_, err = fed.ApplyPolicy(ctx, connect.NewRequest(&localv1.ApplyPolicyRequest{Document: doc}))
	return err
}

func (h fakeHandler) Deliver(ctx context.Context, req *connect.Request[peerv1.DeliverRequest]) (*connect.Response[peerv1.DeliverResponse], error) {
	h.f.mu.Lock()
	deliver := h.f.onDeliver
	h.f.mu.Unlock()
	if deliver == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("not served"))
	}
	receipt, err := deliver(req.Msg.Envelope)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&peerv1.DeliverResponse{Receipt: receipt}), nil
}

func (h fakeHandler) DeliverBatch(ctx context.Context, req *connect.Request[peerv1.DeliverBatchRequest]) (*connect.Response[peerv1.DeliverBatchResponse], error) {
	h.f.mu.Lock()
	batch := h.f.onBatch
	h.f.mu.Unlock()
	if batch == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("not served"))
	}
	resp, err := batch(req.Msg.Envelopes)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(resp), nil
}

// partner makes f a partner of the node target, as its administrator
// would (fed): f lets the node through, the node adds it and greets it.
// It returns the key the node announced.
func (f *fakePeer) partner(t *testing.T, fed localv1connect.FederationServiceClient, target *localv1.NodeIDResponse) agencykey.Public {
	t.Helper()
	nodePeer, err := peer.Decode(target.PeerId)
	if err != nil {
		t.Fatal(err)
	}
	f.host.Gater().Allow(nodePeer)
	if _, err := fed.AddPeer(context.Background(), connect.NewRequest(&localv1.AddPeerRequest{Addr: f.host.Addrs()[0], Agency: f.agency})); err != nil {
		t.Fatal(err)
	}
	if len(f.theirs) == 0 {
		t.Fatal("the node did not greet the fake peer")
	}
	ann, err := agencykey.UnmarshalAnnouncement(f.theirs[len(f.theirs)-1])
	if err != nil {
		t.Fatal(err)
	}
	return ann.Key
}

// adminClients returns the federation and audit API clients of n under its
// administrator's token (from its credentials.json), and n's identity.
func adminClients(t *testing.T, n *node) (localv1connect.FederationServiceClient, localv1connect.AuditServiceClient, *localv1.NodeIDResponse) {
	t.Helper()
	creds, err := nodedir.ReadCredentials(n.dir)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: authed(creds.Token)}
	fed := localv1connect.NewFederationServiceClient(hc, n.url)
	id, err := fed.NodeID(context.Background(), connect.NewRequest(&localv1.NodeIDRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	return fed, localv1connect.NewAuditServiceClient(hc, n.url), id.Msg
}

func newFakePeer(t *testing.T, agency string) *fakePeer {
	t.Helper()
	id, err := p2p.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	h, err := p2p.New(p2p.Config{Identity: id, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	now := time.Now()
	key, err := agencykey.Generate(agency, 1, now.Add(-3*time.Hour), now.Add(24*time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakePeer{agency: agency, host: h, key: key}
	h.Handle(peerv1connect.NewPeerServiceHandler(fakeHandler{f: f}))
	return f
}

func (f *fakePeer) client(t *testing.T, target *localv1.NodeIDResponse) peerv1connect.PeerServiceClient {
	t.Helper()
	id, err := peer.Decode(target.PeerId)
	if err != nil {
		t.Fatal(err)
	}
	var addrs []ma.Multiaddr
	for _, a := range target.Addrs {
		m, _ := ma.SplitLast(ma.StringCast(a))
		addrs = append(addrs, m)
	}
	hc, err := f.host.Client(id, addrs)
	if err != nil {
		t.Fatal(err)
	}
	return peerv1connect.NewPeerServiceClient(hc, p2p.BaseURL)
}

type authed string

func (a authed) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(a))
	return http.DefaultTransport.RoundTrip(r)
}

const attackISP = `format = "cpx-isp/1"
id = "%s"
version = %d
title = "Conformance ISP"
valid_from = 2026-01-01T00:00:00Z
valid_until = 2030-01-01T00:00:00Z

[[party]]
agency = "agency-a"
name = "Fake peer A"
signing_key = "%s"

[[party]]
agency = "agency-b"
name = "Node under test"
signing_key = "%s"

[[purpose]]
name = "referral"
from = ["agency-a"]
to = ["agency-b"]
required_consent = ["consent_for_services"]
forms = ["registration"]
withheld = ["telephone_current"]
`

func TestAttackCorpus(t *testing.T) {
	ctx := context.Background()
	dir := initNode(t, "agency-b")
	// A short key grace, so that the node's own superseded key is refused
	// for new envelopes at once (40-old-recipient-key).
	n := startEnv(t, dir, []string{"CPX_EXCHANGE_KEY_GRACE=1m"})
	fed, auditc, target := adminClients(t, n)

	// The fake peer A is added by the node's administrator; they greet.
	// A announces three key versions: v1 expired a day ago, v2 valid but
	// superseded by v3 three hours ago, v3 current.
	a := newFakePeer(t, "agency-a")
	now := time.Now()
	expiredKey, err := agencykey.Generate("agency-a", 1, now.Add(-72*time.Hour), now.Add(-24*time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	supersededKey, err := agencykey.Generate("agency-a", 2, now.Add(-48*time.Hour), now.Add(24*time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.key, err = agencykey.Generate("agency-a", 3, now.Add(-3*time.Hour), now.Add(24*time.Hour), nil); err != nil {
		t.Fatal(err)
	}
	a.older = []*agencykey.Private{expiredKey, supersededKey}
	nodeKey := a.partner(t, fed, target)

	// ISPs: one signed by both (in force), one signed by the node only
	// (which the node refuses to apply).
	apply := func(id string, version int, signedByA bool) {
		doc := []byte(fmt.Sprintf(attackISP, id, version, a.key.Fingerprint(), target.KeyFingerprint))
		var signers []*agencykey.Private
		if signedByA {
			signers = append(signers, a.key)
		}
		err := applyISP(t, fed, doc, signers...)
		switch {
		case signedByA && err != nil:
			t.Fatal(err)
		case !signedByA && connect.CodeOf(err) != connect.CodeFailedPrecondition:
			t.Fatalf("applying an ISP agency-a has not signed: %v, want it refused", err)
		}
	}
	apply("conf-isp", 1, true)
	apply("half-isp", 1, false)

	other, err := agencykey.Generate("agency-c", 1, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	var delivered []byte // the last accepted envelope, for the replay
	var deliveredID string

	seal := func(header envelope.Header, fields map[string]any, note string, sender *agencykey.Private, to agencykey.Public) []byte {
		t.Helper()
		return sealEnvelope(t, header, referralMessage(fields, note), sender, to)
	}
	build := func(mutation string) []byte {
		now := time.Now().UTC()
		h := envelope.Header{Sender: "agency-a", Recipient: "agency-b", Purpose: "referral", ISP: "conf-isp", ISPVersion: 1, Created: now, Expires: now.Add(time.Hour)}
		fields := map[string]any{"name_first": "Test", "sex": "female"}
		note := ""
		sender, to := a.key, nodeKey
		switch mutation {
		case "created-future":
			h.Created, h.Expires = now.Add(time.Hour), now.Add(2*time.Hour)
		case "lifetime-2200":
			h.Expires = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
		case "backdated-before-key":
			h.Created = a.key.Public().NotBefore.Add(-time.Minute)
			return forge(t, h, referralMessage(fields, ""), a.key, to)
		case "expired-sender-key":
			// Seal refuses a key outside its validity: a rogue peer does not.
			return forge(t, h, referralMessage(fields, ""), expiredKey, to)
		case "superseded-sender-key":
			sender = supersededKey
		case "reused-id":
			h.ID = deliveredID
			fields["name_first"] = "Other"
		case "replay-bad-signature":
			e, err := envelope.Unmarshal(delivered)
			if err != nil {
				t.Fatal(err)
			}
			e.Sig.Ed25519[3] ^= 1
			b, err := e.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			return b
		case "oversized-envelope":
			fields["name_first"] = strings.Repeat("n", 5<<20)
		case "oversized-header":
			h.ContentType = strings.Repeat("x", 128)
			return growContentType(t, seal(h, fields, note, sender, to))
		case "unknown-purpose":
			h.Purpose = "weather-reports"
		case "old-recipient-key":
			// The node rotated its keys (and told A); A seals to the old one.
			must(t, "keys", "rotate", "--agency", "--dir", dir)
			if len(a.theirs) < 2 {
				t.Fatalf("the node announced %d keys after rotating, want 2", len(a.theirs))
			}
			old, err := agencykey.UnmarshalAnnouncement(a.theirs[0])
			if err != nil {
				t.Fatal(err)
			}
			to = old.Key
		case "huge-note":
			note = strings.Repeat("free text beside the fields ", 1<<20/28)
		case "replay":
			return delivered
		case "wrong-recipient":
			h.Recipient, to = "agency-c", other.Public()
		case "expired":
			h.Created, h.Expires = now.Add(-50*time.Minute), now.Add(-10*time.Minute)
		case "unknown-isp":
			h.ISP = "no-such-isp"
		case "isp-version":
			h.ISPVersion = 2
		case "unsigned-isp":
			h.ISP = "half-isp"
		case "extra-field":
			fields["telephone_current"] = "+252 61 000 0000"
		case "sender-mismatch":
			h.Sender, sender = "agency-c", other
		}
		b := seal(h, fields, note, sender, to)
		e, err := envelope.Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		switch mutation {
		case "flip-ciphertext":
			e.Ciphertext[len(e.Ciphertext)/2] ^= 1
		case "header-purpose":
			e.Header.Purpose = "transfer"
		case "drop-ed25519":
			e.Sig.Ed25519 = nil
		case "flip-mldsa":
			e.Sig.MLDSA65[10] ^= 1
		case "flip-ed25519":
			e.Sig.Ed25519[10] ^= 1
		default:
			return b
		}
		out, err := e.MarshalBinary()
		if err != nil {
			// An envelope the encoder refuses (e.g. a missing signature)
			// still goes on the wire as bytes: patch the encoding by hand.
			return corrupt(t, b, mutation)
		}
		return out
	}
	counts := func() (incoming int, refusals int) {
		t.Helper()
		list, err := fed.ListExchanges(ctx, connect.NewRequest(&localv1.ListExchangesRequest{Direction: "incoming"}))
		if err != nil {
			t.Fatal(err)
		}
		refusals = countAudit(t, auditc, func(e *localv1.AuditEntry) bool {
			return e.Outcome == "denied" && (e.Action == "envelope.refused" || e.Action == "envelope.attack" || e.Action == "envelope.batch.refused" || e.Action == "peer.hello" || e.Action == "peer.refused") || e.Action == "envelope.replayed"
		})
		return len(list.Msg.Exchanges), refusals
	}

	files, err := filepath.Glob("testdata/attacks/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no attack corpus: %v", err)
	}
	for _, file := range files {
		var at attack
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &at); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			inBefore, refBefore := counts()
			var err error
			switch at.Mutation {
			case "unknown-peer":
				stranger := newFakePeer(t, "agency-x")
				_, err = stranger.client(t, target).Hello(ctx, connect.NewRequest(&peerv1.HelloRequest{}))
			case "impostor-hello":
				impostor := newFakePeer(t, "agency-z")
				impostor.partner(t, fed, target)
				impostor.key = a.key // announce A's keys from Z's node
				ann, _ := agencykey.Announce(a.key, impostor.host.ID().String(), time.Now(), nil)
				b, _ := ann.MarshalBinary()
				_, err = impostor.client(t, target).Hello(ctx, connect.NewRequest(&peerv1.HelloRequest{Announcements: [][]byte{b}}))
			case "hello-unrelated-key", "hello-rollback", "hello-many-announcements":
				var anns [][]byte
				switch at.Mutation {
				case "hello-unrelated-key":
					// A key of agency-a that no key the node knows certifies.
					k, _ := agencykey.Generate("agency-a", 4, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), nil)
					anns = announceChain(t, a.host.ID().String(), k)
				case "hello-rollback":
					// A new v2, certified by the old v1: a version that does
					// not move forward.
					k, _ := agencykey.Generate("agency-a", 2, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), nil)
					anns = announceChain(t, a.host.ID().String(), expiredKey, k)
				default:
					all, aerr := a.announcements()
					if aerr != nil {
						t.Fatal(aerr)
					}
					for len(anns) < 9 {
						anns = append(anns, all...)
					}
				}
				_, err = a.client(t, target).Hello(ctx, connect.NewRequest(&peerv1.HelloRequest{Announcements: anns}))
			case "rekey":
				// A's node really changed identity: a new key, certified by
				// nothing the node knows. Refused on Hello; taken by an
				// operator's rekey only with the right fingerprint.
				fresh, _ := agencykey.Generate("agency-a", 1, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), nil)
				a.key, a.older = fresh, nil
				anns := announceChain(t, a.host.ID().String(), fresh)
				if _, herr := a.client(t, target).Hello(ctx, connect.NewRequest(&peerv1.HelloRequest{Announcements: anns})); connect.CodeOf(herr) != connect.CodePermissionDenied {
					t.Fatalf("hello with a new identity: %v, want permission denied", herr)
				}
				if r := cpx(t, nil, "peer", "rekey", "--fingerprint", other.Fingerprint(), "--dir", dir, "agency-a"); r.code == 0 {
					t.Fatalf("rekey with a wrong fingerprint exited 0: %s", r.stdout)
				}
				must(t, "peer", "rekey", "--fingerprint", fresh.Fingerprint(), "--dir", dir, "agency-a")
				tail, terr := auditc.TailAudit(ctx, connect.NewRequest(&localv1.TailAuditRequest{N: 5}))
				if terr != nil {
					t.Fatal(terr)
				}
				var rekeyed bool
				for _, e := range tail.Msg.Entries {
					rekeyed = rekeyed || e.Action == "peer.rekey" && e.Outcome == "ok"
				}
				if !rekeyed {
					t.Error("no peer.rekey entry in the audit log")
				}
				// The node holds the new key now (ISPs signed with the old
				// one stay out of force until re-signed).
				peers, perr := fed.ListPeers(ctx, connect.NewRequest(&localv1.ListPeersRequest{}))
				if perr != nil {
					t.Fatal(perr)
				}
				for _, p := range peers.Msg.Peers {
					if p.Agency == "agency-a" && !slices.Contains(p.KeyFingerprints, fresh.Fingerprint()) {
						t.Errorf("agency-a's keys after rekey: %v, want %s", p.KeyFingerprints, fresh.Fingerprint())
					}
				}
			case "batch-too-many":
				envs := make([][]byte, exchange.MaxBatchEnvelopes+1)
				for i := range envs {
					envs[i] = build("")
				}
				_, err = a.client(t, target).DeliverBatch(ctx, connect.NewRequest(&peerv1.DeliverBatchRequest{Envelopes: envs}))
			case "batch-mixed":
				first, second := build(""), build("")
				envs := [][]byte{first, build("flip-ciphertext"), build("sender-mismatch"), second, first, build("reused-id")}
				resp, berr := a.client(t, target).DeliverBatch(ctx, connect.NewRequest(&peerv1.DeliverBatchRequest{Envelopes: envs}))
				if berr != nil {
					t.Fatal(berr)
				}
				checkBatchReply(t, resp.Msg, nodeKey, envs, []string{"", "permission_denied", "permission_denied", "", "", "permission_denied"})
				inAfter, refAfter := counts()
				// Two taken; two refusals, one replay and one reuse of an id audited.
				if inAfter != inBefore+2 || refAfter < refBefore+4 {
					t.Fatalf("batch: %d new exchanges, %d audit entries; want 2 and at least 4", inAfter-inBefore, refAfter-refBefore)
				}
				return
			default:
				env := build(at.Mutation)
				var resp *connect.Response[peerv1.DeliverResponse]
				resp, err = a.client(t, target).Deliver(ctx, connect.NewRequest(&peerv1.DeliverRequest{Envelope: env}))
				if err == nil && at.Want == "accepted" {
					delivered = env
					if e, uerr := envelope.Unmarshal(env); uerr == nil {
						deliveredID = e.Header.ID
					}
					if len(resp.Msg.Receipt) == 0 {
						t.Error("accepted without a receipt")
					}
				}
			}
			inAfter, refAfter := counts()
			switch at.Want {
			case "rekeyed":
				return
			case "accepted":
				if err != nil || inAfter != inBefore+1 {
					t.Fatalf("got %v and %d new exchanges; want accepted with 1", err, inAfter-inBefore)
				}
				return
			case "replayed":
				if err != nil || inAfter != inBefore || refAfter != refBefore+1 {
					t.Fatalf("replay: got %v, %d new exchanges, %d audit entries; want the receipt again, nothing new, one audit entry", err, inAfter-inBefore, refAfter-refBefore)
				}
				return
			case "refused_at_gater":
				if err == nil {
					t.Fatal("a stranger got through the gater")
				}
			default:
				if got := connect.CodeOf(err).String(); got != at.Want || !strings.Contains(err.Error(), at.Error) {
					t.Fatalf("got %v (code %s), want code %s with %q", err, got, at.Want, at.Error)
				}
			}
			if inAfter != inBefore {
				t.Errorf("a refused attack left %d exchanges behind", inAfter-inBefore)
			}
			if refAfter <= refBefore {
				t.Errorf("a refused attack left no audit entry")
			}
		})
	}
}

// checkBatchReply checks a batch's answer: each envelope's outcome is the
// Connect code in want ("" for taken), and the one receipt, signed by
// the node's key, names exactly the envelopes taken as new.
func checkBatchReply(t *testing.T, reply *peerv1.DeliverBatchResponse, nodeKey agencykey.Public, envs [][]byte, want []string) {
	t.Helper()
	if len(reply.Outcomes) != len(envs) {
		t.Fatalf("%d outcomes for %d envelopes", len(reply.Outcomes), len(envs))
	}
	var taken []string
	for i, o := range reply.Outcomes {
		got := ""
		if o.Code != 0 {
			got = connect.Code(o.Code).String()
		}
		if got != want[i] {
			t.Errorf("envelope %d: got %q (%s), want %q", i, got, o.Reason, want[i])
		}
		e, err := envelope.Unmarshal(envs[i])
		if err != nil {
			t.Fatal(err)
		}
		if got == "" && o.Receipt == nil && !slices.Contains(taken, e.Header.ID) {
			taken = append(taken, e.Header.ID)
		}
	}
	var sr struct {
		Body, Sig []byte
	}
	if err := json.Unmarshal(reply.Receipt, &sr); err != nil {
		t.Fatalf("batch receipt: %v", err)
	}
	sig, err := agencykey.UnmarshalSignature(sr.Sig)
	if err != nil {
		t.Fatal(err)
	}
	if err := nodeKey.Verify(append([]byte("cpx-receipt-v1\n"), sr.Body...), sig); err != nil {
		t.Fatalf("batch receipt signature: %v", err)
	}
	var r exchange.Receipt
	if err := json.Unmarshal(sr.Body, &r); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.EnvelopeIDs, taken) || r.From != "agency-b" || r.To != "agency-a" {
		t.Errorf("batch receipt names %v from %s to %s; want %v from agency-b to agency-a", r.EnvelopeIDs, r.From, r.To, taken)
	}
}

// corrupt produces the wire bytes of a mutation the encoder would refuse
// to produce itself: a missing Ed25519 signature is sent as an empty field.
func corrupt(t *testing.T, valid []byte, mutation string) []byte {
	t.Helper()
	if mutation != "drop-ed25519" {
		t.Fatalf("cannot encode mutation %s", mutation)
	}
	e, _ := envelope.Unmarshal(valid)
	sig, _ := e.Sig.MarshalBinary()
	i := strings.Index(string(valid), string(sig))
	if i < 0 {
		t.Fatal("signature not found in the encoding")
	}
	// Zero the Ed25519 signature bytes: a malformed, missing signature.
	out := append([]byte{}, valid...)
	for j := i; j < i+len(sig) && j < len(out); j++ {
		out[j] = 0
	}
	return out
}

func referralMessage(fields map[string]any, note string) []byte {
	msg, _ := json.Marshal(map[string]any{"kind": "referral", "exchange": uuid.NewString(), "case_number": "A-1", "service": "health", "actor": "tester@agency-a", "note": note, "fields": fields})
	return msg
}

// forge seals and signs an envelope as a rogue peer would, without
// envelope.Seal's checks (e.g. that the sender key is valid at h.Created):
// HPKE with the header as associated data, then both signatures over the
// body.
func forge(t *testing.T, h envelope.Header, plaintext []byte, sender *agencykey.Private, to agencykey.Public) []byte {
	t.Helper()
	var id [16]byte
	rand.Read(id[:])
	h.ID = hex.EncodeToString(id[:])
	h.PlaintextHash = sha256.Sum256(plaintext)
	h.SenderKey, h.RecipientKey = sender.Fingerprint(), to.Fingerprint()
	hdr, err := h.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	pk, err := to.KEMKey()
	if err != nil {
		t.Fatal(err)
	}
	enc, sealer, err := hpke.NewSender(pk, hpke.HKDFSHA256(), hpke.AES256GCM(), []byte(envelope.Info))
	if err != nil {
		t.Fatal(err)
	}
	ct, err := sealer.Seal(hdr, plaintext)
	if err != nil {
		t.Fatal(err)
	}
	placeholder, err := sender.Sign([]byte("placeholder"))
	if err != nil {
		t.Fatal(err)
	}
	e := &envelope.Envelope{Header: h, Enc: enc, Ciphertext: ct, Sig: placeholder}
	b, err := e.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	sigBytes, err := placeholder.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	body := b[:len(b)-4-len(sigBytes)]
	if e.Sig, err = sender.Sign(body); err != nil {
		t.Fatal(err)
	}
	if b, err = e.MarshalBinary(); err != nil {
		t.Fatal(err)
	}
	return b
}

// sealEnvelope seals plain from sender to the key to under h, and
// returns the envelope's encoding.
func sealEnvelope(t *testing.T, h envelope.Header, plain []byte, sender *agencykey.Private, to agencykey.Public) []byte {
	t.Helper()
	e, err := envelope.Seal(rand.Reader, h, plain, sender, to)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// countAudit counts the node's last 10,000 audit entries that match.
func countAudit(t *testing.T, auditc localv1connect.AuditServiceClient, match func(*localv1.AuditEntry) bool) int {
	t.Helper()
	tail, err := auditc.TailAudit(context.Background(), connect.NewRequest(&localv1.TailAuditRequest{N: 10000}))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range tail.Msg.Entries {
		if match(e) {
			n++
		}
	}
	return n
}

// growContentType lengthens the header's last field (a content type of
// the largest size) by one byte in the wire encoding, fixing up both
// length prefixes: a header one byte over its limit.
func growContentType(t *testing.T, env []byte) []byte {
	t.Helper()
	hlen := int(binary.BigEndian.Uint32(env[5:9]))
	end := 9 + hlen
	ct := end - 128 - 2
	if binary.BigEndian.Uint16(env[ct:]) != 128 {
		t.Fatal("content type not found at the end of the header")
	}
	out := append([]byte{}, env[:ct]...)
	out = binary.BigEndian.AppendUint16(out, 129)
	out = append(out, env[ct+2:end]...)
	out = append(out, 'x')
	out = append(out, env[end:]...)
	binary.BigEndian.PutUint32(out[5:9], uint32(hlen+1))
	return out
}

// announceChain announces keys, each signed by the one before.
func announceChain(t *testing.T, peerID string, keys ...*agencykey.Private) [][]byte {
	t.Helper()
	var out [][]byte
	var prev *agencykey.Private
	for _, k := range keys {
		a, err := agencykey.Announce(k, peerID, time.Now(), prev)
		if err != nil {
			t.Fatal(err)
		}
		b, err := a.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
		prev = k
	}
	return out
}
