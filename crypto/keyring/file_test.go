package keyring_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cpx-node/cpx/crypto/keyring"
	"github.com/cpx-node/cpx/crypto/keyring/keyringtest"
)

// cheap are Argon2id parameters that keep tests fast; never use them for real.
var cheap = keyring.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

var pass = []byte("correct horse battery staple")

func newFile(t *testing.T) (*keyring.File, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keyring.json")
	f, err := keyring.CreateFileWithParams(path, pass, cheap)
	if err != nil {
		t.Fatalf("CreateFileWithParams: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f, path
}

func TestFileKeyring(t *testing.T) {
	keyringtest.TestKeyring(t, func(t *testing.T) keyring.Keyring {
		f, _ := newFile(t)
		return f
	})
}

func TestFileKind(t *testing.T) {
	f, _ := newFile(t)
	if got := f.Kind(); got != "file" {
		t.Errorf("Kind() = %q, want %q", got, "file")
	}
}

func TestFileReopen(t *testing.T) {
	f, path := newFile(t)
	wrapped, err := f.Wrap(t.Context(), "store-key", []byte("the store key"))
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	f.Close()
	if _, err := f.Unwrap(t.Context(), "store-key", wrapped); !errors.Is(err, keyring.ErrClosed) {
		t.Errorf("Unwrap after Close: got %v, want ErrClosed", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	g, err := keyring.OpenFile(path, pass)
	if err != nil {
		t.Fatalf("OpenFile: %v", err)
	}
	defer g.Close()
	got, err := g.Unwrap(t.Context(), "store-key", wrapped)
	if err != nil {
		t.Fatalf("Unwrap after reopen: %v", err)
	}
	if string(got) != "the store key" {
		t.Errorf("Unwrap after reopen = %q, want %q", got, "the store key")
	}
}

func TestFileWrongPassphrase(t *testing.T) {
	_, path := newFile(t)
	for _, p := range []string{"correct horse battery stapl", "Correct horse battery staple", "x"} {
		if _, err := keyring.OpenFile(path, []byte(p)); !errors.Is(err, keyring.ErrWrongPassphrase) {
			t.Errorf("OpenFile(%q): got %v, want ErrWrongPassphrase", p, err)
		}
	}
	if _, err := keyring.OpenFile(path, nil); !errors.Is(err, keyring.ErrNoPassphrase) {
		t.Errorf("OpenFile with no passphrase: got %v, want ErrNoPassphrase", err)
	}
}

func TestFileNotExist(t *testing.T) {
	_, err := keyring.OpenFile(filepath.Join(t.TempDir(), "nope"), pass)
	if !errors.Is(err, keyring.ErrNotExist) {
		t.Errorf("OpenFile of a missing file: got %v, want ErrNotExist", err)
	}
}

func TestFileExists(t *testing.T) {
	f, path := newFile(t)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keyring.CreateFileWithParams(path, []byte("other"), cheap); !errors.Is(err, keyring.ErrExists) {
		t.Errorf("CreateFile over an existing keyring: got %v, want ErrExists", err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("CreateFile changed an existing keyring file")
	}
	// No temporary files are left behind.
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %q, want only the keyring file", names)
	}
	_ = f
}

func TestFileMode(t *testing.T) {
	_, path := newFile(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("keyring file mode = %v, want 0600", got)
	}
}

func TestFileFormat(t *testing.T) {
	_, path := newFile(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("keyring file is not JSON: %v", err)
	}
	want := map[string]any{"version": 1.0, "kdf": "argon2id", "time": 1.0, "memory_kib": 64.0, "threads": 1.0}
	for k, v := range want {
		if doc[k] != v {
			t.Errorf("%s = %v, want %v", k, doc[k], v)
		}
	}
	for _, k := range []string{"salt", "check"} {
		if s, _ := doc[k].(string); s == "" {
			t.Errorf("%s = %v, want base64 text", k, doc[k])
		}
	}
	if len(doc) != 7 {
		t.Errorf("keyring file has %d fields, want 7: %s", len(doc), data)
	}
}

func TestCreateFileParams(t *testing.T) {
	dir := t.TempDir()
	bad := []keyring.KDFParams{
		{Time: 1000, MemoryKiB: 64, Threads: 1},
		{Time: 1, MemoryKiB: 4, Threads: 1},
		{Time: 1, MemoryKiB: 64, Threads: 255},
	}
	for i, p := range bad {
		if _, err := keyring.CreateFileWithParams(filepath.Join(dir, "k"), pass, p); err == nil {
			t.Errorf("%d: CreateFileWithParams(%+v) succeeded, want an error", i, p)
		}
	}
	if _, err := keyring.CreateFileWithParams(filepath.Join(dir, "k"), nil, cheap); !errors.Is(err, keyring.ErrNoPassphrase) {
		t.Errorf("CreateFile with no passphrase: got %v, want ErrNoPassphrase", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "k")); err == nil {
		t.Errorf("a refused CreateFile left a file behind")
	}
	if got := keyring.DefaultKDFParams(); got != (keyring.KDFParams{Time: 3, MemoryKiB: 64 << 10, Threads: 2}) {
		t.Errorf("DefaultKDFParams() = %+v", got)
	}
}

func TestFileMalformed(t *testing.T) {
	_, path := newFile(t)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(good, &doc); err != nil {
		t.Fatal(err)
	}
	with := func(k string, v any) string {
		m := map[string]any{}
		for k, v := range doc {
			m[k] = v
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	cases := map[string]string{
		"empty":             "",
		"not json":          "hello",
		"array":             "[]",
		"truncated":         string(good[:len(good)/2]),
		"trailing":          string(good) + "{}",
		"version 2":         with("version", 2),
		"no version":        with("version", nil),
		"kdf scrypt":        with("kdf", "scrypt"),
		"time 0":            with("time", 0),
		"time huge":         with("time", 1<<31),
		"memory 5 GiB":      with("memory_kib", 5<<20),
		"memory 1 KiB":      with("memory_kib", 1),
		"memory overflow":   with("memory_kib", 1<<40),
		"threads 0":         with("threads", 0),
		"threads 300":       with("threads", 300),
		"negative time":     with("time", -1),
		"salt missing":      with("salt", nil),
		"salt short":        with("salt", "AAAA"),
		"salt not base64":   with("salt", "!!!!"),
		"check missing":     with("check", nil),
		"check short":       with("check", "AAAA"),
		"unknown field":     with("extra", 1),
		"huge":              `{"version":1,"kdf":"` + strings.Repeat("a", 10000) + `"}`,
		"kdf wrong type":    with("kdf", 1),
		"version as string": with("version", "1"),
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "keyring.json")
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := keyring.OpenFile(p, pass)
			if err == nil {
				f.Close()
				t.Fatalf("OpenFile succeeded on %q", content)
			}
			if !errors.Is(err, keyring.ErrMalformed) {
				t.Errorf("OpenFile: got %v, want ErrMalformed", err)
			}
		})
	}
}

func TestPassphrase(t *testing.T) {
	const env = "CPX_TEST_PASSPHRASE"
	prompt := func() ([]byte, error) { return []byte("typed"), nil }
	empty := func() ([]byte, error) { return nil, nil }
	failing := func() ([]byte, error) { return nil, errors.New("no terminal") }

	t.Setenv(env, "from-env")
	if got, err := keyring.Passphrase(env, prompt); err != nil || string(got) != "from-env" {
		t.Errorf("Passphrase with env set = %q, %v; want %q", got, err, "from-env")
	}
	t.Setenv(env, "")
	if got, err := keyring.Passphrase(env, prompt); err != nil || string(got) != "typed" {
		t.Errorf("Passphrase with empty env = %q, %v; want %q", got, err, "typed")
	}
	if _, err := keyring.Passphrase(env, empty); !errors.Is(err, keyring.ErrNoPassphrase) {
		t.Errorf("Passphrase with nothing: got %v, want ErrNoPassphrase", err)
	}
	if _, err := keyring.Passphrase(env, nil); !errors.Is(err, keyring.ErrNoPassphrase) {
		t.Errorf("Passphrase with no prompt: got %v, want ErrNoPassphrase", err)
	}
	if _, err := keyring.Passphrase(env, failing); err == nil || err.Error() != "no terminal" {
		t.Errorf("Passphrase with a failing prompt: got %v, want the prompt's error", err)
	}
}
