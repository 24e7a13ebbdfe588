package agencykey_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/cpx-node/cpx/crypto/agencykey"
)

// TestVerifyKeepsKeysApart: with expanded ML-DSA-65 keys kept between
// verifications, each signature still verifies under its own key only,
// from many goroutines at once and past the bound on kept keys.
func TestVerifyKeepsKeysApart(t *testing.T) {
	const n = 140 // more than the keys kept expanded
	msg := []byte("referral")
	pubs := make([]agencykey.Public, n)
	sigs := make([]agencykey.Signature, n)
	for i := range n {
		p := mustGenerate(t, "agency-a", uint32(i+1), t0, t1, fmt.Sprint("k", i))
		pubs[i] = p.Public()
		var err error
		if sigs[i], err = p.Sign(msg); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range n {
				k := (i + w*37) % n
				if err := pubs[k].Verify(msg, sigs[k]); err != nil {
					t.Errorf("key %d, its own signature: %v", k, err)
				}
				other := sigs[(k+1)%n]
				other.Key = pubs[k].Fingerprint()
				if err := pubs[k].Verify(msg, other); !errors.Is(err, agencykey.ErrBadMLDSA) {
					t.Errorf("key %d, another key's signature: %v, want ErrBadMLDSA", k, err)
				}
			}
		})
	}
	wg.Wait()
}
