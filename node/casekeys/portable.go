package casekeys

import (
	"context"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// Entry is one case's key as it travels in a node's backup: wrapped by the
// node's keyring under the name "case-key:" + CaseID (never in clear), or
// the mark that it was destroyed.
type Entry struct {
	CaseID    string `json:"id"`
	Wrapped   []byte `json:"wrapped,omitempty"`
	Destroyed bool   `json:"destroyed,omitempty"`
}

// Portable is implemented by key stores whose keys travel in the node's
// backups (Local). Vault keeps its keys itself: a restored Vault node reads
// them from Vault, and a key destroyed there stays destroyed.
type Portable interface {
	// Export calls fn with every wrapped key and every destroyed mark.
	Export(ctx context.Context, fn func(Entry) error) error
	// Import adds entries to the store: a destroyed mark always wins (the
	// key is destroyed if present), and a key is written only if the store
	// has neither a key nor a mark for its case.
	Import(ctx context.Context, entries []Entry) error
}

var _ Portable = (*Local)(nil)

// Export implements Portable: marks first, then keys, each in key order.
func (l *Local) Export(ctx context.Context, fn func(Entry) error) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	return l.db.View(func(txn *badger.Txn) error {
		for _, prefix := range [][]byte{prefixDestroyed, prefixKey} {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 100})
			for it.Rewind(); it.Valid(); it.Next() {
				if err := ctx.Err(); err != nil {
					it.Close()
					return err
				}
				k := it.Item().Key()
				id := string(k[len(prefix) : len(k)-1])
				e := Entry{CaseID: id, Destroyed: prefix[0] == prefixDestroyed[0]}
				if !e.Destroyed {
					v, err := it.Item().ValueCopy(nil)
					if err != nil {
						it.Close()
						return err
					}
					e.Wrapped = v
				}
				if err := fn(e); err != nil {
					it.Close()
					return err
				}
			}
			it.Close()
		}
		return nil
	})
}

// Import implements Portable. Keys are not unwrapped here: they are checked
// when the cases sealed under them are opened. Call it with batches of at
// most a few thousand entries (one transaction each).
func (l *Local) Import(ctx context.Context, entries []Entry) error {
	destroyed := map[string]bool{}
	for _, e := range entries {
		if err := CheckID(e.CaseID); err != nil {
			return err
		}
		if !e.Destroyed && len(e.Wrapped) == 0 {
			return fmt.Errorf("casekeys: import: case %s has neither a key nor a destroyed mark", e.CaseID)
		}
		if e.Destroyed {
			destroyed[e.CaseID] = true
		}
	}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	var drop []string // keys already here whose case comes destroyed
	err := l.db.Update(func(txn *badger.Txn) error {
		drop = drop[:0]
		for _, e := range entries {
			_, err := txn.Get(localKey(prefixKey, e.CaseID))
			hasKey := err == nil
			if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
				return err
			}
			if e.Destroyed {
				if hasKey {
					drop = append(drop, e.CaseID)
				}
				if err := txn.Set(localKey(prefixDestroyed, e.CaseID), nil); err != nil {
					return err
				}
				continue
			}
			if hasKey || destroyed[e.CaseID] {
				continue
			}
			if _, err := txn.Get(localKey(prefixDestroyed, e.CaseID)); err == nil {
				continue
			} else if !errors.Is(err, badger.ErrKeyNotFound) {
				return err
			}
			if err := txn.Set(localKey(prefixKey, e.CaseID), e.Wrapped); err != nil {
				return err
			}
		}
		return nil
	})
	l.mu.RUnlock()
	if err != nil {
		return fmt.Errorf("casekeys: import: %w", err)
	}
	for _, id := range drop {
		if err := l.Destroy(ctx, id); err != nil {
			return err
		}
	}
	return nil
}
