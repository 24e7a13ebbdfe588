package casework

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/policy"
)

// DefaultMaxRecordBytes bounds the encoded size of one case record.
const DefaultMaxRecordBytes = 1 << 20

// Key prefixes of the records this package owns.
var (
	prefixRecord  = []byte("c/r/") // id → Case
	prefixNumber  = []byte("c/n/") // case number → id
	prefixVersion = []byte("c/v/") // id/version → Version
	prefixStatus  = []byte("c/s/") // status/id → ""
	keySequence   = []byte("c/seq")
)

func recordKey(id string) []byte { return append(append([]byte{}, prefixRecord...), id...) }
func numberKey(n string) []byte  { return append(append([]byte{}, prefixNumber...), n...) }
func statusKey(status, id string) []byte {
	return append(append(append([]byte{}, prefixStatus...), status+"/"...), id...)
}
func versionPrefix(id string) []byte {
	return append(append([]byte{}, prefixVersion...), id+"/"...)
}
func versionKey(id string, v int64) []byte {
	return binary.BigEndian.AppendUint64(versionPrefix(id), uint64(v))
}

// loadRaw reads a case by id or case number without opening its form
// data; it returns the sealed form data, if any. A purged case's tombstone
// is returned without error.
func loadRaw(r store.Reader, ref string) (Case, sealedData, error) {
	var c Case
	b, err := r.Get(recordKey(ref))
	if errors.Is(err, store.ErrNotFound) {
		id, nerr := r.Get(numberKey(ref))
		if nerr == nil {
			b, err = r.Get(recordKey(string(id)))
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		return c, sealedData{}, errorf(ErrNotFound, "no case with id or number %q", ref)
	}
	if err != nil {
		return c, sealedData{}, err
	}
	c, sealed, err := decodeRecord(b)
	if err != nil {
		return c, sealedData{}, fmt.Errorf("corrupt case record %q: %w", ref, err)
	}
	return c, sealed, nil
}

// load reads a case by id or case number and opens its form data. A
// purged case is an ErrPurged error.
func (s *Service) load(ss *sealers, r store.Reader, ref string) (Case, error) {
	c, sealed, err := loadRaw(r, ref)
	if err != nil {
		return c, err
	}
	if c.Status == StatusPurged {
		return c, purged(c.Number)
	}
	if err := openFields(ss, &c, sealed); err != nil {
		if errors.Is(err, ErrPurged) {
			return c, purged(c.Number)
		}
		return c, err
	}
	return c, nil
}

func (s *Service) nextNumber(w store.Writer) (string, error) {
	var n uint64
	b, err := w.Get(keySequence)
	switch {
	case err == nil && len(b) == 8:
		n = binary.BigEndian.Uint64(b)
	case err == nil:
		return "", errors.New("corrupt case sequence")
	case !errors.Is(err, store.ErrNotFound):
		return "", err
	}
	n++
	if err := w.Set(keySequence, binary.BigEndian.AppendUint64(nil, n)); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s-%06d", s.prefix, n), nil
}

// put writes c and its indexes, and version v; old is the previous state
// (nil on create). The form data and v's changed values are sealed by x.
func (s *Service) put(w store.Writer, c *Case, old *Case, v Version, x *sealer) error {
	// Encode the form data once: a new case's first version holds the
	// same fields as the record.
	fields, err := s.putRecord(w, c, old, x)
	if err != nil {
		return err
	}
	changed := fields
	if old != nil {
		if changed, err = json.Marshal(v.Changed); err != nil {
			return err
		}
	}
	return putVersion(w, c.ID, v, changed, x)
}

// putRecord writes c (its form data sealed by x; none when x is nil, for a
// tombstone) and its indexes, and returns the encoded form data.
func (s *Service) putRecord(w store.Writer, c *Case, old *Case, x *sealer) ([]byte, error) {
	fields, err := json.Marshal(c.Fields)
	if err != nil {
		return nil, err
	}
	st := storedCase{caseAlias: (*caseAlias)(c)}
	if x != nil {
		st.Sealed = x.seal(kindRecord, c.Version, fields)
		if c.hasWork() {
			work, err := json.Marshal(workOf(c))
			if err != nil {
				return nil, err
			}
			st.Work = x.seal(kindWork, c.Version, work)
		}
	}
	b, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	// The limit is on the record as it would be in clear.
	if size := len(b) - base64.StdEncoding.EncodedLen(len(st.Sealed)) + len(fields); size > s.maxBytes {
		return nil, errorf(ErrTooLarge, "case record too large: %d bytes, the limit is %d", size, s.maxBytes)
	}
	if err := w.Set(recordKey(c.ID), b); err != nil {
		return nil, err
	}
	if err := s.putIndexes(w, c, old == nil); err != nil { // wordindex.go
		return nil, err
	}
	if old == nil {
		if err := w.Set(numberKey(c.Number), []byte(c.ID)); err != nil {
			return nil, err
		}
	}
	if err := s.reindex(w, c); err != nil {
		return nil, err
	}
	if old == nil || old.Status != c.Status {
		if old != nil {
			if err := w.Delete(statusKey(old.Status, c.ID)); err != nil {
				return nil, err
			}
		}
		if err := w.Set(statusKey(c.Status, c.ID), nil); err != nil {
			return nil, err
		}
	}
	return fields, nil
}

// putVersion writes version v of case id; changed is v.Changed encoded.
func putVersion(w store.Writer, id string, v Version, changed []byte, x *sealer) error {
	st := storedVersion{versionAlias: (*versionAlias)(&v)}
	if len(v.Changed) > 0 {
		st.Sealed = x.seal(kindVersion, v.Version, changed)
	}
	vb, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return w.Set(versionKey(id, v.Version), vb)
}

// newCase builds (but does not store) a case from normalised fields.
func (s *Service) newCase(w store.Writer, id string, sub policy.Subject, fields map[string]any, now time.Time) (Case, Version, error) {
	number, err := s.nextNumber(w)
	if err != nil {
		return Case{}, Version{}, err
	}
	c := Case{
		ID: id, Number: number, Status: StatusOpen,
		Owner: sub.User, OwnerGroup: sub.Group, Agency: s.agency,
		CreatedAt: now, UpdatedAt: now, Version: 1, Fields: fields,
	}
	c.Stage = deriveStage(&c)
	return c, Version{Version: 1, At: now, Actor: sub.User, Action: "create", Changed: fields}, nil
}

// Count returns the number of case numbers issued on the node (purged
// cases included).
func (s *Service) Count(ctx context.Context) (int64, error) {
	var n int64
	err := s.store.View(ctx, func(r store.Reader) error {
		b, err := r.Get(keySequence)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(b) != 8 {
			return errors.New("corrupt case sequence")
		}
		n = int64(binary.BigEndian.Uint64(b))
		return nil
	})
	return n, err
}

// Load returns a case's core fields by id or number without authorisation
// or audit, for callers inside a transaction they audit themselves. The
// form data is encrypted under the case's key, which Load does not have:
// Fields is nil (except in records written before form data was
// encrypted). Use Service.Load for the form data. A purged case is an
// ErrPurged error.
func Load(r store.Reader, ref string) (Case, error) {
	c, _, err := loadRaw(r, ref)
	if err == nil && c.Status == StatusPurged {
		return Case{}, purged(c.Number)
	}
	return c, err
}

// Load returns a case by id or number, its form data decrypted, without
// authorisation or audit, for callers inside a transaction they audit
// themselves (the exchange). A purged case is an ErrPurged error.
func (s *Service) Load(ctx context.Context, r store.Reader, ref string) (Case, error) {
	c, err := s.load(s.sealers(ctx), r, ref)
	if err != nil {
		return Case{}, err
	}
	return c, nil
}
