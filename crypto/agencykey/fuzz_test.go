package agencykey_test

import (
	"bytes"
	"testing"

	"github.com/cpx-node/cpx/crypto/agencykey"
)

// Each decoder must never panic, and whatever it accepts must re-encode to
// exactly the input (one encoding per value).

func fuzzSeeds(f *testing.F) (pub, priv, sig, ann, ann2 []byte) {
	f.Helper()
	v1 := mustGenerate(f, "agency-a", 1, t0, t1, "v1")
	v2 := mustGenerate(f, "unicef-so/hargeisa", 2, t0, t2, "v2")
	pub, _ = v1.Public().MarshalBinary()
	priv, _ = v2.MarshalBinary()
	s, _ := v1.Sign([]byte("m"))
	sig, _ = s.MarshalBinary()
	a, _ := agencykey.Announce(v1, "12D3KooWpeer", t0, nil)
	ann, _ = a.MarshalBinary()
	v2a := mustGenerate(f, "agency-a", 2, t0, t2, "v2")
	a2, _ := agencykey.Announce(v2a, "12D3KooWpeer", t0, v1)
	ann2, _ = a2.MarshalBinary()
	return
}

func FuzzUnmarshalPublic(f *testing.F) {
	pub, priv, _, _, _ := fuzzSeeds(f)
	f.Add(pub)
	f.Add(priv)
	f.Add([]byte("CPXP\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := agencykey.UnmarshalPublic(b)
		if err != nil {
			return
		}
		out, err := p.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded key does not encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatal("re-encoding differs")
		}
		if p.Fingerprint() == "" {
			t.Fatal("no fingerprint")
		}
	})
}

func FuzzUnmarshalPrivate(f *testing.F) {
	pub, priv, _, _, _ := fuzzSeeds(f)
	f.Add(priv)
	f.Add(pub)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := agencykey.UnmarshalPrivate(b)
		if err != nil {
			return
		}
		out, err := p.MarshalBinary()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("re-encoding differs (%v)", err)
		}
	})
}

func FuzzUnmarshalSignature(f *testing.F) {
	_, _, sig, _, _ := fuzzSeeds(f)
	f.Add(sig)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := agencykey.UnmarshalSignature(b)
		if err != nil {
			return
		}
		out, err := s.MarshalBinary()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("re-encoding differs (%v)", err)
		}
	})
}

func FuzzUnmarshalAnnouncement(f *testing.F) {
	_, _, _, ann, ann2 := fuzzSeeds(f)
	f.Add(ann)
	f.Add(ann2)
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := agencykey.UnmarshalAnnouncement(b)
		if err != nil {
			return
		}
		out, err := a.MarshalBinary()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("re-encoding differs (%v)", err)
		}
		_ = a.Verify(a.Key.NotBefore, &a.Key) // must not panic
	})
}

func FuzzParseFingerprint(f *testing.F) {
	p := mustGenerate(f, "agency-a", 1, t0, t1, "x")
	f.Add(p.Fingerprint())
	f.Fuzz(func(t *testing.T, s string) {
		fp, err := agencykey.ParseFingerprint(s)
		if err != nil {
			return
		}
		again, err := agencykey.ParseFingerprint(fp)
		if err != nil || again != fp || len(fp) != agencykey.FingerprintLen {
			t.Fatalf("canonical form %q does not parse to itself (%v)", fp, err)
		}
	})
}
