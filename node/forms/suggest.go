package forms

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/cpx-node/cpx/crypto/features"
)

// maxSuggestions is how many near matches an unknown value's error names.
const maxSuggestions = 3

// Least similarities (0 to 1) of a suggested match: codes are short, so
// sharing the country's two letters is enough; names must be nearer.
const (
	minSimilarity     = 0.45
	minNameSimilarity = 0.6
)

// Location returns the location that code names: its Code exactly, else
// its Code or ISO 3166-2 code compared without case and hyphens ("so-01",
// "SO-BN" and "sobn" all name SO01 when SO01's ISO code is SO-BN).
func (c *Config) Location(code string) (Location, bool) {
	ix := c.idx()
	if i, ok := ix.locations[code]; ok {
		return c.Locations[i], true
	}
	if i, ok := ix.locKeys[features.LocationCode(code)]; ok && code != "" {
		return c.Locations[i], true
	}
	return Location{}, false
}

// Lookup returns the lookup (options list) with the given id.
func (c *Config) Lookup(id string) (Lookup, bool) {
	i, ok := c.idx().lookupPos[id]
	if !ok {
		return Lookup{}, false
	}
	return c.Lookups[i], true
}

// SuggestLocations returns up to n locations that s may have meant, the
// nearest first: codes and ISO codes sharing a beginning with s or a few
// edits away from it, and locations whose name contains s or is a few
// edits away from it.
func (c *Config) SuggestLocations(s string, n int) []Location {
	key := features.LocationCode(s)
	name := strings.ToLower(strings.TrimSpace(s))
	type scored struct {
		l   Location
		sim float64
	}
	var found []scored
	for _, l := range c.Locations {
		sim := max(codeSimilarity(key, features.LocationCode(l.Code)), codeSimilarity(key, features.LocationCode(l.ISO)))
		if sim < minSimilarity {
			sim = 0
		}
		if ns := textSimilarity(name, strings.ToLower(l.Name)); ns >= minNameSimilarity {
			sim = max(sim, ns)
		}
		if sim > 0 {
			found = append(found, scored{l, sim})
		}
	}
	slices.SortStableFunc(found, func(a, b scored) int {
		return cmp.Or(cmp.Compare(b.sim, a.sim),
			cmp.Compare(lenGap(key, a.l), lenGap(key, b.l)),
			cmp.Compare(a.l.AdminLevel, b.l.AdminLevel),
			cmp.Compare(a.l.Code, b.l.Code))
	})
	out := make([]Location, 0, min(n, len(found)))
	for _, f := range found[:min(n, len(found))] {
		out = append(out, f.l)
	}
	return out
}

// lenGap is how far l's code length is from that of key (codes of the
// length typed come first among equally similar ones).
func lenGap(key string, l Location) int {
	d := abs(len(features.LocationCode(l.Code)) - len(key))
	if l.ISO != "" {
		d = min(d, abs(len(features.LocationCode(l.ISO))-len(key)))
	}
	return d
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// SuggestOptions returns up to n options of lookup l that s may have
// meant, the nearest first: ids and labels s begins, or a few edits away
// from s.
func SuggestOptions(l Lookup, s string, n int) []Option {
	s = strings.ToLower(strings.TrimSpace(s))
	type scored struct {
		o   Option
		sim float64
		pos int
	}
	var found []scored
	for i, o := range l.Options {
		sim := max(textSimilarity(s, strings.ToLower(o.ID)), textSimilarity(s, strings.ToLower(o.Label)))
		if sim >= minSimilarity {
			found = append(found, scored{o, sim, i})
		}
	}
	slices.SortStableFunc(found, func(a, b scored) int {
		return cmp.Or(cmp.Compare(b.sim, a.sim), cmp.Compare(a.pos, b.pos))
	})
	out := make([]Option, 0, min(n, len(found)))
	for _, f := range found[:min(n, len(found))] {
		out = append(out, f.o)
	}
	return out
}

// codeSimilarity compares two compacted codes: the longer of their common
// beginning and their edit similarity, relative to the longer code.
func codeSimilarity(a, b string) float64 {
	if a == "" || b == "" {
		return 0
	}
	ra, rb := []rune(a), []rune(b)
	common := 0
	for common < len(ra) && common < len(rb) && ra[common] == rb[common] {
		common++
	}
	long := float64(max(len(ra), len(rb)))
	return max(float64(common)/long, 1-float64(editDistance(ra, rb))/long)
}

// textSimilarity compares lower-cased words: 1 for equal, 0.9 when one
// contains the other (at least 3 characters of it), 0.7 when a is the
// beginning of b, else the edit similarity.
func textSimilarity(a, b string) float64 {
	if a == "" || b == "" {
		return 0
	}
	switch {
	case a == b:
		return 1
	case len(a) >= 3 && strings.Contains(b, a), len(b) >= 3 && strings.Contains(a, b):
		return 0.9
	case strings.HasPrefix(b, a):
		return 0.7
	}
	ra, rb := []rune(a), []rune(b)
	return 1 - float64(editDistance(ra, rb))/float64(max(len(ra), len(rb)))
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b []rune) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// locationHint ends an unknown location's message: the suggestions, or
// where to find the codes.
func locationHint(near []Location) string {
	if len(near) == 0 {
		return "; cpx forms locations lists the codes"
	}
	names := make([]string, len(near))
	for i, l := range near {
		desc := l.Name
		if l.ISO != "" {
			desc += ", " + l.ISO
		}
		names[i] = fmt.Sprintf("%s (%s)", l.Code, desc)
	}
	return "; did you mean " + orList(names) + "?"
}

// maxListedOptions is how many options an unknown option's error lists
// when none is near.
const maxListedOptions = 8

// optionHint ends an unknown option's message: the suggestions, else the
// options of a short list, else where to find them.
func optionHint(l Lookup, s string) string {
	near := SuggestOptions(l, s, maxSuggestions)
	if len(near) > 0 {
		return "; did you mean " + orList(optionNames(near)) + "?"
	}
	if len(l.Options) <= maxListedOptions {
		return "; the options are " + strings.Join(optionNames(l.Options), ", ")
	}
	return "; cpx forms show lists the options"
}

func optionNames(opts []Option) []string {
	out := make([]string, len(opts))
	for i, o := range opts {
		out[i] = o.ID
		if o.Label != "" && !strings.EqualFold(o.Label, o.ID) {
			out[i] += " (" + o.Label + ")"
		}
	}
	return out
}

// orList joins items as "a", "a or b", "a, b or c".
func orList(items []string) string {
	if len(items) <= 1 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

// SearchLocations returns the locations of locs that query names: its
// code or ISO code begins with the query (compared without case and
// hyphens), or its name contains it (without case). An empty query
// matches every location. Order is kept.
func SearchLocations(locs []Location, query string) []Location {
	key := features.LocationCode(query)
	q := strings.ToLower(strings.TrimSpace(query))
	var out []Location
	for _, l := range locs {
		if q == "" || strings.Contains(strings.ToLower(l.Name), q) ||
			strings.HasPrefix(features.LocationCode(l.Code), key) || (l.ISO != "" && strings.HasPrefix(features.LocationCode(l.ISO), key)) {
			out = append(out, l)
		}
	}
	return out
}
