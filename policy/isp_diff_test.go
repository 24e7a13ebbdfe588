package policy_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/cpx-node/cpx/policy"
)

func TestSignatureStates(t *testing.T) {
	p := parseExample(t)
	signAll(p)
	p.Purposes[0].Withheld = nil // tampered after every party signed
	p.AddSignature(fakeSign(p, "irc-so", p.Parties[2].SigningKey))
	p.AddSignature(fakeSign(p, "wfp-so", "key-wfp"))
	var got []string
	for _, st := range p.SignatureStates(fakeVerify) {
		got = append(got, st.Agency+"="+strings.Fields(st.Problem + " ok")[0])
		if st.Verified != (st.Problem == "") {
			t.Errorf("%s: verified %v with problem %q", st.Agency, st.Verified, st.Problem)
		}
	}
	want := []string{"save-the-children-so=signature", "unicef-so=signature", "irc-so=ok", "moswa-so=signature", "wfp-so=signature"}
	if !slices.Equal(got, want) {
		t.Errorf("states %v, want %v", got, want)
	}
}

func TestCovers(t *testing.T) {
	p := parseExample(t)
	tests := []struct {
		purpose, from, to string
		want              string // substring of the error; "" for nil
	}{
		{"referral", "unicef-so", "irc-so", ""},
		{"referral", "irc-so", "unicef-so", "does not cover referral from irc-so to unicef-so"},
		{"tracing", "moswa-so", "irc-so", ""},
		{"tracing", "wfp-so", "irc-so", `"wfp-so" is not a party`},
		{"transfer", "unicef-so", "irc-so", "does not cover"},
	}
	for _, tt := range tests {
		err := p.Covers(tt.purpose, tt.from, tt.to)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Covers(%s, %s, %s) = %v, want nil", tt.purpose, tt.from, tt.to, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("Covers(%s, %s, %s) = %v, want an error containing %q", tt.purpose, tt.from, tt.to, err, tt.want)
		}
	}
	p.Purposes = slices.DeleteFunc(p.Purposes, func(r policy.PurposeRule) bool { return r.Name == "referral" })
	if err := p.Covers("referral", "unicef-so", "irc-so"); err == nil || !strings.Contains(err.Error(), `no rule for purpose "referral"`) {
		t.Errorf("Covers without the rule = %v", err)
	}
}

func TestDiff(t *testing.T) {
	prev := parseExample(t)
	next := parseExample(t)
	if got := policy.Diff(prev, next); len(got) != 0 {
		t.Errorf("Diff of equal ISPs = %q, want nothing", got)
	}
	next.Version++
	next.Purposes[0].To = append(next.Purposes[0].To, "moswa-so")
	next.Purposes[0].RetentionDays = 30
	next.Purposes = slices.DeleteFunc(next.Purposes, func(r policy.PurposeRule) bool { return r.Name == "aggregate" })
	next.Parties[1].SigningKey = "new-key"
	got := policy.Diff(prev, next)
	want := []string{
		"version: 3 → 4",
		"party unicef-so: signing_key r2sqk3h-tqlzt2x-ywyjxwc-vystg32-dxoxjld-ye2qtex-xmel57x-lpr37az → new-key",
		"purpose referral: to +moswa-so",
		"purpose aggregate removed",
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("Diff = %q\nwant it to hold %q", got, w)
		}
	}
	if !slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "purpose referral: retention_days ") }) {
		t.Errorf("Diff = %q, want the retention_days change", got)
	}
	if got := policy.Diff(nil, next); got[0] != "new ISP so-cp-isp version 4" || len(got) != 1+len(next.Parties)+len(next.Purposes) {
		t.Errorf("Diff(nil, next) = %q", got)
	}
}
