package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Frequencies of an aggregate rule: how often agencies report, and so
// how a period is written.
const (
	FrequencyMonthly   = "monthly"   // periods "2026-11"
	FrequencyQuarterly = "quarterly" // periods "2026-Q4"
	FrequencyYearly    = "yearly"    // periods "2026"
)

// Defaults of an aggregate rule's disclosure control.
const (
	// DefaultThreshold is k when the rule names none: counts from 1 to
	// k−1 never leave a node.
	DefaultThreshold = 5
	// MaxThreshold bounds an aggregate rule's threshold.
	MaxThreshold = 1000
)

var knownFrequencies = []string{FrequencyMonthly, FrequencyQuarterly, FrequencyYearly}

// AggregateTerms are the terms of an aggregate rule: what a node may
// send to a coordination node, after which disclosure control, how often.
// They apply to the aggregate purpose only; an aggregate rule without
// Reports or Dimensions lets nothing be sent.
type AggregateTerms struct {
	// Reports are report names that may be sent as they are defined
	// (the managed reports, or definitions the parties agreed).
	Reports []string
	// Dimensions are fields any report may count by: a report whose
	// every dimension is listed may be sent whatever its name.
	Dimensions []string
	// Threshold is k: no published count from 1 to k−1. 0 means
	// DefaultThreshold.
	Threshold int
	// ProtectionInterval is the narrowest range a suppressed cell may be
	// worked out to. 0 means the threshold.
	ProtectionInterval int
	// Frequency is how often agencies report: monthly (the default),
	// quarterly or yearly.
	Frequency string
}

func (a AggregateTerms) set() bool {
	return len(a.Reports) > 0 || len(a.Dimensions) > 0 || a.Threshold != 0 || a.ProtectionInterval != 0 || a.Frequency != ""
}

// K returns the threshold in force: Threshold or DefaultThreshold.
func (a AggregateTerms) K() int {
	if a.Threshold == 0 {
		return DefaultThreshold
	}
	return a.Threshold
}

// Protection returns the protection interval in force:
// ProtectionInterval or the threshold.
func (a AggregateTerms) Protection() int {
	if a.ProtectionInterval == 0 {
		return a.K()
	}
	return a.ProtectionInterval
}

// Every returns the frequency in force: Frequency or monthly.
func (a AggregateTerms) Every() string {
	if a.Frequency == "" {
		return FrequencyMonthly
	}
	return a.Frequency
}

func (a AggregateTerms) validate(ps *problems, key string, aggregate bool) {
	if !aggregate {
		if a.set() {
			ps.add(key, "reports, dimensions, threshold, protection_interval and frequency apply to the aggregate purpose only")
		}
		return
	}
	checkNames(ps, key+".reports", a.Reports)
	checkNames(ps, key+".dimensions", a.Dimensions)
	if a.Threshold != 0 && (a.Threshold < 2 || a.Threshold > MaxThreshold) {
		ps.add(key+".threshold", "%d: use 2 to %d (0 or absent: %d)", a.Threshold, MaxThreshold, DefaultThreshold)
	}
	if a.ProtectionInterval < 0 || a.ProtectionInterval > 1_000_000 {
		ps.add(key+".protection_interval", "%d: use 1 to 1000000 (0 or absent: the threshold)", a.ProtectionInterval)
	}
	if a.Frequency != "" && !slices.Contains(knownFrequencies, a.Frequency) {
		ps.add(key+".frequency", "%q: use one of %s", a.Frequency, strings.Join(knownFrequencies, ", "))
	}
}

// ParsePeriod reads a reporting period written for frequency (monthly
// "2026-11", quarterly "2026-Q4", yearly "2026") and returns its first
// and last day (UTC midnight).
func ParsePeriod(frequency, period string) (first, last time.Time, err error) {
	bad := func(want string) (time.Time, time.Time, error) {
		return time.Time{}, time.Time{}, fmt.Errorf("period %q does not parse: a %s period is written %s", period, frequency, want)
	}
	switch frequency {
	case FrequencyMonthly, "":
		t, err := time.Parse("2006-01", period)
		if err != nil {
			return bad("YYYY-MM, e.g. 2026-11")
		}
		return t, t.AddDate(0, 1, -1), nil
	case FrequencyQuarterly:
		y, q, ok := strings.Cut(period, "-Q")
		n, err := strconv.Atoi(q)
		if !ok || err != nil || n < 1 || n > 4 || len(y) != 4 {
			return bad("YYYY-Qn, e.g. 2026-Q4")
		}
		t, err := time.Parse("2006", y)
		if err != nil {
			return bad("YYYY-Qn, e.g. 2026-Q4")
		}
		t = t.AddDate(0, 3*(n-1), 0)
		return t, t.AddDate(0, 3, -1), nil
	case FrequencyYearly:
		t, err := time.Parse("2006", period)
		if err != nil {
			return bad("YYYY, e.g. 2026")
		}
		return t, t.AddDate(1, 0, -1), nil
	}
	return time.Time{}, time.Time{}, fmt.Errorf("unknown frequency %q", frequency)
}

// PeriodFrequency returns the frequency whose periods are written as
// period is (monthly "2026-11", quarterly "2026-Q4", yearly "2026"), or
// an error that says how a period is written.
func PeriodFrequency(period string) (string, error) {
	for _, f := range knownFrequencies {
		if _, _, err := ParsePeriod(f, period); err == nil {
			return f, nil
		}
	}
	return "", fmt.Errorf("period %q does not parse: write a month (2026-11), a quarter (2026-Q4) or a year (2026)", period)
}

// AggregateRequest describes one aggregate table a node sends.
type AggregateRequest struct {
	From, To string
	// Report is the report's name; Dimensions the fields it counts by.
	Report     string
	Dimensions []string
	// Period as the rule's frequency writes it.
	Period string
	// Now is the time of the decision.
	Now time.Time
}

// CheckAggregate decides whether the ISP lets req go: in force at
// req.Now, an aggregate rule from req.From to req.To, the report listed
// or every dimension listed, and a period of the rule's frequency that has
// begun and lies within the ISP's validity. It returns the rule's terms
// (for the disclosure control to apply) or an error naming what is not
// allowed. It does not look at the counts: see the rule's K.
func (p *ISP) CheckAggregate(req AggregateRequest) (AggregateTerms, error) {
	if req.Now.Before(p.ValidFrom) || req.Now.After(p.ValidUntil) {
		return AggregateTerms{}, fmt.Errorf("%s is not in force at %s", p.label(), fmtTime(req.Now))
	}
	if err := p.Covers(PurposeAggregate, req.From, req.To); err != nil {
		return AggregateTerms{}, err
	}
	r, _ := p.rule(PurposeAggregate)
	a := r.Aggregate
	if !slices.Contains(a.Reports, req.Report) {
		var out []string
		for _, d := range req.Dimensions {
			if !slices.Contains(a.Dimensions, d) {
				out = append(out, d)
			}
		}
		switch {
		case len(req.Dimensions) == 0:
			return a, fmt.Errorf("%s does not list report %q and the table names no dimension", p.label(), req.Report)
		case len(out) > 0:
			return a, fmt.Errorf("%s lists neither report %q nor the dimension %s", p.label(), req.Report, strings.Join(out, ", "))
		}
	}
	first, last, err := ParsePeriod(a.Every(), req.Period)
	if err != nil {
		return a, fmt.Errorf("%s: %w", p.label(), err)
	}
	switch {
	case first.Before(p.ValidFrom.UTC().Truncate(24 * time.Hour)):
		return a, fmt.Errorf("period %s begins before %s is valid (%s)", req.Period, p.label(), fmtTime(p.ValidFrom))
	case last.After(p.ValidUntil):
		return a, fmt.Errorf("period %s ends after %s is valid (%s)", req.Period, p.label(), fmtTime(p.ValidUntil))
	case first.After(req.Now):
		return a, fmt.Errorf("period %s has not begun", req.Period)
	}
	return a, nil
}
