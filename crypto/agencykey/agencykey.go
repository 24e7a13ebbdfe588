package agencykey

import (
	"crypto/ed25519"
	"crypto/hpke"
	cryptorand "crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cpx-node/cpx/crypto/internal/avxstate"
	"github.com/cpx-node/cpx/crypto/internal/wire"

	"github.com/cloudflare/circl/kem/xwing"
	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
)

// Errors returned by this package. Decoders and verifiers wrap them with
// detail; test with errors.Is.
var (
	// ErrMalformed is returned for an encoding, key or signature that is not
	// well formed (wrong tag, format version, length, field value, trailing
	// bytes).
	ErrMalformed = errors.New("agencykey: malformed")
	// ErrWrongKey is returned when a signature names a key (fingerprint)
	// other than the one it is verified with.
	ErrWrongKey = errors.New("agencykey: signature by another key")
	// ErrBadEd25519 is returned when the Ed25519 half of a signature does
	// not verify.
	ErrBadEd25519 = errors.New("agencykey: bad Ed25519 signature")
	// ErrBadMLDSA is returned when the ML-DSA-65 half of a signature does
	// not verify.
	ErrBadMLDSA = errors.New("agencykey: bad ML-DSA-65 signature")

	// ErrNotValid is returned by Announcement.Verify when the announced
	// key's validity window does not contain the time of verification.
	ErrNotValid = errors.New("agencykey: key not valid at this time")
	// ErrRotation is returned by Announcement.Verify when an announcement
	// does not follow the previous key: no signature by it, another agency,
	// or a version that is not higher.
	ErrRotation = errors.New("agencykey: not a rotation of the previous key")
)

// Sizes of the public keys and signatures in their standard encodings.
const (
	KEMPublicKeySize     = xwing.PublicKeySize        // X-Wing encapsulation key, 1216 bytes
	Ed25519PublicKeySize = ed25519.PublicKeySize      // 32 bytes
	MLDSA65PublicKeySize = mldsa65.PublicKeySize      // 1952 bytes
	Ed25519SignatureSize = ed25519.SignatureSize      // 64 bytes
	MLDSA65SignatureSize = mldsa65.SignatureSize      // 3309 bytes
	seedSize             = 32                         // each private key is kept as a 32-byte seed
	maxAgencyLen         = 64                         // as node/config.ValidAgency
	maxPeerIDLen         = 128                        // a libp2p peer id in base58 or CIDv1 text
	mldsaContext         = "cpx-v1"                   // ML-DSA-65 context string
	sigDomain            = "cpx-agencykey-sig-v1\x00" // prefix of every signed message
)

// KEM is the HPKE KEM of the receiving key: X-Wing (X25519 + ML-KEM-768),
// HPKE KEM id 0x647a, as Go's crypto/hpke implements it.
var KEM = hpke.MLKEM768X25519()

// ValidAgency reports whether id is a well-formed agency id: 1 to 64 bytes of
// a-z, 0-9, '-' and '/', where '/' separates non-empty units
// ("unicef-so/hargeisa"). It is the same rule as node/config.ValidAgency.
func ValidAgency(id string) bool {
	if id == "" || len(id) > maxAgencyLen || strings.HasPrefix(id, "/") || strings.HasSuffix(id, "/") || strings.Contains(id, "//") {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '/') {
			return false
		}
	}
	return true
}

// Private is one version of an agency's key set: an HPKE receiving key pair
// (X-Wing), an Ed25519 and an ML-DSA-65 signing key, with the agency id,
// version and validity window they belong to. It is immutable; use it
// through a pointer. Its String and GoString methods never print key
// material.
type Private struct {
	agency    string
	version   uint32
	notBefore time.Time
	notAfter  time.Time

	// Seeds: the whole secret state, from which the keys are derived.
	kemSeed, edSeed, mldsaSeed [seedSize]byte

	kem   hpke.PrivateKey
	ed    ed25519.PrivateKey
	mldsa *mldsa65.PrivateKey

	pub         Public // with KEM, Ed25519, MLDSA65 filled; copied out by Public
	pubEncoded  []byte
	fingerprint string
}

// Generate creates a key set for agency, reading three 32-byte seeds (X-Wing,
// Ed25519, ML-DSA-65, in that order) from rand; if rand is nil, crypto/rand
// is used. The same reader contents give the same keys, which tests use.
// version starts at 1; notBefore must be before notAfter. Times are kept in
// UTC at nanosecond precision.
func Generate(agency string, version uint32, notBefore, notAfter time.Time, rand io.Reader) (*Private, error) {
	if rand == nil {
		rand = cryptorand.Reader
	}
	var seeds [3 * seedSize]byte
	if _, err := io.ReadFull(rand, seeds[:]); err != nil {
		return nil, fmt.Errorf("agencykey: generate: %w", err)
	}
	p, err := newPrivate(agency, version, notBefore, notAfter,
		[seedSize]byte(seeds[0:32]), [seedSize]byte(seeds[32:64]), [seedSize]byte(seeds[64:96]))
	if err != nil {
		return nil, fmt.Errorf("agencykey: generate: %w", err)
	}
	return p, nil
}

// newPrivate derives all keys from the seeds and checks the metadata.
func newPrivate(agency string, version uint32, notBefore, notAfter time.Time, kemSeed, edSeed, mldsaSeed [seedSize]byte) (*Private, error) {
	p := &Private{
		agency:    agency,
		version:   version,
		notBefore: wire.NormTime(notBefore),
		notAfter:  wire.NormTime(notAfter),
		kemSeed:   kemSeed,
		edSeed:    edSeed,
		mldsaSeed: mldsaSeed,
	}
	if err := checkMeta(agency, version, notBefore, notAfter); err != nil {
		return nil, err
	}
	// The X-Wing key is the 32-byte seed itself (its decapsulation key
	// expands it), as in circl's xwing.DeriveKeyPair, which made the keys
	// of nodes before this one.
	kem, err := KEM.NewPrivateKey(kemSeed[:])
	if err != nil {
		return nil, err
	}
	p.kem = kem
	kemPub := kem.PublicKey().Bytes()
	p.ed = ed25519.NewKeyFromSeed(edSeed[:])
	defer avxstate.Clear() // circl's ML-DSA key derivation leaves the AVX state dirty
	mpk, msk := mldsa65.NewKeyFromSeed(&mldsaSeed)
	p.mldsa = msk

	p.pub = Public{
		Agency:    p.agency,
		Version:   p.version,
		NotBefore: p.notBefore,
		NotAfter:  p.notAfter,
		KEM:       kemPub,
		Ed25519:   append([]byte(nil), p.ed.Public().(ed25519.PublicKey)...),
		MLDSA65:   mpk.Bytes(),
	}
	p.pubEncoded, err = p.pub.MarshalBinary()
	if err != nil {
		return nil, err
	}
	p.fingerprint = fingerprintOf(sha256.Sum256(p.pubEncoded))
	return p, nil
}

// checkMeta checks what Public and Private have in common besides keys.
func checkMeta(agency string, version uint32, notBefore, notAfter time.Time) error {
	switch {
	case !ValidAgency(agency):
		return fmt.Errorf("%w: agency id %q", ErrMalformed, agency)
	case version == 0:
		return fmt.Errorf("%w: key version 0 (versions start at 1)", ErrMalformed)
	case !wire.ValidTime(notBefore) || !wire.ValidTime(notAfter):
		return fmt.Errorf("%w: validity window outside the years 1678-2262", ErrMalformed)
	case !notBefore.Before(notAfter):
		return fmt.Errorf("%w: validity window: not-before %s is not before not-after %s", ErrMalformed, notBefore, notAfter)
	}
	return nil
}

// Public returns the public half of p. The slices are fresh copies.
func (p *Private) Public() Public {
	pub := p.pub
	pub.KEM = append([]byte(nil), pub.KEM...)
	pub.Ed25519 = append([]byte(nil), pub.Ed25519...)
	pub.MLDSA65 = append([]byte(nil), pub.MLDSA65...)
	return pub
}

// Agency returns the agency id the key set belongs to.
func (p *Private) Agency() string { return p.agency }

// Version returns the key version.
func (p *Private) Version() uint32 { return p.version }

// Fingerprint returns the fingerprint of p's public half (see
// Public.Fingerprint).
func (p *Private) Fingerprint() string { return p.fingerprint }

// KEMKey returns the X-Wing private key for HPKE (Go's crypto/hpke with KEM).
func (p *Private) KEMKey() hpke.PrivateKey { return p.kem }

// String describes p without key material.
func (p *Private) String() string {
	if p == nil {
		return "agencykey.Private(nil)"
	}
	return fmt.Sprintf("agencykey.Private{%s v%d %s}", p.agency, p.version, p.fingerprint)
}

// GoString is String, so that %#v never prints key material either.
func (p *Private) GoString() string { return p.String() }

// Public is the public half of an agency key set, as peers learn it from key
// announcements. Keys are in their standard encodings: KEM is the X-Wing
// encapsulation key (ML-KEM-768 encapsulation key || X25519 point, 1216
// bytes), Ed25519 the 32-byte public key, MLDSA65 the 1952-byte FIPS 204
// public key.
type Public struct {
	Agency                string
	Version               uint32
	NotBefore, NotAfter   time.Time
	KEM, Ed25519, MLDSA65 []byte
}

// check validates p. With full, the KEM key is also parsed (which checks the
// ML-KEM encapsulation key); that is done by UnmarshalPublic and KEMKey.
func (p Public) check(full bool) error {
	if err := checkMeta(p.Agency, p.Version, p.NotBefore, p.NotAfter); err != nil {
		return err
	}
	switch {
	case len(p.KEM) != KEMPublicKeySize:
		return fmt.Errorf("%w: KEM public key is %d bytes, want %d", ErrMalformed, len(p.KEM), KEMPublicKeySize)
	case len(p.Ed25519) != Ed25519PublicKeySize:
		return fmt.Errorf("%w: Ed25519 public key is %d bytes, want %d", ErrMalformed, len(p.Ed25519), Ed25519PublicKeySize)
	case len(p.MLDSA65) != MLDSA65PublicKeySize:
		return fmt.Errorf("%w: ML-DSA-65 public key is %d bytes, want %d", ErrMalformed, len(p.MLDSA65), MLDSA65PublicKeySize)
	}
	if full {
		if _, err := KEM.NewPublicKey(p.KEM); err != nil {
			return fmt.Errorf("%w: KEM public key: %v", ErrMalformed, err)
		}
	}
	return nil
}

// KEMKey parses the X-Wing public key for HPKE (Go's crypto/hpke with KEM).
func (p Public) KEMKey() (hpke.PublicKey, error) {
	if len(p.KEM) != KEMPublicKeySize {
		return nil, fmt.Errorf("%w: KEM public key is %d bytes, want %d", ErrMalformed, len(p.KEM), KEMPublicKeySize)
	}
	k, err := KEM.NewPublicKey(p.KEM)
	if err != nil {
		return nil, fmt.Errorf("%w: KEM public key: %v", ErrMalformed, err)
	}
	return k, nil
}

// Equal reports whether p and q are the same public key set.
func (p Public) Equal(q Public) bool {
	a, err1 := p.MarshalBinary()
	b, err2 := q.MarshalBinary()
	return err1 == nil && err2 == nil && string(a) == string(b)
}
