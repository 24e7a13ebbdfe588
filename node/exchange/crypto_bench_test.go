package exchange

import (
	"crypto/rand"
	"encoding/json"
	"testing"
	"time"

	"github.com/cpx-node/cpx/crypto/agencykey"
	"github.com/cpx-node/cpx/crypto/envelope"
)

// BenchmarkReferralCrypto measures the public-key work one referral costs
// the two nodes together, with nothing else: the sender seals and signs
// the envelope, the receiver verifies both signatures and opens it, the
// receiver signs the receipt and the sender verifies it. The ns/op of all
// bounds the referrals per second that the two nodes' CPUs allow: on a
// machine with n cores shared by both nodes, n·1e9/(ns/op) is that bound.
//
//	go test -run '^$' -bench BenchmarkReferralCrypto -cpu 1 ./node/exchange/
func BenchmarkReferralCrypto(b *testing.B) {
	now := time.Now().UTC()
	ka, err := agencykey.Generate("agency-a", 1, now.Add(-time.Hour), now.Add(time.Hour), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	kb, err := agencykey.Generate("agency-b", 1, now.Add(-time.Hour), now.Add(time.Hour), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	// A referral's message as the benchmark's cases make it: about 4 KiB.
	fields := map[string]any{}
	for i := range 40 {
		fields[string(rune('a'+i%26))+string(rune('a'+i/26))] = "a field value of some hundred bytes ................................................................"
	}
	plain, err := json.Marshal(Message{Kind: KindReferral, Exchange: "x", CaseNumber: "CP-1", Service: "psychosocial", Fields: fields})
	if err != nil {
		b.Fatal(err)
	}
	h := envelope.Header{Purpose: "referral", ISP: "bench-isp", ISPVersion: 1, Created: now, Expires: now.Add(time.Hour), ContentType: "application/vnd.cpx.message+json"}
	step := func(name string, f func(b *testing.B)) { b.Run(name, f) }
	env, err := envelope.Seal(rand.Reader, h, plain, ka, kb.Public())
	if err != nil {
		b.Fatal(err)
	}
	receipt, err := json.Marshal(Receipt{EnvelopeID: env.Header.ID, From: "agency-b", To: "agency-a", ReceivedAt: now})
	if err != nil {
		b.Fatal(err)
	}
	rsig, err := kb.Sign(receipt)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("plaintext %d bytes", len(plain))
	step("seal+sign", func(b *testing.B) {
		for b.Loop() {
			if _, err := envelope.Seal(rand.Reader, h, plain, ka, kb.Public()); err != nil {
				b.Fatal(err)
			}
		}
	})
	step("verify+open", func(b *testing.B) {
		for b.Loop() {
			v, err := envelope.Verify(env, ka.Public())
			if err != nil {
				b.Fatal(err)
			}
			if _, err := v.Open(kb, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	step("open", func(b *testing.B) {
		for b.Loop() {
			if _, err := envelope.Open(env, kb, ka.Public(), now); err != nil {
				b.Fatal(err)
			}
		}
	})
	step("receipt-sign", func(b *testing.B) {
		for b.Loop() {
			if _, err := kb.Sign(receipt); err != nil {
				b.Fatal(err)
			}
		}
	})
	step("receipt-verify", func(b *testing.B) {
		for b.Loop() {
			if err := kb.Public().Verify(receipt, rsig); err != nil {
				b.Fatal(err)
			}
		}
	})
	// all is what a referral costs the two nodes as Send, Receive and
	// attempt do it; Receive verifies the signatures before it looks the
	// envelope's id up, and opens what it verified.
	step("all", func(b *testing.B) {
		for b.Loop() {
			e, err := envelope.Seal(rand.Reader, h, plain, ka, kb.Public())
			if err != nil {
				b.Fatal(err)
			}
			v, err := envelope.Verify(e, ka.Public())
			if err != nil {
				b.Fatal(err)
			}
			if _, err := v.Open(kb, now); err != nil {
				b.Fatal(err)
			}
			sig, err := kb.Sign(receipt)
			if err != nil {
				b.Fatal(err)
			}
			if err := kb.Public().Verify(receipt, sig); err != nil {
				b.Fatal(err)
			}
		}
	})
}
