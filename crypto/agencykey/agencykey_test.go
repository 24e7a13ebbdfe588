package agencykey_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cpx-node/cpx/crypto/agencykey"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

var (
	t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	t2 = time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC)
)

// seeded returns a deterministic reader.
func seeded(s string) *rand.ChaCha8 {
	var seed [32]byte
	copy(seed[:], s)
	return rand.NewChaCha8(seed)
}

func mustGenerate(t testing.TB, agency string, version uint32, nb, na time.Time, seed string) *agencykey.Private {
	t.Helper()
	p, err := agencykey.Generate(agency, version, nb, na, seeded(seed))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGenerateDeterministic(t *testing.T) {
	a := mustGenerate(t, "agency-a", 1, t0, t1, "x")
	b := mustGenerate(t, "agency-a", 1, t0, t1, "x")
	c := mustGenerate(t, "agency-a", 1, t0, t1, "y")
	if a.Fingerprint() != b.Fingerprint() {
		t.Errorf("same seed: fingerprints %s and %s differ", a.Fingerprint(), b.Fingerprint())
	}
	if a.Fingerprint() == c.Fingerprint() {
		t.Errorf("different seeds: same fingerprint %s", a.Fingerprint())
	}
	// A random key (nil reader) works too.
	r, err := agencykey.Generate("agency-a", 1, t0, t1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Fingerprint() == a.Fingerprint() {
		t.Error("crypto/rand key equals seeded key")
	}
}

func TestGenerateRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		agency string
		ver    uint32
		nb, na time.Time
	}{
		{"empty agency", "", 1, t0, t1},
		{"upper-case agency", "Agency", 1, t0, t1},
		{"slash at end", "unicef-so/", 1, t0, t1},
		{"double slash", "unicef-so//x", 1, t0, t1},
		{"version 0", "a", 0, t0, t1},
		{"inverted window", "a", 1, t1, t0},
		{"empty window", "a", 1, t0, t0},
		{"zero time", "a", 1, time.Time{}, t1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := agencykey.Generate(tc.agency, tc.ver, tc.nb, tc.na, seeded("x"))
			if !errors.Is(err, agencykey.ErrMalformed) {
				t.Errorf("got %v, want ErrMalformed", err)
			}
		})
	}
	if _, err := agencykey.Generate("a", 1, t0, t1, bytes.NewReader(make([]byte, 95))); err == nil {
		t.Error("short reader: got no error")
	}
}

func TestPublicRoundTrip(t *testing.T) {
	p := mustGenerate(t, "unicef-so/hargeisa", 7, t0.Add(123456789), t1, "x")
	pub := p.Public()
	b, err := pub.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	got, err := agencykey.UnmarshalPublic(b)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(pub) || got.Agency != "unicef-so/hargeisa" || got.Version != 7 ||
		!got.NotBefore.Equal(t0.Add(123456789)) || !got.NotAfter.Equal(t1) {
		t.Errorf("got %+v, want %+v", got, pub)
	}
	if got.Fingerprint() != p.Fingerprint() || pub.Fingerprint() != p.Fingerprint() {
		t.Errorf("fingerprints: decoded %s, public %s, private %s", got.Fingerprint(), pub.Fingerprint(), p.Fingerprint())
	}
	// Public returns copies.
	pub.Ed25519[0] ^= 1
	if p.Public().Ed25519[0] == pub.Ed25519[0] {
		t.Error("Public shares memory with Private")
	}
	if _, err := p.Public().KEMKey(); err != nil {
		t.Error(err)
	}
}

func TestPrivateRoundTrip(t *testing.T) {
	p := mustGenerate(t, "agency-a", 2, t0, t1, "x")
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	q, err := agencykey.UnmarshalPrivate(b)
	if err != nil {
		t.Fatal(err)
	}
	if q.Fingerprint() != p.Fingerprint() || !q.Public().Equal(p.Public()) {
		t.Fatalf("got %v, want %v", q, p)
	}
	b2, _ := q.MarshalBinary()
	if !bytes.Equal(b2, b) {
		t.Error("re-encoding differs")
	}
	sig, err := q.Sign([]byte("m"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Public().Verify([]byte("m"), sig); err != nil {
		t.Error(err)
	}
	kb, _ := q.KEMKey().Bytes()
	kp, _ := p.KEMKey().Bytes()
	if !bytes.Equal(kb, kp) {
		t.Error("KEM keys differ after round trip")
	}

	// Flipping any seed bit is caught by the public key digest.
	for _, off := range []int{len(b) - 36 - 1, len(b) - 2*36 - 1, len(b) - 3*36 - 1, len(b) - 1} {
		c := bytes.Clone(b)
		c[off] ^= 0x80
		if _, err := agencykey.UnmarshalPrivate(c); !errors.Is(err, agencykey.ErrMalformed) {
			t.Errorf("bit flip at %d: got %v, want ErrMalformed", off, err)
		}
	}
}

func TestPrivateNotPrinted(t *testing.T) {
	p := mustGenerate(t, "agency-a", 1, t0, t1, "x")
	b, _ := p.MarshalBinary()
	out := fmt.Sprintf("%v %s %+v %#v", p, p, p, p)
	// The X-Wing seed is the first secret in the encoding.
	seed := b[len(b)-4*36+4 : len(b)-3*36]
	if strings.Contains(out, hex.EncodeToString(seed)) || strings.Contains(out, fmt.Sprint(seed)) {
		t.Errorf("formatted Private shows key material: %s", out)
	}
	if !strings.Contains(out, p.Fingerprint()) {
		t.Errorf("got %s, want the fingerprint in it", out)
	}
}

func TestDecodersStrict(t *testing.T) {
	p := mustGenerate(t, "agency-a", 1, t0, t1, "x")
	pubB, _ := p.Public().MarshalBinary()
	privB, _ := p.MarshalBinary()
	sig, _ := p.Sign([]byte("m"))
	sigB, _ := sig.MarshalBinary()
	if len(sigB) != agencykey.SignatureEncodedSize {
		t.Errorf("signature encoding: got %d bytes, want %d", len(sigB), agencykey.SignatureEncodedSize)
	}
	ann, _ := agencykey.Announce(p, "12D3KooWpeer", t0, nil)
	annB, _ := ann.MarshalBinary()
	decoders := map[string]struct {
		b   []byte
		dec func([]byte) error
	}{
		"public":       {pubB, func(b []byte) error { _, err := agencykey.UnmarshalPublic(b); return err }},
		"private":      {privB, func(b []byte) error { _, err := agencykey.UnmarshalPrivate(b); return err }},
		"signature":    {sigB, func(b []byte) error { _, err := agencykey.UnmarshalSignature(b); return err }},
		"announcement": {annB, func(b []byte) error { _, err := agencykey.UnmarshalAnnouncement(b); return err }},
	}
	for name, d := range decoders {
		t.Run(name, func(t *testing.T) {
			if err := d.dec(d.b); err != nil {
				t.Fatalf("valid input: %v", err)
			}
			// Every truncation fails.
			for n := range len(d.b) {
				if err := d.dec(d.b[:n]); !errors.Is(err, agencykey.ErrMalformed) {
					t.Fatalf("truncated to %d: got %v, want ErrMalformed", n, err)
				}
			}
			check := func(what string, b []byte) {
				t.Helper()
				if err := d.dec(b); !errors.Is(err, agencykey.ErrMalformed) {
					t.Errorf("%s: got %v, want ErrMalformed", what, err)
				}
			}
			check("trailing byte", append(bytes.Clone(d.b), 0))
			for i := range 5 {
				c := bytes.Clone(d.b)
				c[i] ^= 1
				check(fmt.Sprintf("header byte %d", i), c)
			}
			// Lengthen the first length prefix (the agency or fingerprint string).
			c := bytes.Clone(d.b)
			c[6]++
			check("length prefix", c)
		})
	}
	// Other kinds are rejected by tag.
	if _, err := agencykey.UnmarshalPublic(privB); !errors.Is(err, agencykey.ErrMalformed) {
		t.Errorf("private as public: got %v, want ErrMalformed", err)
	}
}

func TestFingerprint(t *testing.T) {
	p := mustGenerate(t, "agency-a", 1, t0, t1, "x")
	fp := p.Fingerprint()
	if len(fp) != agencykey.FingerprintLen || strings.Count(fp, "-") != 7 {
		t.Fatalf("got %q, want 8 groups of 7", fp)
	}
	for _, g := range strings.Split(fp, "-") {
		if len(g) != 7 || strings.Trim(g, "abcdefghijklmnopqrstuvwxyz234567") != "" {
			t.Fatalf("group %q of %q", g, fp)
		}
	}
	for _, in := range []string{fp, strings.ToUpper(fp), strings.ReplaceAll(fp, "-", ""), strings.ReplaceAll(fp, "-", " ")} {
		got, err := agencykey.ParseFingerprint(in)
		if err != nil || got != fp {
			t.Errorf("ParseFingerprint(%q) = %q, %v; want %q", in, got, err, fp)
		}
	}
	raw := []byte(strings.ReplaceAll(fp, "-", ""))
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	// Every single-character error is detected.
	for i := range raw {
		for _, c := range []byte(alphabet) {
			if c == raw[i] {
				continue
			}
			m := bytes.Clone(raw)
			m[i] = c
			if _, err := agencykey.ParseFingerprint(string(m)); !errors.Is(err, agencykey.ErrMalformed) {
				t.Fatalf("position %d changed to %c: got %v, want ErrMalformed", i, c, err)
			}
		}
	}
	// Swapped neighbours within a check group are detected.
	for i := 0; i+1 < len(raw); i++ {
		if (i+1)%14 == 0 || raw[i] == raw[i+1] {
			continue
		}
		m := bytes.Clone(raw)
		m[i], m[i+1] = m[i+1], m[i]
		if _, err := agencykey.ParseFingerprint(string(m)); err == nil {
			t.Errorf("swap at %d (%c%c) not detected", i, raw[i], raw[i+1])
		}
	}
	for _, bad := range []string{"", "abc", fp + "a", fp[:len(fp)-1], strings.Replace(fp, "a", "1", 1) + "0"} {
		if _, err := agencykey.ParseFingerprint(bad); !errors.Is(err, agencykey.ErrMalformed) {
			t.Errorf("ParseFingerprint(%q): got %v, want ErrMalformed", bad, err)
		}
	}
	// The fingerprint covers the metadata, not only the keys.
	q := mustGenerate(t, "agency-a", 2, t0, t1, "x")
	if q.Fingerprint() == fp {
		t.Error("version 2 of the same keys has the same fingerprint")
	}
	if (agencykey.Public{}).Fingerprint() != "" {
		t.Error("fingerprint of an empty Public is not empty")
	}
}

type golden struct {
	Comment     string `json:"comment"`
	Seed        string `json:"chacha8_seed"`
	Agency      string `json:"agency"`
	Version     uint32 `json:"version"`
	NotBefore   string `json:"not_before"`
	NotAfter    string `json:"not_after"`
	Public      string `json:"public_hex"`
	Private     string `json:"private_hex"`
	Fingerprint string `json:"fingerprint"`
}

// TestGolden pins the encodings and fingerprint of a key generated from a
// fixed seed: a change means every deployed fingerprint changes.
func TestGolden(t *testing.T) {
	const seed = "cpx agencykey golden v1"
	p := mustGenerate(t, "save-the-children-so", 1, t0, t1, seed)
	pub, _ := p.Public().MarshalBinary()
	priv, _ := p.MarshalBinary()
	var s [32]byte
	copy(s[:], seed)
	got := golden{
		Comment:     "agencykey.Generate with a math/rand/v2 ChaCha8 reader seeded with chacha8_seed (hex); regenerate with go test -update. A test key: its seed is public, never use it.",
		Seed:        hex.EncodeToString(s[:]),
		Agency:      p.Agency(),
		Version:     p.Version(),
		NotBefore:   t0.Format(time.RFC3339Nano),
		NotAfter:    t1.Format(time.RFC3339Nano),
		Public:      hex.EncodeToString(pub),
		Private:     hex.EncodeToString(priv),
		Fingerprint: p.Fingerprint(),
	}
	path := filepath.Join("testdata", "golden.json")
	if *update {
		b, _ := json.MarshalIndent(got, "", "\t")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want golden
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if got.Fingerprint != want.Fingerprint {
		t.Errorf("fingerprint: got %s, want %s", got.Fingerprint, want.Fingerprint)
	}
	if got.Public != want.Public {
		t.Error("public encoding differs from golden")
	}
	if got.Private != want.Private {
		t.Error("private encoding differs from golden")
	}
	// The stored private key decodes to the same key.
	wb, _ := hex.DecodeString(want.Private)
	q, err := agencykey.UnmarshalPrivate(wb)
	if err != nil {
		t.Fatal(err)
	}
	if q.Fingerprint() != want.Fingerprint {
		t.Errorf("decoded golden private key: got %s, want %s", q.Fingerprint(), want.Fingerprint)
	}
}

func TestSignVerify(t *testing.T) {
	a := mustGenerate(t, "agency-a", 1, t0, t1, "a")
	b := mustGenerate(t, "agency-b", 1, t0, t1, "b")
	msg := []byte("referral 42")
	sig, err := a.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	pa := a.Public()
	if err := pa.Verify(msg, sig); err != nil {
		t.Fatalf("valid signature: %v", err)
	}
	sigB, _ := b.Sign(msg)

	type want struct{ ed, ml, key, malformed bool }
	for _, tc := range []struct {
		name string
		msg  []byte
		sig  func() agencykey.Signature
		want want
	}{
		{"tampered Ed25519", msg, func() agencykey.Signature { s := clone(sig); s.Ed25519[10] ^= 1; return s }, want{ed: true}},
		{"tampered ML-DSA-65", msg, func() agencykey.Signature { s := clone(sig); s.MLDSA65[100] ^= 1; return s }, want{ml: true}},
		{"tampered message", []byte("referral 43"), func() agencykey.Signature { return clone(sig) }, want{ed: true, ml: true}},
		{"other key", msg, func() agencykey.Signature { return clone(sigB) }, want{key: true}},
		{"other key, renamed", msg, func() agencykey.Signature { s := clone(sigB); s.Key = sig.Key; return s }, want{ed: true, ml: true}},
		// Both halves are required: a valid half from another key does not help.
		{"Ed25519 from other key", msg, func() agencykey.Signature { s := clone(sig); s.Ed25519 = sigB.Ed25519; return s }, want{ed: true}},
		{"ML-DSA-65 from other key", msg, func() agencykey.Signature { s := clone(sig); s.MLDSA65 = sigB.MLDSA65; return s }, want{ml: true}},
		{"zero Ed25519", msg, func() agencykey.Signature { s := clone(sig); s.Ed25519 = make([]byte, 64); return s }, want{ed: true}},
		{"missing Ed25519", msg, func() agencykey.Signature { s := clone(sig); s.Ed25519 = nil; return s }, want{malformed: true}},
		{"missing ML-DSA-65", msg, func() agencykey.Signature { s := clone(sig); s.MLDSA65 = nil; return s }, want{malformed: true}},
		{"bad key name", msg, func() agencykey.Signature { s := clone(sig); s.Key = "x"; return s }, want{malformed: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := pa.Verify(tc.msg, tc.sig())
			if err == nil {
				t.Fatal("got nil error")
			}
			got := want{
				ed:        errors.Is(err, agencykey.ErrBadEd25519),
				ml:        errors.Is(err, agencykey.ErrBadMLDSA),
				key:       errors.Is(err, agencykey.ErrWrongKey),
				malformed: errors.Is(err, agencykey.ErrMalformed),
			}
			if got != tc.want {
				t.Errorf("got %v (%+v), want %+v", err, got, tc.want)
			}
		})
	}

	// A broken public key is malformed, not a bad signature.
	bad := a.Public()
	bad.MLDSA65 = bad.MLDSA65[:10]
	if err := bad.Verify(msg, sig); !errors.Is(err, agencykey.ErrMalformed) {
		t.Errorf("short public key: got %v, want ErrMalformed", err)
	}

	// Signatures round-trip.
	enc, err := sig.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	dec, err := agencykey.UnmarshalSignature(enc)
	if err != nil {
		t.Fatal(err)
	}
	if err := pa.Verify(msg, dec); err != nil {
		t.Error(err)
	}
	// Hedged ML-DSA: two signatures of one message differ, both verify.
	sig2, _ := a.Sign(msg)
	if bytes.Equal(sig2.MLDSA65, sig.MLDSA65) || !bytes.Equal(sig2.Ed25519, sig.Ed25519) {
		t.Error("want randomised ML-DSA-65 and deterministic Ed25519")
	}
}

func clone(s agencykey.Signature) agencykey.Signature {
	return agencykey.Signature{Key: s.Key, Ed25519: bytes.Clone(s.Ed25519), MLDSA65: bytes.Clone(s.MLDSA65)}
}

func TestAnnouncementChain(t *testing.T) {
	v1 := mustGenerate(t, "agency-a", 1, t0, t1, "v1")
	v2 := mustGenerate(t, "agency-a", 2, t0.Add(300*24*time.Hour), t2, "v2")
	v3 := mustGenerate(t, "agency-a", 3, t1, t2.Add(time.Hour), "v3")
	other := mustGenerate(t, "agency-b", 1, t0, t2, "b")
	const peer = "12D3KooWExamplePeerId"

	a1, err := agencykey.Announce(v1, peer, t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := agencykey.Announce(v2, peer, t0.Add(300*24*time.Hour), v1)
	if err != nil {
		t.Fatal(err)
	}
	a3, err := agencykey.Announce(v3, peer, t1, v2)
	if err != nil {
		t.Fatal(err)
	}
	now := t1.Add(time.Hour) // v2 and v3 valid, v1 expired
	p1, p2 := v1.Public(), v2.Public()
	if err := a1.Verify(t0.Add(time.Hour), nil); err != nil {
		t.Errorf("v1: %v", err)
	}
	if err := a2.Verify(now, &p1); err != nil {
		t.Errorf("v2 after v1: %v", err)
	}
	if err := a3.Verify(now, &p2); err != nil {
		t.Errorf("v3 after v2: %v", err)
	}
	// Round trip keeps signatures valid.
	for i, a := range []agencykey.Announcement{a1, a2, a3} {
		b, err := a.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		d, err := agencykey.UnmarshalAnnouncement(b)
		if err != nil {
			t.Fatal(err)
		}
		b2, _ := d.MarshalBinary()
		if !bytes.Equal(b, b2) || d.PeerID != peer || !d.Issued.Equal(a.Issued) || (d.PrevSig == nil) != (i == 0) {
			t.Errorf("announcement %d: round trip differs", i+1)
		}
		if err := d.Verify(d.Key.NotBefore, nil); err != nil {
			t.Errorf("decoded announcement %d: %v", i+1, err)
		}
	}

	for _, tc := range []struct {
		name string
		a    agencykey.Announcement
		now  time.Time
		prev *agencykey.Public
		want []error
	}{
		{"v1 expired", a1, now, nil, []error{agencykey.ErrNotValid}},
		{"v2 not yet valid", a2, t0, nil, []error{agencykey.ErrNotValid}},
		{"v3 skipping v2", a3, now, &p1, []error{agencykey.ErrRotation, agencykey.ErrWrongKey}},
		{"v1 has no previous signature", a1, t0, &p1, []error{agencykey.ErrRotation}},
		{"downgrade", a1, t0, &p2, []error{agencykey.ErrRotation}},
		{"other agency", a2, now, ptr(other.Public()), []error{agencykey.ErrRotation}},
		{"tampered peer id", with(a2, func(a *agencykey.Announcement) { a.PeerID += "x" }), now, nil, []error{agencykey.ErrBadEd25519, agencykey.ErrBadMLDSA}},
		{"tampered issue time", with(a2, func(a *agencykey.Announcement) { a.Issued = a.Issued.Add(1) }), now, nil, []error{agencykey.ErrBadEd25519, agencykey.ErrBadMLDSA}},
		{"tampered previous signature", with(a2, func(a *agencykey.Announcement) {
			s := clone(*a.PrevSig)
			s.MLDSA65[0] ^= 1
			a.PrevSig = &s
		}), now, &p1, []error{agencykey.ErrRotation, agencykey.ErrBadMLDSA}},
		{"key swapped for another agency's", with(a1, func(a *agencykey.Announcement) { a.Key = other.Public() }), t0, nil, []error{agencykey.ErrWrongKey}},
		{"self-signature by previous key", with(a2, func(a *agencykey.Announcement) { a.Sig = *a.PrevSig }), now, nil, []error{agencykey.ErrWrongKey}},
		{"bad peer id", with(a1, func(a *agencykey.Announcement) { a.PeerID = "a b" }), t0, nil, []error{agencykey.ErrMalformed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.a.Verify(tc.now, tc.prev)
			if err == nil {
				t.Fatal("got nil error")
			}
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("got %v, want %v", err, w)
				}
			}
		})
	}

	if _, err := agencykey.Announce(v1, peer, t0, v2); !errors.Is(err, agencykey.ErrRotation) {
		t.Errorf("announce v1 after v2: got %v, want ErrRotation", err)
	}
	if _, err := agencykey.Announce(v2, peer, t0, other); !errors.Is(err, agencykey.ErrRotation) {
		t.Errorf("announce after another agency's key: got %v, want ErrRotation", err)
	}
	if _, err := agencykey.Announce(v1, "", t0, nil); !errors.Is(err, agencykey.ErrMalformed) {
		t.Errorf("empty peer id: got %v, want ErrMalformed", err)
	}
}

func ptr[T any](v T) *T { return &v }

func with(a agencykey.Announcement, f func(*agencykey.Announcement)) agencykey.Announcement {
	a.Sig = clone(a.Sig)
	f(&a)
	return a
}

func BenchmarkSign(b *testing.B) {
	p := mustGenerate(b, "agency-a", 1, t0, t1, "x")
	msg := make([]byte, 4096)
	for b.Loop() {
		if _, err := p.Sign(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	p := mustGenerate(b, "agency-a", 1, t0, t1, "x")
	msg := make([]byte, 4096)
	sig, _ := p.Sign(msg)
	pub := p.Public()
	for b.Loop() {
		if err := pub.Verify(msg, sig); err != nil {
			b.Fatal(err)
		}
	}
}
