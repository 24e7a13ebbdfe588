package tracing

import (
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/cpx-node/cpx/crypto/pprl"
	"github.com/cpx-node/cpx/node/exchange"
	"github.com/cpx-node/cpx/node/matching"
)

func testRecord(name string) pprl.Record {
	age := 9.0
	e := pprl.NewRecordEncoder(pprl.DeriveKeys([]byte("secret"), "isp@1", pprl.RecordFields))
	return e.EncodeRecord(matching.Person{Names: []string{name}, Sex: "male", Age: &age})
}

// testReadings returns the readings a query carries for a child of that
// name (two for a name of two or more parts).
func testReadings(name string) []pprl.Record {
	age := 9.0
	e := pprl.NewRecordEncoder(pprl.DeriveKeys([]byte("secret"), "isp@1", pprl.RecordFields))
	return e.EncodeReadings(matching.Person{Names: []string{name}, Sex: "male", Age: &age})
}

func validQuery(t testing.TB, n int) []byte {
	var recs [][]pprl.Record
	for i := range n {
		recs = append(recs, testReadings(fmt.Sprintf("Mohammed Ali %d", i)))
	}
	b, err := encodeQuery(recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestDecodeQuery(t *testing.T) {
	rec := testRecord("Mohammed Ali Hassan")
	raw, _ := rec.MarshalBinary()
	ones := make([]byte, pprl.RecordBytes)
	for i := range ones {
		ones[i] = 0xff
	}
	for _, tc := range []struct {
		name    string
		payload string
		want    string // substring of the error; "" for success
	}{
		{"valid", string(validQuery(t, 2)), ""},
		{"twenty records", string(validQuery(t, 20)), ""},
		{"version 1 (no version)", `{"encodings":[[1,2,3]]}`, "version none (version 1)"},
		{"version 2 (five groups)", `{"version":2,"records":["` + b64(raw[:640]) + `"]}`, "version 2; this node answers only version 6"},
		{"version 3 (one reading)", `{"version":3,"records":["` + b64(raw) + `"]}`, "version 3; this node answers only version 6"},
		{"version 4 (ten groups)", `{"version":4,"records":["` + b64(raw[:1280]) + `"]}`, "version 4; this node answers only version 6"},
		{"version 5 (no slips corrected)", `{"version":5,"records":["` + b64(raw) + `"]}`, "version 5; this node answers only version 6"},
		{"version 7", `{"version":7,"records":["` + b64(raw) + `"]}`, "version 7"},
		{"version as string", `{"version":"4","records":[]}`, "not a JSON object"},
		{"one reading", `{"version":6,"records":["` + b64(raw) + `"]}`, ""},
		{"a reading and a half", `{"version":6,"records":["` + b64(append(raw, raw[:448]...)) + `"]}`, "malformed record"},
		{"three readings", `{"version":6,"records":["` + b64(append(append(raw, raw...), raw...)) + `"]}`, "too long"},
		{"a bad second reading", `{"version":6,"records":["` + b64(append(raw, ones...)) + `"]}`, "bits set"},
		{"not JSON", `records`, "not a JSON object"},
		{"unknown field", `{"version":6,"records":["` + b64(raw) + `"],"names":["x"]}`, "unknown field"},
		{"trailing data", `{"version":6,"records":["` + b64(raw) + `"]} {}`, "not a JSON object"},
		{"no records", `{"version":6,"records":[]}`, "0 records"},
		{"too many records", string(validQuery(t, 21)), ""},
		{"short record", `{"version":6,"records":["` + b64(raw[:100]) + `"]}`, "malformed record"},
		{"long record", `{"version":6,"records":["` + b64(append(raw, 0)) + `"]}`, "malformed record"},
		{"far too long record", `{"version":6,"records":["` + strings.Repeat("A", 8000) + `"]}`, "too long"},
		{"not base64", `{"version":6,"records":["***"]}`, "not base64"},
		{"all ones (matches everything)", `{"version":6,"records":["` + b64(ones) + `"]}`, "bits set"},
		{"too large", `{"version":6,"records":["` + strings.Repeat(b64(append(raw, raw...))+`","`, 30) + `"]}`, "at most"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "too many records" {
				tc.want = "21 records"
			}
			recs, err := decodeQuery([]byte(tc.payload))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused a valid query: %v", err)
				}
				want := testReadings("Mohammed Ali 0")
				if tc.name == "one reading" {
					want = []pprl.Record{rec}
				}
				if !reflect.DeepEqual(recs[0], want) {
					t.Error("the first child's readings did not survive the round trip")
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want an error containing %q", tc.want)
			}
			if !errors.Is(err, exchange.ErrBadMessage) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q: want ErrBadMessage containing %q", err, tc.want)
			}
		})
	}
}

// FuzzDecodeQuery feeds arbitrary query plaintexts (what a peer sends
// across the trust boundary) to the decoder: it must never panic, must
// fail only with ErrBadMessage, and what it accepts must re-encode to a
// query that decodes to the same records.
func FuzzDecodeQuery(f *testing.F) {
	rec := testRecord("Mohammed Ali Hassan")
	raw, _ := rec.MarshalBinary()
	for _, seed := range []string{
		string(validQuery(f, 1)),
		string(validQuery(f, 3)),
		`{"encodings":[[1,2,3]]}`,
		`{"version":2,"records":["` + b64(raw[:640]) + `"]}`,
		`{"version":3,"records":["` + b64(raw) + `"]}`,
		`{"version":6,"records":["` + b64(append(raw, raw...)) + `"]}`,
		`{"version":6,"records":["` + b64(append(raw, raw[:100]...)) + `"]}`,
		`{"version":6,"records":["` + b64(raw[:pprl.RecordBytes-1]) + `"]}`,
		`{"version":6,"records":["` + b64(raw[:640]) + `"]}`,
		`{"version":6,"records":[""]}`,
		`{"version":6,"records":null}`,
		`{"version":6,"Version":1,"records":["` + b64(raw) + `"]}`,
		`{"version":4.0,"records":["` + b64(raw) + `"]}`,
		`[]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := decodeQuery(b)
		if err != nil {
			if !errors.Is(err, exchange.ErrBadMessage) {
				t.Fatalf("error %v does not match ErrBadMessage", err)
			}
			return
		}
		if len(recs) == 0 || len(recs) > MaxQueryRecords {
			t.Fatalf("accepted %d records", len(recs))
		}
		for _, r := range recs {
			if len(r) == 0 || len(r) > MaxReadings {
				t.Fatalf("accepted a child of %d readings", len(r))
			}
		}
		again, err := encodeQuery(recs)
		if err != nil {
			t.Fatal(err)
		}
		recs2, err := decodeQuery(again)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", again, err)
		}
		if !reflect.DeepEqual(recs, recs2) {
			t.Fatal("round trip changed the records")
		}
	})
}
