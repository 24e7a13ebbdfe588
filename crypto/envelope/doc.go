// Package envelope seals and opens envelopes: the signed, encrypted unit
// that crosses between CPX nodes (a referral, a transfer, a tracing query,
// an aggregate, a receipt).
//
// # Construction
//
// Seal encrypts the plaintext to the recipient agency's current key with
// HPKE (RFC 9180) in base mode with the suite
//
//	KEM  X-Wing (X25519 + ML-KEM-768), id 0x647a
//	KDF  HKDF-SHA256, id 0x0001
//	AEAD AES-256-GCM, id 0x0002
//
// info "cpx-envelope-v1" and, as associated data, the canonical encoding of
// the Header, so the header cannot be changed without decryption failing.
// It then signs the envelope body (the encoding below up to and including
// the ciphertext) with the sender's Ed25519 and ML-DSA-65 keys
// (agencykey.Private.Sign); both signatures must verify. The header names
// both keys by fingerprint, so an envelope is bound to one key version of
// each side.
//
// The HPKE part interoperates with Go's crypto/hpke (KEM MLKEM768X25519):
// an X-Wing private key is the same 32-byte seed in both, and the public
// key is the ML-KEM-768 encapsulation key followed by the X25519 point.
// The tests check both directions.
//
// # Encoding format
//
// Integers are big-endian; str is a u16 length and the bytes; bytes is a
// u32 length and the bytes; time is int64 Unix nanoseconds (UTC).
//
//	Header   "CPXH" 01 | str id | str sender | str recipient | str purpose |
//	         str isp | u32 isp-version | time created | time expires |
//	         [32] plaintext SHA-256 | str sender-key | str recipient-key |
//	         str content-type
//	Envelope "CPXE" 01 | bytes header | bytes enc (1120) |
//	         bytes ciphertext (16 .. 16 MiB + 16) | bytes signature
//
// where signature is agencykey's Signature encoding over everything before
// it. The encoding is canonical: Unmarshal accepts exactly what
// MarshalBinary produces.
//
// # What is checked
//
// Unmarshal checks form only: size (MaxSize), tags and format version,
// lengths, header syntax (id is 32 lowercase hex digits; sender and
// recipient are agency ids per agencykey.ValidAgency; purpose is a short
// lowercase token; ISP and content type are printable ASCII; Created before
// Expires; key fingerprints canonical with valid check characters), and no
// trailing bytes. Anything else is ErrMalformed.
//
// Open checks, in this order, and stops at the first failure: form
// (ErrMalformed); that the header names the given recipient agency and key
// (ErrWrongRecipient); that it names the given sender agency and key
// (ErrWrongSender); both signatures (ErrSignature, which also wraps the
// agencykey error saying which half failed); that now is within
// [Created-ClockSkew, Expires+ClockSkew) (ErrExpired); decryption, which
// covers the header via the associated data and the encapsulated key and
// ciphertext (ErrDecrypt); and the plaintext hash (ErrHash).
//
// Open does not check:
//
//   - Replays. The caller keeps the IDs of accepted envelopes at least until
//     Expires+ClockSkew and rejects a repeated ID; Open alone accepts the same
//     envelope as often as it is given.
//   - Whether the sender key is trusted, current or was valid at Created:
//     the caller chooses the sender Public (from verified key announcements)
//     and thereby decides.
//   - Whether the ISP named in the header allows the exchange, or what the
//     plaintext contains: that is the policy package's job.
//
// Seal also refuses keys that are not valid at Created.
package envelope
