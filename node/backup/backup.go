// Package backup writes and reads a node's encrypted backups.
//
// # Format
//
//	"CPXBACKUP1\n"
//	header: 4-byte big-endian length, then JSON (Meta and the wrapped backup key)
//	chunks: 4-byte big-endian length, then AES-256-GCM(sealed chunk)
//
// The backup key is 32 random bytes, wrapped by the node's keyring under the
// name "backup-key", so only that keyring (the same passphrase-protected
// file keyring, or the same Vault transit key) can open the backup. Chunk i
// is sealed with nonce = 0x00000000 || i (big-endian) and associated data
// "cpx-backup-v1" || i || final, where final is 1 on the last chunk only:
// reordered, dropped or truncated chunks fail to open. The plaintext is
// Badger's own backup stream (a consistent snapshot of the store).
package backup

import (
	"bufio"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cpx-node/cpx/crypto/keyring"
)

const (
	magic     = "CPXBACKUP1\n"
	chunkSize = 64 << 10
	keyName   = "backup-key"
	maxHeader = 1 << 20
)

// Errors of this package.
var (
	ErrFormat       = errors.New("backup: not a CPX backup or damaged")
	ErrWrongKeyring = errors.New("backup: this keyring cannot open the backup (another passphrase, keyring or Vault key)")
)

// Meta describes a backup.
type Meta struct {
	Agency  string    `json:"agency"`
	Created time.Time `json:"created"`
	Keyring string    `json:"keyring"`
	// Files are small node files carried along (config, wrapped store key,
	// the file keyring), by name.
	Files map[string][]byte `json:"files,omitempty"`
}

type header struct {
	Meta
	WrappedKey []byte `json:"wrapped_key"`
}

// Write writes a backup of what src produces to w.
func Write(ctx context.Context, w io.Writer, kr keyring.Keyring, meta Meta, src func(io.Writer) error) error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	defer clear(key)
	wrapped, err := kr.Wrap(ctx, keyName, key)
	if err != nil {
		return fmt.Errorf("backup: wrapping the backup key: %w", err)
	}
	hb, err := json.Marshal(header{Meta: meta, WrappedKey: wrapped})
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	bw.WriteString(magic)
	writeFrame(bw, hb)
	aead, err := newAEAD(key)
	if err != nil {
		return err
	}
	cw := &chunkWriter{w: bw, aead: aead, buf: make([]byte, 0, chunkSize)}
	if err := src(cw); err != nil {
		return err
	}
	if err := cw.close(); err != nil {
		return err
	}
	return bw.Flush()
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

// Open reads a backup's header with kr and returns its metadata and a
// reader of the decrypted content. Reading fails with ErrFormat if the
// content was damaged or truncated.
func Open(ctx context.Context, r io.Reader, kr keyring.Keyring) (Meta, io.Reader, error) {
	br := bufio.NewReader(r)
	m := make([]byte, len(magic))
	if _, err := io.ReadFull(br, m); err != nil || string(m) != magic {
		return Meta{}, nil, ErrFormat
	}
	hb, err := readFrame(br, maxHeader)
	if err != nil {
		return Meta{}, nil, err
	}
	var h header
	if err := json.Unmarshal(hb, &h); err != nil {
		return Meta{}, nil, fmt.Errorf("%w: header: %v", ErrFormat, err)
	}
	key, err := kr.Unwrap(ctx, keyName, h.WrappedKey)
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
	return h.Meta, &chunkReader{r: br, aead: aead}, nil
}

// ReadMeta reads a backup's metadata without opening its content (no
// keyring needed): restore uses it to set up the node directory first.
func ReadMeta(r io.Reader) (Meta, error) {
	br := bufio.NewReader(r)
	m := make([]byte, len(magic))
	if _, err := io.ReadFull(br, m); err != nil || string(m) != magic {
		return Meta{}, ErrFormat
	}
	hb, err := readFrame(br, maxHeader)
	if err != nil {
		return Meta{}, err
	}
	var h header
	if err := json.Unmarshal(hb, &h); err != nil {
		return Meta{}, fmt.Errorf("%w: header: %v", ErrFormat, err)
	}
	return h.Meta, nil
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
