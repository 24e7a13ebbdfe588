package exchange

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cpx-node/cpx/crypto/agencykey"
	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// Peer is another agency's node that this node talks to.
type Peer struct {
	Agency string `json:"agency"`
	PeerID string `json:"peer_id"`
	// Addrs are the addresses an administrator gave (cpx peer add).
	Addrs   []string  `json:"addrs"`
	AddedAt time.Time `json:"added_at"`
	// Announced are the addresses the peer itself last announced, signed
	// (see PeerAnnounced); AnnouncedSeq is that announcement's sequence
	// number, AnnouncedAt when it came.
	Announced    []string  `json:"announced,omitempty"`
	AnnouncedSeq uint64    `json:"announced_seq,omitempty"`
	AnnouncedAt  time.Time `json:"announced_at,omitzero"`
	// LastSeen is the last time the peer answered or called.
	LastSeen time.Time `json:"last_seen,omitzero"`
	// Announcements are the peer's verified key announcements, oldest
	// first (canonical encoding).
	Announcements [][]byte `json:"announcements,omitempty"`
	// LastError is why the last attempt to reach the peer failed, at
	// LastErrorAt; both are cleared when it is reached.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

// DialAddrs returns every address the node dials the peer at: the ones
// the peer announced first (they are its own, newest word), then those an
// administrator gave, without repeats. Every one is tried.
func (p Peer) DialAddrs() []string {
	out := make([]string, 0, len(p.Announced)+len(p.Addrs))
	for _, a := range append(slices.Clone(p.Announced), p.Addrs...) {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// Reachability says how the last contact with a peer went.
type Reachability string

// The reachability of a peer.
const (
	Connected   Reachability = "connected"   // a connection is open now
	Reachable   Reachability = "reachable"   // the last contact succeeded
	Unreachable Reachability = "unreachable" // the last attempt failed (LastError)
	NeverSeen   Reachability = "never seen"  // no contact yet
)

// Reachability returns the peer's reachability; connected is whether a
// connection is open now (Service.Connected).
func (p Peer) Reachability(connected bool) Reachability {
	switch {
	case connected:
		return Connected
	case p.LastError != "" && !p.LastErrorAt.Before(p.LastSeen):
		return Unreachable
	case !p.LastSeen.IsZero():
		return Reachable
	case p.LastError != "":
		return Unreachable
	}
	return NeverSeen
}

// Keys returns the peer's announced public keys, oldest first.
func (p *Peer) Keys() []agencykey.Public {
	var out []agencykey.Public
	for _, b := range p.Announcements {
		if k, ok := announcedKey(b); ok {
			out = append(out, k)
		}
	}
	return out
}

// announcedKeys keeps the key of each announcement decoded lately, by its
// encoding: every send and receive looks its peer's keys up, the record
// is decoded again whenever it changes (when the peer was last seen,
// every second under load), and decoding an announcement (its X-Wing and
// ML-DSA-65 public keys) cost more than the rest of the lookup.
var announcedKeys struct {
	sync.Mutex
	keys map[string]agencykey.Public
}

// maxAnnouncedKeys bounds announcedKeys: a few keys per peer.
const maxAnnouncedKeys = 512

// announcedKey decodes the key of announcement b, once per encoding.
func announcedKey(b []byte) (agencykey.Public, bool) {
	announcedKeys.Lock()
	k, ok := announcedKeys.keys[string(b)]
	announcedKeys.Unlock()
	if ok {
		return k, true
	}
	a, err := agencykey.UnmarshalAnnouncement(b)
	if err != nil {
		return agencykey.Public{}, false
	}
	announcedKeys.Lock()
	defer announcedKeys.Unlock()
	if announcedKeys.keys == nil || len(announcedKeys.keys) >= maxAnnouncedKeys {
		announcedKeys.keys = map[string]agencykey.Public{}
	}
	announcedKeys.keys[string(b)] = a.Key
	return a.Key, true
}

// current returns the peer's newest key valid at now.
func (p *Peer) current(now time.Time) (agencykey.Public, bool) {
	keys := p.Keys()
	for i := len(keys) - 1; i >= 0; i-- {
		if !now.Before(keys[i].NotBefore) && now.Before(keys[i].NotAfter) {
			return keys[i], true
		}
	}
	return agencykey.Public{}, false
}

func (p *Peer) keyByFingerprint(fp string) (agencykey.Public, bool) {
	for _, k := range p.Keys() {
		if k.Fingerprint() == fp {
			return k, true
		}
	}
	return agencykey.Public{}, false
}

// ParsePeerAddr splits "/ip4/…/tcp/…/p2p/PEERID" into the address and the
// peer id.
func ParsePeerAddr(s string) (addr, peerID string, err error) {
	i := strings.LastIndex(s, "/p2p/")
	if i <= 0 || strings.Contains(s[i+5:], "/") || len(s[i+5:]) < 10 {
		return "", "", fmt.Errorf("%w: %q: want a multiaddr ending in /p2p/PEERID (see `cpx node id` on the peer)", ErrInvalid, s)
	}
	return s[:i], s[i+5:], nil
}

func (s *Service) listPeers(ctx context.Context) ([]Peer, error) {
	var out []Peer
	err := s.store.View(ctx, func(r store.Reader) error {
		return r.Scan(prefixPeer, store.ScanOptions{}, func(_, v []byte) error {
			var p Peer
			if err := unmarshal(v, &p); err != nil {
				return err
			}
			out = append(out, p)
			return nil
		})
	})
	return out, err
}

func (s *Service) peer(r store.Reader, agency string) (Peer, error) {
	k := key(prefixPeer, agency)
	b, err := r.Get(k)
	if errors.Is(err, store.ErrNotFound) {
		return Peer{}, fmt.Errorf("%w: agency %q is not a known peer (cpx peer add)", ErrNotFound, agency)
	}
	if err != nil {
		return Peer{}, err
	}
	if p, ok := s.peers.get(agency, b); ok {
		return p, nil
	}
	var p Peer
	if err := json.Unmarshal(b, &p); err != nil {
		return Peer{}, fmt.Errorf("corrupt record %q: %w", k, err)
	}
	s.peers.put(agency, b, p)
	return p, nil
}

// peerCache keeps the last decoded record of each peer with the stored
// bytes it came from: a lookup that reads the same bytes again (the
// store authenticated them) skips decoding. Every send and receive looks
// its peer up several times (keys for the ISP's signatures, the envelope's
// recipient key, addresses).
type peerCache struct {
	mu    sync.Mutex
	peers map[string]cachedPeer
	byID  map[string]string // node id → the agency peerByID last found for it
}

type cachedPeer struct {
	raw  []byte
	peer Peer
	keys *[sha256.Size]byte // keysDigest of peer, once computed
}

// peerKeys returns the digest of the public keys the peer agency
// announced (keysDigest), computed once per stored version of its record.
func (s *Service) peerKeys(r store.Reader, agency string) ([sha256.Size]byte, error) {
	b, err := r.Get(key(prefixPeer, agency))
	if errors.Is(err, store.ErrNotFound) {
		return [sha256.Size]byte{}, fmt.Errorf("%w: agency %q is not a known peer", ErrNotFound, agency)
	}
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	s.peers.mu.Lock()
	e, ok := s.peers.peers[agency]
	s.peers.mu.Unlock()
	if ok && e.keys != nil && bytes.Equal(e.raw, b) {
		return *e.keys, nil
	}
	p, err := s.peer(r, agency)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	d, err := keysDigest(p.Keys())
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	s.peers.mu.Lock()
	if e, ok := s.peers.peers[agency]; ok && bytes.Equal(e.raw, b) {
		e.keys = &d
		s.peers.peers[agency] = e
	}
	s.peers.mu.Unlock()
	return d, nil
}

// keysDigest is the SHA-256 of keys' canonical encodings, each preceded
// by its length.
func keysDigest(keys []agencykey.Public) ([sha256.Size]byte, error) {
	h := sha256.New()
	for _, k := range keys {
		b, err := k.MarshalBinary()
		if err != nil {
			return [sha256.Size]byte{}, err
		}
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	return [sha256.Size]byte(h.Sum(nil)), nil
}

func (c *peerCache) get(agency string, raw []byte) (Peer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.peers[agency]
	if !ok || !bytes.Equal(e.raw, raw) {
		return Peer{}, false
	}
	return e.peer.clone(), true
}

func (c *peerCache) put(agency string, raw []byte, p Peer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.peers == nil || len(c.peers) >= maxCachedPeers {
		c.peers = map[string]cachedPeer{}
	}
	c.peers[agency] = cachedPeer{raw: bytes.Clone(raw), peer: p.clone()}
}

const maxCachedPeers = 256

// clone copies p's slices, so that a caller changing them (appending,
// replacing an element) leaves the cached copy alone. The announcements'
// bytes are shared: nothing changes an announcement in place, and copying
// them (kilobytes each) on every lookup was a good part of a receive's
// allocations.
func (p Peer) clone() Peer {
	p.Addrs = slices.Clone(p.Addrs)
	p.Announced = slices.Clone(p.Announced)
	p.Announcements = slices.Clone(p.Announcements)
	return p
}

// peerByID returns the peer whose node is peerID. It looks first at the
// agency an earlier lookup found for peerID (a node id names one agency
// at most, see AddPeer) and reads that record alone; only when it no
// longer names peerID does it read every peer's record: a receive looks
// its caller up this way, and reading every record cost each receive a
// decryption per peer.
func (s *Service) peerByID(r store.Reader, peerID string) (Peer, bool, error) {
	s.peers.mu.Lock()
	agency, hinted := s.peers.byID[peerID]
	s.peers.mu.Unlock()
	if hinted {
		p, err := s.peer(r, agency)
		if err == nil && p.PeerID == peerID {
			return p, true, nil
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			return Peer{}, false, err
		}
	}
	var found Peer
	var foundAt string // its key's agency
	ok := false
	err := r.Scan(prefixPeer, store.ScanOptions{}, func(k, v []byte) error {
		agency := string(k[len(prefixPeer):])
		p, cached := s.peers.get(agency, v)
		if !cached {
			if err := unmarshal(v, &p); err != nil {
				return err
			}
			s.peers.put(agency, v, p)
		}
		if p.PeerID == peerID {
			found, foundAt, ok = p, agency, true
			return store.ErrStop
		}
		return nil
	})
	if ok && err == nil {
		s.peers.mu.Lock()
		if s.peers.byID == nil || len(s.peers.byID) >= maxCachedPeers {
			s.peers.byID = map[string]string{}
		}
		s.peers.byID[peerID] = foundAt
		s.peers.mu.Unlock()
	}
	return found, ok, err
}

// AddPeer registers the node at addr (ending in /p2p/PEERID) as agency's,
// lets it through the gater and tries to exchange keys with it.
func (s *Service) AddPeer(ctx context.Context, sub policy.Subject, addr, agency string) (Peer, error) {
	if err := s.authorize(ctx, sub, policy.ResourcePeer, policy.ActionCreate, "peer.add", "agency/"+agency); err != nil {
		return Peer{}, err
	}
	if !agencykey.ValidAgency(agency) || agency == s.agency {
		return Peer{}, fmt.Errorf("%w: agency id %q", ErrInvalid, agency)
	}
	a, id, err := ParsePeerAddr(addr)
	if err != nil {
		return Peer{}, err
	}
	now := s.now().UTC()
	p := Peer{Agency: agency, PeerID: id, Addrs: []string{a}, AddedAt: now}
	err = s.store.Update(ctx, func(w store.Writer) error {
		if old, err := s.peer(w, agency); err == nil {
			p.AddedAt = old.AddedAt
			if old.PeerID == id {
				p.Announcements, p.LastSeen = old.Announcements, old.LastSeen
				p.Announced, p.AnnouncedSeq, p.AnnouncedAt = old.Announced, old.AnnouncedSeq, old.AnnouncedAt
			}
		}
		if other, ok, err := s.peerByID(w, id); err != nil {
			return err
		} else if ok && other.Agency != agency {
			return fmt.Errorf("%w: peer %s is already registered as agency %q", ErrInvalid, id, other.Agency)
		}
		if err := putJSON(w, key(prefixPeer, agency), p); err != nil {
			return err
		}
		_, err := audit.Append(w, now, audit.Event{Actor: sub.User, Action: "peer.add", Object: "agency/" + agency, Details: map[string]string{"peer": id, "addr": a}})
		return err
	})
	if err != nil {
		return Peer{}, err
	}
	if err := s.transport.Allow(id); err != nil {
		return Peer{}, err
	}
	if err := s.Greet(ctx, agency); err != nil {
		s.log.Info("peer not reachable yet", "agency", agency, "err", err)
	}
	return s.getPeer(ctx, agency)
}

func (s *Service) getPeer(ctx context.Context, agency string) (Peer, error) {
	var p Peer
	err := s.store.View(ctx, func(r store.Reader) error {
		var err error
		p, err = s.peer(r, agency)
		return err
	})
	return p, err
}

// Peers lists the known peers.
func (s *Service) Peers(ctx context.Context, sub policy.Subject) ([]Peer, error) {
	if err := s.authorize(ctx, sub, policy.ResourcePeer, policy.ActionList, "peer.list", "peer"); err != nil {
		return nil, err
	}
	return s.listPeers(ctx)
}

// Connected reports whether the peer has an open connection.
func (s *Service) Connected(p Peer) bool { return s.transport.Connected(p.PeerID) }

// RemovePeer forgets a peer and closes the gater to it.
func (s *Service) RemovePeer(ctx context.Context, sub policy.Subject, agency string) error {
	if err := s.authorize(ctx, sub, policy.ResourcePeer, policy.ActionDelete, "peer.remove", "agency/"+agency); err != nil {
		return err
	}
	var p Peer
	err := s.store.Update(ctx, func(w store.Writer) error {
		var err error
		if p, err = s.peer(w, agency); err != nil {
			return err
		}
		if err := w.Delete(key(prefixPeer, agency)); err != nil {
			return err
		}
		_, err = audit.Append(w, s.now(), audit.Event{Actor: sub.User, Action: "peer.remove", Object: "agency/" + agency})
		return err
	})
	if err != nil {
		return err
	}
	return s.transport.Deny(p.PeerID)
}

// Greet exchanges key announcements with a peer.
func (s *Service) Greet(ctx context.Context, agency string) error {
	p, err := s.getPeer(ctx, agency)
	if err != nil {
		return err
	}
	mine, err := s.announcements()
	if err != nil {
		return err
	}
	theirs, err := s.transport.Hello(ctx, p.PeerID, p.DialAddrs(), mine)
	if err != nil {
		s.notePeerError(ctx, agency, err)
		return err
	}
	return s.learn(ctx, p.PeerID, theirs)
}

// learn verifies a peer's announcements and stores them. A peer whose
// announcements name another agency or another node, or a key that its
// current keys do not certify, is refused.
func (s *Service) learn(ctx context.Context, peerID string, announcements [][]byte) error {
	now := s.now().UTC()
	return s.store.Update(ctx, func(w store.Writer) error {
		p, ok, err := s.peerByID(w, peerID)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: unknown peer %s", ErrDenied, peerID)
		}
		if len(announcements) > MaxHelloAnnouncements {
			return fmt.Errorf("%w: %s sent %d key announcements, at most %d", ErrRefused, p.Agency, len(announcements), MaxHelloAnnouncements)
		}
		kept, err := continuity(p, peerID, announcements, now)
		if err != nil {
			return err
		}
		if latestVersion(p.Announcements) > latestVersion(kept) {
			// A Hello that left before the peer's rotation reached us: key
			// versions only move forward, so keep what we know.
			kept = p.Announcements
		}
		p.Announcements, p.LastSeen, p.LastError, p.LastErrorAt = kept, now, "", time.Time{}
		if err := putJSON(w, key(prefixPeer, p.Agency), p); err != nil {
			return err
		}
		_, err = audit.Append(w, now, audit.Event{Actor: "peer:" + p.Agency, Action: "peer.keys", Object: "agency/" + p.Agency, Details: len(kept)})
		return err
	})
}

func (s *Service) notePeerError(ctx context.Context, agency string, cause error) {
	_ = s.store.Update(ctx, func(w store.Writer) error {
		p, err := s.peer(w, agency)
		if err != nil {
			return err
		}
		p.LastError, p.LastErrorAt = cause.Error(), s.now().UTC()
		return putJSON(w, key(prefixPeer, agency), p)
	})
}

// latestVersion is the highest key version among stored announcements (0
// if none parses).
func latestVersion(announcements [][]byte) uint32 {
	var v uint32
	for _, b := range announcements {
		if a, err := agencykey.UnmarshalAnnouncement(b); err == nil && a.Key.Version > v {
			v = a.Key.Version
		}
	}
	return v
}

// ErrKeyContinuity is a peer's key that none of the keys this node knows
// for it certifies (a signed rotation statement): its identity changed,
// or someone pretends so. Only an operator who checked the new
// fingerprint out of band takes it (RekeyPeer).
var ErrKeyContinuity = errors.New("key not certified by the peer's current key")

// continuity verifies a peer's announcements against what this node knows
// of it and returns the ones to keep. On first contact (no stored key)
// the chain is taken as it is: the peer was added by an administrator, by
// its peer id. After that, every key not known yet must be a rotation of
// a key that is (its PrevSig by the previous announcement, itself known
// or certified), with a higher version than any known key.
func continuity(p Peer, peerID string, announcements [][]byte, now time.Time) ([][]byte, error) {
	known := map[string]bool{}
	for _, k := range p.Keys() {
		known[k.Fingerprint()] = true
	}
	first := len(known) == 0
	latest := latestVersion(p.Announcements)
	var prev *agencykey.Public
	prevTrusted := false
	var kept [][]byte
	for _, b := range announcements {
		a, err := agencykey.UnmarshalAnnouncement(b)
		if err != nil {
			return nil, fmt.Errorf("%w: announcement from %s: %v", ErrRefused, p.Agency, err)
		}
		if a.Key.Agency != p.Agency || a.PeerID != peerID {
			return nil, fmt.Errorf("%w: node %s is registered for agency %q but announces keys of %q at node %s", ErrRefused, peerID, p.Agency, a.Key.Agency, a.PeerID)
		}
		fp := a.Key.Fingerprint()
		var verr error
		switch {
		case first || known[fp]:
			verr = a.Verify(now, prev)
		case prev == nil || !prevTrusted:
			return nil, fmt.Errorf("%w: %s announced key v%d %s without a signature by a key this node knows for it (cpx peer rekey after checking the fingerprint)", ErrKeyContinuity, p.Agency, a.Key.Version, fp)
		case a.Key.Version <= latest:
			return nil, fmt.Errorf("%w: %s announced a new key v%d, not above v%d", ErrKeyContinuity, p.Agency, a.Key.Version, latest)
		default:
			verr = a.Verify(now, prev)
			if verr != nil && errors.Is(verr, agencykey.ErrRotation) {
				return nil, fmt.Errorf("%w: %s key v%d: %v", ErrKeyContinuity, p.Agency, a.Key.Version, verr)
			}
		}
		if verr != nil && !errors.Is(verr, agencykey.ErrNotValid) {
			return nil, fmt.Errorf("%w: announcement from %s: %v", ErrRefused, p.Agency, verr)
		}
		kept = append(kept, b)
		k := a.Key
		prev, prevTrusted = &k, true
	}
	if len(kept) == 0 {
		return nil, fmt.Errorf("%w: %s announced no keys", ErrRefused, p.Agency)
	}
	return kept, nil
}

// RekeyPeer takes a peer's keys afresh, for an identity change its
// current keys do not certify: it greets the peer and stores what it
// announces only if its newest key has fingerprint fp, which an operator
// checked out of band. Audited either way.
func (s *Service) RekeyPeer(ctx context.Context, sub policy.Subject, agency, fp string) (Peer, error) {
	if err := s.authorize(ctx, sub, policy.ResourcePeer, policy.ActionCreate, "peer.rekey", "agency/"+agency); err != nil {
		return Peer{}, err
	}
	want, err := agencykey.ParseFingerprint(fp)
	if err != nil {
		return Peer{}, fmt.Errorf("%w: fingerprint: %v", ErrInvalid, err)
	}
	p, err := s.getPeer(ctx, agency)
	if err != nil {
		return Peer{}, err
	}
	mine, err := s.announcements()
	if err != nil {
		return Peer{}, err
	}
	now := s.now().UTC()
	fail := func(err error) (Peer, error) {
		_ = audit.Record(ctx, s.store, now, audit.Event{Actor: sub.User, Action: "peer.rekey", Object: "agency/" + agency, Outcome: audit.Failed, Details: err.Error()})
		return Peer{}, err
	}
	theirs, err := s.transport.Hello(ctx, p.PeerID, p.DialAddrs(), mine)
	if err != nil {
		return fail(fmt.Errorf("reaching %s: %w", agency, err))
	}
	fresh := p
	fresh.Announcements = nil // first contact again
	kept, err := continuity(fresh, p.PeerID, theirs, now)
	if err != nil {
		return fail(err)
	}
	newest, err := agencykey.UnmarshalAnnouncement(kept[len(kept)-1])
	if err != nil {
		return fail(err)
	}
	if got := newest.Key.Fingerprint(); got != want {
		return fail(fmt.Errorf("%w: %s's newest key is %s, not %s: nothing changed", ErrRefused, agency, got, want))
	}
	err = s.store.Update(ctx, func(w store.Writer) error {
		cur, err := s.peer(w, agency)
		if err != nil {
			return err
		}
		old := cur.Keys()
		cur.Announcements, cur.LastSeen, cur.LastError, cur.LastErrorAt = kept, now, "", time.Time{}
		if err := putJSON(w, key(prefixPeer, agency), cur); err != nil {
			return err
		}
		var oldFP []string
		for _, k := range old {
			oldFP = append(oldFP, k.Fingerprint())
		}
		_, err = audit.Append(w, now, audit.Event{Actor: sub.User, Action: "peer.rekey", Object: "agency/" + agency,
			Details: map[string]any{"fingerprint": want, "version": newest.Key.Version, "previous": oldFP}})
		return err
	})
	if err != nil {
		return Peer{}, err
	}
	return s.getPeer(ctx, agency)
}
