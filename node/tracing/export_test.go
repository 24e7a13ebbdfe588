package tracing

import (
	"github.com/cpx-node/cpx/crypto/pprl"
	"github.com/cpx-node/cpx/policy"
)

// EncodeQuery and KeysFor let the external tests build queries as a peer
// would.
var (
	EncodeQuery                             = encodeQuery
	KeysFor     func(*policy.ISP) pprl.Keys = keysFor
)
