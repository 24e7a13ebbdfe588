package backup_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/cpx-node/cpx/crypto/keyring"
	"github.com/cpx-node/cpx/node/backup"
)

func newKeyring(t *testing.T) keyring.Keyring {
	t.Helper()
	kr, err := keyring.CreateFileWithParams(filepath.Join(t.TempDir(), "k.json"), []byte("pass phrase"), keyring.KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestRoundTripAndFaults(t *testing.T) {
	ctx := context.Background()
	kr := newKeyring(t)
	for _, size := range []int{0, 1, 64 << 10, 3*(64<<10) + 17} {
		content := make([]byte, size)
		rand.Read(content)
		var buf bytes.Buffer
		meta := backup.Meta{Agency: "agency-a", Created: time.Now().UTC(), Keyring: "file", Files: map[string][]byte{"cpx.toml": []byte("x")}}
		if err := backup.Write(ctx, &buf, kr, meta, func(w io.Writer) error { _, err := w.Write(content); return err }); err != nil {
			t.Fatal(err)
		}
		raw := buf.Bytes()
		got, r, err := backup.Open(ctx, bytes.NewReader(raw), kr)
		if err != nil {
			t.Fatal(err)
		}
		out, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(out, content) || got.Agency != "agency-a" || string(got.Files["cpx.toml"]) != "x" {
			t.Fatalf("size %d: round trip failed: %v", size, err)
		}
		if m, err := backup.ReadMeta(bytes.NewReader(raw)); err != nil || m.Agency != "agency-a" {
			t.Errorf("ReadMeta: %v, %v", m, err)
		}
		if _, _, err := backup.Open(ctx, bytes.NewReader(raw), newKeyring(t)); !errors.Is(err, backup.ErrWrongKeyring) {
			t.Errorf("size %d: another keyring: got %v, want ErrWrongKeyring", size, err)
		}
		// Truncation and tampering of the content are detected.
		for name, bad := range map[string][]byte{
			"truncated": raw[:len(raw)-10],
			"flipped":   flip(raw, len(raw)-5),
			"no chunks": raw[:headerEnd(raw)],
		} {
			_, r, err := backup.Open(ctx, bytes.NewReader(bad), kr)
			if err == nil {
				_, err = io.ReadAll(r)
			}
			if !errors.Is(err, backup.ErrFormat) {
				t.Errorf("size %d, %s: got %v, want ErrFormat", size, name, err)
			}
		}
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1
	return c
}

// headerEnd is the offset just after the header frame.
func headerEnd(raw []byte) int {
	n := len("CPXBACKUP1\n")
	size := int(raw[n])<<24 | int(raw[n+1])<<16 | int(raw[n+2])<<8 | int(raw[n+3])
	return n + 4 + size
}

func FuzzOpen(f *testing.F) {
	kr, err := keyring.CreateFileWithParams(filepath.Join(f.TempDir(), "k.json"), []byte("pass phrase"), keyring.KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 1})
	if err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	backup.Write(context.Background(), &buf, kr, backup.Meta{Agency: "a"}, func(w io.Writer) error { _, err := w.Write([]byte("hello")); return err })
	f.Add(buf.Bytes())
	f.Add([]byte("CPXBACKUP1\n\x00\x00\x00\x02{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, r, err := backup.Open(context.Background(), bytes.NewReader(data), kr)
		if err == nil {
			io.ReadAll(r)
		}
		backup.ReadMeta(bytes.NewReader(data))
	})
}
