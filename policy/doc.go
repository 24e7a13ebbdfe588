// Package policy decides who may do what on a CPX node.
//
// # Role-based access control
//
// The package holds the node's role-based access control (RBAC),
// modelled on Primero's roles and permissions. A [Role] grants a set of
// [Permission] values (a [Resource] paired with an [Action]), a [Scope]
// that limits which cases the role reaches (its own, its user group's, its
// agency's or all), and the classes of case form fields shown to it
// ([Role.Sees], an allow-list applied with [Role.Redact]; the forms
// configuration classifies fields, see [FieldClass], and an unclassified
// field is identifying).
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
// An information-sharing protocol ([ISP]) is the signed, versioned
// agreement between agencies that says, per purpose (referral, transfer,
// tracing, aggregate), which party may send which case data to which,
// under which consent, kept how long. Its document format (TOML,
// "cpx-isp/1") is described key by key in docs/isp.md.
//
//   - [ParseISP] reads a document strictly (unknown keys, wrong types and
//     inconsistencies are errors naming the key, wrapping
//     [ErrInvalidISP]); [ISP.Validate] applies the same checks to an ISP
//     built in code; [ISP.Marshal] writes it back.
//   - [ISP.SigningBytes] is the canonical encoding every party signs;
//     [ISP.AddSignature] records a party's signature and
//     [ISP.FullySigned] checks, with a [SignatureVerifier] the caller
//     supplies, that every party has signed exactly once with its listed
//     key ([ErrUnsigned] names the missing parties).
//   - [ISP.Evaluate] is the sender's decision point: it denies by default,
//     checks validity, direction, conditions and consent (with audited
//     overrides), and projects the case onto the fields the rule lets go,
//     reporting every field's outcome ([ISPDecision]).
//   - [CheckProjection] is the receiver's check: it refuses data with any
//     field outside the projection ([ErrOutsideProjection]).
//   - [ISP.TracingRate] is the tracing query rate the ISP sets, per peer
//     and minute ([DefaultQueriesPerMinute] when its tracing rule sets
//     none), which the receiving node enforces.
//
// As with roles, nothing here reads files, keys or clocks: the current
// time, the case data, the expansion of forms to fields and signature
// verification are passed in.
package policy
