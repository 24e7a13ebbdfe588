// Package users keeps the node's local users and their bearer tokens.
//
// A token is 32 random bytes, shown to its holder once. The node stores only
// its SHA-256 (tokens are high-entropy, so a slow hash adds nothing), under a
// key derived from that hash, and compares hashes in constant time. Disabling
// a user revokes every token the user holds.
package users

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/cpx-node/cpx/node/store"
)

// Errors of this package.
var (
	ErrNotFound     = errors.New("users: no such user")
	ErrExists       = errors.New("users: user already exists")
	ErrInvalidName  = errors.New("users: invalid user name")
	ErrBadToken     = errors.New("users: unknown token")
	ErrTokenExpired = errors.New("users: token expired")
	ErrDisabled     = errors.New("users: user is disabled")
	ErrPending      = errors.New("users: user awaits a second administrator's approval")
	ErrSelfApproval = errors.New("users: a grant needs a second person")
	ErrNotPending   = errors.New("users: user is not awaiting approval")
)

// TokenPrefix starts every token, so that a leaked one is easy to recognise.
const TokenPrefix = "cpx_"

var (
	prefixUser  = []byte("u/n/")
	prefixToken = []byte("u/t/")
	validName   = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
)

// User is a person (or system account) who may call the local API.
type User struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Group     string    `json:"group,omitempty"`
	Disabled  bool      `json:"disabled,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// Owner marks the node's initial administrator (made by cpx init, or
	// by cpx recover-admin for the keyring's holder): the one person who
	// may grant a role that reads other people's cases alone.
	Owner bool `json:"owner,omitempty"`
	// RequestedBy, while set, is the administrator who asked for this
	// user with a role that reads other people's cases: the user holds no
	// token and cannot sign in until a second administrator approves.
	RequestedBy string `json:"requested_by,omitempty"`
	// Email is where notifications go (none without it); Language is
	// theirs ("en" when empty). NotifyOff lists the kinds of notification
	// the user turned off.
	Email     string   `json:"email,omitempty"`
	Language  string   `json:"language,omitempty"`
	NotifyOff []string `json:"notify_off,omitempty"`
}

// Pending reports whether the user awaits a second administrator's
// approval.
func (u User) Pending() bool { return u.RequestedBy != "" }

type tokenRecord struct {
	User      string    `json:"user"`
	Hash      []byte    `json:"hash"`
	ExpiresAt time.Time `json:"expires_at"`
}

// ValidateName reports whether name is a valid user name.
func ValidateName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("%w %q: use 1-64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit", ErrInvalidName, name)
	}
	return nil
}

func userKey(name string) []byte { return append(append([]byte{}, prefixUser...), name...) }

func tokenKey(hash []byte) []byte {
	return append(append([]byte{}, prefixToken...), hex.EncodeToString(hash)...)
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// NewToken returns a fresh random token.
func NewToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// Get returns the user called name.
func Get(r store.Reader, name string) (User, error) {
	var u User
	b, err := r.Get(userKey(name))
	if errors.Is(err, store.ErrNotFound) {
		return u, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	if err != nil {
		return u, err
	}
	return u, json.Unmarshal(b, &u)
}

func put(w store.Writer, u User) error {
	b, err := json.Marshal(u)
	if err != nil {
		return err
	}
	if err := w.Set(userKey(u.Name), b); err != nil {
		return err
	}
	return markChanged(w)
}

// Add creates u and issues its first token, valid until expires.
func Add(w store.Writer, u User, expires time.Time) (string, error) {
	if err := ValidateName(u.Name); err != nil {
		return "", err
	}
	if _, err := Get(w, u.Name); err == nil {
		return "", fmt.Errorf("%w: %q", ErrExists, u.Name)
	} else if !errors.Is(err, ErrNotFound) {
		return "", err
	}
	if err := put(w, u); err != nil {
		return "", err
	}
	return IssueToken(w, u.Name, expires)
}

// IssueToken gives the user a new token valid until expires.
func IssueToken(w store.Writer, name string, expires time.Time) (string, error) {
	token := NewToken()
	rec := tokenRecord{User: name, Hash: hashToken(token), ExpiresAt: expires.UTC()}
	b, err := json.Marshal(rec)
	if err != nil {
		return "", err
	}
	return token, w.Set(tokenKey(rec.Hash), b)
}

// Disable disables the user and revokes every token the user holds.
func Disable(w store.Writer, name string) (User, error) {
	u, err := Get(w, name)
	if err != nil {
		return u, err
	}
	u.Disabled = true
	if err := put(w, u); err != nil {
		return u, err
	}
	var revoke [][]byte
	err = w.Scan(prefixToken, store.ScanOptions{}, func(k, v []byte) error {
		var rec tokenRecord
		if json.Unmarshal(v, &rec) == nil && rec.User == name {
			revoke = append(revoke, k)
		}
		return nil
	})
	if err != nil {
		return u, err
	}
	for _, k := range revoke {
		if err := w.Delete(k); err != nil {
			return u, err
		}
	}
	return u, nil
}

// List returns every user, sorted by name.
func List(r store.Reader) ([]User, error) {
	var out []User
	err := r.Scan(prefixUser, store.ScanOptions{}, func(_, v []byte) error {
		var u User
		if err := json.Unmarshal(v, &u); err != nil {
			return err
		}
		out = append(out, u)
		return nil
	})
	return out, err
}

// Count returns the number of users.
func Count(r store.Reader) (int64, error) {
	var n int64
	err := r.Scan(prefixUser, store.ScanOptions{}, func(_, _ []byte) error { n++; return nil })
	return n, err
}

// Authenticate returns the enabled user that holds token at time now.
func Authenticate(r store.Reader, token string, now time.Time) (User, error) {
	if !strings.HasPrefix(token, TokenPrefix) || len(token) > 128 {
		return User{}, ErrBadToken
	}
	h := hashToken(token)
	b, err := r.Get(tokenKey(h))
	if errors.Is(err, store.ErrNotFound) {
		return User{}, ErrBadToken
	}
	if err != nil {
		return User{}, err
	}
	var rec tokenRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return User{}, fmt.Errorf("users: corrupt token record: %w", err)
	}
	if subtle.ConstantTimeCompare(rec.Hash, h) != 1 {
		return User{}, ErrBadToken
	}
	if !now.Before(rec.ExpiresAt) {
		return User{}, ErrTokenExpired
	}
	u, err := Get(r, rec.User)
	if err != nil {
		return User{}, err
	}
	if u.Disabled {
		return User{}, fmt.Errorf("%w: %q", ErrDisabled, u.Name)
	}
	if u.Pending() {
		return User{}, fmt.Errorf("%w: %q", ErrPending, u.Name)
	}
	return u, nil
}

// AddPending creates u awaiting approval (u.RequestedBy set), with no token.
func AddPending(w store.Writer, u User) error {
	if u.RequestedBy == "" {
		return errors.New("users: a pending user needs RequestedBy")
	}
	if err := ValidateName(u.Name); err != nil {
		return err
	}
	if _, err := Get(w, u.Name); err == nil {
		return fmt.Errorf("%w: %q", ErrExists, u.Name)
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	return put(w, u)
}

// Approve activates a pending user and issues their first token, valid
// until expires. The approver must not be who requested the user.
func Approve(w store.Writer, name, approver string, expires time.Time) (User, string, error) {
	u, err := Get(w, name)
	if err != nil {
		return u, "", err
	}
	if !u.Pending() {
		return u, "", fmt.Errorf("%w: %q", ErrNotPending, name)
	}
	if u.RequestedBy == approver {
		return u, "", fmt.Errorf("%w: %q was requested by %s, who cannot also approve it", ErrSelfApproval, name, approver)
	}
	u.RequestedBy = ""
	if err := put(w, u); err != nil {
		return u, "", err
	}
	token, err := IssueToken(w, name, expires)
	return u, token, err
}

// SetNotifyOff replaces the kinds of notification the user turned off.
func SetNotifyOff(w store.Writer, name string, off []string) (User, error) {
	u, err := Get(w, name)
	if err != nil {
		return u, err
	}
	u.NotifyOff = off
	if len(off) == 0 {
		u.NotifyOff = nil
	}
	return u, put(w, u)
}
