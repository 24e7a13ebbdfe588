package conformance_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	"github.com/cpx-node/cpx/crypto/envelope"
	"github.com/cpx-node/cpx/policy"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
	peerv1 "github.com/cpx-node/cpx/protocol/gen/cpx/peer/v1"
)

const aggregateAttackISP = `format = "cpx-isp/1"
id = "agg-attack-isp"
version = 1
title = "Monthly figures from a fake agency"
valid_from = 2026-01-01T00:00:00Z
valid_until = 2035-01-01T00:00:00Z

[[party]]
agency = "agency-a"
name = "Fake peer A"
signing_key = "%s"

[[party]]
agency = "coord"
name = "Coordination node under test"
signing_key = "%s"

[[purpose]]
name = "aggregate"
from = ["agency-a"]
to = ["coord"]
reports = ["case_characteristics"]
threshold = 5
frequency = "monthly"
`

// aggregateTable is case_characteristics for one page (risk level high),
// sex × age group, as an agency's node sends it; counts is row-major
// female 6-11, female 12-17, male 6-11, male 12-17, -1 for suppressed.
func aggregateTable(period string, counts [4]int) map[string]any {
	sum := func(xs ...int) int {
		s := 0
		for _, x := range xs {
			if x < 0 {
				return -1
			}
			s += x
		}
		return s
	}
	c := counts
	return map[string]any{
		"report": "case_characteristics", "title": "Case characteristics", "record": "cases", "period": period,
		"row_field": "sex", "col_field": "age", "page_field": "risk_level", "k": 5, "protection": 5,
		"tables": []map[string]any{{
			"page":       map[string]string{"key": "high", "label": "High"},
			"rows":       []map[string]string{{"key": "female", "label": "Female"}, {"key": "male", "label": "Male"}},
			"cols":       []map[string]string{{"key": "6-11", "label": "6-11"}, {"key": "12-17", "label": "12-17"}},
			"cells":      [][]int{{c[0], c[1]}, {c[2], c[3]}},
			"row_totals": []int{sum(c[0], c[1]), sum(c[2], c[3])},
			"col_totals": []int{sum(c[0], c[2]), sum(c[1], c[3])},
			"total":      sum(c[0], c[1], c[2], c[3]),
		}},
	}
}

// TestAggregateAttacks has a fake agency node (a real libp2p host with
// its own keys, party to an aggregate ISP) deliver forged aggregates to a
// coordination node run by the binary: a valid table is taken once; a
// table altered in transit, one publishing a count below k, counting by an
// identifying field, for a period that does not parse or lies outside the
// ISP, of a report the ISP does not list, or carrying case fields, is
// refused (TestCoordination has an honest node's table refused under a
// renewed ISP), the sender told why, the refusal audited, and nothing stored.
func TestAggregateAttacks(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "coord")
	must(t, "init", "--coordination", "--dir", dir, "--agency", "coord", "--listen", "127.0.0.1:0", "--p2p-listen", "/ip4/127.0.0.1/tcp/0")
	n := start(t, dir)
	fed, auditc, target := adminClients(t, n)

	a := newFakePeer(t, "agency-a")
	nodeKey := a.partner(t, fed, target)
	doc := []byte(fmt.Sprintf(aggregateAttackISP, a.key.Fingerprint(), target.KeyFingerprint))
	signed, err := fed.SignPolicy(ctx, connect.NewRequest(&localv1.SignPolicyRequest{Document: doc}))
	if err != nil {
		t.Fatal(err)
	}
	isp, err := policy.ParseISP(signed.Msg.Document)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := a.key.Sign(isp.SigningBytes())
	if err != nil {
		t.Fatal(err)
	}
	isp.AddSignature(policy.ISPSignature{Agency: "agency-a", Key: sig.Key, Ed25519: sig.Ed25519, MLDSA65: sig.MLDSA65})
	if doc, err = isp.Marshal(); err != nil {
		t.Fatal(err)
	}
	if _, err := fed.ApplyPolicy(ctx, connect.NewRequest(&localv1.ApplyPolicyRequest{Document: doc})); err != nil {
		t.Fatal(err)
	}

	period := time.Now().UTC().Format("2006-01")
	seal := func(msg map[string]any) []byte {
		t.Helper()
		plain, err := json.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		h := envelope.Header{Sender: "agency-a", Recipient: "coord", Purpose: "aggregate", ISP: "agg-attack-isp", ISPVersion: 1, Created: now, Expires: now.Add(time.Hour)}
		return sealEnvelope(t, h, plain, a.key, nodeKey)
	}
	message := func(table map[string]any) map[string]any {
		return map[string]any{"kind": "aggregate", "exchange": uuid.NewString(), "actor": "imo@agency-a", "aggregate": table}
	}
	submissions := func() int {
		t.Helper()
		var got struct{ Submissions []struct{ Agency string } }
		mustJSON(t, &got, "report", "submissions", "--period", period, "--dir", dir)
		return len(got.Submissions)
	}
	refusals := func() int {
		t.Helper()
		return countAudit(t, auditc, func(e *localv1.AuditEntry) bool {
			return e.Outcome == "denied" && (e.Action == "aggregate.refused" || e.Action == "envelope.refused")
		})
	}
	deliver := func(env []byte) error {
		_, err := a.client(t, target).Deliver(ctx, connect.NewRequest(&peerv1.DeliverRequest{Envelope: env}))
		return err
	}

	// A valid table is taken, once: a retry gets the receipt again.
	valid := seal(message(aggregateTable(period, [4]int{6, 5, 7, 0})))
	if err := deliver(valid); err != nil {
		t.Fatalf("a valid aggregate: %v", err)
	}
	if err := deliver(valid); err != nil {
		t.Fatalf("the same aggregate again: %v, want its receipt", err)
	}
	if got := submissions(); got != 1 {
		t.Fatalf("submissions after a valid aggregate and its retry: got %d, want 1", got)
	}

	withTable := func(f func(map[string]any)) []byte {
		tab := aggregateTable(period, [4]int{6, 5, 7, 0})
		f(tab)
		return seal(message(tab))
	}
	for _, tc := range []struct {
		name   string
		env    func() []byte
		code   connect.Code
		reason string
	}{
		{"altered in transit", func() []byte {
			e, err := envelope.Unmarshal(seal(message(aggregateTable(period, [4]int{6, 5, 7, 0}))))
			if err != nil {
				t.Fatal(err)
			}
			e.Ciphertext[len(e.Ciphertext)/2] ^= 1
			b, err := e.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			return b
		}, connect.CodePermissionDenied, "bad signature"},
		{"a count below k", func() []byte {
			return seal(message(aggregateTable(period, [4]int{6, 5, 7, 2})))
		}, connect.CodePermissionDenied, "below the threshold 5"},
		{"a single suppressed cell in a line", func() []byte {
			tab := aggregateTable(period, [4]int{6, 5, 7, -1})
			tab["tables"].([]map[string]any)[0]["row_totals"] = []int{11, 9}
			tab["tables"].([]map[string]any)[0]["col_totals"] = []int{13, 7}
			tab["tables"].([]map[string]any)[0]["total"] = 20
			return seal(message(tab))
		}, connect.CodePermissionDenied, "single suppressed cell"},
		{"an identifying field", func() []byte {
			return withTable(func(m map[string]any) { m["row_field"] = "name_first" })
		}, connect.CodePermissionDenied, "not name_first"},
		{"a period that does not parse", func() []byte {
			return withTable(func(m map[string]any) { m["period"] = "2026-13" })
		}, connect.CodePermissionDenied, "2026-13"},
		{"a period outside the ISP", func() []byte {
			return withTable(func(m map[string]any) { m["period"] = "2025-06" })
		}, connect.CodePermissionDenied, "2025-06"},
		{"a report the ISP does not list", func() []byte {
			return withTable(func(m map[string]any) { m["report"] = "protection_concerns" })
		}, connect.CodePermissionDenied, "protection_concerns"},
		{"case fields beside the table", func() []byte {
			msg := message(aggregateTable(period, [4]int{6, 5, 7, 0}))
			msg["fields"] = map[string]any{"name_first": "Faduma"}
			return seal(msg)
		}, connect.CodePermissionDenied, "no case data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := refusals()
			err := deliver(tc.env())
			if connect.CodeOf(err) != tc.code || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("got %v (code %s), want code %s naming %q", err, connect.CodeOf(err), tc.code, tc.reason)
			}
			if got := refusals(); got != before+1 {
				t.Errorf("audited refusals: got %d new, want 1", got-before)
			}
			if got := submissions(); got != 1 {
				t.Errorf("submissions: got %d, want still 1", got)
			}
		})
	}
}
