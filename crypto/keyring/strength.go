package keyring

import (
	"fmt"
	"math"
	"strings"

	"unicode/utf8"

	"github.com/trustelem/zxcvbn/match"
	"github.com/trustelem/zxcvbn/scoring"

	"github.com/cpx-node/cpx/crypto/keyring/internal/zxcvbnmatch"
)

// MinPassphraseGuesses is the number of guesses, as zxcvbn estimates them,
// below which CheckPassphrase refuses a new keyring passphrase. Whoever
// copies keyring.json can guess offline; at 10^4 Argon2id guesses a second
// (a farm of GPUs against the default 3 passes over 64 MiB), 10^12 guesses
// take about three years. zxcvbn's own top score starts at 10^10, about
// twelve days at that rate.
const MinPassphraseGuesses = 1e12

// maxEstimated is the number of runes of a passphrase CheckPassphrase
// measures.
const maxEstimated = 100

// WeakPassphraseError is returned by CheckPassphrase for a passphrase that
// is too easy to guess. It never holds the passphrase.
type WeakPassphraseError struct {
	// Guesses is zxcvbn's estimate of the guesses needed to find it.
	Guesses float64
	// Patterns names what made it guessable ("a common word", "a date"),
	// most telling first, without repeats.
	Patterns []string
}

func (e *WeakPassphraseError) Error() string {
	msg := fmt.Sprintf("the passphrase is too weak: it would be found in about 10^%.0f guesses, want at least 10^%.0f",
		math.Floor(math.Log10(math.Max(e.Guesses, 1))), math.Log10(MinPassphraseGuesses))
	if len(e.Patterns) > 0 {
		msg += " (it is built from " + strings.Join(e.Patterns, ", ") + ")"
	}
	return msg + "; use four or more unrelated words, or a password manager's random passphrase"
}

// CheckPassphrase estimates how many guesses would find p with zxcvbn (a
// port of Dropbox's estimator: dictionaries of common passwords, words and
// names, keyboard patterns, dates, sequences, repeats and l33t
// substitutions) and returns a *WeakPassphraseError if it is fewer than
// MinPassphraseGuesses. related are words an attacker would try first (the
// agency's id and name, the directory): a passphrase made of them is weak.
func CheckPassphrase(p []byte, related ...string) error {
	inputs := []string{"cpx", "keyring", "passphrase", "password", "child", "protection", "node"}
	for _, r := range related {
		inputs = append(inputs, strings.FieldsFunc(strings.ToLower(r), func(c rune) bool {
			return c == '-' || c == '/' || c == '_' || c == ' ' || c == '.'
		})...)
		inputs = append(inputs, strings.ToLower(r))
	}
	// zxcvbn's cost grows faster than the length; the first runes of a long
	// passphrase are a lower bound of its strength.
	s := string(p)
	if r := []rune(s); len(r) > maxEstimated {
		s = string(r[:maxEstimated])
	}
	guesses, seq := strength(s, inputs)
	if guesses >= MinPassphraseGuesses {
		return nil
	}
	return &WeakPassphraseError{Guesses: guesses, Patterns: patterns(seq)}
}

// strength is zxcvbn.PasswordStrength's estimate (guesses and the matches
// that give it), with the matching step whose dictionaries are built at
// the first call (internal/zxcvbnmatch). Like zxcvbn, it rates invalid
// UTF-8 as found at once.
func strength(p string, inputs []string) (float64, []*match.Match) {
	if !utf8.ValidString(p) {
		return 0, nil
	}
	seq := scoring.MostGuessableMatchSequence(p, zxcvbnmatch.Omnimatch(p, inputs), false)
	return seq.Guesses, seq.Sequence
}

// patterns describes the kinds of zxcvbn matches in seq.
func patterns(seq []*match.Match) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range seq {
		var what string
		switch m.Pattern {
		case "dictionary":
			switch {
			case m.DictionaryName == "user_inputs":
				what = "the agency's or the tool's own names"
			case m.L33t:
				what = "a common word with look-alike characters"
			case m.Reversed:
				what = "a common word reversed"
			default:
				what = "a common word or password"
			}
		case "spatial":
			what = "a keyboard pattern"
		case "repeat":
			what = "a repeat"
		case "sequence":
			what = "a sequence"
		case "regex":
			what = "a recent year"
		case "date":
			what = "a date"
		default:
			continue // bruteforce: the random part
		}
		if !seen[what] {
			seen[what] = true
			out = append(out, what)
		}
	}
	return out
}
