// Package rowseal seals the small report rows that the node keeps next to
// its records (a case's row in casework, an exchange's in exchange):
// AES-256-GCM under a key derived from the node's index key and a label
// naming the kind of row, a random nonce per row, and the record's id
// bound as associated data so that a row cannot be moved to another
// record.
package rowseal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// ErrCorrupt is returned for a row that is too short or does not
// authenticate under the sealer's key.
var ErrCorrupt = errors.New("corrupt report row")

// Sealer seals and opens rows of one kind.
type Sealer struct{ aead cipher.AEAD }

// New returns the sealer of the rows label names (e.g.
// "cpx-report-rows-v1"), under a key derived from indexKey.
func New(indexKey []byte, label string) *Sealer {
	m := hmac.New(sha256.New, indexKey)
	m.Write([]byte(label))
	b, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		panic(err) // a 32-byte key always makes a cipher
	}
	aead, err := cipher.NewGCM(b)
	if err != nil {
		panic(err)
	}
	return &Sealer{aead: aead}
}

func appendAAD(dst []byte, id []byte) []byte {
	return append(append(append(dst[:0], "cpx-report-row\x00"...), id...), 0)
}

// Seal returns plain sealed as the row of record id.
func (x *Sealer) Seal(id string, plain []byte) []byte {
	ns := x.aead.NonceSize()
	out := make([]byte, ns, ns+len(plain)+x.aead.Overhead())
	rand.Read(out)
	return x.aead.Seal(out, out, plain, appendAAD(nil, []byte(id)))
}

// Open decrypts sealed, the row of record id, into dst, using aad as
// scratch space for the associated data; it returns both buffers for
// the next call.
func (x *Sealer) Open(dst, aad, id, sealed []byte) (plain, scratch []byte, err error) {
	ns := x.aead.NonceSize()
	if len(sealed) < ns+x.aead.Overhead() {
		return dst, aad, ErrCorrupt
	}
	aad = appendAAD(aad, id)
	plain, err = x.aead.Open(dst[:0], sealed[:ns], sealed[ns:], aad)
	if err != nil {
		return dst, aad, fmt.Errorf("%w: it does not authenticate under the index key", ErrCorrupt)
	}
	return plain, aad, nil
}
