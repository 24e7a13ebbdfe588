package conformance_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/libp2p/go-libp2p/core/peer"

	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
	peerv1 "github.com/cpx-node/cpx/protocol/gen/cpx/peer/v1"
)

// Flood limits: what one flood of floodFor may cost the node at most.
const (
	floodFor          = 2 * time.Second
	maxFloodRSSGrowth = 150 << 20 // bytes of resident memory
	maxFloodAudit     = 60        // audit entries
)

// TestFloodsStayBounded sends each flood for a fixed time and checks that
// the node's resident memory and its audit log grow by no more than the
// stated limits (no wall-clock assertion): refusals are summarised, sizes
// and rates are checked before any work.
func TestFloodsStayBounded(t *testing.T) {
	ctx := context.Background()
	dir := initNode(t, "agency-b")
	n := start(t, dir)
	fed, auditc, target := adminClients(t, n)
	nodePeer, err := peer.Decode(target.PeerId)
	if err != nil {
		t.Fatal(err)
	}
	a := newFakePeer(t, "agency-a")
	a.host.Gater().Allow(nodePeer)
	if _, err := fed.AddPeer(ctx, connect.NewRequest(&localv1.AddPeerRequest{Addr: a.host.Addrs()[0], Agency: "agency-a"})); err != nil {
		t.Fatal(err)
	}
	auditLen := func() int {
		tail, err := auditc.TailAudit(ctx, connect.NewRequest(&localv1.TailAuditRequest{N: 1 << 20}))
		if err != nil {
			t.Fatal(err)
		}
		return len(tail.Msg.Entries)
	}
	rss := func() int64 {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(n.cmd.Process.Pid) + "/status")
		if err != nil {
			t.Skip("no /proc: cannot measure RSS")
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				return kb << 10
			}
		}
		t.Fatal("no VmRSS")
		return 0
	}
	huge := make([]byte, 5<<20) // over the node's envelope limit, under the peer API's message limit
	floods := []struct {
		name string
		send func() error
	}{
		{"stranger handshakes", func() error {
			s := newFakePeer(t, "agency-x")
			_, err := s.client(t, target).Hello(ctx, connect.NewRequest(&peerv1.HelloRequest{}))
			return err
		}},
		{"broken envelopes", func() error {
			_, err := a.client(t, target).Deliver(ctx, connect.NewRequest(&peerv1.DeliverRequest{Envelope: []byte("not an envelope")}))
			return err
		}},
		{"large envelopes", func() error {
			_, err := a.client(t, target).Deliver(ctx, connect.NewRequest(&peerv1.DeliverRequest{Envelope: huge}))
			return err
		}},
		{"queries", func() error {
			_, err := a.client(t, target).Query(ctx, connect.NewRequest(&peerv1.QueryRequest{Envelope: []byte("not a query")}))
			return err
		}},
		{"hellos", func() error {
			_, err := a.client(t, target).Hello(ctx, connect.NewRequest(&peerv1.HelloRequest{Announcements: [][]byte{[]byte("junk")}}))
			return err
		}},
	}
	for _, f := range floods {
		t.Run(f.name, func(t *testing.T) {
			rssBefore, auditBefore := rss(), auditLen()
			sent, accepted := 0, 0
			for end := time.Now().Add(floodFor); time.Now().Before(end); sent++ {
				if f.send() == nil {
					accepted++
				}
			}
			grew, entries := rss()-rssBefore, auditLen()-auditBefore
			t.Logf("%d sent, %d accepted; RSS %+d MiB, %d audit entries", sent, accepted, grew>>20, entries)
			if accepted > 0 {
				t.Errorf("%d of the flood were accepted", accepted)
			}
			if grew > maxFloodRSSGrowth {
				t.Errorf("RSS grew by %d MiB, limit %d MiB", grew>>20, maxFloodRSSGrowth>>20)
			}
			if entries > maxFloodAudit {
				t.Errorf("the audit log grew by %d entries, limit %d", entries, maxFloodAudit)
			}
		})
	}
}
