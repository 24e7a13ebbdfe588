package policy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// signingTag starts every [ISP.SigningBytes] encoding: the 4-byte tag
// "CPXI" and the encoding version 1. Like the other messages CPX signs
// with agency keys ("CPXA" announcements, "CPXE" envelopes), it makes a
// signature over an ISP useless for anything else.
const signingTag = "CPXI\x01"

// SigningBytes returns the canonical encoding of everything in the ISP
// except its signatures: the bytes each party signs. It is deterministic
// and independent of the order of every list (none has a meaning) and of
// the time zone of the validity times. It is not TOML: reformatting the
// document does not change it.
//
// The encoding (docs/isp.md, "Signing bytes") is built from
//
//	str(s)  = uint32 big-endian byte length of s, then s
//	u64(n)  = uint64 big-endian
//	list(l) = uint32 big-endian count, then str(x) for each x of l
//	          sorted bytewise
//	recs(r) = uint32 big-endian count, then each record's encoding,
//	          the encodings sorted bytewise
//
// and is, in this order:
//
//	"CPXI" 0x01   (5 bytes, no length prefix)
//	str("format") str(format)   str("id") str(id)
//	str("version") u64(version) str("title") str(title)
//	str("valid_from") str(RFC 3339 UTC, nanoseconds without trailing zeros)
//	str("valid_until") str(same)
//	str("party") recs(parties), each party:
//	    str("agency") str(agency) str("name") str(name)
//	    str("signing_key") str(signing_key)
//	str("purpose") recs(purposes), each purpose:
//	    str("name") str(name) str("from") list(from) str("to") list(to)
//	    str("required_consent") list(..) str("forms") list(..)
//	    str("fields") list(..) str("withheld") list(..)
//	    str("retention") str(retention) str("retention_days") u64(days)
//	    str("max_risk_level") str(..) str("consent_override_roles") list(..)
//	    and, only if any aggregate term is set:
//	    str("aggregate") str("reports") list(..) str("dimensions") list(..)
//	    str("threshold") u64(k) str("protection_interval") u64(p)
//	    str("frequency") str(..)
//
// Absent strings and lists encode as empty ones.
func (p *ISP) SigningBytes() []byte {
	c := canon{b: []byte(signingTag)}
	c.str("format")
	c.str(p.Format)
	c.str("id")
	c.str(p.ID)
	c.str("version")
	c.u64(uint64(p.Version))
	c.str("title")
	c.str(p.Title)
	c.str("valid_from")
	c.str(fmtTime(p.ValidFrom))
	c.str("valid_until")
	c.str(fmtTime(p.ValidUntil))

	c.str("party")
	recs := make([][]byte, 0, len(p.Parties))
	for _, pt := range p.Parties {
		var r canon
		r.str("agency")
		r.str(pt.Agency)
		r.str("name")
		r.str(pt.Name)
		r.str("signing_key")
		r.str(pt.SigningKey)
		recs = append(recs, r.b)
	}
	c.recs(recs)

	c.str("purpose")
	recs = recs[:0]
	for _, pr := range p.Purposes {
		var r canon
		r.str("name")
		r.str(pr.Name)
		r.str("from")
		r.list(pr.From)
		r.str("to")
		r.list(pr.To)
		r.str("required_consent")
		r.list(pr.RequiredConsent)
		r.str("forms")
		r.list(pr.Forms)
		r.str("fields")
		r.list(pr.Fields)
		r.str("withheld")
		r.list(pr.Withheld)
		r.str("retention")
		r.str(pr.Retention)
		r.str("retention_days")
		r.u64(uint64(int64(pr.RetentionDays)))
		r.str("max_risk_level")
		r.str(pr.Conditions.MaxRiskLevel)
		r.str("consent_override_roles")
		r.list(pr.Conditions.ConsentOverrideRoles)
		if a := pr.Aggregate; a.set() {
			// Only rules with aggregate terms encode them, so that the
			// signatures of ISPs written before the terms existed verify.
			r.str("aggregate")
			r.str("reports")
			r.list(a.Reports)
			r.str("dimensions")
			r.list(a.Dimensions)
			r.str("threshold")
			r.u64(uint64(int64(a.Threshold)))
			r.str("protection_interval")
			r.u64(uint64(int64(a.ProtectionInterval)))
			r.str("frequency")
			r.str(a.Frequency)
		}
		if t := pr.Tracing; t.set() {
			// Likewise only rules with tracing terms encode them.
			r.str("tracing")
			r.str("queries_per_minute")
			r.u64(uint64(int64(t.QueriesPerMinute)))
		}
		recs = append(recs, r.b)
	}
	c.recs(recs)
	return c.b
}

type canon struct{ b []byte }

func (c *canon) str(s string) {
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(s)))
	c.b = append(c.b, s...)
}

func (c *canon) u64(n uint64) { c.b = binary.BigEndian.AppendUint64(c.b, n) }

func (c *canon) list(l []string) {
	s := slices.Clone(l)
	slices.Sort(s)
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(s)))
	for _, x := range s {
		c.str(x)
	}
}

func (c *canon) recs(rs [][]byte) {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, bytes.Compare)
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(rs)))
	for _, r := range rs {
		c.b = append(c.b, r...)
	}
}

// SignatureVerifier checks one party's signature over msg: both the
// Ed25519 and the ML-DSA-65 signature must verify under the agency
// signing key with the given fingerprint. It returns nil only if both do.
// The caller supplies it (crypto/agencykey does the real checking), so
// that policy stays free of key material and I/O.
type SignatureVerifier func(agency, keyFingerprint string, msg []byte, ed25519Sig, mldsaSig []byte) error

// SignatureState is what [ISP.Signatures] says about one signature: who
// made it and whether it counts.
type SignatureState struct {
	// Agency is the agency the signature claims to be from.
	Agency string
	// Verified is true when the signature counts: by a party, its only
	// signature, with the key the ISP lists for it, and both algorithms
	// verify over [ISP.SigningBytes].
	Verified bool
	// Problem says why it does not count; empty when Verified.
	Problem string
}

// SignatureStates checks each signature of the ISP with verify and says,
// in document order, which count and why the others do not. Only the
// agencies of verified signatures may be reported as having signed.
func (p *ISP) SignatureStates(verify SignatureVerifier) []SignatureState {
	msg := p.SigningBytes()
	out := make([]SignatureState, 0, len(p.Signatures))
	seen := map[string]bool{}
	for _, s := range p.Signatures {
		st := SignatureState{Agency: s.Agency}
		pt, ok := p.party(s.Agency)
		switch {
		case !ok:
			st.Problem = fmt.Sprintf("signature by %q, which is not a party", s.Agency)
		case seen[s.Agency]:
			st.Problem = fmt.Sprintf("party %q signed more than once; keep one signature per party", s.Agency)
		case s.Key != pt.SigningKey:
			st.Problem = fmt.Sprintf("party %q signed with key %q, but the ISP lists key %q for it", s.Agency, s.Key, pt.SigningKey)
		case verify == nil:
			st.Problem = "no signature verifier given"
		default:
			if err := verify(s.Agency, s.Key, msg, s.Ed25519, s.MLDSA65); err != nil {
				st.Problem = fmt.Sprintf("signature of party %q does not verify (was the document changed after signing?): %v", s.Agency, err)
			} else {
				st.Verified = true
			}
		}
		if ok {
			seen[s.Agency] = true
		}
		out = append(out, st)
	}
	return out
}

// FullySigned reports whether the ISP is in force as far as signatures
// go: valid, and every party has exactly one signature, made with the
// signing key listed for it, that verify accepts over [ISP.SigningBytes].
// A signature by an agency that is not a party, a second signature by a
// party, a signature with another key and one that does not verify are
// errors. If parties are missing the error wraps [ErrUnsigned] and names
// them; all problems found are reported together.
func (p *ISP) FullySigned(verify SignatureVerifier) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if verify == nil {
		return fmt.Errorf("policy: %s: no signature verifier given", p.label())
	}
	var errs []error
	signed := map[string]bool{}
	for _, st := range p.SignatureStates(verify) {
		if _, ok := p.party(st.Agency); ok {
			signed[st.Agency] = true
		}
		if !st.Verified {
			errs = append(errs, fmt.Errorf("policy: %s: %s", p.label(), st.Problem))
		}
	}
	var missing []string
	for _, pt := range p.Parties {
		if !signed[pt.Agency] {
			missing = append(missing, pt.Agency)
		}
	}
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("policy: %s: %w: missing signatures of %s", p.label(), ErrUnsigned, strings.Join(missing, ", ")))
	}
	return errors.Join(errs...)
}

// AddSignature adds s to the ISP, replacing any earlier signature by the
// same agency. It does not check s; [ISP.FullySigned] does.
func (p *ISP) AddSignature(s ISPSignature) {
	replaced := false
	out := make([]ISPSignature, 0, len(p.Signatures)+1)
	for _, old := range p.Signatures {
		if old.Agency != s.Agency {
			out = append(out, old)
			continue
		}
		if !replaced {
			out = append(out, s)
			replaced = true
		}
	}
	if !replaced {
		out = append(out, s)
	}
	p.Signatures = out
}
