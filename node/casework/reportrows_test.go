package casework

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/forms"
	"github.com/cpx-node/cpx/node/rowseal"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/memstore"
	"github.com/cpx-node/cpx/policy"
)

// decodeRowForTest decodes every value of a row, as a report that wants
// every field would.
func decodeRowForTest(b []byte) (map[string]any, error) {
	r, err := splitRow(b)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	rc := &rowCursor{b: r.fields}
	for len(rc.b) > 0 {
		name, val := rc.value()
		if rc.err != nil {
			return nil, rc.err
		}
		ageOf(val, time.Now())
		v, err := decodeValue(val)
		if err != nil {
			return nil, err
		}
		out[string(name)] = v
	}
	return out, nil
}

func testRow() (*Case, []reportField) {
	c := &Case{Owner: "amina", OwnerGroup: "g1", Agency: "a", Status: StatusOpen, Stage: StageNew, CreatedAt: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC),
		Fields: map[string]any{"sex": "female", "age": 7.0, "estimated": true, "concerns": []any{"neglect", "caafag"},
			"date_of_birth": "2019-02-03", "followups": []any{map[string]any{"followup_date": "2026-01-02"}, map[string]any{"followup_date": "2026-02-01"}},
			"name_first": "Amina"}}
	fs := []reportField{{name: "age", typ: "number"}, {name: "concerns", typ: "multi_select"}, {name: "date_of_birth", typ: "date"},
		{name: "estimated", typ: "tick_box"}, {name: "followups", typ: "subform", dates: []string{"followup_date"}}, {name: "sex", typ: "select"}}
	return c, fs
}

func TestReportRowRoundTrip(t *testing.T) {
	c, fs := testRow()
	got, err := decodeRowForTest(encodeRow(c, fs))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"sex": "female", "age": 7.0, "estimated": true, "date_of_birth": "2019-02-03"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %v, want %v", k, got[k], v)
		}
	}
	if l, _ := got["concerns"].([]any); len(l) != 2 || l[1] != "caafag" {
		t.Errorf("concerns: got %v", got["concerns"])
	}
	if l, _ := got["followups"].([]any); len(l) != 1 || l[0].(map[string]any)["followup_date"] != "2026-02-01" {
		t.Errorf("followups: got %v, want the latest date only", got["followups"])
	}
	if _, ok := got["name_first"]; ok {
		t.Error("a field that is no report field is in the row")
	}
	if a, ok := ageOf([]byte("s\x0a2019-02-03"), time.Date(2026, 2, 2, 0, 0, 0, 0, time.UTC)); !ok || a != 6 {
		t.Errorf("age the day before the birthday: got %d, %v, want 6", a, ok)
	}
	if a, _ := ageOf([]byte("s\x0a2019-02-03"), time.Date(2026, 2, 3, 0, 0, 0, 0, time.UTC)); a != 7 {
		t.Errorf("age on the birthday: got %d, want 7", a)
	}
	if _, ok := ageOf([]byte("s\x0a2019-02-30"), time.Now()); ok {
		t.Error("an impossible date gave an age")
	}
}

// FuzzReportRow feeds arbitrary bytes to the report row decoders, sealed
// and in clear: they must fail with an error, never panic.
func FuzzReportRow(f *testing.F) {
	c, fs := testRow()
	row := encodeRow(c, fs)
	f.Add(row)
	f.Add(row[:len(row)/2])
	x := rowseal.New(make([]byte, 32), rowsLabel)
	f.Add(x.Seal("c1", row))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeRowForTest(b)
		if plain, _, err := x.Open(nil, nil, []byte("c1"), b); err == nil {
			_, _ = decodeRowForTest(plain)
		}
	})
}

// TestPruneRowLogChecksEpoch: a pruning whose entries were read under an
// epoch that changed since (an import, another pruning) deletes nothing;
// one under the current epoch deletes the entries and writes a new epoch.
func TestPruneRowLogChecksEpoch(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	entries := func() [][]byte {
		var ks [][]byte
		if err := st.View(ctx, func(r store.Reader) error {
			return r.Scan(prefixRowLog, store.ScanOptions{}, func(k, _ []byte) error { ks = append(ks, k); return nil })
		}); err != nil {
			t.Fatal(err)
		}
		return ks
	}
	epoch := func() []byte {
		var e []byte
		if err := st.View(ctx, func(r store.Reader) (err error) { e, err = getOrNil(r, keyRowEpoch); return err }); err != nil {
			t.Fatal(err)
		}
		return e
	}
	for _, id := range []string{"a", "b", "c"} {
		if err := st.Update(ctx, func(w store.Writer) error { return logRowChange(w, id) }); err != nil {
			t.Fatal(err)
		}
	}
	keys := entries()
	if len(keys) != 3 {
		t.Fatalf("got %d log entries, want 3", len(keys))
	}
	if err := st.Update(ctx, func(w store.Writer) error { // an import
		b := &bulkRows{Writer: w}
		if err := logRowChange(b, "d"); err != nil {
			return err
		}
		return b.done()
	}); err != nil {
		t.Fatal(err)
	}
	if got := len(entries()); got != 3 {
		t.Fatalf("an import wrote log entries: got %d, want 3", got)
	}
	moved := epoch()
	if moved == nil {
		t.Fatal("an import wrote no epoch")
	}
	if _, err := pruneRowLog(ctx, st, keys, nil); !errors.Is(err, errEpochMoved) {
		t.Fatalf("pruning under an old epoch: got %v, want errEpochMoved", err)
	}
	if got := len(entries()); got != 3 {
		t.Fatalf("pruning under an old epoch deleted entries: got %d left, want 3", got)
	}
	e, err := pruneRowLog(ctx, st, keys, moved)
	if err != nil || e == nil || bytes.Equal(e, moved) || !bytes.Equal(epoch(), e) {
		t.Fatalf("pruning: got epoch %x, %v; stored %x; want a new epoch stored", e, err, epoch())
	}
	if got := len(entries()); got != 0 {
		t.Fatalf("got %d log entries after pruning, want 0", got)
	}
}

// BenchmarkCountRows counts protection_concerns' fields (concerns, sex,
// age, the date of birth as an age) over rows filed straight into the
// in-memory copy (rowCache.put, the path every row read from the store
// takes), with no store and no audit entry: the counting alone, and the
// memory a row takes (B/row). CPX_BENCH_ROWS sets the rows (100,000 by
// default):
//
//	CPX_BENCH_ROWS=1000000 go test -run='^$' -bench=CountRows -benchtime=5x ./node/casework/
func BenchmarkCountRows(b *testing.B) {
	n := 100000
	if v := os.Getenv("CPX_BENCH_ROWS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	fs := reportFields(forms.Standard())
	today := time.Now().UTC()
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	var rc rowCache
	rc.reset(fs)
	sexes := []string{"female", "male", "other", "unknown"}
	for i := range n {
		c := &Case{ID: fmt.Sprintf("%08x-3d90-4215-998a-3960b1a1b82e", i), Owner: "sahra", OwnerGroup: "g1", Agency: "agency-a", Status: StatusOpen, Stage: StageNew,
			CreatedAt: today.Add(-time.Duration(i) * time.Minute),
			Fields: map[string]any{"sex": sexes[i%4], "age": float64(i % 18), "protection_concerns": []any{"neglect", []string{"caafag", "separated"}[i%2]},
				"risk_level": "high", "location_current": "SO0101", "date_of_birth": today.AddDate(0, 0, -(i*7919)%(18*365)).Format(time.DateOnly)}}
		if err := rc.put(c.ID, encodeRow(c, fs)); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	r, _ := policy.RoleByID(policy.StandardRoles(), "supervisor")
	sub := policy.Subject{User: "sahra", Group: "g1", Agency: "agency-a", Role: r}
	want, birth := []string{"protection_concerns", "sex", "age", "date_of_birth"}, []bool{false, false, false, true}
	for b.Loop() {
		if _, got, err := rc.count(sub, want, birth, false, today); err != nil || got != n {
			b.Fatalf("counted %d rows, %v; want %d", got, err, n)
		}
	}
	b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/float64(n), "B/row")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/row")
}

// TestKeepRowsPrunesLongLog: with no rows in memory, the upkeep prunes a
// log longer than rowLogPrune entries, and leaves a shorter one.
func TestKeepRowsPrunesLongLog(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	s := New(Options{Store: st, Forms: forms.Standard(), Agency: "agency-a"})
	count := func() int {
		n := 0
		if err := st.View(ctx, func(r store.Reader) error {
			return r.Scan(prefixRowLog, store.ScanOptions{}, func(_, _ []byte) error { n++; return nil })
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	write := func(n int) {
		if err := st.Update(ctx, func(w store.Writer) error {
			for i := range n {
				if err := logRowChange(w, fmt.Sprint("case-", i)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	write(rowLogPrune)
	s.keepRows(ctx)
	if got := count(); got != rowLogPrune {
		t.Fatalf("a log of %d entries: got %d left, want it kept", rowLogPrune, got)
	}
	write(1)
	s.keepRows(ctx)
	if got := count(); got != 0 {
		t.Fatalf("a log of %d entries: got %d left, want it pruned", rowLogPrune+1, got)
	}
}
