// Package store declares the transactional key-value contract the node's
// domain packages (casework, users, audit, exchange) are written against.
//
// Adapters live in sub-packages: badgerstore (Badger v4, encrypted at rest;
// the real thing) and memstore (an in-memory twin for fast tests). The
// shared suite in storetest runs against both.
//
// # Keys
//
// Keys are namespaced by a short prefix per kind of record (see the
// packages that own each kind). Values are opaque bytes.
//
// # Transactions
//
// Every state change that must be atomic (a record, its indexes and its
// audit entry) happens inside one Update. Update may run fn more than once
// (after a conflict with a concurrent transaction, or when it commits
// several callers' fns together and must leave a failed one out), so fn
// must not have side effects outside the Writer, and must not call Update
// itself. Update returns once the transaction is durable, and a failing fn
// never affects another caller's Update.
package store

import (
	"context"
	"errors"
)

// Errors returned by every Store implementation.
var (
	// ErrNotFound is returned by Get when the key does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrStop may be returned by a Scan callback to end the scan early;
	// Scan then returns nil.
	ErrStop = errors.New("store: stop scan")
	// ErrTooBig is returned when one transaction holds more than the store
	// can commit at once; split the work into smaller transactions.
	ErrTooBig = errors.New("store: transaction too big")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("store: closed")
)

// Store is a transactional, ordered key-value store.
type Store interface {
	// View runs fn in a read-only snapshot.
	View(ctx context.Context, fn func(Reader) error) error
	// Update runs fn in a read-write transaction and commits it if fn
	// returns nil. On a write conflict it retries fn a bounded number of
	// times. An implementation may commit concurrent Updates together, in
	// one transaction; each caller still gets its own fn's outcome.
	Update(ctx context.Context, fn func(Writer) error) error
	// Close releases the store. It is safe to call more than once.
	Close() error
}

// ScanOptions control a Scan.
type ScanOptions struct {
	// Reverse visits keys in descending order.
	Reverse bool
	// Limit stops after this many keys; zero means no limit.
	Limit int
}

// Reader reads within a transaction. Slices passed to callers are copies
// and stay valid after the transaction ends.
type Reader interface {
	// Get returns the value of key or ErrNotFound.
	Get(key []byte) ([]byte, error)
	// Scan calls fn for every key with the given prefix, in key order.
	Scan(prefix []byte, opts ScanOptions, fn func(key, value []byte) error) error
}

// Writer reads and writes within a read-write transaction.
type Writer interface {
	Reader
	// Set stores value under key.
	Set(key, value []byte) error
	// Delete removes key; deleting a missing key is not an error.
	Delete(key []byte) error
}
