package tracing_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/forms"
	"github.com/cpx-node/cpx/node/store/memstore"
	"github.com/cpx-node/cpx/node/tracing"
)

// TestRebuildAdaptsToOpenRequests: with 100 or more open requests the
// index rebuild adapts the matching model to them (matching.Adapt), with
// fewer it keeps the shipped model, and the log says which with counts
// only, never a name.
func TestRebuildAdaptsToOpenRequests(t *testing.T) {
	ctx := context.Background()
	var logs bytes.Buffer
	s := memstore.New()
	cases := casework.New(casework.Options{Store: s, Forms: forms.Standard(), Agency: "agency-a", Now: func() time.Time { return now }})
	svc := tracing.New(tracing.Options{Store: s, Cases: cases, Now: func() time.Time { return now }, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	fx := newFixture(t)
	given := []string{"amina", "hodan", "faisal", "yusuf", "leyla", "omar", "zahra", "bilal", "samira", "khalid", "nasra", "idris"}
	family := []string{"warsame", "abdi", "farah", "jama", "nur", "osman", "hirsi", "dualeh", "egal", "samatar"}
	n := 0
	for _, g := range given {
		for _, f := range family {
			born := time.Date(2012+n%8, time.Month(1+n%12), 1+n%28, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
			if _, err := cases.Create(ctx, fx.tina, "registration", map[string]any{
				"name_first": g, "name_last": f, "sex": "female", "date_of_birth": born,
				"location_current": "SO0101", "consent_for_tracing": true,
			}); err != nil {
				t.Fatal(err)
			}
			age := float64(2026 - 2012 - n%8)
			if _, err := svc.Create(ctx, fx.tina, tracing.Details{
				InquirerName: "Hawa " + f, Location: "SO0101", ConsentForTracing: true,
				Traces: []tracing.Trace{{Name: g + " " + f, Age: &age, LocationOrigin: "SO0101"}},
			}); err != nil {
				t.Fatal(err)
			}
			n++
			if n == 50 {
				if err := svc.Rebuild(ctx); err != nil {
					t.Fatal(err)
				}
				if got := logs.String(); !strings.Contains(got, "tracing model: shipped weights") {
					t.Errorf("got log %q after 50 requests, want the shipped weights kept", got)
				}
			}
		}
	}
	if err := svc.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	got := logs.String()
	if !strings.Contains(got, "tracing model adapted to the open requests") || !strings.Contains(got, "requests=120") {
		t.Errorf("got log %q after %d requests, want the model adapted to 120", got, n)
	}
	for _, name := range append(given, family...) {
		if strings.Contains(got, name) {
			t.Errorf("got log %q, want no name (%s)", got, name)
		}
	}
}
