package casework

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// FlagCase puts a flag on an open case, with a message and optionally the
// date it is about (YYYY-MM-DD). The case's owner is notified; the
// message is not in the notice.
func (s *Service) FlagCase(ctx context.Context, sub policy.Subject, ref, message, date string) (Case, error) {
	message, err := checkText("message", message, true)
	if err != nil {
		return Case{}, err
	}
	if date != "" && !isDate(date) {
		return Case{}, errorf(ErrInvalid, "date %q is not YYYY-MM-DD", date)
	}
	return s.modifyWith(ctx, sub, ref, policy.ActionFlag, "case.flag", func(_ store.Writer, c *Case, fx *effects) (map[string]any, error) {
		if c.Status != StatusOpen {
			return nil, errorf(ErrClosed, "%s is %s", c.Number, c.Status)
		}
		now := s.now().UTC()
		id := 1
		for _, f := range c.Flags {
			id = max(id, f.ID+1)
		}
		c.Flags = append(c.Flags, Flag{ID: id, Message: message, Date: date, FlaggedBy: sub.User, FlaggedAt: now})
		fx.details = map[string]any{"flag": id}
		fx.notices = append(fx.notices, Notice{Kind: NoticeFlagged, To: c.Owner, CaseID: c.ID, CaseNumber: c.Number, Actor: sub.User, At: now})
		return nil, nil
	})
}

// ResolveFlag resolves flag id of a case (0: the only open one) with a
// resolution note. Resolving a flag someone else put needs
// resolve_any_flag.
func (s *Service) ResolveFlag(ctx context.Context, sub policy.Subject, ref string, id int, resolution string) (Case, error) {
	resolution, err := checkText("resolution", resolution, false)
	if err != nil {
		return Case{}, err
	}
	return s.modifyWith(ctx, sub, ref, policy.ActionFlag, "case.unflag", func(_ store.Writer, c *Case, fx *effects) (map[string]any, error) {
		i := -1
		open := 0
		for j, f := range c.Flags {
			if f.Resolved {
				continue
			}
			open++
			if f.ID == id || id == 0 {
				i = j
			}
		}
		switch {
		case id == 0 && open > 1:
			return nil, errorf(ErrInvalid, "%s has %d open flags: name one with --id", c.Number, open)
		case i < 0 && id == 0:
			return nil, errorf(ErrState, "%s has no open flag", c.Number)
		case i < 0:
			return nil, errorf(ErrState, "%s has no open flag %d", c.Number, id)
		}
		f := &c.Flags[i]
		if f.FlaggedBy != sub.User && !sub.Role.Can(policy.ResourceCase, policy.ActionResolveAnyFlag) {
			return nil, errorf(ErrDenied, "role %q may resolve only the flags its user put (resolve_any_flag)", sub.Role.ID)
		}
		f.Resolved, f.ResolvedBy, f.ResolvedAt, f.Resolution = true, sub.User, s.now().UTC(), resolution
		fx.details = map[string]any{"flag": f.ID}
		return nil, nil
	})
}

// OpenFlag is an unresolved flag as listed: its message is read from the
// case.
type OpenFlag struct {
	CaseID     string    `json:"case_id"`
	CaseNumber string    `json:"case_number"`
	Owner      string    `json:"owner"`
	ID         int       `json:"id"`
	Message    string    `json:"message"`
	Date       string    `json:"date,omitempty"`
	FlaggedBy  string    `json:"flagged_by"`
	FlaggedAt  time.Time `json:"flagged_at"`
}

// MaxFlagList caps Flags.
const MaxFlagList = 1000

// Flags lists the open flags on cases the subject may read, from the flag
// index, and audits which cases were shown.
func (s *Service) Flags(ctx context.Context, sub policy.Subject) ([]OpenFlag, error) {
	if d := policy.Authorize(sub, policy.ResourceCase, policy.ActionList, nil); !d.Allowed {
		return nil, s.auditDenied(ctx, sub, "flag.list", "flag", denied(d))
	}
	var out []OpenFlag
	ss := s.sealers(ctx)
	err := s.store.View(ctx, func(r store.Reader) error {
		out = out[:0]
		var cur Case
		return r.Scan(prefixFlag, store.ScanOptions{}, func(_, v []byte) error {
			var e flagEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("corrupt flag index entry: %w", err)
			}
			obj := &policy.Object{Owner: e.Owner, OwnerGroup: e.OwnerGroup, Agency: s.agency}
			if !policy.Authorize(sub, policy.ResourceCase, policy.ActionRead, obj).Allowed {
				return nil
			}
			if cur.ID != e.CaseID {
				c, err := s.load(ss, r, e.CaseID)
				if err != nil {
					return err
				}
				cur = c
			}
			for _, f := range cur.Flags {
				if f.ID == e.ID {
					out = append(out, OpenFlag{CaseID: e.CaseID, CaseNumber: e.CaseNumber, Owner: e.Owner, ID: f.ID,
						Message: f.Message, Date: f.Date, FlaggedBy: f.FlaggedBy, FlaggedAt: f.FlaggedAt})
				}
			}
			if len(out) >= MaxFlagList {
				return store.ErrStop
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(out))
	for i, f := range out {
		ids[i] = f.CaseID
	}
	return out, audit.Record(ctx, s.store, s.now(), audit.Event{Actor: sub.User, Action: "flag.list", Object: "flag", Details: ids})
}
