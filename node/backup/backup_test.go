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

func newKeyring(t testing.TB) keyring.Keyring {
	t.Helper()
	kr, err := keyring.CreateFileWithParams(filepath.Join(t.TempDir(), "k.json"), []byte("pass phrase"), keyring.KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func bytesPart(name string, b []byte) backup.Part {
	return backup.Part{Name: name, Write: func(w io.Writer) error { _, err := w.Write(b); return err }}
}

// readParts reads every part of an opened backup.
func readParts(r *backup.Reader) (map[string][]byte, []string, error) {
	got := map[string][]byte{}
	var order []string
	for {
		name, err := r.Next()
		if err == io.EOF {
			return got, order, nil
		}
		if err != nil {
			return got, order, err
		}
		b, err := io.ReadAll(r)
		if err != nil {
			return got, order, err
		}
		got[name] = b
		order = append(order, name)
	}
}

func TestRoundTripAndFaults(t *testing.T) {
	ctx := context.Background()
	kr := newKeyring(t)
	for _, size := range []int{0, 1, 64 << 10, 3*(64<<10) + 17} {
		content := make([]byte, size)
		rand.Read(content)
		keys := []byte("wrapped keys")
		var buf bytes.Buffer
		meta := backup.Meta{Agency: "agency-a", Created: time.Now().UTC(), Keyring: "file", Files: map[string][]byte{"cpx.toml": []byte("x")}}
		if err := backup.Write(ctx, &buf, kr, meta, bytesPart(backup.PartStore, content), bytesPart(backup.PartCaseKeys, keys), bytesPart(backup.PartPurges, nil)); err != nil {
			t.Fatal(err)
		}
		raw := buf.Bytes()
		got, r, err := backup.Open(ctx, bytes.NewReader(raw), kr)
		if err != nil {
			t.Fatal(err)
		}
		parts, order, err := readParts(r)
		if err != nil || !bytes.Equal(parts[backup.PartStore], content) || string(parts[backup.PartCaseKeys]) != string(keys) || got.Agency != "agency-a" || string(got.Files["cpx.toml"]) != "x" || got.Version != 2 {
			t.Fatalf("size %d: round trip failed: %v (parts %v)", size, err, order)
		}
		if want := []string{backup.PartStore, backup.PartCaseKeys, backup.PartPurges}; len(order) != 3 || order[0] != want[0] || order[1] != want[1] || order[2] != want[2] {
			t.Errorf("size %d: parts %v, want %v", size, order, want)
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
				_, _, err = readParts(r)
			}
			if !errors.Is(err, backup.ErrFormat) {
				t.Errorf("size %d, %s: got %v, want ErrFormat", size, name, err)
			}
		}
	}
}

// TestHeaderBound is the attack of a doctored header: whatever is changed in
// it (the agency, a carried file, the keyring kind), the backup no longer
// opens, so nothing read from a changed header is ever acted on after Open.
func TestHeaderBound(t *testing.T) {
	ctx := context.Background()
	kr := newKeyring(t)
	var buf bytes.Buffer
	meta := backup.Meta{Agency: "agency-a", Created: time.Unix(1_800_000_000, 0).UTC(), Keyring: "file", Files: map[string][]byte{"cpx.toml": []byte("addr = \"https://vault.example\"")}}
	if err := backup.Write(ctx, &buf, kr, meta, bytesPart(backup.PartStore, []byte("data"))); err != nil {
		t.Fatal(err)
	}
	raw := buf.String()
	for _, c := range []struct{ from, to string }{
		{`"agency":"agency-a"`, `"agency":"agency-b"`},
		{`"keyring":"file"`, `"keyring":"fake"`},
		{`"cpx.toml":"Y`, `"cpx.toml":"Z`},
	} {
		if !bytes.Contains(buf.Bytes(), []byte(c.from)) {
			t.Fatalf("header does not hold %s", c.from)
		}
		bad := []byte(replaceHeader(raw, c.from, c.to))
		if _, _, err := backup.Open(ctx, bytes.NewReader(bad), kr); !errors.Is(err, backup.ErrWrongKeyring) {
			t.Errorf("header changed %s → %s: got %v, want ErrWrongKeyring", c.from, c.to, err)
		}
	}
}

// replaceHeader replaces from with to in the header and fixes the header's
// length, as an attacker would.
func replaceHeader(raw, from, to string) string {
	end := headerEnd([]byte(raw))
	n := len("CPXBACKUP2\n")
	h := []byte(raw[n+4 : end])
	h = bytes.Replace(h, []byte(from), []byte(to), 1)
	l := len(h)
	return raw[:n] + string([]byte{byte(l >> 24), byte(l >> 16), byte(l >> 8), byte(l)}) + string(h) + raw[end:]
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1
	return c
}

// headerEnd is the offset just after the header frame.
func headerEnd(raw []byte) int {
	n := len("CPXBACKUP2\n")
	size := int(raw[n])<<24 | int(raw[n+1])<<16 | int(raw[n+2])<<8 | int(raw[n+3])
	return n + 4 + size
}

func FuzzOpen(f *testing.F) {
	kr := newKeyring(f)
	var buf bytes.Buffer
	backup.Write(context.Background(), &buf, kr, backup.Meta{Agency: "a"}, bytesPart(backup.PartStore, []byte("hello")), bytesPart(backup.PartPurges, []byte("[]")))
	f.Add(buf.Bytes())
	f.Add([]byte("CPXBACKUP1\n\x00\x00\x00\x02{}"))
	f.Add([]byte("CPXBACKUP2\n\x00\x00\x00\x02{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, r, err := backup.Open(context.Background(), bytes.NewReader(data), kr)
		if err == nil {
			readParts(r)
		}
		backup.ReadMeta(bytes.NewReader(data))
	})
}
