package keyring

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/hashicorp/vault/api"
)

// Errors returned by Vault in addition to the ones every Keyring returns.
// The errors Vault returns wrap one of them where it applies; their
// messages name Vault's address and what to check, never a token.
var (
	// ErrVaultUnreachable is returned when Vault cannot be reached (no
	// answer, connection refused, TLS failure) after bounded retries.
	ErrVaultUnreachable = errors.New("keyring: vault unreachable")
	// ErrVaultSealed is returned when Vault is sealed or not initialized.
	ErrVaultSealed = errors.New("keyring: vault sealed")
	// ErrVaultDenied is returned when Vault refuses the token, the AppRole
	// login, or the token's policy does not allow the request (HTTP 403).
	ErrVaultDenied = errors.New("keyring: vault denied the request")
)

// vaultError is an error with an actionable message, a kind (one of the
// sentinel errors, or nil) and a cause.
type vaultError struct {
	kind  error
	msg   string
	cause error
}

func (e *vaultError) Error() string { return e.msg }

func (e *vaultError) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.kind, e.cause} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// vaultOp describes a request for messages: what it does, and the policy
// capability it needs on its path.
type vaultOp struct {
	name       string
	read       bool
	capability string
}

var (
	opWrap      = vaultOp{name: "wrap", capability: "update"}
	opUnwrap    = vaultOp{name: "unwrap", capability: "update"}
	opRewrap    = vaultOp{name: "rewrap", capability: "update"}
	opRotate    = vaultOp{name: "rotate", capability: "update"}
	opKeyInfo   = vaultOp{name: "read the transit key", read: true, capability: "read"}
	opKeyCreate = vaultOp{name: "create the transit key", capability: "create"}
	opHealth    = vaultOp{name: "health check", read: true}
	opLogin     = vaultOp{name: "AppRole login", capability: "update"}
)

// classify turns a failed request into an actionable error.
func (v *Vault) classify(ctx context.Context, op vaultOp, path string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("keyring: vault %s: %w", op.name, ctx.Err())
	}
	var re *api.ResponseError
	if errors.As(err, &re) {
		switch {
		case re.StatusCode == http.StatusForbidden:
			return &vaultError{kind: ErrVaultDenied, cause: err, msg: fmt.Sprintf(
				"keyring: Vault at %s refused the token (403) to %s: check vault.token or the AppRole, and that its policy grants %q on %s%s",
				v.addr, op.name, op.capability, path, vaultSaid(re))}
		case re.StatusCode == http.StatusBadRequest && strings.Contains(strings.Join(re.Errors, " "), "HTTP request to an HTTPS server"):
			return &vaultError{kind: ErrVaultUnreachable, cause: err, msg: fmt.Sprintf(
				"keyring: cannot reach Vault at %s: it serves HTTPS — check vault.addr (use https://) and vault.ca_cert", v.addr)}
		case re.StatusCode == http.StatusServiceUnavailable && isSealed(re):
			return v.sealedError()
		case re.StatusCode == http.StatusBadRequest && strings.Contains(strings.Join(re.Errors, " "), "encryption key not found"):
			return &vaultError{cause: err, msg: fmt.Sprintf(
				"keyring: transit key %s does not exist in Vault at %s: check vault.key and vault.transit_mount (wrapped secrets need the key they were wrapped with)",
				v.Key(), v.addr)}
		case re.StatusCode == http.StatusNotFound && !op.read:
			return &vaultError{cause: err, msg: fmt.Sprintf(
				"keyring: Vault at %s has nothing at %s (404): check vault.transit_mount and that the transit engine is enabled there",
				v.addr, path)}
		}
		return &vaultError{cause: err, msg: fmt.Sprintf("keyring: Vault at %s failed to %s (%s, HTTP %d)%s",
			v.addr, op.name, path, re.StatusCode, vaultSaid(re))}
	}
	if isTLSError(err) {
		return &vaultError{kind: ErrVaultUnreachable, cause: err, msg: fmt.Sprintf(
			"keyring: cannot establish TLS with Vault at %s: %v — check vault.addr (http or https) and vault.ca_cert",
			v.addr, innermost(err))}
	}
	return &vaultError{kind: ErrVaultUnreachable, cause: err, msg: fmt.Sprintf(
		"keyring: cannot reach Vault at %s: %v — check vault.addr and that Vault is running",
		v.addr, innermost(err))}
}

func (v *Vault) sealedError() error {
	return &vaultError{kind: ErrVaultSealed, msg: fmt.Sprintf(
		"keyring: Vault at %s is sealed: unseal it (vault operator unseal)", v.addr)}
}

// transient reports whether a failed idempotent request may succeed if
// sent again shortly.
func transient(err error) bool {
	var re *api.ResponseError
	if errors.As(err, &re) {
		switch re.StatusCode {
		case http.StatusPreconditionFailed, http.StatusTooManyRequests, http.StatusBadGateway, http.StatusGatewayTimeout:
			return true
		case http.StatusServiceUnavailable:
			return !isSealed(re)
		}
		return false
	}
	return !isTLSError(err)
}

func isSealed(re *api.ResponseError) bool {
	return strings.Contains(strings.ToLower(strings.Join(re.Errors, " ")), "sealed")
}

func isTLSError(err error) bool {
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalid          x509.CertificateInvalidError
		verify           *tls.CertificateVerificationError
		record           tls.RecordHeaderError
	)
	return errors.As(err, &unknownAuthority) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &verify) || errors.As(err, &record) ||
		strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}

// innermost returns the most specific network error in err, so that
// messages say "dial tcp 127.0.0.1:8200: connect: connection refused"
// rather than repeating the URL.
func innermost(err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		return op
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// vaultSaid quotes Vault's own error messages, shortened.
func vaultSaid(re *api.ResponseError) string {
	msg := strings.Join(re.Errors, "; ")
	msg = strings.Join(strings.Fields(msg), " ")
	if msg == "" {
		return ""
	}
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return " (Vault said: " + msg + ")"
}
