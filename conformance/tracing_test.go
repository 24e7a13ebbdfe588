package conformance_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTracingConfirmShowsOnCase drives family tracing through the real
// binary: a case registered in Latin script with consent for tracing and
// its father in the family details, a request written by the father in
// Arabic script, a match that finds the child as likely, a confirmation,
// and the case record then naming the request with a verified tracing
// status. A case without consent is never a candidate. trace list --query
// finds a request by the words of its names.
func TestTracingConfirmShowsOnCase(t *testing.T) {
	dir := initNode(t, "agency-t")
	n := start(t, dir)
	cwToken := addUser(t, dir, "tariq", "caseworker")
	api := []string{"--api", n.url, "--token", cwToken}
	newCase := func(consent string) caseJSON {
		var c struct{ Case caseJSON }
		args := append([]string{"case", "create",
			"--set", "name_first=Mohammed", "--set", "name_middle=Ali", "--set", "name_last=Hassan",
			"--set", "sex=male", "--set", "age:=9", "--set", "consent_for_tracing:=" + consent,
			"--set", `family_details_section:=[{"relation_name":"Ali Hassan Omar","relation":"father"}]`}, api...)
		mustJSON(t, &c, args...)
		return c.Case
	}
	child := newCase("true")
	withheld := newCase("false")

	request := filepath.Join(t.TempDir(), "request.json")
	doc := `{"inquirer_name":"علي حسن عمر","relation":"father","consent_for_tracing":true,
		"traces":[{"name":"محمد علي حسن","sex":"male","age":10}]}`
	if err := os.WriteFile(request, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	var created struct {
		Request struct {
			ID     string `json:"id"`
			Number string `json:"number"`
		} `json:"request"`
	}
	mustJSON(t, &created, append([]string{"trace", "create", "--file", request}, api...)...)
	num := created.Request.Number

	// trace list --query finds a request by the words of its names.
	var other struct {
		Request struct {
			Number string `json:"number"`
		} `json:"request"`
	}
	mustJSON(t, &other, append([]string{"trace", "create", "--set", "inquirer_name=Fatima Yusuf", "--set", "relation=mother",
		"--set", "consent_for_tracing=true", "--set", "trace.name=Amina Yusuf", "--set", "trace.age=7"}, api...)...)
	for _, q := range []struct{ query, want string }{{"amina YUSUF", other.Request.Number}, {"محمد", num}, {"amin", ""}} {
		var listed struct {
			Requests []struct {
				Number string `json:"number"`
			} `json:"requests"`
		}
		mustJSON(t, &listed, append([]string{"trace", "list", "--query", q.query}, api...)...)
		var got []string
		for _, r := range listed.Requests {
			got = append(got, r.Number)
		}
		if want := strings.Fields(q.want); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("trace list --query %q: got %v, want %v", q.query, got, want)
		}
	}

	var matched struct {
		Candidates []struct {
			CaseID string `json:"case_id"`
			Band   string `json:"band"`
		} `json:"candidates"`
	}
	mustJSON(t, &matched, append([]string{"trace", "match", num}, api...)...)
	if len(matched.Candidates) != 1 || matched.Candidates[0].CaseID != child.ID || matched.Candidates[0].Band != "likely" {
		t.Fatalf("match: got %+v, want only %s as likely (not %s, which has no consent)", matched.Candidates, child.ID, withheld.ID)
	}

	must(t, append([]string{"trace", "confirm", num, "--case", child.CaseNumber, "--reason", "father recognised the photo"}, api...)...)
	var got struct{ Case caseJSON }
	mustJSON(t, &got, append([]string{"case", "get", child.CaseNumber}, api...)...)
	if got.Case.Fields["matched_tracing_request_id"] != num || got.Case.Fields["tracing_status"] != "verified" {
		t.Errorf("case after confirm: matched_tracing_request_id=%v tracing_status=%v, want %s and verified",
			got.Case.Fields["matched_tracing_request_id"], got.Case.Fields["tracing_status"], num)
	}
	// The link is the node's to write, not the caseworker's.
	r := cpx(t, nil, append([]string{"case", "update", child.CaseNumber, "--set", "matched_tracing_request_id=TR-000009"}, api...)...)
	if r.code != 1 || !strings.Contains(r.stderr, "read_only") {
		t.Errorf("setting the link by hand: exit %d, want 1 (refused, rule read_only)\n%s%s", r.code, r.stdout, r.stderr)
	}
}
