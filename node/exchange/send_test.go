package exchange

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cpx-node/cpx/crypto/agencykey"
	"github.com/cpx-node/cpx/crypto/envelope"
	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/forms"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/memstore"
	"github.com/cpx-node/cpx/policy"
)

// countingStore counts write transactions, and runs beforeUpdate (once,
// then forgets it) before the next one.
type countingStore struct {
	store.Store
	mu           sync.Mutex
	updates      int
	beforeUpdate func()
}

func (s *countingStore) Update(ctx context.Context, fn func(store.Writer) error) error {
	s.mu.Lock()
	s.updates++
	before := s.beforeUpdate
	s.beforeUpdate = nil
	s.mu.Unlock()
	if before != nil {
		before()
	}
	return s.Store.Update(ctx, fn)
}

// count returns the write transactions so far.
func (s *countingStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.updates
}

// sendFixture is agency-a's exchange and casework over one store, with
// agency-b and agency-c known and an ISP in force that lets agency-a
// refer to agency-b.
type sendFixture struct {
	st     *countingStore
	cases  *casework.Service
	ex     *Service
	worker policy.Subject
	kb     *agencykey.Private // agency-b's key
}

func newSendFixture(t *testing.T) sendFixture {
	t.Helper()
	ctx := context.Background()
	st := &countingStore{Store: memstore.New()}
	fc := forms.Standard()
	cases := casework.New(casework.Options{Store: st, Forms: fc, Agency: "agency-a"})
	ex, err := Open(ctx, Options{Store: st, Keyring: testKeyring(t), Cases: cases, Forms: fc, Agency: "agency-a", PeerID: "peer-a", Transport: &hangingTransport{calls: map[string]int{}}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var kb *agencykey.Private
	for _, agency := range []string{"agency-b", "agency-c"} {
		k, err := agencykey.Generate(agency, 1, now.Add(-time.Hour), now.Add(24*time.Hour), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		ann := announce(t, k, "peer-"+agency, now, nil)
		if err := st.Update(ctx, func(w store.Writer) error {
			return putJSON(w, key(prefixPeer, agency), Peer{Agency: agency, PeerID: "peer-" + agency, Announcements: [][]byte{ann}, LastSeen: now})
		}); err != nil {
			t.Fatal(err)
		}
		if agency == "agency-b" {
			kb = k
		}
	}
	if _, err := ex.ApplyISP(ctx, adminSubject(t), signedISP(t, ex.currentKey(), kb), false); err != nil {
		t.Fatal(err)
	}
	return sendFixture{st: st, cases: cases, ex: ex, worker: rowSubject(t, "worker", "", "caseworker"), kb: kb}
}

// newCase creates an open case owned by the fixture's worker.
func (f sendFixture) newCase(t *testing.T) casework.Case {
	t.Helper()
	c, err := f.cases.Create(context.Background(), f.worker, "", map[string]any{"name_first": "Amina", "sex": "female", "age": 9})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// auditSince returns "action outcome" of every audit entry after seq, and
// the entries.
func (f sendFixture) auditSince(t *testing.T, seq uint64) ([]string, []audit.Entry) {
	t.Helper()
	var got []string
	var entries []audit.Entry
	err := f.st.View(context.Background(), func(r store.Reader) error {
		return audit.Scan(r, func(e audit.Entry) error {
			if e.Seq > seq {
				got = append(got, e.Action+" "+e.Outcome)
				entries = append(entries, e)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, entries
}

// head returns the audit log's last sequence number.
func (f sendFixture) head(t *testing.T) uint64 {
	t.Helper()
	var seq uint64
	if err := f.st.View(context.Background(), func(r store.Reader) error {
		var err error
		seq, _, err = audit.Head(r)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return seq
}

// TestSendAuditsReadWithSend: a referral sent leaves the case read and
// the send in the audit log, one after the other, from one write
// transaction; a send refused or ended after the read still leaves the
// read, with the refusal in one transaction; a read that is refused is
// audited as casework's Get audits it.
func TestSendAuditsReadWithSend(t *testing.T) {
	ctx := context.Background()
	f := newSendFixture(t)
	dpo := rowSubject(t, "dpo", "", "dpo")
	stranger := rowSubject(t, "stranger", "", "caseworker")
	closed := f.newCase(t)
	if _, err := f.cases.Close(ctx, f.worker, closed.ID, "done"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		sub      policy.Subject
		to       string
		override bool   // OverrideConsent
		caseID   string // a new case when empty
		wantErr  error
		// want is "action outcome" of each audit entry the send leaves,
		// in the one write transaction it makes.
		want []string
	}{
		{name: "sent", sub: f.worker, to: "agency-b", want: []string{"case.read ok", "referral.send ok"}},
		{name: "no ISP with the recipient", sub: f.worker, to: "agency-c", wantErr: ErrRefused, want: []string{"case.read ok", "referral.send denied"}},
		{name: "unknown recipient", sub: f.worker, to: "agency-x", wantErr: ErrNotFound, want: []string{"case.read ok"}},
		{name: "role may not refer", sub: dpo, to: "agency-b", wantErr: ErrDenied, want: []string{"case.read ok", "referral.send denied"}},
		{name: "role may not override consent", sub: f.worker, to: "agency-b", override: true, wantErr: ErrDenied, want: []string{"case.read ok", "referral.send denied"}},
		{name: "case not open", sub: f.worker, to: "agency-b", caseID: closed.ID, wantErr: ErrState, want: []string{"case.read ok"}},
		{name: "no access to the case", sub: stranger, to: "agency-b", wantErr: casework.ErrDenied, want: []string{"case.read denied"}},
		{name: "no such case", sub: f.worker, to: "agency-b", caseID: "CASE-nope", wantErr: casework.ErrNotFound, want: []string{"case.read failed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			caseID := tc.caseID
			if caseID == "" {
				caseID = f.newCase(t).ID
			}
			seq, before := f.head(t), f.st.count()
			_, err := f.ex.Send(ctx, tc.sub, Offer{Kind: KindReferral, Case: caseID, To: tc.to, Service: "health", OverrideConsent: tc.override})
			if (tc.wantErr == nil) != (err == nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("send: got error %v, want %v", err, tc.wantErr)
			}
			got, entries := f.auditSince(t, seq)
			if !slices.Equal(got, tc.want) {
				t.Errorf("audit entries: got %q, want %q", got, tc.want)
			}
			for _, e := range entries {
				if e.Actor != tc.sub.User {
					t.Errorf("audit entry %s: got actor %q, want %q", e.Action, e.Actor, tc.sub.User)
				}
			}
			if n := f.st.count() - before; n != 1 {
				t.Errorf("write transactions: got %d, want 1", n)
			}
		})
	}
}

// TestSendReadsChangedCaseAgain: a case changed between Send's read and
// its write transaction is read again, and what is sent follows the case
// as it is then: a case closed meanwhile is not sent; a case updated
// meanwhile is sent, with one read audited.
func TestSendReadsChangedCaseAgain(t *testing.T) {
	ctx := context.Background()
	f := newSendFixture(t)
	offer := func(c casework.Case) Offer {
		return Offer{Kind: KindReferral, Case: c.ID, To: "agency-b", Service: "health"}
	}

	c := f.newCase(t)
	seq := f.head(t)
	f.st.mu.Lock()
	f.st.beforeUpdate = func() {
		if _, err := f.cases.Close(ctx, f.worker, c.ID, "moved away"); err != nil {
			t.Error(err)
		}
	}
	f.st.mu.Unlock()
	if _, err := f.ex.Send(ctx, f.worker, offer(c)); !errors.Is(err, ErrState) {
		t.Errorf("case closed before the send's write: got error %v, want %v", err, ErrState)
	}
	got, _ := f.auditSince(t, seq)
	if want := []string{"case.close ok", "case.read ok"}; !slices.Equal(got, want) {
		t.Errorf("case closed before the send's write: audit entries: got %q, want %q", got, want)
	}

	c = f.newCase(t)
	seq, before := f.head(t), f.st.count()
	f.st.mu.Lock()
	f.st.beforeUpdate = func() {
		if _, err := f.cases.Update(ctx, f.worker, c.ID, map[string]any{"name_first": "Amina Z."}, 0); err != nil {
			t.Error(err)
		}
	}
	f.st.mu.Unlock()
	rec, err := f.ex.Send(ctx, f.worker, offer(c))
	if err != nil {
		t.Fatalf("case updated before the send's write: %v", err)
	}
	got, _ = f.auditSince(t, seq)
	if want := []string{"case.update ok", "case.read ok", "referral.send ok"}; !slices.Equal(got, want) {
		t.Errorf("case updated before the send's write: audit entries: got %q, want %q", got, want)
	}
	// The update, the send's write that found the case changed, and the
	// send's write after the case was read again.
	if n := f.st.count() - before; n != 3 {
		t.Errorf("case updated before the send's write: write transactions: got %d, want 3", n)
	}
	var sealed []byte
	if err := f.st.View(ctx, func(r store.Reader) error {
		var err error
		sealed, err = r.Get(key(prefixSealed, rec.Envelope))
		return err
	}); err != nil {
		t.Fatalf("the referral's envelope: %v", err)
	}
	env, err := envelope.Unmarshal(sealed)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := envelope.Open(env, f.kb, f.ex.currentKey().Public(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var msg Message
	if err := json.Unmarshal(plain, &msg); err != nil {
		t.Fatal(err)
	}
	if got := msg.Fields["name_first"]; got != "Amina Z." {
		t.Errorf("case updated before the send's write: sent name_first %q, want %q", got, "Amina Z.")
	}
}
