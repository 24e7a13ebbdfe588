package matching

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/cpx-node/cpx/crypto/features"
)

// Comparison is the outcome of comparing one field of a tracing request with
// the same field of a case.
type Comparison struct {
	Field   string // one of the Field* constants
	Outcome string // match, partial, mismatch or blank
	Why     string // for the caseworker: "Mohammed ~ محمد (transliteration)"
	Level   int    // agreement level used by the model; -1 when blank
}

// Fields compared, in the order Compare returns them.
const (
	FieldName        = "name"
	FieldSex         = "sex"
	FieldAge         = "age"
	FieldLocation    = "location"
	FieldRelatives   = "relatives"
	FieldLineage     = "lineage"
	FieldSepDate     = "separation_date"
	FieldSepLocation = "separation_location"
	// FieldGivenRarity is not a field of the records but of the register:
	// how rare the agreeing given name is among the indexed cases (Index
	// only; blank from Compare).
	FieldGivenRarity = "given_name_rarity"
)

// Outcomes.
const (
	Match    = "match"
	Partial  = "partial"
	Mismatch = "mismatch"
	Blank    = "blank"
)

// FieldLevels is the number of agreement levels per field (levels run from 0,
// total disagreement, to n-1, full agreement).
var FieldLevels = map[string]int{
	FieldName: 8, FieldSex: 2, FieldAge: 5, FieldLocation: 4,
	FieldRelatives: 7, FieldLineage: 4, FieldSepDate: 3, FieldSepLocation: 3, FieldGivenRarity: 4,
}

// FieldOrder lists the compared fields.
var FieldOrder = []string{FieldName, FieldSex, FieldAge, FieldLocation, FieldRelatives, FieldLineage, FieldSepDate, FieldSepLocation, FieldGivenRarity}

// Compare compares a tracing request's description of a child (q) with a
// case (c), field by field.
func Compare(q, c Person) []Comparison {
	return compareProfiles(prepare(q), prepare(c), true)
}

func compareProfiles(q, c *profile, e explain) []Comparison {
	out := make([]Comparison, 0, len(FieldOrder))
	out = append(out, compareNames(q, c, e))
	out = append(out, compareSex(q, c))
	out = append(out, compareAge(q, c, e))
	out = append(out, compareLocations(FieldLocation, q.locations, c.locations, 4, e))
	out = append(out, compareRelatives(q, c, e))
	out = append(out, compareLineage(q, c, e))
	out = append(out, compareSepDate(q, c, e))
	var ql, cl []string
	if q.sepLoc != "" {
		ql = []string{q.sepLoc}
	}
	if c.sepLoc != "" {
		cl = []string{c.sepLoc}
	}
	out = append(out, compareLocations(FieldSepLocation, ql, cl, 3, e))
	out = append(out, blank(FieldGivenRarity)) // the Index fills it in
	return out
}

// explain says whether to build the human explanations (only for results
// that are returned; scoring needs the levels alone).
type explain bool

func (e explain) f(format string, args ...any) string {
	if !e {
		return ""
	}
	return fmt.Sprintf(format, args...)
}

func blank(field string) Comparison {
	return Comparison{Field: field, Outcome: Blank, Why: "not recorded on both sides", Level: -1}
}

// matchSim is the token similarity from which two name parts count as the
// same name.
const matchSim = 0.88

// nearSim is the similarity from which two name parts that do not count as
// the same name are a near miss (a typo) rather than another name.
const nearSim = 0.7

// tokenSim scores two name parts and says why they agree.
func tokenSim(a, b Token) (float64, string) {
	return tokenSimInfo(a, b, infoOf(a), infoOf(b))
}

// tokInfo is what the name tables say of one canonical part, looked up once
// per profile rather than once per comparison.
type tokInfo struct {
	known  bool
	formal []string // formal names it is a nickname of
	// soundsLike lists the known names that a part not itself known
	// shares its consonant skeleton with: Mohmamad (a typo) sounds like
	// Muhammad and Mahmud.
	soundsLike []string
}

func infoOf(t Token) tokInfo {
	in := tokInfo{known: features.Known(t.Canonical), formal: features.Formal(t.Canonical)}
	if !in.known {
		in.soundsLike = features.SoundsLike(t.Skeleton)
	}
	return in
}

// anotherKnownName reports whether a part that is not a known name sounds
// like known names, none of which is other (a known name): such a part is a
// misspelling of another name, not a near miss of other.
func anotherKnownName(in tokInfo, other string, otherInfo tokInfo) bool {
	return otherInfo.known && len(in.soundsLike) > 0 && !slices.Contains(in.soundsLike, other)
}

func infosOf(ts []Token) []tokInfo {
	out := make([]tokInfo, len(ts))
	for i, t := range ts {
		out[i] = infoOf(t)
	}
	return out
}

// nicknameInfo is NicknameOf on looked-up infos.
func nicknameInfo(a, b string, ai, bi tokInfo) bool {
	for _, f := range ai.formal {
		if f == b {
			return true
		}
		for _, g := range bi.formal {
			if f == g {
				return true
			}
		}
	}
	for _, f := range bi.formal {
		if f == a {
			return true
		}
	}
	return false
}

func tokenSimInfo(a, b Token, ai, bi tokInfo) (float64, string) {
	if a.Canonical == b.Canonical {
		switch {
		case a.Arabic != b.Arabic:
			return 1, "transliteration"
		case a.Raw != b.Raw:
			return 0.98, "spelling variant"
		}
		return 1, "same"
	}
	if nicknameInfo(a.Canonical, b.Canonical, ai, bi) {
		return 0.93, "nickname"
	}
	if extendsKnown(a.Canonical, b.Canonical, ai, bi) {
		return 0, "different names"
	}
	bothKnown := ai.known && bi.known
	jw := JaroWinkler(a.Canonical, b.Canonical)
	if !bothKnown && (a.Spelling != "" || b.Spelling != "") {
		// a typo of a spelling the variant table maps (Faduao for
		// Faadumo) is close to that spelling, not to the canonical one
		jw = math.Max(jw, JaroWinkler(a.RulesKey(), b.RulesKey()))
	}
	if ra, rb, ok := abdRests(a.Canonical, b.Canonical); ok {
		// the shared abd- (servant of) says nothing: Abdi, Abdiaziz and
		// Abdirahman are different names
		jw = math.Min(jw, JaroWinkler(ra, rb))
	}
	why := "similar spelling"
	if !bothKnown && len(a.Skeleton) >= 2 && a.Skeleton == b.Skeleton && jw < 0.92 && (a.Arabic != b.Arabic || jw >= 0.85) {
		jw = 0.92
		why = "sounds alike"
		if a.Arabic != b.Arabic {
			why = "transliteration"
		}
	} else if a.Arabic != b.Arabic && !bothKnown {
		// across scripts short vowels are missing: compare consonant keys
		if s := 0.95 * JaroWinkler(a.Skeleton, b.Skeleton); s > jw && len(a.Skeleton) >= 3 {
			jw, why = s, "transliteration, misspelt"
		}
	} else if bothKnown {
		// two distinct known names (Hassan, Hussein) never count as one
		jw = math.Min(jw, 0.85)
		why = "different names"
	}
	return jw, why
}

// crossPenalty lowers the score of an assignment of parts that is out of
// order, so that an in-order one of nearly the same score wins.
const crossPenalty = 1

// givenBonus favours an assignment that pairs the given names (givenPair)
// over one of nearly the same score that pairs the request's given name
// with a part further on: Faisla Ibraheem Faisal (a typo of Faisal, son of
// Ibrahim, grandson of Faisal) against Faysal Ebrahim.
const givenBonus = 0.05

// crossed reports whether the paired parts (in request order) appear in
// the case in an order that is neither the same nor a rotation of it
// (family name or grandfather written first): Ahmed Yusuf Bassam against
// Ahmed Bassam Yusuf is crossed.
func crossed(pairs []namePair) bool {
	prev, first, descents := -1, -1, 0
	for _, p := range pairs {
		if p.qi < 0 || p.ci < 0 {
			continue
		}
		if first < 0 {
			first = p.ci
		} else if p.ci < prev {
			descents++
		}
		prev = p.ci
	}
	return descents > 1 || descents == 1 && prev > first
}

type namePair struct {
	qi, ci int
	sim    float64
	why    string
}

// givenPair reports whether a pair of parts is the given name of both sides
// in some reading of the two names: both written given name first, or one
// of them written with its last part (family name or grandfather) first,
// which puts its given name second. A request's first part that agrees with
// a case's last part is not a given name that agrees: Sa'ad Fatema Ahmed
// (Fatema Ahmed Sa'ad written family first) against her sister Hoda Ahmed
// Sa'ad shares the father and the family, not the given name.
func givenPair(p namePair) bool {
	return p.qi == 0 && p.ci <= 1 || p.ci == 0 && p.qi == 1
}

// givenAgrees reports whether an assignment pairs the given names in one
// consistent reading of the two names: first part with first part, or a
// rotation — one side written with its last part first, so that its given
// name is second and every later part of it one place further on. A pair
// of the first part of one side with the second of the other whose other
// pairs do not move with it is no rotation: Bashiir Mohamed Mehad against
// Mohamed Maxamed Mahad pairs Mehad with Mahad in place, so Mohamed is
// Bashiir's father's name and his brother's given name, not his own.
func givenAgrees(pairs []namePair) bool {
	for _, p := range pairs {
		switch {
		case p.qi == 0 && p.ci == 0:
			return true
		case p.qi == 1 && p.ci == 0 && shifted(pairs, false), p.qi == 0 && p.ci == 1 && shifted(pairs, true):
			return true
		}
	}
	return false
}

// shifted reports whether every pair past the first part of the rotated
// side (the request's, or the case's if caseRotated) sits one place
// earlier on the other side.
func shifted(pairs []namePair, caseRotated bool) bool {
	for _, p := range pairs {
		r, o := p.qi, p.ci
		if caseRotated {
			r, o = o, r
		}
		if r >= 1 && o != r-1 {
			return false
		}
	}
	return true
}

// nameLevel compares two full names with the best assignment of parts
// (order swaps and missing parts allowed) and returns the agreement level:
//
//	7 given name and every part present on both sides agree (≥3 parts)
//	6 the same with two parts (one side gives only two)
//	5 given name and another part agree; the parts that disagree are
//	  near misses (a typo, not another name)
//	4 given name and another part agree, some part is another name; or
//	  one-part names that agree
//	3 only the given name agrees
//	2 other parts agree and the given name is a near miss
//	1 other parts agree but the given name is another name (the sibling
//	  pattern)
//	0 nothing agrees
func nameLevel(q, c []Token, qi, ci []tokInfo, qn, cn []Token) (int, float64, []namePair) {
	n, m := len(q), len(c)
	var sims [maxTokens][maxTokens]float64
	var whys [maxTokens][maxTokens]string
	for i := 0; i < n; i++ {
		for j := 0; j < m; j++ {
			sims[i][j], whys[i][j] = tokenSimInfo(q[i], c[j], qi[i], ci[j])
		}
	}
	// exhaustive best assignment over matched pairs (n, m ≤ 5)
	var best []namePair
	bestScore := -1.0
	var cur []namePair
	var usedC [maxTokens]bool
	var rec func(i int, score float64)
	bestCrossed := false
	rec = func(i int, score float64) {
		if i == n {
			// prefer assignments that keep positions (given with given)
			// and the order of the parts
			c := crossed(cur)
			if c {
				score -= crossPenalty
			}
			if score > bestScore+1e-9 {
				bestScore, bestCrossed = score, c
				best = append(best[:0], cur...)
			}
			return
		}
		rec(i+1, score)
		for j := 0; j < m; j++ {
			if usedC[j] || sims[i][j] < matchSim {
				continue
			}
			usedC[j] = true
			bonus := 0.0
			if i == j {
				bonus = 0.001
			}
			if givenPair(namePair{qi: i, ci: j}) {
				bonus += givenBonus
			}
			cur = append(cur, namePair{i, j, sims[i][j], whys[i][j]})
			rec(i+1, score+sims[i][j]+bonus)
			cur = cur[:len(cur)-1]
			usedC[j] = false
		}
	}
	rec(0, 0)
	k := len(best)
	given := givenAgrees(best)
	// nicknames recorded separately stand in for the given name
	if !given {
		for _, nt := range qn {
			if s, w := tokenSim(nt, c[0]); s >= matchSim || w == "nickname" {
				given = true
				best = append(best, namePair{-1, 0, s, "nickname"})
				k++
				break
			}
		}
	}
	if !given {
		for _, nt := range cn {
			if s, w := tokenSim(q[0], nt); s >= matchSim || w == "nickname" {
				given = true
				best = append(best, namePair{0, -1, s, "nickname"})
				k++
				break
			}
		}
	}
	short := min(n, m)
	mism := short - k
	if mism < 0 {
		mism = 0
	}
	// near misses among the parts left unpaired: close spellings that are
	// not two distinct known names
	var usedQ [maxTokens]bool
	for _, p := range best {
		if p.qi >= 0 {
			usedQ[p.qi] = true
		}
		if p.ci >= 0 {
			usedC[p.ci] = true
		}
	}
	near := func(i, j int) bool {
		if qi[i].known && ci[j].known || extendsKnown(q[i].Canonical, c[j].Canonical, qi[i], ci[j]) ||
			anotherKnownName(qi[i], c[j].Canonical, ci[j]) || anotherKnownName(ci[j], q[i].Canonical, qi[i]) {
			return false
		}
		// a close spelling, or consonant skeletons one edit apart (a
		// typo in Arabic script: عرم for عمر), or spellings one edit
		// apart in one script (Ayl for Aly: too short for Jaro–Winkler
		// to see it; across scripts the unwritten vowels differ anyway)
		return sims[i][j] >= nearSim || features.OneEdit(q[i].Skeleton, c[j].Skeleton) ||
			q[i].Arabic == c[j].Arabic && features.OneEdit(q[i].Canonical, c[j].Canonical)
	}
	nearMisses := 0
	for i := 0; i < n; i++ {
		if usedQ[i] {
			continue
		}
		for j := 0; j < m; j++ {
			if !usedC[j] && near(i, j) {
				usedC[j] = true
				nearMisses++
				break
			}
		}
	}
	score := bestScore
	var lvl int
	switch {
	case given && bestCrossed:
		// the parts agree in another order than a rotation: a name chain
		// (given, father, grandfather) read in the wrong order is
		// another child's
		lvl = 4
	case given && mism == 0 && k >= 3:
		lvl = 7
	case given && mism == 0 && k == 2:
		lvl = 6
	case given && k >= 2 && nearMisses >= mism:
		lvl = 5
	case given && k >= 2, given && short == 1:
		lvl = 4
	case given:
		lvl = 3
	case k >= 1 && near(0, 0) && !usedQ[0]:
		lvl = 2
	case k >= 1:
		lvl = 1
	}
	return lvl, score, best
}

func compareNames(q, c *profile, e explain) Comparison {
	if len(q.names) == 0 || len(c.names) == 0 {
		return blank(FieldName)
	}
	bestL, bestS := -1, -1.0
	var bp []namePair
	var bq, bc []Token
	for a, qn := range q.names {
		for b, cn := range c.names {
			l, s, p := nameLevel(qn, cn, q.nameInfo[a], c.nameInfo[b], q.nicks, c.nicks)
			if l > bestL || (l == bestL && s > bestS) {
				bestL, bestS, bp, bq, bc = l, s, p, qn, cn
			}
		}
	}
	out := Comparison{Field: FieldName, Level: bestL}
	switch {
	case bestL >= 4:
		out.Outcome = Match
	case bestL >= 1:
		out.Outcome = Partial
	default:
		out.Outcome = Mismatch
	}
	if !e {
		return out
	}
	var parts []string
	for _, p := range bp {
		var a, b string
		if p.qi >= 0 {
			a = bq[p.qi].Raw
		} else {
			a = "(nickname)"
		}
		if p.ci >= 0 {
			b = bc[p.ci].Raw
		} else {
			b = "(nickname)"
		}
		op := "~"
		if p.why == "same" {
			op = "="
		}
		parts = append(parts, fmt.Sprintf("%s %s %s (%s)", a, op, b, p.why))
	}
	if len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("%s ≠ %s", joinRaw(bq), joinRaw(bc)))
	} else if bestL == 2 {
		parts = append(parts, "given name differs slightly (misspelt?)")
	} else if bestL == 1 {
		parts = append(parts, "given name differs")
	}
	out.Why = strings.Join(parts, "; ")
	return out
}

func joinRaw(ts []Token) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.Raw
	}
	return strings.Join(s, " ")
}

func compareSex(q, c *profile) Comparison {
	if q.sex == "" || c.sex == "" {
		return blank(FieldSex)
	}
	if q.sex == c.sex {
		return Comparison{FieldSex, Match, q.sex, 1}
	}
	return Comparison{FieldSex, Mismatch, q.sex + " vs " + c.sex, 0}
}

// ageTolerance is how far apart two ages may be and still agree: one year
// for stated ages, and for estimates two years widening by a year per eight
// years of age (a 4-year-old is estimated ±2, a 12-year-old ±3).
func ageTolerance(age float64, estimated bool) float64 {
	if !estimated {
		return 1
	}
	return 2 + math.Floor(age/8)
}

// newYearsDay reports whether a day number (days since 1970-01-01) falls
// on 1 January.
func newYearsDay(day int32) bool {
	t := time.Unix(int64(day)*86400, 0).UTC()
	return t.Month() == time.January && t.Day() == 1
}

func describeAge(a float64, est bool) string {
	if !est {
		return fmt.Sprintf("%g", a)
	}
	t := ageTolerance(a, true)
	return fmt.Sprintf("estimated %g–%g", math.Max(0, a-t), a+t)
}

// compareAge grades dates of birth, or ages with a tolerance for
// estimates:
//
//	4 the same date of birth, not 1 January (where an estimated date is
//	  usually put): one day in 365, far stronger than the same age
//	3 the same date of birth on 1 January, or the same stated age
//	2 born within a year, or ages within the tolerance
//	1 born within three years, or ages within twice the tolerance
//	0 further apart
//
// Ages are compared at the request's day (its RecordedOn, else the
// case's): a date of birth gives the age reached on that day, and an age
// recorded on another day is moved on by the years between. A date of
// birth against an age with no day on either side is blank.
func compareAge(q, c *profile, e explain) Comparison {
	if q.dob != noDate && c.dob != noDate {
		d := q.dob - c.dob
		if d < 0 {
			d = -d
		}
		why := e.f("born %d days apart", d)
		switch {
		case d == 0 && !newYearsDay(q.dob):
			return Comparison{FieldAge, Match, "same date of birth", 4}
		case d == 0:
			return Comparison{FieldAge, Match, "same date of birth (1 January, often an estimate)", 3}
		case d <= 366:
			return Comparison{FieldAge, Match, why, 2}
		case d <= 3*366:
			return Comparison{FieldAge, Partial, why, 1}
		}
		return Comparison{FieldAge, Mismatch, why, 0}
	}
	ref := q.recorded
	if ref == noDate {
		ref = c.recorded
	}
	qa, qFrom := ageAt(q, ref)
	ca, cFrom := ageAt(c, ref)
	if qa < 0 || ca < 0 {
		if (q.dob != noDate && c.age >= 0) || (c.dob != noDate && q.age >= 0) {
			return Comparison{Field: FieldAge, Outcome: Blank, Why: "an age and a date of birth, but no day the age was recorded", Level: -1}
		}
		return blank(FieldAge)
	}
	qEst, cEst := q.estimated && q.dob == noDate, c.estimated && c.dob == noDate
	est := qEst || cEst
	tol := math.Max(ageTolerance(qa, qEst), ageTolerance(ca, cEst))
	d := math.Abs(qa - ca)
	why := ""
	if e {
		why = fmt.Sprintf("age %s%s vs %s%s", describeAge(qa, qEst), qFrom, describeAge(ca, cEst), cFrom)
	}
	switch {
	case d < 0.5 && !est:
		return Comparison{FieldAge, Match, why, 3}
	case d <= tol:
		return Comparison{FieldAge, Match, why, 2}
	case d <= 2*tol:
		return Comparison{FieldAge, Partial, why, 1}
	}
	return Comparison{FieldAge, Mismatch, why, 0}
}

// ageAt returns p's age in whole years on day ref (noDate: as recorded)
// and where it comes from for the explanation: the age recorded (moved on
// by the years from p's RecordedOn to ref when both are known), else the
// age reached on ref from the date of birth. -1 when neither can be had.
func ageAt(p *profile, ref int32) (float64, string) {
	if p.age >= 0 {
		if p.recorded == noDate || ref == noDate || ref == p.recorded {
			return p.age, ""
		}
		moved := math.Floor(p.age + float64(ref-p.recorded)/365.2425)
		if moved < 0 {
			moved = 0
		}
		if moved == p.age {
			return p.age, ""
		}
		return moved, fmt.Sprintf(" (%g on %s)", p.age, dayString(p.recorded))
	}
	if p.dob != noDate && ref != noDate && ref >= p.dob {
		return float64(AgeOn(dayTime(p.dob), dayTime(ref))), " (born " + dayString(p.dob) + ")"
	}
	return -1, ""
}

func dayTime(day int32) time.Time { return time.Unix(int64(day)*86400, 0).UTC() }

func dayString(day int32) string { return dayTime(day).Format(time.DateOnly) }

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// compareLocations scores hierarchical codes (2 letters of country, then 2
// characters per admin level) by the longest common prefix over all pairs:
// level top = same code or same district, top-1 = same region, … 0 = other
// country.
func compareLocations(field string, q, c []string, levels int, e explain) Comparison {
	if len(q) == 0 || len(c) == 0 {
		return blank(field)
	}
	best, ba, bb := -1, "", ""
	for _, a := range q {
		for _, b := range c {
			if a == "" || b == "" {
				continue
			}
			p := commonPrefix(a, b)
			if a == b {
				p = 99
			}
			if p > best {
				best, ba, bb = p, a, b
			}
		}
	}
	if best < 0 {
		return blank(field)
	}
	lvl := 0
	switch {
	case best >= 6:
		lvl = levels - 1
	case best >= 4:
		lvl = levels - 2
	case best >= 2:
		lvl = levels - 3
	}
	if lvl < 0 {
		lvl = 0
	}
	why := e.f("%s vs %s (%d common)", ba, bb, min(best, len(ba)))
	if best == 99 && e {
		why = ba + " (same place)"
	}
	out := Comparison{Field: field, Why: why, Level: lvl}
	switch {
	case lvl == levels-1:
		out.Outcome = Match
	case lvl > 0:
		out.Outcome = Partial
	default:
		out.Outcome = Mismatch
	}
	return out
}

// strongRelative is the name level from which a relative's name agrees
// (all parts, or all but a near miss).
const strongRelative = 5

// compareRelatives pairs the request's relatives with the case's (a known
// father only with a father or a relative of unknown relation, likewise a
// mother; each relative in one pair at most, strongest agreements first)
// and grades:
//
//	6 two or more relatives agree
//	5 one agrees and nothing contradicts it
//	4 one agrees but another pair contradicts it: a relative left over on
//	  each side, comparable (a father on both, or a parent and a relative
//	  of unknown relation), whose names do not agree — a child has one
//	  father and one mother, so another child's family shares one parent's
//	  name at most by chance
//	3 a name one side gives in one part (Fatima) agrees with a part of the
//	  other side's (Fatima Warsame): every part given agrees
//	2 one agrees in part (no relative agrees fully)
//	1 none agrees
//	0 relatives recorded on one side only
//
// A relative's name agrees when every part present on both sides agrees
// (all parts, or all but a near miss). Blank when neither side records a
// relative.
func compareRelatives(q, c *profile, e explain) Comparison {
	if len(q.relatives) == 0 && len(c.relatives) == 0 {
		return blank(FieldRelatives)
	}
	if len(q.relatives) == 0 || len(c.relatives) == 0 {
		side := "case"
		if len(q.relatives) > 0 {
			side = "request"
		}
		return Comparison{Field: FieldRelatives, Outcome: Blank, Why: "relatives recorded on the " + side + " only", Level: relAbsent}
	}
	type pair struct {
		x, y, level int
		onePart     bool // a one-part name agrees with a part of the other (below strongRelative)
	}
	var buf [16]pair // most people list a few relatives: no allocation
	pairs := buf[:0]
	for x, a := range q.relatives[:min(len(q.relatives), 64)] {
		for y, b := range c.relatives[:min(len(c.relatives), 64)] {
			if rq, rc := q.relRole[x], c.relRole[y]; rq != roleUnknown && rc != roleUnknown && rq != rc {
				continue // a mother is not compared with a father
			}
			l, _, best := nameLevel(a, b, q.relInfo[x], c.relInfo[y], nil, nil)
			one := l < strongRelative && min(len(a), len(b)) == 1 && len(best) == 1
			pairs = append(pairs, pair{x, y, l, one})
		}
	}
	if len(pairs) == 0 {
		return Comparison{Field: FieldRelatives, Outcome: Blank, Why: "no relative of the same kind on both sides", Level: -1}
	}
	// strongest first; ties in request order (stable)
	rank := func(p pair) int {
		if p.onePart {
			return 2*strongRelative - 1
		}
		return 2 * p.level
	}
	slices.SortStableFunc(pairs, func(a, b pair) int { return rank(b) - rank(a) })
	var usedQ, usedC uint64 // bit x: relative x is in a pair (the first 64 only)
	strong, bestL, bestOnePart := 0, pairs[0].level, pairs[0].onePart
	why := ""
	if e {
		why = joinRaw(q.relatives[pairs[0].x]) + " ~ " + joinRaw(c.relatives[pairs[0].y])
	}
	for _, p := range pairs {
		if p.level < strongRelative || usedQ&(1<<p.x) != 0 || usedC&(1<<p.y) != 0 {
			continue
		}
		usedQ, usedC = usedQ|1<<p.x, usedC|1<<p.y
		strong++
	}
	conflict, conflictWhy := false, ""
	for _, p := range pairs {
		if usedQ&(1<<p.x) == 0 && usedC&(1<<p.y) == 0 && (q.relRole[p.x] != roleUnknown || c.relRole[p.y] != roleUnknown) {
			conflict = true
			if e {
				conflictWhy = joinRaw(q.relatives[p.x]) + " ≠ " + joinRaw(c.relatives[p.y])
			}
			break
		}
	}
	lvl := 1
	switch {
	case strong >= 2:
		lvl = 6
	case strong == 1 && !conflict:
		lvl = 5
	case strong == 1:
		lvl = 4
	case bestOnePart:
		lvl = 3
	case bestL >= 1:
		lvl = 2
	}
	out := Comparison{Field: FieldRelatives, Level: lvl, Why: why}
	switch lvl {
	case 6:
		out.Outcome, out.Why = Match, e.f("%d relatives agree, e.g. %s", strong, why)
	case 5:
		out.Outcome = Match
	case 4:
		out.Outcome, out.Why = Partial, e.f("%s, but %s", why, conflictWhy)
	case 3:
		out.Outcome, out.Why = Match, e.f("%s (the one name given agrees)", why)
	case 2:
		out.Outcome = Partial
	default:
		out.Outcome, out.Why = Mismatch, "no relative's name agrees"
	}
	return out
}

// relAbsent is the relatives' level of relatives recorded on one side
// only.
const relAbsent = 0

// compareLineage compares each side's name chain — the parts after the
// given name: the father's and grandfather's names in a patronymic chain
// (Hodan Daahir Cawil, daughter of Daahir Cawil), the family name in a
// given-plus-family name (Ahmad Karimi, son of Wali Karimi) — with the
// other side's father and relatives of unknown relation, and grades the
// best pair:
//
//	3 two parts agree: the father's and the grandfather's names
//	2 the first part agrees: the father's given name, or the family name
//	1 a part agrees in part (the grandfather's, not the father's)
//	0 no chain agrees with such a relative
//
// It is what links a request that names the child Hoden Dehir and lists
// Dahir Cawil Daahir among the relatives to a case registered as Hodan
// Daahir Cawil with no family details; the child's own names compare the
// chains only where both sides write them, the relatives only where both
// list them. Blank when neither pairing can be made.
func compareLineage(q, c *profile, e explain) Comparison {
	lvl, why := -1, ""
	pairUp := func(child, other *profile, side string) {
		for a, n := range child.names {
			if len(n) < 2 {
				continue
			}
			chain, chainInfo := n[1:], child.nameInfo[a][1:]
			for b, rel := range other.relatives {
				if other.relRole[b] == roleMother {
					continue
				}
				l, _, _ := nameLevel(chain, rel, chainInfo, other.relInfo[b], nil, nil)
				switch {
				case l >= 6:
					l = 3
				case l >= 3:
					l = 2
				case l >= 1:
					l = 1
				}
				if l <= lvl {
					continue
				}
				lvl = l
				if e { // explanations only for what is returned: not when scoring
					whose := "a relative on the " + side
					if other.relRole[b] == roleFather {
						whose = "the " + side + "'s father"
					}
					why = joinRaw(chain) + " ~ " + joinRaw(rel) + " (" + whose + ")"
				}
			}
		}
	}
	pairUp(q, c, "case")
	pairUp(c, q, "request")
	if lvl < 0 {
		return Comparison{Field: FieldLineage, Outcome: Blank, Why: "no name chain on one side to compare with a father on the other", Level: -1}
	}
	out := Comparison{Field: FieldLineage, Level: lvl, Why: why}
	switch lvl {
	case 3, 2:
		out.Outcome = Match
	case 1:
		out.Outcome = Partial
	default:
		out.Outcome, out.Why = Mismatch, "no name chain agrees with a father's name"
	}
	return out
}

func compareSepDate(q, c *profile, e explain) Comparison {
	if q.sepDate == noDate || c.sepDate == noDate {
		return blank(FieldSepDate)
	}
	d := q.sepDate - c.sepDate
	if d < 0 {
		d = -d
	}
	why := e.f("separated %d days apart", d)
	switch {
	case d <= 7:
		return Comparison{FieldSepDate, Match, why, 2}
	case d <= 60:
		return Comparison{FieldSepDate, Partial, why, 1}
	}
	return Comparison{FieldSepDate, Mismatch, why, 0}
}

// extendsKnown reports whether one part is a known given name and the
// other that name with two or more letters added: Ahmadzai and Ahmad,
// Yusufzai and Yusuf, Nuradin and Nur are other names (tribal and
// nisba family names, compounds), not spellings of one name, however high
// their Jaro–Winkler similarity. A typo adds one letter.
func extendsKnown(a, b string, ai, bi tokInfo) bool {
	if len(a) > len(b) {
		a, b = b, a
		ai = bi
	}
	return ai.known && len(a) >= 3 && len(b) >= len(a)+2 && strings.HasPrefix(b, a)
}

// abdRests returns what follows "abd" in two canonical parts that both start
// with it (after the linking vowel of abdi/abdu when alone).
func abdRests(a, b string) (string, string, bool) {
	if len(a) < 4 || len(b) < 4 || !strings.HasPrefix(a, "abd") || !strings.HasPrefix(b, "abd") {
		return "", "", false
	}
	return a[3:], b[3:], true
}
