package conformance_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/nodedir"
)

// TestCLIFormsLookup: location codes and option lists can be looked up, a
// location is accepted by its ISO 3166-2 code, and an unknown code's or
// option's error names the nearest ones.
func TestCLIFormsLookup(t *testing.T) {
	dir := initNode(t, "save-the-children-so")
	n := start(t, dir)
	token := addUser(t, dir, "amina", "caseworker", "--group", "north")
	as := func(args ...string) []string { return append(args, "--api", n.url, "--token", token) }

	out := must(t, as("forms", "locations", "--search", "Hargeisa")...)
	if !strings.Contains(out, "SO0401") || !strings.Contains(out, "Woqooyi Galbeed, Somalia") || strings.Contains(out, "SO0101") {
		t.Errorf("forms locations --search Hargeisa: got\n%s\nwant SO0401 in Woqooyi Galbeed, Somalia only", out)
	}
	var locs struct {
		Locations []struct {
			Code       string `json:"code"`
			ISO        string `json:"iso"`
			AdminLevel int    `json:"admin_level"`
		} `json:"locations"`
	}
	mustJSON(t, &locs, as("forms", "locations", "--level", "1", "--search", "so")...)
	var codes []string
	for _, l := range locs.Locations {
		if l.AdminLevel != 1 {
			t.Errorf("forms locations --level 1: got %+v", l)
		}
		codes = append(codes, l.Code+"="+l.ISO)
	}
	if got, want := strings.Join(codes, " "), "SO01=SO-BN SO02=SO-BY SO03=SO-GE SO04=SO-WO"; got != want {
		t.Errorf("forms locations --level 1 --search so: got %s, want %s", got, want)
	}

	out = must(t, as("forms", "show", "registration")...)
	for _, want := range []string{"sex", "select", "one option of sex", "location_current", "location", "options of sex (Sex):", "female"} {
		if !strings.Contains(out, want) {
			t.Errorf("forms show registration lacks %q:\n%s", want, out)
		}
	}
	var shown struct {
		Forms []struct {
			ID        string `json:"id"`
			FieldDefs []struct {
				Name     string `json:"name"`
				Type     string `json:"type"`
				Required bool   `json:"required"`
				Lookup   string `json:"lookup"`
			} `json:"field_defs"`
		} `json:"forms"`
		Lookups []struct {
			ID string `json:"id"`
		} `json:"lookups"`
	}
	mustJSON(t, &shown, as("forms", "show", "registration")...)
	if len(shown.Forms) != 1 || shown.Forms[0].ID != "registration" || len(shown.Lookups) == 0 {
		t.Fatalf("forms show registration -o json: got %+v", shown)
	}
	found := false
	for _, f := range shown.Forms[0].FieldDefs {
		if f.Name == "sex" {
			found = f.Type == "select" && f.Lookup == "sex" // optional: in tracing, sex is sometimes unknown
		}
	}
	if !found {
		t.Errorf("forms show registration -o json: sex is not a select of lookup sex: %+v", shown.Forms[0].FieldDefs)
	}
	if r := cpx(t, nil, as("forms", "show", "no_such_form")...); r.code != 3 || !strings.Contains(r.stderr, "registration") {
		t.Errorf("forms show no_such_form: exit %d, stderr %q; want 3 naming the forms", r.code, r.stderr)
	}

	// ISO 3166-2 and hyphenated codes are accepted and stored canonical.
	var created struct{ Case caseJSON }
	mustJSON(t, &created, as("case", "create", "--set", "name_first=Amina", "--set", "sex=female", "--set", "location_current=SO-BN")...)
	if got := created.Case.Fields["location_current"]; got != "SO01" {
		t.Errorf("case create location_current=SO-BN: stored %v, want SO01", got)
	}
	// Unknown values name the nearest ones, through create and update.
	r := cpx(t, nil, as("case", "create", "--set", "name_first=Amina", "--set", "sex=femal", "--set", "location_current=SO-XX")...)
	for _, want := range []string{`unknown location "SO-XX"; did you mean SO01 (Banadir, SO-BN)`, `"femal" is not an option of lookup sex; did you mean female?`} {
		if r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Errorf("case create with unknown values: exit %d, stderr %q; want exit 1 and %q", r.code, r.stderr, want)
		}
	}
	r = cpx(t, nil, as("case", "update", created.Case.ID, "--set", "location_current=Hargeisa")...)
	if want := `did you mean SO0401 (Hargeisa)?`; r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("case update location_current=Hargeisa: exit %d, stderr %q; want exit 1 and %q", r.code, r.stderr, want)
	}
}

// TestCLICaseNumberPrefix: case numbers carry the agency's prefix, chosen
// at init or derived from the agency id.
func TestCLICaseNumberPrefix(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "n")
	if r := cpx(t, nil, "init", "--dir", dir, "--agency", "irc-so", "--case-prefix", "irc-"); r.code != 2 || !strings.Contains(r.stderr, "--case-prefix") {
		t.Errorf("init --case-prefix irc-: exit %d, stderr %q; want 2 naming the flag", r.code, r.stderr)
	}
	var inited struct {
		CasePrefix string `json:"case_prefix"`
	}
	mustJSON(t, &inited, "init", "--dir", dir, "--agency", "irc-so", "--case-prefix", "IRCSO", "--listen", "127.0.0.1:0", "--p2p-listen", "/ip4/127.0.0.1/tcp/0")
	if inited.CasePrefix != "IRCSO" {
		t.Errorf("init --case-prefix IRCSO: got prefix %q", inited.CasePrefix)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "cpx.toml")); err != nil || !strings.Contains(string(b), `number_prefix = "IRCSO"`) {
		t.Errorf("cpx.toml does not hold the prefix (%v):\n%s", err, b)
	}
}

// TestCLIIDPrefixes: every id can be given by a unique prefix, as git and
// docker allow; an ambiguous prefix is an error naming the candidates, and
// a prefix never reveals a case the caller may not see.
func TestCLIIDPrefixes(t *testing.T) {
	dir := initNode(t, "save-the-children-so")
	n := start(t, dir)
	amina := []string{"--api", n.url, "--token", addUser(t, dir, "amina", "caseworker", "--group", "north")}
	omar := []string{"--api", n.url, "--token", addUser(t, dir, "omar", "caseworker", "--group", "north")}
	create := func(who []string, name string) caseJSON {
		var c struct{ Case caseJSON }
		mustJSON(t, &c, append([]string{"case", "create", "--set", "name_first=" + name, "--set", "sex=female"}, who...)...)
		return c.Case
	}
	a1, a2, o3 := create(amina, "Amina"), create(amina, "Hodan"), create(omar, "Faduma")
	if a1.CaseNumber != "SCSO-000001" || o3.CaseNumber != "SCSO-000003" {
		t.Fatalf("case numbers: got %s, %s; want SCSO-000001, SCSO-000003 (prefix from save-the-children-so)", a1.CaseNumber, o3.CaseNumber)
	}
	get := func(who []string, ref string) (caseJSON, result) {
		r := cpx(t, nil, append([]string{"case", "get", ref, "-o", "json"}, who...)...)
		var got struct{ Case caseJSON }
		if r.code == 0 {
			json.Unmarshal([]byte(r.stdout), &got)
		}
		return got.Case, r
	}
	for _, tc := range []struct {
		ref  string
		want string
	}{
		{a1.ID[:8], a1.ID},
		{"scso-000002", a2.ID},
		{"SCSO-000001", a1.ID},
	} {
		if c, r := get(amina, tc.ref); r.code != 0 || c.ID != tc.want {
			t.Errorf("amina: case get %s: exit %d (%s), got %s; want %s", tc.ref, r.code, r.stderr, c.ID, tc.want)
		}
	}
	// Ambiguous for amina: both of hers are named, omar's is not.
	_, r := get(amina, "SCSO-00000")
	if r.code != 1 || !strings.Contains(r.stderr, "more than one case") || !strings.Contains(r.stderr, "SCSO-000001") ||
		!strings.Contains(r.stderr, "SCSO-000002") || strings.Contains(r.stderr, "SCSO-000003") {
		t.Errorf("amina: case get SCSO-00000: exit %d, stderr %q; want 1 naming SCSO-000001 and SCSO-000002 only", r.code, r.stderr)
	}
	// For omar the same prefix names only his own case.
	if c, r := get(omar, "SCSO-00000"); r.code != 0 || c.ID != o3.ID {
		t.Errorf("omar: case get SCSO-00000: exit %d (%s), got %s; want his %s", r.code, r.stderr, c.ID, o3.ID)
	}
	// A prefix of amina's case is nothing to omar.
	if _, r := get(omar, a1.ID[:8]); r.code != 3 || strings.Contains(r.stderr, a1.ID) || strings.Contains(r.stderr, "SCSO-000001") {
		t.Errorf("omar: case get %s: exit %d, stderr %q; want 3 not found, naming nothing", a1.ID[:8], r.code, r.stderr)
	}
	// Updates take prefixes too.
	must(t, append([]string{"case", "update", a2.ID[:6], "--set", "name_nickname=Hodi"}, amina...)...)

	// Tracing requests, by a prefix of the id or of the number.
	request := filepath.Join(t.TempDir(), "request.json")
	os.WriteFile(request, []byte(`{"inquirer_name":"Ali Hassan","relation":"father","consent_for_tracing":true,"traces":[{"name":"Mohammed Ali","sex":"male","age":10}]}`), 0o600)
	var tr struct {
		Request struct {
			ID     string `json:"id"`
			Number string `json:"number"`
		} `json:"request"`
	}
	mustJSON(t, &tr, append([]string{"trace", "create", "--file", request}, amina...)...)
	for _, ref := range []string{tr.Request.ID[:8], strings.ToLower(tr.Request.Number)} {
		var got struct {
			Request struct {
				ID string `json:"id"`
			} `json:"request"`
		}
		mustJSON(t, &got, append([]string{"trace", "get", ref}, amina...)...)
		if got.Request.ID != tr.Request.ID {
			t.Errorf("trace get %s: got %s, want %s", ref, got.Request.ID, tr.Request.ID)
		}
	}
}

// TestCLIExchangeIDPrefix: an exchange is named by a prefix of its id.
func TestCLIExchangeIDPrefix(t *testing.T) {
	dirA, dirB := initFedNode(t, "agency-a"), initFedNode(t, "agency-b")
	start(t, dirA)
	start(t, dirB)
	federate(t, dirA, dirB)
	u, err := nodedir.ReadAPIURL(dirA)
	if err != nil {
		t.Fatal(err)
	}
	w := []string{"--api", u, "--token", addUser(t, dirA, "wanjiru", "caseworker")}
	var c struct{ Case caseJSON }
	mustJSON(t, &c, append([]string{"case", "create", "--set", "name_first=Amina", "--set", "sex=female", "--set", "consent_for_services=yes"}, w...)...)
	var sent struct {
		Exchange struct {
			ID string `json:"id"`
		} `json:"exchange"`
	}
	mustJSON(t, &sent, append([]string{"case", "refer", c.Case.ID[:8], "--to", "agency-b", "--service", "health"}, w...)...)
	if sent.Exchange.ID == "" {
		t.Fatal("case refer by a prefix of the case id: no exchange")
	}
	out := must(t, append([]string{"referral", "show", sent.Exchange.ID[:6]}, w...)...)
	if !strings.Contains(out, sent.Exchange.ID) {
		t.Errorf("referral show %s:\n%s\nwant exchange %s", sent.Exchange.ID[:6], out, sent.Exchange.ID)
	}
}

// TestMetricsFederation: /metrics shows what an operator alerts on when a
// partner stalls: the outbox depth and age per peer, deliveries and
// failures, peer reachability and the audit log's size.
func TestMetricsFederation(t *testing.T) {
	dirA, dirB := initFedNode(t, "agency-a"), initFedNode(t, "agency-b")
	a, b := start(t, dirA), start(t, dirB)
	federate(t, dirA, dirB)
	w := []string{"--api", a.url, "--token", addUser(t, dirA, "wanjiru", "caseworker")}
	refer := func() {
		var c struct{ Case caseJSON }
		mustJSON(t, &c, append([]string{"case", "create", "--set", "name_first=Amina", "--set", "sex=female", "--set", "consent_for_services=yes"}, w...)...)
		must(t, append([]string{"case", "refer", c.Case.ID, "--to", "agency-b", "--service", "health"}, w...)...)
	}
	// metric returns the value of the sample whose name and labels begin
	// with series, waiting up to 30s for ok to hold.
	metric := func(series string, ok func(float64) bool) float64 {
		t.Helper()
		var last string
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			resp, err := http.Get(a.url + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(body)
			for _, line := range strings.Split(last, "\n") {
				if rest, found := strings.CutPrefix(line, series+" "); found {
					v, err := strconv.ParseFloat(rest, 64)
					if err == nil && ok(v) {
						return v
					}
				}
			}
		}
		t.Fatalf("/metrics: no %s as wanted; cpx_ lines:\n%s", series, cpxLines(last))
		return 0
	}
	positive := func(v float64) bool { return v > 0 }
	zero := func(v float64) bool { return v == 0 }

	refer()
	metric(`cpx_deliveries_total{peer="agency-b"}`, positive)
	metric(`cpx_peer_up{peer="agency-b"}`, func(v float64) bool { return v == 1 })
	metric(`cpx_outbox_envelopes{peer="agency-b"}`, zero)
	metric(`cpx_outbox_oldest_age_seconds{peer="agency-b"}`, zero)
	metric(`cpx_peer_last_seen_timestamp_seconds{peer="agency-b"}`, positive)
	metric(`cpx_audit_entries`, positive)

	// B stops: what A sends waits, its age grows, B is down.
	b.stop(t)
	refer()
	metric(`cpx_outbox_envelopes{peer="agency-b"}`, func(v float64) bool { return v == 1 })
	metric(`cpx_delivery_failures_total{peer="agency-b"}`, positive)
	metric(`cpx_peer_up{peer="agency-b"}`, zero)
	metric(`cpx_outbox_oldest_age_seconds{peer="agency-b"}`, func(v float64) bool { return v >= 1 })
}

func cpxLines(metrics string) string {
	var out []string
	for _, l := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(l, "cpx_") && !strings.HasPrefix(l, "cpx_api_call") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
