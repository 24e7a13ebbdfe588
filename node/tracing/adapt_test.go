package tracing_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cpx-node/cpx/crypto/pprl"
	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/forms"
	"github.com/cpx-node/cpx/node/matching"
	"github.com/cpx-node/cpx/node/store/memstore"
	"github.com/cpx-node/cpx/node/tracing"
	"github.com/cpx-node/cpx/policy"
)

// TestRebuildAdaptsToOpenRequests: with 100 or more open requests the
// index rebuild adapts the matching model to them (matching.Adapt), with
// fewer it keeps the shipped model, and the log says which with counts
// only, never a name.
func TestRebuildAdaptsToOpenRequests(t *testing.T) {
	ctx := context.Background()
	cases, svc, logs := loggedService()
	fx := newFixture(t)
	n := fileRegister(t, cases, svc, fx, func() {
		if got := logs.String(); !strings.Contains(got, "tracing model: shipped weights") {
			t.Errorf("got log %q after 50 requests, want the shipped weights kept", got)
		}
	})
	if err := svc.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	got := logs.String()
	if !strings.Contains(got, "tracing model adapted to the open requests") || !strings.Contains(got, "requests=120") {
		t.Errorf("got log %q after %d requests, want the model adapted to 120", got, n)
	}
	for _, name := range append(registerGiven, registerFamily...) {
		if strings.Contains(got, name) {
			t.Errorf("got log %q, want no name (%s)", got, name)
		}
	}
}

// TestRebuildAdaptsFederatedModel: the model this node answers federated
// queries under an ISP with is adapted to its open requests
// (pprl.Adapt) at each index rebuild once there are 100 or more of them,
// encoded with that ISP's keys; with fewer it stays the shipped model.
// Queries are answered either way, and the log says which with counts
// only, never a name.
func TestRebuildAdaptsFederatedModel(t *testing.T) {
	ctx := context.Background()
	cases, svc, logs := loggedService()
	fx := newFixture(t)
	isp := &policy.ISP{ID: "isp-1", Version: 1, Title: "tracing"}
	age := 14.0 // amina warsame, the first case, born 2012-01-01
	q, err := tracing.EncodeQuery([][]pprl.Record{pprl.NewRecordEncoder(tracing.KeysFor(isp)).EncodeReadings(
		matching.Person{Names: []string{"amina warsame"}, Sex: "female", Age: &age, Locations: []string{"SO0101"}})})
	if err != nil {
		t.Fatal(err)
	}
	answer := func(when string) {
		t.Helper()
		resp, err := svc.AnswerQuery(ctx, "agency-b", isp, q)
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if !strings.Contains(string(resp), `"band":"likely"`) {
			t.Errorf("%s: got answer %s, want amina warsame likely", when, resp)
		}
	}
	n := fileRegister(t, cases, svc, fx, func() {
		answer("50 requests")
		if got := logs.String(); !strings.Contains(got, "federated tracing model: shipped weights") {
			t.Errorf("got log %q after 50 requests, want the shipped federated weights kept", got)
		}
		if got, err := svc.FederatedAdapted(ctx, isp); err != nil || got != 0 {
			t.Errorf("got a model adapted to %d requests (%v) after 50, want the shipped one", got, err)
		}
	})
	if err := svc.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	got := logs.String()
	if !strings.Contains(got, "federated tracing model adapted to the open requests") || !strings.Contains(got, "isp=isp-1@1 requests=120") {
		t.Errorf("got log %q after %d requests, want the federated model adapted to 120 at the rebuild", got, n)
	}
	if got, err := svc.FederatedAdapted(ctx, isp); err != nil || got != 120 {
		t.Errorf("got a model adapted to %d requests (%v), want 120", got, err)
	}
	answer("120 requests")
	for _, name := range append(registerGiven, registerFamily...) {
		if strings.Contains(got, name) {
			t.Errorf("got log %q, want no name (%s)", got, name)
		}
	}
}

// The register fileRegister files: every given name with every family
// name, 120 children.
var (
	registerGiven  = []string{"amina", "hodan", "faisal", "yusuf", "leyla", "omar", "zahra", "bilal", "samira", "khalid", "nasra", "idris"}
	registerFamily = []string{"warsame", "abdi", "farah", "jama", "nur", "osman", "hirsi", "dualeh", "egal", "samatar"}
)

// fileRegister files a consenting case and an open tracing request for
// each of the register's children (amina warsame first, born
// 2012-01-01), rebuilds the index after the 50th and calls at50, and
// returns how many it filed.
func fileRegister(t *testing.T, cases *casework.Service, svc *tracing.Service, fx *fixture, at50 func()) int {
	t.Helper()
	ctx := context.Background()
	n := 0
	for _, g := range registerGiven {
		for _, f := range registerFamily {
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
				at50()
			}
		}
	}
	return n
}

// loggedService is a tracing service over cases in a memstore, whose log
// is kept.
func loggedService() (*casework.Service, *tracing.Service, *bytes.Buffer) {
	var logs bytes.Buffer
	s := memstore.New()
	cases := casework.New(casework.Options{Store: s, Forms: forms.Standard(), Agency: "agency-a", Now: func() time.Time { return now }})
	svc := tracing.New(tracing.Options{Store: s, Cases: cases, Now: func() time.Time { return now }, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	return cases, svc, &logs
}
