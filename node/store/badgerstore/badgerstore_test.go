package badgerstore_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/badgerstore"
	"github.com/cpx-node/cpx/node/store/storetest"
)

func newKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

func open(t testing.TB, opts badgerstore.Options) *badgerstore.Store {
	t.Helper()
	s, err := badgerstore.Open(t.Context(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, badgerstore.Options{Dir: t.TempDir(), EncryptionKey: newKey()})
	})
}

func TestStoreInsecure(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, badgerstore.Options{Dir: t.TempDir(), Insecure: true})
	})
}

func setKV(t *testing.T, s store.Store, key string, value []byte) {
	t.Helper()
	err := s.Update(t.Context(), func(w store.Writer) error { return w.Set([]byte(key), value) })
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func getKV(t *testing.T, s store.Store, key string) []byte {
	t.Helper()
	var v []byte
	err := s.View(t.Context(), func(r store.Reader) (err error) {
		v, err = r.Get([]byte(key))
		return err
	})
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return v
}

func TestReopen(t *testing.T) {
	dir, key := t.TempDir(), newKey()
	big := bytes.Repeat([]byte("large value "), 1000) // above the value threshold
	s, err := badgerstore.Open(t.Context(), badgerstore.Options{Dir: dir, EncryptionKey: key})
	if err != nil {
		t.Fatal(err)
	}
	setKV(t, s, "small", []byte("v"))
	setKV(t, s, "big", big)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, badgerstore.Options{Dir: dir, EncryptionKey: key})
	if got := getKV(t, s, "small"); string(got) != "v" {
		t.Errorf("small after reopen = %q, want %q", got, "v")
	}
	if got := getKV(t, s, "big"); !bytes.Equal(got, big) {
		t.Errorf("big after reopen differs (%d bytes, want %d)", len(got), len(big))
	}
}

// markerIn reports the files under dir that contain marker.
func markerIn(t *testing.T, dir string, marker []byte) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(data, marker) {
			found = append(found, filepath.Base(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestEncryptedAtRest(t *testing.T) {
	marker := []byte("CPX-PLAINTEXT-MARKER-7f3a9c")
	small := append([]byte("name: "), marker...)    // kept in the LSM tree
	large := bytes.Repeat(append(marker, ' '), 100) // kept in the value log
	write := func(t *testing.T, opts badgerstore.Options) {
		s, err := badgerstore.Open(t.Context(), opts)
		if err != nil {
			t.Fatal(err)
		}
		setKV(t, s, "case/"+string(marker), small)
		setKV(t, s, "large", large)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}

	dir := t.TempDir()
	write(t, badgerstore.Options{Dir: dir, EncryptionKey: newKey()})
	if found := markerIn(t, dir, marker); len(found) > 0 {
		t.Errorf("plaintext found in %q", found)
	}

	// The check can see plaintext: without a key the marker is on disk.
	clearDir := t.TempDir()
	write(t, badgerstore.Options{Dir: clearDir, Insecure: true})
	if found := markerIn(t, clearDir, marker); len(found) == 0 {
		t.Errorf("marker not found in an unencrypted store: the check is blind")
	}
}

func TestWrongKey(t *testing.T) {
	dir := t.TempDir()
	s, err := badgerstore.Open(t.Context(), badgerstore.Options{Dir: dir, EncryptionKey: newKey()})
	if err != nil {
		t.Fatal(err)
	}
	setKV(t, s, "k", []byte("v"))
	s.Close()

	for name, opts := range map[string]badgerstore.Options{
		"other key": {Dir: dir, EncryptionKey: newKey()},
		"no key":    {Dir: dir, Insecure: true},
	} {
		s, err := badgerstore.Open(t.Context(), opts)
		if err == nil {
			s.Close()
			t.Fatalf("%s: Open succeeded", name)
		}
		if !errors.Is(err, badgerstore.ErrWrongKey) {
			t.Errorf("%s: Open: got %v, want ErrWrongKey", name, err)
		}
	}
}

func TestLocked(t *testing.T) {
	dir, key := t.TempDir(), newKey()
	first := open(t, badgerstore.Options{Dir: dir, EncryptionKey: key})
	s, err := badgerstore.Open(t.Context(), badgerstore.Options{Dir: dir, EncryptionKey: key})
	if err == nil {
		s.Close()
		t.Fatal("second Open of the same directory succeeded")
	}
	if !errors.Is(err, badgerstore.ErrLocked) {
		t.Errorf("second Open: got %v, want ErrLocked", err)
	}
	// The failed Open did not disturb the first store.
	setKV(t, first, "k", []byte("v"))
	if got := getKV(t, first, "k"); string(got) != "v" {
		t.Errorf("k = %q, want %q", got, "v")
	}
}

func TestBadOptions(t *testing.T) {
	for name, opts := range map[string]badgerstore.Options{
		"no dir":      {EncryptionKey: newKey()},
		"no key":      {Dir: t.TempDir()},
		"short key":   {Dir: t.TempDir(), EncryptionKey: make([]byte, 16)},
		"long key":    {Dir: t.TempDir(), EncryptionKey: make([]byte, 33)},
		"insecure 16": {Dir: t.TempDir(), EncryptionKey: make([]byte, 16), Insecure: true},
	} {
		if s, err := badgerstore.Open(t.Context(), opts); err == nil {
			s.Close()
			t.Errorf("%s: Open succeeded", name)
		}
	}
}

func TestTooBig(t *testing.T) {
	s := open(t, badgerstore.Options{Dir: t.TempDir(), EncryptionKey: newKey()})
	value := make([]byte, 512)
	n := 0
	err := s.Update(t.Context(), func(w store.Writer) error {
		for n = 0; n < 1_000_000; n++ {
			if err := w.Set(fmt.Appendf(nil, "bulk/%08d", n), value); err != nil {
				return err
			}
		}
		return nil
	})
	if !errors.Is(err, store.ErrTooBig) {
		t.Fatalf("Update of %d keys: got %v, want ErrTooBig", n, err)
	}
	// Nothing of the refused transaction was written.
	err = s.View(t.Context(), func(r store.Reader) error {
		return r.Scan([]byte("bulk/"), store.ScanOptions{Limit: 1}, func(k, v []byte) error {
			return fmt.Errorf("found %q", k)
		})
	})
	if err != nil {
		t.Error(err)
	}
}

func TestSizeAndBackup(t *testing.T) {
	s := open(t, badgerstore.Options{Dir: t.TempDir(), EncryptionKey: newKey(), GCInterval: 10 * time.Millisecond})
	for i := range 50 {
		setKV(t, s, fmt.Sprintf("k/%03d", i), bytes.Repeat([]byte{byte(i)}, 2<<10))
	}
	lsm, vlog := s.Size()
	if lsm < 0 || vlog < 0 {
		t.Errorf("Size() = %d, %d", lsm, vlog)
	}
	var buf bytes.Buffer
	if err := s.Backup(&buf); err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if buf.Len() < 50*(2<<10) {
		t.Errorf("backup of %d bytes, want at least the %d bytes of values", buf.Len(), 50*(2<<10))
	}
	time.Sleep(50 * time.Millisecond) // let the GC loop run a few times
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Backup(&buf); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Backup after Close: got %v, want ErrClosed", err)
	}
}

func BenchmarkUpdate(b *testing.B) {
	s := open(b, badgerstore.Options{Dir: b.TempDir(), EncryptionKey: newKey()})
	value := make([]byte, 2<<10)
	rand.Read(value)
	i := 0
	for b.Loop() {
		key := fmt.Appendf(nil, "bench/%09d", i)
		i++
		if err := s.Update(b.Context(), func(w store.Writer) error { return w.Set(key, value) }); err != nil {
			b.Fatal(err)
		}
	}
}

// TestGroupTooBig: Updates that fit one by one but not together in one
// transaction are split across commits, and each succeeds.
func TestGroupTooBig(t *testing.T) {
	s := open(t, badgerstore.Options{Dir: t.TempDir(), EncryptionKey: newKey()})
	value := make([]byte, 512)
	const callers, keys = 8, 2000 // about 1 MiB each
	var wg sync.WaitGroup
	errs := make([]error, callers)
	for c := range callers {
		wg.Go(func() {
			errs[c] = s.Update(t.Context(), func(w store.Writer) error {
				for n := range keys {
					if err := w.Set(fmt.Appendf(nil, "bulk/%d/%05d", c, n), value); err != nil {
						return err
					}
				}
				return nil
			})
		})
	}
	wg.Wait()
	for c, err := range errs {
		if err != nil {
			t.Errorf("Update %d: got %v, want nil", c, err)
		}
	}
	n := 0
	if err := s.View(t.Context(), func(r store.Reader) error {
		return r.Scan([]byte("bulk/"), store.ScanOptions{}, func(k, v []byte) error { n++; return nil })
	}); err != nil {
		t.Fatal(err)
	}
	if n != callers*keys {
		t.Errorf("got %d keys, want %d", n, callers*keys)
	}
}

// TestUpdatePanic: a panic in fn reaches the caller of Update, undoes
// its writes, and leaves the store working.
func TestUpdatePanic(t *testing.T) {
	s := open(t, badgerstore.Options{Dir: t.TempDir(), EncryptionKey: newKey()})
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Errorf("recovered %v, want boom", p)
			}
		}()
		s.Update(t.Context(), func(w store.Writer) error {
			if err := w.Set([]byte("k"), []byte("v")); err != nil {
				return err
			}
			panic("boom")
		})
		t.Error("Update returned after fn panicked")
	}()
	setKV(t, s, "other", []byte("v"))
	err := s.View(t.Context(), func(r store.Reader) error {
		if _, err := r.Get([]byte("k")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("key written before the panic: got %v, want not found", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkUpdateParallel: concurrent Updates that all read and write one
// key, as audited writes do with the audit chain's head. Group commit
// gives them one transaction and one fsync per batch.
func BenchmarkUpdateParallel(b *testing.B) {
	s := open(b, badgerstore.Options{Dir: b.TempDir(), EncryptionKey: newKey()})
	value := make([]byte, 2<<10)
	rand.Read(value)
	var i atomic.Int64
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := fmt.Appendf(nil, "bench/%09d", i.Add(1))
			err := s.Update(b.Context(), func(w store.Writer) error {
				head, err := w.Get([]byte("head"))
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
				if err := w.Set(key, value); err != nil {
					return err
				}
				return w.Set([]byte("head"), append(head[:0:0], key...))
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}
