package casework_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/store/memstore"
)

// FuzzCreateFromJSON feeds arbitrary JSON case documents (as `cpx case
// create --file` and the local API receive them) through the service: it
// must never panic, must refuse with ErrInvalid (or ErrDenied for hidden
// fields) rather than fail otherwise, and what it accepts must read back
// unchanged.
func FuzzCreateFromJSON(f *testing.F) {
	for _, seed := range []string{
		`{"name_first":"Amina","sex":"female","age":"9"}`,
		`{"name_first":"محمد","sex":"male","date_of_birth":"2015-02-29"}`,
		`{"name_first":"A","sex":"male","family_details_section":[{"relation_name":"X","relation":"mother"}]}`,
		`{"name_first":"A","sex":"male","protection_concerns":"separated,neglect","consent_for_tracing":"yes"}`,
		`{"name_first":null,"sex":["female"],"age":{"x":1}}`,
		`{"name_first":"\u0000","sex":"female","age":1e400}`,
	} {
		f.Add([]byte(seed))
	}
	fx := newFixture(f, memstore.New())
	f.Fuzz(func(t *testing.T, data []byte) {
		var fields map[string]any
		if json.Unmarshal(data, &fields) != nil {
			return
		}
		ctx := context.Background()
		c, err := fx.svc.Create(ctx, fx.alice, "registration", fields)
		if err != nil {
			if !errors.Is(err, casework.ErrInvalid) && !errors.Is(err, casework.ErrTooLarge) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		got, err := fx.svc.Get(ctx, fx.alice, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Fields, c.Fields) {
			t.Fatalf("read back %v, created %v", got.Fields, c.Fields)
		}
	})
}
