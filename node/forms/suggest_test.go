package forms_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/forms"
)

func TestLocationCodeForms(t *testing.T) {
	c := forms.Standard()
	for _, tc := range []struct{ in, want string }{
		{"SO01", "SO01"},
		{"so01", "SO01"},
		{"SO-01", "SO01"},
		{"SO-BN", "SO01"},
		{"so-bn", "SO01"},
		{"SOBN", "SO01"},
		{"SO-WO", "SO04"},
		{"SO-0401", "SO0401"},
		{"KE-43", "KE02"},
		{"SO-XX", ""},
		{"", ""},
		{"-", ""},
	} {
		l, ok := c.Location(tc.in)
		got := ""
		if ok {
			got = l.Code
		}
		if got != tc.want {
			t.Errorf("Location(%q): got %q, want %q", tc.in, got, tc.want)
		}
	}
	out, err := c.Normalize("", map[string]any{"location_current": "SO-BN", "location_last": "so-0401"}, time.Now(), true)
	if err != nil || out["location_current"] != "SO01" || out["location_last"] != "SO0401" {
		t.Errorf("Normalize: got %v, %v; want SO01 and SO0401", out, err)
	}
}

func TestSuggestLocations(t *testing.T) {
	c := forms.Standard()
	for _, tc := range []struct {
		in   string
		want string // codes, space-separated
	}{
		{"SO-XX", "SO01 SO02 SO03"},      // same country, codes of the length typed first
		{"Hargeisa", "SO0401"},           // a name
		{"hargeysa", "SO0401"},           // a name misspelt
		{"SO0199", "SO0101 SO0102 SO01"}, // a district that does not exist
		{"KE-44", "KE02 KE01 KE03"},      // one edit from Turkana's KE-43
		{"qqqqqqqqqq", ""},
	} {
		var got []string
		for _, l := range c.SuggestLocations(tc.in, 3) {
			got = append(got, l.Code)
		}
		if g := strings.Join(got, " "); g != tc.want {
			t.Errorf("SuggestLocations(%q): got %q, want %q", tc.in, g, tc.want)
		}
	}
}

func TestUnknownValueMessages(t *testing.T) {
	c := forms.Standard()
	for _, tc := range []struct {
		field, value, want string
	}{
		{"location_current", "SO-XX", `unknown location "SO-XX"; did you mean SO01 (Banadir, SO-BN), SO02 (Bay, SO-BY) or SO03 (Gedo, SO-GE)?`},
		{"location_current", "Hargeisa", `unknown location "Hargeisa"; did you mean SO0401 (Hargeisa)?`},
		{"location_current", "zzzzzzzz", `unknown location "zzzzzzzz"; cpx forms locations lists the codes`},
		{"sex", "femal", `"femal" is not an option of lookup sex; did you mean female?`},
		{"sex", "x", `"x" is not an option of lookup sex; the options are female, male, other, unknown`},
	} {
		_, err := c.Normalize("", map[string]any{tc.field: tc.value}, time.Now(), true)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Normalize(%s=%q): got %v, want %q", tc.field, tc.value, err, tc.want)
		}
	}
}

func TestSearchLocations(t *testing.T) {
	c := forms.Standard()
	for _, tc := range []struct{ q, want string }{
		{"Hargeisa", "SO0401"},
		{"mogadishu", "SO0101 SO0102"},
		{"so-bn", "SO01"},
		{"KE03", "KE03 KE0301"},
	} {
		var got []string
		for _, l := range forms.SearchLocations(c.Locations, tc.q) {
			got = append(got, l.Code)
		}
		if g := strings.Join(got, " "); g != tc.want {
			t.Errorf("SearchLocations(%q): got %q, want %q", tc.q, g, tc.want)
		}
	}
}

func TestCheckISOCodeCollision(t *testing.T) {
	c := &forms.Config{Locations: []forms.Location{
		{Code: "SO", Name: "Somalia"},
		{Code: "SO01", Parent: "SO", Name: "Banadir", AdminLevel: 1, ISO: "SO-BN"},
		{Code: "SOBN", Parent: "SO", Name: "Other", AdminLevel: 1},
	}}
	err := c.Check()
	if err == nil || !strings.Contains(err.Error(), `reads the same as location "SO01"`) {
		t.Errorf("Check: got %v, want a collision between SOBN and SO-BN", err)
	}
}
