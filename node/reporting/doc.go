// Package reporting computes aggregate reports over records: report
// definitions, grouping, counting, and the disclosure control that makes a
// table safe to leave the node, with an audit that proves it.
//
// The package is pure: no storage, network or clock of its own. The node
// adapts it to its records (see node/casereports); the records arrive as
// [Record] maps through [Query.Add].
//
// # Definitions
//
// A [Definition] is a TOML document (see docs/reporting.md): the record
// type, up to three dimensions (rows, columns, pages), filters, the date
// field a period selects on, and whether empty rows are shown. A dimension
// groups a select, multi-select, tick-box, location (at an admin level),
// number (into ranges or age groups) or date (by week, month, quarter or
// year) field. [Parse] reports errors with the line and the field;
// [Definition.Check] checks a definition against a [Schema]: unknown fields,
// fields that cannot be grouped, and identifying fields (names, contacts,
// addresses, identity numbers, free text; see [Identifying]), which can never
// be a dimension or a filter.
//
// # Tables
//
// A report is a list of [Table]s, one per page value: a one-dimensional
// table (rows and a total) or a two-dimensional one (rows × columns with row
// totals, column totals and a grand total). A multi-select dimension counts
// a record once per value chosen, so its totals count mentions, which keeps
// every table additive.
//
// # Disclosure control
//
// [Protect] suppresses every published cell, margins included, whose count
// is between 1 and k−1 (primary suppression), then suppresses further cells
// (secondary suppression) until [Audit] finds, for every suppressed cell,
// that the range of values consistent with the published cells and the
// table's additivity is at least the protection interval wide. The audit
// finds each suppressed cell's minimum and maximum, two linear programmes.
// The equations of a one- or two-dimensional table with margins make a
// network, where those programmes are flow problems: the audit solves
// them exactly by augmenting paths (see flow.go), and any other system
// with gonum's simplex, one system per connected group of suppressed
// cells.
package reporting
