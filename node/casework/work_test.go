package casework_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/forms"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/memstore"
	"github.com/cpx-node/cpx/node/users"
)

// queue is an in-memory Notifier that keeps what was queued.
type queue struct{ got []casework.Notice }

func (q *queue) Enqueue(_ store.Writer, n casework.Notice) error {
	q.got = append(q.got, n)
	return nil
}

func workFixture(t *testing.T, closureApproval bool) (*fixture, *queue) {
	t.Helper()
	fx := newFixture(t, memstore.New())
	q := &queue{}
	fx.svc = casework.New(casework.Options{Store: fx.store, Forms: forms.Standard(), Agency: "agency-a", NumberPrefix: "AA",
		Now: func() time.Time { return now }, Notifier: q, ClosureRequiresApproval: closureApproval})
	err := fx.store.Update(context.Background(), func(w store.Writer) error {
		for _, u := range []users.User{{Name: "alice", Role: "caseworker", Group: "north"}, {Name: "bob", Role: "caseworker", Group: "north"},
			{Name: "sam", Role: "supervisor", Group: "north"}, {Name: "zed", Role: "caseworker", Group: "south"},
			{Name: "off", Role: "caseworker", Group: "north"}, {Name: "admin", Role: "agency_admin"}} {
			if _, err := users.Add(w, u, now.Add(time.Hour)); err != nil {
				return err
			}
		}
		_, err := users.Disable(w, "off")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return fx, q
}

func TestAssign(t *testing.T) {
	ctx := context.Background()
	fx, q := workFixture(t, false)
	c, err := fx.svc.Create(ctx, fx.alice, "registration", registration())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, to string
		want     error
	}{
		{"unknown user", "nobody", casework.ErrInvalid},
		{"disabled user", "off", casework.ErrInvalid},
		{"role without cases", "admin", casework.ErrInvalid},
		{"outside the group", "zed", casework.ErrDenied},
	} {
		if _, err := fx.svc.Assign(ctx, fx.alice, c.Number, tt.to, ""); !errors.Is(err, tt.want) {
			t.Errorf("%s: Assign = %v, want %v", tt.name, err, tt.want)
		}
	}
	got, err := fx.svc.Assign(ctx, fx.alice, c.Number, "bob", "leave")
	if err != nil {
		t.Fatal(err)
	}
	if got.Owner != "bob" || len(got.Assignments) != 1 || got.Assignments[0].From != "alice" {
		t.Errorf("after Assign: owner %q, assignments %+v; want bob, one from alice", got.Owner, got.Assignments)
	}
	if len(q.got) != 1 || q.got[0].To != "bob" || q.got[0].Kind != casework.NoticeAssigned {
		t.Errorf("notices = %+v, want one case_assigned to bob", q.got)
	}
	// Alice no longer reaches the case.
	if _, err := fx.svc.Get(ctx, fx.alice, c.Number); !errors.Is(err, casework.ErrDenied) {
		t.Errorf("Get by the former owner = %v, want ErrDenied", err)
	}
	// A supervisor assigns within the agency.
	if _, err := fx.svc.Assign(ctx, fx.sup, c.Number, "zed", ""); err != nil {
		t.Errorf("supervisor Assign to another group: %v", err)
	}
}

func TestTasks(t *testing.T) {
	ctx := context.Background()
	fx, _ := workFixture(t, false)
	f := registration()
	f["assessment_due_date"] = "2026-11-01" // overdue by 24 days
	f["case_plan_due_date"] = "2026-11-30"  // upcoming in 5 days
	c, err := fx.svc.Create(ctx, fx.alice, "registration", f)
	if err != nil {
		t.Fatal(err)
	}
	list, err := fx.svc.Tasks(ctx, fx.alice, casework.TaskFilter{Overdue: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Kind != casework.TaskAssessment || list[0].DaysLate != 24 {
		t.Fatalf("overdue = %+v, want the assessment, 24 days late", list)
	}
	list, _ = fx.svc.Tasks(ctx, fx.alice, casework.TaskFilter{Upcoming: 7})
	if len(list) != 1 || list[0].Kind != casework.TaskCasePlan || list[0].DaysLate != -5 {
		t.Fatalf("upcoming = %+v, want the case plan, due in 5 days", list)
	}
	if list, _ := fx.svc.Tasks(ctx, fx.bob, casework.TaskFilter{}); len(list) != 0 {
		t.Errorf("bob sees %d tasks of alice's case, want 0", len(list))
	}
	if list, _ := fx.svc.Tasks(ctx, fx.sup, casework.TaskFilter{Group: "north"}); len(list) != 2 {
		t.Errorf("supervisor sees %d tasks of the group, want 2", len(list))
	}
	// Recording the assessment completes its task.
	if _, err := fx.svc.Update(ctx, fx.alice, c.Number, map[string]any{"assessment_requested_on": "2026-11-20"}, 0); err != nil {
		t.Fatal(err)
	}
	if list, _ := fx.svc.Tasks(ctx, fx.alice, casework.TaskFilter{Overdue: true}); len(list) != 0 {
		t.Errorf("overdue after the assessment = %+v, want none", list)
	}
	// Closing the case ends its tasks.
	if _, err := fx.svc.Close(ctx, fx.alice, c.Number, "done"); err != nil {
		t.Fatal(err)
	}
	if list, _ := fx.svc.Tasks(ctx, fx.alice, casework.TaskFilter{}); len(list) != 0 {
		t.Errorf("tasks of a closed case = %+v, want none", list)
	}
}

func TestDeriveTasks(t *testing.T) {
	c := &casework.Case{ID: "x", Number: "AA-1", Status: casework.StatusOpen, Fields: map[string]any{
		"followup_needed_by_date":  "2026-12-01",
		"followup_subform_section": []any{map[string]any{"followup_date": "2026-10-01"}},
		"services_section": []any{
			map[string]any{"service_type": "a", "service_appointment_date": "2026-11-10"},
			map[string]any{"service_type": "b", "service_appointment_date": "2026-11-12", "service_implemented_day_time": "2026-11-12"},
		},
		"custom_due": "2026-12-24",
	}}
	got := casework.DeriveTasks(c, []forms.Field{{Name: "custom_due", Type: forms.Date, Due: true}})
	var kinds []string
	for _, t := range got {
		kinds = append(kinds, t.Kind)
	}
	if want := "followup service custom_due"; join(kinds) != want {
		t.Errorf("kinds = %q, want %q", join(kinds), want)
	}
	c.Fields["followup_subform_section"] = []any{map[string]any{"followup_date": "2026-11-15"}}
	if got := casework.DeriveTasks(c, nil); len(got) != 1 || got[0].Kind != casework.TaskService {
		t.Errorf("after a follow-up: %+v, want only the service", got)
	}
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}

func TestApprovals(t *testing.T) {
	ctx := context.Background()
	fx, q := workFixture(t, true)
	c, err := fx.svc.Create(ctx, fx.alice, "registration", registration())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fx.svc.Close(ctx, fx.alice, c.Number, "reunified"); !errors.Is(err, casework.ErrState) {
		t.Fatalf("Close before approval = %v, want ErrState", err)
	}
	if _, err := fx.svc.RequestApproval(ctx, fx.alice, c.Number, "closure", "please"); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.svc.RequestApproval(ctx, fx.alice, c.Number, "closure", ""); !errors.Is(err, casework.ErrState) {
		t.Errorf("second request = %v, want ErrState", err)
	}
	if len(q.got) != 1 || q.got[0].To != "sam" || q.got[0].Kind != casework.NoticeApprovalRequested {
		t.Errorf("notices = %+v, want approval_requested to sam", q.got)
	}
	pend, err := fx.svc.PendingApprovals(ctx, fx.sup)
	if err != nil || len(pend) != 1 || !pend[0].CanDecide {
		t.Fatalf("PendingApprovals(sup) = %+v, %v; want one it can decide", pend, err)
	}
	if _, err := fx.svc.DecideApproval(ctx, fx.alice, c.Number, "closure", true, ""); !errors.Is(err, casework.ErrDenied) {
		t.Errorf("caseworker approves = %v, want ErrDenied", err)
	}
	if _, err := fx.svc.DecideApproval(ctx, fx.sup, c.Number, "closure", false, ""); !errors.Is(err, casework.ErrInvalid) {
		t.Errorf("reject without comment = %v, want ErrInvalid", err)
	}
	if _, err := fx.svc.DecideApproval(ctx, fx.sup, c.Number, "closure", true, "ok"); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.svc.DecideApproval(ctx, fx.sup, c.Number, "closure", true, "ok"); !errors.Is(err, casework.ErrState) {
		t.Errorf("approve twice = %v, want ErrState", err)
	}
	if n := q.got[len(q.got)-1]; n.To != "alice" || n.Outcome != casework.ApprovalApproved {
		t.Errorf("last notice = %+v, want approved to alice", n)
	}
	if pend, _ := fx.svc.PendingApprovals(ctx, fx.sup); len(pend) != 0 {
		t.Errorf("pending after the decision: %+v", pend)
	}
	closed, err := fx.svc.Close(ctx, fx.alice, c.Number, "reunified")
	if err != nil {
		t.Fatal(err)
	}
	if len(closed.Approvals) != 1 || closed.Approvals[0].DecidedBy != "sam" {
		t.Errorf("approval history = %+v", closed.Approvals)
	}
	if _, err := fx.svc.DecideApproval(ctx, fx.sup, c.Number, "closure", true, ""); !errors.Is(err, casework.ErrClosed) {
		t.Errorf("decide on a closed case = %v, want ErrClosed", err)
	}
	// A supervisor cannot approve its own request without self_approve.
	c2, _ := fx.svc.Create(ctx, fx.sup, "registration", registration())
	if _, err := fx.svc.RequestApproval(ctx, fx.sup, c2.Number, "case_plan", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.svc.DecideApproval(ctx, fx.sup, c2.Number, "case_plan", true, ""); !errors.Is(err, casework.ErrDenied) {
		t.Errorf("self-approval = %v, want ErrDenied", err)
	}
}

func TestFlags(t *testing.T) {
	ctx := context.Background()
	fx, q := workFixture(t, false)
	c, _ := fx.svc.Create(ctx, fx.alice, "registration", registration())
	if _, err := fx.svc.FlagCase(ctx, fx.sup, c.Number, "do not contact the father", "2026-12-01"); err != nil {
		t.Fatal(err)
	}
	if len(q.got) != 1 || q.got[0].To != "alice" {
		t.Errorf("notices = %+v, want case_flagged to alice", q.got)
	}
	list, err := fx.svc.Flags(ctx, fx.alice)
	if err != nil || len(list) != 1 || list[0].Message != "do not contact the father" {
		t.Fatalf("Flags = %+v, %v", list, err)
	}
	if _, err := fx.svc.ResolveFlag(ctx, fx.alice, c.Number, 0, "done"); !errors.Is(err, casework.ErrDenied) {
		t.Errorf("resolving someone else's flag without resolve_any_flag = %v, want ErrDenied", err)
	}
	if _, err := fx.svc.ResolveFlag(ctx, fx.sup, c.Number, 0, "done"); err != nil {
		t.Fatal(err)
	}
	if list, _ := fx.svc.Flags(ctx, fx.alice); len(list) != 0 {
		t.Errorf("open flags after resolve: %+v", list)
	}
	if res := verifyAudit(t, fx.store); !res.OK {
		t.Errorf("audit does not verify: %+v", res)
	}
}
