package envelope

import (
	"bytes"
	cryptorand "crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	circlhpke "github.com/cloudflare/circl/hpke"
	"github.com/cloudflare/circl/kem/xwing"

	"github.com/cpx-node/cpx/crypto/agencykey"
	"github.com/cpx-node/cpx/crypto/internal/avxstate"
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
	e, err := seal(h, pt, a, b.Public())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(e, b, a.Public(), tNow); !errors.Is(err, ErrHash) {
		t.Errorf("got %v, want ErrHash", err)
	}
}

// TestInteropCirclHPKE checks that envelopes interoperate, in both
// directions and with the same keys, with circl's hpke (X-Wing), which
// sealed and opened them before the node used Go's crypto/hpke: circl
// derives the X-Wing key pair from the same 32-byte seed.
func TestInteropCirclHPKE(t *testing.T) {
	a := genKey(t, "agency-a", "a")
	var seed [32]byte
	copy(seed[:], "b")
	b := genKey(t, "agency-b", "b")
	var kemSeed [32]byte
	if _, err := io.ReadFull(rand.NewChaCha8(seed), kemSeed[:]); err != nil { // Generate's first seed
		t.Fatal(err)
	}
	sk, pk := xwing.DeriveKeyPair(kemSeed[:])
	defer avxstate.Clear()
	pkb, _ := pk.MarshalBinary()
	if !bytes.Equal(pkb, b.Public().KEM) {
		t.Fatal("circl derives another X-Wing public key from the same seed")
	}
	suite := circlhpke.NewSuite(circlhpke.KEM_XWING, circlhpke.KDF_HKDF_SHA256, circlhpke.AEAD_AES256GCM)
	if uint16(circlhpke.KEM_XWING) != agencykey.KEM.ID() {
		t.Fatalf("KEM ids: circl %#x, crypto/hpke %#x", uint16(circlhpke.KEM_XWING), agencykey.KEM.ID())
	}
	pt := bytes.Repeat([]byte("interop "), 512)

	t.Run("Seal seals, circl opens", func(t *testing.T) {
		e, err := Seal(nil, Header{Purpose: "referral", Created: tNow, Expires: tNow.Add(time.Hour)}, pt, a, b.Public())
		if err != nil {
			t.Fatal(err)
		}
		aad, _ := e.Header.MarshalBinary()
		r, err := suite.NewReceiver(sk, []byte(Info))
		if err != nil {
			t.Fatal(err)
		}
		opener, err := r.Setup(e.Enc)
		if err != nil {
			t.Fatal(err)
		}
		got, err := opener.Open(e.Ciphertext, aad)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, pt) {
			t.Error("plaintext differs")
		}
	})

	t.Run("circl seals, Open opens", func(t *testing.T) {
		h := fullHeader(a, b, pt)
		aad, _ := h.MarshalBinary()
		s, err := suite.NewSender(pk, []byte(Info))
		if err != nil {
			t.Fatal(err)
		}
		enc, sealer, err := s.Setup(cryptorand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		ct, err := sealer.Seal(pt, aad)
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
