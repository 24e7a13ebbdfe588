package conformance_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cpx-node/cpx/node/nodedir"
)

// caseJSON is the subset of the local API's Case (protojson, proto names)
// these tests read.
type caseJSON struct {
	ID          string         `json:"id"`
	CaseNumber  string         `json:"case_number"`
	Status      string         `json:"status"`
	Owner       string         `json:"owner"`
	Version     string         `json:"version"` // int64 is a string in protojson
	RiskLevel   string         `json:"risk_level"`
	Fields      map[string]any `json:"fields"`
	CloseReason string         `json:"close_reason"`
}

func TestNodeEndToEnd(t *testing.T) {
	dir := initNode(t, "agency-a")
	info, err := os.Stat(filepath.Join(dir, nodedir.CredentialsFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("credentials.json: %v, mode %v; want mode 0600", err, info.Mode().Perm())
	}
	if r := cpx(t, nil, "init", "--dir", dir, "--agency", "agency-a"); r.code == 0 || !strings.Contains(r.stderr, "already holds a node") {
		t.Errorf("second init: exit %d, stderr %q; want a refusal", r.code, r.stderr)
	}
	n := start(t, dir)

	// A second node on the same directory is refused with a clear message.
	if r := cpx(t, nil, "start", "--dir", dir); r.code == 0 || !strings.Contains(r.stderr, "already running") {
		t.Errorf("second start: exit %d, stderr %q; want 'already running'", r.code, r.stderr)
	}

	var status struct {
		AgencyID string `json:"agency_id"`
		Caller   string `json:"caller"`
	}
	mustJSON(t, &status, "status", "--dir", dir)
	if status.AgencyID != "agency-a" || status.Caller != "admin" {
		t.Errorf("status: got %+v", status)
	}

	resp, err := http.Get(n.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `cpx_api_calls_total{code="ok",procedure="/cpx.local.v1.NodeService/Status"} 1`) {
		t.Errorf("/metrics does not count the status call:\n%.2000s", metrics)
	}

	// The admin creates a caseworker; the caseworker works with her token.
	addedToken := addUser(t, dir, "alice", "caseworker", "--group", "north")
	if !strings.HasPrefix(addedToken, "cpx_") {
		t.Fatalf("user add: got token %q", addedToken)
	}
	alice := []string{"--api", n.url, "--token", addedToken}
	as := func(args ...string) []string { return append(args, alice...) }

	var created struct{ Case caseJSON }
	mustJSON(t, &created, as("case", "create", "--form", "registration", "--set", "name_first=Amina", "--set", "sex=female", "--set", "age=9", "--set", "risk_level=high")...)
	c := created.Case
	if c.CaseNumber != "AA-000001" || c.Owner != "alice" || c.RiskLevel != "high" || c.Fields["age"] != 9.0 {
		t.Fatalf("case create: got %+v", c)
	}
	// Bad input is refused with the field and the rule named, nothing written.
	for _, bad := range [][]string{
		{"--set", "name_first=X", "--set", "sex=robot"},
		{"--set", "name_first=X", "--set", "sex=male", "--set", "shoe_size=4"},
		{"--set", "name_first=X", "--set", "sex=male", "--set", "date_of_birth=2999-01-01"},
	} {
		r := cpx(t, nil, as(append([]string{"case", "create"}, bad...)...)...)
		if r.code != 1 || !strings.Contains(r.stderr, "field") {
			t.Errorf("case create %v: exit %d, stderr %q; want exit 1 naming the field", bad, r.code, r.stderr)
		}
	}
	// The admin administers but does not read case files.
	if r := cpx(t, nil, "case", "get", c.ID, "--dir", dir); r.code != 4 {
		t.Errorf("admin case get: exit %d (%s), want 4 (permission denied)", r.code, r.stderr)
	}

	var updated struct{ Case caseJSON }
	mustJSON(t, &updated, as("case", "update", c.ID, "--set", "name_nickname=Mina", "--set", "consent_for_tracing=yes")...)
	if updated.Case.Version != "2" || updated.Case.Fields["consent_for_tracing"] != true {
		t.Errorf("case update: got %+v", updated.Case)
	}
	must(t, as("case", "close", c.CaseNumber, "--reason", "reunified")...)
	var got struct{ Case caseJSON }
	mustJSON(t, &got, as("case", "get", c.CaseNumber)...)
	if got.Case.Status != "closed" || got.Case.CloseReason != "reunified" {
		t.Errorf("case get after close: got %+v", got.Case)
	}
	hist := must(t, as("case", "history", c.ID)...)
	for _, want := range []string{"create", "update", "close", "name_nickname"} {
		if !strings.Contains(hist, want) {
			t.Errorf("case history lacks %q:\n%s", want, hist)
		}
	}
	if r := cpx(t, nil, as("case", "get", "no-such-case")...); r.code != 3 {
		t.Errorf("case get unknown: exit %d, want 3", r.code)
	}

	// Import (by a supervisor) with good and bad rows, then export.
	supToken := addUser(t, dir, "sam", "supervisor", "--group", "north")
	csvPath := filepath.Join(t.TempDir(), "cases.csv")
	// A row without a first name is valid (a child may be known by other
	// names only); one with a sex outside the lookup is not.
	os.WriteFile(csvPath, []byte("name_first,sex,age\nAli,male,7\nSara,dragon,5\nOmar,male,\n,female,3\n"), 0o644)
	supArgs := []string{"--api", n.url, "--token", supToken}
	r := cpx(t, nil, append([]string{"case", "import", csvPath, "--dry-run"}, supArgs...)...)
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "dragon") {
		t.Errorf("import --dry-run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = cpx(t, nil, append([]string{"case", "import", csvPath}, supArgs...)...)
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "imported 3 of 4 rows") {
		t.Errorf("import: exit %d, want 1 with 3 accepted\n%s%s", r.code, r.stdout, r.stderr)
	}
	exportPath := filepath.Join(t.TempDir(), "export.jsonl")
	must(t, append([]string{"case", "export", exportPath}, supArgs...)...)
	data, err := os.ReadFile(exportPath)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(data), "\n"); lines != 4 {
		t.Errorf("export: got %d cases, want 4 (1 created + 3 imported)\n%s", lines, data)
	}

	// Tokens: a disabled user's token stops working.
	must(t, "user", "disable", "alice", "--dir", dir)
	if r := cpx(t, nil, as("status")...); r.code != 4 {
		t.Errorf("disabled user: exit %d, want 4", r.code)
	}

	var verify struct {
		OK      bool   `json:"ok"`
		Entries string `json:"entries"`
	}
	mustJSON(t, &verify, "audit", "verify", "--dir", dir)
	if !verify.OK {
		t.Errorf("audit verify: got %+v", verify)
	}
	tail := must(t, "audit", "tail", "-n", "50", "--dir", dir)
	for _, want := range []string{"case.read", "case.create", "user.disable", "denied"} {
		if !strings.Contains(tail, want) {
			t.Errorf("audit tail lacks %q", want)
		}
	}
	n.stop(t)

	// A wrong passphrase is refused clearly; the right one opens the node again.
	if r := cpx(t, []string{"CPX_PASSPHRASE=wrong"}, "start", "--dir", dir); r.code == 0 || !strings.Contains(r.stderr, "wrong passphrase") {
		t.Errorf("start with wrong passphrase: exit %d, stderr %q", r.code, r.stderr)
	}
	start(t, dir)
	mustJSON(t, &verify, "audit", "verify", "--dir", dir)
	if !verify.OK {
		t.Errorf("audit verify after restart: got %+v", verify)
	}
}
