package keyring_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cpx-node/cpx/crypto/keyring"
)

func TestCheckPassphrase(t *testing.T) {
	for _, tc := range []struct {
		pass    string
		related []string
		weak    bool
		pattern string // in the message, if weak
	}{
		{"abc", nil, true, "a sequence"},
		{"password1", nil, true, "a common word"},
		{"P@ssw0rd12345678", nil, true, ""}, // zxcvbn names it a look-alike or a common word, depending on its match order
		{"Summer2026!", nil, true, ""},
		{"qwertyuiop", nil, true, "a common word"}, // in the password list
		{"save-the-children-so-2026", []string{"save-the-children-so"}, true, "the agency's"},
		{"0123456789abcdef0123456789abcdef", nil, true, "a repeat"},
		{"Tr0ub4dor&3", nil, true, ""},     // xkcd 936: ~10^11, short of 10^12
		{"weak-passphrase", nil, true, ""}, // long, but two common words
		{"correct horse battery staple", nil, false, ""},
		{"kettle-orbit-mango-violin", nil, false, ""},
		{"acceptance-passphrase-long-enough-2026", nil, false, ""},
		{"9f86d081884c7d659a2feaa0c55ad015", nil, false, ""}, // random hex, as the demo uses
		{strings.Repeat("correct horse battery staple ", 200), nil, false, ""},
	} {
		err := keyring.CheckPassphrase([]byte(tc.pass), tc.related...)
		weak, ok := errors.AsType[*keyring.WeakPassphraseError](err)
		if ok != tc.weak || (err != nil && !ok) {
			t.Errorf("CheckPassphrase(%.40q): got %v, want weak %v", tc.pass, err, tc.weak)
			continue
		}
		if ok {
			msg := weak.Error()
			if strings.Contains(msg, tc.pass) || !strings.Contains(msg, tc.pattern) || !strings.Contains(msg, "at least 10^12") {
				t.Errorf("CheckPassphrase(%q): got message %q, want one naming %q and not the passphrase", tc.pass, msg, tc.pattern)
			}
		}
	}
}

// BenchmarkCheckPassphraseLong measures a 40 000-character passphrase (the
// estimator only sees a bounded prefix, so this stays in milliseconds).
func BenchmarkCheckPassphraseLong(b *testing.B) {
	p := []byte(strings.Repeat("ab1!", 10000))
	for b.Loop() {
		keyring.CheckPassphrase(p)
	}
}
