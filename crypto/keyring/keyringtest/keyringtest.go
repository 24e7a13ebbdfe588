// Package keyringtest is the shared test suite for keyring.Keyring
// implementations. Every keyring (the local file, Vault) runs the same
// suite from its own tests:
//
//	func TestFileKeyring(t *testing.T) {
//		keyringtest.TestKeyring(t, func(t *testing.T) keyring.Keyring { ... })
//	}
package keyringtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/cpx-node/cpx/crypto/keyring"
)

// TestKeyring runs the shared suite. newKeyring must return a fresh keyring
// with its own key-encryption key each time it is called (two calls give two
// keyrings that cannot unwrap each other's secrets), and arrange its cleanup
// with t.Cleanup.
func TestKeyring(t *testing.T, newKeyring func(t *testing.T) keyring.Keyring) {
	t.Run("Kind", func(t *testing.T) {
		if k := newKeyring(t).Kind(); k == "" {
			t.Errorf("Kind() = %q, want a non-empty name", k)
		}
	})
	t.Run("RoundTrip", func(t *testing.T) {
		kr := newKeyring(t)
		secret := []byte("a 32-byte store encryption key..")
		wrapped, err := kr.Wrap(t.Context(), "store-key", secret)
		if err != nil {
			t.Fatalf("Wrap: %v", err)
		}
		if bytes.Contains(wrapped, secret) {
			t.Errorf("wrapped secret contains the plaintext")
		}
		got, err := kr.Unwrap(t.Context(), "store-key", wrapped)
		if err != nil {
			t.Fatalf("Unwrap: %v", err)
		}
		if !bytes.Equal(got, secret) {
			t.Errorf("Unwrap = %q, want %q", got, secret)
		}
	})
	t.Run("NameBinding", func(t *testing.T) {
		kr := newKeyring(t)
		wrapped, err := kr.Wrap(t.Context(), "store-key", []byte("secret"))
		if err != nil {
			t.Fatalf("Wrap: %v", err)
		}
		for _, name := range []string{"", "store-ke", "store-key ", "Store-key", "signing-key"} {
			if got, err := kr.Unwrap(t.Context(), name, wrapped); !errors.Is(err, keyring.ErrCorrupt) {
				t.Errorf("Unwrap under name %q = %q, %v; want ErrCorrupt", name, got, err)
			}
		}
	})
	t.Run("OtherKeyring", func(t *testing.T) {
		a, b := newKeyring(t), newKeyring(t)
		wrapped, err := a.Wrap(t.Context(), "k", []byte("secret"))
		if err != nil {
			t.Fatalf("Wrap: %v", err)
		}
		if got, err := b.Unwrap(t.Context(), "k", wrapped); !errors.Is(err, keyring.ErrCorrupt) {
			t.Errorf("Unwrap by another keyring = %q, %v; want ErrCorrupt", got, err)
		}
	})
	t.Run("Tamper", func(t *testing.T) {
		kr := newKeyring(t)
		wrapped, err := kr.Wrap(t.Context(), "k", []byte("sixteen byte key"))
		if err != nil {
			t.Fatalf("Wrap: %v", err)
		}
		for i := range wrapped {
			for _, mask := range []byte{0x01, 0x80, 0xff} {
				m := bytes.Clone(wrapped)
				m[i] ^= mask
				if got, err := kr.Unwrap(t.Context(), "k", m); !errors.Is(err, keyring.ErrCorrupt) {
					t.Fatalf("Unwrap with byte %d ^ %#x = %q, %v; want ErrCorrupt", i, mask, got, err)
				}
			}
		}
		for n := range len(wrapped) {
			if got, err := kr.Unwrap(t.Context(), "k", wrapped[:n]); !errors.Is(err, keyring.ErrCorrupt) {
				t.Fatalf("Unwrap of the first %d bytes = %q, %v; want ErrCorrupt", n, got, err)
			}
		}
		extended := append(bytes.Clone(wrapped), 0)
		if got, err := kr.Unwrap(t.Context(), "k", extended); !errors.Is(err, keyring.ErrCorrupt) {
			t.Errorf("Unwrap with a trailing byte = %q, %v; want ErrCorrupt", got, err)
		}
	})
	t.Run("EmptySecret", func(t *testing.T) {
		kr := newKeyring(t)
		wrapped, err := kr.Wrap(t.Context(), "k", nil)
		if err != nil {
			t.Fatalf("Wrap: %v", err)
		}
		got, err := kr.Unwrap(t.Context(), "k", wrapped)
		if err != nil {
			t.Fatalf("Unwrap: %v", err)
		}
		if len(got) != 0 {
			t.Errorf("Unwrap = %q, want empty", got)
		}
	})
	t.Run("LargeSecret", func(t *testing.T) {
		kr := newKeyring(t)
		secret := make([]byte, 1<<20)
		for i := range secret {
			secret[i] = byte(i * 7)
		}
		wrapped, err := kr.Wrap(t.Context(), "big", secret)
		if err != nil {
			t.Fatalf("Wrap: %v", err)
		}
		got, err := kr.Unwrap(t.Context(), "big", wrapped)
		if err != nil {
			t.Fatalf("Unwrap: %v", err)
		}
		if !bytes.Equal(got, secret) {
			t.Errorf("Unwrap of a 1 MiB secret differs")
		}
	})
	t.Run("DistinctCiphertexts", func(t *testing.T) {
		kr := newKeyring(t)
		a, err := kr.Wrap(t.Context(), "k", []byte("same"))
		if err != nil {
			t.Fatalf("Wrap: %v", err)
		}
		b, err := kr.Wrap(t.Context(), "k", []byte("same"))
		if err != nil {
			t.Fatalf("Wrap: %v", err)
		}
		if bytes.Equal(a, b) {
			t.Errorf("two wraps of the same secret are equal: %x", a)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		kr := newKeyring(t)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := range 8 {
			wg.Go(func() {
				for i := range 20 {
					name := fmt.Sprintf("k%d", g)
					secret := fmt.Appendf(nil, "secret %d/%d", g, i)
					wrapped, err := kr.Wrap(t.Context(), name, secret)
					if err != nil {
						errs <- err
						return
					}
					got, err := kr.Unwrap(t.Context(), name, wrapped)
					if err != nil {
						errs <- err
						return
					}
					if !bytes.Equal(got, secret) {
						errs <- fmt.Errorf("unwrap = %q, want %q", got, secret)
						return
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
	t.Run("CancelledContext", func(t *testing.T) {
		kr := newKeyring(t)
		wrapped, err := kr.Wrap(t.Context(), "k", []byte("s"))
		if err != nil {
			t.Fatalf("Wrap: %v", err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := kr.Wrap(ctx, "k", []byte("s")); err == nil {
			t.Errorf("Wrap with a cancelled context succeeded")
		}
		if _, err := kr.Unwrap(ctx, "k", wrapped); err == nil {
			t.Errorf("Unwrap with a cancelled context succeeded")
		}
	})
}
