package users_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/memstore"
	"github.com/cpx-node/cpx/node/users"
)

var now = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func TestTokens(t *testing.T) {
	s := memstore.New()
	ctx := context.Background()
	var aliceToken, bobToken string
	err := s.Update(ctx, func(w store.Writer) error {
		var err error
		if aliceToken, err = users.Add(w, users.User{Name: "alice", Role: "caseworker", CreatedAt: now}, now.Add(time.Hour)); err != nil {
			return err
		}
		bobToken, err = users.Add(w, users.User{Name: "bob", Role: "caseworker", CreatedAt: now}, now.Add(-time.Second))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(aliceToken, users.TokenPrefix) || aliceToken == bobToken {
		t.Fatalf("tokens %q %q: want distinct %s tokens", aliceToken, bobToken, users.TokenPrefix)
	}
	auth := func(token string) (users.User, error) {
		var u users.User
		err := s.View(ctx, func(r store.Reader) error {
			var err error
			u, err = users.Authenticate(r, token, now)
			return err
		})
		return u, err
	}
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"valid", aliceToken, nil},
		{"expired", bobToken, users.ErrTokenExpired},
		{"empty", "", users.ErrBadToken},
		{"no prefix", strings.TrimPrefix(aliceToken, users.TokenPrefix), users.ErrBadToken},
		{"one char off", offByOne(aliceToken), users.ErrBadToken},
		{"huge", users.TokenPrefix + strings.Repeat("a", 1000), users.ErrBadToken},
	}
	for _, tt := range tests {
		u, err := auth(tt.token)
		if !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
		if tt.want == nil && u.Name != "alice" {
			t.Errorf("%s: got user %q, want alice", tt.name, u.Name)
		}
	}
	if err := s.Update(ctx, func(w store.Writer) error { _, err := users.Disable(w, "alice"); return err }); err != nil {
		t.Fatal(err)
	}
	if _, err := auth(aliceToken); !errors.Is(err, users.ErrBadToken) {
		t.Errorf("token of a disabled user: got %v, want ErrBadToken (revoked)", err)
	}
}

func TestAddErrors(t *testing.T) {
	s := memstore.New()
	add := func(name string) error {
		return s.Update(context.Background(), func(w store.Writer) error {
			_, err := users.Add(w, users.User{Name: name, Role: "caseworker"}, now)
			return err
		})
	}
	if err := add("alice"); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]error{"alice": users.ErrExists, "Alice": users.ErrInvalidName, "": users.ErrInvalidName, "a b": users.ErrInvalidName, strings.Repeat("a", 65): users.ErrInvalidName} {
		if err := add(name); !errors.Is(err, want) {
			t.Errorf("add %q: got %v, want %v", name, err, want)
		}
	}
	var n int64
	s.View(context.Background(), func(r store.Reader) error { n, _ = users.Count(r); return nil })
	if n != 1 {
		t.Errorf("got %d users, want 1", n)
	}
}

// offByOne changes the token's last character (to another one, always).
func offByOne(token string) string {
	last := token[len(token)-1]
	c := byte('A')
	if last == 'A' {
		c = 'B'
	}
	return token[:len(token)-1] + string(c)
}
