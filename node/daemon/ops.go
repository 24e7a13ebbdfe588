package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cpx-node/cpx/crypto/keyring"
	"github.com/cpx-node/cpx/node/api"
	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/backup"
	"github.com/cpx-node/cpx/node/config"
	"github.com/cpx-node/cpx/node/nodedir"
	"github.com/cpx-node/cpx/node/store/badgerstore"
)

var _ api.NodeOps = (*Node)(nil)

// keyringHealth remembers the last check of the keyring.
type keyringHealth struct {
	mu      sync.Mutex
	ok      bool
	problem string
}

func (h *keyringHealth) set(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ok, h.problem = err == nil, ""
	if err != nil {
		h.problem = err.Error()
	}
}

func (h *keyringHealth) get() (bool, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ok, h.problem
}

// checkKeyring asks the keyring whether it can still wrap and unwrap. The
// node keeps serving with the keys it holds in memory either way.
func (n *Node) checkKeyring(ctx context.Context) error {
	v, ok := n.kr.(*keyring.Vault)
	if !ok {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return v.Health(cctx)
}

// watchKeyring checks the keyring every interval until ctx is done.
func (n *Node) watchKeyring(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		err := n.checkKeyring(ctx)
		wasOK, _ := n.health.get()
		n.health.set(err)
		switch {
		case err != nil && wasOK:
			n.log.Warn("keyring unreachable; serving with the keys already in memory", "err", err)
		case err == nil && !wasOK:
			n.log.Info("keyring reachable again")
		}
		if err == nil {
			n.keyringUp.Set(1)
		} else {
			n.keyringUp.Set(0)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// KeyringStatus implements api.NodeOps.
func (n *Node) KeyringStatus(ctx context.Context) api.KeyringStatus {
	st := api.KeyringStatus{Kind: n.kr.Kind()}
	err := n.checkKeyring(ctx)
	n.health.set(err)
	st.OK, st.Problem = n.health.get()
	if v, ok := n.kr.(*keyring.Vault); ok && err == nil {
		st.Latest, st.MinDecryption, _ = v.KeyVersions(ctx)
	}
	return st
}

// KeyringHealth implements api.NodeOps.
func (n *Node) KeyringHealth() (bool, string) { return n.health.get() }

// rewrapper is a keyring whose wrapping key rotates.
type rewrapper interface {
	Rotate(ctx context.Context) error
	Rewrap(ctx context.Context, name string, wrapped []byte) ([]byte, error)
}

// RotateWrapping implements api.NodeOps: it rotates the keyring's key and
// rewraps the store key and every secret in the store.
func (n *Node) RotateWrapping(ctx context.Context) (int, error) {
	rw, ok := n.kr.(rewrapper)
	if !ok {
		return 0, fmt.Errorf("the %s keyring has no wrapping key to rotate (use a Vault keyring)", n.kr.Kind())
	}
	if err := rw.Rotate(ctx); err != nil {
		return 0, err
	}
	path := filepath.Join(n.dir, nodedir.StoreKeyFile)
	wrapped, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	if wrapped, err = rw.Rewrap(ctx, storeKeyName, wrapped); err != nil {
		return 0, err
	}
	if err := nodedir.WriteFileAtomic(path, wrapped, 0o600); err != nil {
		return 0, err
	}
	count, err := n.ex.Load().RewrapSecrets(ctx, rw.Rewrap)
	if err != nil {
		return 1, err
	}
	count++
	return count, audit.Record(ctx, n.store, time.Now(), audit.Event{Actor: "node", Action: "keys.rewrap", Object: "node", Details: count})
}

// backupFiles are the node files a backup carries besides the store.
var backupFiles = []string{nodedir.ConfigFile, nodedir.StoreKeyFile, nodedir.KeyringFile}

// Backup implements api.NodeOps: a consistent snapshot of the store,
// encrypted under a key the node's keyring wraps, with the node files
// needed to restore it.
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
	if err := audit.Record(ctx, n.store, time.Now(), audit.Event{Actor: "node", Action: "node.backup", Object: "node"}); err != nil {
		return err
	}
	return backup.Write(ctx, w, n.kr, meta, n.store.Backup)
}

// ErrRestoreTarget is returned when the restore directory already holds a
// node's store.
var ErrRestoreTarget = errors.New("the directory already holds a node store; restore into a new directory")

// Restore creates the node directory dir from the backup file, opening it
// with the keyring the backup was made with (the file keyring it carries,
// opened with passphrase, or Vault as its configuration says, with
// credentials from environ). Nothing is overwritten: dir must not hold a
// store. On any error, what Restore wrote is removed.
func Restore(ctx context.Context, file, dir string, passphrase []byte, environ []string, log *slog.Logger) (meta backup.Meta, err error) {
	if _, err := os.Stat(filepath.Join(dir, nodedir.DataDir)); err == nil {
		return meta, fmt.Errorf("%s: %w", dir, ErrRestoreTarget)
	}
	f, err := os.Open(file)
	if err != nil {
		return meta, err
	}
	defer f.Close()
	if meta, err = backup.ReadMeta(f); err != nil {
		return meta, err
	}
	var written []string
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return meta, err
	}
	defer func() {
		if err != nil {
			for _, p := range written {
				os.RemoveAll(p)
			}
		}
	}()
	for name, b := range meta.Files {
		if filepath.Base(name) != name {
			return meta, fmt.Errorf("%w: bad file name %q", backup.ErrFormat, name)
		}
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return meta, fmt.Errorf("%s exists already: %w", p, ErrRestoreTarget)
		}
		if err := nodedir.WriteFileAtomic(p, b, 0o600); err != nil {
			return meta, err
		}
		written = append(written, p)
	}
	cfg, err := config.Load(dir, environ, nil)
	if err != nil {
		return meta, err
	}
	kr, err := OpenKeyring(ctx, dir, cfg, passphrase, log)
	if err != nil {
		return meta, err
	}
	if c, ok := kr.(interface{ Close() error }); ok {
		defer c.Close()
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return meta, err
	}
	_, content, err := backup.Open(ctx, f, kr)
	if err != nil {
		return meta, err
	}
	wrapped, ok := meta.Files[nodedir.StoreKeyFile]
	if !ok {
		return meta, fmt.Errorf("%w: no store key", backup.ErrFormat)
	}
	storeKey, err := kr.Unwrap(ctx, storeKeyName, wrapped)
	if err != nil {
		return meta, fmt.Errorf("unwrapping the store key: %w", err)
	}
	dataDir := filepath.Join(dir, nodedir.DataDir)
	written = append(written, dataDir)
	st, err := badgerstore.Open(ctx, badgerstore.Options{Dir: dataDir, EncryptionKey: storeKey})
	clear(storeKey)
	if err != nil {
		return meta, err
	}
	if err := st.Load(content); err != nil {
		st.Close()
		return meta, err
	}
	if err := audit.Record(ctx, st, time.Now(), audit.Event{Actor: "cpx-restore", Action: "node.restore", Object: "agency/" + meta.Agency, Details: meta.Created}); err != nil {
		st.Close()
		return meta, err
	}
	return meta, st.Close()
}
