package casework

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// Dashboard is a manager's view of the open cases the subject may read
// (of one group when asked): counts only, no case data.
type Dashboard struct {
	CasesByStage       map[string]int64 `json:"cases_by_stage"`
	OverdueTasksByKind map[string]int64 `json:"overdue_tasks_by_kind"`
	UpcomingTasks      int64            `json:"upcoming_tasks"` // due within 7 days
	ApprovalsPending   int64            `json:"approvals_pending"`
	OpenFlags          int64            `json:"open_flags"`
}

// Dashboard counts, from the status and derived indexes, the open cases
// the subject may read by workflow stage, their overdue tasks by kind,
// tasks due within a week, pending approvals and open flags.
func (s *Service) Dashboard(ctx context.Context, sub policy.Subject, group string) (Dashboard, error) {
	if d := policy.Authorize(sub, policy.ResourceCase, policy.ActionList, nil); !d.Allowed {
		return Dashboard{}, s.auditDenied(ctx, sub, "case.dashboard", "case", denied(d))
	}
	d := Dashboard{CasesByStage: map[string]int64{}, OverdueTasksByKind: map[string]int64{}}
	reach := func(owner, ownerGroup string) bool {
		if group != "" && ownerGroup != group {
			return false
		}
		return policy.Authorize(sub, policy.ResourceCase, policy.ActionRead, &policy.Object{Owner: owner, OwnerGroup: ownerGroup, Agency: s.agency}).Allowed
	}
	today := s.today()
	todayS, weekS := today.Format(time.DateOnly), today.AddDate(0, 0, 7).Format(time.DateOnly)
	err := s.store.View(ctx, func(r store.Reader) error {
		p := append(append([]byte{}, prefixStatus...), StatusOpen+"/"...)
		if err := r.Scan(p, store.ScanOptions{}, func(k, _ []byte) error {
			c, _, err := loadRaw(r, string(k[len(p):]))
			if err != nil {
				return err
			}
			if reach(c.Owner, c.OwnerGroup) {
				d.CasesByStage[c.Stage]++
			}
			return nil
		}); err != nil {
			return err
		}
		if err := r.Scan(prefixTask, store.ScanOptions{}, func(k, v []byte) error {
			due, _, _ := strings.Cut(string(k[len(prefixTask):]), "/")
			if due > weekS {
				return store.ErrStop
			}
			var t Task
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("corrupt task index entry: %w", err)
			}
			if !reach(t.Owner, t.OwnerGroup) {
				return nil
			}
			if due < todayS {
				d.OverdueTasksByKind[t.Kind]++
			} else {
				d.UpcomingTasks++
			}
			return nil
		}); err != nil {
			return err
		}
		if err := r.Scan(prefixApproval, store.ScanOptions{}, func(_, v []byte) error {
			var e approvalEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("corrupt approval index entry: %w", err)
			}
			if reach(e.Owner, e.OwnerGroup) {
				d.ApprovalsPending++
			}
			return nil
		}); err != nil {
			return err
		}
		return r.Scan(prefixFlag, store.ScanOptions{}, func(_, v []byte) error {
			var e flagEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("corrupt flag index entry: %w", err)
			}
			if reach(e.Owner, e.OwnerGroup) {
				d.OpenFlags++
			}
			return nil
		})
	})
	if err != nil {
		return Dashboard{}, err
	}
	return d, audit.Record(ctx, s.store, s.now(), audit.Event{Actor: sub.User, Action: "case.dashboard", Object: "case", Details: map[string]string{"group": group}})
}
