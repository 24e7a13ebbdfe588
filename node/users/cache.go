package users

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"

	"github.com/cpx-node/cpx/node/store"
)

// keyChange holds a random mark that every write of a user record
// replaces. A list read under one mark holds until the mark changes.
// Random rather than counted: a transaction that is dropped after
// writing a mark (badgerstore may run a caller's fn again without the
// others of its batch) leaves a mark that no later write repeats, so a
// list read in it is never taken for the committed one.
var keyChange = []byte("u/c")

// markChanged records, within w, that a user record changed.
func markChanged(w store.Writer) error {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	return w.Set(keyChange, []byte(hex.EncodeToString(b[:])))
}

// Cache keeps the list of users between changes to them, for callers
// that list every user often, such as a notice to every member of a group
// for each referral received: List reads and decodes every user, which
// grows with the node's staff. The zero value is ready to use, and safe
// for concurrent use.
type Cache struct {
	mu    sync.Mutex
	mark  string
	users []User
	valid bool
}

// List returns what List(r) would, reading every user again only when a
// user changed since the cache last read them; otherwise it reads one
// key. The slice is shared between callers: they must not modify it.
func (c *Cache) List(r store.Reader) ([]User, error) {
	mark, err := r.Get(keyChange)
	if errors.Is(err, store.ErrNotFound) {
		err = nil // no user changed since this key was introduced
	}
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.valid && c.mark == string(mark) {
		defer c.mu.Unlock()
		return c.users, nil
	}
	c.mu.Unlock()
	list, err := List(r)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.mark, c.users, c.valid = string(mark), list, true
	c.mu.Unlock()
	return list, nil
}
