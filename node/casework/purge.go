package casework

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// Purge erases a case for good (the right to erasure): it replaces the
// record with a tombstone (status "purged", no form data, the reason as
// close reason; case number, owner and times stay so that the number is
// never reused and the erasure can be accounted for), deletes every
// version record, appends a "case.purge" audit entry in the same
// transaction, and then destroys the case's data key. Every copy of the
// case's form data and history elsewhere (backups of the data store, old
// Badger files) is encrypted under that key and can no longer be read.
//
// Afterwards Get and History answer an ErrPurged error; List and Export
// skip the case unless asked for status "purged" (tombstones only).
//
// The key is destroyed after the transaction commits, so that the erasure
// is always audited. If destroying the key fails, Purge returns an error
// and the record is already a tombstone: run Purge again, which destroys
// the key (destroying is idempotent) and audits the retry.
//
// The subject's role needs policy.ActionPurge on cases (the standard dpo
// role has it) and must reach the case. The audit entry holds no case
// data.
func (s *Service) Purge(ctx context.Context, sub policy.Subject, ref, reason string) error {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return errorf(ErrInvalid, "a reason is required to purge a case")
	}
	if len(reason) > 2000 {
		return errorf(ErrInvalid, "the reason is longer than 2000 bytes")
	}
	now := s.now().UTC()
	var id, number string
	var refused error
	err := s.store.Update(ctx, func(w store.Writer) error {
		refused, id = nil, ""
		old, _, err := loadRaw(w, ref)
		if err != nil {
			refused = err
			return nil
		}
		if d := policy.Authorize(sub, policy.ResourceCase, policy.ActionPurge, object(&old)); !d.Allowed {
			refused = denied(d)
			return nil
		}
		id, number = old.ID, old.Number
		return s.tombstone(w, old, reason, sub.User, now, nil)
	})
	if err != nil {
		return err
	}
	if refused != nil {
		return s.auditDenied(ctx, sub, "case.purge", caseObject(ref), refused)
	}
	s.rowCache.forget(id) // reportrows_cache.go: the case's row leaves memory too
	s.notify(Case{ID: id, Number: number, Status: StatusPurged, Stage: StageClosed})
	if err := s.keys.Destroy(ctx, id); err != nil {
		return fmt.Errorf("case %s: the record is purged but its data key was not destroyed, so copies of its data are still readable; run the purge again: %w", number, err)
	}
	return nil
}

// tombstone replaces old with its tombstone (unless it is one already),
// deletes its version records and appends the "case.purge" audit entry,
// with extra details if any.
func (s *Service) tombstone(w store.Writer, old Case, reason, actor string, now time.Time, extra map[string]any) error {
	s.rowCache.forget(old.ID)
	again := old.Status == StatusPurged
	var versions [][]byte
	if !again {
		if err := w.Scan(versionPrefix(old.ID), store.ScanOptions{}, func(k, _ []byte) error {
			versions = append(versions, bytes.Clone(k))
			return nil
		}); err != nil {
			return err
		}
		for _, k := range versions {
			if err := w.Delete(k); err != nil {
				return err
			}
		}
		c := old
		c.Status, c.Stage = StatusPurged, StageClosed
		c.Fields = nil
		c.CloseReason = reason
		c.Version = old.Version + 1
		c.UpdatedAt = now
		if _, err := s.putRecord(w, &c, &old, nil); err != nil {
			return err
		}
	}
	details := map[string]any{"versions_deleted": len(versions), "again": again}
	for k, v := range extra {
		details[k] = v
	}
	_, err := audit.Append(w, now, audit.Event{Actor: actor, Action: "case.purge", Object: caseObject(old.ID), Details: details})
	return err
}

// ReplayPurge purges the case id again on a copy of the node's data that
// predates its purge (a restored backup): it writes the tombstone, deletes
// the versions, audits it as actor, and destroys the case's data key if
// the key store still has it. It needs no subject: it is run by the
// operator restoring the node, never through the API. It reports whether
// the record was live (not a tombstone already).
func (s *Service) ReplayPurge(ctx context.Context, id, actor string) (bool, error) {
	now := s.now().UTC()
	var number string
	live := false
	err := s.store.Update(ctx, func(w store.Writer) error {
		old, _, err := loadRaw(w, id)
		if err != nil {
			return err
		}
		number, live = old.Number, old.Status != StatusPurged
		if !live {
			return nil
		}
		return s.tombstone(w, old, "purged before this copy was restored", actor, now, map[string]any{"replayed": true})
	})
	if err != nil {
		return false, err
	}
	s.notify(Case{ID: id, Number: number, Status: StatusPurged, Stage: StageClosed})
	if err := s.keys.Destroy(ctx, id); err != nil {
		return live, fmt.Errorf("case %s: the record is purged again but its data key was not destroyed: %w", number, err)
	}
	return live, nil
}
