package command_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/cpx-node/cpx/cli/command"
	"github.com/cpx-node/cpx/node/nodedir"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// env is a fake node and the flags that reach it.
type env struct {
	node *fakeNode
	url  string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	for _, v := range []string{"CPX_DIR", "CPX_API", "CPX_TOKEN"} {
		t.Setenv(v, "")
	}
	f := &fakeNode{}
	return &env{node: f, url: f.start(t)}
}

type result struct {
	stdout, stderr string
	code           int
}

// cpx runs the app with args (without the program name).
func cpx(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	app := command.NewApp(&out, &errb)
	err := app.RunContext(context.Background(), append([]string{"cpx"}, args...))
	return result{out.String(), errb.String(), command.ExitCode(err)}
}

// as runs a client command against e with token.
func (e *env) as(t *testing.T, token string, args ...string) result {
	t.Helper()
	return cpx(t, append(args, "--api", e.url, "--token", token)...)
}

func (e *env) run(t *testing.T, args ...string) result {
	t.Helper()
	return e.as(t, "admin-token", args...)
}

func (r result) want(t *testing.T, code int) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	return r
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s: got:\n%s\nwant:\n%s", name, got, want)
	}
}

// seed creates two cases.
func (e *env) seed(t *testing.T) {
	t.Helper()
	e.run(t, "case", "create", "--set", "name=Amina", "--set", "age:=12", "--set", `languages:=["en","sw"]`).want(t, 0)
	e.run(t, "case", "create", "--set", "name=Baraka", "--set", "note=lives with aunt, two siblings").want(t, 0)
}

func TestStatus(t *testing.T) {
	e := newEnv(t)
	r := e.run(t, "status").want(t, 0)
	golden(t, "status.txt", strings.ReplaceAll(r.stdout, e.url, "URL"))
	r = e.run(t, "status", "-o", "json").want(t, 0)
	golden(t, "status.json", r.stdout)
}

func TestConnectionFromDir(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	if err := nodedir.WriteAPIURL(dir, e.url); err != nil {
		t.Fatal(err)
	}
	// No credentials yet: an error naming the file.
	r := cpx(t, "status", "--dir", dir).want(t, 1)
	if !strings.Contains(r.stderr, "credentials") {
		t.Errorf("stderr %q does not mention the credentials", r.stderr)
	}
	if err := nodedir.WriteCredentials(dir, nodedir.Credentials{User: "admin", Token: "admin-token"}); err != nil {
		t.Fatal(err)
	}
	cpx(t, "status", "--dir", dir).want(t, 0)
	t.Setenv("CPX_DIR", dir)
	cpx(t, "status").want(t, 0)
	// --token overrides the credentials file.
	r = cpx(t, "status", "--token", "viewer-token").want(t, 0)
	if !strings.Contains(r.stdout, "(viewer)") {
		t.Errorf("got:\n%s\nwant the viewer role", r.stdout)
	}
	// A node directory without api.url: the node is not running.
	stopped := t.TempDir()
	if err := os.WriteFile(filepath.Join(stopped, nodedir.ConfigFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r = cpx(t, "status", "--dir", stopped).want(t, 1)
	if !strings.Contains(r.stderr, "cpx start --dir") {
		t.Errorf("stderr %q does not say how to start the node", r.stderr)
	}
}

func TestMissingToken(t *testing.T) {
	e := newEnv(t)
	r := cpx(t, "status", "--api", e.url).want(t, command.ExitUsage)
	if !strings.Contains(r.stderr, "cpx: no token given") {
		t.Errorf("stderr: %q", r.stderr)
	}
	r = cpx(t, "status").want(t, command.ExitUsage)
	if !strings.Contains(r.stderr, "cpx: no node given") {
		t.Errorf("stderr: %q", r.stderr)
	}
	t.Setenv("CPX_API", e.url)
	t.Setenv("CPX_TOKEN", "admin-token")
	cpx(t, "status").want(t, 0)
}

func TestRefusedToken(t *testing.T) {
	e := newEnv(t)
	r := e.as(t, "wrong", "status").want(t, command.ExitForbidden)
	if !strings.HasPrefix(r.stderr, "cpx: the node refused the token: unknown or disabled token") {
		t.Errorf("stderr: %q", r.stderr)
	}
	// Streaming calls too.
	e.as(t, "wrong", "case", "export", filepath.Join(t.TempDir(), "x.jsonl")).want(t, command.ExitForbidden)
}

func TestPermissionDenied(t *testing.T) {
	e := newEnv(t)
	r := e.as(t, "viewer-token", "user", "add", "amina", "--role", "caseworker").want(t, command.ExitForbidden)
	if r.stderr != "cpx: permission denied: role viewer may not change anything\n" {
		t.Errorf("stderr: %q", r.stderr)
	}
}

func TestNotFound(t *testing.T) {
	e := newEnv(t)
	r := e.run(t, "case", "get", "CP-9999").want(t, command.ExitNotFound)
	if r.stderr != "cpx: not found: case CP-9999 not found\n" {
		t.Errorf("stderr: %q", r.stderr)
	}
	e.run(t, "user", "disable", "nobody").want(t, command.ExitNotFound)
}

func TestUnreachable(t *testing.T) {
	newEnv(t)
	srv := httptest.NewServer(nil)
	url := srv.URL
	srv.Close()
	r := cpx(t, "status", "--api", url, "--token", "admin-token").want(t, command.ExitError)
	want := "cpx: cannot reach the node at " + url + " (from --api): is it running? (cpx start --dir DIR)"
	if !strings.HasPrefix(r.stderr, want) {
		t.Errorf("stderr:\n%s\nwant prefix:\n%s", r.stderr, want)
	}
}

func TestUsageErrors(t *testing.T) {
	e := newEnv(t)
	for _, args := range [][]string{
		{"status", "--bogus"},
		{"status", "extra-arg"},
		{"status", "-o", "yaml"},
		{"frobnicate"},
		{"case", "frobnicate"},
		{"case", "get"},
		{"case", "get", "a", "b"},
		{"case", "close", "CP-0001"},
		{"case", "create"},
		{"case", "create", "--set", "no-equals-sign"},
		{"case", "create", "--set", "x:=not json"},
		{"case", "import", "cases.txt"},
		{"case", "import", "cases.csv", "--batch", "0"},
		{"user", "add", "amina"},
		{"audit", "tail", "-n", "0"},
	} {
		r := e.run(t, args...)
		if r.code != command.ExitUsage || !strings.HasPrefix(r.stderr, "cpx: ") {
			t.Errorf("cpx %s: exit %d, stderr %q; want exit 2 and a message", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	// Help is not an error.
	r := cpx(t, "case", "get", "--help").want(t, 0)
	if !strings.Contains(r.stdout, "cpx case get") {
		t.Errorf("help:\n%s", r.stdout)
	}
	cpx(t, "case", "close", "X", "--help").want(t, 0)
	cpx(t).want(t, 0)
}

func TestUsers(t *testing.T) {
	e := newEnv(t)
	// Flags after the argument work too.
	r := e.run(t, "user", "add", "amina", "--role", "caseworker", "--group", "north").want(t, 0)
	if r.stdout != "added user amina (role caseworker, group north)\ntoken: tok-amina\n" {
		t.Errorf("stdout: %q", r.stdout)
	}
	if !strings.Contains(r.stderr, "only time the token") {
		t.Errorf("stderr %q: want a warning that the token is shown once", r.stderr)
	}
	r = e.run(t, "user", "add", "--role=supervisor", "-o", "json", "baraka").want(t, 0)
	var resp struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &resp); err != nil || resp.Token != "tok-baraka" {
		t.Errorf("json %q: token %q, %v", r.stdout, resp.Token, err)
	}
	e.run(t, "user", "disable", "baraka").want(t, 0)
	golden(t, "user-list.txt", e.run(t, "user", "list").want(t, 0).stdout)
	golden(t, "user-list.json", e.run(t, "user", "list", "-o", "json").want(t, 0).stdout)
}

func TestCaseCreateSet(t *testing.T) {
	e := newEnv(t)
	e.run(t, "case", "create", "--form", "followup",
		"--set", "name=Amina",
		"--set", "age:=12",
		"--set", "note=a,b=c",
		"--set", `tags:=["x", 2, null]`,
		"--set", "verified:=true",
		"--set", "empty=",
	).want(t, 0)
	got, _ := json.Marshal(e.node.lastFields.AsMap())
	want := `{"age":12,"empty":"","name":"Amina","note":"a,b=c","tags":["x",2,null],"verified":true}`
	if string(got) != want || e.node.lastForm != "followup" {
		t.Errorf("sent form %q fields %s, want followup %s", e.node.lastForm, got, want)
	}

	file := filepath.Join(t.TempDir(), "case.json")
	os.WriteFile(file, []byte(`{"name": "Baraka", "age": "9", "sex": "male"}`), 0o600)
	r := e.run(t, "case", "create", "--file", file, "--set", "age:=10").want(t, 0)
	if r.stdout != "created case CP-0002 (id case-2, version 1)\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	if got := e.node.lastFields.Fields["age"].GetNumberValue(); got != 10 || e.node.lastForm != "registration" {
		t.Errorf("age %v form %q: --set should override the file and the form default to registration", got, e.node.lastForm)
	}
	os.WriteFile(file, []byte(`["not", "an", "object"]`), 0o600)
	e.run(t, "case", "create", "--file", file).want(t, command.ExitUsage)
}

func TestCaseReadUpdateClose(t *testing.T) {
	e := newEnv(t)
	e.seed(t)
	golden(t, "case-get.txt", e.run(t, "case", "get", "CP-0001").want(t, 0).stdout)
	golden(t, "case-get.json", e.run(t, "case", "get", "case-1", "-o", "json").want(t, 0).stdout)
	golden(t, "case-list.txt", e.run(t, "case", "list", "--status", "open").want(t, 0).stdout)
	golden(t, "case-list.json", e.run(t, "case", "list", "-o", "json").want(t, 0).stdout)

	r := e.run(t, "case", "update", "CP-0001", "--set", "risk=high", "--set", "age:=null", "--expected-version", "1").want(t, 0)
	if r.stdout != "updated case CP-0001 (id case-1) to version 2\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	if _, ok := e.node.cases[0].Fields.Fields["age"]; ok {
		t.Error("age:=null did not clear the field")
	}
	r = e.run(t, "case", "update", "CP-0001", "--set", "risk=low", "--expected-version", "1").want(t, 1)
	if r.stderr != "cpx: conflict: case CP-0001 is at version 2, not 1\n" {
		t.Errorf("stderr %q", r.stderr)
	}
	e.run(t, "case", "close", "CP-0001", "--reason", "reunified with family").want(t, 0)
	if k := e.node.cases[0]; k.Status != "closed" || k.CloseReason != "reunified with family" {
		t.Errorf("case not closed: %v", k)
	}
	golden(t, "case-history.txt", e.run(t, "case", "history", "CP-0001").want(t, 0).stdout)
}

func TestImportCSV(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "cases.csv")
	report := filepath.Join(dir, "rejected.jsonl")
	os.WriteFile(file, []byte("\xEF\xBB\xBFname,age,sex,form\n"+
		"Amina,12,female,\n"+ // 1 ok
		"Baraka,ten,male,\n"+ // 2 rejected by the node
		"Chidi,9\n"+ // 3 wrong column count
		",,,\n"+ // 4 empty: skipped
		"\"Dalia\nMaria\",7,,\n"+ // 5 ok, spans two lines
		",8,female,\n"+ // 6 rejected: no name
		"Esi,5,female,followup\n"+ // 7 ok, other form
		"Fatou,4,female,\n"), 0o600) // 8 ok
	r := e.run(t, "case", "import", file, "--batch", "2", "--report", report).want(t, 1)
	golden(t, "import-csv.txt", r.stdout)
	if r.stderr != "cpx: 3 rows were rejected\n" {
		t.Errorf("stderr %q", r.stderr)
	}
	if got, want := e.node.batches, []int{2, 2, 2}; !equalInts(got, want) {
		t.Errorf("batches %v, want %v", got, want)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "import-csv-report.jsonl", string(b))
	if len(e.node.cases) != 4 {
		t.Errorf("%d cases saved, want 4", len(e.node.cases))
	}
	if got := e.node.cases[1].Fields.Fields["name"].GetStringValue(); got != "Dalia\nMaria" {
		t.Errorf("multi-line cell: %q", got)
	}
}

func TestImportJSONL(t *testing.T) {
	e := newEnv(t)
	file := filepath.Join(t.TempDir(), "cases.ndjson")
	os.WriteFile(file, []byte(`{"name": "Amina", "age": 12}
{"name": "Baraka", "age": "ten"}

{"name": "Chidi", "age": 9
["not", "an", "object"]
{"name": "Dalia", "form": "followup"}
{"name": "Esi", "form": 3}
{"name": "Fatou"} {"name": "extra"}
{"name": "Gift", "form": "nope"}
{"name": "Hawa"}`+"\r\n"), 0o600)
	r := e.run(t, "case", "import", file).want(t, 1)
	golden(t, "import-jsonl.txt", r.stdout)
	if got, want := e.node.batches, []int{5}; !equalInts(got, want) {
		t.Errorf("batches %v, want %v", got, want)
	}
	golden(t, "import-jsonl.json", e.run(t, "case", "import", file, "--dry-run", "-o", "json").want(t, 1).stdout)
}

func TestImportAllGood(t *testing.T) {
	e := newEnv(t)
	file := filepath.Join(t.TempDir(), "cases.txt")
	os.WriteFile(file, []byte("name,age\nAmina,12\nBaraka,10\n"), 0o600)
	r := e.run(t, "case", "import", "--format", "csv", "--dry-run", file).want(t, 0)
	if r.stdout != "dry run: 2 of 2 rows would be accepted, 0 rejected; nothing was saved\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	if len(e.node.cases) != 0 {
		t.Errorf("a dry run saved %d cases", len(e.node.cases))
	}
	e.run(t, "case", "import", "--format", "csv", file).want(t, 0)
	if len(e.node.cases) != 2 {
		t.Errorf("%d cases saved, want 2", len(e.node.cases))
	}
	// A bad header is fatal.
	os.WriteFile(file, []byte("name,,age\n"), 0o600)
	r = e.run(t, "case", "import", "--format", "csv", file).want(t, 1)
	if !strings.Contains(r.stderr, "column 2 has no field name") {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestImportNodeFailsMidway(t *testing.T) {
	e := newEnv(t)
	e.node.failImport = 2
	file := filepath.Join(t.TempDir(), "cases.jsonl")
	os.WriteFile(file, []byte(strings.Repeat(`{"name": "Amina"}`+"\n", 5)), 0o600)
	r := e.run(t, "case", "import", file, "--batch", "2", "--id", "midway").want(t, 1)
	want := "cpx: import stopped at row 3: the node is unavailable: store is closing; the rows before it (up to row 2, 2 accepted) are saved; run the same command again to continue (import midway)\n"
	if r.stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, want)
	}
	// Run again: the import continues after row 2.
	e.node.failImport = 0
	e.node.batches = nil
	r = e.run(t, "case", "import", file, "--batch", "2", "--resume", "midway").want(t, 0)
	if want := "imported 3 of 3 rows, rejected 0\nrows up to 2 were imported by an earlier run of import midway; in all 5 accepted, 0 rejected\n"; r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
	if got, want := e.node.batches, []int{2, 1}; !equalInts(got, want) {
		t.Errorf("batches of the resumed import %v, want %v", got, want)
	}
	if len(e.node.cases) != 5 {
		t.Errorf("%d cases saved, want 5", len(e.node.cases))
	}
	// Again, by the default id (the file's): a new import, once; then
	// nothing more.
	e.run(t, "case", "import", file).want(t, 0)
	r = e.run(t, "case", "import", file).want(t, 0)
	if !strings.HasPrefix(r.stdout, "imported 0 of 0 rows, rejected 0\nrows up to 5 were imported by an earlier run of import file-") {
		t.Errorf("stdout of a second run: %q", r.stdout)
	}
	if len(e.node.cases) != 10 {
		t.Errorf("%d cases saved, want 10", len(e.node.cases))
	}
	r = e.run(t, "case", "import", file, "--resume", "nope").want(t, 1)
	if want := "cpx: the node has no import \"nope\" of yours to resume\n"; r.stderr != want {
		t.Errorf("stderr of --resume nope: %q, want %q", r.stderr, want)
	}
}

func TestExport(t *testing.T) {
	e := newEnv(t)
	e.seed(t)
	e.run(t, "case", "update", "CP-0002", "--set", `address:={"city": "Nairobi", "zone": 4}`, "--set", "status=duplicate field name").want(t, 0)
	e.run(t, "case", "close", "CP-0002", "--reason", "transferred").want(t, 0)
	dir := t.TempDir()

	csvFile := filepath.Join(dir, "cases.csv")
	r := e.run(t, "case", "export", csvFile).want(t, 0)
	if r.stderr != "exported 2 cases to "+csvFile+" (csv)\n" {
		t.Errorf("stderr %q", r.stderr)
	}
	b, _ := os.ReadFile(csvFile)
	golden(t, "export.csv", string(b))

	jsonlFile := filepath.Join(dir, "cases.jsonl")
	e.run(t, "case", "export", jsonlFile, "--status", "closed").want(t, 0)
	b, _ = os.ReadFile(jsonlFile)
	golden(t, "export-closed.jsonl", string(b))
	if st, err := os.Stat(jsonlFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("export file mode %v, %v; want 0600", st.Mode(), err)
	}
	// Each line is a Case.
	for line := range strings.Lines(string(b)) {
		var s structpb.Struct
		if err := s.UnmarshalJSON([]byte(line)); err != nil {
			t.Errorf("line %q: %v", line, err)
		}
	}
	// Only the two exports are left in the directory: no temporary files.
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("directory holds %d files, want 2", len(ents))
	}
	// To stdout.
	r = e.run(t, "case", "export", "-", "--format", "csv").want(t, 0)
	if r.stdout != string(mustRead(t, csvFile)) {
		t.Errorf("stdout export differs:\n%s", r.stdout)
	}
}

func TestForms(t *testing.T) {
	e := newEnv(t)
	golden(t, "forms-list.txt", e.run(t, "forms", "list").want(t, 0).stdout)
	dir := t.TempDir()
	r := cpx(t, "forms", "validate", dir).want(t, 0)
	if !strings.HasPrefix(r.stdout, "ok: ") || !strings.HasSuffix(r.stdout, " fields\n") {
		t.Errorf("stdout %q", r.stdout)
	}
	os.MkdirAll(filepath.Join(dir, "forms"), 0o755)
	os.WriteFile(filepath.Join(dir, "forms", "bad.json"), []byte(`{"id": "Bad Id", "fields": [{"name": "x", "type": "nope"}]}`), 0o644)
	r = cpx(t, "forms", "validate", dir).want(t, 1)
	if !strings.Contains(r.stderr, "is not valid") {
		t.Errorf("stderr %q", r.stderr)
	}
	cpx(t, "forms", "validate", filepath.Join(dir, "missing")).want(t, 1)
}

func TestAudit(t *testing.T) {
	e := newEnv(t)
	r := e.run(t, "audit", "verify").want(t, 0)
	if r.stdout != "ok: 3 entries, head "+strings.Repeat("ab", 32)+"\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	e.node.auditBroken = true
	r = e.run(t, "audit", "verify").want(t, 1)
	if r.stderr != "cpx: the audit chain is broken at entry 2: prev_hash does not match entry 1 (checked 3 entries)\n" {
		t.Errorf("stderr %q", r.stderr)
	}
	golden(t, "audit-verify-broken.json", e.run(t, "audit", "verify", "-o", "json").want(t, 1).stdout)
	golden(t, "audit-tail.txt", e.run(t, "audit", "tail", "-n", "2").want(t, 0).stdout)
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	e.run(t, "audit", "export", file).want(t, 0)
	golden(t, "audit-export.jsonl", string(mustRead(t, file)))
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
