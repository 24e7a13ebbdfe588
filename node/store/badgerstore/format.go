package badgerstore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/pb"
	"google.golang.org/protobuf/proto"

	"github.com/cpx-node/cpx/node/store"
)

// The format marker is a sealed record under markerKey, hidden from Get,
// Scan, Set and Delete. Its value is one of the states below.
//
//   - absent: a store written before values were sealed (or a new,
//     empty one). Open seals every value once ("migrating", then
//     "sealed"). A store without a marker that already holds a sealed
//     value has lost its marker: that is corruption, not a migration.
//   - "migrating": a migration was interrupted; Open finishes it.
//   - "sealed": every value is sealed.
//
// A marker that does not authenticate is corruption (ErrCorrupt), never a
// reason to migrate.
var markerKey = []byte("\x00cpx/store-format")

const (
	markerSealed    = "cpx-store sealed v1"
	markerMigrating = "cpx-store migrating to sealed v1"
)

var (
	// ErrUnsealedFormat is returned by Open with Options.Verifying for a
	// store written by an older cpx, before values were sealed: start the
	// node once to migrate it.
	ErrUnsealedFormat = errors.New("store: values not yet sealed (written by an older cpx); start the node once to migrate them")
	errReservedKey    = errors.New("badgerstore: reserved key")
)

func isMarker(key []byte) bool { return bytes.Equal(key, markerKey) }

// openFormat sets up sealing and checks (or creates, or migrates to) the
// sealed format.
func (s *Store) openFormat(ctx context.Context, opts Options) error {
	if opts.Unsealed {
		switch _, err := s.marker(); {
		case err == nil:
			return errors.New("badgerstore: Unsealed on a store with sealed values")
		case !errors.Is(err, badger.ErrKeyNotFound):
			return err
		}
		return nil
	}
	master := opts.EncryptionKey
	if master == nil {
		master = make([]byte, encryptionLen) // Insecure: authenticated, not secret
	}
	var err error
	if s.seal, err = newSealer(master); err != nil {
		return err
	}
	state, err := s.marker()
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
		if opts.Verifying {
			empty, err := s.empty()
			if err != nil {
				return err
			}
			if !empty {
				return ErrUnsealedFormat
			}
			return nil
		}
		return s.migrate(ctx, false)
	case err != nil:
		return err
	case state == markerSealed:
		return nil
	case state == markerMigrating:
		if opts.Verifying {
			return ErrUnsealedFormat
		}
		return s.migrate(ctx, true)
	}
	return recordError(markerKey, "unknown format state")
}

// marker returns the state in the format marker, badger.ErrKeyNotFound if
// there is none, or a *RecordError.
func (s *Store) marker() (string, error) {
	var state string
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(markerKey)
		if err != nil {
			return err
		}
		if s.seal == nil {
			return nil
		}
		v, err := reader{txn: txn, seal: s.seal}.value(item)
		state = string(v)
		return err
	})
	return state, err
}

func (s *Store) setMarker(state string) error {
	return s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(bytes.Clone(markerKey), s.seal.seal(markerKey, []byte(state)))
	})
}

func (s *Store) empty() (bool, error) {
	empty := true
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if !isMarker(it.Item().Key()) {
				empty = false
				return nil
			}
		}
		return nil
	})
	return empty, err
}

// migrate seals, in place, every value that is not sealed yet. resumed
// says a marker "migrating" was found: some values are sealed already.
// Without it, a value that is already sealed means the marker was lost
// (removed by an attacker, say), and migrate refuses.
func (s *Store) migrate(ctx context.Context, resumed bool) error {
	// First pass: look, write nothing.
	var legacy, sealed int
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			if isMarker(item.Key()) {
				continue
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return recordError(item.Key(), "value unreadable: "+err.Error())
			}
			if _, err := s.seal.open(item.Key(), v); err == nil {
				sealed++
			} else {
				legacy++
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if sealed > 0 && !resumed {
		return fmt.Errorf("%w: the format marker is missing from a store that holds %d sealed values (restore from a backup)", ErrCorrupt, sealed)
	}
	if legacy == 0 {
		return s.setMarker(markerSealed)
	}
	s.log.Info("sealing the values of an older store format", slog.Int("values", legacy))
	if err := s.setMarker(markerMigrating); err != nil {
		return err
	}
	if err := s.sealInPlace(ctx); err != nil {
		return err
	}
	if err := s.setMarker(markerSealed); err != nil {
		return err
	}
	s.log.Info("sealed the values of an older store format", slog.Int("values", legacy))
	return nil
}

// sealInPlace rewrites every value that does not authenticate as sealed.
func (s *Store) sealInPlace(ctx context.Context) error {
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			item := it.Item()
			if isMarker(item.Key()) {
				continue
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return recordError(item.Key(), "value unreadable: "+err.Error())
			}
			if _, err := s.seal.open(item.Key(), v); err == nil {
				continue
			}
			if err := wb.Set(item.KeyCopy(nil), s.seal.seal(item.Key(), v)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return wb.Flush()
}

// Load adds the key-value pairs of a Backup stream to the store (use it on
// an empty store to restore one). Values are loaded as they were backed up
// (sealed under the same store key); a stream from a store of the older,
// unsealed format is sealed as it is loaded.
func (s *Store) Load(r io.Reader) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	if s.seal == nil {
		return errors.New("badgerstore: load into an unsealed store")
	}
	sawMarker, err := s.loadRaw(r)
	if err != nil {
		return fmt.Errorf("badgerstore: load: %w", err)
	}
	if sawMarker {
		state, err := s.marker()
		if err != nil {
			return fmt.Errorf("badgerstore: load: %w", err)
		}
		if state != markerSealed {
			return fmt.Errorf("badgerstore: load: %w", recordError(markerKey, "unexpected format state in the backup"))
		}
		return nil
	}
	if err := s.setMarker(markerMigrating); err != nil {
		return err
	}
	if err := s.sealInPlace(context.Background()); err != nil {
		return fmt.Errorf("badgerstore: load: %w", err)
	}
	return s.setMarker(markerSealed)
}

// loadRaw writes the newest live version of every key of a Backup stream
// (frames of a little-endian uint64 length and a pb.KVList) as it is, and
// says whether the stream held the format marker.
func (s *Store) loadRaw(r io.Reader) (bool, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	saw := false
	var buf, last []byte
	for {
		var sz uint64
		if err := binary.Read(br, binary.LittleEndian, &sz); err == io.EOF {
			break
		} else if err != nil {
			return false, err
		}
		if sz > 1<<30 {
			return false, fmt.Errorf("frame of %d bytes", sz)
		}
		if uint64(cap(buf)) < sz {
			buf = make([]byte, sz)
		}
		if _, err := io.ReadFull(br, buf[:sz]); err != nil {
			return false, err
		}
		var list pb.KVList
		if err := proto.Unmarshal(buf[:sz], &list); err != nil {
			return false, err
		}
		// A key's versions come together, newest first; a deleted or
		// expired newest version ends the key (bitDelete is Badger's 1<<0).
		for _, kv := range list.Kv {
			if kv.StreamDone {
				continue
			}
			if last != nil && bytes.Equal(kv.Key, last) {
				continue // an older version
			}
			last = bytes.Clone(kv.Key)
			if len(kv.Meta) > 0 && kv.Meta[0]&1 != 0 || kv.ExpiresAt != 0 && kv.ExpiresAt <= uint64(time.Now().Unix()) {
				continue
			}
			if isMarker(kv.Key) {
				saw = true
			}
			if err := wb.Set(bytes.Clone(kv.Key), bytes.Clone(kv.Value)); err != nil {
				return false, err
			}
		}
	}
	return saw, wb.Flush()
}
