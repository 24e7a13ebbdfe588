package badgerstore

import (
	"bytes"
	"testing"
)

// FuzzCheckedRecord: decoding any bytes as a checked-tables record never
// panics, accepts only records whose MAC verifies, and a record it
// accepts encodes to the same bytes.
func FuzzCheckedRecord(f *testing.F) {
	key := bytes.Repeat([]byte{7}, 32)
	c, err := newChecked(key)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(c.encode())
	c.tables[3] = fileID{dev: 2049, ino: 123456, size: 4 << 20, mtime: 1_700_000_000_000_000_000, ctime: 1_700_000_000_000_000_001}
	c.tables[1] = fileID{dev: 2049, ino: 9, size: 440, mtime: 1, ctime: 2}
	f.Add(c.encode())
	f.Add([]byte(checkedMagic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := newChecked(key)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.decode(b); err != nil {
			if len(d.tables) != 0 {
				t.Fatalf("a record that failed to decode left %d tables", len(d.tables))
			}
			return
		}
		if got := d.encode(); !bytes.Equal(got, b) {
			t.Fatalf("decoded and encoded again:\n got %x\nwant %x", got, b)
		}
	})
}
