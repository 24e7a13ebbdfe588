package forms_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cpx-node/cpx/node/forms"
	"github.com/cpx-node/cpx/policy"
)

func TestStandardClassifiesEveryField(t *testing.T) {
	if got := forms.Standard().Unclassified(); len(got) != 0 {
		t.Errorf("Standard().Unclassified() = %q, want none", got)
	}
}

// The coordinator sees ordinary fields only: none of these.
func TestStandardCoordinatorSeesNoRestrictedField(t *testing.T) {
	c := forms.Standard()
	coord, _ := policy.RoleByID(policy.StandardRoles(), "coordinator")
	restricted := []string{
		"name_first", "date_of_birth", "caregiver_name", "caregiver_telephone", "telephone_current", "telephone_last",
		"address_current", "address_last", "location_current", "location_last", "location_separation",
		"unhcr_id_no", "national_id_no", "icrc_ref_no", "other_agency_id", "matched_tracing_request_id",
		"ethnicity", "religion", "family_details_section", "services_section", "followup_subform_section",
		"separation_cause_other", "consent_source_other", "consent_info_sharing_others", "disclosure_deny_details",
		"protection_concern_details", "assessment_summary", "case_plan_goals", "closure_comments",
		"not_a_field",
	}
	for _, f := range restricted {
		if !coord.Hides(c, f) {
			t.Errorf("coordinator sees %q (class %q), want it hidden", f, c.FieldClass(f))
		}
	}
	for _, f := range []string{"sex", "age", "nationality", "risk_level", "protection_concerns", "consent_for_tracing"} {
		if coord.Hides(c, f) {
			t.Errorf("coordinator does not see %q, want it shown", f)
		}
	}
	// Every free-text field is identifying, top-level and nested.
	for _, f := range c.Forms {
		for _, fd := range f.Fields {
			if (fd.Type == forms.Text || fd.Type == forms.TextArea) && fd.Class != policy.ClassIdentifying && fd.Class != policy.ClassSensitive {
				t.Errorf("%s.%s is free text of class %q, want identifying or sensitive", f.ID, fd.Name, fd.Class)
			}
		}
	}
}

func TestClassCustomField(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "forms"), 0o755); err != nil {
		t.Fatal(err)
	}
	form := `{"id": "extra", "name": "Extra", "order": 99, "fields": [
		{"name": "school", "label": "School", "type": "text"},
		{"name": "grade", "label": "Grade", "type": "number", "class": "ordinary"}]}`
	if err := os.WriteFile(filepath.Join(dir, "forms", "extra.json"), []byte(form), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := forms.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Unclassified(), []string{"extra.school"}; !slices.Equal(got, want) {
		t.Errorf("Unclassified() = %q, want %q", got, want)
	}
	for _, tt := range []struct {
		field string
		want  policy.FieldClass
	}{
		{"school", policy.ClassIdentifying},
		{"grade", policy.ClassOrdinary},
		{"sex", policy.ClassOrdinary},
		{"unknown", policy.ClassIdentifying},
	} {
		if got := c.FieldClass(tt.field); got != tt.want {
			t.Errorf("FieldClass(%q) = %q, want %q", tt.field, got, tt.want)
		}
	}

	bad := strings.Replace(form, `"class": "ordinary"`, `"class": "public"`, 1)
	if err := os.WriteFile(filepath.Join(dir, "forms", "extra.json"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := forms.LoadDir(dir); err == nil || !strings.Contains(err.Error(), `unknown class "public"`) {
		t.Errorf("LoadDir with class public = %v, want an unknown class error", err)
	}
}
