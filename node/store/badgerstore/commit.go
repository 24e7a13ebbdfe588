package badgerstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/cpx-node/cpx/node/store"
)

// Group commit.
//
// Every Update goes to one writer goroutine. It takes the requests that
// are waiting, runs their fns one after the other in one Badger
// transaction and commits it with one fsync; each caller then gets the
// commit's outcome. Nothing is acknowledged before it is durable, and a
// batch is atomic as a whole, so a crash keeps all or none of it.
//
// Since one transaction is open at a time, Updates never conflict with
// each other (the audit chain's head, a peer's record and other hot keys
// are written by nearly every transaction), and the disk's sync rate
// bounds batches per second, not transactions.
//
// A fn that fails must not take the others with it, and Badger has no
// savepoints, so a fn's error counts only when the fn ran first in its
// transaction, on the committed state alone. When the fn at position i > 0
// fails, the transaction is dropped, the fns before it run again in a new
// one and commit, and the failing fn then runs first in the next: it fails
// again, on its own, or (if an earlier fn's writes made it fail, such as
// an oversized batch) succeeds. fns may therefore run more than once,
// which the store.Store contract allows.

// maxBatch bounds the Updates committed together.
const maxBatch = 256

// request is one Update waiting for the writer.
type request struct {
	ctx  context.Context
	fn   func(store.Writer) error
	done chan result
}

type result struct {
	err   error
	panic any // a panic in fn, raised again in the caller
}

// runWriter commits requests until stop is closed.
func (s *Store) runWriter(stop <-chan struct{}) {
	batch := make([]*request, 0, maxBatch)
	for {
		select {
		case <-stop:
			return
		case r := <-s.requests:
			batch = append(batch[:0], r)
		}
	more:
		for len(batch) < maxBatch {
			select {
			case r := <-s.requests:
				batch = append(batch, r)
			default:
				break more
			}
		}
		s.commitBatch(batch)
		clear(batch)
	}
}

// commitBatch commits reqs, as few transactions as their fns' errors
// allow, and answers each.
func (s *Store) commitBatch(reqs []*request) {
	live := reqs[:0:0]
	for _, r := range reqs {
		if err := r.ctx.Err(); err != nil {
			r.done <- result{err: err}
			continue
		}
		live = append(live, r)
	}
	for len(live) > 0 {
		n := s.commitPrefix(live)
		live = live[n:]
	}
}

// commitPrefix commits the longest prefix of reqs whose fns all succeed in
// one transaction, or answers reqs[0] alone with its fn's error, and
// returns how many requests it answered.
func (s *Store) commitPrefix(reqs []*request) int {
	limit := len(reqs)
	for attempt := 0; ; attempt++ {
		txn := s.db.NewTransaction(true)
		w := s.newWriter(txn)
		i, res := runFns(w, reqs[:limit])
		if i < limit {
			txn.Discard()
			if i == 0 {
				reqs[0].done <- res
				return 1
			}
			limit = i // commit those before it; it runs first next time
			continue
		}
		err := mapError(txn.Commit())
		txn.Discard()
		if errors.Is(err, badger.ErrConflict) && attempt < maxAttempts {
			continue // only a write outside Update (format.go) can conflict
		}
		if errors.Is(err, badger.ErrConflict) {
			err = ErrConflict
		}
		for _, r := range reqs[:limit] {
			r.done <- result{err: err}
		}
		return limit
	}
}

// runFns runs the fns of reqs in order within w and returns the index of
// the first that failed, with its outcome, or len(reqs).
func runFns(w writer, reqs []*request) (int, result) {
	for i, r := range reqs {
		if res := runFn(w, r.fn); res.err != nil || res.panic != nil {
			return i, res
		}
	}
	return len(reqs), result{}
}

func runFn(w writer, fn func(store.Writer) error) (res result) {
	defer func() {
		if p := recover(); p != nil {
			res = result{panic: p, err: fmt.Errorf("badgerstore: update panicked: %v", p)}
		}
	}()
	return result{err: fn(w)}
}
