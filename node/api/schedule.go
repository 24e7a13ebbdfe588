package api

import (
	"context"
	"fmt"
	"time"

	"github.com/cpx-node/cpx/node/reporting"
	"github.com/cpx-node/cpx/policy"
)

// ScheduledPush is one entry of the configuration's reports.push: a
// report pushed to a coordination node every period.
type ScheduledPush struct {
	Report string
	To     string
}

// ScheduleUser is the actor of scheduled pushes in the audit log and on
// the exchange.
const ScheduleUser = "schedule"

// previousPeriod returns the period before the one now lies in, written
// as frequency writes it, and the day from which it is due: day of the
// current period's first month.
func previousPeriod(frequency string, now time.Time, day int) (string, time.Time) {
	y, m, _ := now.UTC().Date()
	switch frequency {
	case policy.FrequencyQuarterly:
		cur := time.Date(y, m-(m-1)%3, 1, 0, 0, 0, 0, time.UTC)
		prev := cur.AddDate(0, -3, 0)
		return fmt.Sprintf("%d-Q%d", prev.Year(), (int(prev.Month())+2)/3), cur.AddDate(0, 0, day-1)
	case policy.FrequencyYearly:
		cur := time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
		return fmt.Sprint(y - 1), cur.AddDate(0, 0, day-1)
	}
	cur := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	return cur.AddDate(0, -1, 0).Format("2006-01"), cur.AddDate(0, 0, day-1)
}

// PushScheduled pushes each entry's report for the period that ended
// before now, once: from day of the next period's first month on, unless
// it was pushed already (and did not fail). It runs over the whole agency
// as the user "schedule" with the standard coordinator role (agency
// scope), which also sees sensitive fields here (a location may be a
// dimension) but never identifying ones. It returns the periods pushed.
func (s *Server) PushScheduled(ctx context.Context, entries []ScheduledPush, day int) ([]string, error) {
	role, _ := policy.RoleByID(policy.StandardRoles(), "coordinator")
	role.Sees = []policy.FieldClass{policy.ClassSensitive, policy.ClassOrdinary}
	sub := policy.Subject{User: ScheduleUser, Agency: s.agency, Role: role}
	var pushed []string
	for _, e := range entries {
		if s.ex == nil {
			return pushed, nil
		}
		terms, err := s.ex.SendTerms(ctx, e.To)
		if err != nil {
			s.log.Warn("scheduled report push", "report", e.Report, "to", e.To, "err", err)
			continue
		}
		period, due := previousPeriod(terms.Every(), s.now(), day)
		if s.now().Before(due) {
			continue
		}
		done, err := s.ex.Pushed(ctx, e.Report, e.To, period)
		if err != nil {
			return pushed, err
		}
		if done {
			continue
		}
		r, err := s.findReport(e.Report)
		if err != nil {
			s.log.Warn("scheduled report push", "report", e.Report, "err", err)
			continue
		}
		rep, _, err := s.pushable(ctx, sub, r.def, e.To, period)
		if err != nil {
			s.log.Warn("scheduled report push", "report", e.Report, "to", e.To, "period", period, "err", err)
			continue
		}
		if _, d, err := s.ex.PushAggregate(ctx, sub, e.To, reporting.NewAggregate(rep, period)); err != nil {
			s.log.Warn("scheduled report push", "report", e.Report, "to", e.To, "period", period, "err", err)
			continue
		} else if d.Err != nil {
			s.log.Info("scheduled report waits in the outbox", "report", e.Report, "to", e.To, "period", period, "err", d.Err)
		}
		pushed = append(pushed, e.Report+"@"+e.To+" "+period)
	}
	return pushed, nil
}

// RunSchedule calls PushScheduled at once and then every interval until
// ctx is done.
func (s *Server) RunSchedule(ctx context.Context, entries []ScheduledPush, day int, interval time.Duration) {
	if len(entries) == 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.PushScheduled(ctx, entries, day); err != nil && ctx.Err() == nil {
			s.log.Warn("scheduled report pushes", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
