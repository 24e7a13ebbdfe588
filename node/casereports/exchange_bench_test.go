package casereports_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cpx-node/cpx/crypto/keyring"
	"github.com/cpx-node/cpx/node/casereports"
	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/exchange"
	"github.com/cpx-node/cpx/node/forms"
	"github.com/cpx-node/cpx/node/reporting"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/memstore"
	"github.com/cpx-node/cpx/policy"
)

// BenchmarkReferralsTransfers runs the managed report referrals_transfers
// (service × status, a table per partner agency) over the same exchanges,
// made once, as the agency's IM officer (agency_admin: every exchange):
// from the exchanges' report rows kept in memory (rows: no exchange
// changed since the last report), from the rows read again from the
// store (rows_reread: one changed before each report), and from a plain
// scan of every exchange record (scan: List, then the same query; the
// baseline, what the report read before the rows). Half the exchanges are incoming
// referrals with the case data received (20 fields), as on a node that
// receives them. The exchanges are written as records, so the log also
// shows the time Open takes to build their rows. CPX_BENCH_EXCHANGES sets
// the number (10,000 by default); CPX_BENCH_STORE=badger puts them in an
// encrypted Badger store in a temporary directory:
//
//	CPX_BENCH_STORE=badger CPX_BENCH_EXCHANGES=100000 go test -run='^$' -bench=ReferralsTransfers -benchtime=10x -benchmem ./node/casereports/
func BenchmarkReferralsTransfers(b *testing.B) {
	ctx := context.Background()
	n := 10000
	if v := os.Getenv("CPX_BENCH_EXCHANGES"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	st := benchStore(b)
	now := time.Now().UTC()
	start := time.Now()
	writeExchanges(b, st, n, now)
	b.Logf("%d exchange records written in %v", n, time.Since(start))
	start = time.Now()
	cases, ex := openExchange(b, st)
	b.Logf("exchange opened, report rows built, in %v", time.Since(start))
	d := managed(b, "referrals_transfers")
	im := subject(b, "ali", "", "agency_admin")
	r := &casereports.Runner{Cases: cases, Exchanges: ex}
	want, err := r.Run(ctx, im, d, reporting.Params{})
	if err != nil {
		b.Fatal(err)
	}
	if want.Records != n {
		b.Fatalf("the report counted %d exchanges, want %d", want.Records, n)
	}
	b.Run("rows", func(b *testing.B) {
		for b.Loop() {
			if _, err := r.Run(ctx, im, d, reporting.Params{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	// An exchange changes before each report (here: the rows'
	// generation, which every change writes, the write not timed): the
	// report reads every row from the store again.
	b.Run("rows_reread", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			if err := st.Update(ctx, func(w store.Writer) error { return w.Set([]byte("x/rg"), []byte(time.Now().String())) }); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := r.Run(ctx, im, d, reporting.Params{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("scan", func(b *testing.B) {
		for b.Loop() {
			if got := scanReport(b, ex, im, d, reporting.Params{}); got.Records != want.Records {
				b.Fatalf("the scan counted %d exchanges, the rows %d", got.Records, want.Records)
			}
		}
	})
}

// writeExchanges writes n exchange records as the exchange writes them
// (x/r/ID → JSON), created over the year before now: referrals of
// agency-a's amina (group g1), and every other one an incoming referral
// with received case data.
func writeExchanges(tb testing.TB, st store.Store, n int, now time.Time) {
	ctx := context.Background()
	statuses := []string{exchange.StatusDelivered, exchange.StatusAccepted, exchange.StatusRejected, exchange.StatusDone, exchange.StatusRevoked}
	received := map[string]any{}
	for i := range 20 {
		received[fmt.Sprint("field_", i)] = "a received value of some length ........................"
	}
	for lo := 0; lo < n; lo += 1000 {
		if err := st.Update(ctx, func(w store.Writer) error {
			for i := lo; i < min(lo+1000, n); i++ {
				rec := exchange.Record{
					ID: fmt.Sprintf("%08d-0000-4000-8000-000000000000", i), Kind: exchange.KindReferral, Direction: exchange.Outgoing,
					Peer: []string{"agency-b", "agency-c", "agency-d"}[i%3], CaseNumber: fmt.Sprint("CP-", i),
					Service: []string{"health", "education", "psychosocial", "legal"}[i%4], Status: statuses[i%5],
					ISP: "isp", ISPVersion: 1, CreatedBy: "amina@agency-a", Owner: "amina", OwnerGroup: "g1",
					CreatedAt: now.Add(-time.Duration(i*7%(365*24)) * time.Hour), UpdatedAt: now, Sync: exchange.SyncInSync,
					History: []exchange.Event{{At: now, Status: exchange.StatusPending, Actor: "amina@agency-a"}, {At: now, Status: statuses[i%5], Actor: "farah@agency-b"}},
				}
				switch i % 6 {
				case 1, 3, 5:
					rec.Direction, rec.Owner, rec.OwnerGroup, rec.CreatedBy = exchange.Incoming, "", exchange.DefaultIntakeGroup, "farah@"+rec.Peer
					rec.Fields, rec.Note = received, "please see the child this week"
				case 2:
					rec.Kind = exchange.KindTransfer
				case 4:
					rec.Owner, rec.OwnerGroup, rec.CreatedBy = "omar", "g2", "omar@agency-a"
				}
				if i%50 == 0 {
					// A tracing disclosure request: an exchange, but neither
					// a referral nor a transfer.
					rec.Kind, rec.Service = exchange.KindDisclosure, ""
				}
				v, err := json.Marshal(rec)
				if err != nil {
					return err
				}
				if err := w.Set([]byte("x/r/"+rec.ID), v); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			tb.Fatal(err)
		}
	}
}

// openExchange opens the exchange over st (building its report rows).
func openExchange(tb testing.TB, st store.Store) (*casework.Service, *exchange.Service) {
	kr, err := keyring.CreateFileWithParams(filepath.Join(tb.TempDir(), "keyring.json"), []byte("passphrase"), keyring.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1})
	if err != nil {
		tb.Fatal(err)
	}
	fc := forms.Standard()
	cases := casework.New(casework.Options{Store: st, Forms: fc, Agency: "agency-a", IndexKey: make([]byte, 32)})
	ex, err := exchange.Open(context.Background(), exchange.Options{Store: st, Keyring: kr, Cases: cases, Forms: fc, Agency: "agency-a", PeerID: "peer-a"})
	if err != nil {
		tb.Fatal(err)
	}
	return cases, ex
}

// scanReport runs def as reports did before the exchanges' rows: every
// exchange record the subject lists, through the same query.
func scanReport(tb testing.TB, ex *exchange.Service, sub policy.Subject, def *reporting.Definition, p reporting.Params) *reporting.Report {
	q, err := reporting.Compile(def, casereports.ExchangeSchema(forms.Standard()), p)
	if err != nil {
		tb.Fatal(err)
	}
	recs, err := ex.List(context.Background(), sub, exchange.Filter{})
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range recs {
		if e.Kind != exchange.KindReferral && e.Kind != exchange.KindTransfer {
			continue
		}
		q.Add(reporting.Record{"kind": e.Kind, "direction": e.Direction, "peer": e.Peer, "service": e.Service, "status": e.Status, "created_at": e.CreatedAt})
	}
	return q.Result()
}

// TestExchangeReportsMatchScan: the referral reports counted from the
// exchanges' rows (built at open from records written before them) are
// the reports a scan of every record gives, for users of every scope,
// with a period, a grouping by month and filters.
func TestExchangeReportsMatchScan(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	writeExchanges(t, st, 3000, now)
	cases, ex := openExchange(t, st)
	r := &casereports.Runner{Cases: cases, Exchanges: ex, Now: func() time.Time { return now }}
	monthly := &reporting.Definition{Name: "monthly", Record: reporting.RecordExchanges, PeriodField: "created_at",
		Rows: &reporting.Dimension{Field: "created_at", Group: "month"}, Columns: &reporting.Dimension{Field: "status"},
		Filters: []reporting.Filter{{Field: "direction", Values: []string{"incoming"}}}}
	for _, sub := range []policy.Subject{
		subject(t, "amina", "g1", "caseworker"), subject(t, "omar", "g2", "caseworker"), subject(t, "sahra", "g1", "supervisor"),
		subject(t, "farah", "intake", "caseworker"), subject(t, "ali", "", "agency_admin"), subject(t, "dina", "", "dpo"),
	} {
		for _, tc := range []struct {
			def *reporting.Definition
			p   reporting.Params
		}{
			{managed(t, "referrals_transfers"), reporting.Params{}},
			{managed(t, "referrals_transfers"), reporting.Params{From: now.AddDate(0, -3, 0), To: now.AddDate(0, -1, 0)}},
			{managed(t, "kpi_referrals_accepted"), reporting.Params{}},
			{monthly, reporting.Params{From: now.AddDate(0, -6, 0)}},
		} {
			got, err := r.Run(ctx, sub, tc.def, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			want := scanReport(t, ex, sub, tc.def, tc.p)
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(want)
			if string(gj) != string(wj) || got.Records != want.Records {
				t.Errorf("%s, %s %+v: from the rows\n%s\nfrom a scan\n%s", sub.User, tc.def.Name, tc.p, gj, wj)
			}
		}
	}
}
