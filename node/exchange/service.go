package exchange

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cpx-node/cpx/crypto/agencykey"
	"github.com/cpx-node/cpx/crypto/keyring"
	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/forms"
	"github.com/cpx-node/cpx/node/rowseal"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// Transport reaches other nodes. The p2p package implements it over libp2p.
type Transport interface {
	// Allow lets the peer through the connection gater; Deny stops it.
	Allow(peerID string) error
	Deny(peerID string) error
	// Hello sends our announcements and returns the peer's.
	Hello(ctx context.Context, peerID string, addrs []string, announcements [][]byte) ([][]byte, error)
	// Deliver sends one envelope and returns the peer's signed receipt.
	Deliver(ctx context.Context, peerID string, addrs []string, envelope []byte) ([]byte, error)
	// Connected reports whether a connection to the peer is open.
	Connected(peerID string) bool
	// Query sends a sealed question and returns the sealed answer.
	Query(ctx context.Context, peerID string, addrs []string, envelope []byte) ([]byte, error)
}

// Options configure a Service.
type Options struct {
	Store   store.Store
	Keyring keyring.Keyring
	Cases   *casework.Service
	Forms   *forms.Config
	Agency  string
	// PeerID is this node's libp2p peer id (text form).
	PeerID    string
	Transport Transport
	Logger    *slog.Logger
	Now       func() time.Time
	// EnvelopeTTL is how long an envelope stays valid (default 14 days);
	// the deliverer retries until then.
	EnvelopeTTL time.Duration
	// KeyValidity is how long a new agency key is valid (default 2 years).
	KeyValidity time.Duration
	// IntakeGroup is the group incoming exchanges belong to (default
	// DefaultIntakeGroup).
	IntakeGroup string
	// MaxEnvelopeLifetime is the longest validity (Expires - Created) of
	// an envelope this node accepts (default DefaultMaxEnvelopeLifetime).
	MaxEnvelopeLifetime time.Duration
	// KeyGrace is how long an own superseded key still opens envelopes
	// newly sealed to it (default DefaultKeyGrace).
	KeyGrace time.Duration
	// MaxEnvelopeBytes bounds an envelope a peer delivers (default
	// DefaultMaxEnvelopeBytes).
	MaxEnvelopeBytes int
	// DeliveryRate and DeliveryBurst bound the envelopes one peer may
	// deliver per second (defaults DefaultDeliveryRate and -Burst).
	DeliveryRate, DeliveryBurst float64
}

// Service is the node's exchange with other agencies.
type Service struct {
	store     store.Store
	kr        keyring.Keyring
	cases     *casework.Service
	forms     *forms.Config
	agency    string
	peerID    string
	transport Transport
	log       *slog.Logger
	now       func() time.Time
	ttl       time.Duration
	intake    string
	// maxLifetime and keyGrace: see Options.
	maxLifetime time.Duration
	keyGrace    time.Duration

	mu            sync.RWMutex
	current       *agencykey.Private
	byFP          map[string]*agencykey.Private
	wake          chan struct{}
	hintMu        sync.Mutex
	hints         []OutboxEntry // queued since the last round (see hint)
	scan          bool          // the next round reads the whole outbox
	rushMu        sync.Mutex
	rushAll       bool
	rushed        map[string]bool // agencies whose envelopes are due now
	queryHandler  QueryHandler
	resolveHandle HandleResolver
	queries       *limiter // tracing queries per peer
	deliveries    *limiter // envelopes per peer
	hellos        *limiter // greetings per peer
	refusals      *audit.Summary
	queryNonces   nonces
	maxEnvelope   int
	inflight      map[string]bool      // outbox entries being delivered
	delivering    map[string]bool      // peers a delivery worker is busy with
	reached       map[string]bool      // peers the last delivery attempt reached
	unbatched     map[string]time.Time // peers that took no batches, and when
	peers         peerCache
	inputsMu      sync.Mutex
	inputs        map[string]sendInput // by agency, see sendInputs
	isps          checkedISPs
	// rows seals the exchanges' report rows (reportrows.go); nil
	// without cases. rowsReady: the rows are built (set in Open).
	rows      *rowseal.Sealer
	rowsReady bool
	rowMu     sync.Mutex // guards rowCopy
	rowCopy   *rowCopy   // the rows as a report last read them
}

// Errors of the exchange, mapped to Connect codes by the API layers.
var (
	ErrDenied  = errors.New("permission denied")
	ErrInvalid = errors.New("invalid request")
	ErrRefused = errors.New("refused by policy")
	ErrState   = errors.New("not possible in this state")
	ErrNoKeys  = errors.New("no keys for the peer")
)

// Open loads (or, on first use, creates) the agency's keys and returns
// the Service. Call Run to deliver the outbox.
func Open(ctx context.Context, o Options) (*Service, error) {
	s := &Service{
		store: o.Store, kr: o.Keyring, cases: o.Cases, forms: o.Forms, agency: o.Agency, peerID: o.PeerID,
		transport: o.Transport, log: o.Logger, now: o.Now, ttl: o.EnvelopeTTL, intake: o.IntakeGroup,
		maxLifetime: o.MaxEnvelopeLifetime, keyGrace: o.KeyGrace, maxEnvelope: o.MaxEnvelopeBytes,
		queries:    &limiter{},
		hellos:     &limiter{rate: helloRate, burst: helloBurst},
		deliveries: &limiter{rate: o.DeliveryRate, burst: o.DeliveryBurst},
		refusals:   &audit.Summary{Store: o.Store, Burst: 20},
		byFP:       map[string]*agencykey.Private{}, wake: make(chan struct{}, 1),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.ttl <= 0 {
		s.ttl = 14 * 24 * time.Hour
	}
	if s.intake == "" {
		s.intake = DefaultIntakeGroup
	}
	if s.maxLifetime <= 0 {
		s.maxLifetime = DefaultMaxEnvelopeLifetime
	}
	if s.keyGrace <= 0 {
		s.keyGrace = DefaultKeyGrace
	}
	if s.maxEnvelope <= 0 {
		s.maxEnvelope = DefaultMaxEnvelopeBytes
	}
	if s.deliveries.rate <= 0 {
		s.deliveries.rate = DefaultDeliveryRate
	}
	if s.deliveries.burst < 1 {
		s.deliveries.burst = DefaultDeliveryBurst
	}
	if s.ttl > s.maxLifetime {
		s.ttl = s.maxLifetime
	}
	validity := o.KeyValidity
	if validity <= 0 {
		validity = 2 * 365 * 24 * time.Hour
	}
	if o.Cases != nil {
		s.rows = o.Cases.RowSealer(rowsLabel)
		n, err := s.buildRows(ctx)
		if err != nil {
			return nil, fmt.Errorf("exchange report rows: %w", err)
		}
		if n > 0 {
			s.log.Info("rebuilt the exchange report rows", "exchanges", n)
		}
	}
	if err := s.loadKeys(ctx, validity); err != nil {
		return nil, err
	}
	if _, err := s.RetireKeys(ctx); err != nil {
		return nil, fmt.Errorf("retiring old agency keys: %w", err)
	}
	// Let every known peer through the gater.
	peers, err := s.listPeers(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range peers {
		if err := s.transport.Allow(p.PeerID); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// loadKeys unwraps every stored key version, creating version 1 if none.
func (s *Service) loadKeys(ctx context.Context, validity time.Duration) error {
	var wrapped [][]byte
	err := s.store.View(ctx, func(r store.Reader) error {
		return r.Scan(prefixKey, store.ScanOptions{}, func(_, v []byte) error {
			wrapped = append(wrapped, v)
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, w := range wrapped {
		b, err := s.kr.Unwrap(ctx, "agency-key", w)
		if err != nil {
			return fmt.Errorf("unwrapping an agency key: %w", err)
		}
		p, err := agencykey.UnmarshalPrivate(b)
		clear(b)
		if err != nil {
			return err
		}
		s.addKey(p)
	}
	if s.current != nil {
		return nil
	}
	now := s.now().UTC()
	// Valid from an hour back, so that clocks a little behind ours accept it.
	p, err := agencykey.Generate(s.agency, 1, now.Add(-time.Hour), now.Add(validity), rand.Reader)
	if err != nil {
		return err
	}
	b, err := p.MarshalBinary()
	if err != nil {
		return err
	}
	w, err := s.kr.Wrap(ctx, "agency-key", b)
	clear(b)
	if err != nil {
		return err
	}
	err = s.store.Update(ctx, func(wr store.Writer) error {
		if err := wr.Set(key(prefixKey, fmt.Sprintf("%010d", p.Version())), w); err != nil {
			return err
		}
		_, err := audit.Append(wr, now, audit.Event{Actor: "node", Action: "keys.create", Object: "agency/" + s.agency, Details: p.Fingerprint()})
		return err
	})
	if err != nil {
		return err
	}
	s.addKey(p)
	return nil
}

func (s *Service) addKey(p *agencykey.Private) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byFP[p.Fingerprint()] = p
	if s.current == nil || p.Version() > s.current.Version() {
		s.current = p
	}
}

func (s *Service) currentKey() *agencykey.Private {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.current
}

func (s *Service) keyByFingerprint(fp string) (*agencykey.Private, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.byFP[fp]
	return p, ok
}

// Secret returns the secret stored under name, wrapped by the keyring,
// creating it with create on first use. The node keeps its libp2p identity
// this way.
func Secret(ctx context.Context, st store.Store, kr keyring.Keyring, name string, create func() ([]byte, error)) ([]byte, error) {
	k := key(keyIdentity, "/"+name)
	var wrapped []byte
	err := st.View(ctx, func(r store.Reader) error {
		var err error
		wrapped, err = r.Get(k)
		return err
	})
	if err == nil {
		return kr.Unwrap(ctx, name, wrapped)
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	secret, err := create()
	if err != nil {
		return nil, err
	}
	if wrapped, err = kr.Wrap(ctx, name, secret); err != nil {
		return nil, err
	}
	return secret, st.Update(ctx, func(w store.Writer) error { return w.Set(k, wrapped) })
}

// Identity describes this node to its peers.
type Identity struct {
	Agency      string
	PeerID      string
	Fingerprint string
	KeyVersion  uint32
	NotAfter    time.Time
}

// Identity returns this node's agency, peer id and key fingerprint.
func (s *Service) Identity() Identity {
	k := s.currentKey()
	pub := k.Public()
	return Identity{Agency: s.agency, PeerID: s.peerID, Fingerprint: k.Fingerprint(), KeyVersion: k.Version(), NotAfter: pub.NotAfter}
}

// announcements returns our own signed announcements, oldest first.
func (s *Service) announcements() ([][]byte, error) {
	s.mu.RLock()
	keys := make([]*agencykey.Private, 0, len(s.byFP))
	for _, k := range s.byFP {
		keys = append(keys, k)
	}
	s.mu.RUnlock()
	slices.SortFunc(keys, func(a, b *agencykey.Private) int { return int(a.Version()) - int(b.Version()) })
	var out [][]byte
	var prev *agencykey.Private
	for _, k := range keys {
		a, err := agencykey.Announce(k, s.peerID, s.now(), prev)
		if err != nil {
			return nil, err
		}
		b, err := a.MarshalBinary()
		if err != nil {
			return nil, err
		}
		out = append(out, b)
		prev = k
	}
	return out, nil
}

func actorOf(sub policy.Subject, agency string) string { return sub.User + "@" + agency }

// authorize checks a non-case permission and audits refusals.
func (s *Service) authorize(ctx context.Context, sub policy.Subject, res policy.Resource, act policy.Action, action, object string) error {
	d := policy.Authorize(sub, res, act, nil)
	if d.Allowed {
		return nil
	}
	err := fmt.Errorf("%w: %s", ErrDenied, d.Reason)
	if aerr := audit.Record(ctx, s.store, s.now(), audit.Event{Actor: sub.User, Action: action, Object: object, Outcome: audit.Denied}); aerr != nil {
		return errors.Join(err, aerr)
	}
	return err
}

func (s *Service) formFields(form string) []string {
	f, ok := s.forms.Form(form)
	if !ok {
		return nil
	}
	out := make([]string, len(f.Fields))
	for i, fld := range f.Fields {
		out[i] = fld.Name
	}
	return out
}

// trim bounds free text from users and peers.
func trim(s string, max int) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) > max {
		return "", fmt.Errorf("%w: text longer than %d bytes", ErrInvalid, max)
	}
	return s, nil
}

// KeyInfo describes one version of the agency's keys.
type KeyInfo struct {
	Version     uint32
	Fingerprint string
	NotBefore   time.Time
	NotAfter    time.Time
	Current     bool
}

// Keys lists the agency's key versions, oldest first.
func (s *Service) Keys() []KeyInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []KeyInfo
	for fp, k := range s.byFP {
		pub := k.Public()
		out = append(out, KeyInfo{Version: k.Version(), Fingerprint: fp, NotBefore: pub.NotBefore, NotAfter: pub.NotAfter, Current: k == s.current})
	}
	slices.SortFunc(out, func(a, b KeyInfo) int { return int(a.Version) - int(b.Version) })
	return out
}

// RotateAgencyKey creates the next version of the agency's keys, valid for
// validity, and announces it to every peer (signed by the previous version
// too, so peers accept it without asking a person). Older versions stay to
// open envelopes still in flight, until they expire. It returns the new
// key and which peers were told now; the others learn it when they next
// connect.
func (s *Service) RotateAgencyKey(ctx context.Context, validity time.Duration) (KeyInfo, []string, []string, error) {
	if validity <= 0 {
		validity = 2 * 365 * 24 * time.Hour
	}
	now := s.now().UTC()
	prev := s.currentKey()
	p, err := agencykey.Generate(s.agency, prev.Version()+1, now.Add(-time.Hour), now.Add(validity), rand.Reader)
	if err != nil {
		return KeyInfo{}, nil, nil, err
	}
	b, err := p.MarshalBinary()
	if err != nil {
		return KeyInfo{}, nil, nil, err
	}
	w, err := s.kr.Wrap(ctx, "agency-key", b)
	clear(b)
	if err != nil {
		return KeyInfo{}, nil, nil, err
	}
	err = s.store.Update(ctx, func(wr store.Writer) error {
		if err := wr.Set(key(prefixKey, fmt.Sprintf("%010d", p.Version())), w); err != nil {
			return err
		}
		_, err := audit.Append(wr, now, audit.Event{Actor: "node", Action: "keys.rotate", Object: "agency/" + s.agency,
			Details: map[string]any{"version": p.Version(), "fingerprint": p.Fingerprint(), "previous": prev.Fingerprint()}})
		return err
	})
	if err != nil {
		return KeyInfo{}, nil, nil, err
	}
	s.addKey(p)
	var told, missed []string
	peers, err := s.listPeers(ctx)
	if err != nil {
		return KeyInfo{}, nil, nil, err
	}
	for _, peer := range peers {
		gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := s.Greet(gctx, peer.Agency); err != nil {
			missed = append(missed, peer.Agency)
		} else {
			told = append(told, peer.Agency)
		}
		cancel()
	}
	pub := p.Public()
	return KeyInfo{Version: p.Version(), Fingerprint: p.Fingerprint(), NotBefore: pub.NotBefore, NotAfter: pub.NotAfter, Current: true}, told, missed, nil
}

// RewrapSecrets rewraps every secret the exchange keeps wrapped (agency
// keys, the node identity) with rewrap, in one transaction, and returns
// how many it rewrapped.
func (s *Service) RewrapSecrets(ctx context.Context, rewrap func(ctx context.Context, name string, wrapped []byte) ([]byte, error)) (int, error) {
	type item struct {
		k    []byte
		name string
		v    []byte
	}
	var items []item
	err := s.store.View(ctx, func(r store.Reader) error {
		if err := r.Scan(prefixKey, store.ScanOptions{}, func(k, v []byte) error {
			items = append(items, item{k, "agency-key", v})
			return nil
		}); err != nil {
			return err
		}
		return r.Scan(key(keyIdentity, "/"), store.ScanOptions{}, func(k, v []byte) error {
			items = append(items, item{k, string(k[len(keyIdentity)+1:]), v})
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	for i := range items {
		if items[i].v, err = rewrap(ctx, items[i].name, items[i].v); err != nil {
			return 0, fmt.Errorf("rewrapping %s: %w", items[i].name, err)
		}
	}
	err = s.store.Update(ctx, func(w store.Writer) error {
		for _, it := range items {
			if err := w.Set(it.k, it.v); err != nil {
				return err
			}
		}
		return nil
	})
	return len(items), err
}
