// Package agencykey holds an agency's key sets: generation, canonical
// encodings, fingerprints, hybrid signatures and signed key announcements.
//
// # Key sets
//
// A key set (Private) belongs to one agency and has a version (1, 2, … on
// each rotation) and a validity window [NotBefore, NotAfter). It holds
//
//   - an HPKE receiving key pair for the X-Wing KEM (X25519 + ML-KEM-768,
//     HPKE KEM id 0x647a), used by crypto/envelope;
//   - an Ed25519 signing key;
//   - an ML-DSA-65 (FIPS 204) signing key.
//
// Each private key is kept as a 32-byte seed from which it is derived
// (X-Wing seed, RFC 8032 seed, FIPS 204 ξ). Public is the public half, with
// each key in its standard encoding.
//
// # Signatures
//
// Sign signs with both signing keys; Verify accepts a Signature only if it
// names the verifying key's fingerprint and both halves verify, so a forger
// has to break Ed25519 and ML-DSA-65. Both algorithms sign the same message
//
//	"cpx-agencykey-sig-v1" 0x00 || u16 len(fp) || fp || msg
//
// where fp is the signer's fingerprint; ML-DSA-65 also uses the FIPS 204
// context string "cpx-v1" and hedged (randomised) signing. Every message
// that CPX signs with agency keys starts with its own 4-byte tag ("CPXA"
// for announcements, "CPXE" for envelopes), so a signature made for one
// purpose never verifies as another. Verify reports which half failed:
// ErrBadEd25519, ErrBadMLDSA or both joined.
//
// # Fingerprints
//
// A fingerprint is SHA-256 over the canonical encoding of a Public, in
// lowercase unpadded base32 (52 characters) with a Luhn mod 32 check
// character after each 13, shown as 8 groups of 7:
//
//	xxxxxxx-xxxxxxx-xxxxxxx-xxxxxxx-xxxxxxx-xxxxxxx-xxxxxxx-xxxxxxx
//
// It covers the agency id, version and validity window as well as the keys,
// so every key version has its own fingerprint. ParseFingerprint accepts
// any case and missing or extra separators and detects a single mistyped
// character or swapped neighbours within a group of 13.
//
// # Encoding format
//
// All encodings are deterministic, so that a value has exactly one encoding
// and fingerprints and signatures are stable. They start with a 5-byte
// header: "CPX", a kind byte and the format version (1). Fields follow in a
// fixed order; integers are big-endian; strings are u16 length + UTF-8
// bytes; byte strings are u32 length + bytes; times are int64 Unix
// nanoseconds (UTC, so the years 1678–2262).
//
//	Public       "CPXP" 01 | str agency | u32 version | time not-before |
//	             time not-after | bytes KEM (1216) | bytes Ed25519 (32) |
//	             bytes ML-DSA-65 (1952)
//	Private      "CPXS" 01 | str agency | u32 version | time not-before |
//	             time not-after | bytes X-Wing seed (32) | bytes Ed25519 seed (32) |
//	             bytes ML-DSA-65 seed (32) | bytes SHA-256 of the Public encoding (32)
//	Signature    "CPXG" 01 | str fingerprint (63) | bytes Ed25519 (64) |
//	             bytes ML-DSA-65 (3309)
//	Announcement "CPXA" 01 | Public (inline) | str peer id | time issued |
//	             Signature (inline) | u8 0 or 1 | [Signature (inline)]
//
// The signed part of an Announcement is its encoding up to and including
// the issue time. A Private's encoding holds the secret seeds: wrap it with
// a keyring (crypto/keyring) before it leaves process memory.
//
// # What decoders check
//
// Decoders accept exactly the encodings the encoders produce: wrong tag or
// version, any length other than the fixed one, over-long strings, non-UTF-8,
// an agency id that ValidAgency rejects, version 0, an empty or inverted
// validity window, an ML-KEM encapsulation key that fails the FIPS 203
// modulus check, a fingerprint whose check characters fail, a peer id with
// spaces or non-ASCII, and trailing bytes are all ErrMalformed. So for any
// accepted input, re-encoding gives the same bytes. UnmarshalPrivate also
// re-derives the public keys from the seeds and compares them with the
// stored digest.
//
// Decoders do not verify signatures or check times: a decoded Signature or
// Announcement is well formed, not trusted. Call Public.Verify and
// Announcement.Verify. Whether an announced key (by its fingerprint) is
// trusted in the first place, and which version is current, is the
// caller's decision.
package agencykey
