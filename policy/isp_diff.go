package policy

import (
	"fmt"
	"slices"
	"strings"
)

// Covers reports whether the ISP has a rule for purpose that lets party
// from send to party to, whatever the case. It says nothing of consent,
// conditions or fields: it is the check a follow-up message of an
// exchange (an acceptance, a completion) needs, which carries no case
// data. It returns nil or an error that says what is missing.
func (p *ISP) Covers(purpose, from, to string) error {
	r, ok := p.rule(purpose)
	switch {
	case !ok:
		return fmt.Errorf("%s has no rule for purpose %q", p.label(), purpose)
	case !p.isParty(from):
		return fmt.Errorf("%q is not a party to %s", from, p.label())
	case !p.isParty(to):
		return fmt.Errorf("%q is not a party to %s", to, p.label())
	case !listed(r.From, from) || !listed(r.To, to):
		return fmt.Errorf("%s does not cover %s from %s to %s", p.label(), purpose, from, to)
	}
	return nil
}

func (p *ISP) isParty(agency string) bool {
	_, ok := p.party(agency)
	return ok
}

// Diff describes, one line each, how next differs from prev: version,
// title, validity, parties and their keys, and each purpose rule. It
// ignores signatures. A nil prev describes next as new.
func Diff(prev, next *ISP) []string {
	if prev == nil {
		out := []string{fmt.Sprintf("new ISP %s version %d", next.ID, next.Version)}
		for _, pt := range next.Parties {
			out = append(out, fmt.Sprintf("party %s added", pt.Agency))
		}
		for _, r := range next.Purposes {
			out = append(out, fmt.Sprintf("purpose %s added", r.Name))
		}
		return out
	}
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if prev.Version != next.Version {
		add("version: %d → %d", prev.Version, next.Version)
	}
	if prev.Title != next.Title {
		add("title: %q → %q", prev.Title, next.Title)
	}
	if !prev.ValidFrom.Equal(next.ValidFrom) {
		add("valid_from: %s → %s", fmtTime(prev.ValidFrom), fmtTime(next.ValidFrom))
	}
	if !prev.ValidUntil.Equal(next.ValidUntil) {
		add("valid_until: %s → %s", fmtTime(prev.ValidUntil), fmtTime(next.ValidUntil))
	}
	for _, pt := range prev.Parties {
		n, ok := next.party(pt.Agency)
		switch {
		case !ok:
			add("party %s removed", pt.Agency)
		case n.SigningKey != pt.SigningKey:
			add("party %s: signing_key %s → %s", pt.Agency, pt.SigningKey, n.SigningKey)
		case n.Name != pt.Name:
			add("party %s: name %q → %q", pt.Agency, pt.Name, n.Name)
		}
	}
	for _, pt := range next.Parties {
		if !prev.isParty(pt.Agency) {
			add("party %s added", pt.Agency)
		}
	}
	for _, r := range prev.Purposes {
		n, ok := next.rule(r.Name)
		if !ok {
			add("purpose %s removed", r.Name)
			continue
		}
		for _, c := range ruleChanges(&r, n) {
			add("purpose %s: %s", r.Name, c)
		}
	}
	for _, r := range next.Purposes {
		if _, ok := prev.rule(r.Name); !ok {
			add("purpose %s added", r.Name)
		}
	}
	return out
}

// ruleChanges lists how rule b differs from rule a.
func ruleChanges(a, b *PurposeRule) []string {
	var out []string
	list := func(name string, x, y []string) {
		var plus, minus []string
		for _, v := range y {
			if !slices.Contains(x, v) {
				plus = append(plus, "+"+v)
			}
		}
		for _, v := range x {
			if !slices.Contains(y, v) {
				minus = append(minus, "-"+v)
			}
		}
		if ch := append(plus, minus...); len(ch) > 0 {
			out = append(out, name+" "+strings.Join(ch, " "))
		}
	}
	list("from", a.From, b.From)
	list("to", a.To, b.To)
	list("required_consent", a.RequiredConsent, b.RequiredConsent)
	list("forms", a.Forms, b.Forms)
	list("fields", a.Fields, b.Fields)
	list("withheld", a.Withheld, b.Withheld)
	list("consent_override_roles", a.Conditions.ConsentOverrideRoles, b.Conditions.ConsentOverrideRoles)
	list("reports", a.Aggregate.Reports, b.Aggregate.Reports)
	list("dimensions", a.Aggregate.Dimensions, b.Aggregate.Dimensions)
	if a.Aggregate.Threshold != b.Aggregate.Threshold {
		out = append(out, fmt.Sprintf("threshold %d → %d", a.Aggregate.Threshold, b.Aggregate.Threshold))
	}
	if a.Aggregate.ProtectionInterval != b.Aggregate.ProtectionInterval {
		out = append(out, fmt.Sprintf("protection_interval %d → %d", a.Aggregate.ProtectionInterval, b.Aggregate.ProtectionInterval))
	}
	if a.Tracing.QueriesPerMinute != b.Tracing.QueriesPerMinute {
		out = append(out, fmt.Sprintf("queries_per_minute %d → %d", a.Tracing.QueriesPerMinute, b.Tracing.QueriesPerMinute))
	}
	if a.Aggregate.Frequency != b.Aggregate.Frequency {
		out = append(out, fmt.Sprintf("frequency %q → %q", a.Aggregate.Frequency, b.Aggregate.Frequency))
	}
	if a.Retention != b.Retention {
		out = append(out, fmt.Sprintf("retention %q → %q", a.Retention, b.Retention))
	}
	if a.RetentionDays != b.RetentionDays {
		out = append(out, fmt.Sprintf("retention_days %d → %d", a.RetentionDays, b.RetentionDays))
	}
	if a.Conditions.MaxRiskLevel != b.Conditions.MaxRiskLevel {
		out = append(out, fmt.Sprintf("max_risk_level %q → %q", a.Conditions.MaxRiskLevel, b.Conditions.MaxRiskLevel))
	}
	return out
}

// RetentionDays returns how long a receiver may keep the data of an
// exchange for purpose once it is done (the rule's retention_days), and
// whether the ISP has a rule for it; 0 means no limit.
func (p *ISP) RetentionDays(purpose string) (int, bool) {
	r, ok := p.rule(purpose)
	if !ok {
		return 0, false
	}
	return r.RetentionDays, true
}
