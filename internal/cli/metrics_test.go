package cli

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/amicrypt/amicrypt/internal/metrics"
	"github.com/amicrypt/amicrypt/internal/metrics/metricstest"
)

// A --metrics-addr (or AMICRYPT_METRICS_ADDR) the worker cannot listen on
// stops it before it contacts anything, naming the address; one that is not
// host:port is bad input (exit 2).
func TestWorkerMetricsAddr(t *testing.T) {
	t.Setenv("TEMPORAL_TLS", "")
	t.Setenv("AWS_ENDPOINT_URL", "")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	// Temporal would be looked for here: nothing listens there.
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	temporal := free.Addr().String()
	free.Close()

	code, _, errs := run("worker", "--metrics-addr", addr, "--temporal-address", temporal, "--log-level", "error")
	if code != 1 || !strings.Contains(errs, "cannot serve metrics on "+addr) || strings.Contains(errs, temporal) {
		t.Errorf("--metrics-addr on a busy port: exit %d, stderr %q; want exit 1 naming %s, before Temporal is contacted", code, errs, addr)
	}
	t.Setenv(envMetricsAddr, addr)
	if code, _, errs := run("worker", "--temporal-address", temporal, "--log-level", "error"); code != 1 || !strings.Contains(errs, addr) {
		t.Errorf("%s on a busy port: exit %d, stderr %q", envMetricsAddr, code, errs)
	}
	t.Setenv(envMetricsAddr, "")
	for _, cmd := range []string{"worker", "dev"} {
		if code, _, errs := run(cmd, "--metrics-addr", "9464"); code != 2 || !strings.Contains(errs, `--metrics-addr "9464" is not host:port`) {
			t.Errorf("%s --metrics-addr 9464: exit %d, stderr %q; want exit 2", cmd, code, errs)
		}
	}
}

// amicrypt dev serves its worker's metrics too, with the SDK's, and stops
// serving when it stops.
func TestDevServesTheWorkersMetrics(t *testing.T) {
	env, err := startDev(context.Background(), devOptions{
		SandboxAddr: freeAddr(t), TemporalAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0",
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Stop()
	url := "http://" + env.metrics.server.Addr() + "/metrics"
	var s metricstest.Scrape
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		// The SDK's gauges come with tally's first report, within a second.
		if s = metricstest.GetURL(t, url); s.Has("temporal_worker_task_slots_available") || time.Now().After(deadline) {
			break
		}
	}
	for _, name := range []string{metrics.TargetsFinished, metrics.AWSCalls, metrics.CopyDuration + "_count", metrics.KeysPendingRetirement, "temporal_worker_task_slots_available"} {
		if !s.Has(name) {
			t.Errorf("%s is not on dev's /metrics", name)
		}
	}
	// The dev worker's own sts:GetCallerIdentity at start is counted.
	if v, _ := s.Value(metrics.AWSCalls, "service", "sts", "action", "GetCallerIdentity"); v == 0 {
		t.Errorf("the dev worker's GetCallerIdentity is not counted")
	}
	if err := env.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(url); err == nil {
		t.Errorf("%s still answers after Stop", url)
	}
}
