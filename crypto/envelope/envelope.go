package envelope

import (
	"crypto/hpke"
	cryptorand "crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cloudflare/circl/kem/xwing"

	"github.com/cpx-node/cpx/crypto/agencykey"
)

// Errors returned by Open, in the order Open checks. Unmarshal and Seal
// return ErrMalformed for input that is not well formed. All are wrapped
// with detail; test with errors.Is.
var (
	// ErrMalformed: the envelope is not well formed (a header field out of
	// its syntax or limits, a wrong-sized key encapsulation or signature, an
	// oversized ciphertext, trailing bytes).
	ErrMalformed = errors.New("envelope: malformed")
	// ErrWrongRecipient: the header names another recipient agency, or
	// another key of it, than the key Open was given.
	ErrWrongRecipient = errors.New("envelope: not addressed to this key")
	// ErrWrongSender: the header's sender agency or sender key is not the
	// public key Open was given.
	ErrWrongSender = errors.New("envelope: not from the expected sender key")
	// ErrSignature: the signature does not verify. The error also wraps
	// agencykey's ErrWrongKey, ErrBadEd25519 and/or ErrBadMLDSA, or
	// agencykey.ErrMalformed, to tell which check failed.
	ErrSignature = errors.New("envelope: bad signature")
	// ErrExpired: now is after Expires or before Created (each with
	// ClockSkew of tolerance).
	ErrExpired = errors.New("envelope: expired or not yet valid")
	// ErrDecrypt: HPKE decryption failed: the key encapsulation, the
	// ciphertext or the header (bound as associated data) was altered.
	ErrDecrypt = errors.New("envelope: decryption failed")
	// ErrHash: the plaintext does not match the header's PlaintextHash.
	ErrHash = errors.New("envelope: plaintext does not match its hash")
)

const (
	// MaxPlaintext is the largest plaintext an envelope carries (16 MiB).
	MaxPlaintext = 16 << 20
	// MaxCiphertext is the largest ciphertext: MaxPlaintext and the AEAD tag.
	MaxCiphertext = MaxPlaintext + tagSize
	// MaxSize is the largest encoded envelope; Unmarshal rejects longer
	// input before looking at it.
	MaxSize = 5 + 4 + maxHeaderSize + 4 + EncSize + 4 + MaxCiphertext + 4 + agencykey.SignatureEncodedSize

	// EncSize is the size of the HPKE encapsulated key (an X-Wing
	// ciphertext).
	EncSize = xwing.CiphertextSize
	// ClockSkew is the tolerance of Open for Created and Expires.
	ClockSkew = 2 * time.Minute

	// Info is the HPKE info string of every envelope.
	Info = "cpx-envelope-v1"

	tagSize = 16 // AES-256-GCM
)

// The HPKE suite, in base mode: X-Wing (agencykey.KEM), HKDF-SHA256 and
// AES-256-GCM, through Go's crypto/hpke. Nodes before sealed with circl's
// hpke, the same wire format (TestInteropCirclHPKE).
var (
	kdf  = hpke.HKDFSHA256()
	aead = hpke.AES256GCM()
)

// Header is the clear-text part of an envelope. It is authenticated twice:
// as HPKE associated data and by the sender's signature.
type Header struct {
	ID                string    // 128-bit random, 32 lowercase hex digits; filled by Seal if empty
	Sender, Recipient string    // agency ids (agencykey.ValidAgency)
	Purpose           string    // referral, transfer, tracing, aggregate, receipt, …: 1-32 of a-z 0-9 -
	ISP               string    // id of the information-sharing protocol; empty only with ISPVersion 0
	ISPVersion        uint32    // version of the ISP
	Created, Expires  time.Time // Created < Expires
	PlaintextHash     [32]byte  // SHA-256 of the plaintext; set by Seal
	SenderKey         string    // sender's key fingerprint; set by Seal
	RecipientKey      string    // recipient's key fingerprint; set by Seal
	ContentType       string    // media type of the plaintext: printable ASCII, may be empty
}

// Envelope is the signed, encrypted unit that crosses between nodes.
type Envelope struct {
	Header     Header
	Enc        []byte // HPKE encapsulated key, EncSize bytes
	Ciphertext []byte // AES-256-GCM ciphertext with tag
	Sig        agencykey.Signature
}

// Seal encrypts plaintext to recipient and signs the result as sender.
//
// h must have Purpose, Created and Expires (Seal has no clock of its own),
// and ISP and ISPVersion as the exchange requires. Seal fills ID if it is
// empty (from rand), Sender and Recipient if empty (else they must match
// the keys), PlaintextHash, SenderKey and RecipientKey. Both keys must be
// valid at h.Created. rand supplies the ID; nil means crypto/rand. The
// HPKE encapsulation draws from crypto/rand (testing/cryptotest makes it
// repeatable in tests); the ML-DSA-65 signature is hedged.
func Seal(rand io.Reader, h Header, plaintext []byte, sender *agencykey.Private, recipient agencykey.Public) (*Envelope, error) {
	if rand == nil {
		rand = cryptorand.Reader
	}
	if sender == nil {
		return nil, errors.New("envelope: seal: no sender key")
	}
	if len(plaintext) > MaxPlaintext {
		return nil, fmt.Errorf("%w: plaintext is %d bytes, limit %d", ErrMalformed, len(plaintext), MaxPlaintext)
	}
	recipientKey := recipient.Fingerprint()
	if recipientKey == "" {
		return nil, fmt.Errorf("%w: recipient key is not well formed", ErrMalformed)
	}
	if h.Sender == "" {
		h.Sender = sender.Agency()
	}
	if h.Recipient == "" {
		h.Recipient = recipient.Agency
	}
	switch {
	case h.Sender != sender.Agency():
		return nil, fmt.Errorf("envelope: seal: header sender %q, key of %q", h.Sender, sender.Agency())
	case h.Recipient != recipient.Agency:
		return nil, fmt.Errorf("envelope: seal: header recipient %q, key of %q", h.Recipient, recipient.Agency)
	}
	if h.ID == "" {
		var id [16]byte
		if _, err := io.ReadFull(rand, id[:]); err != nil {
			return nil, fmt.Errorf("envelope: seal: %w", err)
		}
		h.ID = hex.EncodeToString(id[:])
	}
	h.PlaintextHash = sha256.Sum256(plaintext)
	h.SenderKey = sender.Fingerprint()
	h.RecipientKey = recipientKey
	if err := h.check(); err != nil {
		return nil, err
	}
	for _, k := range []agencykey.Public{sender.Public(), recipient} {
		if h.Created.Before(k.NotBefore) || !h.Created.Before(k.NotAfter) {
			return nil, fmt.Errorf("envelope: seal: %w: %s v%d at %s", agencykey.ErrNotValid, k.Agency, k.Version, h.Created.UTC().Format(time.RFC3339))
		}
	}
	return seal(h, plaintext, sender, recipient)
}

// seal encrypts and signs with h as it is.
func seal(h Header, plaintext []byte, sender *agencykey.Private, recipient agencykey.Public) (*Envelope, error) {
	hdr, err := h.MarshalBinary()
	if err != nil {
		return nil, err
	}
	pk, err := recipient.KEMKey()
	if err != nil {
		return nil, fmt.Errorf("%w: recipient key: %w", ErrMalformed, err)
	}
	enc, sealer, err := hpke.NewSender(pk, kdf, aead, []byte(Info))
	if err != nil {
		return nil, fmt.Errorf("envelope: seal: %w", err)
	}
	ct, err := sealer.Seal(hdr, plaintext)
	if err != nil {
		return nil, fmt.Errorf("envelope: seal: %w", err)
	}
	e := &Envelope{Header: h, Enc: enc, Ciphertext: ct}
	if err := e.sign(hdr, sender); err != nil {
		return nil, err
	}
	return e, nil
}

// sign sets e.Sig to sender's signature of e's body.
func (e *Envelope) sign(hdr []byte, sender *agencykey.Private) error {
	sig, err := sender.Sign(e.body(hdr))
	if err != nil {
		return fmt.Errorf("envelope: seal: %w", err)
	}
	e.Sig = sig
	return nil
}

// body is the signed part of the encoding: everything but the signature.
func (e *Envelope) body(hdr []byte) []byte {
	var enc encoder
	enc.Buf = make([]byte, 0, 5+4+len(hdr)+4+len(e.Enc)+4+len(e.Ciphertext)+4+agencykey.SignatureEncodedSize)
	enc.Tag(tagEnvelope, formatVersion)
	enc.Bytes(hdr)
	enc.Bytes(e.Enc)
	enc.Bytes(e.Ciphertext)
	return enc.Buf
}

// check validates e's form and returns the header encoding.
func (e *Envelope) check() ([]byte, error) {
	if e == nil {
		return nil, fmt.Errorf("%w: nil envelope", ErrMalformed)
	}
	hdr, err := e.Header.MarshalBinary()
	if err != nil {
		return nil, err
	}
	switch {
	case len(e.Enc) != EncSize:
		return nil, fmt.Errorf("%w: encapsulated key is %d bytes, want %d", ErrMalformed, len(e.Enc), EncSize)
	case len(e.Ciphertext) < tagSize || len(e.Ciphertext) > MaxCiphertext:
		return nil, fmt.Errorf("%w: ciphertext is %d bytes, want %d to %d", ErrMalformed, len(e.Ciphertext), tagSize, MaxCiphertext)
	}
	if _, err := e.Sig.MarshalBinary(); err != nil {
		return nil, fmt.Errorf("%w: signature: %w", ErrMalformed, err)
	}
	return hdr, nil
}

// Verified is an envelope whose form, sender and both signatures Verify
// checked. It keeps its own copy of the signed bytes, so a later change to
// the Envelope it came from cannot reach what Open decrypts, and Open does
// not verify the signatures a second time.
type Verified struct {
	// Header is the verified header.
	Header Header
	// hdr, enc and ct are the header encoding, the encapsulated key and the
	// ciphertext, each within the signed body Verify copied.
	hdr, enc, ct []byte
	digest       [32]byte
}

// Verify checks e's form, that it is from sender (agency and key) and
// both of its signatures, without decrypting it: a receiver calls it
// before it looks e's id up or spends any other work on e, then opens the
// result. The errors are Open's (ErrMalformed, ErrWrongSender,
// ErrSignature).
func Verify(e *Envelope, sender agencykey.Public) (*Verified, error) {
	hdr, err := e.check()
	if err != nil {
		return nil, err
	}
	h := &e.Header
	if h.Sender != sender.Agency || h.SenderKey != sender.Fingerprint() {
		return nil, fmt.Errorf("%w: from %s key %s, expected %s key %s", ErrWrongSender, h.Sender, h.SenderKey, sender.Agency, sender.Fingerprint())
	}
	body := e.body(hdr)
	if err := sender.Verify(body, e.Sig); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	// body is Tag (5 bytes), then each part with a 4-byte length.
	v := &Verified{Header: *h, digest: sha256.Sum256(body)}
	off := 5
	next := func(n int) []byte {
		part := body[off+4 : off+4+n : off+4+n]
		off += 4 + n
		return part
	}
	v.hdr = next(len(hdr))
	v.enc = next(len(e.Enc))
	v.ct = next(len(e.Ciphertext))
	return v, nil
}

// Digest is the SHA-256 of the signed body (everything but the
// signature), as Envelope.Digest.
func (v *Verified) Digest() [32]byte { return v.digest }

// Open decrypts v for recipient and returns its plaintext, checking, in
// order, each with its error: recipient agency and key
// (ErrWrongRecipient), Created and Expires against now with ClockSkew
// (ErrExpired), decryption (ErrDecrypt), plaintext hash (ErrHash).
func (v *Verified) Open(recipient *agencykey.Private, now time.Time) ([]byte, error) {
	h := &v.Header
	if err := checkRecipient(h, recipient); err != nil {
		return nil, err
	}
	if now.Before(h.Created.Add(-ClockSkew)) {
		return nil, fmt.Errorf("%w: created %s, now is %s", ErrExpired, h.Created.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if !now.Before(h.Expires.Add(ClockSkew)) {
		return nil, fmt.Errorf("%w: expired %s, now is %s", ErrExpired, h.Expires.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	r, err := hpke.NewRecipient(v.enc, recipient.KEMKey(), kdf, aead, []byte(Info))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	pt, err := r.Open(v.hdr, v.ct)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	sum := sha256.Sum256(pt)
	if subtle.ConstantTimeCompare(sum[:], h.PlaintextHash[:]) != 1 {
		return nil, ErrHash
	}
	return pt, nil
}

func checkRecipient(h *Header, recipient *agencykey.Private) error {
	if recipient == nil || h.Recipient != recipient.Agency() || h.RecipientKey != recipient.Fingerprint() {
		return fmt.Errorf("%w: addressed to %s key %s", ErrWrongRecipient, h.Recipient, h.RecipientKey)
	}
	return nil
}

// Digest is the SHA-256 of e's signed body (everything but the
// signature): two envelopes with the same ID and different digests are
// different messages.
func (e *Envelope) Digest() ([32]byte, error) {
	hdr, err := e.check()
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(e.body(hdr)), nil
}

// Open verifies e and returns its plaintext. sender is the public key that
// the caller expects e to be from (looked up by e.Header.Sender and
// e.Header.SenderKey among keys it trusts); recipient is this node's key
// that e names. Checks, in order, each with its error: form (ErrMalformed),
// recipient agency and key (ErrWrongRecipient), sender agency and key
// (ErrWrongSender), both signatures (ErrSignature), Created and Expires
// against now with ClockSkew (ErrExpired), decryption (ErrDecrypt),
// plaintext hash (ErrHash).
//
// Open does not detect replays: the caller must remember the IDs of
// envelopes it accepted at least until their Expires plus ClockSkew, after
// which Open rejects them anyway.
func Open(e *Envelope, recipient *agencykey.Private, sender agencykey.Public, now time.Time) ([]byte, error) {
	if _, err := e.check(); err != nil {
		return nil, err
	}
	if err := checkRecipient(&e.Header, recipient); err != nil {
		return nil, err
	}
	v, err := Verify(e, sender)
	if err != nil {
		return nil, err
	}
	return v.Open(recipient, now)
}
