package envelope_test

import (
	"bytes"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/cpx-node/cpx/crypto/envelope"
)

func FuzzUnmarshal(f *testing.F) {
	k := testKeys(f)
	for _, pt := range [][]byte{nil, []byte("hello"), make([]byte, 300)} {
		b, _ := seal(f, k, pt).MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte("CPXE\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := envelope.Unmarshal(b)
		if err != nil {
			return
		}
		out, err := e.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded envelope does not encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatal("re-encoding differs")
		}
	})
}

func FuzzUnmarshalHeader(f *testing.F) {
	k := testKeys(f)
	hb, _ := seal(f, k, []byte("x")).Header.MarshalBinary()
	f.Add(hb)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := envelope.UnmarshalHeader(b)
		if err != nil {
			return
		}
		out, err := h.MarshalBinary()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("re-encoding differs (%v)", err)
		}
	})
}

// FuzzOpen feeds mutated envelopes to Open with a fixed key pair: it must
// never panic, and must return a plaintext only if it matches the hash.
func FuzzOpen(f *testing.F) {
	k := testKeys(f)
	for _, pt := range [][]byte{nil, []byte("hello"), make([]byte, 300)} {
		b, _ := seal(f, k, pt).MarshalBinary()
		f.Add(b, int64(0))
	}
	recipient, sender := k.b, k.a.Public()
	f.Fuzz(func(t *testing.T, b []byte, dt int64) {
		e, err := envelope.Unmarshal(b)
		if err != nil {
			return
		}
		pt, err := envelope.Open(e, recipient, sender, created.Add(time.Duration(dt)))
		if err != nil {
			if pt != nil {
				t.Fatal("plaintext with an error")
			}
			return
		}
		if sha256.Sum256(pt) != e.Header.PlaintextHash {
			t.Fatal("opened plaintext does not match its hash")
		}
	})
}
