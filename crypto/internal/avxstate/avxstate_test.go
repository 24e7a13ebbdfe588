package avxstate_test

import (
	"crypto/sha256"
	"testing"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"

	"github.com/cpx-node/cpx/crypto/internal/avxstate"
)

// BenchmarkAfterMLDSA times a SHA-256 of 6 KB right after an ML-DSA-65
// verification, with and without Clear between them, against the
// verification alone: the difference between the first two and the third
// is what the hash costs after circl.
//
//	go test -run '^$' -bench AfterMLDSA -cpu 1 ./crypto/internal/avxstate/
func BenchmarkAfterMLDSA(b *testing.B) {
	pk, sk, err := mldsa65.GenerateKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 6<<10)
	sig := make([]byte, mldsa65.SignatureSize)
	if err := mldsa65.SignTo(sk, msg, nil, false, sig); err != nil {
		b.Fatal(err)
	}
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			mldsa65.Verify(pk, msg, nil, sig)
		}
	})
	b.Run("verify+sha256", func(b *testing.B) {
		for b.Loop() {
			mldsa65.Verify(pk, msg, nil, sig)
			sha256.Sum256(msg)
		}
	})
	b.Run("verify+clear+sha256", func(b *testing.B) {
		for b.Loop() {
			mldsa65.Verify(pk, msg, nil, sig)
			avxstate.Clear()
			sha256.Sum256(msg)
		}
	})
}

func TestClear(t *testing.T) {
	// Clear must be callable at any time, on any CPU, with nothing dirty.
	avxstate.Clear()
	avxstate.Clear()
}
