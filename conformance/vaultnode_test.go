package conformance_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/cpx-node/cpx/conformance/vault"
)

// TestVaultKeyring runs a node whose keys are wrapped by a real Vault:
// init, start, work, restart; then Vault away at start, and a wrong token.
func TestVaultKeyring(t *testing.T) {
	v := vault.Start(t)
	dir := filepath.Join(t.TempDir(), "agency-v")
	env := []string{"CPX_VAULT_TOKEN=" + v.Token, "CPX_PASSPHRASE="}
	run := func(env []string, args ...string) result {
		t.Helper()
		return cpx(t, env, args...)
	}
	if r := run(env, "init", "--dir", dir, "--agency", "agency-v", "--keyring", "vault", "--vault-addr", v.Addr, "--vault-key", "cpx-agency-v",
		"--listen", "127.0.0.1:0", "--p2p-listen", "/ip4/127.0.0.1/tcp/0"); r.code != 0 {
		t.Fatalf("init with vault: %s%s", r.stdout, r.stderr)
	}
	if _, err := filepath.Glob(filepath.Join(dir, "keyring.json")); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "keyring.json")); len(m) != 0 {
		t.Error("a Vault node has a local keyring file")
	}
	n := startEnv(t, dir, env)
	var created struct{ Case caseJSON }
	supToken := addUser(t, dir, "sam", "supervisor")
	mustJSON(t, &created, "case", "create", "--set", "name_first=Vaulted", "--set", "sex=male", "--api", n.url, "--token", supToken)
	n.stop(t)

	// The store key and agency keys unwrap again after a restart.
	n = startEnv(t, dir, env)
	var got struct{ Case caseJSON }
	mustJSON(t, &got, "case", "get", created.Case.ID, "--api", n.url, "--token", supToken)
	if got.Case.Fields["name_first"] != "Vaulted" {
		t.Errorf("after restart: got %+v", got.Case)
	}

	// Rotate the transit key and rewrap everything; it all opens again.
	var rot struct {
		Rewrapped int `json:"rewrapped"`
	}
	mustJSON(t, &rot, "keys", "rotate", "--wrapping", "--dir", dir)
	if rot.Rewrapped < 3 {
		t.Errorf("rewrapped %d secrets, want at least the store key, the agency key and the identity", rot.Rewrapped)
	}
	var ks struct {
		KeyringOK       bool `json:"keyring_ok"`
		WrappingVersion int  `json:"wrapping_version"`
	}
	mustJSON(t, &ks, "keys", "status", "--dir", dir)
	if !ks.KeyringOK || ks.WrappingVersion != 2 {
		t.Errorf("keys status after rotation: %+v", ks)
	}
	n.stop(t)
	n = startEnv(t, dir, env)
	mustJSON(t, &got, "case", "get", created.Case.ID, "--api", n.url, "--token", supToken)
	if got.Case.Fields["name_first"] != "Vaulted" {
		t.Errorf("after rewrap and restart: got %+v", got.Case)
	}

	// Vault going away while the node runs: it keeps serving and says so.
	v.Stop()
	mustJSON(t, &got, "case", "get", created.Case.ID, "--api", n.url, "--token", supToken)
	mustJSON(t, &ks, "keys", "status", "--dir", dir)
	if ks.KeyringOK {
		t.Error("keys status says the keyring is fine while Vault is down")
	}
	var st struct {
		KeyringOK bool `json:"keyring_ok"`
	}
	mustJSON(t, &st, "status", "--dir", dir)
	if st.KeyringOK {
		t.Error("status says the keyring is fine while Vault is down")
	}
	n.stop(t)

	// Vault away at start: a clear error naming the address, exit non-zero.
	r := cpx(t, env, "start", "--dir", dir)
	if r.code == 0 || !strings.Contains(r.stderr, v.Addr) || !strings.Contains(strings.ToLower(r.stderr), "vault") {
		t.Errorf("start with Vault down: exit %d, stderr %q; want an error naming %s", r.code, r.stderr, v.Addr)
	}
}

// TestVaultWrongToken: a wrong token is refused with a clear error.
func TestVaultWrongToken(t *testing.T) {
	v := vault.Start(t)
	dir := filepath.Join(t.TempDir(), "agency-w")
	r := cpx(t, []string{"CPX_VAULT_TOKEN=not-the-token"}, "init", "--dir", dir, "--agency", "agency-w", "--keyring", "vault", "--vault-addr", v.Addr)
	if r.code == 0 || !strings.Contains(r.stderr, "token") {
		t.Errorf("init with a wrong token: exit %d, stderr %q", r.code, r.stderr)
	}
}
