package daemon

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cpx-node/cpx/node/exchange"
	"github.com/cpx-node/cpx/node/store/memstore"
)

// batchPeer answers every batch with err, and every lone delivery with a
// receipt.
type batchPeer struct {
	exchange.Transport
	err error
}

func (b batchPeer) DeliverBatch(context.Context, string, []string, [][]byte) (exchange.BatchReply, error) {
	return exchange.BatchReply{}, b.err
}

func (b batchPeer) Deliver(context.Context, string, []string, []byte) ([]byte, error) {
	return []byte("receipt"), nil
}

// TestBatchMetrics: a batch the peer could not take counts a failed
// delivery per envelope; a batch refused because the peer takes no
// batches counts none, its envelopes being sent (and counted) one by one.
func TestBatchMetrics(t *testing.T) {
	for _, tc := range []struct {
		name                string
		err                 error
		failures, delivered float64
	}{
		{"unreachable", errors.New("unreachable"), 3, 0},
		{"no batches, then one by one", exchange.ErrBatchUnsupported, 0, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newFedMetrics(prometheus.NewRegistry(), memstore.New(), func() *exchange.Service { return nil })
			tr := m.transport(batchPeer{err: tc.err}).(exchange.BatchTransport)
			envs := [][]byte{{1}, {2}, {3}}
			if _, err := tr.DeliverBatch(context.Background(), "peer-b", nil, envs); errors.Is(err, exchange.ErrBatchUnsupported) {
				for _, env := range envs {
					if _, err := tr.(exchange.Transport).Deliver(context.Background(), "peer-b", nil, env); err != nil {
						t.Fatal(err)
					}
				}
			}
			if got := counted(t, m.deliveryFailures); got != tc.failures {
				t.Errorf("failed deliveries: got %v, want %v", got, tc.failures)
			}
			if got := counted(t, m.deliveries); got != tc.delivered {
				t.Errorf("deliveries: got %v, want %v", got, tc.delivered)
			}
		})
	}
}

// counted is c's value for a peer of unknown agency.
func counted(t *testing.T, c *prometheus.CounterVec) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.WithLabelValues(unknownPeer).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
