package casework

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// Create registers a new case owned by the subject, entered on form.
func (s *Service) Create(ctx context.Context, sub policy.Subject, form string, fields map[string]any) (Case, error) {
	if d := policy.Authorize(sub, policy.ResourceCase, policy.ActionCreate, nil); !d.Allowed {
		return Case{}, s.auditDenied(ctx, sub, "case.create", "case", denied(d))
	}
	if err := checkHidden(sub, s.forms, fields); err != nil {
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
	return redacted(sub, s.forms, c), nil
}

// Get returns the case with the given id or case number, and audits the read.
func (s *Service) Get(ctx context.Context, sub policy.Subject, ref string) (Case, error) {
	var c Case
	var refused error
	now := s.now().UTC()
	ss := s.sealers(ctx)
	err := s.store.Update(ctx, func(w store.Writer) error {
		var read audit.Event
		var err error
		if c, read, refused, err = s.readCase(ss, w, sub, ref); err != nil {
			return err
		}
		_, err = audit.Append(w, now, read)
		return err
	})
	if err != nil {
		return Case{}, err
	}
	if refused != nil {
		return Case{}, refused
	}
	return redacted(sub, s.forms, c), nil
}

// readCase loads the case with the given id or case number within r as
// sub reads it, and returns it with the audit entry the read leaves
// (case.read, with its outcome) and, when sub may not have it (no such
// case, purged, no access), the refusal; err is the store's.
func (s *Service) readCase(ss *sealers, r store.Reader, sub policy.Subject, ref string) (c Case, read audit.Event, refused, err error) {
	read = audit.Event{Actor: sub.User, Action: "case.read", Object: caseObject(ref), Outcome: audit.OK}
	c, err = s.load(ss, r, ref)
	if errors.Is(err, ErrNotFound) && !errors.Is(err, ErrPurged) {
		read.Outcome = audit.Failed
		return c, read, err, nil
	}
	var gone error
	if errors.Is(err, ErrPurged) {
		gone, err = err, nil
	}
	if err != nil {
		return c, read, nil, err
	}
	read.Object = caseObject(c.ID)
	switch d := policy.Authorize(sub, policy.ResourceCase, policy.ActionRead, object(&c)); {
	case !d.Allowed:
		read.Outcome, refused = audit.Denied, denied(d)
	case gone != nil:
		read.Outcome, refused = audit.Failed, gone
	}
	return c, read, refused, nil
}

// Filter selects cases in List and Export.
type Filter struct {
	Status string
	Owner  string
	// Query selects the case with this number, or the cases whose text
	// fields the subject may see hold every word of it (whole words,
	// normalised as names are for matching; see wordindex.go).
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
		return s.query(ctx, r, sub, f, fn) // wordindex.go
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
		return fn(redacted(sub, s.forms, c))
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
	return s.modifyWith(ctx, sub, ref, act, action, func(_ store.Writer, c *Case, _ *effects) (map[string]any, error) {
		return change(c)
	})
}

// effects are what a change causes besides the new version: the audit
// entry's details (default: the changed fields' names) and notices.
type effects struct {
	details any
	notices []Notice
}

// modifyWith is modify for changes that read other records in w, set the
// audit details or cause notices, which are queued in the transaction
// that stores the change (and only if it is stored).
func (s *Service) modifyWith(ctx context.Context, sub policy.Subject, ref string, act policy.Action, action string, change func(w store.Writer, c *Case, fx *effects) (map[string]any, error)) (Case, error) {
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
		c.cloneWork()
		var fx effects
		changed, err := change(w, &c, &fx)
		if err != nil {
			refused = err
			return nil
		}
		if len(changed) == 0 && c.Status == old.Status && c.Owner == old.Owner &&
			reflect.DeepEqual(workOf(&c), workOf(&old)) {
			return nil // nothing to record
		}
		x, err := ss.get(c.ID)
		if err != nil {
			return err
		}
		if err := s.commitChangeDetails(w, x, &old, &c, sub.User, action, changed, fx.details, now); err != nil {
			return err
		}
		return s.emit(w, fx.notices)
	})
	if err != nil {
		return Case{}, err
	}
	if refused != nil {
		return Case{}, s.auditDenied(ctx, sub, action, caseObject(ref), refused)
	}
	s.notify(c)
	return redacted(sub, s.forms, c), nil
}

// commitChange stores c as the next version of old within w: version
// number, update time and workflow stage, the version entry (action
// without its "case." prefix) and the audit entry action, which names the
// changed fields only.
func (s *Service) commitChange(w store.Writer, x *sealer, old, c *Case, actor, action string, changed map[string]any, now time.Time) error {
	return s.commitChangeDetails(w, x, old, c, actor, action, changed, nil, now)
}

// commitChangeDetails is commitChange with the audit entry's details
// (nil: the changed fields' names).
func (s *Service) commitChangeDetails(w store.Writer, x *sealer, old, c *Case, actor, action string, changed map[string]any, details any, now time.Time) error {
	c.Version = old.Version + 1
	c.UpdatedAt = now
	c.Stage = deriveStage(c)
	v := Version{Version: c.Version, At: now, Actor: actor, Action: strings.TrimPrefix(action, "case."), Changed: changed}
	if err := s.put(w, c, old, v, x); err != nil {
		return err
	}
	if details == nil {
		details = v.ChangedFields()
	}
	_, err := audit.Append(w, now, audit.Event{Actor: actor, Action: action, Object: caseObject(c.ID), Details: details})
	return err
}

// Update sets (or, with a nil value, clears) fields of an open case. If
// expectedVersion is not zero the case must be at that version.
func (s *Service) Update(ctx context.Context, sub policy.Subject, ref string, fields map[string]any, expectedVersion int64) (Case, error) {
	if err := checkHidden(sub, s.forms, fields); err != nil {
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
		if s.closureApproval && !c.Approved(ApprovalClosure) {
			return nil, errorf(ErrState, "%s cannot be closed before its closure is approved: cpx case approval request %s --type closure", c.Number, c.Number)
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
			ver.Changed = sub.Role.Redact(s.forms, ver.Changed)
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
