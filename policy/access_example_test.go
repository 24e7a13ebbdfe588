package policy_test

import (
	"fmt"

	"github.com/cpx-node/cpx/policy"
)

func ExampleAuthorize() {
	roles := policy.StandardRoles()
	caseworker, _ := policy.RoleByID(roles, "caseworker")
	ana := policy.Subject{User: "ana", Group: "north", Agency: "save", Role: caseworker}

	own := &policy.Object{Owner: "ana", OwnerGroup: "north", Agency: "save"}
	colleagues := &policy.Object{Owner: "ben", OwnerGroup: "north", Agency: "save"}

	fmt.Println(policy.Authorize(ana, policy.ResourceCase, policy.ActionUpdate, own).Allowed)
	d := policy.Authorize(ana, policy.ResourceCase, policy.ActionRead, colleagues)
	fmt.Println(d.Allowed, d.Reason)
	d = policy.Authorize(ana, policy.ResourceAudit, policy.ActionRead, nil)
	fmt.Println(d.Allowed, d.Reason)
	// Output:
	// true
	// false case is owned by another user (group "north"); role "caseworker" reaches only its own cases (scope self)
	// false role "caseworker" may not read the audit log
}
