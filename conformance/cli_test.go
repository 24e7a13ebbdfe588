package conformance_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIRequiredFlag: a missing required flag is named on stderr, with no
// screen of help on stdout, and the exit code is a usage error.
func TestCLIRequiredFlag(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "x")
	r := cpx(t, []string{"CPX_DIR="}, "init", "--dir", dir)
	if r.code != 2 || !strings.Contains(r.stderr, `required flag "agency" not set`) || r.stdout != "" {
		t.Errorf("cpx init without --agency: got exit %d, stdout %q, stderr %q; want exit 2, nothing on stdout, stderr naming the flag",
			r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("cpx init without --agency left %s behind (stat: %v)", dir, err)
	}
}

// TestCLIWeakPassphrase: cpx init refuses a passphrase that is quick to
// guess, whatever its length, and creates nothing.
func TestCLIWeakPassphrase(t *testing.T) {
	for _, pass := range []string{"abc", "password1234", "P@ssw0rd12345678", "agency-weak-2026"} {
		dir := filepath.Join(t.TempDir(), "weak")
		r := cpx(t, []string{"CPX_PASSPHRASE=" + pass}, "init", "--dir", dir, "--agency", "agency-weak")
		if r.code == 0 || !strings.Contains(r.stderr, "too weak") || strings.Contains(r.stderr, pass) {
			t.Errorf("cpx init with passphrase %q: got exit %d, stderr %q; want a refusal that does not echo it", pass, r.code, r.stderr)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("a refused init left %s behind (stat: %v)", dir, err)
		}
	}
	dir := filepath.Join(t.TempDir(), "strong")
	must(t, "init", "--dir", dir, "--agency", "agency-strong", "--listen", "127.0.0.1:0", "--p2p-listen", "/ip4/127.0.0.1/tcp/0")
}

// TestCLIVersion: cpx --version names the build (module version, commit, or
// a hash of the binary), and a running node reports the same version.
func TestCLIVersion(t *testing.T) {
	out := must(t, "--version")
	f := strings.Fields(out)
	if len(f) < 2 || f[0] != "cpx" || f[1] == "dev" || f[1] == "devel" {
		t.Fatalf("cpx --version: got %q, want cpx and a version, a commit or a hash", out)
	}
	dir := initNode(t, "agency-v")
	start(t, dir)
	var st struct {
		Version string `json:"version"`
	}
	mustJSON(t, &st, "status", "--dir", dir)
	if st.Version != f[1] {
		t.Errorf("cpx status version: got %q, want %q as cpx --version says", st.Version, f[1])
	}
}

// TestCLICompletion: the bash script that cpx completion prints completes
// commands and flags from the installed binary.
func TestCLICompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	script := must(t, "completion", "bash")
	for _, tc := range []struct {
		words []string
		want  string
	}{
		{[]string{"cpx", "ca"}, "case"},
		{[]string{"cpx", "case", "cl"}, "close"},
		{[]string{"cpx", "case", "get", "--d"}, "--dir"},
		{[]string{"cpx", "completion", "--h"}, "--help"},
	} {
		prog := script + fmt.Sprintf("COMP_WORDS=(%s); COMP_CWORD=%d; _cpx_complete; echo \"${COMPREPLY[*]}\"\n",
			strings.Join(tc.words, " "), len(tc.words)-1)
		cmd := exec.Command(bash, "--norc", "-c", prog)
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(cpxBin)+string(os.PathListSeparator)+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != tc.want {
			t.Errorf("completing %q: got %q (%v), want %q", strings.Join(tc.words, " "), out, err, tc.want)
		}
	}
	for _, shell := range []string{"zsh", "fish"} {
		if out := must(t, "completion", shell); !strings.Contains(out, "--generate-bash-completion") {
			t.Errorf("cpx completion %s: got\n%s\nwant a script asking cpx for candidates", shell, out)
		}
	}
}

// TestCLIFlagsWinOverEnvironment: --dir and --token on the command line win
// over CPX_API and CPX_TOKEN in the environment, and cpx status says which
// node and identity a command uses and where each came from.
func TestCLIFlagsWinOverEnvironment(t *testing.T) {
	dir := initNode(t, "agency-f")
	n := start(t, dir)
	cw := addUser(t, dir, "amina", "caseworker", "--group", "g1")
	env := []string{"CPX_API=" + n.url, "CPX_TOKEN=" + cw, "CPX_DIR="}

	// A caseworker may not verify the audit log; the admin in --dir may.
	if r := cpx(t, env, "audit", "verify"); r.code != 4 {
		t.Errorf("audit verify as the caseworker from CPX_TOKEN: got exit %d (%s), want 4", r.code, r.stderr)
	}
	if r := cpx(t, env, "audit", "verify", "--dir", dir); r.code != 0 {
		t.Errorf("audit verify --dir with CPX_TOKEN set: got exit %d (%s), want 0: --dir's credentials must win", r.code, r.stderr)
	}

	for _, tc := range []struct {
		args         []string
		node, caller string
	}{
		{nil, n.url + " (from CPX_API)", "amina (caseworker), token from CPX_TOKEN"},
		{[]string{"--dir", dir}, n.url + " (from --dir " + dir, "admin (agency_admin), token from --dir " + dir},
		{[]string{"--token", cw, "--dir", dir}, n.url + " (from --dir " + dir, "amina (caseworker), token from --token"},
	} {
		r := cpx(t, env, append([]string{"status"}, tc.args...)...)
		if r.code != 0 || !strings.Contains(r.stdout, tc.node) || !strings.Contains(r.stdout, tc.caller) {
			t.Errorf("cpx status %s: got exit %d\n%s%s\nwant node %q and caller %q", strings.Join(tc.args, " "), r.code, r.stdout, r.stderr, tc.node, tc.caller)
		}
	}
}

// TestCLINotANode: start and client commands on a directory that is not a
// node say so, instead of a configuration or file error.
func TestCLINotANode(t *testing.T) {
	empty := t.TempDir()
	for _, args := range [][]string{{"start", "--dir", empty}, {"status", "--dir", empty}} {
		r := cpx(t, nil, args...)
		if r.code == 0 || !strings.Contains(r.stderr, empty+" is not a node directory") {
			t.Errorf("cpx %s: got exit %d, stderr %q; want a refusal saying it is not a node directory", strings.Join(args, " "), r.code, r.stderr)
		}
	}
}

// TestCLIErrorsSayItOnce: a node's refusal is not prefixed twice, and a
// free-text flag that is too long is named.
func TestCLIErrorsSayItOnce(t *testing.T) {
	dir := initNode(t, "agency-e")
	start(t, dir)
	var id struct {
		Addrs []string `json:"addrs"`
	}
	mustJSON(t, &id, "node", "id", "--dir", dir)
	if len(id.Addrs) == 0 {
		t.Fatal("cpx node id: no address")
	}
	r := cpx(t, nil, "peer", "add", id.Addrs[0], "--agency", "Not An Agency", "--dir", dir)
	if r.code == 0 || strings.Contains(r.stderr, "invalid request: invalid request") || !strings.HasPrefix(r.stderr, "cpx: ") {
		t.Errorf("peer add with a bad agency id: got exit %d, stderr %q; want one refusal said once", r.code, r.stderr)
	}
	long := strings.Repeat("x", 5000)
	r = cpx(t, nil, "case", "refer", "CP-1", "--to", "agency-x", "--service", "health", "--note", long, "--dir", dir)
	if r.code != 2 || r.stderr != "cpx: --note is too long: 5000 bytes, at most 4000\n" {
		t.Errorf("case refer --note of 5000 bytes: got exit %d, stderr %q; want exit 2 naming --note", r.code, r.stderr)
	}
	r = cpx(t, nil, "case", "close", "CP-1", "--reason", long, "--dir", dir)
	if r.code != 2 || !strings.HasPrefix(r.stderr, "cpx: --reason is too long") {
		t.Errorf("case close --reason of 5000 bytes: got exit %d, stderr %q; want exit 2 naming --reason", r.code, r.stderr)
	}
}
