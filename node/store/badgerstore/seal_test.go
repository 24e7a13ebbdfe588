package badgerstore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/cpx-node/cpx/node/store"
)

func testKey() []byte { return bytes.Repeat([]byte{7}, 32) }

func openT(t *testing.T, opts Options) *Store {
	t.Helper()
	if opts.EncryptionKey == nil && !opts.Insecure {
		opts.EncryptionKey = testKey()
	}
	opts.GCInterval = -1
	s, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func set(t *testing.T, s *Store, k, v string) {
	t.Helper()
	if err := s.Update(context.Background(), func(w store.Writer) error { return w.Set([]byte(k), []byte(v)) }); err != nil {
		t.Fatal(err)
	}
}

func get(s *Store, k string) ([]byte, error) {
	var v []byte
	err := s.View(context.Background(), func(r store.Reader) (err error) {
		v, err = r.Get([]byte(k))
		return err
	})
	return v, err
}

// raw reads and writes the bytes Badger holds, below the seal.
func rawGet(t *testing.T, s *Store, k string) []byte {
	t.Helper()
	var v []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(k))
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func rawSet(t *testing.T, s *Store, k string, v []byte) {
	t.Helper()
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(k), v) }); err != nil {
		t.Fatal(err)
	}
}

func TestSealedValuesFailClosed(t *testing.T) {
	s := openT(t, Options{Dir: t.TempDir()})
	set(t, s, "u/n/amina", `{"role":"caseworker"}`)
	set(t, s, "u/n/sahra", `{"role":"supervisor"}`)
	sealed := rawGet(t, s, "u/n/amina")
	if bytes.Contains(sealed, []byte("caseworker")) {
		t.Fatalf("the stored value holds the plaintext")
	}
	flip := bytes.Clone(sealed)
	flip[len(flip)/2] ^= 1
	tests := []struct {
		name  string
		key   string
		value []byte
	}{
		{"bit flipped", "u/n/amina", flip},
		{"swapped from another key", "u/n/amina", rawGet(t, s, "u/n/sahra")},
		{"truncated", "u/n/amina", sealed[:len(sealed)-1]},
		{"cut to the header", "u/n/amina", sealed[:10]},
		{"empty", "u/n/amina", nil},
		{"unknown format", "u/n/amina", append([]byte{0x02}, sealed[1:]...)},
		{"plaintext", "u/n/amina", []byte(`{"role":"supervisor"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rawSet(t, s, tt.key, tt.value)
			v, err := get(s, tt.key)
			var re *RecordError
			if !errors.As(err, &re) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Get = %q, %v; want a *RecordError", v, err)
			}
			if re.Kind != "u/n/" || strings.Contains(err.Error(), "amina") {
				t.Errorf("error %q: kind %q, want u/n/ and no key content", err, re.Kind)
			}
			var scanErr error
			scanErr = s.View(context.Background(), func(r store.Reader) error {
				return r.Scan([]byte("u/"), store.ScanOptions{}, func(k, v []byte) error { return nil })
			})
			if !errors.Is(scanErr, ErrCorrupt) {
				t.Errorf("Scan = %v, want ErrCorrupt", scanErr)
			}
			rep, err := s.verifyOpen()
			if err != nil || len(rep) != 1 {
				t.Errorf("verify found %v, %v; want one failure", rep, err)
			}
		})
	}
}

// verifyOpen lists the records of an open store that fail to open.
func (s *Store) verifyOpen() ([]string, error) {
	var bad []string
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if _, err := (reader{txn: txn, seal: s.seal}).value(it.Item()); err != nil {
				bad = append(bad, err.Error())
			}
		}
		return nil
	})
	return bad, err
}

func TestKind(t *testing.T) {
	tests := []struct{ key, want string }{
		{"u/n/amina", "u/n/"},
		{"c/r/0193", "c/r/"},
		{"c/seq", "c/seq"},
		{"a/head", "a/head"},
		{"x/id", "x/id"},
		{"k/0193abc/", "k/"},
		{"c/v/0193/3", "c/v/"},
		{"name-of-a-child", "?"},
		{"\x00cpx/store-format", "format-marker"},
		{"", "?"},
	}
	for _, tt := range tests {
		if got := Kind([]byte(tt.key)); got != tt.want {
			t.Errorf("Kind(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

func TestMigration(t *testing.T) {
	dir := t.TempDir()
	old, err := Open(context.Background(), Options{Dir: dir, EncryptionKey: testKey(), Unsealed: true, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	set(t, old, "c/r/1", "one")
	set(t, old, "c/s/open/1", "")
	old.Close()

	if _, err := Verify(context.Background(), Options{Dir: dir, EncryptionKey: testKey()}); err != nil {
		t.Fatal(err)
	}
	rep, _ := Verify(context.Background(), Options{Dir: dir, EncryptionKey: testKey()})
	if len(rep.Failures) != 1 || !errors.Is(rep.Failures[0].Err, ErrUnsealedFormat) {
		t.Fatalf("Verify of an older store: %+v, want ErrUnsealedFormat", rep)
	}

	s := openT(t, Options{Dir: dir})
	if v, err := get(s, "c/r/1"); err != nil || string(v) != "one" {
		t.Fatalf("after migration Get = %q, %v; want one", v, err)
	}
	if raw := rawGet(t, s, "c/r/1"); bytes.Equal(raw, []byte("one")) {
		t.Fatalf("value still unsealed after migration")
	}
	s.Close()
	rep, err = Verify(context.Background(), Options{Dir: dir, EncryptionKey: testKey()})
	if err != nil || len(rep.Failures) != 0 || rep.Records != 2 {
		t.Fatalf("Verify after migration: %+v, %v; want 2 records, no failure", rep, err)
	}
	if _, err := Open(context.Background(), Options{Dir: dir, EncryptionKey: testKey(), Unsealed: true}); err == nil {
		t.Fatalf("Unsealed opened a sealed store")
	}
}

func TestMarker(t *testing.T) {
	t.Run("forged marker is corruption, not a migration", func(t *testing.T) {
		dir := t.TempDir()
		s := openT(t, Options{Dir: dir})
		set(t, s, "u/n/a", "x")
		rawSet(t, s, string(markerKey), []byte("cpx-store sealed v1"))
		s.Close()
		_, err := Open(context.Background(), Options{Dir: dir, EncryptionKey: testKey()})
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open = %v, want ErrCorrupt", err)
		}
	})
	t.Run("marker removed from a sealed store", func(t *testing.T) {
		dir := t.TempDir()
		s := openT(t, Options{Dir: dir})
		set(t, s, "u/n/a", "x")
		if err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete(markerKey) }); err != nil {
			t.Fatal(err)
		}
		s.Close()
		_, err := Open(context.Background(), Options{Dir: dir, EncryptionKey: testKey()})
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open = %v, want ErrCorrupt", err)
		}
	})
	t.Run("marker hidden from callers", func(t *testing.T) {
		s := openT(t, Options{Dir: t.TempDir()})
		if _, err := get(s, string(markerKey)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get(marker) = %v, want ErrNotFound", err)
		}
		err := s.Update(context.Background(), func(w store.Writer) error { return w.Set(markerKey, []byte("x")) })
		if err == nil {
			t.Errorf("Set(marker) succeeded")
		}
	})
}

func TestLoadOlderBackup(t *testing.T) {
	old, err := Open(context.Background(), Options{Dir: t.TempDir(), EncryptionKey: testKey(), Unsealed: true, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	set(t, old, "c/r/1", "one")
	var buf bytes.Buffer
	if err := old.Backup(&buf); err != nil {
		t.Fatal(err)
	}
	old.Close()
	s := openT(t, Options{Dir: t.TempDir()})
	if err := s.Load(&buf); err != nil {
		t.Fatal(err)
	}
	if v, err := get(s, "c/r/1"); err != nil || string(v) != "one" {
		t.Fatalf("Get after loading an older backup = %q, %v; want one", v, err)
	}
}

// copyDir copies a directory of regular files.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(to, 0o700)
	for _, e := range ents {
		if e.Name() == "LOCK" {
			continue
		}
		// Logs are large sparse files: copy the written part, keep the size.
		f, err := os.Open(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		last, err := lastNonZero(f, 0, st.Size())
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, last+1)
		f.ReadAt(b, 0)
		f.Close()
		dst := filepath.Join(to, e.Name())
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(dst, st.Size()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDamagedWAL: a store copied while open (as after kill -9) has its
// records in the write-ahead log; damage in the middle of it would make
// Badger drop every later record without a word.
func TestDamagedWAL(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, Options{Dir: dir})
	for i := range 50 {
		set(t, s, "c/r/"+strings.Repeat("x", i), strings.Repeat("v", 100))
	}
	crashed := t.TempDir()
	copyDir(t, dir, crashed)
	mems, _ := filepath.Glob(filepath.Join(crashed, "*.mem"))
	if len(mems) != 1 {
		t.Fatalf("write-ahead logs: %v, want one", mems)
	}
	intact := t.TempDir()
	copyDir(t, crashed, intact)
	if rep, err := Verify(context.Background(), Options{Dir: intact, EncryptionKey: testKey()}); err != nil || len(rep.Failures) > 0 || rep.Records != 50 {
		t.Fatalf("Verify of an intact crashed copy: %+v, %v", rep, err)
	}
	b, _ := os.ReadFile(mems[0])
	for _, off := range []int{300, 2000, 4000, len(b) / 2} { // entries, entries, entries, zeros
		c := bytes.Clone(b)
		c[off] ^= 0x10
		os.WriteFile(mems[0], c, 0o600)
		_, err := Open(context.Background(), Options{Dir: crashed, EncryptionKey: testKey()})
		var fe *FileError
		if !errors.As(err, &fe) || !errors.Is(err, ErrCorrupt) {
			t.Errorf("flip at %d: Open = %v, want a *FileError", off, err)
		}
	}
	// A torn last entry (a write that never finished) is dropped quietly.
	end, _, _ := scanLog(bufioReader(b), int64(len(b)))
	c := bytes.Clone(b)
	c[end] = 0x40 // a header claiming an entry…
	c[end+2] = 10 // …of a 10-byte key, whose bytes are zeros
	os.WriteFile(mems[0], c, 0o600)
	s2, err := Open(context.Background(), Options{Dir: crashed, EncryptionKey: testKey(), GCInterval: -1})
	if err != nil {
		t.Fatalf("Open with a torn last entry: %v", err)
	}
	s2.Close()
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

func FuzzOpenSealed(f *testing.F) {
	sl, err := newSealer(testKey())
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("u/n/amina"), sl.seal([]byte("u/n/amina"), []byte(`{"role":"caseworker"}`)))
	f.Add([]byte("c/seq"), sl.seal([]byte("c/seq"), nil))
	f.Add([]byte(""), []byte{0x01})
	f.Fuzz(func(t *testing.T, key, sealed []byte) {
		v, err := sl.open(key, sealed)
		if err != nil {
			var re *RecordError
			if v != nil || !errors.As(err, &re) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("open = %q, %v; want nil and a *RecordError", v, err)
			}
			return
		}
		// Whatever opens must be what some seal produced: seal it again
		// and it opens to the same value.
		v2, err := sl.open(key, sl.seal(key, v))
		if err != nil || !bytes.Equal(v, v2) {
			t.Fatalf("round trip: %q, %v; want %q", v2, err, v)
		}
	})
}

func FuzzScanLog(f *testing.F) {
	f.Add(make([]byte, 64))
	f.Add(append(make([]byte, 20), 0, 0, 3, 1, 0, 'a', 'b', 'c', 'd', 0, 0, 0, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		end, extent, err := scanLog(bufioReader(b), int64(len(b)))
		if err != nil {
			return
		}
		if end < 0 || end > int64(max(len(b), 0)) && len(b) >= logHeaderLen || extent < 0 {
			t.Fatalf("scanLog = %d, %d for %d bytes", end, extent, len(b))
		}
	})
}

func BenchmarkSeal(b *testing.B) {
	sl, _ := newSealer(testKey())
	key, v := []byte("c/r/0193abcdef"), bytes.Repeat([]byte("x"), 2048)
	b.SetBytes(int64(len(v)))
	for b.Loop() {
		if _, err := sl.open(key, sl.seal(key, v)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLoadKeepsNewest: a backup holds every version of a key, newest
// first, and deletions; the loaded store answers as the original did.
func TestLoadKeepsNewest(t *testing.T) {
	src := openT(t, Options{Dir: t.TempDir()})
	set(t, src, "a/head", "1")
	set(t, src, "a/head", "2")
	set(t, src, "a/head", "3")
	set(t, src, "gone", "x")
	if err := src.Update(context.Background(), func(w store.Writer) error { return w.Delete([]byte("gone")) }); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := src.Backup(&buf); err != nil {
		t.Fatal(err)
	}
	dst := openT(t, Options{Dir: t.TempDir()})
	if err := dst.Load(&buf); err != nil {
		t.Fatal(err)
	}
	if v, err := get(dst, "a/head"); err != nil || string(v) != "3" {
		t.Errorf("a/head after Load = %q, %v; want 3", v, err)
	}
	if v, err := get(dst, "gone"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a deleted key after Load = %q, %v; want ErrNotFound", v, err)
	}
}
