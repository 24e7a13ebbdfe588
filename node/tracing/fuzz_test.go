package tracing_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/cpx-node/cpx/node/tracing"
)

// FuzzDecodeDetails feeds arbitrary request documents (as `cpx trace create
// --file`, `cpx trace import` and the local API deliver them) to the strict
// decoder and the validator: they must never panic, must fail only with
// ErrInvalid, and what they accept must be valid UTF-8 and survive a round
// trip unchanged.
func FuzzDecodeDetails(f *testing.F) {
	for _, seed := range []string{
		`{"inquirer_name":"Fatima","consent_for_tracing":true,"traces":[{"name":"Amina","age":7,"sex":"female"}]}`,
		`{"inquirer_name":"علي حسن عمر","location":"SO0102","traces":[{"name":"محمد علي حسن","age":10,"estimated":true,"relatives":["Ali"]}]}`,
		`{"traces":[{"name":"A","date_of_birth":"2030-01-01"}]}`,
		`{"traces":[{"name":"A","age":1e400}]}`,
		`{"traces":[{"name":"A","status":"matched"}],"x":1}`,
		`{"traces":null,"date_of_separation":"2020-02-30"}`,
		"{\"inquirer_name\":\"\xff\"}",
		`[1,2]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := tracing.DecodeDetails(b)
		if err == nil {
			err = d.Validate(now)
		}
		if err != nil {
			if !errors.Is(err, tracing.ErrInvalid) {
				t.Fatalf("error %v does not match ErrInvalid", err)
			}
			if !utf8.ValidString(err.Error()) {
				t.Fatalf("error message is not valid UTF-8: %q", err.Error())
			}
			return
		}
		if !utf8.Valid(b) {
			t.Fatalf("accepted invalid UTF-8: %q", b)
		}
		again, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		d2, err := tracing.DecodeDetails(again)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", again, err)
		}
		if !reflect.DeepEqual(d, d2) {
			t.Fatalf("round trip: got %+v, want %+v", d2, d)
		}
	})
}
