package conformance_test

import (
	"strings"
	"testing"
	"time"
)

// TestExchangeScope is the attack of a caseworker of another group on an
// exchange that is not theirs, through the real binary: on the receiving
// node, a caseworker outside the intake group neither lists, shows nor
// answers the incoming referral; on the sending node, a caseworker of
// another group cannot revoke it; each refusal reads exactly like an
// exchange that does not exist. The owners can.
func TestExchangeScope(t *testing.T) {
	dirA, dirB := initFedNode(t, "agency-a"), initFedNode(t, "agency-b")
	a, b := start(t, dirA), start(t, dirB)
	defer a.stop(t)
	defer b.stop(t)
	federate(t, dirA, dirB)
	sender := addUser(t, dirA, "amina", "caseworker", "--group", "north")
	stranger := addUser(t, dirA, "yusuf", "caseworker", "--group", "south")
	intake := addUser(t, dirB, "farah", "caseworker", "--group", "intake")
	outsider := addUser(t, dirB, "omar", "caseworker", "--group", "other")
	on := func(n *node, token string, args ...string) result {
		return cpx(t, nil, append(args, "--api", n.url, "--token", token)...)
	}
	var c struct{ Case caseJSON }
	mustJSON(t, &c, "case", "create", "--set", "name_first=Hodan", "--set", "sex=female", "--set", "age=7",
		"--set", "consent_for_services=yes", "--api", a.url, "--token", sender)
	var sent struct {
		Exchange struct {
			ID string `json:"id"`
		} `json:"exchange"`
	}
	mustJSON(t, &sent, "case", "refer", c.Case.ID, "--to", "agency-b", "--service", "health", "--api", a.url, "--token", sender)
	id := sent.Exchange.ID
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(on(b, intake, "referral", "list", "--incoming").stdout, id[:8]) {
		if time.Now().After(deadline) {
			t.Fatal("the referral never reached the intake group")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out := on(b, outsider, "referral", "list", "--incoming").stdout; strings.Contains(out, id[:8]) {
		t.Errorf("a caseworker of another group lists the incoming referral:\n%s", out)
	}
	missing := on(b, outsider, "referral", "show", "00000000-0000-0000-0000-000000000000")
	for _, args := range [][]string{
		{"referral", "show", id},
		{"referral", "accept", id},
		{"referral", "reject", id, "--reason", "not ours"},
	} {
		r := on(b, outsider, args...)
		if r.code != missing.code || r.code == 0 || strings.Replace(r.stderr, id, "ID", 1) != strings.Replace(missing.stderr, "00000000-0000-0000-0000-000000000000", "ID", 1) {
			t.Errorf("%s by another group: exit %d %q; a missing exchange: exit %d %q", args[1], r.code, r.stderr, missing.code, missing.stderr)
		}
	}
	if r := on(a, stranger, "referral", "revoke", id, "--reason", "x"); r.code != 3 {
		t.Errorf("a caseworker of another group revoking A's referral: exit %d, want 3 (%s)", r.code, r.stderr)
	}
	if r := on(b, intake, "referral", "accept", id); r.code != 0 {
		t.Errorf("the intake caseworker accepting: exit %d: %s", r.code, r.stderr)
	}
	if r := on(a, sender, "referral", "revoke", id, "--reason", "the family moved"); r.code != 0 {
		t.Errorf("the sender revoking: exit %d: %s", r.code, r.stderr)
	}
	if tail := must(t, "audit", "tail", "-n", "60", "--dir", dirB); !strings.Contains(tail, "denied") {
		t.Errorf("the refusals on B are not audited:\n%s", tail)
	}
}
