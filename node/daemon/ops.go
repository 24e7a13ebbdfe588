package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cpx-node/cpx/crypto/keyring"
	"github.com/cpx-node/cpx/node/api"
	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/nodedir"
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
	return count, audit.Record(ctx, n.st, time.Now(), audit.Event{Actor: "node", Action: "keys.rewrap", Object: "node", Details: count})
}
