package agencykey

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"
)

const (
	fpAlphabet  = "abcdefghijklmnopqrstuvwxyz234567"
	fpChunk     = 13 // base32 characters per check character
	fpGroup     = 7  // characters per displayed group
	fpBase32Len = 52 // 256 bits in unpadded base32
	fpRawLen    = fpBase32Len + fpBase32Len/fpChunk
	// FingerprintLen is the length of a fingerprint string: 56 characters
	// in 8 groups of 7, joined by 7 dashes.
	FingerprintLen = fpRawLen + fpRawLen/fpGroup - 1
)

var fpEncoding = base32.NewEncoding(fpAlphabet).WithPadding(base32.NoPadding)

// Fingerprint identifies p: the SHA-256 digest of p's canonical encoding, in
// lowercase unpadded base32 (52 characters), with a Luhn mod 32 check
// character after each 13 characters, shown as 8 groups of 7 joined by '-'
// (like syncthing device ids). It covers every field, so each key version
// has its own fingerprint. It is "" if p is not well formed.
func (p Public) Fingerprint() string {
	b, err := p.MarshalBinary()
	if err != nil {
		return ""
	}
	return fingerprintOf(sha256.Sum256(b))
}

func fingerprintOf(sum [sha256.Size]byte) string {
	s := fpEncoding.EncodeToString(sum[:])
	var raw strings.Builder
	for i := 0; i < len(s); i += fpChunk {
		c := s[i : i+fpChunk]
		raw.WriteString(c)
		raw.WriteByte(luhn32(c))
	}
	return canonicalGroups([]byte(raw.String()))
}

// luhn32 returns the Luhn mod 32 check character of s (characters of
// fpAlphabet), counting from the right with factor 2 first.
func luhn32(s string) byte {
	const n = len(fpAlphabet)
	factor, sum := 2, 0
	for i := len(s) - 1; i >= 0; i-- {
		addend := factor * strings.IndexByte(fpAlphabet, s[i])
		factor = 3 - factor
		sum += addend/n + addend%n
	}
	return fpAlphabet[(n-sum%n)%n]
}

// ParseFingerprint checks a fingerprint as a person may type it (any case,
// dashes or spaces anywhere, or none) and returns it in canonical form. A
// mistyped character or two swapped neighbours are detected by the check
// characters; the error wraps ErrMalformed.
func ParseFingerprint(s string) (string, error) {
	if len(s) > 2*FingerprintLen {
		return "", fmt.Errorf("%w: fingerprint too long", ErrMalformed)
	}
	raw := make([]byte, 0, fpRawLen)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '-' || c == ' ':
			continue
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		if strings.IndexByte(fpAlphabet, c) < 0 {
			return "", fmt.Errorf("%w: fingerprint: invalid character %q", ErrMalformed, s[i])
		}
		raw = append(raw, c)
	}
	if len(raw) != fpRawLen {
		return "", fmt.Errorf("%w: fingerprint: %d characters, want %d", ErrMalformed, len(raw), fpRawLen)
	}
	var data strings.Builder
	for i := 0; i < fpRawLen; i += fpChunk + 1 {
		c := string(raw[i : i+fpChunk])
		if luhn32(c) != raw[i+fpChunk] {
			return "", fmt.Errorf("%w: fingerprint: check character %d does not match", ErrMalformed, i/(fpChunk+1)+1)
		}
		data.WriteString(c)
	}
	sum, err := fpEncoding.DecodeString(data.String())
	if err != nil || len(sum) != sha256.Size {
		return "", fmt.Errorf("%w: fingerprint: not a SHA-256 digest", ErrMalformed)
	}
	fp := fingerprintOf([sha256.Size]byte(sum))
	if fp != canonicalGroups(raw) {
		// Non-canonical trailing bits in the last base32 character.
		return "", fmt.Errorf("%w: fingerprint: non-canonical encoding", ErrMalformed)
	}
	return fp, nil
}

func canonicalGroups(raw []byte) string {
	var out strings.Builder
	out.Grow(FingerprintLen)
	for i := 0; i < len(raw); i += fpGroup {
		if i > 0 {
			out.WriteByte('-')
		}
		out.Write(raw[i : i+fpGroup])
	}
	return out.String()
}
