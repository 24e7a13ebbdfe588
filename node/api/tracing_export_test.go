package api

import "github.com/cpx-node/cpx/policy"

// AddRolesForTest adds roles beyond the standard ones (e.g. a coordinator
// who may also trace, to test redaction of match candidates).
func AddRolesForTest(s *Server, roles ...policy.Role) { s.roles = append(s.roles, roles...) }
