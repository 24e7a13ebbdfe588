package policy

import (
	"errors"
	"fmt"
	"slices"
)

// ErrInvalidRole is wrapped by every error [Role.Validate] returns.
var ErrInvalidRole = errors.New("invalid role")

// Permission allows one action on one resource.
type Permission struct {
	Resource Resource
	Action   Action
}

// Role is a named set of permissions with a scope and a list of case form
// fields hidden from it. The zero Role grants nothing.
type Role struct {
	ID, Name    string
	Permissions []Permission
	// Scope says which cases the role reaches; see [Authorize].
	Scope Scope
	// HiddenFields are case form fields never shown to this role; see
	// [Role.Redact].
	HiddenFields []string
	// Grants are the roles a holder of this role may give to users (the
	// user create permission is needed too). Giving one that reads other
	// people's cases (see [Role.ReadsOthersCases]) needs a second person.
	Grants []string
}

// ReadsOthersCases reports whether the role reads cases beyond the user's
// own: granting it gives access to existing case files.
func (r Role) ReadsOthersCases() bool {
	return r.Can(ResourceCase, ActionRead) && r.Scope != ScopeSelf
}

// MayGrant reports whether the role may give role id to users.
func (r Role) MayGrant(id string) bool { return slices.Contains(r.Grants, id) }

// Identifying fields of the standard case forms, hidden from the
// coordinator role.
var identifyingFields = []string{
	"name_first",
	"name_middle",
	"name_last",
	"name_nickname",
	"name_other",
	"date_of_birth",
	"address_current",
	"telephone_current",
	"unhcr_id_no",
	"national_id_no",
	"caregiver_name",
	"family_details_section",
	"location_current",
	"disclosure_deny_details",
	"protection_concern_details",
	"assessment_summary",
	"case_plan_goals",
	"closure_comments",
}

func perms(res Resource, acts ...Action) []Permission {
	ps := make([]Permission, len(acts))
	for i, a := range acts {
		ps[i] = Permission{Resource: res, Action: a}
	}
	return ps
}

// StandardRoles returns the built-in roles, freshly allocated on each call
// so callers may modify them:
//
//   - caseworker: manages its own cases, flags them, requests approvals
//     and hands cases to colleagues of its group (scope self);
//   - supervisor: a caseworker for its user group, who may also import
//     cases, override consent, read the audit log, assign within the
//     agency, resolve anyone's flag and approve (never its own requests:
//     no standard role holds self_approve) (scope group);
//   - agency_admin: administers users and the node and checks the audit
//     log, but cannot read case files; case import is for migrations and
//     reveals only ids (scope agency);
//   - dpo: the data-protection focal point, who reads, exports and
//     overrides consent on the agency's cases and checks the audit log
//     (scope agency);
//   - coordinator: reads the agency's cases without identifying fields
//     (scope agency).
func StandardRoles() []Role {
	caseworkerCase := []Action{ActionRead, ActionList, ActionCreate, ActionUpdate, ActionClose, ActionHistory, ActionExport, ActionRefer, ActionTransfer,
		ActionFlag, ActionRequestApprovalAssess, ActionRequestApprovalCasePlan, ActionRequestApprovalAction, ActionRequestApprovalClosure}
	common := slices.Concat(perms(ResourceForm, ActionRead), perms(ResourceNode, ActionRead))
	exchanges := perms(ResourceExchange, ActionRead, ActionList, ActionRespond, ActionRevoke)
	tracing := perms(ResourceTracing, ActionRead, ActionList, ActionCreate, ActionUpdate, ActionImport, ActionMatch)
	return []Role{
		{
			ID:          "caseworker",
			Name:        "Caseworker",
			Permissions: slices.Concat(perms(ResourceCase, append(slices.Clone(caseworkerCase), ActionAssignWithinUserGroup)...), common, exchanges, tracing),
			Scope:       ScopeSelf,
		},
		{
			ID:   "supervisor",
			Name: "Supervisor",
			Permissions: slices.Concat(
				perms(ResourceCase, append(slices.Clone(caseworkerCase), ActionImport, ActionConsentOverride,
					ActionAssignWithinAgency, ActionResolveAnyFlag,
					ActionApproveAssessment, ActionApproveCasePlan, ActionApproveActionPlan, ActionApproveClosure)...),
				common,
				perms(ResourceAudit, ActionRead),
				exchanges,
				tracing,
			),
			Scope: ScopeGroup,
		},
		{
			ID:   "agency_admin",
			Name: "Agency administrator",
			Permissions: slices.Concat(
				perms(ResourceUser, ActionRead, ActionList, ActionCreate, ActionDisable),
				common,
				perms(ResourceNode, ActionUpdate, ActionExport),
				perms(ResourceAudit, ActionRead, ActionVerify, ActionExport),
				perms(ResourceCase, ActionImport),
				perms(ResourcePeer, ActionRead, ActionList, ActionCreate, ActionDelete),
				perms(ResourceISP, ActionRead, ActionList, ActionCreate, ActionSign),
				perms(ResourceExchange, ActionList),
			),
			Scope:  ScopeAgency,
			Grants: []string{"caseworker", "supervisor", "agency_admin", "dpo", "coordinator"},
		},
		{
			ID:   "dpo",
			Name: "Data-protection focal point",
			Permissions: slices.Concat(
				perms(ResourceCase, ActionRead, ActionList, ActionHistory, ActionExport, ActionConsentOverride, ActionPurge),
				perms(ResourceAudit, ActionRead, ActionVerify, ActionExport),
				perms(ResourceUser, ActionRead, ActionList),
				perms(ResourceISP, ActionRead, ActionList),
				perms(ResourceExchange, ActionRead, ActionList),
				tracing,
				common,
			),
			Scope: ScopeAgency,
		},
		{
			ID:           "coordinator",
			Name:         "Coordinator (read-only)",
			Permissions:  slices.Concat(perms(ResourceCase, ActionRead, ActionList), common),
			Scope:        ScopeAgency,
			HiddenFields: slices.Clone(identifyingFields),
		},
	}
}

// RoleByID returns a copy of the role with the given id. It reports false,
// with the zero Role (which grants nothing), if there is none.
func RoleByID(roles []Role, id string) (Role, bool) {
	if id == "" {
		return Role{}, false
	}
	for _, r := range roles {
		if r.ID == id {
			r.Permissions = slices.Clone(r.Permissions)
			r.HiddenFields = slices.Clone(r.HiddenFields)
			return r, true
		}
	}
	return Role{}, false
}

// Can reports whether the role holds the permission to perform act on res.
// It ignores the scope; use [Authorize] to decide about a record.
func (r Role) Can(res Resource, act Action) bool {
	return slices.Contains(r.Permissions, Permission{Resource: res, Action: act})
}

// Hides reports whether field is one of the role's hidden fields.
func (r Role) Hides(field string) bool {
	return slices.Contains(r.HiddenFields, field)
}

// Redact returns a copy of fields without the role's hidden fields. Only
// top-level keys are considered, so hiding a subform hides it whole; the
// values themselves are not copied. Redact returns nil for a nil map.
func (r Role) Redact(fields map[string]any) map[string]any {
	if fields == nil {
		return nil
	}
	out := make(map[string]any, len(fields))
	for k, v := range fields {
		if !r.Hides(k) {
			out[k] = v
		}
	}
	return out
}

// Validate reports every problem with the role: an empty id, an unknown
// scope, and permissions naming an unknown resource or action. Each
// problem wraps [ErrInvalidRole]. The zero Role is invalid.
func (r Role) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("policy: role %q: "+format+": %w", append(append([]any{r.ID}, args...), ErrInvalidRole)...))
	}
	if r.ID == "" {
		bad("empty id")
	}
	if !knownScopes[r.Scope] {
		bad("unknown scope %q", r.Scope)
	}
	for _, p := range r.Permissions {
		if _, ok := resourceNouns[p.Resource]; !ok {
			bad("unknown resource %q", p.Resource)
		}
		if _, ok := actionVerbs[p.Action]; !ok {
			bad("unknown action %q", p.Action)
		}
	}
	for _, f := range r.HiddenFields {
		if f == "" {
			bad("empty hidden field name")
		}
	}
	return errors.Join(errs...)
}
