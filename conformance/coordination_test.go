package conformance_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/nodedir"
	"github.com/cpx-node/cpx/policy"
)

const aggregateISP = `format = "cpx-isp/1"
id = "coord-isp"
version = %d
title = "Monthly case figures to the sub-cluster"
valid_from = 2026-01-01T00:00:00Z
valid_until = 2035-01-01T00:00:00Z

[[party]]
agency = "agency-a"
name = "A"
signing_key = "%s"

[[party]]
agency = "agency-b"
name = "B"
signing_key = "%s"

[[party]]
agency = "coord"
name = "Sub-cluster"
signing_key = "%s"

[[purpose]]
name = "aggregate"
from = ["agency-a", "agency-b"]
to = ["coord"]
reports = ["case_characteristics"]
threshold = %d
frequency = "monthly"
`

type coordNode struct {
	dir    string
	peerID string
	addr   string
	fp     string
}

// initCoordNode inits and starts a node with a fixed libp2p port.
func initCoordNode(t *testing.T, agency string, extra ...string) (coordNode, *node) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), agency)
	must(t, append([]string{"init", "--dir", dir, "--agency", agency, "--listen", "127.0.0.1:0",
		"--p2p-listen", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", freeTCPPort(t))}, extra...)...)
	running := start(t, dir)
	var id struct {
		PeerID         string   `json:"peer_id"`
		Addrs          []string `json:"addrs"`
		KeyFingerprint string   `json:"key_fingerprint"`
	}
	mustJSON(t, &id, "node", "id", "--dir", dir)
	return coordNode{dir: dir, peerID: id.PeerID, addr: id.Addrs[0], fp: id.KeyFingerprint}, running
}

// TestCoordination drives two agencies and a coordination node through
// the binary: pushes under an ISP's aggregate rule, a push while the
// coordination node is down delivered once it is back, submissions with
// who is missing, a resubmission that replaces the first and keeps it in
// the history, the merged table controlled again, and a table the
// coordination node's renewed ISP no longer allows refused, audited and
// the sender told why.
func TestCoordination(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: three nodes")
	}
	a, _ := initCoordNode(t, "agency-a")
	b, bRunning := initCoordNode(t, "agency-b")
	co, coRunning := initCoordNode(t, "coord", "--coordination")
	nodes := map[string]coordNode{"agency-a": a, "agency-b": b, "coord": co}
	running := map[string]*node{"coord": coRunning}
	for name, n := range nodes {
		for other, o := range nodes {
			if other != name {
				must(t, "peer", "add", o.addr, "--agency", other, "--dir", n.dir)
			}
		}
	}
	writeISP := func(version, k int) string {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("isp-v%d.toml", version))
		os.WriteFile(path, []byte(fmt.Sprintf(aggregateISP, version, a.fp, b.fp, co.fp, k)), 0o644)
		for _, n := range nodes {
			must(t, "policy", "sign", path, "--dir", n.dir)
		}
		return path
	}
	v1 := writeISP(1, 3)
	for _, n := range nodes {
		must(t, "policy", "apply", v1, "--dir", n.dir)
	}

	period := time.Now().UTC().Format("2006-01")
	today := time.Now().UTC().Format(time.DateOnly)
	imo := map[string][]string{}
	for _, n := range []coordNode{a, b} {
		agency := filepath.Base(n.dir)
		u, err := nodedir.ReadAPIURL(n.dir)
		if err != nil {
			t.Fatal(err)
		}
		worker := []string{"--api", u, "--token", addUser(t, n.dir, "worker", "caseworker")}
		imo[agency] = []string{"--api", u, "--token", addUser(t, n.dir, "imo", "coordinator")}
		for i := range 8 {
			sex := []string{"female", "male"}[i%2]
			must(t, append([]string{"case", "create", "--form", "registration", "--set", fmt.Sprint("name_first=Child", i),
				"--set", "sex=" + sex, "--set", "age=9", "--set", "risk_level=high", "--set", "registration_date=" + today}, worker...)...)
		}
	}
	coURL, _ := nodedir.ReadAPIURL(co.dir)
	coAdmin, err := nodedir.ReadCredentials(co.dir)
	if err != nil {
		t.Fatal(err)
	}
	atCoord := []string{"--api", coURL, "--token", coAdmin.Token}

	type subs struct {
		Submissions []struct {
			Agency, Report string
			Version        int
			Current        bool
		}
		Missing []string
	}
	var got subs
	mustJSON(t, &got, append([]string{"report", "submissions", "--period", period}, atCoord...)...)
	if strings.Join(got.Missing, ",") != "agency-a,agency-b" || len(got.Submissions) != 0 {
		t.Fatalf("submissions before any push: got %+v, want none and both missing", got)
	}

	// The administrator may not count cases: a push is refused.
	r := cpx(t, nil, "report", "push", "--to", "coord", "--period", period, "--dir", a.dir, "case_characteristics")
	if r.code == 0 || !strings.Contains(r.stderr, "counts the whole agency") {
		t.Fatalf("push as the node's administrator: exit %d, want a refusal\n%s%s", r.code, r.stdout, r.stderr)
	}

	push := func(agency string) result {
		return cpx(t, nil, append(append([]string{"report", "push", "--to", "coord", "--period", period}, imo[agency]...), "case_characteristics")...)
	}
	if r := push("agency-a"); r.code != 0 || !strings.Contains(r.stdout, "delivered") {
		t.Fatalf("push from agency-a: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// A period that does not parse, or that the ISP does not cover, is
	// refused on the agency's node and nothing is sent (the submissions
	// below stay one per push).
	for _, p := range []string{"2026-13", "Nov 2026", "2026-Q4", "2025-12", "2035-02"} {
		r := cpx(t, nil, append(append([]string{"report", "push", "--to", "coord", "--period", p}, imo["agency-a"]...), "case_characteristics")...)
		if r.code == 0 || !strings.Contains(r.stderr, p) {
			t.Errorf("push for period %q: exit %d, stderr %q; want non-zero naming the period", p, r.code, r.stderr)
		}
		// Bad input is not a refusal: exit 1, not 4 (forbidden).
		if _, err := policy.PeriodFrequency(p); err != nil && r.code != 1 {
			t.Errorf("push for period %q that does not parse: exit %d; want 1 (bad input)", p, r.code)
		}
	}
	for _, args := range [][]string{{"report", "submissions", "--period", "2026-13"}, {"report", "run", "--merged", "--period", "11/2026"}} {
		what := strings.Join(args, " ")
		args = append(args, atCoord...)
		if args[1] == "run" {
			args = append(args, "case_characteristics")
		}
		if r := cpx(t, nil, args...); r.code == 0 || !strings.Contains(r.stderr, "does not parse") {
			t.Errorf("%s: exit %d, stderr %q; want non-zero, the period does not parse", what, r.code, r.stderr)
		}
	}

	// The coordination node is down: agency-b's push waits in the outbox
	// and arrives, once, when it is back.
	running["coord"].stop(t)
	if r := push("agency-b"); r.code != 0 || !strings.Contains(r.stdout, "waiting in the outbox") {
		t.Fatalf("push from agency-b while coord is down: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	running["coord"] = start(t, co.dir)
	coURL, _ = nodedir.ReadAPIURL(co.dir)
	atCoord = []string{"--api", coURL, "--token", coAdmin.Token}
	deadline := time.Now().Add(60 * time.Second)
	for {
		mustJSON(t, &got, append([]string{"report", "submissions", "--period", period}, atCoord...)...)
		if len(got.Submissions) == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if len(got.Submissions) != 2 || len(got.Missing) != 0 {
		t.Fatalf("submissions after coord came back: got %+v, want one of each agency and none missing", got)
	}
	time.Sleep(2 * time.Second) // a second delivery would show now
	mustJSON(t, &got, append([]string{"report", "submissions", "--period", period}, atCoord...)...)
	if len(got.Submissions) != 2 {
		t.Fatalf("agency-b's push arrived more than once: %+v", got)
	}

	// A resubmission replaces the first; both stay in the history.
	if r := push("agency-a"); r.code != 0 {
		t.Fatalf("second push from agency-a: exit %d\n%s", r.code, r.stderr)
	}
	mustJSON(t, &got, append([]string{"report", "submissions", "--period", period, "--report", "case_characteristics"}, atCoord...)...)
	var hist []string
	for _, s := range got.Submissions {
		hist = append(hist, fmt.Sprintf("%s v%d %v", s.Agency, s.Version, s.Current))
	}
	if g, w := strings.Join(hist, "; "), "agency-a v1 false; agency-a v2 true; agency-b v1 true"; g != w {
		t.Fatalf("history: got %q, want %q", g, w)
	}

	// The merged table: 16 cases, 8 girls and 8 boys aged 6-11.
	var merged struct {
		Result struct {
			K      int
			Tables []struct {
				Rows  []struct{ Key string }
				Cols  []struct{ Key string }
				Cells []struct {
					Count      int `json:"count,string"`
					Suppressed string
				}
				Total struct {
					Count int `json:"count,string"`
				}
			}
		}
	}
	mustJSON(t, &merged, append(append([]string{"report", "run", "--period", period, "--merged"}, atCoord...), "case_characteristics")...)
	if merged.Result.K < 3 || len(merged.Result.Tables) != 1 || merged.Result.Tables[0].Total.Count != 16 {
		t.Fatalf("merged: got %+v, want one table of 16 cases with k ≥ 3", merged.Result)
	}
	for _, c := range merged.Result.Tables[0].Cells {
		if c.Suppressed == "" && c.Count > 0 && c.Count < merged.Result.K {
			t.Errorf("merged table publishes %d, below k %d", c.Count, merged.Result.K)
		}
	}
	out := filepath.Join(t.TempDir(), "merged.xlsx")
	must(t, append(append([]string{"report", "run", "--period", period, "--merged", "-o", "xlsx", "--out", out}, atCoord...), "case_characteristics")...)
	if st, err := os.Stat(out); err != nil || st.Size() == 0 {
		t.Fatalf("merged xlsx: %v", err)
	}

	// A schedule in agency-b's configuration pushes last month's report
	// once the month is over (push_day 1), as the user "schedule".
	prev := time.Now().UTC().AddDate(0, 0, -time.Now().UTC().Day()).Format("2006-01")
	bRunning.stop(t)
	bSched := startEnv(t, b.dir, []string{"CPX_REPORTS_PUSH=case_characteristics@coord", "CPX_REPORTS_PUSH_DAY=1"})
	deadline = time.Now().Add(60 * time.Second)
	var sched struct {
		Submissions []struct{ Agency, Actor string }
	}
	for {
		mustJSON(t, &sched, append([]string{"report", "submissions", "--period", prev}, atCoord...)...)
		if len(sched.Submissions) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if len(sched.Submissions) != 1 || sched.Submissions[0].Agency != "agency-b" || sched.Submissions[0].Actor != "schedule@agency-b" {
		t.Fatalf("scheduled push for %s: got %+v, want one from schedule@agency-b\n%s", prev, sched.Submissions, bSched.stderr)
	}

	// The coordination node applies a renewal with k 10: agency-a, still
	// under version 1, sends cells of 4; the coordination node refuses the
	// table, audits it, and agency-a is told why.
	v2 := writeISP(2, 10)
	must(t, "policy", "apply", v2, "--api", coURL, "--token", coAdmin.Token)
	r = push("agency-a")
	if r.code == 0 || !strings.Contains(r.stderr, "threshold 10") {
		t.Fatalf("push of a table the ISP no longer allows: exit %d, want non-zero naming the threshold\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	mustJSON(t, &got, append([]string{"report", "submissions", "--period", period, "--report", "case_characteristics"}, atCoord...)...)
	if len(got.Submissions) != 3 {
		t.Fatalf("a refused table was kept: %+v", got)
	}
	auditOut := must(t, append([]string{"audit", "tail", "-n", "50"}, atCoord...)...)
	if !strings.Contains(auditOut, "aggregate.refused") {
		t.Errorf("coordination audit lacks aggregate.refused:\n%s", auditOut)
	}
}
