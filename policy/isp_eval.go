package policy

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Outcomes of a field in an [ISPDecision].
const (
	OutcomeSend       = "send"        // the field goes
	OutcomeWithheld   = "withheld"    // the ISP withholds the field
	OutcomeNotAllowed = "not_allowed" // the field is outside the projection
)

// Request asks whether a case may go from one agency to another under an
// ISP, and which of its fields.
type Request struct {
	// From and To are the sending and receiving agencies; Purpose is the
	// rule asked for (referral, transfer, tracing, aggregate).
	From, To, Purpose string
	// Now is the time of the exchange; the package has no clock.
	Now time.Time
	// Fields is the case's form data, keyed by top-level field. Subform
	// values go whole or not at all.
	Fields map[string]any
	// RiskLevel is the case's risk level (low, medium, high), checked
	// against [Conditions.MaxRiskLevel].
	RiskLevel string
	// Role is the sender's role id, checked against
	// [Conditions.ConsentOverrideRoles]. Whether the user holds the role
	// and may override consent at all is [Authorize]'s business
	// ([ActionConsentOverride]).
	Role string
	// OverrideConsent asks to send although required consent is not
	// recorded.
	OverrideConsent bool
}

// FieldDecision is the outcome for one field of the case.
type FieldDecision struct {
	Field string
	// Outcome is [OutcomeSend], [OutcomeWithheld] or [OutcomeNotAllowed].
	Outcome string
	// Reason names the ISP and version, e.g. "withheld by ISP so-cp-isp v3".
	Reason string
}

// ISPDecision is the outcome of [ISP.Evaluate].
type ISPDecision struct {
	Allowed bool
	// Reason explains a denial in words a caseworker can act on, naming
	// the ISP and version. When allowed it is empty, except after a
	// consent override, where it says which consent was overridden by
	// which role (for the audit log).
	Reason string
	// ConsentOverridden is true when the exchange is allowed only because
	// an authorised role overrode missing consent; audit it.
	ConsentOverridden bool
	// Send is the projection of the case: the fields that go, with their
	// values (not copied). Nil when denied.
	Send map[string]any
	// Fields lists every field of the case with its outcome, sorted by
	// field. Nil when denied.
	Fields []FieldDecision
	// Rule is a copy of the purpose rule applied, or nil if the ISP has
	// none for the purpose.
	Rule *PurposeRule
}

// Evaluate decides whether req may go under the ISP and projects the case
// onto what the ISP lets go. It denies by default; the checks, in order:
//
//  1. the ISP is valid and req.Now lies within [ValidFrom, ValidUntil];
//  2. the ISP has a rule for req.Purpose;
//  3. req.From and req.To are parties, req.From is in the rule's from
//     list and req.To in its to list ("*" stands for every party);
//  4. the rule's conditions hold (risk level at most max_risk_level,
//     ordered low < medium < high; an unknown or missing risk level
//     fails the condition);
//  5. every required consent field is the boolean true in req.Fields,
//     or else req.OverrideConsent is set and req.Role is one of the
//     rule's consent_override_roles (then the decision is allowed with
//     ConsentOverridden).
//
// The projection is (the fields of the listed forms, from formFields, ∪
// the listed fields) − withheld. Only fields present in the case go. A
// field whose value (a subform) holds a withheld field at any depth is
// withheld whole. formFields may be nil when the rule lists no forms; a
// form it does not know contributes nothing.
func (p *ISP) Evaluate(req Request, formFields func(form string) []string) ISPDecision {
	if p == nil {
		return ISPDecision{Reason: "no ISP applies; the agencies must agree and sign one before any case data can go"}
	}
	if err := p.Validate(); err != nil {
		return ISPDecision{Reason: fmt.Sprintf("%s is invalid and allows nothing; ask the information-management officer to fix it: %v", p.label(), err)}
	}
	if req.Now.Before(p.ValidFrom) {
		return ISPDecision{Reason: fmt.Sprintf("%s is not in force before %s; wait until then or use another ISP", p.label(), fmtTime(p.ValidFrom))}
	}
	if req.Now.After(p.ValidUntil) {
		return ISPDecision{Reason: fmt.Sprintf("%s expired at %s; the parties must sign a renewed version", p.label(), fmtTime(p.ValidUntil))}
	}
	r, ok := p.rule(req.Purpose)
	if !ok {
		var have []string
		for _, pr := range p.Purposes {
			have = append(have, pr.Name)
		}
		return ISPDecision{Reason: fmt.Sprintf("%s has no rule for purpose %q (it covers %s)", p.label(), req.Purpose, strings.Join(have, ", "))}
	}
	d := ISPDecision{Rule: cloneRule(r)}
	denied := func(format string, args ...any) ISPDecision {
		d.Reason = fmt.Sprintf(format, args...)
		return d
	}
	if _, ok := p.party(req.From); !ok {
		return denied("sending agency %q is not a party to %s", req.From, p.label())
	}
	if _, ok := p.party(req.To); !ok {
		return denied("receiving agency %q is not a party to %s; choose a recipient among its parties", req.To, p.label())
	}
	if !listed(r.From, req.From) {
		return denied("%s does not let %q send for purpose %s (senders: %s)", p.label(), req.From, r.Name, strings.Join(r.From, ", "))
	}
	if !listed(r.To, req.To) {
		return denied("%s does not let %q receive for purpose %s (recipients: %s)", p.label(), req.To, r.Name, strings.Join(r.To, ", "))
	}
	if m := r.Conditions.MaxRiskLevel; m != "" {
		rank, ok := riskRank[req.RiskLevel]
		switch {
		case !ok && req.RiskLevel == "":
			return denied("%s allows %s only for cases of risk level up to %s, and the case has no risk level; assess and record it first",
				p.label(), r.Name, m)
		case !ok:
			return denied("%s allows %s only for cases of risk level up to %s, and the case's risk level %q is not one of low, medium, high",
				p.label(), r.Name, m, req.RiskLevel)
		case rank > riskRank[m]:
			return denied("%s allows %s only for cases of risk level up to %s; this case's risk level is %s",
				p.label(), r.Name, m, req.RiskLevel)
		}
	}
	var missing []string
	for _, c := range r.RequiredConsent {
		if v, ok := req.Fields[c]; !ok || v != true {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		roles := r.Conditions.ConsentOverrideRoles
		need := fmt.Sprintf("%s requires %s to be true on the case for %s; not recorded: %s",
			p.label(), strings.Join(r.RequiredConsent, ", "), r.Name, strings.Join(missing, ", "))
		switch {
		case req.OverrideConsent && slices.Contains(roles, req.Role):
			d.ConsentOverridden = true
			d.Reason = fmt.Sprintf("consent overridden by role %q: %s", req.Role, need)
		case req.OverrideConsent && len(roles) == 0:
			return denied("%s; %s allows no consent override for %s", need, p.label(), r.Name)
		case req.OverrideConsent:
			return denied("%s; role %q may not override consent under it (roles that may: %s)", need, req.Role, strings.Join(roles, ", "))
		case len(roles) == 0:
			return denied("%s; record the consent first", need)
		default:
			return denied("%s; record the consent first, or ask a user with role %s to override it", need, strings.Join(roles, " or "))
		}
	}

	proj := r.projection(formFields)
	d.Allowed = true
	d.Send = map[string]any{}
	d.Fields = make([]FieldDecision, 0, len(req.Fields))
	for _, f := range slices.Sorted(maps.Keys(req.Fields)) {
		v := req.Fields[f]
		fd := proj.decide(p, r.Name, f, v)
		if fd.Outcome == OutcomeSend {
			d.Send[f] = v
		}
		d.Fields = append(d.Fields, fd)
	}
	return d
}

// listed reports whether agency is in list, where AnyParty matches any.
func listed(list []string, agency string) bool {
	return slices.Contains(list, AnyParty) || slices.Contains(list, agency)
}

// projection is what a rule lets go: each allowed field with where it
// comes from, and the withheld fields.
type projection struct {
	allowed  map[string]string
	withheld map[string]bool
}

func (r *PurposeRule) projection(formFields func(string) []string) projection {
	pr := projection{allowed: map[string]string{}, withheld: map[string]bool{}}
	for _, w := range r.Withheld {
		pr.withheld[w] = true
	}
	if formFields != nil {
		for _, form := range r.Forms {
			for _, f := range formFields(form) {
				if _, ok := pr.allowed[f]; !ok {
					pr.allowed[f] = "form " + form
				}
			}
		}
	}
	for _, f := range r.Fields {
		pr.allowed[f] = "listed field"
	}
	return pr
}

func (pr projection) decide(p *ISP, purpose, field string, v any) FieldDecision {
	switch {
	case pr.withheld[field]:
		return FieldDecision{field, OutcomeWithheld, "withheld by " + p.label()}
	case pr.allowed[field] == "":
		return FieldDecision{field, OutcomeNotAllowed, fmt.Sprintf("not in the %s projection of %s", purpose, p.label())}
	}
	if inner, ok := nestedWithheld(v, pr.withheld, 0); ok {
		return FieldDecision{field, OutcomeWithheld, fmt.Sprintf("withheld by %s: it holds withheld field %s, and subforms go whole or not at all",
			p.label(), inner)}
	}
	return FieldDecision{field, OutcomeSend, fmt.Sprintf("in the %s projection of %s (%s)", purpose, p.label(), pr.allowed[field])}
}

// maxNesting bounds the search for withheld fields inside values; deeper
// values are treated as holding one (withheld whole).
const maxNesting = 16

// nestedWithheld reports the first (smallest) withheld field name found
// as a map key anywhere inside v.
func nestedWithheld(v any, withheld map[string]bool, depth int) (string, bool) {
	if len(withheld) == 0 {
		return "", false
	}
	if depth > maxNesting {
		return "(nested too deeply to check)", true
	}
	best, found := "", false
	note := func(name string, ok bool) {
		if ok && (!found || name < best) {
			best, found = name, true
		}
	}
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			note(k, withheld[k])
			note(nestedWithheld(x, withheld, depth+1))
		}
	case []map[string]any:
		for _, x := range t {
			note(nestedWithheld(x, withheld, depth+1))
		}
	case []any:
		for _, x := range t {
			note(nestedWithheld(x, withheld, depth+1))
		}
	}
	return best, found
}

// CheckProjection is the receiver's check: it refuses received data that
// holds any field the ISP does not let go from one agency to the other
// for the purpose, by the same projection as [ISP.Evaluate]. The error
// wraps [ErrOutsideProjection] and names every such field; it also wraps
// it when the ISP has no rule for the purpose or does not let from send
// to to. An invalid ISP gives an error wrapping [ErrInvalidISP]. Validity
// times and consent are the sender's checks and are not repeated here.
func CheckProjection(p *ISP, from, to, purpose string, received map[string]any, formFields func(string) []string) error {
	if err := p.Validate(); err != nil {
		return err
	}
	r, ok := p.rule(purpose)
	if !ok {
		return fmt.Errorf("policy: %s has no rule for purpose %q: %w", p.label(), purpose, ErrOutsideProjection)
	}
	_, fromOK := p.party(from)
	_, toOK := p.party(to)
	if !fromOK || !toOK || !listed(r.From, from) || !listed(r.To, to) {
		return fmt.Errorf("policy: %s does not let %q send to %q for purpose %s: %w", p.label(), from, to, purpose, ErrOutsideProjection)
	}
	proj := r.projection(formFields)
	var bad []string
	for _, f := range slices.Sorted(maps.Keys(received)) {
		switch fd := proj.decide(p, purpose, f, received[f]); fd.Outcome {
		case OutcomeWithheld:
			bad = append(bad, f+" (withheld)")
		case OutcomeNotAllowed:
			bad = append(bad, f+" (not in the projection)")
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("policy: %s, %s from %q to %q: %w: %s", p.label(), purpose, from, to, ErrOutsideProjection, strings.Join(bad, ", "))
	}
	return nil
}
