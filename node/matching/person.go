package matching

import (
	"math"
	"time"
)

// Candidate is a case that a tracing request can be matched against.
type Candidate struct {
	ID     string
	Person Person
}

// profile is a person prepared for comparison: names tokenised once.
type profile struct {
	names     [][]Token
	nameInfo  [][]tokInfo // name tables' entries for names, parallel
	relInfo   [][]tokInfo // and for relatives
	nicks     []Token
	relatives [][]Token
	relRole   []role // parallel to relatives
	sex       string
	age       float64 // -1 if unknown
	estimated bool
	dob       int32 // days since epoch, or noDate
	recorded  int32 // RecordedOn, days since epoch, or noDate
	locations []string
	sepDate   int32
	sepLoc    string
}

const noDate = math.MinInt32

// role is what a relative is known to be to the child.
type role uint8

const (
	roleUnknown role = iota
	roleFather
	roleMother
)

func dayNumber(s string) int32 {
	if s == "" {
		return noDate
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return noDate
	}
	return int32(t.Unix() / 86400)
}

func prepare(p Person) *profile {
	pr := &profile{sex: p.Sex, age: -1, estimated: p.AgeEstimated, locations: LocationCodes(p.Locations), sepLoc: LocationCode(p.SeparationLocation)}
	if pr.sex == "unknown" {
		pr.sex = ""
	}
	for _, n := range p.Names {
		if ts := Tokens(n); len(ts) > 0 {
			if len(ts) > maxTokens {
				ts = ts[:maxTokens]
			}
			pr.names = append(pr.names, ts)
			pr.nameInfo = append(pr.nameInfo, infosOf(ts))
		}
	}
	for _, n := range p.Nicknames {
		pr.nicks = append(pr.nicks, Tokens(n)...)
	}
	if len(pr.names) == 0 {
		// a child known only by nicknames: they are its names
		for _, n := range p.Nicknames {
			if ts := Tokens(n); len(ts) > 0 {
				ts = ts[:min(len(ts), maxTokens)]
				pr.names = append(pr.names, ts)
				pr.nameInfo = append(pr.nameInfo, infosOf(ts))
			}
		}
	}
	for _, n := range p.Relatives {
		if ts := Tokens(n); len(ts) > 0 {
			if len(ts) > maxTokens {
				ts = ts[:maxTokens]
			}
			r := roleUnknown
			switch n {
			case "":
			case p.Father:
				r = roleFather
			case p.Mother:
				r = roleMother
			}
			pr.relatives = append(pr.relatives, ts)
			pr.relInfo = append(pr.relInfo, infosOf(ts))
			pr.relRole = append(pr.relRole, r)
		}
	}
	if p.Age != nil && *p.Age >= 0 {
		pr.age = *p.Age
	}
	pr.dob = dayNumber(p.DateOfBirth)
	pr.recorded = dayNumber(p.RecordedOn)
	pr.sepDate = dayNumber(p.SeparationDate)
	return pr
}

// maxTokens bounds the name parts compared per name (given, father,
// grandfather, family and one more).
const maxTokens = 5
