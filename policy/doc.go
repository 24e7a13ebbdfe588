// Package policy decides who may do what on a CPX node.
//
// # Role-based access control
//
// Today the package holds the node's role-based access control (RBAC),
// modelled on Primero's roles and permissions. A [Role] grants a set of
// [Permission] values (a [Resource] paired with an [Action]), a [Scope]
// that limits which cases the role reaches (its own, its user group's, its
// agency's or all), and a list of case form fields that are never shown to
// it ([Role.HiddenFields], applied with [Role.Redact]).
//
// [StandardRoles] returns the built-in roles: caseworker, supervisor,
// agency_admin, dpo and coordinator. [Authorize] is the single decision
// point: it denies by default, first requires the role to hold the
// permission and then, for a case record, checks the scope against the
// record's owner, owning group and agency. A denial carries a reason that
// names the role and says what is missing, so a user or an administrator
// can act on it. List endpoints call [Authorize] once per record to filter
// their results.
//
// Everything here is pure: no I/O, no clock, no package-level mutable
// state. Roles are values; callers load them from configuration and pass
// them in.
//
// # Information-sharing protocols
//
// Information-sharing protocols (ISPs), the agreements that say which
// agencies and nodes may receive which case data and under what consent,
// will live in this package too, next to the RBAC code.
package policy
