package notify_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/notify"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/memstore"
	"github.com/cpx-node/cpx/node/users"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func setup(t *testing.T) (store.Store, *notify.Queue, *clock) {
	t.Helper()
	s := memstore.New()
	c := &clock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	err := s.Update(context.Background(), func(w store.Writer) error {
		for _, u := range []users.User{
			{Name: "amina", Role: "caseworker", Email: "amina@agency.example", Language: "fr"},
			{Name: "sahra", Role: "supervisor", Email: "sahra@agency.example"},
			{Name: "noaddr", Role: "caseworker"},
		} {
			if _, err := users.Add(w, u, c.t.Add(time.Hour)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, notify.NewQueue(c.now), c
}

func enqueue(t *testing.T, s store.Store, q *notify.Queue, ns ...casework.Notice) {
	t.Helper()
	if err := s.Update(context.Background(), func(w store.Writer) error {
		for _, n := range ns {
			if err := q.Enqueue(w, n); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestDeliveryRetryAndDedup(t *testing.T) {
	ctx := context.Background()
	s, q, c := setup(t)
	tmpl, err := notify.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	m := &notify.Memory{}
	wk := notify.NewWorker(notify.WorkerOptions{Store: s, Mailer: m, Templates: tmpl, Now: c.now})
	n1 := casework.Notice{ID: "a1", Kind: casework.NoticeApprovalRequested, To: "sahra", CaseNumber: "CASE-000001", Type: "closure", Actor: "amina"}
	n2 := casework.Notice{ID: "a2", Kind: casework.NoticeApprovalDecided, To: "amina", CaseNumber: "CASE-000001", Type: "closure", Outcome: "approved", Actor: "sahra"}
	n3 := casework.Notice{ID: "a3", Kind: casework.NoticeAssigned, To: "noaddr", CaseNumber: "CASE-000002", Actor: "sahra"}
	enqueue(t, s, q, n1, n1, n2, n3) // n1 twice: kept once

	m.SetFail(errors.New("421 try later"))
	if _, err := wk.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	st, _ := notify.ReadStatus(ctx, s)
	if st.Queued != 2 || st.Failing != 2 || st.Skipped != 1 || st.Sent != 0 || !strings.Contains(st.LastError, "421") {
		t.Fatalf("status after a refusal = %+v, want 2 queued failing, 1 skipped, the error", st)
	}
	m.SetFail(nil)
	if n, _ := wk.Deliver(ctx); n != 0 {
		t.Errorf("delivered %d before the backoff ended, want 0", n)
	}
	c.t = c.t.Add(10 * time.Second)
	if _, err := wk.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	sent := m.Sent()
	if len(sent) != 2 {
		t.Fatalf("sent %d messages, want 2", len(sent))
	}
	for _, msg := range sent {
		switch msg.To {
		case "sahra@agency.example":
			if msg.Language != "en" || !strings.Contains(msg.Subject, "CASE-000001") || !strings.Contains(msg.Text, "cpx approval approve CASE-000001 --type closure") {
				t.Errorf("supervisor's message = %+v", msg)
			}
		case "amina@agency.example":
			if msg.Language != "fr" || !strings.Contains(msg.Text, "approuvé") || !strings.Contains(msg.HTML, `lang="fr"`) {
				t.Errorf("caseworker's message = %+v", msg)
			}
		default:
			t.Errorf("message to %q", msg.To)
		}
	}
	// Queued again after it was sent: not sent twice.
	enqueue(t, s, q, n1)
	c.t = c.t.Add(time.Hour)
	wk.Deliver(ctx)
	if got := len(m.Sent()); got != 2 {
		t.Errorf("after queuing a sent notice again: %d messages, want 2", got)
	}
	st, _ = notify.ReadStatus(ctx, s)
	if st.Queued != 0 || st.Sent != 2 {
		t.Errorf("final status = %+v", st)
	}
}

func TestTemplateOverride(t *testing.T) {
	dir := t.TempDir()
	if err := writeFile(dir+"/en.txt.tmpl", `{{define "case_assigned.subject"}}Yours: {{.Case}}{{end}}{{define "case_assigned"}}{{.Case}}{{end}}{{define "footer"}}{{end}}`); err != nil {
		t.Fatal(err)
	}
	tmpl, err := notify.LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := tmpl.Render(casework.Notice{Kind: casework.NoticeAssigned, CaseNumber: "CASE-7"}, "en")
	if err != nil || msg.Subject != "Yours: CASE-7" {
		t.Errorf("override: %+v, %v", msg, err)
	}
	if err := writeFile(dir+"/en.txt.tmpl", `{{define "x"}}{{.Case}`); err != nil {
		t.Fatal(err)
	}
	if _, err := notify.LoadTemplates(dir); err == nil || !strings.Contains(err.Error(), "en.txt.tmpl") {
		t.Errorf("a template that does not parse: %v, want an error naming the file", err)
	}
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }

// Every kind renders in every built-in language, with the case number or
// exchange id and nothing left unexpanded.
func TestRenderEveryKind(t *testing.T) {
	tmpl, err := notify.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	digest := &casework.Digest{Date: "2026-11-25", Overdue: 1, Upcoming: 1, Items: []casework.DigestItem{
		{CaseNumber: "CASE-000009", Kind: "assessment", Due: "2026-11-01", DaysLate: 24},
		{CaseNumber: "CASE-000009", Kind: "case_plan", Due: "2026-11-30", DaysLate: -5},
	}}
	for _, lang := range notify.Languages {
		for _, kind := range casework.NoticeKinds {
			n := casework.Notice{ID: "x", Kind: kind, To: "amina", CaseNumber: "CASE-000009", Type: "closure", Outcome: "approved", Actor: "sahra"}
			want := "CASE-000009"
			switch kind {
			case casework.NoticeReferralReceived, casework.NoticeReferralAnswered:
				n.Type, n.Outcome, n.Exchange, n.Actor = "referral", "accepted", "3f0c2a9e-ex", "agency-b"
				want = "3f0c2a9e-ex"
			case casework.NoticeDigest:
				n.Digest = digest
			}
			msg, err := tmpl.Render(n, lang)
			if err != nil {
				t.Errorf("%s in %s: %v", kind, lang, err)
				continue
			}
			if msg.Language != lang || !strings.Contains(msg.Subject+msg.Text, want) || strings.Contains(msg.Text, "{{") || strings.Contains(msg.Text, "<no value>") {
				t.Errorf("%s in %s: language %q, subject %q, text %q; want %q in it", kind, lang, msg.Language, msg.Subject, msg.Text, want)
			}
		}
	}
}

// An Arabic-speaking user gets the message in Arabic, its HTML marked
// right to left.
func TestArabicUser(t *testing.T) {
	ctx := context.Background()
	s, q, c := setup(t)
	if err := s.Update(ctx, func(w store.Writer) error {
		_, err := users.Add(w, users.User{Name: "layla", Role: "caseworker", Email: "layla@agency.example", Language: "ar"}, c.t.Add(time.Hour))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	tmpl, err := notify.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	m := &notify.Memory{}
	wk := notify.NewWorker(notify.WorkerOptions{Store: s, Mailer: m, Templates: tmpl, Now: c.now})
	enqueue(t, s, q, casework.Notice{ID: "ar1", Kind: casework.NoticeAssigned, To: "layla", CaseNumber: "CASE-000003", Actor: "sahra"})
	if _, err := wk.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	sent := m.Sent()
	if len(sent) != 1 {
		t.Fatalf("sent %d messages, want 1", len(sent))
	}
	msg := sent[0]
	if msg.To != "layla@agency.example" || msg.Language != "ar" || msg.Subject != "أُسندت إليك الحالة CASE-000003" ||
		!strings.Contains(msg.HTML, `lang="ar" dir="rtl"`) || !strings.Contains(msg.Text, "cpx case get CASE-000003") {
		t.Errorf("Arabic message = %+v", msg)
	}
}

// batchMailer refuses the messages to one address and takes the rest, in
// one call per batch.
type batchMailer struct {
	notify.Memory
	refuse  string
	batches int
}

func (b *batchMailer) SendBatch(ctx context.Context, msgs []notify.Message) []error {
	b.batches++
	errs := make([]error, len(msgs))
	for i, m := range msgs {
		if m.To == b.refuse {
			errs[i] = errors.New("550 mailbox unavailable")
			continue
		}
		errs[i] = b.Send(ctx, m)
	}
	return errs
}

// A batch goes to a BatchMailer in one call; a message it refuses is
// retried alone, the others are recorded as sent.
func TestBatchPartialRefusal(t *testing.T) {
	ctx := context.Background()
	s, q, c := setup(t)
	tmpl, err := notify.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	m := &batchMailer{refuse: "sahra@agency.example"}
	wk := notify.NewWorker(notify.WorkerOptions{Store: s, Mailer: m, Templates: tmpl, Now: c.now})
	enqueue(t, s, q,
		casework.Notice{ID: "b1", Kind: casework.NoticeFlagged, To: "amina", CaseNumber: "CASE-000001", Actor: "x"},
		casework.Notice{ID: "b2", Kind: casework.NoticeFlagged, To: "sahra", CaseNumber: "CASE-000002", Actor: "x"},
		casework.Notice{ID: "b3", Kind: casework.NoticeAssigned, To: "amina", CaseNumber: "CASE-000003", Actor: "x"})
	if n, err := wk.Deliver(ctx); err != nil || n != 3 {
		t.Fatalf("Deliver = %d, %v; want 3", n, err)
	}
	st, _ := notify.ReadStatus(ctx, s)
	if m.batches != 1 || len(m.Sent()) != 2 || st.Sent != 2 || st.Queued != 1 || st.Failing != 1 || !strings.Contains(st.LastError, "550") {
		t.Errorf("%d batches, %d sent; status %+v; want 1 batch, 2 sent, 1 failing with the 550", m.batches, len(m.Sent()), st)
	}
}
