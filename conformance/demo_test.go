package conformance_test

import (
	"strings"
	"testing"
)

// TestDemo runs the README's first command, `cpx demo`, on the real binary:
// three agencies, a referral, a transfer and a federated tracing query, and
// nothing left behind.
func TestDemo(t *testing.T) {
	out := must(t, "demo")
	for _, want := range []string{
		"── 9. Amina refers Faduma to IRC",
		"Amina's node shows the referral as done",
		"is now UNSO-000001 at UNICEF",
		"save-the-children-so   likely",
		"── Done",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}
