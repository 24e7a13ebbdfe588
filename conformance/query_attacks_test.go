package conformance_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/cpx-node/cpx/crypto/envelope"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
	peerv1 "github.com/cpx-node/cpx/protocol/gen/cpx/peer/v1"
)

// queryPurpose makes attackISP a tracing ISP as well.
const queryPurpose = `
[[purpose]]
name = "tracing"
from = ["*"]
to = ["*"]
required_consent = ["consent_for_tracing"]
fields = ["sex", "age"]
`

// TestQueryAttacks has a rogue partner send the node tracing queries it
// must refuse, each audited: one under another purpose, one naming an ISP
// version the node no longer has in force (a downgrade), one valid for
// longer than a query may be, and one sent again (its envelope id is a
// nonce, answered once).
func TestQueryAttacks(t *testing.T) {
	ctx := context.Background()
	n := start(t, initNode(t, "agency-b"))
	fed, auditc, target := adminClients(t, n)
	a := newFakePeer(t, "agency-a")
	nodeKey := a.partner(t, fed, target)
	for version := 1; version <= 2; version++ {
		doc := fmt.Sprintf(attackISP, "trace-isp", version, a.key.Fingerprint(), target.KeyFingerprint) + queryPurpose
		if err := applyISP(t, fed, []byte(doc), a.key); err != nil {
			t.Fatal(err)
		}
	}
	refusals := func() int {
		t.Helper()
		return countAudit(t, auditc, func(e *localv1.AuditEntry) bool {
			return strings.HasPrefix(e.Action, "tracing.query.") && e.Outcome == "denied"
		})
	}
	query := func(h envelope.Header) []byte {
		t.Helper()
		h.Sender, h.Recipient, h.ISP = "agency-a", "agency-b", "trace-isp"
		if h.Purpose == "" {
			h.Purpose = "tracing"
		}
		if h.ISPVersion == 0 {
			h.ISPVersion = 2
		}
		return sealEnvelope(t, h, []byte(`{"children":[]}`), a.key, nodeKey)
	}
	now := time.Now().UTC()
	replayed := query(envelope.Header{Created: now, Expires: now.Add(5 * time.Minute)})
	for _, tc := range []struct {
		name  string
		query []byte
		code  connect.Code
		error string
	}{
		{"under another purpose", query(envelope.Header{Purpose: "referral", Created: now, Expires: now.Add(5 * time.Minute)}), connect.CodeInvalidArgument, `purpose "referral"`},
		{"an older ISP version", query(envelope.Header{ISPVersion: 1, Created: now, Expires: now.Add(5 * time.Minute)}), connect.CodePermissionDenied, "version 1"},
		{"valid for too long", query(envelope.Header{Created: now.Add(-9 * time.Minute), Expires: now.Add(5 * time.Minute)}), connect.CodeInvalidArgument, "valid for at most"},
		{"sent again", replayed, connect.CodePermissionDenied, "answered already"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "sent again" {
				// The first time it passes every check of the query itself.
				if _, err := a.client(t, target).Query(ctx, connect.NewRequest(&peerv1.QueryRequest{Envelope: tc.query})); err != nil && strings.Contains(err.Error(), "answered already") {
					t.Fatalf("a first query refused as a replay: %v", err)
				}
			}
			before := refusals()
			_, err := a.client(t, target).Query(ctx, connect.NewRequest(&peerv1.QueryRequest{Envelope: tc.query}))
			if connect.CodeOf(err) != tc.code || err == nil || !strings.Contains(err.Error(), tc.error) {
				t.Fatalf("got %v (code %s), want code %s with %q", err, connect.CodeOf(err), tc.code, tc.error)
			}
			if after := refusals(); after <= before {
				t.Error("the refused query left no audit entry")
			}
		})
	}
}
