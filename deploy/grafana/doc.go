// Package grafana holds amicrypt's Grafana dashboard (amicrypt.json) over
// the metrics `amicrypt worker --metrics-addr` serves. It has no Go code of
// its own: its test checks the dashboard against a real worker's /metrics.
//
// The test is a package of its own because it runs the embedded Temporal
// server (internal/devserver), which takes a minute or two to link: the
// deploy package's tests stay quick.
package grafana
