package conformance_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/nodedir"
)

// peerJSON is the subset of `cpx peer list -o json` these tests read.
type peerJSON struct {
	Agency       string   `json:"agency"`
	Addrs        []string `json:"addrs"`
	Reachability string   `json:"reachability"`
	LastSeen     string   `json:"last_seen"`
	LastError    string   `json:"last_error"`
}

func peerOf(t *testing.T, dir, agency string) peerJSON {
	t.Helper()
	var list struct{ Peers []peerJSON }
	mustJSON(t, &list, "peer", "list", "--dir", dir)
	for _, p := range list.Peers {
		if p.Agency == agency {
			return p
		}
	}
	t.Fatalf("peer list on %s has no %s", dir, agency)
	return peerJSON{}
}

// incoming returns the ids of the referrals dir has received.
func incoming(t *testing.T, dir, token string) []string {
	t.Helper()
	var list struct {
		Exchanges []struct {
			ID string `json:"id"`
		} `json:"exchanges"`
	}
	mustJSON(t, &list, "referral", "list", "--incoming", "--dir", dir, "--token", token)
	var ids []string
	for _, e := range list.Exchanges {
		ids = append(ids, e.ID)
	}
	return ids
}

// TestPeerMovesToANewPort stops a node and starts it again on another
// port. Without any operator action its partner learns the new address
// (the restarted node greets it, and it announces its addresses signed),
// delivers what it queued meanwhile at once, sends what comes afterwards,
// and still knows the new address after its own restart.
func TestPeerMovesToANewPort(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: restarts nodes")
	}
	dirA, dirB := initFedNode(t, "agency-a"), initFedNode(t, "agency-b")
	a, b := start(t, dirA), start(t, dirB)
	federate(t, dirA, dirB)
	worker := addUser(t, dirA, "wanjiru", "caseworker")
	credsB, err := nodedir.ReadCredentials(dirB)
	if err != nil {
		t.Fatal(err)
	}
	adminB := credsB.Token
	refer := func(name string) string {
		t.Helper()
		var created struct{ Case caseJSON }
		mustJSON(t, &created, "case", "create", "--form", "registration", "--set", "name_first="+name, "--set", "sex=female",
			"--set", "consent_for_services=yes", "--dir", dirA, "--token", worker)
		var sent struct {
			Exchange struct {
				ID string `json:"id"`
			} `json:"exchange"`
		}
		mustJSON(t, &sent, "case", "refer", created.Case.ID, "--to", "agency-b", "--service", "health", "--dir", dirA, "--token", worker)
		if sent.Exchange.ID == "" {
			t.Fatalf("case refer: no exchange id")
		}
		return sent.Exchange.ID
	}
	// waitFor polls B until it holds every referral in ids.
	waitFor := func(what string, ids ...string) time.Duration {
		t.Helper()
		t0 := time.Now()
		for time.Since(t0) < 30*time.Second {
			got := incoming(t, dirB, adminB)
			if !slices.ContainsFunc(ids, func(id string) bool { return !slices.Contains(got, id) }) {
				return time.Since(t0)
			}
			time.Sleep(100 * time.Millisecond)
		}
		p := peerOf(t, dirA, "agency-b")
		t.Fatalf("%s: B did not receive %v in 30 s; A dials B at %v (%s, last error %q)\n%s", what, ids, p.Addrs, p.Reachability, p.LastError, must(t, "outbox", "--dir", dirA))
		return 0
	}

	waitFor("before the move", refer("Amina"))
	oldAddrs := peerOf(t, dirA, "agency-b").Addrs

	b.stop(t)
	queued := refer("Hodan") // waits in A's outbox while B is down
	newAddr := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", freeTCPPort(t))
	b = startEnv(t, dirB, []string{"CPX_P2P_LISTEN=" + newAddr})
	took := waitFor("queued while B was down", queued)
	t.Logf("the envelope queued while B was down arrived %v after B came back on %s", took.Round(time.Millisecond), newAddr)

	p := peerOf(t, dirA, "agency-b")
	if len(p.Addrs) == 0 || p.Addrs[0] != newAddr {
		t.Errorf("A's peer list after B moved: got addresses %v, want %s first (before: %v)", p.Addrs, newAddr, oldAddrs)
	}
	if p.Reachability != "connected" && p.Reachability != "reachable" {
		t.Errorf("A's peer list after B moved: got %q (last error %q), want connected or reachable", p.Reachability, p.LastError)
	}
	waitFor("sent after the move", refer("Ayaan"))

	// A keeps the new address across its own restart, and B learns A's
	// new address the same way.
	a.stop(t)
	newAddrA := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", freeTCPPort(t))
	a = startEnv(t, dirA, []string{"CPX_P2P_LISTEN=" + newAddrA})
	if p := peerOf(t, dirA, "agency-b"); len(p.Addrs) == 0 || p.Addrs[0] != newAddr {
		t.Errorf("A's peer list after A restarted: got %v, want %s first", p.Addrs, newAddr)
	}
	waitFor("sent after A moved too", refer("Farhan"))
	deadline := time.Now().Add(20 * time.Second)
	for {
		p := peerOf(t, dirB, "agency-a")
		if len(p.Addrs) > 0 && p.Addrs[0] == newAddrA {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B's peer list after A moved: got %v, want %s first", p.Addrs, newAddrA)
		}
		time.Sleep(100 * time.Millisecond)
	}
	out := must(t, "peer", "list", "--dir", dirA)
	for _, want := range []string{"STATE", "LAST CONTACT", "ADDRESSES", newAddr} {
		if !strings.Contains(out, want) {
			t.Errorf("peer list lacks %q:\n%s", want, out)
		}
	}
	_ = a
}
