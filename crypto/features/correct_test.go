package features

import "testing"

func TestKnownNear(t *testing.T) {
	for _, tc := range []struct {
		word, want string
	}{
		{"Faduao", "fatima"},    // a typo of Fadumo, a spelling the variant table maps
		{"Mustfafa", "mustafa"}, // a letter inserted
		{"Ibrhimm", "ibrahim"},  // a letter dropped (mm is m)
		{"Bsahir", "bashir"},    // neighbours swapped
		{"Zaniab", "zainab"},
		{"Mohmamad", "muhamad"},
		{"Mohamed", ""}, // a known spelling
		{"Fadumo", ""},  // a known spelling of a known name
		{"Hamoudi", ""}, // a nickname
		{"Ali", ""},     // too short: Adi, Ari, Alu are one slip away too
		{"Samra", ""},   // as near to Sahra as to Samira
		{"Stanekzai", ""},
		{"أحدم", "ahmad"},   // Arabic script: neighbours swapped
		{"مسريم", "maryam"}, // a letter inserted
		{"زنب", "zainab"},   // a letter dropped: three letters are enough in Arabic script
		{"محمد", ""},        // a known name
		{"عرم", ""},         // as near to عمر (Umar) as to كرم (Karam)
		{"", ""},
	} {
		var tok Token
		if ts := Tokens(tc.word); len(ts) > 0 {
			tok = ts[0]
		}
		if got := KnownNear(tok); got != tc.want {
			t.Errorf("KnownNear(%q) = %q, want %q", tc.word, got, tc.want)
		}
	}
}

// Every correction is a known name, and a known name is never corrected.
func TestKnownNearKnown(t *testing.T) {
	for r, name := range knownSpellings {
		if !knownNames[name] {
			t.Errorf("spelling %q maps to %q, not a known name", r, name)
		}
		tok := makeToken(r, r, false)
		if got := KnownNear(tok); got != "" {
			t.Errorf("known spelling %q corrected to %q", r, got)
		}
	}
	for a := range arabicNames {
		for _, tok := range Tokens(a) {
			if got := KnownNear(tok); got != "" {
				t.Errorf("known Arabic-script name %q (%q) corrected to %q", a, tok.Raw, got)
			}
		}
	}
}
