package conformance_test

import (
	"strings"
	"testing"
)

// TestCLIFormsLookup: location codes and option lists can be looked up, a
// location is accepted by its ISO 3166-2 code, and an unknown code's or
// option's error names the nearest ones.
func TestCLIFormsLookup(t *testing.T) {
	dir := initNode(t, "save-the-children-so")
	n := start(t, dir)
	token := addUser(t, dir, "amina", "caseworker", "--group", "north")
	as := func(args ...string) []string { return append(args, "--api", n.url, "--token", token) }

	out := must(t, as("forms", "locations", "--search", "Hargeisa")...)
	if !strings.Contains(out, "SO0401") || !strings.Contains(out, "Woqooyi Galbeed, Somalia") || strings.Contains(out, "SO0101") {
		t.Errorf("forms locations --search Hargeisa: got\n%s\nwant SO0401 in Woqooyi Galbeed, Somalia only", out)
	}
	var locs struct {
		Locations []struct {
			Code       string `json:"code"`
			ISO        string `json:"iso"`
			AdminLevel int    `json:"admin_level"`
		} `json:"locations"`
	}
	mustJSON(t, &locs, as("forms", "locations", "--level", "1", "--search", "so")...)
	var codes []string
	for _, l := range locs.Locations {
		if l.AdminLevel != 1 {
			t.Errorf("forms locations --level 1: got %+v", l)
		}
		codes = append(codes, l.Code+"="+l.ISO)
	}
	if got, want := strings.Join(codes, " "), "SO01=SO-BN SO02=SO-BY SO03=SO-GE SO04=SO-WO"; got != want {
		t.Errorf("forms locations --level 1 --search so: got %s, want %s", got, want)
	}

	out = must(t, as("forms", "show", "registration")...)
	for _, want := range []string{"sex", "select", "one option of sex", "location_current", "location", "options of sex (Sex):", "female"} {
		if !strings.Contains(out, want) {
			t.Errorf("forms show registration lacks %q:\n%s", want, out)
		}
	}
	var shown struct {
		Forms []struct {
			ID        string `json:"id"`
			FieldDefs []struct {
				Name     string `json:"name"`
				Type     string `json:"type"`
				Required bool   `json:"required"`
				Lookup   string `json:"lookup"`
			} `json:"field_defs"`
		} `json:"forms"`
		Lookups []struct {
			ID string `json:"id"`
		} `json:"lookups"`
	}
	mustJSON(t, &shown, as("forms", "show", "registration")...)
	if len(shown.Forms) != 1 || shown.Forms[0].ID != "registration" || len(shown.Lookups) == 0 {
		t.Fatalf("forms show registration -o json: got %+v", shown)
	}
	found := false
	for _, f := range shown.Forms[0].FieldDefs {
		if f.Name == "sex" {
			found = f.Type == "select" && f.Required && f.Lookup == "sex"
		}
	}
	if !found {
		t.Errorf("forms show registration -o json: sex is not a required select of lookup sex: %+v", shown.Forms[0].FieldDefs)
	}
	if r := cpx(t, nil, as("forms", "show", "no_such_form")...); r.code != 3 || !strings.Contains(r.stderr, "registration") {
		t.Errorf("forms show no_such_form: exit %d, stderr %q; want 3 naming the forms", r.code, r.stderr)
	}

	// ISO 3166-2 and hyphenated codes are accepted and stored canonical.
	var created struct{ Case caseJSON }
	mustJSON(t, &created, as("case", "create", "--set", "name_first=Amina", "--set", "sex=female", "--set", "location_current=SO-BN")...)
	if got := created.Case.Fields["location_current"]; got != "SO01" {
		t.Errorf("case create location_current=SO-BN: stored %v, want SO01", got)
	}
	// Unknown values name the nearest ones, through create and update.
	r := cpx(t, nil, as("case", "create", "--set", "name_first=Amina", "--set", "sex=femal", "--set", "location_current=SO-XX")...)
	for _, want := range []string{`unknown location "SO-XX"; did you mean SO01 (Banadir, SO-BN)`, `"femal" is not an option of lookup sex; did you mean female?`} {
		if r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Errorf("case create with unknown values: exit %d, stderr %q; want exit 1 and %q", r.code, r.stderr, want)
		}
	}
	r = cpx(t, nil, as("case", "update", created.Case.ID, "--set", "location_current=Hargeisa")...)
	if want := `did you mean SO0401 (Hargeisa)?`; r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("case update location_current=Hargeisa: exit %d, stderr %q; want exit 1 and %q", r.code, r.stderr, want)
	}
}
