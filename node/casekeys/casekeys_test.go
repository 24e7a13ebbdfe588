package casekeys_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/cpx-node/cpx/conformance/vault"
	"github.com/cpx-node/cpx/crypto/keyring"
	"github.com/cpx-node/cpx/node/casekeys"
	"github.com/cpx-node/cpx/node/casekeys/casekeystest"
)

func TestMemory(t *testing.T) {
	casekeystest.TestStore(t, func(t *testing.T) casekeys.Store { return casekeys.NewMemory() })
}

// fileKeyring returns a local file keyring with cheap KDF parameters.
func fileKeyring(t *testing.T) *keyring.File {
	t.Helper()
	kr, err := keyring.CreateFileWithParams(filepath.Join(t.TempDir(), "keyring.json"), []byte("passphrase"), keyring.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kr.Close() })
	return kr
}

func openLocal(t *testing.T, dir string, kr keyring.Keyring) *casekeys.Local {
	t.Helper()
	l, err := casekeys.OpenLocal(context.Background(), casekeys.LocalOptions{Dir: dir, Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestLocal(t *testing.T) {
	casekeystest.TestStore(t, func(t *testing.T) casekeys.Store { return openLocal(t, t.TempDir(), fileKeyring(t)) })
}

func TestLocalEncrypted(t *testing.T) {
	casekeystest.TestStore(t, func(t *testing.T) casekeys.Store {
		l, err := casekeys.OpenLocal(context.Background(), casekeys.LocalOptions{Dir: t.TempDir(), Keyring: fileKeyring(t), EncryptionKey: bytes.Repeat([]byte{7}, 32), CacheSize: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	})
}

// TestLocalReopen checks that keys survive a restart, that Destroy is
// remembered, and that the keys are useless under another keyring.
func TestLocalReopen(t *testing.T) {
	ctx := context.Background()
	dir, kr := t.TempDir(), fileKeyring(t)
	l := openLocal(t, dir, kr)
	k, err := l.Create(ctx, "kept")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Create(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := l.Destroy(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Get(ctx, "kept"); !errors.Is(err, casekeys.ErrClosed) {
		t.Errorf("Get after Close = %v, want ErrClosed", err)
	}
	l = openLocal(t, dir, kr)
	if got, err := l.Get(ctx, "kept"); err != nil || !bytes.Equal(got, k) {
		t.Errorf("after reopen Get(kept) = %x, %v; want %x", got, err, k)
	}
	if _, err := l.Get(ctx, "gone"); !errors.Is(err, casekeys.ErrDestroyed) {
		t.Errorf("after reopen Get(gone) = %v, want ErrDestroyed", err)
	}
	l.Close()
	other := openLocal(t, dir, fileKeyring(t))
	if _, err := other.Get(ctx, "kept"); !errors.Is(err, keyring.ErrCorrupt) {
		t.Errorf("Get under another keyring = %v, want keyring.ErrCorrupt", err)
	}
}

// recordingKeyring remembers every wrapped secret it returned.
type recordingKeyring struct {
	keyring.Keyring
	wrapped map[string][]byte
}

func (r *recordingKeyring) Wrap(ctx context.Context, name string, secret []byte) ([]byte, error) {
	w, err := r.Keyring.Wrap(ctx, name, secret)
	r.wrapped[name] = bytes.Clone(w)
	return w, err
}

// TestLocalDestroyLeavesNoBytes greps every file of the key store for the
// wrapped key of a destroyed case, with the store closed (so that every
// table is on disk), and checks that a kept key is still there (so that
// the grep would see one).
func TestLocalDestroyLeavesNoBytes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	kr := &recordingKeyring{Keyring: fileKeyring(t), wrapped: map[string][]byte{}}
	l := openLocal(t, dir, kr)
	for _, id := range []string{"kept", "gone"} {
		if _, err := l.Create(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	// Close and reopen: the memory table is flushed into a table file, so
	// the key is in an SSTable that Destroy must rewrite.
	l.Close()
	l = openLocal(t, dir, kr)
	if err := l.Destroy(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	l.Close()
	find := func(needle []byte) []string {
		var hits []string
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if bytes.Contains(b, needle) {
				hits = append(hits, filepath.Base(p))
			}
			return nil
		})
		return hits
	}
	if hits := find(kr.wrapped["case-key:gone"]); len(hits) != 0 {
		t.Errorf("wrapped key of a destroyed case found in %v", hits)
	}
	if hits := find(kr.wrapped["case-key:kept"]); len(hits) == 0 {
		t.Errorf("wrapped key of a kept case found in no file: the grep proves nothing")
	}
}

func TestVault(t *testing.T) {
	srv := vault.Start(t)
	n := 0
	casekeystest.TestStore(t, func(t *testing.T) casekeys.Store {
		n++
		v, err := casekeys.OpenVault(context.Background(), casekeys.VaultConfig{
			Addr: srv.Addr, Token: srv.Token, Path: "cpx/test-" + string(rune('a'+n)),
		})
		if err != nil {
			t.Fatal(err)
		}
		return v
	})
	t.Run("DestroyRemovesEveryVersion", func(t *testing.T) {
		ctx := context.Background()
		v, err := casekeys.OpenVault(ctx, casekeys.VaultConfig{Addr: srv.Addr, Token: srv.Token, Path: "cpx/destroy", CacheSize: -1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Create(ctx, "c1"); err != nil {
			t.Fatal(err)
		}
		if err := v.Destroy(ctx, "c1"); err != nil {
			t.Fatal(err)
		}
		kv := srv.Client(t).KVv2("secret")
		if _, err := kv.GetVersionsAsList(ctx, "cpx/destroy/keys/c1"); err == nil {
			t.Errorf("metadata of a destroyed key still exists")
		}
		if s, err := kv.GetVersion(ctx, "cpx/destroy/keys/c1", 1); err == nil {
			t.Errorf("version 1 of a destroyed key still readable: %v", s.Data)
		}
	})
}
