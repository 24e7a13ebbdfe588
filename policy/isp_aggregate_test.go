package policy_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cpx-node/cpx/policy"
)

// withAggregateTerms is the example with terms on its aggregate rule.
func withAggregateTerms(t *testing.T, terms string) []byte {
	t.Helper()
	src := readExample(t)
	anchor := []byte(`to = ["moswa-so"]`)
	if !bytes.Contains(src, anchor) {
		t.Fatal("example lost its aggregate rule")
	}
	return bytes.Replace(src, anchor, append(append(anchor, '\n'), terms...), 1)
}

func TestAggregateTerms(t *testing.T) {
	old := parseExample(t)
	src := withAggregateTerms(t, `reports = ["protection_concerns"]
dimensions = ["sex", "risk_level"]
threshold = 10
protection_interval = 12
frequency = "quarterly"
`)
	p, err := policy.ParseISP(src)
	if err != nil {
		t.Fatal(err)
	}
	a := p.Purposes[3].Aggregate
	if got, want := a.K(), 10; got != want {
		t.Errorf("K = %d, want %d", got, want)
	}
	if got, want := a.Protection(), 12; got != want {
		t.Errorf("Protection = %d, want %d", got, want)
	}
	if got, want := a.Every(), policy.FrequencyQuarterly; got != want {
		t.Errorf("Every = %q, want %q", got, want)
	}
	// The terms are signed; an ISP without them signs the same bytes as
	// before they existed (the golden test holds those).
	if bytes.Equal(p.SigningBytes(), old.SigningBytes()) {
		t.Error("aggregate terms do not change the signing bytes")
	}
	if got := old.Purposes[3].Aggregate; got.K() != policy.DefaultThreshold || got.Protection() != policy.DefaultThreshold || got.Every() != policy.FrequencyMonthly {
		t.Errorf("defaults = %d %d %s, want %d %d monthly", got.K(), got.Protection(), got.Every(), policy.DefaultThreshold, policy.DefaultThreshold)
	}
	out, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := policy.ParseISP(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.SigningBytes(), p.SigningBytes()) {
		t.Errorf("terms lost in Marshal:\n%s", out)
	}
	if d := policy.Diff(old, p); !strings.Contains(strings.Join(d, "\n"), "threshold 0 → 10") {
		t.Errorf("Diff = %q, want the threshold", d)
	}
}

func TestAggregateTermsInvalid(t *testing.T) {
	for _, tc := range []struct{ terms, want string }{
		{"threshold = 1\nreports = [\"x\"]", "purpose[aggregate].threshold"},
		{"frequency = \"daily\"", "purpose[aggregate].frequency"},
		{"dimensions = [\"Sex\"]", "purpose[aggregate].dimensions"},
		{"protection_interval = -3", "purpose[aggregate].protection_interval"},
	} {
		_, err := policy.ParseISP(withAggregateTerms(t, tc.terms))
		if err == nil || !errors.Is(err, policy.ErrInvalidISP) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error naming %s", tc.terms, err, tc.want)
		}
	}
	src := bytes.Replace(readExample(t), []byte(`retention_days = 90`), []byte("retention_days = 90\nthreshold = 5"), 1)
	if _, err := policy.ParseISP(src); err == nil || !strings.Contains(err.Error(), "aggregate purpose only") {
		t.Errorf("threshold on tracing: got %v, want refused", err)
	}
}

func TestParsePeriod(t *testing.T) {
	for _, tc := range []struct{ freq, period, first, last, err string }{
		{"monthly", "2026-11", "2026-11-01", "2026-11-30", ""},
		{"monthly", "2026-02", "2026-02-01", "2026-02-28", ""},
		{"quarterly", "2026-Q4", "2026-10-01", "2026-12-31", ""},
		{"yearly", "2027", "2027-01-01", "2027-12-31", ""},
		{"monthly", "2026-13", "", "", "YYYY-MM"},
		{"monthly", "2026-Q1", "", "", "YYYY-MM"},
		{"quarterly", "2026-Q5", "", "", "YYYY-Qn"},
		{"yearly", "26", "", "", "YYYY"},
	} {
		f, l, err := policy.ParsePeriod(tc.freq, tc.period)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %s: got %v, want an error with %q", tc.freq, tc.period, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s %s: %v", tc.freq, tc.period, err)
		case f.Format(time.DateOnly) != tc.first || l.Format(time.DateOnly) != tc.last:
			t.Errorf("%s %s: got %s..%s, want %s..%s", tc.freq, tc.period, f.Format(time.DateOnly), l.Format(time.DateOnly), tc.first, tc.last)
		}
	}
}

func TestCheckAggregate(t *testing.T) {
	p, err := policy.ParseISP(withAggregateTerms(t, `reports = ["protection_concerns"]
dimensions = ["sex", "risk_level"]
`))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	ok := policy.AggregateRequest{From: "irc-so", To: "moswa-so", Report: "protection_concerns", Period: "2026-11", Now: now}
	for _, tc := range []struct {
		name string
		edit func(*policy.AggregateRequest)
		want string
	}{
		{"allowed by name", func(*policy.AggregateRequest) {}, ""},
		{"allowed by dimensions", func(r *policy.AggregateRequest) { r.Report, r.Dimensions = "mine", []string{"sex", "risk_level"} }, ""},
		{"dimension not allowed", func(r *policy.AggregateRequest) { r.Report, r.Dimensions = "mine", []string{"sex", "location_current"} }, "location_current"},
		{"sender not in from", func(r *policy.AggregateRequest) { r.From = "moswa-so"; r.To = "irc-so" }, "does not cover"},
		{"period not begun", func(r *policy.AggregateRequest) { r.Period = "2027-01" }, "not begun"},
		{"period before the ISP", func(r *policy.AggregateRequest) { r.Period = "2025-12" }, "begins before"},
		{"period does not parse", func(r *policy.AggregateRequest) { r.Period = "November" }, "does not parse"},
		{"ISP expired", func(r *policy.AggregateRequest) { r.Now = time.Date(2028, 2, 1, 0, 0, 0, 0, time.UTC) }, "not in force"},
	} {
		req := ok
		tc.edit(&req)
		_, err := p.CheckAggregate(req)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}
