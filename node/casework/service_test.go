package casework_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/forms"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/badgerstore"
	"github.com/cpx-node/cpx/node/store/memstore"
	"github.com/cpx-node/cpx/policy"
)

var now = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func subject(t testing.TB, user, group, role string) policy.Subject {
	t.Helper()
	r, ok := policy.RoleByID(policy.StandardRoles(), role)
	if !ok {
		t.Fatalf("no role %q", role)
	}
	return policy.Subject{User: user, Group: group, Agency: "agency-a", Role: r}
}

type fixture struct {
	store                              store.Store
	svc                                *casework.Service
	alice, bob, sup, coord, admin, dpo policy.Subject
}

func newFixture(t testing.TB, s store.Store) *fixture {
	return &fixture{
		store: s,
		svc:   casework.New(casework.Options{Store: s, Forms: forms.Standard(), Agency: "agency-a", NumberPrefix: "AA", Now: func() time.Time { return now }}),
		alice: subject(t, "alice", "north", "caseworker"),
		bob:   subject(t, "bob", "north", "caseworker"),
		sup:   subject(t, "sam", "north", "supervisor"),
		coord: subject(t, "cora", "", "coordinator"),
		admin: subject(t, "admin", "", "agency_admin"),
		dpo:   subject(t, "dana", "", "dpo"),
	}
}

// stores runs f against the in-memory twin and against real Badger.
func stores(t *testing.T, f func(t *testing.T, fx *fixture)) {
	t.Run("memstore", func(t *testing.T) { f(t, newFixture(t, memstore.New())) })
	t.Run("badger", func(t *testing.T) {
		s, err := badgerstore.Open(context.Background(), badgerstore.Options{Dir: t.TempDir(), EncryptionKey: make([]byte, 32)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		f(t, newFixture(t, s))
	})
}

func registration() map[string]any {
	return map[string]any{
		"name_first": "Amina", "name_last": "Hassan", "sex": "female", "age": "9",
		"risk_level": "high", "consent_for_services": "yes", "disclosure_other_orgs": true,
	}
}

func verifyAudit(t *testing.T, s store.Store) audit.Result {
	t.Helper()
	var res audit.Result
	if err := s.View(context.Background(), func(r store.Reader) error {
		var err error
		res, err = audit.Verify(r)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !res.OK {
		t.Fatalf("audit chain broken: %s", res.Problem)
	}
	return res
}

func TestLifecycle(t *testing.T) {
	stores(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		c, err := fx.svc.Create(ctx, fx.alice, "registration", registration())
		if err != nil {
			t.Fatal(err)
		}
		if c.Number != "AA-000001" || c.Status != casework.StatusOpen || c.Stage != casework.StageNew || c.Owner != "alice" || c.OwnerGroup != "north" || c.Version != 1 {
			t.Errorf("got %+v, want AA-000001 open/new owned by alice@north at version 1", c)
		}
		if c.Fields["age"] != 9.0 || c.RiskLevel() != "high" || !c.Consent().ForServices || !c.Consent().DisclosureOtherOrgs || c.Consent().ForTracing {
			t.Errorf("got fields %v consent %+v, want coerced age 9, risk high, services+disclosure consent only", c.Fields, c.Consent())
		}
		got, err := fx.svc.Get(ctx, fx.alice, "AA-000001")
		if err != nil || got.ID != c.ID {
			t.Fatalf("get by number: got %v, %v", got.ID, err)
		}
		u, err := fx.svc.Update(ctx, fx.alice, c.ID, map[string]any{"age": 10, "name_nickname": "Mina", "assessment_requested_on": "2026-11-20", "risk_level": nil}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if u.Version != 2 || u.Stage != casework.StageAssessment || u.Fields["age"] != 10.0 || u.RiskLevel() != "" {
			t.Errorf("after update got version %d stage %s fields %v", u.Version, u.Stage, u.Fields)
		}
		if _, err := fx.svc.Update(ctx, fx.alice, c.ID, map[string]any{"age": 11}, 1); !errors.Is(err, casework.ErrConflict) {
			t.Errorf("stale update: got %v, want ErrConflict", err)
		}
		if same, err := fx.svc.Update(ctx, fx.alice, c.ID, map[string]any{"age": "10"}, 0); err != nil || same.Version != 2 {
			t.Errorf("no-op update: got version %d, %v; want 2, nil", same.Version, err)
		}
		if _, err := fx.svc.Close(ctx, fx.alice, c.ID, " "); !errors.Is(err, casework.ErrInvalid) {
			t.Errorf("close without reason: got %v, want ErrInvalid", err)
		}
		cl, err := fx.svc.Close(ctx, fx.alice, c.ID, "reunified with mother")
		if err != nil || cl.Status != casework.StatusClosed || cl.Stage != casework.StageClosed || cl.Version != 3 {
			t.Fatalf("close: got %+v, %v", cl, err)
		}
		if _, err := fx.svc.Update(ctx, fx.alice, c.ID, map[string]any{"age": 12}, 0); !errors.Is(err, casework.ErrClosed) {
			t.Errorf("update closed: got %v, want ErrClosed", err)
		}
		h, err := fx.svc.History(ctx, fx.alice, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, v := range h {
			lines = append(lines, fmt.Sprintf("%d %s %s %v", v.Version, v.Actor, v.Action, v.ChangedFields()))
		}
		want := []string{
			"1 alice create [age consent_for_services disclosure_other_orgs name_first name_last risk_level sex]",
			"2 alice update [age assessment_requested_on name_nickname risk_level]",
			"3 alice close []",
		}
		if !slices.Equal(lines, want) {
			t.Errorf("history:\ngot  %q\nwant %q", lines, want)
		}
		verifyAudit(t, fx.store)
	})
}

func TestAccess(t *testing.T) {
	stores(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		c, err := fx.svc.Create(ctx, fx.alice, "registration", registration())
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			sub  policy.Subject
			op   func(policy.Subject) error
			want error
		}{
			{"caseworker reads another's case", fx.bob, func(s policy.Subject) error { _, err := fx.svc.Get(ctx, s, c.ID); return err }, casework.ErrDenied},
			{"caseworker updates another's case", fx.bob, func(s policy.Subject) error {
				_, err := fx.svc.Update(ctx, s, c.ID, map[string]any{"age": 3}, 0)
				return err
			}, casework.ErrDenied},
			{"supervisor of the group reads", fx.sup, func(s policy.Subject) error { _, err := fx.svc.Get(ctx, s, c.ID); return err }, nil},
			{"supervisor of the group reads history", fx.sup, func(s policy.Subject) error { _, err := fx.svc.History(ctx, s, c.ID); return err }, nil},
			{"coordinator reads", fx.coord, func(s policy.Subject) error { _, err := fx.svc.Get(ctx, s, c.ID); return err }, nil},
			{"coordinator updates", fx.coord, func(s policy.Subject) error {
				_, err := fx.svc.Update(ctx, s, c.ID, map[string]any{"age": 3}, 0)
				return err
			}, casework.ErrDenied},
			{"coordinator creates", fx.coord, func(s policy.Subject) error {
				_, err := fx.svc.Create(ctx, s, "registration", registration())
				return err
			}, casework.ErrDenied},
			{"admin reads a case", fx.admin, func(s policy.Subject) error { _, err := fx.svc.Get(ctx, s, c.ID); return err }, casework.ErrDenied},
			{"admin lists cases", fx.admin, func(s policy.Subject) error { _, err := fx.svc.List(ctx, s, casework.Filter{}); return err }, casework.ErrDenied},
			{"dpo reads", fx.dpo, func(s policy.Subject) error { _, err := fx.svc.Get(ctx, s, c.ID); return err }, nil},
			{"unknown case", fx.alice, func(s policy.Subject) error { _, err := fx.svc.Get(ctx, s, "nope"); return err }, casework.ErrNotFound},
		}
		for _, tt := range tests {
			err := tt.op(tt.sub)
			if (tt.want == nil && err != nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
			}
		}
		// Every refusal above left an audit entry, and the chain holds.
		var denied int
		fx.store.View(ctx, func(r store.Reader) error {
			return audit.Scan(r, func(e audit.Entry) error {
				if e.Outcome == audit.Denied {
					denied++
				}
				return nil
			})
		})
		if denied != 6 {
			t.Errorf("got %d denied audit entries, want 6", denied)
		}
		verifyAudit(t, fx.store)
	})
}

func TestHiddenFieldsNeverLeave(t *testing.T) {
	fx := newFixture(t, memstore.New())
	ctx := context.Background()
	c, err := fx.svc.Create(ctx, fx.alice, "registration", registration())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fx.svc.Update(ctx, fx.alice, c.ID, map[string]any{"name_other": "Mina Hassan Ali"}, 0); err != nil {
		t.Fatal(err)
	}
	check := func(where string, fields map[string]any) {
		for k := range fields {
			if fx.coord.Role.Hides(fx.svc.Forms(), k) {
				t.Errorf("%s: coordinator sees hidden field %q", where, k)
			}
		}
	}
	got, err := fx.svc.Get(ctx, fx.coord, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	check("get", got.Fields)
	if got.Fields["sex"] != "female" {
		t.Errorf("coordinator: got sex %v, want female (not hidden)", got.Fields["sex"])
	}
	list, err := fx.svc.List(ctx, fx.coord, casework.Filter{})
	if err != nil || len(list) != 1 {
		t.Fatalf("list: got %d cases, %v", len(list), err)
	}
	check("list", list[0].Fields)
	if q, _ := fx.svc.List(ctx, fx.coord, casework.Filter{Query: "amina"}); len(q) != 0 {
		t.Errorf("coordinator found the case by a hidden name: %d results", len(q))
	}
	if q, _ := fx.svc.List(ctx, fx.alice, casework.Filter{Query: "AMINA"}); len(q) != 1 {
		t.Errorf("owner query by name: got %d results, want 1", len(q))
	}
	if err := fx.svc.Export(ctx, fx.coord, "", func(casework.Case) error { return nil }); !errors.Is(err, casework.ErrDenied) {
		t.Errorf("coordinator export: got %v, want ErrDenied", err)
	}
	if _, err := fx.svc.Update(ctx, fx.coord, c.ID, map[string]any{"name_first": "X"}, 0); !errors.Is(err, casework.ErrDenied) {
		t.Errorf("coordinator writes hidden field: got %v, want ErrDenied", err)
	}
}

func TestValidationAndLimits(t *testing.T) {
	fx := newFixture(t, memstore.New())
	ctx := context.Background()
	tests := []struct {
		name   string
		form   string
		fields map[string]any
		want   string
	}{
		{"unknown field", "registration", map[string]any{"name_first": "A", "sex": "male", "shoe_size": 3}, "shoe_size"},
		{"wrong type", "registration", map[string]any{"name_first": "A", "sex": "male", "age": "nine"}, `"age"`},
		{"not in lookup", "registration", map[string]any{"name_first": "A", "sex": "robot"}, "lookup"},
		{"missing required", "registration", map[string]any{"name_first": "A", "services_section": []any{map[string]any{"service_notes": "x"}}}, "service_type"},
		{"date in future", "registration", map[string]any{"name_first": "A", "sex": "male", "date_of_birth": "2099-01-01"}, "not_future"},
		{"unknown form", "nonsense", map[string]any{"name_first": "A"}, "nonsense"},
	}
	for _, tt := range tests {
		_, err := fx.svc.Create(ctx, fx.alice, tt.form, tt.fields)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error mentioning %q", tt.name, err, tt.want)
		}
	}
	small := casework.New(casework.Options{Store: fx.store, Forms: forms.Standard(), Agency: "agency-a", MaxRecordBytes: 2048})
	if _, err := small.Create(ctx, fx.alice, "registration", map[string]any{"name_first": "A", "sex": "male", "address_current": strings.Repeat("x", 4000)}); !errors.Is(err, casework.ErrTooLarge) {
		t.Errorf("oversize record: got %v, want ErrTooLarge", err)
	}
	if n, _ := fx.svc.Count(ctx); n != 0 {
		t.Errorf("got %d cases after only failures, want 0", n)
	}
	verifyAudit(t, fx.store)
}

func TestImport(t *testing.T) {
	stores(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		rows := []casework.ImportRow{
			{Row: 2, Fields: map[string]any{"name_first": "Ali", "sex": "male", "age": "7"}},
			{Row: 3, Fields: map[string]any{"name_first": "Sara", "sex": "dragon"}},
			{Row: 4, Form: "registration", Fields: map[string]any{"name_first": "Omar", "sex": "male", "consent_for_tracing": "yes"}},
			{Row: 5, Fields: map[string]any{"sex": "female", "services_section": []any{map[string]any{"service_notes": "x"}}}}, // a service without its type
		}
		dry, err := fx.svc.Import(ctx, fx.sup, rows, true)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := fx.svc.Count(ctx); n != 0 {
			t.Errorf("dry run created %d cases", n)
		}
		res, err := fx.svc.Import(ctx, fx.sup, rows, false)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			ok := r.Err == nil
			if ok != (dry[i].Err == nil) {
				t.Errorf("row %d: dry run and import disagree: %v vs %v", r.Row, dry[i].Err, r.Err)
			}
			wantOK := r.Row == 2 || r.Row == 4
			if ok != wantOK || (ok && r.Number == "") {
				t.Errorf("row %d: got %+v, want ok=%v", r.Row, r, wantOK)
			}
		}
		if n, _ := fx.svc.Count(ctx); n != 2 {
			t.Errorf("got %d cases, want 2", n)
		}
		if _, err := fx.svc.Import(ctx, fx.alice, rows, false); !errors.Is(err, casework.ErrDenied) {
			t.Errorf("caseworker import: got %v, want ErrDenied", err)
		}
		verifyAudit(t, fx.store)
	})
}

// TestImportResumable: batches of a named import record their progress;
// a batch sent again and an import run again from the start create no case
// twice, another user's import of the same id is another import, and a bad
// id is refused.
func TestImportResumable(t *testing.T) {
	stores(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		row := func(n int64) casework.ImportRow {
			f := map[string]any{"name_first": fmt.Sprintf("Child%d", n), "sex": "female"}
			if n == 3 {
				f["sex"] = "dragon"
			}
			return casework.ImportRow{Row: n, Fields: f}
		}
		batch := func(from, to int64) []casework.ImportRow {
			var rows []casework.ImportRow
			for n := from; n <= to; n++ {
				rows = append(rows, row(n))
			}
			return rows
		}
		count := func(want int) {
			t.Helper()
			if n, _ := fx.svc.Count(ctx); n != int64(want) {
				t.Errorf("got %d cases, want %d", n, want)
			}
		}
		if _, p, err := fx.svc.ImportBatch(ctx, fx.sup, "imp-1", nil, false); err != nil || p != (casework.ImportProgress{}) {
			t.Fatalf("progress of a new import: got %+v, %v, want zero, nil", p, err)
		}
		res, p, err := fx.svc.ImportBatch(ctx, fx.sup, "imp-1", batch(1, 4), false)
		if err != nil {
			t.Fatal(err)
		}
		if want := (casework.ImportProgress{LastRow: 4, Accepted: 3, Rejected: 1}); p != want {
			t.Errorf("progress after the first batch: got %+v, want %+v", p, want)
		}
		if res[2].Err == nil || res[2].Skipped {
			t.Errorf("row 3: got %+v, want rejected", res[2])
		}
		// The same batch again (its answer was lost), then the whole import
		// again from the start.
		res, p, err = fx.svc.ImportBatch(ctx, fx.sup, "imp-1", batch(1, 4), false)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if !r.Skipped || r.Err != nil || r.ID != "" {
				t.Errorf("row %d sent again: got %+v, want skipped", r.Row, r)
			}
		}
		count(3)
		res, p, err = fx.svc.ImportBatch(ctx, fx.sup, "imp-1", batch(1, 6), false)
		if err != nil {
			t.Fatal(err)
		}
		if want := (casework.ImportProgress{LastRow: 6, Accepted: 5, Rejected: 1}); p != want {
			t.Errorf("progress after the rerun: got %+v, want %+v", p, want)
		}
		for _, r := range res {
			if r.Skipped != (r.Row <= 4) || (r.Row > 4 && r.ID == "") {
				t.Errorf("row %d of the rerun: got %+v", r.Row, r)
			}
		}
		count(5)
		// Another id, or another user's import of the same id, starts afresh.
		other := fx.sup
		other.User = "someone-else"
		if _, p, err := fx.svc.ImportBatch(ctx, other, "imp-1", nil, false); err != nil || p != (casework.ImportProgress{}) {
			t.Errorf("another user's imp-1: got %+v, %v, want zero, nil", p, err)
		}
		if _, _, err := fx.svc.ImportBatch(ctx, fx.sup, "imp-2", batch(1, 2), false); err != nil {
			t.Fatal(err)
		}
		count(7)
		for _, id := range []string{"a/b", "with space", strings.Repeat("x", casework.MaxImportID+1)} {
			if _, _, err := fx.svc.ImportBatch(ctx, fx.sup, id, batch(7, 7), false); !errors.Is(err, casework.ErrInvalid) {
				t.Errorf("import id %q: got %v, want ErrInvalid", id, err)
			}
		}
		// A dry run records nothing.
		if _, _, err := fx.svc.ImportBatch(ctx, fx.sup, "imp-3", batch(1, 2), true); err != nil {
			t.Fatal(err)
		}
		if _, p, _ := fx.svc.ImportBatch(ctx, fx.sup, "imp-3", nil, false); p != (casework.ImportProgress{}) {
			t.Errorf("progress after a dry run: got %+v, want zero", p)
		}
		count(7)
		verifyAudit(t, fx.store)
	})
}

func TestListFilters(t *testing.T) {
	fx := newFixture(t, memstore.New())
	ctx := context.Background()
	for i := range 5 {
		sub := fx.alice
		if i%2 == 1 {
			sub = fx.sup
		}
		c, err := fx.svc.Create(ctx, sub, "registration", map[string]any{"name_first": fmt.Sprintf("Child%d", i), "sex": "female"})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if _, err := fx.svc.Close(ctx, sub, c.ID, "duplicate"); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		sub  policy.Subject
		f    casework.Filter
		want int
	}{
		{fx.alice, casework.Filter{}, 3},
		{fx.sup, casework.Filter{}, 5},
		{fx.sup, casework.Filter{Status: "closed"}, 1},
		{fx.sup, casework.Filter{Status: "open", Owner: "sam"}, 2},
		{fx.sup, casework.Filter{Query: "child3"}, 1},
		{fx.sup, casework.Filter{Limit: 2}, 2},
		{fx.bob, casework.Filter{}, 0},
	}
	for _, tt := range tests {
		got, err := fx.svc.List(ctx, tt.sub, tt.f)
		if err != nil || len(got) != tt.want {
			t.Errorf("%s %+v: got %d cases (%v), want %d", tt.sub.User, tt.f, len(got), err, tt.want)
		}
	}
}
