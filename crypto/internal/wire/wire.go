// Package wire is the length-prefixed binary encoding shared by CPX's
// canonical formats (crypto/agencykey, crypto/envelope): a five-byte tag
// "CPX" + kind + format version, big-endian integers, times as int64 Unix
// nanoseconds (UTC), strings with a 2-byte length (UTF-8 only), byte
// strings with a 4-byte length. Decoding is strict: the first problem
// sticks, and trailing bytes are an error.
package wire

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// ValidTime reports whether t can be encoded (between the years 1677 and 2262).
func ValidTime(t time.Time) bool { return !t.Before(minTime) && !t.After(maxTime) }

// NormTime returns t as it comes back from a Decoder: UTC, nanoseconds, no
// monotonic reading.
func NormTime(t time.Time) time.Time { return time.Unix(0, t.UnixNano()).UTC() }

// Encoder appends to Buf.
type Encoder struct{ Buf []byte }

// Tag writes "CPX", kind and version.
func (e *Encoder) Tag(kind, version byte) { e.Buf = append(e.Buf, 'C', 'P', 'X', kind, version) }

// U8 writes one byte.
func (e *Encoder) U8(v byte) { e.Buf = append(e.Buf, v) }

// U32 writes a big-endian uint32.
func (e *Encoder) U32(v uint32) { e.Buf = binary.BigEndian.AppendUint32(e.Buf, v) }

// Time writes t as int64 Unix nanoseconds.
func (e *Encoder) Time(t time.Time) {
	e.Buf = binary.BigEndian.AppendUint64(e.Buf, uint64(t.UnixNano()))
}

// Str writes a string of up to 65535 bytes with a 2-byte length.
func (e *Encoder) Str(s string) {
	e.Buf = binary.BigEndian.AppendUint16(e.Buf, uint16(len(s)))
	e.Buf = append(e.Buf, s...)
}

// Bytes writes a byte string with a 4-byte length.
func (e *Encoder) Bytes(b []byte) {
	e.Buf = binary.BigEndian.AppendUint32(e.Buf, uint32(len(b)))
	e.Buf = append(e.Buf, b...)
}

// Decoder reads what Encoder writes from B. The first problem is kept in
// Err, wrapping Malformed (the caller's sentinel error).
type Decoder struct {
	B         []byte
	Err       error
	Malformed error
}

// Fail records a problem unless one is recorded already.
func (d *Decoder) Fail(format string, args ...any) {
	if d.Err == nil {
		d.Err = fmt.Errorf("%w: "+format, append([]any{d.Malformed}, args...)...)
	}
}

// Take returns the next n bytes (not a copy).
func (d *Decoder) Take(n int, what string) []byte {
	if d.Err != nil {
		return nil
	}
	if n < 0 || len(d.B) < n {
		d.Fail("%s: truncated", what)
		return nil
	}
	v := d.B[:n:n]
	d.B = d.B[n:]
	return v
}

// Tag reads and checks a tag.
func (d *Decoder) Tag(kind, version byte, what string) {
	b := d.Take(5, what)
	if d.Err != nil {
		return
	}
	if b[0] != 'C' || b[1] != 'P' || b[2] != 'X' || b[3] != kind {
		d.Fail("%s: wrong tag %q", what, b[:4])
		return
	}
	if b[4] != version {
		d.Fail("%s: unknown format version %d", what, b[4])
	}
}

// U8 reads one byte.
func (d *Decoder) U8(what string) byte {
	b := d.Take(1, what)
	if d.Err != nil {
		return 0
	}
	return b[0]
}

// U32 reads a big-endian uint32.
func (d *Decoder) U32(what string) uint32 {
	b := d.Take(4, what)
	if d.Err != nil {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

// Time reads a time.
func (d *Decoder) Time(what string) time.Time {
	b := d.Take(8, what)
	if d.Err != nil {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b))).UTC()
}

// Str reads a UTF-8 string of at most max bytes.
func (d *Decoder) Str(what string, max int) string {
	nb := d.Take(2, what)
	if d.Err != nil {
		return ""
	}
	n := int(binary.BigEndian.Uint16(nb))
	if n > max {
		d.Fail("%s: %d bytes, limit %d", what, n, max)
		return ""
	}
	b := d.Take(n, what)
	if d.Err != nil {
		return ""
	}
	if !utf8.Valid(b) {
		d.Fail("%s: not UTF-8", what)
		return ""
	}
	return string(b)
}

// Bytes reads a byte string of min to max bytes and returns a copy.
func (d *Decoder) Bytes(what string, min, max int) []byte {
	nb := d.Take(4, what)
	if d.Err != nil {
		return nil
	}
	n := binary.BigEndian.Uint32(nb)
	if uint64(n) < uint64(min) || uint64(n) > uint64(max) {
		switch {
		case min == max:
			d.Fail("%s: %d bytes, want %d", what, n, min)
		case min == 0:
			d.Fail("%s: %d bytes, limit %d", what, n, max)
		default:
			d.Fail("%s: %d bytes, want %d to %d", what, n, min, max)
		}
		return nil
	}
	b := d.Take(int(n), what)
	if d.Err != nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// Finish returns the first problem, or one if bytes are left over.
func (d *Decoder) Finish(what string) error {
	if d.Err == nil && len(d.B) != 0 {
		d.Fail("%s: %d trailing bytes", what, len(d.B))
	}
	return d.Err
}
