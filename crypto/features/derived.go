package features

import (
	"math"
	"strings"
	"time"
	"unicode"
)

// AgeOn returns the age in whole years on day at of a person born on day
// born (0 when at is before born).
func AgeOn(born, at time.Time) int {
	y := at.Year() - born.Year()
	if at.Month() < born.Month() || at.Month() == born.Month() && at.Day() < born.Day() {
		y--
	}
	return max(y, 0)
}

// LocationCode returns a location code as compared: upper case, without
// the hyphens, dots, underscores and spaces that ISO 3166-2 codes and
// humanitarian P-codes are written with (SO-BN and so bn are SOBN).
func LocationCode(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '-', '_', '.', ' ':
			continue
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// LocationCodes returns LocationCode of each of codes, without the empty
// ones.
func LocationCodes(codes []string) []string {
	out := make([]string, 0, len(codes))
	for _, c := range codes {
		if c = LocationCode(c); c != "" {
			out = append(out, c)
		}
	}
	return out
}

// Bands of a match, from the most to the least likely: both matchers
// answer in them.
const (
	Likely   = "likely"
	Possible = "possible"
	Unlikely = "unlikely"
)

// AgeAt returns p's age in whole years on day at: the age recorded, moved
// on (or back) by the years from p.RecordedOn to at when RecordedOn is
// known, else the age reached on at from the date of birth. ok is false
// when p has neither.
func AgeAt(p Person, at time.Time) (age int, ok bool) {
	if p.Age != nil {
		a := *p.Age
		if rec, err := time.Parse(time.DateOnly, p.RecordedOn); err == nil {
			a += at.Sub(rec).Hours() / 24 / 365.2425
		}
		return max(int(math.Floor(a)), 0), true
	}
	if born, err := time.Parse(time.DateOnly, p.DateOfBirth); err == nil {
		return AgeOn(born, at), true
	}
	return 0, false
}
