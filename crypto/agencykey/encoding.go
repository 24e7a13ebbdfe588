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
	e := encoder{buf: make([]byte, 0, publicEncodedSize(p.Agency))}
	p.encode(&e)
	return e.buf, nil
}

func publicEncodedSize(agency string) int {
	return 5 + 2 + len(agency) + 4 + 8 + 8 + 3*4 + KEMPublicKeySize + Ed25519PublicKeySize + MLDSA65PublicKeySize
}

func (p Public) encode(e *encoder) {
	e.tag(tagPublic)
	e.str(p.Agency)
	e.u32(p.Version)
	e.time(p.NotBefore)
	e.time(p.NotAfter)
	e.bytes(p.KEM)
	e.bytes(p.Ed25519)
	e.bytes(p.MLDSA65)
}

// UnmarshalPublic decodes the canonical encoding of a Public. It accepts
// exactly what MarshalBinary produces and nothing else: any other input
// gives an error wrapping ErrMalformed.
func UnmarshalPublic(b []byte) (Public, error) {
	d := decoder{b: b}
	p := decodePublic(&d)
	if err := d.finish("public key"); err != nil {
		return Public{}, err
	}
	if err := p.check(true); err != nil {
		return Public{}, err
	}
	return p, nil
}

func decodePublic(d *decoder) Public {
	var p Public
	d.tag(tagPublic, "public key")
	p.Agency = d.str("agency", maxAgencyLen)
	p.Version = d.u32("version")
	p.NotBefore = d.time("not-before")
	p.NotAfter = d.time("not-after")
	p.KEM = d.bytes("KEM public key", KEMPublicKeySize)
	p.Ed25519 = d.bytes("Ed25519 public key", Ed25519PublicKeySize)
	p.MLDSA65 = d.bytes("ML-DSA-65 public key", MLDSA65PublicKeySize)
	return p
}

// MarshalBinary returns the canonical encoding of p, including its secret
// seeds: wrap it with a keyring before it leaves process memory.
func (p *Private) MarshalBinary() ([]byte, error) {
	var e encoder
	e.tag(tagPrivate)
	e.str(p.agency)
	e.u32(p.version)
	e.time(p.notBefore)
	e.time(p.notAfter)
	e.bytes(p.kemSeed[:])
	e.bytes(p.edSeed[:])
	e.bytes(p.mldsaSeed[:])
	sum := sha256.Sum256(p.pubEncoded)
	e.bytes(sum[:])
	return e.buf, nil
}

// UnmarshalPrivate decodes the canonical encoding of a Private. It derives
// the keys from the seeds and checks them against the public-key digest in
// the encoding, so corruption, or a change in how a library derives keys
// from seeds, is detected here and not as failed decryptions later.
func UnmarshalPrivate(b []byte) (*Private, error) {
	d := decoder{b: b}
	d.tag(tagPrivate, "private key")
	agency := d.str("agency", maxAgencyLen)
	version := d.u32("version")
	notBefore := d.time("not-before")
	notAfter := d.time("not-after")
	kemSeed := d.bytes("KEM seed", seedSize)
	edSeed := d.bytes("Ed25519 seed", seedSize)
	mldsaSeed := d.bytes("ML-DSA-65 seed", seedSize)
	sum := d.bytes("public key digest", sha256.Size)
	if err := d.finish("private key"); err != nil {
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
