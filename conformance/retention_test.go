package conformance_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// retentionISP lets agency-a refer to agency-b, the data kept one day
// after the referral ends; %[1]s and %[2]s are the parties' keys, %[3]s
// and %[4]s the validity period.
const retentionISP = `format = "cpx-isp/1"
id = "ret-isp"
version = 1
title = "Retention ISP"
valid_from = %[3]s
valid_until = %[4]s

[[party]]
agency = "agency-a"
name = "A"
signing_key = "%[1]s"

[[party]]
agency = "agency-b"
name = "B"
signing_key = "%[2]s"

[[purpose]]
name = "referral"
from = ["agency-a"]
to = ["agency-b"]
required_consent = ["consent_for_services"]
forms = ["registration"]
retention_days = 1
`

type retentionJSON struct {
	Exchange string `json:"exchange"`
	State    string `json:"state"`
	Days     int    `json:"days"`
	Deadline string `json:"deadline"`
	Shredded string `json:"shredded"`
}

// TestRetentionEnforced: the case data a node received under an ISP is
// deleted, audited, once the ISP's retention_days have run after the
// exchange ended (or after the ISP expired), and cpx retention status
// says so; a revocation sent after the ISP expired is taken by the
// receiver, which keeps nothing of the revoked referral. The nodes'
// clocks are moved forward by restarting them with CPX_TEST_CLOCK_OFFSET.
func TestRetentionEnforced(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and restarts two nodes")
	}
	p := newOpsPair(t)
	now := time.Now().UTC().Truncate(time.Second)
	file := filepath.Join(p.work, "ret-isp.toml")
	doc := fmt.Sprintf(retentionISP, p.fpA, p.fpB, now.Add(-24*time.Hour).Format(time.RFC3339), now.Add(48*time.Hour).Format(time.RFC3339))
	if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{p.dirA, p.dirB} {
		must(t, "policy", "sign", file, "--dir", d)
	}
	for _, d := range []string{p.dirA, p.dirB} {
		must(t, "policy", "apply", file, "--dir", d)
	}
	a := user(p.dirA, addUser(t, p.dirA, "amina", "caseworker", "--group", "g1"))
	b := user(p.dirB, addUser(t, p.dirB, "farah", "caseworker", "--group", "intake"))
	refer := func(name string) string {
		t.Helper()
		var c struct{ Case struct{ ID string } }
		mustJSON(t, &c, a("case", "create", "--form", "registration", "--set", "name_first="+name, "--set", "sex=female", "--set", "age=7", "--set", "consent_for_services=true")...)
		var x struct{ Exchange exchangeJSON }
		mustJSON(t, &x, a("case", "refer", c.Case.ID, "--to", "agency-b", "--service", "health", "--note", "lives with "+name+"'s aunt")...)
		return x.Exchange.ID
	}
	ended, revoked, held := refer("Ended"), refer("Revoked"), refer("Held")
	waitFor(t, "referrals to arrive", func() bool {
		got := exchanges(t, b)
		return got[ended].Status == "delivered" && got[revoked].Status == "delivered" && got[held].Status == "delivered"
	})
	must(t, b("referral", "accept", ended)...)
	must(t, b("referral", "done", ended, "--reason", "service given")...)

	// data returns what B shows of a referral's received data.
	data := func(id string) (fields int, note string) {
		t.Helper()
		var v struct {
			Exchange struct {
				Note   string         `json:"note"`
				Fields map[string]any `json:"fields"`
			} `json:"exchange"`
		}
		mustJSON(t, &v, b("referral", "show", id)...)
		return len(v.Exchange.Fields), v.Exchange.Note
	}
	status := func() map[string]retentionJSON {
		t.Helper()
		var v struct{ Entries []retentionJSON }
		mustJSON(t, &v, "retention", "status", "--dir", p.dirB, "-o", "json")
		out := map[string]retentionJSON{}
		for _, e := range v.Entries {
			out[e.Exchange] = e
		}
		return out
	}
	for _, id := range []string{ended, revoked, held} {
		if n, note := data(id); n == 0 || note == "" {
			t.Fatalf("referral %s at B before any deadline: %d fields, note %q; want the data", id, n, note)
		}
	}
	st := status()
	if e := st[ended]; e.State != "until" || e.Days != 1 || e.Deadline == "" {
		t.Errorf("retention of the ended referral: %+v; want until a deadline, 1 day", e)
	}
	if e := st[held]; e.State != "until" {
		t.Errorf("retention of an open referral: %+v; want until the ISP's end plus a day", e)
	}

	restart := func(offset string) {
		t.Helper()
		p.a.stop(t)
		p.b.stop(t)
		env := []string{"CPX_TEST_CLOCK_OFFSET=" + offset}
		p.a = startEnv(t, p.dirA, env)
		p.b = startEnv(t, p.dirB, env)
	}

	// A day and an hour later the ended referral's data is gone at B; the
	// open ones are kept (the ISP is still in force).
	restart("25h")
	waitFor(t, "the ended referral's data to be deleted", func() bool { return status()[ended].State == "shredded" })
	if n, note := data(ended); n != 0 || note != "" {
		t.Errorf("ended referral after its retention: %d fields, note %q; want none", n, note)
	}
	if n, _ := data(held); n == 0 {
		t.Errorf("open referral under an ISP in force: its data was deleted")
	}
	shredded := false
	for _, e := range auditEntries(t, p.dirB) {
		if e["action"] == "exchange.retention.shred" && e["object"] == "exchange/"+ended {
			shredded = true
		}
	}
	if !shredded {
		t.Errorf("no exchange.retention.shred audit entry for %s", ended)
	}

	// After the ISP expired: A's revocation goes through and B keeps
	// nothing of the revoked referral.
	restart("49h")
	if r := cpx(t, nil, a("referral", "revoke", revoked, "--reason", "sent in error")...); r.code != 0 {
		t.Fatalf("revoke after the ISP expired: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	waitFor(t, "B to take the revocation", func() bool { return exchanges(t, b)[revoked].Status == "revoked" })
	if n, note := data(revoked); n != 0 || note != "" {
		t.Errorf("revoked referral at B: %d fields, note %q; want none", n, note)
	}
	if e := status()[held]; e.State != "until" {
		t.Errorf("open referral a day before its deadline: %+v; want still held", e)
	}
}
