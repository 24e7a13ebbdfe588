package envelope_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"regexp"
	"testing"
	"time"

	"github.com/cpx-node/cpx/crypto/agencykey"
	"github.com/cpx-node/cpx/crypto/envelope"
)

var (
	keyStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	keyEnd   = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	created  = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	expires  = created.Add(7 * 24 * time.Hour)
)

func seeded(s string) *rand.ChaCha8 {
	var seed [32]byte
	copy(seed[:], s)
	return rand.NewChaCha8(seed)
}

type keys struct {
	a, b, b2, c *agencykey.Private // sender, recipient, recipient's next version, another agency
}

func testKeys(t testing.TB) keys {
	t.Helper()
	gen := func(agency string, v uint32, seed string) *agencykey.Private {
		p, err := agencykey.Generate(agency, v, keyStart, keyEnd, seeded(seed))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	return keys{
		a:  gen("agency-a", 1, "a"),
		b:  gen("agency-b", 1, "b"),
		b2: gen("agency-b", 2, "b2"),
		c:  gen("agency-c", 1, "c"),
	}
}

func testHeader() envelope.Header {
	return envelope.Header{
		Purpose:     "referral",
		ISP:         "so-cp-isp-2026",
		ISPVersion:  3,
		Created:     created,
		Expires:     expires,
		ContentType: "application/vnd.cpx.referral+proto",
	}
}

func seal(t testing.TB, k keys, pt []byte) *envelope.Envelope {
	t.Helper()
	e, err := envelope.Seal(nil, testHeader(), pt, k.a, k.b.Public())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestRoundTrip(t *testing.T) {
	k := testKeys(t)
	for _, size := range []int{0, 1, 4096, 1 << 20} {
		pt := bytes.Repeat([]byte{'x'}, size)
		e := seal(t, k, pt)
		h := e.Header
		if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(h.ID) {
			t.Errorf("id %q", h.ID)
		}
		if h.Sender != "agency-a" || h.Recipient != "agency-b" || h.SenderKey != k.a.Fingerprint() ||
			h.RecipientKey != k.b.Fingerprint() || h.PlaintextHash != sha256.Sum256(pt) {
			t.Errorf("header not filled: %+v", h)
		}
		b, err := e.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		d, err := envelope.Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		b2, err := d.MarshalBinary()
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("re-encoding differs (%v)", err)
		}
		got, err := envelope.Open(d, k.b, k.a.Public(), created.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, pt) {
			t.Errorf("size %d: got %d bytes, want %d", size, len(got), len(pt))
		}
	}
	// Two seals of the same input differ (fresh ID and encapsulation).
	e1, e2 := seal(t, k, []byte("m")), seal(t, k, []byte("m"))
	if e1.Header.ID == e2.Header.ID || bytes.Equal(e1.Enc, e2.Enc) {
		t.Error("two seals share ID or encapsulation")
	}
	// A given ID is kept.
	h := testHeader()
	h.ID = "0123456789abcdef0123456789abcdef"
	e, err := envelope.Seal(nil, h, nil, k.a, k.b.Public())
	if err != nil || e.Header.ID != h.ID {
		t.Errorf("got id %q (%v), want %q", e.Header.ID, err, h.ID)
	}
}

func TestSealRejects(t *testing.T) {
	k := testKeys(t)
	for _, tc := range []struct {
		name string
		h    func(*envelope.Header)
		pt   int
	}{
		{"sender of another agency", func(h *envelope.Header) { h.Sender = "agency-c" }, 0},
		{"recipient of another agency", func(h *envelope.Header) { h.Recipient = "agency-c" }, 0},
		{"no purpose", func(h *envelope.Header) { h.Purpose = "" }, 0},
		{"purpose with capitals", func(h *envelope.Header) { h.Purpose = "Referral" }, 0},
		{"no times", func(h *envelope.Header) { h.Created, h.Expires = time.Time{}, time.Time{} }, 0},
		{"expires before created", func(h *envelope.Header) { h.Expires = h.Created.Add(-time.Second) }, 0},
		{"created before the keys", func(h *envelope.Header) { h.Created = keyStart.Add(-time.Hour) }, 0},
		{"created after the keys", func(h *envelope.Header) { h.Created, h.Expires = keyEnd, keyEnd.Add(time.Hour) }, 0},
		{"bad id", func(h *envelope.Header) { h.ID = "xyz" }, 0},
		{"upper-case id", func(h *envelope.Header) { h.ID = "0123456789ABCDEF0123456789ABCDEF" }, 0},
		{"isp version without isp", func(h *envelope.Header) { h.ISP = "" }, 0},
		{"isp with space", func(h *envelope.Header) { h.ISP = "a b" }, 0},
		{"non-ASCII content type", func(h *envelope.Header) { h.ContentType = "text/plain; é" }, 0},
		{"plaintext over 16 MiB", func(h *envelope.Header) {}, envelope.MaxPlaintext + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := testHeader()
			tc.h(&h)
			e, err := envelope.Seal(nil, h, make([]byte, tc.pt), k.a, k.b.Public())
			if err == nil || e != nil {
				t.Errorf("got %v, %v; want an error", e, err)
			}
		})
	}
	badKey := k.b.Public()
	badKey.KEM = badKey.KEM[:100]
	if _, err := envelope.Seal(nil, testHeader(), nil, k.a, badKey); !errors.Is(err, envelope.ErrMalformed) {
		t.Errorf("malformed recipient key: got %v, want ErrMalformed", err)
	}
	// Empty ISP with version 0 is allowed (e.g. receipts).
	h := testHeader()
	h.ISP, h.ISPVersion, h.Purpose, h.ContentType = "", 0, "receipt", ""
	if _, err := envelope.Seal(nil, h, nil, k.a, k.b.Public()); err != nil {
		t.Error(err)
	}
}

// resign makes the sender sign e again after it was changed, as a sender
// that cheats (or a bug) would; what is left to catch is the decryption or
// the hash.
func resign(t *testing.T, e *envelope.Envelope, sender *agencykey.Private) {
	t.Helper()
	b, err := e.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	body := b[:len(b)-4-agencykey.SignatureEncodedSize]
	if e.Sig, err = sender.Sign(body); err != nil {
		t.Fatal(err)
	}
}

func TestOpenFaults(t *testing.T) {
	k := testKeys(t)
	pt := []byte(`{"case":"C-1","service":"psychosocial"}`)
	now := created.Add(time.Hour)
	other := seal(t, k, []byte("another message"))

	type tc struct {
		name      string
		change    func(*envelope.Envelope)
		resign    bool
		recipient *agencykey.Private
		sender    *agencykey.Private
		now       time.Time
		want      []error
	}
	sig := func(e *envelope.Envelope) *agencykey.Signature {
		e.Sig.Ed25519 = bytes.Clone(e.Sig.Ed25519)
		e.Sig.MLDSA65 = bytes.Clone(e.Sig.MLDSA65)
		return &e.Sig
	}
	cases := []tc{
		// Form.
		{name: "short enc", change: func(e *envelope.Envelope) { e.Enc = e.Enc[:100] }, want: []error{envelope.ErrMalformed}},
		{name: "short ciphertext", change: func(e *envelope.Envelope) { e.Ciphertext = e.Ciphertext[:15] }, want: []error{envelope.ErrMalformed}},
		{name: "no signature", change: func(e *envelope.Envelope) { e.Sig = agencykey.Signature{} }, want: []error{envelope.ErrMalformed}},
		{name: "bad header id", change: func(e *envelope.Envelope) { e.Header.ID = "nothex" }, want: []error{envelope.ErrMalformed}},
		// Addressing.
		{name: "wrong recipient key", recipient: k.b2, want: []error{envelope.ErrWrongRecipient}},
		{name: "wrong recipient agency", recipient: k.c, want: []error{envelope.ErrWrongRecipient}},
		{name: "header recipient changed", change: func(e *envelope.Envelope) { e.Header.Recipient = "agency-c" }, want: []error{envelope.ErrWrongRecipient}},
		{name: "header recipient key changed", change: func(e *envelope.Envelope) { e.Header.RecipientKey = k.b2.Fingerprint() }, want: []error{envelope.ErrWrongRecipient}},
		{name: "other sender expected", sender: k.c, want: []error{envelope.ErrWrongSender}},
		{name: "header sender changed", change: func(e *envelope.Envelope) { e.Header.Sender = "agency-c" }, want: []error{envelope.ErrWrongSender}},
		{name: "header sender key changed", change: func(e *envelope.Envelope) { e.Header.SenderKey = k.c.Fingerprint() }, want: []error{envelope.ErrWrongSender}},
		// Signatures.
		{name: "Ed25519 tampered", change: func(e *envelope.Envelope) { sig(e).Ed25519[0] ^= 1 }, want: []error{envelope.ErrSignature, agencykey.ErrBadEd25519}},
		{name: "ML-DSA-65 tampered", change: func(e *envelope.Envelope) { sig(e).MLDSA65[0] ^= 1 }, want: []error{envelope.ErrSignature, agencykey.ErrBadMLDSA}},
		{name: "signature key renamed", change: func(e *envelope.Envelope) { sig(e).Key = k.c.Fingerprint() }, want: []error{envelope.ErrSignature, agencykey.ErrWrongKey}},
		{name: "Ed25519 from another envelope", change: func(e *envelope.Envelope) { sig(e).Ed25519 = other.Sig.Ed25519 }, want: []error{envelope.ErrSignature, agencykey.ErrBadEd25519}},
		{name: "ML-DSA-65 from another envelope", change: func(e *envelope.Envelope) { sig(e).MLDSA65 = other.Sig.MLDSA65 }, want: []error{envelope.ErrSignature, agencykey.ErrBadMLDSA}},
		{name: "signature from another envelope", change: func(e *envelope.Envelope) { e.Sig = other.Sig }, want: []error{envelope.ErrSignature, agencykey.ErrBadEd25519, agencykey.ErrBadMLDSA}},
		{name: "enc tampered", change: func(e *envelope.Envelope) { e.Enc = flip(e.Enc, 5) }, want: []error{envelope.ErrSignature}},
		{name: "ciphertext tampered", change: func(e *envelope.Envelope) { e.Ciphertext = flip(e.Ciphertext, 3) }, want: []error{envelope.ErrSignature}},
		{name: "ciphertext of another envelope", change: func(e *envelope.Envelope) { e.Enc, e.Ciphertext = other.Enc, other.Ciphertext }, want: []error{envelope.ErrSignature}},
		// Time.
		{name: "expired", now: expires.Add(envelope.ClockSkew), want: []error{envelope.ErrExpired}},
		{name: "not yet valid", now: created.Add(-envelope.ClockSkew - time.Nanosecond), want: []error{envelope.ErrExpired}},
		{name: "within skew after expiry", now: expires.Add(envelope.ClockSkew - time.Nanosecond)},
		{name: "within skew before creation", now: created.Add(-envelope.ClockSkew)},
		// Re-signed by the sender, so only decryption catches the change.
		{name: "enc tampered, re-signed", change: func(e *envelope.Envelope) { e.Enc = flip(e.Enc, 5) }, resign: true, want: []error{envelope.ErrDecrypt}},
		{name: "enc X25519 part tampered, re-signed", change: func(e *envelope.Envelope) { e.Enc = flip(e.Enc, envelope.EncSize-1) }, resign: true, want: []error{envelope.ErrDecrypt}},
		{name: "ciphertext tampered, re-signed", change: func(e *envelope.Envelope) { e.Ciphertext = flip(e.Ciphertext, 0) }, resign: true, want: []error{envelope.ErrDecrypt}},
		{name: "tag tampered, re-signed", change: func(e *envelope.Envelope) { e.Ciphertext = flip(e.Ciphertext, len(e.Ciphertext)-1) }, resign: true, want: []error{envelope.ErrDecrypt}},
		{name: "ciphertext of another envelope, re-signed", change: func(e *envelope.Envelope) { e.Enc, e.Ciphertext = other.Enc, other.Ciphertext }, resign: true, want: []error{envelope.ErrDecrypt}},
	}
	// Every header field the addressing checks do not catch: the signature
	// catches it, and if the sender re-signs, the associated data does.
	for name, change := range map[string]func(*envelope.Header){
		"id":             func(h *envelope.Header) { h.ID = "00000000000000000000000000000000" },
		"purpose":        func(h *envelope.Header) { h.Purpose = "transfer" },
		"isp":            func(h *envelope.Header) { h.ISP = "so-cp-isp-2025" },
		"isp version":    func(h *envelope.Header) { h.ISPVersion++ },
		"created":        func(h *envelope.Header) { h.Created = h.Created.Add(-time.Second) },
		"expires":        func(h *envelope.Header) { h.Expires = h.Expires.Add(time.Hour) },
		"plaintext hash": func(h *envelope.Header) { h.PlaintextHash = sha256.Sum256([]byte("forged")) },
		"content type":   func(h *envelope.Header) { h.ContentType = "text/plain" },
	} {
		f := func(e *envelope.Envelope) { change(&e.Header) }
		cases = append(cases,
			tc{name: "header " + name, change: f, want: []error{envelope.ErrSignature, agencykey.ErrBadEd25519, agencykey.ErrBadMLDSA}},
			tc{name: "header " + name + ", re-signed", change: f, resign: true, want: []error{envelope.ErrDecrypt}})
	}
	sentinels := []error{envelope.ErrMalformed, envelope.ErrWrongRecipient, envelope.ErrWrongSender,
		envelope.ErrSignature, envelope.ErrExpired, envelope.ErrDecrypt, envelope.ErrHash}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := seal(t, k, pt)
			if c.change != nil {
				c.change(e)
			}
			if c.resign {
				resign(t, e, k.a)
			}
			recipient, sender, at := k.b, k.a, now
			if c.recipient != nil {
				recipient = c.recipient
			}
			if c.sender != nil {
				sender = c.sender
			}
			if !c.now.IsZero() {
				at = c.now
			}
			got, err := envelope.Open(e, recipient, sender.Public(), at)
			if len(c.want) == 0 {
				if err != nil || !bytes.Equal(got, pt) {
					t.Fatalf("got %q, %v; want the plaintext", got, err)
				}
				return
			}
			if got != nil {
				t.Errorf("got plaintext %q with error %v", got, err)
			}
			for _, w := range c.want {
				if !errors.Is(err, w) {
					t.Errorf("got %v, want %v", err, w)
				}
			}
			// Exactly one of the package's sentinels.
			n := 0
			for _, s := range sentinels {
				if errors.Is(err, s) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("got %v: matches %d sentinel errors, want 1", err, n)
			}
		})
	}

	if _, err := envelope.Open(nil, k.b, k.a.Public(), now); !errors.Is(err, envelope.ErrMalformed) {
		t.Errorf("nil envelope: got %v, want ErrMalformed", err)
	}
	if _, err := envelope.Open(seal(t, k, pt), nil, k.a.Public(), now); !errors.Is(err, envelope.ErrWrongRecipient) {
		t.Errorf("nil recipient: got %v, want ErrWrongRecipient", err)
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1
	return c
}

func TestUnmarshalStrict(t *testing.T) {
	k := testKeys(t)
	e := seal(t, k, []byte("hello"))
	b, _ := e.MarshalBinary()
	bad := func(what string, b []byte) {
		t.Helper()
		if _, err := envelope.Unmarshal(b); !errors.Is(err, envelope.ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", what, err)
		}
	}
	for n := range len(b) {
		if _, err := envelope.Unmarshal(b[:n]); !errors.Is(err, envelope.ErrMalformed) {
			t.Fatalf("truncated to %d: got %v, want ErrMalformed", n, err)
		}
	}
	bad("trailing byte", append(bytes.Clone(b), 0))
	bad("over MaxSize", make([]byte, envelope.MaxSize+1))
	for i := range 5 {
		bad("tag", flip(b, i))
	}
	hb, _ := e.Header.MarshalBinary()
	// Header fields start after the envelope tag (5), header length (4),
	// header tag (5); the id's length prefix is at 14-15.
	c := bytes.Clone(b)
	c[15]++
	bad("id length", c)
	// A non-UTF-8 byte in the sender id (after the id: 14+2+32+2).
	c = bytes.Clone(b)
	c[14+2+32+2] = 0xff
	bad("non-UTF-8 sender", c)
	// Declared ciphertext length over the limit.
	off := 5 + 4 + len(hb) + 4 + envelope.EncSize
	c = bytes.Clone(b)
	c[off], c[off+1], c[off+2], c[off+3] = 0x01, 0x00, 0x00, 0x11
	bad("oversized ciphertext", c)

	if _, err := envelope.UnmarshalHeader(hb); err != nil {
		t.Errorf("header: %v", err)
	}
	if _, err := envelope.UnmarshalHeader(append(hb, 0)); !errors.Is(err, envelope.ErrMalformed) {
		t.Errorf("header with trailing byte: got %v", err)
	}
}

func BenchmarkSeal4KiB(b *testing.B) {
	k := testKeys(b)
	pt := make([]byte, 4096)
	pub := k.b.Public()
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		if _, err := envelope.Seal(nil, testHeader(), pt, k.a, pub); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen4KiB(b *testing.B) {
	k := testKeys(b)
	pt := make([]byte, 4096)
	e := seal(b, k, pt)
	pub := k.a.Public()
	now := created.Add(time.Minute)
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		if _, err := envelope.Open(e, k.b, pub, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalOpen4KiB(b *testing.B) {
	k := testKeys(b)
	e := seal(b, k, make([]byte, 4096))
	enc, _ := e.MarshalBinary()
	pub := k.a.Public()
	now := created.Add(time.Minute)
	b.SetBytes(4096)
	for b.Loop() {
		d, err := envelope.Unmarshal(enc)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := envelope.Open(d, k.b, pub, now); err != nil {
			b.Fatal(err)
		}
	}
}

// TestVerifiedKeepsWhatWasVerified: Open on a Verified decrypts the bytes
// whose signatures Verify checked, even if the Envelope they came from is
// changed afterwards (a receiver verifies, then decrypts later), and its
// digest is the envelope's.
func TestVerifiedKeepsWhatWasVerified(t *testing.T) {
	k := testKeys(t)
	pt := []byte(`{"case":"C-1"}`)
	e := seal(t, k, pt)
	other := seal(t, k, []byte("another message"))
	v, err := envelope.Verify(e, k.a.Public())
	if err != nil {
		t.Fatal(err)
	}
	want, err := e.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Digest(); got != want {
		t.Errorf("Verified.Digest() = %x, want %x", got, want)
	}
	// Changed after verification, in place and by replacement.
	e.Ciphertext[0] ^= 1
	e.Enc[0] ^= 1
	e.Enc, e.Ciphertext = other.Enc, other.Ciphertext
	e.Header.Recipient = "agency-c"
	got, err := v.Open(k.b, created.Add(time.Hour))
	if err != nil {
		t.Fatalf("Verified.Open after the envelope changed: %v", err)
	}
	if !bytes.Equal(got, pt) {
		t.Errorf("Verified.Open = %q, want %q", got, pt)
	}
	for _, tc := range []struct {
		name      string
		recipient *agencykey.Private
		now       time.Time
		want      error
	}{
		{"other recipient key", k.b2, created, envelope.ErrWrongRecipient},
		{"no recipient key", nil, created, envelope.ErrWrongRecipient},
		{"expired", k.b, expires.Add(envelope.ClockSkew), envelope.ErrExpired},
	} {
		if _, err := v.Open(tc.recipient, tc.now); !errors.Is(err, tc.want) {
			t.Errorf("%s: Verified.Open: %v, want %v", tc.name, err, tc.want)
		}
	}
}
