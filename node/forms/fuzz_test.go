package forms_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"testing/fstest"

	"github.com/cpx-node/cpx/node/forms"
)

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		`{}`,
		`{"name_first":"Amina","sex":"female","age":"12","estimated":"yes"}`,
		`{"protection_concerns":"neglect,caafag,neglect","consent_info_sharing":["family"]}`,
		`{"family_details_section":[{"relation":"mother","relation_age":34},{}]}`,
		`{"services_section":"[{\"service_type\":\"health\"}]","location_current":"so01"}`,
		`{"date_of_birth":"2015-02-28","closure_comments":"a\r\nb","age":null}`,
		`{"bogus":1,"age":-1,"date_closure":"2015-02-30"}`,
	} {
		f.Add(s, "registration", false)
		f.Add(s, "", true)
	}
	c := forms.Standard()
	now := date(2025, 6, 1)
	f.Fuzz(func(t *testing.T, data string, form string, partial bool) {
		var values map[string]any
		if err := json.Unmarshal([]byte(data), &values); err != nil {
			return
		}
		out, err := c.Normalize(form, values, now, partial)
		if err != nil {
			return
		}
		again, err := c.Normalize(form, out, now, partial)
		if err != nil {
			t.Fatalf("re-Normalize(%#v) error: %v", out, err)
		}
		if !reflect.DeepEqual(again, out) {
			t.Fatalf("re-Normalize got %#v, want %#v", again, out)
		}
	})
}

func FuzzLoadForm(f *testing.F) {
	f.Add(`{"id":"education","name":"Education","order":85,"fields":[{"name":"school_level","label":"L","type":"select","lookup":"sex"}]}`)
	f.Add(`{"id":"closure","name":"Closure","order":1,"fields":[{"name":"x","label":"x","type":"number","min":1,"max":0}]}`)
	f.Add(`{"id":"nest","name":"N","nested":true,"fields":[{"name":"rows","label":"r","type":"subform","subform":"nest"}]}`)
	f.Add(`{"id":"registration","fields":null}`)
	f.Fuzz(func(t *testing.T, data string) {
		fsys := fstest.MapFS{"forms/form.json": &fstest.MapFile{Data: []byte(data)}}
		c, err := forms.LoadFS(fsys)
		if err != nil {
			return
		}
		// A checked config must be usable.
		c.TopForms()
		for _, fm := range c.Forms {
			if _, ok := c.Form(fm.ID); !ok {
				t.Fatalf("Form(%q) not found in a checked config", fm.ID)
			}
			if !fm.Nested {
				_, _ = c.Normalize(fm.ID, map[string]any{}, date(2025, 6, 1), false)
			}
		}
	})
}
