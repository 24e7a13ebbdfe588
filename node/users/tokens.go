package users

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cpx-node/cpx/node/store"
)

// TokenIDLen is the length of a token's id: the first hex digits of its
// hash, enough to name it (in lists, for revocation) and useless to
// authenticate with.
const TokenIDLen = 12

// ErrAmbiguous is returned by Revoke for an id prefix that names several
// tokens.
var ErrAmbiguous = fmt.Errorf("users: the id names more than one token")

// Token describes an issued token; never the token itself.
type Token struct {
	ID        string    `json:"id"`
	User      string    `json:"user"`
	ExpiresAt time.Time `json:"expires_at"`
}

// TokenID returns the id of token (as listed by Tokens).
func TokenID(token string) string { return hex.EncodeToString(hashToken(token))[:TokenIDLen] }

// Tokens lists the tokens of user (every user's when empty), soonest to
// expire first.
func Tokens(r store.Reader, user string) ([]Token, error) {
	var out []Token
	err := r.Scan(prefixToken, store.ScanOptions{}, func(k, v []byte) error {
		var rec tokenRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("users: corrupt token record: %w", err)
		}
		if user != "" && rec.User != user {
			return nil
		}
		out = append(out, Token{ID: string(k[len(prefixToken) : len(prefixToken)+TokenIDLen]), User: rec.User, ExpiresAt: rec.ExpiresAt})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ExpiresAt.Before(out[j].ExpiresAt) })
	return out, err
}

// Revoke deletes the token whose id starts with id (at least 6 hex
// digits); the next call with it is refused. It returns what was revoked.
func Revoke(w store.Writer, id string) (Token, error) {
	id = strings.ToLower(id)
	if len(id) < 6 || len(id) > 64 || strings.Trim(id, "0123456789abcdef") != "" {
		return Token{}, fmt.Errorf("%w: token id %q: give at least 6 hex digits of an id from `cpx user token list`", ErrBadToken, id)
	}
	var found []Token
	var keys [][]byte
	p := append(append([]byte{}, prefixToken...), id...)
	err := w.Scan(p, store.ScanOptions{}, func(k, v []byte) error {
		var rec tokenRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("users: corrupt token record: %w", err)
		}
		found = append(found, Token{ID: string(k[len(prefixToken) : len(prefixToken)+TokenIDLen]), User: rec.User, ExpiresAt: rec.ExpiresAt})
		keys = append(keys, k)
		return nil
	})
	switch {
	case err != nil:
		return Token{}, err
	case len(found) == 0:
		return Token{}, fmt.Errorf("%w: no token with id %s", ErrBadToken, id)
	case len(found) > 1:
		return Token{}, fmt.Errorf("%w: %s", ErrAmbiguous, id)
	}
	return found[0], w.Delete(keys[0])
}

// RevokeAll deletes every token of user and returns how many there were.
func RevokeAll(w store.Writer, user string) (int, error) {
	var keys [][]byte
	err := w.Scan(prefixToken, store.ScanOptions{}, func(k, v []byte) error {
		var rec tokenRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("users: corrupt token record: %w", err)
		}
		if rec.User == user {
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range keys {
		if err := w.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}
