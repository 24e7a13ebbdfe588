package tracing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cpx-node/cpx/node/matching"
)

// Request statuses.
const (
	StatusOpen   = "open"
	StatusClosed = "closed"
)

// Trace statuses.
const (
	TraceOpen    = "open"
	TraceMatched = "matched"
)

// Decision outcomes.
const (
	Confirmed = "confirmed"
	Rejected  = "rejected"
)

// Details is what the inquirer tells the caseworker: who is asking, when and
// where the family was separated, and the children sought. It is the JSON
// document `cpx trace create --file` sends (field names as in the tags).
type Details struct {
	InquirerName       string  `json:"inquirer_name,omitempty"`
	Relation           string  `json:"relation,omitempty"` // the inquirer's relation to the children
	Contact            string  `json:"contact,omitempty"`
	Location           string  `json:"location,omitempty"` // where the inquirer lives now (location code)
	DateOfSeparation   string  `json:"date_of_separation,omitempty"`
	LocationSeparation string  `json:"location_separation,omitempty"` // location code
	ConsentForTracing  bool    `json:"consent_for_tracing"`
	Traces             []Trace `json:"traces"`
}

// Trace is one child sought by a tracing request. Status and MatchedCaseID
// are set by Confirm and Reject, never by the inquirer.
type Trace struct {
	Name                string   `json:"name,omitempty"`
	Nicknames           []string `json:"nicknames,omitempty"`
	OtherNames          []string `json:"other_names,omitempty"`
	Sex                 string   `json:"sex,omitempty"`
	Age                 *float64 `json:"age,omitempty"`
	DateOfBirth         string   `json:"date_of_birth,omitempty"`
	Estimated           bool     `json:"estimated,omitempty"`
	DistinguishingMarks string   `json:"distinguishing_marks,omitempty"`
	LocationOrigin      string   `json:"location_origin,omitempty"`
	LocationSeparation  string   `json:"location_separation,omitempty"`
	Relatives           []string `json:"relatives,omitempty"` // names of the child's relatives

	Status            string `json:"status,omitempty"`
	MatchedCaseID     string `json:"matched_case_id,omitempty"`
	MatchedCaseNumber string `json:"matched_case_number,omitempty"`
}

// Request is a stored tracing request.
type Request struct {
	ID         string     `json:"id"`
	Number     string     `json:"number"`
	Status     string     `json:"status"`
	Owner      string     `json:"owner"`
	OwnerGroup string     `json:"owner_group,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	Version    int64      `json:"version"`
	Details    Details    `json:"details"`
	Decisions  []Decision `json:"decisions,omitempty"`
}

// Decision is a caseworker's verdict on one candidate case for one trace.
type Decision struct {
	Trace      int       `json:"trace"` // 1-based
	CaseID     string    `json:"case_id"`
	CaseNumber string    `json:"case_number"`
	Outcome    string    `json:"outcome"` // confirmed or rejected
	Reason     string    `json:"reason,omitempty"`
	Actor      string    `json:"actor"`
	At         time.Time `json:"at"`
}

// Limits on a request.
const (
	MaxTraces      = 20
	MaxDocBytes    = 64 << 10 // one encoded Details
	maxTextBytes   = 200      // names, codes, contact
	maxMarksBytes  = 2000     // distinguishing marks
	maxLocationLen = 32
)

// FieldError names the field (as in the JSON document, e.g.
// "traces[0].age") a validation error is about. It matches ErrInvalid.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() []error {
	return []error{ErrInvalid, e.Err}
}

func fieldErr(field string, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// DecodeDetails decodes a request document strictly: valid UTF-8, exactly
// one JSON object, no unknown field, no value of the wrong type. It does not
// validate the values; see Details.Validate. Errors match ErrInvalid.
func DecodeDetails(b []byte) (Details, error) {
	var d Details
	if len(b) > MaxDocBytes {
		return d, errorf(ErrInvalid, "request document larger than %d bytes", MaxDocBytes)
	}
	if !utf8.Valid(b) {
		return d, errorf(ErrInvalid, "request document is not valid UTF-8")
	}
	// Traces are decoded one by one so that errors name their index.
	type detailsAlias Details
	var top struct {
		*detailsAlias
		Traces []json.RawMessage `json:"traces"`
	}
	top.detailsAlias = (*detailsAlias)(&d)
	if err := decodeStrict(b, &top, ""); err != nil {
		return Details{}, err
	}
	d.Traces = nil
	if len(top.Traces) > MaxTraces {
		return Details{}, fieldErr("traces", "more than %d traces", MaxTraces)
	}
	for i, raw := range top.Traces {
		var t Trace
		p := fmt.Sprintf("traces[%d]", i)
		if err := decodeStrict(raw, &t, p+"."); err != nil {
			return Details{}, err
		}
		if t.Status != "" || t.MatchedCaseID != "" || t.MatchedCaseNumber != "" {
			return Details{}, fieldErr(p+".status", "set by trace confirm and reject, not by the request")
		}
		// An empty list and an absent one mean the same: keep one form.
		for _, l := range []*[]string{&t.Nicknames, &t.OtherNames, &t.Relatives} {
			if len(*l) == 0 {
				*l = nil
			}
		}
		d.Traces = append(d.Traces, t)
	}
	return d, nil
}

// decodeStrict decodes exactly one JSON value into x, refusing unknown
// fields; errors name fields with prefix.
func decodeStrict(b []byte, x any, prefix string) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(x); err != nil {
		return jsonError(err, prefix)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errorf(ErrInvalid, "extra data after the request document")
	}
	return nil
}

// jsonError turns an encoding/json error into one naming the field.
func jsonError(err error, prefix string) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			if prefix != "" {
				return fieldErr(strings.TrimSuffix(prefix, "."), "must be a JSON object, not %s", te.Value)
			}
			return errorf(ErrInvalid, "the request document must be a JSON object, not %s", te.Value)
		}
		return fieldErr(prefix+jsonPath(field), "must not be %s", te.Value)
	case errors.As(err, &se):
		return errorf(ErrInvalid, "invalid JSON at byte %d: %v", se.Offset, se)
	case errors.Is(err, io.EOF):
		return errorf(ErrInvalid, "empty request document")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(ErrInvalid, "truncated JSON")
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		name, _ := strconv.Unquote(f)
		return fieldErr(prefix+name, "unknown field (see docs/tracing.md)")
	}
	return errorf(ErrInvalid, "invalid JSON: %s", strings.TrimPrefix(msg, "json: "))
}

// jsonPath turns encoding/json's "traces.0.age" into "traces[0].age".
func jsonPath(f string) string {
	parts := strings.Split(f, ".")
	var b strings.Builder
	for i, p := range parts {
		if _, err := strconv.Atoi(p); err == nil && i > 0 {
			b.WriteString("[" + p + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

// Validate checks a request document: at least one trace, every trace with
// a name, text valid UTF-8 and bounded, ages within 0..120, dates well
// formed and not in the future, location codes of letters, digits and
// hyphens (P-codes such as SO0101, ISO 3166-2 codes such as SO-BN).
// The error is a *FieldError naming the first bad field.
func (d *Details) Validate(now time.Time) error {
	text := func(field, v string, max int) error {
		if !utf8.ValidString(v) {
			return fieldErr(field, "not valid UTF-8")
		}
		if len(v) > max {
			return fieldErr(field, "longer than %d bytes", max)
		}
		for _, r := range v {
			if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f {
				return fieldErr(field, "contains a control character")
			}
		}
		return nil
	}
	list := func(field string, vs []string) error {
		if len(vs) > 32 {
			return fieldErr(field, "more than 32 values")
		}
		for i, v := range vs {
			if err := text(fmt.Sprintf("%s[%d]", field, i), v, maxTextBytes); err != nil {
				return err
			}
		}
		return nil
	}
	loc := func(field, v string) error {
		if v == "" {
			return nil
		}
		if len(v) > maxLocationLen {
			return fieldErr(field, "location code longer than %d characters", maxLocationLen)
		}
		for _, r := range v {
			if !('A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-') {
				return fieldErr(field, "%q is not a location code (letters, digits and hyphens, e.g. SO0101 or SO-BN)", v)
			}
		}
		return nil
	}
	date := func(field, v string) error {
		if v == "" {
			return nil
		}
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return fieldErr(field, "%q is not a YYYY-MM-DD date", v)
		}
		if t.After(now) {
			return fieldErr(field, "%s is in the future", v)
		}
		return nil
	}
	for _, c := range []struct {
		field, v string
		max      int
	}{{"inquirer_name", d.InquirerName, maxTextBytes}, {"relation", d.Relation, maxTextBytes}, {"contact", d.Contact, maxTextBytes}} {
		if err := text(c.field, c.v, c.max); err != nil {
			return err
		}
	}
	if err := loc("location", d.Location); err != nil {
		return err
	}
	if err := loc("location_separation", d.LocationSeparation); err != nil {
		return err
	}
	if err := date("date_of_separation", d.DateOfSeparation); err != nil {
		return err
	}
	if len(d.Traces) == 0 {
		return fieldErr("traces", "no child sought: give at least one trace with a name (--set trace.name=...)")
	}
	if len(d.Traces) > MaxTraces {
		return fieldErr("traces", "more than %d traces", MaxTraces)
	}
	for i := range d.Traces {
		t := &d.Traces[i]
		p := fmt.Sprintf("traces[%d].", i)
		if err := text(p+"name", t.Name, maxTextBytes); err != nil {
			return err
		}
		for _, l := range []struct {
			f  string
			vs []string
		}{{"nicknames", t.Nicknames}, {"other_names", t.OtherNames}, {"relatives", t.Relatives}} {
			if err := list(p+l.f, l.vs); err != nil {
				return err
			}
		}
		if err := text(p+"distinguishing_marks", t.DistinguishingMarks, maxMarksBytes); err != nil {
			return err
		}
		if err := loc(p+"location_origin", t.LocationOrigin); err != nil {
			return err
		}
		if err := loc(p+"location_separation", t.LocationSeparation); err != nil {
			return err
		}
		if err := date(p+"date_of_birth", t.DateOfBirth); err != nil {
			return err
		}
		if t.Age != nil && (math.IsNaN(*t.Age) || math.IsInf(*t.Age, 0)) {
			return fieldErr(p+"age", "not a number")
		}
		// The matching engine's own rules (a name, age 0..120, sex,
		// plausible date of birth), with its field names mapped to ours.
		if err := d.person(i).Validate(now); err != nil {
			var fe *matching.FieldError
			if errors.As(err, &fe) {
				return &FieldError{Field: p + personField(fe.Field), Err: fe.Err}
			}
			return fieldErr(p+"name", "%v", err)
		}
	}
	return nil
}

// personField maps a matching.Person field name to the trace's.
func personField(f string) string {
	base, _, _ := strings.Cut(f, "[")
	switch base {
	case "Names":
		return "name"
	case "Nicknames":
		return "nicknames"
	case "Age":
		return "age"
	case "Sex":
		return "sex"
	case "DateOfBirth":
		return "date_of_birth"
	case "SeparationDate":
		return "date_of_separation"
	case "Relatives":
		return "relatives"
	case "Locations", "SeparationLocation":
		return "location_separation"
	}
	return strings.ToLower(base)
}

// person describes trace i for the matching engine: the child's names,
// nicknames and description; locations of origin and separation and where
// the inquirer lives; the relatives named and the inquirer.
func (d *Details) person(i int) matching.Person {
	t := d.Traces[i]
	p := matching.Person{
		Sex: t.Sex, Age: t.Age, AgeEstimated: t.Estimated, DateOfBirth: t.DateOfBirth,
		Nicknames: t.Nicknames, SeparationDate: d.DateOfSeparation,
		SeparationLocation: upper(firstNonEmpty(t.LocationSeparation, d.LocationSeparation)),
	}
	if t.Name != "" {
		p.Names = append(p.Names, t.Name)
	}
	p.Names = append(p.Names, t.OtherNames...)
	for _, l := range []string{t.LocationOrigin, t.LocationSeparation, d.LocationSeparation, d.Location} {
		if l != "" && !slices.Contains(p.Locations, upper(l)) {
			p.Locations = append(p.Locations, upper(l))
		}
	}
	p.Relatives = slices.Clone(t.Relatives)
	if d.InquirerName != "" {
		p.Relatives = append(p.Relatives, d.InquirerName)
		// the inquirer's relation to the children, when it is a parent
		switch strings.ToLower(strings.TrimSpace(d.Relation)) {
		case "father":
			p.Father = d.InquirerName
		case "mother":
			p.Mother = d.InquirerName
		}
	}
	return p
}

func upper(s string) string { return matching.LocationCode(s) }

// person is trace i of r for the matching engine (Details.person) with
// the request's day, on which its ages are true, and its location codes
// resolved by locate (nil: as written).
func (r *Request) person(i int, locate func(string) (string, bool)) matching.Person {
	p := r.Details.person(i)
	if !r.CreatedAt.IsZero() {
		p.RecordedOn = r.CreatedAt.UTC().Format(time.DateOnly)
	}
	if locate != nil {
		res := func(c string) string {
			if code, ok := locate(c); ok {
				return matching.LocationCode(code)
			}
			return c
		}
		for j, l := range p.Locations {
			p.Locations[j] = res(l)
		}
		if p.SeparationLocation != "" {
			p.SeparationLocation = res(p.SeparationLocation)
		}
	}
	return p
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// Kinds of settable fields.
type kind int

const (
	kindText kind = iota
	kindBool
	kindNumber
	kindList
)

var requestFields = map[string]kind{
	"inquirer_name": kindText, "relation": kindText, "contact": kindText, "location": kindText,
	"date_of_separation": kindText, "location_separation": kindText, "consent_for_tracing": kindBool,
}

var traceFields = map[string]kind{
	"name": kindText, "nicknames": kindList, "other_names": kindList, "sex": kindText, "age": kindNumber,
	"date_of_birth": kindText, "estimated": kindBool, "distinguishing_marks": kindText,
	"location_origin": kindText, "location_separation": kindText, "relatives": kindList,
}

// Set applies one "--set" assignment to d. Keys are the document's top-level
// fields (inquirer_name, consent_for_tracing, ...) or a trace's fields
// prefixed "trace." for the first trace or "trace.N." for trace N (1-based;
// N may be one more than the number of traces, to add one). Values are
// converted to the field's type: text from a string; consent_for_tracing
// and estimated from a bool or "true", "false", "yes", "no"; age from a
// number or a numeric string; lists from a list of strings or one string.
// A nil value clears the field. Errors match ErrInvalid.
func (d *Details) Set(key string, v any) error {
	if rest, ok := strings.CutPrefix(key, "trace."); ok {
		n := 1
		if num, field, ok := strings.Cut(rest, "."); ok {
			var err error
			if n, err = strconv.Atoi(num); err != nil || n < 1 {
				return fieldErr(key, "want trace.FIELD or trace.N.FIELD with N from 1")
			}
			rest = field
		}
		k, ok := traceFields[rest]
		if !ok {
			return fieldErr(key, "unknown trace field %q (see docs/tracing.md)", rest)
		}
		if n > len(d.Traces)+1 || n > MaxTraces {
			return fieldErr(key, "there are %d traces: set trace.%d first", len(d.Traces), len(d.Traces)+1)
		}
		if n == len(d.Traces)+1 {
			d.Traces = append(d.Traces, Trace{})
		}
		return setField(&d.Traces[n-1], key, rest, k, v)
	}
	k, ok := requestFields[key]
	if !ok {
		return fieldErr(key, "unknown field (see docs/tracing.md)")
	}
	return setField(d, key, key, k, v)
}

// SetAll applies assignments with Set: the request's fields first, then
// trace 1's (trace.FIELD or trace.1.FIELD), trace 2's and so on, so that a
// new trace N is added after trace N-1. Keys named in skip are ignored.
func (d *Details) SetAll(set map[string]any, skip ...string) error {
	keys := make([]string, 0, len(set))
	for k := range set {
		if !slices.Contains(skip, k) {
			keys = append(keys, k)
		}
	}
	order := func(k string) int {
		rest, ok := strings.CutPrefix(k, "trace.")
		if !ok {
			return 0
		}
		if num, _, ok := strings.Cut(rest, "."); ok {
			if n, err := strconv.Atoi(num); err == nil {
				return n
			}
		}
		return 1
	}
	slices.SortFunc(keys, func(a, b string) int {
		if oa, ob := order(a), order(b); oa != ob {
			return oa - ob
		}
		return strings.Compare(a, b)
	})
	for _, k := range keys {
		if err := d.Set(k, set[k]); err != nil {
			return err
		}
	}
	return nil
}

// setField sets the JSON field name of the struct *dst (a *Details or a
// *Trace) by a round trip through a map: the strict decoder then checks the
// result like any document.
func setField[T any](dst *T, key, name string, k kind, v any) error {
	val, err := coerce(key, k, v)
	if err != nil {
		return err
	}
	b, err := json.Marshal(dst)
	if err != nil {
		return err
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	if val == nil {
		delete(m, name)
	} else {
		m[name] = val
	}
	if b, err = json.Marshal(m); err != nil {
		return fieldErr(key, "%v", err)
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		return fieldErr(key, "%v", err)
	}
	*dst = out
	return nil
}

func coerce(key string, k kind, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch k {
	case kindText:
		s, ok := v.(string)
		if !ok {
			return nil, fieldErr(key, "must be text")
		}
		return s, nil
	case kindBool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "true", "yes":
				return true, nil
			case "false", "no":
				return false, nil
			}
		}
		return nil, fieldErr(key, "must be true or false")
	case kindNumber:
		switch x := v.(type) {
		case float64:
			return x, nil
		case string:
			f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
				return f, nil
			}
		}
		return nil, fieldErr(key, "must be a number")
	case kindList:
		switch x := v.(type) {
		case string:
			return []any{x}, nil
		case []any:
			for _, e := range x {
				if _, ok := e.(string); !ok {
					return nil, fieldErr(key, "must be a list of text")
				}
			}
			return x, nil
		}
		return nil, fieldErr(key, "must be text or a list of text")
	}
	return nil, fieldErr(key, "cannot be set")
}
