package features

import "testing"

func TestOneEdit(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"arm", "amr", true},    // transposition
		{"amr", "amr", false},   // equal: not a near miss, a match
		{"hsn", "hsz", true},    // substitution
		{"nzr", "nr", false},    // too short
		{"nzar", "nar", true},   // deletion
		{"nar", "nzar", true},   // insertion
		{"mhmd", "mhmud", true}, // insertion in the middle
		{"abcd", "badc", false}, // two transpositions
		{"mhmd", "hsn", false},
	}
	for _, tc := range tests {
		if got := OneEdit(tc.a, tc.b); got != tc.want {
			t.Errorf("OneEdit(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
