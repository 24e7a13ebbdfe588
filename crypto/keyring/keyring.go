// Package keyring declares how a node keeps its secrets: every private key
// and the store's encryption key exist at rest only wrapped (encrypted) by a
// keyring, and in plaintext only in process memory.
//
// The embedded default is File, a local keyring file whose key-encryption key
// is derived from a passphrase with Argon2id. A HashiCorp Vault keyring (the
// transit engine wraps and unwraps) implements the same interface.
package keyring

import (
	"context"
	"errors"
)

// Errors returned by keyrings.
var (
	// ErrWrongPassphrase is returned when a passphrase does not open a keyring.
	ErrWrongPassphrase = errors.New("keyring: wrong passphrase")
	// ErrCorrupt is returned when a wrapped secret does not authenticate:
	// it was modified, wrapped by another keyring, or wrapped under another name.
	ErrCorrupt = errors.New("keyring: wrapped secret does not authenticate")
	// ErrExists is returned when creating a keyring where one already exists.
	ErrExists = errors.New("keyring: already exists")
	// ErrNotExist is returned when opening a keyring that does not exist.
	ErrNotExist = errors.New("keyring: does not exist")
)

// Keyring wraps and unwraps secrets under a key-encryption key it holds and
// never reveals.
type Keyring interface {
	// Kind names the implementation ("file", "vault").
	Kind() string
	// Wrap encrypts secret and binds it to name (for example "store-key"),
	// so that a wrapped secret cannot be unwrapped under another name.
	Wrap(ctx context.Context, name string, secret []byte) ([]byte, error)
	// Unwrap reverses Wrap. It returns ErrCorrupt if wrapped does not
	// authenticate under this keyring and name.
	Unwrap(ctx context.Context, name string, wrapped []byte) ([]byte, error)
}
