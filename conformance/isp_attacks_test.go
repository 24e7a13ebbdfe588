package conformance_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/cpx-node/cpx/crypto/agencykey"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

// TestISPSignedByNonParty: an ISP between the node (agency-b) and
// agency-a is not applied when the signature beside the node's is by an
// agency that is not a party, or by a key agency-a never announced: the
// apply is refused and audited, and no such ISP is in force.
func TestISPSignedByNonParty(t *testing.T) {
	ctx := context.Background()
	n := start(t, initNode(t, "agency-b"))
	fed, auditc, target := adminClients(t, n)
	a := newFakePeer(t, "agency-a")
	a.partner(t, fed, target)
	now := time.Now()
	nonParty, err := agencykey.Generate("agency-c", 1, now.Add(-time.Hour), now.Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	unannounced, err := agencykey.Generate("agency-a", 1, now.Add(-time.Hour), now.Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		signer *agencykey.Private
	}{
		{"signed by a non-party", nonParty},
		{"signed by a key the party never announced", unannounced},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("forged-%s", tc.signer.Agency())
			doc := fmt.Sprintf(attackISP, id, 1, a.key.Fingerprint(), target.KeyFingerprint)
			err := applyISP(t, fed, []byte(doc), tc.signer)
			if connect.CodeOf(err) != connect.CodeFailedPrecondition {
				t.Fatalf("applying it: %v, want it refused (failed precondition)", err)
			}
			tail, err := auditc.TailAudit(ctx, connect.NewRequest(&localv1.TailAuditRequest{N: 20}))
			if err != nil {
				t.Fatal(err)
			}
			refused := false
			for _, e := range tail.Msg.Entries {
				refused = refused || e.Action == "isp.apply" && e.Outcome != "ok"
			}
			if !refused {
				t.Error("no refused isp.apply entry in the audit log")
			}
			list, err := fed.ListPolicies(ctx, connect.NewRequest(&localv1.ListPoliciesRequest{}))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range list.Msg.Policies {
				if p.Id == id && p.InForce {
					t.Errorf("%s is in force", id)
				}
			}
		})
	}
}
