package casework

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// PendingRead is a case read whose audit entry is still to be written: by
// the caller, inside the write transaction that acts on what it read
// (exchange.Send queues a referral), so that the read costs no commit of
// its own. See ReadForWrite.
type PendingRead struct {
	// Case is the case as the subject may see it (redacted as by Get).
	Case Case

	read   audit.Event // the read's audit entry, as Get writes it
	stored []byte      // the case's record as it was read
}

// ReadForWrite reads the case with the given id or case number as Get
// does (the same access check, the same redaction) but in a read-only
// snapshot, and leaves the successful read's audit entry to the caller:
// within its write transaction it calls Unchanged, and if the case is
// still as it was read, Audit. A read that fails (no such case, a purged
// case, no access to the case) is audited here, as by Get, and its error
// is Get's.
func (s *Service) ReadForWrite(ctx context.Context, sub policy.Subject, ref string) (PendingRead, error) {
	ss := s.sealers(ctx)
	var p PendingRead
	var refusal *audit.Event
	err := s.store.View(ctx, func(r store.Reader) error {
		p, refusal = PendingRead{}, nil
		c, read, refused, err := s.readCase(ss, r, sub, ref)
		if err != nil {
			return err
		}
		if refused != nil {
			refusal = &read
			return refused
		}
		if p.stored, err = r.Get(recordKey(c.ID)); err != nil {
			return err
		}
		p.Case, p.read = redacted(sub, s.forms, c), read
		return nil
	})
	if refusal != nil {
		if aerr := audit.Record(ctx, s.store, s.now().UTC(), *refusal); aerr != nil {
			return PendingRead{}, errors.Join(err, aerr)
		}
	}
	if err != nil {
		return PendingRead{}, err
	}
	return p, nil
}

// Unchanged reports whether the case is still stored as it was read: the
// same record, byte for byte (every change of a case, its casework or its
// status rewrites the record, sealed under a fresh nonce).
func (p PendingRead) Unchanged(r store.Reader) (bool, error) {
	b, err := r.Get(recordKey(p.Case.ID))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return bytes.Equal(b, p.stored), nil
}

// Audit appends the read's audit entry (as Get writes it) within w.
func (p PendingRead) Audit(w store.Writer, now time.Time) error {
	_, err := audit.Append(w, now, p.read)
	return err
}
