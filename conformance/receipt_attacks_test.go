package conformance_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/cpx-node/cpx/crypto/agencykey"
	"github.com/cpx-node/cpx/crypto/envelope"
	"github.com/cpx-node/cpx/node/exchange"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
	peerv1 "github.com/cpx-node/cpx/protocol/gen/cpx/peer/v1"
)

// signReceipt encodes a receipt r signed by k, as a receiver would.
func signReceipt(t *testing.T, k *agencykey.Private, r exchange.Receipt) []byte {
	t.Helper()
	body, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := k.Sign(append([]byte("cpx-receipt-v1\n"), body...))
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sig.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(struct {
		Body []byte `json:"body"`
		Sig  []byte `json:"sig"`
	}{body, sb})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func envelopeID(t *testing.T, env []byte) string {
	t.Helper()
	e, err := envelope.Unmarshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return e.Header.ID
}

// TestReceiptForgery has the node under test refer cases to a rogue peer
// that answers with receipts proving nothing: signed by a key it never
// announced, by its real key but naming another envelope, or to another
// agency, in a batch and one envelope per call. Each is refused and
// audited (receipt.refused), and the referral stays queued, undelivered;
// a true receipt then delivers it.
func TestReceiptForgery(t *testing.T) {
	ctx := context.Background()
	dir := initNode(t, "agency-a")
	n := start(t, dir)
	fed, auditc, target := adminClients(t, n)

	b := newFakePeer(t, "agency-b")
	b.partner(t, fed, target)
	doc := []byte(fmt.Sprintf(attackISP, "receipt-isp", 1, target.KeyFingerprint, b.key.Fingerprint()))
	if err := applyISP(t, fed, doc, b.key); err != nil {
		t.Fatal(err)
	}
	stranger, err := agencykey.Generate("agency-b", 9, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	cases, fedW := fedClient(t, dir, addUser(t, dir, "amina", "caseworker"))
	refer := func() string {
		t.Helper()
		f, _ := structpb.NewStruct(map[string]any{"name_first": "Test", "sex": "female", "consent_for_services": true})
		c, err := cases.CreateCase(ctx, connect.NewRequest(&localv1.CreateCaseRequest{Form: "registration", Fields: f}))
		if err != nil {
			t.Fatal(err)
		}
		r, err := fedW.Send(ctx, connect.NewRequest(&localv1.SendRequest{Kind: "referral", CaseId: c.Msg.Case.Id, To: "agency-b", Service: "health"}))
		if err != nil {
			t.Fatal(err)
		}
		return r.Msg.Exchange.Id
	}
	// audited waits for the node's audit entry of action on the exchange.
	audited := func(exchangeID, action string) bool {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			tail, err := auditc.TailAudit(ctx, connect.NewRequest(&localv1.TailAuditRequest{N: 200}))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range tail.Msg.Entries {
				if e.Action == action && e.Object == "exchange/"+exchangeID {
					return true
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		return false
	}
	status := func(exchangeID string) string {
		t.Helper()
		r, err := fedW.GetExchange(ctx, connect.NewRequest(&localv1.GetExchangeRequest{Id: exchangeID}))
		if err != nil {
			t.Fatal(err)
		}
		return r.Msg.Exchange.Status
	}
	batchOf := func(receipt func(ids []string) []byte) func([][]byte) (*peerv1.DeliverBatchResponse, error) {
		return func(envs [][]byte) (*peerv1.DeliverBatchResponse, error) {
			resp := &peerv1.DeliverBatchResponse{}
			var ids []string
			for _, env := range envs {
				ids = append(ids, envelopeID(t, env))
				resp.Outcomes = append(resp.Outcomes, &peerv1.DeliverOutcome{})
			}
			resp.Receipt = receipt(ids)
			return resp, nil
		}
	}
	one := func(receipt func(id string) []byte) func([]byte) ([]byte, error) {
		return func(env []byte) ([]byte, error) { return receipt(envelopeID(t, env)), nil }
	}
	receipt := func(k *agencykey.Private, from, to string, ids ...string) []byte {
		r := exchange.Receipt{From: from, To: to, ReceivedAt: time.Now().UTC()}
		if len(ids) == 1 {
			r.EnvelopeID = ids[0]
		} else {
			r.EnvelopeIDs = ids
		}
		return signReceipt(t, k, r)
	}

	for _, tc := range []struct {
		name      string
		deliver   func([]byte) ([]byte, error)
		batch     func([][]byte) (*peerv1.DeliverBatchResponse, error)
		delivered bool
	}{
		{name: "batch receipt by a key never announced", batch: batchOf(func(ids []string) []byte {
			return receipt(stranger, "agency-b", "agency-a", append(ids, "x")...)
		})},
		{name: "batch receipt naming other envelopes", batch: batchOf(func([]string) []byte {
			return receipt(b.key, "agency-b", "agency-a", "other-1", "other-2")
		})},
		{name: "batch receipt to another agency", batch: batchOf(func(ids []string) []byte {
			return receipt(b.key, "agency-b", "agency-c", append(ids, "x")...)
		})},
		{name: "batch without a receipt", batch: batchOf(func([]string) []byte { return nil })},
		{name: "true batch receipt", batch: batchOf(func(ids []string) []byte {
			return receipt(b.key, "agency-b", "agency-a", append(ids, "x")...)
		}), delivered: true},
		// The peer stops serving batches: the node falls back to one
		// envelope per call.
		{name: "receipt by a key never announced", deliver: one(func(id string) []byte {
			return receipt(stranger, "agency-b", "agency-a", id)
		})},
		{name: "receipt for another envelope", deliver: one(func(string) []byte {
			return receipt(b.key, "agency-b", "agency-a", "other")
		})},
		{name: "receipt made in the future", deliver: one(func(id string) []byte {
			return signReceipt(t, b.key, exchange.Receipt{EnvelopeID: id, From: "agency-b", To: "agency-a", ReceivedAt: time.Now().Add(time.Hour)})
		})},
		{name: "true receipt", deliver: one(func(id string) []byte {
			return receipt(b.key, "agency-b", "agency-a", id)
		}), delivered: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.answer(tc.deliver, tc.batch)
			id := refer()
			if tc.delivered {
				if !audited(id, "envelope.delivered") || status(id) != "delivered" {
					t.Fatalf("a true receipt: exchange %s is %s, want delivered", id, status(id))
				}
				return
			}
			if !audited(id, "receipt.refused") {
				t.Fatal("no receipt.refused entry in the audit log")
			}
			if got := status(id); got != "pending" {
				t.Errorf("after a forged receipt the exchange is %s, want pending", got)
			}
			// Left queued: the next answer is a true receipt... from no
			// one; stop answering so that its retries do not disturb the
			// next case.
			b.answer(nil, nil)
		})
	}
}
