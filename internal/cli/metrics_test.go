package cli

import (
	"net"
	"strings"
	"testing"
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
	if code, _, errs := run("worker", "--metrics-addr", "9464"); code != 2 || !strings.Contains(errs, `--metrics-addr "9464" is not host:port`) {
		t.Errorf("--metrics-addr 9464: exit %d, stderr %q; want exit 2", code, errs)
	}
}
