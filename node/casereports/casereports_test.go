package casereports_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/casekeys"
	"github.com/cpx-node/cpx/node/casereports"
	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/forms"
	"github.com/cpx-node/cpx/node/reporting"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/badgerstore"
	"github.com/cpx-node/cpx/node/store/memstore"
	"github.com/cpx-node/cpx/node/users"
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

// BenchmarkReport runs the managed report protection_concerns (concerns
// × sex × age group) over the same cases, made once: from the report row
// index (index: the rows kept in memory since no case changed;
// index_after_write: one case updated before each report, so the rows it
// changed are read again; cold: the rows read from the store, as for the
// first report after the node opens), reading every case as before the
// index (scan, a service whose indexes are not built), and a plain scan
// that only reads every case (plain_scan, the baseline).
// CPX_BENCH_CASES sets the number of cases (10,000 by default), and
// CPX_BENCH_STORE=badger puts them in an encrypted Badger store in a
// temporary directory instead of the in-memory store:
//
//	CPX_BENCH_CASES=100000 go test -run='^$' -bench=Report -benchtime=5x -benchmem ./node/casereports/
//	CPX_BENCH_STORE=badger CPX_BENCH_CASES=1000000 go test -run='^$' -bench='Report/(index|index_after_write|cold|plain_scan)$' -benchtime=3x -timeout=3h ./node/casereports/
func benchCases(b *testing.B, opts casework.Options) (*casework.Service, policy.Subject) {
	n := 10000
	if v := os.Getenv("CPX_BENCH_CASES"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	ctx := context.Background()
	svc := casework.New(opts)
	if _, err := svc.BuildIndexes(ctx); err != nil {
		b.Fatal(err)
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

func BenchmarkReport(b *testing.B) {
	ctx := context.Background()
	st := benchStore(b)
	opts := casework.Options{Store: st, Forms: forms.Standard(), Agency: "agency-a", Keys: casekeys.NewMemory(), IndexKey: make([]byte, 32)}
	start := time.Now()
	indexed, sup := benchCases(b, opts)
	b.Logf("cases made in %v", time.Since(start))
	scan := casework.New(opts) // indexes not built: reads every case
	d := managed(b, "protection_concerns")
	// The first report after the import reads every row: the import wrote
	// a new epoch.
	start = time.Now()
	if _, err := (&casereports.Runner{Cases: indexed}).Run(ctx, sup, d, reporting.Params{}); err != nil {
		b.Fatal(err)
	}
	b.Logf("first report after the import (every row read) in %v", time.Since(start))
	for _, bc := range []struct {
		name string
		svc  *casework.Service
	}{{"index", indexed}, {"scan", scan}} {
		b.Run(bc.name, func(b *testing.B) {
			r := &casereports.Runner{Cases: bc.svc}
			for b.Loop() {
				if _, err := r.Run(ctx, sup, d, reporting.Params{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// A case changes before each report: the row it changed is read from
	// the store again (the time of the update itself is left out).
	b.Run("index_after_write", func(b *testing.B) {
		var id string
		if err := indexed.Aggregate(ctx, sup, "pick", func(c casework.Case) error { id = c.ID; return store.ErrStop }); err != nil && !errors.Is(err, store.ErrStop) {
			b.Fatal(err)
		}
		r := &casereports.Runner{Cases: indexed}
		i := 0
		for b.Loop() {
			i++
			b.StopTimer()
			if _, err := indexed.Update(ctx, sup, id, map[string]any{"risk_level": []string{"low", "high"}[i%2]}, 0); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := r.Run(ctx, sup, d, reporting.Params{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	// A new service each time, as after the node opens: every row is read
	// from the store (the time includes BuildIndexes finding the index in
	// order).
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			svc := casework.New(opts)
			if _, err := svc.BuildIndexes(ctx); err != nil {
				b.Fatal(err)
			}
			if _, err := (&casereports.Runner{Cases: svc}).Run(ctx, sup, d, reporting.Params{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("plain_scan", func(b *testing.B) {
		for b.Loop() {
			n := 0
			if err := scan.Aggregate(ctx, sup, "scan", func(casework.Case) error { n++; return nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestIndexMatchesScan runs every managed case report, and reports by
// other dimensions, for each kind of user, from the report row index and
// by reading every case, after creates, updates, closures,
// reassignments, transfers and purges: the tables must be the same. It
// then drops the index and checks that BuildIndexes rebuilds it.
func TestIndexMatchesScan(t *testing.T) {
	ctx := context.Background()
	st, keys, fc := memstore.New(), casekeys.NewMemory(), forms.Standard()
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	opts := casework.Options{Store: st, Forms: fc, Agency: "agency-a", Keys: keys, Now: func() time.Time { return now }}
	idx := casework.New(opts)
	if _, err := idx.BuildIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	amina, omar := subject(t, "amina", "g1", "caseworker"), subject(t, "omar", "g2", "caseworker")
	sahra, dpo := subject(t, "sahra", "g1", "supervisor"), subject(t, "dina", "", "dpo")
	coord, sami := subject(t, "cora", "", "coordinator"), subject(t, "sami", "g2", "supervisor")
	if err := st.Update(ctx, func(w store.Writer) error {
		for _, u := range []policy.Subject{amina, omar, sahra, sami} {
			if _, err := users.Add(w, users.User{Name: u.User, Group: u.Group, Role: u.Role.ID}, now.Add(time.Hour)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 9))
	pick := func(l ...string) string { return l[rng.IntN(len(l))] }
	day := func(back int) string { return now.AddDate(0, 0, -rng.IntN(back)).Format(time.DateOnly) }
	var ids []string
	for i := range 80 {
		who := []policy.Subject{amina, omar, sahra}[rng.IntN(3)]
		f := map[string]any{"name_first": fmt.Sprint("C", i), "sex": pick("female", "male", "other", "unknown"),
			"risk_level": pick("low", "medium", "high"), "location_current": pick("SO0101", "SO0102", "SO0201", "SO0202", "SO01"),
			"registration_date": day(400)}
		if rng.IntN(3) > 0 {
			f["age"] = float64(rng.IntN(18))
		}
		if rng.IntN(2) == 0 {
			f["date_of_birth"] = now.AddDate(0, 0, -rng.IntN(18*365)).Format(time.DateOnly)
			if rng.IntN(8) == 0 {
				f["date_of_birth"] = now.AddDate(0, 0, -rng.IntN(18*365)).Format(time.DateOnly) // a birthday near today
			}
		}
		c, err := idx.Create(ctx, who, "registration", f)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	// change applies operation op to case id as sup.
	change := func(sup policy.Subject, id string, op int) error {
		switch op {
		case 0, 1, 2, 3:
			f := map[string]any{}
			switch rng.IntN(5) {
			case 0:
				f["protection_concerns"] = []any{pick("separated", "neglect", "caafag"), pick("child_labour", "sexual_violence")}
			case 1:
				f["assessment_requested_on"], f["date_case_plan"] = day(300), day(300)
			case 2:
				f["followup_needed_by_date"] = day(60)
				f["followup_subform_section"] = []any{map[string]any{"followup_date": day(90)}, map[string]any{"followup_date": day(90)}}
			case 3:
				f["sex"], f["age"] = pick("female", "male"), float64(rng.IntN(18))
			case 4:
				f["risk_level"], f["location_current"] = pick("low", "high"), pick("SO0201", "SO0102")
			}
			_, err := idx.Update(ctx, sup, id, f, 0)
			return err
		case 4:
			_, err := idx.Close(ctx, sup, id, "done")
			return err
		case 5:
			_, err := idx.Assign(ctx, sup, id, pick("amina", "omar", sup.User), "cover")
			return err
		case 6:
			return st.Update(ctx, func(w store.Writer) error {
				return idx.ApplyTransfer(w, id, "agency-b", pick(casework.RetainFull, casework.RetainStub), sup.User, now)
			})
		case 7:
			return idx.Purge(ctx, dpo, id, "erasure request")
		}
		return errors.ErrUnsupported
	}
	// between writes, the index (and the rows a report keeps in memory)
	// follows every change
	between := func(i int) {
		scan := casework.New(opts)
		for _, sub := range []policy.Subject{amina, sahra} {
			for _, name := range []string{"cases_by_workflow_stage", "protection_concerns", "followups"} {
				got, err1 := (&casereports.Runner{Cases: idx, Now: func() time.Time { return now }}).Run(ctx, sub, managed(t, name), reporting.Params{})
				want, err2 := (&casereports.Runner{Cases: scan, Now: func() time.Time { return now }}).Run(ctx, sub, managed(t, name), reporting.Params{})
				if err1 != nil || err2 != nil {
					t.Fatal(err1, err2)
				}
				g := tablesText(got)
				w := tablesText(want)
				if g != w {
					t.Fatalf("after %d changes: %s %s:\nindex %s\nscan  %s", i, sub.User, name, g, w)
				}
			}
		}
	}
	done := map[int]int{}
	for i := range 200 {
		if i%10 == 0 {
			between(i)
		}
		id := ids[rng.IntN(len(ids))]
		op := rng.IntN(10)
		err := errors.ErrUnsupported
		for _, sup := range []policy.Subject{sahra, sami} {
			if err = change(sup, id, op); !errors.Is(err, casework.ErrDenied) {
				break
			}
		}
		if err == nil {
			done[op]++
		}
	}
	for op := range 8 {
		if done[op] == 0 {
			t.Fatalf("operation %d never succeeded (done %v)", op, done)
		}
	}
	compare := func(t *testing.T, indexed *casework.Service) {
		t.Helper()
		scan := casework.New(opts) // indexes not built: reads every case
		ri := &casereports.Runner{Cases: indexed, Now: func() time.Time { return now }}
		rs := &casereports.Runner{Cases: scan, Now: func() time.Time { return now }}
		var runs []struct {
			d *reporting.Definition
			p reporting.Params
		}
		for _, d := range reporting.Managed() {
			if d.Record == reporting.RecordCases {
				runs = append(runs, struct {
					d *reporting.Definition
					p reporting.Params
				}{d, reporting.Params{}})
			}
		}
		d := managed(t, "protection_concerns")
		for _, p := range []reporting.Params{
			{From: now.AddDate(0, -3, 0), To: now},
			{By: []string{"age", "sex"}, Filters: []reporting.Filter{{Field: "risk_level", Values: []string{"high"}}}},
			{By: []string{"created_at", "owner_group"}},
			{By: []string{"location_current", "days_to_assessment"}},
			{By: []string{"followup_status", "case_plan_within_30_days"}},
			{By: []string{"registration_date", "status"}, From: now.AddDate(0, -6, 0)},
		} {
			runs = append(runs, struct {
				d *reporting.Definition
				p reporting.Params
			}{d, p})
		}
		for _, sub := range []policy.Subject{amina, omar, sahra, coord} {
			for _, run := range runs {
				got, err1 := ri.Run(ctx, sub, run.d, run.p)
				want, err2 := rs.Run(ctx, sub, run.d, run.p)
				if (err1 == nil) != (err2 == nil) {
					t.Fatalf("%s %s %+v: index: %v, scan: %v", sub.User, run.d.Name, run.p.By, err1, err2)
				}
				if err1 != nil {
					continue
				}
				g := tablesText(got)
				w := tablesText(want)
				if g != w {
					t.Fatalf("%s %s %+v:\nindex %s\nscan  %s", sub.User, run.d.Name, run.p.By, g, w)
				}
			}
		}
	}
	if !idx.IndexesReady() {
		t.Fatal("index not ready")
	}
	t.Run("after writes", func(t *testing.T) { compare(t, idx) })
	t.Run("rebuilt", func(t *testing.T) {
		// An upgraded node: no report rows, meta of the word index only.
		if err := st.Update(ctx, func(w store.Writer) error {
			var ks [][]byte
			if err := w.Scan([]byte("c/rr/"), store.ScanOptions{}, func(k, _ []byte) error { ks = append(ks, k); return nil }); err != nil {
				return err
			}
			for _, k := range ks {
				if err := w.Delete(k); err != nil {
					return err
				}
			}
			b, err := w.Get([]byte("c/wm"))
			if err != nil {
				return err
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				return err
			}
			delete(m, "rows")
			b, _ = json.Marshal(m)
			return w.Set([]byte("c/wm"), b)
		}); err != nil {
			t.Fatal(err)
		}
		again := casework.New(opts)
		n, err := again.BuildIndexes(ctx)
		if err != nil || n == 0 {
			t.Fatalf("BuildIndexes: got %d, %v; want the cases reindexed", n, err)
		}
		compare(t, again)
	})
}

// countingStore counts the reads of every report row (scans of c/rr/).
type countingStore struct {
	store.Store
	rowScans atomic.Int64
}

type countingReader struct {
	store.Reader
	s *countingStore
}

func (s *countingStore) View(ctx context.Context, fn func(store.Reader) error) error {
	return s.Store.View(ctx, func(r store.Reader) error { return fn(countingReader{r, s}) })
}

func (r countingReader) Scan(prefix []byte, o store.ScanOptions, fn func(k, v []byte) error) error {
	if string(prefix) == "c/rr/" {
		r.s.rowScans.Add(1)
	}
	return r.Reader.Scan(prefix, o, fn)
}

// TestRowCacheFollowsWrites interleaves writes with reports from a
// service that keeps its rows in memory between reports: after each
// write it reads again only the rows that changed (not every row), and
// every report equals one counted by reading every case. A second
// service reports from the same store (its pruning of the log changes
// the epoch under the first), and an import writes a new epoch; then
// writers and a reporter run concurrently, and the final report equals a
// fresh one; so does one after BuildIndexes prunes the log at the next
// open.
func TestRowCacheFollowsWrites(t *testing.T) {
	ctx := context.Background()
	st := &countingStore{Store: memstore.New()}
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	opts := casework.Options{Store: st, Forms: forms.Standard(), Agency: "agency-a", Keys: casekeys.NewMemory(), IndexKey: make([]byte, 32), Now: func() time.Time { return now }}
	idx, other := casework.New(opts), casework.New(opts)
	for _, s := range []*casework.Service{idx, other} {
		if _, err := s.BuildIndexes(ctx); err != nil {
			t.Fatal(err)
		}
	}
	sahra, sami := subject(t, "sahra", "g1", "supervisor"), subject(t, "sami", "g2", "supervisor")
	dpo := subject(t, "dina", "", "dpo")
	var ids []string
	rng := rand.New(rand.NewPCG(3, 5))
	for i := range 60 {
		c, err := idx.Create(ctx, []policy.Subject{sahra, sami}[i%2], "registration", map[string]any{"name_first": fmt.Sprint("C", i),
			"sex": []string{"female", "male"}[i%2], "risk_level": "low", "date_of_birth": now.AddDate(0, 0, -rng.IntN(18*365)).Format(time.DateOnly)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	// change makes one change to a random case as whichever supervisor
	// may, a purge now and then.
	change := func(rng *rand.Rand) {
		id := ids[rng.IntN(len(ids))]
		for _, sub := range []policy.Subject{sahra, sami} {
			var err error
			switch op := rng.IntN(40); {
			case op < 30:
				f := map[string]any{"risk_level": []string{"low", "medium", "high"}[rng.IntN(3)], "protection_concerns": []any{[]string{"neglect", "caafag", "separated"}[rng.IntN(3)]}}
				if op%3 == 0 {
					f["sex"], f["date_of_birth"] = "other", now.AddDate(0, 0, -rng.IntN(18*365)).Format(time.DateOnly)
				}
				_, err = idx.Update(ctx, sub, id, f, 0)
			case op < 34:
				_, err = idx.Close(ctx, sub, id, "done")
			case op < 38:
				_, err = idx.Assign(ctx, sub, id, sub.User, "cover")
			case op < 39:
				err = st.Update(ctx, func(w store.Writer) error {
					return idx.ApplyTransfer(w, id, "agency-b", casework.RetainStub, sub.User, now)
				})
			default:
				err = idx.Purge(ctx, dpo, id, "erasure request")
			}
			if !errors.Is(err, casework.ErrDenied) {
				return
			}
		}
	}
	d := managed(t, "protection_concerns")
	p := reporting.Params{By: []string{"risk_level", "sex", "age"}}
	run := func(s *casework.Service) string {
		t.Helper()
		rep, err := (&casereports.Runner{Cases: s, Now: func() time.Time { return now }}).Run(ctx, sahra, d, p)
		if err != nil {
			t.Fatal(err)
		}
		return tablesText(rep)
	}
	truth := func() string { return run(casework.New(opts)) } // indexes not built: reads every case
	reports := 0
	before := st.rowScans.Load()
	for i := range 1500 { // past rowLogPrune: the log is pruned on the way
		change(rng)
		if i == 700 { // an import writes a new epoch, not a log entry per case
			var rows []casework.ImportRow
			for j := range 5 {
				rows = append(rows, casework.ImportRow{Row: int64(j), Form: "registration", Fields: map[string]any{"name_first": fmt.Sprint("I", j), "sex": "male", "risk_level": "high"}})
			}
			if _, err := idx.Import(ctx, sahra, rows, false); err != nil {
				t.Fatal(err)
			}
		}
		if i%5 == 0 {
			reports++
			if got, want := run(idx), truth(); got != want {
				t.Fatalf("after %d changes:\ncached %s\nscan   %s", i+1, got, want)
			}
		}
		if i%200 == 0 {
			run(other)
		}
	}
	t.Logf("%d reads of every row in %d reports", st.rowScans.Load()-before, reports)
	if n := st.rowScans.Load() - before; n > int64(reports/10) {
		t.Errorf("got %d reads of every row in %d reports after writes, want the changed rows read, not every row", n, reports)
	}
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 11))
			for range 300 {
				change(rng)
			}
		})
	}
	stop := make(chan struct{})
	var reporter sync.WaitGroup
	reporter.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				if _, err := (&casereports.Runner{Cases: idx, Now: func() time.Time { return now }}).Run(ctx, sahra, d, p); err != nil {
					t.Error(err)
					return
				}
			}
		}
	})
	wg.Wait()
	close(stop)
	reporter.Wait()
	if got, want := run(idx), truth(); got != want {
		t.Fatalf("after concurrent writes:\ncached %s\nscan   %s", got, want)
	}
	if _, err := other.BuildIndexes(ctx); err != nil { // prunes the whole log
		t.Fatal(err)
	}
	change(rng)
	if got, want := run(idx), truth(); got != want {
		t.Fatalf("after the log was pruned:\ncached %s\nscan   %s", got, want)
	}
}

// tablesText renders a report's tables, headers and every count, for
// comparing two runs.
func tablesText(rep *reporting.Report) string {
	var b strings.Builder
	for _, t := range rep.Tables {
		h, _ := json.Marshal(t)
		fmt.Fprintf(&b, "%s cells %v row totals %v col totals %v total %v\n", h, t.Cells, t.RowTotals, t.ColTotals, t.Total)
	}
	return b.String()
}

// TestKeepReportRows: on a node that writes without reporting, the
// upkeep keeps the rows in memory current and prunes the log, without
// reading every row again; the next report equals a scan.
func TestKeepReportRows(t *testing.T) {
	ctx := context.Background()
	st := &countingStore{Store: memstore.New()}
	opts := casework.Options{Store: st, Forms: forms.Standard(), Agency: "agency-a", Keys: casekeys.NewMemory(), IndexKey: make([]byte, 32)}
	svc := casework.New(opts)
	if _, err := svc.BuildIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	sahra := subject(t, "sahra", "g1", "supervisor")
	c, err := svc.Create(ctx, sahra, "registration", map[string]any{"name_first": "A", "sex": "female", "risk_level": "low"})
	if err != nil {
		t.Fatal(err)
	}
	d := managed(t, "protection_concerns")
	run := func(s *casework.Service) string {
		t.Helper()
		rep, err := (&casereports.Runner{Cases: s}).Run(ctx, sahra, d, reporting.Params{By: []string{"risk_level", "sex"}})
		if err != nil {
			t.Fatal(err)
		}
		return tablesText(rep)
	}
	run(svc) // the rows are in memory
	for i := range 1100 {
		if _, err := svc.Update(ctx, sahra, c.ID, map[string]any{"risk_level": []string{"medium", "high"}[i%2]}, 0); err != nil {
			t.Fatal(err)
		}
	}
	logLen := func() int {
		n := 0
		if err := st.View(ctx, func(r store.Reader) error {
			return r.Scan([]byte("c/rl/"), store.ScanOptions{}, func(_, _ []byte) error { n++; return nil })
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := logLen(); n < 1100 {
		t.Fatalf("got %d log entries, want one a write", n)
	}
	scans := st.rowScans.Load()
	kctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { svc.KeepReportRows(kctx, 5*time.Millisecond) })
	for deadline := time.Now().Add(10 * time.Second); logLen() > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	if n := logLen(); n > 0 {
		t.Fatalf("got %d log entries left, want the log pruned", n)
	}
	if n := st.rowScans.Load() - scans; n != 0 {
		t.Errorf("the upkeep read every row %d times, want only the changed one", n)
	}
	if got, want := run(svc), run(casework.New(opts)); got != want {
		t.Fatalf("after the upkeep:\ncached %s\nscan   %s", got, want)
	}
}

// TestTamperedIndexRebuilt: a report row moved to another case, a report
// row cut short, or an index meta record that does not decode, found when
// the node opens, is never counted: the index is filed again from the
// cases (audited), and reports and name searches answer as before.
func TestTamperedIndexRebuilt(t *testing.T) {
	ctx := context.Background()
	sahra := subject(t, "sahra", "g1", "supervisor")
	d := managed(t, "protection_concerns")
	tests := []struct {
		name   string
		tamper func(w store.Writer, rows map[string][]byte) error
	}{
		{"row moved to another case", func(w store.Writer, rows map[string][]byte) error {
			var keys []string
			for k := range rows {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			return w.Set([]byte(keys[0]), rows[keys[1]])
		}},
		{"row cut short", func(w store.Writer, rows map[string][]byte) error {
			for k, v := range rows {
				return w.Set([]byte(k), v[:len(v)-1])
			}
			return nil
		}},
		{"meta record garbled", func(w store.Writer, _ map[string][]byte) error {
			return w.Set([]byte("c/wm"), []byte("{not json"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := memstore.New()
			opts := casework.Options{Store: st, Forms: forms.Standard(), Agency: "agency-a", Keys: casekeys.NewMemory(), IndexKey: make([]byte, 32)}
			svc := casework.New(opts)
			if _, err := svc.BuildIndexes(ctx); err != nil {
				t.Fatal(err)
			}
			for i, risk := range []string{"low", "high", "high", "medium", "high", "low"} {
				if _, err := svc.Create(ctx, sahra, "registration", map[string]any{"name_first": fmt.Sprint("Child", i), "name_last": "Warsame", "sex": []string{"female", "male"}[i%2], "risk_level": risk}); err != nil {
					t.Fatal(err)
				}
			}
			run := func(s *casework.Service) string {
				t.Helper()
				rep, err := (&casereports.Runner{Cases: s}).Run(ctx, sahra, d, reporting.Params{By: []string{"risk_level", "sex"}})
				if err != nil {
					t.Fatal(err)
				}
				return tablesText(rep)
			}
			search := func(s *casework.Service) int {
				t.Helper()
				got, err := s.List(ctx, sahra, casework.Filter{Query: "warsame"})
				if err != nil {
					t.Fatal(err)
				}
				return len(got)
			}
			want, wantFound := run(svc), search(svc)
			rows := map[string][]byte{}
			err := st.Update(ctx, func(w store.Writer) error {
				if err := w.Scan([]byte("c/rr/"), store.ScanOptions{}, func(k, v []byte) error {
					rows[string(k)] = slices.Clone(v)
					return nil
				}); err != nil {
					return err
				}
				return tt.tamper(w, rows)
			})
			if err != nil {
				t.Fatal(err)
			}
			reopened := casework.New(opts) // the node opens again
			n, err := reopened.BuildIndexes(ctx)
			if err != nil || n != 6 {
				t.Fatalf("BuildIndexes on the tampered index: got %d cases filed, %v; want 6, nil", n, err)
			}
			if got := run(reopened); got != want {
				t.Errorf("report after the rebuild:\ngot  %s\nwant %s", got, want)
			}
			if got := search(reopened); got != wantFound {
				t.Errorf("name search after the rebuild: got %d cases, want %d", got, wantFound)
			}
			if n, err := casework.New(opts).BuildIndexes(ctx); err != nil || n != 0 {
				t.Errorf("BuildIndexes after the rebuild: got %d cases filed, %v; want 0 (in order)", n, err)
			}
		})
	}
}

// benchStore is a memstore, or with CPX_BENCH_STORE=badger a Badger store
// in a directory of the benchmark's own.
func benchStore(b *testing.B) store.Store {
	b.Helper()
	if os.Getenv("CPX_BENCH_STORE") != "badger" {
		return memstore.New()
	}
	bs, err := badgerstore.Open(context.Background(), badgerstore.Options{Dir: b.TempDir(), EncryptionKey: make([]byte, 32)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bs.Close() })
	return bs
}
