package agencykey

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"

	"github.com/cpx-node/cpx/crypto/internal/avxstate"
)

// Signature is a hybrid signature: an Ed25519 and an ML-DSA-65 signature of
// the same message by one key set, named by its fingerprint. Both must
// verify.
type Signature struct {
	Key     string // the signer's fingerprint (Public.Fingerprint)
	Ed25519 []byte // 64 bytes
	MLDSA65 []byte // 3309 bytes
}

// signedMessage is what both algorithms sign: a domain-separation prefix,
// the signer's fingerprint (length-prefixed) and msg. ML-DSA-65 additionally
// uses the context string "cpx-v1".
func signedMessage(fingerprint string, msg []byte) []byte {
	var e encoder
	e.Buf = make([]byte, 0, len(sigDomain)+2+len(fingerprint)+len(msg))
	e.Buf = append(e.Buf, sigDomain...)
	e.Str(fingerprint)
	e.Buf = append(e.Buf, msg...)
	return e.Buf
}

// Sign signs msg with both of p's signing keys. Ed25519 is deterministic;
// ML-DSA-65 uses the hedged (randomised) variant of FIPS 204, so two
// signatures of the same message differ.
func (p *Private) Sign(msg []byte) (Signature, error) {
	defer avxstate.Clear() // circl's ML-DSA leaves the AVX state dirty
	tbs := signedMessage(p.fingerprint, msg)
	sig := Signature{
		Key:     p.fingerprint,
		Ed25519: ed25519.Sign(p.ed, tbs),
		MLDSA65: make([]byte, MLDSA65SignatureSize),
	}
	if err := mldsa65.SignTo(p.mldsa, tbs, []byte(mldsaContext), true, sig.MLDSA65); err != nil {
		return Signature{}, fmt.Errorf("agencykey: sign: %w", err)
	}
	return sig, nil
}

// Verify checks sig over msg under p. It returns nil only if sig names p's
// fingerprint and both the Ed25519 and the ML-DSA-65 signature verify.
// Otherwise the error wraps ErrMalformed (p or sig not well formed),
// ErrWrongKey (sig names another key), or ErrBadEd25519 and/or ErrBadMLDSA
// (both are checked; if both fail, the error wraps both).
func (p Public) Verify(msg []byte, sig Signature) error {
	if err := sig.check(); err != nil {
		return err
	}
	fp := p.Fingerprint()
	if fp == "" {
		return fmt.Errorf("%w: public key: %v", ErrMalformed, p.check(false))
	}
	if sig.Key != fp {
		return fmt.Errorf("%w: signed by %s, verifying with %s", ErrWrongKey, sig.Key, fp)
	}
	tbs := signedMessage(fp, msg)
	defer avxstate.Clear() // circl's ML-DSA leaves the AVX state dirty
	var errs []error
	if !ed25519.Verify(ed25519.PublicKey(p.Ed25519), tbs, sig.Ed25519) {
		errs = append(errs, ErrBadEd25519)
	}
	if !mldsa65.Verify(unpackMLDSA(p.MLDSA65), tbs, []byte(mldsaContext), sig.MLDSA65) {
		errs = append(errs, ErrBadMLDSA)
	}
	return errors.Join(errs...)
}

// maxUnpacked bounds the ML-DSA-65 public keys kept expanded: about 40 KB
// each, and a node verifies with its peers' current keys and a few old
// ones.
const maxUnpacked = 128

// unpacked keeps ML-DSA-65 public keys expanded, by their packed bytes:
// expanding one (its matrix A from the seed) is about a third of a
// verification. An expanded key is only read by Verify.
var unpacked struct {
	sync.Mutex
	keys map[[MLDSA65PublicKeySize]byte]*mldsa65.PublicKey
}

// unpackMLDSA returns the expanded form of the packed key b, which has
// MLDSA65PublicKeySize bytes (Public.Fingerprint checked it).
func unpackMLDSA(b []byte) *mldsa65.PublicKey {
	packed := (*[MLDSA65PublicKeySize]byte)(b)
	unpacked.Lock()
	pk, ok := unpacked.keys[*packed]
	unpacked.Unlock()
	if ok {
		return pk
	}
	pk = new(mldsa65.PublicKey)
	pk.Unpack(packed)
	unpacked.Lock()
	defer unpacked.Unlock()
	if unpacked.keys == nil || len(unpacked.keys) >= maxUnpacked {
		unpacked.keys = make(map[[MLDSA65PublicKeySize]byte]*mldsa65.PublicKey)
	}
	unpacked.keys[*packed] = pk
	return pk
}

func (s Signature) check() error {
	switch {
	case len(s.Ed25519) != Ed25519SignatureSize:
		return fmt.Errorf("%w: Ed25519 signature is %d bytes, want %d", ErrMalformed, len(s.Ed25519), Ed25519SignatureSize)
	case len(s.MLDSA65) != MLDSA65SignatureSize:
		return fmt.Errorf("%w: ML-DSA-65 signature is %d bytes, want %d", ErrMalformed, len(s.MLDSA65), MLDSA65SignatureSize)
	}
	if fp, err := ParseFingerprint(s.Key); err != nil || fp != s.Key {
		return fmt.Errorf("%w: signature key is not a canonical fingerprint", ErrMalformed)
	}
	return nil
}

// MarshalBinary returns the canonical encoding of s for the wire (see the
// package documentation).
func (s Signature) MarshalBinary() ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	var e encoder
	e.Buf = make([]byte, 0, SignatureEncodedSize)
	s.encode(&e)
	return e.Buf, nil
}

// SignatureEncodedSize is the length of every encoded Signature.
const SignatureEncodedSize = 5 + 2 + FingerprintLen + 4 + Ed25519SignatureSize + 4 + MLDSA65SignatureSize

func (s Signature) encode(e *encoder) {
	e.Tag(tagSignature, formatVersion)
	e.Str(s.Key)
	e.Bytes(s.Ed25519)
	e.Bytes(s.MLDSA65)
}

// UnmarshalSignature decodes the canonical encoding of a Signature. Errors
// wrap ErrMalformed. A decoded signature is well formed, not verified.
func UnmarshalSignature(b []byte) (Signature, error) {
	d := decoder{B: b, Malformed: ErrMalformed}
	s := decodeSignature(&d)
	if err := d.Finish("signature"); err != nil {
		return Signature{}, err
	}
	if err := s.check(); err != nil {
		return Signature{}, err
	}
	return s, nil
}

func decodeSignature(d *decoder) Signature {
	var s Signature
	d.Tag(tagSignature, formatVersion, "signature")
	s.Key = d.Str("signature key", FingerprintLen)
	s.Ed25519 = d.Bytes("Ed25519 signature", Ed25519SignatureSize, Ed25519SignatureSize)
	s.MLDSA65 = d.Bytes("ML-DSA-65 signature", MLDSA65SignatureSize, MLDSA65SignatureSize)
	return s
}
