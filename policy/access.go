package policy

import "fmt"

// Resource is a kind of thing a permission applies to.
type Resource string

// Resources known to the node.
const (
	ResourceCase  Resource = "case"  // child-protection case records
	ResourceUser  Resource = "user"  // user accounts of the node
	ResourceAudit Resource = "audit" // the audit log
	ResourceForm  Resource = "form"  // form definitions
	ResourceNode  Resource = "node"  // node status and configuration

	ResourceExchange Resource = "exchange" // referrals and transfers with other agencies
	ResourcePeer     Resource = "peer"     // the peer nodes this node talks to
	ResourceISP      Resource = "isp"      // information-sharing protocols
	ResourceTracing  Resource = "tracing"  // family tracing requests and their matches
)

// Action is something a subject does to a resource.
type Action string

// Actions known to the node.
const (
	ActionRead            Action = "read"
	ActionList            Action = "list"
	ActionCreate          Action = "create"
	ActionUpdate          Action = "update"
	ActionClose           Action = "close"
	ActionHistory         Action = "history"
	ActionImport          Action = "import"
	ActionExport          Action = "export"
	ActionDisable         Action = "disable"
	ActionVerify          Action = "verify"
	ActionConsentOverride Action = "consent_override"
	ActionRefer           Action = "refer"    // send a case to another agency for a service
	ActionTransfer        Action = "transfer" // hand a case over to another agency
	ActionRespond         Action = "respond"  // accept, reject or complete an incoming exchange
	ActionRevoke          Action = "revoke"   // withdraw an outgoing exchange
	ActionDelete          Action = "delete"
	ActionSign            Action = "sign"
	ActionPurge           Action = "purge" // erase a case for good (crypto-shredding)
	ActionMatch           Action = "match" // search for likely matches

	// Day-to-day casework (Primero's names). On one node every user is of
	// the node's agency, so assign and assign_within_agency reach the same
	// users there.
	ActionAssign                  Action = "assign"                   // hand a case to any enabled user
	ActionAssignWithinAgency      Action = "assign_within_agency"     // hand a case to a user of the agency
	ActionAssignWithinUserGroup   Action = "assign_within_user_group" // hand a case to a user of one's own group
	ActionFlag                    Action = "flag"                     // put a flag on a case, resolve one's own
	ActionResolveAnyFlag          Action = "resolve_any_flag"         // resolve a flag someone else put
	ActionRequestApprovalAssess   Action = "request_approval_assessment"
	ActionRequestApprovalCasePlan Action = "request_approval_case_plan"
	ActionRequestApprovalAction   Action = "request_approval_action_plan"
	ActionRequestApprovalClosure  Action = "request_approval_closure"
	ActionApproveAssessment       Action = "approve_assessment"
	ActionApproveCasePlan         Action = "approve_case_plan"
	ActionApproveActionPlan       Action = "approve_action_plan"
	ActionApproveClosure          Action = "approve_closure"
	ActionSelfApprove             Action = "self_approve" // decide on one's own approval request
)

// Scope says which case records a role reaches.
type Scope string

// Scopes, from narrowest to widest.
const (
	ScopeSelf   Scope = "self"   // cases owned by the user
	ScopeGroup  Scope = "group"  // cases owned by the user or by the user's group
	ScopeAgency Scope = "agency" // cases of the user's agency
	ScopeAll    Scope = "all"    // every case on the node
)

var resourceNouns = map[Resource]string{
	ResourceCase:  "cases",
	ResourceUser:  "users",
	ResourceAudit: "the audit log",
	ResourceForm:  "forms",
	ResourceNode:  "the node",

	ResourceExchange: "referrals and transfers",
	ResourcePeer:     "peers",
	ResourceISP:      "information-sharing protocols",
	ResourceTracing:  "tracing requests",
}

var actionVerbs = map[Action]string{
	ActionRead:            "read",
	ActionList:            "list",
	ActionCreate:          "create",
	ActionUpdate:          "update",
	ActionClose:           "close",
	ActionHistory:         "view the history of",
	ActionImport:          "import",
	ActionExport:          "export",
	ActionDisable:         "disable",
	ActionVerify:          "verify",
	ActionConsentOverride: "override consent on",
	ActionRefer:           "refer",
	ActionTransfer:        "transfer",
	ActionRespond:         "respond to",
	ActionRevoke:          "revoke",
	ActionDelete:          "delete",
	ActionSign:            "sign",
	ActionPurge:           "purge",
	ActionMatch:           "match",

	ActionAssign:                  "assign",
	ActionAssignWithinAgency:      "assign within the agency",
	ActionAssignWithinUserGroup:   "assign within the user group",
	ActionFlag:                    "flag",
	ActionResolveAnyFlag:          "resolve any flag on",
	ActionRequestApprovalAssess:   "request approval of the assessment of",
	ActionRequestApprovalCasePlan: "request approval of the case plan of",
	ActionRequestApprovalAction:   "request approval of the action plan of",
	ActionRequestApprovalClosure:  "request approval of the closure of",
	ActionApproveAssessment:       "approve the assessment of",
	ActionApproveCasePlan:         "approve the case plan of",
	ActionApproveActionPlan:       "approve the action plan of",
	ActionApproveClosure:          "approve the closure of",
	ActionSelfApprove:             "approve their own requests on",
}

// ApprovalTypes are the kinds of approval a case can go through.
var ApprovalTypes = []string{"assessment", "case_plan", "action_plan", "closure"}

// RequestApprovalAction returns the action that requests approval of kind
// typ (one of ApprovalTypes), or "" for an unknown kind.
func RequestApprovalAction(typ string) Action {
	return map[string]Action{
		"assessment": ActionRequestApprovalAssess, "case_plan": ActionRequestApprovalCasePlan,
		"action_plan": ActionRequestApprovalAction, "closure": ActionRequestApprovalClosure,
	}[typ]
}

// ApproveAction returns the action that decides on an approval of kind
// typ, or "" for an unknown kind.
func ApproveAction(typ string) Action {
	return map[string]Action{
		"assessment": ActionApproveAssessment, "case_plan": ActionApproveCasePlan,
		"action_plan": ActionApproveActionPlan, "closure": ActionApproveClosure,
	}[typ]
}

var knownScopes = map[Scope]bool{
	ScopeSelf:   true,
	ScopeGroup:  true,
	ScopeAgency: true,
	ScopeAll:    true,
}

// Subject is the authenticated user acting, with the role it acts under.
// An unknown or disabled role is represented by the zero [Role], which
// grants nothing.
type Subject struct {
	User   string // user name
	Group  string // user group; empty if the user belongs to none
	Agency string // agency id
	Role   Role
}

// Object describes the record acted on. For cases it carries the owning
// user, the owning user group and the agency. It is the zero value (or a
// nil pointer) for resources that are not records.
type Object struct {
	Owner      string
	OwnerGroup string
	Agency     string
}

// Decision is the outcome of [Authorize].
type Decision struct {
	Allowed bool
	// Reason explains a denial in words a user can act on and always names
	// the role. It is empty when the request is allowed.
	Reason string
}

func deny(format string, args ...any) Decision {
	return Decision{Reason: fmt.Sprintf(format, args...)}
}

// Authorize decides whether s may perform act on res. It denies by
// default. The subject's role must hold the permission (see [Role.Can]).
// With a non-nil obj of a resource whose records have owners (cases,
// referrals and transfers, tracing requests) the role's scope must also
// reach the record:
//
//   - self: obj.Owner is s.User;
//   - group: obj.OwnerGroup is s.Group (which must not be empty), or
//     obj.Owner is s.User;
//   - agency: obj.Agency is s.Agency;
//   - all: any record.
//
// Empty subject fields never match: a subject without a user name, group
// or agency reaches nothing through that field. For a nil obj (list,
// create) and for other resources, only the permission matters; list
// results are filtered by calling Authorize once per record.
func Authorize(s Subject, res Resource, act Action, obj *Object) Decision {
	r := s.Role
	if r.ID == "" {
		return deny(`role "" is unknown or disabled and grants nothing; ask an administrator to assign a role`)
	}
	noun, ok := resourceNouns[res]
	if !ok {
		return deny("role %q may not act on unknown resource %q", r.ID, res)
	}
	verb, ok := actionVerbs[act]
	if !ok {
		return deny("role %q may not perform unknown action %q on %s", r.ID, act, noun)
	}
	if !r.Can(res, act) {
		return deny("role %q may not %s %s", r.ID, verb, noun)
	}
	if obj == nil || !owned[res] {
		return Decision{Allowed: true}
	}
	if res != ResourceCase {
		return reach(s, noun, obj)
	}
	switch r.Scope {
	case ScopeAll:
		return Decision{Allowed: true}
	case ScopeAgency:
		if s.Agency != "" && obj.Agency == s.Agency {
			return Decision{Allowed: true}
		}
		return deny("case belongs to agency %q; role %q reaches only cases of agency %q (scope agency)",
			obj.Agency, r.ID, s.Agency)
	case ScopeGroup:
		if (s.Group != "" && obj.OwnerGroup == s.Group) || (s.User != "" && obj.Owner == s.User) {
			return Decision{Allowed: true}
		}
		if s.Group == "" {
			return deny("case is owned by group %q; role %q reaches only its own cases and its group's, and user %q belongs to no group (scope group)",
				obj.OwnerGroup, r.ID, s.User)
		}
		return deny("case is owned by group %q; role %q reaches only its own cases and those of group %q (scope group)",
			obj.OwnerGroup, r.ID, s.Group)
	case ScopeSelf:
		if s.User != "" && obj.Owner == s.User {
			return Decision{Allowed: true}
		}
		return deny("case is owned by another user (group %q); role %q reaches only its own cases (scope self)",
			obj.OwnerGroup, r.ID)
	default:
		return deny("role %q has invalid scope %q and reaches no cases; ask an administrator to fix the role",
			r.ID, r.Scope)
	}
}

// owned are the resources whose records have an owner and a group, so
// that a role's scope applies to them.
var owned = map[Resource]bool{ResourceCase: true, ResourceExchange: true, ResourceTracing: true}

// reach applies the role's scope to a record other than a case, as for
// cases, except that under scope self a record with no owner but a group
// (addressed to the group: an incoming referral) reaches the group's
// members. Its refusals name neither the owner nor the group: callers
// answer them as "not found".
func reach(s Subject, noun string, obj *Object) Decision {
	ok := false
	switch s.Role.Scope {
	case ScopeAll:
		ok = true
	case ScopeAgency:
		ok = s.Agency != "" && obj.Agency == s.Agency
	case ScopeGroup:
		ok = (s.Group != "" && obj.OwnerGroup == s.Group) || (s.User != "" && obj.Owner == s.User)
	case ScopeSelf:
		// A record addressed to a group and to no one in it (an incoming
		// referral waiting for intake) is every member's.
		ok = (s.User != "" && obj.Owner == s.User) || (obj.Owner == "" && s.Group != "" && obj.OwnerGroup == s.Group)
	}
	if ok {
		return Decision{Allowed: true}
	}
	return deny("role %q (scope %s) does not reach this record of %s", s.Role.ID, s.Role.Scope, noun)
}
