package policy_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/cpx-node/cpx/policy"
)

// withTracingTerms is the example with terms on its tracing rule.
func withTracingTerms(t *testing.T, terms string) []byte {
	t.Helper()
	src := readExample(t)
	anchor := []byte(`required_consent = ["consent_for_tracing"]`)
	if !bytes.Contains(src, anchor) {
		t.Fatal("example lost its tracing rule")
	}
	return bytes.Replace(src, anchor, append(append(anchor, '\n'), terms...), 1)
}

func TestTracingTerms(t *testing.T) {
	old := parseExample(t)
	if got, want := old.TracingRate(), policy.DefaultQueriesPerMinute; got != want {
		t.Errorf("TracingRate without the term = %d, want %d", got, want)
	}
	p, err := policy.ParseISP(withTracingTerms(t, "queries_per_minute = 600\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.TracingRate(), 600; got != want {
		t.Errorf("TracingRate = %d, want %d", got, want)
	}
	// The term is signed; an ISP without it signs the same bytes as
	// before it existed (the golden test holds those).
	if bytes.Equal(p.SigningBytes(), old.SigningBytes()) {
		t.Error("queries_per_minute does not change the signing bytes")
	}
	out, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := policy.ParseISP(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.SigningBytes(), p.SigningBytes()) || back.TracingRate() != 600 {
		t.Errorf("term lost in Marshal:\n%s", out)
	}
	if d := policy.Diff(old, p); !strings.Contains(strings.Join(d, "\n"), "queries_per_minute 0 → 600") {
		t.Errorf("Diff = %q, want the rate", d)
	}
}

func TestTracingTermsInvalid(t *testing.T) {
	for _, tc := range []struct {
		src  []byte
		want string
	}{
		{withTracingTerms(t, "queries_per_minute = -1"), "purpose[tracing].queries_per_minute"},
		{withTracingTerms(t, "queries_per_minute = 6001"), "purpose[tracing].queries_per_minute"},
		{withTracingTerms(t, `queries_per_minute = "fast"`), "queries_per_minute"},
		{withAggregateTerms(t, "queries_per_minute = 10"), "purpose[aggregate].queries_per_minute: applies to the tracing purpose only"},
	} {
		_, err := policy.ParseISP(tc.src)
		if err == nil || !errors.Is(err, policy.ErrInvalidISP) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error naming %s", err, tc.want)
		}
	}
}
