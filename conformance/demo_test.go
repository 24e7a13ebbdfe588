package conformance_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestDemo runs the README's first command, `cpx demo`, on the real binary:
// three agencies, a referral, a transfer, a federated tracing query, and a
// coordination body that receives each agency's monthly report and prints
// the merged table with no count below k, and nothing left behind.
func TestDemo(t *testing.T) {
	out := must(t, "demo")
	for _, want := range []string{
		"── 9. Amina refers Faduma to IRC",
		"Amina's node shows the referral as done",
		"is now UNSO-000001 at UNICEF",
		"save-the-children-so   likely",
		"── 12. The CP Sub-Cluster runs a coordination node",
		"── 14. The coordination body prints the merged table",
		"  missing: none",
		"── Done",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	// Every agency's push arrived, once.
	for _, agency := range []string{"save-the-children-so", "irc-so", "unicef-so"} {
		re := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(agency) + ` +case_characteristics v1, received `)
		if got := len(re.FindAllString(out, -1)); got != 1 {
			t.Errorf("submissions from %s: got %d, want 1:\n%s", agency, got, out)
		}
	}
	checkDemoMerged(t, out)
}

// checkDemoMerged reads the merged table the demo prints (tables of
// "x" and counts, then the line naming k) and checks that no published
// count lies from 1 to k-1, that it is not all suppressed, and that the
// suppressed cells are explained.
func checkDemoMerged(t *testing.T, out string) {
	t.Helper()
	start := strings.Index(out, "--merged:\n")
	if start < 0 {
		t.Fatalf("demo prints no merged table:\n%s", out)
	}
	body := out[start:]
	m := regexp.MustCompile(`\nx: suppressed \(counts below (\d+),`).FindStringSubmatchIndex(body)
	if m == nil {
		t.Fatalf("merged table without its k:\n%s", body)
	}
	k, _ := strconv.Atoi(body[m[2]:m[3]])
	if k < 3 {
		t.Errorf("merged table controlled with k %d, want at least the ISP's 3", k)
	}
	published, suppressed, grandTotal := 0, 0, 0
	for _, line := range strings.Split(body[:m[0]], "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || (f[0] != "Female" && f[0] != "Male" && f[0] != "Total") {
			continue
		}
		for _, cell := range f[1:] {
			if cell == "x" {
				suppressed++
				continue
			}
			n, err := strconv.Atoi(cell)
			if err != nil {
				t.Fatalf("merged table row %q: cell %q is neither a count nor x", line, cell)
			}
			if n > 0 && n < k {
				t.Errorf("merged table publishes %d, below k %d: %q", n, k, line)
			}
			if n > 0 {
				published++
			}
		}
		if f[0] == "Total" {
			if n, err := strconv.Atoi(f[len(f)-1]); err == nil {
				grandTotal += n
			}
		}
	}
	if published == 0 || suppressed == 0 {
		t.Errorf("merged table: %d published and %d suppressed counts, want some of each:\n%s", published, suppressed, body)
	}
	if grandTotal != 33 {
		t.Errorf("merged table: published page totals add up to %d, want the 33 children at high risk", grandTotal)
	}
	why := body[m[1]:]
	if !strings.Contains(why, "Suppressed cells and why:") || !strings.Contains(why, "suppressed by the sending agency") || !strings.Contains(why, "a count below k") {
		t.Errorf("demo does not say which cells were suppressed and why:\n%s", why)
	}
}
