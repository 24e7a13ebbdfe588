package policy

import "testing"

func TestPeriodFrequency(t *testing.T) {
	tests := []struct{ period, want string }{
		{"2026-11", FrequencyMonthly},
		{"2026-Q4", FrequencyQuarterly},
		{"2026", FrequencyYearly},
		{"2026-13", ""},
		{"Nov 2026", ""},
		{"2026-Q5", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := PeriodFrequency(tt.period)
		if got != tt.want || (err != nil) != (tt.want == "") {
			t.Errorf("PeriodFrequency(%q) = %q, %v; want %q", tt.period, got, err, tt.want)
		}
	}
}
