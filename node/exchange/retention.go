package exchange

import (
	"context"
	"errors"
	"time"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// Retention states of the data an exchange brought to this node.
const (
	// RetentionKept: the data is held and its ISP sets no limit.
	RetentionKept = "kept"
	// RetentionUntil: the data is held until Deadline.
	RetentionUntil = "until"
	// RetentionShredded: the data was deleted when its retention ran out.
	RetentionShredded = "shredded"
)

// Retention says how long this node may keep the case data an exchange
// brought it (the fields and note of an incoming referral or transfer,
// the disclosed fields of an answered disclosure request) and when it was
// deleted.
type Retention struct {
	Exchange  string
	Kind      string
	Direction string
	Peer      string
	Status    string
	ISP       string
	// Days is the ISP's retention_days for the exchange's purpose (0: no
	// limit): the latest version applied here, or, if the ISP is no longer
	// applied, the version the data arrived under.
	Days int
	// Since is when the retention clock started: when the exchange ended
	// (done, rejected, revoked, failed, a transfer accepted) or when the
	// ISP's validity ended, whichever is first. It may lie in the future.
	Since time.Time
	// Deadline is Since plus Days (zero for no limit).
	Deadline time.Time
	State    string
	Shredded time.Time
}

// finished says whether an exchange has ended: nothing more will happen
// to it, so its retention clock runs.
func finished(rec Record) bool {
	switch rec.Status {
	case StatusDone, StatusRejected, StatusRevoked, StatusFailed:
		return true
	case StatusAccepted:
		return rec.Kind != KindReferral
	}
	return false
}

// receivedData says whether rec is an exchange through which this node
// receives case data.
func receivedData(rec Record) bool {
	return rec.Direction == Incoming || rec.Kind == KindDisclosure
}

// holdsData says whether rec still holds received case data.
func holdsData(rec Record) bool {
	return receivedData(rec) && (len(rec.Fields) > 0 || rec.Note != "")
}

// retention works out rec's retention at now.
func (s *Service) retention(r store.Reader, rec Record, now time.Time) (Retention, error) {
	ret := Retention{Exchange: rec.ID, Kind: rec.Kind, Direction: rec.Direction, Peer: rec.Peer, Status: rec.Status, ISP: rec.ISP, Days: rec.RetentionDays}
	if rec.Shredded != nil {
		ret.State, ret.Shredded = RetentionShredded, *rec.Shredded
		return ret, nil
	}
	in, err := s.isp(r, rec.ISP, now)
	switch {
	case errors.Is(err, ErrNotFound):
		// No longer applied: the agreement ended when it was removed; the
		// record's last change is the nearest time this node knows.
		ret.Since = rec.UpdatedAt
	case err != nil:
		return Retention{}, err
	default:
		if days, ok := in.ISP.RetentionDays(purposeOf(rec.Kind)); ok {
			ret.Days = days
		}
		ret.Since = in.ISP.ValidUntil
	}
	if finished(rec) && rec.UpdatedAt.Before(ret.Since) {
		ret.Since = rec.UpdatedAt
	}
	if ret.Days <= 0 {
		ret.State = RetentionKept
		return ret, nil
	}
	ret.State = RetentionUntil
	ret.Deadline = ret.Since.Add(time.Duration(ret.Days) * 24 * time.Hour)
	return ret, nil
}

// RetentionStatus lists the retention of every exchange through which
// this node received case data, among those sub may list: held, until
// when, or deleted.
func (s *Service) RetentionStatus(ctx context.Context, sub policy.Subject) ([]Retention, error) {
	if err := s.authorize(ctx, sub, policy.ResourceExchange, policy.ActionList, "retention.status", "exchange"); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	var out []Retention
	err := s.store.View(ctx, func(r store.Reader) error {
		var recs []Record
		if err := r.Scan(prefixRecord, store.ScanOptions{}, func(_, v []byte) error {
			var rec Record
			if err := unmarshal(v, &rec); err != nil {
				return err
			}
			if (holdsData(rec) || rec.Shredded != nil) && s.reaches(sub, policy.ActionList, &rec) {
				recs = append(recs, rec)
			}
			return nil
		}); err != nil {
			return err
		}
		sortNewestFirst(recs)
		for _, rec := range recs {
			ret, err := s.retention(r, rec, now)
			if err != nil {
				return err
			}
			out = append(out, ret)
		}
		return nil
	})
	return out, err
}

// retentionBatch bounds the records one sweep transaction deletes.
const retentionBatch = 100

// EnforceRetention deletes the received case data (fields and note) of
// every exchange whose retention ran out, with an audit entry each
// (exchange.retention.shred), and returns how many it deleted. The
// exchange's metadata (kind, peer, states, times) stays, marked shredded.
// Run calls it on start and hourly.
func (s *Service) EnforceRetention(ctx context.Context) (int, error) {
	now := s.now().UTC()
	var due []string
	err := s.store.View(ctx, func(r store.Reader) error {
		return r.Scan(prefixRecord, store.ScanOptions{}, func(_, v []byte) error {
			var rec Record
			if err := unmarshal(v, &rec); err != nil {
				return err
			}
			if !holdsData(rec) {
				return nil
			}
			ret, err := s.retention(r, rec, now)
			if err != nil {
				return err
			}
			if ret.State == RetentionUntil && !now.Before(ret.Deadline) {
				due = append(due, rec.ID)
			}
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for len(due) > 0 {
		batch := due[:min(len(due), retentionBatch)]
		due = due[len(batch):]
		err := s.store.Update(ctx, func(w store.Writer) error {
			for _, id := range batch {
				var rec Record
				if err := getJSON(w, key(prefixRecord, id), &rec); err != nil {
					return err
				}
				// Checked again in the transaction: a renewal or a change
				// may have moved the deadline meanwhile.
				ret, err := s.retention(w, rec, now)
				if err != nil {
					return err
				}
				if !holdsData(rec) || ret.State != RetentionUntil || now.Before(ret.Deadline) {
					continue
				}
				fields := fieldNames(rec.Fields)
				rec.Fields, rec.Note = nil, ""
				at := now
				rec.Shredded, rec.RetentionDays = &at, ret.Days
				if err := s.putRecord(w, &rec); err != nil {
					return err
				}
				if _, err := audit.Append(w, now, audit.Event{Actor: "node", Action: "exchange.retention.shred", Object: "exchange/" + id,
					Details: map[string]any{"isp": rec.ISP, "retention_days": ret.Days, "since": ret.Since, "deadline": ret.Deadline, "fields": fields}}); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return n, err
		}
	}
	if n > 0 {
		s.log.Info("deleted received case data whose retention ran out", "exchanges", n)
	}
	return n, nil
}
