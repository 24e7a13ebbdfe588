package policy_test

import (
	"fmt"
	"time"

	"github.com/cpx-node/cpx/policy"
)

func ExampleISP_Evaluate() {
	isp, err := policy.ParseISP([]byte(`
format = "cpx-isp/1"
id = "so-cp-isp"
version = 3
title = "Somalia CP sub-cluster ISP"
valid_from = 2026-01-01T00:00:00Z
valid_until = 2027-12-31T23:59:59Z

[[party]]
agency = "save-the-children-so"
name = "Save the Children Somalia"
signing_key = "key-stc"

[[party]]
agency = "irc-so"
name = "IRC Somalia"
signing_key = "key-irc"

[[purpose]]
name = "referral"
from = ["save-the-children-so"]
to = ["irc-so"]
required_consent = ["consent_for_services", "disclosure_other_orgs"]
forms = ["registration"]
withheld = ["name_last"]
[purpose.conditions]
consent_override_roles = ["supervisor"]
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	forms := func(form string) []string {
		if form == "registration" {
			return []string{"name_first", "name_last", "sex", "age"}
		}
		return nil
	}
	req := policy.Request{
		From: "save-the-children-so", To: "irc-so", Purpose: "referral",
		Now:  time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC),
		Role: "caseworker",
		Fields: map[string]any{
			"consent_for_services":  true,
			"disclosure_other_orgs": true,
			"name_first":            "Amina",
			"name_last":             "Hassan",
			"age":                   11,
		},
	}
	d := isp.Evaluate(req, forms)
	fmt.Println(d.Allowed, d.Send)
	for _, f := range d.Fields {
		fmt.Printf("%s: %s (%s)\n", f.Field, f.Outcome, f.Reason)
	}

	req.Fields["disclosure_other_orgs"] = false
	d = isp.Evaluate(req, forms)
	fmt.Println(d.Allowed, d.Reason)
	// Output:
	// true map[age:11 name_first:Amina]
	// age: send (in the referral projection of ISP so-cp-isp v3 (form registration))
	// consent_for_services: not_allowed (not in the referral projection of ISP so-cp-isp v3)
	// disclosure_other_orgs: not_allowed (not in the referral projection of ISP so-cp-isp v3)
	// name_first: send (in the referral projection of ISP so-cp-isp v3 (form registration))
	// name_last: withheld (withheld by ISP so-cp-isp v3)
	// false ISP so-cp-isp v3 requires consent_for_services, disclosure_other_orgs to be true on the case for referral; not recorded: disclosure_other_orgs; record the consent first, or ask a user with role supervisor to override it
}
