// Package linkage measures the family-tracing matchers on a record-linkage
// data set with known answers: the local matcher (node/matching) and the
// federated encodings (crypto/pprl) each match every request against every
// case, and Report gives precision, recall and F1 at band likely, pairs
// completeness and reduction ratio of the candidate search, the
// precision–recall curve over the probability cut and a calibration
// table. Adapt adapts the local model to a data set's requests without
// their answers (matching.Adapt), as a node does with its own, and
// AdaptFederated the federated model (pprl.Adapt) likewise.
//
// ReadFEBRL reads the column layout of the FEBRL generator's data sets
// (rec_id, given_name, surname, street_number, address_1, address_2,
// suburb, postcode, state, date_of_birth, soc_sec_id): the originals
// (rec-N-org) are the cases, each duplicate (rec-N-dup-K) a request for
// its original.
package linkage

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/cpx-node/cpx/crypto/pprl"
	"github.com/cpx-node/cpx/node/matching"
)

// Record is one row of a data set: an entity (the child) and whether the
// row is a case or a request for that entity.
type Record struct {
	ID      string
	Entity  string
	Request bool
	Person  matching.Person
}

// Day is the day the records of a data set are taken to be made: ages and
// dates of birth are compared on it.
var Day = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// ErrLayout is returned for a CSV file that is not in the FEBRL layout.
var ErrLayout = errors.New("linkage: not the FEBRL column layout")

// ReadFEBRL reads a FEBRL data set. Names become the person's name (given
// name, surname); the date of birth is kept when it is a valid date not
// after Day; the postcode becomes the location code "AU" + postcode (the
// data set's only coded place; the state is not used). Street and suburb
// have no field to go to.
func ReadFEBRL(r io.Reader) ([]Record, error) {
	cr := csv.NewReader(r)
	cr.TrimLeadingSpace = true
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("linkage: header: %w", err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.TrimSpace(h)] = i
	}
	for _, c := range []string{"rec_id", "given_name", "surname", "date_of_birth", "postcode", "state"} {
		if _, ok := col[c]; !ok {
			return nil, fmt.Errorf("%w: no column %q", ErrLayout, c)
		}
	}
	var out []Record
	for line := 2; ; line++ {
		row, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("linkage: line %d: %w", line, err)
		}
		get := func(c string) string {
			if i := col[c]; i < len(row) {
				return strings.TrimSpace(row[i])
			}
			return ""
		}
		id := get("rec_id")
		parts := strings.Split(id, "-")
		if len(parts) < 3 || parts[0] != "rec" {
			return nil, fmt.Errorf("%w: line %d: rec_id %q is not rec-N-org or rec-N-dup-K", ErrLayout, line, id)
		}
		rec := Record{ID: id, Entity: parts[1], Request: parts[2] == "dup"}
		p := &rec.Person
		if n := strings.Join(strings.Fields(get("given_name")+" "+get("surname")), " "); n != "" {
			p.Names = []string{n}
		}
		if d := get("date_of_birth"); len(d) == 8 {
			iso := d[:4] + "-" + d[4:6] + "-" + d[6:]
			if t, err := time.Parse(time.DateOnly, iso); err == nil && !t.After(Day) && Day.Sub(t) < 120*365*24*time.Hour {
				p.DateOfBirth = iso
			}
		}
		if pc := get("postcode"); pc != "" {
			p.Locations = []string{matching.LocationCode("AU" + pc)}
		}
		p.RecordedOn = Day.Format(time.DateOnly)
		if p.Validate(Day) != nil {
			continue // no name: nothing to match
		}
		out = append(out, rec)
	}
}

// Point is one cut of the precision–recall curve: the pairs with a
// probability of at least Cut are answered as matches.
type Point struct {
	Cut                   float64
	Precision, Recall, F1 float64
}

// Report is the quality of one matcher on one data set.
type Report struct {
	Matcher           string
	Cases, Requests   int
	Candidates        int // pairs scored (reached by the candidate search)
	Found             int // requests whose entity was among their candidates
	TP, FP, FN        int // at band likely
	Precision, Recall float64
	F1                float64
	// PairsCompleteness is the share of requests whose true case was
	// among the candidates; ReductionRatio the share of all request–case
	// pairs the search spared.
	PairsCompleteness, ReductionRatio float64
	Curve                             []Point
	// Calibration compares the probabilities with the truth, bin by bin.
	Calibration []Bin
	// Misses are the false negatives at band likely, in request order.
	Misses []Miss
}

// Bin is one bin of probabilities [Low, High): Pairs scored in it, their
// mean probability, and the share of them that are true pairs. A
// calibrated matcher has Mean ≈ True in every bin.
type Bin struct {
	Low, High  float64
	Pairs      int
	Mean, True float64
}

// calibrationEdges are the edges of the calibration bins.
var calibrationEdges = []float64{0, 0.05, 0.2, 0.4, 0.6, 0.8, 0.95, 0.99, 1.0000001}

func calibration(all []scored) []Bin {
	bins := make([]Bin, len(calibrationEdges)-1)
	for i := range bins {
		bins[i].Low, bins[i].High = calibrationEdges[i], calibrationEdges[i+1]
	}
	for _, s := range all {
		for i := range bins {
			if s.p >= bins[i].Low && s.p < bins[i].High {
				bins[i].Pairs++
				bins[i].Mean += s.p
				if s.same {
					bins[i].True++
				}
				break
			}
		}
	}
	for i := range bins {
		if n := float64(bins[i].Pairs); n > 0 {
			bins[i].Mean /= n
			bins[i].True /= n
		}
	}
	return bins
}

// Miss is a request whose case was not answered likely: Probability is
// the case's, -1 when the candidate search did not reach it.
type Miss struct {
	Request, Case Record
	Probability   float64
}

// scored is one request–case pair with the matcher's probability.
type scored struct {
	p    float64
	same bool
}

func report(name string, cases, reqs int, truth int, found, pairs int, all []scored, likely float64) Report {
	r := Report{Matcher: name, Cases: cases, Requests: reqs, Candidates: pairs, Found: found}
	for _, s := range all {
		switch {
		case s.p >= likely && s.same:
			r.TP++
		case s.p >= likely:
			r.FP++
		}
	}
	r.FN = truth - r.TP
	r.Precision, r.Recall, r.F1 = prf(r.TP, r.FP, truth)
	if truth > 0 {
		r.PairsCompleteness = float64(found) / float64(truth)
	}
	if total := float64(cases) * float64(reqs); total > 0 {
		r.ReductionRatio = 1 - float64(pairs)/total
	}
	r.Calibration = calibration(all)
	sort.Slice(all, func(i, j int) bool { return all[i].p > all[j].p })
	for _, cut := range []float64{0.99, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.01} {
		tp, fp := 0, 0
		for _, s := range all {
			if s.p < cut {
				break
			}
			if s.same {
				tp++
			} else {
				fp++
			}
		}
		pt := Point{Cut: cut}
		pt.Precision, pt.Recall, pt.F1 = prf(tp, fp, truth)
		r.Curve = append(r.Curve, pt)
	}
	return r
}

func prf(tp, fp, truth int) (p, r, f float64) {
	if tp+fp > 0 {
		p = float64(tp) / float64(tp+fp)
	}
	if truth > 0 {
		r = float64(tp) / float64(truth)
	}
	if p+r > 0 {
		f = 2 * p * r / (p + r)
	}
	return p, r, f
}

// split returns the cases and the requests whose entity has a case.
func split(recs []Record) (cases, reqs []Record) {
	has := map[string]bool{}
	for _, r := range recs {
		if !r.Request {
			cases = append(cases, r)
			has[r.Entity] = true
		}
	}
	for _, r := range recs {
		if r.Request && has[r.Entity] {
			reqs = append(reqs, r)
		}
	}
	return cases, reqs
}

// Local matches every request with the local matcher under model m.
func Local(recs []Record, m matching.Model) Report {
	cases, reqs := split(recs)
	ix := matching.NewIndex()
	ix.SetModel(m)
	entity := map[string]string{}
	byEntity := map[string]Record{}
	for _, c := range cases {
		ix.Add(matching.Candidate{ID: c.ID, Person: c.Person})
		entity[c.ID] = c.Entity
		byEntity[c.Entity] = c
	}
	var all []scored
	var misses []Miss
	found, pairs := 0, 0
	for _, q := range reqs {
		res := ix.Match(q.Person, 0)
		pairs += len(res)
		p := -1.0
		for _, r := range res {
			same := entity[r.ID] == q.Entity
			if same {
				found++
				p = r.Probability
			}
			all = append(all, scored{r.Probability, same})
		}
		if p < matching.LikelyThreshold {
			misses = append(misses, Miss{Request: q, Case: byEntity[q.Entity], Probability: p})
		}
	}
	r := report("local", len(cases), len(reqs), len(reqs), found, pairs, all, matching.LikelyThreshold)
	r.Misses = misses
	return r
}

// Adapt estimates m's Adaptation (matching.Adapt) on the requests for
// which use returns true (all when use is nil): the comparison vectors of
// each with its candidates, without the answers.
func Adapt(recs []Record, m matching.Model, use func(Record) bool, opt matching.AdaptOptions) (matching.Model, error) {
	cases, reqs := split(recs)
	ix := matching.NewIndex()
	ix.SetModel(m)
	for _, c := range cases {
		ix.Add(matching.Candidate{ID: c.ID, Person: c.Person})
	}
	var vecs [][][]matching.Comparison
	for _, q := range reqs {
		if use == nil || use(q) {
			vecs = append(vecs, ix.Vectors(q.Person))
		}
	}
	return matching.Adapt(m, vecs, opt)
}

// federated holds a data set's cases encoded as the federation encodes
// them (keys derived from a fixed test secret).
type federated struct {
	cases, reqs []Record
	enc         *pprl.RecordEncoder
	set         pprl.RecordSet
}

func encodeFederated(recs []Record) *federated {
	f := &federated{enc: pprl.NewRecordEncoder(pprl.DeriveKeys([]byte("linkage quality secret, 32 bytes"), "linkage", pprl.RecordFields))}
	f.cases, f.reqs = split(recs)
	f.enc.Reference = Day
	for _, c := range f.cases {
		f.set.Add(f.enc.EncodeRecord(c.Person))
	}
	return f
}

// Federated matches every request with the federated encodings (keys
// derived from a fixed test secret) under m.
func Federated(recs []Record, m pprl.Model) Report {
	f := encodeFederated(recs)
	byEntity := map[string]Record{}
	for _, c := range f.cases {
		byEntity[c.Entity] = c
	}
	var all []scored
	var misses []Miss
	found, pairs := 0, 0
	for _, q := range f.reqs {
		res := f.set.Match(m, f.enc.EncodeReadings(q.Person))
		pairs += len(res)
		p := -1.0
		for _, r := range res {
			same := f.cases[r.Index].Entity == q.Entity
			if same {
				found++
				p = r.Probability
			}
			all = append(all, scored{r.Probability, same})
		}
		if p < m.Likely {
			misses = append(misses, Miss{Request: q, Case: byEntity[q.Entity], Probability: p})
		}
	}
	r := report("federated", len(f.cases), len(f.reqs), len(f.reqs), found, pairs, all, m.Likely)
	r.Misses = misses
	return r
}

// AdaptFederated estimates m's Adaptation (pprl.Adapt) on the requests
// for which use returns true (all when use is nil): each encoded and
// compared with the encoded cases it reaches, as the federation does,
// without the answers.
func AdaptFederated(recs []Record, m pprl.Model, use func(Record) bool, opt pprl.AdaptOptions) (pprl.Model, error) {
	f := encodeFederated(recs)
	var ex []pprl.Example
	var idx []int
	for _, q := range f.reqs {
		if use != nil && !use(q) {
			continue
		}
		var e pprl.Example
		e, idx = f.set.Unlabelled(f.enc.EncodeReadings(q.Person), m.Blocking(), idx)
		ex = append(ex, e)
	}
	return pprl.Adapt(m, ex, opt)
}

// Write prints r: the figures, then the curve.
func (r Report) Write(w io.Writer) {
	fmt.Fprintf(w, "%s: %d requests against %d cases\n", r.Matcher, r.Requests, r.Cases)
	fmt.Fprintf(w, "  band likely: precision %.4f recall %.4f F1 %.4f (TP %d, FP %d, FN %d)\n", r.Precision, r.Recall, r.F1, r.TP, r.FP, r.FN)
	fmt.Fprintf(w, "  candidate search: pairs completeness %.4f (%d of %d), reduction ratio %.5f (%d pairs scored)\n",
		r.PairsCompleteness, r.Found, r.Requests, r.ReductionRatio, r.Candidates)
	fmt.Fprintf(w, "  cut   precision recall F1\n")
	for _, p := range r.Curve {
		fmt.Fprintf(w, "  %.2f  %.4f    %.4f %.4f\n", p.Cut, p.Precision, p.Recall, p.F1)
	}
	fmt.Fprintf(w, "  calibration: probability   pairs  mean P  share true\n")
	for _, b := range r.Calibration {
		fmt.Fprintf(w, "               [%.2f, %.2f) %6d  %.3f   %.3f\n", b.Low, math.Min(b.High, 1), b.Pairs, b.Mean, b.True)
	}
}

// WriteMisses prints the first n false negatives (Misses): each request
// and its case, with the case's probability ("not reached" when the
// candidate search missed it).
func (r Report) WriteMisses(w io.Writer, n int) {
	fmt.Fprintf(w, "%s: %d false negatives at band likely\n", r.Matcher, len(r.Misses))
	for _, m := range r.Misses[:min(n, len(r.Misses))] {
		p := "not reached"
		if m.Probability >= 0 {
			p = fmt.Sprintf("%.3f", m.Probability)
		}
		fmt.Fprintf(w, "  %s: %s\n    %s %s\n    %s %s\n", m.Request.ID, p, m.Request.ID, describe(m.Request.Person), m.Case.ID, describe(m.Case.Person))
	}
}

func describe(p matching.Person) string {
	return fmt.Sprintf("names %q born %q places %q", p.Names, p.DateOfBirth, p.Locations)
}
