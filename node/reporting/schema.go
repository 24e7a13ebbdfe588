package reporting

import (
	"slices"

	"github.com/cpx-node/cpx/node/forms"
	"github.com/cpx-node/cpx/policy"
)

// Kind is how a field's values can be grouped.
type Kind int

// Field kinds.
const (
	KindOther    Kind = iota // text and anything else: never a dimension
	KindSelect               // one option id
	KindMulti                // option ids; a record counts once per option
	KindTick                 // bool
	KindNumber               // float64
	KindDate                 // "YYYY-MM-DD" or time.Time
	KindLocation             // a location code
)

var kindNames = [...]string{"text", "select", "multi_select", "tick_box", "number", "date", "location"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Option is one value of a select field, in display order.
type Option struct {
	ID    string
	Label string
}

// Field describes one field of a record type.
type Field struct {
	Name    string
	Label   string
	Kind    Kind
	Options []Option
	// Identifying fields can never be a dimension or a filter.
	Identifying bool
}

// Location is one node of the location hierarchy.
type Location struct {
	Code   string
	Parent string
	Name   string
	Level  int
}

// Schema is what a report may count for one record type.
type Schema struct {
	Record    string
	Fields    map[string]Field
	Locations map[string]Location
}

// Record types a definition may name.
const (
	RecordCases     = "cases"
	RecordTracing   = "tracing_requests"
	RecordExchanges = "referrals_transfers"
)

// RecordTypes lists the record types in the order documented.
var RecordTypes = []string{RecordCases, RecordTracing, RecordExchanges}

// Identifying lists the fields of the standard forms (top-level and
// nested) that the forms configuration classes as identifying (names,
// contacts, addresses, identity numbers, free text), and the core fields
// of a case that point at a person. A node's own fields are classified by
// its forms configuration, where an unclassified field is identifying
// too (see casereports.CaseSchema).
var Identifying = identifying()

func identifying() []string {
	out := []string{"id", "case_number", "owner"}
	for _, f := range forms.Standard().Forms {
		for _, fd := range f.Fields {
			if fd.Class != policy.ClassSensitive && fd.Class != policy.ClassOrdinary {
				out = append(out, fd.Name)
			}
		}
	}
	return out
}

// IsIdentifying reports whether name is in [Identifying].
func IsIdentifying(name string) bool { return slices.Contains(Identifying, name) }

// ancestor returns the code of loc's ancestor at level (loc itself when
// it is at that level), or "" when there is none.
func (s *Schema) ancestor(code string, level int) (string, bool) {
	for range 16 {
		l, ok := s.Locations[code]
		if !ok {
			return "", false
		}
		if l.Level == level {
			return code, true
		}
		if l.Level < level || l.Parent == "" {
			return "", false
		}
		code = l.Parent
	}
	return "", false
}
