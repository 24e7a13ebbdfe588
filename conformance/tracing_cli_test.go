package conformance_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTracingMinProbability drives cpx trace match --min-probability: the
// cut keeps the candidates at or above it and drops those below, a value
// that is not a probability is refused with exit 1, and so is the flag
// with --federated (bands, no probabilities) or --all.
func TestTracingMinProbability(t *testing.T) {
	dir := initNode(t, "agency-t")
	n := start(t, dir)
	cwToken := addUser(t, dir, "tariq", "caseworker")
	api := []string{"--api", n.url, "--token", cwToken}
	must(t, append([]string{"case", "create",
		"--set", "name_first=Amina", "--set", "name_last=Yusuf", "--set", "sex=female", "--set", "age:=7",
		"--set", "consent_for_tracing:=true"}, api...)...)
	var created struct {
		Request struct {
			Number string `json:"number"`
		} `json:"request"`
	}
	mustJSON(t, &created, append([]string{"trace", "create", "--set", "inquirer_name=Fatima Yusuf", "--set", "relation=mother",
		"--set", "consent_for_tracing=true", "--set", "trace.name=Amina Yusuf", "--set", "trace.sex=female", "--set", "trace.age=7"}, api...)...)
	num := created.Request.Number

	type candidates struct {
		Candidates []struct {
			Probability float64 `json:"probability"`
		} `json:"candidates"`
	}
	var all candidates
	mustJSON(t, &all, append([]string{"trace", "match", num}, api...)...)
	if len(all.Candidates) != 1 {
		t.Fatalf("match: got %d candidates, want 1", len(all.Candidates))
	}
	p := all.Candidates[0].Probability
	for _, c := range []struct {
		cut  string
		want int
	}{
		{"0", 1},
		{strconv.FormatFloat(p, 'g', -1, 64), 1},
		{strconv.FormatFloat(p+0.0001, 'g', -1, 64), 0},
	} {
		if c.want == 0 && p+0.0001 > 1 {
			continue // nothing lies above p
		}
		var got candidates
		mustJSON(t, &got, append([]string{"trace", "match", num, "--min-probability", c.cut}, api...)...)
		if len(got.Candidates) != c.want {
			t.Errorf("--min-probability %s (p=%v): got %d candidates, want %d", c.cut, p, len(got.Candidates), c.want)
		}
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{num, "--min-probability", "1.5"}, "from 0 to 1"},
		{[]string{num, "--min-probability", "-0.1"}, "from 0 to 1"},
		{[]string{num, "--min-probability", "high"}, "from 0 to 1"},
		{[]string{num, "--min-probability", "NaN"}, "from 0 to 1"},
		{[]string{num, "--min-probability", "0.5", "--federated"}, "bands"},
		{[]string{"--all", "--min-probability", "0.5"}, "not --all"},
	} {
		r := cpx(t, nil, append(append([]string{"trace", "match"}, c.args...), api...)...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("trace match %v: exit %d, stderr %q; want exit 2 (usage) and %q", c.args, r.code, r.stderr, c.want)
		}
	}
}

// tracingPair is two federated nodes under ops-isp, whose tracing rule
// carries terms (such as queries_per_minute), and a caseworker on A.
func tracingPair(t *testing.T, terms string) (*opsPair, func(args ...string) []string) {
	t.Helper()
	p := newOpsPair(t)
	file := filepath.Join(p.work, "isp-tracing.toml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(opsISP, 1, p.fpA, p.fpB, terms, 90)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{p.dirA, p.dirB} {
		must(t, "policy", "sign", file, "--dir", d)
	}
	for _, d := range []string{p.dirA, p.dirB} {
		must(t, "policy", "apply", file, "--dir", d)
	}
	return p, user(p.dirA, addUser(t, p.dirA, "amina", "caseworker"))
}

// newTracingRequest files a request with the inquirer's consent on the
// node as and returns its number.
func newTracingRequest(t *testing.T, as func(args ...string) []string, name string) string {
	t.Helper()
	var created struct {
		Request struct {
			Number string `json:"number"`
		} `json:"request"`
	}
	mustJSON(t, &created, as("trace", "create", "--set", "inquirer_name=Fatima Yusuf", "--set", "relation=mother",
		"--set", "consent_for_tracing=true", "--set", "trace.name="+name, "--set", "trace.age=7")...)
	return created.Request.Number
}

// TestTracingQueryRateFromISP: the receiving node answers as many tracing
// queries a minute as the ISP's tracing rule says (queries_per_minute),
// refuses the next one and audits the refusal.
func TestTracingQueryRateFromISP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two nodes")
	}
	p, a := tracingPair(t, "queries_per_minute = 3\n")
	num := newTracingRequest(t, a, "Amina Yusuf")
	for i := 1; i <= 4; i++ {
		r := cpx(t, nil, a("trace", "match", num, "--federated")...)
		limited := strings.Contains(r.stderr, "too many queries")
		if want := i > 3; limited != want {
			t.Fatalf("query %d: refused for its rate %v, want %v\n%s%s", i, limited, want, r.stdout, r.stderr)
		}
	}
	var tail struct {
		Entries []struct {
			Actor  string `json:"actor"`
			Action string `json:"action"`
		} `json:"entries"`
	}
	mustJSON(t, &tail, "audit", "tail", "-n", "50", "--dir", p.dirB, "-o", "json")
	var refused bool
	for _, e := range tail.Entries {
		refused = refused || e.Action == "tracing.query.refused" && e.Actor == "peer:agency-a"
	}
	if !refused {
		t.Errorf("B's audit has no refusal of agency-a for the rate: %+v", tail.Entries)
	}
}

// TestTracingFederatedBatch drives cpx trace match --all --federated: the
// node's open requests with the inquirer's consent (25 children, so two
// queries) go to the other agency as one batch within the ISP's
// queries_per_minute, the node waiting (progress on stderr) rather than
// being refused; the answers come back per request and child, each with
// its band and level (one of five).
func TestTracingFederatedBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two nodes and waits for the query rate")
	}
	p, a := tracingPair(t, "queries_per_minute = 6\n")
	b := user(p.dirB, addUser(t, p.dirB, "farah", "caseworker"))
	must(t, b("case", "create", "--set", "name_first=Amina", "--set", "name_last=Yusuf", "--set", "sex=female",
		"--set", "age:=7", "--set", "consent_for_tracing:=true")...)

	sought := newTracingRequest(t, a, "Amina Yusuf")
	var rows []string
	for i := range 24 {
		rows = append(rows, fmt.Sprintf(`{"inquirer_name":"Parent %d","relation":"mother","consent_for_tracing":true,"traces":[{"name":"Child%c Other%c","age":%d}]}`, i, 'a'+i, 'a'+i, 3+i%10))
	}
	rows = append(rows, `{"inquirer_name":"No Consent","relation":"father","consent_for_tracing":false,"traces":[{"name":"Amina Yusuf","age":7}]}`)
	file := filepath.Join(t.TempDir(), "requests.jsonl")
	if err := os.WriteFile(file, []byte(strings.Join(rows, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	must(t, a("trace", "import", file)...)
	// Five single queries leave one of the six a minute: the batch's
	// second query must wait.
	for range 5 {
		must(t, a("trace", "match", sought, "--federated")...)
	}
	start := time.Now()
	r := cpx(t, nil, a("trace", "match", "--all", "--federated", "-o", "json")...)
	took := time.Since(start)
	t.Logf("the batch took %s; stderr:\n%s", took.Round(time.Millisecond), r.stderr)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "agency-b: query 2 of 2, waiting") || !strings.Contains(r.stderr, "agency-b: 2 of 2 queries sent") {
		t.Errorf("stderr shows no pacing:\n%s", r.stderr)
	}
	if took < 5*time.Second {
		t.Errorf("the batch took %s: it did not wait for the rate", took)
	}
	var out struct {
		Results []struct {
			RequestNumber string `json:"request_number"`
			Matches       []struct {
				Agency string `json:"agency"`
				Trace  int    `json:"trace"`
				Band   string `json:"band"`
				Level  int    `json:"level"`
			} `json:"matches"`
			Unreachable []string `json:"unreachable"`
		} `json:"results"`
		Agencies int `json:"agencies"`
		Queries  int `json:"queries"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if len(out.Results) != 25 || out.Agencies != 1 || out.Queries != 2 {
		t.Errorf("got %d requests, %d agencies, %d queries; want 25 (not the one without consent), 1, 2", len(out.Results), out.Agencies, out.Queries)
	}
	found := false
	for _, res := range out.Results {
		if len(res.Unreachable) > 0 {
			t.Errorf("%s: not asked: %v", res.RequestNumber, res.Unreachable)
		}
		for _, m := range res.Matches {
			if res.RequestNumber == sought && m.Agency == "agency-b" && m.Trace == 1 && m.Band == "likely" && m.Level >= 4 {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("agency-b's case is not a likely match (level 4 or 5) of %s: %+v", sought, out.Results)
	}
	var tail struct {
		Entries []struct {
			Action string `json:"action"`
		} `json:"entries"`
	}
	mustJSON(t, &tail, "audit", "tail", "-n", "100", "--dir", p.dirB, "-o", "json")
	for _, e := range tail.Entries {
		if e.Action == "tracing.query.refused" {
			t.Error("B refused a query: the batch did not keep within the rate")
		}
	}
}
