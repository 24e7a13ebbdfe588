package conformance_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sendMailTo appends an [smtp] section for m (and extra casework keys) to
// the configuration of the node in dir.
func sendMailTo(t *testing.T, dir string, m *mailpit, casework string) {
	t.Helper()
	host, port, _ := net.SplitHostPort(m.smtpAddr)
	conf := fmt.Sprintf("\n[casework]\n%s\n\n[smtp]\nhost = %q\nport = %s\ntls = \"none\"\nfrom = \"CPX <cpx@example.org>\"\ntimeout = \"5s\"\n", casework, host, port)
	f, err := os.OpenFile(filepath.Join(dir, "cpx.toml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(conf); err != nil {
		t.Fatal(err)
	}
}

// A referral arriving from another agency is emailed to the receiving
// node's intake group (in each member's language), not to other groups;
// its answer is emailed to the caseworker who sent it. The messages name
// the exchange and the sender's case number, never the child.
func TestNotifyReferralArrivalAndAnswer(t *testing.T) {
	m := startMailpit(t)
	dirA, dirB := initFedNode(t, "agency-a"), initFedNode(t, "agency-b")
	sendMailTo(t, dirA, m, "")
	sendMailTo(t, dirB, m, "")
	a, b := start(t, dirA), start(t, dirB)
	defer a.stop(t)
	defer b.stop(t)
	federate(t, dirA, dirB)
	sender := addUser(t, dirA, "amina", "caseworker", "--group", "north", "--email", "amina@agency-a.example")
	intake := addUser(t, dirB, "farah", "caseworker", "--group", "intake", "--email", "farah@agency-b.example", "--language", "fr")
	addUser(t, dirB, "layla", "caseworker", "--group", "intake", "--email", "layla@agency-b.example", "--language", "ar")
	addUser(t, dirB, "omar", "caseworker", "--group", "other", "--email", "omar@agency-b.example")
	onA := []string{"CPX_API=" + a.url, "CPX_TOKEN=" + sender}
	onB := []string{"CPX_API=" + b.url, "CPX_TOKEN=" + intake}

	num := newChild(t, onA)
	as(t, onA, nil, "case", "update", num, "--set", "consent_for_services=yes")
	var sent struct {
		Exchange struct {
			ID string `json:"id"`
		} `json:"exchange"`
	}
	as(t, onA, &sent, "case", "refer", num, "--to", "agency-b", "--service", "health")
	id := sent.Exchange.ID

	arrived := m.to(t, "farah@agency-b.example", "agency-a")
	if arrived.Lang != "fr" || !strings.Contains(arrived.Text, "cpx referral show "+id) {
		t.Errorf("intake message: lang %q, text %q; want French and cpx referral show %s", arrived.Lang, arrived.Text, id)
	}
	checkNoIdentifying(t, arrived)
	ar := m.to(t, "layla@agency-b.example", "agency-a")
	if ar.Lang != "ar" || !strings.Contains(ar.HTML, `dir="rtl"`) || !strings.Contains(ar.Text, id) {
		t.Errorf("Arabic intake message: lang %q, html %q", ar.Lang, ar.HTML)
	}
	checkNoIdentifying(t, ar)

	as(t, onB, nil, "referral", "accept", id)
	answered := m.to(t, "amina@agency-a.example", num)
	if !strings.Contains(answered.Subject, "accepted") || !strings.Contains(answered.Text, id) {
		t.Errorf("answer message: subject %q, text %q", answered.Subject, answered.Text)
	}
	checkNoIdentifying(t, answered)
	time.Sleep(3 * time.Second) // a message to another group would be here by now
	for _, msg := range m.messages(t) {
		if msg.To[0].Address == "omar@agency-b.example" {
			t.Errorf("a caseworker outside the intake group was told: %q", msg.Subject)
		}
	}
}

// A user turns a kind of notification off and on again with cpx user
// notify; while it is off nothing of that kind is sent. Another
// caseworker cannot change it; the changes are audited.
func TestNotifyOptOut(t *testing.T) {
	m := startMailpit(t)
	dir, amina, sahra := caseworkNode(t, m)

	var prefs struct {
		Name string   `json:"name"`
		Off  []string `json:"off"`
	}
	as(t, amina, &prefs, "user", "notify", "--off", "flag,digest")
	if prefs.Name != "amina" || strings.Join(prefs.Off, ",") != "case_flagged,digest" {
		t.Fatalf("after --off flag,digest: %+v", prefs)
	}
	if r := cpx(t, sahra, "user", "notify", "amina", "--on", "all"); r.code != 4 {
		t.Errorf("a supervisor changing a caseworker's notifications: exit %d (%s), want 4", r.code, r.stderr)
	}
	if r := cpx(t, amina, "user", "notify", "--off", "sms"); r.code == 0 || !strings.Contains(r.stderr, "sms") {
		t.Errorf("an unknown kind: exit %d, %q", r.code, r.stderr)
	}
	quiet := newChild(t, amina)
	as(t, sahra, nil, "case", "flag", quiet, "--message", "check on Hodan")

	as(t, amina, &prefs, "user", "notify", "--on", "flag")
	if strings.Join(prefs.Off, ",") != "digest" {
		t.Fatalf("after --on flag: %+v", prefs)
	}
	loud := newChild(t, amina)
	as(t, sahra, nil, "case", "flag", loud, "--message", "check on Hodan")
	checkNoIdentifying(t, m.to(t, "amina@agency-a.example", loud))
	time.Sleep(3 * time.Second)
	for _, msg := range m.messages(t) {
		if strings.Contains(msg.Subject, quiet) {
			t.Errorf("sent while flags were off: %q", msg.Subject)
		}
	}
	if out := cpx(t, amina, "user", "notify").stdout; !strings.Contains(out, "digest") || !strings.Contains(out, "off") {
		t.Errorf("cpx user notify shows:\n%s", out)
	}
	// An administrator may change anyone's.
	as(t, []string{"CPX_DIR=" + dir}, &prefs, "user", "notify", "amina", "--on", "all")
	if prefs.Name != "amina" || len(prefs.Off) != 0 {
		t.Errorf("after the administrator's --on all: %+v", prefs)
	}
	tail := must(t, "audit", "tail", "-n", "40", "--dir", dir)
	if strings.Count(tail, "user.notify") < 4 { // three changes, one refusal
		t.Errorf("the changes and the refusal are not all audited:\n%s", tail)
	}
}

// The daily digest goes to a user with tasks at the configured time, once
// a day: a restart does not send it again.
func TestNotifyDigestOnceThroughRestart(t *testing.T) {
	m := startMailpit(t)
	dir := initNode(t, "agency-a")
	sendMailTo(t, dir, m, `digest_time = "00:00"`)
	n := start(t, dir)
	amina := []string{"CPX_API=" + n.url, "CPX_TOKEN=" + addUser(t, dir, "amina", "caseworker", "--group", "g1", "--email", "amina@agency-a.example")}
	addUser(t, dir, "idle", "caseworker", "--group", "g1", "--email", "idle@agency-a.example")
	num := newChild(t, amina)
	as(t, amina, nil, "case", "update", num, "--set", "assessment_due_date=2026-01-05")
	n.stop(t) // today's digest ran at start, before the task existed
	n = start(t, dir)
	d := m.to(t, "amina@agency-a.example", "overdue")
	if !strings.Contains(d.Text, num) || !strings.Contains(d.Subject, "1 overdue") {
		t.Errorf("digest: subject %q, text %q", d.Subject, d.Text)
	}
	checkNoIdentifying(t, d)
	n.stop(t)
	n = start(t, dir)
	time.Sleep(4 * time.Second)
	n.stop(t)
	var digests int
	for _, msg := range m.messages(t) {
		if strings.Contains(msg.Subject, "overdue") {
			digests++
		}
		if msg.To[0].Address == "idle@agency-a.example" {
			t.Errorf("a user without tasks got %q", msg.Subject)
		}
	}
	if digests != 1 {
		t.Errorf("%d digests after two restarts, want 1", digests)
	}
}
