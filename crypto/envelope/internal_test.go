package envelope

import (
	"bytes"
	gohpke "crypto/hpke"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cpx-node/cpx/crypto/agencykey"
)

var (
	kStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	kEnd   = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	tNow   = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

func genKey(t *testing.T, agency, seed string) *agencykey.Private {
	t.Helper()
	var s [32]byte
	copy(s[:], seed)
	p, err := agencykey.Generate(agency, 1, kStart, kEnd, rand.NewChaCha8(s))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func fullHeader(sender, recipient *agencykey.Private, pt []byte) Header {
	return Header{
		ID:            "00112233445566778899aabbccddeeff",
		Sender:        sender.Agency(),
		Recipient:     recipient.Agency(),
		Purpose:       "referral",
		ISP:           "isp-1",
		ISPVersion:    1,
		Created:       tNow,
		Expires:       tNow.Add(time.Hour),
		PlaintextHash: sha256.Sum256(pt),
		SenderKey:     sender.Fingerprint(),
		RecipientKey:  recipient.Fingerprint(),
	}
}

// A sender that signs and encrypts correctly but puts a wrong plaintext
// hash in the header gets ErrHash: tampering in transit cannot reach this
// check (the header is associated data), a faulty or lying sender can.
func TestOpenHashMismatch(t *testing.T) {
	a, b := genKey(t, "agency-a", "a"), genKey(t, "agency-b", "b")
	pt := []byte("the plaintext")
	h := fullHeader(a, b, []byte("not the plaintext"))
	e, err := seal(nil, h, pt, a, b.Public())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(e, b, a.Public(), tNow); !errors.Is(err, ErrHash) {
		t.Errorf("got %v, want ErrHash", err)
	}
}

// TestInteropGoHPKE checks that the HPKE layer interoperates with Go's
// crypto/hpke (MLKEM768X25519 = X-Wing) in both directions, with the same
// key: circl's X-Wing private key encoding is the 32-byte seed that
// crypto/hpke's NewPrivateKey takes, and the public keys are identical.
func TestInteropGoHPKE(t *testing.T) {
	a, b := genKey(t, "agency-a", "a"), genKey(t, "agency-b", "b")
	kem := gohpke.MLKEM768X25519()
	if kem.ID() != uint16(agencykey.KEM) {
		t.Fatalf("KEM ids: crypto/hpke %#x, circl %#x", kem.ID(), agencykey.KEM)
	}
	seed, err := b.KEMKey().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	sk, err := kem.NewPrivateKey(seed)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sk.PublicKey().Bytes(), b.Public().KEM; !bytes.Equal(got, want) {
		t.Fatal("crypto/hpke derives another public key from the same seed")
	}
	kdf, aead := gohpke.HKDFSHA256(), gohpke.AES256GCM()
	pt := bytes.Repeat([]byte("interop "), 512)

	t.Run("circl seals, crypto/hpke opens", func(t *testing.T) {
		e, err := Seal(nil, Header{Purpose: "referral", Created: tNow, Expires: tNow.Add(time.Hour)}, pt, a, b.Public())
		if err != nil {
			t.Fatal(err)
		}
		aad, _ := e.Header.MarshalBinary()
		r, err := gohpke.NewRecipient(e.Enc, sk, kdf, aead, []byte(Info))
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Open(aad, e.Ciphertext)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, pt) {
			t.Error("plaintext differs")
		}
	})

	t.Run("crypto/hpke seals, Open opens", func(t *testing.T) {
		pk, err := kem.NewPublicKey(b.Public().KEM)
		if err != nil {
			t.Fatal(err)
		}
		h := fullHeader(a, b, pt)
		aad, _ := h.MarshalBinary()
		enc, s, err := gohpke.NewSender(pk, kdf, aead, []byte(Info))
		if err != nil {
			t.Fatal(err)
		}
		ct, err := s.Seal(aad, pt)
		if err != nil {
			t.Fatal(err)
		}
		e := &Envelope{Header: h, Enc: enc, Ciphertext: ct}
		if err := e.sign(aad, a); err != nil {
			t.Fatal(err)
		}
		got, err := Open(e, b, a.Public(), tNow)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, pt) {
			t.Error("plaintext differs")
		}
	})
}
