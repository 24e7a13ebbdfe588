package synth

import (
	"fmt"

	"github.com/cpx-node/cpx/node/matching"
)

// Scored is one request–candidate pair with its score and truth.
type Scored struct {
	Request string
	ID      string
	Score   float64
	Same    bool
}

// Figures are precision, recall and F1 at one threshold.
type Figures struct {
	Threshold  float64
	TP, FP, FN int
	Precision  float64
	Recall     float64
	F1         float64
}

func (f Figures) String() string {
	return fmt.Sprintf("t=%.3f P=%.4f R=%.4f F1=%.4f (tp %d fp %d fn %d)", f.Threshold, f.Precision, f.Recall, f.F1, f.TP, f.FP, f.FN)
}

// At counts every pair scoring ≥ t as a predicted match (not only the top
// candidate): a sibling above the threshold is a false positive. positives
// is the number of requests whose child is registered.
func At(pairs []Scored, positives int, t float64) Figures {
	f := Figures{Threshold: t}
	for _, p := range pairs {
		if p.Score < t {
			continue
		}
		if p.Same {
			f.TP++
		} else {
			f.FP++
		}
	}
	f.FN = positives - f.TP
	if f.TP+f.FP > 0 {
		f.Precision = float64(f.TP) / float64(f.TP+f.FP)
	}
	if positives > 0 {
		f.Recall = float64(f.TP) / float64(positives)
	}
	if f.Precision+f.Recall > 0 {
		f.F1 = 2 * f.Precision * f.Recall / (f.Precision + f.Recall)
	}
	return f
}

// Best returns the figures at the threshold with the highest F1, and the
// highest recall reachable at precision ≥ minPrecision.
func Best(pairs []Scored, positives int, minPrecision float64) (bestF1, bestRecall Figures) {
	for i := 1; i < 1000; i++ {
		f := At(pairs, positives, float64(i)/1000)
		if f.F1 > bestF1.F1 {
			bestF1 = f
		}
		if f.Precision >= minPrecision && f.Recall > bestRecall.Recall {
			bestRecall = f
		}
	}
	return bestF1, bestRecall
}

// Result of running the local matcher over a data set.
type Run struct {
	Pairs      []Scored
	Positives  int                     // requests whose child is registered
	Reached    int                     // of those, how many the index reached
	Candidates int                     // candidate pairs scored in total
	Vectors    [][]matching.Comparison // comparison vectors, for fitting
	Labels     []bool
	Requests   []matching.ChoiceRequest // the same vectors per request, for FitChoice
}

// Adapt estimates m's Adaptation (matching.Adapt) on the data set's
// requests, without their answers: what a node would do with its own.
func Adapt(ds Dataset, m matching.Model, opt matching.AdaptOptions) (matching.Model, error) {
	ix := matching.NewIndex()
	ix.SetModel(m)
	for _, c := range ds.Cases {
		ix.Add(c)
	}
	vecs := make([][][]matching.Comparison, 0, len(ds.Requests))
	for _, q := range ds.Requests {
		vecs = append(vecs, ix.Vectors(q.Person))
	}
	return matching.Adapt(m, vecs, opt)
}

// RunLocal indexes the cases, matches every request and scores all the
// candidates the index reaches.
func RunLocal(ds Dataset, m matching.Model) Run {
	ix := matching.NewIndex()
	ix.SetModel(m)
	for _, c := range ds.Cases {
		ix.Add(c)
	}
	var r Run
	for _, q := range ds.Requests {
		if q.Truth != "" {
			r.Positives++
		}
		res := ix.Match(q.Person, 0)
		r.Candidates += len(res)
		cr := matching.ChoiceRequest{Truth: -1}
		for i, x := range res {
			same := x.ID == q.Truth
			if same {
				r.Reached++
				cr.Truth = i
			}
			cr.Candidates = append(cr.Candidates, x.Comparisons)
			r.Pairs = append(r.Pairs, Scored{Request: q.ID, ID: x.ID, Score: x.Probability, Same: same})
			r.Vectors = append(r.Vectors, x.Comparisons)
			r.Labels = append(r.Labels, same)
		}
		r.Requests = append(r.Requests, cr)
	}
	return r
}
