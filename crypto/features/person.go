package features

import (
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// Person is what is known of one child: on a case, the child as registered;
// on a tracing request, the child as described by the family.
type Person struct {
	Names        []string // full names as written, any script
	Nicknames    []string
	Sex          string   // female, male, other, unknown or ""
	Age          *float64 // years, on RecordedOn
	AgeEstimated bool
	DateOfBirth  string // YYYY-MM-DD or ""
	// RecordedOn is the day the record was made (a case's registration, a
	// request's creation), YYYY-MM-DD or "": the day Age was true. An age
	// is compared with the other side's date of birth, or with an age
	// recorded on another day, at the request's day.
	RecordedOn string
	Locations  []string // hierarchical codes such as SO0101 (origin, separation, current)
	Relatives  []string // family members' names (case) or the inquirer's and relatives' (request)
	// Father and Mother repeat the names of the relatives known to be the
	// child's father and mother (a case's family details, the inquirer's
	// relation on a request), so that a mother is never compared with a
	// father. "" when not known.
	Father, Mother     string
	SeparationDate     string // YYYY-MM-DD or ""
	SeparationLocation string // hierarchical code or ""
}

// Validation errors. Validate wraps them with the offending field.
var (
	ErrNoName    = errors.New("no name")
	ErrTooLong   = errors.New("longer than 200 bytes")
	ErrNotUTF8   = errors.New("not valid UTF-8")
	ErrAgeRange  = errors.New("age outside 0..120")
	ErrBadDate   = errors.New("not a YYYY-MM-DD date")
	ErrFuture    = errors.New("date in the future")
	ErrBadSex    = errors.New("sex not one of female, male, other, unknown")
	ErrTooMany   = errors.New("more than 32 values")
	maxNameBytes = 200
)

// FieldError names the field a validation error is about.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return "matching: " + e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// Validate checks a person before it is indexed or matched: at least one
// non-blank name, names and other strings valid UTF-8 and at most 200 bytes,
// age within 0..120, dates well-formed and not after now. The error is a
// *FieldError naming the field (Names[1], Age, DateOfBirth…).
func (p Person) Validate(now time.Time) error {
	hasName := false
	check := func(field string, vals []string) error {
		if len(vals) > 32 {
			return &FieldError{field, ErrTooMany}
		}
		for i, v := range vals {
			f := fmt.Sprintf("%s[%d]", field, i)
			if !utf8.ValidString(v) {
				return &FieldError{f, ErrNotUTF8}
			}
			if len(v) > maxNameBytes {
				return &FieldError{f, ErrTooLong}
			}
		}
		return nil
	}
	if err := check("Names", p.Names); err != nil {
		return err
	}
	for _, n := range p.Names {
		if len(Tokens(n)) > 0 {
			hasName = true
		}
	}
	if err := check("Nicknames", p.Nicknames); err != nil {
		return err
	}
	for _, n := range p.Nicknames {
		if len(Tokens(n)) > 0 {
			hasName = true
		}
	}
	if !hasName {
		return &FieldError{"Names", ErrNoName}
	}
	if err := check("Relatives", p.Relatives); err != nil {
		return err
	}
	for _, r := range []struct{ field, v string }{{"Father", p.Father}, {"Mother", p.Mother}} {
		if err := check(r.field, []string{r.v}); err != nil {
			return &FieldError{r.field, errors.Unwrap(err)}
		}
	}
	if err := check("Locations", p.Locations); err != nil {
		return err
	}
	if err := check("SeparationLocation", []string{p.SeparationLocation}); err != nil {
		return &FieldError{"SeparationLocation", errors.Unwrap(err)}
	}
	switch p.Sex {
	case "", "female", "male", "other", "unknown":
	default:
		if !utf8.ValidString(p.Sex) {
			return &FieldError{"Sex", ErrNotUTF8}
		}
		return &FieldError{"Sex", ErrBadSex}
	}
	if p.Age != nil && (math.IsNaN(*p.Age) || *p.Age < 0 || *p.Age > 120) {
		return &FieldError{"Age", ErrAgeRange}
	}
	if p.RecordedOn != "" {
		if _, err := time.Parse(time.DateOnly, p.RecordedOn); err != nil {
			return &FieldError{"RecordedOn", ErrBadDate}
		}
	}
	for _, d := range []struct{ field, v string }{{"DateOfBirth", p.DateOfBirth}, {"SeparationDate", p.SeparationDate}} {
		if d.v == "" {
			continue
		}
		if !utf8.ValidString(d.v) {
			return &FieldError{d.field, ErrNotUTF8}
		}
		t, err := time.Parse(time.DateOnly, d.v)
		if err != nil {
			return &FieldError{d.field, ErrBadDate}
		}
		if t.After(now) {
			return &FieldError{d.field, ErrFuture}
		}
		if d.field == "DateOfBirth" && now.Sub(t) > 121*365*24*time.Hour {
			return &FieldError{d.field, ErrAgeRange}
		}
	}
	return nil
}
