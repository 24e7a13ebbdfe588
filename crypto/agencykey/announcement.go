package agencykey

import (
	"fmt"
	"github.com/cpx-node/cpx/crypto/internal/wire"
	"time"
)

// Announcement is a signed statement "agency A's key set, version V, is
// Key, reachable at node PeerID", by which peers learn an agency's current
// public keys. Sig is by Key itself; on rotation PrevSig is by the previous
// key version, so that a peer that trusts the previous key can trust the
// next without asking a person.
type Announcement struct {
	Key     Public
	PeerID  string     // the node's libp2p peer id (text form), not parsed here
	Issued  time.Time  // when the announcement was made
	Sig     Signature  // by Key
	PrevSig *Signature // by the previous key version, or nil
}

// Announce makes an announcement of p's public keys, signed by p and, if
// prev is not nil, by prev, which must be an earlier version of the same
// agency's keys.
func Announce(p *Private, peerID string, issued time.Time, prev *Private) (Announcement, error) {
	a := Announcement{Key: p.Public(), PeerID: peerID, Issued: wire.NormTime(issued)}
	if prev != nil {
		if prev.agency != p.agency || prev.version >= p.version {
			return Announcement{}, fmt.Errorf("%w: %s v%d after %s v%d", ErrRotation, p.agency, p.version, prev.agency, prev.version)
		}
	}
	body, err := a.body()
	if err != nil {
		return Announcement{}, fmt.Errorf("agencykey: announce: %w", err)
	}
	if a.Sig, err = p.Sign(body); err != nil {
		return Announcement{}, fmt.Errorf("agencykey: announce: %w", err)
	}
	if prev != nil {
		s, err := prev.Sign(body)
		if err != nil {
			return Announcement{}, fmt.Errorf("agencykey: announce: %w", err)
		}
		a.PrevSig = &s
	}
	return a, nil
}

func (a Announcement) check() error {
	if err := a.Key.check(false); err != nil {
		return err
	}
	if a.PeerID == "" || len(a.PeerID) > maxPeerIDLen {
		return fmt.Errorf("%w: peer id is %d bytes, want 1 to %d", ErrMalformed, len(a.PeerID), maxPeerIDLen)
	}
	for i := 0; i < len(a.PeerID); i++ {
		if c := a.PeerID[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("%w: peer id: invalid character %q", ErrMalformed, c)
		}
	}
	if !wire.ValidTime(a.Issued) {
		return fmt.Errorf("%w: issue time outside the years 1678-2262", ErrMalformed)
	}
	return nil
}

// body is the signed part: the encoding up to and without the signatures.
func (a Announcement) body() ([]byte, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	var e encoder
	a.encodeBody(&e)
	return e.Buf, nil
}

func (a Announcement) encodeBody(e *encoder) {
	e.Tag(tagAnnouncement, formatVersion)
	a.Key.encode(e)
	e.Str(a.PeerID)
	e.Time(a.Issued)
}

// Verify checks a at time now. It requires that Sig is a valid signature by
// a.Key and that a.Key's validity window contains now (ErrNotValid). If prev
// is not nil, a must also be a rotation of prev: PrevSig present and valid
// under prev, the same agency, and a higher version (errors wrap
// ErrRotation and, for a bad signature, the signature error). prev need not
// be valid at now: a peer that was offline for a while still accepts the
// chain. Without prev, PrevSig is ignored; it is the caller who decides
// whether a key it has never seen may be trusted (by its fingerprint,
// checked out of band).
func (a Announcement) Verify(now time.Time, prev *Public) error {
	body, err := a.body()
	if err != nil {
		return err
	}
	if err := a.Key.Verify(body, a.Sig); err != nil {
		return fmt.Errorf("agencykey: announcement self-signature: %w", err)
	}
	if now.Before(a.Key.NotBefore) || !now.Before(a.Key.NotAfter) {
		return fmt.Errorf("%w: %s v%d is valid from %s until %s, now is %s", ErrNotValid,
			a.Key.Agency, a.Key.Version, a.Key.NotBefore.Format(time.RFC3339), a.Key.NotAfter.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if prev == nil {
		return nil
	}
	switch {
	case prev.Agency != a.Key.Agency:
		return fmt.Errorf("%w: agency %q, previous key is of %q", ErrRotation, a.Key.Agency, prev.Agency)
	case a.Key.Version <= prev.Version:
		return fmt.Errorf("%w: version %d is not above the previous %d", ErrRotation, a.Key.Version, prev.Version)
	case a.PrevSig == nil:
		return fmt.Errorf("%w: no signature by the previous key", ErrRotation)
	}
	if err := prev.Verify(body, *a.PrevSig); err != nil {
		return fmt.Errorf("%w: signature by the previous key: %w", ErrRotation, err)
	}
	return nil
}

// MarshalBinary returns the canonical encoding of a (see the package
// documentation).
func (a Announcement) MarshalBinary() ([]byte, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	if err := a.Sig.check(); err != nil {
		return nil, err
	}
	if a.PrevSig != nil {
		if err := a.PrevSig.check(); err != nil {
			return nil, err
		}
	}
	var e encoder
	a.encodeBody(&e)
	a.Sig.encode(&e)
	if a.PrevSig == nil {
		e.U8(0)
	} else {
		e.U8(1)
		a.PrevSig.encode(&e)
	}
	return e.Buf, nil
}

// UnmarshalAnnouncement decodes the canonical encoding of an Announcement.
// Errors wrap ErrMalformed. The result is well formed, not verified: call
// Verify.
func UnmarshalAnnouncement(b []byte) (Announcement, error) {
	var a Announcement
	d := decoder{B: b, Malformed: ErrMalformed}
	d.Tag(tagAnnouncement, formatVersion, "announcement")
	a.Key = decodePublic(&d)
	a.PeerID = d.Str("peer id", maxPeerIDLen)
	a.Issued = d.Time("issue time")
	a.Sig = decodeSignature(&d)
	switch d.U8("previous-signature flag") {
	case 0:
	case 1:
		s := decodeSignature(&d)
		a.PrevSig = &s
	default:
		d.Fail("previous-signature flag is not 0 or 1")
	}
	if err := d.Finish("announcement"); err != nil {
		return Announcement{}, err
	}
	if err := a.Key.check(true); err != nil {
		return Announcement{}, err
	}
	if err := a.check(); err != nil {
		return Announcement{}, err
	}
	if err := a.Sig.check(); err != nil {
		return Announcement{}, err
	}
	if a.PrevSig != nil {
		if err := a.PrevSig.check(); err != nil {
			return Announcement{}, err
		}
	}
	return a, nil
}
