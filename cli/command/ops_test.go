package command_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/cpx-node/cpx/cli/command"
	"github.com/cpx-node/cpx/node/nodedir"
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

// nodeDir writes a node directory whose api.url points at url and, if
// token is not empty, whose credentials.json holds it.
func nodeDir(t *testing.T, url, token string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, nodedir.ConfigFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := nodedir.WriteAPIURL(dir, url); err != nil {
		t.Fatal(err)
	}
	if token != "" {
		if err := nodedir.WriteCredentials(dir, nodedir.Credentials{User: "admin", Token: token}); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestTargetPrecedence(t *testing.T) {
	e := newEnv(t)
	dir := nodeDir(t, e.url, "admin-token")
	noCreds := nodeDir(t, e.url, "")
	elsewhere := "http://127.0.0.1:1" // no node there
	for _, tc := range []struct {
		name       string
		env        map[string]string
		args       []string
		node, call string // the status rows
	}{
		{"--dir wins over CPX_API and CPX_TOKEN",
			map[string]string{"CPX_API": elsewhere, "CPX_TOKEN": "viewer-token"}, []string{"--dir", dir},
			"(from --dir " + dir + " (" + filepath.Join(dir, "api.url") + "))",
			"(admin), token from --dir " + dir + " (" + filepath.Join(dir, "credentials.json") + ")"},
		{"--token wins over --dir's credentials",
			nil, []string{"--dir", dir, "--token", "viewer-token"},
			"(from --dir ", "(viewer), token from --token"},
		{"CPX_TOKEN wins over CPX_DIR's credentials",
			map[string]string{"CPX_DIR": dir, "CPX_TOKEN": "viewer-token"}, nil,
			"(from CPX_DIR " + dir, "(viewer), token from CPX_TOKEN"},
		{"CPX_API wins over CPX_DIR's api.url",
			map[string]string{"CPX_DIR": noCreds, "CPX_API": e.url, "CPX_TOKEN": "admin-token"}, nil,
			"(from CPX_API)", "(admin), token from CPX_TOKEN"},
		{"--dir without credentials: CPX_TOKEN names the user",
			map[string]string{"CPX_TOKEN": "viewer-token"}, []string{"--dir", noCreds},
			"(from --dir " + noCreds, "(viewer), token from CPX_TOKEN"},
		{"--api wins over CPX_DIR",
			map[string]string{"CPX_DIR": noCreds}, []string{"--api", e.url, "--token", "admin-token"},
			"(from --api)", "(admin), token from --token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			r := cpx(t, append([]string{"status"}, tc.args...)...).want(t, 0)
			var node, caller string
			for _, l := range strings.Split(r.stdout, "\n") {
				if v, ok := strings.CutPrefix(l, "node:"); ok {
					node = strings.TrimSpace(v)
				}
				if v, ok := strings.CutPrefix(l, "caller:"); ok {
					caller = strings.TrimSpace(v)
				}
			}
			if !strings.Contains(node, tc.node) || !strings.HasSuffix(caller, tc.call) {
				t.Errorf("got node %q, caller %q; want node containing %q, caller ending %q", node, caller, tc.node, tc.call)
			}
		})
	}
}

func TestNotANodeDir(t *testing.T) {
	newEnv(t)
	empty := t.TempDir()
	for _, args := range [][]string{{"status", "--dir", empty}, {"start", "--dir", empty}} {
		r := cpx(t, args...)
		if r.code == 0 || !strings.Contains(r.stderr, empty+" is not a node directory") || !strings.Contains(r.stderr, "cpx init --dir") {
			t.Errorf("cpx %s: got exit %d, stderr %q; want a refusal saying it is not a node directory", strings.Join(args, " "), r.code, r.stderr)
		}
	}
}

func TestTextFlagsNamed(t *testing.T) {
	e := newEnv(t)
	long := strings.Repeat("x", 4001)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"case", "close", "CP-0001", "--reason", long}, "cpx: --reason is too long: 4001 bytes, at most 2000\n"},
		{[]string{"case", "refer", "CP-0001", "--to", "b", "--service", "health", "--note", long}, "cpx: --note is too long: 4001 bytes, at most 4000\n"},
		{[]string{"case", "refer", "CP-0001", "--to", "b", "--service", long[:201]}, "cpx: --service is too long: 201 bytes, at most 200\n"},
		{[]string{"case", "purge", "CP-0001", "--reason", long}, "cpx: --reason is too long: 4001 bytes, at most 2000\n"},
	} {
		r := e.run(t, tc.args...)
		if r.code != command.ExitUsage || r.stderr != tc.want {
			t.Errorf("cpx %s: got exit %d, stderr %q; want exit 2, %q", strings.Join(tc.args[:3], " "), r.code, r.stderr, tc.want)
		}
	}
}

func TestMessageSaysItOnce(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{connect.NewError(connect.CodeInvalidArgument, errors.New("invalid request: text longer than 4000 bytes")), "invalid request: text longer than 4000 bytes"},
		{connect.NewError(connect.CodeInvalidArgument, errors.New("the reason is longer than 2000 bytes")), "invalid request: the reason is longer than 2000 bytes"},
		{connect.NewError(connect.CodeNotFound, errors.New("not found: not found: case X")), "not found: case X"},
		{connect.NewError(connect.CodePermissionDenied, errors.New("permission denied: role viewer")), "permission denied: role viewer"},
	} {
		if got := command.Message(tc.err); got != tc.want {
			t.Errorf("Message(%v): got %q, want %q", tc.err, got, tc.want)
		}
	}
}
