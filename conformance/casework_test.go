package conformance_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// mailpit is a real SMTP server (github.com/axllent/mailpit) started for
// one test; its HTTP API returns what it received. The binary comes from
// CPX_MAILPIT_BIN (.ci/mailpit.sh builds it).
type mailpit struct {
	bin, db          string
	smtpAddr, uiAddr string
	cmd              *exec.Cmd
}

func mailpitBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("CPX_MAILPIT_BIN")
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CPX_MAILPIT_BIN is not set: .ci/run must build Mailpit with .ci/mailpit.sh")
		}
		t.Skip("CPX_MAILPIT_BIN is not set (bin=$(bash .ci/mailpit.sh | tail -n1))")
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startMailpit(t *testing.T) *mailpit {
	t.Helper()
	m := &mailpit{bin: mailpitBin(t), db: filepath.Join(t.TempDir(), "mailpit.db"), smtpAddr: freeAddr(t), uiAddr: freeAddr(t)}
	m.start(t)
	return m
}

func (m *mailpit) start(t *testing.T) {
	t.Helper()
	m.cmd = exec.Command(m.bin, "--smtp", m.smtpAddr, "--listen", m.uiAddr, "--database", m.db,
		"--smtp-auth-accept-any", "--smtp-auth-allow-insecure", "--quiet")
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.stop)
	waitUntil(t, 30*time.Second, "mailpit to answer", func() bool {
		resp, err := http.Get("http://" + m.uiAddr + "/api/v1/messages")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

func (m *mailpit) stop() {
	if m.cmd != nil && m.cmd.ProcessState == nil {
		m.cmd.Process.Kill()
		m.cmd.Wait()
	}
}

// mail is one message as Mailpit's API gives it.
type mail struct {
	ID      string
	To      []struct{ Address string }
	Subject string
	Text    string
	HTML    string
	Lang    string
}

func (m *mailpit) messages(t *testing.T) []mail {
	t.Helper()
	var list struct {
		Messages []mail `json:"messages"`
	}
	getJSON(t, "http://"+m.uiAddr+"/api/v1/messages?limit=500", &list)
	return list.Messages
}

// to waits for a message to addr whose subject contains subj and returns
// it in full.
func (m *mailpit) to(t *testing.T, addr, subj string) mail {
	t.Helper()
	var found mail
	waitUntil(t, 60*time.Second, "a message to "+addr+" about "+subj, func() bool {
		for _, msg := range m.messages(t) {
			if len(msg.To) == 1 && msg.To[0].Address == addr && strings.Contains(msg.Subject, subj) {
				found = msg
				return true
			}
		}
		return false
	})
	getJSON(t, "http://"+m.uiAddr+"/api/v1/message/"+found.ID, &found)
	var headers map[string][]string
	getJSON(t, "http://"+m.uiAddr+"/api/v1/message/"+found.ID+"/headers", &headers)
	if l := headers["Content-Language"]; len(l) > 0 {
		found.Lang = l[0]
	}
	return found
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if ok() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("waited %s for %s", d, what)
}

// caseworkNode starts a node that sends mail to m and requires an approved
// closure, with a caseworker (French) and a supervisor of group g1.
func caseworkNode(t *testing.T, m *mailpit) (dir string, amina, sahra []string) {
	t.Helper()
	dir = initNode(t, "agency-a")
	host, port, _ := net.SplitHostPort(m.smtpAddr)
	conf := fmt.Sprintf("\n[casework]\nclosure_requires_approval = true\n\n[smtp]\nhost = %q\nport = %s\ntls = \"none\"\nfrom = \"CPX <cpx@agency-a.example>\"\ntimeout = \"5s\"\n", host, port)
	f, err := os.OpenFile(filepath.Join(dir, "cpx.toml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(conf)
	f.Close()
	n := start(t, dir)
	ta := addUser(t, dir, "amina", "caseworker", "--group", "g1", "--email", "amina@agency-a.example", "--language", "fr")
	ts := addUser(t, dir, "sahra", "supervisor", "--group", "g1", "--email", "sahra@agency-a.example")
	env := func(tok string) []string { return []string{"CPX_API=" + n.url, "CPX_TOKEN=" + tok} }
	return dir, env(ta), env(ts)
}

// as runs cpx with env and -o json, fails unless it exits 0 and decodes
// its output into v (if not nil).
func as(t *testing.T, env []string, v any, args ...string) {
	t.Helper()
	r := cpx(t, env, append(args, "-o", "json")...)
	if r.code != 0 {
		t.Fatalf("cpx %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
			t.Fatalf("cpx %s: %v\n%s", strings.Join(args, " "), err, r.stdout)
		}
	}
}

// identifying are values of the test child's identifying fields; no email
// may contain one.
var identifying = []string{"Hodan", "Warsame", "2019-03-04", "Kismayo Road"}

func newChild(t *testing.T, env []string) string {
	t.Helper()
	var created struct {
		Case struct {
			CaseNumber string `json:"case_number"`
		} `json:"case"`
	}
	as(t, env, &created, "case", "create", "--set", "name_first=Hodan", "--set", "name_last=Warsame", "--set", "sex=female",
		"--set", "date_of_birth=2019-03-04", "--set", "address_current=Kismayo Road")
	return created.Case.CaseNumber
}

func checkNoIdentifying(t *testing.T, m mail) {
	t.Helper()
	for _, v := range identifying {
		if strings.Contains(m.Subject+m.Text+m.HTML, v) {
			t.Errorf("message %q contains the child's %q", m.Subject, v)
		}
	}
}

// A caseworker requests closure approval, the supervisor gets the email,
// approves, the caseworker gets the outcome (in French), the case closes.
func TestCaseworkClosureApprovalByEmail(t *testing.T) {
	m := startMailpit(t)
	dir, amina, sahra := caseworkNode(t, m)
	num := newChild(t, amina)

	if r := cpx(t, amina, "case", "close", num, "--reason", "reunified"); r.code == 0 {
		t.Fatalf("closed %s before its closure was approved", num)
	}
	as(t, amina, nil, "case", "approval", "request", num, "--type", "closure", "--comment", "Hodan is home")
	req := m.to(t, "sahra@agency-a.example", num)
	if !strings.Contains(req.Text, "cpx approval approve "+num+" --type closure") || req.Lang != "en" {
		t.Errorf("request message: lang %q, text %q", req.Lang, req.Text)
	}
	checkNoIdentifying(t, req)

	var pending struct {
		Approvals []struct {
			CaseNumber string `json:"case_number"`
			CanDecide  bool   `json:"can_decide"`
		} `json:"approvals"`
	}
	as(t, sahra, &pending, "approval", "list", "--pending")
	if len(pending.Approvals) != 1 || pending.Approvals[0].CaseNumber != num || !pending.Approvals[0].CanDecide {
		t.Fatalf("supervisor's pending approvals = %+v", pending.Approvals)
	}
	if r := cpx(t, amina, "approval", "approve", num, "--type", "closure", "--comment", "self"); r.code != 4 {
		t.Errorf("caseworker approving her own request: exit %d (%s), want 4", r.code, r.stderr)
	}
	as(t, sahra, nil, "approval", "approve", num, "--type", "closure", "--comment", "ok")
	if r := cpx(t, sahra, "approval", "approve", num, "--type", "closure", "--comment", "again"); r.code == 0 {
		t.Errorf("approved twice")
	}
	outcome := m.to(t, "amina@agency-a.example", num)
	if outcome.Lang != "fr" || !strings.Contains(outcome.Subject, "approuvé") {
		t.Errorf("outcome message: lang %q, subject %q", outcome.Lang, outcome.Subject)
	}
	checkNoIdentifying(t, outcome)
	as(t, amina, nil, "case", "close", num, "--reason", "reunified")

	var st struct {
		SmtpConfigured bool   `json:"smtp_configured"`
		Sent           string `json:"sent"`
	}
	as(t, []string{"CPX_DIR=" + dir}, &st, "notify", "status")
	if !st.SmtpConfigured || st.Sent != "2" {
		t.Errorf("notify status = %+v, want smtp configured and 2 sent", st)
	}
}

// Notifications queued while the SMTP server is down are delivered, once
// each, when it is back.
func TestCaseworkMailServerDown(t *testing.T) {
	m := startMailpit(t)
	dir, amina, sahra := caseworkNode(t, m)
	m.stop()
	const n = 5
	var nums []string
	for range n {
		num := newChild(t, amina)
		nums = append(nums, num)
		as(t, sahra, nil, "case", "flag", num, "--message", "Hodan's uncle must not visit")
	}
	var st struct {
		Queued  string `json:"queued"`
		Failing string `json:"failing"`
	}
	waitUntil(t, 30*time.Second, "a failed attempt", func() bool {
		as(t, []string{"CPX_DIR=" + dir}, &st, "notify", "status")
		return st.Failing == fmt.Sprint(n)
	})
	if st.Queued != fmt.Sprint(n) {
		t.Fatalf("queued = %s, want %d", st.Queued, n)
	}
	m.start(t)
	for _, num := range nums {
		checkNoIdentifying(t, m.to(t, "amina@agency-a.example", num))
	}
	time.Sleep(3 * time.Second) // a duplicate would arrive by now
	if got := len(m.messages(t)); got != n {
		t.Errorf("mailpit holds %d messages, want %d (each once)", got, n)
	}
}

// Tasks and assignment through the binary: an overdue assessment shows,
// assignment moves it to the new owner, recording the assessment ends it.
func TestCaseworkTasksAndAssignment(t *testing.T) {
	dir := initNode(t, "agency-a")
	n := start(t, dir)
	env := func(tok string) []string { return []string{"CPX_API=" + n.url, "CPX_TOKEN=" + tok} }
	amina := env(addUser(t, dir, "amina", "caseworker", "--group", "g1"))
	bashir := env(addUser(t, dir, "bashir", "caseworker", "--group", "g1"))
	zeinab := env(addUser(t, dir, "zeinab", "caseworker", "--group", "g2"))
	num := newChild(t, amina)
	as(t, amina, nil, "case", "update", num, "--set", "assessment_due_date=2026-01-15")
	type tasks struct {
		Tasks []struct {
			CaseNumber string `json:"case_number"`
			Kind       string `json:"kind"`
			DaysLate   int    `json:"days_late"`
		} `json:"tasks"`
	}
	var tl tasks
	as(t, amina, &tl, "task", "list", "--overdue")
	if len(tl.Tasks) != 1 || tl.Tasks[0].CaseNumber != num || tl.Tasks[0].Kind != "assessment" || tl.Tasks[0].DaysLate <= 0 {
		t.Fatalf("overdue tasks = %+v", tl.Tasks)
	}
	if r := cpx(t, amina, "case", "assign", num, "--to", "zeinab"); r.code != 4 {
		t.Errorf("caseworker assigning outside her group: exit %d (%s), want 4", r.code, r.stderr)
	}
	if r := cpx(t, amina, "case", "assign", num, "--to", "nobody"); r.code == 0 {
		t.Errorf("assigned to an unknown user")
	}
	as(t, amina, nil, "case", "assign", num, "--to", "bashir", "--reason", "leave")
	var mine struct {
		Cases []struct {
			CaseNumber string `json:"case_number"`
		} `json:"cases"`
	}
	as(t, bashir, &mine, "case", "list", "--assigned-to", "me")
	if len(mine.Cases) != 1 || mine.Cases[0].CaseNumber != num {
		t.Errorf("bashir's cases = %+v", mine.Cases)
	}
	tl = tasks{}
	as(t, bashir, &tl, "task", "list", "--overdue")
	if len(tl.Tasks) != 1 {
		t.Errorf("bashir's overdue tasks = %+v, want the assessment", tl.Tasks)
	}
	tl = tasks{}
	as(t, zeinab, &tl, "task", "list")
	if len(tl.Tasks) != 0 {
		t.Errorf("zeinab sees tasks of another group's case: %+v", tl.Tasks)
	}
	as(t, bashir, nil, "case", "update", num, "--set", "assessment_requested_on=2026-01-10")
	tl = tasks{}
	as(t, bashir, &tl, "task", "list", "--overdue")
	if len(tl.Tasks) != 0 {
		t.Errorf("tasks after the assessment = %+v, want none", tl.Tasks)
	}
	var dash struct {
		CasesByStage []struct {
			Key   string `json:"key"`
			Count string `json:"count"`
		} `json:"cases_by_stage"`
	}
	as(t, bashir, &dash, "dashboard")
	if len(dash.CasesByStage) != 1 || dash.CasesByStage[0].Key != "assessment" {
		t.Errorf("dashboard cases by stage = %+v", dash.CasesByStage)
	}
}

// TestCaseworkFlags: bulk flagging from a file and the arguments, the open
// flags listed, one resolved (it leaves the list), a case outside the
// caseworker's reach not flagged and the command exiting non-zero for it.
func TestCaseworkFlags(t *testing.T) {
	dir := initNode(t, "agency-a")
	n := start(t, dir)
	env := func(tok string) []string { return []string{"CPX_API=" + n.url, "CPX_TOKEN=" + tok} }
	amina := env(addUser(t, dir, "amina", "caseworker", "--group", "g1"))
	zeinab := env(addUser(t, dir, "zeinab", "caseworker", "--group", "g2"))
	one, two, three := newChild(t, amina), newChild(t, amina), newChild(t, amina)
	other := newChild(t, zeinab)
	list := filepath.Join(t.TempDir(), "cases.txt")
	if err := os.WriteFile(list, []byte(two+"\n"+three+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	as(t, amina, nil, "case", "flag", one, "--from", list, "--message", "review after the flood", "--date", "2026-12-01")

	type flags struct {
		Flags []struct {
			ID         int    `json:"id"`
			CaseNumber string `json:"case_number"`
			Message    string `json:"message"`
		} `json:"flags"`
	}
	var open flags
	as(t, amina, &open, "flag", "list")
	got := map[string]int{}
	for _, f := range open.Flags {
		if f.Message != "review after the flood" {
			t.Errorf("flag on %s says %q", f.CaseNumber, f.Message)
		}
		got[f.CaseNumber] = f.ID
	}
	if len(got) != 3 || got[one] == 0 || got[two] == 0 || got[three] == 0 {
		t.Fatalf("open flags = %+v; want one on each of %s %s %s", open.Flags, one, two, three)
	}

	as(t, amina, nil, "case", "resolve", two, "--id", strconv.Itoa(got[two]), "--reason", "checked")
	as(t, amina, &open, "flag", "list")
	for _, f := range open.Flags {
		if f.CaseNumber == two {
			t.Errorf("resolved flag still listed: %+v", f)
		}
	}
	if len(open.Flags) != 2 {
		t.Errorf("open flags after resolving one = %+v; want 2", open.Flags)
	}

	// A case of another group is not flagged; the others are, and the
	// command says it did not do all it was asked.
	r := cpx(t, amina, "case", "flag", one, other, "--message", "second look")
	if r.code == 0 || !strings.Contains(r.stderr, other) {
		t.Errorf("flagging %s and another group's %s: exit %d, stderr %q; want non-zero naming %s", one, other, r.code, r.stderr, other)
	}
	var theirs flags
	as(t, zeinab, &theirs, "flag", "list")
	if len(theirs.Flags) != 0 {
		t.Errorf("zeinab's case got flags from amina: %+v", theirs.Flags)
	}
}
