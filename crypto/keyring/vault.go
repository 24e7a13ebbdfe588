package keyring

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/hashicorp/vault/api"
)

// VaultConfig configures a Vault keyring. Addr and either Token or
// RoleID and SecretID are required; every other zero field takes its
// default. VAULT_* environment variables are ignored: the configuration is
// exactly what is given here.
type VaultConfig struct {
	// Addr is Vault's address, for example "https://vault.example:8200".
	Addr string
	// Token authenticates to Vault. Set either Token or RoleID and SecretID.
	Token string
	// RoleID and SecretID log in with AppRole (at auth/AppRoleMount/login).
	// The keyring logs in again when Vault refuses an expired token.
	RoleID, SecretID string
	// AppRoleMount is the path of the AppRole auth method; default "approle".
	AppRoleMount string
	// TransitMount is the path of the transit secrets engine; default "transit".
	TransitMount string
	// Key is the name of the transit key; default "cpx". OpenVault creates it
	// (type aes256-gcm96) if it does not exist.
	Key string
	// CACert is the path of a PEM file of CA certificates that Vault's TLS
	// certificate is verified against; default the system roots.
	CACert string
	// Timeout bounds each HTTP request to Vault; default 10s.
	Timeout time.Duration
	// Logger receives retries of transient failures, at level Warn; default
	// none. Tokens, secrets and wrapped secrets are never logged.
	Logger *slog.Logger
}

const (
	defaultVaultTimeout = 10 * time.Second

	// vaultDirectMax is the largest secret sent to transit as it is; larger
	// ones are sealed locally under a data key that transit wraps. Vault
	// refuses JSON string values over 1 MiB by default
	// (max_json_string_value_length), which base64 reaches at 768 KiB.
	vaultDirectMax = 32 << 10
	envelopePrefix = "cpx-vault-envelope-v1:"
	vaultKeyType   = "aes256-gcm96"

	// vaultAttempts bounds the attempts of an idempotent request (Wrap,
	// Unwrap, Rewrap, KeyVersions) that fails transiently: a network error,
	// or Vault answering 412, 429, 502, 503 (not sealed) or 504.
	vaultAttempts    = 4
	vaultBackoffBase = 100 * time.Millisecond
	vaultBackoffMax  = time.Second
)

// Log keys.
const (
	logKeyOp      = "op"
	logKeyAttempt = "attempt"
	logKeyWait    = "wait"
	logKeyErr     = "err"
)

// Vault is a keyring whose key-encryption key is a HashiCorp Vault transit
// key: Wrap and Unwrap send the secret to Vault's transit engine
// (transit/encrypt/KEY and transit/decrypt/KEY), so the key never leaves
// Vault. The name is bound as AEAD associated data, "cpx-keyring-v1:" + name.
//
// A wrapped secret is Vault's ciphertext string "vault:vN:BASE64", where N is
// the transit key version that wrapped it. Unwrap accepts only the canonical
// form Wrap produces, so that any change to a wrapped secret is ErrCorrupt.
//
// Secrets over 32 KiB (Vault refuses JSON strings over 1 MiB by default)
// are sealed locally with AES-256-GCM under a fresh data key, and only the
// data key goes to transit: "cpx-vault-envelope-v1:vault:vN:...:BASE64".
//
// A Vault is safe for concurrent use.
type Vault struct {
	addr    string // for messages; never holds credentials
	mount   string
	key     string
	client  *api.Client
	login   *api.Client // token-less clone for AppRole logins; nil with a static token
	roleID  string
	secret  string
	approle string
	log     *slog.Logger

	mu  sync.Mutex
	gen uint64 // incremented by every AppRole login
}

var _ Keyring = (*Vault)(nil)

// transit key names: Vault's framework.GenericNameRegex.
var vaultNameRE = regexp.MustCompile(`^\w(([\w.@-]+)?\w)?$`)

// OpenVault connects to Vault, checks that it is reachable and unsealed,
// logs in with AppRole if RoleID and SecretID are set, and creates the
// transit key (type aes256-gcm96) if it does not exist.
//
// Errors wrap ErrVaultUnreachable, ErrVaultSealed or ErrVaultDenied where
// they apply, and say what to check.
func OpenVault(ctx context.Context, c VaultConfig) (*Vault, error) {
	if c.Addr == "" {
		return nil, errors.New("keyring: vault.addr is not set")
	}
	u, err := url.Parse(c.Addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("keyring: vault.addr is not an http:// or https:// address with a host")
	}
	if u.User != nil {
		return nil, errors.New("keyring: vault.addr must not contain credentials")
	}
	appRole := c.RoleID != "" || c.SecretID != ""
	switch {
	case appRole && c.Token != "":
		return nil, errors.New("keyring: set either vault.token or vault.role_id and vault.secret_id, not both")
	case appRole && (c.RoleID == "" || c.SecretID == ""):
		return nil, errors.New("keyring: AppRole login needs both vault.role_id and vault.secret_id")
	case !appRole && c.Token == "":
		return nil, errors.New("keyring: set vault.token, or vault.role_id and vault.secret_id for AppRole")
	case strings.ContainsFunc(c.Token, func(r rune) bool { return !unicode.IsPrint(r) }):
		return nil, errors.New("keyring: vault.token contains non-printable characters (a trailing newline from a file?)")
	}
	v := &Vault{
		addr:    strings.TrimRight(u.String(), "/"),
		mount:   strings.Trim(c.TransitMount, "/"),
		key:     c.Key,
		roleID:  c.RoleID,
		secret:  c.SecretID,
		approle: strings.Trim(c.AppRoleMount, "/"),
		log:     c.Logger,
	}
	if v.mount == "" {
		v.mount = "transit"
	}
	if v.approle == "" {
		v.approle = "approle"
	}
	if v.key == "" {
		v.key = "cpx"
	}
	if !vaultNameRE.MatchString(v.key) {
		return nil, fmt.Errorf("keyring: vault.key %q is not a valid transit key name", v.key)
	}
	for _, m := range []string{v.mount, v.approle} {
		for seg := range strings.SplitSeq(m, "/") {
			if seg == "" || seg == "." || seg == ".." {
				return nil, fmt.Errorf("keyring: invalid Vault mount path %q", m)
			}
		}
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = defaultVaultTimeout
	}

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	tr.TLSHandshakeTimeout = timeout
	if c.CACert != "" {
		pem, err := os.ReadFile(c.CACert)
		if err != nil {
			return nil, fmt.Errorf("keyring: vault.ca_cert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("keyring: vault.ca_cert %s holds no PEM certificate", c.CACert)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	client, err := api.NewClient(&api.Config{
		Address: v.addr,
		HttpClient: &http.Client{
			Transport: tr,
			// The api client follows Vault's redirects itself.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		Timeout:    timeout,
		MaxRetries: 0, // Vault.do retries, bounded and only where it is safe
	})
	if err != nil {
		return nil, fmt.Errorf("keyring: vault client: %w", err)
	}
	client.ClearNamespace()
	client.ClearToken()
	v.client = client

	if err := v.Health(ctx); err != nil {
		return nil, err
	}
	if appRole {
		if v.login, err = client.Clone(); err != nil {
			return nil, fmt.Errorf("keyring: vault client: %w", err)
		}
		v.login.ClearToken()
		if err := v.relogin(ctx, 0); err != nil {
			return nil, err
		}
	} else {
		client.SetToken(c.Token)
	}
	if err := v.ensureKey(ctx); err != nil {
		return nil, err
	}
	return v, nil
}

// Kind returns "vault".
func (v *Vault) Kind() string { return "vault" }

// Addr returns Vault's address.
func (v *Vault) Addr() string { return v.addr }

// Key returns the transit key's path, for example "transit/keys/cpx".
func (v *Vault) Key() string { return v.mount + "/keys/" + v.key }

// Wrap encrypts secret with the transit key (transit/encrypt/KEY), bound to
// name as associated data. The result is Vault's "vault:vN:..." ciphertext.
func (v *Vault) Wrap(ctx context.Context, name string, secret []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(secret) <= vaultDirectMax {
		return v.encrypt(ctx, opWrap, directAAD(name), secret)
	}
	return v.wrapEnvelope(ctx, opWrap, name, secret)
}

// Unwrap decrypts wrapped with the transit key (transit/decrypt/KEY). It
// returns ErrCorrupt if wrapped is not exactly what Wrap returned under this
// keyring's transit key and name, or if Vault no longer decrypts the key
// version that wrapped it (min_decryption_version).
func (v *Vault) Unwrap(ctx context.Context, name string, wrapped []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return v.unwrapAny(ctx, opUnwrap, name, wrapped)
}

// Rotate adds a new version of the transit key (transit/keys/KEY/rotate);
// later wraps use it. Secrets wrapped under older versions still unwrap
// until the key's min_decryption_version is raised past them; Rewrap moves
// them to the newest version. Rotate is not retried.
func (v *Vault) Rotate(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := v.do(ctx, opRotate, v.mount+"/keys/"+v.key+"/rotate", nil, false)
	return err
}

// Rewrap returns wrapped re-encrypted under the newest version of the
// transit key, bound to the same name. It returns ErrCorrupt as Unwrap does.
//
// Rewrap decrypts and encrypts again (transit/decrypt, transit/encrypt)
// rather than calling transit/rewrap: Vault's rewrap endpoint does not
// accept associated data, so it cannot rewrap a name-bound secret. The
// secret is in this process's memory only for the duration of the call.
func (v *Vault) Rewrap(ctx context.Context, name string, wrapped []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	secret, err := v.unwrapAny(ctx, opRewrap, name, wrapped)
	if err != nil {
		return nil, err
	}
	defer clear(secret)
	if len(secret) <= vaultDirectMax {
		return v.encrypt(ctx, opRewrap, directAAD(name), secret)
	}
	return v.wrapEnvelope(ctx, opRewrap, name, secret)
}

// wrapEnvelope wraps a secret too large to send to transit: it seals the
// secret with a fresh data key (AES-256-GCM, associated data
// "cpx-keyring-v1:" + name) and wraps the data key with transit
// (associated data "cpx-keyring-v1-envelope-key:" + name, which no direct
// wrap uses). The result is
//
//	"cpx-vault-envelope-v1:" + "vault:vN:..." + ":" + base64(nonce || sealed)
func (v *Vault) wrapEnvelope(ctx context.Context, op vaultOp, name string, secret []byte) ([]byte, error) {
	dek := make([]byte, kekSize)
	rand.Read(dek)
	defer clear(dek)
	sealed, err := seal(dek, secret, []byte(aadPrefix+name))
	if err != nil {
		return nil, err
	}
	wdek, err := v.encrypt(ctx, op, envelopeAAD(name), dek)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(envelopePrefix)+len(wdek)+1+base64.StdEncoding.EncodedLen(len(sealed)))
	out = append(out, envelopePrefix...)
	out = append(out, wdek...)
	out = append(out, ':')
	return base64.StdEncoding.AppendEncode(out, sealed), nil
}

// unwrapAny unwraps a direct or an envelope wrapped secret.
func (v *Vault) unwrapAny(ctx context.Context, op vaultOp, name string, wrapped []byte) ([]byte, error) {
	rest, ok := bytes.CutPrefix(wrapped, []byte(envelopePrefix))
	if !ok {
		return v.decrypt(ctx, op, directAAD(name), name, wrapped)
	}
	i := bytes.LastIndexByte(rest, ':')
	if i < 0 {
		return nil, ErrCorrupt
	}
	wdek, body := rest[:i], string(rest[i+1:])
	sealed, err := base64.StdEncoding.DecodeString(body)
	if err != nil || len(sealed) < nonceSize+tagSize || base64.StdEncoding.EncodeToString(sealed) != body {
		return nil, ErrCorrupt
	}
	dek, err := v.decrypt(ctx, op, envelopeAAD(name), name, wdek)
	if err != nil {
		return nil, err
	}
	defer clear(dek)
	if len(dek) != kekSize {
		return nil, ErrCorrupt
	}
	secret, err := open(dek, sealed, []byte(aadPrefix+name))
	if err != nil {
		return nil, ErrCorrupt
	}
	return secret, nil
}

// directAAD is the associated data that binds a secret wrapped by transit
// to its name; it is the File keyring's.
func directAAD(name string) []byte { return []byte(aadPrefix + name) }

// envelopeAAD binds an envelope's data key to the secret's name. No
// directAAD starts with "cpx-keyring-v1-", so a wrapped data key is never
// accepted as a directly wrapped secret, nor the reverse.
func envelopeAAD(name string) []byte { return []byte("cpx-keyring-v1-envelope-key:" + name) }

// KeyVersions returns the transit key's latest version and its minimum
// decryption version (transit/keys/KEY).
func (v *Vault) KeyVersions(ctx context.Context) (latest, minDecryption int, err error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	s, err := v.do(ctx, opKeyInfo, v.mount+"/keys/"+v.key, nil, true)
	if err != nil {
		return 0, 0, err
	}
	if s == nil {
		return 0, 0, fmt.Errorf("keyring: transit key %s does not exist in Vault at %s", v.Key(), v.addr)
	}
	latest, err1 := intField(s.Data, "latest_version")
	minDecryption, err2 := intField(s.Data, "min_decryption_version")
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, fmt.Errorf("keyring: Vault at %s: %s: %w", v.addr, v.Key(), err)
	}
	return latest, minDecryption, nil
}

// Health checks that Vault is reachable, initialized and unsealed
// (sys/health). It does not check the token.
func (v *Vault) Health(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h, err := v.client.Sys().HealthWithContext(ctx)
	if err != nil {
		return v.classify(ctx, opHealth, "sys/health", err)
	}
	switch {
	case !h.Initialized:
		return &vaultError{kind: ErrVaultSealed, msg: fmt.Sprintf("keyring: Vault at %s is not initialized: initialize and unseal it", v.addr)}
	case h.Sealed:
		return v.sealedError()
	}
	return nil
}

func (v *Vault) encrypt(ctx context.Context, op vaultOp, aad, secret []byte) ([]byte, error) {
	s, err := v.do(ctx, op, v.mount+"/encrypt/"+v.key, map[string]any{
		"plaintext":       base64.StdEncoding.EncodeToString(secret),
		"associated_data": base64.StdEncoding.EncodeToString(aad),
	}, true)
	if err != nil {
		return nil, err
	}
	ct, _ := dataString(s, "ciphertext")
	if _, ok := parseVaultCiphertext([]byte(ct)); !ok {
		return nil, fmt.Errorf("keyring: Vault at %s returned no ciphertext in the expected form from %s/encrypt/%s", v.addr, v.mount, v.key)
	}
	return []byte(ct), nil
}

func (v *Vault) decrypt(ctx context.Context, op vaultOp, aad []byte, name string, wrapped []byte) ([]byte, error) {
	ver, ok := parseVaultCiphertext(wrapped)
	if !ok {
		return nil, ErrCorrupt
	}
	s, err := v.do(ctx, op, v.mount+"/decrypt/"+v.key, map[string]any{
		"ciphertext":      string(wrapped),
		"associated_data": base64.StdEncoding.EncodeToString(aad),
	}, true)
	if err != nil {
		var re *api.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusBadRequest {
			msg := strings.Join(re.Errors, "; ")
			switch {
			case strings.Contains(msg, "encryption key not found"):
				// Not corruption: the key was deleted or the config changed.
			case strings.Contains(msg, "too old"):
				return nil, &vaultError{kind: ErrCorrupt, msg: fmt.Sprintf(
					"keyring: %q is wrapped with version %d of transit key %s, which Vault at %s no longer decrypts (min_decryption_version): lower min_decryption_version to unwrap it",
					name, ver, v.Key(), v.addr)}
			default:
				return nil, ErrCorrupt
			}
		}
		return nil, err
	}
	pt, ok := dataString(s, "plaintext")
	if !ok {
		return nil, fmt.Errorf("keyring: Vault at %s returned no plaintext from %s/decrypt/%s", v.addr, v.mount, v.key)
	}
	secret, err := base64.StdEncoding.DecodeString(pt)
	if err != nil {
		return nil, fmt.Errorf("keyring: Vault at %s returned malformed plaintext from %s/decrypt/%s", v.addr, v.mount, v.key)
	}
	if secret == nil {
		secret = []byte{}
	}
	return secret, nil
}

// ensureKey creates the transit key if it does not exist and checks that
// an existing one is an AEAD key that can encrypt and decrypt.
func (v *Vault) ensureKey(ctx context.Context) error {
	path := v.mount + "/keys/" + v.key
	s, err := v.do(ctx, opKeyInfo, path, nil, true)
	if err != nil {
		return err
	}
	if s == nil {
		if _, err := v.do(ctx, opKeyCreate, path, map[string]any{"type": vaultKeyType}, false); err != nil {
			return err
		}
		return nil
	}
	typ, _ := s.Data["type"].(string)
	switch typ {
	case "aes256-gcm96", "aes128-gcm96", "chacha20-poly1305":
	default:
		return fmt.Errorf("keyring: transit key %s in Vault at %s has type %q; the keyring needs an AEAD key (%s)", path, v.addr, typ, vaultKeyType)
	}
	if derived, _ := s.Data["derived"].(bool); derived {
		return fmt.Errorf("keyring: transit key %s in Vault at %s is a derived key; the keyring needs a plain %s key", path, v.addr, vaultKeyType)
	}
	if conv, _ := s.Data["convergent_encryption"].(bool); conv {
		return fmt.Errorf("keyring: transit key %s in Vault at %s uses convergent encryption; the keyring needs a plain %s key", path, v.addr, vaultKeyType)
	}
	return nil
}

// do sends one logical request: a read if data is nil and op reads, a write
// otherwise. It retries transient failures if retry is set, logs in again
// once with AppRole if Vault refuses the token, and maps failures to
// actionable errors.
func (v *Vault) do(ctx context.Context, op vaultOp, path string, data map[string]any, retry bool) (*api.Secret, error) {
	relogged := false
	for attempt := 1; ; attempt++ {
		v.mu.Lock()
		gen := v.gen
		v.mu.Unlock()

		var s *api.Secret
		var err error
		if op.read {
			s, err = v.client.Logical().ReadWithContext(ctx, path)
		} else {
			s, err = v.client.Logical().WriteWithContext(ctx, path, data)
		}
		if err == nil {
			return s, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("keyring: vault %s: %w", op.name, ctx.Err())
		}
		var re *api.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusForbidden && v.login != nil && !relogged {
			// The AppRole token may have expired: log in again, once.
			relogged = true
			if lerr := v.relogin(ctx, gen); lerr != nil {
				return nil, lerr
			}
			attempt--
			continue
		}
		cerr := v.classify(ctx, op, path, err)
		if !retry || attempt >= vaultAttempts || !transient(err) {
			return nil, cerr
		}
		wait := backoff(attempt)
		if v.log != nil {
			v.log.WarnContext(ctx, "keyring: transient Vault failure, retrying",
				logKeyOp, op.name, logKeyAttempt, attempt, logKeyWait, wait, logKeyErr, cerr)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("keyring: vault %s: %w; last failure: %w", op.name, ctx.Err(), cerr)
		case <-t.C:
		}
	}
}

// relogin logs in with AppRole unless another goroutine has done so since
// generation gen.
func (v *Vault) relogin(ctx context.Context, gen uint64) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.gen != gen {
		return nil
	}
	path := "auth/" + v.approle + "/login"
	s, err := v.login.Logical().WriteWithContext(ctx, path, map[string]any{
		"role_id":   v.roleID,
		"secret_id": v.secret,
	})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("keyring: vault AppRole login: %w", ctx.Err())
		}
		var re *api.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
			return &vaultError{cause: err, msg: fmt.Sprintf(
				"keyring: Vault at %s has no AppRole auth method at auth/%s: check vault.approle_mount%s",
				v.addr, v.approle, vaultSaid(re))}
		}
		if errors.As(err, &re) && re.StatusCode >= 400 && re.StatusCode < 500 && re.StatusCode != http.StatusTooManyRequests {
			return &vaultError{kind: ErrVaultDenied, cause: err, msg: fmt.Sprintf(
				"keyring: Vault at %s refused the AppRole login at %s (%d): check vault.role_id and vault.secret_id (the secret ID may have expired or run out of uses)%s",
				v.addr, path, re.StatusCode, vaultSaid(re))}
		}
		return v.classify(ctx, opLogin, path, err)
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return fmt.Errorf("keyring: Vault at %s returned no token from %s", v.addr, path)
	}
	v.client.SetToken(s.Auth.ClientToken)
	v.gen++
	return nil
}

// parseVaultCiphertext accepts exactly the ciphertexts transit produces for
// an AEAD key: "vault:v" N ":" base64(nonce || ciphertext || tag) with N a
// positive decimal without leading zeros and canonical, padded standard
// base64. Vault itself is more lenient (it reads "v0" as "v1", ignores
// newlines and non-zero padding bits in base64), which would let a modified
// wrapped secret unwrap.
func parseVaultCiphertext(b []byte) (version int, ok bool) {
	const prefix = "vault:v"
	s, ok := strings.CutPrefix(string(b), prefix)
	if !ok {
		return 0, false
	}
	num, body, ok := strings.Cut(s, ":")
	if !ok || len(num) == 0 || len(num) > 9 || num[0] == '0' {
		return 0, false
	}
	for _, c := range []byte(num) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	version, err := strconv.Atoi(num)
	if err != nil {
		return 0, false
	}
	raw, err := base64.StdEncoding.DecodeString(body)
	if err != nil || len(raw) < nonceSize+tagSize || base64.StdEncoding.EncodeToString(raw) != body {
		return 0, false
	}
	return version, true
}

func dataString(s *api.Secret, key string) (string, bool) {
	if s == nil || s.Data == nil {
		return "", false
	}
	str, ok := s.Data[key].(string)
	return str, ok
}

func intField(data map[string]any, key string) (int, error) {
	switch n := data[key].(type) {
	case interface{ Int64() (int64, error) }: // json.Number
		i, err := n.Int64()
		if err != nil {
			return 0, fmt.Errorf("field %s: %w", key, err)
		}
		return int(i), nil
	case float64:
		return int(n), nil
	default:
		return 0, fmt.Errorf("field %s missing or not a number", key)
	}
}

// backoff returns the wait before attempt+1: 100ms doubling up to 1s, with
// up to 50% jitter.
func backoff(attempt int) time.Duration {
	d := vaultBackoffBase << (attempt - 1)
	if d > vaultBackoffMax || d <= 0 {
		d = vaultBackoffMax
	}
	return d/2 + mrand.N(d/2+1)
}

// Client returns the Vault API client the keyring authenticates, for the
// node's other uses of Vault under the same identity (per-case keys in
// KV v2). Its token is the one the keyring holds; the keyring logs in
// again with AppRole when Vault refuses an expired token on its own calls.
func (v *Vault) Client() *api.Client { return v.client }
