// Package forms holds the forms configuration of a CPX node and validates
// case form data against it.
//
// It follows Primero's model (form sections, nested subforms, lookups and
// a location hierarchy) in a small, static form: no skip logic, no
// translations and no per-module forms yet. The package is pure; the only
// I/O is LoadDir reading a configuration directory and the embedded
// standard configuration.
//
// # Configuration
//
// A Config is a list of Forms, Lookups and Locations. Top-level forms
// (Nested false) make up the case record; their field names share one
// namespace, so a case is a flat map from field name to value. A nested
// form describes the rows of a subform field (Primero's is_nested form
// sections); subforms do not nest further.
//
// Standard returns the embedded standard configuration, modelled on the
// inter-agency CMTF case-management forms with Primero's field names:
// registration, family_details, separation, protection_concerns,
// data_confidentiality, assessment, case_plan, followup and closure.
//
// LoadDir overlays a directory on the standard configuration:
//
//	dir/forms/*.json     one Form per file; same id replaces, new id adds
//	dir/lookups.json     []Lookup; same id replaces, new id adds
//	dir/locations.json   []Location; replaces all locations
//
// Unknown JSON keys are rejected, so a misspelt attribute such as
// "requierd" is an error rather than silently ignored.
//
// # Consistency
//
// Check lists every problem of a Config at once: duplicate form ids,
// duplicate field names (within a form, and across top-level forms), field
// names that are not ^[a-z][a-z0-9_]{0,63}$ or that are reserved for the
// case record (see IsReserved), unknown field types, selects without a
// known lookup, subforms pointing to an unknown or non-nested form, and
// locations with an unknown parent. Standard, LoadDir and LoadFS only
// return checked configurations.
//
// # Field classes
//
// Each field has a class (the "class" key): identifying, sensitive or
// ordinary (see policy.FieldClass). Roles name the classes they see, so
// Config.FieldClass is the policy.Classifier that redaction uses. A field
// without a class, or a name the configuration does not know, is
// identifying: a custom field is hidden from restricted roles and never a
// report dimension until it is classified. Unclassified lists such fields
// for `cpx forms validate`, which warns about them.
//
// # Validation
//
// Config.Normalize takes field values as decoded from JSON, or as strings
// from CSV and the command line, and returns them coerced to one canonical
// Go type per field type (see Normalize for the table). Problems are
// reported together in a *ValidationError, each with the field path and a
// stable rule name (the Rule* constants), sorted by field. Normalize is
// idempotent: normalizing its output again returns the same map.
package forms
