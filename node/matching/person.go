package matching

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
	Age          *float64 // years, at registration of the record
	AgeEstimated bool
	DateOfBirth  string   // YYYY-MM-DD or ""
	Locations    []string // hierarchical codes such as SO0101 (origin, separation, current)
	Relatives    []string // family members' names (case) or the inquirer's and relatives' (request)
	// Father and Mother repeat the names of the relatives known to be the
	// child's father and mother (a case's family details, the inquirer's
	// relation on a request), so that a mother is never compared with a
	// father. "" when not known.
	Father, Mother     string
	SeparationDate     string // YYYY-MM-DD or ""
	SeparationLocation string // hierarchical code or ""
}

// Candidate is a case that a tracing request can be matched against.
type Candidate struct {
	ID     string
	Person Person
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

// profile is a person prepared for comparison: names tokenised once.
type profile struct {
	names     [][]Token
	nameInfo  [][]tokInfo // name tables' entries for names, parallel
	relInfo   [][]tokInfo // and for relatives
	nicks     []Token
	relatives [][]Token
	relRole   []role // parallel to relatives
	sex       string
	age       float64 // -1 if unknown
	estimated bool
	dob       int32 // days since epoch, or noDate
	locations []string
	sepDate   int32
	sepLoc    string
}

const noDate = math.MinInt32

// role is what a relative is known to be to the child.
type role uint8

const (
	roleUnknown role = iota
	roleFather
	roleMother
)

func dayNumber(s string) int32 {
	if s == "" {
		return noDate
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return noDate
	}
	return int32(t.Unix() / 86400)
}

func prepare(p Person) *profile {
	pr := &profile{sex: p.Sex, age: -1, estimated: p.AgeEstimated, locations: p.Locations, sepLoc: p.SeparationLocation}
	if pr.sex == "unknown" {
		pr.sex = ""
	}
	for _, n := range p.Names {
		if ts := Tokens(n); len(ts) > 0 {
			if len(ts) > maxTokens {
				ts = ts[:maxTokens]
			}
			pr.names = append(pr.names, ts)
			pr.nameInfo = append(pr.nameInfo, infosOf(ts))
		}
	}
	for _, n := range p.Nicknames {
		pr.nicks = append(pr.nicks, Tokens(n)...)
	}
	for _, n := range p.Relatives {
		if ts := Tokens(n); len(ts) > 0 {
			if len(ts) > maxTokens {
				ts = ts[:maxTokens]
			}
			r := roleUnknown
			switch n {
			case "":
			case p.Father:
				r = roleFather
			case p.Mother:
				r = roleMother
			}
			pr.relatives = append(pr.relatives, ts)
			pr.relInfo = append(pr.relInfo, infosOf(ts))
			pr.relRole = append(pr.relRole, r)
		}
	}
	if p.Age != nil && *p.Age >= 0 {
		pr.age = *p.Age
	}
	pr.dob = dayNumber(p.DateOfBirth)
	pr.sepDate = dayNumber(p.SeparationDate)
	return pr
}

// maxTokens bounds the name parts compared per name (given, father,
// grandfather, family and one more).
const maxTokens = 5
