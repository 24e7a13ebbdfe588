// Package casereports runs the reporting package's reports over the
// node's own records: it describes cases and exchanges as reporting
// schemas (from the forms configuration, plus core and derived fields),
// turns each record into a reporting.Record, and reads them through
// casework's and exchange's own report rows (kept on write, scoped like
// their lists), so a report counts exactly the records the user may list.
package casereports

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/exchange"
	"github.com/cpx-node/cpx/node/forms"
	"github.com/cpx-node/cpx/node/reporting"
	"github.com/cpx-node/cpx/policy"
)

// Derived fields of a case, computed when it is counted.
const (
	FieldStatus               = "status"
	FieldStage                = "workflow_stage"
	FieldOwnerGroup           = "owner_group"
	FieldCreatedAt            = "created_at"
	FieldFollowupStatus       = "followup_status"
	FieldDaysToAssessment     = "days_to_assessment"
	FieldDaysToCasePlan       = "days_to_case_plan"
	FieldCasePlanWithin30Days = "case_plan_within_30_days"
)

// Follow-up states of FieldFollowupStatus.
const (
	FollowupDone    = "done"
	FollowupDue     = "due"
	FollowupOverdue = "overdue"
	FollowupNone    = "none"
)

func opts(ids ...string) []reporting.Option {
	out := make([]reporting.Option, len(ids))
	for i, id := range ids {
		out[i] = reporting.Option{ID: id, Label: id}
	}
	return out
}

// CaseSchema describes cases for reports: every top-level form field by
// its type, and the core and derived fields.
func CaseSchema(fc *forms.Config) *reporting.Schema {
	s := &reporting.Schema{Record: reporting.RecordCases, Fields: map[string]reporting.Field{}, Locations: map[string]reporting.Location{}}
	lookups := map[string][]reporting.Option{}
	for _, l := range fc.Lookups {
		for _, o := range l.Options {
			lookups[l.ID] = append(lookups[l.ID], reporting.Option{ID: o.ID, Label: o.Label})
		}
	}
	for _, f := range fc.TopForms() {
		for _, fd := range f.Fields {
			rf := reporting.Field{Name: fd.Name, Label: fd.Label, Identifying: fc.FieldClass(fd.Name) == policy.ClassIdentifying}
			switch fd.Type {
			case forms.Select:
				rf.Kind, rf.Options = reporting.KindSelect, lookups[fd.Lookup]
			case forms.MultiSelect:
				rf.Kind, rf.Options = reporting.KindMulti, lookups[fd.Lookup]
			case forms.TickBox:
				rf.Kind = reporting.KindTick
			case forms.Number:
				rf.Kind = reporting.KindNumber
			case forms.Date:
				rf.Kind = reporting.KindDate
			case forms.LocationRef:
				rf.Kind = reporting.KindLocation
			default:
				rf.Kind, rf.Identifying = reporting.KindOther, true
			}
			s.Fields[fd.Name] = rf
		}
	}
	for _, l := range fc.Locations {
		s.Locations[l.Code] = reporting.Location{Code: l.Code, Parent: l.Parent, Name: l.Name, Level: l.AdminLevel}
	}
	core := []reporting.Field{
		{Name: FieldStatus, Label: "Case status", Kind: reporting.KindSelect, Options: opts(casework.StatusOpen, casework.StatusClosed, casework.StatusTransferred)},
		{Name: FieldStage, Label: "Workflow stage", Kind: reporting.KindSelect, Options: opts(casework.StageNew, casework.StageAssessment, casework.StageCasePlan, casework.StageServices, casework.StageServicesImplemented, casework.StageClosed)},
		{Name: FieldOwnerGroup, Label: "Owner's group", Kind: reporting.KindSelect},
		{Name: FieldCreatedAt, Label: "Created", Kind: reporting.KindDate},
		{Name: FieldFollowupStatus, Label: "Follow-up", Kind: reporting.KindSelect, Options: opts(FollowupDone, FollowupDue, FollowupOverdue, FollowupNone)},
		{Name: FieldDaysToAssessment, Label: "Days from registration to assessment", Kind: reporting.KindNumber},
		{Name: FieldDaysToCasePlan, Label: "Days from registration to case plan", Kind: reporting.KindNumber},
		{Name: FieldCasePlanWithin30Days, Label: "Case plan within 30 days", Kind: reporting.KindTick},
	}
	for _, f := range core {
		s.Fields[f.Name] = f
	}
	return s
}

// CaseRecord returns what a report sees of c on day now: its form fields,
// its core fields, and the derived fields. A case with a date of birth is
// as old as it makes the child on day now, whatever age was recorded.
func CaseRecord(c casework.Case, now time.Time) reporting.Record {
	r := make(reporting.Record, len(c.Fields)+8)
	fill(r, &c, now)
	return r
}

// fill sets r (empty) to CaseRecord(c, now).
func fill(r reporting.Record, c *casework.Case, now time.Time) {
	for k, v := range c.Fields {
		r[k] = v
	}
	if dob, ok := date(c.Fields[fieldDateOfBirth]); ok {
		if a := ageOn(dob, now); a >= 0 {
			r[fieldAge] = float64(a)
		}
	}
	r[FieldStatus] = c.Status
	r[FieldStage] = c.Stage
	if c.OwnerGroup != "" {
		r[FieldOwnerGroup] = c.OwnerGroup
	}
	r[FieldCreatedAt] = c.CreatedAt
	reg, hasReg := date(c.Fields[fieldRegistration])
	if !hasReg {
		reg, hasReg = c.CreatedAt.UTC().Truncate(24*time.Hour), !c.CreatedAt.IsZero()
	}
	days := func(field string) (float64, bool) {
		d, ok := date(c.Fields[field])
		if !ok || !hasReg {
			return 0, false
		}
		return math.Max(0, d.Sub(reg).Hours()/24), true
	}
	if d, ok := days(fieldAssessment); ok {
		r[FieldDaysToAssessment] = d
	}
	if d, ok := days(fieldCasePlan); ok {
		r[FieldDaysToCasePlan] = d
		r[FieldCasePlanWithin30Days] = d <= 30
	} else if hasReg && now.Sub(reg) > 30*24*time.Hour {
		r[FieldCasePlanWithin30Days] = false
	}
	r[FieldFollowupStatus] = followup(c, now)
}

// Form fields the derived fields are computed from.
const (
	fieldAge            = "age"
	fieldDateOfBirth    = "date_of_birth"
	fieldRegistration   = "registration_date"
	fieldAssessment     = "assessment_requested_on"
	fieldCasePlan       = "date_case_plan"
	fieldFollowups      = "followup_subform_section"
	fieldFollowupNeeded = "followup_needed_by_date"
)

// inputs returns what a report reading fields on day now needs of each
// case: the form fields themselves and those the derived ones are
// computed from, and whether the day of creation.
func inputs(fields []string, now time.Time) casework.Fields {
	f := casework.Fields{On: now}
	add := func(fs ...string) {
		for _, x := range fs {
			if !slices.Contains(f.Names, x) {
				f.Names = append(f.Names, x)
			}
		}
	}
	for _, x := range fields {
		switch x {
		case FieldStatus, FieldStage, FieldOwnerGroup:
		case FieldCreatedAt:
			f.Created = true
		case FieldFollowupStatus:
			add(fieldFollowups, fieldFollowupNeeded)
		case FieldDaysToAssessment:
			add(fieldRegistration, fieldAssessment)
			f.Created = true
		case FieldDaysToCasePlan, FieldCasePlanWithin30Days:
			add(fieldRegistration, fieldCasePlan)
			f.Created = true
		case fieldAge:
			add(fieldAge, fieldDateOfBirth)
			f.Births = append(f.Births, fieldDateOfBirth)
		default:
			add(x)
		}
	}
	return f
}

// ageOn returns the age in whole years on day now of a child born on dob.
func ageOn(dob, now time.Time) int {
	a := now.Year() - dob.Year()
	if now.Month() < dob.Month() || (now.Month() == dob.Month() && now.Day() < dob.Day()) {
		a--
	}
	return a
}

// followup derives the follow-up state: overdue when the needed-by date
// has passed with no follow-up on or after the last one needed, due when
// it is still ahead, done when follow-ups are recorded and none is due,
// none otherwise.
func followup(c *casework.Case, now time.Time) string {
	var last time.Time
	rows, _ := c.Fields[fieldFollowups].([]any)
	for _, row := range rows {
		m, _ := row.(map[string]any)
		if d, ok := date(m["followup_date"]); ok && d.After(last) {
			last = d
		}
	}
	if need, ok := date(c.Fields[fieldFollowupNeeded]); ok && (last.IsZero() || last.Before(need)) {
		if now.After(need.Add(24 * time.Hour)) {
			return FollowupOverdue
		}
		return FollowupDue
	}
	if !last.IsZero() {
		return FollowupDone
	}
	return FollowupNone
}

func date(v any) (time.Time, bool) {
	s, ok := v.(string)
	if !ok || len(s) < 10 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.DateOnly, s[:10])
	return t, err == nil
}

// ExchangeSchema describes referrals and transfers for reports.
func ExchangeSchema(fc *forms.Config) *reporting.Schema {
	var services []reporting.Option
	for _, l := range fc.Lookups {
		if l.ID == "service_type" {
			for _, o := range l.Options {
				services = append(services, reporting.Option{ID: o.ID, Label: o.Label})
			}
		}
	}
	s := &reporting.Schema{Record: reporting.RecordExchanges, Fields: map[string]reporting.Field{}}
	for _, f := range []reporting.Field{
		{Name: "kind", Label: "Kind", Kind: reporting.KindSelect, Options: opts("referral", "transfer")},
		{Name: "direction", Label: "Direction", Kind: reporting.KindSelect, Options: opts("outgoing", "incoming")},
		{Name: "peer", Label: "Partner agency", Kind: reporting.KindSelect},
		{Name: "service", Label: "Service", Kind: reporting.KindSelect, Options: services},
		{Name: "status", Label: "Status", Kind: reporting.KindSelect, Options: opts(exchange.StatusPending, exchange.StatusDelivered, exchange.StatusAccepted, exchange.StatusRejected, exchange.StatusDone, exchange.StatusRevoked, exchange.StatusFailed)},
		{Name: "created_at", Label: "Created", Kind: reporting.KindDate},
	} {
		s.Fields[f.Name] = f
	}
	return s
}

// Runner runs reports over the node's records.
type Runner struct {
	Cases     *casework.Service
	Exchanges *exchange.Service // nil: the node has no exchange
	Now       func() time.Time
}

// ErrUnavailable is returned for a record type this node does not hold.
var ErrUnavailable = errors.New("record type not available on this node")

// Schema returns the schema of a record type.
func (r *Runner) Schema(record string) (*reporting.Schema, error) {
	switch record {
	case reporting.RecordCases:
		return CaseSchema(r.Cases.Forms()), nil
	case reporting.RecordExchanges:
		return ExchangeSchema(r.Cases.Forms()), nil
	}
	return nil, fmt.Errorf("%w: %s", ErrUnavailable, record)
}

// Run counts the records def selects that sub may see.
func (r *Runner) Run(ctx context.Context, sub policy.Subject, def *reporting.Definition, p reporting.Params) (*reporting.Report, error) {
	s, err := r.Schema(def.Record)
	if err != nil {
		return nil, err
	}
	q, err := reporting.Compile(def, s, p)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	today := now().UTC()
	switch def.Record {
	case reporting.RecordCases:
		err = r.Cases.AggregateFields(ctx, sub, def.Name, inputs(q.Fields(), today), func(c casework.Case, n int) error {
			q.AddN(CaseRecord(c, today), n)
			return nil
		})
	case reporting.RecordExchanges:
		if r.Exchanges == nil {
			return nil, fmt.Errorf("%w: %s", ErrUnavailable, def.Record)
		}
		// Exchanges alike (the same values of the fields the report
		// reads, the same day of creation) are counted together:
		// reports read dates as days.
		used := q.Fields()
		keep := func(field, v string) string {
			if slices.Contains(used, field) {
				return v
			}
			return ""
		}
		byDay := slices.Contains(used, "created_at")
		alike := map[exchange.ReportRow]int{}
		err = r.Exchanges.ReportRows(ctx, sub, func(e exchange.ReportRow) error {
			if e.Kind != exchange.KindReferral && e.Kind != exchange.KindTransfer {
				return nil // a tracing disclosure request: not what these reports count
			}
			k := exchange.ReportRow{Kind: keep("kind", e.Kind), Direction: keep("direction", e.Direction), Peer: keep("peer", e.Peer),
				Service: keep("service", e.Service), Status: keep("status", e.Status)}
			if byDay {
				k.CreatedAt = e.CreatedAt.UTC().Truncate(24 * time.Hour)
			}
			alike[k]++
			return nil
		})
		for e, n := range alike {
			q.AddN(reporting.Record{"kind": e.Kind, "direction": e.Direction, "peer": e.Peer, "service": e.Service, "status": e.Status, "created_at": e.CreatedAt}, n)
		}
	}
	if err != nil {
		return nil, err
	}
	return q.Result(), nil
}
