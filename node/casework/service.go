package casework

import (
	"context"
	"errors"
	"time"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/casekeys"
	"github.com/cpx-node/cpx/node/forms"
	"github.com/cpx-node/cpx/node/rowseal"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/users"
	"github.com/cpx-node/cpx/policy"
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
	// IndexKey keys the tokens of the word index (wordindex.go); the node
	// derives it from the store key. Nil means a random key for this
	// process (tests).
	IndexKey []byte
	// Keys holds the per-case data keys that form data and history are
	// encrypted under (see docs/purge.md). Nil means a fresh
	// casekeys.Memory: the keys then die with the process, so every
	// record written becomes unreadable after a restart. For tests only; a
	// node passes casekeys.Local or casekeys.Vault.
	Keys casekeys.Store
	// Location is the time zone "today" is taken in for due dates
	// (default UTC).
	Location *time.Location
	// ClosureRequiresApproval refuses to close a case whose latest closure
	// request is not approved.
	ClosureRequiresApproval bool
	// Notifier queues the notifications casework decides on, in the
	// transaction of the change that causes them (default: none queued).
	Notifier Notifier
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

	loc             *time.Location
	closureApproval bool
	notifier        Notifier
	dueFields       []forms.Field
	index           *indexer
	rowFields       []reportField // reportrows.go
	rows            *rowseal.Sealer
	rowCache        rowCache
	users           users.Cache // for notices and approvers
}

// New returns a Service.
func New(o Options) *Service {
	s := &Service{store: o.Store, forms: o.Forms, agency: o.Agency, prefix: o.NumberPrefix, now: o.Now, maxBytes: o.MaxRecordBytes, keys: o.Keys, index: newIndexer(o.IndexKey)}
	s.loc, s.closureApproval, s.notifier = o.Location, o.ClosureRequiresApproval, o.Notifier
	if s.loc == nil {
		s.loc = time.UTC
	}
	s.dueFields = DueFields(o.Forms)
	s.rowFields = reportFields(o.Forms)
	s.index.rows = reportFieldsCheck(s.rowFields)
	s.rows = rowseal.New(s.index.key, rowsLabel)
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

func object(c *Case) *policy.Object {
	return &policy.Object{Owner: c.Owner, OwnerGroup: c.OwnerGroup, Agency: c.Agency}
}

func denied(d policy.Decision) error { return errorf(ErrDenied, "%s", d.Reason) }

// redacted returns a copy of c with only the fields the subject's role
// sees, as classified by cls (the forms configuration).
func redacted(sub policy.Subject, cls policy.Classifier, c Case) Case {
	c.Fields = sub.Role.Redact(cls, c.Fields)
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

func (s *Service) normalize(form string, fields map[string]any, now time.Time, partial bool) (map[string]any, error) {
	out, err := s.forms.Normalize(form, fields, now, partial)
	if err != nil {
		return nil, &kindError{kind: ErrInvalid, cause: err, msg: err.Error()}
	}
	return out, nil
}

// checkHidden refuses writes to fields the subject's role may not see.
func checkHidden(sub policy.Subject, cls policy.Classifier, fields map[string]any) error {
	for k := range fields {
		if sub.Role.Hides(cls, k) {
			return errorf(ErrDenied, "role %q may not write field %q", sub.Role.ID, k)
		}
	}
	return nil
}
