package badgerstore

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// ErrCorrupt is wrapped by every error about a stored value, a Badger file
// or the store's format marker that failed an integrity check. Such an
// error never carries a wrong value: the caller gets no value at all.
var ErrCorrupt = errors.New("store: integrity check failed")

// RecordError names the record (by kind and a fingerprint of its key,
// never by the key's content) whose stored value failed to authenticate.
// It wraps ErrCorrupt.
type RecordError struct {
	// Kind is the key's kind prefix, such as "u/n/" or "c/r/".
	Kind string
	// Fingerprint is the first 8 bytes, in hex, of SHA-256 over the key:
	// it tells two records of a kind apart without revealing either.
	Fingerprint string
	// Reason says what was wrong (truncated, unknown format, forged).
	Reason string
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("store: record %s#%s: %s", e.Kind, e.Fingerprint, e.Reason)
}

// Unwrap makes errors.Is(err, ErrCorrupt) hold.
func (e *RecordError) Unwrap() error { return ErrCorrupt }

// Sealed value format, version 1:
//
//	0x01 || nonce (24 bytes) || XChaCha20-Poly1305(value, ad) (len(value)+16 bytes)
//	ad = "cpx-store/v1" || 0x00 || key
//
// The AEAD key is HKDF-SHA256(store key, salt none, info sealInfo). The
// version byte is bound twice: it selects the format and is part of ad.
const (
	sealVersion  = 0x01
	sealInfo     = "cpx badgerstore value seal v1"
	sealADPrefix = "cpx-store/v1\x00"
	nonceLen     = chacha20poly1305.NonceSizeX
	sealOverhead = 1 + nonceLen + chacha20poly1305.Overhead
)

// sealer seals and opens stored values. It is safe for concurrent use.
type sealer struct {
	aead interface {
		Seal(dst, nonce, plaintext, additionalData []byte) []byte
		Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
	}
}

// newSealer derives the value-sealing key from the store's master key.
func newSealer(master []byte) (*sealer, error) {
	k, err := hkdf.Key(sha256.New, master, nil, sealInfo, chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("badgerstore: deriving the seal key: %w", err)
	}
	aead, err := chacha20poly1305.NewX(k)
	clear(k)
	if err != nil {
		return nil, fmt.Errorf("badgerstore: seal key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

func additionalData(key []byte) []byte {
	ad := make([]byte, 0, len(sealADPrefix)+len(key))
	return append(append(ad, sealADPrefix...), key...)
}

// seal returns the sealed form of value stored under key.
func (s *sealer) seal(key, value []byte) []byte {
	out := make([]byte, 1+nonceLen, sealOverhead+len(value))
	out[0] = sealVersion
	rand.Read(out[1 : 1+nonceLen])
	return s.aead.Seal(out, out[1:1+nonceLen], value, additionalData(key))
}

// open authenticates and decrypts sealed, stored under key. Any failure is
// a *RecordError.
func (s *sealer) open(key, sealed []byte) ([]byte, error) {
	if len(sealed) < sealOverhead {
		return nil, recordError(key, "sealed value truncated")
	}
	if sealed[0] != sealVersion {
		return nil, recordError(key, fmt.Sprintf("unknown seal format %#02x", sealed[0]))
	}
	v, err := s.aead.Open(nil, sealed[1:1+nonceLen], sealed[1+nonceLen:], additionalData(key))
	if err != nil {
		return nil, recordError(key, "value failed authentication (changed, moved from another key, or damaged)")
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

func recordError(key []byte, reason string) *RecordError {
	sum := sha256.Sum256(key)
	return &RecordError{Kind: Kind(key), Fingerprint: hex.EncodeToString(sum[:8]), Reason: reason}
}

// Kind returns the part of key that names its kind of record and never
// an identifier: up to and including the second '/' when that comes
// within the first 4 bytes ("u/n/", "c/r/", "x/k/"); the whole key when
// it is a short fixed name without a second '/' ("c/seq", "a/head");
// otherwise up to and including the first '/' ("k/"), or "?" when the
// key has no printable prefix of that shape.
func Kind(key []byte) string {
	first := -1
	for i, b := range key {
		if b == '/' {
			if first < 0 {
				first = i
				continue
			}
			if i < 4 {
				return printable(key[:i+1])
			}
			break
		}
	}
	switch {
	case string(key) == string(markerKey):
		return "format-marker"
	case first < 0:
		return "?"
	case !containsByte(key[first+1:], '/') && len(key) <= 8:
		return printable(key)
	case first <= 4:
		return printable(key[:first+1])
	}
	return "?"
}

func containsByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}

func printable(b []byte) string {
	for _, c := range b {
		if c < 0x21 || c > 0x7e {
			return "?"
		}
	}
	return string(b)
}
