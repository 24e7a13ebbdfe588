package policy_test

import (
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cpx-node/cpx/policy"
)

// testForms is the form resolver of the tests: a subset of the standard
// forms' top-level fields.
var testForms = map[string][]string{
	"registration":         {"name_first", "name_last", "name_other", "sex", "age", "date_of_birth", "telephone_current", "caregiver_telephone", "risk_level", "location_current"},
	"protection_concerns":  {"protection_concerns", "protection_concern_details"},
	"assessment":           {"assessment_needs", "assessment_summary"},
	"case_plan":            {"case_plan_goals", "services_section"},
	"family_details":       {"family_details_section"},
	"data_confidentiality": {"consent_for_services", "disclosure_other_orgs", "consent_for_tracing"},
}

func formFields(form string) []string { return testForms[form] }

func sampleCaseData() map[string]any {
	return map[string]any{
		"consent_for_services":       true,
		"disclosure_other_orgs":      true,
		"consent_for_tracing":        true,
		"name_first":                 "Amina",
		"name_other":                 "Ami",
		"sex":                        "female",
		"age":                        11,
		"telephone_current":          "+252 61 000 0000",
		"risk_level":                 "low",
		"protection_concerns":        []any{"separated"},
		"protection_concern_details": "details",
		"assessment_needs":           []any{"psychosocial"},
		"assessment_summary":         "summary",
		"case_plan_goals":            "goals",
		"family_details_section": []any{
			map[string]any{"relation_name": "Halima", "relation": "mother", "relation_telephone": "+252 61 111 1111"},
		},
	}
}

var (
	inForce     = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	referralReq = policy.Request{
		From: "save-the-children-so", To: "irc-so", Purpose: "referral",
		Now: inForce, RiskLevel: "low", Role: "caseworker",
	}
)

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name       string
		modify     func(*policy.Request)
		isp        func(*policy.ISP) // optional change of the example ISP
		resolver   func(string) []string
		noResolver bool // pass a nil resolver
		allowed    bool
		overridden bool
		reason     string   // substring of the reason; "" means the reason must be empty
		send       []string // the fields sent, sorted
	}{
		{name: "allowed referral", allowed: true,
			send: []string{"age", "assessment_needs", "name_first", "protection_concerns", "risk_level", "sex"}},
		{name: "second sender", modify: func(r *policy.Request) { r.From = "unicef-so" }, allowed: true,
			send: []string{"age", "assessment_needs", "name_first", "protection_concerns", "risk_level", "sex"}},
		{name: "wrong direction", modify: func(r *policy.Request) { r.From, r.To = "irc-so", "save-the-children-so" },
			reason: `ISP so-cp-isp v3 does not let "irc-so" send for purpose referral (senders: save-the-children-so, unicef-so)`},
		{name: "recipient not in to", modify: func(r *policy.Request) { r.To = "unicef-so" },
			reason: `ISP so-cp-isp v3 does not let "unicef-so" receive for purpose referral (recipients: irc-so)`},
		{name: "non-party sender under *", modify: func(r *policy.Request) { r.Purpose, r.From = "tracing", "wfp-so" },
			reason: `sending agency "wfp-so" is not a party to ISP so-cp-isp v3`},
		{name: "non-party recipient under *", modify: func(r *policy.Request) { r.Purpose, r.To = "tracing", "wfp-so" },
			reason: `receiving agency "wfp-so" is not a party to ISP so-cp-isp v3`},
		{name: "any party under *", modify: func(r *policy.Request) { r.Purpose, r.From, r.To = "tracing", "moswa-so", "unicef-so" },
			allowed: true, send: []string{"age", "sex"}},
		{name: "not yet valid", modify: func(r *policy.Request) { r.Now = time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC) },
			reason: "ISP so-cp-isp v3 is not in force before 2026-01-01T00:00:00Z"},
		{name: "first second", modify: func(r *policy.Request) { r.Now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) },
			allowed: true, send: []string{"age", "assessment_needs", "name_first", "protection_concerns", "risk_level", "sex"}},
		{name: "last second", modify: func(r *policy.Request) { r.Now = time.Date(2027, 12, 31, 23, 59, 59, 0, time.UTC) },
			allowed: true, send: []string{"age", "assessment_needs", "name_first", "protection_concerns", "risk_level", "sex"}},
		{name: "expired", modify: func(r *policy.Request) { r.Now = time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC) },
			reason: "ISP so-cp-isp v3 expired at 2027-12-31T23:59:59Z; the parties must sign a renewed version"},
		{name: "zero time", modify: func(r *policy.Request) { r.Now = time.Time{} }, reason: "not in force before"},
		{name: "undefined purpose", modify: func(r *policy.Request) { r.Purpose = "marketing" },
			reason: `ISP so-cp-isp v3 has no rule for purpose "marketing" (it covers referral, transfer, tracing, aggregate)`},
		{name: "missing consent", modify: func(r *policy.Request) { r.Fields["disclosure_other_orgs"] = false },
			reason: "ISP so-cp-isp v3 requires consent_for_services, disclosure_other_orgs to be true on the case for referral; not recorded: disclosure_other_orgs; record the consent first, or ask a user with role supervisor or dpo to override it"},
		{name: "consent absent", modify: func(r *policy.Request) { delete(r.Fields, "consent_for_services") },
			reason: "not recorded: consent_for_services;"},
		{name: "consent not a boolean", modify: func(r *policy.Request) { r.Fields["consent_for_services"] = "true" },
			reason: "not recorded: consent_for_services;"},
		{name: "override by supervisor", modify: func(r *policy.Request) {
			r.Fields["disclosure_other_orgs"] = false
			r.Role, r.OverrideConsent = "supervisor", true
		}, allowed: true, overridden: true,
			reason: `consent overridden by role "supervisor": ISP so-cp-isp v3 requires consent_for_services, disclosure_other_orgs to be true on the case for referral; not recorded: disclosure_other_orgs`,
			send:   []string{"age", "assessment_needs", "name_first", "protection_concerns", "risk_level", "sex"}},
		{name: "override by caseworker", modify: func(r *policy.Request) {
			r.Fields["disclosure_other_orgs"] = false
			r.OverrideConsent = true
		}, reason: `role "caseworker" may not override consent under it (roles that may: supervisor, dpo)`},
		{name: "override role without asking", modify: func(r *policy.Request) {
			r.Fields["disclosure_other_orgs"] = false
			r.Role = "supervisor"
		}, reason: "record the consent first"},
		{name: "override not needed", modify: func(r *policy.Request) { r.Role, r.OverrideConsent = "supervisor", true },
			allowed: true, send: []string{"age", "assessment_needs", "name_first", "protection_concerns", "risk_level", "sex"}},
		{name: "no override under the rule", modify: func(r *policy.Request) {
			r.Purpose, r.From, r.To = "tracing", "irc-so", "unicef-so"
			r.Fields["consent_for_tracing"] = false
			r.Role, r.OverrideConsent = "supervisor", true
		}, reason: "ISP so-cp-isp v3 allows no consent override for tracing"},
		{name: "risk medium allowed", modify: func(r *policy.Request) { r.RiskLevel = "medium" }, allowed: true,
			send: []string{"age", "assessment_needs", "name_first", "protection_concerns", "risk_level", "sex"}},
		{name: "risk high denied", modify: func(r *policy.Request) { r.RiskLevel = "high" },
			reason: "ISP so-cp-isp v3 allows referral only for cases of risk level up to medium; this case's risk level is high"},
		{name: "risk high denied even with override", modify: func(r *policy.Request) {
			r.RiskLevel, r.Role, r.OverrideConsent = "high", "supervisor", true
		}, reason: "risk level up to medium"},
		{name: "risk missing", modify: func(r *policy.Request) { r.RiskLevel = "" },
			reason: "the case has no risk level; assess and record it first"},
		{name: "risk unknown", modify: func(r *policy.Request) { r.RiskLevel = "severe" },
			reason: `the case's risk level "severe" is not one of low, medium, high`},
		{name: "no risk condition on transfer", modify: func(r *policy.Request) {
			r.Purpose, r.From, r.RiskLevel = "transfer", "irc-so", "high"
			r.To = "save-the-children-so"
		}, allowed: true,
			send: []string{"age", "assessment_needs", "assessment_summary", "case_plan_goals", "name_first", "name_other",
				"protection_concern_details", "protection_concerns", "risk_level", "sex", "telephone_current"}},
		{name: "withheld wins over a listed field", isp: func(p *policy.ISP) {
			p.Purposes[0].Fields = append(p.Purposes[0].Fields, "name_other", "telephone_current")
		}, allowed: true,
			send: []string{"age", "assessment_needs", "name_first", "protection_concerns", "risk_level", "sex"}},
		{name: "forms expand through the resolver", isp: func(p *policy.ISP) {
			p.Purposes[0].Forms = []string{"assessment", "case_plan"}
		}, allowed: true, send: []string{"assessment_needs", "assessment_summary", "case_plan_goals"}},
		{name: "no resolver: listed fields only", resolver: func(string) []string { return nil }, allowed: true,
			send: []string{"assessment_needs"}},
		{name: "nil resolver", noResolver: true, allowed: true, send: []string{"assessment_needs"}},
		{name: "subform goes whole", isp: func(p *policy.ISP) {
			p.Purposes[0].Fields = append(p.Purposes[0].Fields, "family_details_section")
		}, allowed: true,
			send: []string{"age", "assessment_needs", "family_details_section", "name_first", "protection_concerns", "risk_level", "sex"}},
		{name: "aggregate sends no case fields", modify: func(r *policy.Request) {
			r.Purpose, r.To = "aggregate", "moswa-so"
		}, allowed: true, send: []string{}},
		{name: "invalid ISP allows nothing", isp: func(p *policy.ISP) { p.Purposes[0].From = nil },
			reason: "ISP so-cp-isp v3 is invalid and allows nothing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := parseExample(t)
			if tt.isp != nil {
				tt.isp(p)
			}
			req := referralReq
			req.Fields = sampleCaseData()
			if tt.modify != nil {
				tt.modify(&req)
			}
			resolver := tt.resolver
			if resolver == nil && !tt.noResolver {
				resolver = formFields
			}
			d := p.Evaluate(req, resolver)
			if d.Allowed != tt.allowed {
				t.Fatalf("Allowed = %v (%q), want %v", d.Allowed, d.Reason, tt.allowed)
			}
			if d.ConsentOverridden != tt.overridden {
				t.Errorf("ConsentOverridden = %v, want %v", d.ConsentOverridden, tt.overridden)
			}
			switch {
			case tt.reason == "" && d.Reason != "":
				t.Errorf("Reason = %q, want none", d.Reason)
			case !strings.Contains(d.Reason, tt.reason):
				t.Errorf("Reason = %q\nwant it to contain %q", d.Reason, tt.reason)
			}
			if !tt.allowed {
				if d.Send != nil || d.Fields != nil {
					t.Errorf("denied with Send %v and Fields %v, want none", d.Send, d.Fields)
				}
				return
			}
			if got := slices.Sorted(maps.Keys(d.Send)); !slices.Equal(got, tt.send) {
				t.Errorf("Send = %q\nwant   %q", got, tt.send)
			}
			for k, v := range d.Send {
				if !reflect.DeepEqual(v, req.Fields[k]) {
					t.Errorf("Send[%q] = %v, want the case's value %v", k, v, req.Fields[k])
				}
			}
			if d.Rule == nil || d.Rule.Name != req.Purpose {
				t.Errorf("Rule = %+v, want the %s rule", d.Rule, req.Purpose)
			}
			checkFieldDecisions(t, d, req.Fields)
		})
	}
}

// checkFieldDecisions checks that d.Fields lists every case field once,
// sorted, and agrees with d.Send.
func checkFieldDecisions(t *testing.T, d policy.ISPDecision, fields map[string]any) {
	t.Helper()
	var names []string
	for _, fd := range d.Fields {
		names = append(names, fd.Field)
		_, sent := d.Send[fd.Field]
		if sent != (fd.Outcome == policy.OutcomeSend) {
			t.Errorf("field %q: outcome %q, but in Send = %v", fd.Field, fd.Outcome, sent)
		}
		switch fd.Outcome {
		case policy.OutcomeSend, policy.OutcomeWithheld, policy.OutcomeNotAllowed:
		default:
			t.Errorf("field %q: unknown outcome %q", fd.Field, fd.Outcome)
		}
		if fd.Reason == "" {
			t.Errorf("field %q: no reason", fd.Field)
		}
	}
	if want := slices.Sorted(maps.Keys(fields)); !slices.Equal(names, want) {
		t.Errorf("Fields lists %q\nwant %q", names, want)
	}
}

func TestEvaluateFieldReasons(t *testing.T) {
	p := parseExample(t)
	req := referralReq
	req.Fields = sampleCaseData()
	d := p.Evaluate(req, formFields)
	want := map[string]policy.FieldDecision{
		"name_other":            {"name_other", "withheld", "withheld by ISP so-cp-isp v3"},
		"case_plan_goals":       {"case_plan_goals", "not_allowed", "not in the referral projection of ISP so-cp-isp v3"},
		"sex":                   {"sex", "send", "in the referral projection of ISP so-cp-isp v3 (form registration)"},
		"assessment_needs":      {"assessment_needs", "send", "in the referral projection of ISP so-cp-isp v3 (listed field)"},
		"disclosure_other_orgs": {"disclosure_other_orgs", "not_allowed", "not in the referral projection of ISP so-cp-isp v3"},
	}
	for _, fd := range d.Fields {
		if w, ok := want[fd.Field]; ok && fd != w {
			t.Errorf("field decision = %+v, want %+v", fd, w)
		}
	}

	// A subform whose rows hold a withheld field is withheld whole.
	req.Purpose, req.From, req.To = "transfer", "irc-so", "save-the-children-so"
	d = p.Evaluate(req, formFields)
	i := slices.IndexFunc(d.Fields, func(fd policy.FieldDecision) bool { return fd.Field == "family_details_section" })
	if i < 0 {
		t.Fatal("no decision for family_details_section")
	}
	if got, want := d.Fields[i], (policy.FieldDecision{"family_details_section", "withheld",
		"withheld by ISP so-cp-isp v3: it holds withheld field relation_telephone, and subforms go whole or not at all"}); got != want {
		t.Errorf("subform decision = %+v\nwant %+v", got, want)
	}
}

func TestEvaluateDoesNotShareRule(t *testing.T) {
	p := parseExample(t)
	req := referralReq
	req.Fields = sampleCaseData()
	d := p.Evaluate(req, formFields)
	d.Rule.Withheld[0] = "changed"
	if p.Purposes[0].Withheld[0] == "changed" {
		t.Error("changing Decision.Rule changed the ISP")
	}
	var nilISP *policy.ISP
	if d := nilISP.Evaluate(req, formFields); d.Allowed || d.Reason == "" {
		t.Errorf("nil ISP: %+v, want a denial with a reason", d)
	}
}

func TestCheckProjection(t *testing.T) {
	p := parseExample(t)
	ok := map[string]any{"sex": "female", "assessment_needs": []any{"psychosocial"}}
	tests := []struct {
		name              string
		from, to, purpose string
		received          map[string]any
		want              string // substring of the error; "" means accepted
	}{
		{"accepted", "save-the-children-so", "irc-so", "referral", ok, ""},
		{"empty", "save-the-children-so", "irc-so", "referral", nil, ""},
		{"withheld and unknown", "save-the-children-so", "irc-so", "referral",
			map[string]any{"sex": "f", "name_other": "x", "case_plan_goals": "y"},
			`ISP so-cp-isp v3, referral from "save-the-children-so" to "irc-so": data outside the ISP projection: case_plan_goals (not in the projection), name_other (withheld)`},
		{"subform with withheld inner field", "irc-so", "save-the-children-so", "transfer",
			map[string]any{"family_details_section": []any{map[string]any{"relation_telephone": "1"}}},
			"family_details_section (withheld)"},
		{"wrong direction", "irc-so", "save-the-children-so", "referral", ok,
			`ISP so-cp-isp v3 does not let "irc-so" send to "save-the-children-so" for purpose referral`},
		{"non-party", "wfp-so", "irc-so", "tracing", map[string]any{"sex": "f"},
			`does not let "wfp-so" send to "irc-so"`},
		{"no rule", "save-the-children-so", "irc-so", "marketing", ok, `has no rule for purpose "marketing"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := policy.CheckProjection(p, tt.from, tt.to, tt.purpose, tt.received, formFields)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckProjection = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CheckProjection = %v\nwant error containing %q", err, tt.want)
			}
			if !errors.Is(err, policy.ErrOutsideProjection) {
				t.Errorf("CheckProjection = %v, want it to wrap ErrOutsideProjection", err)
			}
		})
	}
	if err := policy.CheckProjection(nil, "a", "b", "referral", nil, formFields); !errors.Is(err, policy.ErrInvalidISP) {
		t.Errorf("CheckProjection(nil ISP) = %v, want ErrInvalidISP", err)
	}
}
