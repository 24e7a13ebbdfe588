// Package daemon wires a CPX node together: configuration, keyring, the
// encrypted store, casework, the local API server and its metrics. It is
// the one place where adapters are chosen and dependencies are passed in;
// cpx init, cpx start and cpx demo call it.
package daemon

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cpx-node/cpx/crypto/keyring"
	"github.com/cpx-node/cpx/node/api"
	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/buildinfo"
	"github.com/cpx-node/cpx/node/casekeys"
	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/config"
	"github.com/cpx-node/cpx/node/exchange"
	"github.com/cpx-node/cpx/node/forms"
	"github.com/cpx-node/cpx/node/nodedir"
	"github.com/cpx-node/cpx/node/notify"
	notifysmtp "github.com/cpx-node/cpx/node/notify/smtp"
	"github.com/cpx-node/cpx/node/p2p"
	"github.com/cpx-node/cpx/node/peerapi"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/badgerstore"
	"github.com/cpx-node/cpx/node/tracing"
	"github.com/cpx-node/cpx/node/users"
)

// Names under which the keyring wraps the node's secrets.
const storeKeyName = "store-key"

// AdminUser is the name of the administrator that Init creates.
const AdminUser = "admin"

// ErrInitialised is returned by Init when dir already holds a node.
var ErrInitialised = errors.New("directory already holds a node")

// Version returns the version of the running binary (see
// buildinfo.Info.Version). It is worked out once: without version-control
// information it hashes the whole executable.
func Version() string { return version() }

var version = sync.OnceValue(func() string { return buildinfo.Read().Version() })

// InitOptions describe a new node.
type InitOptions struct {
	Dir        string
	Config     config.Config // Agency.ID required; other fields default
	Passphrase []byte
	// KDF overrides the keyring's Argon2id parameters (tests, demo).
	KDF *keyring.KDFParams
}

// Init creates a node directory: config file, keyring, store key, an
// encrypted store holding the initial admin user, and credentials.json with
// the admin's token. It returns those credentials. On error it leaves no
// partial node behind in a directory it created.
func Init(ctx context.Context, o InitOptions) (creds nodedir.Credentials, err error) {
	if err := o.Config.Validate(); err != nil {
		return creds, err
	}
	if o.Config.Keyring.Kind != "vault" && len(o.Passphrase) == 0 {
		return creds, errors.New("a passphrase is required to protect the keyring (set CPX_PASSPHRASE)")
	}
	if _, err := os.Stat(filepath.Join(o.Dir, nodedir.ConfigFile)); err == nil {
		return creds, fmt.Errorf("%s: %w", o.Dir, ErrInitialised)
	}
	created := false
	if _, err := os.Stat(o.Dir); errors.Is(err, os.ErrNotExist) {
		created = true
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return creds, err
	}
	defer func() {
		if err != nil {
			for _, f := range []string{nodedir.ConfigFile, nodedir.KeyringFile, nodedir.StoreKeyFile, nodedir.CredentialsFile, nodedir.DataDir} {
				os.RemoveAll(filepath.Join(o.Dir, f))
			}
			if created {
				os.Remove(o.Dir)
			}
		}
	}()
	var kr keyring.Keyring
	if o.Config.Keyring.Kind == "vault" {
		v, err := openVault(ctx, o.Config, nil)
		if err != nil {
			return creds, err
		}
		kr = v
	} else {
		kdf := keyring.DefaultKDFParams()
		if o.KDF != nil {
			kdf = *o.KDF
		}
		f, err := keyring.CreateFileWithParams(filepath.Join(o.Dir, nodedir.KeyringFile), o.Passphrase, kdf)
		if err != nil {
			return creds, err
		}
		defer f.Close()
		kr = f
	}
	storeKey := make([]byte, 32)
	if _, err := rand.Read(storeKey); err != nil {
		return creds, err
	}
	wrapped, err := kr.Wrap(ctx, storeKeyName, storeKey)
	if err != nil {
		return creds, err
	}
	if err := nodedir.WriteFileAtomic(filepath.Join(o.Dir, nodedir.StoreKeyFile), wrapped, 0o600); err != nil {
		return creds, err
	}
	st, err := badgerstore.Open(ctx, badgerstore.Options{Dir: filepath.Join(o.Dir, nodedir.DataDir), EncryptionKey: storeKey})
	if err != nil {
		return creds, err
	}
	defer st.Close()
	now := time.Now().UTC()
	var token string
	err = st.Update(ctx, func(w store.Writer) error {
		var err error
		token, err = users.Add(w, users.User{Name: AdminUser, Role: "agency_admin", CreatedAt: now, Owner: true}, now.Add(o.Config.Auth.TokenTTL))
		if err != nil {
			return err
		}
		if _, err := audit.Append(w, now, audit.Event{Actor: "cpx-init", Action: "node.init", Object: "agency/" + o.Config.Agency.ID}); err != nil {
			return err
		}
		_, err = audit.Append(w, now, audit.Event{Actor: "cpx-init", Action: "user.add", Object: "user/" + AdminUser, Details: map[string]string{"role": "agency_admin"}})
		return err
	})
	if err != nil {
		return creds, err
	}
	if err := config.WriteFile(o.Dir, o.Config); err != nil {
		return creds, err
	}
	creds = nodedir.Credentials{User: AdminUser, Token: token}
	return creds, nodedir.WriteCredentials(o.Dir, creds)
}

// Node is an open node: its store and services, ready to Run.
type Node struct {
	dir      string
	cfg      config.Config
	log      *slog.Logger
	kr       keyring.Keyring
	store    *badgerstore.Store
	st       store.Store // store with the audit chain key (audit.WithKey)
	caseKeys casekeys.Store
	cases    *casework.Service
	tracing  *tracing.Service
	host     *p2p.Host
	ex       atomic.Pointer[exchange.Service]
	api      *api.Server
	metrics  *prometheus.Registry
	mail     *notify.Worker // nil without SMTP

	bg        sync.WaitGroup // background index builds and table checks
	stopBuild context.CancelFunc
	built     chan struct{} // closed when the start's index build ends

	health    keyringHealth
	keyringUp prometheus.Gauge
	// strangers summarises refused connections per source address.
	strangers *audit.Summary
}

// Open opens the node in dir with cfg (see config.Load) and the keyring's
// passphrase. A second Open of the same directory fails while the first is
// open.
func Open(ctx context.Context, dir string, cfg config.Config, passphrase []byte, log *slog.Logger) (*Node, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Memory.LimitMB > 0 {
		// A soft limit: the collector works harder near it and gives
		// freed memory back (the process-wide setting; one node per process).
		debug.SetMemoryLimit(int64(cfg.Memory.LimitMB) << 20)
	}
	// Work out the version (it reads the executable's build id) and read
	// the stores' files ahead while the keyring derives its key.
	go Version()
	badgerstore.Prefetch(filepath.Join(dir, nodedir.DataDir))
	badgerstore.Prefetch(filepath.Join(dir, CaseKeysDir))
	t0 := time.Now()
	kr, err := OpenKeyring(ctx, dir, cfg, passphrase, log)
	if err != nil {
		return nil, err
	}
	n := &Node{dir: dir, cfg: cfg, log: log, kr: kr}
	n.step("keyring", t0)
	if err := n.open(ctx); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

func (n *Node) open(ctx context.Context) error {
	wrapped, err := os.ReadFile(filepath.Join(n.dir, nodedir.StoreKeyFile))
	if err != nil {
		return fmt.Errorf("reading the store key: %w", err)
	}
	storeKey, err := n.kr.Unwrap(ctx, storeKeyName, wrapped)
	if err != nil {
		return fmt.Errorf("unwrapping the store key: %w", err)
	}
	t0 := time.Now()
	n.store, err = badgerstore.Open(ctx, badgerstore.Options{
		Dir: filepath.Join(n.dir, nodedir.DataDir), EncryptionKey: storeKey,
		Logger: n.log.With("component", "store"), GCInterval: n.cfg.Store.GCInterval,
		MemTableSize: int64(n.cfg.Store.MemTableMB) << 20, BlockCacheSize: int64(n.cfg.Store.BlockCacheMB) << 20,
		IndexCacheSize: int64(n.cfg.Store.IndexCacheMB) << 20,
	})
	// The case index's tokens are keyed by a key of their own, derived
	// from the store key: a store restored under another key rebuilds it.
	indexKey, kerr := hkdf.Key(sha256.New, storeKey, nil, "cpx case word index v1", 32)
	clear(storeKey)
	if err != nil {
		return storeOpenError(n.dir, err)
	}
	if kerr != nil {
		return kerr
	}
	defer clear(indexKey)
	n.step("store", t0)
	t0 = time.Now()
	if err := checkKeyRecords(ctx, n.dir, n.store); err != nil {
		return err
	}
	n.step("key records", t0)
	t0 = time.Now()
	// Every service writes the audit log through the keyed store: each
	// entry gets a MAC under the chain key (node/audit).
	chainKey, err := exchange.Secret(ctx, n.store, n.kr, "audit-chain-key", func() ([]byte, error) {
		k := make([]byte, audit.KeySize)
		_, err := rand.Read(k)
		return k, err
	})
	if err != nil {
		return fmt.Errorf("audit chain key: %w", err)
	}
	n.st = audit.WithKey(n.store, chainKey)
	if _, err := audit.Cover(ctx, n.st, time.Now()); err != nil {
		return fmt.Errorf("keying the audit chain: %w", err)
	}
	fc := forms.Standard()
	if d := n.cfg.Forms.Dir; d != "" {
		if !filepath.IsAbs(d) {
			d = filepath.Join(n.dir, d)
		}
		if fc, err = forms.LoadDir(d); err != nil {
			return fmt.Errorf("forms.dir %s: %w", d, err)
		}
	}
	if n.caseKeys, err = openCaseKeys(ctx, n.dir, n.cfg, n.kr, n.log); err != nil {
		return fmt.Errorf("case keys: %w", err)
	}
	if err := n.openNotify(); err != nil {
		return err
	}
	loc, err := time.LoadLocation(n.cfg.Casework.TimeZone)
	if err != nil {
		return fmt.Errorf("casework.time_zone: %w", err)
	}
	n.step("case keys", t0)
	t0 = time.Now()
	n.cases = casework.New(casework.Options{
		Keys:  n.caseKeys,
		Store: n.st, Forms: fc, Agency: n.cfg.Agency.ID, NumberPrefix: n.cfg.Cases.NumberPrefix,
		MaxRecordBytes: n.cfg.Store.MaxRecordBytes, IndexKey: indexKey,
		Location: loc, ClosureRequiresApproval: n.cfg.Casework.ClosureRequiresApproval,
		Notifier: notify.NewQueue(nil),
	})
	n.tracing = tracing.New(tracing.Options{Store: n.st, Cases: n.cases, Observed: true, Logger: n.log.With("component", "tracing"),
		Location: func(code string) (string, bool) { l, ok := fc.Location(code); return l.Code, ok }})
	n.cases.Observe(n.tracing)
	n.buildIndexes()
	identity, err := exchange.Secret(ctx, n.store, n.kr, "libp2p-identity", func() ([]byte, error) {
		k, err := p2p.NewIdentity()
		if err != nil {
			return nil, err
		}
		return libp2pcrypto.MarshalPrivateKey(k)
	})
	if err != nil {
		return fmt.Errorf("node identity: %w", err)
	}
	idKey, err := libp2pcrypto.UnmarshalPrivateKey(identity)
	clear(identity)
	if err != nil {
		return fmt.Errorf("node identity: %w", err)
	}
	if n.host, err = p2p.New(p2p.Config{Identity: idKey, ListenAddrs: n.cfg.P2P.Listen, Logger: n.log.With("component", "p2p")}); err != nil {
		return err
	}
	n.step("p2p host", t0)
	n.metrics = prometheus.NewRegistry()
	fm := newFedMetrics(n.metrics, n.store, n.ex.Load)
	peerapi.Serve(n.host, n.ex.Load, connect.WithInterceptors(fm.peerInterceptor()))
	n.strangers = &audit.Summary{Store: n.st, Interval: time.Minute, Burst: 3}
	n.host.Gater().OnRefused(func(p peer.ID, remote ma.Multiaddr) {
		// A node nobody added tried to connect (or we to it): keep a
		// trace, the first few per source address and minute in full,
		// the rest in one summary entry.
		source := "dial"
		if remote != nil {
			source = remoteIP(remote)
		}
		_, _ = n.strangers.Record(context.Background(), time.Now(), source, audit.Event{
			Actor: "peer:" + p.String(), Action: "peer.refused", Object: "source/" + source, Outcome: audit.Denied,
		})
	})
	t0 = time.Now()
	ex, err := exchange.Open(ctx, exchange.Options{
		Store: n.st, Keyring: n.kr, Cases: n.cases, Forms: fc, Agency: n.cfg.Agency.ID, PeerID: n.host.ID().String(),
		Transport: fm.transport(peerapi.Transport{Host: n.host}), Logger: n.log.With("component", "exchange"),
		IntakeGroup: n.cfg.Exchange.IntakeGroup, MaxEnvelopeLifetime: n.cfg.Exchange.MaxEnvelopeLifetime,
		KeyGrace: n.cfg.Exchange.KeyGrace, MaxEnvelopeBytes: n.cfg.Exchange.MaxEnvelopeBytes,
		Now: clock(),
	})
	if err != nil {
		return err
	}
	n.ex.Store(ex)
	n.step("exchange", t0)
	t0 = time.Now()
	// A peer's signed announcement of its addresses (identify) updates
	// where this node dials it; a new connection wakes its deliveries.
	n.host.OnAnnounce(func(a p2p.Announcement) {
		if err := ex.PeerAnnounced(context.Background(), a.Peer.String(), a.Addrs, a.Seq); err != nil {
			n.log.Warn("refused a peer's addresses", "peer", a.Peer.String(), "err", err)
		}
	})
	n.host.OnConnected(func(p peer.ID) { ex.PeerConnected(context.Background(), p.String()) })
	n.tracing.Federate(ex)
	ex.OnQuery(n.tracing.AnswerQuery)
	ex.OnDisclosureRequest(tracing.ResolveHandle)
	n.keyringUp = prometheus.NewGauge(prometheus.GaugeOpts{Name: "cpx_keyring_up", Help: "1 when the keyring (e.g. Vault) answers, 0 when it does not."})
	n.metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), n.keyringUp)
	n.health.set(nil)
	n.keyringUp.Set(1)
	n.api = api.New(api.Options{
		Store: n.st, Cases: n.cases, Agency: n.cfg.Agency.ID, Name: n.cfg.Agency.Name, Version: Version(),
		Keyring: n.kr.Kind(), TokenTTL: n.cfg.Auth.TokenTTL, Logger: n.log.With("component", "api"), Metrics: n.metrics,
		Exchange: ex, Addrs: n.host.Addrs, Ops: n, Tracing: n.tracing,
		ReportsDir: filepath.Join(n.dir, "reports"), Coordination: n.cfg.Agency.Coordination,
		SMTPConfigured: n.mail != nil,
	})
	n.step("api", t0)
	return nil
}

// step logs how long a step of the start took (debug level).
func (n *Node) step(name string, since time.Time) {
	n.log.Debug("start-up step", "step", name, "took", time.Since(since).Round(time.Millisecond))
}

// buildIndexes checks (and if need be rebuilds) the case indexes, then
// builds the tracing index, in the background: the node serves meanwhile
// (queries scan, matches answer ErrBuilding; /healthz says so). Close
// stops and waits for it.
func (n *Node) buildIndexes() {
	ctx, cancel := context.WithCancel(context.Background())
	n.stopBuild = cancel
	n.tracing.BeginBuild()
	built := make(chan struct{})
	n.built = built
	n.bg.Go(func() {
		defer close(built)
		start := time.Now()
		if k, err := n.cases.BuildIndexes(ctx); err != nil {
			n.log.Warn("building the case index", "err", err)
		} else if k > 0 {
			n.log.Info("case index rebuilt", "cases", k, "took", time.Since(start).Round(time.Millisecond))
		}
		if err := n.tracing.Rebuild(ctx); err != nil {
			// Not fatal: the first match rebuilds it.
			n.log.Warn("building the tracing index", "err", err)
		}
	})
}

// Close closes the store and the keyring.
func (n *Node) Close() error {
	if n.stopBuild != nil {
		n.stopBuild()
		n.bg.Wait()
	}
	var err error
	if n.host != nil {
		err = n.host.Close()
	}
	if n.store != nil {
		err = errors.Join(err, n.store.Close())
	}
	if c, ok := n.caseKeys.(interface{ Close() error }); ok {
		err = errors.Join(err, c.Close())
	}
	if c, ok := n.kr.(interface{ Close() error }); ok {
		c.Close()
	}
	return err
}

// Cases returns the node's casework service (for in-process callers such
// as tests and benchmarks).
func (n *Node) Cases() *casework.Service { return n.cases }

// Store returns the node's store.
func (n *Node) Store() store.Store { return n.st }

// Handler returns the node's HTTP handler: the local API, /metrics and
// /healthz.
func (n *Node) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", n.api.Handler())
	mux.Handle("/metrics", promhttp.HandlerFor(n.metrics, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		state, cases := n.tracing.State()
		fmt.Fprintf(w, "ok\ntracing-index: %s %d\n", state, cases)
	})
	return mux
}

// Run serves the local API on the configured loopback address until ctx
// is done, then shuts down cleanly. ready, if not nil, is called with the
// API's base URL once it accepts connections (after api.url is written).
func (n *Node) Run(ctx context.Context, ready func(url string)) error {
	t0 := time.Now()
	host, _, err := net.SplitHostPort(n.cfg.API.Listen)
	if err != nil {
		return fmt.Errorf("api.listen %q: %w", n.cfg.API.Listen, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("api.listen %q: the local API listens on loopback only (127.0.0.1 or ::1)", n.cfg.API.Listen)
	}
	ln, err := net.Listen("tcp", n.cfg.API.Listen)
	if err != nil {
		return fmt.Errorf("local API: %w", err)
	}
	url := "http://" + ln.Addr().String()
	// Streaming calls (backups, exports) lift the write timeout for
	// themselves (api's guard); the others must finish within it.
	var busy atomic.Int64 // requests since memory was last given back
	h := n.Handler()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			busy.Add(1)
			h.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	if err := nodedir.WriteAPIURL(n.dir, url); err != nil {
		ln.Close()
		return err
	}
	defer os.Remove(filepath.Join(n.dir, nodedir.APIURLFile))
	n.step("listen", t0)
	n.log.Info("node started", "agency", n.cfg.Agency.ID, "api", url, "version", Version())
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	deliverCtx, stopDelivering := context.WithCancel(ctx)
	defer stopDelivering()
	wg.Add(3)
	go func() {
		defer wg.Done()
		n.ex.Load().Run(deliverCtx)
	}()
	go func() {
		defer wg.Done()
		n.strangers.Run(deliverCtx)
	}()
	go func() {
		defer wg.Done()
		n.watchKeyring(deliverCtx, 30*time.Second)
	}()
	if n.mail != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.mail.Run(deliverCtx)
		}()
	}
	// The report rows' log stays short on a node that runs few reports.
	wg.Go(func() { n.cases.KeepReportRows(deliverCtx, time.Minute) })
	if at, on, _ := n.cfg.Casework.DigestAt(); on { // validated with the config
		wg.Go(func() {
			n.cases.RunDigests(deliverCtx, at, n.cfg.Casework.DigestUpcomingDays, n.log.With("component", "digest"))
		})
	}
	// The start is a burst of its own (the keyring's KDF, the table
	// check): what it touched is given back once the API is idle.
	busy.Store(1)
	wg.Go(func() { releaseWhenIdle(deliverCtx, &busy, 2*time.Second, n.releaseMemory) })
	if n.built != nil {
		// So is the index build, which reads every report row and
		// consenting case in the background: at 1,000,000 cases it
		// leaves some 1.8 GB of the store's files mapped in.
		wg.Go(func() {
			select {
			case <-n.built:
				busy.Add(1)
			case <-deliverCtx.Done():
			}
		})
	}
	if len(n.cfg.Reports.Push) > 0 {
		var entries []api.ScheduledPush
		for _, e := range n.cfg.Reports.Push {
			r, to, _ := strings.Cut(e, "@")
			entries = append(entries, api.ScheduledPush{Report: r, To: to})
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.api.RunSchedule(deliverCtx, entries, n.cfg.Reports.PushDay, time.Hour)
		}()
	}
	n.log.Info("peer API listening", "peer", n.host.ID().String(), "addrs", n.host.Addrs())
	if ready != nil {
		ready(url)
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if serr := srv.Shutdown(shutdownCtx); serr != nil && err == nil {
		err = serr
	}
	stopDelivering()
	wg.Wait()
	n.log.Info("node stopped")
	return err
}

// releaseWhenIdle calls release once the API has been idle for a while
// after serving requests (a bulk import leaves the heap large; the
// runtime would otherwise return it only slowly).
func releaseWhenIdle(ctx context.Context, busy *atomic.Int64, idle time.Duration, release func()) {
	t := time.NewTicker(idle)
	defer t.Stop()
	last := int64(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		switch n := busy.Load(); {
		case n != last:
			last = n // still busy: look again later
		case n > 0:
			release()
			busy.Store(0)
			last = 0
		}
	}
}

// releaseMemory checks the tables a burst of work wrote
// (badgerstore.Store.CheckTables), then gives freed heap memory back to
// the system, and the resident pages of the store's mapped files (tables,
// logs) that the burst touched (badgerstore.ReleaseMapped): they are read
// back from the files when needed.
func (n *Node) releaseMemory() {
	// First check the tables the burst wrote, so that a stop (or a start
	// after a kill) need not, and its pages are given back below.
	start := time.Now()
	if k, err := n.store.CheckTables(context.Background()); err != nil {
		n.log.Error("a table of the store failed its check; the next start will refuse it", "err", err)
	} else if k > 0 {
		n.log.Debug("tables checked", "tables", k, "took", time.Since(start).Round(time.Millisecond))
	}
	debug.FreeOSMemory()
	b, err := badgerstore.ReleaseMapped(n.dir)
	if err != nil {
		n.log.Debug("releasing the store's mapped pages", "err", err)
		return
	}
	n.log.Debug("memory released", "mapped_bytes", b)
}

// OpenKeyring opens the keyring a node is configured with: the file
// keyring in dir (with passphrase) or Vault.
func OpenKeyring(ctx context.Context, dir string, cfg config.Config, passphrase []byte, log *slog.Logger) (keyring.Keyring, error) {
	if cfg.Keyring.Kind == "vault" {
		return openVault(ctx, cfg, log)
	}
	kr, err := keyring.OpenFile(filepath.Join(dir, nodedir.KeyringFile), passphrase)
	if errors.Is(err, keyring.ErrNotExist) {
		return nil, fmt.Errorf("%s is not a node directory (no %s): run `cpx init --dir %s` first", dir, nodedir.KeyringFile, dir)
	}
	return kr, err
}

func openVault(ctx context.Context, cfg config.Config, log *slog.Logger) (*keyring.Vault, error) {
	v := cfg.Vault
	return keyring.OpenVault(ctx, keyring.VaultConfig{
		Addr: v.Addr, Token: v.Token, RoleID: v.RoleID, SecretID: v.SecretID,
		TransitMount: v.TransitMount, Key: v.Key, CACert: v.CACert, Logger: log,
	})
}

// CaseKeysDir is where a node with the file keyring keeps its per-case
// data keys: apart from the data store, so that a purge can destroy one
// for good (see docs/purge.md).
const CaseKeysDir = "casekeys"

// openCaseKeys opens the store of per-case data keys: a separate local
// store wrapped by the keyring, or Vault's KV engine for Vault nodes.
func openCaseKeys(ctx context.Context, dir string, cfg config.Config, kr keyring.Keyring, log *slog.Logger) (casekeys.Store, error) {
	if v, ok := kr.(*keyring.Vault); ok {
		// The same authenticated client (token or AppRole) as the keyring.
		return casekeys.OpenVault(ctx, casekeys.VaultConfig{Client: v.Client(), Mount: cfg.Vault.KVMount})
	}
	return casekeys.OpenLocal(ctx, casekeys.LocalOptions{Dir: filepath.Join(dir, CaseKeysDir), Keyring: kr, Logger: log.With("component", "casekeys")})
}

// openNotify loads the notification templates (a template that does not
// parse stops the node) and, when smtp.host is set, the SMTP mailer and
// its worker; the password comes from CPX_SMTP_PASSWORD only.
func (n *Node) openNotify() error {
	dir := n.cfg.Casework.Templates
	if dir != "" && !filepath.IsAbs(dir) {
		dir = filepath.Join(n.dir, dir)
	}
	tmpl, err := notify.LoadTemplates(dir)
	if err != nil {
		return fmt.Errorf("casework.templates: %w", err)
	}
	c := n.cfg.SMTP
	if c.Host == "" {
		n.log.Info("no smtp.host: notifications are queued, not sent")
		return nil
	}
	m, err := notifysmtp.New(notifysmtp.Config{Host: c.Host, Port: c.Port, TLS: c.TLS, Username: c.Username,
		Password: os.Getenv("CPX_SMTP_PASSWORD"), From: c.From, Timeout: c.Timeout})
	if err != nil {
		return err
	}
	n.mail = notify.NewWorker(notify.WorkerOptions{Store: n.st, Mailer: m, Templates: tmpl, Logger: n.log.With("component", "notify")})
	return nil
}

// remoteIP is the IP address of a multiaddr, or the multiaddr itself.
func remoteIP(m ma.Multiaddr) string {
	for _, code := range []int{ma.P_IP4, ma.P_IP6} {
		if v, err := m.ValueForProtocol(code); err == nil {
			return v
		}
	}
	return m.String()
}
