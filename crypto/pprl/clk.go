package pprl

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/bits"
	"strconv"
	"strings"

	"github.com/cpx-node/cpx/crypto/features"
)

// Bits is the filter length.
const Bits = 1024

// CLK is a 1024-bit keyed Bloom filter.
type CLK [16]uint64

func (c *CLK) set(pos uint32) { c[(pos/64)%16] |= 1 << (pos % 64) }

// Ones returns the number of set bits.
func (c *CLK) Ones() int { return pop(c) }

// Keys are the per-field HMAC keys and the balancing permutation key.
type Keys struct {
	Field map[string][]byte
	Perm  []byte
}

// Fields encoded.
const (
	FieldNames     = "name"
	FieldSkeleton  = "name_skeleton"
	FieldSex       = "sex"
	FieldAge       = "age"
	FieldLocation  = "location"
	FieldRelatives = "relatives"
	FieldSepMonth  = "separation_month"
)

// DefaultFields lists every field encoded and DefaultK its k (hash
// functions per token), the weight of the field in the Dice score. Treat
// both as read-only.
var (
	DefaultFields = []string{FieldNames, FieldSkeleton, FieldSex, FieldAge, FieldLocation, FieldRelatives, FieldSepMonth}
	DefaultK      = map[string]int{
		FieldNames: 10, FieldSkeleton: 14, FieldSex: 4, FieldAge: 4,
		FieldLocation: 3, FieldRelatives: 4, FieldSepMonth: 2,
	}
)

// DeriveKeys derives one key per field and the permutation key from the
// network's shared secret with HKDF-SHA256 (salt "cpx-pprl-v1", info
// network id + field). Agencies that hold the same secret and id derive the
// same keys.
func DeriveKeys(secret []byte, ispID string, fields []string) Keys {
	k := Keys{Field: make(map[string][]byte, len(fields))}
	derive := func(info string) []byte {
		out, err := hkdf.Key(sha256.New, secret, []byte("cpx-pprl-v1"), ispID+"\x00"+info, 32)
		if err != nil {
			panic("pprl: hkdf: " + err.Error()) // only on impossible lengths
		}
		return out
	}
	for _, f := range fields {
		k.Field[f] = derive("field:" + f)
	}
	k.Perm = derive("balance-permutation")
	return k
}

// Encoder turns persons into CLKs. The zero value is not usable; use
// NewEncoder.
type Encoder struct {
	keys Keys
	k    map[string]int
	perm [2 * Bits]uint16
	// Balance enables balancing + XOR folding (on by default).
	Balance bool
}

// NewEncoder returns an encoder with the default field weights and
// hardening.
func NewEncoder(keys Keys) *Encoder {
	e := &Encoder{keys: keys, k: DefaultK, Balance: true}
	// keyed Fisher–Yates permutation of the 2048 balanced positions
	for i := range e.perm {
		e.perm[i] = uint16(i)
	}
	ctr := uint64(0)
	var buf [32]byte
	used := 32
	next := func() uint32 {
		if used+4 > len(buf) {
			m := hmac.New(sha256.New, keys.Perm)
			var c [8]byte
			binary.BigEndian.PutUint64(c[:], ctr)
			ctr++
			m.Write(c[:])
			copy(buf[:], m.Sum(nil))
			used = 0
		}
		v := binary.BigEndian.Uint32(buf[used:])
		used += 4
		return v
	}
	for i := len(e.perm) - 1; i > 0; i-- {
		j := int(next() % uint32(i+1))
		e.perm[i], e.perm[j] = e.perm[j], e.perm[i]
	}
	return e
}

// Salt returns the per-record salt used for name tokens: the origin
// country (first two characters of the first location), or "" if unknown.
func Salt(p features.Person) string {
	if len(p.Locations) > 0 && len(p.Locations[0]) >= 2 {
		return p.Locations[0][:2]
	}
	return ""
}

func bigrams(s string, add func(string)) {
	s = "_" + s + "_"
	for i := 0; i+2 <= len(s); i++ {
		add(s[i : i+2])
	}
}

// Encode returns the CLK of a person.
func (e *Encoder) Encode(p features.Person) CLK {
	var raw [2]CLK // raw filter in raw[0]; balanced uses both
	salt := Salt(p)
	add := func(field, tok string) {
		key := e.keys.Field[field]
		if key == nil {
			return
		}
		m := hmac.New(sha256.New, key)
		m.Write([]byte(salt))
		m.Write([]byte{0})
		m.Write([]byte(tok))
		sum := m.Sum(nil)
		h1 := binary.BigEndian.Uint64(sum[0:8])
		h2 := binary.BigEndian.Uint64(sum[8:16]) | 1
		for i := 0; i < e.k[field]; i++ {
			raw[0].set(uint32((h1 + uint64(i)*h2) % Bits))
		}
	}
	for _, n := range append(append([]string(nil), p.Names...), p.Nicknames...) {
		for _, t := range features.Tokens(n) {
			bigrams(t.Canonical, func(b string) { add(FieldNames, b) })
			bigrams(t.Skeleton, func(b string) { add(FieldSkeleton, b) })
		}
	}
	if p.Sex == "male" || p.Sex == "female" {
		add(FieldSex, p.Sex)
	}
	if a, ok := age(p); ok {
		// the age and its neighbours, so ±1 year still shares tokens
		for d := -1; d <= 1; d++ {
			add(FieldAge, strconv.Itoa(a+d))
		}
	}
	for _, l := range p.Locations {
		for n := 2; n <= len(l) && n <= 6; n += 2 {
			add(FieldLocation, l[:n])
		}
	}
	for _, r := range p.Relatives {
		for _, t := range features.Tokens(r) {
			add(FieldRelatives, t.Skeleton)
		}
	}
	if len(p.SeparationDate) >= 7 {
		add(FieldSepMonth, p.SeparationDate[:7])
	}
	if !e.Balance {
		return raw[0]
	}
	// balance: filter ‖ complement, keyed permutation, XOR-fold to 1024
	var out CLK
	for i := 0; i < 2*Bits; i++ {
		var bit bool
		if i < Bits {
			bit = raw[0][i/64]>>(i%64)&1 == 1
		} else {
			j := i - Bits
			bit = raw[0][j/64]>>(j%64)&1 == 0
		}
		if !bit {
			continue
		}
		pos := uint32(e.perm[i])
		out[(pos%Bits)/64] ^= 1 << (pos % 64)
	}
	return out
}

func age(p features.Person) (int, bool) {
	if p.Age != nil {
		return int(*p.Age), true
	}
	if len(p.DateOfBirth) >= 4 {
		y, err := strconv.Atoi(p.DateOfBirth[:4])
		if err == nil {
			return 2026 - y, true
		}
	}
	return 0, false
}

// Dice returns the Dice coefficient 2|a∧b| / (|a|+|b|); 0 for two empty
// filters. On amd64 the three popcounts take one POPCNTQ pass.
func Dice(a, b *CLK) float64 {
	and, na, nb := diceCounts(a, b)
	return dice(and, na, nb)
}

// dice is the Dice coefficient from the counts.
func dice(and, na, nb int) float64 {
	if na+nb == 0 {
		return 0
	}
	return 2 * float64(and) / float64(na+nb)
}

// popAnd returns |a ∧ b|, unrolled with independent accumulators.
func popAnd(a, b *CLK) int {
	var s0, s1, s2, s3 int
	s0 += bits.OnesCount64(a[0] & b[0])
	s1 += bits.OnesCount64(a[1] & b[1])
	s2 += bits.OnesCount64(a[2] & b[2])
	s3 += bits.OnesCount64(a[3] & b[3])
	s0 += bits.OnesCount64(a[4] & b[4])
	s1 += bits.OnesCount64(a[5] & b[5])
	s2 += bits.OnesCount64(a[6] & b[6])
	s3 += bits.OnesCount64(a[7] & b[7])
	s0 += bits.OnesCount64(a[8] & b[8])
	s1 += bits.OnesCount64(a[9] & b[9])
	s2 += bits.OnesCount64(a[10] & b[10])
	s3 += bits.OnesCount64(a[11] & b[11])
	s0 += bits.OnesCount64(a[12] & b[12])
	s1 += bits.OnesCount64(a[13] & b[13])
	s2 += bits.OnesCount64(a[14] & b[14])
	s3 += bits.OnesCount64(a[15] & b[15])
	return s0 + s1 + s2 + s3
}

func pop(a *CLK) int {
	var s0, s1, s2, s3 int
	s0 += bits.OnesCount64(a[0])
	s1 += bits.OnesCount64(a[1])
	s2 += bits.OnesCount64(a[2])
	s3 += bits.OnesCount64(a[3])
	s0 += bits.OnesCount64(a[4])
	s1 += bits.OnesCount64(a[5])
	s2 += bits.OnesCount64(a[6])
	s3 += bits.OnesCount64(a[7])
	s0 += bits.OnesCount64(a[8])
	s1 += bits.OnesCount64(a[9])
	s2 += bits.OnesCount64(a[10])
	s3 += bits.OnesCount64(a[11])
	s0 += bits.OnesCount64(a[12])
	s1 += bits.OnesCount64(a[13])
	s2 += bits.OnesCount64(a[14])
	s3 += bits.OnesCount64(a[15])
	return s0 + s1 + s2 + s3
}

// DiceMany appends to out the indexes of the filters in set whose Dice
// coefficient with q is at least threshold, and returns out. The query's
// popcount is computed once; intersections and the filters' popcounts are
// counted by the same kernel as Set.Above, 256 filters at a time; the
// loop does not allocate (beyond growing out). A Set, which stores the
// popcounts, compares about twice as fast.
func DiceMany(q *CLK, set []CLK, threshold float64, out []int) []int {
	return diceMany(q, set, threshold, out, false)
}

// allOnes has every bit set: |allOnes ∧ s| = |s|. Read-only.
var allOnes = CLK{
	^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0),
	^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0),
}

// diceMany is DiceMany; with generic it counts with the pure-Go reference
// kernel.
func diceMany(q *CLK, set []CLK, threshold float64, out []int, generic bool) []int {
	nq := pop(q)
	// 2|q∧s| ≥ t(|q|+|s|)  ⇔  (2|q∧s| - t|s|) ≥ t|q|, in fixed point
	t := int(threshold * 1024)
	tq := t * nq
	var ands, ones [batch]uint16
	for start := 0; start < len(set); start += batch {
		chunk := set[start:min(start+batch, len(set))]
		a, o := ands[:len(chunk)], ones[:len(chunk)]
		if generic {
			andCountsGeneric(q, chunk, a)
			andCountsGeneric(&allOnes, chunk, o)
		} else {
			andCounts(q, chunk, a)
			andCounts(&allOnes, chunk, o)
		}
		for i, and := range a {
			ns := int(o[i])
			if 2048*int(and)-t*ns < tq || nq+ns == 0 {
				continue
			}
			out = append(out, start+i)
		}
	}
	return out
}

// Band thresholds on the Dice coefficient, calibrated on the synth harness
// (docs/features.md): likely is the lowest threshold with precision ≥ 0.95
// in the Latin set, possible is near the best-F1 threshold.
const (
	LikelyDice   = 0.95
	PossibleDice = 0.90
)

// Band returns likely, possible or unlikely for a Dice coefficient.
func Band(d float64) string {
	switch {
	case d >= LikelyDice:
		return features.Likely
	case d >= PossibleDice:
		return features.Possible
	}
	return features.Unlikely
}

// String renders a filter as hex (for test vectors).
func (c *CLK) String() string {
	var b strings.Builder
	for _, w := range c {
		fmt.Fprintf(&b, "%016x", w)
	}
	return b.String()
}
