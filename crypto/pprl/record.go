package pprl

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"math/bits"
	"strconv"
	"time"

	"github.com/cpx-node/cpx/crypto/features"
)

// Group indexes the CLKs of a Record: each group of fields has its own
// 1024-bit filter, so that the scorer can tell "the given name differs"
// (a sibling) from "the place differs" (another family's child).
type Group int

// The groups of a Record.
const (
	// GroupGiven holds the first part of every name and the nicknames that
	// are not one of them or stand for one of them (standsForGiven):
	// bigrams of the canonical key and of the phonetic skeleton, and of
	// the formal names a known nickname stands for.
	GroupGiven Group = iota
	// GroupChain holds the second name part (the father's name in a name
	// chain, the family name after a given name): bigrams of canonical key
	// and skeleton.
	GroupChain
	// GroupChainRest holds the third and later parts (the grandfather's
	// name, a family name) the same way: a part one side leaves out is an
	// absent group, not a disagreement.
	GroupChainRest
	// GroupFather holds the name parts of the relative known to be the
	// child's father (features.Person.Father): bigrams of their skeletons.
	GroupFather
	// GroupMother likewise holds the mother's (features.Person.Mother).
	GroupMother
	// GroupRelatives holds the name parts of the relatives whose relation
	// is not known (the rest of features.Person.Relatives): bigrams of
	// their skeletons. The three relatives' groups share one field key
	// and one balancing permutation, so that a relative of unknown
	// relation can be compared with a father or a mother (Compare).
	GroupRelatives
	// GroupSex holds the sex alone: mixed with the ages its disagreement
	// (a sister for a brother) was diluted by theirs.
	GroupSex
	// GroupAge holds the age with the two years either side and the date
	// of birth.
	GroupAge
	// GroupPlace holds location prefixes (origin, places lived,
	// separation place).
	GroupPlace
	// GroupTime holds the separation month with its neighbours: mixed
	// with the many location prefixes it was diluted by them.
	GroupTime
	// GroupLineage holds the child's own second and later name parts (the
	// father's and grandfather's names in a name chain, a family name) as
	// the relatives' groups hold names: bigrams of their skeletons under
	// the relatives' key and permutation, so that a father listed on one
	// side ("Abdi Omar") can be compared with the chain of the child on
	// the other ("Ubah Abdi Omar").
	GroupLineage
	// NumGroups is the number of groups.
	NumGroups
)

// GroupNames names the groups (model and documentation keys).
var GroupNames = [NumGroups]string{"given", "chain", "chain_rest", "father", "mother", "relatives", "sex", "age", "place", "time", "lineage"}

func (g Group) String() string {
	if g >= 0 && g < NumGroups {
		return GroupNames[g]
	}
	return "group(" + strconv.Itoa(int(g)) + ")"
}

// Record is a person encoded per group of fields. A group with nothing to
// encode (no relatives recorded, say) is all zero bits; every other group
// is balanced to about 512 set bits. Compare with Model.Score.
type Record [NumGroups]CLK

// Present reports whether group g holds an encoding (is not all zero).
func (r *Record) Present(g Group) bool {
	for _, w := range r[g] {
		if w != 0 {
			return true
		}
	}
	return false
}

// Per-field keys of a Record's tokens. Each field has its own HKDF key
// (DeriveKeys), so the same string in two fields sets unrelated bits.
const (
	FieldGiven         = "given"
	FieldGivenSkeleton = "given_skeleton"
	FieldChain         = "chain"
	FieldChainSkeleton = "chain_skeleton"
	// FieldRelSkeleton keys the tokens of all three relatives' groups
	// (GroupFather, GroupMother, GroupRelatives).
	FieldRelSkeleton = "relatives_skeleton"
	FieldDOB         = "date_of_birth"
)

// RecordFields lists every field a Record encodes and RecordK its k (hash
// functions per token: the weight of the field within its group). Treat
// both as read-only.
var (
	RecordFields = []string{FieldGiven, FieldGivenSkeleton, FieldChain, FieldChainSkeleton, FieldRelSkeleton,
		FieldSex, FieldAge, FieldDOB, FieldLocation, FieldSepMonth}
	RecordK = map[string]int{
		FieldGiven: 10, FieldGivenSkeleton: 30,
		FieldChain: 15, FieldChainSkeleton: 15,
		FieldRelSkeleton: 10,
		FieldSex:         30, FieldAge: 25, FieldDOB: 15, FieldLocation: 8, FieldSepMonth: 10,
	}
)

// RecordEncoder turns persons into Records. It is safe for concurrent use.
// The zero value is not usable; use NewRecordEncoder.
type RecordEncoder struct {
	keys Keys
	k    map[string]int
	perm [NumGroups][2 * Bits]uint16
	// Reference is the date ages are computed at from a date of birth
	// when no age is recorded (default: 2026-01-01, as Encode).
	Reference time.Time
}

// NewRecordEncoder returns an encoder with RecordK weights. keys must hold
// the RecordFields (DeriveKeys(secret, id, RecordFields)); a field without
// a key is left out. Each group is balanced with its own keyed permutation
// derived from keys.Perm (one for the three relatives' groups, which
// must stay comparable with one another).
func NewRecordEncoder(keys Keys) *RecordEncoder {
	e := &RecordEncoder{keys: keys, k: RecordK, Reference: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	for g := range NumGroups {
		m := hmac.New(sha256.New, keys.Perm)
		m.Write([]byte("group:" + GroupNames[permGroup(g)]))
		permute(&e.perm[g], m.Sum(nil))
	}
	return e
}

// permGroup is the group whose balancing permutation g uses: its own,
// but GroupRelatives' for the father's, mother's and lineage groups.
func permGroup(g Group) Group {
	if g == GroupFather || g == GroupMother || g == GroupLineage {
		return GroupRelatives
	}
	return g
}

// permute fills perm with a keyed Fisher–Yates permutation of 0..2047.
func permute(perm *[2 * Bits]uint16, key []byte) {
	for i := range perm {
		perm[i] = uint16(i)
	}
	ctr := uint64(0)
	var buf [32]byte
	used := len(buf)
	next := func() uint32 {
		if used+4 > len(buf) {
			m := hmac.New(sha256.New, key)
			var c [8]byte
			binary.BigEndian.PutUint64(c[:], ctr)
			ctr++
			m.Write(c[:])
			m.Sum(buf[:0])
			used = 0
		}
		v := binary.BigEndian.Uint32(buf[used:])
		used += 4
		return v
	}
	for i := len(perm) - 1; i > 0; i-- {
		j := int(next() % uint32(i+1))
		perm[i], perm[j] = perm[j], perm[i]
	}
}

// hasher sets the bits of one group's raw filter.
type hasher struct {
	e    *RecordEncoder
	macs map[string]hash.Hash
	raw  *CLK
	sum  [sha256.Size]byte
	n    int // tokens added
}

func (h *hasher) add(field, tok string) {
	m, ok := h.macs[field]
	if !ok {
		key := h.e.keys.Field[field]
		if key != nil {
			m = hmac.New(sha256.New, key)
		}
		h.macs[field] = m
	}
	if m == nil {
		return
	}
	m.Reset()
	m.Write([]byte(tok))
	sum := m.Sum(h.sum[:0])
	h1 := binary.BigEndian.Uint64(sum[0:8])
	h2 := binary.BigEndian.Uint64(sum[8:16]) | 1
	for i := 0; i < h.e.k[field]; i++ {
		h.raw.set(uint32((h1 + uint64(i)*h2) % Bits))
	}
	h.n++
}

// EncodeRecord returns the Record of a person.
func (e *RecordEncoder) EncodeRecord(p features.Person) Record {
	return e.encode(p, asWritten)
}

// EncodeReadings returns the Records a query carries for one sought
// child: the name as written and a second reading of its first name. A
// name of two or more parts is rotated (its first part read as the last:
// "Tariq Muhammad Mahmud" as "Muhammad Mahmud Tariq"), for a family that
// writes the family name or the grandfather's first; a one-part name is
// read as a family name (the second part of a name whose given name is
// not known), for a child known by the family name alone. Only the
// given-name, chain and lineage groups differ between the two.
func (e *RecordEncoder) EncodeReadings(p features.Person) []Record {
	out := []Record{e.encode(p, asWritten)}
	if len(p.Names) > 0 {
		switch len(features.Tokens(p.Names[0])) {
		case 0:
		case 1:
			out = append(out, e.encode(p, familyOnly))
		default:
			out = append(out, e.encode(p, rotated))
		}
	}
	return out
}

// reading is how encode reads the first name.
type reading int

const (
	asWritten reading = iota
	// rotated reads the first part as the last.
	rotated
	// familyOnly reads every part as a part after an unknown given name.
	familyOnly
)

// encode builds a Record, reading the first name as r says.
func (e *RecordEncoder) encode(p features.Person, r reading) Record {
	var out Record
	h := &hasher{e: e, macs: make(map[string]hash.Hash, len(RecordFields))}
	// names holds each name's parts; the given name is names[i][0] unless
	// given[i] is false (a name read as family name only)
	var names [][]features.Token
	var given []bool
	for _, n := range p.Names {
		if ts := features.Tokens(n); len(ts) > 0 {
			names = append(names, ts)
			given = append(given, true)
		}
	}
	if len(names) > 0 && p.Names[0] != "" && len(features.Tokens(p.Names[0])) > 0 {
		switch {
		case r == rotated && len(names[0]) >= 2:
			first := names[0]
			names[0] = append(append([]features.Token(nil), first[1:]...), first[0])
		case r == familyOnly:
			given[0] = false
		}
	}
	// rest returns the parts of name i after its given name.
	rest := func(i int) []features.Token {
		if !given[i] {
			return names[i]
		}
		return names[i][1:]
	}
	nameTok := func(cf, sf string, t features.Token) {
		t = corrected(t)
		bigrams(t.Canonical, func(b string) { h.add(cf, b) })
		bigrams(t.Skeleton, func(b string) { h.add(sf, b) })
	}
	// relTok encodes a name part as the relatives' groups hold it (also
	// the lineage group, which must stay comparable with them).
	relTok := func(t features.Token) {
		t = corrected(t)
		bigrams(t.Skeleton, func(b string) { h.add(FieldRelSkeleton, b) })
	}
	// givenTok encodes a given name and, for a known nickname, the formal
	// names it stands for (Hamoudi → Muhammad).
	givenTok := func(t features.Token) {
		nameTok(FieldGiven, FieldGivenSkeleton, t)
		for _, f := range features.Formal(t.Canonical) {
			bigrams(f, func(b string) { h.add(FieldGiven, b) })
			bigrams(features.Skeleton(f), func(b string) { h.add(FieldGivenSkeleton, b) })
		}
	}
	for g := range NumGroups {
		var raw CLK
		h.raw, h.n = &raw, 0
		switch g {
		case GroupGiven:
			known := make(map[string]bool, len(names))
			for i, ts := range names {
				if given[i] {
					givenTok(ts[0])
					known[ts[0].Canonical] = true
				}
			}
			for _, n := range p.Nicknames {
				for _, t := range features.Tokens(n) {
					if !standsForGiven(t, known) {
						givenTok(t)
					}
				}
			}
		case GroupChain:
			for i := range names {
				if ps := rest(i); len(ps) > 0 {
					nameTok(FieldChain, FieldChainSkeleton, ps[0])
				}
			}
		case GroupChainRest:
			for i := range names {
				ps := rest(i)
				for _, t := range ps[min(len(ps), 1):] {
					nameTok(FieldChain, FieldChainSkeleton, t)
				}
			}
		case GroupFather, GroupMother, GroupRelatives:
			for _, r := range p.Relatives {
				if relation(p, r) != g {
					continue
				}
				for _, t := range features.Tokens(r) {
					relTok(t)
				}
			}
		case GroupLineage:
			for i := range names {
				for _, t := range rest(i) {
					relTok(t)
				}
			}
		case GroupSex:
			if p.Sex == "male" || p.Sex == "female" {
				h.add(FieldSex, p.Sex)
			}
		case GroupAge:
			e.ages(p, h.add)
		case GroupPlace:
			e.place(p, h.add)
		case GroupTime:
			separationMonths(p, h.add)
		}
		if h.n > 0 {
			out[g] = balance(&raw, &e.perm[g])
		}
	}
	return out
}

// corrected returns t, or the known name it is one typing slip from
// (features.KnownNear).
func corrected(t features.Token) features.Token {
	if n := features.KnownNear(t); n != "" {
		return features.Token{Canonical: n, Skeleton: features.Skeleton(n)}
	}
	return t
}

// standsForGiven reports whether nickname t is one of the given names
// (canonical keys) or stands for one of them (Hamoudi beside Muhammad):
// it then adds nothing to the given-name group, and encoding it would
// only dilute the group's agreement with a record that lists no nickname.
func standsForGiven(t features.Token, given map[string]bool) bool {
	if given[t.Canonical] {
		return true
	}
	for _, f := range features.Formal(t.Canonical) {
		if given[f] {
			return true
		}
	}
	return false
}

// relation returns the group of relative r of p: GroupFather if it is
// p.Father, else GroupMother if it is p.Mother, else GroupRelatives (as
// node/matching does). A Father or Mother not among p.Relatives is not
// encoded, and none is encoded twice.
func relation(p features.Person, r string) Group {
	switch {
	case r == "":
	case r == p.Father:
		return GroupFather
	case r == p.Mother:
		return GroupMother
	}
	return GroupRelatives
}

// ages adds the tokens of the age group.
func (e *RecordEncoder) ages(p features.Person, add func(field, tok string)) {
	if a, ok := e.age(p); ok {
		// the age and the two years either side, so that estimated ages
		// (a parent's "about 10" against a registered 8) still share
		// tokens: ±1 is 0.004 less F1 at 2 000 families
		for d := -2; d <= 2; d++ {
			add(FieldAge, strconv.Itoa(a+d))
		}
	}
	if len(p.DateOfBirth) == len(time.DateOnly) {
		add(FieldDOB, p.DateOfBirth)
	}
}

// place adds the tokens of the place group.
func (e *RecordEncoder) place(p features.Person, add func(field, tok string)) {
	locs := features.LocationCodes(append(p.Locations[:len(p.Locations):len(p.Locations)], p.SeparationLocation))
	seen := map[string]bool{}
	for _, l := range locs {
		for n := 2; n <= len(l) && n <= 6; n += 2 {
			if !seen[l[:n]] {
				seen[l[:n]] = true
				add(FieldLocation, l[:n])
			}
		}
	}
}

// separationMonths adds the tokens of the time group.
func separationMonths(p features.Person, add func(field, tok string)) {
	if t, err := time.Parse(time.DateOnly, p.SeparationDate); err == nil {
		// the month and the months 15 days either side, so dates a few
		// days apart across a month's end still share a token
		m := map[string]bool{}
		for _, d := range []int{-15, 0, 15} {
			m[t.AddDate(0, 0, d).Format("2006-01")] = true
		}
		for k := range m {
			add(FieldSepMonth, k)
		}
	}
}

func (e *RecordEncoder) age(p features.Person) (int, bool) {
	return features.AgeAt(p, e.Reference)
}

// balance returns raw ‖ ¬raw permuted by perm and XOR-folded to 1024 bits:
// about 512 set bits whatever raw holds.
func balance(raw *CLK, perm *[2 * Bits]uint16) CLK {
	var out CLK
	for w := range 2 * len(raw) {
		word := raw[w%len(raw)]
		if w >= len(raw) {
			word = ^word
		}
		for word != 0 {
			b := bits.TrailingZeros64(word)
			word &= word - 1
			pos := uint32(perm[w*64+b]) % Bits
			out[pos/64] ^= 1 << (pos % 64)
		}
	}
	return out
}

// RecordBytes is the length of a Record's binary form: each group's 16
// words, big-endian, group after group.
const RecordBytes = int(NumGroups) * Bits / 8

// Bounds on the popcount of a present group: balancing leaves about 512
// bits set (a binomial spread of a few dozen), so a filter outside them
// was not made by an Encoder. An all-ones filter would otherwise reach
// every case.
const (
	MinBalancedOnes = Bits/2 - Bits/8
	MaxBalancedOnes = Bits/2 + Bits/8
)

// ErrBadRecord is returned by UnmarshalBinary for a malformed Record.
var ErrBadRecord = errors.New("pprl: malformed record")

// MarshalBinary returns the binary form of r (RecordBytes long).
func (r *Record) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, RecordBytes)
	for g := range r {
		for _, w := range r[g] {
			b = binary.BigEndian.AppendUint64(b, w)
		}
	}
	return b, nil
}

// UnmarshalBinary sets r from its binary form. It refuses, with
// ErrBadRecord, a length other than RecordBytes and a group that is
// neither empty nor balanced (popcount outside MinBalancedOnes to
// MaxBalancedOnes).
func (r *Record) UnmarshalBinary(b []byte) error {
	if len(b) != RecordBytes {
		return fmt.Errorf("%w: %d bytes, want %d", ErrBadRecord, len(b), RecordBytes)
	}
	var out Record
	for g := range out {
		for w := range out[g] {
			out[g][w] = binary.BigEndian.Uint64(b[(g*len(out[g])+w)*8:])
		}
		if n := out[g].Ones(); n != 0 && (n < MinBalancedOnes || n > MaxBalancedOnes) {
			return fmt.Errorf("%w: group %v has %d bits set, want 0 or %d–%d", ErrBadRecord, Group(g), n, MinBalancedOnes, MaxBalancedOnes)
		}
	}
	*r = out
	return nil
}
