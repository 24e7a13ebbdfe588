package api

import (
	"context"
	"errors"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics is a Connect interceptor that counts calls and their latency by
// procedure and code.
type metrics struct {
	calls   *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpx_api_calls_total", Help: "Local API calls by procedure and result code.",
		}, []string{"procedure", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cpx_api_call_seconds", Help: "Local API call latency by procedure.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8),
		}, []string{"procedure"}),
	}
	if reg != nil {
		reg.MustRegister(m.calls, m.latency)
	}
	return m
}

func (m *metrics) observe(procedure string, start time.Time, err error) {
	code := "ok"
	var ce *connect.Error
	if errors.As(err, &ce) {
		code = ce.Code().String()
	} else if err != nil {
		code = connect.CodeUnknown.String()
	}
	m.calls.WithLabelValues(procedure, code).Inc()
	m.latency.WithLabelValues(procedure).Observe(time.Since(start).Seconds())
}

func (m *metrics) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		start := time.Now()
		resp, err := next(ctx, req)
		m.observe(req.Spec().Procedure, start, err)
		return resp, err
	}
}

func (m *metrics) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (m *metrics) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		start := time.Now()
		err := next(ctx, conn)
		m.observe(conn.Spec().Procedure, start, err)
		return err
	}
}
