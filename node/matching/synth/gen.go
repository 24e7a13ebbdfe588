package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/cpx-node/cpx/node/matching"
)

// Script selects how tracing requests write names.
type Script int

const (
	// Latin: families and caseworkers both write Latin script (Somali,
	// Arabic-speaking and Afghan families).
	Latin Script = iota
	// ArabicRequest: Arabic-speaking families write the request in Arabic
	// script; the case was registered in Latin script.
	ArabicRequest
)

func (s Script) String() string {
	if s == ArabicRequest {
		return "arabic-request/latin-case"
	}
	return "latin"
}

// Config sets the size and seed of a synthetic data set.
type Config struct {
	Seed       uint64
	Families   int    // tracing requests, one per family (default 2000)
	Background int    // unrelated registered children (default 4×Families)
	Script     Script // how requests write names
	// ExactNames writes every name part in its table spelling (Latin, or
	// Arabic script in Arabic-script requests): no variants, respellings
	// or typos. The random draws are the same, so the families, ages,
	// places and missing fields are those of the set with the same seed
	// and noisy spelling. A diagnostic: how much of the matcher's error is
	// spelling, and how much is what the records hold.
	ExactNames bool
}

// Request is a tracing request with its ground truth.
type Request struct {
	ID     string
	Person matching.Person
	Truth  string // ID of the case of the sought child, "" if not registered
}

// Dataset is a set of cases and tracing requests with ground truth.
type Dataset struct {
	Cases    []matching.Candidate
	Requests []Request
}

// Reference is the date the data set is generated at.
var Reference = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type member struct {
	given  name
	sex    string
	family []name // name chain after the given name (father, grandfather) or family name
	age    float64
}

func (m member) tokens() []name { return append([]name{m.given}, m.family...) }

type family struct {
	reg       *region
	father    member
	mother    member
	children  []member
	origin    string
	sepPlace  string
	sepDate   time.Time
	fatherPre bool // father is the inquirer
}

type gen struct {
	r   *rand.Rand
	cfg Config
	n   int
}

// Generate builds a deterministic data set from the configuration.
func Generate(cfg Config) Dataset {
	if cfg.Families <= 0 {
		cfg.Families = 2000
	}
	if cfg.Background < 0 {
		cfg.Background = 0
	} else if cfg.Background == 0 {
		cfg.Background = 4 * cfg.Families
	}
	g := &gen{r: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)), cfg: cfg}
	var ds Dataset
	for i := 0; i < cfg.Families; i++ {
		f := g.family(nil)
		target := g.r.IntN(len(f.children))
		req := Request{ID: fmt.Sprintf("req-%05d", i), Person: g.request(f, target)}
		if g.r.Float64() < 0.85 {
			id := g.id()
			ds.Cases = append(ds.Cases, matching.Candidate{ID: id, Person: g.caseRecord(f, target)})
			req.Truth = id
		}
		// siblings registered too
		for s := range f.children {
			if s != target && g.r.Float64() < 0.4 {
				ds.Cases = append(ds.Cases, matching.Candidate{ID: g.id(), Person: g.caseRecord(f, s)})
			}
		}
		// a child of another family with the same given and father's name
		if g.r.Float64() < 0.25 {
			o := g.family(f.reg)
			c := &o.children[0]
			c.given, c.sex = f.children[target].given, f.children[target].sex
			o.father.given = f.father.given
			c.family[0] = f.father.given
			ds.Cases = append(ds.Cases, matching.Candidate{ID: g.id(), Person: g.caseRecord(o, 0)})
		}
		ds.Requests = append(ds.Requests, req)
	}
	for i := 0; i < cfg.Background; i++ {
		var reg *region
		if cfg.Script == ArabicRequest && g.r.Float64() < 0.7 {
			reg = &arabicRegion
		}
		f := g.family(reg)
		ds.Cases = append(ds.Cases, matching.Candidate{ID: g.id(), Person: g.caseRecord(f, g.r.IntN(len(f.children)))})
	}
	g.r.Shuffle(len(ds.Cases), func(i, j int) { ds.Cases[i], ds.Cases[j] = ds.Cases[j], ds.Cases[i] })
	return ds
}

func (g *gen) id() string { g.n++; return fmt.Sprintf("case-%06d", g.n) }

// pick draws from a list with Zipf-like weights (rank^-0.9): a few names
// are very common, as in real registers.
func (g *gen) pick(list []name) name {
	var total float64
	for i := range list {
		total += math.Pow(float64(i+1), -0.9)
	}
	x := g.r.Float64() * total
	for i := range list {
		x -= math.Pow(float64(i+1), -0.9)
		if x <= 0 {
			return list[i]
		}
	}
	return list[len(list)-1]
}

func (g *gen) regionFor() *region {
	if g.cfg.Script == ArabicRequest {
		return &arabicRegion
	}
	switch x := g.r.Float64(); {
	case x < 0.4:
		return &somali
	case x < 0.8:
		return &arabicRegion
	}
	return &afghan
}

func (g *gen) location(country string) string {
	return fmt.Sprintf("%s%02d%02d", country, 1+g.r.IntN(12), 1+g.r.IntN(8))
}

// near returns a location code in the same region, sometimes the same place.
func (g *gen) near(code string) string {
	switch x := g.r.Float64(); {
	case x < 0.6:
		return code
	case x < 0.9:
		return fmt.Sprintf("%s%02d", code[:4], 1+g.r.IntN(8))
	}
	return g.location(code[:2])
}

func (g *gen) family(reg *region) family {
	if reg == nil {
		reg = g.regionFor()
	}
	f := family{reg: reg}
	if reg.family != nil {
		fam := g.pick(reg.family)
		f.father = member{given: g.pick(reg.male), sex: "male", family: []name{fam}}
		f.mother = member{given: g.pick(reg.female), sex: "female", family: []name{g.pick(reg.family)}}
	} else {
		f.father = member{given: g.pick(reg.male), sex: "male", family: []name{g.pick(reg.male), g.pick(reg.male)}}
		f.mother = member{given: g.pick(reg.female), sex: "female", family: []name{g.pick(reg.male), g.pick(reg.male)}}
	}
	nc := 1 + g.r.IntN(4)
	used := map[string]bool{}
	age := 1 + g.r.Float64()*16
	for len(f.children) < nc {
		sex := "male"
		pool := reg.male
		if g.r.IntN(2) == 0 {
			sex, pool = "female", reg.female
		}
		gn := g.pick(pool)
		if used[gn.latin] {
			continue
		}
		used[gn.latin] = true
		var fam []name
		if reg.family != nil {
			fam = []name{f.father.family[0]}
		} else {
			fam = []name{f.father.given, f.father.family[0]}
		}
		f.children = append(f.children, member{given: gn, sex: sex, family: fam, age: age})
		age -= 1.2 + g.r.Float64()*3
		if age < 0.3 {
			age = 0.3 + g.r.Float64()
		}
	}
	f.origin = g.location(reg.code)
	f.sepPlace = g.near(f.origin)
	f.sepDate = Reference.AddDate(0, 0, -30-g.r.IntN(700))
	f.fatherPre = g.r.IntN(2) == 0
	return f
}

// spell renders one name part in Latin script the way one registrar might:
// usual spelling or a known variant, sometimes a rule-made respelling
// (doubling, vowel change, final h), sometimes a typo.
func (g *gen) spell(nm name, variantP, typoP float64) string {
	s := nm.latin
	if len(nm.variants) > 0 && g.r.Float64() < variantP {
		s = nm.variants[g.r.IntN(len(nm.variants))]
	}
	if g.r.Float64() < variantP/3 {
		s = g.respell(s)
	}
	if g.r.Float64() < typoP {
		s = g.typo(s)
	}
	if g.cfg.ExactNames {
		return nm.latin
	}
	return s
}

func (g *gen) respell(s string) string {
	rules := [][2]string{{"ou", "u"}, {"u", "ou"}, {"ee", "i"}, {"i", "ee"}, {"o", "u"}, {"e", "a"}, {"a", "e"}, {"mm", "m"}, {"m", "mm"}, {"ss", "s"}, {"s", "ss"}, {"q", "k"}, {"k", "q"}}
	for _, k := range g.r.Perm(len(rules)) {
		r := rules[k]
		if i := strings.Index(s[1:], r[0]); i >= 0 {
			return s[:i+1] + r[1] + s[i+1+len(r[0]):]
		}
	}
	if strings.HasSuffix(s, "a") {
		return s + "h"
	}
	return s
}

func (g *gen) typo(s string) string {
	rs := []rune(s)
	if len(rs) < 3 {
		return s
	}
	i := 1 + g.r.IntN(len(rs)-1) // first letters are rarely wrong
	letters := []rune("abdefghiklmnorstuy")
	if isArabicRunes(rs) {
		letters = []rune("ابتحخدذرزسشعغقلمنهوي")
	}
	switch g.r.IntN(4) {
	case 0: // substitute
		rs[i] = letters[g.r.IntN(len(letters))]
	case 1: // delete
		rs = append(rs[:i], rs[i+1:]...)
	case 2: // insert
		rs = append(rs[:i], append([]rune{letters[g.r.IntN(len(letters))]}, rs[i:]...)...)
	default: // transpose
		if i+1 < len(rs) {
			rs[i], rs[i+1] = rs[i+1], rs[i]
		} else {
			rs[i-1], rs[i] = rs[i], rs[i-1]
		}
	}
	return string(rs)
}

func isArabicRunes(rs []rune) bool {
	for _, r := range rs {
		if r >= 0x0600 && r <= 0x06FF {
			return true
		}
	}
	return false
}

// arabicSpell renders a name part in Arabic script with the variation seen
// in handwriting and typing: hamza dropped from alef, ة written ه, ى as ي,
// sometimes a typo.
func (g *gen) arabicSpell(nm name, typoP float64) string {
	s := nm.arabic
	if s == "" {
		return g.spell(nm, 0.3, typoP)
	}
	if g.r.Float64() < 0.3 {
		s = strings.NewReplacer("أ", "ا", "إ", "ا", "آ", "ا").Replace(s)
	}
	if g.r.Float64() < 0.2 {
		s = strings.NewReplacer("ة", "ه", "ى", "ي").Replace(s)
	}
	if g.r.Float64() < typoP {
		s = g.typo(s)
	}
	if g.cfg.ExactNames {
		return nm.arabic
	}
	return s
}

func (g *gen) render(parts []name, arabic bool, variantP, typoP float64) string {
	out := make([]string, len(parts))
	typoAt := -1
	if g.r.Float64() < typoP {
		typoAt = g.r.IntN(len(parts))
	}
	for i, p := range parts {
		tp := 0.0
		if i == typoAt {
			tp = 1
		}
		if arabic {
			out[i] = g.arabicSpell(p, tp)
		} else {
			out[i] = g.spell(p, variantP, tp)
		}
	}
	return strings.Join(out, " ")
}

func dob(age float64) string {
	return Reference.Add(-time.Duration(age * 365.25 * 24 * float64(time.Hour))).Format(time.DateOnly)
}

func round1(x float64) *float64 { v := math.Round(x); return &v }

// caseRecord is a child as registered by a caseworker (Latin script).
func (g *gen) caseRecord(f family, i int) matching.Person {
	c := f.children[i]
	parts := c.tokens()
	if len(parts) > 2 && g.r.Float64() < 0.15 {
		parts = parts[:2] // grandfather not given
	}
	p := matching.Person{Names: []string{g.render(parts, false, 0.5, 0.15)}}
	if len(c.given.nicks) > 0 && g.r.Float64() < 0.15 {
		p.Nicknames = []string{c.given.nicks[g.r.IntN(len(c.given.nicks))]}
	}
	if g.r.Float64() < 0.97 {
		p.Sex = c.sex
	}
	switch x := g.r.Float64(); {
	case x < 0.25:
		p.DateOfBirth = dob(c.age)
		p.Age = round1(math.Floor(c.age))
	case x < 0.55:
		p.Age = round1(math.Floor(c.age))
	case x < 0.95:
		err := float64(1 + g.r.IntN(3))
		if g.r.IntN(2) == 0 {
			err = -err
		}
		if g.r.Float64() < 0.3 {
			err = 0
		}
		p.Age = round1(math.Max(0, c.age+err))
		p.AgeEstimated = true
	}
	p.Locations = []string{g.location(f.reg.code)}
	if g.r.Float64() < 0.6 {
		p.Locations = append(p.Locations, g.near(f.sepPlace))
	}
	if g.r.Float64() < 0.3 {
		p.Locations = append(p.Locations, f.origin)
	}
	// family details say who is who
	if g.r.Float64() < 0.7 {
		p.Father = g.render(f.father.tokens(), false, 0.5, 0.1)
		p.Relatives = append(p.Relatives, p.Father)
	}
	if g.r.Float64() < 0.6 {
		p.Mother = g.render(f.mother.tokens(), false, 0.5, 0.1)
		p.Relatives = append(p.Relatives, p.Mother)
	}
	if g.r.Float64() < 0.5 {
		p.SeparationDate = f.sepDate.AddDate(0, 0, g.r.IntN(41)-20).Format(time.DateOnly)
	}
	if g.r.Float64() < 0.5 {
		p.SeparationLocation = g.near(f.sepPlace)
	}
	return p
}

// request is the family's description of child i.
func (g *gen) request(f family, i int) matching.Person {
	c := f.children[i]
	arabic := g.cfg.Script == ArabicRequest
	parts := c.tokens()
	if len(parts) > 2 && g.r.Float64() < 0.2 {
		parts = parts[:2]
	}
	nickUsed := false
	if len(c.given.nicks) > 0 && g.r.Float64() < 0.08 {
		nick := c.given.nicks[g.r.IntN(len(c.given.nicks))]
		parts = append([]name{{latin: nick}}, parts[1:]...)
		nickUsed = true
	}
	if g.r.Float64() < 0.07 {
		// family name or grandfather written first
		parts = append([]name{parts[len(parts)-1]}, parts[:len(parts)-1]...)
	}
	p := matching.Person{Names: []string{g.render(parts, arabic, 0.5, 0.2)}}
	if !nickUsed && len(c.given.nicks) > 0 && g.r.Float64() < 0.2 {
		p.Nicknames = []string{c.given.nicks[g.r.IntN(len(c.given.nicks))]}
	}
	if g.r.Float64() < 0.95 {
		p.Sex = c.sex
	}
	switch x := g.r.Float64(); {
	case x < 0.4:
		p.DateOfBirth = dob(c.age)
		p.Age = round1(math.Floor(c.age))
	case x < 0.9:
		a := math.Floor(c.age)
		if g.r.Float64() < 0.2 {
			a += float64(g.r.IntN(3) - 1)
		}
		p.Age = round1(math.Max(0, a))
	}
	if g.r.Float64() < 0.8 {
		p.Locations = []string{f.origin, f.sepPlace}
	}
	inq, other := f.mother, f.father
	if f.fatherPre {
		inq, other = other, inq
	}
	// the inquirer's relation is on the request; the other parent's name
	// is one of the relatives listed without a relation
	p.Relatives = []string{g.render(inq.tokens(), arabic, 0.5, 0.05)}
	if f.fatherPre {
		p.Father = p.Relatives[0]
	} else {
		p.Mother = p.Relatives[0]
	}
	if g.r.Float64() < 0.5 {
		p.Relatives = append(p.Relatives, g.render(other.tokens(), arabic, 0.5, 0.1))
	}
	if g.r.Float64() < 0.7 {
		p.SeparationDate = f.sepDate.AddDate(0, 0, g.r.IntN(21)-10).Format(time.DateOnly)
	}
	if g.r.Float64() < 0.6 {
		p.SeparationLocation = f.sepPlace
	}
	return p
}
