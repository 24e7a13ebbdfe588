package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/config"
	"github.com/cpx-node/cpx/node/nodedir"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/badgerstore"
	"github.com/cpx-node/cpx/node/users"
)

// adminRole is the role RecoverAdmin issues tokens for.
const adminRole = "agency_admin"

// RecoverAdminOptions describe an offline administrator token.
type RecoverAdminOptions struct {
	// Dir is the node directory; the node must be stopped.
	Dir string
	// User is the administrator (default AdminUser). If no such user
	// exists, one is created with the agency_admin role.
	User string
	// Passphrase opens the file keyring; Environ holds Vault's
	// credentials for a Vault node.
	Passphrase []byte
	Environ    []string
}

// RecoverAdmin issues a new token to an agency administrator without the
// node's API, for whoever holds the keyring's passphrase (or the Vault
// credentials): after a restore onto a new machine the old
// credentials.json is gone with the old machine. It opens the keyring (so
// the passphrase or Vault access is proven), opens the stopped node's
// store, issues the token, audits "user.token.recover", and writes
// DIR/credentials.json. A disabled administrator is refused.
func RecoverAdmin(ctx context.Context, o RecoverAdminOptions) (nodedir.Credentials, error) {
	var creds nodedir.Credentials
	name := o.User
	if name == "" {
		name = AdminUser
	}
	if err := users.ValidateName(name); err != nil {
		return creds, err
	}
	if _, err := os.Stat(filepath.Join(o.Dir, nodedir.ConfigFile)); err != nil {
		return creds, fmt.Errorf("%s is not a node directory (no %s)", o.Dir, nodedir.ConfigFile)
	}
	cfg, err := config.Load(o.Dir, o.Environ, nil)
	if err != nil {
		return creds, err
	}
	kr, err := OpenKeyring(ctx, o.Dir, cfg, o.Passphrase, nil)
	if err != nil {
		return creds, err
	}
	if c, ok := kr.(interface{ Close() error }); ok {
		defer c.Close()
	}
	wrapped, err := os.ReadFile(filepath.Join(o.Dir, nodedir.StoreKeyFile))
	if err != nil {
		return creds, fmt.Errorf("reading the store key: %w", err)
	}
	storeKey, err := kr.Unwrap(ctx, storeKeyName, wrapped)
	if err != nil {
		return creds, fmt.Errorf("unwrapping the store key: %w", err)
	}
	st, err := badgerstore.Open(ctx, badgerstore.Options{Dir: filepath.Join(o.Dir, nodedir.DataDir), EncryptionKey: storeKey, GCInterval: -1})
	clear(storeKey)
	if err != nil {
		if errors.Is(err, badgerstore.ErrLocked) {
			return creds, fmt.Errorf("the node in %s is running: stop it first: %w", o.Dir, err)
		}
		return creds, err
	}
	defer st.Close()
	now := time.Now().UTC()
	var token string
	err = st.Update(ctx, func(w store.Writer) error {
		u, err := users.Get(w, name)
		created := false
		switch {
		case errors.Is(err, users.ErrNotFound):
			token, err = users.Add(w, users.User{Name: name, Role: adminRole, CreatedAt: now, Owner: true}, now.Add(cfg.Auth.TokenTTL))
			created = true
		case err != nil:
			return err
		case u.Disabled:
			return fmt.Errorf("user %q is disabled: name another administrator with --user", name)
		case u.Role != adminRole:
			return fmt.Errorf("user %q has the role %s, not %s: name an administrator with --user", name, u.Role, adminRole)
		default:
			token, err = users.IssueToken(w, name, now.Add(cfg.Auth.TokenTTL))
		}
		if err != nil {
			return err
		}
		_, err = audit.Append(w, now, audit.Event{Actor: "cpx-recover-admin", Action: "user.token.recover", Object: "user/" + name,
			Details: map[string]any{"created": created, "keyring": kr.Kind()}})
		return err
	})
	if err != nil {
		return creds, err
	}
	creds = nodedir.Credentials{User: name, Token: token}
	return creds, nodedir.WriteCredentials(o.Dir, creds)
}
