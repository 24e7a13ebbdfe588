package agencykey

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
)

// MarshalBinary returns the canonical encoding of p (see the package
// documentation). It fails with ErrMalformed if p is not well formed.
func (p Public) MarshalBinary() ([]byte, error) {
	if err := p.check(false); err != nil {
		return nil, err
	}
	e := encoder{Buf: make([]byte, 0, publicEncodedSize(p.Agency))}
	p.encode(&e)
	return e.Buf, nil
}

func publicEncodedSize(agency string) int {
	return 5 + 2 + len(agency) + 4 + 8 + 8 + 3*4 + KEMPublicKeySize + Ed25519PublicKeySize + MLDSA65PublicKeySize
}

func (p Public) encode(e *encoder) {
	e.Tag(tagPublic, formatVersion)
	e.Str(p.Agency)
	e.U32(p.Version)
	e.Time(p.NotBefore)
	e.Time(p.NotAfter)
	e.Bytes(p.KEM)
	e.Bytes(p.Ed25519)
	e.Bytes(p.MLDSA65)
}

// UnmarshalPublic decodes the canonical encoding of a Public. It accepts
// exactly what MarshalBinary produces and nothing else: any other input
// gives an error wrapping ErrMalformed.
func UnmarshalPublic(b []byte) (Public, error) {
	d := decoder{B: b, Malformed: ErrMalformed}
	p := decodePublic(&d)
	if err := d.Finish("public key"); err != nil {
		return Public{}, err
	}
	if err := p.check(true); err != nil {
		return Public{}, err
	}
	return p, nil
}

func decodePublic(d *decoder) Public {
	var p Public
	d.Tag(tagPublic, formatVersion, "public key")
	p.Agency = d.Str("agency", maxAgencyLen)
	p.Version = d.U32("version")
	p.NotBefore = d.Time("not-before")
	p.NotAfter = d.Time("not-after")
	p.KEM = d.Bytes("KEM public key", KEMPublicKeySize, KEMPublicKeySize)
	p.Ed25519 = d.Bytes("Ed25519 public key", Ed25519PublicKeySize, Ed25519PublicKeySize)
	p.MLDSA65 = d.Bytes("ML-DSA-65 public key", MLDSA65PublicKeySize, MLDSA65PublicKeySize)
	return p
}

// MarshalBinary returns the canonical encoding of p, including its secret
// seeds: wrap it with a keyring before it leaves process memory.
func (p *Private) MarshalBinary() ([]byte, error) {
	var e encoder
	e.Tag(tagPrivate, formatVersion)
	e.Str(p.agency)
	e.U32(p.version)
	e.Time(p.notBefore)
	e.Time(p.notAfter)
	e.Bytes(p.kemSeed[:])
	e.Bytes(p.edSeed[:])
	e.Bytes(p.mldsaSeed[:])
	sum := sha256.Sum256(p.pubEncoded)
	e.Bytes(sum[:])
	return e.Buf, nil
}

// UnmarshalPrivate decodes the canonical encoding of a Private. It derives
// the keys from the seeds and checks them against the public-key digest in
// the encoding, so corruption, or a change in how a library derives keys
// from seeds, is detected here and not as failed decryptions later.
func UnmarshalPrivate(b []byte) (*Private, error) {
	d := decoder{B: b, Malformed: ErrMalformed}
	d.Tag(tagPrivate, formatVersion, "private key")
	agency := d.Str("agency", maxAgencyLen)
	version := d.U32("version")
	notBefore := d.Time("not-before")
	notAfter := d.Time("not-after")
	kemSeed := d.Bytes("KEM seed", seedSize, seedSize)
	edSeed := d.Bytes("Ed25519 seed", seedSize, seedSize)
	mldsaSeed := d.Bytes("ML-DSA-65 seed", seedSize, seedSize)
	sum := d.Bytes("public key digest", sha256.Size, sha256.Size)
	if err := d.Finish("private key"); err != nil {
		return nil, err
	}
	p, err := newPrivate(agency, version, notBefore, notAfter,
		[seedSize]byte(kemSeed), [seedSize]byte(edSeed), [seedSize]byte(mldsaSeed))
	if err != nil {
		return nil, err
	}
	got := sha256.Sum256(p.pubEncoded)
	if subtle.ConstantTimeCompare(got[:], sum) != 1 {
		return nil, fmt.Errorf("%w: private key: derived public key does not match its digest", ErrMalformed)
	}
	return p, nil
}
