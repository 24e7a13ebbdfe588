package casework_test

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/casekeys"
	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/forms"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/memstore"
	"github.com/cpx-node/cpx/policy"
)

// queryFixture creates cases to search and returns the fixture and the
// number of the first case.
func queryFixture(t *testing.T, fx *fixture) string {
	t.Helper()
	ctx := context.Background()
	create := func(sub policy.Subject, fields map[string]any) casework.Case {
		t.Helper()
		c, err := fx.svc.Create(ctx, sub, "registration", fields)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	first := create(fx.alice, map[string]any{"name_first": "Amina", "name_last": "Hassan", "sex": "female"})
	create(fx.alice, map[string]any{"name_first": "Amína", "name_last": "Nur", "sex": "female", "consent_for_tracing": true})
	create(fx.sup, map[string]any{"name_first": "Child3", "name_last": "Ali", "sex": "male"})
	moved := create(fx.alice, map[string]any{"name_first": "Farah", "name_last": "Hassan", "sex": "male"})
	if _, err := fx.svc.Update(ctx, fx.alice, moved.ID, map[string]any{"name_last": "Warsame"}, 0); err != nil {
		t.Fatal(err)
	}
	closed := create(fx.alice, map[string]any{"name_first": "Idil", "name_last": "Warsame", "sex": "female"})
	if _, err := fx.svc.Close(ctx, fx.alice, closed.ID, "duplicate"); err != nil {
		t.Fatal(err)
	}
	return first.Number
}

type queryCase struct {
	sub  policy.Subject
	f    casework.Filter
	want []string // first names, sorted
}

func queryCases(fx *fixture, number string) []queryCase {
	return []queryCase{
		{fx.alice, casework.Filter{Query: "amina"}, []string{"Amina", "Amína"}},
		{fx.alice, casework.Filter{Query: "AMINA hassan"}, []string{"Amina"}},
		{fx.alice, casework.Filter{Query: "Amina Nur"}, []string{"Amína"}},
		{fx.alice, casework.Filter{Query: "hassan"}, []string{"Amina"}}, // Farah's Hassan was changed
		{fx.alice, casework.Filter{Query: "warsame"}, []string{"Farah", "Idil"}},
		{fx.alice, casework.Filter{Query: "warsame", Status: "open"}, []string{"Farah"}},
		{fx.alice, casework.Filter{Query: "warsame", Status: "closed"}, []string{"Idil"}},
		{fx.alice, casework.Filter{Query: "child3"}, nil}, // not alice's
		{fx.sup, casework.Filter{Query: "child3"}, []string{"Child3"}},
		{fx.sup, casework.Filter{Query: "amina", Owner: "sam"}, nil},
		{fx.coord, casework.Filter{Query: "amina"}, nil}, // names hidden from the role
		{fx.alice, casework.Filter{Query: number}, []string{"Amina"}},
		{fx.alice, casework.Filter{Query: "  " + string(bytes.ToLower([]byte(number)))}, []string{"Amina"}},
		{fx.alice, casework.Filter{Query: "zzqqxx-nobody"}, nil},
		{fx.alice, casework.Filter{Query: "a"}, nil},
		{fx.alice, casework.Filter{Query: "amin"}, nil}, // whole words only
	}
}

func firstNames(list []casework.Case) []string {
	var out []string
	for _, c := range list {
		s, _ := c.Fields["name_first"].(string)
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func runQueries(t *testing.T, fx *fixture, svc *casework.Service, number, when string) {
	t.Helper()
	for _, tt := range queryCases(fx, number) {
		got, err := svc.List(context.Background(), tt.sub, tt.f)
		if err != nil {
			t.Fatalf("%s: %s %+v: %v", when, tt.sub.User, tt.f, err)
		}
		if g := firstNames(got); !slices.Equal(g, tt.want) {
			t.Errorf("%s: %s %+v: got %q, want %q", when, tt.sub.User, tt.f, g, tt.want)
		}
	}
}

// TestQueryIndex: a query gives the same answers scanning every case
// (before the index is built), through the index, and through an index
// rebuilt under another key (a restore under a new store key).
func TestQueryIndex(t *testing.T) {
	stores(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		number := queryFixture(t, fx)
		if fx.svc.IndexesReady() {
			t.Fatal("IndexesReady before BuildIndexes: got true, want false")
		}
		runQueries(t, fx, fx.svc, number, "scanning")
		if n, err := fx.svc.BuildIndexes(ctx); err != nil || n != 5 {
			t.Fatalf("first BuildIndexes: got %d cases reindexed, %v; want 5", n, err)
		}
		runQueries(t, fx, fx.svc, number, "indexed")
		// Written after the build: filed at once.
		if _, err := fx.svc.Create(ctx, fx.alice, "registration", map[string]any{"name_first": "Amina", "name_last": "Dualeh", "sex": "female"}); err != nil {
			t.Fatal(err)
		}
		got, _ := fx.svc.List(ctx, fx.alice, casework.Filter{Query: "dualeh"})
		if len(got) != 1 {
			t.Errorf("a case created after the build: got %d results, want 1", len(got))
		}

	})
}

// TestQueryIndexAfterRekey: cases filed under one key are found under
// another once BuildIndexes ran, with the same answers.
func TestQueryIndexAfterRekey(t *testing.T) {
	stores(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		keys := casekeys.NewMemory()
		mk := func(k byte) *casework.Service {
			return casework.New(casework.Options{Store: fx.store, Forms: forms.Standard(), Agency: "agency-a", NumberPrefix: "AA",
				Now: func() time.Time { return now }, IndexKey: bytes.Repeat([]byte{k}, 32), Keys: keys})
		}
		fx.svc = mk(1)
		number := queryFixture(t, fx)
		if _, err := fx.svc.BuildIndexes(ctx); err != nil {
			t.Fatal(err)
		}
		runQueries(t, fx, fx.svc, number, "key 1")
		rekeyed := mk(2)
		if n, err := rekeyed.BuildIndexes(ctx); err != nil || n != 5 {
			t.Fatalf("BuildIndexes under key 2: got %d, %v; want 5", n, err)
		}
		runQueries(t, fx, rekeyed, number, "key 2")
	})
}

// TestIndexRevealsNoWord: no key or value of the store holds a name in
// clear (memstore keeps what casework writes as it is).
func TestIndexRevealsNoWord(t *testing.T) {
	fx := newFixture(t, memstore.New())
	queryFixture(t, fx)
	if _, err := fx.svc.BuildIndexes(context.Background()); err != nil {
		t.Fatal(err)
	}
	err := fx.store.View(context.Background(), func(r store.Reader) error {
		return r.Scan(nil, store.ScanOptions{}, func(k, v []byte) error {
			for _, w := range []string{"amina", "hassan", "warsame", "child3"} {
				if bytes.Contains(bytes.ToLower(k), []byte(w)) || bytes.Contains(bytes.ToLower(v), []byte(w)) {
					t.Errorf("record %q holds %q in clear", k[:min(len(k), 4)], w)
				}
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestExportConsenting: only cases that consent to tracing, before and
// after the index is built.
func TestExportConsenting(t *testing.T) {
	stores(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		queryFixture(t, fx)
		for _, when := range []string{"scanning", "indexed"} {
			var got []string
			if err := fx.svc.ExportConsenting(ctx, fx.dpo, func(c casework.Case) error {
				got = append(got, c.Number)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Errorf("%s: got %d consenting cases, want 1", when, len(got))
			}
			if _, err := fx.svc.BuildIndexes(ctx); err != nil {
				t.Fatal(err)
			}
		}
	})
}
