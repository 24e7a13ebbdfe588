package exchange

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cpx-node/cpx/crypto/keyring"
	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/forms"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/memstore"
	"github.com/cpx-node/cpx/policy"
)

func testKeyring(t testing.TB) keyring.Keyring {
	t.Helper()
	kr, err := keyring.CreateFileWithParams(filepath.Join(t.TempDir(), "keyring.json"), []byte("passphrase"), keyring.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// openRows opens an exchange over st whose cases use indexKey (the key
// report rows derive theirs from).
func openRows(t testing.TB, st store.Store, kr keyring.Keyring, indexKey []byte) *Service {
	t.Helper()
	fc := forms.Standard()
	cases := casework.New(casework.Options{Store: st, Forms: fc, Agency: "agency-a", IndexKey: indexKey})
	s, err := Open(context.Background(), Options{Store: st, Keyring: kr, Cases: cases, Forms: fc, Agency: "agency-a", PeerID: "peer-a"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func rowSubject(t testing.TB, user, group, role string) policy.Subject {
	t.Helper()
	r, ok := policy.RoleByID(policy.StandardRoles(), role)
	if !ok {
		t.Fatalf("no role %q", role)
	}
	return policy.Subject{User: user, Group: group, Agency: "agency-a", Role: r}
}

// randomRecord is an exchange of any kind, direction, owner and state.
func randomRecord(rng *rand.Rand, i int, now time.Time) Record {
	pick := func(l ...string) string { return l[rng.IntN(len(l))] }
	rec := Record{
		ID: fmt.Sprintf("x%05d", i), Kind: pick(KindReferral, KindReferral, KindTransfer, KindDisclosure, KindAggregate),
		Direction: pick(Outgoing, Incoming), Peer: pick("agency-b", "agency-c"), Service: pick("health", "education", ""),
		CaseNumber: fmt.Sprint("CP-", i), Note: "a note with case detail", ISP: "isp", ISPVersion: 1,
		CreatedAt: now.Add(-time.Duration(rng.IntN(90*24)) * time.Hour),
	}
	if rec.Direction == Outgoing {
		rec.CreatedBy = pick("amina", "omar", "sahra") + "@agency-a"
		switch rng.IntN(3) {
		case 0:
			rec.Owner, rec.OwnerGroup = "amina", "g1"
		case 1:
			rec.Owner, rec.OwnerGroup = "omar", "g2"
		} // else: a record from before owners were kept
	} else {
		rec.CreatedBy = "farah@" + rec.Peer
		rec.OwnerGroup = pick(DefaultIntakeGroup, "")
		rec.Fields = map[string]any{"name_first": "Hodan", "age": 7.0}
	}
	rec.event(rec.CreatedAt, pick(StatusPending, StatusDelivered), rec.CreatedBy, "")
	return rec
}

// countRows counts what ReportRows hands over, by row (days as reports
// read them).
func countRows(ctx context.Context, s *Service, sub policy.Subject) (map[ReportRow]int, error) {
	out := map[ReportRow]int{}
	err := s.ReportRows(ctx, sub, func(r ReportRow) error {
		out[r]++
		return nil
	})
	return out, err
}

// countScan counts the same from the exchanges List returns: the plain
// scan that reports read before the rows.
func countScan(ctx context.Context, s *Service, sub policy.Subject) (map[ReportRow]int, error) {
	recs, err := s.List(ctx, sub, Filter{})
	out := map[ReportRow]int{}
	for _, e := range recs {
		if e.Kind != KindAggregate {
			out[ReportRow{Kind: e.Kind, Direction: e.Direction, Peer: e.Peer, Service: e.Service, Status: e.Status, CreatedAt: e.CreatedAt.UTC()}]++
		}
	}
	return out, err
}

// sameAsScan checks that every subject counts from the rows exactly what
// it lists.
func sameAsScan(t *testing.T, s *Service, when string) {
	t.Helper()
	ctx := context.Background()
	for _, sub := range []policy.Subject{
		rowSubject(t, "amina", "g1", "caseworker"), rowSubject(t, "omar", "g2", "caseworker"),
		rowSubject(t, "sahra", "g1", "supervisor"), rowSubject(t, "farah", DefaultIntakeGroup, "caseworker"),
		rowSubject(t, "ali", "", "agency_admin"), rowSubject(t, "dina", "", "dpo"), rowSubject(t, "cora", "", "coordinator"),
	} {
		got, gerr := countRows(ctx, s, sub)
		want, werr := countScan(ctx, s, sub)
		if (gerr != nil) != (werr != nil) {
			t.Errorf("%s, %s (%s): rows error %v, scan error %v", when, sub.User, sub.Role.ID, gerr, werr)
			continue
		}
		if !maps.Equal(got, want) {
			t.Errorf("%s, %s (%s): rows count\n%v\nthe scan counts\n%v", when, sub.User, sub.Role.ID, got, want)
		}
	}
}

// TestReportRowsFollowChanges: after exchanges are created, answered,
// withdrawn, failed and shredded, each subject counts from the rows what
// it lists, aggregates left out; the rows hold no case number, note or
// case data.
func TestReportRowsFollowChanges(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	s := openRows(t, st, testKeyring(t), []byte("0123456789abcdef0123456789abcdef"))
	if !s.rowsReady {
		t.Fatal("rows not ready after Open on an empty store")
	}
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	recs := make([]Record, 200)
	if err := st.Update(ctx, func(w store.Writer) error {
		for i := range recs {
			recs[i] = randomRecord(rng, i, now)
			if err := s.putRecord(w, &recs[i]); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sameAsScan(t, s, "created")
	states := []string{StatusDelivered, StatusAccepted, StatusRejected, StatusDone, StatusRevoked, StatusFailed}
	for round := range 3 {
		if err := st.Update(ctx, func(w store.Writer) error {
			for i := range recs {
				if rng.IntN(2) == 0 {
					continue
				}
				recs[i].event(now, states[rng.IntN(len(states))], "amina@agency-a", "")
				if rng.IntN(4) == 0 {
					recs[i].Fields, recs[i].Shredded = nil, &now
				}
				if err := s.putRecord(w, &recs[i]); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		sameAsScan(t, s, fmt.Sprint("after round ", round+1, " of changes"))
	}
	if err := st.View(ctx, func(r store.Reader) error {
		return r.Scan(prefixReportRow, store.ScanOptions{}, func(k, v []byte) error {
			plain, _, err := s.rows.Open(nil, nil, k[len(prefixReportRow):], v)
			if err != nil {
				return err
			}
			for _, secret := range []string{"CP-", "a note", "Hodan", "farah"} {
				if strings.Contains(string(plain), secret) {
					t.Errorf("row %s holds %q: %q", k, secret, plain)
				}
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
}

// TestReportRowsRebuild: a store whose rows are missing (from before
// them), of another format, or under another index key (a restore) is
// rebuilt at Open; a store in order is not.
func TestReportRowsRebuild(t *testing.T) {
	ctx := context.Background()
	st, kr := memstore.New(), testKeyring(t)
	key1, key2 := []byte("0123456789abcdef0123456789abcdef"), []byte("fedcba9876543210fedcba9876543210")
	s := openRows(t, st, kr, key1)
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(3, 4))
	if err := st.Update(ctx, func(w store.Writer) error {
		for i := range 1200 { // more than two batches
			rec := randomRecord(rng, i, now)
			if err := putJSON(w, key(prefixRecord, rec.ID), rec); err != nil { // as before the rows
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	rows := func() int {
		n := 0
		st.View(ctx, func(r store.Reader) error {
			return r.Scan(prefixReportRow, store.ScanOptions{}, func(_, _ []byte) error { n++; return nil })
		})
		return n
	}
	if n := rows(); n != 0 {
		t.Fatalf("rows before the rebuild: got %d, want 0", n)
	}
	st.Update(ctx, func(w store.Writer) error { return w.Delete(keyRowMeta) })
	for _, tc := range []struct {
		name    string
		prepare func()
		key     []byte
	}{
		{"missing", func() {}, key1},
		{"in order", func() {}, key1},
		{"another format", func() {
			st.Update(ctx, func(w store.Writer) error {
				return w.Set(keyRowMeta, s.rows.Seal(string(keyRowMeta), []byte("cpx-exchange-rows-v0")))
			})
		}, key1},
		{"another key", func() {}, key2},
	} {
		tc.prepare()
		s = openRows(t, st, kr, tc.key)
		if !s.rowsReady {
			t.Errorf("%s: rows not ready after Open", tc.name)
		}
		var meta []byte
		st.View(ctx, func(r store.Reader) error { meta, _ = r.Get(keyRowMeta); return nil })
		plain, _, err := s.rows.Open(nil, nil, keyRowMeta, meta)
		if err != nil || string(plain) != rowsMeta {
			t.Errorf("%s: meta after Open: got %q, %v; want %q", tc.name, plain, err, rowsMeta)
		}
		sameAsScan(t, s, tc.name)
	}
	// Rebuilt rows: one per exchange but the aggregates.
	want := 0
	st.View(ctx, func(r store.Reader) error {
		return r.Scan(prefixRecord, store.ScanOptions{}, func(_, v []byte) error {
			var rec Record
			unmarshal(v, &rec)
			if rec.Kind != KindAggregate {
				want++
			}
			return nil
		})
	})
	if n := rows(); n != want {
		t.Errorf("rows after the rebuilds: got %d, want %d", n, want)
	}
	// Rows in order are not rebuilt.
	n, err := s.buildRows(ctx)
	if err != nil || n != 0 {
		t.Errorf("buildRows on rows in order: got %d, %v; want 0, nil", n, err)
	}
}

// TestReportRowsTampered: a row changed in the store, moved to another
// exchange, cut short, or of no exchange does not authenticate and is
// never counted: the report that reads it (the first after the node
// opens, or after any row changed) has the rows filed again from the
// records (audited) and counts what a scan counts.
func TestReportRowsTampered(t *testing.T) {
	ctx := context.Background()
	st, kr, indexKey := memstore.New(), testKeyring(t), []byte("0123456789abcdef0123456789abcdef")
	s := openRows(t, st, kr, indexKey)
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	if err := st.Update(ctx, func(w store.Writer) error {
		for i := range 2 {
			rec := Record{ID: fmt.Sprint("x", i), Kind: KindReferral, Direction: Outgoing, Peer: "agency-b", Status: StatusPending, CreatedBy: "amina@agency-a", CreatedAt: now}
			if err := s.putRecord(w, &rec); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	admin := rowSubject(t, "ali", "", "agency_admin")
	if _, err := countRows(ctx, s, admin); err != nil {
		t.Fatal(err)
	}
	var row0, row1 []byte
	st.View(ctx, func(r store.Reader) error {
		row0, _ = r.Get(key(prefixReportRow, "x0"))
		row1, _ = r.Get(key(prefixReportRow, "x1"))
		return nil
	})
	flipped := append([]byte{}, row0...)
	flipped[len(flipped)-20] ^= 1
	repairs := func() int {
		t.Helper()
		n := 0
		if err := st.View(ctx, func(r store.Reader) error {
			return audit.Scan(r, func(e audit.Entry) error {
				if e.Action == "exchange.rows.rebuilt" {
					n++
				}
				return nil
			})
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	check := func(name, when string, s *Service) {
		t.Helper()
		before := repairs()
		got, err := countRows(ctx, s, admin)
		if err != nil {
			t.Fatalf("%s, %s: the report failed: %v", name, when, err)
		}
		want, err := countScan(ctx, s, admin)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, want) {
			t.Errorf("%s, %s: counted %v from the rows, want %v", name, when, got, want)
		}
		if n := repairs() - before; n != 1 {
			t.Errorf("%s, %s: %d exchange.rows.rebuilt audit entries, want 1", name, when, n)
		}
	}
	for _, tc := range []struct {
		name   string
		tamper func(w store.Writer) error
	}{
		{"a bit flipped", func(w store.Writer) error { return w.Set(key(prefixReportRow, "x0"), flipped) }},
		{"moved", func(w store.Writer) error { return w.Set(key(prefixReportRow, "x0"), row1) }},
		{"truncated", func(w store.Writer) error { return w.Set(key(prefixReportRow, "x0"), row0[:10]) }},
		{"a row without an exchange", func(w store.Writer) error { return w.Set(key(prefixReportRow, "x7"), row0) }},
	} {
		if err := st.Update(ctx, tc.tamper); err != nil {
			t.Fatal(err)
		}
		check(tc.name, "after an open", openRows(t, st, kr, indexKey))
		if err := st.Update(ctx, tc.tamper); err != nil {
			t.Fatal(err)
		}
		if err := st.Update(ctx, func(w store.Writer) error {
			rec := Record{ID: "x9", Kind: KindReferral, Direction: Outgoing, Peer: "agency-c", Status: StatusPending, CreatedBy: "amina@agency-a", CreatedAt: now}
			return s.putRecord(w, &rec)
		}); err != nil {
			t.Fatal(err)
		}
		check(tc.name, "after a change", s)
	}
}

// TestRecordsWrittenWithRows guards the rule that keeps the rows in step:
// outside putRecord, no code of the package writes or deletes an
// exchange record.
func TestRecordsWrittenWithRows(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	write := regexp.MustCompile(`(putJSON|\.Set|\.Delete)\([^)]*prefixRecord`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || f == "reportrows.go" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if write.MatchString(line) {
				t.Errorf("%s:%d writes an exchange record without its report row (use putRecord): %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}
}

func TestDecodeRowRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	for _, rec := range []Record{
		{Kind: KindReferral, Direction: Outgoing, Peer: "agency-b", Service: "health", Status: StatusAccepted, Owner: "amina", OwnerGroup: "g1", CreatedBy: "amina@agency-a", CreatedAt: now},
		{Kind: KindTransfer, Direction: Incoming, Peer: "agency-c", Status: StatusDelivered, OwnerGroup: "intake", CreatedBy: "farah@agency-c"},
	} {
		row, scope, err := decodeRow(encodeRow(&rec), interner{})
		want := ReportRow{Kind: rec.Kind, Direction: rec.Direction, Peer: rec.Peer, Service: rec.Service, Status: rec.Status, CreatedAt: rec.CreatedAt}
		if err != nil || row != want {
			t.Errorf("got %+v, %v; want %+v", row, err, want)
		}
		wantSender := ""
		if rec.Direction == Outgoing {
			wantSender = senderOf(&rec)
		}
		if scope.Owner != rec.Owner || scope.OwnerGroup != rec.OwnerGroup || scope.CreatedBy != wantSender {
			t.Errorf("scope: got %q %q %q, want %q %q %q", scope.Owner, scope.OwnerGroup, scope.CreatedBy, rec.Owner, rec.OwnerGroup, wantSender)
		}
	}
}

// FuzzExchangeRow: the row decoder fails with an error on any bytes,
// never panics.
func FuzzExchangeRow(f *testing.F) {
	rec := Record{Kind: KindReferral, Direction: Outgoing, Peer: "agency-b", Service: "health", Status: StatusAccepted, Owner: "amina", CreatedBy: "amina@agency-a", CreatedAt: time.Unix(1, 0)}
	b := encodeRow(&rec)
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = decodeRow(b, nil)
	})
}

// TestReportRowsKeptInMemory: a write that changes no reportable value
// (a delivery attempt) leaves the rows and their generation alone, and a
// report then counts from memory; a change is counted by the next report.
func TestReportRowsKeptInMemory(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	s := openRows(t, st, testKeyring(t), []byte("0123456789abcdef0123456789abcdef"))
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	rec := Record{ID: "x0", Kind: KindReferral, Direction: Outgoing, Peer: "agency-b", Service: "health", CreatedBy: "amina@agency-a", Owner: "amina", OwnerGroup: "g1", CreatedAt: now}
	rec.event(now, StatusPending, "amina@agency-a", "")
	put := func() {
		t.Helper()
		if err := st.Update(ctx, func(w store.Writer) error { return s.putRecord(w, &rec) }); err != nil {
			t.Fatal(err)
		}
	}
	gen := func() string {
		var g []byte
		st.View(ctx, func(r store.Reader) error { g, _ = r.Get(keyRowGeneration); return nil })
		return string(g)
	}
	put()
	admin := rowSubject(t, "ali", "", "agency_admin")
	if _, err := countRows(ctx, s, admin); err != nil {
		t.Fatal(err)
	}
	first, g := s.rowCopy, gen()
	rec.SyncError, rec.Sync = "peer unreachable", SyncSending
	put()
	if gen() != g {
		t.Error("a delivery attempt changed the rows' generation")
	}
	if _, err := countRows(ctx, s, admin); err != nil || s.rowCopy != first {
		t.Errorf("after a delivery attempt: err %v, rows read again %v; want the copy in memory", err, s.rowCopy != first)
	}
	rec.event(now, StatusAccepted, "farah@agency-b", "")
	put()
	got, err := countRows(ctx, s, admin)
	want := map[ReportRow]int{{Kind: KindReferral, Direction: Outgoing, Peer: "agency-b", Service: "health", Status: StatusAccepted, CreatedAt: now}: 1}
	if err != nil || !maps.Equal(got, want) {
		t.Errorf("after the answer: got %v, %v; want %v", got, err, want)
	}
}
