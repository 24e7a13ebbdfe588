package features

// knownSpellings maps the rules spelling (canonicalRules) of every spelling
// in the name tables to its canonical name, and nearSpellings files each
// of those spellings (nearIndex), so that the spellings one edit from a
// word are found without a scan.
var knownSpellings, nearSpellings = buildSpellings()

func buildSpellings() (map[string]string, map[string][]string) {
	known := make(map[string]string)
	add := func(spelling, name string) {
		if r := canonicalRules(spelling); r != "" {
			known[r] = Canonical(name)
		}
	}
	for _, vs := range variantSpellings {
		for _, v := range vs {
			add(v, vs[0])
		}
	}
	for _, n := range commonGivenNames {
		add(n, n)
	}
	for _, l := range arabicSpellings {
		add(l, l)
	}
	for f := range nicknameTable {
		add(f, f)
	}
	return known, nearIndex(known)
}

// nearIndex files every key of names under itself and under each of its
// one-letter Deletions (symmetric deletion: a word and a key one edit
// apart share one of these).
func nearIndex(names map[string]string) map[string][]string {
	near := make(map[string][]string)
	for k := range names {
		near[k] = append(near[k], k)
		for _, d := range Deletions(k) {
			near[d] = append(near[d], k)
		}
	}
	return near
}

// arabicKeys maps the Arabic-script names of the tables, one byte per
// letter (letterBytes), to their canonical names; nearArabic files
// them as nearSpellings files the Latin spellings.
var arabicKeys, nearArabic = buildArabicKeys()

func buildArabicKeys() (map[string]string, map[string][]string) {
	keys := make(map[string]string)
	for a, l := range arabicNames {
		if k, ok := letterBytes(a); ok {
			keys[k] = Canonical(l)
		}
	}
	return keys, nearIndex(keys)
}

// letterBytes returns a normalised Arabic-script word with each letter
// as one byte (its offset in the Arabic block), so that the byte-wise
// edit checks count letters; false if the word has a character outside
// the block (a space: compounds are not corrected).
func letterBytes(s string) (string, bool) {
	b := make([]byte, 0, len(s)/2)
	for _, r := range s {
		if r < 0x0600 || r > 0x06FF {
			return "", false
		}
		b = append(b, byte(r-0x0600))
	}
	return string(b), len(b) > 0
}

// Shortest words KnownNear corrects: one edit from a short word reaches
// too many names (Adi, Ali, Ari). Arabic script leaves short vowels out,
// so three letters there (عمر, Umar) are as long as five in Latin.
const (
	minCorrected       = 4
	minCorrectedArabic = 3
)

// KnownNear returns the canonical key of the known name that a name part
// not itself in the name tables is one typing slip from (a letter
// substituted, inserted, deleted or two neighbours swapped in its rules
// spelling: Faduao for Fadumo, Bsahir for Bashir; in its letters for a
// part in Arabic script: احدم for احمد), or "" when it is known, short,
// or as near to two names. Federated matching encodes that name
// too, since a keyed encoding cannot be compared for near misses the way
// Compare compares parts.
func KnownNear(t Token) string {
	if knownNames[t.Canonical] || nickIndex[t.Canonical] != nil {
		return ""
	}
	if t.Arabic {
		k, ok := letterBytes(t.Raw)
		if !ok || len(k) < minCorrectedArabic || arabicKeys[k] != "" {
			return ""
		}
		return nearest(k, nearArabic, arabicKeys)
	}
	s := t.RulesKey()
	if len(s) < minCorrected || knownSpellings[s] != "" {
		return ""
	}
	return nearest(s, nearSpellings, knownSpellings)
}

// nearest returns the one canonical name whose key is one edit from w,
// "" if none or more than one is.
func nearest(w string, near map[string][]string, names map[string]string) string {
	found := ""
	for _, k := range append(Deletions(w), w) {
		for _, r := range near[k] {
			if !OneEdit(w, r) {
				continue
			}
			switch n := names[r]; {
			case found == "":
				found = n
			case found != n:
				return ""
			}
		}
	}
	return found
}
