package conformance_test

import (
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReports drives cpx report on a real node: the managed reports, the
// scope of a caseworker and of a supervisor, disclosure control, csv
// escaping, an xlsx read back by a real reader, definition errors, an
// unwritable --out, and a coordination node refusing case files.
func TestReports(t *testing.T) {
	dir := initNode(t, "agency-r")
	n := start(t, dir)
	amina := []string{"--api", n.url, "--token", addUser(t, dir, "amina", "caseworker", "--group", "g1")}
	omar := []string{"--api", n.url, "--token", addUser(t, dir, "omar", "caseworker", "--group", "g1")}
	sahra := []string{"--api", n.url, "--token", addUser(t, dir, "sahra", "supervisor", "--group", "g1")}
	with := func(who []string, args ...string) []string { return append(args, who...) }
	for i := range 7 {
		sex := []string{"male", "female"}[i%2]
		must(t, with(amina, "case", "create", "--form", "registration", "--set", fmt.Sprint("name_first=Child", i),
			"--set", "sex="+sex, "--set", fmt.Sprint("age=", 3+i), "--set", "risk_level=high")...)
	}
	for i := range 6 {
		must(t, with(omar, "case", "create", "--form", "registration", "--set", fmt.Sprint("name_first=Other", i),
			"--set", "sex=female", "--set", "age=15")...)
	}

	var list struct {
		Reports []struct{ Name, Title, Description string }
	}
	mustJSON(t, &list, with(sahra, "report", "list")...)
	if len(list.Reports) < 8 {
		t.Fatalf("report list: got %d reports, want at least 8", len(list.Reports))
	}
	for _, r := range list.Reports {
		if r.Description == "" {
			t.Errorf("report %s has no description", r.Name)
		}
	}
	if out := must(t, with(sahra, "report", "show", "protection_concerns")...); !strings.Contains(out, "mentions") {
		t.Errorf("report show: got %q, want the description", out)
	}

	type result struct {
		Result struct {
			K      int
			Tables []struct {
				Cells []struct {
					Count      string
					Suppressed string
				}
				Total struct {
					Count      string
					Suppressed string
				}
			}
		}
	}
	total := func(who []string, extra ...string) result {
		var r result
		mustJSON(t, &r, with(who, append([]string{"report", "run", "cases_by_workflow_stage"}, extra...)...)...)
		return r
	}
	// Scope: each caseworker counts their own, the supervisor the group.
	for _, tc := range []struct {
		who  []string
		name string
		want string
	}{{amina, "amina", "7"}, {omar, "omar", "6"}, {sahra, "sahra", "13"}} {
		if got := total(tc.who).Result.Tables[0].Total.Count; got != tc.want {
			t.Errorf("%s: total got %s, want %s", tc.name, got, tc.want)
		}
	}
	// Disclosure control: 7 male/female split 4/3 with k 5 is suppressed,
	// and the suppressed cells carry no count.
	var bySex result
	mustJSON(t, &bySex, with(amina, "report", "run", "case_characteristics", "--by", "sex")...)
	for _, c := range bySex.Result.Tables[0].Cells {
		if c.Suppressed == "" && c.Count != "0" {
			t.Errorf("a count of %s below k=5 was published", c.Count)
		}
		if c.Suppressed != "" && c.Count != "0" {
			t.Errorf("a suppressed cell carries its count %s", c.Count)
		}
	}
	mustJSON(t, &bySex, with(amina, "report", "run", "case_characteristics", "--by", "sex", "--no-suppression")...)
	if c := bySex.Result.Tables[0].Cells; len(c) < 2 || c[0].Count != "3" || c[1].Count != "4" || bySex.Result.K != 0 {
		t.Errorf("--no-suppression: got %+v, want female 3 and male 4 unsuppressed", bySex.Result)
	}

	// CSV: cells that a spreadsheet would run as formulas are defused.
	defs := filepath.Join(dir, "reports")
	if err := os.MkdirAll(defs, 0o755); err != nil {
		t.Fatal(err)
	}
	csvOut := must(t, with(sahra, "report", "run", "cases_by_workflow_stage", "-o", "csv")...)
	recs, err := csv.NewReader(strings.NewReader(csvOut)).ReadAll()
	if err != nil || len(recs) < 2 || recs[len(recs)-1][len(recs[len(recs)-1])-1] != "13" {
		t.Errorf("csv: %v\n%s", err, csvOut)
	}

	// A node definition with errors is refused with line and field.
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte("name = \"by_name\"\n[rows]\nfield = \"name_first\"\n"), 0o644)
	if r := cpx(t, nil, with(sahra, "report", "validate", bad)...); r.code == 0 || !strings.Contains(r.stderr, "line 3") || !strings.Contains(r.stderr, "identifying") {
		t.Errorf("validate identifying: exit %d, stderr %q", r.code, r.stderr)
	}
	os.WriteFile(bad, []byte("name = \"x\"\n[rows]\nfield = \"sex\"\n[columns]\nfield = \"shoe_size\"\n"), 0o644)
	if r := cpx(t, nil, with(sahra, "report", "validate", bad)...); r.code == 0 || !strings.Contains(r.stderr, "line 5") || !strings.Contains(r.stderr, "unknown field") {
		t.Errorf("validate unknown field: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := cpx(t, nil, with(sahra, "report", "run", "cases_by_workflow_stage", "--from", "November")...); r.code == 0 || !strings.Contains(r.stderr, "not a date") {
		t.Errorf("bad period: exit %d, stderr %q", r.code, r.stderr)
	}
	// A node's own report, listed and run by name.
	good := "name = \"by_sex_month\"\ntitle = \"By sex and month\"\ndescription = \"Cases by sex and month of registration.\"\n[rows]\nfield = \"sex\"\n[columns]\nfield = \"created_at\"\ngroup = \"month\"\n"
	os.WriteFile(filepath.Join(defs, "by_sex_month.toml"), []byte(good), 0o644)
	must(t, with(sahra, "report", "validate", filepath.Join(defs, "by_sex_month.toml"))...)
	must(t, with(sahra, "report", "run", "by_sex_month")...)

	// xlsx: an unwritable path fails before anything is written; a good
	// one opens in a real reader with the same total as json.
	if r := cpx(t, nil, with(sahra, "report", "run", "cases_by_workflow_stage", "-o", "xlsx", "--out", "/nonexistent/dir/r.xlsx")...); r.code == 0 {
		t.Errorf("xlsx to an unwritable path: exit 0")
	}
	x := filepath.Join(t.TempDir(), "stage.xlsx")
	must(t, with(sahra, "report", "run", "cases_by_workflow_stage", "-o", "xlsx", "--out", x)...)
	readXLSX(t, x, 13)
	// A run that fails (an unknown report, a period that does not parse,
	// an --out that is a directory) exits non-zero and leaves the
	// directory as it was: the earlier workbook whole, no temporary file.
	outDir := filepath.Dir(x)
	os.Mkdir(filepath.Join(outDir, "adir"), 0o755)
	want, _ := os.ReadFile(x)
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"no_such_report", "-o", "xlsx", "--out", x}, "no report"},
		{[]string{"cases_by_workflow_stage", "--period", "2026-13", "-o", "xlsx", "--out", x}, "does not parse"},
		{[]string{"cases_by_workflow_stage", "--period", "November", "-o", "csv", "--out", x}, "does not parse"},
		{[]string{"cases_by_workflow_stage", "-o", "xlsx", "--out", filepath.Join(outDir, "adir")}, "--out"},
	} {
		r := cpx(t, nil, with(sahra, append([]string{"report", "run"}, tc.args...)...)...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.stderr) {
			t.Errorf("report run %s: exit %d, stderr %q; want non-zero naming %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.stderr)
		}
		entries, _ := os.ReadDir(outDir)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if got, _ := os.ReadFile(x); string(got) != string(want) || strings.Join(names, " ") != "adir stage.xlsx" {
			t.Errorf("after a failed report run %s: the directory holds %v (workbook unchanged: %v), want adir and the earlier stage.xlsx only", strings.Join(tc.args, " "), names, string(got) == string(want))
		}
	}

	// A coordination node refuses case files.
	cdir := filepath.Join(t.TempDir(), "coord")
	must(t, "init", "--coordination", "--dir", cdir, "--agency", "cp-subcluster", "--listen", "127.0.0.1:0", "--p2p-listen", "/ip4/127.0.0.1/tcp/0")
	cn := start(t, cdir)
	cora := []string{"--api", cn.url, "--token", addUser(t, cdir, "cora", "caseworker", "--group", "g1")}
	r := cpx(t, nil, with(cora, "case", "create", "--form", "registration", "--set", "name_first=X", "--set", "sex=male", "--set", "age=3")...)
	if r.code == 0 || !strings.Contains(r.stderr, "coordination node") {
		t.Errorf("case create on a coordination node: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := cpx(t, nil, with(cora, "case", "list")...); r.code == 0 {
		t.Errorf("case list on a coordination node: exit 0")
	}
}

// readXLSX opens the workbook with Python's openpyxl (Debian's
// python3-openpyxl) and checks it has a table sheet holding total, frozen
// panes, a chart and the sheet About. Without openpyxl the test is
// skipped, except in CI (CI=true), where it fails.
func readXLSX(t *testing.T, path string, total int) {
	t.Helper()
	python := "/usr/bin/python3" // Debian's, where python3-openpyxl installs
	if _, err := os.Stat(python); err != nil {
		python = "python3"
	}
	if err := exec.Command(python, "-c", "import openpyxl").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3-openpyxl is missing in CI (.ci/run must apt-get install -y python3-openpyxl): %v", err)
		}
		t.Skipf("python3-openpyxl not installed: %v", err)
	}
	script := `import openpyxl, sys
wb = openpyxl.load_workbook(sys.argv[1])
ws = wb[wb.sheetnames[0]]
print(wb.sheetnames[-1])
print(ws.freeze_panes)
print(len(ws._charts))
print(max(c.value for r in ws.iter_rows(min_row=2) for c in r if isinstance(c.value, int)))
print(any("suppressed" in str(c.value).lower() or "disclosure" in str(c.value).lower() for r in wb["About"].iter_rows() for c in r))
`
	out, err := exec.Command(python, "-c", script, path).CombinedOutput()
	if err != nil {
		t.Fatalf("openpyxl: %v\n%s", err, out)
	}
	got := strings.Fields(string(out))
	want := []string{"About", "B2", "1", fmt.Sprint(total), "True"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("xlsx read back: got %v, want %v (last sheet, frozen panes, charts, largest count, About explains suppression)", got, want)
	}
}
