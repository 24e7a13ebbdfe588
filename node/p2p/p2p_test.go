package p2p_test

import (
	"context"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/cpx-node/cpx/node/p2p"
	peerv1 "github.com/cpx-node/cpx/protocol/gen/cpx/peer/v1"
	"github.com/cpx-node/cpx/protocol/gen/cpx/peer/v1/peerv1connect"
)

// echo answers Hello with the caller's authenticated peer id.
type echo struct {
	peerv1connect.UnimplementedPeerServiceHandler
}

func (echo) Hello(ctx context.Context, _ *connect.Request[peerv1.HelloRequest]) (*connect.Response[peerv1.HelloResponse], error) {
	return connect.NewResponse(&peerv1.HelloResponse{Announcements: [][]byte{[]byte(p2p.PeerID(ctx).String())}}), nil
}

func newHost(t *testing.T, listen ...string) *p2p.Host {
	t.Helper()
	id, err := p2p.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	h, err := p2p.New(p2p.Config{Identity: id, ListenAddrs: listen})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	h.Handle(peerv1connect.NewPeerServiceHandler(echo{}))
	return h
}

func addrs(t *testing.T, h *p2p.Host, transport string) []ma.Multiaddr {
	t.Helper()
	var out []ma.Multiaddr
	for _, s := range h.Addrs() {
		a := ma.StringCast(s)
		if _, err := a.ValueForProtocol(ma.ProtocolWithName(transport).Code); err == nil {
			a, _ = ma.SplitLast(a) // drop /p2p/ID
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no %s address in %v", transport, h.Addrs())
	}
	return out
}

func call(ctx context.Context, from, to *p2p.Host, a []ma.Multiaddr) (string, error) {
	hc, err := from.Client(to.ID(), a)
	if err != nil {
		return "", err
	}
	c := peerv1connect.NewPeerServiceClient(hc, p2p.BaseURL)
	resp, err := c.Hello(ctx, connect.NewRequest(&peerv1.HelloRequest{}))
	if err != nil {
		return "", err
	}
	return string(resp.Msg.Announcements[0]), nil
}

func TestConnectOverLibp2p(t *testing.T) {
	for _, transport := range []string{"tcp", "quic-v1"} {
		t.Run(transport, func(t *testing.T) {
			a, b := newHost(t), newHost(t)
			b.Gater().Allow(a.ID())
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			got, err := call(ctx, a, b, addrs(t, b, transport))
			if err != nil {
				t.Fatal(err)
			}
			if got != a.ID().String() {
				t.Errorf("server saw caller %q, want %q", got, a.ID())
			}
		})
	}
}

func TestGaterRefusesUnknownPeers(t *testing.T) {
	a, b := newHost(t), newHost(t)
	refused := make(chan peer.ID, 16)
	b.Gater().OnRefused(func(p peer.ID, _ ma.Multiaddr) { refused <- p })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := call(ctx, a, b, addrs(t, b, "tcp")); err == nil {
		t.Fatal("a peer that b does not know got through b's gater")
	}
	select {
	case p := <-refused:
		if p != a.ID() {
			t.Errorf("gater refused %s, want %s", p, a.ID())
		}
	default:
		t.Error("the refusal was not reported")
	}
	b.Gater().Allow(a.ID())
	if _, err := call(ctx, a, b, addrs(t, b, "tcp")); err != nil {
		t.Fatalf("after Allow: %v", err)
	}
}
