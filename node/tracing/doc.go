// Package tracing is the node's side of family tracing: tracing requests
// (a family looking for one or more children) stored on the node, matched
// against the node's cases with the matching engine, and the caseworkers'
// decisions on the candidates.
//
// # Requests
//
// A Request holds the inquirer's details and one Trace per child sought
// (Details, the JSON document `cpx trace create --file` sends). Requests are
// stored under the key prefix "t/"; every write and every read is audited
// in the same transaction, with no case or request data in the audit
// details. DecodeDetails is strict (UTF-8, no unknown field) and
// Details.Validate names the bad field ("traces[0].age").
//
// # Matching
//
// The Service keeps an in-memory matching.Index of the cases that have
// consent_for_tracing = true (and are open or closed). Rebuild fills it by
// exporting every case under the built-in system-tracing role; CaseChanged
// keeps it current case by case. Until casework calls CaseChanged on every
// write, Match rebuilds the index when the number of cases changed or it is
// older than Options.MaxStale, so an edited case may be matched on its old
// data for that long. Consent is checked again on every candidate returned:
// a case whose consent was withdrawn is never shown.
//
// Candidates are returned only if the caller may read the case; each is
// read through casework.Get, so the read is authorised, redacted for the
// caller's role and audited.
//
// # Access
//
// Every method takes the acting policy.Subject and is authorised on the
// resource "tracing" with the actions read, list, create, update (also
// confirm and reject), import and match. Tracing requests have no scope:
// a role that may read them reads all of the node's.
//
// See docs/tracing.md.
package tracing
