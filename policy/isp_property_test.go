package policy_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cpx-node/cpx/policy"
)

// The universe the random ISPs and cases are drawn from.
var (
	propAgencies = []string{"a", "b", "c", "d", "e", "unicef-so/hargeisa"}
	propForms    = map[string][]string{
		"f1": {"x1", "x2", "x3", "shared"},
		"f2": {"y1", "y2", "shared", "sub1"},
		"f3": {"z1", "sub2"},
		"f4": nil, // a form the node does not know
	}
	propFields  = []string{"x1", "x2", "x3", "y1", "y2", "z1", "shared", "sub1", "sub2", "loose1", "loose2", "inner1", "inner2", "c1", "c2"}
	propConsent = []string{"c1", "c2"}
	propRoles   = []string{"caseworker", "supervisor", "dpo"}
	propRisk    = []string{"", "low", "medium", "high", "severe"}
	propNames   = []string{"referral", "transfer", "tracing", "aggregate"}
	propFrom    = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	propUntil   = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
)

func propFormFields(form string) []string { return propForms[form] }

func subset[T any](r *rand.Rand, from []T, p float64) []T {
	var out []T
	for _, x := range from {
		if r.Float64() < p {
			out = append(out, x)
		}
	}
	return out
}

func randomISP(r *rand.Rand) *policy.ISP {
	p := &policy.ISP{
		Format: policy.ISPFormat, ID: "prop", Version: uint32(1 + r.IntN(100)), Title: "Property ISP",
		ValidFrom: propFrom, ValidUntil: propUntil,
	}
	agencies := slices.Clone(propAgencies)
	r.Shuffle(len(agencies), func(i, j int) { agencies[i], agencies[j] = agencies[j], agencies[i] })
	parties := agencies[:2+r.IntN(len(agencies)-1)]
	for _, a := range parties {
		p.Parties = append(p.Parties, policy.Party{Agency: a, Name: "Agency " + a, SigningKey: "key-" + strings.ReplaceAll(a, "/", "-")})
	}
	pick := func() []string {
		if r.IntN(4) == 0 {
			return []string{policy.AnyParty}
		}
		s := subset(r, parties, 0.5)
		if len(s) == 0 {
			s = parties[:1]
		}
		return s
	}
	forms := []string{"f1", "f2", "f3", "f4"}
	for _, name := range subset(r, propNames, 0.6) {
		rule := policy.PurposeRule{
			Name:            name,
			From:            pick(),
			To:              pick(),
			RequiredConsent: subset(r, propConsent, 0.4),
			Forms:           subset(r, forms, 0.4),
			Fields:          subset(r, propFields, 0.25),
			Withheld:        subset(r, propFields, 0.2),
		}
		if name == policy.PurposeTransfer {
			rule.Retention = []string{"full", "stub", "none"}[r.IntN(3)]
		} else {
			rule.RetentionDays = r.IntN(3) * 30
		}
		rule.Conditions.MaxRiskLevel = propRisk[r.IntN(4)]
		rule.Conditions.ConsentOverrideRoles = subset(r, propRoles, 0.4)
		p.Purposes = append(p.Purposes, rule)
	}
	if len(p.Purposes) == 0 {
		p.Purposes = []policy.PurposeRule{{Name: "referral", From: []string{"*"}, To: []string{"*"}, Fields: []string{"x1"}}}
	}
	return p
}

// randomValue returns a scalar, or a subform whose rows may hold any
// field name, withheld ones included.
func randomValue(r *rand.Rand, depth int) any {
	switch n := r.IntN(6); {
	case n == 0 && depth < 3:
		var rows []any
		for range r.IntN(3) {
			row := map[string]any{}
			for _, f := range subset(r, propFields, 0.15) {
				row[f] = randomValue(r, depth+1)
			}
			rows = append(rows, row)
		}
		return rows
	case n == 1 && depth < 3:
		row := map[string]any{}
		for _, f := range subset(r, propFields, 0.15) {
			row[f] = randomValue(r, depth+1)
		}
		return row
	case n == 2:
		return r.IntN(2) == 0
	case n == 3:
		return r.IntN(100)
	default:
		return fmt.Sprintf("v%d", r.IntN(1000))
	}
}

func randomRequest(r *rand.Rand, p *policy.ISP) policy.Request {
	agency := func() string {
		if r.IntN(10) == 0 {
			return "outsider"
		}
		return p.Parties[r.IntN(len(p.Parties))].Agency
	}
	req := policy.Request{
		From:            agency(),
		To:              agency(),
		Purpose:         propNames[r.IntN(len(propNames))],
		Now:             propFrom.Add(time.Duration(r.Int64N(int64(propUntil.Sub(propFrom)) * 11 / 10))),
		RiskLevel:       propRisk[r.IntN(len(propRisk))],
		Role:            propRoles[r.IntN(len(propRoles))],
		OverrideConsent: r.IntN(3) == 0,
		Fields:          map[string]any{},
	}
	if r.IntN(2) == 0 {
		// Aim at a rule: a purpose it covers, a sender and a recipient it lists.
		rule := p.Purposes[r.IntN(len(p.Purposes))]
		member := func(list []string) string {
			if list[0] == policy.AnyParty {
				return p.Parties[r.IntN(len(p.Parties))].Agency
			}
			return list[r.IntN(len(list))]
		}
		req.Purpose, req.From, req.To = rule.Name, member(rule.From), member(rule.To)
	}
	for _, f := range subset(r, propFields, 0.6) {
		req.Fields[f] = randomValue(r, 0)
	}
	for _, c := range propConsent {
		if r.IntN(4) != 0 {
			req.Fields[c] = true
		}
	}
	return req
}

// holdsName reports whether name is a map key anywhere inside v.
func holdsName(v any, names map[string]bool) bool {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if names[k] || holdsName(x, names) {
				return true
			}
		}
	case []any:
		for _, x := range t {
			if holdsName(x, names) {
				return true
			}
		}
	}
	return false
}

// TestEvaluateProperties checks, over random ISPs and cases, that no field
// outside the projection and no withheld field (at any depth) is ever
// sent, that every field inside it is, and that the receiver's
// CheckProjection accepts every Send and refuses it with one field more.
func TestEvaluateProperties(t *testing.T) {
	const rounds = 3000
	r := rand.New(rand.NewPCG(20260101, 7))
	allowed, overridden, withheldSubforms := 0, 0, 0
	for i := range rounds {
		p := randomISP(r)
		if err := p.Validate(); err != nil {
			t.Fatalf("round %d: generator made an invalid ISP: %v", i, err)
		}
		// The document round-trips with the same signing bytes.
		if i%10 == 0 {
			b, err := p.Marshal()
			if err != nil {
				t.Fatalf("round %d: Marshal = %v", i, err)
			}
			q, err := policy.ParseISP(b)
			if err != nil {
				t.Fatalf("round %d: ParseISP(Marshal()) = %v\n%s", i, err, b)
			}
			if !bytes.Equal(q.SigningBytes(), p.SigningBytes()) {
				t.Fatalf("round %d: SigningBytes changed through Marshal/ParseISP", i)
			}
		}
		for range 5 {
			req := randomRequest(r, p)
			d := p.Evaluate(req, propFormFields)
			if !d.Allowed {
				if d.Send != nil || d.Reason == "" {
					t.Fatalf("round %d: denied with Send %v, reason %q", i, d.Send, d.Reason)
				}
				continue
			}
			allowed++
			if d.ConsentOverridden {
				overridden++
			}

			// The projection, computed independently.
			var rule policy.PurposeRule
			for _, pr := range p.Purposes {
				if pr.Name == req.Purpose {
					rule = pr
				}
			}
			inProj := map[string]bool{}
			for _, f := range rule.Forms {
				for _, x := range propForms[f] {
					inProj[x] = true
				}
			}
			for _, f := range rule.Fields {
				inProj[f] = true
			}
			withheld := map[string]bool{}
			for _, w := range rule.Withheld {
				withheld[w] = true
				delete(inProj, w)
			}

			for f, v := range d.Send {
				if !inProj[f] {
					t.Fatalf("round %d: sent %q, outside the projection %v", i, f, inProj)
				}
				if withheld[f] || holdsName(v, withheld) {
					t.Fatalf("round %d: sent withheld field %q (or a value holding one): %v", i, f, v)
				}
				if !reflect.DeepEqual(v, req.Fields[f]) {
					t.Fatalf("round %d: Send[%q] = %v, want the case's value %v", i, f, v, req.Fields[f])
				}
			}
			for f, v := range req.Fields {
				_, sent := d.Send[f]
				if want := inProj[f] && !holdsName(v, withheld); sent != want {
					t.Fatalf("round %d: field %q sent = %v, want %v", i, f, sent, want)
				}
				if inProj[f] && holdsName(v, withheld) {
					withheldSubforms++
				}
			}
			checkFieldDecisions(t, d, req.Fields)

			if err := policy.CheckProjection(p, req.From, req.To, req.Purpose, d.Send, propFormFields); err != nil {
				t.Fatalf("round %d: CheckProjection refused Send: %v", i, err)
			}
			// One field more, outside the projection or withheld, is refused.
			var outside []string
			for _, f := range append(slices.Clone(propFields), "never_listed") {
				if !inProj[f] {
					outside = append(outside, f)
				}
			}
			extra := outside[r.IntN(len(outside))]
			more := map[string]any{extra: "x"}
			for k, v := range d.Send {
				more[k] = v
			}
			err := policy.CheckProjection(p, req.From, req.To, req.Purpose, more, propFormFields)
			if !errors.Is(err, policy.ErrOutsideProjection) || !strings.Contains(err.Error(), extra+" (") {
				t.Fatalf("round %d: CheckProjection with extra field %q = %v, want ErrOutsideProjection naming it", i, extra, err)
			}
		}
	}
	t.Logf("%d rounds × 5 cases: %d allowed, %d with consent overridden, %d subforms withheld whole", rounds, allowed, overridden, withheldSubforms)
	if allowed < rounds || overridden == 0 || withheldSubforms == 0 {
		t.Errorf("the generator exercises too little: %d allowed, %d overridden, %d subforms withheld", allowed, overridden, withheldSubforms)
	}
}
