package casework

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/forms"
	"github.com/cpx-node/cpx/node/rowseal"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// The report row index, kept by putIndexes in the transaction that writes
// the case, like the word and tracing indexes:
//
//	c/rr/ID → row   what aggregate reports read of the case
//
// A row holds the case's core attributes (owner, group, agency, status,
// stage, creation time) and the values of its report fields (see
// reportFields): the top-level fields of a groupable type (select,
// multi-select, tick box, number, location) not classed identifying, every
// top-level date field (the date of birth among them, so that an age is
// computed on the day of the report), and, of each subform not classed
// identifying, the latest value of each of its date fields. No name, contact, address, identity
// number or free text. Rows of purged cases are deleted with the record.
// A row is sealed (AES-256-GCM) under a key derived from the index key,
// so that the store holds no form data in clear, and encrypted at rest by
// the store like every other value. Unlike form data it is not under the
// case's own key: a backup taken before a purge keeps the purged case's
// row, readable with the node's keys (docs/purge.md).
//
// The index is built by BuildIndexes with the word index; its meta record
// names the report fields, so a forms configuration that changes them
// rebuilds it. Until it is ready, AggregateFields reads every case.
var (
	prefixReportRow = []byte("c/rr/")
	// keyRowGeneration changes (a random value, written blind, so that
	// no two writers conflict on it) in every transaction that changes a
	// report row: a report that finds the value it last read knows that
	// no row changed since, and counts from the rows it kept in memory.
	keyRowGeneration = []byte("c/rg")
)

const rowFormat = 1

// rowsLabel derives the key case rows are sealed under from the index key.
const rowsLabel = "cpx-report-rows-v1"

// RowSealer returns a sealer for another kind of report row (label names
// it, e.g. "cpx-exchange-rows-v1"), under a key derived from the index
// key like the case rows' own: rows follow the index key, so a store
// restored under another key finds them unreadable and rebuilds them.
func (s *Service) RowSealer(label string) *rowseal.Sealer {
	if label == rowsLabel {
		panic("casework: the case rows' label is not for another kind of row")
	}
	return rowseal.New(s.index.key, label)
}

// noTime encodes a zero creation time.
const noTime = math.MinInt64

// Row value types.
const (
	rowString = 's'
	rowNumber = 'n'
	rowTrue   = 't'
	rowFalse  = 'f'
	rowList   = 'l' // strings
	rowLatest = 'S' // a subform's latest date per date field: name, date pairs
)

func reportRowKey(id string) []byte { return append(slices.Clone(prefixReportRow), id...) }

// reportField is one field a report row holds.
type reportField struct {
	name  string
	typ   forms.FieldType
	dates []string // of a subform: its date fields
}

// reportFields lists the fields report rows hold, in name order.
func reportFields(fc *forms.Config) []reportField {
	var out []reportField
	seen := map[string]bool{}
	for _, f := range fc.TopForms() {
		for _, fd := range f.Fields {
			if seen[fd.Name] {
				continue
			}
			rf := reportField{name: fd.Name, typ: fd.Type}
			switch fd.Type {
			case forms.Select, forms.MultiSelect, forms.TickBox, forms.Number, forms.LocationRef:
				if fc.FieldClass(fd.Name) == policy.ClassIdentifying {
					continue
				}
			case forms.Date:
			case forms.Subform:
				sub, ok := fc.Form(fd.Subform)
				if !ok || fc.FieldClass(fd.Name) == policy.ClassIdentifying {
					continue
				}
				for _, sf := range sub.Fields {
					if sf.Type == forms.Date {
						rf.dates = append(rf.dates, sf.Name)
					}
				}
				if len(rf.dates) == 0 {
					continue
				}
			default:
				continue
			}
			seen[fd.Name] = true
			out = append(out, rf)
		}
	}
	slices.SortFunc(out, func(a, b reportField) int { return strings.Compare(a.name, b.name) })
	return out
}

// reportFieldsCheck names the report fields and the row format, for the
// index's meta record.
func reportFieldsCheck(fs []reportField) string {
	h := sha256.New()
	fmt.Fprintf(h, "cpx-report-rows-v%d\x00", rowFormat)
	for _, f := range fs {
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00", f.name, f.typ, strings.Join(f.dates, ","))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func appendStr(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendBytes(b, s []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// encodeRow encodes what report rows hold of c.
func encodeRow(c *Case, fs []reportField) []byte {
	b := make([]byte, 0, 256)
	b = append(b, rowFormat)
	for _, s := range []string{c.Owner, c.OwnerGroup, c.Agency, c.Status, c.Stage} {
		b = appendStr(b, s)
	}
	created := int64(noTime)
	if !c.CreatedAt.IsZero() {
		created = c.CreatedAt.UnixNano()
	}
	b = binary.AppendVarint(b, created)
	for _, f := range fs {
		v, ok := c.Fields[f.name]
		if !ok || v == nil {
			continue
		}
		start := len(b)
		b = appendStr(b, f.name)
		switch v := v.(type) {
		case string:
			if f.typ == forms.Subform {
				b = b[:start]
				continue
			}
			b = appendStr(append(b, rowString), v)
		case float64:
			b = binary.BigEndian.AppendUint64(append(b, rowNumber), math.Float64bits(v))
		case int:
			b = binary.BigEndian.AppendUint64(append(b, rowNumber), math.Float64bits(float64(v)))
		case bool:
			if v {
				b = append(b, rowTrue)
			} else {
				b = append(b, rowFalse)
			}
		case []any:
			if f.typ == forms.Subform {
				latest := latestDates(v, f.dates)
				b = binary.AppendUvarint(append(b, rowLatest), uint64(len(latest)/2))
				for _, s := range latest {
					b = appendStr(b, s)
				}
				continue
			}
			var l []string
			for _, e := range v {
				if s, ok := e.(string); ok {
					l = append(l, s)
				}
			}
			b = binary.AppendUvarint(append(b, rowList), uint64(len(l)))
			for _, s := range l {
				b = appendStr(b, s)
			}
		case []string:
			b = binary.AppendUvarint(append(b, rowList), uint64(len(v)))
			for _, s := range v {
				b = appendStr(b, s)
			}
		default:
			b = b[:start] // not a value reports group
		}
	}
	return b
}

// latestDates returns, for each date field of a subform's rows, the
// latest date recorded, as name, date pairs.
func latestDates(rows []any, dates []string) []string {
	var out []string
	for _, name := range dates {
		last := ""
		for _, r := range rows {
			m, _ := r.(map[string]any)
			if s, ok := m[name].(string); ok && len(s) >= 10 && s[:10] > last {
				if _, err := time.Parse(time.DateOnly, s[:10]); err == nil {
					last = s[:10]
				}
			}
		}
		if last != "" {
			out = append(out, name, last)
		}
	}
	return out
}

// putReportRow files c in the report row index, or removes it when c is
// purged (or gone). fresh says c is new.
func (s *Service) putReportRow(w store.Writer, c *Case, fresh bool) error {
	switch c.Status {
	case StatusOpen, StatusClosed, StatusTransferred:
		if err := w.Set(reportRowKey(c.ID), s.rows.Seal(c.ID, encodeRow(c, s.rowFields))); err != nil {
			return err
		}
	default:
		if fresh {
			return nil
		}
		if err := w.Delete(reportRowKey(c.ID)); err != nil {
			return err
		}
	}
	return logRowChange(w, c.ID) // reportrows_cache.go
}

var errCorruptRow = rowseal.ErrCorrupt

// rowCursor reads a row without copying it.
type rowCursor struct {
	b   []byte
	err error
}

func (rc *rowCursor) bytes() []byte {
	n, k := binary.Uvarint(rc.b)
	if k <= 0 || uint64(len(rc.b)-k) < n {
		rc.err, rc.b = errCorruptRow, nil
		return nil
	}
	raw := rc.b[k : k+int(n)]
	rc.b = rc.b[k+int(n):]
	return raw
}

// value returns the next field's name and its value as encoded (type
// byte first).
func (rc *rowCursor) value() (name, val []byte) {
	name = rc.bytes()
	if rc.err != nil || len(rc.b) == 0 {
		rc.err, rc.b = errCorruptRow, nil
		return nil, nil
	}
	start := rc.b
	typ := rc.b[0]
	rc.b = rc.b[1:]
	switch typ {
	case rowString:
		rc.bytes()
	case rowNumber:
		if len(rc.b) < 8 {
			rc.err, rc.b = errCorruptRow, nil
			return nil, nil
		}
		rc.b = rc.b[8:]
	case rowTrue, rowFalse:
	case rowList, rowLatest:
		n, k := binary.Uvarint(rc.b)
		if k <= 0 || n > uint64(len(rc.b)) {
			rc.err, rc.b = errCorruptRow, nil
			return nil, nil
		}
		rc.b = rc.b[k:]
		if typ == rowLatest {
			n *= 2
		}
		for range n {
			rc.bytes()
		}
	default:
		rc.err, rc.b = errCorruptRow, nil
	}
	if rc.err != nil {
		return nil, nil
	}
	return name, start[:len(start)-len(rc.b)]
}

// decodeValue returns the form value of an encoded value.
func decodeValue(val []byte) (any, error) {
	rc := &rowCursor{b: val[1:]}
	var v any
	switch val[0] {
	case rowString:
		v = string(rc.bytes())
	case rowNumber:
		v = math.Float64frombits(binary.BigEndian.Uint64(rc.b))
	case rowTrue, rowFalse:
		v = val[0] == rowTrue
	case rowList:
		n, k := binary.Uvarint(rc.b)
		rc.b = rc.b[k:]
		l := make([]any, 0, n)
		for range n {
			l = append(l, string(rc.bytes()))
		}
		v = l
	case rowLatest:
		n, k := binary.Uvarint(rc.b)
		rc.b = rc.b[k:]
		m := make(map[string]any, n)
		for range n {
			name := string(rc.bytes())
			m[name] = string(rc.bytes())
		}
		v = []any{m}
	}
	return v, rc.err
}

// row is a report row split into its parts, still encoded.
type row struct {
	scope         []byte // owner, group and agency, encoded
	group         []byte
	status, stage []byte
	created       int64
	fields        []byte
}

func splitRow(b []byte) (row, error) {
	var r row
	if len(b) == 0 || b[0] != rowFormat {
		return r, errCorruptRow
	}
	rc := &rowCursor{b: b[1:]}
	rc.bytes()
	r.group = rc.bytes()
	rc.bytes()
	r.scope = b[1 : len(b)-len(rc.b)]
	r.status, r.stage = rc.bytes(), rc.bytes()
	t, k := binary.Varint(rc.b)
	if rc.err != nil || k <= 0 {
		return r, errCorruptRow
	}
	r.created, r.fields = t, rc.b[k:]
	return r, nil
}

// Fields says what AggregateFields hands over of each case.
type Fields struct {
	// Names are the form fields wanted.
	Names []string
	// Created asks for the day each case was created (CreatedAt).
	Created bool
	// Births are date fields among Names that matter only as an age in
	// whole years on day On: cases whose dates give the same age are
	// alike.
	Births []string
	On     time.Time
}

// AggregateFields is Aggregate for a caller that reads only some form
// fields and counts cases alike: fn is called with every kind of case the
// subject may read and how many cases are of that kind, all of a kind
// having the same status, stage, owner group and, of their form data, the
// same values of the fields f names that the subject's role sees (the
// others are left out), births as ages; with f.Created, also the same day
// of creation (CreatedAt is then that day, else zero). Once the indexes
// are ready (BuildIndexes) and every named field is a report field (or no
// form field), the cases come from the report row index without opening
// a case record. Otherwise every case is read (Aggregate), and fn is
// called once for each with n = 1. It needs the list permission and
// audits one entry like Aggregate.
func (s *Service) AggregateFields(ctx context.Context, sub policy.Subject, report string, f Fields, fn func(c Case, n int) error) error {
	var want []string
	for _, name := range f.Names {
		if !slices.Contains(want, name) {
			want = append(want, name)
		}
	}
	if !s.IndexesReady() || slices.ContainsFunc(want, s.unindexed) {
		return s.Aggregate(ctx, sub, report, func(c Case) error { return fn(c, 1) })
	}
	if d := policy.Authorize(sub, policy.ResourceCase, policy.ActionList, nil); !d.Allowed {
		return s.auditDenied(ctx, sub, "case.report", "report/"+report, denied(d))
	}
	want = slices.DeleteFunc(want, func(name string) bool { return sub.Role.Hides(s.forms, name) })
	birth := make([]bool, len(want))
	for i, name := range want {
		birth[i] = slices.Contains(f.Births, name)
	}
	var (
		kinds []rowKind
		n     int
	)
	t := &s.rowCache
	t.mu.Lock()
	err := s.store.View(ctx, func(r store.Reader) error { return t.sync(r, s.rows, s.rowFields) })
	if err == nil {
		kinds, n, err = t.count(sub, want, birth, f.Created, f.On.UTC())
	}
	t.mu.Unlock()
	if errors.Is(err, errCorruptRow) {
		// Never count from a row that does not authenticate: count from
		// the cases, and have KeepReportRows rebuild the index.
		t.damaged.Store(true)
		return s.Aggregate(ctx, sub, report, func(c Case) error { return fn(c, 1) })
	}
	if err == nil {
		t.prune(ctx, s.store)
	}
	if err == nil {
		for _, k := range kinds {
			if err = fn(k.c, k.n); err != nil {
				break
			}
		}
	}
	outcome := audit.OK
	if err != nil {
		outcome = audit.Failed
	}
	aerr := audit.Record(ctx, s.store, s.now(), audit.Event{Actor: sub.User, Action: "case.report", Object: "report/" + report, Outcome: outcome, Details: map[string]any{"count": n}})
	return errors.Join(err, aerr)
}

// ageOf returns the age in whole years on day on of someone born on the
// date val encodes.
func ageOf(val []byte, on time.Time) (int, bool) {
	if len(val) < 12 || val[0] != rowString || val[1] >= 0x80 {
		return 0, false
	}
	d := val[2:] // a date is shorter than 128 bytes: one length byte
	num := func(b []byte) int {
		n := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	y, m, dd := num(d[0:4]), num(d[5:7]), num(d[8:10])
	if y < 0 || m < 1 || m > 12 || dd < 1 || dd > 31 || d[4] != '-' || d[7] != '-' {
		return 0, false
	}
	if time.Date(y, time.Month(m), dd, 0, 0, 0, 0, time.UTC).Day() != dd {
		return 0, false // as time.Parse, which the caller uses, refuses it
	}
	a := on.Year() - y
	if int(on.Month()) < m || (int(on.Month()) == m && on.Day() < dd) {
		a--
	}
	return a, true
}

// unindexed reports whether name is a form field that report rows do not
// hold (a field the forms do not have is in no case either).
func (s *Service) unindexed(name string) bool {
	if _, ok := slices.BinarySearchFunc(s.rowFields, name, func(f reportField, n string) int { return strings.Compare(f.name, n) }); ok {
		return false
	}
	_, _, isField := s.forms.Field(name)
	return isField
}
