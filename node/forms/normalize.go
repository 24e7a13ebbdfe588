package forms

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ErrUnknownForm is returned (wrapped) by Normalize for a form id that is
// not a top-level form of the configuration.
var ErrUnknownForm = errors.New("forms: unknown form")

// Rules reported in FieldError.Rule.
const (
	RuleUnknownField = "unknown_field"
	RuleRequired     = "required"
	RuleType         = "type"
	RuleMaxLength    = "max_length"
	RuleMin          = "min"
	RuleMax          = "max"
	RuleDateFormat   = "date_format"
	RuleNotFuture    = "not_future"
	RuleLookup       = "lookup"
	RuleLocation     = "location"
	RuleUTF8         = "utf8"
	RuleControlChars = "control_chars"
	RuleReadOnly     = "read_only"
)

// FieldError is one problem with one field value. Field is the field name,
// or a path into a subform such as "family_details_section[2].relation_age"
// (row indexes start at 0).
type FieldError struct {
	Field   string
	Rule    string
	Message string
}

func (e FieldError) String() string {
	return fmt.Sprintf("field %q: %s (rule %s)", e.Field, e.Message, e.Rule)
}

// ValidationError lists every problem found by Normalize, sorted by field.
type ValidationError struct {
	Problems []FieldError
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// Normalize validates values and returns them coerced to their canonical
// types, in a new map:
//
//	text, textarea  string ("\r\n" in a textarea becomes "\n")
//	number          float64
//	date            string "YYYY-MM-DD"
//	select          string option id
//	multi_select    []any of option id strings, deduplicated, in input order
//	tick_box        bool
//	location        string location code
//	subform         []any of map[string]any, each row normalized
//
// Every key must be a top-level field of some non-nested form, not only of
// formID. If formID is not empty it must be a top-level form (else an error
// wrapping ErrUnknownForm) and, unless partial, its required fields must
// have a value.
//
// Values may come from JSON decoding (string, float64, json.Number, bool,
// []any, map[string]any, nil) or from CSV and command-line input, where
// everything is a string: numbers, booleans ("true", "yes", "1", ...),
// comma-separated multi_select ids and JSON arrays of subform rows are
// accepted as strings. Select options and location codes also match
// case-insensitively (options by label too) and come out canonical.
//
// nil, the empty string and an empty list all mean "no value": with
// partial (an update) they are kept as nil, meaning "clear this field";
// otherwise they are dropped. Within subform rows they are always dropped
// and required fields are always enforced, since a row is replaced whole.
//
// The error is a *ValidationError listing every problem.
func (c *Config) Normalize(formID string, values map[string]any, now time.Time, partial bool) (map[string]any, error) {
	ix := c.idx()
	var form *Form
	if formID != "" {
		i, ok := ix.forms[formID]
		if !ok || c.Forms[i].Nested {
			return nil, fmt.Errorf("%w %q", ErrUnknownForm, formID)
		}
		form = &c.Forms[i]
	}
	n := normalizer{c: c, ix: ix, today: now.Format(time.DateOnly)}
	out := make(map[string]any, len(values))
	failed := make(map[string]bool)
	for _, key := range sortedKeys(values) {
		r, ok := ix.fields[key]
		if !ok {
			n.problem(key, RuleUnknownField, "not a field of any form")
			continue
		}
		f := c.Forms[r.form].Fields[r.field]
		if f.ReadOnly {
			n.problem(key, RuleReadOnly, "read-only: the node sets it (a tracing link is set by cpx trace confirm); leave it out of updates and imports")
			failed[key] = true
			continue
		}
		v, ok := n.value(key, f, values[key])
		switch {
		case !ok:
			failed[key] = true
		case v != nil:
			out[key] = v
		case partial:
			out[key] = nil
		}
	}
	if form != nil && !partial {
		n.required(*form, out, failed, "")
	}
	if len(n.problems) > 0 {
		slices.SortStableFunc(n.problems, func(a, b FieldError) int { return cmp.Compare(a.Field, b.Field) })
		return nil, &ValidationError{Problems: n.problems}
	}
	return out, nil
}

type normalizer struct {
	c        *Config
	ix       *index
	today    string
	problems []FieldError
}

func (n *normalizer) problem(field, rule, format string, args ...any) {
	n.problems = append(n.problems, FieldError{Field: field, Rule: rule, Message: fmt.Sprintf(format, args...)})
}

// required reports the required fields of f without a value in out,
// except those whose value was rejected (already reported).
func (n *normalizer) required(f Form, out map[string]any, failed map[string]bool, prefix string) {
	for _, fd := range f.Fields {
		if fd.Required && out[fd.Name] == nil && !failed[fd.Name] {
			n.problem(prefix+fd.Name, RuleRequired, "is required by form %s", f.ID)
		}
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// value coerces v for field fd, named path in messages. It returns
// (nil, true) for "no value" and ok=false after recording a problem.
func (n *normalizer) value(path string, fd Field, v any) (any, bool) {
	if isEmpty(v) {
		return nil, true
	}
	if s, isStr := v.(string); isStr && !utf8.ValidString(s) {
		n.problem(path, RuleUTF8, "is not valid UTF-8")
		return nil, false
	}
	switch fd.Type {
	case Text, TextArea:
		return n.text(path, fd, v)
	case Number:
		return n.number(path, fd, v)
	case Date:
		return n.date(path, fd, v)
	case Select:
		s, ok := n.str(path, fd, v)
		if !ok {
			return nil, false
		}
		return n.option(path, fd.Lookup, s)
	case MultiSelect:
		return n.multi(path, fd, v)
	case TickBox:
		return n.tick(path, v)
	case LocationRef:
		s, ok := n.str(path, fd, v)
		if !ok {
			return nil, false
		}
		return n.location(path, s)
	case Subform:
		return n.subform(path, fd, v)
	}
	n.problem(path, RuleType, "field has unknown type %q", fd.Type)
	return nil, false
}

func isEmpty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(v) == ""
	case []any:
		return len(v) == 0
	}
	return false
}

// str accepts a string (trimmed) for select and location fields.
func (n *normalizer) str(path string, fd Field, v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		n.problem(path, RuleType, "must be a string for a %s field, not %s", fd.Type, kind(v))
		return "", false
	}
	return strings.TrimSpace(s), true
}

func (n *normalizer) text(path string, fd Field, v any) (any, bool) {
	s, ok := v.(string)
	if !ok {
		n.problem(path, RuleType, "must be a string, not %s", kind(v))
		return nil, false
	}
	if fd.Type == TextArea {
		s = strings.ReplaceAll(s, "\r\n", "\n")
	}
	for _, r := range s {
		if unicode.IsControl(r) && (fd.Type != TextArea || (r != '\n' && r != '\t')) {
			n.problem(path, RuleControlChars, "contains control character %U", r)
			return nil, false
		}
	}
	limit := fd.MaxLength
	if limit == 0 {
		limit = DefaultTextMaxLength
		if fd.Type == TextArea {
			limit = DefaultTextAreaMaxLength
		}
	}
	if l := utf8.RuneCountInString(s); l > limit {
		n.problem(path, RuleMaxLength, "is %d characters long, more than %d", l, limit)
		return nil, false
	}
	return s, true
}

func (n *normalizer) number(path string, fd Field, v any) (any, bool) {
	var f float64
	switch v := v.(type) {
	case float64:
		f = v
	case int:
		f = float64(v)
	case int64:
		f = float64(v)
	case json.Number:
		var err error
		if f, err = strconv.ParseFloat(string(v), 64); err != nil {
			n.problem(path, RuleType, "must be a number")
			return nil, false
		}
	case string:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil {
			n.problem(path, RuleType, "must be a number, not %q", v)
			return nil, false
		}
	default:
		n.problem(path, RuleType, "must be a number, not %s", kind(v))
		return nil, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		n.problem(path, RuleType, "must be a finite number")
		return nil, false
	}
	if f == 0 {
		f = 0 // no negative zero
	}
	if fd.Min != nil && f < *fd.Min {
		n.problem(path, RuleMin, "%v is less than %v", f, *fd.Min)
		return nil, false
	}
	if fd.Max != nil && f > *fd.Max {
		n.problem(path, RuleMax, "%v is more than %v", f, *fd.Max)
		return nil, false
	}
	return f, true
}

func (n *normalizer) date(path string, fd Field, v any) (any, bool) {
	s, ok := v.(string)
	if !ok {
		n.problem(path, RuleType, "must be a date string YYYY-MM-DD, not %s", kind(v))
		return nil, false
	}
	s = strings.TrimSpace(s)
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || t.Format(time.DateOnly) != s {
		n.problem(path, RuleDateFormat, "%q is not a date YYYY-MM-DD", s)
		return nil, false
	}
	if fd.NotFuture && s > n.today {
		n.problem(path, RuleNotFuture, "%s is in the future", s)
		return nil, false
	}
	return s, true
}

// option resolves s to an option id of lookup: the exact id, else a unique
// case-insensitive match on id, else on label.
func (n *normalizer) option(path, lookup, s string) (any, bool) {
	opts, ok := n.ix.lookups[lookup]
	if !ok {
		n.problem(path, RuleLookup, "field's lookup %s does not exist", lookup)
		return nil, false
	}
	if _, ok := opts[s]; ok {
		return s, true
	}
	l := n.c.Lookups[n.ix.lookupPos[lookup]]
	for _, byLabel := range []bool{false, true} {
		match := ""
		count := 0
		for _, o := range l.Options {
			key := o.ID
			if byLabel {
				key = o.Label
			}
			if strings.EqualFold(key, s) {
				if match != o.ID {
					count++
				}
				match = o.ID
			}
		}
		if count == 1 {
			return match, true
		}
	}
	n.problem(path, RuleLookup, "%q is not an option of lookup %s%s", s, lookup, optionHint(l, s))
	return nil, false
}

func (n *normalizer) multi(path string, fd Field, v any) (any, bool) {
	var items []string
	switch v := v.(type) {
	case string:
		for item := range strings.SplitSeq(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
	case []any:
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				n.problem(fmt.Sprintf("%s[%d]", path, i), RuleType, "must be a string option id, not %s", kind(e))
				return nil, false
			}
			if !utf8.ValidString(s) {
				n.problem(fmt.Sprintf("%s[%d]", path, i), RuleUTF8, "is not valid UTF-8")
				return nil, false
			}
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
	default:
		n.problem(path, RuleType, "must be a list of option ids, not %s", kind(v))
		return nil, false
	}
	out := make([]any, 0, len(items))
	seen := make(map[string]bool, len(items))
	ok := true
	for _, item := range items {
		id, good := n.option(path, fd.Lookup, item)
		if !good {
			ok = false
			continue
		}
		if s := id.(string); !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	if !ok {
		return nil, false
	}
	if len(out) == 0 {
		return nil, true
	}
	return out, true
}

func (n *normalizer) tick(path string, v any) (any, bool) {
	switch v := v.(type) {
	case bool:
		return v, true
	case float64:
		if v == 0 || v == 1 {
			return v == 1, true
		}
	case json.Number:
		switch v {
		case "0":
			return false, true
		case "1":
			return true, true
		}
	case string:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true", "yes", "1":
			return true, true
		case "false", "no", "0":
			return false, true
		}
		n.problem(path, RuleType, "%q is not true/false, yes/no or 1/0", v)
		return nil, false
	}
	n.problem(path, RuleType, "must be a boolean, not %s", kind(v))
	return nil, false
}

func (n *normalizer) location(path, s string) (any, bool) {
	if l, ok := n.c.Location(s); ok {
		return l.Code, true
	}
	n.problem(path, RuleLocation, "unknown location %q%s", s, locationHint(n.c.SuggestLocations(s, maxSuggestions)))
	return nil, false
}

func (n *normalizer) subform(path string, fd Field, v any) (any, bool) {
	if s, ok := v.(string); ok {
		// From CSV: a JSON array of row objects.
		var rows []any
		if err := json.Unmarshal([]byte(s), &rows); err != nil {
			n.problem(path, RuleType, "must be a JSON array of row objects")
			return nil, false
		}
		if len(rows) == 0 {
			return nil, true
		}
		v = rows
	}
	rows, ok := v.([]any)
	if !ok {
		n.problem(path, RuleType, "must be a list of rows, not %s", kind(v))
		return nil, false
	}
	fi, ok := n.ix.forms[fd.Subform]
	if !ok {
		n.problem(path, RuleType, "field's subform %s does not exist", fd.Subform)
		return nil, false
	}
	nested := n.c.Forms[fi]
	before := len(n.problems)
	out := make([]any, 0, len(rows))
	for i, row := range rows {
		rp := fmt.Sprintf("%s[%d]", path, i)
		m, ok := row.(map[string]any)
		if !ok {
			n.problem(rp, RuleType, "must be an object, not %s", kind(row))
			continue
		}
		nm := make(map[string]any, len(m))
		failed := make(map[string]bool)
		for _, key := range sortedKeys(m) {
			j := slices.IndexFunc(nested.Fields, func(f Field) bool { return f.Name == key })
			if j < 0 {
				n.problem(rp+"."+key, RuleUnknownField, "not a field of form %s", nested.ID)
				continue
			}
			v, ok := n.value(rp+"."+key, nested.Fields[j], m[key])
			if !ok {
				failed[key] = true
			} else if v != nil {
				nm[key] = v
			}
		}
		n.required(nested, nm, failed, rp+".")
		out = append(out, nm)
	}
	if len(n.problems) > before {
		return nil, false
	}
	return out, true
}

// kind names the JSON kind of v for messages.
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64, json.Number, int, int64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
