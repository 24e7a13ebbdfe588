package policy_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/cpx-node/cpx/policy"
)

// The fake signature scheme: the secret of a key fingerprint is derived
// from the fingerprint, and each "signature" is an HMAC over the message.
// It stands in for crypto/agencykey, which does the real checking.
func fakeMAC(fingerprint, alg string, msg []byte) []byte {
	m := hmac.New(sha256.New, []byte("fake-secret:"+fingerprint))
	m.Write([]byte(alg))
	m.Write(msg)
	return m.Sum(nil)
}

func fakeSign(p *policy.ISP, agency, key string) policy.ISPSignature {
	msg := p.SigningBytes()
	return policy.ISPSignature{
		Agency:  agency,
		Key:     key,
		Ed25519: fakeMAC(key, "ed25519", msg),
		MLDSA65: fakeMAC(key, "mldsa65", msg),
	}
}

func fakeVerify(agency, key string, msg, ed, ml []byte) error {
	if !hmac.Equal(ed, fakeMAC(key, "ed25519", msg)) {
		return errors.New("ed25519 signature invalid")
	}
	if !hmac.Equal(ml, fakeMAC(key, "mldsa65", msg)) {
		return errors.New("ml-dsa-65 signature invalid")
	}
	return nil
}

func TestFullySigned(t *testing.T) {
	tests := []struct {
		name     string
		modify   func(p *policy.ISP)
		unsigned bool     // want ErrUnsigned
		want     []string // substrings of the error; none means success
	}{
		{"all signed", func(p *policy.ISP) { signAll(p) }, false, nil},
		{"none signed", func(p *policy.ISP) {}, true,
			[]string{"missing signatures of save-the-children-so, unicef-so, irc-so, moswa-so"}},
		{"one missing", func(p *policy.ISP) {
			signAll(p)
			p.Signatures = p.Signatures[1:]
		}, true, []string{"ISP so-cp-isp v3: ISP not signed by every party: missing signatures of save-the-children-so"}},
		{"extra signer", func(p *policy.ISP) {
			signAll(p)
			p.AddSignature(fakeSign(p, "wfp-so", "key-wfp"))
		}, false, []string{`signature by "wfp-so", which is not a party`}},
		{"duplicate signer", func(p *policy.ISP) {
			signAll(p)
			p.Signatures = append(p.Signatures, p.Signatures[2])
		}, false, []string{`party "irc-so" signed more than once`}},
		{"wrong key", func(p *policy.ISP) {
			signAll(p)
			p.AddSignature(fakeSign(p, "unicef-so", "cpxak1-unicef-so-old-key"))
		}, false, []string{`party "unicef-so" signed with key "cpxak1-unicef-so-old-key", but the ISP lists key "r2sqk3h-tqlzt2x-ywyjxwc-vystg32-dxoxjld-ye2qtex-xmel57x-lpr37az"`}},
		{"another party's key", func(p *policy.ISP) {
			signAll(p)
			p.AddSignature(fakeSign(p, "unicef-so", p.Parties[0].SigningKey))
		}, false, []string{`party "unicef-so" signed with key "wv2avix-j42hjsp-7smhh4o-yiq4fgi-3ahslws-lncjnl4-eksou22-gjg24au"`}},
		{"tampered document", func(p *policy.ISP) {
			signAll(p)
			p.Purposes[0].Withheld = nil
		}, false, []string{
			`signature of party "save-the-children-so" does not verify`,
			`signature of party "moswa-so" does not verify (was the document changed after signing?): ed25519 signature invalid`,
		}},
		{"tampered ML-DSA signature", func(p *policy.ISP) {
			signAll(p)
			p.Signatures[3].MLDSA65[0] ^= 1
		}, false, []string{`signature of party "moswa-so" does not verify (was the document changed after signing?): ml-dsa-65 signature invalid`}},
		{"signed an earlier version", func(p *policy.ISP) {
			p.Version = 2
			signAll(p)
			p.Version = 3
		}, false, []string{`signature of party "irc-so" does not verify`}},
		{"missing and bad together", func(p *policy.ISP) {
			signAll(p)
			p.Signatures = p.Signatures[:2]
			p.Signatures[0].Ed25519 = []byte("x")
		}, true, []string{`party "save-the-children-so" does not verify`, "missing signatures of irc-so, moswa-so"}},
		{"re-signed after a bad signature", func(p *policy.ISP) {
			signAll(p)
			p.AddSignature(fakeSign(p, "unicef-so", "wrong"))
			p.AddSignature(fakeSign(p, "unicef-so", p.Parties[1].SigningKey))
		}, false, nil},
		{"list order changed after signing", func(p *policy.ISP) {
			signAll(p)
			p.Parties[0], p.Parties[3] = p.Parties[3], p.Parties[0]
			p.Purposes[0].Withheld[0], p.Purposes[0].Withheld[1] = p.Purposes[0].Withheld[1], p.Purposes[0].Withheld[0]
		}, false, nil},
		{"invalid ISP", func(p *policy.ISP) {
			signAll(p)
			p.ValidUntil = p.ValidFrom
		}, false, []string{"valid_until", "invalid ISP"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := parseExample(t)
			tt.modify(p)
			err := p.FullySigned(fakeVerify)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("FullySigned = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("FullySigned = nil, want error containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("FullySigned = %q\nwant it to contain %q", err, w)
				}
			}
			if got := errors.Is(err, policy.ErrUnsigned); got != tt.unsigned {
				t.Errorf("errors.Is(err, ErrUnsigned) = %v, want %v (err %v)", got, tt.unsigned, err)
			}
		})
	}
}

func TestFullySignedSurvivesMarshal(t *testing.T) {
	p := parseExample(t)
	signAll(p)
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	q, err := policy.ParseISP(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.FullySigned(fakeVerify); err != nil {
		t.Errorf("FullySigned after Marshal/ParseISP = %v, want nil", err)
	}
	if err := q.FullySigned(nil); err == nil {
		t.Error("FullySigned(nil) = nil, want an error")
	}
}

func TestAddSignature(t *testing.T) {
	p := parseExample(t)
	a1 := policy.ISPSignature{Agency: "irc-so", Key: "k", Ed25519: []byte{1}, MLDSA65: []byte{1}}
	b1 := policy.ISPSignature{Agency: "unicef-so", Key: "k", Ed25519: []byte{2}, MLDSA65: []byte{2}}
	a2 := policy.ISPSignature{Agency: "irc-so", Key: "k", Ed25519: []byte{3}, MLDSA65: []byte{3}}
	p.AddSignature(a1)
	p.AddSignature(b1)
	shared := p.Signatures
	p.AddSignature(a2)
	if got, want := len(p.Signatures), 2; got != want {
		t.Fatalf("%d signatures, want %d", got, want)
	}
	if got := p.Signatures[0].Ed25519[0]; got != 3 {
		t.Errorf("irc-so signature = %v, want the replacement", p.Signatures[0])
	}
	if got := shared[0].Ed25519[0]; got != 1 {
		t.Error("AddSignature modified the previous Signatures slice in place")
	}
	// Duplicates left by hand collapse into the one replacement.
	p.Signatures = append(p.Signatures, a1, a1)
	p.AddSignature(a2)
	if got, want := len(p.Signatures), 2; got != want {
		t.Errorf("%d signatures after replacing duplicates, want %d", got, want)
	}
}
