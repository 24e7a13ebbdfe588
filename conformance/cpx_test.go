package conformance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/nodedir"
)

// cpxBin is the cpx binary built once for the whole suite.
var cpxBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cpx-conformance")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cpxBin = filepath.Join(dir, "cpx")
	// The cpxtestclock tag lets a test start a node with its clock moved
	// (CPX_TEST_CLOCK_OFFSET); without the variable it changes nothing.
	build := exec.Command("go", "build", "-tags", "cpxtestclock", "-o", cpxBin, "github.com/cpx-node/cpx/cli/cpx")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building cpx:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const passphrase = "correct horse battery staple"

// result is what one cpx invocation did.
type result struct {
	stdout, stderr string
	code           int
}

// cpx runs the binary with args and the given extra environment.
func cpx(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cpxBin, args...)
	cmd.Env = append(append(os.Environ(), "CPX_PASSPHRASE="+passphrase), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("cpx %v: %v", args, err)
	}
	return r
}

// must runs cpx and fails the test unless it exits 0.
func must(t *testing.T, args ...string) string {
	t.Helper()
	r := cpx(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("cpx %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// mustJSON runs cpx with -o json and decodes its output.
func mustJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out := must(t, append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("cpx %s -o json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// node is a running `cpx start` process.
type node struct {
	dir    string
	cmd    *exec.Cmd
	url    string
	stderr *bytes.Buffer
	done   chan error
}

// initNode runs cpx init in a fresh directory and returns the directory.
// addUser adds a user with the role (and extra flags such as --group) to
// the node in dir and returns its token.
func addUser(t *testing.T, dir, name, role string, extra ...string) string {
	t.Helper()
	var added struct {
		Token string `json:"token"`
	}
	mustJSON(t, &added, append([]string{"user", "add", name, "--role", role, "--dir", dir}, extra...)...)
	if added.Token == "" {
		t.Fatalf("user add %s: no token", name)
	}
	return added.Token
}

func initNode(t *testing.T, agency string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), agency)
	must(t, "init", "--dir", dir, "--agency", agency, "--name", "Agency "+agency, "--listen", "127.0.0.1:0",
		"--p2p-listen", "/ip4/127.0.0.1/tcp/0", "--p2p-listen", "/ip4/127.0.0.1/udp/0/quic-v1")
	return dir
}

// start runs cpx start on dir and waits until its API answers.
func start(t *testing.T, dir string) *node {
	t.Helper()
	return startEnv(t, dir, nil)
}

// startEnv is start with extra environment variables.
func startEnv(t *testing.T, dir string, env []string) *node {
	t.Helper()
	n := &node{dir: dir, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	n.cmd = exec.Command(cpxBin, "start", "--dir", dir)
	n.cmd.Env = append(append(os.Environ(), "CPX_PASSPHRASE="+passphrase), env...)
	n.cmd.Stderr = n.stderr
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { n.done <- n.cmd.Wait() }()
	t.Cleanup(func() { n.kill() })
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-n.done:
			n.done <- err
			t.Fatalf("cpx start exited early: %v\n%s", err, n.stderr)
		default:
		}
		if u, err := nodedir.ReadAPIURL(dir); err == nil {
			if resp, err := http.Get(u + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					n.url = u
					return n
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("node in %s did not come up\n%s", dir, n.stderr)
	return nil
}

// stop sends SIGTERM and waits for a clean exit.
func (n *node) stop(t *testing.T) {
	t.Helper()
	n.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-n.done:
		if err != nil {
			t.Errorf("node exited with %v after SIGINT\n%s", err, n.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("node did not stop after SIGINT")
	}
	if _, err := os.Stat(filepath.Join(n.dir, nodedir.APIURLFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("api.url left behind after a clean stop")
	}
}

// kill sends SIGKILL (no clean-up at all) and reaps the process.
func (n *node) kill() {
	if n.cmd.ProcessState != nil {
		return
	}
	n.cmd.Process.Kill()
	select {
	case err := <-n.done:
		n.done <- err
	case <-time.After(10 * time.Second):
	}
}
