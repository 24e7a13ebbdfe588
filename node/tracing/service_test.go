package tracing_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/forms"
	"github.com/cpx-node/cpx/node/matching"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/memstore"
	"github.com/cpx-node/cpx/node/tracing"
	"github.com/cpx-node/cpx/policy"
)

var now = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// tracerRole holds the tracing permissions the lead will grant to
// caseworker, supervisor and dpo. It is not a valid role for the policy
// package yet (unknown resource), so Validate is not called on it.
func tracerRole(id string, scope policy.Scope) policy.Role {
	var ps []policy.Permission
	for _, a := range []policy.Action{policy.ActionRead, policy.ActionList, policy.ActionCreate, policy.ActionUpdate, policy.ActionImport, tracing.ActionMatch} {
		ps = append(ps, policy.Permission{Resource: tracing.Resource, Action: a})
	}
	for _, a := range []policy.Action{policy.ActionRead, policy.ActionList, policy.ActionCreate, policy.ActionUpdate} {
		ps = append(ps, policy.Permission{Resource: policy.ResourceCase, Action: a})
	}
	return policy.Role{ID: id, Permissions: ps, Scope: scope, Sees: policy.FieldClasses()}
}

type fixture struct {
	store store.Store
	cases *casework.Service
	svc   *tracing.Service
	// tina traces and reads every case; sam may read only his own cases;
	// coord is the standard coordinator (no tracing permission).
	tina, sam, coord policy.Subject
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	s := memstore.New()
	cases := casework.New(casework.Options{Store: s, Forms: forms.Standard(), Agency: "agency-a", Now: func() time.Time { return now }})
	coord, _ := policy.RoleByID(policy.StandardRoles(), "coordinator")
	return &fixture{
		store: s, cases: cases,
		svc:   tracing.New(tracing.Options{Store: s, Cases: cases, Now: func() time.Time { return now }}),
		tina:  policy.Subject{User: "tina", Group: "north", Agency: "agency-a", Role: tracerRole("tracer", policy.ScopeAll)},
		sam:   policy.Subject{User: "sam", Group: "south", Agency: "agency-a", Role: tracerRole("tracer-self", policy.ScopeSelf)},
		coord: policy.Subject{User: "cora", Agency: "agency-a", Role: coord},
	}
}

func (fx *fixture) newCase(t *testing.T, sub policy.Subject, fields map[string]any) casework.Case {
	t.Helper()
	c, err := fx.cases.Create(context.Background(), sub, "registration", fields)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// mohammed is the child as registered: Latin script, with consent.
func mohammed(consent bool) map[string]any {
	return map[string]any{
		"name_first": "Mohammed", "name_middle": "Ali", "name_last": "Hassan", "sex": "male", "age": 9, "estimated": true,
		"location_current": "SO0101", "consent_for_tracing": consent,
		"family_details_section": []any{map[string]any{"relation_name": "Ali Hassan Omar", "relation": "father"}},
	}
}

// arabicRequest is the family's description in Arabic script.
func arabicRequest() tracing.Details {
	age := 10.0
	return tracing.Details{
		InquirerName: "علي حسن عمر", Relation: "father", Location: "SO0102", ConsentForTracing: true,
		DateOfSeparation: "2026-03-01",
		Traces:           []tracing.Trace{{Name: "محمد علي حسن", Sex: "male", Age: &age, LocationOrigin: "SO0101"}},
	}
}

func auditActions(t *testing.T, s store.Store) []string {
	t.Helper()
	var out []string
	err := s.View(context.Background(), func(r store.Reader) error {
		return audit.Scan(r, func(e audit.Entry) error {
			out = append(out, e.Action+":"+e.Outcome)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMatchAcrossScriptsOnlyConsented(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t)
	yes := fx.newCase(t, fx.tina, mohammed(true))
	no := fx.newCase(t, fx.tina, mohammed(false)) // identical but no consent
	unset := mohammed(false)
	delete(unset, "consent_for_tracing")
	absent := fx.newCase(t, fx.tina, unset)
	if err := fx.svc.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	req, err := fx.svc.Create(ctx, fx.tina, arabicRequest())
	if err != nil {
		t.Fatal(err)
	}
	_, got, err := fx.svc.Match(ctx, fx.tina, req.Number, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || got[0].Case.ID != yes.ID {
		t.Fatalf("got %+v, want %s first", got, yes.Number)
	}
	if got[0].Band == matching.Unlikely || got[0].Trace != 1 || len(got[0].Comparisons) != len(matching.FieldOrder) {
		t.Errorf("got band %s trace %d %d comparisons, want likely or possible, trace 1, %d", got[0].Band, got[0].Trace, len(got[0].Comparisons), len(matching.FieldOrder))
	}
	for _, c := range got {
		if c.Case.ID == no.ID || c.Case.ID == absent.ID {
			t.Errorf("case %s without consent for tracing was returned", c.Case.Number)
		}
	}
	// Also through MatchCase and MatchAll: never the unconsented twins.
	sim, err := fx.svc.MatchCase(ctx, fx.tina, no.Number, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(sim) != 1 || sim[0].Case.ID != yes.ID {
		t.Errorf("MatchCase(%s): got %d candidates, want only %s", no.Number, len(sim), yes.Number)
	}
	if sim, err = fx.svc.MatchCase(ctx, fx.tina, yes.Number, 10); err != nil || len(sim) != 0 {
		t.Errorf("MatchCase(%s): got %d candidates, %v; want none (itself excluded)", yes.Number, len(sim), err)
	}
	all, err := fx.svc.MatchAll(ctx, fx.tina)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].Candidates != 1 || all[0].BestBand == "" {
		t.Errorf("MatchAll: got %+v, want one request with one candidate", all)
	}

	// Consent withdrawn after the index was built, without CaseChanged: the
	// candidate is still never shown.
	if _, err := fx.cases.Update(ctx, fx.tina, yes.ID, map[string]any{"consent_for_tracing": false}, 0); err != nil {
		t.Fatal(err)
	}
	if _, got, err = fx.svc.Match(ctx, fx.tina, req.ID, 10); err != nil || len(got) != 0 {
		t.Errorf("after consent withdrawn: got %d candidates, %v; want none", len(got), err)
	}
	// CaseChanged files a case that gains consent.
	c, err := fx.cases.Update(ctx, fx.tina, no.ID, map[string]any{"consent_for_tracing": true}, 0)
	if err != nil {
		t.Fatal(err)
	}
	fx.svc.CaseChanged(c)
	if _, got, err = fx.svc.Match(ctx, fx.tina, req.ID, 10); err != nil || len(got) != 1 || got[0].Case.ID != no.ID {
		t.Errorf("after CaseChanged: got %+v, %v; want %s", got, err, no.Number)
	}
}

func TestMatchOnlyReadableCases(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t)
	mine := fx.newCase(t, fx.sam, mohammed(true))
	theirs := fx.newCase(t, fx.tina, mohammed(true))
	req, err := fx.svc.Create(ctx, fx.sam, arabicRequest())
	if err != nil {
		t.Fatal(err)
	}
	// No Rebuild: Match builds the missing index.
	_, got, err := fx.svc.Match(ctx, fx.sam, req.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Case.ID != mine.ID {
		t.Fatalf("got %d candidates, want only sam's own case %s (not %s)", len(got), mine.Number, theirs.Number)
	}
	all, err := fx.svc.MatchAll(ctx, fx.sam)
	if err != nil || len(all) != 1 || all[0].Candidates != 1 {
		t.Errorf("MatchAll: got %+v, %v; want one candidate", all, err)
	}
	// The coordinator has no tracing permission: refused and audited.
	if _, _, err := fx.svc.Match(ctx, fx.coord, req.ID, 10); !errors.Is(err, tracing.ErrDenied) {
		t.Errorf("coordinator Match: got %v, want ErrDenied", err)
	}
	if acts := auditActions(t, fx.store); !slices.Contains(acts, "tracing.match:denied") {
		t.Errorf("audit: got %v, want a denied tracing.match", acts)
	}
}

func TestConfirmReject(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t)
	c1 := fx.newCase(t, fx.tina, mohammed(true))
	c2 := fx.newCase(t, fx.tina, mohammed(true))
	req, err := fx.svc.Create(ctx, fx.tina, arabicRequest())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fx.svc.Reject(ctx, fx.tina, req.Number, 0, c2.Number, "different mother"); err != nil {
		t.Fatal(err)
	}
	got, err := fx.svc.Confirm(ctx, fx.tina, req.Number, 1, c1.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	tr := got.Details.Traces[0]
	if tr.Status != tracing.TraceMatched || tr.MatchedCaseID != c1.ID || tr.MatchedCaseNumber != c1.Number {
		t.Errorf("trace after confirm: got %+v, want matched to %s", tr, c1.Number)
	}
	if len(got.Decisions) != 2 || got.Decisions[0].Outcome != tracing.Rejected || got.Decisions[0].Reason != "different mother" ||
		got.Decisions[1].Outcome != tracing.Confirmed || got.Decisions[1].Actor != "tina" || got.Version != 3 {
		t.Errorf("decisions: got %+v (version %d)", got.Decisions, got.Version)
	}
	// Stored: read back.
	back, err := fx.svc.Get(ctx, fx.tina, req.ID)
	if err != nil || back.Details.Traces[0].MatchedCaseID != c1.ID || len(back.Decisions) != 2 {
		t.Errorf("read back: got %+v, %v", back, err)
	}
	// The case record shows the link and a verified tracing status.
	wantLink := func(step string, c casework.Case, request, status any) {
		t.Helper()
		got, err := fx.cases.Get(ctx, fx.tina, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Fields[casework.FieldMatchedTracingRequestID] != request || got.Fields[casework.FieldTracingStatus] != status {
			t.Errorf("%s: case %s has matched_tracing_request_id=%v tracing_status=%v, want %v and %v", step, c.Number,
				got.Fields[casework.FieldMatchedTracingRequestID], got.Fields[casework.FieldTracingStatus], request, status)
		}
	}
	wantLink("after confirm", c1, req.Number, casework.TracingVerified)
	wantLink("rejected case", c2, nil, nil)
	// Confirming another case moves the link.
	if _, err := fx.svc.Confirm(ctx, fx.tina, req.ID, 1, c2.ID, "second interview"); err != nil {
		t.Fatal(err)
	}
	wantLink("moved away", c1, nil, casework.TracingInProgress)
	wantLink("moved to", c2, req.Number, casework.TracingVerified)
	if _, err := fx.svc.Confirm(ctx, fx.tina, req.ID, 1, c1.ID, "no, the first one"); err != nil {
		t.Fatal(err)
	}
	// Nobody sets the link by hand.
	if _, err := fx.cases.Update(ctx, fx.tina, c2.ID, map[string]any{casework.FieldMatchedTracingRequestID: "TR-1"}, 0); !errors.Is(err, casework.ErrInvalid) {
		t.Errorf("update of the read-only link: got %v, want ErrInvalid", err)
	}
	// Rejecting the confirmed case reopens the trace and unlinks the case.
	got, err = fx.svc.Reject(ctx, fx.tina, req.ID, 1, c1.Number, "verification failed")
	if err != nil || got.Details.Traces[0].Status != tracing.TraceOpen || got.Details.Traces[0].MatchedCaseID != "" {
		t.Errorf("after reject: got %+v, %v", got.Details.Traces[0], err)
	}
	wantLink("after reject", c1, nil, casework.TracingInProgress)
	sup, _ := policy.RoleByID(policy.StandardRoles(), "supervisor")
	hist, err := fx.cases.History(ctx, policy.Subject{User: "sue", Group: "north", Agency: "agency-a", Role: sup}, c1.ID)
	if err != nil || hist[len(hist)-1].Action != "tracing.reject" {
		t.Errorf("case history: got %+v, %v; want a last tracing.reject version", hist, err)
	}
	acts := auditActions(t, fx.store)
	for _, want := range []string{"tracing.create:ok", "tracing.reject:ok", "tracing.confirm:ok", "tracing.read:ok", "case.read:ok", "case.tracing.confirm:ok", "case.tracing.reject:ok"} {
		if !slices.Contains(acts, want) {
			t.Errorf("audit: got %v, want %s", acts, want)
		}
	}
	tests := []struct {
		name  string
		trace int
		cas   string
		want  error
	}{
		{"no such case", 1, "CASE-999999", casework.ErrNotFound},
		{"no such trace", 2, c1.ID, tracing.ErrInvalid},
		{"no case", 1, "", tracing.ErrInvalid},
	}
	for _, tt := range tests {
		if _, err := fx.svc.Confirm(ctx, fx.tina, req.ID, tt.trace, tt.cas, ""); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, err := fx.svc.Confirm(ctx, fx.tina, "TR-999999", 1, c1.ID, ""); !errors.Is(err, tracing.ErrNotFound) {
		t.Errorf("unknown request: got %v, want ErrNotFound", err)
	}
	// A closed request takes no decision until reopened.
	if _, err := fx.svc.Update(ctx, fx.tina, req.ID, map[string]any{"status": "closed"}); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.svc.Confirm(ctx, fx.tina, req.ID, 1, c1.ID, ""); !errors.Is(err, tracing.ErrClosed) {
		t.Errorf("closed: got %v, want ErrClosed", err)
	}
}

func TestValidation(t *testing.T) {
	age := func(a float64) *float64 { return &a }
	base := func(mod func(d *tracing.Details)) tracing.Details {
		d := tracing.Details{InquirerName: "Fatima", Traces: []tracing.Trace{{Name: "Amina Yusuf", Sex: "female", Age: age(7)}}}
		mod(&d)
		return d
	}
	tests := []struct {
		name  string
		d     tracing.Details
		field string // "" = valid
	}{
		{"ok", base(func(d *tracing.Details) {}), ""},
		{"no traces", base(func(d *tracing.Details) { d.Traces = nil }), "traces"},
		{"no name", base(func(d *tracing.Details) { d.Traces[0].Name = "  " }), "traces[0].name"},
		{"nickname only", base(func(d *tracing.Details) { d.Traces[0].Name, d.Traces[0].Nicknames = "", []string{"Mina"} }), ""},
		{"age", base(func(d *tracing.Details) { d.Traces[0].Age = age(121) }), "traces[0].age"},
		{"negative age", base(func(d *tracing.Details) { d.Traces[0].Age = age(-1) }), "traces[0].age"},
		{"future birth", base(func(d *tracing.Details) { d.Traces[0].DateOfBirth = "2027-01-01" }), "traces[0].date_of_birth"},
		{"future separation", base(func(d *tracing.Details) { d.DateOfSeparation = "2026-11-26" }), "date_of_separation"},
		{"bad date", base(func(d *tracing.Details) { d.DateOfSeparation = "1/2/2020" }), "date_of_separation"},
		{"long name", base(func(d *tracing.Details) { d.Traces[0].Name = strings.Repeat("a", 201) }), "traces[0].name"},
		{"long other name", base(func(d *tracing.Details) { d.Traces[0].OtherNames = []string{"x", strings.Repeat("b", 300)} }), "traces[0].other_names[1]"},
		{"non-UTF-8", base(func(d *tracing.Details) { d.InquirerName = "Fa\xfftima" }), "inquirer_name"},
		{"bad sex", base(func(d *tracing.Details) { d.Traces[0].Sex = "boy" }), "traces[0].sex"},
		{"bad location", base(func(d *tracing.Details) { d.Location = "Mogadishu town" }), "location"},
		{"second trace", base(func(d *tracing.Details) { d.Traces = append(d.Traces, tracing.Trace{Age: age(3)}) }), "traces[1].name"},
	}
	fx := newFixture(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := fx.svc.Create(context.Background(), fx.tina, tt.d)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			var fe *tracing.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, tracing.ErrInvalid) {
				t.Fatalf("got %v, want an ErrInvalid about %s", err, tt.field)
			}
		})
	}
}

func TestDecodeAndSet(t *testing.T) {
	tests := []struct {
		name, doc, field string
	}{
		{"unknown field", `{"traces":[{"name":"A"}],"colour":"red"}`, "colour"},
		{"unknown trace field", `{"traces":[{"name":"A","eyes":"brown"}]}`, "traces[0].eyes"},
		{"wrong type", `{"traces":[{"name":"A","age":"nine"}]}`, "traces[0].age"},
		{"status set by hand", `{"traces":[{"name":"A","status":"matched"}]}`, "traces[0].status"},
	}
	for _, tt := range tests {
		_, err := tracing.DecodeDetails([]byte(tt.doc))
		var fe *tracing.FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("%s: got %v, want an error about %s", tt.name, err, tt.field)
		}
	}
	for _, doc := range []string{"", "[]", `{"traces":[]} {}`, "{\"inquirer_name\":\"\xff\"}"} {
		if _, err := tracing.DecodeDetails([]byte(doc)); !errors.Is(err, tracing.ErrInvalid) {
			t.Errorf("DecodeDetails(%q): got %v, want ErrInvalid", doc, err)
		}
	}

	var d tracing.Details
	for _, kv := range []struct {
		k string
		v any
	}{
		{"inquirer_name", "Fatima"}, {"consent_for_tracing", "yes"}, {"trace.name", "Amina"}, {"trace.age", "7"},
		{"trace.nicknames", "Mina"}, {"trace.2.name", "Baraka"}, {"trace.2.relatives", []any{"Fatima", "Yusuf"}},
	} {
		if err := d.Set(kv.k, kv.v); err != nil {
			t.Fatalf("Set(%s): %v", kv.k, err)
		}
	}
	if !d.ConsentForTracing || len(d.Traces) != 2 || *d.Traces[0].Age != 7 || d.Traces[0].Nicknames[0] != "Mina" || d.Traces[1].Relatives[1] != "Yusuf" {
		t.Errorf("after Set: got %+v", d)
	}
	if err := d.Set("trace.age", nil); err != nil || d.Traces[0].Age != nil {
		t.Errorf("clear age: got %v, %v", d.Traces[0].Age, err)
	}
	for _, k := range []string{"colour", "trace.colour", "trace.4.name", "trace.0.name", "status"} {
		if err := d.Set(k, "x"); !errors.Is(err, tracing.ErrInvalid) {
			t.Errorf("Set(%s): got %v, want ErrInvalid", k, err)
		}
	}
	if err := d.Set("trace.age", "old"); !errors.Is(err, tracing.ErrInvalid) {
		t.Errorf("Set(trace.age, old): got %v, want ErrInvalid", err)
	}
}

func TestListUpdateImport(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t)
	rows := []tracing.ImportRow{
		{Row: 1, Doc: []byte(`{"inquirer_name":"Fatima","traces":[{"name":"Amina","age":7}]}`)},
		{Row: 2, Doc: []byte(`{"traces":[{"age":7}]}`)},
		{Row: 3, Doc: []byte(`{"traces":[{"name":"Baraka","age":130}]}`)},
		{Row: 5, Doc: []byte(`{"traces":[{"name":"Hodan"}]}`)},
	}
	res, err := fx.svc.Import(ctx, fx.tina, rows, true)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || res[1].Err == nil || res[2].Err == nil || res[3].Err != nil || res[0].ID != "" {
		t.Fatalf("dry run: got %+v", res)
	}
	if !strings.Contains(res[2].Err.Error(), "traces[0].age") {
		t.Errorf("row 3 error: got %v, want it to name traces[0].age", res[2].Err)
	}
	if res, err = fx.svc.Import(ctx, fx.tina, rows, false); err != nil || res[0].Number != "TR-000001" || res[3].Number != "TR-000002" {
		t.Fatalf("import: got %+v, %v", res, err)
	}
	if _, err := fx.svc.Update(ctx, fx.tina, "TR-000002", map[string]any{"status": "closed", "trace.sex": "female"}); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.svc.Update(ctx, fx.tina, "TR-000002", map[string]any{"trace.age": "5"}); !errors.Is(err, tracing.ErrClosed) {
		t.Errorf("update closed: got %v, want ErrClosed", err)
	}
	if _, err := fx.svc.Update(ctx, fx.tina, "TR-000001", map[string]any{"trace.age": "500"}); !errors.Is(err, tracing.ErrInvalid) {
		t.Errorf("update bad age: got %v, want ErrInvalid", err)
	}
	open, err := fx.svc.List(ctx, fx.tina, tracing.StatusOpen, 0)
	if err != nil || len(open) != 1 || open[0].Number != "TR-000001" {
		t.Errorf("list open: got %+v, %v", open, err)
	}
	closed, err := fx.svc.List(ctx, fx.tina, tracing.StatusClosed, 0)
	if err != nil || len(closed) != 1 || closed[0].Details.Traces[0].Sex != "female" || closed[0].Version != 2 {
		t.Errorf("list closed: got %+v, %v", closed, err)
	}
	if _, err := fx.svc.List(ctx, fx.tina, "pending", 0); !errors.Is(err, tracing.ErrInvalid) {
		t.Errorf("bad status: got %v", err)
	}
	if _, err := fx.svc.Get(ctx, fx.tina, "TR-000009"); !errors.Is(err, tracing.ErrNotFound) {
		t.Errorf("get missing: got %v", err)
	}
	if _, err := fx.svc.Create(ctx, fx.coord, arabicRequest()); !errors.Is(err, tracing.ErrDenied) {
		t.Errorf("coordinator create: got %v, want ErrDenied", err)
	}
}

// TestObservedIndex: with casework reporting every change, new cases,
// withdrawn consent and purges reach the index without any rebuild.
func TestObservedIndex(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	cases := casework.New(casework.Options{Store: s, Forms: forms.Standard(), Agency: "agency-a", Now: func() time.Time { return now }})
	svc := tracing.New(tracing.Options{Store: s, Cases: cases, Observed: true, Now: func() time.Time { return now }})
	cases.Observe(svc)
	tina := policy.Subject{User: "tina", Group: "north", Agency: "agency-a", Role: tracerRole("tracer", policy.ScopeAll)}
	if err := svc.Rebuild(ctx); err != nil { // empty
		t.Fatal(err)
	}
	req, err := svc.Create(ctx, tina, arabicRequest())
	if err != nil {
		t.Fatal(err)
	}
	found := func() bool {
		_, got, err := svc.Match(ctx, tina, req.Number, 10)
		if err != nil {
			t.Fatal(err)
		}
		return len(got) > 0
	}
	c, err := cases.Create(ctx, tina, "registration", mohammed(true))
	if err != nil {
		t.Fatal(err)
	}
	if !found() {
		t.Fatal("a new consented case was not matched")
	}
	if _, err := cases.Update(ctx, tina, c.ID, map[string]any{"consent_for_tracing": false}, 0); err != nil {
		t.Fatal(err)
	}
	if found() {
		t.Fatal("a case whose consent was withdrawn was still matched")
	}
}

// TestRelativesComparedByRelation: the inquirer's relation on the request
// and the relation in the case's family details decide which relatives are
// compared: a mother is never compared with a father.
func TestRelativesComparedByRelation(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		relation string // the inquirer's (the father's name is the inquirer's)
		want     string // outcome of the relatives comparison
	}{
		{"father asks, case lists the father", "father", matching.Match},
		{"mother's relation on a father's name: not compared", "mother", matching.Blank},
		{"relation unknown: compared with everyone", "", matching.Match},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			fx.newCase(t, fx.tina, mohammed(true))
			d := arabicRequest()
			d.Relation = tc.relation
			req, err := fx.svc.Create(ctx, fx.tina, d)
			if err != nil {
				t.Fatal(err)
			}
			_, got, err := fx.svc.Match(ctx, fx.tina, req.Number, 10)
			if err != nil || len(got) != 1 {
				t.Fatalf("match: %d candidates, %v", len(got), err)
			}
			for _, c := range got[0].Comparisons {
				if c.Field == matching.FieldRelatives && c.Outcome != tc.want {
					t.Errorf("relatives: %s (%s), want %s", c.Outcome, c.Why, tc.want)
				}
			}
		})
	}
}
