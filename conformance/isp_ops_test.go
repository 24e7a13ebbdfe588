package conformance_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/nodedir"
)

// opsISP is a renewable ISP between agency-a and agency-b: %[1]d is the
// version, %[2]s and %[3]s the parties' key fingerprints, %[4]s extra
// purpose rules.
const opsISP = `format = "cpx-isp/1"
id = "ops-isp"
version = %[1]d
title = "Operations ISP"
valid_from = 2026-01-01T00:00:00Z
valid_until = 2030-12-31T23:59:59Z

[[party]]
agency = "agency-a"
name = "A"
signing_key = "%[2]s"

[[party]]
agency = "agency-b"
name = "B"
signing_key = "%[3]s"

[[purpose]]
name = "tracing"
from = ["*"]
to = ["*"]
required_consent = ["consent_for_tracing"]
fields = ["sex", "age"]
retention_days = %[5]d
%[4]s`

const opsReferral = `
[[purpose]]
name = "referral"
from = ["agency-a", "agency-b"]
to = ["agency-a", "agency-b"]
required_consent = ["consent_for_services"]
forms = ["registration"]
retention_days = 365
`

// opsPair is two federated nodes driven through the cpx command.
type opsPair struct {
	dirA, dirB string
	fpA, fpB   string
	work       string
	a, b       *node
}

func newOpsPair(t *testing.T) *opsPair {
	t.Helper()
	p := &opsPair{dirA: initFedNode(t, "agency-a"), dirB: initFedNode(t, "agency-b"), work: t.TempDir()}
	p.a = start(t, p.dirA)
	p.b = start(t, p.dirB)
	type nodeID struct {
		Addrs          []string `json:"addrs"`
		KeyFingerprint string   `json:"key_fingerprint"`
	}
	var idA, idB nodeID
	mustJSON(t, &idA, "node", "id", "--dir", p.dirA)
	mustJSON(t, &idB, "node", "id", "--dir", p.dirB)
	p.fpA, p.fpB = idA.KeyFingerprint, idB.KeyFingerprint
	must(t, "peer", "add", idB.Addrs[0], "--agency", "agency-b", "--dir", p.dirA)
	must(t, "peer", "add", idA.Addrs[0], "--agency", "agency-a", "--dir", p.dirB)
	// Signatures verify only once each node knows the other's key.
	waitFor(t, "the peers to exchange keys", func() bool {
		return peerKnown(t, p.dirA) && peerKnown(t, p.dirB)
	})
	return p
}

func peerKnown(t *testing.T, dir string) bool {
	var v struct {
		Peers []struct {
			KeyFingerprints []string `json:"key_fingerprints"`
		} `json:"peers"`
	}
	mustJSON(t, &v, "peer", "list", "--dir", dir)
	return len(v.Peers) == 1 && len(v.Peers[0].KeyFingerprints) > 0
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// isp writes version v of the ISP (with the referral rule if referral)
// and returns its path; signers sign it in turn.
func (p *opsPair) isp(t *testing.T, v int, referral bool, signers ...string) string {
	t.Helper()
	extra := ""
	if referral {
		extra = opsReferral
	}
	file := filepath.Join(p.work, fmt.Sprintf("isp-v%d.toml", v))
	if err := os.WriteFile(file, []byte(fmt.Sprintf(opsISP, v, p.fpA, p.fpB, extra, 90)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range signers {
		must(t, "policy", "sign", file, "--dir", d)
	}
	return file
}

type policyJSON struct {
	ID            string   `json:"id"`
	Version       int      `json:"version"`
	InForce       bool     `json:"in_force"`
	Problem       string   `json:"problem"`
	SignedBy      []string `json:"signed_by"`
	BadSignatures []string `json:"bad_signatures"`
}

// inForce returns the version of ops-isp the node holds and whether it is
// in force.
func inForceVersion(t *testing.T, dir string) (int, bool) {
	t.Helper()
	var v struct{ Policies []policyJSON }
	mustJSON(t, &v, "policy", "list", "--dir", dir)
	for _, p := range v.Policies {
		if p.ID == "ops-isp" {
			return p.Version, p.InForce
		}
	}
	return 0, false
}

// TestPolicyApplyRefusesUnverified applies an unsigned and a tampered
// newer version: each is refused with a non-zero exit naming what is
// missing, the signed version stays in force and can be applied again,
// and --dry-run changes nothing.
func TestPolicyApplyRefusesUnverified(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two nodes")
	}
	p := newOpsPair(t)
	v1 := p.isp(t, 1, true, p.dirA, p.dirB)
	must(t, "policy", "apply", v1, "--dir", p.dirA)

	check := func(when string) {
		t.Helper()
		if v, ok := inForceVersion(t, p.dirA); v != 1 || !ok {
			t.Errorf("%s: version %d in force %v, want version 1 in force", when, v, ok)
		}
	}

	// Unsigned: refused, naming the parties that have not signed.
	unsigned := p.isp(t, 2, true)
	r := cpx(t, nil, "policy", "apply", unsigned, "--dir", p.dirA)
	if r.code == 0 || !strings.Contains(r.stderr, "missing signatures of agency-a, agency-b") || !strings.Contains(r.stderr, "version 1 stays in force") {
		t.Errorf("apply unsigned: exit %d, stderr %q; want non-zero naming agency-a, agency-b", r.code, r.stderr)
	}
	check("after an unsigned apply")

	// Signed by one party only.
	half := p.isp(t, 2, true, p.dirA)
	r = cpx(t, nil, "policy", "apply", half, "--dir", p.dirA)
	if r.code == 0 || !strings.Contains(r.stderr, "missing signatures of agency-b") {
		t.Errorf("apply half-signed: exit %d, stderr %q; want non-zero naming agency-b", r.code, r.stderr)
	}
	check("after a half-signed apply")

	// Tampered after both signed: refused, naming whose signature does
	// not verify; a dry run counts no signature that does not verify.
	signed := p.isp(t, 2, true, p.dirA, p.dirB)
	doc, _ := os.ReadFile(signed)
	tampered := filepath.Join(p.work, "tampered.toml")
	os.WriteFile(tampered, []byte(strings.Replace(string(doc), "retention_days = 90", "retention_days = 3650", 1)), 0o644)
	r = cpx(t, nil, "policy", "apply", tampered, "--dir", p.dirA)
	if r.code == 0 || !strings.Contains(r.stderr, `signature of party "agency-a" does not verify`) || !strings.Contains(r.stderr, `signature of party "agency-b" does not verify`) {
		t.Errorf("apply tampered: exit %d, stderr %q; want non-zero naming both signatures", r.code, r.stderr)
	}
	check("after a tampered apply")
	r = cpx(t, nil, "policy", "apply", tampered, "--dry-run", "--dir", p.dirA, "-o", "json")
	var dry struct {
		Policy  policyJSON `json:"policy"`
		Refusal string     `json:"refusal"`
		Changes []string   `json:"changes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &dry); err != nil {
		t.Fatalf("dry run -o json: %v\n%s", err, r.stdout)
	}
	if r.code == 0 || dry.Refusal == "" || len(dry.Policy.SignedBy) != 0 || len(dry.Policy.BadSignatures) != 2 {
		t.Errorf("dry run of the tampered draft: exit %d, %+v; want non-zero, signed by nobody, 2 bad signatures", r.code, dry)
	}
	out := cpx(t, nil, "policy", "apply", tampered, "--dry-run", "--dir", p.dirA).stdout
	if strings.Contains(out, "2 of 2") || !strings.Contains(out, "0 of 2") || !strings.Contains(out, "does not verify") {
		t.Errorf("dry run of the tampered draft prints:\n%s\nwant 0 of 2 signed and why", out)
	}
	check("after a dry run")

	// The signed version in force can be applied again.
	if r := cpx(t, nil, "policy", "apply", v1, "--dir", p.dirA); r.code != 0 {
		t.Errorf("re-applying version 1: exit %d, stderr %q", r.code, r.stderr)
	}
	check("after re-applying version 1")

	// A dry run of the good version 2 says what changes, and changes nothing.
	r = cpx(t, nil, "policy", "apply", signed, "--dry-run", "--dir", p.dirA)
	if r.code != 0 || !strings.Contains(r.stdout, "would be applied") || !strings.Contains(r.stdout, "version: 1 → 2") {
		t.Errorf("dry run of version 2: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	check("after a dry run of version 2")
	must(t, "policy", "apply", signed, "--dir", p.dirA)
	if v, ok := inForceVersion(t, p.dirA); v != 2 || !ok {
		t.Errorf("after applying signed version 2: version %d in force %v", v, ok)
	}
	// Going back is refused.
	if r := cpx(t, nil, "policy", "apply", v1, "--dir", p.dirA); r.code == 0 || !strings.Contains(r.stderr, "older than version 2") {
		t.Errorf("re-applying version 1 over 2: exit %d, stderr %q", r.code, r.stderr)
	}
}

// exchangeJSON is the part of an exchange the tests look at.
type exchangeJSON struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	Sync      string `json:"sync"`
	SyncError string `json:"sync_error"`
}

// user runs cpx as a user of the node in dir.
func user(dir, token string) func(args ...string) []string {
	return func(args ...string) []string {
		u, _ := nodedir.ReadAPIURL(dir)
		return append(args, "--api", u, "--token", token)
	}
}

func exchanges(t *testing.T, as func(...string) []string) map[string]exchangeJSON {
	t.Helper()
	var v struct{ Exchanges []exchangeJSON }
	mustJSON(t, &v, as("referral", "list")...)
	out := map[string]exchangeJSON{}
	for _, x := range v.Exchanges {
		out[x.ID] = x
	}
	return out
}

// TestISPRenewalKeepsExchanges renews the ISP with referrals open under
// version 1 in every state (pending, delivered, accepted) and checks that
// each goes on under version 2, that both agencies agree on every state,
// and that a change the ISP in force no longer covers is refused with a
// non-zero exit on either side and leaves both agreeing.
func TestISPRenewalKeepsExchanges(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and restarts two nodes")
	}
	p := newOpsPair(t)
	v1 := p.isp(t, 1, true, p.dirA, p.dirB)
	v2 := p.isp(t, 2, true, p.dirA, p.dirB)
	v3 := p.isp(t, 3, false, p.dirA, p.dirB) // drops referrals
	for _, d := range []string{p.dirA, p.dirB} {
		must(t, "policy", "apply", v1, "--dir", d)
	}
	a := user(p.dirA, addUser(t, p.dirA, "amina", "caseworker", "--group", "g1"))
	b := user(p.dirB, addUser(t, p.dirB, "farah", "caseworker", "--group", "intake"))
	refer := func(name string) string {
		t.Helper()
		var c struct{ Case struct{ ID string } }
		mustJSON(t, &c, a("case", "create", "--form", "registration", "--set", "name_first="+name, "--set", "sex=female", "--set", "age=7", "--set", "consent_for_services=true")...)
		var x struct{ Exchange exchangeJSON }
		mustJSON(t, &x, a("case", "refer", c.Case.ID, "--to", "agency-b", "--service", "health")...)
		return x.Exchange.ID
	}
	arrived := func(ids ...string) {
		t.Helper()
		waitFor(t, "referrals to arrive", func() bool {
			got := exchanges(t, b)
			for _, id := range ids {
				if got[id].Status != "delivered" {
					return false
				}
			}
			return true
		})
	}
	delivered, accepted, revoked := refer("Delivered"), refer("Accepted"), refer("Revoked")
	arrived(delivered, accepted, revoked)
	must(t, b("referral", "accept", accepted)...)
	must(t, b("referral", "accept", revoked)...)

	// A referral still pending at A when both renew: B is down.
	p.b.stop(t)
	pending := refer("Pending")
	must(t, "policy", "apply", v2, "--dir", p.dirA)
	start(t, p.dirB)
	must(t, "policy", "apply", v2, "--dir", p.dirB)
	arrived(pending)

	// Every open referral goes on under version 2, each change reported
	// delivered, and both sides agree.
	must(t, b("referral", "accept", delivered)...)
	must(t, b("referral", "done", accepted, "--reason", "service given")...)
	must(t, a("referral", "revoke", revoked, "--reason", "sent in error")...)
	must(t, b("referral", "accept", pending)...)
	want := map[string]string{delivered: "accepted", accepted: "done", revoked: "revoked", pending: "accepted"}
	agree := func(when string) {
		t.Helper()
		ga, gb := exchanges(t, a), exchanges(t, b)
		for id, w := range want {
			if ga[id].Status != w || gb[id].Status != w {
				t.Errorf("%s: referral %s is %q at A and %q at B, want %q at both", when, id, ga[id].Status, gb[id].Status, w)
			}
			if ga[id].Sync != "in_sync" || gb[id].Sync != "in_sync" {
				t.Errorf("%s: referral %s sync %q at A (%s), %q at B (%s)", when, id, ga[id].Sync, ga[id].SyncError, gb[id].Sync, gb[id].SyncError)
			}
		}
	}
	agree("after renewing to version 2")

	// A applies version 3, which no longer covers referrals; B still has
	// version 2. B's done is refused by A: it exits non-zero and B is
	// back at accepted, as A.
	must(t, "policy", "apply", v3, "--dir", p.dirA)
	r := cpx(t, nil, b("referral", "done", pending)...)
	if r.code == 0 || !strings.Contains(r.stderr, "agency-a did not take the done") {
		t.Errorf("done refused by the peer: exit %d, stderr %q", r.code, r.stderr)
	}
	agree("after a done the peer refused")
	if x := exchanges(t, b)[pending]; !strings.Contains(x.SyncError, "no rule for purpose") {
		t.Errorf("B's referral after the refusal: sync error %q, want the peer's reason", x.SyncError)
	}
	// On A itself the change is refused before anything is sent.
	r = cpx(t, nil, a("referral", "revoke", pending, "--reason", "x")...)
	if r.code == 0 || !strings.Contains(r.stderr, `no rule for purpose "referral"`) {
		t.Errorf("revoke under an ISP without referrals: exit %d, stderr %q", r.code, r.stderr)
	}
	agree("after a refused revoke")
	// Resync sends B's latest state again: A holds it already.
	must(t, b("referral", "resync", accepted)...)
	agree("after a resync")
}
