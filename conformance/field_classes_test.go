package conformance_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A role names the field classes it sees. The coordinator sees ordinary
// fields only: not a custom field the forms leave unclassified, nor the
// caregiver's telephone, nor free text; a caseworker sees them all.
func TestFieldClassesCoordinator(t *testing.T) {
	formsDir := filepath.Join(t.TempDir(), "forms")
	if err := os.MkdirAll(filepath.Join(formsDir, "forms"), 0o755); err != nil {
		t.Fatal(err)
	}
	custom := `{"id": "schooling", "name": "Schooling", "order": 95, "fields": [
  {"name": "school_contact", "label": "School contact", "type": "text"}
]}`
	if err := os.WriteFile(filepath.Join(formsDir, "forms", "schooling.json"), []byte(custom), 0o644); err != nil {
		t.Fatal(err)
	}
	r := cpx(t, nil, "forms", "validate", formsDir)
	if r.code != 0 || !strings.Contains(r.stderr, "schooling.school_contact") || !strings.Contains(r.stderr, "identifying") {
		t.Errorf("forms validate: exit %d, stderr %q; want 0 and a warning naming schooling.school_contact", r.code, r.stderr)
	}

	dir := initNode(t, "agency-f")
	n := startEnv(t, dir, []string{"CPX_FORMS_DIR=" + formsDir})
	cw := []string{"--api", n.url, "--token", addUser(t, dir, "carla", "caseworker", "--group", "north")}
	co := []string{"--api", n.url, "--token", addUser(t, dir, "cora", "coordinator")}

	restricted := map[string]string{
		"school_contact":      "Mr Farah 0612345678",
		"caregiver_telephone": "+252 61 555 0101",
		"telephone_last":      "+252 61 555 0202",
		"icrc_ref_no":         "ICRC-77",
		"location_current":    "SO-BN",
		"closure_comments":    "left with an uncle in Burao",
	}
	args := []string{"case", "create", "--set", "name_first=Hibo", "--set", "sex=female", "--set", "age=8"}
	for k, v := range restricted {
		args = append(args, "--set", k+"="+v)
	}
	var created struct{ Case caseJSON }
	mustJSON(t, &created, append(args, cw...)...)
	id := created.Case.ID

	var own struct{ Case caseJSON }
	mustJSON(t, &own, append([]string{"case", "get", id}, cw...)...)
	for k := range restricted {
		if _, ok := own.Case.Fields[k]; !ok {
			t.Errorf("caseworker case get: field %q missing, want it shown", k)
		}
	}

	var seen struct{ Case caseJSON }
	mustJSON(t, &seen, append([]string{"case", "get", id}, co...)...)
	if got, want := seen.Case.Fields["sex"], "female"; got != want {
		t.Errorf("coordinator case get: sex = %v, want %v", got, want)
	}
	for _, k := range append([]string{"name_first"}, keys(restricted)...) {
		if v, ok := seen.Case.Fields[k]; ok {
			t.Errorf("coordinator case get: got field %q = %v, want it hidden", k, v)
		}
	}
	listed := must(t, append([]string{"case", "list", "-o", "json"}, co...)...)
	for k, v := range restricted {
		if strings.Contains(listed, v) {
			t.Errorf("coordinator case list shows %s (%q)", k, v)
		}
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
