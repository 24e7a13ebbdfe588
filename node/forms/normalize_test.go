package forms_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/forms"
)

func date(y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 12, 0, 0, 0, time.UTC)
}

// rules returns the rules of err's problems joined by commas, "" for nil.
func rules(err error) string {
	var ve *forms.ValidationError
	if err == nil {
		return ""
	}
	if !errors.As(err, &ve) {
		return "not a ValidationError: " + err.Error()
	}
	var rs []string
	for _, p := range ve.Problems {
		rs = append(rs, p.Rule)
	}
	return strings.Join(rs, ",")
}

// problems returns "field:rule" for each problem of err joined by spaces.
func problems(err error) string {
	var ve *forms.ValidationError
	if err == nil {
		return ""
	}
	if !errors.As(err, &ve) {
		return "not a ValidationError: " + err.Error()
	}
	var ps []string
	for _, p := range ve.Problems {
		ps = append(ps, p.Field+":"+p.Rule)
	}
	return strings.Join(ps, " ")
}

// service is a case with one service of one field.
func service(k string, v any) map[string]any {
	return map[string]any{"services_section": []any{map[string]any{k: v}}}
}

// full is a valid registration: a given name and the sex.
func full(kv ...any) map[string]any {
	m := map[string]any{"name_first": "Amina", "sex": "female"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func TestNormalize(t *testing.T) {
	c := forms.Standard()
	now := date(2025, 6, 1)
	long := strings.Repeat("é", 2001)
	tests := []struct {
		name    string
		form    string
		partial bool
		in      map[string]any
		want    map[string]any // on success
		probs   string         // "field:rule ..." on failure
	}{
		// Required, unknown fields, partial vs full.
		{name: "minimal", form: "registration", in: full(), want: full()},
		// a child known only by a family name or a nickname, sex not known
		{name: "no given name, no sex", form: "registration", in: map[string]any{"name_last": "X"},
			want: map[string]any{"name_last": "X"}},
		{name: "required missing", in: service("service_implementing_agency", "X"),
			probs: "services_section[0].service_type:required"},
		{name: "required empty string", in: service("service_type", "  "),
			probs: "services_section[0].service_type:required"},
		{name: "required nil", in: service("service_type", nil), probs: "services_section[0].service_type:required"},
		{name: "invalid required not reported twice", in: service("service_type", "x"),
			probs: "services_section[0].service_type:lookup"},
		{name: "partial skips required", form: "registration", partial: true,
			in: map[string]any{"name_last": "Hassan"}, want: map[string]any{"name_last": "Hassan"}},
		{name: "partial keeps nil", form: "registration", partial: true,
			in:   map[string]any{"age": nil, "ethnicity": "", "protection_concerns": []any{}},
			want: map[string]any{"age": nil, "ethnicity": nil, "protection_concerns": nil}},
		{name: "full drops nil", form: "registration", in: full("age", nil, "ethnicity", ""), want: full()},
		{name: "no form", in: map[string]any{"closure_reason": "death"}, want: map[string]any{"closure_reason": "death"}},
		{name: "fields of other forms", form: "registration", in: full("tracing_status", "open"),
			want: full("tracing_status", "open")},
		{name: "unknown field", form: "registration", in: full("favourite_colour", "blue", "id", "x"),
			probs: "favourite_colour:unknown_field id:unknown_field"},
		{name: "read-only field", in: map[string]any{"matched_tracing_request_id": "TR-000001"},
			probs: "matched_tracing_request_id:read_only"},
		{name: "read-only field cleared", partial: true, in: map[string]any{"matched_tracing_request_id": nil},
			probs: "matched_tracing_request_id:read_only"},
		{name: "nested field at top level", in: map[string]any{"relation_age": 3.0},
			probs: "relation_age:unknown_field"},

		// text / textarea
		{name: "text", in: map[string]any{"ethnicity": "Somali Bantu"}, want: map[string]any{"ethnicity": "Somali Bantu"}},
		{name: "text not string", in: map[string]any{"ethnicity": 3.0, "telephone_current": json.Number("123")},
			probs: "ethnicity:type telephone_current:type"},
		{name: "text max_length field", in: map[string]any{"name_first": strings.Repeat("a", 201)},
			probs: "name_first:max_length"},
		{name: "text default limit in characters", in: map[string]any{"caregiver_name": strings.Repeat("é", 200)},
			want: map[string]any{"caregiver_name": strings.Repeat("é", 200)}},
		{name: "textarea default limit", in: map[string]any{"address_current": long},
			want: map[string]any{"address_current": long}},
		{name: "textarea over limit", in: map[string]any{"address_current": strings.Repeat("a", 20001)},
			probs: "address_current:max_length"},
		{name: "textarea newline tab crlf", in: map[string]any{"closure_comments": "a\r\nb\tc\n"},
			want: map[string]any{"closure_comments": "a\nb\tc\n"}},
		{name: "textarea control", in: map[string]any{"closure_comments": "a\x00b"},
			probs: "closure_comments:control_chars"},
		{name: "text newline", in: map[string]any{"ethnicity": "a\nb", "name_last": "x\u0085"},
			probs: "ethnicity:control_chars name_last:control_chars"},
		{name: "utf8", in: map[string]any{"ethnicity": "a\xffb", "sex": "\xfe"},
			probs: "ethnicity:utf8 sex:utf8"},

		// number
		{name: "number", in: map[string]any{"age": 12.0}, want: map[string]any{"age": 12.0}},
		{name: "number from string", in: map[string]any{"age": " 7.5 "}, want: map[string]any{"age": 7.5}},
		{name: "number json.Number", in: map[string]any{"age": json.Number("4")}, want: map[string]any{"age": 4.0}},
		{name: "number bad", in: map[string]any{"age": "seven"}, probs: "age:type"},
		{name: "number bool", in: map[string]any{"age": true}, probs: "age:type"},
		{name: "number NaN", in: map[string]any{"age": "NaN"}, probs: "age:type"},
		{name: "number min", in: map[string]any{"age": -1.0}, probs: "age:min"},
		{name: "number max", in: map[string]any{"age": "31"}, probs: "age:max"},
		{name: "number bounds inclusive", in: map[string]any{"age": "30"}, want: map[string]any{"age": 30.0}},

		// date
		{name: "date", in: map[string]any{"date_of_birth": "2015-02-28"}, want: map[string]any{"date_of_birth": "2015-02-28"}},
		{name: "date today", in: map[string]any{"date_of_birth": "2025-06-01"}, want: map[string]any{"date_of_birth": "2025-06-01"}},
		{name: "date future", in: map[string]any{"date_of_birth": "2025-06-02"}, probs: "date_of_birth:not_future"},
		{name: "date future allowed", in: map[string]any{"assessment_due_date": "2025-07-01"},
			want: map[string]any{"assessment_due_date": "2025-07-01"}},
		{name: "date formats", in: map[string]any{"date_of_birth": "01/02/2015", "registration_date": "2015-2-1",
			"date_closure": "2015-02-30", "date_of_separation": "2015-02-01T00:00:00Z"},
			probs: "date_closure:date_format date_of_birth:date_format date_of_separation:date_format registration_date:date_format"},
		{name: "date not string", in: map[string]any{"date_of_birth": 2015.0}, probs: "date_of_birth:type"},

		// select
		{name: "select", in: map[string]any{"risk_level": "high"}, want: map[string]any{"risk_level": "high"}},
		{name: "select case and label", in: map[string]any{"risk_level": "HIGH", "nationality": "Somalia"},
			want: map[string]any{"risk_level": "high", "nationality": "so"}},
		{name: "select bad", in: map[string]any{"risk_level": "extreme"}, probs: "risk_level:lookup"},
		{name: "select not string", in: map[string]any{"risk_level": []any{"high"}}, probs: "risk_level:type"},

		// multi_select
		{name: "multi array", in: map[string]any{"protection_concerns": []any{"neglect", "caafag", "neglect"}},
			want: map[string]any{"protection_concerns": []any{"neglect", "caafag"}}},
		{name: "multi string", in: map[string]any{"consent_info_sharing": "family, unhcr,,Family"},
			want: map[string]any{"consent_info_sharing": []any{"family", "unhcr"}}},
		{name: "multi bad option", in: map[string]any{"protection_concerns": []any{"neglect", "boredom"}},
			probs: "protection_concerns:lookup"},
		{name: "multi bad element", in: map[string]any{"protection_concerns": []any{"neglect", 3.0}},
			probs: "protection_concerns[1]:type"},
		{name: "multi not list", in: map[string]any{"protection_concerns": true}, probs: "protection_concerns:type"},

		// tick_box
		{name: "tick", in: map[string]any{"estimated": true, "consent_for_services": "yes", "consent_reporting": "0",
			"consent_for_tracing": "False", "disclosure_other_orgs": 1.0},
			want: map[string]any{"estimated": true, "consent_for_services": true, "consent_reporting": false,
				"consent_for_tracing": false, "disclosure_other_orgs": true}},
		{name: "tick bad", in: map[string]any{"estimated": "maybe", "consent_reporting": 2.0},
			probs: "consent_reporting:type estimated:type"},

		// location
		{name: "location", in: map[string]any{"location_current": "SO0101", "location_last": "ke01"},
			want: map[string]any{"location_current": "SO0101", "location_last": "KE01"}},
		{name: "location bad", in: map[string]any{"location_current": "SO9999"}, probs: "location_current:location"},
		{name: "location not string", in: map[string]any{"location_current": 1.0}, probs: "location_current:type"},

		// subform
		{name: "subform", in: map[string]any{"family_details_section": []any{
			map[string]any{"relation_name": "Fatuma", "relation": "mother", "relation_age": "34", "relation_is_caregiver": "yes", "relation_sex": nil},
			map[string]any{},
		}}, want: map[string]any{"family_details_section": []any{
			map[string]any{"relation_name": "Fatuma", "relation": "mother", "relation_age": 34.0, "relation_is_caregiver": true},
			map[string]any{},
		}}},
		{name: "subform from CSV string", in: map[string]any{"services_section": `[{"service_type":"health","service_appointment_date":"2025-07-01"}]`},
			want: map[string]any{"services_section": []any{
				map[string]any{"service_type": "health", "service_appointment_date": "2025-07-01"}}}},
		{name: "subform empty", partial: true, in: map[string]any{"services_section": "[]"},
			want: map[string]any{"services_section": nil}},
		{name: "subform problems", in: map[string]any{"family_details_section": []any{
			map[string]any{"relation_age": 1.0},
			"not a row",
			map[string]any{"relation_age": "x", "relation": "cousin", "relation_date_of_birth": "2030-01-01", "name_first": "A"},
		}}, probs: "family_details_section[1]:type family_details_section[2].name_first:unknown_field " +
			"family_details_section[2].relation_age:type family_details_section[2].relation_date_of_birth:not_future"},
		{name: "subform row required", in: map[string]any{"services_section": []any{map[string]any{"service_notes": "x"}}},
			probs: "services_section[0].service_type:required"},
		{name: "subform bad JSON", in: map[string]any{"services_section": "[{"}, probs: "services_section:type"},
		{name: "subform not list", in: map[string]any{"services_section": map[string]any{}}, probs: "services_section:type"},

		// CSV-like: everything a string.
		{name: "csv row", form: "registration", in: map[string]any{
			"name_first": "Ali", "sex": "Male", "age": "9", "estimated": "yes", "date_of_birth": "",
			"nationality": "so", "location_current": "so0201", "protection_concerns": "separated,child_labour",
		}, want: map[string]any{
			"name_first": "Ali", "sex": "male", "age": 9.0, "estimated": true,
			"nationality": "so", "location_current": "SO0201", "protection_concerns": []any{"separated", "child_labour"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Normalize(tc.form, tc.in, now, tc.partial)
			if tc.probs != "" {
				if p := problems(err); p != tc.probs {
					t.Fatalf("got problems %q, want %q (err: %v)", p, tc.probs, err)
				}
				if got != nil {
					t.Errorf("got map %v with an error, want nil", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
			again, err := c.Normalize(tc.form, got, now, tc.partial)
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Errorf("re-Normalize got %#v, %v; want %#v, nil", again, err, got)
			}
		})
	}
}

func TestNormalizeUnknownForm(t *testing.T) {
	c := forms.Standard()
	for _, id := range []string{"nope", "family_details_section"} {
		_, err := c.Normalize(id, map[string]any{}, time.Now(), false)
		if !errors.Is(err, forms.ErrUnknownForm) {
			t.Errorf("Normalize(%q) error = %v, want ErrUnknownForm", id, err)
		}
	}
}

func TestNormalizeDoesNotModifyInput(t *testing.T) {
	c := forms.Standard()
	in := map[string]any{"age": "5", "family_details_section": []any{map[string]any{"relation_age": "40"}}}
	if _, err := c.Normalize("", in, time.Now(), false); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"age": "5", "family_details_section": []any{map[string]any{"relation_age": "40"}}}
	if !reflect.DeepEqual(in, want) {
		t.Errorf("input after Normalize = %v, want %v", in, want)
	}
}

func TestValidationErrorMessage(t *testing.T) {
	c := forms.Standard()
	_, err := c.Normalize("", map[string]any{"sex": "x", "age": "old"}, time.Now(), false)
	got := err.Error()
	want := `field "age": must be a number, not "old" (rule type); field "sex": "x" is not an option of lookup sex; the options are female, male, other, unknown (rule lookup)`
	if got != want {
		t.Errorf("Error() = %s\nwant %s", got, want)
	}
}
