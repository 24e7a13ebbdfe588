package p2p

import (
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// The transports a node uses: TCP and QUIC, nothing else (no relay, no
// WebRTC/WebTransport, no websockets).
var (
	tcpTransport  = tcp.NewTCPTransport
	quicTransport = quic.NewTransport
)
