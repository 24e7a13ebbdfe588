package policy_test

import (
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/cpx-node/cpx/policy"
)

// hiddenSpec is the expected set of hidden case fields per standard role.
var hiddenSpec = map[string][]string{
	"caseworker":   nil,
	"supervisor":   nil,
	"agency_admin": nil,
	"dpo":          nil,
	"coordinator": {
		"name_first", "name_middle", "name_last", "name_nickname", "name_other",
		"date_of_birth", "address_current", "telephone_current", "unhcr_id_no",
		"national_id_no", "caregiver_name", "family_details_section",
		"location_current", "disclosure_deny_details", "protection_concern_details",
		"assessment_summary", "case_plan_goals", "closure_comments",
	},
}

// sampleCase holds every identifying field plus some that no role hides.
func sampleCase() map[string]any {
	c := map[string]any{
		"case_id":    "c-1",
		"sex":        "female",
		"age":        11,
		"risk_level": "high",
		"status":     "open",
	}
	for _, f := range hiddenSpec["coordinator"] {
		c[f] = "secret " + f
	}
	return c
}

func TestRedactAndHides(t *testing.T) {
	for _, role := range policy.StandardRoles() {
		t.Run(role.ID, func(t *testing.T) {
			hidden, ok := hiddenSpec[role.ID]
			if !ok {
				t.Fatalf("no hidden-field spec for role %q", role.ID)
			}
			if got, want := slices.Sorted(slices.Values(role.HiddenFields)), slices.Sorted(slices.Values(hidden)); !slices.Equal(got, want) {
				t.Errorf("HiddenFields = %q, want %q", got, want)
			}
			in := sampleCase()
			got := role.Redact(in)
			want := sampleCase()
			for _, f := range hidden {
				delete(want, f)
			}
			if !maps.Equal(got, want) {
				t.Errorf("Redact keys = %q, want %q", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
			}
			if !equalKeys(in, sampleCase()) {
				t.Errorf("Redact modified its input: keys %q", slices.Sorted(maps.Keys(in)))
			}
			for k := range in {
				if got, want := role.Hides(k), slices.Contains(hidden, k); got != want {
					t.Errorf("Hides(%q) = %v, want %v", k, got, want)
				}
			}
			if got := role.Redact(nil); got != nil {
				t.Errorf("Redact(nil) = %v, want nil", got)
			}
		})
	}
}

func equalKeys(a, b map[string]any) bool {
	return slices.Equal(slices.Sorted(maps.Keys(a)), slices.Sorted(maps.Keys(b)))
}

func TestZeroRole(t *testing.T) {
	var r policy.Role
	if r.Can(policy.ResourceForm, policy.ActionRead) {
		t.Error("zero Role can read forms, want no permissions")
	}
	if got := r.Redact(map[string]any{"name_first": "x"}); len(got) != 1 {
		t.Errorf("zero Role Redact = %v, want input unchanged", got)
	}
	if err := r.Validate(); !errors.Is(err, policy.ErrInvalidRole) {
		t.Errorf("zero Role Validate() = %v, want ErrInvalidRole", err)
	}
}

func TestStandardRolesFresh(t *testing.T) {
	a := policy.StandardRoles()
	a[0].ID = "changed"
	a[4].Permissions[0].Action = policy.ActionUpdate
	a[4].HiddenFields[0] = "changed"
	b := policy.StandardRoles()
	if got, want := b[0].ID, "caseworker"; got != want {
		t.Errorf("StandardRoles()[0].ID = %q after mutating an earlier result, want %q", got, want)
	}
	if got, want := b[4].Permissions[0].Action, policy.ActionRead; got != want {
		t.Errorf("coordinator first permission = %q after mutation, want %q", got, want)
	}
	if got, want := b[4].HiddenFields[0], "name_first"; got != want {
		t.Errorf("coordinator first hidden field = %q after mutation, want %q", got, want)
	}

	r, _ := policy.RoleByID(b, "coordinator")
	r.HiddenFields[0] = "changed"
	if got, want := b[4].HiddenFields[0], "name_first"; got != want {
		t.Errorf("RoleByID shares HiddenFields: got %q, want %q", got, want)
	}
	if _, ok := policy.RoleByID(b, ""); ok {
		t.Error(`RoleByID("") found a role`)
	}
}

func TestValidate(t *testing.T) {
	for _, r := range policy.StandardRoles() {
		if err := r.Validate(); err != nil {
			t.Errorf("standard role %q: Validate() = %v, want nil", r.ID, err)
		}
	}
	good := policy.Role{
		ID:          "intake",
		Permissions: []policy.Permission{{Resource: policy.ResourceCase, Action: policy.ActionCreate}},
		Scope:       policy.ScopeSelf,
	}
	tests := []struct {
		name   string
		modify func(*policy.Role)
		ok     bool
	}{
		{"good", func(*policy.Role) {}, true},
		{"empty id", func(r *policy.Role) { r.ID = "" }, false},
		{"empty scope", func(r *policy.Role) { r.Scope = "" }, false},
		{"unknown scope", func(r *policy.Role) { r.Scope = "region" }, false},
		{"unknown resource", func(r *policy.Role) {
			r.Permissions = append(r.Permissions, policy.Permission{Resource: "incident", Action: policy.ActionRead})
		}, false},
		{"unknown action", func(r *policy.Role) {
			r.Permissions = append(r.Permissions, policy.Permission{Resource: policy.ResourceCase, Action: "obliterate"})
		}, false},
		{"empty hidden field", func(r *policy.Role) { r.HiddenFields = []string{""} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good
			r.Permissions = slices.Clone(good.Permissions)
			tt.modify(&r)
			err := r.Validate()
			if got := err == nil; got != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, policy.ErrInvalidRole) {
				t.Errorf("Validate() = %v, want it to wrap ErrInvalidRole", err)
			}
		})
	}
}
