// Package config loads a node's configuration: built-in defaults, then the
// config file in the node directory (cpx.toml), then CPX_* environment
// variables, then command-line flags, each overriding the one before.
//
// This is the only package that imports koanf. Every key is a field of
// Config below, documented where it is declared; the environment variable
// for a key is CPX_ followed by the key in upper case with dots and
// underscores both written as "_" (api.listen → CPX_API_LISTEN,
// auth.token_ttl → CPX_AUTH_TOKEN_TTL).
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/toml/v2"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// Config is the whole configuration of a node. The zero value of a field
// means "use the default" shown in its comment.
type Config struct {
	Agency   Agency   `koanf:"agency"`
	API      API      `koanf:"api"`
	P2P      P2P      `koanf:"p2p"`
	Auth     Auth     `koanf:"auth"`
	Store    Store    `koanf:"store"`
	Memory   Memory   `koanf:"memory"`
	Keyring  Keyring  `koanf:"keyring"`
	Vault    Vault    `koanf:"vault"`
	Cases    Cases    `koanf:"cases"`
	Exchange Exchange `koanf:"exchange"`
	Forms    Forms    `koanf:"forms"`
	Log      Log      `koanf:"log"`

	Casework Casework `koanf:"casework"`
	SMTP     SMTP     `koanf:"smtp"`
	Reports  Reports  `koanf:"reports"`
}

// Reports configures scheduled pushes of aggregate reports to
// coordination nodes (docs/coordination.md).
type Reports struct {
	// Push lists "REPORT@AGENCY" entries: the node pushes REPORT to the
	// coordination node of AGENCY for every period of the ISP's aggregate
	// rule, once the period has ended. Default none.
	Push []string `koanf:"push"`
	// PushDay is the day of the month after a period on which it is
	// pushed (1 to 28); default 3.
	PushDay int `koanf:"push_day"`
}

// Casework configures day-to-day case management (docs/casework.md).
type Casework struct {
	// ClosureRequiresApproval refuses to close a case until its latest
	// closure approval request is approved; default false.
	ClosureRequiresApproval bool `koanf:"closure_requires_approval"`
	// TimeZone is the IANA time zone "today" is taken in for due and
	// overdue tasks; default "UTC".
	TimeZone string `koanf:"time_zone"`
	// Templates is a directory of notification templates overriding the
	// built-in ones (LANG.txt.tmpl, LANG.html.tmpl; relative to the node
	// directory).
	Templates string `koanf:"templates"`
	// DigestTime is the time of day (HH:MM, in TimeZone) at which each
	// user's daily digest of overdue and upcoming tasks is queued; "off"
	// sends none. Default "07:00".
	DigestTime string `koanf:"digest_time"`
	// DigestUpcomingDays is how many days ahead a digest lists upcoming
	// tasks; default 7.
	DigestUpcomingDays int `koanf:"digest_upcoming_days"`
}

// DigestAt returns the time of day of the digest as the duration since
// midnight, or on false when digest_time is "off". An error says how the
// time is written.
func (c Casework) DigestAt() (at time.Duration, on bool, err error) {
	if c.DigestTime == "off" {
		return 0, false, nil
	}
	t, err := time.Parse("15:04", c.DigestTime)
	if err != nil {
		return 0, false, fmt.Errorf("config: casework.digest_time %q: write HH:MM (24-hour) or off", c.DigestTime)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, true, nil
}

// SMTP configures the server notifications are sent through. Without a
// host, notifications are queued and wait. The password is read from
// CPX_SMTP_PASSWORD only, never from the file.
type SMTP struct {
	Host string `koanf:"host"`
	// Port; default 587 (465 for tls = "tls").
	Port int `koanf:"port"`
	// TLS is "starttls" (default), "opportunistic", "tls" (implicit) or
	// "none" (loopback test servers only).
	TLS      string `koanf:"tls"`
	Username string `koanf:"username"`
	// From is the sender address, e.g. "CPX <cpx@agency.example>".
	From string `koanf:"from"`
	// Timeout bounds one message's delivery; default 30s.
	Timeout time.Duration `koanf:"timeout"`
}

// Agency identifies the agency that runs the node.
type Agency struct {
	// ID is the agency's short stable id, e.g. "save-the-children-so". Required.
	ID string `koanf:"id"`
	// Name is the agency's display name.
	Name string `koanf:"name"`
	// Coordination makes the node a coordination body's: it holds no
	// case files and its API refuses case, referral and transfer calls
	// (docs/coordination.md). Default false; set by cpx init --coordination.
	Coordination bool `koanf:"coordination"`
}

// API configures the local API.
type API struct {
	// Listen is the local API's TCP address; default "127.0.0.1:7400".
	// Use port 0 to pick a free port. Only loopback addresses are accepted.
	Listen string `koanf:"listen"`
}

// P2P configures the libp2p host other agencies' nodes connect to.
type P2P struct {
	// Listen are libp2p multiaddrs; default
	// ["/ip4/0.0.0.0/tcp/7401", "/ip4/0.0.0.0/udp/7401/quic-v1"].
	// In the environment: comma-separated.
	Listen []string `koanf:"listen"`
}

// Auth configures local API authentication.
type Auth struct {
	// TokenTTL is how long a new token stays valid; default 2160h (90
	// days). Renew with cpx user token issue.
	TokenTTL time.Duration `koanf:"token_ttl"`
}

// Store configures the Badger store.
type Store struct {
	// GCInterval is how often value-log garbage collection runs; default 5m.
	GCInterval time.Duration `koanf:"gc_interval"`
	// MaxRecordBytes bounds one case record; default 1048576 (1 MiB).
	MaxRecordBytes int `koanf:"max_record_bytes"`
	// MemTableMB is the size of one of Badger's memory tables in MiB
	// (Badger keeps up to three of them); default 16.
	MemTableMB int `koanf:"memtable_mb"`
	// BlockCacheMB is the size of Badger's cache of decrypted table
	// blocks in MiB; default 16.
	BlockCacheMB int `koanf:"block_cache_mb"`
	// IndexCacheMB is the size of Badger's cache of table indexes and
	// Bloom filters in MiB; default 16.
	IndexCacheMB int `koanf:"index_cache_mb"`
}

// Memory bounds the node's memory.
type Memory struct {
	// LimitMB is the Go runtime's soft memory limit in MiB
	// (runtime/debug.SetMemoryLimit): as the node's memory nears it, the
	// garbage collector runs more often and returns freed memory to the
	// system. It is not a cap: a node that needs more goes over it.
	// Default 256; -1 turns it off.
	LimitMB int `koanf:"limit_mb"`
}

// Keyring selects where the node's keys are kept.
type Keyring struct {
	// Kind is "file" (default: keyring.json in the node directory,
	// passphrase from CPX_PASSPHRASE or a prompt) or "vault" (HashiCorp
	// Vault's transit engine; see Vault).
	Kind string `koanf:"kind"`
}

// Vault configures the Vault keyring (keyring.kind = "vault"). Keep the
// token out of the file: set CPX_VAULT_TOKEN (or AppRole's
// CPX_VAULT_ROLE_ID and CPX_VAULT_SECRET_ID) in the node's environment.
type Vault struct {
	// Addr is Vault's address, e.g. "https://vault.example.org:8200".
	Addr string `koanf:"addr"`
	// Token authenticates to Vault (or use RoleID and SecretID).
	Token string `koanf:"token"`
	// RoleID and SecretID log in with AppRole.
	RoleID   string `koanf:"role_id"`
	SecretID string `koanf:"secret_id"`
	// TransitMount is the transit engine's mount; default "transit".
	TransitMount string `koanf:"transit_mount"`
	// Key is the transit key's name; default "cpx".
	Key string `koanf:"key"`
	// KVMount is the KV v2 mount that holds per-case keys; default "secret".
	KVMount string `koanf:"kv_mount"`
	// CACert is a PEM file of CAs to trust for Vault's TLS certificate.
	CACert string `koanf:"ca_cert"`
}

// Cases configures case records.
type Cases struct {
	// NumberPrefix starts every case number: an upper-case letter, then up
	// to 11 upper-case letters or digits. Default "CASE"; cpx init writes
	// the agency's own (--case-prefix, or CasePrefix of the agency id).
	NumberPrefix string `koanf:"number_prefix"`
}

// CasePrefix derives a case number prefix from an agency id: the initial
// of each word, words of one or two letters (country codes) kept whole,
// and "the", "of", "and", "for" left out; save-the-children-so gives SCSO,
// unicef-so/hargeisa USOH. An id that gives fewer than two letters gives
// its first four letters and digits (unicef: UNIC). At most 8 characters.
func CasePrefix(agency string) string {
	stop := map[string]bool{"the": true, "of": true, "and": true, "for": true}
	var b strings.Builder
	for _, w := range strings.FieldsFunc(agency, func(r rune) bool { return r == '-' || r == '/' }) {
		switch {
		case stop[w]:
		case len(w) <= 2:
			b.WriteString(w)
		default:
			b.WriteByte(w[0])
		}
	}
	p := strings.ToUpper(b.String())
	if len(p) < 2 {
		p = strings.ToUpper(strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, agency))
		p = p[:min(4, len(p))]
	}
	p = p[:min(8, len(p))]
	if p == "" || p[0] < 'A' || p[0] > 'Z' {
		p = "C" + p
	}
	return p[:min(12, len(p))]
}

// usableCasePrefix is what a node accepts in its configuration: looser than
// ValidCasePrefix, so that nodes configured before it keep starting.
func usableCasePrefix(p string) bool {
	if p == "" || len(p) > 32 {
		return false
	}
	for _, r := range p {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// ValidCasePrefix reports whether p may start case numbers: an upper-case
// letter, then up to 11 upper-case letters or digits.
func ValidCasePrefix(p string) bool {
	if p == "" || len(p) > 12 || p[0] < 'A' || p[0] > 'Z' {
		return false
	}
	for _, r := range p {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// Forms configures the forms configuration.
type Forms struct {
	// Dir, if set, overrides the built-in standard forms from a directory
	// (relative paths are relative to the node directory).
	Dir string `koanf:"dir"`
}

// Exchange configures referrals, transfers and disclosures with other
// agencies.
type Exchange struct {
	// IntakeGroup is the user group incoming referrals, transfers and
	// disclosure requests belong to: its members see and answer them
	// (every member, whatever their role's scope); default "intake".
	IntakeGroup string `koanf:"intake_group"`
	// MaxEnvelopeLifetime is the longest validity (expiry minus creation)
	// of an envelope the node accepts, and of those it makes; default 720h
	// (30 days).
	MaxEnvelopeLifetime time.Duration `koanf:"max_envelope_lifetime"`
	// KeyGrace is how long after a rotation of the agency's keys the
	// previous keys still open envelopes newly sealed to them (peers that
	// have not heard of the rotation); default 168h (7 days). The previous
	// keys are deleted KeyGrace plus MaxEnvelopeLifetime after the rotation.
	KeyGrace time.Duration `koanf:"key_grace"`
	// MaxEnvelopeBytes bounds an envelope a peer delivers; default 4194304
	// (4 MiB).
	MaxEnvelopeBytes int `koanf:"max_envelope_bytes"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info (default), warn or error.
	Level string `koanf:"level"`
	// Format is text (default) or json.
	Format string `koanf:"format"`
}

// Default returns the built-in defaults.
func Default() Config {
	return Config{
		API:      API{Listen: "127.0.0.1:7400"},
		P2P:      P2P{Listen: []string{"/ip4/0.0.0.0/tcp/7401", "/ip4/0.0.0.0/udp/7401/quic-v1"}},
		Auth:     Auth{TokenTTL: 90 * 24 * time.Hour},
		Store:    Store{GCInterval: 5 * time.Minute, MaxRecordBytes: 1 << 20, MemTableMB: 16, BlockCacheMB: 16, IndexCacheMB: 16},
		Memory:   Memory{LimitMB: 256},
		Keyring:  Keyring{Kind: "file"},
		Vault:    Vault{TransitMount: "transit", Key: "cpx", KVMount: "secret"},
		Cases:    Cases{NumberPrefix: "CASE"},
		Exchange: Exchange{IntakeGroup: "intake", MaxEnvelopeLifetime: 30 * 24 * time.Hour, KeyGrace: 7 * 24 * time.Hour, MaxEnvelopeBytes: 4 << 20},
		Log:      Log{Level: "info", Format: "text"},

		Casework: Casework{TimeZone: "UTC", DigestTime: "07:00", DigestUpcomingDays: 7},
		Reports:  Reports{PushDay: 3},
		SMTP:     SMTP{TLS: "starttls", Timeout: 30 * time.Second},
	}
}

// FileName is the config file's name in a node directory.
const FileName = "cpx.toml"

// Load reads the configuration of the node in dir: defaults < dir/cpx.toml
// (if present) < environment (environ, as from os.Environ) < flags (keys as
// in the file, e.g. "api.listen").
func Load(dir string, environ []string, flags map[string]any) (Config, error) {
	k := koanf.New(".")
	def := Default()
	defaults := map[string]any{}
	flatten(def, defaults)
	if err := k.Load(confmap.Provider(defaults, "."), nil); err != nil {
		return Config{}, err
	}
	path := filepath.Join(dir, FileName)
	if _, err := os.Stat(path); err == nil {
		if err := k.Load(file.Provider(path), toml.Parser()); err != nil {
			return Config{}, fmt.Errorf("config %s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	for _, key := range k.Keys() {
		if _, known := defaults[key]; !known {
			return Config{}, fmt.Errorf("config %s: unknown key %q", path, key)
		}
	}
	env := map[string]any{}
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, "CPX_") {
			continue
		}
		if key, ok := envKey(defaults, name); ok {
			if _, list := defaults[key].([]string); list {
				env[key] = strings.Split(value, ",")
			} else {
				env[key] = value
			}
		}
	}
	if err := k.Load(confmap.Provider(env, "."), nil); err != nil {
		return Config{}, err
	}
	if err := k.Load(confmap.Provider(flags, "."), nil); err != nil {
		return Config{}, err
	}
	var c Config
	if err := k.UnmarshalWithConf("", &c, koanf.UnmarshalConf{Tag: "koanf"}); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return c, c.Validate()
}

// envKey maps CPX_API_LISTEN to "api.listen" by matching known keys.
func envKey(known map[string]any, name string) (string, bool) {
	want := strings.ToLower(strings.TrimPrefix(name, "CPX_"))
	for key := range known {
		if strings.ReplaceAll(key, ".", "_") == want {
			return key, true
		}
	}
	return "", false
}

// flatten writes every leaf of the default config as "section.key".
func flatten(c Config, out map[string]any) {
	out["agency.id"] = c.Agency.ID
	out["agency.name"] = c.Agency.Name
	out["agency.coordination"] = c.Agency.Coordination
	out["api.listen"] = c.API.Listen
	out["p2p.listen"] = c.P2P.Listen
	out["auth.token_ttl"] = c.Auth.TokenTTL.String()
	out["store.gc_interval"] = c.Store.GCInterval.String()
	out["store.max_record_bytes"] = c.Store.MaxRecordBytes
	out["store.memtable_mb"] = c.Store.MemTableMB
	out["store.block_cache_mb"] = c.Store.BlockCacheMB
	out["store.index_cache_mb"] = c.Store.IndexCacheMB
	out["memory.limit_mb"] = c.Memory.LimitMB
	out["keyring.kind"] = c.Keyring.Kind
	out["vault.addr"] = c.Vault.Addr
	out["vault.token"] = c.Vault.Token
	out["vault.role_id"] = c.Vault.RoleID
	out["vault.secret_id"] = c.Vault.SecretID
	out["vault.transit_mount"] = c.Vault.TransitMount
	out["vault.key"] = c.Vault.Key
	out["vault.kv_mount"] = c.Vault.KVMount
	out["vault.ca_cert"] = c.Vault.CACert
	out["cases.number_prefix"] = c.Cases.NumberPrefix
	out["exchange.intake_group"] = c.Exchange.IntakeGroup
	out["exchange.max_envelope_lifetime"] = c.Exchange.MaxEnvelopeLifetime.String()
	out["exchange.key_grace"] = c.Exchange.KeyGrace.String()
	out["exchange.max_envelope_bytes"] = c.Exchange.MaxEnvelopeBytes
	out["forms.dir"] = c.Forms.Dir
	out["log.level"] = c.Log.Level
	out["log.format"] = c.Log.Format
	out["casework.closure_requires_approval"] = c.Casework.ClosureRequiresApproval
	out["casework.time_zone"] = c.Casework.TimeZone
	out["casework.templates"] = c.Casework.Templates
	out["casework.digest_time"] = c.Casework.DigestTime
	out["casework.digest_upcoming_days"] = c.Casework.DigestUpcomingDays
	out["smtp.host"] = c.SMTP.Host
	out["smtp.port"] = c.SMTP.Port
	out["smtp.tls"] = c.SMTP.TLS
	out["smtp.username"] = c.SMTP.Username
	out["smtp.from"] = c.SMTP.From
	out["smtp.timeout"] = c.SMTP.Timeout.String()
	out["reports.push"] = c.Reports.Push
	out["reports.push_day"] = c.Reports.PushDay
}

// Validate checks the configuration and names the first bad key.
func (c Config) Validate() error {
	for _, e := range c.Reports.Push {
		r, a, ok := strings.Cut(e, "@")
		if !ok || r == "" || !ValidAgency(a) {
			return fmt.Errorf("config: reports.push %q: write REPORT@AGENCY, e.g. protection_concerns@cp-subcluster-so", e)
		}
	}
	if _, _, err := c.Casework.DigestAt(); err != nil {
		return err
	}
	switch {
	case c.Agency.ID == "":
		return errors.New("config: agency.id is required")
	case !ValidAgency(c.Agency.ID):
		return fmt.Errorf("config: agency.id %q: use lowercase letters, digits, '-' and '/' (e.g. unicef-so/hargeisa)", c.Agency.ID)
	case c.SMTP.Host != "" && c.SMTP.From == "":
		return errors.New("config: smtp.host is set but smtp.from is not")
	case c.Keyring.Kind != "file" && c.Keyring.Kind != "vault":
		return fmt.Errorf("config: keyring.kind %q: use \"file\" or \"vault\"", c.Keyring.Kind)
	case c.Keyring.Kind == "vault" && c.Vault.Addr == "":
		return errors.New("config: keyring.kind is vault but vault.addr is not set (CPX_VAULT_ADDR)")
	case c.Casework.DigestUpcomingDays < 0 || c.Casework.DigestUpcomingDays > 366:
		return fmt.Errorf("config: casework.digest_upcoming_days %d: use 0 to 366", c.Casework.DigestUpcomingDays)
	case c.Reports.PushDay < 1 || c.Reports.PushDay > 28:
		return fmt.Errorf("config: reports.push_day %d: use 1 to 28", c.Reports.PushDay)
	case c.Auth.TokenTTL <= 0:
		return errors.New("config: auth.token_ttl must be positive")
	case c.Store.MaxRecordBytes < 1024:
		return errors.New("config: store.max_record_bytes must be at least 1024")
	case c.Store.GCInterval < time.Second:
		return errors.New("config: store.gc_interval must be at least 1s")
	case c.Exchange.MaxEnvelopeLifetime < time.Hour:
		return errors.New("config: exchange.max_envelope_lifetime must be at least 1h")
	case c.Exchange.KeyGrace < 0:
		return errors.New("config: exchange.key_grace must not be negative")
	case c.Exchange.MaxEnvelopeBytes < 64<<10:
		return errors.New("config: exchange.max_envelope_bytes must be at least 65536")
	case c.Store.MemTableMB < 1 || c.Store.BlockCacheMB < 1 || c.Store.IndexCacheMB < 1:
		return errors.New("config: store.memtable_mb, store.block_cache_mb and store.index_cache_mb must be at least 1")
	case c.Memory.LimitMB < -1 || c.Memory.LimitMB == 0:
		return errors.New("config: memory.limit_mb must be a number of MiB, or -1 for no limit")
	case len(c.P2P.Listen) == 0:
		return errors.New("config: p2p.listen needs at least one address")
	case !usableCasePrefix(c.Cases.NumberPrefix):
		return fmt.Errorf("config: cases.number_prefix %q: use letters, digits and '-', at most 32 (e.g. SCSO)", c.Cases.NumberPrefix)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: log.level %q: use debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf("config: log.format %q: use text or json", c.Log.Format)
	}
	return nil
}

// ValidAgency reports whether id is a well-formed agency id.
func ValidAgency(id string) bool {
	if id == "" || len(id) > 64 || strings.HasPrefix(id, "/") || strings.HasSuffix(id, "/") || strings.Contains(id, "//") {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '/') {
			return false
		}
	}
	return true
}

// WriteFile writes a minimal cpx.toml for a new node.
func WriteFile(dir string, c Config) error {
	body := fmt.Sprintf(`# CPX node configuration. Every key and its default: docs/config.md.
# Environment variables (CPX_API_LISTEN, ...) and flags override this file.

[agency]
id = %q
name = %q
%s
[api]
listen = %q

[p2p]
listen = [%s]

[keyring]
kind = %q

[cases]
# Case numbers are PREFIX-000001.
number_prefix = %q
%s`, c.Agency.ID, c.Agency.Name, coordinationLine(c), c.API.Listen, quoteList(c.P2P.Listen), c.Keyring.Kind, c.Cases.NumberPrefix, vaultSection(c))
	f, err := os.OpenFile(filepath.Join(dir, FileName), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func coordinationLine(c Config) string {
	if !c.Agency.Coordination {
		return ""
	}
	return "# A coordination node: no case files, aggregates only (docs/coordination.md).\ncoordination = true\n"
}

func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// vaultSection writes the non-secret Vault settings; the token stays in
// the environment.
func vaultSection(c Config) string {
	if c.Keyring.Kind != "vault" {
		return ""
	}
	return fmt.Sprintf("\n# The token comes from CPX_VAULT_TOKEN (or AppRole: CPX_VAULT_ROLE_ID, CPX_VAULT_SECRET_ID).\n[vault]\naddr = %q\ntransit_mount = %q\nkey = %q\nkv_mount = %q\nca_cert = %q\n",
		c.Vault.Addr, c.Vault.TransitMount, c.Vault.Key, c.Vault.KVMount, c.Vault.CACert)
}
