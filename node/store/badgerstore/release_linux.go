package badgerstore

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ReleaseMapped asks the kernel to take back this process's resident
// pages of the files it has mapped from below dir: Badger's tables, value
// logs and write-ahead logs, which Badger reads and writes through shared
// mappings. After an import or the table check at open those pages are
// counted in the node's resident memory although nothing needs them.
//
// It uses madvise(MADV_PAGEOUT), which never loses data in any kind of
// mapping (a dirty shared page is written back first, an anonymous page
// would go to swap), so a mapping that changed since /proc/self/maps was
// read is harmless. A page needed again is read back from the file. It
// returns the number of bytes of mappings advised; on kernels without
// MADV_PAGEOUT (before 5.4) it does nothing.
func ReleaseMapped(dir string) (int64, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return 0, err
	}
	prefix := []byte(filepath.Clean(dir) + string(filepath.Separator))
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	type span struct{ start, end uintptr }
	var spans []span
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := bytes.Fields(sc.Bytes())
		if len(fields) < 6 || !bytes.HasPrefix(fields[5], prefix) || len(fields[1]) < 4 || fields[1][3] != 's' {
			continue
		}
		lo, hi, ok := bytes.Cut(fields[0], []byte("-"))
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(string(lo), 16, 64)
		end, err2 := strconv.ParseUint(string(hi), 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		spans = append(spans, span{uintptr(start), uintptr(end)})
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	var n int64
	for _, s := range spans {
		switch err := madvise(s.start, s.end-s.start, unix.MADV_PAGEOUT); err {
		case nil:
			n += int64(s.end - s.start)
		case unix.EINVAL: // no MADV_PAGEOUT in this kernel
			return n, nil
		case unix.ENOMEM: // unmapped since /proc/self/maps was read
		default:
			return n, err
		}
	}
	return n, nil
}

func madvise(addr, length uintptr, advice int) error {
	_, _, errno := unix.Syscall(unix.SYS_MADVISE, addr, length, uintptr(advice))
	if errno != 0 {
		return errno
	}
	return nil
}

// Prefetch asks the kernel to start reading the parts of the store's files
// in dir that Open reads (the tables written since the checked-tables
// record in full, the index at the end of the others, the header of each
// value log, the newest value log and the write-ahead logs in full, the
// MANIFEST), without waiting for them: a caller overlaps that I/O with
// other work, such as the keyring's key derivation. After an idle node
// gave its pages back (ReleaseMapped) they are no longer in the page
// cache. It is only advice; errors are ignored.
func Prefetch(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	var checked time.Time
	if fi, err := os.Stat(filepath.Join(dir, checkedFile)); err == nil {
		checked = fi.ModTime()
	}
	var newest string
	for _, e := range ents {
		name, path := e.Name(), filepath.Join(dir, e.Name())
		switch {
		case strings.HasSuffix(name, ".vlog"):
			if newest == "" || fid(name) > fid(newest) {
				newest = name
			}
			willNeed(path, 0, 4<<10) // the header
		case strings.HasSuffix(name, ".sst"):
			fi, err := e.Info()
			if err != nil {
				continue
			}
			if !fi.ModTime().Before(checked) {
				willNeed(path, 0, 0) // to be checked in full
				continue
			}
			// A table older than the record was most likely checked:
			// Badger reads its index and bloom filter, at the end.
			tail := min(fi.Size(), max(64<<10, fi.Size()/16))
			willNeed(path, fi.Size()-tail, tail)
		case strings.HasSuffix(name, ".mem"), name == "MANIFEST":
			willNeed(path, 0, 0)
		}
	}
	if newest != "" {
		willNeed(filepath.Join(dir, newest), 0, 0)
	}
}

// willNeed advises the kernel to read length bytes at off of the file at
// path (0: to the end).
func willNeed(path string, off, length int64) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	_ = unix.Fadvise(int(f.Fd()), off, length, unix.FADV_WILLNEED)
}
