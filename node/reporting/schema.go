package reporting

import "slices"

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

// Identifying lists the fields of the standard forms that identify a
// child or a family member: names, contacts, addresses, identity numbers
// and free text. The forms configuration has no classification of fields
// yet; until it has, this list is the classification, and any text or
// textarea field (KindOther) is treated the same way.
var Identifying = []string{
	// registration
	"name_first", "name_middle", "name_last", "name_nickname", "name_other",
	"date_of_birth", "address_current", "telephone_current", "ethnicity",
	"unhcr_id_no", "national_id_no", "icrc_ref_no", "other_agency_id",
	"caregiver_name", "caregiver_telephone",
	// separation
	"separation_cause_other", "address_last", "telephone_last", "matched_tracing_request_id",
	// family details
	"family_details_section", "relation_name", "relation_nickname", "relation_address_current",
	"relation_telephone", "relation_date_of_birth",
	// data confidentiality, assessment, plan, closure: free text
	"consent_source_other", "consent_info_sharing_others", "disclosure_deny_details",
	"assessment_summary", "case_plan_goals", "closure_comments", "protection_concern_details",
	// core fields of a case that point at a person
	"id", "case_number", "owner",
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
