package envelope

import (
	"fmt"
	"github.com/cpx-node/cpx/crypto/internal/wire"

	"github.com/cpx-node/cpx/crypto/agencykey"
)

// Field limits of the header.
const (
	idLen          = 32 // hex digits
	maxAgencyLen   = 64
	maxPurposeLen  = 32
	maxISPLen      = 128
	maxContentType = 128
	maxHeaderSize  = 5 + (2 + idLen) + 2*(2+maxAgencyLen) + (2 + maxPurposeLen) + (2 + maxISPLen) + 4 + 8 + 8 + 32 +
		2*(2+agencykey.FingerprintLen) + (2 + maxContentType)
)

// check validates h.
func (h Header) check() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: header %s: "+format, append([]any{ErrMalformed, field}, args...)...)
	}
	if len(h.ID) != idLen {
		return bad("id", "%d characters, want %d hex digits", len(h.ID), idLen)
	}
	for i := 0; i < len(h.ID); i++ {
		if c := h.ID[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return bad("id", "not lowercase hex")
		}
	}
	if !agencykey.ValidAgency(h.Sender) {
		return bad("sender", "invalid agency id %q", clip(h.Sender))
	}
	if !agencykey.ValidAgency(h.Recipient) {
		return bad("recipient", "invalid agency id %q", clip(h.Recipient))
	}
	if h.Purpose == "" || len(h.Purpose) > maxPurposeLen || !(h.Purpose[0] >= 'a' && h.Purpose[0] <= 'z') {
		return bad("purpose", "%q: want 1 to %d of a-z, 0-9, '-', starting with a letter", clip(h.Purpose), maxPurposeLen)
	}
	for i := 0; i < len(h.Purpose); i++ {
		if c := h.Purpose[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return bad("purpose", "%q: want 1 to %d of a-z, 0-9, '-', starting with a letter", clip(h.Purpose), maxPurposeLen)
		}
	}
	if len(h.ISP) > maxISPLen || !printable(h.ISP, false) {
		return bad("isp", "want up to %d printable ASCII characters without spaces", maxISPLen)
	}
	if h.ISP == "" && h.ISPVersion != 0 {
		return bad("isp", "empty with version %d", h.ISPVersion)
	}
	if !wire.ValidTime(h.Created) || !wire.ValidTime(h.Expires) {
		return bad("times", "outside the years 1678-2262")
	}
	if !h.Created.Before(h.Expires) {
		return bad("times", "created %s is not before expires %s", h.Created, h.Expires)
	}
	for _, k := range []struct{ name, fp string }{{"sender key", h.SenderKey}, {"recipient key", h.RecipientKey}} {
		if fp, err := agencykey.ParseFingerprint(k.fp); err != nil || fp != k.fp {
			return bad(k.name, "not a canonical fingerprint")
		}
	}
	if len(h.ContentType) > maxContentType || !printable(h.ContentType, true) {
		return bad("content type", "want up to %d printable ASCII characters", maxContentType)
	}
	return nil
}

func printable(s string, spaces bool) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c > '~' || c < ' ' || c == ' ' && !spaces {
			return false
		}
	}
	return true
}

// clip shortens s for an error message and makes it valid UTF-8.
func clip(s string) string {
	if len(s) > 70 {
		s = s[:70]
	}
	return string([]rune(s)) // replaces invalid UTF-8
}

// MarshalBinary returns the canonical encoding of h, which is also the HPKE
// associated data of its envelope (see the package documentation). It fails
// with ErrMalformed if h is not well formed.
func (h Header) MarshalBinary() ([]byte, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	var e encoder
	e.Buf = make([]byte, 0, maxHeaderSize)
	e.Tag(tagHeader, formatVersion)
	e.Str(h.ID)
	e.Str(h.Sender)
	e.Str(h.Recipient)
	e.Str(h.Purpose)
	e.Str(h.ISP)
	e.U32(h.ISPVersion)
	e.Time(h.Created)
	e.Time(h.Expires)
	e.Buf = append(e.Buf, h.PlaintextHash[:]...)
	e.Str(h.SenderKey)
	e.Str(h.RecipientKey)
	e.Str(h.ContentType)
	return e.Buf, nil
}

// UnmarshalHeader decodes the canonical encoding of a Header. It accepts
// exactly what MarshalBinary produces; anything else is ErrMalformed.
func UnmarshalHeader(b []byte) (Header, error) {
	var h Header
	d := decoder{B: b, Malformed: ErrMalformed}
	d.Tag(tagHeader, formatVersion, "header")
	h.ID = d.Str("id", idLen)
	h.Sender = d.Str("sender", maxAgencyLen)
	h.Recipient = d.Str("recipient", maxAgencyLen)
	h.Purpose = d.Str("purpose", maxPurposeLen)
	h.ISP = d.Str("isp", maxISPLen)
	h.ISPVersion = d.U32("isp version")
	h.Created = d.Time("created")
	h.Expires = d.Time("expires")
	copy(h.PlaintextHash[:], d.Take(32, "plaintext hash"))
	h.SenderKey = d.Str("sender key", agencykey.FingerprintLen)
	h.RecipientKey = d.Str("recipient key", agencykey.FingerprintLen)
	h.ContentType = d.Str("content type", maxContentType)
	if err := d.Finish("header"); err != nil {
		return Header{}, err
	}
	if err := h.check(); err != nil {
		return Header{}, err
	}
	return h, nil
}

// MarshalBinary returns the canonical encoding of e. It fails with
// ErrMalformed if e is not well formed; it does not verify e.
func (e *Envelope) MarshalBinary() ([]byte, error) {
	hdr, err := e.check()
	if err != nil {
		return nil, err
	}
	sig, err := e.Sig.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	var enc encoder
	enc.Buf = e.body(hdr)
	enc.Bytes(sig)
	return enc.Buf, nil
}

// Unmarshal decodes the canonical encoding of an Envelope, strictly: input
// over MaxSize, any field out of its syntax or limits, and trailing bytes
// are ErrMalformed. The result is well formed, not verified: call Open.
// It does not retain b.
func Unmarshal(b []byte) (*Envelope, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, len(b), MaxSize)
	}
	d := decoder{B: b, Malformed: ErrMalformed}
	d.Tag(tagEnvelope, formatVersion, "envelope")
	hdr := d.Bytes("header", 0, maxHeaderSize)
	enc := d.Bytes("encapsulated key", EncSize, EncSize)
	ct := d.Bytes("ciphertext", tagSize, MaxCiphertext)
	sigb := d.Bytes("signature", agencykey.SignatureEncodedSize, agencykey.SignatureEncodedSize)
	if err := d.Finish("envelope"); err != nil {
		return nil, err
	}
	h, err := UnmarshalHeader(hdr)
	if err != nil {
		return nil, err
	}
	sig, err := agencykey.UnmarshalSignature(sigb)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return &Envelope{
		Header:     h,
		Enc:        append([]byte(nil), enc...),
		Ciphertext: append([]byte(nil), ct...),
		Sig:        sig,
	}, nil
}
