package casework

import (
	"context"
	"time"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/store"
)

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
		c.Assignments, c.Approvals, c.Flags = nil, nil, nil
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
