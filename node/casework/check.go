package casework

import (
	"context"
	"errors"
	"fmt"

	"github.com/cpx-node/cpx/node/store"
)

// CheckReport is what Check found.
type CheckReport struct {
	// Cases counts the live cases whose record and every version opened.
	Cases int
	// Tombstones counts the purged cases.
	Tombstones int
	// KeyDestroyed lists the ids of live records whose data key was
	// destroyed: cases purged after this copy of the data was made (a
	// restored backup). ReplayPurge makes them tombstones.
	KeyDestroyed []string
	// Failed counts the cases that did not open; Failures lists the first
	// thousand, each with why.
	Failed   int
	Failures []CheckFailure
}

// CheckFailure is a case that did not open.
type CheckFailure struct {
	ID, Number string
	Err        error
}

// maxCheckFailures bounds the failures a report lists (the count goes on).
const maxCheckFailures = 1000

// Check reads every case record and every version of every live case and
// opens their sealed data with the case keys, without authorising anyone
// or auditing: it is the operator's check that a copy of the node's data
// (a restored backup) and its key store belong together. It returns an
// error only when the store cannot be read; cases that do not open are in
// the report.
func (s *Service) Check(ctx context.Context) (CheckReport, error) {
	var rep CheckReport
	ss := s.sealers(ctx)
	err := s.store.View(ctx, func(r store.Reader) error {
		return r.Scan(prefixRecord, store.ScanOptions{}, func(k, v []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			id := string(k[len(prefixRecord):])
			c, sealed, err := decodeRecord(v)
			if err != nil {
				rep.fail(id, "", fmt.Errorf("corrupt case record: %w", err))
				return nil
			}
			if c.Status == StatusPurged {
				rep.Tombstones++
				return nil
			}
			if _, err := ss.get(c.ID); errors.Is(err, ErrPurged) {
				rep.KeyDestroyed = append(rep.KeyDestroyed, c.ID)
				return nil
			} else if err != nil {
				rep.fail(c.ID, c.Number, err)
				return nil
			}
			if err := openFields(ss, &c, sealed); err != nil {
				rep.fail(c.ID, c.Number, err)
				return nil
			}
			if err := r.Scan(versionPrefix(c.ID), store.ScanOptions{}, func(_, v []byte) error {
				_, err := decodeVersion(v, ss, c.ID)
				return err
			}); err != nil {
				rep.fail(c.ID, c.Number, err)
				return nil
			}
			rep.Cases++
			return nil
		})
	})
	return rep, err
}

func (r *CheckReport) fail(id, number string, err error) {
	r.Failed++
	if len(r.Failures) < maxCheckFailures {
		r.Failures = append(r.Failures, CheckFailure{ID: id, Number: number, Err: err})
	}
}

// PurgedIDs returns the ids of every purged case (their tombstones), in
// id order: the purge log a backup carries.
func (s *Service) PurgedIDs(ctx context.Context) ([]string, error) {
	var ids []string
	p := append(append([]byte{}, prefixStatus...), StatusPurged+"/"...)
	err := s.store.View(ctx, func(r store.Reader) error {
		return r.Scan(p, store.ScanOptions{}, func(k, _ []byte) error {
			ids = append(ids, string(k[len(p):]))
			return nil
		})
	})
	return ids, err
}
