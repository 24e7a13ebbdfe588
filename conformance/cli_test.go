package conformance_test

import (
	"os"
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
