package badgerstore_test

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"

	"github.com/cpx-node/cpx/node/store/badgerstore"
)

// TestReleaseMapped: the store's mapped pages are given back and every
// record reads the same afterwards, written before and after.
func TestReleaseMapped(t *testing.T) {
	dir := t.TempDir()
	s := open(t, badgerstore.Options{Dir: dir, EncryptionKey: newKey()})
	big := bytes.Repeat([]byte("v"), 1000) // above the value threshold: in the value log
	for i := range 200 {
		setKV(t, s, fmt.Sprintf("k/%03d", i), append([]byte(fmt.Sprint(i)), big...))
	}
	n, err := badgerstore.ReleaseMapped(dir)
	if err != nil {
		t.Fatalf("ReleaseMapped: %v", err)
	}
	if runtime.GOOS == "linux" && n == 0 {
		t.Errorf("ReleaseMapped advised %d bytes of mappings, want some (the write-ahead and value logs are mapped)", n)
	}
	setKV(t, s, "k/new", []byte("after"))
	for i := range 200 {
		if got, want := getKV(t, s, fmt.Sprintf("k/%03d", i)), append([]byte(fmt.Sprint(i)), big...); !bytes.Equal(got, want) {
			t.Fatalf("k/%03d after the release: got %d bytes, want %d", i, len(got), len(want))
		}
	}
	if got := getKV(t, s, "k/new"); string(got) != "after" {
		t.Errorf("k/new: got %q, want %q", got, "after")
	}
	if n, err := badgerstore.ReleaseMapped(t.TempDir()); err != nil || n != 0 {
		t.Errorf("ReleaseMapped of a directory with nothing mapped: got %d, %v, want 0, nil", n, err)
	}
}
