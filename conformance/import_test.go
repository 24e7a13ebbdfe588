package conformance_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestImportResumable: an import stopped by a node killed in the middle
// (kill -9) continues when the same command runs again after a restart,
// and every row ends up exactly once; running it again after it finished
// imports nothing; --resume continues a named import with a longer file.
func TestImportResumable(t *testing.T) {
	dir := initNode(t, "agency-a")
	n := start(t, dir)
	token := addUser(t, dir, "sam", "supervisor", "--group", "north")
	const rows = 1500
	var b strings.Builder
	for i := range rows {
		fmt.Fprintf(&b, `{"name_first": "Resume%d", "name_last": "Nur", "sex": "female", "age": %d}`+"\n", i, i%17)
	}
	file := filepath.Join(t.TempDir(), "cases.jsonl")
	os.WriteFile(file, []byte(b.String()), 0o600)
	args := func(n *node, extra ...string) []string {
		return append(extra, "--api", n.url, "--token", token)
	}

	// Kill the node while the import runs.
	cmd := exec.Command(cpxBin, args(n, "case", "import", file, "--batch", "50")...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	n.kill()
	err := cmd.Wait()
	t.Logf("the import when the node was killed: %v\n%s", err, out.String())

	n = start(t, dir)
	r := cpx(t, nil, args(n, "case", "import", file, "--batch", "50")...)
	if r.code != 0 {
		t.Fatalf("import run again: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("run again:\n%s", r.stdout)
	countNames(t, n, token, rows)

	r = cpx(t, nil, args(n, "case", "import", file)...)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "imported 0 of 0 rows, rejected 0\n") || !strings.Contains(r.stdout, fmt.Sprintf("rows up to %d were imported by an earlier run", rows)) {
		t.Errorf("import of a finished file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	countNames(t, n, token, rows)

	// A named import of the first rows, resumed with the whole file.
	lines := strings.SplitAfter(b.String(), "\n")
	part := filepath.Join(t.TempDir(), "part.jsonl")
	os.WriteFile(part, []byte(strings.Join(lines[:40], "")), 0o600)
	must(t, args(n, "case", "import", part, "--id", "named")...)
	r = cpx(t, nil, args(n, "case", "import", file, "--resume", "named")...)
	if want := fmt.Sprintf("imported %d of %d rows, rejected 0\nrows up to 40 were imported by an earlier run of import named; in all %d accepted, 0 rejected\n", rows-40, rows-40, rows); r.code != 0 || r.stdout != want {
		t.Errorf("import --resume named: exit %d\n%s%s\nwant stdout:\n%s", r.code, r.stdout, r.stderr, want)
	}
	countNames(t, n, token, 2*rows)
	if r := cpx(t, nil, args(n, "case", "import", file, "--resume", "never-started")...); r.code == 0 || !strings.Contains(r.stderr, "no import") {
		t.Errorf("--resume of an unknown import: exit %d\n%s", r.code, r.stderr)
	}
}

// countNames exports every case and checks that there are want in all,
// each name of the file (1,500 of them) want/1,500 times.
func countNames(t *testing.T, n *node, token string, want int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "export.jsonl")
	must(t, "case", "export", path, "--api", n.url, "--token", token)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	total := 0
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if l == "" {
			continue
		}
		var c struct{ Fields map[string]any }
		if err := json.Unmarshal([]byte(l), &c); err != nil {
			t.Fatalf("export line %q: %v", l, err)
		}
		total++
		seen[fmt.Sprint(c.Fields["name_first"])]++
	}
	if total != want {
		t.Errorf("got %d cases, want %d", total, want)
	}
	for name, k := range seen {
		if k != want/1500 {
			t.Errorf("%s: %d cases, want %d", name, k, want/1500)
			break
		}
	}
}
