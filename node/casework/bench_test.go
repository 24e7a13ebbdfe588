package casework_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/cpx-node/cpx/crypto/keyring"
	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/casekeys"

	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/forms"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/badgerstore"
)

// The two benchmarks below run in one invocation and write the same case
// records to the same kind of store (encrypted Badger, synced writes) in
// batches of benchBatch:
//
//	go test -run='^$' -bench='Create' -count=6 ./node/casework/ | tee bench.txt
//	benchstat bench.txt
//
// BenchmarkCreateService goes through the whole service layer (validation,
// RBAC, case keys, encryption of form data and version, case-number
// sequence, indexes, version record, audit entry);
// BenchmarkCreateRawBadger replays, batch after batch, exactly the key/value
// pairs the service wrote for one batch (records, indexes, versions, audit
// entries). Their cases/s ratio is what the service's own work costs on top
// of storing its output.

const benchBatch = 200

func benchRow(i int) map[string]any {
	return map[string]any{
		"name_first": fmt.Sprintf("Child%d", i), "name_last": "Hassan", "sex": "female", "age": "9",
		"location_current": "SO0101", "risk_level": "high", "consent_for_services": "yes",
		"protection_concerns": "separated,psychosocial_distress",
		"address_current":     "Near the water point, block 7, Hargeisa",
	}
}

func openBench(b *testing.B) store.Store { return openBenchSealed(b, true) }

// openBenchSealed opens the benchmarks' store; sealed false stores values
// without the AEAD seal (badgerstore.Options.Unsealed), the baseline that
// shows what sealing costs.
func openBenchSealed(b *testing.B, sealed bool) store.Store {
	b.Helper()
	s, err := badgerstore.Open(context.Background(), badgerstore.Options{Dir: b.TempDir(), EncryptionKey: make([]byte, 32), Unsealed: !sealed})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func reportRate(b *testing.B, cases int) {
	b.ReportMetric(float64(cases)/b.Elapsed().Seconds(), "cases/s")
}

func BenchmarkCreateService(b *testing.B) {
	benchService(b, nil, true)
}

// BenchmarkCreateServiceUnsealed is BenchmarkCreateService on a store that
// does not seal its values: the difference is what sealing costs
// (docs/security.md).
func BenchmarkCreateServiceUnsealed(b *testing.B) {
	benchService(b, nil, false)
}

// BenchmarkCreateServiceLocalKeys is BenchmarkCreateService with the case
// keys in a casekeys.Local (file keyring, synced Badger) instead of in
// memory: one more synced write per batch.
func BenchmarkCreateServiceLocalKeys(b *testing.B) {
	kr, err := keyring.CreateFileWithParams(filepath.Join(b.TempDir(), "keyring.json"), []byte("passphrase"), keyring.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { kr.Close() })
	keys, err := casekeys.OpenLocal(context.Background(), casekeys.LocalOptions{Dir: b.TempDir(), Keyring: kr})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { keys.Close() })
	benchService(b, keys, true)
}

// BenchmarkCreateServiceKeyedAudit is BenchmarkCreateService as a node runs
// it: every audit entry also MACed under the chain key (audit.WithKey).
// Against BenchmarkCreateServiceUnsealed it is what sealing and the keyed
// chain cost together (docs/security.md).
func BenchmarkCreateServiceKeyedAudit(b *testing.B) {
	benchServiceOn(b, audit.WithKey(openBenchSealed(b, true), make([]byte, audit.KeySize)), nil)
}

func benchService(b *testing.B, keys casekeys.Store, sealed bool) {
	benchServiceOn(b, openBenchSealed(b, sealed), keys)
}

func benchServiceOn(b *testing.B, s store.Store, keys casekeys.Store) {
	svc := casework.New(casework.Options{Store: s, Forms: forms.Standard(), Agency: "agency-a", Keys: keys})
	sup := subject(b, "sam", "north", "supervisor")
	rows := make([]casework.ImportRow, benchBatch)
	ctx := context.Background()
	n := 0
	b.ResetTimer()
	for b.Loop() {
		for i := range rows {
			rows[i] = casework.ImportRow{Row: int64(i), Form: "registration", Fields: benchRow(n)}
			n++
		}
		res, err := svc.Import(ctx, sup, rows, false)
		if err != nil || res[0].Err != nil {
			b.Fatal(err, res[0].Err)
		}
	}
	reportRate(b, n)
}

// recorder captures every write of the transactions run through it.
type recorder struct {
	store.Store
	sets [][2][]byte
}

type recordingWriter struct {
	store.Writer
	r *recorder
}

func (w recordingWriter) Set(k, v []byte) error {
	w.r.sets = append(w.r.sets, [2][]byte{append([]byte{}, k...), append([]byte{}, v...)})
	return w.Writer.Set(k, v)
}

func (r *recorder) Update(ctx context.Context, fn func(store.Writer) error) error {
	return r.Store.Update(ctx, func(w store.Writer) error { return fn(recordingWriter{w, r}) })
}

func BenchmarkCreateRawBadger(b *testing.B) {
	s := openBench(b)
	// Record the exact key/value pairs the service writes for one batch...
	rec := &recorder{Store: s}
	svc := casework.New(casework.Options{Store: rec, Forms: forms.Standard(), Agency: "agency-a"})
	sup := subject(b, "sam", "north", "supervisor")
	ctx := context.Background()
	rows := make([]casework.ImportRow, benchBatch)
	for i := range rows {
		rows[i] = casework.ImportRow{Row: int64(i), Form: "registration", Fields: benchRow(i)}
	}
	if _, err := svc.Import(ctx, sup, rows, false); err != nil {
		b.Fatal(err)
	}
	// ...and replay those bytes, batch after batch, under fresh keys.
	n := 0
	b.ResetTimer()
	for b.Loop() {
		prefix := fmt.Appendf(nil, "raw/%d/", n)
		err := s.Update(ctx, func(w store.Writer) error {
			for _, kv := range rec.sets {
				if err := w.Set(append(prefix[:len(prefix):len(prefix)], kv[0]...), kv[1]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		n += benchBatch
	}
	reportRate(b, n)
}
