package daemon

import (
	"context"
	"errors"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/exchange"
	"github.com/cpx-node/cpx/node/p2p"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
	"github.com/cpx-node/cpx/protocol/gen/cpx/peer/v1/peerv1connect"
)

// The federation metrics (docs/operations.md, "Watching a node"): what
// waits for each peer and for how long, deliveries and their failures,
// whether each peer can be reached, tracing queries and the audit log's
// size. Gauges are read from the store at each scrape; counters count
// calls to and from peers as they happen. Peers are labelled by agency id.

// metricsSubject reads peers and the outbox for the metrics: a role with
// list permissions only, of scope all (it counts every envelope), never
// audited since it is never refused.
var metricsSubject = policy.Subject{User: "system:metrics", Role: policy.Role{
	ID: "metrics",
	Permissions: []policy.Permission{
		{Resource: policy.ResourcePeer, Action: policy.ActionList},
		{Resource: policy.ResourceExchange, Action: policy.ActionList},
	},
	Scope: policy.ScopeAll,
}}

// unknownPeer labels calls with a peer this node has not added.
const unknownPeer = "unknown"

// fedMetrics holds the federation counters and reads the gauges.
type fedMetrics struct {
	ex    func() *exchange.Service
	store store.Store
	now   func() time.Time

	deliveries, deliveryFailures *prometheus.CounterVec
	queriesSent, queriesFailed   *prometheus.CounterVec
	queriesIn                    *prometheus.CounterVec

	mu     sync.Mutex
	agency map[string]string // peer id → agency, refreshed on a miss and at each scrape

	outboxDepth, outboxAge, peerUp, peerLastSeen, auditEntries *prometheus.Desc
}

func newFedMetrics(reg prometheus.Registerer, st store.Store, ex func() *exchange.Service) *fedMetrics {
	peerCounter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, append([]string{"peer"}, labels...))
	}
	m := &fedMetrics{
		ex: ex, store: st, now: time.Now, agency: map[string]string{},
		deliveries:       peerCounter("cpx_deliveries_total", "Envelopes delivered to a peer (it returned a receipt)."),
		deliveryFailures: peerCounter("cpx_delivery_failures_total", "Delivery attempts to a peer that failed (unreachable or refused); the envelope is retried."),
		queriesSent:      peerCounter("cpx_tracing_queries_sent_total", "Federated tracing queries sent to a peer."),
		queriesFailed:    peerCounter("cpx_tracing_queries_failed_total", "Federated tracing queries sent to a peer that got no answer (unreachable or refused)."),
		queriesIn:        peerCounter("cpx_tracing_queries_received_total", "Federated tracing queries from a peer, by outcome: answered or refused.", "outcome"),
		outboxDepth: prometheus.NewDesc("cpx_outbox_envelopes", "Envelopes waiting in the outbox for a peer.",
			[]string{"peer"}, nil),
		outboxAge: prometheus.NewDesc("cpx_outbox_oldest_age_seconds", "Age of the oldest envelope waiting for a peer (0 when none waits).",
			[]string{"peer"}, nil),
		peerUp: prometheus.NewDesc("cpx_peer_up", "1 when the peer is connected or was reached at the last attempt, 0 when the last attempt failed or it was never reached.",
			[]string{"peer"}, nil),
		peerLastSeen: prometheus.NewDesc("cpx_peer_last_seen_timestamp_seconds", "When the peer last answered or called (Unix time; 0 never).",
			[]string{"peer"}, nil),
		auditEntries: prometheus.NewDesc("cpx_audit_entries", "Entries in the audit log.", nil, nil),
	}
	if reg != nil {
		reg.MustRegister(m.deliveries, m.deliveryFailures, m.queriesSent, m.queriesFailed, m.queriesIn, m)
	}
	return m
}

// Describe implements prometheus.Collector (the gauges read at scrape).
func (m *fedMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.outboxDepth, m.outboxAge, m.peerUp, m.peerLastSeen, m.auditEntries} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *fedMetrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var entries uint64
	if err := m.store.View(ctx, func(r store.Reader) error {
		var err error
		entries, _, err = audit.Head(r)
		return err
	}); err == nil {
		ch <- prometheus.MustNewConstMetric(m.auditEntries, prometheus.GaugeValue, float64(entries))
	}
	ex := m.ex()
	if ex == nil {
		return
	}
	peers, err := ex.Peers(ctx, metricsSubject)
	if err != nil {
		return
	}
	now := m.now()
	depth := make(map[string]int, len(peers))
	oldest := make(map[string]time.Time, len(peers))
	agency := make(map[string]string, len(peers))
	for _, p := range peers {
		agency[p.PeerID] = p.Agency
		depth[p.Agency] = 0
		up := 0.0
		if ex.Connected(p) || (p.LastError == "" && !p.LastSeen.IsZero()) {
			up = 1
		}
		seen := 0.0
		if !p.LastSeen.IsZero() {
			seen = float64(p.LastSeen.UnixMilli()) / 1000
		}
		ch <- prometheus.MustNewConstMetric(m.peerUp, prometheus.GaugeValue, up, p.Agency)
		ch <- prometheus.MustNewConstMetric(m.peerLastSeen, prometheus.GaugeValue, seen, p.Agency)
	}
	m.mu.Lock()
	m.agency = agency
	m.mu.Unlock()
	if outbox, err := ex.Outbox(ctx, metricsSubject); err == nil {
		for _, e := range outbox {
			depth[e.Peer]++
			if o, ok := oldest[e.Peer]; !ok || e.Created.Before(o) {
				oldest[e.Peer] = e.Created
			}
		}
		for peer, n := range depth {
			age := 0.0
			if o, ok := oldest[peer]; ok {
				age = max(0, now.Sub(o).Seconds())
			}
			ch <- prometheus.MustNewConstMetric(m.outboxDepth, prometheus.GaugeValue, float64(n), peer)
			ch <- prometheus.MustNewConstMetric(m.outboxAge, prometheus.GaugeValue, age, peer)
		}
	}
}

// agencyOf names the agency of a peer id, reading the peers again when it
// is not known yet (a peer added since the last scrape).
func (m *fedMetrics) agencyOf(peerID string) string {
	m.mu.Lock()
	a, ok := m.agency[peerID]
	m.mu.Unlock()
	if ok {
		return a
	}
	ex := m.ex()
	if ex == nil {
		return unknownPeer
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	peers, err := ex.Peers(ctx, metricsSubject)
	if err != nil {
		return unknownPeer
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range peers {
		m.agency[p.PeerID] = p.Agency
	}
	if a, ok := m.agency[peerID]; ok {
		return a
	}
	return unknownPeer
}

// transport counts deliveries and tracing queries sent through t.
func (m *fedMetrics) transport(t exchange.Transport) exchange.Transport {
	return &countingTransport{Transport: t, m: m}
}

type countingTransport struct {
	exchange.Transport
	m *fedMetrics
}

func (t *countingTransport) Deliver(ctx context.Context, peerID string, addrs []string, envelope []byte) ([]byte, error) {
	receipt, err := t.Transport.Deliver(ctx, peerID, addrs, envelope)
	if err != nil {
		t.m.deliveryFailures.WithLabelValues(t.m.agencyOf(peerID)).Inc()
	} else {
		t.m.deliveries.WithLabelValues(t.m.agencyOf(peerID)).Inc()
	}
	return receipt, err
}

var _ exchange.BatchTransport = (*countingTransport)(nil)

// DeliverBatch passes batches through (exchange.BatchTransport), counting
// each envelope as Deliver does; a transport without batches answers
// exchange.ErrBatchUnsupported.
func (t *countingTransport) DeliverBatch(ctx context.Context, peerID string, addrs []string, envelopes [][]byte) (exchange.BatchReply, error) {
	bt, ok := t.Transport.(exchange.BatchTransport)
	if !ok {
		return exchange.BatchReply{}, exchange.ErrBatchUnsupported
	}
	reply, err := bt.DeliverBatch(ctx, peerID, addrs, envelopes)
	if errors.Is(err, exchange.ErrBatchUnsupported) {
		return reply, err // nothing was delivered: they go one by one
	}
	agency := t.m.agencyOf(peerID)
	for i := range envelopes {
		if err != nil || i >= len(reply.Outcomes) || reply.Outcomes[i].Refused != nil {
			t.m.deliveryFailures.WithLabelValues(agency).Inc()
		} else {
			t.m.deliveries.WithLabelValues(agency).Inc()
		}
	}
	return reply, err
}

func (t *countingTransport) Query(ctx context.Context, peerID string, addrs []string, envelope []byte) ([]byte, error) {
	peer := t.m.agencyOf(peerID)
	t.m.queriesSent.WithLabelValues(peer).Inc()
	answer, err := t.Transport.Query(ctx, peerID, addrs, envelope)
	if err != nil {
		t.m.queriesFailed.WithLabelValues(peer).Inc()
	}
	return answer, err
}

var _ exchange.WitnessTransport = (*countingTransport)(nil)

// Witness passes audit checkpoints through (exchange.WitnessTransport).
func (t *countingTransport) Witness(ctx context.Context, peerID string, addrs []string, checkpoint []byte) ([]byte, error) {
	wt, ok := t.Transport.(exchange.WitnessTransport)
	if !ok {
		return nil, errors.New("the transport carries no checkpoints")
	}
	return wt.Witness(ctx, peerID, addrs, checkpoint)
}

// Checkpoints passes audit checkpoints through (exchange.WitnessTransport).
func (t *countingTransport) Checkpoints(ctx context.Context, peerID string, addrs []string, after uint64) ([]exchange.Witnessed, bool, error) {
	wt, ok := t.Transport.(exchange.WitnessTransport)
	if !ok {
		return nil, false, errors.New("the transport carries no checkpoints")
	}
	return wt.Checkpoints(ctx, peerID, addrs, after)
}

// peerInterceptor counts the tracing queries peers send this node, by
// whether they were answered.
func (m *fedMetrics) peerInterceptor() connect.Interceptor {
	return connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			resp, err := next(ctx, req)
			if req.Spec().Procedure == peerv1connect.PeerServiceQueryProcedure {
				outcome := "answered"
				if err != nil {
					outcome = "refused"
				}
				peer := unknownPeer
				if id := p2p.PeerID(ctx); id != "" {
					peer = m.agencyOf(id.String())
				}
				m.queriesIn.WithLabelValues(peer, outcome).Inc()
			}
			return resp, err
		}
	})
}

var _ exchange.Transport = (*countingTransport)(nil)
