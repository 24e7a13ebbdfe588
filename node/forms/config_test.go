package forms_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cpx-node/cpx/node/forms"
)

func TestStandardPassesCheck(t *testing.T) {
	c := forms.Standard()
	if err := c.Check(); err != nil {
		t.Fatalf("Standard().Check() = %v, want nil", err)
	}
	var ids []string
	for _, f := range c.TopForms() {
		ids = append(ids, f.ID)
	}
	got := strings.Join(ids, ",")
	want := "registration,family_details,separation,protection_concerns,data_confidentiality,assessment,case_plan,followup,closure"
	if got != want {
		t.Errorf("TopForms ids = %s, want %s", got, want)
	}
	for _, name := range []string{"name_first", "sex", "family_details_section", "protection_concerns", "consent_info_sharing", "services_section", "closure_reason"} {
		if _, _, ok := c.Field(name); !ok {
			t.Errorf("Field(%q) not found, want a top-level field", name)
		}
	}
	if _, _, ok := c.Field("relation_age"); ok {
		t.Errorf("Field(relation_age) found, want not found (it is nested)")
	}
	f, form, ok := c.Field("sex")
	if !ok || form != "registration" || f.Lookup != "sex" || f.Required {
		t.Errorf("Field(sex) = %+v, %q, %v; want an optional select of lookup sex in registration (sex is sometimes not known)", f, form, ok)
	}
	if f, ok := c.Form("family_details_section"); !ok || !f.Nested {
		t.Errorf("Form(family_details_section) = %+v, %v; want a nested form", f, ok)
	}
	if _, ok := c.Form("nope"); ok {
		t.Errorf("Form(nope) found, want not found")
	}
	// Standard returns independent copies.
	c.Forms[0].Name = "changed"
	if got := forms.Standard().Forms[0].Name; got == "changed" {
		t.Errorf("Standard() shares state between calls")
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadDirOverride(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		// Replaces the standard closure form.
		"forms/closure.json": `{"id":"closure","name":"Case closure","order":95,"fields":[
			{"name":"closure_reason","label":"Reason","type":"select","lookup":"closure_reason","required":true},
			{"name":"closure_approved","label":"Approved","type":"tick_box"}]}`,
		// Adds a form using a new lookup.
		"forms/education.json": `{"id":"education","name":"Education","order":85,"fields":[
			{"name":"school_level","label":"School level","type":"select","lookup":"school_level"}]}`,
		"lookups.json": `[{"id":"school_level","name":"School level","options":[{"id":"none","label":"None"},{"id":"primary","label":"Primary"}]},
			{"id":"closure_reason","name":"Closure reason","options":[{"id":"reunified","label":"Reunified"},{"id":"moved","label":"Moved away"}]}]`,
		"locations.json": `[{"code":"UG","name":"Uganda","admin_level":0},{"code":"UG01","parent":"UG","name":"Adjumani","admin_level":1}]`,
	})
	c, err := forms.LoadDir(dir)
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	f, ok := c.Form("closure")
	if !ok || f.Name != "Case closure" || len(f.Fields) != 2 {
		t.Errorf("closure form = %+v, want the replacement", f)
	}
	if _, _, ok := c.Field("date_closure"); ok {
		t.Errorf("field date_closure of the replaced form still present")
	}
	top := c.TopForms()
	if got := top[len(top)-1].ID; got != "closure" {
		t.Errorf("last top form = %s, want closure (order 95)", got)
	}
	now := date(2025, 6, 1)
	for _, tc := range []struct {
		values map[string]any
		want   string // "" for success, else a rule
	}{
		{map[string]any{"school_level": "primary"}, ""},
		{map[string]any{"closure_reason": "moved"}, ""},
		{map[string]any{"closure_reason": "aged_out"}, "lookup"}, // replaced lookup
		{map[string]any{"location_current": "UG01"}, ""},
		{map[string]any{"location_current": "SO01"}, "location"}, // locations replaced
		{map[string]any{"sex": "female"}, ""},                    // standard lookups kept
	} {
		_, err := c.Normalize("", tc.values, now, true)
		if got := rules(err); got != tc.want {
			t.Errorf("Normalize(%v): got rules %q, want %q (err %v)", tc.values, got, tc.want, err)
		}
	}
	if _, err := c.Normalize("closure", map[string]any{}, now, false); rules(err) != "required" {
		t.Errorf("replaced closure form: got %v, want a required problem", err)
	}
}

func TestLoadDirEmptyAndMissing(t *testing.T) {
	c, err := forms.LoadDir(t.TempDir())
	if err != nil {
		t.Fatalf("LoadDir(empty dir): %v", err)
	}
	if got, want := len(c.Forms), len(forms.Standard().Forms); got != want {
		t.Errorf("LoadDir(empty dir) has %d forms, want %d", got, want)
	}
	if _, err := forms.LoadDir(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Errorf("LoadDir(missing dir) = nil error, want an error")
	}
}

func TestLoadDirBroken(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"forms/bad.json": `{"id":"bad","name":"Bad","order":1,"fields":[
			{"name":"Bad Name","label":"x","type":"text"},
			{"name":"status","label":"x","type":"text"},
			{"name":"sex","label":"dup of registration","type":"text"},
			{"name":"colour","label":"x","type":"colour"},
			{"name":"pick","label":"x","type":"select","lookup":"nope"},
			{"name":"pick","label":"x","type":"text"},
			{"name":"rows","label":"x","type":"subform","subform":"registration"},
			{"name":"rows2","label":"x","type":"subform","subform":"ghost"}]}`,
		"forms/typo.json":  `{"id":"typo","name":"Typo","order":1,"fields":[{"name":"a","label":"a","type":"text","requierd":true}]}`,
		"forms/dup1.json":  `{"id":"dupe","name":"D","order":1,"fields":[]}`,
		"forms/dup2.json":  `{"id":"dupe","name":"D","order":1,"fields":[]}`,
		"forms/trail.json": `{"id":"trail","name":"T","order":1,"fields":[]} {}`,
		"locations.json":   `[{"code":"SO","name":"Somalia","admin_level":0},{"code":"SO09","parent":"XX","name":"Lost","admin_level":1}]`,
		"lookups.json":     `[{"id":"empty","name":"Empty","options":[]}]`,
	})
	_, err := forms.LoadDir(dir)
	if err == nil {
		t.Fatal("LoadDir(broken dir) = nil error, want problems")
	}
	msg := err.Error()
	for _, want := range []string{
		`form "bad" (forms/bad.json): field "Bad Name": name must match`,
		`field "status": name is reserved`,
		`field "sex": field name also used in form "registration"`,
		`field "colour": unknown type "colour"`,
		`field "pick": unknown lookup "nope"`,
		`field "pick": duplicate field name in form`,
		`field "rows": subform "registration" is not a nested form`,
		`field "rows2": unknown subform "ghost"`,
		`forms/typo.json: json: unknown field "requierd"`,
		`forms/dup2.json: form id "dupe" also defined in forms/dup1.json`,
		`forms/trail.json: trailing data`,
		`location "SO09": unknown parent "XX"`,
		`lookup "empty": no options`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("LoadDir error lacks %q; got:\n%s", want, msg)
		}
	}
}

func TestCheck(t *testing.T) {
	min, max := 5.0, 1.0
	c := &forms.Config{
		Forms: []forms.Form{
			{ID: "a", Name: "A", Fields: []forms.Field{
				{Name: "x", Type: forms.Text},
				{Name: "n", Type: forms.Number, Min: &min, Max: &max},
				{Name: "s", Type: forms.Subform, Subform: "nest"},
			}},
			{ID: "a", Name: "A again"},
			{ID: "b", Name: "B", Fields: []forms.Field{{Name: "x", Type: forms.Text}}},
			{ID: "nest", Name: "N", Nested: true, Fields: []forms.Field{
				{Name: "x", Type: forms.Text}, // fine: nested forms have their own namespace
				{Name: "deeper", Type: forms.Subform, Subform: "nest"},
			}},
		},
		Lookups:   []forms.Lookup{{ID: "l", Name: "L", Options: []forms.Option{{ID: "o", Label: "O"}, {ID: "o", Label: "O"}}}},
		Locations: []forms.Location{{Code: "P", AdminLevel: 1}, {Code: "C", Parent: "P", AdminLevel: 1}},
	}
	err := c.Check()
	if err == nil {
		t.Fatal("Check() = nil, want problems")
	}
	msg := err.Error()
	for _, want := range []string{
		`form "a": duplicate form id`,
		`form "b": field "x": field name also used in form "a"`,
		`field "n": min 5 greater than max 1`,
		`field "deeper": subform inside nested form`,
		`lookup "l": duplicate option id "o"`,
		`location "C": admin_level 1 not greater than parent "P"'s 1`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("Check error lacks %q; got:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, `form "nest": field "x"`) {
		t.Errorf("Check reported a nested field sharing a top-level name; got:\n%s", msg)
	}
}
