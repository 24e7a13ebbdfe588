package casework

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cpx-node/cpx/node/casekeys"
)

// Kinds of sealed records, bound into the associated data.
const (
	kindRecord  = "record"  // a case's form data, in c/r/ID
	kindVersion = "version" // a version's changed values, in c/v/ID/VERSION
	kindWork    = "work"    // a case's assignments, approvals and flags, in c/r/ID
)

const aadLabel = "cpx-case-v1"

// sealer encrypts one case's records under its data key: AES-256-GCM,
// a random 96-bit nonce per record, stored as nonce || ciphertext || tag.
// The associated data binds each ciphertext to the case id, the record
// kind and the version number, so that a sealed value cannot be moved to
// another case, kind or version.
type sealer struct {
	id   string
	aead cipher.AEAD
}

func newSealer(id string, key []byte) (*sealer, error) {
	if len(key) != casekeys.KeySize {
		return nil, fmt.Errorf("case %s: data key of %d bytes, want %d", id, len(key), casekeys.KeySize)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	return &sealer{id: id, aead: aead}, nil
}

func (x *sealer) aad(kind string, version int64) []byte {
	a := make([]byte, 0, len(aadLabel)+len(kind)+len(x.id)+3+8)
	a = append(a, aadLabel...)
	a = append(a, 0)
	a = append(a, kind...)
	a = append(a, 0)
	a = append(a, x.id...)
	a = append(a, 0)
	return binary.BigEndian.AppendUint64(a, uint64(version))
}

func (x *sealer) seal(kind string, version int64, plain []byte) []byte {
	ns := x.aead.NonceSize()
	out := make([]byte, ns, ns+len(plain)+x.aead.Overhead())
	rand.Read(out)
	return x.aead.Seal(out, out, plain, x.aad(kind, version))
}

func (x *sealer) open(kind string, version int64, sealed []byte) ([]byte, error) {
	ns := x.aead.NonceSize()
	if len(sealed) < ns+x.aead.Overhead() {
		return nil, fmt.Errorf("corrupt %s of case %s: sealed value too short", kind, x.id)
	}
	plain, err := x.aead.Open(nil, sealed[:ns], sealed[ns:], x.aad(kind, version))
	if err != nil {
		return nil, fmt.Errorf("corrupt %s of case %s: it does not authenticate under the case's key", kind, x.id)
	}
	return plain, nil
}

// keyError turns a key store error into the package's errors: a destroyed
// key means the case was purged.
func keyError(id string, err error) error {
	switch {
	case errors.Is(err, casekeys.ErrDestroyed):
		return purged(id)
	case errors.Is(err, casekeys.ErrNotFound):
		return fmt.Errorf("case %s: its data key is missing from the case key store (is this the node's key store?): %w", id, err)
	}
	return fmt.Errorf("case %s: data key: %w", id, err)
}

// sealers fetches case keys from the key store, caching them for the
// duration of one call.
type sealers struct {
	ctx  context.Context
	keys casekeys.Store
	m    map[string]*sealer
}

// maxCallKeys bounds the keys one call caches (a scan visits each case
// once, so caching more would only cost memory).
const maxCallKeys = 256

func (s *Service) sealers(ctx context.Context) *sealers {
	return &sealers{ctx: ctx, keys: s.keys, m: map[string]*sealer{}}
}

func (ss *sealers) get(id string) (*sealer, error) {
	if x, ok := ss.m[id]; ok {
		return x, nil
	}
	key, err := ss.keys.Get(ss.ctx, id)
	if err != nil {
		return nil, keyError(id, err)
	}
	x, err := newSealer(id, key)
	clear(key)
	if err != nil {
		return nil, err
	}
	if len(ss.m) < maxCallKeys {
		ss.m[id] = x
	}
	return x, nil
}

// caseAlias and versionAlias have the fields of Case and Version without
// their methods, for embedding in the stored forms.
type (
	caseAlias    Case
	versionAlias Version
)

// storedCase is a case record as stored: core fields in clear, form data
// sealed. Fields in clear is read only, from records written before form
// data was encrypted.
type storedCase struct {
	*caseAlias
	Fields json.RawMessage `json:"fields,omitempty"`
	Sealed []byte          `json:"sealed,omitempty"`
	// Work is the sealed casework (see work); the fields it holds are
	// shadowed here so that they are never stored in clear.
	Work        []byte          `json:"work,omitempty"`
	Assignments json.RawMessage `json:"assignments,omitempty"`
	Approvals   json.RawMessage `json:"approvals,omitempty"`
	Flags       json.RawMessage `json:"flags,omitempty"`
}

// sealedData is what a stored case holds sealed: its form data and its
// casework.
type sealedData struct{ fields, work []byte }

// storedVersion is a version record as stored: the changed values sealed.
type storedVersion struct {
	*versionAlias
	Changed json.RawMessage `json:"changed,omitempty"`
	Sealed  []byte          `json:"sealed,omitempty"`
}

// decodeRecord decodes a stored case without opening its form data; it
// returns the sealed form data, if any.
func decodeRecord(b []byte) (Case, sealedData, error) {
	var c Case
	st := storedCase{caseAlias: (*caseAlias)(&c)}
	if err := json.Unmarshal(b, &st); err != nil {
		return c, sealedData{}, err
	}
	c.Fields = nil
	if len(st.Fields) > 0 {
		if err := json.Unmarshal(st.Fields, &c.Fields); err != nil {
			return c, sealedData{}, err
		}
	}
	return c, sealedData{fields: st.Sealed, work: st.Work}, nil
}

// openFields decrypts c's sealed form data into c.Fields and its sealed
// casework into its assignments, approvals and flags.
func openFields(ss *sealers, c *Case, sealed sealedData) error {
	if sealed.fields == nil && sealed.work == nil {
		return nil
	}
	x, err := ss.get(c.ID)
	if err != nil {
		return err
	}
	if sealed.fields != nil {
		plain, err := x.open(kindRecord, c.Version, sealed.fields)
		if err != nil {
			return err
		}
		c.Fields = nil
		if err := json.Unmarshal(plain, &c.Fields); err != nil {
			return err
		}
	}
	if sealed.work != nil {
		plain, err := x.open(kindWork, c.Version, sealed.work)
		if err != nil {
			return err
		}
		var wk work
		if err := json.Unmarshal(plain, &wk); err != nil {
			return fmt.Errorf("corrupt casework of case %s: %w", c.ID, err)
		}
		c.Assignments, c.Approvals, c.Flags = wk.Assignments, wk.Approvals, wk.Flags
	}
	return nil
}

// decodeVersion decodes and opens a stored version of case x.id.
func decodeVersion(b []byte, ss *sealers, id string) (Version, error) {
	var v Version
	st := storedVersion{versionAlias: (*versionAlias)(&v)}
	if err := json.Unmarshal(b, &st); err != nil {
		return v, fmt.Errorf("corrupt version record of case %s: %w", id, err)
	}
	raw := []byte(st.Changed)
	if st.Sealed != nil {
		x, err := ss.get(id)
		if err != nil {
			return v, err
		}
		if raw, err = x.open(kindVersion, v.Version, st.Sealed); err != nil {
			return v, err
		}
	}
	v.Changed = nil
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &v.Changed); err != nil {
			return v, fmt.Errorf("corrupt version record of case %s: %w", id, err)
		}
	}
	return v, nil
}
