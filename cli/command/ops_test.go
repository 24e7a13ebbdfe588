package command_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cpx-node/cpx/cli/command"
)

func TestRequiredFlags(t *testing.T) {
	newEnv(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"init", "--dir", dir}, `cpx: required flag "agency" not set (see cpx init --help)` + "\n"},
		{[]string{"init"}, `cpx: required flags "dir", "agency" not set (see cpx init --help)` + "\n"},
		{[]string{"start"}, `cpx: required flag "dir" not set (see cpx start --help)` + "\n"},
	} {
		r := cpx(t, tc.args...)
		if r.code != command.ExitUsage || r.stderr != tc.want || r.stdout != "" {
			t.Errorf("cpx %s: got exit %d, stdout %q, stderr %q; want exit 2, no stdout, stderr %q",
				strings.Join(tc.args, " "), r.code, r.stdout, r.stderr, tc.want)
		}
	}
	// Help still lists the flag as required, and is not an error.
	r := cpx(t, "init", "--help").want(t, 0)
	if !strings.Contains(r.stdout, "(required)") {
		t.Errorf("help:\n%s\nwant the required flags marked", r.stdout)
	}
}

func TestInitWeakPassphrase(t *testing.T) {
	newEnv(t)
	t.Setenv("CPX_PASSPHRASE", "password1234")
	dir := filepath.Join(t.TempDir(), "n")
	r := cpx(t, "init", "--dir", dir, "--agency", "agency-a").want(t, command.ExitUsage)
	if !strings.HasPrefix(r.stderr, "cpx: CPX_PASSPHRASE: the passphrase is too weak") || strings.Contains(r.stderr, "password1234") {
		t.Errorf("got stderr %q, want a refusal naming CPX_PASSPHRASE and not the passphrase", r.stderr)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("a refused init left %s behind (stat: %v)", dir, err)
	}
}

func TestVersion(t *testing.T) {
	for _, flag := range []string{"--version", "-v"} {
		r := cpx(t, flag).want(t, 0)
		f := strings.Fields(r.stdout)
		if len(f) < 2 || f[0] != "cpx" || f[1] == "dev" || f[1] == "devel" || r.stderr != "" {
			t.Errorf("cpx %s: got stdout %q, stderr %q; want cpx and a version, a commit or a hash", flag, r.stdout, r.stderr)
		}
	}
}

func TestCompletion(t *testing.T) {
	for shell, want := range map[string]string{
		"bash": "complete -o bashdefault -o default -F _cpx_complete cpx",
		"zsh":  "compdef _cpx cpx",
		"fish": "complete -c cpx -a '(__cpx_complete)'",
	} {
		r := cpx(t, "completion", shell).want(t, 0)
		if !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "--generate-bash-completion") {
			t.Errorf("cpx completion %s: got\n%s\nwant a script with %q", shell, r.stdout, want)
		}
	}
	r := cpx(t, "completion", "powershell").want(t, command.ExitUsage)
	if !strings.Contains(r.stderr, "bash, zsh or fish") {
		t.Errorf("got stderr %q, want the shells named", r.stderr)
	}
	cpx(t, "completion").want(t, command.ExitUsage)
	// What the scripts ask cpx for depends on os.Args (urfave/cli reads
	// it): conformance TestCLICompletion checks it with the real binary.
}
