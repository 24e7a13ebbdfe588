package envelope

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// formatVersion follows the four-byte tag of each encoding in this package.
const formatVersion = 1

const (
	tagHeader   = 'H'
	tagEnvelope = 'E'
)

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// validTime reports whether t can be encoded as int64 Unix nanoseconds.
func validTime(t time.Time) bool { return !t.Before(minTime) && !t.After(maxTime) }

type encoder struct{ buf []byte }

func (e *encoder) tag(kind byte) { e.buf = append(e.buf, 'C', 'P', 'X', kind, formatVersion) }
func (e *encoder) u32(v uint32)  { e.buf = binary.BigEndian.AppendUint32(e.buf, v) }
func (e *encoder) time(t time.Time) {
	e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(t.UnixNano()))
}
func (e *encoder) str(s string) {
	e.buf = binary.BigEndian.AppendUint16(e.buf, uint16(len(s)))
	e.buf = append(e.buf, s...)
}
func (e *encoder) bytes(b []byte) {
	e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(len(b)))
	e.buf = append(e.buf, b...)
}

// decoder reads what encoder writes; the first problem sticks in err.
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

// str reads a string of at most max bytes; the caller validates content.
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
	return string(d.take(n, what))
}

// bytes reads a byte string of min to max bytes. It does not copy.
func (d *decoder) bytes(what string, min, max int) []byte {
	nb := d.take(4, what)
	if d.err != nil {
		return nil
	}
	n := binary.BigEndian.Uint32(nb)
	if uint64(n) < uint64(min) || uint64(n) > uint64(max) {
		if min == max {
			d.fail("%s: %d bytes, want %d", what, n, min)
		} else {
			d.fail("%s: %d bytes, want %d to %d", what, n, min, max)
		}
		return nil
	}
	return d.take(int(n), what)
}

func (d *decoder) finish(what string) error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%s: %d trailing bytes", what, len(d.b))
	}
	return d.err
}
