package casekeys

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
)

// VaultConfig configures OpenVault. Addr and Token are required unless
// Client is set; every other zero field takes its default. VAULT_*
// environment variables are ignored.
type VaultConfig struct {
	// Addr is Vault's address, for example "https://vault.example:8200".
	Addr string
	// Token authenticates to Vault. It needs create, read, update on
	// MOUNT/data/PATH/*, update on MOUNT/destroy/PATH/keys/* and read,
	// delete on MOUNT/metadata/PATH/keys/*.
	Token string
	// Client, if set, is used as it is instead of Addr, Token, CACert and
	// Timeout (for example a client whose token an AppRole login renews).
	Client *api.Client
	// Mount is the path of the KV version 2 engine; default "secret".
	Mount string
	// Path is the folder of the case keys inside the engine; default
	// "cpx/case-keys". Keys are at PATH/keys/ID, destroy marks at
	// PATH/destroyed/ID.
	Path string
	// CACert is the path of a PEM file of CA certificates that Vault's TLS
	// certificate is verified against; default the system roots.
	CACert string
	// Timeout bounds each request to Vault; default 10s.
	Timeout time.Duration
	// CacheSize bounds the keys kept in memory (default DefaultCacheSize;
	// negative: none). Destroy evicts the key.
	CacheSize int
}

// Vault is a Store in a HashiCorp Vault KV version 2 engine. Vault keeps the
// keys behind its own storage barrier, so they are not wrapped again by the
// node's keyring. It is safe for concurrent use.
//
// Destroy writes a mark at PATH/destroyed/ID (so that Get answers
// ErrDestroyed and Create refuses the id), then destroys every version of
// PATH/keys/ID (KV "destroy": the data is removed from storage, not just
// soft-deleted) and deletes its metadata. A snapshot of Vault's storage
// taken before still holds the key, and with Vault's unseal keys revives
// the case: keep Vault snapshots as short as the right to erasure demands.
type Vault struct {
	kv   *api.KVv2
	path string

	limit int
	mu    sync.Mutex
	cache map[string][]byte
}

var _ Store = (*Vault)(nil)

// OpenVault connects to Vault and checks that it answers.
func OpenVault(ctx context.Context, c VaultConfig) (*Vault, error) {
	client := c.Client
	if client == nil {
		var err error
		if client, err = newVaultClient(c); err != nil {
			return nil, err
		}
	}
	mount := strings.Trim(c.Mount, "/")
	if mount == "" {
		mount = "secret"
	}
	path := strings.Trim(c.Path, "/")
	if path == "" {
		path = "cpx/case-keys"
	}
	for _, p := range []string{mount, path} {
		for seg := range strings.SplitSeq(p, "/") {
			if seg == "" || seg == "." || seg == ".." {
				return nil, fmt.Errorf("casekeys: invalid Vault path %q", p)
			}
		}
	}
	if _, err := client.Sys().HealthWithContext(ctx); err != nil {
		return nil, fmt.Errorf("casekeys: vault at %s does not answer: %w", client.Address(), err)
	}
	limit := c.CacheSize
	if limit == 0 {
		limit = DefaultCacheSize
	}
	return &Vault{kv: client.KVv2(mount), path: path, limit: limit, cache: map[string][]byte{}}, nil
}

// newVaultClient builds a client as crypto/keyring does: no VAULT_*
// environment, TLS 1.2 or later, no redirects followed by net/http.
func newVaultClient(c VaultConfig) (*api.Client, error) {
	if c.Addr == "" || c.Token == "" {
		return nil, errors.New("casekeys: vault needs an address and a token")
	}
	u, err := url.Parse(c.Addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, errors.New("casekeys: vault address is not an http:// or https:// address with a host and no credentials")
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CACert != "" {
		pem, err := os.ReadFile(c.CACert)
		if err != nil {
			return nil, fmt.Errorf("casekeys: vault CA certificate: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("casekeys: %s holds no PEM certificate", c.CACert)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	client, err := api.NewClient(&api.Config{
		Address: strings.TrimRight(u.String(), "/"),
		HttpClient: &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		Timeout: timeout,
	})
	if err != nil {
		return nil, fmt.Errorf("casekeys: vault client: %w", err)
	}
	client.ClearNamespace()
	client.SetToken(c.Token)
	return client, nil
}

func (v *Vault) keyPath(id string) string       { return v.path + "/keys/" + id }
func (v *Vault) destroyedPath(id string) string { return v.path + "/destroyed/" + id }

// destroyed reports whether id's destroy mark exists.
func (v *Vault) destroyed(ctx context.Context, id string) (bool, error) {
	_, err := v.kv.Get(ctx, v.destroyedPath(id))
	if errors.Is(err, api.ErrSecretNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("casekeys: vault: %w", err)
	}
	return true, nil
}

// Create makes a new random key and writes it with check-and-set 0, so
// that an existing key is never overwritten.
func (v *Vault) Create(ctx context.Context, caseID string) ([]byte, error) {
	if err := CheckID(caseID); err != nil {
		return nil, err
	}
	if d, err := v.destroyed(ctx, caseID); err != nil {
		return nil, err
	} else if d {
		return nil, ErrDestroyed
	}
	k := make([]byte, KeySize)
	rand.Read(k)
	_, err := v.kv.Put(ctx, v.keyPath(caseID), map[string]any{"key": base64.StdEncoding.EncodeToString(k)}, api.WithCheckAndSet(0))
	if err != nil {
		var re *api.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusBadRequest && strings.Contains(err.Error(), "check-and-set") {
			return nil, ErrExists
		}
		return nil, fmt.Errorf("casekeys: vault: store case key: %w", err)
	}
	v.remember(caseID, k)
	return k, nil
}

// Get reads caseID's key from the cache or from Vault.
func (v *Vault) Get(ctx context.Context, caseID string) ([]byte, error) {
	if err := CheckID(caseID); err != nil {
		return nil, err
	}
	v.mu.Lock()
	k, ok := v.cache[caseID]
	v.mu.Unlock()
	if ok {
		return bytes.Clone(k), nil
	}
	if d, err := v.destroyed(ctx, caseID); err != nil {
		return nil, err
	} else if d {
		return nil, ErrDestroyed
	}
	s, err := v.kv.Get(ctx, v.keyPath(caseID))
	if errors.Is(err, api.ErrSecretNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("casekeys: vault: read case key: %w", err)
	}
	str, _ := s.Data["key"].(string)
	k, err = base64.StdEncoding.DecodeString(str)
	if err != nil || len(k) != KeySize {
		return nil, errors.New("casekeys: vault: malformed case key")
	}
	v.remember(caseID, k)
	return k, nil
}

func (v *Vault) remember(id string, k []byte) {
	if v.limit < 0 {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.cache) >= v.limit {
		for old, b := range v.cache {
			clear(b)
			delete(v.cache, old)
			break
		}
	}
	v.cache[id] = bytes.Clone(k)
}

// Destroy evicts the key from the cache, writes the destroy mark, destroys
// every version of the key and deletes its metadata.
func (v *Vault) Destroy(ctx context.Context, caseID string) error {
	if err := CheckID(caseID); err != nil {
		return err
	}
	v.mu.Lock()
	clear(v.cache[caseID])
	delete(v.cache, caseID)
	v.mu.Unlock()
	if _, err := v.kv.Put(ctx, v.destroyedPath(caseID), map[string]any{"destroyed": true}); err != nil {
		return fmt.Errorf("casekeys: vault: mark case key destroyed: %w", err)
	}
	versions, err := v.kv.GetVersionsAsList(ctx, v.keyPath(caseID))
	if errors.Is(err, api.ErrSecretNotFound) {
		return nil // never created, or destroyed before
	}
	if err != nil {
		return fmt.Errorf("casekeys: vault: list case key versions: %w", err)
	}
	var nums []int
	for _, m := range versions {
		nums = append(nums, m.Version)
	}
	if len(nums) > 0 {
		if err := v.kv.Destroy(ctx, v.keyPath(caseID), nums); err != nil {
			return fmt.Errorf("casekeys: vault: destroy case key: %w", err)
		}
	}
	if err := v.kv.DeleteMetadata(ctx, v.keyPath(caseID)); err != nil {
		return fmt.Errorf("casekeys: vault: delete case key metadata: %w", err)
	}
	return nil
}
