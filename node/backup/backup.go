// Package backup writes and reads a node's encrypted backups.
//
// # Format (version 2)
//
//	"CPXBACKUP2\n"
//	header: 4-byte big-endian length, then JSON (Meta and the wrapped backup key)
//	chunks: 4-byte big-endian length, then AES-256-GCM(sealed chunk)
//
// The backup key is 32 random bytes, wrapped by the node's keyring under the
// name "backup-key:" + hex(SHA-256(the header without the wrapped key)), so
// only that keyring (the same passphrase-protected file keyring, or the same
// Vault transit key) can open the backup, and only with the header it was
// written with: a header changed in any byte (the agency, the files it
// carries, the keyring kind) makes the key fail to unwrap. Chunk i is sealed
// with nonce = 0x00000000 || i (big-endian) and associated data
// "cpx-backup-v1" || i || final, where final is 1 on the last chunk only:
// reordered, dropped or truncated chunks fail to open.
//
// The decrypted content is a sequence of named parts, each
//
//	1-byte name length, name
//	frames: 4-byte big-endian length (1 to 64 KiB), then that many bytes
//	a frame of length 0 ends the part
//
// A node writes the part "store" (Badger's backup stream of its data
// store), then "casekeys" (the wrapped per-case data keys and the marks of
// destroyed ones, for nodes that keep them locally) and "purges" (every
// case purged so far). Read the parts in order with Reader.Next.
//
// Version 1 backups ("CPXBACKUP1\n": the header unbound, the content only
// Badger's stream) still open: their one part is "store".
package backup

import (
	"bufio"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cpx-node/cpx/crypto/keyring"
)

const (
	magicV1   = "CPXBACKUP1\n"
	magicV2   = "CPXBACKUP2\n"
	chunkSize = 64 << 10
	keyNameV1 = "backup-key"
	maxHeader = 1 << 20
	maxFrame  = 64 << 10
)

// Names of the parts a node writes.
const (
	PartStore    = "store"
	PartCaseKeys = "casekeys"
	PartPurges   = "purges"
)

// Errors of this package.
var (
	ErrFormat       = errors.New("backup: not a CPX backup or damaged")
	ErrWrongKeyring = errors.New("backup: this keyring cannot open the backup (another passphrase, keyring or Vault key), or its header was changed")
)

// Meta describes a backup.
type Meta struct {
	Agency  string    `json:"agency"`
	Created time.Time `json:"created"`
	Keyring string    `json:"keyring"`
	// Files are small node files carried along (config, wrapped store key,
	// the file keyring), by name.
	Files map[string][]byte `json:"files,omitempty"`
	// Version is the format version (1 or 2); set by ReadMeta and Open.
	Version int `json:"-"`
}

type header struct {
	Meta
	WrappedKey []byte `json:"wrapped_key"`
}

// Part is one named part of a backup's content, written by Write.
type Part struct {
	Name  string
	Write func(io.Writer) error
}

// keyName is the keyring name the backup key is wrapped under: bound to
// every byte of the header but the wrapped key itself.
func keyName(meta Meta) (string, error) {
	b, err := json.Marshal(header{Meta: meta})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return "backup-key:" + hex.EncodeToString(sum[:]), nil
}

// Write writes a backup of parts, in order, to w.
func Write(ctx context.Context, w io.Writer, kr keyring.Keyring, meta Meta, parts ...Part) error {
	meta.Version = 0
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	defer clear(key)
	name, err := keyName(meta)
	if err != nil {
		return err
	}
	wrapped, err := kr.Wrap(ctx, name, key)
	if err != nil {
		return fmt.Errorf("backup: wrapping the backup key: %w", err)
	}
	hb, err := json.Marshal(header{Meta: meta, WrappedKey: wrapped})
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	bw.WriteString(magicV2)
	writeFrame(bw, hb)
	aead, err := newAEAD(key)
	if err != nil {
		return err
	}
	cw := &chunkWriter{w: bw, aead: aead, buf: make([]byte, 0, chunkSize)}
	for _, p := range parts {
		if len(p.Name) == 0 || len(p.Name) > 255 {
			return fmt.Errorf("backup: bad part name %q", p.Name)
		}
		cw.Write(append([]byte{byte(len(p.Name))}, p.Name...))
		pw := &partWriter{w: cw, buf: make([]byte, 0, maxFrame)}
		if err := p.Write(pw); err != nil {
			return fmt.Errorf("backup: part %s: %w", p.Name, err)
		}
		pw.close()
	}
	if err := cw.close(); err != nil {
		return err
	}
	return bw.Flush()
}

// partWriter frames one part's bytes; a zero-length frame ends it.
type partWriter struct {
	w   io.Writer
	buf []byte
}

func (p *partWriter) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		if len(p.buf) == maxFrame {
			p.flush()
		}
		k := min(maxFrame-len(p.buf), len(b))
		p.buf = append(p.buf, b[:k]...)
		b = b[k:]
	}
	return n, nil
}

func (p *partWriter) flush() {
	if len(p.buf) == 0 {
		return
	}
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(p.buf)))
	p.w.Write(n[:])
	p.w.Write(p.buf)
	p.buf = p.buf[:0]
}

func (p *partWriter) close() {
	p.flush()
	p.w.Write([]byte{0, 0, 0, 0})
}

func writeFrame(w *bufio.Writer, b []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	w.Write(n[:])
	w.Write(b)
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func nonceAndAAD(i uint64, final bool) (nonce, aad []byte) {
	nonce = make([]byte, 12)
	binary.BigEndian.PutUint64(nonce[4:], i)
	aad = binary.BigEndian.AppendUint64([]byte("cpx-backup-v1"), i)
	if final {
		aad = append(aad, 1)
	} else {
		aad = append(aad, 0)
	}
	return nonce, aad
}

type chunkWriter struct {
	w    *bufio.Writer
	aead cipher.AEAD
	buf  []byte
	i    uint64
}

func (c *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if len(c.buf) == chunkSize {
			c.seal(false)
		}
		k := min(chunkSize-len(c.buf), len(p))
		c.buf = append(c.buf, p[:k]...)
		p = p[k:]
	}
	return n, nil
}

func (c *chunkWriter) seal(final bool) {
	nonce, aad := nonceAndAAD(c.i, final)
	writeFrame(c.w, c.aead.Seal(nil, nonce, c.buf, aad))
	c.buf = c.buf[:0]
	c.i++
}

func (c *chunkWriter) close() error {
	c.seal(true)
	return nil
}

// Open reads a backup's header with kr, checks that kr unwraps its key for
// exactly this header, and returns its metadata and a reader of its parts.
// Reading fails with ErrFormat if the content was damaged or truncated.
func Open(ctx context.Context, r io.Reader, kr keyring.Keyring) (Meta, *Reader, error) {
	br := bufio.NewReader(r)
	h, err := readHeader(br)
	if err != nil {
		return Meta{}, nil, err
	}
	name := keyNameV1
	if h.Version == 2 {
		m := h.Meta
		m.Version = 0
		if name, err = keyName(m); err != nil {
			return Meta{}, nil, err
		}
	}
	key, err := kr.Unwrap(ctx, name, h.WrappedKey)
	if err != nil {
		if errors.Is(err, keyring.ErrCorrupt) {
			return Meta{}, nil, ErrWrongKeyring
		}
		return Meta{}, nil, fmt.Errorf("backup: unwrapping the backup key: %w", err)
	}
	aead, err := newAEAD(key)
	clear(key)
	if err != nil {
		return Meta{}, nil, err
	}
	return h.Meta, &Reader{content: bufio.NewReader(&chunkReader{r: br, aead: aead}), v1: h.Version == 1}, nil
}

// ReadMeta reads a backup's metadata without opening its content (no
// keyring needed): restore uses it to set up the node directory first.
// Nothing in it is authenticated until Open succeeds.
func ReadMeta(r io.Reader) (Meta, error) {
	h, err := readHeader(bufio.NewReader(r))
	return h.Meta, err
}

func readHeader(br *bufio.Reader) (header, error) {
	var h header
	m := make([]byte, len(magicV2))
	if _, err := io.ReadFull(br, m); err != nil {
		return h, ErrFormat
	}
	version := 0
	switch string(m) {
	case magicV1:
		version = 1
	case magicV2:
		version = 2
	default:
		return h, ErrFormat
	}
	hb, err := readFrame(br, maxHeader)
	if err != nil {
		return h, err
	}
	if err := json.Unmarshal(hb, &h); err != nil {
		return h, fmt.Errorf("%w: header: %v", ErrFormat, err)
	}
	h.Version = version
	return h, nil
}

func readFrame(r io.Reader, max int) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, fmt.Errorf("%w: truncated", ErrFormat)
	}
	size := int(binary.BigEndian.Uint32(n[:]))
	if size > max {
		return nil, fmt.Errorf("%w: frame of %d bytes", ErrFormat, size)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("%w: truncated", ErrFormat)
	}
	return b, nil
}

// Reader reads the parts of an opened backup in order.
type Reader struct {
	content *bufio.Reader
	v1      bool
	started bool
	part    *partReader
}

// Next moves to the next part and returns its name; io.EOF after the last.
// The part's bytes are read with Read. Parts not read to their end are
// skipped.
func (r *Reader) Next() (string, error) {
	if r.v1 {
		if r.started {
			return "", io.EOF
		}
		r.started = true
		r.part = &partReader{r: r.content, raw: true}
		return PartStore, nil
	}
	if r.part != nil {
		if _, err := io.Copy(io.Discard, r.part); err != nil {
			return "", err
		}
	}
	r.part = nil
	n, err := r.content.ReadByte()
	if err == io.EOF {
		return "", io.EOF
	}
	if err != nil {
		return "", err
	}
	if n == 0 {
		return "", fmt.Errorf("%w: empty part name", ErrFormat)
	}
	name := make([]byte, n)
	if _, err := io.ReadFull(r.content, name); err != nil {
		return "", fmt.Errorf("%w: truncated part name", ErrFormat)
	}
	r.part = &partReader{r: r.content}
	return string(name), nil
}

// Read reads the current part.
func (r *Reader) Read(p []byte) (int, error) {
	if r.part == nil {
		return 0, io.EOF
	}
	return r.part.Read(p)
}

// partReader reads one part's frames up to the zero-length frame (or, for
// a version 1 backup, the whole content).
type partReader struct {
	r    *bufio.Reader
	raw  bool
	left int
	done bool
}

func (p *partReader) Read(b []byte) (int, error) {
	if p.raw {
		return p.r.Read(b)
	}
	for p.left == 0 {
		if p.done {
			return 0, io.EOF
		}
		var n [4]byte
		if _, err := io.ReadFull(p.r, n[:]); err != nil {
			return 0, fmt.Errorf("%w: truncated part", ErrFormat)
		}
		size := int(binary.BigEndian.Uint32(n[:]))
		if size > maxFrame {
			return 0, fmt.Errorf("%w: part frame of %d bytes", ErrFormat, size)
		}
		p.left, p.done = size, size == 0
	}
	k, err := p.r.Read(b[:min(len(b), p.left)])
	p.left -= k
	if err == io.EOF {
		err = fmt.Errorf("%w: truncated part", ErrFormat)
	}
	return k, err
}

type chunkReader struct {
	r    *bufio.Reader
	aead cipher.AEAD
	buf  []byte
	i    uint64
	done bool
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.buf) == 0 {
		if c.done {
			return 0, io.EOF
		}
		sealed, err := readFrame(c.r, chunkSize+c.aead.Overhead())
		if err != nil {
			return 0, err
		}
		// The last chunk is the one followed by nothing.
		_, peekErr := c.r.Peek(1)
		final := peekErr == io.EOF
		nonce, aad := nonceAndAAD(c.i, final)
		plain, err := c.aead.Open(nil, nonce, sealed, aad)
		if err != nil {
			return 0, fmt.Errorf("%w: chunk %d does not authenticate", ErrFormat, c.i)
		}
		c.buf, c.done = plain, final
		c.i++
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}
