package exchange

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/cpx-node/cpx/crypto/agencykey"
)

// FuzzReceipt feeds the receipt decoder what a peer might answer: it
// must never panic, and whatever it accepts is signed by the peer, from
// the peer to this node, and no later than now.
func FuzzReceipt(f *testing.F) {
	now := time.Now().UTC()
	k, err := agencykey.Generate("agency-b", 1, now.Add(-time.Hour), now.Add(time.Hour), nil)
	if err != nil {
		f.Fatal(err)
	}
	ann := announce(f, k, "peer-b", now, nil)
	p := Peer{Agency: "agency-b", PeerID: "peer-b", Announcements: [][]byte{ann}}
	sign := func(r Receipt) []byte {
		body, err := json.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		sig, err := k.Sign(append([]byte("cpx-receipt-v1\n"), body...))
		if err != nil {
			f.Fatal(err)
		}
		sb, err := sig.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		b, err := json.Marshal(signedReceipt{Body: body, Sig: sb})
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	f.Add(sign(Receipt{EnvelopeID: "e1", From: "agency-b", To: "agency-a", ReceivedAt: now}))
	f.Add(sign(Receipt{EnvelopeIDs: []string{"e1", "e2"}, From: "agency-b", To: "agency-a", ReceivedAt: now}))
	f.Add(sign(Receipt{EnvelopeID: "e1", From: "agency-b", To: "agency-c", ReceivedAt: now}))
	f.Add([]byte(`{"body":"e30=","sig":""}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := verifySignedReceipt(p, "agency-a", b, now)
		if err != nil {
			return
		}
		if r.From != "agency-b" || r.To != "agency-a" || r.ReceivedAt.After(now.Add(time.Minute*5)) {
			t.Fatalf("accepted %+v", r)
		}
		if r.names("") {
			t.Fatalf("receipt %+v names the empty id", r)
		}
	})
}
