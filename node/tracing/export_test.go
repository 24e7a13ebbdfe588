package tracing

import (
	"context"
	"time"

	"github.com/cpx-node/cpx/crypto/pprl"
	"github.com/cpx-node/cpx/policy"
)

// EncodeQuery and KeysFor let the external tests build queries as a peer
// would.
var (
	EncodeQuery                             = encodeQuery
	KeysFor     func(*policy.ISP) pprl.Keys = keysFor
)

// EncodedGenerations returns, per case id, the index generation at which
// its cached Record under isp was encoded, and the encoder that made them.
func (s *Service) EncodedGenerations(ctx context.Context, isp *policy.ISP) (map[string]uint64, *pprl.RecordEncoder, error) {
	es, err := s.encodings(ctx, isp)
	if err != nil {
		return nil, nil, err
	}
	out := map[string]uint64{}
	for id, r := range es.byCase {
		out[id] = r.at
	}
	return out, es.enc, nil
}

// Pacer is the per-agency query pacer, for its own test.
type Pacer = pacer

// Reserve is pacer.reserve.
func (p *Pacer) Reserve(agency string, rate int, now time.Time) time.Duration {
	return p.reserve(agency, rate, now)
}

// FederatedAdapted returns the number of requests the model this node
// answers queries under isp with was adapted on (0: the shipped model).
func (s *Service) FederatedAdapted(ctx context.Context, isp *policy.ISP) (int, error) {
	es, err := s.encodings(ctx, isp)
	if err != nil || es.model.Adapted == nil {
		return 0, err
	}
	return es.model.Adapted.Requests, nil
}
