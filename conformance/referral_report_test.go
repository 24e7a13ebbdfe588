package conformance_test

import (
	"maps"
	"strconv"
	"testing"
	"time"
)

// TestReferralReportMatchesList drives referrals between two real nodes
// through their life (sent, received, accepted, rejected, revoked) and
// checks, on both nodes and for users of different scopes, that the
// referral report (counted from the exchanges' report rows) counts by
// status exactly the referrals the same user lists; then again after a
// restart.
func TestReferralReportMatchesList(t *testing.T) {
	dirA, dirB := initFedNode(t, "agency-a"), initFedNode(t, "agency-b")
	a, b := start(t, dirA), start(t, dirB)
	defer func() { a.stop(t); b.stop(t) }()
	federate(t, dirA, dirB)
	amina := addUser(t, dirA, "amina", "caseworker", "--group", "north")
	yusuf := addUser(t, dirA, "yusuf", "caseworker", "--group", "south")
	sahra := addUser(t, dirA, "sahra", "supervisor", "--group", "north")
	adminA := addUser(t, dirA, "ali", "agency_admin")
	farah := addUser(t, dirB, "farah", "caseworker", "--group", "intake")
	omar := addUser(t, dirB, "omar", "caseworker", "--group", "other")
	adminB := addUser(t, dirB, "bashir", "agency_admin")
	on := func(n *node, token string) []string { return []string{"--api", n.url, "--token", token} }

	type exchanges struct {
		Exchanges []struct{ ID, Status, Direction string }
	}
	var ids []string
	for i, who := range []string{amina, amina, amina, yusuf} {
		var c struct{ Case caseJSON }
		mustJSON(t, &c, append([]string{"case", "create", "--set", "name_first=Child" + strconv.Itoa(i), "--set", "sex=female", "--set", "age=7",
			"--set", "consent_for_services=yes"}, on(a, who)...)...)
		var sent struct {
			Exchange struct{ ID string } `json:"exchange"`
		}
		mustJSON(t, &sent, append([]string{"case", "refer", c.Case.ID, "--to", "agency-b", "--service", []string{"health", "education"}[i%2]}, on(a, who)...)...)
		ids = append(ids, sent.Exchange.ID)
	}
	waitUntil(t, 60*time.Second, "the referrals reaching B", func() bool {
		var l exchanges
		mustJSON(t, &l, append([]string{"referral", "list", "--incoming"}, on(b, farah)...)...)
		return len(l.Exchanges) == len(ids)
	})
	must(t, append([]string{"referral", "accept", ids[0]}, on(b, farah)...)...)
	must(t, append([]string{"referral", "reject", ids[1], "--reason", "not ours"}, on(b, farah)...)...)
	must(t, append([]string{"referral", "revoke", ids[2], "--reason", "the family moved"}, on(a, amina)...)...)
	statuses := func(n *node, token string) map[string]int {
		var l exchanges
		mustJSON(t, &l, append([]string{"referral", "list"}, on(n, token)...)...)
		out := map[string]int{}
		for _, x := range l.Exchanges {
			out[x.Direction+"/"+x.Status]++
		}
		return out
	}
	waitUntil(t, 60*time.Second, "the answers reaching A and the withdrawal reaching B", func() bool {
		sa, sb := statuses(a, adminA), statuses(b, adminB)
		return sa["outgoing/accepted"] == 1 && sa["outgoing/rejected"] == 1 && sb["incoming/revoked"] == 1
	})

	// The report by direction and status, unsuppressed, as the user runs it.
	report := func(n *node, token string) map[string]int {
		var r struct {
			Result struct {
				Tables []struct {
					Rows  []struct{ Key string }
					Cols  []struct{ Key string }
					Cells []struct{ Count string }
				}
			}
		}
		mustJSON(t, &r, append([]string{"report", "run", "referrals_transfers", "--by", "direction", "--by", "status",
			"--filter", "kind=referral", "--no-suppression", "-o", "json"}, on(n, token)...)...)
		out := map[string]int{}
		for _, tb := range r.Result.Tables {
			for i, row := range tb.Rows {
				for j, col := range tb.Cols {
					if c := tb.Cells[i*len(tb.Cols)+j].Count; c != "" && c != "0" {
						out[row.Key+"/"+col.Key], _ = strconv.Atoi(c)
					}
				}
			}
		}
		return out
	}
	check := func(when string) {
		for _, u := range []struct {
			name  string
			n     *node
			token string
		}{{"amina", a, amina}, {"yusuf", a, yusuf}, {"sahra", a, sahra}, {"ali", a, adminA}, {"farah", b, farah}, {"omar", b, omar}, {"bashir", b, adminB}} {
			got, want := report(u.n, u.token), statuses(u.n, u.token)
			if !maps.Equal(got, want) {
				t.Errorf("%s, %s: the report counts %v, the list %v", when, u.name, got, want)
			}
		}
	}
	check("after the exchanges")
	if got := statuses(a, adminA); got["outgoing/accepted"]+got["outgoing/rejected"]+got["outgoing/revoked"]+got["outgoing/delivered"] != 4 {
		t.Errorf("A's referrals: got %v, want 4 sent", got)
	}
	a.stop(t)
	b.stop(t)
	a, b = start(t, dirA), start(t, dirB)
	check("after a restart")
}
