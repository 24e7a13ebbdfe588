package policy_test

import (
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/cpx-node/cpx/policy"
)

// classes classifies the fields of sampleCase; "custom" is unclassified
// and "odd" has a class no role names.
type classes map[string]policy.FieldClass

func (c classes) FieldClass(name string) policy.FieldClass { return c[name] }

var sampleClasses = classes{
	"sex": policy.ClassOrdinary, "age": policy.ClassOrdinary, "risk_level": policy.ClassOrdinary,
	"location_current": policy.ClassSensitive, "religion": policy.ClassSensitive,
	"name_first": policy.ClassIdentifying, "caregiver_telephone": policy.ClassIdentifying,
	"icrc_ref_no": policy.ClassIdentifying, "closure_comments": policy.ClassIdentifying,
	"odd": "secret",
}

// hiddenSpec is the expected set of hidden fields of sampleCase per
// standard role.
var hiddenSpec = map[string][]string{
	"caseworker":   nil,
	"supervisor":   nil,
	"agency_admin": nil,
	"dpo":          nil,
	"coordinator": {
		"location_current", "religion", "name_first", "caregiver_telephone",
		"icrc_ref_no", "closure_comments", "custom", "odd",
	},
}

func sampleCase() map[string]any {
	c := map[string]any{"custom": "a custom field", "odd": "x"}
	for f := range sampleClasses {
		c[f] = "value of " + f
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
			in := sampleCase()
			got := role.Redact(sampleClasses, in)
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
				if got, want := role.Hides(sampleClasses, k), slices.Contains(hidden, k); got != want {
					t.Errorf("Hides(%q) = %v, want %v", k, got, want)
				}
			}
			if got := role.Redact(sampleClasses, nil); got != nil {
				t.Errorf("Redact(nil) = %v, want nil", got)
			}
		})
	}
}

// Without a classifier every field is identifying.
func TestRedactNilClassifier(t *testing.T) {
	roles := policy.StandardRoles()
	coord, _ := policy.RoleByID(roles, "coordinator")
	if got := coord.Redact(nil, map[string]any{"sex": "f"}); len(got) != 0 {
		t.Errorf("coordinator Redact(nil classifier) = %v, want empty", got)
	}
	cw, _ := policy.RoleByID(roles, "caseworker")
	if got := cw.Redact(nil, map[string]any{"sex": "f"}); len(got) != 1 {
		t.Errorf("caseworker Redact(nil classifier) = %v, want the field", got)
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
	if got := r.Redact(sampleClasses, map[string]any{"sex": "x"}); len(got) != 0 {
		t.Errorf("zero Role Redact = %v, want no field", got)
	}
	if err := r.Validate(); !errors.Is(err, policy.ErrInvalidRole) {
		t.Errorf("zero Role Validate() = %v, want ErrInvalidRole", err)
	}
}

func TestStandardRolesFresh(t *testing.T) {
	a := policy.StandardRoles()
	a[0].ID = "changed"
	a[4].Permissions[0].Action = policy.ActionUpdate
	a[4].Sees[0] = "changed"
	b := policy.StandardRoles()
	if got, want := b[0].ID, "caseworker"; got != want {
		t.Errorf("StandardRoles()[0].ID = %q after mutating an earlier result, want %q", got, want)
	}
	if got, want := b[4].Permissions[0].Action, policy.ActionRead; got != want {
		t.Errorf("coordinator first permission = %q after mutation, want %q", got, want)
	}
	if got, want := b[4].Sees[0], policy.ClassOrdinary; got != want {
		t.Errorf("coordinator first class seen = %q after mutation, want %q", got, want)
	}

	r, _ := policy.RoleByID(b, "coordinator")
	r.Sees[0] = "changed"
	if got, want := b[4].Sees[0], policy.ClassOrdinary; got != want {
		t.Errorf("RoleByID shares Sees: got %q, want %q", got, want)
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
		{"known classes", func(r *policy.Role) { r.Sees = policy.FieldClasses() }, true},
		{"unknown class", func(r *policy.Role) { r.Sees = []policy.FieldClass{"secret"} }, false},
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
