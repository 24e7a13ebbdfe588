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

// Role is a named set of permissions with a scope and the classes of case
// form fields shown to it. The zero Role grants nothing and sees no field.
type Role struct {
	ID, Name    string
	Permissions []Permission
	// Scope says which cases the role reaches; see [Authorize].
	Scope Scope
	// Sees lists the classes of case form fields shown to this role: an
	// allow-list. A field of any other class, and an unclassified one, is
	// hidden; see [Role.Redact].
	Sees []FieldClass
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

// FieldClass says how much a case form field tells about a person. The
// forms configuration gives each field its class.
type FieldClass string

// Field classes, from the most to the least restricted.
const (
	// ClassIdentifying fields identify a child or a family member on their
	// own: names, dates of birth, telephones, addresses, identity numbers,
	// and free text (which may hold any of these). An unclassified field
	// is treated as identifying.
	ClassIdentifying FieldClass = "identifying"
	// ClassSensitive fields do not identify anyone alone but are kept from
	// roles that need only an overview: precise locations, religion,
	// services and follow-ups.
	ClassSensitive FieldClass = "sensitive"
	// ClassOrdinary fields are the rest: sex, age, nationality, risk level,
	// protection concerns, dates, consent.
	ClassOrdinary FieldClass = "ordinary"
)

// FieldClasses lists every field class, the most restricted first.
func FieldClasses() []FieldClass {
	return []FieldClass{ClassIdentifying, ClassSensitive, ClassOrdinary}
}

// Valid reports whether c is one of [FieldClasses].
func (c FieldClass) Valid() bool { return slices.Contains(FieldClasses(), c) }

// Classifier gives the class of a top-level case form field (a subform's
// class covers its rows). It must answer [ClassIdentifying] for a field it
// does not know or has not classified.
type Classifier interface {
	FieldClass(name string) FieldClass
}

// ClassOf returns the class c gives field: [ClassIdentifying] when c is
// nil or answers anything but a valid class.
func ClassOf(c Classifier, field string) FieldClass {
	if c == nil {
		return ClassIdentifying
	}
	if fc := c.FieldClass(field); fc.Valid() {
		return fc
	}
	return ClassIdentifying
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
//   - coordinator: reads the agency's cases, ordinary fields only
//     (scope agency).
//
// Every role but the coordinator sees fields of every class (the agency
// administrator reads no case, but imports them).
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
			Sees:        FieldClasses(),
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
			Sees:  FieldClasses(),
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
			Sees:   FieldClasses(),
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
			Sees:  FieldClasses(),
		},
		{
			ID:          "coordinator",
			Name:        "Coordinator (read-only)",
			Permissions: slices.Concat(perms(ResourceCase, ActionRead, ActionList), common),
			Scope:       ScopeAgency,
			Sees:        []FieldClass{ClassOrdinary},
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
			r.Sees = slices.Clone(r.Sees)
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

// SeesClass reports whether fields of class c are shown to the role.
func (r Role) SeesClass(c FieldClass) bool { return slices.Contains(r.Sees, c) }

// Hides reports whether field, classified by c (see [ClassOf]), is hidden
// from the role: its class is not one the role sees.
func (r Role) Hides(c Classifier, field string) bool {
	return !r.SeesClass(ClassOf(c, field))
}

// Redact returns a copy of fields with only the fields the role sees, as
// classified by c. Only top-level keys are considered, so hiding a subform
// hides it whole; the values themselves are not copied. Redact returns nil
// for a nil map.
func (r Role) Redact(c Classifier, fields map[string]any) map[string]any {
	if fields == nil {
		return nil
	}
	out := make(map[string]any, len(fields))
	for k, v := range fields {
		if !r.Hides(c, k) {
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
	for _, c := range r.Sees {
		if !c.Valid() {
			bad("unknown field class %q", c)
		}
	}
	return errors.Join(errs...)
}
