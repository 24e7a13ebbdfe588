package casework_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/forms"
	"github.com/cpx-node/cpx/node/notify"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/memstore"
	"github.com/cpx-node/cpx/node/users"
	"github.com/cpx-node/cpx/policy"
)

// The daily digest is queued once per user and day, through a restart,
// only for users with tasks, and not for a user who turned it off.
func TestDigestOncePerUserAndDay(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	clock := now
	newService := func() *casework.Service {
		return casework.New(casework.Options{Store: st, Forms: forms.Standard(), Agency: "agency-a", NumberPrefix: "AA",
			Now: func() time.Time { return clock }, Notifier: notify.NewQueue(func() time.Time { return clock })})
	}
	svc := newService()
	err := st.Update(ctx, func(w store.Writer) error {
		for _, u := range []users.User{{Name: "alice", Role: "caseworker", Group: "north"}, {Name: "bob", Role: "caseworker", Group: "north"},
			{Name: "idle", Role: "caseworker", Group: "north"}, {Name: "quiet", Role: "caseworker", Group: "north", NotifyOff: []string{casework.NoticeDigest}}} {
			if _, err := users.Add(w, u, now.Add(time.Hour)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	create := func(user, field, due string) {
		t.Helper()
		f := registration()
		f[field] = due
		if _, err := svc.Create(ctx, subject(t, user, "north", "caseworker"), "registration", f); err != nil {
			t.Fatal(err)
		}
	}
	create("alice", "assessment_due_date", "2026-11-01") // 24 days late
	create("alice", "case_plan_due_date", "2026-11-28")  // in 3 days
	create("bob", "case_plan_due_date", "2026-11-27")
	create("bob", "assessment_due_date", "2027-01-15") // beyond the window
	create("quiet", "assessment_due_date", "2026-11-02")

	queued := func() int64 {
		t.Helper()
		s, err := notify.ReadStatus(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		return s.Queued
	}
	n, err := svc.QueueDigests(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 || queued() != 2 {
		t.Fatalf("first run: %d users with tasks, %d queued; want 3 and 2 (quiet turned digests off, idle has no task)", n, queued())
	}
	// The same day again, and after a restart: nothing new.
	if _, err := svc.QueueDigests(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if _, err := newService().QueueDigests(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if got := queued(); got != 2 {
		t.Errorf("after a second run and a restart: %d queued, want 2", got)
	}
	// The next day: a new digest each.
	clock = clock.Add(24 * time.Hour)
	if _, err := newService().QueueDigests(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if got := queued(); got != 4 {
		t.Errorf("the next day: %d queued, want 4", got)
	}
}

func TestDigestContent(t *testing.T) {
	ctx := context.Background()
	fx, q := workFixture(t, false)
	f := registration()
	f["assessment_due_date"] = "2026-11-01"
	f["case_plan_due_date"] = "2026-11-30"
	c, err := fx.svc.Create(ctx, fx.alice, "registration", f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fx.svc.QueueDigests(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if len(q.got) != 1 {
		t.Fatalf("queued %+v, want one digest", q.got)
	}
	n := q.got[0]
	want := casework.Digest{Date: "2026-11-25", Overdue: 1, Upcoming: 1, Items: []casework.DigestItem{
		{CaseNumber: c.Number, Kind: casework.TaskAssessment, Due: "2026-11-01", DaysLate: 24},
		{CaseNumber: c.Number, Kind: casework.TaskCasePlan, Due: "2026-11-30", DaysLate: -5},
	}}
	if n.ID != casework.DigestID("alice", "2026-11-25") || n.To != "alice" || n.Digest == nil || fmtDigest(*n.Digest) != fmtDigest(want) {
		t.Errorf("digest = %+v %+v, want id digest/alice/2026-11-25 and %+v", n, n.Digest, want)
	}
}

func fmtDigest(d casework.Digest) string { return fmt.Sprintf("%+v", d) }

func TestDigestDue(t *testing.T) {
	nairobi, err := time.LoadLocation("Africa/Nairobi") // UTC+3
	if err != nil {
		t.Skip(err)
	}
	at := 7*time.Hour + 30*time.Minute
	for _, tt := range []struct {
		now  time.Time
		want string
	}{
		{time.Date(2026, 12, 6, 4, 29, 0, 0, time.UTC), ""},
		{time.Date(2026, 12, 6, 4, 30, 0, 0, time.UTC), "2026-12-06"},
		{time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC), ""}, // 01:00 on the 7th there
	} {
		if got := casework.DigestDue(tt.now, at, nairobi); got != tt.want {
			t.Errorf("DigestDue(%s) = %q, want %q", tt.now, got, tt.want)
		}
	}
}

// A confirmed tracing match tells the case's owner; a notice to a group
// reaches its enabled members whose role reads exchanges, not the actor.
func TestTracingMatchAndGroupNotices(t *testing.T) {
	ctx := context.Background()
	fx, q := workFixture(t, false)
	c, err := fx.svc.Create(ctx, fx.alice, "registration", registration())
	if err != nil {
		t.Fatal(err)
	}
	err = fx.store.Update(ctx, func(w store.Writer) error {
		_, _, err := fx.svc.LinkTrace(w, c.ID, "TR-000001", true, "sam", now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(q.got) != 1 || q.got[0].Kind != casework.NoticeTracingMatch || q.got[0].To != "alice" || q.got[0].CaseNumber != c.Number {
		t.Fatalf("notices after a confirmed match = %+v, want one tracing_match to alice", q.got)
	}
	q.got = nil
	err = fx.store.Update(ctx, func(w store.Writer) error {
		return fx.svc.NotifyGroup(w, "north", policy.ResourceExchange, casework.Notice{Kind: casework.NoticeReferralReceived, Type: "referral", Exchange: "x1", Actor: "agency-b", At: now})
	})
	if err != nil {
		t.Fatal(err)
	}
	var to []string
	for _, n := range q.got {
		to = append(to, n.To)
	}
	if fmt.Sprint(to) != "[alice bob sam]" {
		t.Errorf("group notice went to %v, want [alice bob sam] (not the disabled user, not another group)", to)
	}
}

func TestParseNoticeKinds(t *testing.T) {
	got, err := casework.ParseNoticeKinds([]string{"digest", "flag", " Referral", "digest"})
	if want := "[case_flagged digest referral_answered referral_received]"; err != nil || fmt.Sprint(got) != want {
		t.Errorf("ParseNoticeKinds = %v, %v; want %s", got, err, want)
	}
	if _, err := casework.ParseNoticeKinds([]string{"sms"}); err == nil {
		t.Error("an unknown kind: no error")
	}
}
