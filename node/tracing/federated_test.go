package tracing_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/cpx-node/cpx/crypto/pprl"
	"github.com/cpx-node/cpx/node/exchange"
	"github.com/cpx-node/cpx/node/matching"
	"github.com/cpx-node/cpx/node/tracing"
	"github.com/cpx-node/cpx/policy"
)

// TestAnswerQuery: a peer's query is answered with bands and handles
// only, at most MaxAnswers per sought child, look-alikes sharing the
// probability; a version-1 query is refused as a malformed message.
func TestAnswerQuery(t *testing.T) {
	isp := &policy.ISP{ID: "isp-1", Version: 1, Title: "tracing"}
	age := 9.0
	child := matching.Person{Names: []string{"محمد علي حسن"}, Sex: "male", Age: &age}
	q, err := tracing.EncodeQuery([][]pprl.Record{pprl.NewRecordEncoder(tracing.KeysFor(isp)).EncodeReadings(child)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		cases   int // consented copies of the child registered
		refused int // and copies without consent
		payload []byte
		want    []string // bands answered, in order
		wantErr error
	}{
		{"one case", 1, 1, q, []string{matching.Likely}, nil},
		{"look-alikes share, at most MaxAnswers", 7, 0, q, slices.Repeat([]string{matching.Possible}, tracing.MaxAnswers), nil},
		{"no consented case", 0, 2, q, nil, nil},
		{"version 1", 1, 0, []byte(`{"encodings":[[1,2,3]]}`), nil, exchange.ErrBadMessage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			for i := range tc.cases + tc.refused {
				fx.newCase(t, fx.tina, mohammed(i < tc.cases))
			}
			resp, err := fx.svc.AnswerQuery(context.Background(), "agency-b", isp, tc.payload)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var a struct {
				Matches []map[string]any `json:"matches"`
			}
			if err := json.Unmarshal(resp, &a); err != nil {
				t.Fatal(err)
			}
			var bands []string
			for _, m := range a.Matches {
				for k := range m {
					if k != "trace" && k != "band" && k != "level" && k != "handle" {
						t.Errorf("answer holds %q: want only trace, band, level and handle", k)
					}
				}
				level, _ := m["level"].(float64)
				if likely := m["band"] == matching.Likely; level < 1 || level > tracing.Levels || likely != (level >= 4) {
					t.Errorf("match %v: level %v does not agree with its band (likely 4-5, possible 1-3)", m, level)
				}
				if h, _ := m["handle"].(string); len(h) != 32 || m["trace"] != 1.0 {
					t.Errorf("match %v: want trace 1 and a 32-character handle", m)
				}
				bands = append(bands, m["band"].(string))
			}
			if !slices.Equal(bands, tc.want) {
				t.Errorf("bands %v, want %v", bands, tc.want)
			}
			if !slices.ContainsFunc(auditActions(t, fx.store), func(a string) bool { return strings.HasPrefix(a, "tracing.query.answer:") }) {
				t.Error("the answer was not audited")
			}
		})
	}
}

// TestLevel: five levels, 4 and 5 likely, 1 to 3 possible.
func TestLevel(t *testing.T) {
	l, p := matching.Likely, matching.Possible
	for _, tc := range []struct {
		p    float64
		band string
		want int
	}{{1, l, 5}, {0.9, l, 5}, {0.89, l, 4}, {0.5, l, 4}, {0.49, p, 3}, {0.2, p, 3}, {0.19, p, 2}, {0.05, p, 2}, {0.049, p, 1}, {0.01, p, 1}, {0.3, l, 4}} {
		if got := tracing.Level(tc.p, tc.band); got != tc.want {
			t.Errorf("Level(%v, %s) = %d, want %d", tc.p, tc.band, got, tc.want)
		}
	}
}

// TestEncodingsReencodeOnlyChangedCases: after one case changes, the
// federated encodings are rebuilt from the cached Records of the others
// and a new Record of that case only, with the ISP's encoder reused.
func TestEncodingsReencodeOnlyChangedCases(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t)
	isp := &policy.ISP{ID: "isp-1", Version: 1, Title: "tracing"}
	kept := fx.newCase(t, fx.tina, mohammed(true))
	changed := fx.newCase(t, fx.tina, mohammed(true))
	if err := fx.svc.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	before, enc, err := fx.svc.EncodedGenerations(ctx, isp)
	if err != nil || len(before) != 2 {
		t.Fatalf("first encodings: %v, %v", before, err)
	}
	c, err := fx.cases.Update(ctx, fx.tina, changed.ID, map[string]any{"age": 10}, 0)
	if err != nil {
		t.Fatal(err)
	}
	fx.svc.CaseChanged(c)
	after, enc2, err := fx.svc.EncodedGenerations(ctx, isp)
	if err != nil {
		t.Fatal(err)
	}
	if after[kept.ID] != before[kept.ID] {
		t.Errorf("unchanged case re-encoded: generation %d → %d", before[kept.ID], after[kept.ID])
	}
	if after[changed.ID] == before[changed.ID] {
		t.Errorf("changed case not re-encoded (generation %d)", after[changed.ID])
	}
	if enc2 != enc {
		t.Error("the ISP's encoder was derived again")
	}
}
