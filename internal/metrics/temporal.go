package metrics

import (
	"maps"
	"sync"
	"time"

	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
)

// sdkBuckets are the histogram buckets of the SDK's timers (task latencies,
// schedule-to-start, request latencies), in seconds.
var sdkBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// sdkReportInterval is how often tally hands the SDK's counters and gauges
// to the registry (timers go at once).
const sdkReportInterval = time.Second

// SDKHandler is the Temporal SDK's metrics handler over Temporal's tally
// contrib (go.temporal.io/sdk/contrib/tally) and tally's Prometheus
// reporter, reporting into m's registry with Prometheus' naming (counters
// end in _total, timers are histograms in seconds: temporal_..._seconds).
// onError receives what the reporter could not register (a metric the SDK
// emits with two label sets); it is called once per distinct error. stop
// reports what is pending and stops the reporting loop.
func (m *Metrics) SDKHandler(onError func(error)) (h client.MetricsHandler, stop func()) {
	var seen sync.Map
	reporter := tallyprom.NewReporter(tallyprom.Options{
		Registerer:              m.reg,
		DefaultTimerType:        tallyprom.HistogramTimerType,
		DefaultHistogramBuckets: sdkBuckets,
		OnRegisterError: func(err error) {
			if _, dup := seen.LoadOrStore(err.Error(), true); !dup && onError != nil {
				onError(err)
			}
		},
	})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
	}, sdkReportInterval)
	return sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope)), func() { _ = closer.Close() }
}

// TemporalHandler is the handler to give the Temporal client
// (client.Options.MetricsHandler): the metrics amicrypt's workflows emit
// through workflow.GetMetricsHandler — TargetsFinished, with the status and
// diagnosis_code tags — go to m's collectors, registered at start with
// their help; every other name goes to sdk (SDKHandler; nil: dropped).
// The SDK wraps it so that nothing is recorded while a workflow replays.
func (m *Metrics) TemporalHandler(sdk client.MetricsHandler) client.MetricsHandler {
	if sdk == nil {
		sdk = client.MetricsNopHandler
	}
	return temporalHandler{m: m, sdk: sdk}
}

type temporalHandler struct {
	m    *Metrics
	sdk  client.MetricsHandler
	tags map[string]string
}

func (h temporalHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := maps.Clone(h.tags)
	if merged == nil {
		merged = map[string]string{}
	}
	maps.Copy(merged, tags)
	return temporalHandler{m: h.m, sdk: h.sdk.WithTags(tags), tags: merged}
}

func (h temporalHandler) Counter(name string) client.MetricsCounter {
	if name == TargetsFinished {
		status, code := h.tags[LabelStatus], h.tags[LabelDiagnosisCode]
		return counterFunc(func(n int64) {
			if h.m != nil {
				h.m.targetsFinished.WithLabelValues(status, code).Add(float64(n))
			}
		})
	}
	return h.sdk.Counter(name)
}

func (h temporalHandler) Gauge(name string) client.MetricsGauge { return h.sdk.Gauge(name) }
func (h temporalHandler) Timer(name string) client.MetricsTimer { return h.sdk.Timer(name) }

// Unwrap lets contrib/tally's ScopeFromHandler find the SDK's scope.
func (h temporalHandler) Unwrap() client.MetricsHandler { return h.sdk }

type counterFunc func(int64)

func (f counterFunc) Inc(n int64) { f(n) }
