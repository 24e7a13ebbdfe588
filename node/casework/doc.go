// Package casework is the agency's case management: creating, reading,
// updating, closing, importing and exporting case files, each operation
// validated against the forms configuration, authorised by the role-based
// access policy, stored with its indexes and audited in one transaction.
//
// # Records
//
// A case has core fields (id, human-friendly case number, status, workflow
// stage, owner, agency, times, version) and form data. Consent and risk
// level are read from their form fields (Primero's names). Every change is a
// new version; History lists who changed which fields when.
//
// # Encryption and purge
//
// Each case's form data and the changed values of its versions are stored
// encrypted (AES-256-GCM) under the case's own data key, kept in a
// casekeys.Store apart from the data; core fields and indexes stay in
// clear. Purge turns the record into a tombstone, deletes its versions and
// destroys the key, so every copy of the case's data, backups included,
// becomes unreadable (crypto-shredding; see docs/purge.md).
//
// # Access
//
// Every method takes the acting policy.Subject. Fields the subject's role
// hides never leave the package, and cannot be written by that role.
// Refused attempts are audited too.
//
// The package depends on the store contract only, never on Badger.
package casework
