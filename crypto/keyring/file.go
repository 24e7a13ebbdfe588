package keyring

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Errors returned by File in addition to the ones every Keyring returns.
var (
	// ErrMalformed is returned when a keyring file cannot be parsed or holds
	// parameters outside the accepted limits.
	ErrMalformed = errors.New("keyring: malformed keyring file")
	// ErrClosed is returned by Wrap and Unwrap after Close.
	ErrClosed = errors.New("keyring: closed")
	// ErrNoPassphrase is returned when no passphrase was given.
	ErrNoPassphrase = errors.New("keyring: no passphrase")
)

// KDFParams are the Argon2id parameters that derive a File's key-encryption
// key from its passphrase. A zero field takes its default.
type KDFParams struct {
	// Time is the number of passes over memory; default 3.
	Time uint32
	// MemoryKiB is the memory used, in KiB; default 64 MiB (65536).
	MemoryKiB uint32
	// Threads is the degree of parallelism; default 2.
	Threads uint8
}

// DefaultKDFParams returns the parameters CreateFile uses: time 3,
// memory 64 MiB, threads 2.
func DefaultKDFParams() KDFParams {
	return KDFParams{Time: 3, MemoryKiB: 64 << 10, Threads: 2}
}

const (
	fileVersion = 1
	kdfArgon2id = "argon2id"

	wrapVersion byte = 1
	kekSize          = 32 // AES-256
	nonceSize        = 12
	tagSize          = 16
	saltSize         = 16

	aadPrefix  = "cpx-keyring-v1:"
	checkLabel = "cpx-keyring-v1 passphrase check"
	checkAAD   = "cpx-keyring-v1:check"

	maxFileSize = 4 << 10 // a real file is about 250 bytes
)

// limits bound the KDF parameters accepted from a keyring file, which is
// untrusted input: a hostile file must not make OpenFile allocate gigabytes
// or spin for hours.
type limits struct {
	maxTime      uint32
	maxMemoryKiB uint32
}

var fileLimits = limits{maxTime: 64, maxMemoryKiB: 4 << 20} // 4 GiB

// fileDoc is the on-disk JSON document. Numbers are decoded wider than
// KDFParams so that out-of-range values are reported, not truncated.
type fileDoc struct {
	Version   int    `json:"version"`
	KDF       string `json:"kdf"`
	Time      uint64 `json:"time"`
	MemoryKiB uint64 `json:"memory_kib"`
	Threads   uint64 `json:"threads"`
	Salt      []byte `json:"salt"`  // standard base64
	Check     []byte `json:"check"` // nonce || AES-256-GCM(KEK, checkLabel)
}

// File is a local keyring file: its key-encryption key (KEK) is derived
// from a passphrase with Argon2id and held only in memory; secrets are
// wrapped with AES-256-GCM under the KEK and bound to a name.
//
// A File is safe for concurrent use.
type File struct {
	path string

	mu  sync.RWMutex
	kek []byte // nil after Close
}

var _ Keyring = (*File)(nil)

// CreateFile creates a keyring file at path protected by passphrase, with
// DefaultKDFParams. It returns ErrExists if path exists.
func CreateFile(path string, passphrase []byte) (*File, error) {
	return CreateFileWithParams(path, passphrase, DefaultKDFParams())
}

// CreateFileWithParams is CreateFile with explicit Argon2id parameters; a
// zero field of p takes its default. Tests use cheap parameters.
//
// The file is written atomically (temporary file, fsync, link into place),
// with mode 0600; an existing file is never replaced.
func CreateFileWithParams(path string, passphrase []byte, p KDFParams) (*File, error) {
	if len(passphrase) == 0 {
		return nil, ErrNoPassphrase
	}
	def := DefaultKDFParams()
	if p.Time == 0 {
		p.Time = def.Time
	}
	if p.MemoryKiB == 0 {
		p.MemoryKiB = def.MemoryKiB
	}
	if p.Threads == 0 {
		p.Threads = def.Threads
	}
	if err := fileLimits.check(uint64(p.Time), uint64(p.MemoryKiB), uint64(p.Threads)); err != nil {
		return nil, fmt.Errorf("keyring: kdf parameters: %w", err)
	}
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrExists, path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("keyring: %w", err)
	}

	salt := make([]byte, saltSize)
	rand.Read(salt)
	kek := deriveKEK(passphrase, salt, p.Time, p.MemoryKiB, p.Threads)
	check, err := seal(kek, []byte(checkLabel), []byte(checkAAD))
	if err != nil {
		clear(kek)
		return nil, err
	}
	doc := fileDoc{
		Version:   fileVersion,
		KDF:       kdfArgon2id,
		Time:      uint64(p.Time),
		MemoryKiB: uint64(p.MemoryKiB),
		Threads:   uint64(p.Threads),
		Salt:      salt,
		Check:     check,
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		clear(kek)
		return nil, fmt.Errorf("keyring: encode: %w", err)
	}
	data = append(data, '\n')
	if err := writeNew(path, data); err != nil {
		clear(kek)
		return nil, err
	}
	return &File{path: path, kek: kek}, nil
}

// OpenFile opens the keyring file at path with passphrase. It returns
// ErrNotExist if there is no file, ErrWrongPassphrase if passphrase does not
// open it, and an error wrapping ErrMalformed if the file is not a valid
// keyring file.
func OpenFile(path string, passphrase []byte) (*File, error) {
	return openFile(path, passphrase, fileLimits)
}

func openFile(path string, passphrase []byte, lim limits) (*File, error) {
	if len(passphrase) == 0 {
		return nil, ErrNoPassphrase
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotExist, path)
	}
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("keyring: read %s: %w", path, err)
	}
	doc, err := parseFile(data, lim)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, path, err)
	}
	kek := deriveKEK(passphrase, doc.Salt, uint32(doc.Time), uint32(doc.MemoryKiB), uint8(doc.Threads))
	label, err := open(kek, doc.Check, []byte(checkAAD))
	if err != nil || subtle.ConstantTimeCompare(label, []byte(checkLabel)) != 1 {
		clear(kek)
		return nil, ErrWrongPassphrase
	}
	return &File{path: path, kek: kek}, nil
}

// parseFile decodes and validates a keyring file. It never derives a key,
// so it is cheap on hostile input.
func parseFile(data []byte, lim limits) (*fileDoc, error) {
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("larger than %d bytes", maxFileSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var doc fileDoc
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the document")
	}
	if doc.Version != fileVersion {
		return nil, fmt.Errorf("unsupported version %d", doc.Version)
	}
	if doc.KDF != kdfArgon2id {
		return nil, fmt.Errorf("unsupported kdf %q", doc.KDF)
	}
	if err := lim.check(doc.Time, doc.MemoryKiB, doc.Threads); err != nil {
		return nil, err
	}
	if len(doc.Salt) < 16 || len(doc.Salt) > 64 {
		return nil, fmt.Errorf("salt of %d bytes, want 16 to 64", len(doc.Salt))
	}
	if want := nonceSize + len(checkLabel) + tagSize; len(doc.Check) != want {
		return nil, fmt.Errorf("check of %d bytes, want %d", len(doc.Check), want)
	}
	return &doc, nil
}

func (l limits) check(time, memoryKiB, threads uint64) error {
	switch {
	case time < 1 || time > uint64(l.maxTime):
		return fmt.Errorf("time %d outside 1..%d", time, l.maxTime)
	case threads < 1 || threads > 255:
		return fmt.Errorf("threads %d outside 1..255", threads)
	case memoryKiB < 8*threads || memoryKiB > uint64(l.maxMemoryKiB):
		return fmt.Errorf("memory %d KiB outside %d..%d", memoryKiB, 8*threads, l.maxMemoryKiB)
	}
	return nil
}

func deriveKEK(passphrase, salt []byte, time, memoryKiB uint32, threads uint8) []byte {
	return argon2.IDKey(passphrase, salt, time, memoryKiB, threads, kekSize)
}

// writeNew writes data to a new file at path, atomically and without ever
// replacing an existing file: it writes and fsyncs a temporary file in the
// same directory, hard-links it to path (which fails if path exists), and
// fsyncs the directory. Where hard links are not supported it falls back to
// rename after a last existence check.
func writeNew(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("keyring: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("keyring: write: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("keyring: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s", ErrExists, path)
		}
		if _, serr := os.Lstat(path); serr == nil {
			return fmt.Errorf("%w: %s", ErrExists, path)
		}
		if err := os.Rename(tmpName, path); err != nil {
			return fmt.Errorf("keyring: %w", err)
		}
	}
	if d, err := os.Open(dir); err == nil {
		serr := d.Sync()
		d.Close()
		if serr != nil {
			return fmt.Errorf("keyring: sync directory: %w", serr)
		}
	}
	return nil
}

// Kind returns "file".
func (f *File) Kind() string { return "file" }

// Path returns the keyring file's path.
func (f *File) Path() string { return f.path }

// Wrap encrypts secret under the key-encryption key, bound to name. The
// result is a version byte, a random 12-byte nonce and the AES-256-GCM
// ciphertext with additional data "cpx-keyring-v1:" + name.
func (f *File) Wrap(ctx context.Context, name string, secret []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.kek == nil {
		return nil, ErrClosed
	}
	sealed, err := seal(f.kek, secret, []byte(aadPrefix+name))
	if err != nil {
		return nil, err
	}
	return append([]byte{wrapVersion}, sealed...), nil
}

// Unwrap reverses Wrap. It returns ErrCorrupt if wrapped was modified,
// wrapped by another keyring or under another name.
func (f *File) Unwrap(ctx context.Context, name string, wrapped []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.kek == nil {
		return nil, ErrClosed
	}
	if len(wrapped) < 1+nonceSize+tagSize || wrapped[0] != wrapVersion {
		return nil, ErrCorrupt
	}
	secret, err := open(f.kek, wrapped[1:], []byte(aadPrefix+name))
	if err != nil {
		return nil, ErrCorrupt
	}
	return secret, nil
}

// Close zeroes the key-encryption key. Later Wrap and Unwrap calls return
// ErrClosed. It is safe to call more than once.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.kek)
	f.kek = nil
	return nil
}

// seal returns nonce || AES-256-GCM(key, plaintext, aad). The AEAD is built
// per call so that no expanded key outlives Close.
func seal(key, plaintext, aad []byte) ([]byte, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, nonceSize, nonceSize+len(plaintext)+tagSize)
	rand.Read(out)
	return aead.Seal(out, out, plaintext, aad), nil
}

// open reverses seal.
func open(key, sealed, aad []byte) ([]byte, error) {
	if len(sealed) < nonceSize+tagSize {
		return nil, ErrCorrupt
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	// A non-nil destination so that an empty secret unwraps to []byte{}.
	dst := make([]byte, 0, len(sealed)-nonceSize-tagSize)
	return aead.Open(dst, sealed[:nonceSize], sealed[nonceSize:], aad)
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	return aead, nil
}
