package tracing_test

import (
	"context"
	"slices"
	"testing"

	"github.com/cpx-node/cpx/node/tracing"
)

// TestSearch: a query lists the requests whose names hold every word of
// it, whole words normalised as a case query; the number matches as a
// whole; another's request stays hidden from a caller whose scope does
// not reach it.
func TestSearch(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t)
	create := func(sub string, d tracing.Details) tracing.Request {
		t.Helper()
		s := fx.tina
		if sub == "sam" {
			s = fx.sam
		}
		r, err := fx.svc.Create(ctx, s, d)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	amina := tracing.Details{
		InquirerName: "Fatima Yusuf", Relation: "mother", ConsentForTracing: true,
		Traces: []tracing.Trace{{Name: "Amina Yusuf", Nicknames: []string{"Mina"}, Relatives: []string{"Omar Yusuf"}, DistinguishingMarks: "scar on the left hand"}},
	}
	abdi := tracing.Details{
		InquirerName: "Hodan Warsame", Relation: "aunt", ConsentForTracing: true,
		Traces: []tracing.Trace{{Name: "Abdi Warsame", OtherNames: []string{"Abdirahman"}}},
	}
	tinas := create("tina", amina)
	sams := create("sam", abdi)
	arabic := create("tina", arabicRequest())

	for _, tc := range []struct {
		name  string
		sub   string
		query string
		want  []string
	}{
		{"child name", "tina", "amina", []string{tinas.Number}},
		{"inquirer name, any case and accents", "tina", "FÂTIMA", []string{tinas.Number}},
		{"every word must match", "tina", "amina warsame", nil},
		{"two words in one request", "tina", "Yusuf Omar", []string{tinas.Number}},
		{"nickname", "tina", "mina", []string{tinas.Number}},
		{"other name", "tina", "abdirahman", []string{sams.Number}},
		{"relative", "tina", "omar", []string{tinas.Number}},
		{"shared surname", "tina", "warsame", []string{sams.Number}},
		{"arabic script", "tina", "محمد", []string{arabic.Number}},
		{"part of a word does not match", "tina", "amin", nil},
		{"marks are not searched", "tina", "scar", nil},
		{"number", "tina", sams.Number, []string{sams.Number}},
		{"number any case", "tina", "tr-000001", []string{tinas.Number}},
		{"no word", "tina", "a", nil},
		{"another's request is not visible", "sam", "yusuf", nil},
		{"own request", "sam", "abdi", []string{sams.Number}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := fx.tina
			if tc.sub == "sam" {
				s = fx.sam
			}
			list, err := fx.svc.Search(ctx, s, "", tc.query, 0)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range list {
				got = append(got, r.Number)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Search(%q) = %v, want %v", tc.query, got, tc.want)
			}
		})
	}
	if got, _ := fx.svc.Search(ctx, fx.tina, "", "  ", 0); len(got) != 3 {
		t.Errorf("blank query lists %d requests, want 3", len(got))
	}
}
