package conformance_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/cpx-node/cpx/node/nodedir"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
	"github.com/cpx-node/cpx/protocol/gen/cpx/local/v1/localv1connect"
)

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// initFedNode inits a node with a fixed libp2p port, so that it keeps its
// address across restarts.
func initFedNode(t *testing.T, agency string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), agency)
	must(t, "init", "--dir", dir, "--agency", agency, "--listen", "127.0.0.1:0",
		"--p2p-listen", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", freeTCPPort(t)))
	return dir
}

const crashISP = `format = "cpx-isp/1"
id = "crash-isp"
version = 1
title = "Crash test ISP"
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

[[purpose]]
name = "referral"
from = ["agency-a"]
to = ["agency-b"]
required_consent = ["consent_for_services"]
forms = ["registration"]
`

// federate makes two CLI-managed nodes peers and applies an ISP signed by
// both, all through the cpx commands an administrator would use.
func federate(t *testing.T, dirA, dirB string) {
	t.Helper()
	type nodeID struct {
		PeerID         string   `json:"peer_id"`
		Addrs          []string `json:"addrs"`
		KeyFingerprint string   `json:"key_fingerprint"`
	}
	var idA, idB nodeID
	mustJSON(t, &idA, "node", "id", "--dir", dirA)
	mustJSON(t, &idB, "node", "id", "--dir", dirB)
	must(t, "peer", "add", idB.Addrs[0], "--agency", "agency-b", "--dir", dirA)
	must(t, "peer", "add", idA.Addrs[0], "--agency", "agency-a", "--dir", dirB)
	if out := must(t, "peer", "list", "--dir", dirA); !strings.Contains(out, "agency-b") {
		t.Fatalf("peer list on A:\n%s", out)
	}
	isp := filepath.Join(t.TempDir(), "isp.toml")
	os.WriteFile(isp, []byte(fmt.Sprintf(crashISP, idA.KeyFingerprint, idB.KeyFingerprint)), 0o644)
	must(t, "policy", "sign", isp, "--dir", dirA)
	must(t, "policy", "sign", isp, "--dir", dirB)
	for _, d := range []string{dirA, dirB} {
		out := must(t, "policy", "apply", isp, "--dir", d)
		if strings.Contains(out, "not in force") {
			t.Fatalf("policy apply:\n%s", out)
		}
	}
}

func fedClient(t *testing.T, dir, token string) (localv1connect.CaseServiceClient, localv1connect.FederationServiceClient) {
	t.Helper()
	u, err := nodedir.ReadAPIURL(dir)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: bearer(token)}
	return localv1connect.NewCaseServiceClient(hc, u), localv1connect.NewFederationServiceClient(hc, u)
}

// TestKillDuringDeliveries kills the receiver, then the sender, with
// SIGKILL while many referrals are in flight, restarts both, and checks
// that every referral the sender acknowledged arrives exactly once.
func TestKillDuringDeliveries(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: kills and restarts nodes")
	}
	dirA, dirB := initFedNode(t, "agency-a"), initFedNode(t, "agency-b")
	a, b := start(t, dirA), start(t, dirB)
	federate(t, dirA, dirB)

	workerToken := addUser(t, dirA, "wanjiru", "caseworker")
	var admB struct {
		Token string `json:"token"`
	}
	credsB, err := nodedir.ReadCredentials(dirB)
	if err != nil {
		t.Fatal(err)
	}
	admB.Token = credsB.Token

	const total = 40
	ctx := context.Background()
	var (
		mu   sync.Mutex
		sent = map[string]bool{}
	)
	send := func(n int) {
		cases, fed := fedClient(t, dirA, workerToken)
		for i := 0; i < n; i++ {
			f, _ := structpb.NewStruct(map[string]any{"name_first": fmt.Sprintf("Child%d", i), "sex": "female", "consent_for_services": true})
			c, err := cases.CreateCase(ctx, connect.NewRequest(&localv1.CreateCaseRequest{Form: "registration", Fields: f}))
			if err != nil {
				t.Fatal(err)
			}
			r, err := fed.Send(ctx, connect.NewRequest(&localv1.SendRequest{Kind: "referral", CaseId: c.Msg.Case.Id, To: "agency-b", Service: "health"}))
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			sent[r.Msg.Exchange.Id] = true
			mu.Unlock()
		}
	}
	send(total / 2)
	b.kill() // the receiver dies while deliveries go on
	send(total / 2)
	a.kill()       // and the sender dies with its outbox full
	start(t, dirB) // both come back; start stops them when the test ends
	a = start(t, dirA)

	_, fedB := fedClient(t, dirB, admB.Token)
	deadline := time.Now().Add(90 * time.Second)
	var got map[string]int
	for time.Now().Before(deadline) {
		resp, err := fedB.ListExchanges(ctx, connect.NewRequest(&localv1.ListExchangesRequest{Direction: "incoming"}))
		if err != nil {
			t.Fatal(err)
		}
		got = map[string]int{}
		for _, e := range resp.Msg.Exchanges {
			got[e.Id]++
		}
		if len(got) == total {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("referral %s arrived %d times", id, n)
		}
		if !sent[id] {
			t.Errorf("B holds referral %s that A never acknowledged", id)
		}
	}
	for id := range sent {
		if got[id] == 0 {
			t.Errorf("referral %s acknowledged by A never arrived at B", id)
		}
	}
	for _, d := range []string{dirA, dirB} {
		var v struct {
			OK      bool   `json:"ok"`
			Problem string `json:"problem"`
		}
		mustJSON(t, &v, "audit", "verify", "--dir", d)
		if !v.OK {
			t.Errorf("%s: audit chain broken: %s", d, v.Problem)
		}
	}
	_ = a
}
