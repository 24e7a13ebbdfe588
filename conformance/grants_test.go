package conformance_test

import (
	"strings"
	"testing"
)

// TestGrantsNeedSecondPerson is the attack of an agency administrator who
// mints a supervisor (or a DPO) to read case files: the role is only
// requested, the user holds no token, the same administrator cannot
// approve it, and a second administrator (here the node's owner) can.
// Roles that read no one else's cases are granted at once.
func TestGrantsNeedSecondPerson(t *testing.T) {
	dir := initNode(t, "agency-g")
	n := start(t, dir)
	admin2 := addUser(t, dir, "omar", "agency_admin") // the owner grants it: reads no cases
	as := func(token string, args ...string) result {
		return cpx(t, nil, append(args, "--api", n.url, "--token", token)...)
	}
	for _, role := range []string{"supervisor", "dpo", "coordinator"} {
		name := "mint-" + role
		r := as(admin2, "user", "add", name, "--role", role, "--group", "north", "-o", "json")
		if r.code != 0 || strings.Contains(r.stdout, "cpx_") || !strings.Contains(r.stdout, `"requested_by": "omar"`) {
			t.Errorf("%s requested by a second admin: exit %d, %s%s; want a request and no token", role, r.code, r.stdout, r.stderr)
		}
		if r := as(admin2, "user", "approve", name); r.code != 4 {
			t.Errorf("%s approved by the admin who asked: exit %d, want 4 (%s)", role, r.code, r.stderr)
		}
	}
	if out := must(t, "user", "list", "--dir", dir); !strings.Contains(out, "awaiting approval") {
		t.Errorf("user list does not show the pending grants:\n%s", out)
	}
	var ok struct {
		Token string `json:"token"`
	}
	mustJSON(t, &ok, "user", "approve", "mint-supervisor", "--dir", dir)
	if !strings.HasPrefix(ok.Token, "cpx_") {
		t.Fatalf("approval by the owner: %+v", ok)
	}
	if r := cpx(t, nil, "case", "list", "--api", n.url, "--token", ok.Token); r.code != 0 {
		t.Errorf("the approved supervisor: exit %d: %s", r.code, r.stderr)
	}
	if r := as(admin2, "user", "add", "amina", "--role", "caseworker", "-o", "json"); r.code != 0 || !strings.Contains(r.stdout, "cpx_") {
		t.Errorf("a caseworker added by the second admin: exit %d, %s; want a token at once", r.code, r.stdout)
	}
	tail := must(t, "audit", "tail", "-n", "40", "--dir", dir)
	for _, want := range []string{"user.add.requested", "user.approve"} {
		if !strings.Contains(tail, want) {
			t.Errorf("audit has no %s:\n%s", want, tail)
		}
	}
}
