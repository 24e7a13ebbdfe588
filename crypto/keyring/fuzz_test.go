package keyring

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fuzzLimits are tighter than the ones OpenFile applies, so that a fuzzed
// file that passes validation costs milliseconds rather than gigabytes;
// otherwise FuzzOpenFile runs exactly the OpenFile code path.
var fuzzLimits = limits{maxTime: 2, maxMemoryKiB: 256}

var fuzzPass = []byte("fuzz passphrase")

func FuzzOpenFile(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "seed.json")
	kr, err := CreateFileWithParams(path, fuzzPass, KDFParams{Time: 1, MemoryKiB: 64, Threads: 1})
	if err != nil {
		f.Fatal(err)
	}
	kr.Close()
	seed, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"version":1,"kdf":"argon2id","time":1,"memory_kib":8,"threads":1,"salt":"AAAAAAAAAAAAAAAAAAAAAA==","check":""}`))
	f.Add([]byte(`null`))

	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "keyring.json")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		kr, err := openFile(p, fuzzPass, fuzzLimits)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrWrongPassphrase) {
				t.Fatalf("openFile: unexpected error %v", err)
			}
			return
		}
		defer kr.Close()
		// Only a file sealed with fuzzPass opens; it must then work.
		w, err := kr.Wrap(context.Background(), "n", []byte("s"))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := kr.Unwrap(context.Background(), "n", w); err != nil || string(got) != "s" {
			t.Fatalf("round trip after open = %q, %v", got, err)
		}
	})
}

func FuzzUnwrap(f *testing.F) {
	path := filepath.Join(f.TempDir(), "keyring.json")
	kr, err := CreateFileWithParams(path, fuzzPass, KDFParams{Time: 1, MemoryKiB: 64, Threads: 1})
	if err != nil {
		f.Fatal(err)
	}
	defer kr.Close()
	ctx := context.Background()
	type seed struct {
		name   string
		secret []byte
	}
	valid := map[string][]byte{} // name+wrapped → secret
	for _, s := range []seed{{"store-key", []byte("0123456789abcdef0123456789abcdef")}, {"", nil}, {"k", []byte{0}}} {
		w, err := kr.Wrap(ctx, s.name, s.secret)
		if err != nil {
			f.Fatal(err)
		}
		valid[s.name+"\x00"+string(w)] = s.secret
		f.Add(s.name, w)
	}
	f.Add("k", []byte{})
	f.Add("k", []byte{1})

	f.Fuzz(func(t *testing.T, name string, wrapped []byte) {
		got, err := kr.Unwrap(ctx, name, wrapped)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Unwrap: got %v, want ErrCorrupt", err)
			}
			return
		}
		want, ok := valid[name+"\x00"+string(wrapped)]
		if !ok {
			t.Fatalf("Unwrap accepted input it never wrapped: name %q, %x", name, wrapped)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("Unwrap = %x, want %x", got, want)
		}
	})
}
