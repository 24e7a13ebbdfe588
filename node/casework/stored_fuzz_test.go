package casework

import (
	"context"
	"testing"

	"github.com/cpx-node/cpx/node/casekeys"
	"github.com/cpx-node/cpx/node/forms"
	"github.com/cpx-node/cpx/node/store/memstore"
)

// FuzzDecodeStored feeds arbitrary bytes to the decoders of the two record
// kinds casework stores (a case record, a version record), as if the
// store had handed them back: they must fail with an error, never panic.
func FuzzDecodeStored(f *testing.F) {
	f.Add([]byte(`{"id":"c1","number":"AA-000001","status":"open","version":1,"sealed":"AAAA"}`))
	f.Add([]byte(`{"version":2,"actor":"ana","sealed":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`))
	f.Add([]byte(`{"fields":{"name_first":"Amina"},"changed":{"a":[1,{"b":null}]}}`))
	keys := casekeys.NewMemory()
	key, err := keys.Create(context.Background(), "c1")
	if err != nil {
		f.Fatal(err)
	}
	s := New(Options{Store: memstore.New(), Forms: forms.Standard(), Agency: "a", Keys: keys})
	x, err := newSealer("c1", key)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(x.seal(kindRecord, 1, []byte(`{"name_first":"Amina"}`)))
	f.Fuzz(func(t *testing.T, b []byte) {
		ss := s.sealers(context.Background())
		if c, sealed, err := decodeRecord(b); err == nil {
			c.ID = "c1"
			_ = openFields(ss, &c, sealed)
		}
		_, _ = decodeVersion(b, ss, "c1")
		_, _ = x.open(kindVersion, 1, b)
	})
}
