package features_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cpx-node/cpx/crypto/features"
)

func load[T any](t *testing.T, path string) []T {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v []T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestNormalizeVectors(t *testing.T) {
	for _, v := range load[struct{ In, Out string }](t, "testdata/normalize.json") {
		if got := features.Normalize(v.In); got != v.Out {
			t.Errorf("Normalize(%q) = %q, want %q", v.In, got, v.Out)
		}
	}
}

func TestKeyVectors(t *testing.T) {
	for _, v := range load[struct{ In, Key string }](t, "testdata/names.json") {
		if got := features.Key(v.In); got != v.Key {
			t.Errorf("Key(%q) = %q, want %q", v.In, got, v.Key)
		}
	}
}

func TestJaroWinkler(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want float64
	}{
		{"martha", "marhta", 0.9611},
		{"dixon", "dicksonx", 0.8133},
		{"", "", 0},
		{"abc", "abc", 1},
		{"abc", "xyz", 0},
	} {
		got := features.JaroWinkler(tc.a, tc.b)
		if d := got - tc.want; d > 1e-3 || d < -1e-3 {
			t.Errorf("JaroWinkler(%q, %q) = %.4f, want %.4f", tc.a, tc.b, got, tc.want)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"Mohammed", "مُحَمَّد", "عبد الله", "Ｍｏ", "\xff\xfe", "ـــ", "ﷲ", "ǅ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := features.Normalize(s)
		if !utf8.ValidString(n) {
			t.Fatalf("Normalize(%q) = %q: invalid UTF-8", s, n)
		}
		if n2 := features.Normalize(n); n2 != n {
			t.Fatalf("Normalize not idempotent: %q → %q → %q", s, n, n2)
		}
		tr := features.Transliterate(s)
		if tr2 := features.Transliterate(tr); tr2 != tr {
			t.Fatalf("Transliterate not idempotent: %q → %q → %q", s, tr, tr2)
		}
		// keys are ASCII (they feed blocking and the CLK bigrams)
		if k := features.Key(s); strings.ContainsFunc(k, func(r rune) bool { return r >= utf8.RuneSelf }) {
			t.Fatalf("Key(%q) = %q: not ASCII", s, k)
		}
	})
}

// TestSkeletonsMeet: spellings of one name in either script share the
// phonetic skeleton; other names do not.
func TestSkeletonsMeet(t *testing.T) {
	skel := func(s string) string { return features.Tokens(s)[0].Skeleton }
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"Mohammed", "محمد", true},
		{"Aicha", "Aisha", true}, // ch is the francophone sh
		{"Aicha", "عائشة", true},
		{"Rachid", "رشيد", true},
		{"Hicham", "Hisham", true},
		{"Khalid", "خالد", true},
		{"Aicha", "Aziza", false},
		{"Rachid", "Rami", false},
	} {
		if got := skel(tc.a) == skel(tc.b); got != tc.same {
			t.Errorf("%s (%s) vs %s (%s): same skeleton %v, want %v", tc.a, skel(tc.a), tc.b, skel(tc.b), got, tc.same)
		}
	}
}
