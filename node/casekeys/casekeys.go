// Package casekeys keeps the per-case data keys that casework encrypts each
// case's form data and history under, apart from the data itself.
//
// # Crypto-shredding
//
// A case's sensitive data is stored only encrypted under its own random
// 32-byte key, kept in a Store apart from the data. Destroying a case's
// key (Destroy) makes every copy of that case's ciphertext unreadable:
// this is how `cpx case purge` honours a right to erasure without
// rewriting the data store's files. A node's backups carry the Local
// store's keys still wrapped (Portable) together with a purge log that a
// restore replays; docs/purge.md says what that leaves open.
//
// # Implementations
//
//   - Local: a small Badger database in its own directory, every key
//     additionally wrapped by the node's keyring (name "case-key:" + id).
//   - Vault: keys in a HashiCorp Vault KV version 2 engine; Destroy destroys
//     every version and deletes the metadata.
//   - Memory: an in-memory twin for tests.
//
// All three pass the shared suite in casekeystest. What each keeps after
// Destroy, and what an old copy of it would revive, is documented on the
// type and in docs/purge.md.
package casekeys

import (
	"context"
	"errors"
	"fmt"
)

// KeySize is the size in bytes of a case key (AES-256).
const KeySize = 32

// Errors returned by every Store.
var (
	// ErrNotFound is returned by Get when no key was ever created for the case.
	ErrNotFound = errors.New("casekeys: no key for this case")
	// ErrDestroyed is returned by Get and Create when the case's key was
	// destroyed: the case was purged.
	ErrDestroyed = errors.New("casekeys: case key destroyed")
	// ErrExists is returned by Create when the case already has a key.
	ErrExists = errors.New("casekeys: case key already exists")
	// ErrInvalidID is returned for a case id that is empty, longer than
	// 128 bytes or holds bytes other than ASCII letters, digits, '-', '_'
	// and '.'.
	ErrInvalidID = errors.New("casekeys: invalid case id")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("casekeys: closed")
)

// Store keeps one data key per case.
type Store interface {
	// Create makes a new random key for caseID, stores it durably and
	// returns it. It fails with ErrExists if the case has a key and with
	// ErrDestroyed if the case's key was destroyed.
	Create(ctx context.Context, caseID string) ([]byte, error)
	// Get returns caseID's key: ErrDestroyed if it was destroyed,
	// ErrNotFound if it was never created.
	Get(ctx context.Context, caseID string) ([]byte, error)
	// Destroy irreversibly removes caseID's key and remembers that it was
	// destroyed. Destroying a destroyed or never created key is not an
	// error (so an interrupted purge can be run again).
	Destroy(ctx context.Context, caseID string) error
}

// ManyCreator is implemented by stores that create many keys more cheaply
// in one call than one by one (one synced write instead of one per key).
// casework's Import uses it when the store has it.
type ManyCreator interface {
	// CreateMany is Create for every id, all or nothing.
	CreateMany(ctx context.Context, caseIDs []string) ([][]byte, error)
}

// CheckID returns an error wrapping ErrInvalidID unless id is a valid case
// id: 1 to 128 bytes of ASCII letters, digits, '-', '_' and '.' (not "."
// or ".."), so that it can be used in a key-store path as it is.
func CheckID(id string) error {
	if id == "" || len(id) > 128 || id == "." || id == ".." {
		return fmt.Errorf("%w %q", ErrInvalidID, id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("%w %q", ErrInvalidID, id)
		}
	}
	return nil
}

// keyName is the keyring name a case key is wrapped under.
func keyName(caseID string) string { return "case-key:" + caseID }
