// Package metrics is what `amicrypt worker --metrics-addr` serves on
// /metrics, in Prometheus' text format: amicrypt's own metrics (amicrypt_*),
// the Temporal SDK's (temporal_*, through Temporal's tally handler) and Go's
// runtime and process figures (go_*, process_*), all in one registry.
//
// Every amicrypt_* metric is registered, with its label values known in
// advance at zero, when Metrics is made: /metrics lists each name before
// the first event, so dashboards show 0, not "no data", and absent() alerts
// mean what they say. A nil *Metrics records nothing: code paths without
// metrics (tests, the CLI's own clients) pass nil.
//
// A worker is one of several processes: every figure is per process, and
// sum() over the workers is the fleet's (see each metric's help).
package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Names of amicrypt's metrics.
const (
	// TargetsFinished counts Target workflows that ended, by status
	// (succeeded, failed, cancelled) and diagnosis code (F1–F8, other, …;
	// "" unless failed). The Target workflow emits it through
	// workflow.GetMetricsHandler (replay-safe); TemporalHandler routes it here.
	TargetsFinished = "amicrypt_targets_finished_total"
	// CopyDuration is how long AWS took to make an encrypted copy
	// available, by target region.
	CopyDuration = "amicrypt_copy_duration_seconds"
	// BootProofDuration is how long a boot proof took from its group's
	// creation to an instance InService, by target region.
	BootProofDuration = "amicrypt_boot_proof_duration_seconds"
	// AWSCalls, AWSThrottles and AWSErrors count every attempt of every AWS
	// call (each SDK retry is one more), the attempts AWS throttled, and
	// the attempts that failed (throttles included; not an expected not
	// found), by service and action.
	AWSCalls     = "amicrypt_aws_calls_total"
	AWSThrottles = "amicrypt_aws_throttles_total"
	AWSErrors    = "amicrypt_aws_errors_total"
	// SharesAdded and SharesRevoked count source-image launch permissions
	// amicrypt gave a target account and took back: outstanding is
	// sum(added) − sum(revoked) over the workers.
	SharesAdded   = "amicrypt_source_shares_added_total"
	SharesRevoked = "amicrypt_source_shares_revoked_total"
	// KeysPendingRetirement is the old keys of amicrypt's key lines that a
	// rotation disabled and that are not deleted yet, by state (disabled:
	// waiting out retire_after or a holder; pending_deletion: scheduled).
	KeysPendingRetirement = "amicrypt_keys_pending_retirement"
)

// Label names.
const (
	LabelStatus        = "status"
	LabelDiagnosisCode = "diagnosis_code"
	LabelRegion        = "region"
	LabelService       = "service"
	LabelAction        = "action"
	LabelState         = "state"
)

// Values of KeysPendingRetirement's state label.
const (
	KeyStateDisabled        = "disabled"
	KeyStatePendingDeletion = "pending_deletion"
)

// KeyRetirementTTL is how long a worker counts the old keys of a target it
// looked at (a sweep's InspectKey, a rotation's RetireOldKeys): a day and
// an hour, so a daily sweep keeps the figure and a target another worker
// looks at next stops counting here soon after.
const KeyRetirementTTL = 25 * time.Hour

// Buckets of the duration histograms, in seconds. Copies take minutes to
// hours in AWS (seconds in the sandbox); boot proofs a minute or a few.
var (
	copyBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200, 10800, 14400, 21600}
	bootBuckets = []float64{1, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 450, 600, 900, 1200, 1800}
)

// Options are the label values known at start, whose series start at zero.
type Options struct {
	// AWSActions are, by service (ec2, kms, …), the actions amicrypt calls
	// (activities.AWSActions).
	AWSActions map[string][]string
	// Regions start the duration histograms (the worker's own region, say;
	// any other appears with its first observation).
	Regions []string
	// TargetOutcomes are the status and diagnosis code pairs a target can
	// end with (workflows.TargetOutcomes).
	TargetOutcomes [][2]string
}

// Metrics are amicrypt's collectors and the registry that serves them.
type Metrics struct {
	reg *prometheus.Registry

	targetsFinished            *prometheus.CounterVec
	copyDuration, bootDuration *prometheus.HistogramVec
	awsCalls, awsThrottles     *prometheus.CounterVec
	awsErrors                  *prometheus.CounterVec
	sharesAdded, sharesRevoked prometheus.Counter
	keys                       *keyRetirements
}

// New registers amicrypt's metrics, Go's runtime collector and the process
// collector in a new registry.
func New(o Options) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		targetsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{Name: TargetsFinished,
			Help: "Target workflows that ended, by status (succeeded, failed, cancelled) and diagnosis code (F1-F8, other, ...; empty unless failed). Counted once per target by the worker that ran its last workflow task."},
			[]string{LabelStatus, LabelDiagnosisCode}),
		copyDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: CopyDuration,
			Help:    "Time from an encrypted copy's start (CopyImage; the image's CreationDate) to the poll that found it available, by target region; copies this target started only (a copy reused from an earlier run is not timed). Late by up to one poll interval (2 min at most).",
			Buckets: copyBuckets}, []string{LabelRegion}),
		bootDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: BootProofDuration,
			Help:    "Time from a boot proof's Auto Scaling group creation to the poll that found its instance InService, by target region; proofs that failed are not timed. Late by up to one poll interval (30 s at most).",
			Buckets: bootBuckets}, []string{LabelRegion}),
		awsCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: AWSCalls,
			Help: "AWS API call attempts, by service and action: every attempt, so the SDK's retries of a throttled or failed call count too."},
			[]string{LabelService, LabelAction}),
		awsThrottles: prometheus.NewCounterVec(prometheus.CounterOpts{Name: AWSThrottles,
			Help: "AWS API call attempts refused as throttling (an error code the SDK's retry package classifies as throttle: Throttling, RequestLimitExceeded, ...), by service and action."},
			[]string{LabelService, LabelAction}),
		awsErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: AWSErrors,
			Help: "AWS API call attempts that failed (throttles included), by service and action; not counted: cancellations, and not found where amicrypt looks before it creates. The worker's log has each error's code and target."},
			[]string{LabelService, LabelAction}),
		sharesAdded: prometheus.NewCounter(prometheus.CounterOpts{Name: SharesAdded,
			Help: "Launch permissions on a source image that amicrypt gave a target account. Outstanding: sum(added) - sum(revoked) over all workers (see deploy/grafana for a form that survives worker restarts)."}),
		sharesRevoked: prometheus.NewCounter(prometheus.CounterOpts{Name: SharesRevoked,
			Help: "Launch permissions on a source image that amicrypt gave and took back."}),
		keys: newKeyRetirements(time.Now),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.targetsFinished, m.copyDuration, m.bootDuration,
		m.awsCalls, m.awsThrottles, m.awsErrors,
		m.sharesAdded, m.sharesRevoked, m.keys,
	)
	for _, so := range o.TargetOutcomes {
		m.targetsFinished.WithLabelValues(so[0], so[1])
	}
	for service, actions := range o.AWSActions {
		for _, action := range actions {
			m.awsCalls.WithLabelValues(service, action)
			m.awsThrottles.WithLabelValues(service, action)
			m.awsErrors.WithLabelValues(service, action)
		}
	}
	m.InitRegions(o.Regions...)
	return m
}

// InitRegions lists the duration histograms of these regions, empty, on
// /metrics (a region's first observation lists it otherwise).
func (m *Metrics) InitRegions(regions ...string) {
	if m == nil {
		return
	}
	for _, r := range regions {
		if r != "" {
			m.copyDuration.WithLabelValues(r)
			m.bootDuration.WithLabelValues(r)
		}
	}
}

// Registry is where every metric of the worker is registered (the SDK's
// too, by SDKHandler).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// TargetFinished counts a target that ended (the Target workflow calls it
// through TemporalHandler).
func (m *Metrics) TargetFinished(status, code string) {
	if m == nil {
		return
	}
	m.targetsFinished.WithLabelValues(status, code).Inc()
}

// CopyAvailable records a copy's duration in region.
func (m *Metrics) CopyAvailable(region string, d time.Duration) {
	if m == nil || d < 0 {
		return
	}
	m.copyDuration.WithLabelValues(region).Observe(d.Seconds())
}

// BootProven records a boot proof's duration in region.
func (m *Metrics) BootProven(region string, d time.Duration) {
	if m == nil || d < 0 {
		return
	}
	m.bootDuration.WithLabelValues(region).Observe(d.Seconds())
}

// SharesChanged counts launch permissions given (added) and taken back.
func (m *Metrics) SharesChanged(added, revoked int) {
	if m == nil {
		return
	}
	m.sharesAdded.Add(float64(added))
	m.sharesRevoked.Add(float64(revoked))
}

// KeysPendingRetirement records what a worker found of one target's old
// keys (account and region): how many are disabled and how many are
// scheduled for deletion. It replaces what was recorded for the target.
func (m *Metrics) KeysPendingRetirement(account, region string, disabled, pendingDeletion int) {
	if m == nil {
		return
	}
	m.keys.set(account+"/"+region, disabled, pendingDeletion)
}

// keyRetirements is KeysPendingRetirement: the sum, over the targets this
// worker looked at within KeyRetirementTTL, of their old keys by state.
type keyRetirements struct {
	desc *prometheus.Desc
	now  func() time.Time

	mu      sync.Mutex
	targets map[string]keyCount
}

type keyCount struct {
	disabled, pendingDeletion int
	seen                      time.Time
}

func newKeyRetirements(now func() time.Time) *keyRetirements {
	return &keyRetirements{
		desc: prometheus.NewDesc(KeysPendingRetirement,
			"Old KMS keys of amicrypt's key lines not deleted yet, by state: disabled (a rotation disabled it; its deletion waits for rotation.retire_after or a holder) or pending_deletion (scheduled). Per worker: the targets it looked at (sweep, rotation) in the last 25 h; sum() over the workers is the fleet's, a target two workers looked at within that time counting twice.",
			[]string{LabelState}, nil),
		now:     now,
		targets: map[string]keyCount{},
	}
}

func (k *keyRetirements) set(target string, disabled, pendingDeletion int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.targets[target] = keyCount{disabled: disabled, pendingDeletion: pendingDeletion, seen: k.now()}
}

func (k *keyRetirements) Describe(ch chan<- *prometheus.Desc) { ch <- k.desc }

func (k *keyRetirements) Collect(ch chan<- prometheus.Metric) {
	k.mu.Lock()
	var disabled, pending int
	cutoff := k.now().Add(-KeyRetirementTTL)
	for t, c := range k.targets {
		if c.seen.Before(cutoff) {
			delete(k.targets, t)
			continue
		}
		disabled += c.disabled
		pending += c.pendingDeletion
	}
	k.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(k.desc, prometheus.GaugeValue, float64(disabled), KeyStateDisabled)
	ch <- prometheus.MustNewConstMetric(k.desc, prometheus.GaugeValue, float64(pending), KeyStatePendingDeletion)
}
