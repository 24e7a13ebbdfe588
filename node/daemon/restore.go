package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cpx-node/cpx/crypto/keyring"
	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/backup"
	"github.com/cpx-node/cpx/node/casekeys"
	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/config"
	"github.com/cpx-node/cpx/node/forms"
	"github.com/cpx-node/cpx/node/nodedir"
	"github.com/cpx-node/cpx/node/store/badgerstore"
)

// backupFiles are the node files a backup carries besides the store.
var backupFiles = []string{nodedir.ConfigFile, nodedir.StoreKeyFile, nodedir.KeyringFile}

// purgeEntry is one line of a backup's purge log.
type purgeEntry struct {
	ID string `json:"id"`
}

// Backup implements api.NodeOps: a consistent snapshot of the store,
// encrypted under a key the node's keyring wraps, with the node files
// needed to restore it, then the wrapped case keys (file keyring: Vault
// keeps its own) and the purge log. The case keys are exported after the
// snapshot, so every case in the snapshot has its key (or its destroyed
// mark) in the backup.
func (n *Node) Backup(ctx context.Context, w io.Writer) error {
	meta := backup.Meta{Agency: n.cfg.Agency.ID, Created: time.Now().UTC(), Keyring: n.kr.Kind(), Files: map[string][]byte{}}
	for _, f := range backupFiles {
		b, err := os.ReadFile(filepath.Join(n.dir, f))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		meta.Files[f] = b
	}
	if err := audit.Record(ctx, n.st, time.Now(), audit.Event{Actor: "node", Action: "node.backup", Object: "node"}); err != nil {
		return err
	}
	parts := []backup.Part{{Name: backup.PartStore, Write: n.store.Backup}}
	portable, _ := n.caseKeys.(casekeys.Portable)
	if portable != nil {
		parts = append(parts, backup.Part{Name: backup.PartCaseKeys, Write: func(w io.Writer) error {
			enc := json.NewEncoder(w)
			return portable.Export(ctx, func(e casekeys.Entry) error { return enc.Encode(e) })
		}})
	}
	parts = append(parts, backup.Part{Name: backup.PartPurges, Write: func(w io.Writer) error {
		ids, err := n.cases.PurgedIDs(ctx)
		if err != nil {
			return err
		}
		if portable != nil {
			if err := portable.Export(ctx, func(e casekeys.Entry) error {
				if e.Destroyed {
					ids = append(ids, e.CaseID)
				}
				return nil
			}); err != nil {
				return err
			}
		}
		slices.Sort(ids)
		enc := json.NewEncoder(w)
		for _, id := range slices.Compact(ids) {
			if err := enc.Encode(purgeEntry{ID: id}); err != nil {
				return err
			}
		}
		return nil
	}})
	return backup.Write(ctx, w, n.kr, meta, parts...)
}

// Errors of Restore.
var (
	// ErrRestoreTarget is returned when the restore directory already
	// holds a node's store or other files.
	ErrRestoreTarget = errors.New("the directory already holds a node store; restore into a new directory")
	// ErrRestoreVaultAddr is returned when a Vault node's backup is
	// restored without the operator naming Vault's address.
	ErrRestoreVaultAddr = errors.New("restoring a Vault node needs Vault's address from you (--vault-addr or CPX_VAULT_ADDR): an address read from a backup is not trusted with a token")
	// ErrRestoreCheck is returned when cases of the restored data do not
	// open with the restored (or Vault's) case keys.
	ErrRestoreCheck = errors.New("restored cases do not open")
)

// RestoreOptions describe a restore.
type RestoreOptions struct {
	// File is the backup; Dir the node directory to create (it must not
	// exist or be empty).
	File, Dir string
	// Passphrase opens the backup's file keyring.
	Passphrase []byte
	// Environ is the environment (Vault credentials: CPX_VAULT_TOKEN...).
	Environ []string
	// VaultAddr is Vault's address for a Vault node's backup, as the
	// operator gives it (else CPX_VAULT_ADDR from Environ). The address in
	// the backup is never used to send a credential.
	VaultAddr string
	// PurgesFrom are newer backups of the same node whose purge logs are
	// replayed on the restored data: cases purged after File was made
	// stay purged.
	PurgesFrom []string
	// Logger receives warnings; nil discards them.
	Logger *slog.Logger
}

// RestoreReport says what a restore did.
type RestoreReport struct {
	Meta backup.Meta
	// Cases is the number of live cases whose every record opened.
	Cases int
	// Tombstones is the number of purged cases (after the replays).
	Tombstones int
	// Replayed are the ids of cases live in the backup that were purged
	// again (their keys destroyed since, or in a purge log).
	Replayed []string
	// CaseKeys says where the case keys came from: "backup" or "vault".
	CaseKeys string
}

// Restore creates the node directory o.Dir from a backup. It builds the
// node in a temporary directory beside o.Dir, authenticates the whole
// backup with the keyring it was made with (the file keyring it carries,
// opened with the passphrase, or Vault at the operator's address), loads
// the store and the case keys, replays every purge it knows of (the
// backup's own log, the logs of o.PurgesFrom, and the keys Vault has
// destroyed), and opens every case and version. Only if all of that
// succeeds is the directory moved into place; otherwise nothing is left
// behind and o.Dir is as it was.
func Restore(ctx context.Context, o RestoreOptions) (rep RestoreReport, err error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := checkRestoreTarget(o.Dir); err != nil {
		return rep, err
	}
	f, err := os.Open(o.File)
	if err != nil {
		return rep, err
	}
	defer f.Close()
	meta, err := backup.ReadMeta(f)
	if err != nil {
		return rep, err
	}
	parent := filepath.Dir(filepath.Clean(o.Dir))
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return rep, err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(o.Dir)+".restoring-")
	if err != nil {
		return rep, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	for name, b := range meta.Files {
		if !slices.Contains(backupFiles, name) {
			return rep, fmt.Errorf("%w: unexpected file %q", backup.ErrFormat, name)
		}
		if err := nodedir.WriteFileAtomic(filepath.Join(tmp, name), b, 0o600); err != nil {
			return rep, err
		}
	}
	var flags map[string]any
	if meta.Keyring == "vault" {
		addr := o.VaultAddr
		if addr == "" {
			addr = envValue(o.Environ, "CPX_VAULT_ADDR")
		}
		if addr == "" {
			return rep, ErrRestoreVaultAddr
		}
		flags = map[string]any{"vault.addr": addr}
	}
	cfg, err := config.Load(tmp, o.Environ, flags)
	if err != nil {
		return rep, err
	}
	if cfg.Keyring.Kind != meta.Keyring {
		return rep, fmt.Errorf("%w: the backup says keyring %q, its configuration %q", backup.ErrFormat, meta.Keyring, cfg.Keyring.Kind)
	}
	kr, err := OpenKeyring(ctx, tmp, cfg, o.Passphrase, log)
	if err != nil {
		return rep, err
	}
	if c, ok := kr.(interface{ Close() error }); ok {
		defer c.Close()
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return rep, err
	}
	// From here on the header is authenticated: Open unwraps the backup
	// key only for the exact header it was written with.
	meta, content, err := backup.Open(ctx, f, kr)
	if err != nil {
		return rep, err
	}
	rep.Meta = meta
	wrapped, ok := meta.Files[nodedir.StoreKeyFile]
	if !ok {
		return rep, fmt.Errorf("%w: no store key", backup.ErrFormat)
	}
	storeKey, err := kr.Unwrap(ctx, storeKeyName, wrapped)
	if err != nil {
		return rep, fmt.Errorf("unwrapping the store key: %w", err)
	}
	st, err := badgerstore.Open(ctx, badgerstore.Options{Dir: filepath.Join(tmp, nodedir.DataDir), EncryptionKey: storeKey, GCInterval: -1})
	clear(storeKey)
	if err != nil {
		return rep, err
	}
	keys, err := openCaseKeys(ctx, tmp, cfg, kr, log)
	if err != nil {
		st.Close()
		return rep, fmt.Errorf("case keys: %w", err)
	}
	// Both stores are closed before the directory moves into place.
	closeStores := func() error {
		err := st.Close()
		if c, ok := keys.(interface{ Close() error }); ok {
			err = errors.Join(err, c.Close())
		}
		return err
	}
	rep, err = restoreContent(ctx, rep, o, cfg, kr, content, st, keys)
	if cerr := closeStores(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return rep, err
	}
	if err := moveIntoPlace(tmp, o.Dir); err != nil {
		return rep, err
	}
	return rep, nil
}

// restoreContent loads the backup's parts into the open stores, replays
// the purges and checks every case.
func restoreContent(ctx context.Context, rep RestoreReport, o RestoreOptions, cfg config.Config, kr keyring.Keyring, content *backup.Reader, st *badgerstore.Store, keys casekeys.Store) (RestoreReport, error) {
	meta := rep.Meta
	rep.CaseKeys = "vault"
	portable, _ := keys.(casekeys.Portable)
	if portable != nil {
		rep.CaseKeys = "backup"
	}
	purges := map[string]bool{}
	sawKeys := false
	for {
		name, err := content.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return rep, err
		}
		switch name {
		case backup.PartStore:
			if err := st.Load(content); err != nil {
				return rep, err
			}
		case backup.PartCaseKeys:
			if portable == nil {
				return rep, fmt.Errorf("%w: a backup with case keys for a node that keeps them in Vault", backup.ErrFormat)
			}
			sawKeys = true
			if err := importCaseKeys(ctx, content, portable); err != nil {
				return rep, err
			}
		case backup.PartPurges:
			if err := readPurges(content, purges); err != nil {
				return rep, err
			}
		default:
			return rep, fmt.Errorf("%w: unknown part %q (made by a newer cpx?)", backup.ErrFormat, name)
		}
	}
	if portable != nil && !sawKeys {
		return rep, fmt.Errorf("%w: this backup (format %d) carries no case keys, so its cases cannot be read; make a new backup with this version of cpx", ErrRestoreCheck, meta.Version)
	}
	for _, p := range o.PurgesFrom {
		if err := purgesFrom(ctx, p, kr, meta, purges); err != nil {
			return rep, fmt.Errorf("--purges-from %s: %w", p, err)
		}
	}

	cases := casework.New(casework.Options{Store: st, Forms: forms.Standard(), Agency: cfg.Agency.ID, NumberPrefix: cfg.Cases.NumberPrefix, Keys: keys})
	replayed := map[string]bool{}
	for _, id := range slices.Sorted(maps.Keys(purges)) {
		live, err := cases.ReplayPurge(ctx, id, "cpx-restore")
		if errors.Is(err, casework.ErrNotFound) && !errors.Is(err, casework.ErrPurged) {
			continue // created after this backup was made
		}
		if err != nil {
			return rep, err
		}
		if live {
			replayed[id] = true
		}
	}
	check, err := cases.Check(ctx)
	if err != nil {
		return rep, err
	}
	for _, id := range check.KeyDestroyed {
		if _, err := cases.ReplayPurge(ctx, id, "cpx-restore"); err != nil {
			return rep, err
		}
		replayed[id] = true
	}
	if check.Failed > 0 {
		return rep, restoreCheckError(check, rep.CaseKeys)
	}
	rep.Cases = check.Cases
	rep.Tombstones = check.Tombstones + len(check.KeyDestroyed)
	rep.Replayed = slices.Sorted(maps.Keys(replayed))
	if err := audit.Record(ctx, st, time.Now(), audit.Event{Actor: "cpx-restore", Action: "node.restore", Object: "agency/" + meta.Agency,
		Details: map[string]any{"backup_created": meta.Created, "cases": rep.Cases, "tombstones": rep.Tombstones, "case_keys": rep.CaseKeys, "purge_logs": 1 + len(o.PurgesFrom)}}); err != nil {
		return rep, err
	}
	return rep, nil
}

// checkRestoreTarget refuses a directory that holds anything.
func checkRestoreTarget(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, nodedir.DataDir)); err == nil {
		return fmt.Errorf("%s: %w", dir, ErrRestoreTarget)
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("%s is not empty (it holds %s): restore into a new or empty directory", dir, entries[0].Name())
	}
	return nil
}

// moveIntoPlace renames the finished node directory tmp to dir (an empty
// directory there is replaced).
func moveIntoPlace(tmp, dir string) error {
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: %w", dir, err)
	}
	return os.Rename(tmp, dir)
}

func importCaseKeys(ctx context.Context, r io.Reader, p casekeys.Portable) error {
	dec := json.NewDecoder(bufio.NewReader(r))
	batch := make([]casekeys.Entry, 0, 1000)
	for {
		var e casekeys.Entry
		err := dec.Decode(&e)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: case keys: %v", backup.ErrFormat, err)
		}
		batch = append(batch, e)
		if len(batch) == cap(batch) {
			if err := p.Import(ctx, batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if len(batch) == 0 {
		return nil
	}
	return p.Import(ctx, batch)
}

func readPurges(r io.Reader, into map[string]bool) error {
	dec := json.NewDecoder(bufio.NewReader(r))
	for {
		var e purgeEntry
		err := dec.Decode(&e)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: purge log: %v", backup.ErrFormat, err)
		}
		if err := casekeys.CheckID(e.ID); err != nil {
			return fmt.Errorf("%w: purge log: %v", backup.ErrFormat, err)
		}
		into[e.ID] = true
	}
}

// purgesFrom reads the purge log of another backup of the same node,
// opened with the same keyring.
func purgesFrom(ctx context.Context, file string, kr keyring.Keyring, restoring backup.Meta, into map[string]bool) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	meta, content, err := backup.Open(ctx, f, kr)
	if err != nil {
		return err
	}
	if meta.Agency != restoring.Agency {
		return fmt.Errorf("a backup of agency %s, not %s", meta.Agency, restoring.Agency)
	}
	found := false
	for {
		name, err := content.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if name == backup.PartPurges {
			found = true
			if err := readPurges(content, into); err != nil {
				return err
			}
		}
	}
	if !found {
		return fmt.Errorf("it carries no purge log (format %d)", meta.Version)
	}
	return nil
}

func restoreCheckError(c casework.CheckReport, source string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d cases do not open with the case keys from %s", c.Failed, c.Failed+c.Cases, source)
	for i, f := range c.Failures {
		if i == 3 {
			fmt.Fprintf(&b, "; …")
			break
		}
		fmt.Fprintf(&b, "; %s: %v", f.ID, f.Err)
	}
	if source == "vault" {
		b.WriteString(" (Vault must still hold every case key of this node at its KV path and the transit key versions that wrapped them; see docs/keys.md)")
	}
	return fmt.Errorf("%w: %s; nothing was restored", ErrRestoreCheck, b.String())
}

func envValue(environ []string, name string) string {
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}
