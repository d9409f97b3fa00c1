package cli

import (
	"net"
	"os"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/metrics"
	"github.com/amicrypt/amicrypt/workflows"
)

// envMetricsAddr is --metrics-addr's environment variable.
const envMetricsAddr = "AMICRYPT_METRICS_ADDR"

// defaultMetricsAddr is --metrics-addr's default: off, unless the
// environment names an address.
func defaultMetricsAddr() string { return os.Getenv(envMetricsAddr) }

// validMetricsAddr checks --metrics-addr's shape (host:port, host may be
// empty) before anything starts.
func validMetricsAddr(addr string) error {
	if addr == "" {
		return nil
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		return usageError("--metrics-addr %q is not host:port, e.g. 127.0.0.1:9464 or :9464", addr)
	}
	return nil
}

// workerMetrics is what --metrics-addr starts: amicrypt's metrics, the
// Temporal SDK's, and the server of /metrics.
type workerMetrics struct {
	m *metrics.Metrics
	// temporal is the Temporal client's handler: the SDK's metrics and the
	// workflows' own.
	temporal client.MetricsHandler
	server   *metrics.Server
	stopSDK  func()
}

// startMetrics serves a worker's metrics on addr ("" : nil, nothing
// served). Set the returned handler (TemporalHandler) as the Temporal
// client's before dialling.
func startMetrics(addr string, log zerolog.Logger) (*workerMetrics, error) {
	if addr == "" {
		return nil, nil
	}
	m := metrics.New(metrics.Options{AWSActions: activities.AWSActions(), TargetOutcomes: workflows.TargetOutcomes()})
	srv, err := m.Serve(addr)
	if err != nil {
		return nil, err
	}
	sdk, stop := m.SDKHandler(func(err error) {
		log.Warn().Err(err).Msg("a Temporal SDK metric could not be registered; it is left out of /metrics")
	})
	log.Info().Str("addr", srv.Addr()).Msg("Prometheus metrics at /metrics")
	return &workerMetrics{m: m, temporal: m.TemporalHandler(sdk), server: srv, stopSDK: stop}, nil
}

// Metrics are amicrypt's collectors (nil when off).
func (w *workerMetrics) Metrics() *metrics.Metrics {
	if w == nil {
		return nil
	}
	return w.m
}

// TemporalHandler is the Temporal client's metrics handler (nil when off).
func (w *workerMetrics) TemporalHandler() client.MetricsHandler {
	if w == nil {
		return nil
	}
	return w.temporal
}

// Stop hands the SDK's last counts to the registry and stops serving.
func (w *workerMetrics) Stop() {
	if w == nil {
		return
	}
	w.stopSDK()
	_ = w.server.Close()
}
