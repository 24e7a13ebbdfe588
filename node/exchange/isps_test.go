package exchange

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/cpx-node/cpx/crypto/agencykey"
	"github.com/cpx-node/cpx/crypto/keyring"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/memstore"
	"github.com/cpx-node/cpx/policy"
)

const testISP = `format = "cpx-isp/1"
id = "test-isp"
version = 1
title = "Test ISP"
valid_from = 2026-01-01T00:00:00Z
valid_until = 2099-01-01T00:00:00Z

[[party]]
agency = "agency-a"
name = "A"
signing_key = "%s"

[[party]]
agency = "agency-b"
name = "B"
signing_key = "%s"

[[purpose]]
name = "referral"
from = ["agency-a"]
to = ["agency-b"]
required_consent = []
forms = ["registration"]
retention_days = 90
`

// TestCheckedISPFollowsPartyKeys: an ISP checked once is taken from the
// cache while its parties' keys stay the same, even when the rest of a
// peer's record changes; it is checked again when a party's announced
// keys change (refused under an unrelated key, in force again under the
// right one); and a tampered document is refused.
func TestCheckedISPFollowsPartyKeys(t *testing.T) {
	ctx := context.Background()
	kr, err := keyring.CreateFileWithParams(filepath.Join(t.TempDir(), "keyring.json"), []byte("passphrase"), keyring.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	st := memstore.New()
	s, err := Open(ctx, Options{Store: st, Keyring: kr, Agency: "agency-a", PeerID: "peer-a", Transport: &hangingTransport{calls: map[string]int{}}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	kb, err := agencykey.Generate("agency-b", 1, now.Add(-time.Hour), now.Add(24*time.Hour), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := agencykey.Generate("agency-b", 1, now.Add(-time.Hour), now.Add(24*time.Hour), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	doc := signedISP(t, s.currentKey(), kb)
	setPeer := func(k *agencykey.Private, seen time.Time) {
		t.Helper()
		b := announce(t, k, "peer-b", now, nil)
		if err := st.Update(ctx, func(w store.Writer) error {
			return putJSON(w, key(prefixPeer, "agency-b"), Peer{Agency: "agency-b", PeerID: "peer-b", Announcements: [][]byte{b}, LastSeen: seen})
		}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(doc []byte) (*checkedISP, ISPInfo) {
		t.Helper()
		var c *checkedISP
		var in ISPInfo
		if err := st.View(ctx, func(r store.Reader) error {
			var err error
			if c, err = s.checkedISP(r, doc); err != nil {
				return err
			}
			in, err = s.info(r, storedISP{Doc: doc}, now)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return c, in
	}

	setPeer(kb, now)
	first, in := check(doc)
	if !in.InForce {
		t.Fatalf("signed by both parties: in force %v (%s), want true", in.InForce, in.Problem)
	}
	setPeer(kb, now.Add(time.Minute)) // another contact: same keys
	if again, _ := check(doc); again != first {
		t.Errorf("after a contact that changed no key: checked again, want the cached check")
	}
	setPeer(other, now)
	if c, in := check(doc); c == first || in.InForce {
		t.Errorf("agency-b's key replaced: cached %v, in force %v; want checked again and not in force", c == first, in.InForce)
	}
	setPeer(kb, now)
	if _, in := check(doc); !in.InForce {
		t.Errorf("agency-b's key back: in force %v (%s), want true", in.InForce, in.Problem)
	}
	tampered := bytes.Replace(doc, []byte("retention_days = 90"), []byte("retention_days = 99"), 1)
	if bytes.Equal(tampered, doc) {
		t.Fatal("the document has no retention_days = 90 to tamper with")
	}
	if _, in := check(tampered); in.InForce {
		t.Errorf("tampered document: in force %v, want false", in.InForce)
	}
}

// signedISP returns testISP between agency-a (ka) and agency-b (kb),
// signed by both.
func signedISP(t *testing.T, ka, kb *agencykey.Private) []byte {
	t.Helper()
	p, err := policy.ParseISP(fmt.Appendf(nil, testISP, ka.Fingerprint(), kb.Fingerprint()))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []*agencykey.Private{ka, kb} {
		sig, err := k.Sign(p.SigningBytes())
		if err != nil {
			t.Fatal(err)
		}
		p.AddSignature(policy.ISPSignature{Agency: k.Agency(), Key: sig.Key, Ed25519: sig.Ed25519, MLDSA65: sig.MLDSA65})
	}
	doc, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return doc
}
