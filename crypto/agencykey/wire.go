package agencykey

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// formatVersion is the version byte that follows the four-byte tag of
// every encoding in this package. See the package documentation.
const formatVersion = 1

// Tags (the fourth byte after "CPX") of the encodings in this package.
const (
	tagPublic       = 'P'
	tagPrivate      = 'S'
	tagSignature    = 'G'
	tagAnnouncement = 'A'
)

// Representable time range: times are encoded as Unix nanoseconds in an int64.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// validTime reports whether t can be encoded (as Unix nanoseconds in an
// int64, that is between the years 1677 and 2262).
func validTime(t time.Time) bool {
	return !t.Before(minTime) && !t.After(maxTime)
}

// normTime returns t as it comes back from a decoder: UTC, nanoseconds,
// no monotonic reading.
func normTime(t time.Time) time.Time {
	return time.Unix(0, t.UnixNano()).UTC()
}

type encoder struct{ buf []byte }

func (e *encoder) tag(kind byte) { e.buf = append(e.buf, 'C', 'P', 'X', kind, formatVersion) }
func (e *encoder) u8(v byte)     { e.buf = append(e.buf, v) }
func (e *encoder) u32(v uint32)  { e.buf = binary.BigEndian.AppendUint32(e.buf, v) }
func (e *encoder) time(t time.Time) {
	e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(t.UnixNano()))
}

// str writes a string with a 2-byte length prefix; callers validate lengths.
func (e *encoder) str(s string) {
	e.buf = binary.BigEndian.AppendUint16(e.buf, uint16(len(s)))
	e.buf = append(e.buf, s...)
}

// bytes writes a byte string with a 4-byte length prefix.
func (e *encoder) bytes(b []byte) {
	e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(len(b)))
	e.buf = append(e.buf, b...)
}

// decoder reads what encoder writes. The first problem is kept in err and
// makes every later read return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

func (d *decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.b) < n {
		d.fail("%s: truncated", what)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) tag(kind byte, what string) {
	b := d.take(5, what)
	if d.err != nil {
		return
	}
	if b[0] != 'C' || b[1] != 'P' || b[2] != 'X' || b[3] != kind {
		d.fail("%s: wrong tag %q", what, b[:4])
		return
	}
	if b[4] != formatVersion {
		d.fail("%s: unknown format version %d", what, b[4])
	}
}

func (d *decoder) u8(what string) byte {
	b := d.take(1, what)
	if d.err != nil {
		return 0
	}
	return b[0]
}

func (d *decoder) u32(what string) uint32 {
	b := d.take(4, what)
	if d.err != nil {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

func (d *decoder) time(what string) time.Time {
	b := d.take(8, what)
	if d.err != nil {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b))).UTC()
}

// str reads a UTF-8 string of at most max bytes.
func (d *decoder) str(what string, max int) string {
	nb := d.take(2, what)
	if d.err != nil {
		return ""
	}
	n := int(binary.BigEndian.Uint16(nb))
	if n > max {
		d.fail("%s: %d bytes, limit %d", what, n, max)
		return ""
	}
	b := d.take(n, what)
	if d.err != nil {
		return ""
	}
	if !utf8.Valid(b) {
		d.fail("%s: not UTF-8", what)
		return ""
	}
	return string(b)
}

// bytes reads a byte string of exactly size bytes (size >= 0) and returns a
// copy of it.
func (d *decoder) bytes(what string, size int) []byte {
	nb := d.take(4, what)
	if d.err != nil {
		return nil
	}
	if n := binary.BigEndian.Uint32(nb); uint64(n) != uint64(size) {
		d.fail("%s: %d bytes, want %d", what, n, size)
		return nil
	}
	b := d.take(size, what)
	if d.err != nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// varbytes reads a byte string of at most max bytes and returns a copy.
func (d *decoder) varbytes(what string, max int) []byte {
	nb := d.take(4, what)
	if d.err != nil {
		return nil
	}
	n := binary.BigEndian.Uint32(nb)
	if uint64(n) > uint64(max) {
		d.fail("%s: %d bytes, limit %d", what, n, max)
		return nil
	}
	b := d.take(int(n), what)
	if d.err != nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// finish returns the first error, or ErrMalformed if bytes are left over.
func (d *decoder) finish(what string) error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%s: %d trailing bytes", what, len(d.b))
	}
	return d.err
}
