// Package casekeystest is the shared test suite for casekeys.Store
// implementations. Every store (Local, Vault, Memory) runs it from its own
// tests:
//
//	func TestLocal(t *testing.T) {
//		casekeystest.TestStore(t, func(t *testing.T) casekeys.Store { ... })
//	}
package casekeystest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/cpx-node/cpx/node/casekeys"
)

// TestStore runs the shared suite. newStore must return a fresh, empty
// store each time it is called and arrange its cleanup with t.Cleanup.
func TestStore(t *testing.T, newStore func(t *testing.T) casekeys.Store) {
	ctx := context.Background()
	t.Run("CreateGet", func(t *testing.T) {
		s := newStore(t)
		k, err := s.Create(ctx, "case-1")
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if len(k) != casekeys.KeySize || bytes.Equal(k, make([]byte, casekeys.KeySize)) {
			t.Fatalf("Create returned %d bytes %x, want %d random bytes", len(k), k, casekeys.KeySize)
		}
		got, err := s.Get(ctx, "case-1")
		if err != nil || !bytes.Equal(got, k) {
			t.Fatalf("Get = %x, %v; want %x, nil", got, err, k)
		}
		got[0] ^= 1 // callers may scribble on what they get
		if again, _ := s.Get(ctx, "case-1"); !bytes.Equal(again, k) {
			t.Errorf("Get after modifying a returned key = %x, want %x", again, k)
		}
		k2, err := s.Create(ctx, "case-2")
		if err != nil {
			t.Fatalf("Create second: %v", err)
		}
		if bytes.Equal(k, k2) {
			t.Errorf("two cases got the same key")
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t)
		if got, err := s.Get(ctx, "never"); !errors.Is(err, casekeys.ErrNotFound) {
			t.Errorf("Get of an unknown case = %x, %v; want ErrNotFound", got, err)
		}
	})
	t.Run("CreateTwice", func(t *testing.T) {
		s := newStore(t)
		k, err := s.Create(ctx, "case-1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(ctx, "case-1"); !errors.Is(err, casekeys.ErrExists) {
			t.Errorf("second Create = %v, want ErrExists", err)
		}
		if got, _ := s.Get(ctx, "case-1"); !bytes.Equal(got, k) {
			t.Errorf("key changed by a refused Create: got %x, want %x", got, k)
		}
	})
	t.Run("Destroy", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Create(ctx, "case-1"); err != nil {
			t.Fatal(err)
		}
		keep, err := s.Create(ctx, "case-2")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "case-1"); err != nil { // now cached, if the store caches
			t.Fatal(err)
		}
		if err := s.Destroy(ctx, "case-1"); err != nil {
			t.Fatalf("Destroy: %v", err)
		}
		if got, err := s.Get(ctx, "case-1"); !errors.Is(err, casekeys.ErrDestroyed) {
			t.Errorf("Get after Destroy = %x, %v; want ErrDestroyed", got, err)
		}
		if _, err := s.Create(ctx, "case-1"); !errors.Is(err, casekeys.ErrDestroyed) {
			t.Errorf("Create after Destroy = %v, want ErrDestroyed", err)
		}
		if err := s.Destroy(ctx, "case-1"); err != nil {
			t.Errorf("second Destroy = %v, want nil", err)
		}
		if got, err := s.Get(ctx, "case-2"); err != nil || !bytes.Equal(got, keep) {
			t.Errorf("other case after Destroy: got %x, %v; want %x", got, err, keep)
		}
		if err := s.Destroy(ctx, "never"); err != nil {
			t.Errorf("Destroy of an unknown case = %v, want nil", err)
		}
		if _, err := s.Get(ctx, "never"); !errors.Is(err, casekeys.ErrDestroyed) {
			t.Errorf("Get after Destroy of an unknown case = %v, want ErrDestroyed", err)
		}
	})
	t.Run("InvalidID", func(t *testing.T) {
		s := newStore(t)
		for _, id := range []string{"", "a/b", "..", "a b", "é", string(make([]byte, 129))} {
			if _, err := s.Create(ctx, id); !errors.Is(err, casekeys.ErrInvalidID) {
				t.Errorf("Create(%q) = %v, want ErrInvalidID", id, err)
			}
			if _, err := s.Get(ctx, id); !errors.Is(err, casekeys.ErrInvalidID) {
				t.Errorf("Get(%q) = %v, want ErrInvalidID", id, err)
			}
			if err := s.Destroy(ctx, id); !errors.Is(err, casekeys.ErrInvalidID) {
				t.Errorf("Destroy(%q) = %v, want ErrInvalidID", id, err)
			}
		}
	})
	t.Run("CreateMany", func(t *testing.T) {
		s := newStore(t)
		mc, ok := s.(casekeys.ManyCreator)
		if !ok {
			t.Skip("store has no CreateMany")
		}
		ks, err := mc.CreateMany(ctx, []string{"a", "b", "c"})
		if err != nil || len(ks) != 3 {
			t.Fatalf("CreateMany = %d keys, %v", len(ks), err)
		}
		for i, id := range []string{"a", "b", "c"} {
			if got, err := s.Get(ctx, id); err != nil || !bytes.Equal(got, ks[i]) {
				t.Errorf("Get(%s) = %x, %v; want %x", id, got, err, ks[i])
			}
		}
		if _, err := mc.CreateMany(ctx, []string{"d", "a"}); !errors.Is(err, casekeys.ErrExists) {
			t.Errorf("CreateMany with an existing id = %v, want ErrExists", err)
		}
		if _, err := s.Get(ctx, "d"); !errors.Is(err, casekeys.ErrNotFound) {
			t.Errorf("a refused CreateMany left a key: Get(d) = %v, want ErrNotFound", err)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		s := newStore(t)
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for i := range 8 {
			wg.Go(func() {
				for j := range 4 {
					id := fmt.Sprintf("case-%d-%d", i, j)
					k, err := s.Create(ctx, id)
					if err != nil {
						errs <- err
						return
					}
					if got, err := s.Get(ctx, id); err != nil || !bytes.Equal(got, k) {
						errs <- fmt.Errorf("Get(%s) = %x, %v; want %x", id, got, err, k)
						return
					}
					if j == 3 {
						if err := s.Destroy(ctx, id); err != nil {
							errs <- err
						}
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
	t.Run("Canceled", func(t *testing.T) {
		s := newStore(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.Create(cctx, "case-1"); err == nil {
			t.Errorf("Create with a canceled context succeeded")
		}
	})
}
