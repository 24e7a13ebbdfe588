package badgerstore

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// What Badger (v4.9.6) does on open with a damaged log, and why checkLogs
// looks first:
//
//   - A write-ahead log (NNNNN.mem) is replayed entry by entry; at the
//     first entry whose CRC does not match, replay stops and the file is
//     truncated there. Every later entry — committed records — is dropped
//     without an error.
//   - The newest value log (NNNNN.vlog) is read the same way and truncated
//     at its first bad entry; pointers into the dropped part then fail on
//     read.
//   - MANIFEST: a bad checksum is an error, but an entry whose length runs
//     past the end of the file is taken for a half-written last entry and
//     cut off, with every table it and later entries named.
//
// The file formats (Badger's, not ours; both logs share one):
//
//	log:      header (20 bytes: data-key id, IV) then entries
//	entry:    meta, user meta (1 byte each), uvarint key length, uvarint
//	          value length, uvarint expiry, key||value (encrypted), CRC32C
//	          (big endian) over everything before it
//	MANIFEST: "Bdgr", 2-byte external and 2-byte format version, then
//	          entries of length (4 bytes), CRC32C (4 bytes), change set
//
// The CRCs are over ciphertext, so no key is needed to check them.
const (
	logHeaderLen  = 20
	maxLogKeyLen  = 1 << 16
	manifestMagic = "Bdgr"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// FileError names a Badger file that failed a check. It wraps ErrCorrupt.
type FileError struct {
	File   string // base name, such as 000003.mem
	Offset int64
	Reason string
}

func (e *FileError) Error() string {
	return fmt.Sprintf("store: file %s at offset %d: %s", e.File, e.Offset, e.Reason)
}

// Unwrap makes errors.Is(err, ErrCorrupt) hold.
func (e *FileError) Unwrap() error { return ErrCorrupt }

// checkLogs checks every write-ahead log, the newest value log and the
// MANIFEST in dir before Badger opens them. A log may end in a torn last
// entry (the process or machine died while writing it: that transaction
// never committed) followed by zeros; anything else after the first bad
// entry means committed data would be lost, and is an error.
func checkLogs(dir string, log *slog.Logger) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var vlogs []string
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".mem"):
			if err := checkLogFile(filepath.Join(dir, name), log); err != nil {
				return err
			}
		case strings.HasSuffix(name, ".vlog"):
			vlogs = append(vlogs, name)
		case name == "MANIFEST":
			if err := checkManifest(filepath.Join(dir, name)); err != nil {
				return err
			}
		}
	}
	if len(vlogs) > 0 {
		sort.Slice(vlogs, func(i, j int) bool { return fid(vlogs[i]) < fid(vlogs[j]) })
		return checkLogFile(filepath.Join(dir, vlogs[len(vlogs)-1]), log)
	}
	return nil
}

func fid(name string) uint64 {
	n, _ := strconv.ParseUint(strings.TrimSuffix(name, filepath.Ext(name)), 10, 64)
	return n
}

// checkLogFile walks the entries of one log file.
func checkLogFile(path string, log *slog.Logger) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	end, extent, err := scanLog(bufio.NewReaderSize(f, 256<<10), st.Size())
	if err != nil {
		return err
	}
	if end >= st.Size() {
		return nil
	}
	last, err := lastNonZero(f, end, st.Size())
	if err != nil {
		return err
	}
	name := filepath.Base(path)
	switch {
	case last < 0:
		return nil // the entries end, zeros follow: the normal case
	case extent > 0 && last < end+extent:
		// The bytes after the last good entry stop short of the end of the
		// entry they begin: a write that never finished, so a
		// transaction that never committed. Badger drops it.
		log.Warn("dropping a torn, uncommitted entry at the end of a log", slog.String("file", name), slog.Int64("offset", end))
		return nil
	}
	return &FileError{File: name, Offset: end, Reason: "damaged log entry with data after it; opening would silently drop committed records"}
}

// scanLog reads valid entries from r (positioned at the start of a file of
// size bytes). It returns the offset of the first entry that is not valid
// (size if all are) and, when that entry's header can be read, the length
// the header claims for it (0 otherwise).
func scanLog(r *bufio.Reader, size int64) (end, extent int64, err error) {
	if size < logHeaderLen {
		return 0, 0, nil
	}
	if _, err := r.Discard(logHeaderLen); err != nil {
		return 0, 0, err
	}
	off := int64(logHeaderLen)
	buf := make([]byte, 0, 4096)
	for off < size {
		n, ok := readEntry(r, &buf, size-off)
		if !ok {
			return off, n, nil
		}
		off += n
	}
	return off, 0, nil
}

// readEntry reads one entry; ok says it was complete with a matching CRC.
// n is the entry's length as its header claims (0 if no header could be
// read, or the entry is all zero: the end of the written part).
func readEntry(r *bufio.Reader, buf *[]byte, left int64) (n int64, ok bool) {
	h := crc32.New(castagnoli)
	tee := &teeByteReader{r: r, h: h}
	var hdr [2]byte
	if _, err := io.ReadFull(tee, hdr[:]); err != nil {
		return 0, false
	}
	klen, err1 := binary.ReadUvarint(tee)
	vlen, err2 := binary.ReadUvarint(tee)
	exp, err3 := binary.ReadUvarint(tee)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, false
	}
	if hdr[0] == 0 && hdr[1] == 0 && klen == 0 && vlen == 0 && exp == 0 {
		return 0, false // zeros: nothing written here
	}
	hlen := int64(tee.n)
	if klen > maxLogKeyLen || vlen > uint64(left) {
		return 0, false
	}
	n = hlen + int64(klen) + int64(vlen) + crc32.Size
	if n > left {
		return n, false
	}
	kv := int(klen + vlen)
	if cap(*buf) < kv {
		*buf = make([]byte, kv)
	}
	b := (*buf)[:kv]
	if _, err := io.ReadFull(r, b); err != nil {
		return n, false
	}
	h.Write(b)
	var sum [crc32.Size]byte
	if _, err := io.ReadFull(r, sum[:]); err != nil {
		return n, false
	}
	return n, binary.BigEndian.Uint32(sum[:]) == h.Sum32()
}

type teeByteReader struct {
	r *bufio.Reader
	h io.Writer
	n int
}

func (t *teeByteReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.h.Write(p[:n])
	t.n += n
	return n, err
}

func (t *teeByteReader) ReadByte() (byte, error) {
	b, err := t.r.ReadByte()
	if err == nil {
		t.h.Write([]byte{b})
		t.n++
	}
	return b, err
}

// lastNonZero returns the offset of the last non-zero byte of f in
// [from, to), or -1. It skips holes (a log is a sparse file of which only
// the written part holds blocks) where the file system can say where they
// are.
func lastNonZero(f *os.File, from, to int64) (int64, error) {
	const seekData, seekHole = 3, 4 // SEEK_DATA, SEEK_HOLE (Linux, BSD, Solaris)
	buf := make([]byte, 1<<20)
	last := int64(-1)
	for off := from; off < to; {
		d, err := f.Seek(off, seekData)
		if err != nil {
			if errors.Is(err, syscall.ENXIO) {
				break // no data after off
			}
			d = off // no SEEK_DATA here: read everything
		}
		h, err := f.Seek(d, seekHole)
		if err != nil || h <= d {
			h = to
		}
		for p := d; p < min(h, to); {
			n := min(int64(len(buf)), min(h, to)-p)
			if _, err := f.ReadAt(buf[:n], p); err != nil && err != io.EOF {
				return 0, err
			}
			if j := len(bytes.TrimRight(buf[:n], "\x00")); j > 0 {
				last = p + int64(j) - 1
			}
			p += n
		}
		off = h
	}
	return last, nil
}

// checkManifest checks every entry of the MANIFEST: its CRC, and that the
// file ends exactly after the last one.
func checkManifest(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	name := filepath.Base(path)
	if len(b) < 8 || string(b[:4]) != manifestMagic {
		return &FileError{File: name, Reason: "bad magic"}
	}
	off := 8
	for off < len(b) {
		if len(b)-off < 8 {
			return &FileError{File: name, Offset: int64(off), Reason: "truncated entry header; opening would silently forget tables"}
		}
		n := int(binary.BigEndian.Uint32(b[off:]))
		sum := binary.BigEndian.Uint32(b[off+4:])
		if n < 0 || n > len(b)-off-8 {
			return &FileError{File: name, Offset: int64(off), Reason: "entry runs past the end of the file; opening would silently forget tables"}
		}
		if crc32.Checksum(b[off+8:off+8+n], castagnoli) != sum {
			return &FileError{File: name, Offset: int64(off), Reason: "entry checksum mismatch"}
		}
		off += 8 + n
	}
	return nil
}
