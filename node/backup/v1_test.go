package backup

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"testing"

	"github.com/cpx-node/cpx/crypto/keyring"
)

// TestVersion1Opens checks that a backup in the first format (unbound
// header, content = the store stream only) still opens, as its one part
// "store".
func TestVersion1Opens(t *testing.T) {
	ctx := context.Background()
	kr, err := keyring.CreateFileWithParams(filepath.Join(t.TempDir(), "k.json"), []byte("pass phrase"), keyring.KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	key := bytes.Repeat([]byte{7}, 32)
	wrapped, err := kr.Wrap(ctx, keyNameV1, key)
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := json.Marshal(header{Meta: Meta{Agency: "old", Keyring: "file"}, WrappedKey: wrapped})
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	bw.WriteString(magicV1)
	writeFrame(bw, hb)
	aead, _ := newAEAD(key)
	cw := &chunkWriter{w: bw, aead: aead}
	content := bytes.Repeat([]byte("badger stream "), 10_000)
	cw.Write(content)
	cw.close()
	bw.Flush()

	meta, r, err := Open(ctx, &buf, kr)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Version != 1 || meta.Agency != "old" {
		t.Errorf("meta %+v, want version 1 of agency old", meta)
	}
	name, err := r.Next()
	if err != nil || name != PartStore {
		t.Fatalf("first part %q, %v; want %q", name, err, PartStore)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("store part: %d bytes, %v; want %d bytes", len(got), err, len(content))
	}
	if name, err := r.Next(); err != io.EOF {
		t.Errorf("after the store part: %q, %v; want io.EOF", name, err)
	}
}
