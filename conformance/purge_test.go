package conformance_test

import (
	"strings"
	"testing"
)

// TestPurge: only the data-protection focal point may purge; afterwards the
// case cannot be read, and the audit chain still verifies.
func TestPurge(t *testing.T) {
	dir := initNode(t, "agency-p")
	n := start(t, dir)
	cwToken := addUser(t, dir, "ana", "caseworker")
	dpoToken := addUser(t, dir, "dora", "dpo")
	var created struct{ Case caseJSON }
	mustJSON(t, &created, "case", "create", "--set", "name_first=Erasable", "--set", "sex=female", "--api", n.url, "--token", cwToken)
	id := created.Case.ID

	if r := cpx(t, nil, "case", "purge", id, "--reason", "x", "--api", n.url, "--token", cwToken); r.code != 4 {
		t.Errorf("caseworker purge: exit %d, want 4 (permission denied)", r.code)
	}
	must(t, "case", "purge", id, "--reason", "erasure request of the caregiver", "--api", n.url, "--token", dpoToken)
	r := cpx(t, nil, "case", "get", id, "--api", n.url, "--token", dpoToken)
	if r.code != 3 || strings.Contains(r.stdout, "Erasable") {
		t.Errorf("get after purge: exit %d, %s%s", r.code, r.stdout, r.stderr)
	}
	var v struct {
		OK bool `json:"ok"`
	}
	mustJSON(t, &v, "audit", "verify", "--dir", dir)
	if !v.OK {
		t.Error("audit chain broken after purge")
	}
	if tail := must(t, "audit", "tail", "-n", "5", "--dir", dir); !strings.Contains(tail, "case.purge") {
		t.Errorf("no case.purge audit entry:\n%s", tail)
	}
}
