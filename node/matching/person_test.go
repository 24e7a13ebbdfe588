package matching_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/matching"
)

func f(v float64) *float64 { return &v }

var now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		p     matching.Person
		field string
		err   error
	}{
		{"ok", matching.Person{Names: []string{"Amina Ali"}, Age: f(9)}, "", nil},
		{"nickname only", matching.Person{Nicknames: []string{"Tuma"}}, "", nil},
		{"no names", matching.Person{}, "Names", matching.ErrNoName},
		{"blank names", matching.Person{Names: []string{"  ", "--"}}, "Names", matching.ErrNoName},
		{"negative age", matching.Person{Names: []string{"A B"}, Age: f(-1)}, "Age", matching.ErrAgeRange},
		{"old", matching.Person{Names: []string{"A B"}, Age: f(121)}, "Age", matching.ErrAgeRange},
		{"future dob", matching.Person{Names: []string{"A B"}, DateOfBirth: "2027-01-01"}, "DateOfBirth", matching.ErrFuture},
		{"bad dob", matching.Person{Names: []string{"A B"}, DateOfBirth: "1/2/2020"}, "DateOfBirth", matching.ErrBadDate},
		{"future separation", matching.Person{Names: []string{"A B"}, SeparationDate: "2026-02-01"}, "SeparationDate", matching.ErrFuture},
		{"not utf8", matching.Person{Names: []string{"A\xffB"}}, "Names[0]", matching.ErrNotUTF8},
		{"long", matching.Person{Names: []string{strings.Repeat("a", 201)}}, "Names[0]", matching.ErrTooLong},
		{"long relative", matching.Person{Names: []string{"A"}, Relatives: []string{"x", strings.Repeat("b", 300)}}, "Relatives[1]", matching.ErrTooLong},
		{"sex", matching.Person{Names: []string{"A"}, Sex: "f"}, "Sex", matching.ErrBadSex},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate(now)
			if tc.err == nil {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			var fe *matching.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, tc.err) {
				t.Fatalf("got %v, want %s: %v", err, tc.field, tc.err)
			}
		})
	}
}

func FuzzValidate(f *testing.F) {
	f.Add("Amina Ali", "Tuma", "female", 9.0, "2017-03-01", "SO0101", "Ali Hassan", "2025-01-01")
	f.Add("", "", "", -1.0, "", "", "", "")
	f.Fuzz(func(t *testing.T, name, nick, sex string, age float64, dob, loc, rel, sep string) {
		p := matching.Person{Names: []string{name}, Nicknames: []string{nick}, Sex: sex, Age: &age, DateOfBirth: dob,
			Locations: []string{loc}, Relatives: []string{rel}, SeparationDate: sep, SeparationLocation: loc}
		err := p.Validate(now)
		if err != nil {
			var fe *matching.FieldError
			if !errors.As(err, &fe) || fe.Field == "" {
				t.Fatalf("error %v does not name a field", err)
			}
			return
		}
		// valid persons can be compared and indexed
		matching.Compare(p, p)
		ix := matching.NewIndex()
		ix.Add(matching.Candidate{ID: "x", Person: p})
		ix.Match(p, 1)
	})
}
