package policy_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cpx-node/cpx/policy"
)

var allResources = []policy.Resource{"case", "user", "audit", "form", "node", "exchange", "peer", "isp", "tracing"}

var allActions = []policy.Action{
	"read", "list", "create", "update", "close", "history",
	"import", "export", "disable", "verify", "consent_override",
	"refer", "transfer", "respond", "revoke", "delete", "sign", "purge", "match",
	"assign", "assign_within_agency", "assign_within_user_group", "flag", "resolve_any_flag",
	"request_approval_assessment", "request_approval_case_plan", "request_approval_action_plan", "request_approval_closure",
	"approve_assessment", "approve_case_plan", "approve_action_plan", "approve_closure", "self_approve",
}

// roleSpec is the expected grant of each standard role, written out by
// hand from the design; the matrix test derives its expectations from it
// and never from the code under test.
var roleSpec = []struct {
	id, scope, perms string
	sees             string // the field classes shown, space-separated
}{
	{"caseworker", "self", "case: read list create update close history export refer transfer assign_within_user_group flag request_approval_assessment request_approval_case_plan request_approval_action_plan request_approval_closure; form: read; node: read; exchange: read list respond revoke; tracing: read list create update import match", "identifying sensitive ordinary"},
	{"supervisor", "group", "case: read list create update close history export import consent_override refer transfer assign_within_agency flag resolve_any_flag request_approval_assessment request_approval_case_plan request_approval_action_plan request_approval_closure approve_assessment approve_case_plan approve_action_plan approve_closure; form: read; node: read; audit: read; exchange: read list respond revoke; tracing: read list create update import match", "identifying sensitive ordinary"},
	{"agency_admin", "agency", "user: read list create disable; form: read; node: read update export; audit: read verify export; case: import; peer: read list create delete; isp: read list create sign; exchange: list", "identifying sensitive ordinary"},
	{"dpo", "agency", "case: read list history export consent_override purge; audit: read verify export; user: read list; form: read; node: read; isp: read list; exchange: read list; tracing: read list create update import match", "identifying sensitive ordinary"},
	{"coordinator", "agency", "case: read list; form: read; node: read", "ordinary"},
}

// parsePerms turns "case: read list; form: read" into a set of "case/read".
func parsePerms(t *testing.T, spec string) map[string]bool {
	t.Helper()
	set := map[string]bool{}
	for part := range strings.SplitSeq(spec, ";") {
		res, acts, ok := strings.Cut(part, ":")
		if !ok {
			t.Fatalf("bad spec part %q", part)
		}
		for _, a := range strings.Fields(acts) {
			set[strings.TrimSpace(res)+"/"+a] = true
		}
	}
	return set
}

// The subject of the matrix and the records it meets.
var (
	subject    = policy.Subject{User: "ana", Group: "north", Agency: "save"}
	situations = []struct {
		name string
		obj  *policy.Object
	}{
		{"none", nil}, // list, create: no record yet
		{"own", &policy.Object{Owner: "ana", OwnerGroup: "north", Agency: "save"}},
		{"group", &policy.Object{Owner: "ben", OwnerGroup: "north", Agency: "save"}},
		{"agency", &policy.Object{Owner: "cai", OwnerGroup: "south", Agency: "save"}},
		{"other", &policy.Object{Owner: "dee", OwnerGroup: "east", Agency: "aid"}},
	}
	// reach says which case situations each scope reaches, in the order
	// none own group agency other.
	reach = map[string]string{
		"self":   "x x . . .",
		"group":  "x x x . .",
		"agency": "x x x x .",
		"all":    "x x x x x",
	}
)

func TestAuthorizeMatrix(t *testing.T) {
	roles := policy.StandardRoles()
	if got, want := len(roles), len(roleSpec); got != want {
		t.Fatalf("len(StandardRoles()) = %d, want %d", got, want)
	}
	for _, spec := range roleSpec {
		role, ok := policy.RoleByID(roles, spec.id)
		if !ok {
			t.Fatalf("RoleByID(%q) not found", spec.id)
		}
		if got, want := string(role.Scope), spec.scope; got != want {
			t.Errorf("%s: scope = %q, want %q", spec.id, got, want)
		}
		for _, c := range policy.FieldClasses() {
			if got, want := role.SeesClass(c), slices.Contains(strings.Fields(spec.sees), string(c)); got != want {
				t.Errorf("%s.SeesClass(%s) = %v, want %v", spec.id, c, got, want)
			}
		}
		granted := parsePerms(t, spec.perms)
		reaches := strings.Fields(reach[spec.scope])
		s := subject
		s.Role = role
		for _, res := range allResources {
			for _, act := range allActions {
				perm := granted[string(res)+"/"+string(act)]
				if got, want := role.Can(res, act), perm; got != want {
					t.Errorf("%s.Can(%s, %s) = %v, want %v", spec.id, res, act, got, want)
				}
				for i, sit := range situations {
					scoped := res == policy.ResourceCase || res == policy.ResourceExchange || res == policy.ResourceTracing
					want := perm && (!scoped || reaches[i] == "x")
					d := policy.Authorize(s, res, act, sit.obj)
					if d.Allowed != want {
						t.Errorf("Authorize(%s, %s %s, %s) = %v (%q), want %v",
							spec.id, act, res, sit.name, d.Allowed, d.Reason, want)
					}
					if d.Allowed {
						if d.Reason != "" {
							t.Errorf("Authorize(%s, %s %s, %s) allowed with reason %q, want none",
								spec.id, act, res, sit.name, d.Reason)
						}
						continue
					}
					if !strings.Contains(d.Reason, fmt.Sprintf("%q", spec.id)) {
						t.Errorf("Authorize(%s, %s %s, %s) reason = %q, want it to name role %q",
							spec.id, act, res, sit.name, d.Reason, spec.id)
					}
				}
			}
		}
		// Every granted permission is a real one: the spec and the
		// enumerations above agree.
		if got, want := len(role.Permissions), len(granted); got != want {
			t.Errorf("%s: %d permissions, want %d", spec.id, got, want)
		}
	}
}

func TestAuthorizeEdges(t *testing.T) {
	roles := policy.StandardRoles()
	role := func(id string) policy.Role {
		r, ok := policy.RoleByID(roles, id)
		if !ok {
			t.Fatalf("no role %q", id)
		}
		return r
	}
	superuser := policy.Role{
		ID:          "superuser",
		Permissions: []policy.Permission{{Resource: policy.ResourceCase, Action: policy.ActionRead}},
		Scope:       policy.ScopeAll,
	}
	badScope := superuser
	badScope.ID, badScope.Scope = "broken", "planet"
	unknown, _ := policy.RoleByID(roles, "no_such_role")
	elsewhere := &policy.Object{Owner: "dee", OwnerGroup: "east", Agency: "aid"}

	tests := []struct {
		name string
		s    policy.Subject
		res  policy.Resource
		act  policy.Action
		obj  *policy.Object
		want bool
	}{
		{"zero role", policy.Subject{User: "ana"}, "form", "read", nil, false},
		{"unknown role", policy.Subject{User: "ana", Role: unknown}, "case", "read", nil, false},
		{"unknown resource", policy.Subject{User: "ana", Role: role("supervisor")}, "photo", "read", nil, false},
		{"unknown action", policy.Subject{User: "ana", Role: role("supervisor")}, "case", "delete", nil, false},
		{"scope all reaches other agency", policy.Subject{User: "ana", Agency: "save", Role: superuser}, "case", "read", elsewhere, true},
		{"invalid scope reaches nothing", policy.Subject{User: "ana", Agency: "aid", Role: badScope}, "case", "read", elsewhere, false},
		{"invalid scope without record", policy.Subject{User: "ana", Role: badScope}, "case", "read", nil, true},
		{"self: empty user never owns", policy.Subject{Role: role("caseworker")}, "case", "read", &policy.Object{}, false},
		{"group: own case in another group", policy.Subject{User: "ana", Group: "north", Role: role("supervisor")}, "case", "read",
			&policy.Object{Owner: "ana", OwnerGroup: "south", Agency: "save"}, true},
		{"group: empty group never matches", policy.Subject{User: "ana", Role: role("supervisor")}, "case", "read",
			&policy.Object{Owner: "ben", Agency: "save"}, false},
		{"agency: empty agency never matches", policy.Subject{User: "ana", Role: role("dpo")}, "case", "read",
			&policy.Object{Owner: "ben"}, false},
		{"a resource without owners ignores the object", policy.Subject{User: "ana", Agency: "save", Role: role("dpo")}, "audit", "verify", elsewhere, true},
		{"exchange of another group", policy.Subject{User: "ana", Group: "north", Agency: "save", Role: role("caseworker")}, "exchange", "read",
			&policy.Object{OwnerGroup: "intake", Agency: "save"}, false},
		{"exchange of the user's group", policy.Subject{User: "ana", Group: "intake", Agency: "save", Role: role("caseworker")}, "exchange", "respond",
			&policy.Object{OwnerGroup: "intake", Agency: "save"}, true},
		{"exchange addressed to another user of the group, self scope", policy.Subject{User: "ana", Group: "intake", Agency: "save", Role: role("caseworker")}, "exchange", "read",
			&policy.Object{Owner: "omar", OwnerGroup: "intake", Agency: "save"}, false},
		{"exchange the user owns", policy.Subject{User: "ana", Group: "north", Agency: "save", Role: role("caseworker")}, "exchange", "read",
			&policy.Object{Owner: "ana", OwnerGroup: "south", Agency: "save"}, true},
		{"tracing request of the agency, agency scope", policy.Subject{User: "dora", Agency: "save", Role: role("dpo")}, "tracing", "read",
			&policy.Object{Owner: "ana", OwnerGroup: "south", Agency: "save"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := policy.Authorize(tt.s, tt.res, tt.act, tt.obj)
			if got := d.Allowed; got != tt.want {
				t.Fatalf("Allowed = %v (%q), want %v", got, d.Reason, tt.want)
			}
			if !tt.want {
				if d.Reason == "" {
					t.Fatal("denied without a reason")
				}
				if id := fmt.Sprintf("%q", tt.s.Role.ID); !strings.Contains(d.Reason, id) {
					t.Errorf("reason %q does not name role %s", d.Reason, id)
				}
			}
		})
	}
}

func TestDenialReasons(t *testing.T) {
	roles := policy.StandardRoles()
	coordinator, _ := policy.RoleByID(roles, "coordinator")
	caseworker, _ := policy.RoleByID(roles, "caseworker")
	tests := []struct {
		name string
		s    policy.Subject
		res  policy.Resource
		act  policy.Action
		obj  *policy.Object
		want string
	}{
		{"permission", policy.Subject{User: "ana", Role: coordinator}, "case", "update", nil,
			`role "coordinator" may not update cases`},
		{"permission, phrased", policy.Subject{User: "ana", Role: coordinator}, "case", "consent_override", nil,
			`role "coordinator" may not override consent on cases`},
		{"scope self", policy.Subject{User: "ana", Group: "south", Role: caseworker}, "case", "read",
			&policy.Object{Owner: "ben", OwnerGroup: "north"},
			`case is owned by another user (group "north"); role "caseworker" reaches only its own cases (scope self)`},
		{"zero role", policy.Subject{User: "ana"}, "case", "read", nil,
			`role "" is unknown or disabled and grants nothing; ask an administrator to assign a role`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := policy.Authorize(tt.s, tt.res, tt.act, tt.obj)
			if got := d.Reason; d.Allowed || got != tt.want {
				t.Errorf("Authorize = {%v %q}, want {false %q}", d.Allowed, got, tt.want)
			}
		})
	}
}
