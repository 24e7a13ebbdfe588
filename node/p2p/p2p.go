// Package p2p is the node's libp2p transport: a host listening on TCP and
// QUIC with a persistent identity, a connection gater that admits only the
// peers the node knows, and the peer API served and called with Connect over
// libp2p streams (libp2phttp, HTTP/1.1: unary and server-streaming calls).
// It reports each peer's signed announcement of its own addresses (libp2p
// identify and signed peer records, see OnAnnounce) and each new
// connection (OnConnected), so that the node follows a peer that moved.
//
// The remote peer id that handlers see (PeerID) comes from libp2p's
// authenticated secure channel, never from anything the peer sends.
package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2phttp "github.com/libp2p/go-libp2p/p2p/http"
	ma "github.com/multiformats/go-multiaddr"
)

// Protocol is the libp2phttp protocol id under which the peer API is served.
const Protocol = "/cpx/peer/1"

// DefaultListenAddrs are used when Config.ListenAddrs is empty.
var DefaultListenAddrs = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}

// Config configures a Host.
type Config struct {
	// Identity is the node's libp2p key (Ed25519); its peer id names the node.
	Identity crypto.PrivKey
	// ListenAddrs are multiaddrs to listen on (default DefaultListenAddrs).
	ListenAddrs []string
	// Logger (nil: discard).
	Logger *slog.Logger
}

// Host is a running libp2p host serving the peer API.
type Host struct {
	host  host.Host
	http  *libp2phttp.Host
	gater *Gater
	log   *slog.Logger
	wg    sync.WaitGroup
	mux   *http.ServeMux
	sub   event.Subscription

	hmu       sync.RWMutex
	announced func(Announcement)
	connected func(peer.ID)
}

// NewIdentity returns a fresh Ed25519 libp2p identity key.
func NewIdentity() (crypto.PrivKey, error) {
	k, _, err := crypto.GenerateEd25519Key(nil)
	return k, err
}

// New starts a libp2p host with an empty allow list.
func New(c Config) (*Host, error) {
	if c.Identity == nil {
		return nil, errors.New("p2p: no identity key")
	}
	addrs := c.ListenAddrs
	if len(addrs) == 0 {
		addrs = DefaultListenAddrs
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := NewGater()
	rm, cm, err := limits()
	if err != nil {
		return nil, fmt.Errorf("p2p: resource limits: %w", err)
	}
	h, err := libp2p.New(
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.Identity(c.Identity),
		libp2p.ListenAddrStrings(addrs...),
		libp2p.ConnectionGater(g),
		libp2p.DisableRelay(),
		libp2p.NoTransports,
		libp2p.Transport(tcpTransport),
		libp2p.Transport(quicTransport),
		libp2p.DefaultSecurity,
		libp2p.DefaultMuxers,
	)
	if err != nil {
		return nil, fmt.Errorf("p2p: starting libp2p: %w", err)
	}
	hh := &Host{host: h, gater: g, log: log, mux: http.NewServeMux()}
	hh.http = &libp2phttp.Host{StreamHost: h, ServeMux: hh.mux}
	if err := hh.watch(); err != nil {
		h.Close()
		return nil, fmt.Errorf("p2p: watching identify: %w", err)
	}
	hh.wg.Add(1)
	go func() {
		defer hh.wg.Done()
		if err := hh.http.Serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("peer API server stopped", "err", err)
		}
	}()
	// Serve registers the stream handler in its goroutine; a call that
	// came before it was refused ("protocols not supported: /http/1.1").
	// Addrs returns once Serve listens (or has failed).
	hh.http.Addrs()
	return hh, nil
}

// ID returns the node's peer id.
func (h *Host) ID() peer.ID { return h.host.ID() }

// Addrs returns the node's full listen multiaddrs (with /p2p/ID).
func (h *Host) Addrs() []string {
	var out []string
	for _, a := range h.host.Addrs() {
		out = append(out, a.String()+"/p2p/"+h.host.ID().String())
	}
	slices.Sort(out)
	return out
}

// Gater returns the host's connection gater, to allow and deny peers.
func (h *Host) Gater() *Gater { return h.gater }

// Connected reports whether a connection to p is open.
func (h *Host) Connected(p peer.ID) bool {
	return h.host.Network().Connectedness(p) == network.Connected
}

// Handle serves handler (a Connect handler's path and http.Handler) on the
// peer API. Handlers find the caller with PeerID(ctx).
func (h *Host) Handle(path string, handler http.Handler) {
	h.mux.Handle(Protocol+path, http.StripPrefix(Protocol, withPeerID(handler)))
	h.http.WellKnownHandler.AddProtocolMeta(Protocol, libp2phttp.ProtocolMeta{Path: Protocol + "/"})
}

type peerIDKey struct{}

func withPeerID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := libp2phttp.ClientPeerID(r)
		if id == "" {
			http.Error(w, "unauthenticated peer", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), peerIDKey{}, id)))
	})
}

// PeerID returns the authenticated peer id of the caller of a peer API
// handler ("" outside one).
func PeerID(ctx context.Context) peer.ID {
	id, _ := ctx.Value(peerIDKey{}).(peer.ID)
	return id
}

// BaseURL is the base URL to give Connect clients built on Client.
const BaseURL = "http://cpx-peer" + Protocol

// Client returns an HTTP client whose requests travel over a libp2p stream
// to the peer p, reusing an open connection or dialling every address in
// addrs (and any the peer announced on an earlier connection). Use it with
// BaseURL.
func (h *Host) Client(p peer.ID, addrs []ma.Multiaddr) (*http.Client, error) {
	h.gater.Allow(p)
	rt, err := h.http.NewConstrainedRoundTripper(peer.AddrInfo{ID: p, Addrs: addrs})
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: rt}, nil
}

// Close stops the host and waits for its goroutines.
func (h *Host) Close() error {
	err := errors.Join(h.http.Close(), h.host.Close())
	if h.sub != nil {
		h.sub.Close()
	}
	h.wg.Wait()
	return err
}

// Gater admits connections only from and to allowed peer ids. It
// implements libp2p's connmgr.ConnectionGater.
type Gater struct {
	mu      sync.RWMutex
	allowed map[peer.ID]bool
	refused func(peer.ID, ma.Multiaddr)
}

// NewGater returns a gater that allows nobody.
func NewGater() *Gater { return &Gater{allowed: map[peer.ID]bool{}} }

// Allow admits p.
func (g *Gater) Allow(p peer.ID) {
	g.mu.Lock()
	g.allowed[p] = true
	g.mu.Unlock()
}

// Deny stops admitting p (open connections are not closed here).
func (g *Gater) Deny(p peer.ID) {
	g.mu.Lock()
	delete(g.allowed, p)
	g.mu.Unlock()
}

// OnRefused sets a function called (without locks held) for every refused
// peer, with its remote address when it connected to us (nil when we
// dialled it), e.g. to audit it.
func (g *Gater) OnRefused(f func(p peer.ID, remote ma.Multiaddr)) {
	g.mu.Lock()
	g.refused = f
	g.mu.Unlock()
}

func (g *Gater) allows(p peer.ID, remote ma.Multiaddr) bool {
	g.mu.RLock()
	ok := g.allowed[p]
	f := g.refused
	g.mu.RUnlock()
	if !ok && f != nil {
		f(p, remote)
	}
	return ok
}

// InterceptPeerDial implements connmgr.ConnectionGater.
func (g *Gater) InterceptPeerDial(p peer.ID) bool { return g.allows(p, nil) }

// InterceptAddrDial implements connmgr.ConnectionGater.
func (g *Gater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return g.allows(p, nil) }

// InterceptAccept implements connmgr.ConnectionGater: the peer is not known
// yet, so the decision waits for InterceptSecured.
func (g *Gater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

// InterceptSecured implements connmgr.ConnectionGater.
func (g *Gater) InterceptSecured(dir network.Direction, p peer.ID, c network.ConnMultiaddrs) bool {
	var remote ma.Multiaddr
	if dir == network.DirInbound && c != nil {
		remote = c.RemoteMultiaddr()
	}
	return g.allows(p, remote)
}

// InterceptUpgraded implements connmgr.ConnectionGater.
func (g *Gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
