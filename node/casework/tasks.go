package casework

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/forms"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// Task kinds derived from the standard forms; a date field a form marks
// as due (forms.Field.Due) gives tasks of the field's name.
const (
	TaskAssessment = "assessment" // assessment_due_date until assessment_requested_on
	TaskCasePlan   = "case_plan"  // case_plan_due_date until date_case_plan
	TaskFollowup   = "followup"   // followup_needed_by_date until a follow-up is recorded
	TaskService    = "service"    // a service's appointment date until it is implemented
)

// followupWindow is how long before followup_needed_by_date a recorded
// follow-up still counts for it.
const followupWindow = 30 * 24 * time.Hour

// Task is something due on a case, derived from the case's own data: it
// disappears when the data that completes it is recorded.
type Task struct {
	CaseID     string `json:"case_id"`
	CaseNumber string `json:"case_number"`
	Owner      string `json:"owner"`
	OwnerGroup string `json:"owner_group,omitempty"`
	Kind       string `json:"kind"`
	Field      string `json:"field"` // the date field that says when
	Row        int    `json:"row"`   // subform row of a service task, from 1; 0 otherwise
	Due        string `json:"due"`   // YYYY-MM-DD
	// DaysLate is how many days ago it was due (negative: due in that many
	// days). Set by Tasks, not stored.
	DaysLate int `json:"days_late"`
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

func isDate(s string) bool { _, err := time.Parse(time.DateOnly, s); return err == nil }

// DeriveTasks returns the tasks due on c (none unless c is open), in the
// order of its fields. dueFields are the extra top-level date fields
// forms mark as due (see DueFields).
func DeriveTasks(c *Case, dueFields []forms.Field) []Task {
	if c.Status != StatusOpen {
		return nil
	}
	var out []Task
	add := func(kind, field string, row int, due string) {
		if isDate(due) {
			out = append(out, Task{CaseID: c.ID, CaseNumber: c.Number, Owner: c.Owner, OwnerGroup: c.OwnerGroup, Kind: kind, Field: field, Row: row, Due: due})
		}
	}
	f := c.Fields
	if str(f, "assessment_requested_on") == "" {
		add(TaskAssessment, "assessment_due_date", 0, str(f, "assessment_due_date"))
	}
	if str(f, "date_case_plan") == "" {
		add(TaskCasePlan, "case_plan_due_date", 0, str(f, "case_plan_due_date"))
	}
	if due := str(f, "followup_needed_by_date"); isDate(due) {
		d, _ := time.Parse(time.DateOnly, due)
		from := d.Add(-followupWindow).Format(time.DateOnly)
		done := false
		rows, _ := f["followup_subform_section"].([]any)
		for _, r := range rows {
			m, _ := r.(map[string]any)
			if at := str(m, "followup_date"); isDate(at) && at >= from {
				done = true
			}
		}
		if !done {
			add(TaskFollowup, "followup_needed_by_date", 0, due)
		}
	}
	services, _ := f["services_section"].([]any)
	for i, r := range services {
		m, _ := r.(map[string]any)
		if str(m, "service_implemented_day_time") == "" {
			add(TaskService, "service_appointment_date", i+1, str(m, "service_appointment_date"))
		}
	}
	for _, fd := range dueFields {
		if fd.DoneBy != "" {
			if v, ok := f[fd.DoneBy]; ok && v != nil && v != "" {
				continue
			}
		}
		add(fd.Name, fd.Name, 0, str(f, fd.Name))
	}
	return out
}

// DueFields returns the top-level date fields fc marks as due.
func DueFields(fc *forms.Config) []forms.Field {
	if fc == nil {
		return nil
	}
	var out []forms.Field
	for _, f := range fc.TopForms() {
		for _, fd := range f.Fields {
			if fd.Due && fd.Type == forms.Date {
				out = append(out, fd)
			}
		}
	}
	return out
}

// TaskFilter selects tasks in Tasks. With neither Overdue nor Upcoming
// every open task is listed; with both, those overdue or due within
// Upcoming.
type TaskFilter struct {
	Overdue  bool
	Upcoming int // days from today, inclusive
	User     string
	Group    string
	Limit    int // default 1000, at most 10000
}

// MaxTaskLimit caps Tasks.
const MaxTaskLimit = 10000

// today returns the date of now in the service's time zone.
func (s *Service) today() time.Time {
	n := s.now().In(s.loc)
	return time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, time.UTC)
}

// Tasks lists the tasks on cases the subject may read that f selects,
// oldest first, from the task index (no case is opened), and audits which
// cases were shown.
func (s *Service) Tasks(ctx context.Context, sub policy.Subject, f TaskFilter) ([]Task, error) {
	if d := policy.Authorize(sub, policy.ResourceCase, policy.ActionList, nil); !d.Allowed {
		return nil, s.auditDenied(ctx, sub, "task.list", "task", denied(d))
	}
	if f.Upcoming < 0 || f.Upcoming > 3660 {
		return nil, errorf(ErrInvalid, "upcoming must be between 0 and 3660 days")
	}
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	f.Limit = min(f.Limit, MaxTaskLimit)
	today := s.today()
	todayS := today.Format(time.DateOnly)
	var until string // last due date listed; "" means no bound
	switch {
	case f.Upcoming > 0:
		until = today.AddDate(0, 0, f.Upcoming).Format(time.DateOnly)
	case f.Overdue:
		until = today.AddDate(0, 0, -1).Format(time.DateOnly)
	}
	maybe := reachFilter(sub, f.User, f.Group)
	var out []Task
	err := s.store.View(ctx, func(r store.Reader) error {
		out = out[:0]
		return r.Scan(prefixTask, store.ScanOptions{}, func(k, v []byte) error {
			due, _, _ := strings.Cut(string(k[len(prefixTask):]), "/")
			if until != "" && due > until {
				return store.ErrStop
			}
			if (f.Upcoming > 0 && !f.Overdue && due < todayS) || !maybe(v) {
				return nil
			}
			var t Task
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("corrupt task index entry: %w", err)
			}
			if (f.User != "" && t.Owner != f.User) || (f.Group != "" && t.OwnerGroup != f.Group) {
				return nil
			}
			obj := &policy.Object{Owner: t.Owner, OwnerGroup: t.OwnerGroup, Agency: s.agency}
			if !policy.Authorize(sub, policy.ResourceCase, policy.ActionRead, obj).Allowed {
				return nil
			}
			d, _ := time.Parse(time.DateOnly, t.Due)
			t.DaysLate = int(today.Sub(d).Hours() / 24)
			out = append(out, t)
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
	for i, t := range out {
		ids[i] = t.CaseID
	}
	return out, audit.Record(ctx, s.store, s.now(), audit.Event{Actor: sub.User, Action: "task.list", Object: "task", Details: ids})
}

// reachFilter returns a quick test that rejects, without decoding it, an
// index entry the subject cannot reach or the filter excludes: under scope
// self or group (or with a user or group filter) the entry must name the
// owner or group verbatim. It may accept entries that the full check then
// refuses, never the other way round (names are JSON-safe: see
// users.ValidateName).
func reachFilter(sub policy.Subject, user, group string) func([]byte) bool {
	has := func(v []byte, k, val string) bool {
		return bytes.Contains(v, []byte(`"`+k+`":"`+val+`"`))
	}
	return func(v []byte) bool {
		if user != "" && !has(v, "owner", user) {
			return false
		}
		if group != "" && !has(v, "owner_group", group) {
			return false
		}
		switch sub.Role.Scope {
		case policy.ScopeSelf:
			return has(v, "owner", sub.User)
		case policy.ScopeGroup:
			return has(v, "owner", sub.User) || (sub.Group != "" && has(v, "owner_group", sub.Group))
		}
		return true
	}
}
