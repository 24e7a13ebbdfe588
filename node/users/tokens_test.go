package users_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/memstore"
	"github.com/cpx-node/cpx/node/users"
)

// TestRevoke: a revoked token is refused at once; the others of the same
// user still work until RevokeAll; ids never authenticate.
func TestRevoke(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	now := time.Now()
	var first, second, other string
	err := s.Update(ctx, func(w store.Writer) error {
		var err error
		if first, err = users.Add(w, users.User{Name: "ana", Role: "caseworker"}, now.Add(time.Hour)); err != nil {
			return err
		}
		if second, err = users.IssueToken(w, "ana", now.Add(2*time.Hour)); err != nil {
			return err
		}
		other, err = users.Add(w, users.User{Name: "ben", Role: "caseworker"}, now.Add(time.Hour))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	auth := func(token string) error {
		return s.View(ctx, func(r store.Reader) error { _, err := users.Authenticate(r, token, now); return err })
	}
	var list []users.Token
	s.View(ctx, func(r store.Reader) error { list, err = users.Tokens(r, "ana"); return err })
	if len(list) != 2 || list[0].ID != users.TokenID(first) || list[1].ID != users.TokenID(second) {
		t.Fatalf("ana's tokens: %+v, want the two in order of expiry", list)
	}
	if err := auth(list[0].ID); !errors.Is(err, users.ErrBadToken) {
		t.Errorf("a token id authenticated: %v", err)
	}
	err = s.Update(ctx, func(w store.Writer) error { _, err := users.Revoke(w, users.TokenID(first)[:8]); return err })
	if err != nil {
		t.Fatal(err)
	}
	if err := auth(first); !errors.Is(err, users.ErrBadToken) {
		t.Errorf("revoked token: %v, want refused", err)
	}
	if err := auth(second); err != nil {
		t.Errorf("ana's other token: %v", err)
	}
	for _, bad := range []string{"12", "zzzzzzzz", users.TokenID(first)} {
		err := s.Update(ctx, func(w store.Writer) error { _, err := users.Revoke(w, bad); return err })
		if !errors.Is(err, users.ErrBadToken) {
			t.Errorf("revoking %q: %v, want ErrBadToken", bad, err)
		}
	}
	var n int
	s.Update(ctx, func(w store.Writer) error { n, err = users.RevokeAll(w, "ana"); return err })
	if n != 1 || auth(second) == nil || auth(other) != nil {
		t.Errorf("RevokeAll: %d revoked; ana's second token %v; ben's %v", n, auth(second), auth(other))
	}
}
