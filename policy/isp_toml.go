package policy

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// The TOML shape of an ISP document. Times are decoded into any so that
// local date-times (without an offset) can be refused instead of being
// read in the machine's time zone; integers are decoded as int64 and
// range-checked here.
type tomlISP struct {
	Format     string          `toml:"format"`
	ID         string          `toml:"id"`
	Version    int64           `toml:"version"`
	Title      string          `toml:"title"`
	ValidFrom  any             `toml:"valid_from"`
	ValidUntil any             `toml:"valid_until"`
	Party      []tomlParty     `toml:"party"`
	Purpose    []tomlPurpose   `toml:"purpose"`
	Signature  []tomlSignature `toml:"signature,omitempty"`
}

type tomlParty struct {
	Agency     string `toml:"agency"`
	Name       string `toml:"name"`
	SigningKey string `toml:"signing_key"`
}

type tomlPurpose struct {
	Name            string         `toml:"name"`
	From            []string       `toml:"from"`
	To              []string       `toml:"to"`
	RequiredConsent []string       `toml:"required_consent,omitempty"`
	Forms           []string       `toml:"forms,omitempty"`
	Fields          []string       `toml:"fields,omitempty"`
	Withheld        []string       `toml:"withheld,omitempty"`
	Retention       string         `toml:"retention,omitempty"`
	RetentionDays   int64          `toml:"retention_days,omitempty"`
	Conditions      tomlConditions `toml:"conditions,omitempty"`
	// The aggregate purpose's terms.
	Reports            []string `toml:"reports,omitempty"`
	Dimensions         []string `toml:"dimensions,omitempty"`
	Threshold          int64    `toml:"threshold,omitempty"`
	ProtectionInterval int64    `toml:"protection_interval,omitempty"`
	Frequency          string   `toml:"frequency,omitempty"`
	// The tracing purpose's terms.
	QueriesPerMinute int64 `toml:"queries_per_minute,omitempty"`
}

type tomlConditions struct {
	MaxRiskLevel         string   `toml:"max_risk_level,omitempty"`
	ConsentOverrideRoles []string `toml:"consent_override_roles,omitempty"`
}

type tomlSignature struct {
	Agency  string `toml:"agency"`
	Key     string `toml:"key"`
	Ed25519 string `toml:"ed25519"`
	MLDSA65 string `toml:"mldsa65"`
}

// tomlTables maps the Go types above to the TOML table they decode, for
// naming keys in decoder errors.
var tomlTables = map[string]struct {
	table string
	typ   reflect.Type
}{
	"tomlISP":        {"", reflect.TypeFor[tomlISP]()},
	"tomlParty":      {"party", reflect.TypeFor[tomlParty]()},
	"tomlPurpose":    {"purpose", reflect.TypeFor[tomlPurpose]()},
	"tomlConditions": {"purpose.conditions", reflect.TypeFor[tomlConditions]()},
	"tomlSignature":  {"signature", reflect.TypeFor[tomlSignature]()},
}

// ParseISP reads an ISP document (TOML, format "cpx-isp/1", described in
// docs/isp.md) and validates it with [ISP.Validate]. It is strict: unknown
// keys, values of the wrong type, local date-times without an offset and
// documents over [MaxISPSize] are refused. Every error names the key and
// wraps [ErrInvalidISP]. Times are returned in UTC; lists keep the
// document's order.
func ParseISP(data []byte) (*ISP, error) {
	if len(data) > MaxISPSize {
		return nil, fmt.Errorf("policy: isp: document is %d bytes, more than the limit of %d: %w", len(data), MaxISPSize, ErrInvalidISP)
	}
	if n := countTables(data); n > MaxISPTables {
		return nil, fmt.Errorf("policy: isp: document has %d tables, more than the limit of %d: %w", n, MaxISPTables, ErrInvalidISP)
	}
	var raw tomlISP
	if err := decodeStrict(data, &raw); err != nil {
		return nil, err
	}

	var ps problems
	p := &ISP{
		Format: raw.Format,
		ID:     raw.ID,
		Title:  raw.Title,
	}
	switch {
	case raw.Version < 0 || raw.Version > math.MaxUint32:
		ps.add("version", "%d is out of range (1 to %d)", raw.Version, uint32(math.MaxUint32))
	default:
		p.Version = uint32(raw.Version)
	}
	p.ValidFrom = tomlTime(&ps, "valid_from", raw.ValidFrom)
	p.ValidUntil = tomlTime(&ps, "valid_until", raw.ValidUntil)
	for _, pt := range raw.Party {
		p.Parties = append(p.Parties, Party(pt))
	}
	for i, r := range raw.Purpose {
		rule := PurposeRule{
			Name:            r.Name,
			From:            nilIfEmpty(r.From),
			To:              nilIfEmpty(r.To),
			RequiredConsent: nilIfEmpty(r.RequiredConsent),
			Forms:           nilIfEmpty(r.Forms),
			Fields:          nilIfEmpty(r.Fields),
			Withheld:        nilIfEmpty(r.Withheld),
			Retention:       r.Retention,
			Conditions: Conditions{
				MaxRiskLevel:         r.Conditions.MaxRiskLevel,
				ConsentOverrideRoles: nilIfEmpty(r.Conditions.ConsentOverrideRoles),
			},
		}
		rule.Aggregate = AggregateTerms{
			Reports: nilIfEmpty(r.Reports), Dimensions: nilIfEmpty(r.Dimensions), Frequency: r.Frequency,
		}
		if r.Threshold < 0 || r.Threshold > MaxThreshold {
			ps.add(itemKey("purpose", i, r.Name)+".threshold", "%d: use 2 to %d", r.Threshold, MaxThreshold)
		} else {
			rule.Aggregate.Threshold = int(r.Threshold)
		}
		if r.ProtectionInterval < 0 || r.ProtectionInterval > 1_000_000 {
			ps.add(itemKey("purpose", i, r.Name)+".protection_interval", "%d: use 1 to 1000000", r.ProtectionInterval)
		} else {
			rule.Aggregate.ProtectionInterval = int(r.ProtectionInterval)
		}
		if r.QueriesPerMinute < 0 || r.QueriesPerMinute > MaxQueriesPerMinute {
			ps.add(itemKey("purpose", i, r.Name)+".queries_per_minute", "%d: use 1 to %d (0 or absent: %d)", r.QueriesPerMinute, MaxQueriesPerMinute, DefaultQueriesPerMinute)
		} else {
			rule.Tracing.QueriesPerMinute = int(r.QueriesPerMinute)
		}
		if r.RetentionDays < 0 || r.RetentionDays > MaxRetentionDays {
			ps.add(itemKey("purpose", i, r.Name)+".retention_days", "%d: use 0 (no limit) to %d", r.RetentionDays, MaxRetentionDays)
		} else {
			rule.RetentionDays = int(r.RetentionDays)
		}
		p.Purposes = append(p.Purposes, rule)
	}
	for i, s := range raw.Signature {
		key := itemKey("signature", i, s.Agency)
		sig := ISPSignature{Agency: s.Agency, Key: s.Key}
		var err error
		if sig.Ed25519, err = base64.StdEncoding.Strict().DecodeString(s.Ed25519); err != nil {
			ps.add(key+".ed25519", "not standard base64: %v", err)
		}
		if sig.MLDSA65, err = base64.StdEncoding.Strict().DecodeString(s.MLDSA65); err != nil {
			ps.add(key+".mldsa65", "not standard base64: %v", err)
		}
		p.Signatures = append(p.Signatures, sig)
	}
	if ps.any() {
		return nil, ps.err()
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// countTables counts the lines that start with '[' (after blanks): an
// upper bound on the table headers of the document, since no value of
// an ISP spans lines that start with '['.
func countTables(data []byte) int {
	n := 0
	for line := range bytes.Lines(data) {
		if t := bytes.TrimLeft(line, " \t"); len(t) > 0 && t[0] == '[' {
			n++
		}
	}
	return n
}

// decodeStrict decodes data into raw, refusing unknown keys. go-toml
// v2.2.2 panics when a date or time value meets a field of another type
// (pelletier/go-toml#1028, fixed after v2.2.4); the panic is turned into
// an error here, since ISP documents come from other agencies.
func decodeStrict(data []byte, raw *tomlISP) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("policy: isp: a date or time stands where another type of value is expected (%v): %w", r, ErrInvalidISP)
		}
	}()
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(raw); err != nil {
		return decodeError(data, err)
	}
	return nil
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// tomlTime accepts an offset date-time and returns it in UTC.
func tomlTime(ps *problems, key string, v any) time.Time {
	switch t := v.(type) {
	case nil:
		return time.Time{} // reported as missing by Validate
	case time.Time:
		if t.IsZero() {
			ps.add(key, "%s is not a usable time", fmtTime(t))
		}
		return t.UTC()
	case toml.LocalDateTime, toml.LocalDate, toml.LocalTime:
		ps.add(key, "%v has no time zone offset; write it in UTC, e.g. 2026-01-01T00:00:00Z", t)
	default:
		ps.add(key, "want a date-time such as 2026-01-01T00:00:00Z, got %s", tomlKind(v))
	}
	return time.Time{}
}

func tomlKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	default:
		return fmt.Sprintf("%T", v)
	}
}

var (
	structFieldRE = regexp.MustCompile(`struct field \w+\.(\w+)\.(\w+) of type (\S+)`)
	lineKeyRE     = regexp.MustCompile(`^\s*([A-Za-z0-9_."' -]+?)\s*=`)
	tableRE       = regexp.MustCompile(`^\s*\[\[?\s*([A-Za-z0-9_."' -]+?)\s*\]\]?`)
)

// decodeError turns a go-toml error into one that names the TOML key and
// line, and wraps ErrInvalidISP.
func decodeError(data []byte, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		var ps problems
		for _, e := range strict.Errors {
			row, _ := e.Position()
			ps.add(fmt.Sprintf("line %d", row), "unknown key %q", strings.Join(e.Key(), "."))
		}
		return ps.err()
	}
	var de *toml.DecodeError
	if !errors.As(err, &de) {
		return fmt.Errorf("policy: isp: %s: %w", strings.TrimPrefix(err.Error(), "toml: "), ErrInvalidISP)
	}
	row, col := de.Position()
	msg := strings.TrimPrefix(de.Error(), "toml: ")
	key := ""
	if m := structFieldRE.FindStringSubmatch(msg); m != nil {
		if t, ok := tomlTables[m[1]]; ok {
			key = m[2]
			if f, ok := t.typ.FieldByName(m[2]); ok {
				key, _, _ = strings.Cut(f.Tag.Get("toml"), ",")
			}
			if t.table != "" {
				key = t.table + "." + key
			}
			msg = strings.Replace(msg, m[0], goTypeWords(m[3]), 1)
		}
	}
	if key == "" {
		key = keyAtLine(data, row)
	}
	msg = strings.NewReplacer(
		"float cannot be assigned to int64", "cannot decode TOML float into an integer",
		"strconv.ParseInt: ", "",
		"cannot store a table in a slice", "is an array of tables; write its header with double brackets",
	).Replace(msg)
	if key != "" {
		return fmt.Errorf("policy: isp: line %d: %s: %s: %w", row, key, msg, ErrInvalidISP)
	}
	return fmt.Errorf("policy: isp: line %d, column %d: %s: %w", row, col, msg, ErrInvalidISP)
}

func goTypeWords(t string) string {
	switch t {
	case "string":
		return "a string"
	case "[]string":
		return "an array of strings"
	case "int64":
		return "an integer"
	}
	if strings.HasPrefix(t, "[]") {
		return "an array of tables"
	}
	return "a table"
}

// keyAtLine guesses the dotted key whose value sits at line row (1-based):
// the nearest "key =" at or above it, prefixed by the nearest table
// header above that.
func keyAtLine(data []byte, row int) string {
	lines := strings.Split(string(data), "\n")
	if row < 1 || row > len(lines) {
		return ""
	}
	if m := tableRE.FindStringSubmatch(lines[row-1]); m != nil {
		return m[1]
	}
	key := ""
	for i := row - 1; i >= 0; i-- {
		if key == "" {
			if m := lineKeyRE.FindStringSubmatch(lines[i]); m != nil {
				key = m[1]
			}
			continue
		}
		if m := tableRE.FindStringSubmatch(lines[i]); m != nil {
			return m[1] + "." + key
		}
	}
	return key
}

// Marshal writes the ISP as a TOML document, signatures included, that
// [ParseISP] reads back to an equal ISP (times in UTC, empty lists as
// nil). It refuses an ISP that [ISP.Validate] rejects, and one whose
// document would exceed [MaxISPSize] or [MaxISPTables].
func (p *ISP) Marshal() ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	raw := tomlISP{
		Format:     p.Format,
		ID:         p.ID,
		Version:    int64(p.Version),
		Title:      p.Title,
		ValidFrom:  p.ValidFrom.UTC(),
		ValidUntil: p.ValidUntil.UTC(),
	}
	for _, pt := range p.Parties {
		raw.Party = append(raw.Party, tomlParty(pt))
	}
	for _, r := range p.Purposes {
		raw.Purpose = append(raw.Purpose, tomlPurpose{
			Name:            r.Name,
			From:            r.From,
			To:              r.To,
			RequiredConsent: r.RequiredConsent,
			Forms:           r.Forms,
			Fields:          r.Fields,
			Withheld:        r.Withheld,
			Retention:       r.Retention,
			RetentionDays:   int64(r.RetentionDays),
			Conditions: tomlConditions{
				MaxRiskLevel:         r.Conditions.MaxRiskLevel,
				ConsentOverrideRoles: r.Conditions.ConsentOverrideRoles,
			},
			Reports:            r.Aggregate.Reports,
			Dimensions:         r.Aggregate.Dimensions,
			Threshold:          int64(r.Aggregate.Threshold),
			ProtectionInterval: int64(r.Aggregate.ProtectionInterval),
			Frequency:          r.Aggregate.Frequency,
			QueriesPerMinute:   int64(r.Tracing.QueriesPerMinute),
		})
	}
	for _, s := range p.Signatures {
		raw.Signature = append(raw.Signature, tomlSignature{
			Agency:  s.Agency,
			Key:     s.Key,
			Ed25519: base64.StdEncoding.EncodeToString(s.Ed25519),
			MLDSA65: base64.StdEncoding.EncodeToString(s.MLDSA65),
		})
	}
	var buf bytes.Buffer
	buf.WriteString("# CPX information-sharing protocol; keys are described in docs/isp.md.\n")
	enc := toml.NewEncoder(&buf)
	enc.SetIndentTables(false)
	if err := enc.Encode(raw); err != nil {
		return nil, fmt.Errorf("policy: %s: encode: %w", p.label(), err)
	}
	if buf.Len() > MaxISPSize {
		return nil, fmt.Errorf("policy: %s: encoded document is %d bytes, more than the limit of %d: %w", p.label(), buf.Len(), MaxISPSize, ErrInvalidISP)
	}
	if n := countTables(buf.Bytes()); n > MaxISPTables {
		return nil, fmt.Errorf("policy: %s: encoded document has %d tables, more than the limit of %d: %w", p.label(), n, MaxISPTables, ErrInvalidISP)
	}
	return buf.Bytes(), nil
}
