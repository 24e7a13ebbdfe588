package daemon_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/cpx-node/cpx/node/p2p"
	"github.com/cpx-node/cpx/node/store"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
	"github.com/cpx-node/cpx/protocol/gen/cpx/local/v1/localv1connect"
	peerv1 "github.com/cpx-node/cpx/protocol/gen/cpx/peer/v1"
)

// benchISP lets agency-a refer to each of three partners.
const benchISP = `format = "cpx-isp/1"
id = "bench-isp"
version = 1
title = "Benchmark ISP"
valid_from = 2026-01-01T00:00:00Z
valid_until = 2030-01-01T00:00:00Z

[[party]]
agency = "agency-a"
name = "A"
signing_key = "%s"

[[party]]
agency = "agency-b"
name = "B"
signing_key = "%s"

[[party]]
agency = "agency-c"
name = "C"
signing_key = "%s"

[[party]]
agency = "agency-d"
name = "D"
signing_key = "%s"

[[purpose]]
name = "referral"
from = ["agency-a"]
to = ["agency-b", "agency-c", "agency-d"]
required_consent = ["consent_for_services", "disclosure_other_orgs"]
forms = ["registration"]
withheld = ["name_other", "telephone_current"]
retention_days = 90
`

// benchSenders is how many users' calls send referrals at the same time.
const benchSenders = 8

// BenchmarkExchange measures referrals end to end between in-process nodes
// with real Badger and real libp2p on 127.0.0.1: the local API call (policy
// check, seal, sign, outbox), delivery, the receiver's checks (verify,
// open, store) and the receipt recorded by the sender. b.N is the number
// of referrals (or echo calls, or commits) per sub-benchmark; run it with
// a fixed count:
//
//	go test -run '^$' -bench BenchmarkExchange -benchtime 800x ./node/daemon/
//
// echo is the baseline, in the same run: a raw Connect-over-libp2p unary
// call carrying a referral envelope's bytes and returning them, with one
// call in flight and with eight. commit is one small synced write
// transaction of the sender's store at a time: a referral's latency holds
// two, one after the other (its send, with the audit of the case read;
// the receiver's), and the receipt's record is a third.
//
// referral/to=1 sends to one partner from eight callers at once;
// referral/to=1/alone one at a time, each after the last was delivered,
// for the latency of a referral that waits behind no other;
// referral/to=1/callers=1 from one caller without pauses (each send then
// overlaps the delivery of the one before); referral/to=1/callers=32 from
// 32, for how far the store's group commit carries.
// referral/to=1/backlog queues b.N referrals while the partner is
// stopped and measures how fast they drain once it starts again (from
// its restart to the last receipt). referral/to=2 sends to two partners,
// and referral/to=2+stalled to the same two while a third partner has
// envelopes waiting and accepts TCP connections but never answers; each
// of these two runs on four new nodes of its own, so that they compare
// (unstalled-ratio is the stalled run's throughput over the other's).
// Latency is from the send call to the sender's audit entry of the
// receipt (stamped when the receipt arrived).
func BenchmarkExchange(b *testing.B) {
	net := newBenchNet(b)
	env := envelopeBytes(b, net.a, net.d, net.cases[0])

	for _, inflight := range []int{1, benchSenders} {
		b.Run(fmt.Sprintf("echo/inflight=%d", inflight), func(b *testing.B) {
			benchEcho(b, env, inflight)
		})
	}
	b.Run("commit", func(b *testing.B) {
		benchCommit(b, net.a)
	})
	b.Run("referral/to=1/alone", func(b *testing.B) {
		benchReferrals(b, net.a, net.cases, 1, []string{"agency-b"}, aloneGap)
	})
	b.Run("referral/to=1/callers=1", func(b *testing.B) {
		benchReferrals(b, net.a, net.cases, 1, []string{"agency-b"}, 0)
	})
	b.Run("referral/to=1", func(b *testing.B) {
		benchReferrals(b, net.a, net.cases, benchSenders, []string{"agency-b"}, 0)
	})
	b.Run("referral/to=1/callers=32", func(b *testing.B) {
		benchReferrals(b, net.a, net.cases, 32, []string{"agency-b"}, 0)
	})
	b.Run("referral/to=1/backlog", func(b *testing.B) {
		benchBacklog(b, net.a, net.b, net.cases)
	})
	net.stop()
	two := newBenchNet(b)
	var unstalled float64
	b.Run("referral/to=2", func(b *testing.B) {
		unstalled = benchReferrals(b, two.a, two.cases, benchSenders, []string{"agency-b", "agency-c"}, 0)
	})
	two.stop()
	stalled := newBenchNet(b)
	stallNode(b, stalled.d)
	for _, id := range stalled.cases[:4] {
		send(b, stalled.a, id, "agency-d")
	}
	b.Run("referral/to=2+stalled", func(b *testing.B) {
		got := benchReferrals(b, stalled.a, stalled.cases, benchSenders, []string{"agency-b", "agency-c"}, 0)
		if unstalled > 0 {
			b.ReportMetric(got/unstalled, "unstalled-ratio")
		}
	})
}

// benchNet is agency-a and its three partners, under benchISP, with a
// consenting case per caller at agency-a.
type benchNet struct {
	a, b, c, d *node
	cases      []string
}

func newBenchNet(b testing.TB) *benchNet {
	b.Helper()
	n := &benchNet{a: newNode(b, "agency-a"), b: newNode(b, "agency-b"), c: newNode(b, "agency-c"), d: newNode(b, "agency-d")}
	connectAll(b, n.a, n.b, n.c, n.d)
	applyISPDoc(b, benchISP, n.a, n.b, n.c, n.d)
	for range benchSenders {
		n.cases = append(n.cases, createCase(b, n.a, consenting).Id)
	}
	return n
}

// stop stops the four nodes (their directories go at the end).
func (n *benchNet) stop() {
	for _, x := range []*node{n.a, n.b, n.c, n.d} {
		x.stop()
	}
}

// benchCommit makes b.N small synced write transactions on n's store, one
// at a time.
func benchCommit(b *testing.B, n *node) {
	ctx := context.Background()
	v := make([]byte, 512)
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		if err := n.nd.Store().Update(ctx, func(w store.Writer) error {
			return w.Set([]byte(fmt.Sprintf("bench/%d", i)), v)
		}); err != nil {
			b.Fatal(err)
		}
		lat[i] = time.Since(t0)
	}
	b.StopTimer()
	reportLatency(b, lat)
}

// envelopeBytes returns a referral envelope as a sends it to d: with d
// stopped it stays in a's outbox, where it is read; d is then started
// again and the envelope delivered.
func envelopeBytes(b *testing.B, a, d *node, caseID string) []byte {
	b.Helper()
	d.stop()
	send(b, a, caseID, d.agency)
	var env []byte
	if err := a.nd.Store().View(context.Background(), func(r store.Reader) error {
		return r.Scan([]byte("x/e/"), store.ScanOptions{}, func(_, v []byte) error {
			env = slices.Clone(v)
			return nil
		})
	}); err != nil || env == nil {
		b.Fatalf("reading the envelope from the outbox: %v (%d bytes)", err, len(env))
	}
	d.start(b)
	waitForOutbox(b, a, []string{d.agency})
	return env
}

func send(b *testing.B, a *node, caseID, to string) string {
	b.Helper()
	resp, err := a.worker.fed.Send(context.Background(), connect.NewRequest(&localv1.SendRequest{Kind: "referral", CaseId: caseID, To: to, Service: "psychosocial", Note: "benchmark"}))
	if err != nil {
		b.Fatal(err)
	}
	return resp.Msg.Exchange.Id
}

// stallNode stops n and listens at its address with a socket that accepts
// connections and never answers.
func stallNode(b *testing.B, n *node) {
	b.Helper()
	n.stop()
	addr := strings.Split(n.cfg.P2P.Listen[0], "/") // /ip4/127.0.0.1/tcp/PORT
	l, err := net.Listen("tcp", addr[2]+":"+addr[4])
	if err != nil {
		b.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	b.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
}

// waitForOutbox waits until a's outbox holds nothing for the agencies.
func waitForOutbox(b *testing.B, a *node, agencies []string) {
	b.Helper()
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		resp, err := a.admin.fed.Outbox(context.Background(), connect.NewRequest(&localv1.OutboxRequest{}))
		if err != nil {
			b.Fatal(err)
		}
		if !slices.ContainsFunc(resp.Msg.Entries, func(e *localv1.OutboxEntry) bool { return slices.Contains(agencies, e.Peer) }) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Fatalf("the outbox still holds envelopes for %v", agencies)
}

// aloneGap is the pause after each referral of referral/to=1/alone: long
// enough for its delivery to end before the next is sent (a lone
// referral takes a few milliseconds), so that none waits behind another.
const aloneGap = 25 * time.Millisecond

// benchReferrals sends b.N referrals from callers callers at once (the
// w-th referring cases[w%len(cases)]), the i-th to to[i%len(to)], each
// caller pausing gap after each of its calls, and reports (and returns)
// the throughput from the first call to the last receipt, and the latency
// of each referral.
func benchReferrals(b *testing.B, a *node, cases []string, callers int, to []string, gap time.Duration) float64 {
	ctx := context.Background()
	var mu sync.Mutex
	started := map[string]time.Time{}
	next := make(chan int)
	var wg sync.WaitGroup
	b.ResetTimer()
	first := time.Now()
	for w := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t0 := time.Now()
				resp, err := a.worker.fed.Send(ctx, connect.NewRequest(&localv1.SendRequest{Kind: "referral", CaseId: cases[w%len(cases)], To: to[i%len(to)], Service: "psychosocial", Note: "benchmark"}))
				if err != nil {
					b.Error(err)
					continue
				}
				mu.Lock()
				started[resp.Msg.Exchange.Id] = t0
				mu.Unlock()
				time.Sleep(gap)
			}
		}()
	}
	for i := range b.N {
		next <- i
	}
	close(next)
	wg.Wait()
	sent := time.Since(first)
	waitForOutbox(b, a, to)
	b.StopTimer()

	var lat []time.Duration
	var last time.Time
	for id, at := range deliveredAt(b, a, b.N) {
		t0, ok := started[id]
		if !ok {
			continue
		}
		lat = append(lat, at.Sub(t0))
		if at.After(last) {
			last = at
		}
	}
	if len(lat) == 0 {
		b.Fatal("no receipt found in the audit log")
	}
	thr := float64(b.N) / last.Sub(first).Seconds()
	b.ReportMetric(thr, "referrals/s")
	b.ReportMetric(float64(b.N)/sent.Seconds(), "sent/s")
	reportLatency(b, lat)
	return thr
}

// deliveredAt returns when the receipt of each of a's last n or so
// exchanges arrived (its envelope.delivered audit entry), by exchange id.
func deliveredAt(b *testing.B, a *node, n int) map[string]time.Time {
	b.Helper()
	auditA := localv1connect.NewAuditServiceClient(&http.Client{Transport: a.adminToken}, a.url)
	tail, err := auditA.TailAudit(context.Background(), connect.NewRequest(&localv1.TailAuditRequest{N: int32(min(10000, 4*n+100))}))
	if err != nil {
		b.Fatal(err)
	}
	at := map[string]time.Time{}
	for _, e := range tail.Msg.Entries {
		if e.Action == "envelope.delivered" {
			at[strings.TrimPrefix(e.Object, "exchange/")] = e.Time.AsTime()
		}
	}
	return at
}

// benchBacklog queues b.N referrals from a to partner while partner is
// stopped, starts partner again, and reports how fast the backlog drains:
// from the start of partner's restart to the last receipt's arrival.
func benchBacklog(b *testing.B, a, partner *node, cases []string) {
	b.StopTimer()
	partner.stop()
	queued := make([]string, b.N)
	for i := range b.N {
		queued[i] = send(b, a, cases[i%len(cases)], partner.agency)
	}
	b.StartTimer()
	restart := time.Now()
	partner.start(b)
	waitForOutbox(b, a, []string{partner.agency})
	b.StopTimer()
	at := deliveredAt(b, a, b.N)
	var last time.Time
	for _, id := range queued {
		t, ok := at[id]
		if !ok {
			b.Fatalf("no receipt for exchange %s in the audit log", id)
		}
		if t.After(last) {
			last = t
		}
	}
	b.ReportMetric(float64(b.N)/last.Sub(restart).Seconds(), "referrals/s")
	b.ReportMetric(float64(last.Sub(restart))/float64(time.Millisecond), "drained-ms")
}

func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
}

// benchEcho calls a Connect echo over libp2p b.N times with inflight calls
// at a time, each carrying env and getting it back.
func benchEcho(b *testing.B, env []byte, inflight int) {
	const procedure = "/cpx.bench.v1.Echo/Echo"
	host := func() *p2p.Host {
		id, err := p2p.NewIdentity()
		if err != nil {
			b.Fatal(err)
		}
		h, err := p2p.New(p2p.Config{Identity: id, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { h.Close() })
		return h
	}
	srv, cli := host(), host()
	srv.Gater().Allow(cli.ID())
	srv.Handle(procedure, connect.NewUnaryHandler(procedure, func(_ context.Context, r *connect.Request[peerv1.DeliverRequest]) (*connect.Response[peerv1.DeliverResponse], error) {
		return connect.NewResponse(&peerv1.DeliverResponse{Receipt: r.Msg.Envelope}), nil
	}))
	var addrs []ma.Multiaddr
	for _, s := range srv.Addrs() {
		addrs = append(addrs, ma.StringCast(strings.Split(s, "/p2p/")[0]))
	}
	hc, err := cli.Client(srv.ID(), addrs)
	if err != nil {
		b.Fatal(err)
	}
	c := connect.NewClient[peerv1.DeliverRequest, peerv1.DeliverResponse](hc, p2p.BaseURL+procedure)
	ctx := context.Background()
	if _, err := c.CallUnary(ctx, connect.NewRequest(&peerv1.DeliverRequest{Envelope: env})); err != nil {
		b.Fatal(err) // connect before the clock runs
	}
	lat := make([]time.Duration, b.N)
	next := make(chan int)
	var wg sync.WaitGroup
	b.SetBytes(int64(len(env)))
	b.ResetTimer()
	first := time.Now()
	for range inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t0 := time.Now()
				resp, err := c.CallUnary(ctx, connect.NewRequest(&peerv1.DeliverRequest{Envelope: env}))
				if err != nil || len(resp.Msg.Receipt) != len(env) {
					b.Errorf("echo: %v", err)
					continue
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	for i := range b.N {
		next <- i
	}
	close(next)
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(first).Seconds(), "calls/s")
	reportLatency(b, lat)
}
