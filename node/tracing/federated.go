package tracing

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/cpx-node/cpx/crypto/pprl"
	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/exchange"
	"github.com/cpx-node/cpx/node/matching"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// Federation is what federated tracing needs from the exchange: the peers
// an ISP lets this agency ask, and a sealed question-and-answer with one.
type Federation interface {
	TracingTargets(ctx context.Context) ([]exchange.Target, error)
	Query(ctx context.Context, to string, isp *policy.ISP, payload []byte) ([]byte, error)
}

// Federate lets the service ask other agencies (FederatedMatch) and answer
// them (AnswerQuery).
func (s *Service) Federate(f Federation) { s.fed = f }

// MaxAnswers bounds the candidates one trace gets from one agency.
const MaxAnswers = 5

// QueryVersion is the version of the tracing query this node sends and
// answers: 6, per sought child its readings (pprl.EncodeReadings: the name
// as written and, for a name of two or more parts, the name rotated; for a
// one-part name, the name read as a family name),
// each a pprl.Record of eleven per-group encodings with the relatives by
// relation and the child's lineage, name parts one typing slip from a
// known name encoded as that name. Version 5 (the same Records without
// that correction), version 4 (ten groups, no lineage), version 3 (one
// reading), version 2 (Records of five groups, all relatives in one) and
// version 1 (one whole-record CLK per child, no version field) are
// refused: the asking node must be upgraded.
const QueryVersion = 6

// Bounds on a query, which crosses a trust boundary.
const (
	// MaxQueryRecords bounds the sought children of one query.
	MaxQueryRecords = 20
	// MaxReadings bounds the readings of one sought child.
	MaxReadings = 2
	// MaxQueryBytes bounds a query's plaintext: MaxQueryRecords children
	// of MaxReadings Records each in base64 with their quotes and commas, room for one more (so that a count just over the
	// bound is told as such) and for the JSON around them.
	MaxQueryBytes = (4*((MaxReadings*pprl.RecordBytes+2)/3)+3)*(MaxQueryRecords+1) + 1024
)

// query is the plaintext of a tracing query: per sought child, the base64
// of its readings' pprl.Record binary forms one after the other, never
// names or other case data.
type query struct {
	Version int      `json:"version"`
	Records []string `json:"records"`
}

// encodeQuery returns the plaintext of a query for the sought children's
// readings.
func encodeQuery(children [][]pprl.Record) ([]byte, error) {
	q := query{Version: QueryVersion}
	for _, readings := range children {
		var b []byte
		for i := range readings {
			r, err := readings[i].MarshalBinary()
			if err != nil {
				return nil, err
			}
			b = append(b, r...)
		}
		q.Records = append(q.Records, base64.StdEncoding.EncodeToString(b))
	}
	return json.Marshal(q)
}

// decodeQuery parses and checks a query's plaintext: at most
// MaxQueryBytes, version QueryVersion, no unknown fields, 1 to
// MaxQueryRecords children each of 1 to MaxReadings readings of exactly
// pprl.RecordBytes with balanced or empty groups. Every error wraps
// exchange.ErrBadMessage.
func decodeQuery(payload []byte) ([][]pprl.Record, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: tracing query: %s", exchange.ErrBadMessage, fmt.Sprintf(format, args...))
	}
	if len(payload) > MaxQueryBytes {
		return nil, bad("%d bytes, at most %d", len(payload), MaxQueryBytes)
	}
	var v struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(payload, &v); err != nil {
		return nil, bad("not a JSON object with a numeric version")
	}
	if v.Version == nil || *v.Version != QueryVersion {
		got := "none (version 1)"
		if v.Version != nil {
			got = strconv.Itoa(*v.Version)
		}
		return nil, bad("version %s; this node answers only version %d (per-group records, relatives by relation, rotated names, lineage, slips corrected): the asking node must be upgraded", got, QueryVersion)
	}
	var q query
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		return nil, bad("malformed JSON or an unknown field")
	}
	if len(q.Records) == 0 || len(q.Records) > MaxQueryRecords {
		return nil, bad("%d records, want 1 to %d", len(q.Records), MaxQueryRecords)
	}
	children := make([][]pprl.Record, len(q.Records))
	for i, r := range q.Records {
		if base64.StdEncoding.DecodedLen(len(r)) > MaxReadings*pprl.RecordBytes+2 {
			return nil, bad("record %d: too long", i+1)
		}
		b, err := base64.StdEncoding.Strict().DecodeString(r)
		if err != nil {
			return nil, bad("record %d: not base64", i+1)
		}
		if len(b) == 0 || len(b)%pprl.RecordBytes != 0 {
			return nil, bad("record %d: malformed record: %d bytes, want %d or %d", i+1, len(b), pprl.RecordBytes, MaxReadings*pprl.RecordBytes)
		}
		children[i] = make([]pprl.Record, len(b)/pprl.RecordBytes)
		for k := range children[i] {
			if err := children[i][k].UnmarshalBinary(b[k*pprl.RecordBytes : (k+1)*pprl.RecordBytes]); err != nil {
				return nil, bad("record %d: %v", i+1, err)
			}
		}
	}
	return children, nil
}

// model is the shipped model of federated candidates (fitted on
// synthetic data; see docs/matching.md); encodedSet.model is it adapted
// to this node's requests and cases.
var model = pprl.DefaultModel()

// adaptFederated re-estimates the federated model for the cases encoded
// in es (pprl.Adapt: how often their true pairs show each Dice bin,
// learnt without knowing the answers) on this node's open requests,
// encoded with es's keys and compared with the cases they reach as a
// peer's query would be. With too few requests, or on any failure, it
// returns the shipped model. The log names the ISP and counts, never a
// name.
func (s *Service) adaptFederated(ctx context.Context, key string, es *encodedSet) pprl.Model {
	reqs, err := s.scan(ctx, StatusOpen, 0)
	if err != nil {
		s.log.Warn("federated tracing model not adapted", "isp", key, "err", err)
		return model
	}
	blocking := model.Blocking()
	var ex []pprl.Example
	var idx []int
	for _, req := range reqs {
		for i := range req.Details.Traces {
			var e pprl.Example
			e, idx = es.set.Unlabelled(es.enc.EncodeReadings(req.person(i, s.location)), blocking, idx)
			ex = append(ex, e)
		}
	}
	m, err := pprl.Adapt(model, ex, pprl.AdaptOptions{})
	if err != nil {
		s.log.Info("federated tracing model: shipped weights", "isp", key, "requests", len(ex), "reason", err)
		return model
	}
	s.log.Info("federated tracing model adapted to the open requests", "isp", key, "requests", m.Adapted.Requests, "pairs", m.Adapted.Pairs, "rounds", m.Adapted.Rounds)
	return m
}

// answer is the plaintext of the reply: bands and opaque handles only,
// never a score or case data.
type answer struct {
	Matches []FederatedMatch `json:"matches"`
}

// FederatedMatch is one candidate another agency holds: which trace it is
// for, its band and level, and an opaque handle to ask that agency about
// it.
type FederatedMatch struct {
	Agency string `json:"agency,omitempty"`
	Trace  int    `json:"trace"`
	Band   string `json:"band"`
	// Level ranks the candidate more finely than its band, from 1 to
	// Levels (see Level). It is optional in the answer: a node older than
	// it answers without, and an older asking node ignores it; 0 when
	// the answering node gave none.
	Level  int    `json:"level,omitempty"`
	Handle string `json:"handle"`
}

// Levels is the number of levels of a federated answer.
const Levels = 5

// Level is the level (1 to Levels, highest most probable) of an answered
// candidate of probability p in band: a band fine enough to rank by, still
// no score. Likely candidates are 4 (5 from P 0.9), possible ones 1 to 3
// (2 from 0.05, 3 from 0.2), so the level never contradicts the band.
func Level(p float64, band string) int {
	switch {
	case band == matching.Likely && p >= 0.9:
		return 5
	case band == matching.Likely:
		return 4
	case p >= 0.2:
		return 3
	case p >= 0.05:
		return 2
	}
	return 1
}

// keysFor derives the encoding keys of an ISP. Every party holds the same
// signed ISP document, so each derives the same keys from it; envelopes
// keep the encodings from anyone else. (docs/matching.md)
func keysFor(isp *policy.ISP) pprl.Keys {
	return pprl.DeriveKeys(isp.SigningBytes(), fmt.Sprintf("%s@%d", isp.ID, isp.Version), pprl.RecordFields)
}

// encodedSet caches the encodings of the consented cases under one ISP,
// and the model this node answers with against them.
type encodedSet struct {
	changes uint64
	set     pprl.RecordSet
	ids     []string
	enc     *pprl.RecordEncoder      // the ISP's keys, derived once
	byCase  map[string]encodedRecord // each case's Record, by case id
	model   pprl.Model               // adapted or shipped (adaptFederated)
	builds  uint64                   // the index build model was adapted at
}

// encodedRecord is a case's Record, the generation of the person it
// encodes (caseMeta.gen) and the index generation it was encoded at.
type encodedRecord struct {
	gen, at uint64
	rec     pprl.Record
}

// encodings returns the encodings of every indexed case (consented,
// matchable) under isp. After the index changed, only the cases filed
// since the last call are encoded again; the others' Records are reused.
func (s *Service) encodings(ctx context.Context, isp *policy.ISP) (*encodedSet, error) {
	if _, err := s.fresh(ctx); err != nil {
		return nil, err
	}
	key := fmt.Sprintf("%s@%d", isp.ID, isp.Version)
	return s.encode(ctx, key, func() *pprl.RecordEncoder { return pprl.NewRecordEncoder(keysFor(isp)) })
}

// encode returns the encodings cached under key (an ISP's id@version),
// encoded again where the index changed since, and adapted again
// (adaptFederated) once per index build; newEncoder makes the ISP's
// encoder when nothing is cached under key yet.
func (s *Service) encode(ctx context.Context, key string, newEncoder func() *pprl.RecordEncoder) (*encodedSet, error) {
	now := s.changes.Load()
	s.mu.RLock()
	cached := s.encoded[key]
	builds := s.builds
	s.mu.RUnlock()
	if cached != nil && cached.changes == now && cached.builds == builds {
		return cached, nil
	}
	es := &encodedSet{changes: now, byCase: map[string]encodedRecord{}}
	if cached != nil {
		es.enc = cached.enc
	} else {
		es.enc = newEncoder()
	}
	s.mu.RLock()
	for id, m := range s.meta {
		r, ok := cached.record(id)
		if !ok || r.gen != m.gen {
			r = encodedRecord{gen: m.gen, at: now, rec: es.enc.EncodeRecord(m.person)}
		}
		es.byCase[id] = r
		es.set.Add(r.rec)
		es.ids = append(es.ids, id)
	}
	s.mu.RUnlock()
	if cached != nil && cached.builds == builds {
		es.model, es.builds = cached.model, cached.builds
	} else {
		es.model, es.builds = s.adaptFederated(ctx, key, es), builds
	}
	s.mu.Lock()
	if s.encoded == nil {
		s.encoded = map[string]*encodedSet{}
	}
	s.encoded[key] = es
	s.mu.Unlock()
	return es, nil
}

// record returns the cached Record of a case (none from a nil set).
func (es *encodedSet) record(id string) (encodedRecord, bool) {
	if es == nil {
		return encodedRecord{}, false
	}
	r, ok := es.byCase[id]
	return r, ok
}

// AnswerQuery answers another agency's tracing query (exchange.QueryHandler):
// for each encoding, the consented cases whose encodings come close, as
// bands and opaque handles that this node remembers. Audited.
func (s *Service) AnswerQuery(ctx context.Context, from string, isp *policy.ISP, payload []byte) ([]byte, error) {
	recs, err := decodeQuery(payload)
	if err != nil {
		return nil, err
	}
	es, err := s.encodings(ctx, isp)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	var a answer
	var handles []handle
	for i := range recs {
		// candidates come most probable first; the first MaxAnswers
		// likely or possible ones are answered
		for k, c := range es.set.Match(es.model, recs[i]) {
			band := es.model.Band(c.Probability)
			if band == matching.Unlikely || k == MaxAnswers {
				break
			}
			id := newHandle()
			handles = append(handles, handle{ID: id, Case: es.ids[c.Index], Agency: from, ISP: isp.ID, Created: now})
			a.Matches = append(a.Matches, FederatedMatch{Trace: i + 1, Band: band, Level: Level(c.Probability, band), Handle: id})
		}
	}
	err = s.store.Update(ctx, func(w store.Writer) error {
		for _, h := range handles {
			b, err := json.Marshal(h)
			if err != nil {
				return err
			}
			if err := w.Set([]byte("t/h/"+h.ID), b); err != nil {
				return err
			}
		}
		_, err := audit.Append(w, now, audit.Event{Actor: "peer:" + from, Action: "tracing.query.answer", Object: "agency/" + from,
			Details: map[string]any{"encodings": len(recs), "answers": len(a.Matches), "isp": isp.ID}})
		return err
	})
	if err != nil {
		return nil, err
	}
	return json.Marshal(a)
}

// handle is what this node remembers of an answer it gave, so that the
// asking agency can later request disclosure of that case.
type handle struct {
	ID      string    `json:"id"`
	Case    string    `json:"case"`
	Agency  string    `json:"agency"`
	ISP     string    `json:"isp"`
	Created time.Time `json:"created"`
}

func newHandle() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// FederatedMatch asks every agency an ISP in force lets this agency ask
// for tracing, with encodings of the request's sought children, and returns
// their bands and handles. It needs the inquirer's consent to share for
// tracing. Agencies that cannot be reached are listed in unreachable.
func (s *Service) FederatedMatch(ctx context.Context, sub policy.Subject, ref string) (req Request, matches []FederatedMatch, unreachable []string, err error) {
	if err := s.authorize(ctx, sub, ActionMatch, "tracing.match_federated", requestObject(ref)); err != nil {
		return req, nil, nil, err
	}
	if s.fed == nil {
		return req, nil, nil, errorf(ErrInvalid, "this node has no federation")
	}
	if req, err = s.peek(ctx, sub, ActionMatch, ref); err != nil {
		return req, nil, nil, err
	}
	if !req.Details.ConsentForTracing {
		return req, nil, nil, s.auditDenied(ctx, sub, "tracing.match_federated", requestObject(req.ID),
			errorf(ErrDenied, "the inquirer has not consented to share this request for tracing (consent_for_tracing)"))
	}
	targets, err := s.fed.TracingTargets(ctx)
	if err != nil {
		return req, nil, nil, err
	}
	if len(targets) == 0 {
		return req, nil, nil, errorf(ErrInvalid, "no ISP in force lets this agency ask another for tracing")
	}
	for _, t := range targets {
		enc := pprl.NewRecordEncoder(keysFor(t.ISP))
		var recs [][]pprl.Record
		for i := range req.Details.Traces {
			recs = append(recs, enc.EncodeReadings(req.person(i, s.location)))
		}
		payload, err := encodeQuery(recs)
		if err != nil {
			return req, nil, nil, err
		}
		s.pace.reserve(t.Agency, t.ISP.TracingRate(), s.now()) // counted, not waited for: see FederatedMatchAll
		resp, err := s.fed.Query(ctx, t.Agency, t.ISP, payload)
		if err != nil {
			unreachable = append(unreachable, fmt.Sprintf("%s: %v", t.Agency, err))
			continue
		}
		var a answer
		if err := json.Unmarshal(resp, &a); err != nil {
			unreachable = append(unreachable, fmt.Sprintf("%s: malformed answer", t.Agency))
			continue
		}
		for _, m := range a.Matches {
			m.Agency = t.Agency
			matches = append(matches, m)
		}
	}
	err = audit.Record(ctx, s.store, s.now(), audit.Event{Actor: sub.User, Action: "tracing.match_federated", Object: requestObject(req.ID),
		Details: map[string]any{"agencies": len(targets), "answers": len(matches)}})
	return req, matches, unreachable, err
}

// ResolveHandle maps a handle this node gave agency `from` to its case
// (exchange.HandleResolver).
func ResolveHandle(r store.Reader, id, from string) (string, error) {
	b, err := r.Get([]byte("t/h/" + id))
	if err != nil {
		return "", fmt.Errorf("unknown handle")
	}
	var h handle
	if err := json.Unmarshal(b, &h); err != nil {
		return "", err
	}
	if h.Agency != from {
		return "", fmt.Errorf("the handle was not given to %s", from)
	}
	return h.Case, nil
}

// Discloser is what RequestDetails needs from the exchange.
type Discloser interface {
	RequestDisclosure(ctx context.Context, sub policy.Subject, to, handle, note string) (exchange.Record, error)
}

// RequestDetails asks agency `to` to disclose the case behind a handle
// from a federated match; its caseworker accepts or rejects it like an
// incoming referral.
func (s *Service) RequestDetails(ctx context.Context, sub policy.Subject, to, handle, note string) (exchange.Record, error) {
	if err := s.authorize(ctx, sub, ActionMatch, "tracing.request_details", "agency/"+to); err != nil {
		return exchange.Record{}, err
	}
	d, ok := s.fed.(Discloser)
	if !ok {
		return exchange.Record{}, errorf(ErrInvalid, "this node has no federation")
	}
	return d.RequestDisclosure(ctx, sub, to, handle, note)
}
