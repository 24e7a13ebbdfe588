package casereports_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/casereports"
	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/forms"
	"github.com/cpx-node/cpx/node/reporting"
	"github.com/cpx-node/cpx/node/store/memstore"
	"github.com/cpx-node/cpx/policy"
)

func subject(t testing.TB, user, group, role string) policy.Subject {
	t.Helper()
	r, ok := policy.RoleByID(policy.StandardRoles(), role)
	if !ok {
		t.Fatalf("no role %q", role)
	}
	return policy.Subject{User: user, Group: group, Agency: "agency-a", Role: r}
}

func TestManagedReportsCheck(t *testing.T) {
	fc := forms.Standard()
	ms := reporting.Managed()
	if len(ms) < 8 {
		t.Fatalf("got %d managed reports, want at least 8", len(ms))
	}
	r := &casereports.Runner{Cases: casework.New(casework.Options{Store: memstore.New(), Forms: fc, Agency: "agency-a"})}
	for _, d := range ms {
		s, err := r.Schema(d.Record)
		if err != nil {
			t.Fatalf("%s: %v", d.Name, err)
		}
		if err := d.Check(s); err != nil {
			t.Errorf("%s: %v", d.Name, err)
		}
		if d.Description == "" || d.Title == "" {
			t.Errorf("%s: no title or description", d.Name)
		}
	}
}

func managed(t testing.TB, name string) *reporting.Definition {
	for _, d := range reporting.Managed() {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("no managed report %q", name)
	return nil
}

// TestScope checks that a report counts what the user may list: a
// caseworker their own cases, a supervisor their group's.
func TestScope(t *testing.T) {
	ctx := context.Background()
	svc := casework.New(casework.Options{Store: memstore.New(), Forms: forms.Standard(), Agency: "agency-a"})
	amina, omar := subject(t, "amina", "g1", "caseworker"), subject(t, "omar", "g2", "caseworker")
	sup := subject(t, "sahra", "g1", "supervisor")
	for i, who := range []policy.Subject{amina, amina, amina, omar, omar} {
		if _, err := svc.Create(ctx, who, "registration", map[string]any{"name_first": fmt.Sprint("C", i), "sex": "female", "age": "7"}); err != nil {
			t.Fatal(err)
		}
	}
	r := &casereports.Runner{Cases: svc}
	for _, tc := range []struct {
		sub  policy.Subject
		want int
	}{{amina, 3}, {omar, 2}, {sup, 3}} {
		rep, err := r.Run(ctx, tc.sub, managed(t, "cases_by_workflow_stage"), reporting.Params{})
		if err != nil {
			t.Fatal(err)
		}
		if got := rep.Tables[0].Total.Count; got != tc.want {
			t.Errorf("%s: got total %d, want %d", tc.sub.User, got, tc.want)
		}
	}
	admin := subject(t, "ali", "", "agency_admin")
	if _, err := r.Run(ctx, admin, managed(t, "cases_by_workflow_stage"), reporting.Params{}); err == nil {
		t.Error("an administrator, who may not list cases, ran a case report")
	}
}

func TestDerived(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	c := casework.Case{Status: "open", Stage: "case_plan", CreatedAt: now.AddDate(0, -2, 0), Fields: map[string]any{
		"registration_date": "2026-01-01", "assessment_requested_on": "2026-01-04", "date_case_plan": "2026-01-20",
		"followup_needed_by_date": "2026-02-10",
	}}
	r := casereports.CaseRecord(c, now)
	for k, want := range map[string]any{
		casereports.FieldDaysToAssessment: 3.0, casereports.FieldDaysToCasePlan: 19.0,
		casereports.FieldCasePlanWithin30Days: true, casereports.FieldFollowupStatus: casereports.FollowupOverdue,
	} {
		if r[k] != want {
			t.Errorf("%s: got %v, want %v", k, r[k], want)
		}
	}
}

// The benchmarks below run the managed report protection_concerns
// (concerns × sex × age group) from the report row index
// (BenchmarkReport), the same report reading every case
// (BenchmarkReportScan, the indexes not built), and a plain scan that
// only reads every case (BenchmarkScan, the baseline), over the same
// cases, in one invocation:
//
//	CPX_BENCH_CASES=100000 go test -run='^$' -bench='Report|Scan' -benchtime=5x ./node/casereports/
func benchCases(b *testing.B, indexed bool) (*casework.Service, policy.Subject) {
	n := 10000
	if v := os.Getenv("CPX_BENCH_CASES"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	ctx := context.Background()
	svc := casework.New(casework.Options{Store: memstore.New(), Forms: forms.Standard(), Agency: "agency-a"})
	if indexed {
		if _, err := svc.BuildIndexes(ctx); err != nil {
			b.Fatal(err)
		}
	}
	sup := subject(b, "sahra", "g1", "supervisor")
	sexes := []string{"female", "male", "other", "unknown"}
	concerns := []string{"separated", "neglect", "child_labour,psychosocial_distress", "caafag", "sexual_violence,neglect"}
	rows := make([]casework.ImportRow, 0, 1000)
	// Births spread over 18 years, the age as recorded at registration.
	today := time.Now().UTC().Truncate(24 * time.Hour)
	for i := range n {
		dob := today.AddDate(0, 0, -(i*7919)%(18*365))
		age := today.Year() - dob.Year()
		if today.YearDay() < dob.YearDay() {
			age--
		}
		rows = append(rows, casework.ImportRow{Row: int64(i), Form: "registration", Fields: map[string]any{
			"name_first": fmt.Sprint("Child", i), "sex": sexes[i%4], "age": strconv.Itoa(age),
			"protection_concerns": concerns[i%5], "risk_level": "high", "location_current": "SO0101",
			"date_of_birth": dob.Format(time.DateOnly),
		}})
		if len(rows) == cap(rows) || i == n-1 {
			if _, err := svc.Import(ctx, sup, rows, false); err != nil {
				b.Fatal(err)
			}
			rows = rows[:0]
		}
	}
	return svc, sup
}

func BenchmarkReport(b *testing.B) { benchReport(b, true) }

func BenchmarkReportScan(b *testing.B) { benchReport(b, false) }

func benchReport(b *testing.B, indexed bool) {
	svc, sup := benchCases(b, indexed)
	r := &casereports.Runner{Cases: svc}
	d := managed(b, "protection_concerns")
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.Run(context.Background(), sup, d, reporting.Params{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkScan(b *testing.B) {
	svc, sup := benchCases(b, false)
	b.ResetTimer()
	for b.Loop() {
		n := 0
		if err := svc.Aggregate(context.Background(), sup, "scan", func(casework.Case) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
