package badgerstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// Failure is one integrity failure that Verify found.
type Failure struct {
	// What names the failed part without revealing data: "record u/n/#…",
	// "file 000003.mem", "tables", "store".
	What string
	Err  error
}

// VerifyReport is the outcome of Verify.
type VerifyReport struct {
	// Records is how many records were read and authenticated.
	Records int
	// Failures lists every failure found; empty means the store is intact
	// as far as a local check can tell (see docs/security.md).
	Failures []Failure
}

// Verify opens the store in opts.Dir (not in use by a node) and checks it:
// the logs and MANIFEST before Badger opens them, the format marker, every
// table's checksums, and the newest value of every key, read and
// authenticated. Integrity failures are collected in the report; err is
// only for a check that could not run (a locked directory, a wrong key).
// A store written by an older cpx is reported as a failure
// (ErrUnsealedFormat), not migrated.
func Verify(ctx context.Context, opts Options) (VerifyReport, error) {
	var rep VerifyReport
	opts.Verifying = true
	opts.GCInterval = -1
	s, err := Open(ctx, opts)
	if err != nil {
		var fe *FileError
		switch {
		case errors.As(err, &fe):
			rep.Failures = append(rep.Failures, Failure{What: "file " + fe.File, Err: err})
			return rep, nil
		case errors.Is(err, ErrCorrupt), errors.Is(err, ErrUnsealedFormat):
			rep.Failures = append(rep.Failures, Failure{What: "store", Err: err})
			return rep, nil
		case errors.Is(err, ErrLocked), errors.Is(err, ErrWrongKey):
			return rep, err
		}
		// Anything else Badger refused to open (a table that fails its
		// checksum, a bad key registry) is a failure of the store.
		rep.Failures = append(rep.Failures, Failure{What: "store", Err: err})
		return rep, nil
	}
	defer s.Close()
	if err := s.db.VerifyChecksum(); err != nil {
		rep.Failures = append(rep.Failures, Failure{What: "tables", Err: fmt.Errorf("%w: %v", ErrCorrupt, err)})
	}
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		r := reader{txn: txn, seal: s.seal}
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			item := it.Item()
			if isMarker(item.Key()) {
				continue
			}
			rep.Records++
			if _, err := r.value(item); err != nil {
				var re *RecordError
				what := "record"
				if errors.As(err, &re) {
					what = "record " + re.Kind + "#" + re.Fingerprint
				}
				rep.Failures = append(rep.Failures, Failure{What: what, Err: err})
			}
		}
		return nil
	})
	return rep, err
}

// CheckPrefixes reads and authenticates every record whose key has one of
// the prefixes, and returns the first failure (a *RecordError, or a
// Badger error wrapped with ErrCorrupt). A node checks its key records
// this way before it starts.
func (s *Store) CheckPrefixes(ctx context.Context, prefixes ...[]byte) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return errors.New("badgerstore: closed")
	}
	return s.db.View(func(txn *badger.Txn) error {
		r := reader{txn: txn, seal: s.seal}
		for _, p := range prefixes {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: false})
			for it.Seek(p); it.Valid(); it.Next() {
				if err := ctx.Err(); err != nil {
					it.Close()
					return err
				}
				if _, err := r.value(it.Item()); err != nil {
					it.Close()
					return err
				}
			}
			it.Close()
		}
		return nil
	})
}
