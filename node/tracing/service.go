package tracing

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/matching"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// Errors returned by the Service. The local API maps them to Connect codes
// in one place (node/api).
var (
	ErrNotFound = errors.New("tracing request not found")
	ErrDenied   = errors.New("permission denied")
	ErrInvalid  = errors.New("invalid tracing request")
	ErrClosed   = errors.New("tracing request is closed")
	// ErrBuilding is returned by matches while the index is being built
	// after a start (see BeginBuild); try again shortly.
	ErrBuilding = errors.New("tracing index is being built")
)

// kindError is an error of one of the kinds above whose message does not
// repeat the kind (as in casework).
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

func errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// Resource is the policy resource of tracing requests, and ActionMatch the
// action of matching them against cases. The other actions are policy's
// read, list, create, update (also confirm and reject) and import.
const (
	Resource    = policy.ResourceTracing
	ActionMatch = policy.ActionMatch
)

// Key prefixes of the records this package owns.
var (
	prefixRecord = []byte("t/r/") // id → Request
	prefixNumber = []byte("t/n/") // number → id
	keySequence  = []byte("t/seq")
)

// Defaults.
const (
	DefaultMaxStale   = time.Minute
	DefaultMatchLimit = 20
	MaxMatchLimit     = 200
	MaxListLimit      = 1000
	maxReasonBytes    = 2000
)

// SystemRoleID is the role (and user) the index is built under: it exports
// every case on the node, and never leaves this package.
const SystemRoleID = "system-tracing"

// Options configure a Service. Store and Cases are required.
type Options struct {
	Store store.Store
	Cases *casework.Service
	// NumberPrefix starts every request number (default "TR").
	NumberPrefix string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MaxStale is how old the index may be before a match rebuilds it
	// even though the number of cases has not changed (default
	// DefaultMaxStale; negative: only when the number changes). It bounds
	// how long an edited case is matched on its old data until casework
	// calls CaseChanged.
	MaxStale time.Duration
	// Observed says casework reports every change (casework.Service.Observe):
	// the index is then kept up to date by CaseChanged and never rebuilt
	// for staleness.
	Observed bool
	// Logger receives rebuild reports (default: discard). Never case data.
	Logger *slog.Logger
	// Location resolves a request's location code as written (a P-code or
	// an ISO 3166-2 code, any case, with or without hyphens: SO-BN) to the
	// code cases are stored with (SO01), ok false when it names no known
	// location (default: none; codes are compared as written, upper case
	// and without hyphens).
	Location func(code string) (string, bool)
}

// Service stores tracing requests, matches them against the node's cases
// that have consent for tracing, and records the caseworkers' decisions.
type Service struct {
	store    store.Store
	cases    *casework.Service
	prefix   string
	now      func() time.Time
	maxStale time.Duration
	observed bool
	log      *slog.Logger
	system   policy.Subject
	location func(string) (string, bool)

	rebuild sync.Mutex // one Rebuild at a time

	mu       sync.RWMutex // guards the fields below
	ix       *matching.Index
	meta     map[string]caseMeta
	gen      int64 // casework.Count at the last rebuild
	builtAt  time.Time
	builds   uint64 // index builds: federated models are adapted once per build
	building bool
	pending  []casework.Case // CaseChanged calls during a rebuild
	// changes counts index changes, so federated encodings know when to
	// re-encode; encoded caches them per ISP.
	changes atomic.Uint64
	encoded map[string]*encodedSet

	fed  Federation
	pace pacer // this node's tracing queries per agency (federated_batch.go)
}

// caseMeta is what the index keeps of a case besides its Person: enough to
// authorise a caller without reading the case.
type caseMeta struct {
	number string
	person matching.Person
	obj    policy.Object
	gen    uint64 // s.changes when filed: a new value means a new person
}

// New returns a Service. Call Rebuild once the cases are readable; Match
// also rebuilds an index that is missing or stale.
func New(o Options) *Service {
	s := &Service{store: o.Store, cases: o.Cases, prefix: o.NumberPrefix, now: o.Now, maxStale: o.MaxStale, observed: o.Observed, log: o.Logger, location: o.Location}
	if s.prefix == "" {
		s.prefix = "TR"
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxStale == 0 {
		s.maxStale = DefaultMaxStale
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.system = policy.Subject{User: SystemRoleID, Role: policy.Role{
		ID: SystemRoleID, Name: "Family tracing index",
		Permissions: []policy.Permission{
			{Resource: policy.ResourceCase, Action: policy.ActionRead},
			{Resource: policy.ResourceCase, Action: policy.ActionExport},
		},
		Scope: policy.ScopeAll,
		Sees:  policy.FieldClasses(),
	}}
	return s
}

// decide is policy.Authorize for the tracing resource (scope does not
// apply to tracing requests: a role that holds the permission reaches all).
func decide(sub policy.Subject, act policy.Action) policy.Decision {
	return policy.Authorize(sub, Resource, act, nil)
}

// authorize checks the subject may act, and audits a refusal.
func (s *Service) authorize(ctx context.Context, sub policy.Subject, act policy.Action, action, object string) error {
	d := decide(sub, act)
	if d.Allowed {
		return nil
	}
	return s.auditDenied(ctx, sub, action, object, errorf(ErrDenied, "%s", d.Reason))
}

// auditDenied records a refused or failed attempt in a transaction of its
// own, and returns err.
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

func requestObject(id string) string { return "tracing/" + id }

func recordKey(id string) []byte { return append(slices.Clone(prefixRecord), id...) }
func numberKey(n string) []byte  { return append(slices.Clone(prefixNumber), n...) }

// notFound is the error for a request that does not exist, or that the
// caller's role does not reach: the two look the same.
func notFound(ref string) error {
	return errorf(ErrNotFound, "no tracing request with id or number %q", ref)
}

// reaches reports whether the scope of sub's role reaches req (a request
// belongs to its owner and group, in the node's agency).
func reaches(sub policy.Subject, act policy.Action, req *Request) bool {
	return policy.Authorize(sub, Resource, act, &policy.Object{Owner: req.Owner, OwnerGroup: req.OwnerGroup, Agency: sub.Agency}).Allowed
}

// load reads a request by id or number.
func load(r store.Reader, ref string) (Request, error) {
	var req Request
	b, err := r.Get(recordKey(ref))
	if errors.Is(err, store.ErrNotFound) {
		id, nerr := r.Get(numberKey(ref))
		if nerr == nil {
			b, err = r.Get(recordKey(string(id)))
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		return req, notFound(ref)
	}
	if err != nil {
		return req, err
	}
	if err := json.Unmarshal(b, &req); err != nil {
		return req, fmt.Errorf("corrupt tracing request %q: %w", ref, err)
	}
	return req, nil
}

func put(w store.Writer, req *Request, create bool) error {
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if err := w.Set(recordKey(req.ID), b); err != nil {
		return err
	}
	if create {
		return w.Set(numberKey(req.Number), []byte(req.ID))
	}
	return nil
}

func (s *Service) nextNumber(w store.Writer) (string, error) {
	var n uint64
	b, err := w.Get(keySequence)
	switch {
	case err == nil && len(b) == 8:
		n = binary.BigEndian.Uint64(b)
	case err == nil:
		return "", errors.New("corrupt tracing request sequence")
	case !errors.Is(err, store.ErrNotFound):
		return "", err
	}
	n++
	if err := w.Set(keySequence, binary.BigEndian.AppendUint64(nil, n)); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s-%06d", s.prefix, n), nil
}

// newRequest builds (but does not store) a request from validated details.
func (s *Service) newRequest(w store.Writer, sub policy.Subject, d Details, now time.Time) (Request, error) {
	number, err := s.nextNumber(w)
	if err != nil {
		return Request{}, err
	}
	for i := range d.Traces {
		d.Traces[i].Status = TraceOpen
	}
	return Request{
		ID: uuid.NewString(), Number: number, Status: StatusOpen, Owner: sub.User, OwnerGroup: sub.Group,
		CreatedAt: now, UpdatedAt: now, Version: 1, Details: d,
	}, nil
}

// Create stores a new tracing request owned by the subject.
func (s *Service) Create(ctx context.Context, sub policy.Subject, d Details) (Request, error) {
	if err := s.authorize(ctx, sub, policy.ActionCreate, "tracing.create", "tracing"); err != nil {
		return Request{}, err
	}
	now := s.now().UTC()
	if err := d.Validate(now); err != nil {
		return Request{}, err
	}
	var req Request
	err := s.store.Update(ctx, func(w store.Writer) error {
		var err error
		if req, err = s.newRequest(w, sub, d, now); err != nil {
			return err
		}
		if err := put(w, &req, true); err != nil {
			return err
		}
		_, err = audit.Append(w, now, audit.Event{Actor: sub.User, Action: "tracing.create", Object: requestObject(req.ID), Details: map[string]any{"traces": len(d.Traces)}})
		return err
	})
	if err != nil {
		return Request{}, err
	}
	return req, nil
}

// Get returns the request with the given id or number, and audits the read.
func (s *Service) Get(ctx context.Context, sub policy.Subject, ref string) (Request, error) {
	if err := s.authorize(ctx, sub, policy.ActionRead, "tracing.read", requestObject(ref)); err != nil {
		return Request{}, err
	}
	var req Request
	var missing error
	now := s.now().UTC()
	err := s.store.Update(ctx, func(w store.Writer) error {
		var err error
		missing = nil
		req, err = load(w, ref)
		if err == nil && !reaches(sub, policy.ActionRead, &req) {
			err = notFound(ref)
		}
		outcome, obj := audit.OK, requestObject(req.ID)
		if errors.Is(err, ErrNotFound) {
			missing, outcome, obj = err, audit.Failed, requestObject(ref)
		} else if err != nil {
			return err
		}
		_, err = audit.Append(w, now, audit.Event{Actor: sub.User, Action: "tracing.read", Object: obj, Outcome: outcome})
		return err
	})
	if err != nil {
		return Request{}, err
	}
	if missing != nil {
		return Request{}, missing
	}
	return req, nil
}

// List returns the requests with the given status (all when empty), oldest
// first, at most limit (default 100, at most MaxListLimit), and audits which
// ones were shown.
func (s *Service) List(ctx context.Context, sub policy.Subject, status string, limit int) ([]Request, error) {
	return s.Search(ctx, sub, status, "", limit)
}

// Search is List narrowed by query (none when blank): a request is listed
// when query is its number (case-insensitive) or when its words (Words)
// hold every word of query, whole words normalised as a case query does
// (casework.Words); a query with neither lists nothing. The query is not
// audited (it holds names), only the ids shown.
//
// It reads every request, as List does, and matches the words of each;
// there is no word index of requests (a node holds few of them, a case
// index holds far more).
func (s *Service) Search(ctx context.Context, sub policy.Subject, status, query string, limit int) ([]Request, error) {
	if err := s.authorize(ctx, sub, policy.ActionList, "tracing.list", "tracing"); err != nil {
		return nil, err
	}
	switch status {
	case "", StatusOpen, StatusClosed:
	default:
		return nil, errorf(ErrInvalid, "unknown status %q: want open or closed", status)
	}
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, MaxListLimit)
	all, err := s.scan(ctx, status, 0)
	if err != nil {
		return nil, err
	}
	query = strings.TrimSpace(query)
	words := casework.Words(query)
	var out []Request
	for i := range all {
		if query != "" && !strings.EqualFold(all[i].Number, query) && (len(words) == 0 || !hasWords(Words(&all[i]), words)) {
			continue
		}
		if len(out) < limit && reaches(sub, policy.ActionList, &all[i]) {
			out = append(out, all[i])
		}
	}
	ids := make([]string, len(out))
	for i, r := range out {
		ids[i] = r.ID
	}
	return out, audit.Record(ctx, s.store, s.now(), audit.Event{Actor: sub.User, Action: "tracing.list", Object: "tracing", Details: ids})
}

// scan returns the requests with the given status (all when empty), sorted
// by number, at most limit (no limit when ≤ 0).
func (s *Service) scan(ctx context.Context, status string, limit int) ([]Request, error) {
	var out []Request
	err := s.store.View(ctx, func(r store.Reader) error {
		out = out[:0]
		return r.Scan(prefixRecord, store.ScanOptions{}, func(_, v []byte) error {
			var req Request
			if err := json.Unmarshal(v, &req); err != nil {
				return fmt.Errorf("corrupt tracing request: %w", err)
			}
			if status == "" || req.Status == status {
				out = append(out, req)
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, err
}

// Update applies "--set" assignments (see Details.Set) to a request, and
// "status" (open or closed). A closed request can only be reopened.
func (s *Service) Update(ctx context.Context, sub policy.Subject, ref string, set map[string]any) (Request, error) {
	if err := s.authorize(ctx, sub, policy.ActionUpdate, "tracing.update", requestObject(ref)); err != nil {
		return Request{}, err
	}
	if len(set) == 0 {
		return Request{}, errorf(ErrInvalid, "nothing to update")
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return s.modify(ctx, sub, ref, "tracing.update", keys, func(_ store.Writer, req *Request, now time.Time) error {
		if st, ok := set["status"]; ok {
			v, _ := st.(string)
			if v != StatusOpen && v != StatusClosed {
				return &FieldError{Field: "status", Err: errors.New("want open or closed")}
			}
			req.Status = v
		} else if req.Status == StatusClosed {
			return errorf(ErrClosed, "%s is closed; reopen it first (--set status=open)", req.Number)
		}
		d := req.Details
		d.Traces = slices.Clone(d.Traces)
		if err := d.SetAll(set, "status"); err != nil {
			return err
		}
		if err := d.Validate(now); err != nil {
			return err
		}
		for i := range d.Traces {
			if d.Traces[i].Status == "" {
				d.Traces[i].Status = TraceOpen
			}
		}
		req.Details = d
		return nil
	})
}

// modify loads a request, lets change edit it, and stores it with a new
// version and an audit entry whose details are the given keys.
// storeFailure is a change's error that must abort the transaction (a
// write that failed half way), not a refusal to report.
type storeFailure struct{ err error }

func (f *storeFailure) Error() string { return f.err.Error() }
func (f *storeFailure) Unwrap() error { return f.err }

func (s *Service) modify(ctx context.Context, sub policy.Subject, ref, action string, details any, change func(w store.Writer, req *Request, now time.Time) error) (Request, error) {
	now := s.now().UTC()
	var req Request
	var refused error
	err := s.store.Update(ctx, func(w store.Writer) error {
		refused = nil
		var err error
		if req, err = load(w, ref); errors.Is(err, ErrNotFound) {
			refused = err
			return nil
		} else if err != nil {
			return err
		}
		if !reaches(sub, policy.ActionUpdate, &req) {
			refused = notFound(ref)
			return nil
		}
		if err := change(w, &req, now); err != nil {
			if f, ok := errors.AsType[*storeFailure](err); ok {
				return f.err // abort: nothing of the change is committed
			}
			refused = err
			return nil
		}
		req.Version++
		req.UpdatedAt = now
		if err := put(w, &req, false); err != nil {
			return err
		}
		_, err = audit.Append(w, now, audit.Event{Actor: sub.User, Action: action, Object: requestObject(req.ID), Details: details})
		return err
	})
	if err != nil {
		return Request{}, err
	}
	if refused != nil {
		if errors.Is(refused, ErrInvalid) {
			return Request{}, refused
		}
		return Request{}, s.auditDenied(ctx, sub, action, requestObject(ref), refused)
	}
	return req, nil
}

// ImportRow is one row of an import: its row number in the source file and
// its request document (JSON, see DecodeDetails).
type ImportRow struct {
	Row int64
	Doc []byte
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
// fatal.
func (s *Service) Import(ctx context.Context, sub policy.Subject, rows []ImportRow, dryRun bool) ([]ImportResult, error) {
	if err := s.authorize(ctx, sub, policy.ActionImport, "tracing.import", "tracing"); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	results := make([]ImportResult, len(rows))
	valid := make([]*Details, len(rows))
	for i, row := range rows {
		results[i].Row = row.Row
		d, err := DecodeDetails(row.Doc)
		if err == nil {
			err = d.Validate(now)
		}
		if err != nil {
			results[i].Err = err
			continue
		}
		valid[i] = &d
	}
	if dryRun {
		return results, nil
	}
	err := s.store.Update(ctx, func(w store.Writer) error {
		for i := range results {
			results[i].ID, results[i].Number = "", ""
			if valid[i] == nil {
				continue
			}
			d := *valid[i]
			d.Traces = slices.Clone(d.Traces)
			req, err := s.newRequest(w, sub, d, now)
			if err != nil {
				return err
			}
			if err := put(w, &req, true); err != nil {
				return err
			}
			if _, err := audit.Append(w, now, audit.Event{Actor: sub.User, Action: "tracing.import", Object: requestObject(req.ID), Details: map[string]any{"row": results[i].Row}}); err != nil {
				return err
			}
			results[i].ID, results[i].Number = req.ID, req.Number
		}
		return nil
	})
	if errors.Is(err, store.ErrTooBig) {
		return nil, errorf(ErrInvalid, "%d rows are too many for one transaction; send smaller batches", len(rows))
	}
	return results, err
}

// Confirm records that case caseRef is the child sought by trace (1-based;
// 0 when the request has one trace): the trace becomes "matched" with the
// case's id. The subject must be able to read the case.
func (s *Service) Confirm(ctx context.Context, sub policy.Subject, ref string, trace int, caseRef, reason string) (Request, error) {
	return s.decide(ctx, sub, ref, trace, caseRef, Confirmed, reason)
}

// Reject records that case caseRef is not the child sought by trace. If the
// trace was matched to that case, it is open again.
func (s *Service) Reject(ctx context.Context, sub policy.Subject, ref string, trace int, caseRef, reason string) (Request, error) {
	return s.decide(ctx, sub, ref, trace, caseRef, Rejected, reason)
}

func (s *Service) decide(ctx context.Context, sub policy.Subject, ref string, trace int, caseRef, outcome, reason string) (Request, error) {
	action := "tracing.confirm"
	if outcome == Rejected {
		action = "tracing.reject"
	}
	if err := s.authorize(ctx, sub, policy.ActionUpdate, action, requestObject(ref)); err != nil {
		return Request{}, err
	}
	reason = strings.TrimSpace(reason)
	if !utf8.ValidString(reason) || len(reason) > maxReasonBytes {
		return Request{}, &FieldError{Field: "reason", Err: fmt.Errorf("not valid UTF-8 or longer than %d bytes", maxReasonBytes)}
	}
	if strings.TrimSpace(caseRef) == "" {
		return Request{}, &FieldError{Field: "case", Err: errors.New("which case? give its id or number")}
	}
	// The caller must be able to read the case (this audits the read).
	c, err := s.cases.Get(ctx, sub, caseRef)
	if err != nil {
		return Request{}, err
	}
	// No case data in the audit details: the case's id and the trace.
	details := map[string]any{"case": c.ID}
	var linked []casework.Case // cases whose tracing link changed, for the index
	req, err := s.modify(ctx, sub, ref, action, details, func(w store.Writer, req *Request, now time.Time) error {
		linked = linked[:0]
		if req.Status == StatusClosed {
			return errorf(ErrClosed, "%s is closed; reopen it first (cpx trace update %s --set status=open)", req.Number, req.Number)
		}
		n := trace
		if n == 0 {
			if len(req.Details.Traces) != 1 {
				return &FieldError{Field: "trace", Err: fmt.Errorf("%s seeks %d children: say which trace (1-%d)", req.Number, len(req.Details.Traces), len(req.Details.Traces))}
			}
			n = 1
		}
		if n < 1 || n > len(req.Details.Traces) {
			return &FieldError{Field: "trace", Err: fmt.Errorf("%s has no trace %d (it has %d)", req.Number, n, len(req.Details.Traces))}
		}
		req.Details.Traces = slices.Clone(req.Details.Traces)
		t := &req.Details.Traces[n-1]
		// The case records carry the link too (matched_tracing_request_id,
		// tracing_status), in this same transaction: a trace that moves to
		// another case unlinks the one it was matched to.
		link := func(caseID string, on bool) error {
			lc, changed, err := s.cases.LinkTrace(w, caseID, req.Number, on, sub.User, now)
			if changed {
				linked = append(linked, lc)
			}
			if err != nil {
				return &storeFailure{err}
			}
			return nil
		}
		switch {
		case outcome == Confirmed:
			if t.MatchedCaseID != "" && t.MatchedCaseID != c.ID {
				// A case purged or gone since keeps no link to remove.
				if err := link(t.MatchedCaseID, false); err != nil && !errors.Is(err, casework.ErrNotFound) && !errors.Is(err, casework.ErrPurged) {
					return err
				}
			}
			t.Status, t.MatchedCaseID, t.MatchedCaseNumber = TraceMatched, c.ID, c.Number
			if err := link(c.ID, true); err != nil {
				return err
			}
		case t.MatchedCaseID == c.ID:
			t.Status, t.MatchedCaseID, t.MatchedCaseNumber = TraceOpen, "", ""
			if err := link(c.ID, false); err != nil {
				return err
			}
		}
		details["trace"] = n
		req.Decisions = append(slices.Clone(req.Decisions), Decision{
			Trace: n, CaseID: c.ID, CaseNumber: c.Number, Outcome: outcome, Reason: reason, Actor: sub.User, At: now,
		})
		return nil
	})
	if err == nil {
		for _, c := range linked {
			s.CaseChanged(c)
		}
	}
	return req, err
}

// Words returns the distinct normalised words that identify req: the
// inquirer's name, and each sought child's name, nicknames,
// other names and relatives' names. Contact, places, dates and marks are
// not searched; the number matches only as a whole (Search).
func Words(req *Request) []string {
	texts := []string{req.Details.InquirerName}
	for _, t := range req.Details.Traces {
		texts = append(texts, t.Name)
		texts = append(texts, t.Nicknames...)
		texts = append(texts, t.OtherNames...)
		texts = append(texts, t.Relatives...)
	}
	var out []string
	for _, s := range texts {
		for _, w := range casework.Words(s) {
			if !slices.Contains(out, w) {
				out = append(out, w)
			}
		}
	}
	return out
}

// hasWords reports whether have holds every word of want.
func hasWords(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}
