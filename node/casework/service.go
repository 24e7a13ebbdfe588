package casework

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/casekeys"
	"github.com/cpx-node/cpx/node/forms"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// Errors returned by the Service. The local API maps them to Connect codes
// in one place (node/api).
var (
	ErrNotFound = errors.New("case not found")
	ErrDenied   = errors.New("permission denied")
	ErrInvalid  = errors.New("invalid request")
	ErrConflict = errors.New("case was changed by someone else")
	ErrClosed   = errors.New("case is closed")
	ErrTooLarge = errors.New("case record too large")
	// ErrPurged is returned for a case whose data was erased by Purge (or
	// whose data key was destroyed). Errors of this kind also match
	// ErrNotFound, so callers that only know ErrNotFound treat a purged
	// case as gone.
	ErrPurged = errors.New("case was purged")
)

// purged returns an ErrPurged error about case ref.
func purged(ref string) error {
	return &kindError{kind: ErrPurged, cause: ErrNotFound, msg: fmt.Sprintf("case %s was purged: its data is erased", ref)}
}

// kindError is an error of one of the kinds above whose message does not
// repeat the kind: callers test the kind with errors.Is, and the local API
// turns it into a Connect code, so "permission denied" is said once.
type kindError struct {
	kind  error
	cause error // optional, e.g. a *forms.ValidationError
	msg   string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// errorf returns an error of the given kind.
func errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// DefaultMaxRecordBytes bounds the encoded size of one case record.
const DefaultMaxRecordBytes = 1 << 20

// Key prefixes of the records this package owns.
var (
	prefixRecord  = []byte("c/r/") // id → Case
	prefixNumber  = []byte("c/n/") // case number → id
	prefixVersion = []byte("c/v/") // id/version → Version
	prefixStatus  = []byte("c/s/") // status/id → ""
	keySequence   = []byte("c/seq")
)

// Options configure a Service. Store, Forms and Agency are required.
type Options struct {
	Store  store.Store
	Forms  *forms.Config
	Agency string
	// NumberPrefix starts every case number (default: "CASE").
	NumberPrefix string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MaxRecordBytes bounds one encoded record, form data counted before
	// encryption (default DefaultMaxRecordBytes).
	MaxRecordBytes int
	// IndexKey keys the tokens of the word index (index.go); the node
	// derives it from the store key. Nil means a random key for this
	// process (tests).
	IndexKey []byte
	// Keys holds the per-case data keys that form data and history are
	// encrypted under (see docs/purge.md). Nil means a fresh
	// casekeys.Memory: the keys then die with the process, so every
	// record written becomes unreadable after a restart. For tests only; a
	// node passes casekeys.Local or casekeys.Vault.
	Keys casekeys.Store
}

// Service is the agency's casework: it validates, authorises, stores and
// audits every operation on cases, each in one transaction.
type Service struct {
	store    store.Store
	forms    *forms.Config
	agency   string
	prefix   string
	now      func() time.Time
	maxBytes int
	keys     casekeys.Store
	observer Observer
	index    *indexer
}

// New returns a Service.
func New(o Options) *Service {
	s := &Service{store: o.Store, forms: o.Forms, agency: o.Agency, prefix: o.NumberPrefix, now: o.Now, maxBytes: o.MaxRecordBytes, keys: o.Keys, index: newIndexer(o.IndexKey)}
	if s.keys == nil {
		s.keys = casekeys.NewMemory()
	}
	if s.prefix == "" {
		s.prefix = "CASE"
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxBytes <= 0 {
		s.maxBytes = DefaultMaxRecordBytes
	}
	return s
}

// Observer learns about every case this service creates or changes (the
// whole case, unredacted), after the change is committed. The tracing
// index keeps itself up to date this way.
type Observer interface {
	CaseChanged(Case)
}

// Observe registers o; call it once while wiring the node, before serving.
func (s *Service) Observe(o Observer) { s.observer = o }

func (s *Service) notify(c Case) {
	if s.observer != nil {
		s.observer.CaseChanged(c)
	}
}

// Forms returns the forms configuration the service validates against.
func (s *Service) Forms() *forms.Config { return s.forms }

func recordKey(id string) []byte { return append(append([]byte{}, prefixRecord...), id...) }
func numberKey(n string) []byte  { return append(append([]byte{}, prefixNumber...), n...) }
func statusKey(status, id string) []byte {
	return append(append(append([]byte{}, prefixStatus...), status+"/"...), id...)
}
func versionPrefix(id string) []byte {
	return append(append([]byte{}, prefixVersion...), id+"/"...)
}
func versionKey(id string, v int64) []byte {
	return binary.BigEndian.AppendUint64(versionPrefix(id), uint64(v))
}

func object(c *Case) *policy.Object {
	return &policy.Object{Owner: c.Owner, OwnerGroup: c.OwnerGroup, Agency: c.Agency}
}

func denied(d policy.Decision) error { return errorf(ErrDenied, "%s", d.Reason) }

// redacted returns a copy of c without the fields the subject's role hides.
func redacted(sub policy.Subject, c Case) Case {
	c.Fields = sub.Role.Redact(c.Fields)
	return c
}

// auditDenied records a refused attempt in a transaction of its own, and
// returns err.
func (s *Service) auditDenied(ctx context.Context, sub policy.Subject, action, object string, err error) error {
	outcome := audit.Failed
	if errors.Is(err, ErrDenied) {
		outcome = audit.Denied
	}
	if aerr := audit.Record(ctx, s.store, s.now(), audit.Event{Actor: sub.User, Action: action, Object: object, Outcome: outcome}); aerr != nil {
		return errors.Join(err, aerr)
	}
	return err
}

func caseObject(id string) string { return "case/" + id }

// loadRaw reads a case by id or case number without opening its form
// data; it returns the sealed form data, if any. A purged case's tombstone
// is returned without error.
func loadRaw(r store.Reader, ref string) (Case, []byte, error) {
	var c Case
	b, err := r.Get(recordKey(ref))
	if errors.Is(err, store.ErrNotFound) {
		id, nerr := r.Get(numberKey(ref))
		if nerr == nil {
			b, err = r.Get(recordKey(string(id)))
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		return c, nil, errorf(ErrNotFound, "no case with id or number %q", ref)
	}
	if err != nil {
		return c, nil, err
	}
	c, sealed, err := decodeRecord(b)
	if err != nil {
		return c, nil, fmt.Errorf("corrupt case record %q: %w", ref, err)
	}
	return c, sealed, nil
}

// load reads a case by id or case number and opens its form data. A
// purged case is an ErrPurged error.
func (s *Service) load(ss *sealers, r store.Reader, ref string) (Case, error) {
	c, sealed, err := loadRaw(r, ref)
	if err != nil {
		return c, err
	}
	if c.Status == StatusPurged {
		return c, purged(c.Number)
	}
	if err := openFields(ss, &c, sealed); err != nil {
		if errors.Is(err, ErrPurged) {
			return c, purged(c.Number)
		}
		return c, err
	}
	return c, nil
}

func (s *Service) nextNumber(w store.Writer) (string, error) {
	var n uint64
	b, err := w.Get(keySequence)
	switch {
	case err == nil && len(b) == 8:
		n = binary.BigEndian.Uint64(b)
	case err == nil:
		return "", errors.New("corrupt case sequence")
	case !errors.Is(err, store.ErrNotFound):
		return "", err
	}
	n++
	if err := w.Set(keySequence, binary.BigEndian.AppendUint64(nil, n)); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s-%06d", s.prefix, n), nil
}

// put writes c and its indexes, and version v; old is the previous state
// (nil on create). The form data and v's changed values are sealed by x.
func (s *Service) put(w store.Writer, c *Case, old *Case, v Version, x *sealer) error {
	// Encode the form data once: a new case's first version holds the
	// same fields as the record.
	fields, err := s.putRecord(w, c, old, x)
	if err != nil {
		return err
	}
	changed := fields
	if old != nil {
		if changed, err = json.Marshal(v.Changed); err != nil {
			return err
		}
	}
	return putVersion(w, c.ID, v, changed, x)
}

// putRecord writes c (its form data sealed by x; none when x is nil, for a
// tombstone) and its indexes, and returns the encoded form data.
func (s *Service) putRecord(w store.Writer, c *Case, old *Case, x *sealer) ([]byte, error) {
	fields, err := json.Marshal(c.Fields)
	if err != nil {
		return nil, err
	}
	st := storedCase{caseAlias: (*caseAlias)(c)}
	if x != nil {
		st.Sealed = x.seal(kindRecord, c.Version, fields)
	}
	b, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	// The limit is on the record as it would be in clear.
	if size := len(b) - base64.StdEncoding.EncodedLen(len(st.Sealed)) + len(fields); size > s.maxBytes {
		return nil, errorf(ErrTooLarge, "case record too large: %d bytes, the limit is %d", size, s.maxBytes)
	}
	if err := w.Set(recordKey(c.ID), b); err != nil {
		return nil, err
	}
	if err := s.putIndexes(w, c, old == nil); err != nil { // index.go
		return nil, err
	}
	if old == nil {
		if err := w.Set(numberKey(c.Number), []byte(c.ID)); err != nil {
			return nil, err
		}
	}
	if old == nil || old.Status != c.Status {
		if old != nil {
			if err := w.Delete(statusKey(old.Status, c.ID)); err != nil {
				return nil, err
			}
		}
		if err := w.Set(statusKey(c.Status, c.ID), nil); err != nil {
			return nil, err
		}
	}
	return fields, nil
}

// putVersion writes version v of case id; changed is v.Changed encoded.
func putVersion(w store.Writer, id string, v Version, changed []byte, x *sealer) error {
	st := storedVersion{versionAlias: (*versionAlias)(&v)}
	if len(v.Changed) > 0 {
		st.Sealed = x.seal(kindVersion, v.Version, changed)
	}
	vb, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return w.Set(versionKey(id, v.Version), vb)
}

// newCase builds (but does not store) a case from normalised fields.
func (s *Service) newCase(w store.Writer, id string, sub policy.Subject, fields map[string]any, now time.Time) (Case, Version, error) {
	number, err := s.nextNumber(w)
	if err != nil {
		return Case{}, Version{}, err
	}
	c := Case{
		ID: id, Number: number, Status: StatusOpen,
		Owner: sub.User, OwnerGroup: sub.Group, Agency: s.agency,
		CreatedAt: now, UpdatedAt: now, Version: 1, Fields: fields,
	}
	c.Stage = deriveStage(&c)
	return c, Version{Version: 1, At: now, Actor: sub.User, Action: "create", Changed: fields}, nil
}

func (s *Service) normalize(form string, fields map[string]any, now time.Time, partial bool) (map[string]any, error) {
	out, err := s.forms.Normalize(form, fields, now, partial)
	if err != nil {
		return nil, &kindError{kind: ErrInvalid, cause: err, msg: err.Error()}
	}
	return out, nil
}

// checkHidden refuses writes to fields the subject's role may not see.
func checkHidden(sub policy.Subject, fields map[string]any) error {
	for k := range fields {
		if sub.Role.Hides(k) {
			return errorf(ErrDenied, "role %q may not write field %q", sub.Role.ID, k)
		}
	}
	return nil
}

// Create registers a new case owned by the subject, entered on form.
func (s *Service) Create(ctx context.Context, sub policy.Subject, form string, fields map[string]any) (Case, error) {
	if d := policy.Authorize(sub, policy.ResourceCase, policy.ActionCreate, nil); !d.Allowed {
		return Case{}, s.auditDenied(ctx, sub, "case.create", "case", denied(d))
	}
	if err := checkHidden(sub, fields); err != nil {
		return Case{}, s.auditDenied(ctx, sub, "case.create", "case", err)
	}
	now := s.now().UTC()
	norm, err := s.normalize(form, fields, now, false)
	if err != nil {
		return Case{}, err
	}
	// The case's key is created before its records: if the transaction
	// then fails, the key is an orphan that seals nothing, which is
	// harmless.
	id := uuid.NewString()
	key, err := s.keys.Create(ctx, id)
	if err != nil {
		return Case{}, fmt.Errorf("create the case's data key: %w", err)
	}
	x, err := newSealer(id, key)
	clear(key)
	if err != nil {
		return Case{}, err
	}
	var c Case
	err = s.store.Update(ctx, func(w store.Writer) error {
		var v Version
		var err error
		if c, v, err = s.newCase(w, id, sub, norm, now); err != nil {
			return err
		}
		if err := s.put(w, &c, nil, v, x); err != nil {
			return err
		}
		_, err = audit.Append(w, now, audit.Event{Actor: sub.User, Action: "case.create", Object: caseObject(c.ID), Details: v.ChangedFields()})
		return err
	})
	if err != nil {
		return Case{}, err
	}
	s.notify(c)
	return redacted(sub, c), nil
}

// Get returns the case with the given id or case number, and audits the read.
func (s *Service) Get(ctx context.Context, sub policy.Subject, ref string) (Case, error) {
	var c Case
	var refused error
	now := s.now().UTC()
	ss := s.sealers(ctx)
	err := s.store.Update(ctx, func(w store.Writer) error {
		var err error
		refused = nil
		c, err = s.load(ss, w, ref)
		if errors.Is(err, ErrNotFound) && !errors.Is(err, ErrPurged) {
			refused = err
			_, err = audit.Append(w, now, audit.Event{Actor: sub.User, Action: "case.read", Object: caseObject(ref), Outcome: audit.Failed})
			return err
		}
		var gone error
		if errors.Is(err, ErrPurged) {
			gone, err = err, nil
		}
		if err != nil {
			return err
		}
		outcome := audit.OK
		if d := policy.Authorize(sub, policy.ResourceCase, policy.ActionRead, object(&c)); !d.Allowed {
			refused, outcome = denied(d), audit.Denied
		} else if gone != nil {
			refused, outcome = gone, audit.Failed
		}
		_, err = audit.Append(w, now, audit.Event{Actor: sub.User, Action: "case.read", Object: caseObject(c.ID), Outcome: outcome})
		return err
	})
	if err != nil {
		return Case{}, err
	}
	if refused != nil {
		return Case{}, refused
	}
	return redacted(sub, c), nil
}

// Filter selects cases in List and Export.
type Filter struct {
	Status string
	Owner  string
	// Query selects the case with this number, or the cases whose text
	// fields the subject may see hold every word of it (whole words,
	// normalised as names are for matching; see index.go).
	Query string
	// Limit caps the result (List: default 100, at most 1000).
	Limit int
}

// MaxListLimit caps List.
const MaxListLimit = 1000

// scan calls fn for every case the subject may read that f selects,
// already redacted for the subject. Purged cases are skipped unless
// f.Status is StatusPurged, which selects their tombstones (core fields,
// no form data). Cases whose data key was destroyed but whose record is
// not a tombstone (a data backup restored after a purge) are skipped.
func (s *Service) scan(ctx context.Context, r store.Reader, sub policy.Subject, f Filter, fn func(Case) error) error {
	if strings.TrimSpace(f.Query) != "" {
		return s.query(ctx, r, sub, f, fn) // index.go
	}
	ss := s.sealers(ctx)
	visit := func(b []byte) error {
		c, sealed, err := decodeRecord(b)
		if err != nil {
			return fmt.Errorf("corrupt case record: %w", err)
		}
		if f.Owner != "" && c.Owner != f.Owner {
			return nil
		}
		if (c.Status == StatusPurged) != (f.Status == StatusPurged) {
			return nil
		}
		if !policy.Authorize(sub, policy.ResourceCase, policy.ActionRead, object(&c)).Allowed {
			return nil
		}
		if err := openFields(ss, &c, sealed); errors.Is(err, ErrPurged) {
			return nil
		} else if err != nil {
			return err
		}
		return fn(redacted(sub, c))
	}
	if f.Status != "" {
		p := append(append([]byte{}, prefixStatus...), f.Status+"/"...)
		return r.Scan(p, store.ScanOptions{}, func(k, _ []byte) error {
			b, err := r.Get(recordKey(string(k[len(p):])))
			if err != nil {
				return err
			}
			return visit(b)
		})
	}
	return r.Scan(prefixRecord, store.ScanOptions{}, func(_, v []byte) error { return visit(v) })
}

// List returns the cases the subject may read that f selects, and audits
// which ones were shown.
func (s *Service) List(ctx context.Context, sub policy.Subject, f Filter) ([]Case, error) {
	if d := policy.Authorize(sub, policy.ResourceCase, policy.ActionList, nil); !d.Allowed {
		return nil, s.auditDenied(ctx, sub, "case.list", "case", denied(d))
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	f.Limit = min(f.Limit, MaxListLimit)
	var out []Case
	err := s.store.View(ctx, func(r store.Reader) error {
		out = out[:0]
		return s.scan(ctx, r, sub, f, func(c Case) error {
			out = append(out, c)
			if len(out) >= f.Limit {
				return store.ErrStop
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(out))
	for i, c := range out {
		ids[i] = c.ID
	}
	return out, audit.Record(ctx, s.store, s.now(), audit.Event{Actor: sub.User, Action: "case.list", Object: "case", Details: ids})
}

// Export calls fn for every case the subject may read with the given
// status (all when empty), and audits the export.
func (s *Service) Export(ctx context.Context, sub policy.Subject, status string, fn func(Case) error) error {
	if d := policy.Authorize(sub, policy.ResourceCase, policy.ActionExport, nil); !d.Allowed {
		return s.auditDenied(ctx, sub, "case.export", "case", denied(d))
	}
	var n int
	err := s.store.View(ctx, func(r store.Reader) error {
		return s.scan(ctx, r, sub, Filter{Status: status}, func(c Case) error { n++; return fn(c) })
	})
	outcome := audit.OK
	if err != nil {
		outcome = audit.Failed
	}
	aerr := audit.Record(ctx, s.store, s.now(), audit.Event{Actor: sub.User, Action: "case.export", Object: "case", Outcome: outcome, Details: map[string]any{"count": n, "status": status}})
	return errors.Join(err, aerr)
}

// modify loads a case, checks the subject may act on it, lets change edit
// it, and stores the result with a new version and an audit entry.
func (s *Service) modify(ctx context.Context, sub policy.Subject, ref string, act policy.Action, action string, change func(c *Case) (map[string]any, error)) (Case, error) {
	now := s.now().UTC()
	var c Case
	var refused error
	ss := s.sealers(ctx)
	err := s.store.Update(ctx, func(w store.Writer) error {
		refused = nil
		old, err := s.load(ss, w, ref)
		if errors.Is(err, ErrNotFound) {
			refused = err
			return nil
		}
		if err != nil {
			return err
		}
		if d := policy.Authorize(sub, policy.ResourceCase, act, object(&old)); !d.Allowed {
			refused = denied(d)
			return nil
		}
		c = old
		c.Fields = make(map[string]any, len(old.Fields))
		for k, v := range old.Fields {
			c.Fields[k] = v
		}
		changed, err := change(&c)
		if err != nil {
			refused = err
			return nil
		}
		if len(changed) == 0 && c.Status == old.Status {
			return nil // nothing to record
		}
		x, err := ss.get(c.ID)
		if err != nil {
			return err
		}
		return s.commitChange(w, x, &old, &c, sub.User, action, changed, now)
	})
	if err != nil {
		return Case{}, err
	}
	if refused != nil {
		return Case{}, s.auditDenied(ctx, sub, action, caseObject(ref), refused)
	}
	s.notify(c)
	return redacted(sub, c), nil
}

// commitChange stores c as the next version of old within w: version
// number, update time and workflow stage, the version entry (action
// without its "case." prefix) and the audit entry action, which names the
// changed fields only.
func (s *Service) commitChange(w store.Writer, x *sealer, old, c *Case, actor, action string, changed map[string]any, now time.Time) error {
	c.Version = old.Version + 1
	c.UpdatedAt = now
	c.Stage = deriveStage(c)
	v := Version{Version: c.Version, At: now, Actor: actor, Action: strings.TrimPrefix(action, "case."), Changed: changed}
	if err := s.put(w, c, old, v, x); err != nil {
		return err
	}
	_, err := audit.Append(w, now, audit.Event{Actor: actor, Action: action, Object: caseObject(c.ID), Details: v.ChangedFields()})
	return err
}

// Update sets (or, with a nil value, clears) fields of an open case. If
// expectedVersion is not zero the case must be at that version.
func (s *Service) Update(ctx context.Context, sub policy.Subject, ref string, fields map[string]any, expectedVersion int64) (Case, error) {
	if err := checkHidden(sub, fields); err != nil {
		return Case{}, s.auditDenied(ctx, sub, "case.update", caseObject(ref), err)
	}
	norm, err := s.normalize("", fields, s.now().UTC(), true)
	if err != nil {
		return Case{}, err
	}
	return s.modify(ctx, sub, ref, policy.ActionUpdate, "case.update", func(c *Case) (map[string]any, error) {
		if c.Status != StatusOpen {
			return nil, errorf(ErrClosed, "%s is %s; reopen it first", c.Number, c.Status)
		}
		if expectedVersion != 0 && c.Version != expectedVersion {
			return nil, errorf(ErrConflict, "%s was changed by someone else: it is at version %d, not %d", c.Number, c.Version, expectedVersion)
		}
		changed := map[string]any{}
		for k, v := range norm {
			old, had := c.Fields[k]
			switch {
			case v == nil && had:
				delete(c.Fields, k)
				changed[k] = nil
			case v != nil && (!had || !reflect.DeepEqual(old, v)):
				c.Fields[k] = v
				changed[k] = v
			}
		}
		return changed, nil
	})
}

// Close closes an open case with a reason.
func (s *Service) Close(ctx context.Context, sub policy.Subject, ref, reason string) (Case, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return Case{}, errorf(ErrInvalid, "a reason is required to close a case")
	}
	if len(reason) > 2000 {
		return Case{}, errorf(ErrInvalid, "the reason is longer than 2000 bytes")
	}
	return s.modify(ctx, sub, ref, policy.ActionClose, "case.close", func(c *Case) (map[string]any, error) {
		if c.Status != StatusOpen {
			return nil, errorf(ErrClosed, "%s is already %s", c.Number, c.Status)
		}
		c.Status = StatusClosed
		c.CloseReason = reason
		return map[string]any{}, nil
	})
}

// History returns every version of a case, oldest first.
func (s *Service) History(ctx context.Context, sub policy.Subject, ref string) ([]Version, error) {
	var out []Version
	var refused error
	now := s.now().UTC()
	ss := s.sealers(ctx)
	err := s.store.Update(ctx, func(w store.Writer) error {
		out, refused = nil, nil
		c, _, err := loadRaw(w, ref)
		if err != nil {
			refused = err
			return nil
		}
		outcome := audit.OK
		if d := policy.Authorize(sub, policy.ResourceCase, policy.ActionHistory, object(&c)); !d.Allowed {
			refused, outcome = denied(d), audit.Denied
		} else if c.Status == StatusPurged {
			refused, outcome = purged(c.Number), audit.Failed
		} else if err := w.Scan(versionPrefix(c.ID), store.ScanOptions{}, func(_, v []byte) error {
			ver, err := decodeVersion(v, ss, c.ID)
			if err != nil {
				return err
			}
			ver.Changed = sub.Role.Redact(ver.Changed)
			out = append(out, ver)
			return nil
		}); errors.Is(err, ErrPurged) {
			out, refused, outcome = nil, purged(c.Number), audit.Failed
		} else if err != nil {
			return err
		}
		_, err = audit.Append(w, now, audit.Event{Actor: sub.User, Action: "case.history", Object: caseObject(c.ID), Outcome: outcome})
		return err
	})
	if err != nil {
		return nil, err
	}
	if refused != nil {
		if errors.Is(refused, ErrNotFound) && !errors.Is(refused, ErrPurged) {
			return nil, s.auditDenied(ctx, sub, "case.history", caseObject(ref), refused)
		}
		return nil, refused
	}
	return out, nil
}

// ImportRow is one row of an import: its row number in the source file, the
// form it was entered on and its fields.
type ImportRow struct {
	Row    int64
	Form   string
	Fields map[string]any
}

// ImportResult says what became of one row.
type ImportResult struct {
	Row    int64
	ID     string
	Number string
	Err    error
}

// Import validates every row and, unless dryRun, creates the valid ones in
// one transaction, each with its audit entry. Invalid rows are reported, not
// fatal; an error is returned only when nothing could be committed.
func (s *Service) Import(ctx context.Context, sub policy.Subject, rows []ImportRow, dryRun bool) ([]ImportResult, error) {
	if d := policy.Authorize(sub, policy.ResourceCase, policy.ActionImport, nil); !d.Allowed {
		return nil, s.auditDenied(ctx, sub, "case.import", "case", denied(d))
	}
	now := s.now().UTC()
	results := make([]ImportResult, len(rows))
	valid := make([]map[string]any, len(rows))
	for i, row := range rows {
		results[i].Row = row.Row
		if err := checkHidden(sub, row.Fields); err != nil {
			results[i].Err = err
			continue
		}
		form := row.Form
		if form == "" {
			form = "registration"
		}
		norm, err := s.normalize(form, row.Fields, now, false)
		if err != nil {
			results[i].Err = err
			continue
		}
		valid[i] = norm
	}
	if dryRun {
		return results, nil
	}
	// Create the cases' keys first, in one call if the key store can; an
	// orphan key (the transaction below failed) is harmless.
	ids := make([]string, len(rows))
	var idList []string
	for i := range valid {
		if valid[i] != nil {
			ids[i] = uuid.NewString()
			idList = append(idList, ids[i])
		}
	}
	keys, err := s.createKeys(ctx, idList)
	if err != nil {
		return nil, fmt.Errorf("create the cases' data keys: %w", err)
	}
	sealers := make([]*sealer, len(rows))
	for i, j := 0, 0; i < len(rows); i++ {
		if valid[i] == nil {
			continue
		}
		x, err := newSealer(ids[i], keys[j])
		clear(keys[j])
		j++
		if err != nil {
			return nil, err
		}
		sealers[i] = x
	}
	var created []Case
	err = s.store.Update(ctx, func(w store.Writer) error {
		created = created[:0]
		for i := range results {
			results[i].ID, results[i].Number = "", ""
			if valid[i] == nil {
				continue
			}
			c, v, err := s.newCase(w, ids[i], sub, valid[i], now)
			if err != nil {
				return err
			}
			v.Action = "import"
			if err := s.put(w, &c, nil, v, sealers[i]); err != nil {
				if errors.Is(err, ErrTooLarge) {
					results[i].Err = err
					continue
				}
				return err
			}
			if _, err := audit.Append(w, now, audit.Event{Actor: sub.User, Action: "case.import", Object: caseObject(c.ID), Details: map[string]any{"row": results[i].Row}}); err != nil {
				return err
			}
			results[i].ID, results[i].Number = c.ID, c.Number
			created = append(created, c)
		}
		return nil
	})
	if errors.Is(err, store.ErrTooBig) {
		return nil, errorf(ErrInvalid, "%d rows are too many for one transaction; send smaller batches", len(rows))
	}
	if err == nil {
		for _, c := range created {
			s.notify(c)
		}
	}
	return results, err
}

// createKeys creates the data keys of ids, in one call if the key store
// has CreateMany.
func (s *Service) createKeys(ctx context.Context, ids []string) ([][]byte, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if mc, ok := s.keys.(casekeys.ManyCreator); ok {
		return mc.CreateMany(ctx, ids)
	}
	out := make([][]byte, len(ids))
	for i, id := range ids {
		k, err := s.keys.Create(ctx, id)
		if err != nil {
			return nil, err
		}
		out[i] = k
	}
	return out, nil
}

// Count returns the number of case numbers issued on the node (purged
// cases included).
func (s *Service) Count(ctx context.Context) (int64, error) {
	var n int64
	err := s.store.View(ctx, func(r store.Reader) error {
		b, err := r.Get(keySequence)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(b) != 8 {
			return errors.New("corrupt case sequence")
		}
		n = int64(binary.BigEndian.Uint64(b))
		return nil
	})
	return n, err
}

// Retention rules an ISP may set for what the sender keeps after a transfer
// is accepted.
const (
	RetainFull = "full" // keep the whole case, marked transferred
	RetainStub = "stub" // keep only the core fields and a stub of the form data
	RetainNone = "none" // keep nothing but the case number's tombstone
)

// stubFields survive a "stub" retention: enough to answer "where did this
// child's case go?", nothing that identifies the child.
var stubFields = []string{"sex", "age", "protection_concerns", FieldRiskLevel}

// ApplyTransfer marks a case as transferred to agency `to` within the
// caller's transaction w and applies the retention rule. It is called by
// the exchange when the receiving agency accepts a transfer; actor names
// who accepted it.
//
// It has no context of its own: the case's key is fetched with
// context.Background() (from the key store's cache for a case read in the
// same flow).
func (s *Service) ApplyTransfer(w store.Writer, caseID, to, retention, actor string, now time.Time) error {
	ss := s.sealers(context.Background())
	old, err := s.load(ss, w, caseID)
	if err != nil {
		return err
	}
	x, err := ss.get(old.ID)
	if err != nil {
		return err
	}
	c := old
	c.Status = StatusTransferred
	c.Version = old.Version + 1
	c.UpdatedAt = now
	c.CloseReason = "transferred to " + to
	changed := map[string]any{}
	switch retention {
	case RetainFull, "":
		c.Fields = old.Fields
	case RetainStub, RetainNone:
		c.Fields = map[string]any{}
		if retention == RetainStub {
			for _, k := range stubFields {
				if v, ok := old.Fields[k]; ok {
					c.Fields[k] = v
				}
			}
		}
		for k := range old.Fields {
			if _, kept := c.Fields[k]; !kept {
				changed[k] = nil
			}
		}
	default:
		return errorf(ErrInvalid, "unknown retention %q", retention)
	}
	c.Stage = StageClosed
	v := Version{Version: c.Version, At: now, Actor: actor, Action: "transfer", Changed: changed}
	if err := s.put(w, &c, &old, v, x); err != nil {
		return err
	}
	if retention == RetainNone {
		// Drop the versions too: they hold the old values.
		var keys [][]byte
		if err := w.Scan(versionPrefix(c.ID), store.ScanOptions{}, func(k, _ []byte) error {
			keys = append(keys, k)
			return nil
		}); err != nil {
			return err
		}
		for _, k := range keys {
			if err := w.Delete(k); err != nil {
				return err
			}
		}
		tomb := Version{Version: c.Version, At: now, Actor: actor, Action: "transfer", Changed: nil}
		if err := putVersion(w, c.ID, tomb, nil, x); err != nil {
			return err
		}
	}
	_, err = audit.Append(w, now, audit.Event{Actor: actor, Action: "case.transfer", Object: caseObject(c.ID), Details: map[string]string{"to": to, "retention": retention}})
	return err
}

// Load returns a case's core fields by id or number without authorisation
// or audit, for callers inside a transaction they audit themselves. The
// form data is encrypted under the case's key, which Load does not have:
// Fields is nil (except in records written before form data was
// encrypted). Use Service.Load for the form data. A purged case is an
// ErrPurged error.
func Load(r store.Reader, ref string) (Case, error) {
	c, _, err := loadRaw(r, ref)
	if err == nil && c.Status == StatusPurged {
		return Case{}, purged(c.Number)
	}
	return c, err
}

// Load returns a case by id or number, its form data decrypted, without
// authorisation or audit, for callers inside a transaction they audit
// themselves (the exchange). A purged case is an ErrPurged error.
func (s *Service) Load(ctx context.Context, r store.Reader, ref string) (Case, error) {
	c, err := s.load(s.sealers(ctx), r, ref)
	if err != nil {
		return Case{}, err
	}
	return c, nil
}
