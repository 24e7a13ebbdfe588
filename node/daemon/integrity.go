package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cpx-node/cpx/node/config"
	"github.com/cpx-node/cpx/node/nodedir"
	"github.com/cpx-node/cpx/node/store/badgerstore"
)

// keyRecordPrefixes are the kinds of record a node will not start
// without: users and their roles and tokens, the agency's keys and the
// node's identity, peers, and ISPs (policies).
var keyRecordPrefixes = [][]byte{
	[]byte("u/"),   // users (with their roles) and tokens
	[]byte("x/k/"), // the agency's wrapped private keys
	[]byte("x/id"), // the node's wrapped libp2p identity
	[]byte("x/p/"), // peers
	[]byte("x/i/"), // ISPs
}

// ErrStoreDamaged is wrapped by Open's error when the store failed an
// integrity check that the node cannot start past.
var ErrStoreDamaged = errors.New("the node's store is damaged")

// restoreAdvice tells the operator what to do about a damaged store.
func restoreAdvice(dir string) string {
	return fmt.Sprintf("the node will not start: run `cpx store verify --dir %s` for the full list, "+
		"then restore the node from a backup into a new directory (`cpx restore FILE --dir NEWDIR`, see docs/keys.md) "+
		"and keep %s for investigation", dir, dir)
}

// storeOpenError explains an integrity failure found while opening the
// store; other errors pass unchanged.
func storeOpenError(dir string, err error) error {
	if errors.Is(err, badgerstore.ErrCorrupt) {
		return fmt.Errorf("%w: %w; %s", ErrStoreDamaged, err, restoreAdvice(dir))
	}
	return err
}

// checkKeyRecords reads and authenticates every key record before the
// node starts.
func checkKeyRecords(ctx context.Context, dir string, st *badgerstore.Store) error {
	if err := st.CheckPrefixes(ctx, keyRecordPrefixes...); err != nil {
		return fmt.Errorf("%w: a key record (users, roles, keys, peers, policies) failed its check: %w; %s", ErrStoreDamaged, err, restoreAdvice(dir))
	}
	return nil
}

// VerifyStoreOptions describe a store check.
type VerifyStoreOptions struct {
	// Dir is the node directory; the node must be stopped.
	Dir string
	// Passphrase opens the file keyring; Environ holds Vault's
	// credentials for a Vault node.
	Passphrase []byte
	Environ    []string
}

// VerifyStore opens the keyring of the stopped node in o.Dir, unwraps the
// store key and checks the store (badgerstore.Verify): every Badger file
// it can, and every record read and authenticated. The error is for a
// check that could not run; integrity failures are in the report.
func VerifyStore(ctx context.Context, o VerifyStoreOptions) (badgerstore.VerifyReport, error) {
	var rep badgerstore.VerifyReport
	if _, err := os.Stat(filepath.Join(o.Dir, nodedir.ConfigFile)); err != nil {
		return rep, fmt.Errorf("%s is not a node directory (no %s)", o.Dir, nodedir.ConfigFile)
	}
	cfg, err := config.Load(o.Dir, o.Environ, nil)
	if err != nil {
		return rep, err
	}
	kr, err := OpenKeyring(ctx, o.Dir, cfg, o.Passphrase, nil)
	if err != nil {
		return rep, err
	}
	if c, ok := kr.(interface{ Close() error }); ok {
		defer c.Close()
	}
	wrapped, err := os.ReadFile(filepath.Join(o.Dir, nodedir.StoreKeyFile))
	if err != nil {
		return rep, fmt.Errorf("reading the store key: %w", err)
	}
	storeKey, err := kr.Unwrap(ctx, storeKeyName, wrapped)
	if err != nil {
		return rep, fmt.Errorf("unwrapping the store key: %w", err)
	}
	defer clear(storeKey)
	rep, err = badgerstore.Verify(ctx, badgerstore.Options{Dir: filepath.Join(o.Dir, nodedir.DataDir), EncryptionKey: storeKey})
	if errors.Is(err, badgerstore.ErrLocked) {
		return rep, fmt.Errorf("the node in %s is running: stop it first: %w", o.Dir, err)
	}
	return rep, err
}
