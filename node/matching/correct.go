package matching

// knownSpellings maps the rules spelling (canonicalRules) of every spelling
// in the name tables to its canonical name, and nearSpellings files each
// of those spellings under itself and under every deletion of one letter,
// so that the spellings one edit from a word are found without a scan.
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
	near := make(map[string][]string)
	for r := range known {
		near[r] = append(near[r], r)
		for _, k := range deletions(r) {
			near[k] = append(near[k], r)
		}
	}
	return known, near
}

// minCorrected is the shortest spelling KnownNear corrects: one edit from
// a short word reaches too many names (Adi, Ali, Ari).
const minCorrected = 4

// KnownNear returns the canonical key of the known name that a name part
// not itself in the name tables is one typing slip from (a letter
// substituted, inserted, deleted or two neighbours swapped in its rules
// spelling: Faduao for Fadumo, Hamzlh for Hamzah), or "" when it is known,
// short, or as near to two names. Federated matching encodes that name
// too, since a keyed encoding cannot be compared for near misses the way
// Compare compares parts.
func KnownNear(t Token) string {
	s := t.spelling()
	if len(s) < minCorrected || knownNames[t.Canonical] || knownSpellings[s] != "" || nickIndex[t.Canonical] != nil {
		return ""
	}
	found := ""
	for _, k := range append(deletions(s), s) {
		for _, r := range nearSpellings[k] {
			if !oneEdit(s, r) {
				continue
			}
			switch n := knownSpellings[r]; {
			case found == "":
				found = n
			case found != n:
				return ""
			}
		}
	}
	return found
}
