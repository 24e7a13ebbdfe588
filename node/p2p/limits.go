package p2p

import (
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
)

// Connection and stream limits, enforced by go-libp2p's resource manager
// before a connection or stream costs more than a handshake: a node has a
// handful of partners, so each gets a few connections and a bounded number
// of concurrent peer API calls, and strangers (refused at the gater after
// the handshake) cannot hold more than a few connections per address.
const (
	MaxConns           = 256 // all connections
	MaxConnsInbound    = 128
	MaxTransientConns  = 32 // connections not yet attached to a peer (handshakes)
	MaxConnsPerPeer    = 8
	MaxStreamsPerPeer  = 64 // concurrent streams (peer API calls) of one peer
	MaxConnsPerIP      = 8  // concurrent connections from one IPv4 address or IPv6 /56
	MaxMemoryPerPeer   = 128 << 20
	MaxMemory          = 1 << 30
	connLow, connHigh  = 64, 192 // the connection manager trims above connHigh down to connLow
	connGrace          = time.Minute
	peerProtocolID     = protocol.ID("/http/1.1") // libp2phttp's stream protocol
	maxProtocolStreams = 32                       // concurrent peer API streams of one peer
)

// limits returns the resource manager and the connection manager of a
// host.
func limits() (network.ResourceManager, *connmgr.BasicConnMgr, error) {
	partial := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			Conns: MaxConns, ConnsInbound: MaxConnsInbound, Memory: MaxMemory,
		},
		Transient: rcmgr.ResourceLimits{Conns: MaxTransientConns, ConnsInbound: MaxTransientConns},
		PeerDefault: rcmgr.ResourceLimits{
			Conns: MaxConnsPerPeer, ConnsInbound: MaxConnsPerPeer, Streams: MaxStreamsPerPeer,
			StreamsInbound: MaxStreamsPerPeer, Memory: MaxMemoryPerPeer,
		},
		ProtocolPeer: map[protocol.ID]rcmgr.ResourceLimits{
			peerProtocolID: {Streams: maxProtocolStreams, StreamsInbound: maxProtocolStreams},
		},
	}
	conf := partial.Build(rcmgr.DefaultLimits.AutoScale())
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(conf),
		rcmgr.WithLimitPerSubnet(
			[]rcmgr.ConnLimitPerSubnet{{PrefixLength: 32, ConnCount: MaxConnsPerIP}},
			[]rcmgr.ConnLimitPerSubnet{{PrefixLength: 56, ConnCount: MaxConnsPerIP}},
		))
	if err != nil {
		return nil, nil, err
	}
	cm, err := connmgr.NewConnManager(connLow, connHigh, connmgr.WithGracePeriod(connGrace))
	if err != nil {
		rm.Close()
		return nil, nil, err
	}
	return rm, cm, nil
}
