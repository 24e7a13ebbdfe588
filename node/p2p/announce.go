package p2p

import (
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// How peers learn where a node is now.
//
// Every libp2p connection runs identify: each side sends the other a
// signed peer record (its listen addresses, signed with its libp2p
// identity key, with an increasing sequence number). The host checks the
// record against the connection it came over and hands it to the function
// set with OnAnnounce, which stores the addresses. A node that restarts on
// a new address therefore only has to connect to its partners once (it
// greets them on start) for them to dial it at the new address from then
// on.

// MaxAnnouncedAddrs bounds the addresses kept from one announcement.
const MaxAnnouncedAddrs = 16

// ErrRecord is returned by VerifyRecord for a record that is refused.
var ErrRecord = errors.New("peer record refused")

// Announcement is what a peer said about its own addresses, checked.
type Announcement struct {
	// Peer is the peer the record is about, who signed it and who sent it.
	Peer peer.ID
	// Addrs are its addresses, without /p2p/ID, in the peer's order.
	Addrs []string
	// Seq is the record's sequence number; a newer record has a higher one.
	Seq uint64
}

// VerifyRecord checks raw, a libp2p signed peer record (a sealed
// record.Envelope), received from the authenticated peer from over a
// connection whose remote address is remote. It accepts only a record that
// from signed about itself: a record about another peer, or signed by a
// key other than from's, is refused, so nobody can announce addresses for
// someone else. Addresses that cannot serve the connection's side of the
// network are dropped as libp2p's identify does (loopback addresses from a
// peer that is not on loopback; non-public ones from a public peer).
func VerifyRecord(raw []byte, from peer.ID, remote ma.Multiaddr) (Announcement, error) {
	env, r, err := record.ConsumeEnvelope(raw, peer.PeerRecordEnvelopeDomain)
	if err != nil {
		return Announcement{}, fmt.Errorf("%w: %v", ErrRecord, err)
	}
	signer, err := peer.IDFromPublicKey(env.PublicKey)
	if err != nil {
		return Announcement{}, fmt.Errorf("%w: signing key: %v", ErrRecord, err)
	}
	rec, ok := r.(*peer.PeerRecord)
	if !ok {
		return Announcement{}, fmt.Errorf("%w: not a peer record", ErrRecord)
	}
	switch {
	case signer != from:
		return Announcement{}, fmt.Errorf("%w: signed by %s but sent by %s", ErrRecord, signer, from)
	case rec.PeerID != from:
		return Announcement{}, fmt.Errorf("%w: about %s but sent by %s", ErrRecord, rec.PeerID, from)
	}
	a := Announcement{Peer: from, Seq: rec.Seq}
	seen := map[string]bool{}
	for _, addr := range filterAddrs(rec.Addrs, remote) {
		addr, id := peer.SplitAddr(addr)
		if addr == nil || len(addr) == 0 || (id != "" && id != from) {
			continue
		}
		if _, err := addr.ValueForProtocol(ma.P_CIRCUIT); err == nil {
			continue // no relays
		}
		s := addr.String()
		if seen[s] {
			continue
		}
		seen[s] = true
		a.Addrs = append(a.Addrs, s)
		if len(a.Addrs) == MaxAnnouncedAddrs {
			break
		}
	}
	if len(a.Addrs) == 0 {
		return Announcement{}, fmt.Errorf("%w: no usable address", ErrRecord)
	}
	return a, nil
}

// filterAddrs keeps the addresses a peer at remote can be reached at from
// here, by the rule libp2p's identify applies.
func filterAddrs(addrs []ma.Multiaddr, remote ma.Multiaddr) []ma.Multiaddr {
	switch {
	case remote == nil, manet.IsIPLoopback(remote):
		return addrs
	case manet.IsPrivateAddr(remote):
		return ma.FilterAddrs(addrs, func(a ma.Multiaddr) bool { return !manet.IsIPLoopback(a) })
	case manet.IsPublicAddr(remote):
		return ma.FilterAddrs(addrs, manet.IsPublicAddr)
	}
	return addrs
}

// OnAnnounce sets f to be called with every peer's verified announcement
// of its addresses, once per connection identify completes. f runs on one
// goroutine, one call at a time.
func (h *Host) OnAnnounce(f func(Announcement)) {
	h.hmu.Lock()
	h.announced = f
	h.hmu.Unlock()
}

// OnConnected sets f to be called, in a goroutine of its own, when a
// connection to an allowed peer opens (in either direction).
func (h *Host) OnConnected(f func(peer.ID)) {
	h.hmu.Lock()
	h.connected = f
	h.hmu.Unlock()
}

// watch follows identify and connection events until the host closes.
func (h *Host) watch() error {
	sub, err := h.host.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted))
	if err != nil {
		return err
	}
	h.sub = sub
	h.host.Network().Notify(&network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		h.hmu.RLock()
		f := h.connected
		h.hmu.RUnlock()
		if f != nil {
			p := c.RemotePeer()
			go f(p)
		}
	}})
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for e := range sub.Out() {
			ev := e.(event.EvtPeerIdentificationCompleted)
			h.identified(ev)
		}
	}()
	return nil
}

func (h *Host) identified(ev event.EvtPeerIdentificationCompleted) {
	h.hmu.RLock()
	f := h.announced
	h.hmu.RUnlock()
	if f == nil {
		return
	}
	if ev.SignedPeerRecord == nil {
		// identify refused it, or the peer sent none: its unsigned listen
		// addresses are not taken.
		h.log.Debug("peer sent no signed peer record", "peer", ev.Peer)
		return
	}
	raw, err := ev.SignedPeerRecord.Marshal()
	if err != nil {
		h.log.Warn("peer record", "peer", ev.Peer, "err", err)
		return
	}
	var remote ma.Multiaddr
	if ev.Conn != nil {
		remote = ev.Conn.RemoteMultiaddr()
	}
	a, err := VerifyRecord(raw, ev.Peer, remote)
	if err != nil {
		h.log.Warn("refused a peer's address announcement", "peer", ev.Peer, "err", err)
		return
	}
	f(a)
}
