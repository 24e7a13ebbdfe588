package keyring_test

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/cpx-node/cpx/conformance/vault"
	"github.com/cpx-node/cpx/crypto/keyring"
	"github.com/cpx-node/cpx/crypto/keyring/keyringtest"
)

// openVault opens a Vault keyring on srv with the root token and its own
// transit key.
func openVault(t *testing.T, srv *vault.Server, key string) *keyring.Vault {
	t.Helper()
	v, err := keyring.OpenVault(t.Context(), keyring.VaultConfig{Addr: srv.Addr, Token: srv.Token, Key: key})
	if err != nil {
		t.Fatalf("OpenVault: %v", err)
	}
	return v
}

func TestVaultKeyring(t *testing.T) {
	srv := vault.Start(t)
	var n atomic.Int64
	keyringtest.TestKeyring(t, func(t *testing.T) keyring.Keyring {
		// A transit key per keyring, so that keyrings are independent.
		return openVault(t, srv, fmt.Sprintf("suite-%d", n.Add(1)))
	})
}

func TestVaultKind(t *testing.T) {
	srv := vault.Start(t)
	if got := openVault(t, srv, "kind").Kind(); got != "vault" {
		t.Errorf("Kind() = %q, want %q", got, "vault")
	}
}

func TestVaultDefaults(t *testing.T) {
	srv := vault.Start(t)
	v := openVault(t, srv, "")
	if got, want := v.Key(), "transit/keys/cpx"; got != want {
		t.Errorf("Key() = %q, want %q", got, want)
	}
	s, err := srv.Client(t).Logical().Read("transit/keys/cpx")
	if err != nil || s == nil {
		t.Fatalf("read transit/keys/cpx = %v, %v; want the key OpenVault created", s, err)
	}
	if got := s.Data["type"]; got != "aes256-gcm96" {
		t.Errorf("transit key type = %v, want aes256-gcm96", got)
	}
	if err := v.Health(t.Context()); err != nil {
		t.Errorf("Health: %v", err)
	}
}

// The wrapped secret is Vault's own ciphertext, readable by the vault CLI
// with the same associated data.
func TestVaultWrappedFormat(t *testing.T) {
	srv := vault.Start(t)
	v := openVault(t, srv, "format")
	wrapped, err := v.Wrap(t.Context(), "store-key", []byte("secret"))
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	if !bytes.HasPrefix(wrapped, []byte("vault:v1:")) {
		t.Errorf("Wrap = %q, want a vault:v1: ciphertext", wrapped)
	}
	// Vault accepts "v0" for "v1"; the keyring must not.
	v0 := bytes.Replace(wrapped, []byte("vault:v1:"), []byte("vault:v0:"), 1)
	if got, err := v.Unwrap(t.Context(), "store-key", v0); !errors.Is(err, keyring.ErrCorrupt) {
		t.Errorf("Unwrap of the v0 spelling = %q, %v; want ErrCorrupt", got, err)
	}
	// Vault's base64 ignores newlines; the keyring must not.
	nl := append(bytes.Clone(wrapped[:len(wrapped)-4]), append([]byte("\n"), wrapped[len(wrapped)-4:]...)...)
	if got, err := v.Unwrap(t.Context(), "store-key", nl); !errors.Is(err, keyring.ErrCorrupt) {
		t.Errorf("Unwrap with a newline = %q, %v; want ErrCorrupt", got, err)
	}
}

// Secrets over 32 KiB are sealed under a data key that transit wraps.
func TestVaultEnvelope(t *testing.T) {
	srv := vault.Start(t)
	ctx := t.Context()
	v := openVault(t, srv, "envelope")
	secret := make([]byte, 100<<10)
	for i := range secret {
		secret[i] = byte(i * 13)
	}
	wrapped, err := v.Wrap(ctx, "big", secret)
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	if !bytes.HasPrefix(wrapped, []byte("cpx-vault-envelope-v1:vault:v1:")) {
		t.Fatalf("Wrap of 100 KiB = %.40q…, want an envelope", wrapped)
	}
	if got, err := v.Unwrap(ctx, "big", wrapped); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Unwrap of the envelope: %v (equal: %v)", err, bytes.Equal(got, secret))
	}
	if _, err := v.Unwrap(ctx, "bigger", wrapped); !errors.Is(err, keyring.ErrCorrupt) {
		t.Errorf("Unwrap under another name: %v; want ErrCorrupt", err)
	}
	if _, err := openVault(t, srv, "envelope-other").Unwrap(ctx, "big", wrapped); !errors.Is(err, keyring.ErrCorrupt) {
		t.Errorf("Unwrap by another keyring: %v; want ErrCorrupt", err)
	}
	// The wrapped data key is not a directly wrapped secret.
	rest := bytes.TrimPrefix(wrapped, []byte("cpx-vault-envelope-v1:"))
	inner := rest[:bytes.LastIndexByte(rest, ':')]
	if got, err := v.Unwrap(ctx, "big", inner); !errors.Is(err, keyring.ErrCorrupt) {
		t.Errorf("Unwrap of the envelope's data key as a secret = %x, %v; want ErrCorrupt", got, err)
	}
	// Every byte of the header and the data key, and a sample of the body.
	positions := make([]int, 0, len(inner)+100)
	for i := range len("cpx-vault-envelope-v1:") + len(inner) + 8 {
		positions = append(positions, i)
	}
	for i := 0; i < 64; i++ {
		positions = append(positions, len(wrapped)-1-i*(len(wrapped)/100))
	}
	for _, i := range positions {
		m := bytes.Clone(wrapped)
		m[i] ^= 0x01
		if _, err := v.Unwrap(ctx, "big", m); !errors.Is(err, keyring.ErrCorrupt) {
			t.Fatalf("Unwrap with byte %d ^ 0x01: %v; want ErrCorrupt", i, err)
		}
	}
	for _, n := range []int{0, 10, len("cpx-vault-envelope-v1:") + len(inner), len("cpx-vault-envelope-v1:") + len(inner) + 1, len(wrapped) - 4, len(wrapped) - 1} {
		if _, err := v.Unwrap(ctx, "big", wrapped[:n]); !errors.Is(err, keyring.ErrCorrupt) {
			t.Errorf("Unwrap of the first %d bytes: %v; want ErrCorrupt", n, err)
		}
	}
	// Rotation moves the data key to the new version.
	if err := v.Rotate(ctx); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	rewrapped, err := v.Rewrap(ctx, "big", wrapped)
	if err != nil {
		t.Fatalf("Rewrap: %v", err)
	}
	if !bytes.HasPrefix(rewrapped, []byte("cpx-vault-envelope-v1:vault:v2:")) {
		t.Errorf("Rewrap = %.40q…, want an envelope with a v2 data key", rewrapped)
	}
	if got, err := v.Unwrap(ctx, "big", rewrapped); err != nil || !bytes.Equal(got, secret) {
		t.Errorf("Unwrap of the rewrapped envelope: %v", err)
	}
}

func TestVaultRotation(t *testing.T) {
	srv := vault.Start(t)
	ctx := t.Context()
	v := openVault(t, srv, "rotation")
	versions := func(wantLatest, wantMin int) {
		t.Helper()
		latest, minDec, err := v.KeyVersions(ctx)
		if err != nil {
			t.Fatalf("KeyVersions: %v", err)
		}
		if latest != wantLatest || minDec != wantMin {
			t.Errorf("KeyVersions = %d, %d; want %d, %d", latest, minDec, wantLatest, wantMin)
		}
	}
	versions(1, 1)

	secret := []byte("store key")
	old, err := v.Wrap(ctx, "store-key", secret)
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	if err := v.Rotate(ctx); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	versions(2, 1)

	if got, err := v.Unwrap(ctx, "store-key", old); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Unwrap of a secret wrapped before Rotate = %q, %v; want %q", got, err, secret)
	}
	fresh, err := v.Wrap(ctx, "store-key", secret)
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	if !bytes.HasPrefix(fresh, []byte("vault:v2:")) {
		t.Errorf("Wrap after Rotate = %.12q…, want vault:v2:", fresh)
	}
	rewrapped, err := v.Rewrap(ctx, "store-key", old)
	if err != nil {
		t.Fatalf("Rewrap: %v", err)
	}
	if !bytes.HasPrefix(rewrapped, []byte("vault:v2:")) {
		t.Errorf("Rewrap = %.12q…, want vault:v2:", rewrapped)
	}
	if got, err := v.Unwrap(ctx, "store-key", rewrapped); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Unwrap of the rewrapped secret = %q, %v; want %q", got, err, secret)
	}
	// Rewrap keeps the name binding.
	if got, err := v.Unwrap(ctx, "other", rewrapped); !errors.Is(err, keyring.ErrCorrupt) {
		t.Errorf("Unwrap of the rewrapped secret under another name = %q, %v; want ErrCorrupt", got, err)
	}
	if got, err := v.Rewrap(ctx, "other", old); !errors.Is(err, keyring.ErrCorrupt) {
		t.Errorf("Rewrap under another name = %q, %v; want ErrCorrupt", got, err)
	}

	// Retire version 1: the old wrapped secret no longer unwraps, and the
	// error says why.
	if _, err := srv.Client(t).Logical().Write("transit/keys/rotation/config", map[string]any{"min_decryption_version": 2}); err != nil {
		t.Fatalf("set min_decryption_version: %v", err)
	}
	versions(2, 2)
	_, err = v.Unwrap(ctx, "store-key", old)
	if !errors.Is(err, keyring.ErrCorrupt) || !strings.Contains(err.Error(), "min_decryption_version") {
		t.Errorf("Unwrap of a retired version: %v; want ErrCorrupt naming min_decryption_version", err)
	}
	if got, err := v.Unwrap(ctx, "store-key", rewrapped); err != nil || !bytes.Equal(got, secret) {
		t.Errorf("Unwrap of the rewrapped secret after retiring v1 = %q, %v; want %q", got, err, secret)
	}
}

func TestVaultWrongToken(t *testing.T) {
	srv := vault.Start(t)
	const bad = "not-the-token-7f3a"
	_, err := keyring.OpenVault(t.Context(), keyring.VaultConfig{Addr: srv.Addr, Token: bad, Key: "k"})
	if !errors.Is(err, keyring.ErrVaultDenied) {
		t.Fatalf("OpenVault with a wrong token: %v; want ErrVaultDenied", err)
	}
	checkMessage(t, err, bad, "403", "vault.token", "transit/keys/k")
}

// A token whose policy allows only another key is refused on Wrap.
func TestVaultPolicyDenied(t *testing.T) {
	srv := vault.Start(t)
	root := srv.Client(t)
	openVault(t, srv, "allowed") // creates the key with the root token
	if err := root.Sys().PutPolicy("only-allowed", transitPolicy("allowed")); err != nil {
		t.Fatal(err)
	}
	tok, err := root.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"only-allowed"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	v, err := keyring.OpenVault(ctx, keyring.VaultConfig{Addr: srv.Addr, Token: tok.Auth.ClientToken, Key: "allowed"})
	if err != nil {
		t.Fatalf("OpenVault with a policy on the key: %v", err)
	}
	if _, err := v.Wrap(ctx, "k", []byte("s")); err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	_, err = keyring.OpenVault(ctx, keyring.VaultConfig{Addr: srv.Addr, Token: tok.Auth.ClientToken, Key: "other"})
	if !errors.Is(err, keyring.ErrVaultDenied) {
		t.Fatalf("OpenVault on a key the policy does not cover: %v; want ErrVaultDenied", err)
	}
	checkMessage(t, err, tok.Auth.ClientToken, "transit/keys/other", `"read"`)
	if err := v.Rotate(ctx); !errors.Is(err, keyring.ErrVaultDenied) {
		t.Errorf("Rotate without the rotate capability: %v; want ErrVaultDenied", err)
	}
}

func TestVaultUnreachable(t *testing.T) {
	addr := closedAddr(t)
	start := time.Now()
	_, err := keyring.OpenVault(t.Context(), keyring.VaultConfig{Addr: addr, Token: "t0k3n-secret", Timeout: time.Second})
	if !errors.Is(err, keyring.ErrVaultUnreachable) {
		t.Fatalf("OpenVault with nothing listening: %v; want ErrVaultUnreachable", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("OpenVault took %v to report an unreachable Vault", d)
	}
	checkMessage(t, err, "t0k3n-secret", addr, "check vault.addr", "connection refused")
}

// A Vault that goes away: Unwrap retries briefly, then reports it.
func TestVaultGoesAway(t *testing.T) {
	srv := vault.Start(t)
	ctx := t.Context()
	v := openVault(t, srv, "away")
	wrapped, err := v.Wrap(ctx, "k", []byte("s"))
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	srv.Stop()
	start := time.Now()
	_, err = v.Unwrap(ctx, "k", wrapped)
	d := time.Since(start)
	if !errors.Is(err, keyring.ErrVaultUnreachable) {
		t.Fatalf("Unwrap after Vault stopped: %v; want ErrVaultUnreachable", err)
	}
	if d < 150*time.Millisecond || d > 5*time.Second {
		t.Errorf("Unwrap gave up after %v; want bounded retries (between 150ms and 5s)", d)
	}
	checkMessage(t, err, srv.Token, srv.Addr)
	if err := v.Health(ctx); !errors.Is(err, keyring.ErrVaultUnreachable) {
		t.Errorf("Health after Vault stopped: %v; want ErrVaultUnreachable", err)
	}

	// The retries respect the context.
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := v.Wrap(cctx, "k", []byte("s")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wrap with a 50ms deadline: %v; want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Wrap with a 50ms deadline took %v", d)
	}
}

func TestVaultSealed(t *testing.T) {
	srv := vault.Start(t)
	ctx := t.Context()
	v := openVault(t, srv, "sealed")
	wrapped, err := v.Wrap(ctx, "k", []byte("s"))
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	srv.Seal(t)
	if _, err := v.Unwrap(ctx, "k", wrapped); !errors.Is(err, keyring.ErrVaultSealed) {
		t.Errorf("Unwrap on a sealed Vault: %v; want ErrVaultSealed", err)
	}
	if _, err := v.Wrap(ctx, "k", []byte("s")); !errors.Is(err, keyring.ErrVaultSealed) {
		t.Errorf("Wrap on a sealed Vault: %v; want ErrVaultSealed", err)
	}
	if err := v.Health(ctx); !errors.Is(err, keyring.ErrVaultSealed) {
		t.Errorf("Health on a sealed Vault: %v; want ErrVaultSealed", err)
	}
	_, err = keyring.OpenVault(ctx, keyring.VaultConfig{Addr: srv.Addr, Token: srv.Token, Key: "sealed"})
	if !errors.Is(err, keyring.ErrVaultSealed) {
		t.Fatalf("OpenVault on a sealed Vault: %v; want ErrVaultSealed", err)
	}
	checkMessage(t, err, srv.Token, srv.Addr, "sealed", "unseal")
}

func TestVaultAppRole(t *testing.T) {
	srv := vault.Start(t)
	ctx := t.Context()
	roleID, secretID := setupAppRole(t, srv, "approle-key", "1h")

	v, err := keyring.OpenVault(ctx, keyring.VaultConfig{Addr: srv.Addr, RoleID: roleID, SecretID: secretID, Key: "approle-key"})
	if err != nil {
		t.Fatalf("OpenVault with AppRole: %v", err)
	}
	wrapped, err := v.Wrap(ctx, "store-key", []byte("secret"))
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	if got, err := v.Unwrap(ctx, "store-key", wrapped); err != nil || string(got) != "secret" {
		t.Fatalf("Unwrap = %q, %v; want %q", got, err, "secret")
	}

	_, err = keyring.OpenVault(ctx, keyring.VaultConfig{Addr: srv.Addr, RoleID: roleID, SecretID: "wrong-secret-id", Key: "approle-key"})
	if !errors.Is(err, keyring.ErrVaultDenied) {
		t.Fatalf("OpenVault with a wrong secret ID: %v; want ErrVaultDenied", err)
	}
	checkMessage(t, err, "wrong-secret-id", "AppRole", "vault.secret_id")

	// The AppRole may not use other keys.
	_, err = keyring.OpenVault(ctx, keyring.VaultConfig{Addr: srv.Addr, RoleID: roleID, SecretID: secretID, Key: "other"})
	if !errors.Is(err, keyring.ErrVaultDenied) {
		t.Errorf("OpenVault with AppRole on another key: %v; want ErrVaultDenied", err)
	}
}

// When the AppRole token expires, the keyring logs in again.
func TestVaultAppRoleRelogin(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a token to expire")
	}
	srv := vault.Start(t)
	ctx := t.Context()
	roleID, secretID := setupAppRole(t, srv, "relogin", "1s")
	v, err := keyring.OpenVault(ctx, keyring.VaultConfig{Addr: srv.Addr, RoleID: roleID, SecretID: secretID, Key: "relogin"})
	if err != nil {
		t.Fatalf("OpenVault with AppRole: %v", err)
	}
	wrapped, err := v.Wrap(ctx, "k", []byte("s"))
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	time.Sleep(2 * time.Second)
	if got, err := v.Unwrap(ctx, "k", wrapped); err != nil || string(got) != "s" {
		t.Fatalf("Unwrap after the token expired = %q, %v; want %q", got, err, "s")
	}
}

func TestVaultMissingMount(t *testing.T) {
	srv := vault.Start(t)
	_, err := keyring.OpenVault(t.Context(), keyring.VaultConfig{Addr: srv.Addr, Token: srv.Token, TransitMount: "not-mounted"})
	if err == nil {
		t.Fatal("OpenVault on a mount without transit succeeded")
	}
	checkMessage(t, err, srv.Token, "vault.transit_mount", "not-mounted/keys/cpx")
}

// TLS: Vault's certificate is checked against vault.ca_cert. A stand-in
// server answers sys/health and refuses everything else.
func TestVaultTLS(t *testing.T) {
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/v1/sys/health" {
			io.WriteString(w, `{"initialized":true,"sealed":false,"standby":false}`)
			return
		}
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"errors":["permission denied"]}`)
	}))
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // expected handshake failures
	ts.StartTLS()
	defer ts.Close()
	ctx := t.Context()

	_, err := keyring.OpenVault(ctx, keyring.VaultConfig{Addr: ts.URL, Token: "t0k3n", Timeout: 2 * time.Second})
	if !errors.Is(err, keyring.ErrVaultUnreachable) {
		t.Fatalf("OpenVault without the CA: %v; want ErrVaultUnreachable", err)
	}
	checkMessage(t, err, "t0k3n", "TLS", "vault.ca_cert")

	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
	if err := os.WriteFile(ca, pemCert, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = keyring.OpenVault(ctx, keyring.VaultConfig{Addr: ts.URL, Token: "t0k3n", CACert: ca})
	if !errors.Is(err, keyring.ErrVaultDenied) {
		t.Fatalf("OpenVault with the CA: %v; want ErrVaultDenied from the stand-in", err)
	}

	plain := strings.Replace(ts.URL, "https://", "http://", 1)
	_, err = keyring.OpenVault(ctx, keyring.VaultConfig{Addr: plain, Token: "t0k3n", Timeout: 2 * time.Second})
	if !errors.Is(err, keyring.ErrVaultUnreachable) {
		t.Fatalf("OpenVault with http:// to a TLS server: %v; want ErrVaultUnreachable", err)
	}
	checkMessage(t, err, "t0k3n", "https://")
}

func TestVaultConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    keyring.VaultConfig
		want string
	}{
		{"no addr", keyring.VaultConfig{Token: "t"}, "vault.addr is not set"},
		{"bad addr", keyring.VaultConfig{Addr: "127.0.0.1:8200", Token: "t"}, "vault.addr"},
		{"credentials in addr", keyring.VaultConfig{Addr: "https://u:p@vault:8200", Token: "t"}, "credentials"},
		{"no auth", keyring.VaultConfig{Addr: "http://127.0.0.1:1"}, "vault.token"},
		{"both", keyring.VaultConfig{Addr: "http://127.0.0.1:1", Token: "t", RoleID: "r", SecretID: "s"}, "not both"},
		{"role without secret", keyring.VaultConfig{Addr: "http://127.0.0.1:1", RoleID: "r"}, "vault.secret_id"},
		{"bad key", keyring.VaultConfig{Addr: "http://127.0.0.1:1", Token: "t", Key: "a/b"}, "vault.key"},
		{"bad mount", keyring.VaultConfig{Addr: "http://127.0.0.1:1", Token: "t", TransitMount: "a/../b"}, "mount"},
		{"token with newline", keyring.VaultConfig{Addr: "http://127.0.0.1:1", Token: "t\n"}, "non-printable"},
		{"missing CA file", keyring.VaultConfig{Addr: "https://127.0.0.1:1", Token: "t", CACert: "/nonexistent/ca.pem"}, "vault.ca_cert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := keyring.OpenVault(t.Context(), tc.c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("OpenVault: %v; want an error mentioning %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), ":p@") {
				t.Errorf("error leaks the address's password: %v", err)
			}
		})
	}
}

// setupAppRole enables AppRole, creates a role whose tokens may use the
// transit key and returns its role ID and a secret ID.
func setupAppRole(t *testing.T, srv *vault.Server, key, ttl string) (roleID, secretID string) {
	t.Helper()
	root := srv.Client(t)
	if err := root.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatalf("enable approle: %v", err)
	}
	if err := root.Sys().PutPolicy("cpx-keyring", transitPolicy(key)); err != nil {
		t.Fatalf("put policy: %v", err)
	}
	if _, err := root.Logical().Write("auth/approle/role/cpx", map[string]any{
		"token_policies": "cpx-keyring",
		"token_ttl":      ttl,
		"token_max_ttl":  ttl,
	}); err != nil {
		t.Fatalf("create role: %v", err)
	}
	s, err := root.Logical().Read("auth/approle/role/cpx/role-id")
	if err != nil || s == nil {
		t.Fatalf("read role-id: %v", err)
	}
	roleID, _ = s.Data["role_id"].(string)
	s, err = root.Logical().Write("auth/approle/role/cpx/secret-id", nil)
	if err != nil || s == nil {
		t.Fatalf("create secret-id: %v", err)
	}
	secretID, _ = s.Data["secret_id"].(string)
	if roleID == "" || secretID == "" {
		t.Fatalf("role-id %q, secret-id empty: %v", roleID, secretID == "")
	}
	return roleID, secretID
}

// transitPolicy is the policy docs/vault.md tells operators to grant.
func transitPolicy(key string) string {
	return fmt.Sprintf(`
path "transit/keys/%[1]s" {
  capabilities = ["read", "create", "update"]
}
path "transit/encrypt/%[1]s" {
  capabilities = ["update"]
}
path "transit/decrypt/%[1]s" {
  capabilities = ["update"]
}
`, key)
}

// closedAddr returns the address of a loopback port nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + l.Addr().String()
	l.Close()
	return addr
}

// checkMessage checks that err's message mentions every one of want and
// never the secret.
func checkMessage(t *testing.T, err error, secret string, want ...string) {
	t.Helper()
	msg := err.Error()
	if secret != "" && strings.Contains(msg, secret) {
		t.Errorf("error message contains a credential: %q", msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error message %q does not mention %q", msg, w)
		}
	}
}
