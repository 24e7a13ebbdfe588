package policy

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Errors of ISP documents and decisions.
var (
	// ErrInvalidISP is wrapped by every error [ParseISP], [ISP.Validate]
	// and [ISP.Marshal] return for a malformed or inconsistent document.
	ErrInvalidISP = errors.New("invalid ISP")
	// ErrUnsigned is wrapped by the error [ISP.FullySigned] returns when
	// one or more parties have not signed; the message names them.
	ErrUnsigned = errors.New("ISP not signed by every party")
	// ErrOutsideProjection is wrapped by the error [CheckProjection]
	// returns when received data holds fields the ISP does not let go;
	// the message names them.
	ErrOutsideProjection = errors.New("data outside the ISP projection")
)

// ISPFormat is the value of the format key of the ISP documents this
// package reads and writes.
const ISPFormat = "cpx-isp/1"

// Purposes an ISP rule may cover.
const (
	PurposeReferral  = "referral"  // a service request; the case stays with its owner
	PurposeTransfer  = "transfer"  // ownership of the case moves to the receiver
	PurposeTracing   = "tracing"   // family-tracing queries and the disclosures that follow
	PurposeAggregate = "aggregate" // aggregate statistics to a coordination node
)

// Retention values of a transfer rule: what the sender keeps of a case
// once the receiver has accepted it.
const (
	RetentionFull = "full" // the whole case, read-only
	RetentionStub = "stub" // a stub: ids, the transfer record, no form data
	RetentionNone = "none" // nothing but the audit trail
)

// Risk levels of a case, lowest first; see [Conditions.MaxRiskLevel].
const (
	RiskLow    = "low"
	RiskMedium = "medium"
	RiskHigh   = "high"
)

// AnyParty in a rule's from or to list stands for every party of the ISP
// (and never for an agency that is not a party).
const AnyParty = "*"

// MaxISPSize is the largest ISP document [ParseISP] accepts, in bytes.
const MaxISPSize = 1 << 20

// MaxISPTables is the largest number of table headers ([[party]],
// [[purpose]], [purpose.conditions], [[signature]] and the like) an ISP
// document may have. go-toml v2.2.2 decodes arrays of tables in time
// quadratic in their number; the bound keeps parsing fast on hostile
// input while leaving room for hundreds of parties.
const MaxISPTables = 1024

// MaxRetentionDays bounds [PurposeRule.RetentionDays] (about 100 years).
const MaxRetentionDays = 36500

var (
	knownPurposes  = []string{PurposeAggregate, PurposeReferral, PurposeTracing, PurposeTransfer}
	knownRetention = []string{RetentionFull, RetentionNone, RetentionStub}
	riskRank       = map[string]int{RiskLow: 1, RiskMedium: 2, RiskHigh: 3}

	ispIDPattern  = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	namePattern   = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	keyFPPattern  = regexp.MustCompile(`^[A-Za-z0-9._:+/=-]{1,256}$`)
	maxTextLength = 200
)

// ISP is an information-sharing protocol: a signed, versioned agreement
// between named agencies saying, per purpose, who may send which case
// data to whom, under which consent, kept how long. The document format
// is described in docs/isp.md; [ParseISP] reads it and [ISP.Marshal]
// writes it.
type ISP struct {
	// Format is [ISPFormat].
	Format string
	// ID is the stable id of the agreement, the same in every version.
	ID string
	// Version increases with every change; it is at least 1.
	Version uint32
	// Title is a one-line human-readable name.
	Title string
	// ValidFrom and ValidUntil bound the period in which the ISP is in
	// force, both inclusive. [ParseISP] returns them in UTC.
	ValidFrom, ValidUntil time.Time
	// Parties are the agencies bound by the ISP, each with the
	// fingerprint of the agency signing key it signs with.
	Parties []Party
	// Purposes holds at most one rule per purpose.
	Purposes []PurposeRule
	// Signatures are the parties' signatures over [ISP.SigningBytes].
	Signatures []ISPSignature
}

// Party is an agency bound by an ISP.
type Party struct {
	// Agency is the agency id, e.g. "save-the-children-so" or
	// "unicef-so/hargeisa".
	Agency string
	// Name is the agency's display name.
	Name string
	// SigningKey is the fingerprint of the agency signing key the party
	// signs the ISP with.
	SigningKey string
}

// PurposeRule says who may send what to whom for one purpose.
type PurposeRule struct {
	// Name is the purpose: referral, transfer, tracing or aggregate.
	Name string
	// From and To list the parties that may send and receive; [AnyParty]
	// stands for every party.
	From, To []string
	// RequiredConsent are case tick-box fields that must be true.
	RequiredConsent []string
	// Forms are whole forms that may go, expanded to their fields by the
	// resolver passed to [ISP.Evaluate].
	Forms []string
	// Fields are individual fields that may go.
	Fields []string
	// Withheld fields never go, even when a listed form holds them.
	Withheld []string
	// Retention applies to transfers only: what the sender keeps after
	// acceptance, one of [RetentionFull], [RetentionStub],
	// [RetentionNone]. It is required on a transfer rule.
	Retention string
	// RetentionDays is how long the receiver may keep the data after the
	// exchange is done; 0 means no limit. Not allowed on transfers (the
	// receiver owns a transferred case).
	RetentionDays int
	// Conditions narrow when the rule applies.
	Conditions Conditions
	// Aggregate holds the terms of the aggregate purpose (reports or
	// dimensions, threshold, protection interval, frequency); empty on
	// the other purposes.
	Aggregate AggregateTerms
	// Tracing holds the terms of the tracing purpose (the query rate);
	// empty on the other purposes.
	Tracing TracingTerms
}

// Conditions narrow when a purpose rule applies.
type Conditions struct {
	// MaxRiskLevel, if set, is the highest risk level (low, medium, high)
	// of a case the rule lets go.
	MaxRiskLevel string
	// ConsentOverrideRoles are the role ids that may send without the
	// required consent; every override is reported in the decision so
	// that it is audited.
	ConsentOverrideRoles []string
}

// ISPSignature is one party's signature over [ISP.SigningBytes]: an
// Ed25519 and an ML-DSA-65 signature by the agency signing key whose
// fingerprint is Key. Both must verify.
type ISPSignature struct {
	Agency, Key      string
	Ed25519, MLDSA65 []byte
}

// label names an ISP in messages: "ISP so-cp-isp v3".
func (p *ISP) label() string {
	return fmt.Sprintf("ISP %s v%d", p.ID, p.Version)
}

func (p *ISP) party(agency string) (Party, bool) {
	for _, pt := range p.Parties {
		if pt.Agency == agency {
			return pt, true
		}
	}
	return Party{}, false
}

func (p *ISP) rule(purpose string) (*PurposeRule, bool) {
	for i := range p.Purposes {
		if p.Purposes[i].Name == purpose {
			return &p.Purposes[i], true
		}
	}
	return nil, false
}

// validAgency reports whether id is a well-formed agency id: lowercase
// letters, digits, '-' and '/', at most 64 bytes, '/' only between
// non-empty parts (the same rule as the node configuration's agency.id).
func validAgency(id string) bool {
	if id == "" || len(id) > 64 || strings.HasPrefix(id, "/") || strings.HasSuffix(id, "/") || strings.Contains(id, "//") {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '/') {
			return false
		}
	}
	return true
}

// validText reports whether s is a non-empty single line of printable
// text of at most maxTextLength characters.
func validText(s string) bool {
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxTextLength {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// problems collects validation problems, each naming the key. It keeps
// the first maxProblems and counts the rest, so that a large broken
// document does not produce a larger error.
type problems struct {
	errs []error
	more int
}

const maxProblems = 20

func (ps *problems) add(key, format string, args ...any) {
	if len(ps.errs) >= maxProblems {
		ps.more++
		return
	}
	ps.errs = append(ps.errs, fmt.Errorf("policy: isp: %s: %s: %w", key, fmt.Sprintf(format, args...), ErrInvalidISP))
}

func (ps *problems) any() bool { return len(ps.errs) > 0 }

func (ps *problems) err() error {
	errs := ps.errs
	if ps.more > 0 {
		errs = append(errs[:len(errs):len(errs)], fmt.Errorf("policy: isp: %d more problems not shown: %w", ps.more, ErrInvalidISP))
	}
	return errors.Join(errs...)
}

// Validate reports every problem with the ISP: missing or malformed keys,
// duplicate parties or purposes, an unknown purpose, empty or unknown
// from/to agencies, a validity period that ends before it starts,
// retention keys where they do not apply, malformed signatures. Each
// problem names the key and wraps [ErrInvalidISP]. A field that is both
// allowed and withheld is not a problem: withheld wins.
//
// Validate checks signatures only for their form; [ISP.FullySigned]
// decides whether they are the right ones and verify.
func (p *ISP) Validate() error {
	if p == nil {
		return fmt.Errorf("policy: isp: no document: %w", ErrInvalidISP)
	}
	var ps problems
	switch {
	case p.Format == "":
		ps.add("format", "required (%q)", ISPFormat)
	case p.Format != ISPFormat:
		ps.add("format", "%q is not supported; this node reads %q", p.Format, ISPFormat)
	}
	switch {
	case p.ID == "":
		ps.add("id", "required")
	case !ispIDPattern.MatchString(p.ID):
		ps.add("id", "%q: use 1 to 64 lowercase letters, digits, '.', '_' and '-', starting with a letter or digit", p.ID)
	}
	if p.Version == 0 {
		ps.add("version", "required, at least 1")
	}
	if !validText(p.Title) {
		ps.add("title", "required: one line of text, at most %d characters", maxTextLength)
	}
	switch {
	case p.ValidFrom.IsZero():
		ps.add("valid_from", "required")
	case p.ValidUntil.IsZero():
		ps.add("valid_until", "required")
	case p.ValidFrom.UTC().Year() > 9999 || p.ValidFrom.UTC().Year() < 1:
		ps.add("valid_from", "year %d is outside 1 to 9999", p.ValidFrom.UTC().Year())
	case p.ValidUntil.UTC().Year() > 9999 || p.ValidUntil.UTC().Year() < 1:
		ps.add("valid_until", "year %d is outside 1 to 9999", p.ValidUntil.UTC().Year())
	case !p.ValidUntil.After(p.ValidFrom):
		ps.add("valid_until", "%s is not after valid_from %s", fmtTime(p.ValidUntil), fmtTime(p.ValidFrom))
	}

	parties := map[string]bool{}
	keys := map[string]string{}
	if len(p.Parties) < 2 {
		ps.add("party", "an ISP needs at least two parties, found %d", len(p.Parties))
	}
	for i, pt := range p.Parties {
		key := itemKey("party", i, pt.Agency)
		switch {
		case pt.Agency == "":
			ps.add(key+".agency", "required")
		case !validAgency(pt.Agency):
			ps.add(key+".agency", "%q: use lowercase letters, digits, '-' and '/' (e.g. unicef-so/hargeisa), at most 64", pt.Agency)
		case parties[pt.Agency]:
			ps.add(key+".agency", "duplicate party %q", pt.Agency)
		}
		parties[pt.Agency] = true
		if !validText(pt.Name) {
			ps.add(key+".name", "required: one line of text, at most %d characters", maxTextLength)
		}
		switch {
		case pt.SigningKey == "":
			ps.add(key+".signing_key", "required")
		case !keyFPPattern.MatchString(pt.SigningKey):
			ps.add(key+".signing_key", "%q is not a key fingerprint (letters, digits and ._:+/=-, at most 256)", pt.SigningKey)
		case keys[pt.SigningKey] != "":
			ps.add(key+".signing_key", "the same key as party %q's; each party signs with its own key", keys[pt.SigningKey])
		default:
			keys[pt.SigningKey] = pt.Agency
		}
	}

	if len(p.Purposes) == 0 {
		ps.add("purpose", "an ISP needs at least one purpose rule")
	}
	seen := map[string]bool{}
	for i := range p.Purposes {
		r := &p.Purposes[i]
		key := itemKey("purpose", i, r.Name)
		switch {
		case r.Name == "":
			ps.add(key+".name", "required (one of %s)", strings.Join(knownPurposes, ", "))
		case !slices.Contains(knownPurposes, r.Name):
			ps.add(key+".name", "unknown purpose %q (use one of %s)", r.Name, strings.Join(knownPurposes, ", "))
		case seen[r.Name]:
			ps.add(key+".name", "duplicate purpose %q; one rule per purpose", r.Name)
		}
		seen[r.Name] = true
		checkAgencies(&ps, key+".from", r.From, parties)
		checkAgencies(&ps, key+".to", r.To, parties)
		checkNames(&ps, key+".required_consent", r.RequiredConsent)
		checkNames(&ps, key+".forms", r.Forms)
		checkNames(&ps, key+".fields", r.Fields)
		checkNames(&ps, key+".withheld", r.Withheld)
		if r.Name == PurposeTransfer {
			switch {
			case r.Retention == "":
				ps.add(key+".retention", "required on a transfer (one of %s)", strings.Join(knownRetention, ", "))
			case !slices.Contains(knownRetention, r.Retention):
				ps.add(key+".retention", "%q: use one of %s", r.Retention, strings.Join(knownRetention, ", "))
			}
			if r.RetentionDays != 0 {
				ps.add(key+".retention_days", "not allowed on a transfer: the receiver owns a transferred case")
			}
		} else {
			if r.Retention != "" {
				ps.add(key+".retention", "applies to transfers only")
			}
			if r.RetentionDays < 0 || r.RetentionDays > MaxRetentionDays {
				ps.add(key+".retention_days", "%d: use 0 (no limit) to %d", r.RetentionDays, MaxRetentionDays)
			}
		}
		r.Aggregate.validate(&ps, key, r.Name == PurposeAggregate)
		r.Tracing.validate(&ps, key, r.Name == PurposeTracing)
		if m := r.Conditions.MaxRiskLevel; m != "" && riskRank[m] == 0 {
			ps.add(key+".conditions.max_risk_level", "%q: use low, medium or high, or leave it empty", m)
		}
		roles := map[string]bool{}
		for _, role := range r.Conditions.ConsentOverrideRoles {
			k := key + ".conditions.consent_override_roles"
			switch {
			case !namePattern.MatchString(role):
				ps.add(k, "%q is not a role id", role)
			case roles[role]:
				ps.add(k, "duplicate role %q", role)
			}
			roles[role] = true
		}
	}

	for i, s := range p.Signatures {
		key := itemKey("signature", i, s.Agency)
		if !validAgency(s.Agency) {
			ps.add(key+".agency", "%q is not an agency id", s.Agency)
		}
		if !keyFPPattern.MatchString(s.Key) {
			ps.add(key+".key", "%q is not a key fingerprint", s.Key)
		}
		if len(s.Ed25519) == 0 {
			ps.add(key+".ed25519", "required")
		}
		if len(s.MLDSA65) == 0 {
			ps.add(key+".mldsa65", "required")
		}
	}
	return ps.err()
}

// itemKey names the i-th entry of an array of tables in messages:
// party[unicef-so], purpose[referral], or party[#2] (1-based) when the
// entry has no usable name.
func itemKey(array string, i int, name string) string {
	if name != "" && len(name) <= 64 && (validAgency(name) || namePattern.MatchString(name)) {
		return fmt.Sprintf("%s[%s]", array, name)
	}
	return fmt.Sprintf("%s[#%d]", array, i+1)
}

func checkAgencies(ps *problems, key string, list []string, parties map[string]bool) {
	if len(list) == 0 {
		ps.add(key, "required: list at least one party, or %q for every party", AnyParty)
		return
	}
	seen := map[string]bool{}
	for _, a := range list {
		switch {
		case a == AnyParty:
			if len(list) > 1 {
				ps.add(key, "%q already means every party; list nothing else", AnyParty)
			}
		case !validAgency(a):
			ps.add(key, "%q is not an agency id", a)
		case !parties[a]:
			ps.add(key, "%q is not a party of this ISP", a)
		case seen[a]:
			ps.add(key, "duplicate agency %q", a)
		}
		seen[a] = true
	}
}

func checkNames(ps *problems, key string, list []string) {
	seen := map[string]bool{}
	for _, n := range list {
		switch {
		case !namePattern.MatchString(n):
			ps.add(key, "%q is not a form or field name (lowercase letters, digits and '_', starting with a letter, at most 64)", n)
		case seen[n]:
			ps.add(key, "duplicate %q", n)
		}
		seen[n] = true
	}
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// cloneRule returns a deep copy of r.
func cloneRule(r *PurposeRule) *PurposeRule {
	c := *r
	c.From = slices.Clone(r.From)
	c.To = slices.Clone(r.To)
	c.RequiredConsent = slices.Clone(r.RequiredConsent)
	c.Forms = slices.Clone(r.Forms)
	c.Fields = slices.Clone(r.Fields)
	c.Withheld = slices.Clone(r.Withheld)
	c.Conditions.ConsentOverrideRoles = slices.Clone(r.Conditions.ConsentOverrideRoles)
	c.Aggregate.Reports = slices.Clone(r.Aggregate.Reports)
	c.Aggregate.Dimensions = slices.Clone(r.Aggregate.Dimensions)
	return &c
}
