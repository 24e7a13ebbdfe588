// Package vault starts real HashiCorp Vault dev servers for tests.
//
// The server is the vault binary that .ci/vault.sh builds from the separate
// module in conformance/vaultserver; tests find it through the environment
// variable CPX_VAULT_BIN:
//
//	export CPX_VAULT_BIN=$(bash .ci/vault.sh | tail -n1)
//
// Without it tests that need Vault are skipped, or fail when CI=true.
//
// Each Start runs its own dev server on 127.0.0.1 (in-memory storage,
// unsealed, a fresh random root token, KV v2 at secret/, transit enabled at
// transit/) in its own temporary HOME, and stops it when the test ends.
package vault

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// EnvBin is the environment variable that holds the vault binary's path.
const EnvBin = "CPX_VAULT_BIN"

const (
	startTimeout = 60 * time.Second // a loaded 2-core machine is slow
	stopTimeout  = 10 * time.Second
	startTries   = 3 // new ports when another process took the chosen ones
)

// Server is a running Vault dev server.
type Server struct {
	// Addr is the server's address, "http://127.0.0.1:PORT".
	Addr string
	// Token is the root token.
	Token string

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	logs *lockedBuffer

	stopOnce sync.Once
}

// Bin returns the vault binary named by CPX_VAULT_BIN. If it is unset or
// not an executable file, Bin skips the test with instructions, or fails it
// when CI=true.
func Bin(t testing.TB) string {
	t.Helper()
	bin := os.Getenv(EnvBin)
	why := ""
	if bin == "" {
		why = EnvBin + " is not set"
	} else if fi, err := os.Stat(bin); err != nil {
		why = fmt.Sprintf("%s=%s: %v", EnvBin, bin, err)
	} else if fi.IsDir() || fi.Mode()&0o111 == 0 {
		why = fmt.Sprintf("%s=%s is not an executable file", EnvBin, bin)
	}
	if why == "" {
		return bin
	}
	msg := why + ": this test needs a Vault server binary; build it (once per machine: 10-25 min cold, then cached) with\n" +
		"\texport " + EnvBin + "=$(bash .ci/vault.sh | tail -n1)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Start starts a Vault dev server, waits until it answers, enables transit
// and stops the server when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Bin(t)
	var lastErr error
	for range startTries {
		s, err := start(t, bin)
		if err == nil {
			return s
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	t.Fatalf("start Vault: %v", lastErr)
	return nil
}

var errPortTaken = errors.New("port taken")

func start(t testing.TB, bin string) (*Server, error) {
	port, err := freePortPair()
	if err != nil {
		return nil, err
	}
	token := "cpx-test-" + randomHex(16)
	home := t.TempDir()
	s := &Server{
		Addr:  "http://127.0.0.1:" + strconv.Itoa(port),
		Token: token,
		done:  make(chan struct{}),
		logs:  &lockedBuffer{},
	}
	s.cmd = exec.Command(bin, "server", "-dev",
		"-dev-listen-address=127.0.0.1:"+strconv.Itoa(port),
		"-dev-root-token-id="+token,
		"-dev-no-store-token",
	)
	s.cmd.Dir = home
	s.cmd.Env = serverEnv(home)
	s.cmd.Stdout = s.logs
	s.cmd.Stderr = s.logs
	s.cmd.SysProcAttr = sysProcAttr()
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", bin, err)
	}
	go func() {
		s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("Vault server log (%s):\n%s", s.Addr, tail(s.Log(), 60))
		}
	})

	if err := s.waitHealthy(); err != nil {
		s.Stop()
		if strings.Contains(s.logs.String(), "address already in use") {
			return nil, fmt.Errorf("%w: %v", errPortTaken, err)
		}
		return nil, fmt.Errorf("%v; log:\n%s", err, tail(s.Log(), 40))
	}
	c := s.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := c.Sys().MountWithContext(ctx, "transit", &api.MountInput{Type: "transit"}); err != nil {
		s.Stop()
		return nil, fmt.Errorf("enable transit: %w", err)
	}
	return s, nil
}

// waitHealthy polls /v1/sys/health until it answers 200 (initialized,
// unsealed, active), the process exits or startTimeout passes.
func (s *Server) waitHealthy() error {
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := hc.Get(s.Addr + "/v1/sys/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("vault server exited: %v", s.cmd.ProcessState)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("vault server at %s not healthy after %v (last: %v)", s.Addr, startTimeout, err)
		}
	}
}

// Client returns a Vault API client for the server with the root token,
// ignoring VAULT_* environment variables.
func (s *Server) Client(t testing.TB) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = s.Addr
	cfg.MaxRetries = 0
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatalf("vault client: %v", err)
	}
	c.ClearNamespace()
	c.SetToken(s.Token)
	return c
}

// Seal seals the server (sys/seal with the root token), as an operator
// would with `vault operator seal`.
func (s *Server) Seal(t testing.TB) {
	t.Helper()
	if err := s.Client(t).Sys().SealWithContext(context.Background()); err != nil {
		t.Fatalf("seal Vault: %v", err)
	}
}

// Stop stops the server: SIGTERM, then SIGKILL if it has not exited after
// a few seconds; it waits for the process. It is safe to call more than
// once; the test's cleanup calls it.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		p := s.cmd.Process
		_ = p.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(stopTimeout):
			_ = p.Kill()
			<-s.done
		}
	})
}

// Log returns what the server has printed so far, with the root token
// replaced by "<root token>".
func (s *Server) Log() string {
	return strings.ReplaceAll(s.logs.String(), s.Token, "<root token>")
}

// serverEnv is the server's environment: the test's, without VAULT_*
// variables (they configure the CLI and the server), with HOME set to a
// directory of its own.
func serverEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "VAULT_") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+home, "VAULT_DISABLE_MLOCK=true")
}

// freePortPair returns a port P such that P and P+1 were both free on
// 127.0.0.1: a dev server also listens on P+1 for cluster traffic. Another
// process may still take them before the server binds them; Start retries.
func freePortPair() (int, error) {
	for range 50 {
		l1, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l1.Addr().(*net.TCPAddr).Port
		if port >= 65535 {
			l1.Close()
			continue
		}
		l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+1))
		l1.Close()
		if err != nil {
			continue
		}
		l2.Close()
		return port, nil
	}
	return 0, errors.New("no two consecutive free ports on 127.0.0.1")
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// lockedBuffer collects the server's output, written by exec's copying
// goroutines and read by the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
