package keyring

import (
	"testing"

	"github.com/trustelem/zxcvbn"
)

// TestStrengthMatchesUpstream: the estimate with the lazily built
// dictionaries is zxcvbn's, guess for guess and match for match.
func TestStrengthMatchesUpstream(t *testing.T) {
	inputs := []string{"cpx", "keyring", "agency-a", "save", "the", "children"}
	for _, p := range []string{
		"", "password", "P@ssw0rd12345678", "correct horse battery staple", "qwertyuiop", "1q2w3e4r5t",
		"abcdefgh", "aaaaaaaaaaaa", "12/05/1998", "19980512", "drowssap", "Tr0ub4dor&3", "agency-a2026!",
		"savethechildren", "zxcvbnm,./", "Ωμέγα-password", "marie-claire 1977", "x\xffy",
		"acceptance-passphrase-long-enough-2026", "kettle orbit lantern sparrow",
	} {
		guesses, seq := strength(p, inputs)
		up := zxcvbn.PasswordStrength(p, inputs)
		if guesses != up.Guesses || len(seq) != len(up.Sequence) {
			t.Errorf("%q: got %g guesses in %d matches, want zxcvbn's %g in %d", p, guesses, len(seq), up.Guesses, len(up.Sequence))
			continue
		}
		for i := range seq {
			if g, w := *seq[i], *up.Sequence[i]; g.Pattern != w.Pattern || g.I != w.I || g.J != w.J || g.Guesses != w.Guesses {
				t.Errorf("%q: match %d got %s %d-%d (%g), want %s %d-%d (%g)", p, i, g.Pattern, g.I, g.J, g.Guesses, w.Pattern, w.I, w.J, w.Guesses)
			}
		}
	}
}
