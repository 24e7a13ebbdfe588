package tracing

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cpx-node/cpx/crypto/pprl"
	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/exchange"
	"github.com/cpx-node/cpx/policy"
)

// BatchProgress tells how far FederatedMatchAll is with one agency.
type BatchProgress struct {
	Agency      string
	Sent, Total int
	// Waiting is how long the node waits before its next query to the
	// agency, to stay within the ISP's rate; 0 when it does not wait.
	Waiting time.Duration
}

// BatchResult is what the agencies answered about one request of a batch.
type BatchResult struct {
	Request     Request
	Matches     []FederatedMatch
	Unreachable []string
}

// Batch is the outcome of FederatedMatchAll.
type Batch struct {
	Results  []BatchResult
	Agencies int // agencies asked
	Queries  int // queries sent in all, retries included
}

// maxRateRetries bounds the retries of a query the other node refused
// for its rate (its bucket may have been spent by queries this node did
// not pace, such as those of a node restarted meanwhile).
const maxRateRetries = 5

// FederatedMatchAll asks every agency an ISP in force lets this agency ask
// for tracing about every open request the subject may match whose
// inquirer consented to share it for tracing, as one batch: the sought
// children of all of them packed into queries of at most MaxQueryRecords,
// sent within the query rate of the ISP (policy.ISP.TracingRate), waiting
// rather than failing when the rate is spent. progress, if not nil, is
// called before every query. An agency that cannot be reached is listed in
// the unreachable of the requests whose children it was not asked about.
func (s *Service) FederatedMatchAll(ctx context.Context, sub policy.Subject, progress func(BatchProgress)) (Batch, error) {
	var b Batch
	if err := s.authorize(ctx, sub, ActionMatch, "tracing.match_federated_all", "tracing"); err != nil {
		return b, err
	}
	if s.fed == nil {
		return b, errorf(ErrInvalid, "this node has no federation")
	}
	reqs, err := s.scan(ctx, StatusOpen, 0)
	if err != nil {
		return b, err
	}
	// Every sought child of the batch, by request and trace.
	type child struct{ req, trace int }
	var children []child
	for _, req := range reqs {
		if !reaches(sub, ActionMatch, &req) || !req.Details.ConsentForTracing || len(req.Details.Traces) == 0 {
			continue
		}
		b.Results = append(b.Results, BatchResult{Request: req})
		for i := range req.Details.Traces {
			children = append(children, child{len(b.Results) - 1, i})
		}
	}
	if len(children) == 0 {
		return b, s.auditBatch(ctx, sub, b)
	}
	targets, err := s.fed.TracingTargets(ctx)
	if err != nil {
		return b, err
	}
	if len(targets) == 0 {
		return b, errorf(ErrInvalid, "no ISP in force lets this agency ask another for tracing")
	}
	b.Agencies = len(targets)
	chunks := (len(children) + MaxQueryRecords - 1) / MaxQueryRecords
	for _, t := range targets {
		enc := pprl.NewRecordEncoder(keysFor(t.ISP))
		rate := t.ISP.TracingRate()
		for c := range chunks {
			part := children[c*MaxQueryRecords : min(len(children), (c+1)*MaxQueryRecords)]
			recs := make([][]pprl.Record, len(part))
			for k, ch := range part {
				recs[k] = enc.EncodeReadings(b.Results[ch.req].Request.person(ch.trace, s.location))
			}
			payload, err := encodeQuery(recs)
			if err != nil {
				return b, err
			}
			var resp []byte
			for try := 0; ; try++ {
				wait := s.pace.reserve(t.Agency, rate, s.now())
				if try > 0 {
					wait = max(wait, time.Minute/time.Duration(rate))
				}
				if progress != nil {
					progress(BatchProgress{Agency: t.Agency, Sent: c, Total: chunks, Waiting: wait})
				}
				if err := sleep(ctx, wait); err != nil {
					return b, err
				}
				b.Queries++
				resp, err = s.fed.Query(ctx, t.Agency, t.ISP, payload)
				if err == nil || try == maxRateRetries || !strings.Contains(err.Error(), exchange.ErrRateLimited.Error()) {
					break
				}
			}
			var a answer
			if err == nil {
				if jerr := json.Unmarshal(resp, &a); jerr != nil {
					err = fmt.Errorf("malformed answer")
				}
			}
			if err != nil {
				seen := map[int]bool{}
				for _, ch := range part {
					if !seen[ch.req] {
						seen[ch.req] = true
						b.Results[ch.req].Unreachable = append(b.Results[ch.req].Unreachable, fmt.Sprintf("%s: %v", t.Agency, err))
					}
				}
				continue
			}
			for _, m := range a.Matches {
				if m.Trace < 1 || m.Trace > len(part) {
					continue // not a child of this query
				}
				ch := part[m.Trace-1]
				m.Agency, m.Trace = t.Agency, ch.trace+1
				b.Results[ch.req].Matches = append(b.Results[ch.req].Matches, m)
			}
		}
		if progress != nil {
			progress(BatchProgress{Agency: t.Agency, Sent: chunks, Total: chunks})
		}
	}
	return b, s.auditBatch(ctx, sub, b)
}

func (s *Service) auditBatch(ctx context.Context, sub policy.Subject, b Batch) error {
	answers := 0
	for _, r := range b.Results {
		answers += len(r.Matches)
	}
	return audit.Record(ctx, s.store, s.now(), audit.Event{Actor: sub.User, Action: "tracing.match_federated_all", Object: "tracing",
		Details: map[string]any{"requests": len(b.Results), "agencies": b.Agencies, "queries": b.Queries, "answers": answers}})
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pacer keeps this node's tracing queries to each agency within the rate
// of the ISP it asks under: a bucket per agency like the one the other
// node keeps for this one (burst the rate per minute, refilled at it).
type pacer struct {
	mu     sync.Mutex
	tokens map[string]float64
	last   map[string]time.Time
}

// reserve takes one query from agency's bucket at rate per minute and
// returns how long to wait before sending it (0: at once), with a margin
// of a tenth for the other node's clock and the query's travel.
func (p *pacer) reserve(agency string, rate int, now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tokens == nil {
		p.tokens, p.last = map[string]float64{}, map[string]time.Time{}
	}
	perMinute := float64(max(rate, 1))
	t, seen := p.tokens[agency]
	if !seen {
		t = perMinute
	} else {
		t = min(perMinute, t+now.Sub(p.last[agency]).Minutes()*perMinute)
	}
	p.last[agency] = now
	t--
	p.tokens[agency] = t
	if t >= 0 {
		return 0
	}
	return time.Duration(-t / perMinute * 1.1 * float64(time.Minute))
}
