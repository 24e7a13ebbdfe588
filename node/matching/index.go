package matching

import (
	"math"
	"sort"
	"strconv"
	"sync"

	"github.com/cpx-node/cpx/crypto/features"
)

// Result is one candidate found for a tracing request.
type Result struct {
	ID          string
	Probability float64 // posterior probability of the same child (see Model)
	Band        string  // likely, possible or unlikely
	Comparisons []Comparison
}

// Index finds candidates for a tracing request without comparing it with
// every case. Each case is filed under blocking keys built from its names:
// for the first part and every other part of a name, the pair of their
// phonetic keys, and the pairs (first two letters + length bucket of one,
// phonetic key of the other), and the pairs (skeleton with one letter
// deleted, skeleton of the other); names of one part are filed under that
// part alone. Nicknames are also filed under the formal names they stand
// for. A request therefore reaches a case when the first part and another
// part agree phonetically, or one agrees phonetically and the other shares
// its start and length or is one consonant edit away, in any order and in
// either script.
//
// An Index is safe for concurrent use: any number of Match calls run
// together; Add and Remove take the write lock.
type Index struct {
	mu       sync.RWMutex
	model    Model
	slots    []slot
	byID     map[string]int32
	postings map[string][]int32
	live     int
	given    map[string]int32 // cases per given name (canonical key)
}

type slot struct {
	id   string
	prof *profile
	keys []string
	dead bool
}

// MaxScored bounds the cases scored per request. When blocking reaches more
// (a very common given and father's name in a large register), the cases
// reached by the most blocking keys are scored.
const MaxScored = 3000

// reachedPrior is the prior probability that the sought child is among the
// candidates a request reaches (registered and found by blocking: about
// 0.85 × 0.93 on the synthetic data). Match uses it, with the number of
// candidates, in place of Model.Prior.
const reachedPrior = 0.75

var counterPool sync.Pool // *[]uint16, zeroed between uses

// NewIndex returns an empty index scoring with DefaultModel.
func NewIndex() *Index {
	return &Index{model: DefaultModel(), byID: map[string]int32{}, postings: map[string][]int32{}, given: map[string]int32{}}
}

// SetModel replaces the scoring model.
func (ix *Index) SetModel(m Model) {
	ix.mu.Lock()
	ix.model = m
	ix.mu.Unlock()
}

// Model returns the scoring model.
func (ix *Index) Model() Model {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.model
}

// Len returns the number of candidates in the index.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.live
}

// Add files a candidate, replacing any candidate with the same ID.
func (ix *Index) Add(c Candidate) {
	p := prepare(c.Person)
	keys := blockingKeys(p)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.removeLocked(c.ID)
	n := int32(len(ix.slots))
	ix.slots = append(ix.slots, slot{id: c.ID, prof: p, keys: keys})
	ix.byID[c.ID] = n
	for _, k := range keys {
		ix.postings[k] = append(ix.postings[k], n)
	}
	if g := givenKey(p); g != "" {
		ix.given[g]++
	}
	ix.live++
}

// Remove deletes a candidate; it reports whether it was there.
func (ix *Index) Remove(id string) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.removeLocked(id)
}

func (ix *Index) removeLocked(id string) bool {
	n, ok := ix.byID[id]
	if !ok {
		return false
	}
	s := &ix.slots[n]
	for _, k := range s.keys {
		list := ix.postings[k]
		for i, v := range list {
			if v == n {
				list[i] = list[len(list)-1]
				list = list[:len(list)-1]
				break
			}
		}
		if len(list) == 0 {
			delete(ix.postings, k)
		} else {
			ix.postings[k] = list
		}
	}
	if g := givenKey(s.prof); g != "" {
		if ix.given[g]--; ix.given[g] <= 0 {
			delete(ix.given, g)
		}
	}
	s.dead, s.prof, s.keys = true, nil, nil
	delete(ix.byID, id)
	ix.live--
	return true
}

// Match returns the candidates the blocking keys reach, scored and sorted by
// probability (highest first, then by ID). limit ≤ 0 returns all of them.
func (ix *Index) Match(q Person, limit int) []Result {
	qp := prepare(q)
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	cands := ix.reach(qp)
	out := make([]Result, 0, len(cands))
	for _, n := range cands {
		s := &ix.slots[n]
		cs := compareProfiles(qp, s.prof, false)
		cs[len(cs)-1] = ix.rarity(cs, qp, s.prof, false)
		out = append(out, Result{ID: s.id, Comparisons: cs})
	}
	// at most one case is the sought child: the candidates share the
	// probability (Posteriors)
	vecs := make([][]Comparison, len(out))
	for i := range out {
		vecs[i] = out[i].Comparisons
	}
	for i, p := range ix.model.Posteriors(vecs) {
		out[i].Probability = p
		out[i].Band = BandOf(p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Probability != out[j].Probability {
			return out[i].Probability > out[j].Probability
		}
		return out[i].ID < out[j].ID
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	for i := range out {
		// explanations only for what is returned
		prof := ix.slots[ix.byID[out[i].ID]].prof
		cs := compareProfiles(qp, prof, true)
		cs[len(cs)-1] = ix.rarity(cs, qp, prof, true)
		out[i].Comparisons = cs
	}
	return out
}

// reach returns the slots of the live cases the request's blocking keys
// reach, at most MaxScored of them. Called under ix.mu.
func (ix *Index) reach(qp *profile) []int32 {
	keys := blockingKeys(qp)
	// count how many keys reach each case: the sought child usually shares
	// several (both name pairs, spelling buckets), a stranger with a common
	// name one or two
	// dense counters (pooled: one request at 1 M cases touches tens of
	// thousands of cases, too many for a map)
	cnt, _ := counterPool.Get().(*[]uint16)
	if cnt == nil || len(*cnt) < len(ix.slots) {
		c := make([]uint16, len(ix.slots)+len(ix.slots)/4+64)
		cnt = &c
	}
	hits := *cnt
	var touched []int32
	for _, k := range keys {
		for _, n := range ix.postings[k] {
			if hits[n] == 0 {
				touched = append(touched, n)
			}
			if hits[n] < math.MaxUint16 {
				hits[n]++
			}
		}
	}
	cands := make([]int32, 0, min(len(touched), MaxScored))
	if len(touched) <= MaxScored {
		for _, n := range touched {
			if !ix.slots[n].dead {
				cands = append(cands, n)
			}
		}
	} else {
		// keep the MaxScored cases reached by the most keys (ties by
		// slot): count cases per hit count, find the cut, sort only the
		// cases at the cut
		var byHits [64]int
		live := touched[:0:0]
		for _, n := range touched {
			if !ix.slots[n].dead {
				live = append(live, n)
				byHits[min(int(hits[n]), 63)]++
			}
		}
		cut, above := 63, 0
		for ; cut > 0 && above+byHits[cut] < MaxScored; cut-- {
			above += byHits[cut]
		}
		var atCut []int32
		for _, n := range live {
			switch h := min(int(hits[n]), 63); {
			case h > cut:
				cands = append(cands, n)
			case h == cut:
				atCut = append(atCut, n)
			}
		}
		sort.Slice(atCut, func(i, j int) bool { return atCut[i] < atCut[j] })
		cands = append(cands, atCut[:min(len(atCut), MaxScored-len(cands))]...)
	}
	for _, n := range touched {
		hits[n] = 0
	}
	counterPool.Put(cnt)
	return cands
}

// Vectors returns the comparison vectors (levels only, no explanations) of
// a request with every candidate Match would score, in no set order: the
// unlabelled data Adapt estimates a model on.
func (ix *Index) Vectors(q Person) [][]Comparison {
	qp := prepare(q)
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	cands := ix.reach(qp)
	out := make([][]Comparison, 0, len(cands))
	for _, n := range cands {
		s := &ix.slots[n]
		cs := compareProfiles(qp, s.prof, false)
		cs[len(cs)-1] = ix.rarity(cs, qp, s.prof, false)
		out = append(out, cs)
	}
	return out
}

// givenKey is the canonical key of a person's given name (the first part
// of the first name), or "".
func givenKey(p *profile) string {
	if len(p.names) == 0 {
		return ""
	}
	return p.names[0][0].Canonical
}

// rarity grades how rare the agreeing given name is among the indexed
// cases when the request's given name agrees with the case's (name level 3
// or more): agreeing on a name one case in a thousand bears says more than
// agreeing on one that every twentieth bears. The name is counted under
// both sides' spellings and the larger count is taken, so that a typo on
// one side (Mohamfed for Mohamed) does not make a common name look rare.
// Levels: 3 under 0.1 % of the cases, 2 under 0.5 %, 1 under 2 %, 0 more;
// blank when the given names do not agree. Called under ix.mu.
func (ix *Index) rarity(cs []Comparison, q, c *profile, e explain) Comparison {
	g := givenKey(c)
	if g == "" || ix.live == 0 || len(cs) == 0 || cs[0].Level < 3 {
		return blank(FieldGivenRarity)
	}
	n := ix.given[g]
	if qg := givenKey(q); qg != "" {
		n = max(n, ix.given[qg])
	}
	f := float64(n) / float64(ix.live)
	lvl := 0
	switch {
	case f < 0.001:
		lvl = 3
	case f < 0.005:
		lvl = 2
	case f < 0.02:
		lvl = 1
	}
	return Comparison{Field: FieldGivenRarity, Outcome: Match, Level: lvl, Why: e.f("given name on %d of %d cases here", n, ix.live)}
}

// BlockingKeys returns the keys a person is filed and looked up under.
func BlockingKeys(p Person) []string { return blockingKeys(prepare(p)) }

func bucket(t Token) string {
	c := t.Canonical
	if len(c) > 2 {
		c = c[:2]
	}
	return c + strconv.Itoa(len(t.Canonical)/3)
}

func phon(c, sk string) string {
	if len(sk) >= 2 {
		return sk
	}
	return "=" + c
}

// phonAlts returns a part's phonetic key and, for parts whose skeleton is a
// single letter (Duaa, Suha, Ali), the skeleton as well: transliteration
// moves their short vowels, which the canonical key keeps.
func phonAlts(c, sk string) []string {
	if len(sk) == 1 {
		return []string{"=" + c, "~" + sk}
	}
	return []string{phon(c, sk)}
}

func blockingKeys(p *profile) []string {
	set := map[string]struct{}{}
	add := func(k string) { set[k] = struct{}{} }
	addPair := func(pre, x, y string) {
		if x > y {
			x, y = y, x
		}
		add(pre + x + "|" + y)
	}
	// alternates: the part's own phonetic key plus those of the formal
	// names it is a nickname of
	alts := func(t Token) []string {
		a := phonAlts(t.Canonical, t.Skeleton)
		for _, f := range Formal(t.Canonical) {
			a = append(a, phonAlts(f, Skeleton(f))...)
		}
		return a
	}
	var nickAlts []string
	for _, t := range p.nicks {
		nickAlts = append(nickAlts, alts(t)...)
	}
	for _, name := range p.names {
		if len(name) == 1 {
			for _, a := range alts(name[0]) {
				add("1|" + a)
			}
			for _, a := range nickAlts {
				add("1|" + a)
			}
			add("b|" + bucket(name[0]))
			continue
		}
		// every key involves the first part (the given name, or whatever
		// the writer put first): pairs of later parts alone, shared by
		// siblings and cousins, would reach far too many cases
		a0 := append(alts(name[0]), nickAlts...)
		b0 := bucket(name[0])
		for j := 1; j < len(name); j++ {
			aj := alts(name[j])
			for _, x := range a0 {
				for _, y := range aj {
					if x > y {
						x, y = y, x
					}
					add("p|" + x + "|" + y)
				}
			}
			for _, y := range aj {
				add("m|" + b0 + "|" + y)
			}
			// one edit in either skeleton (a typo or a respelling that
			// changes a consonant): deletion neighbourhoods, paired with the
			// other part's exact skeleton
			s0, sj := name[0].Skeleton, name[j].Skeleton
			if len(s0) >= 2 && len(sj) >= 2 {
				for _, d := range features.Deletions(s0) {
					addPair("p|", d, sj)
				}
				for _, d := range features.Deletions(sj) {
					addPair("p|", s0, d)
				}
			}
			bj := bucket(name[j])
			for _, x := range a0 {
				add("m|" + bj + "|" + x)
			}
		}
	}
	// the family chain: a child's father and grandfather (the second and
	// third parts of a patronymic name) are the first two parts of the
	// father's name among the relatives. It reaches the child when the
	// given name is lost (misspelt beyond the keys above, a nickname, an
	// order swap), through the family, not the given name.
	chain := func(a, b Token) {
		for _, x := range phonAlts(a.Canonical, a.Skeleton) {
			for _, y := range phonAlts(b.Canonical, b.Skeleton) {
				add("f|" + x + "|" + y)
			}
		}
	}
	for _, name := range p.names {
		if len(name) >= 3 {
			chain(name[1], name[2])
		}
	}
	for _, r := range p.relatives {
		if len(r) >= 2 {
			chain(r[0], r[1])
		}
	}
	// Independent keys, each of one name part with a date of birth part
	// or a place, so that a record whose other parts were lost (a part
	// missing, misspelt beyond the keys above, swapped with another) is
	// still reached: the part's phonetic key and its first three letters
	// (a q-gram that survives a consonant change) with the year of birth,
	// the month and day of birth, and the district; the whole date of
	// birth with the district.
	var born, monthDay string
	if p.dob != noDate {
		d := dayString(p.dob)
		born, monthDay = d[:4], d[5:]
	}
	var places []string
	for _, l := range p.locations {
		if len(l) >= 4 {
			places = append(places, l[:min(len(l), 6)])
		}
	}
	if born != "" {
		for _, l := range places {
			add("dl|" + born + monthDay + "|" + l)
		}
		// the whole date of birth with the region too, so that a
		// district or postcode recorded wrongly within the region still
		// meets; not for 1 January, where estimated dates go and a
		// region's bucket would be large
		if monthDay != "01-01" {
			for _, l := range p.locations {
				if len(l) >= 6 {
					add("dl|" + born + monthDay + "|" + l[:4])
				}
			}
		}
	}
	for _, name := range p.names {
		for _, t := range name {
			keys := phonAlts(t.Canonical, t.Skeleton)
			if len(t.Canonical) >= 3 {
				keys = append(keys, "^"+t.Canonical[:3])
			}
			for _, k := range keys {
				if born != "" {
					add("y|" + k + "|" + born)
					add("md|" + k + "|" + monthDay)
				}
				for _, l := range places {
					add("l|" + k + "|" + l)
				}
			}
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
