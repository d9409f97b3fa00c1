package metrics

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/amicrypt/amicrypt/internal/metrics/metricstest"
)

// The workflows' counter reaches amicrypt's collector with its status and
// diagnosis code, whatever other tags the SDK adds; other names go to the
// SDK's handler.
func TestTemporalHandlerRoutesTheWorkflowsMetrics(t *testing.T) {
	m := New(Options{})
	sdk, stop := m.SDKHandler(func(err error) { t.Error(err) })
	h := m.TemporalHandler(sdk).WithTags(map[string]string{"namespace": "default", "workflow_type": "Target"})
	h.WithTags(map[string]string{LabelStatus: "failed", LabelDiagnosisCode: "F2"}).Counter(TargetsFinished).Inc(1)
	h.WithTags(map[string]string{LabelStatus: "failed", LabelDiagnosisCode: "F2"}).Counter(TargetsFinished).Inc(1)
	h.Counter("temporal_workflow_completed").Inc(1)
	h.Timer("temporal_workflow_task_execution_latency").Record(20 * time.Millisecond)
	stop() // reports tally's pending counts

	s := metricstest.Get(t, m.Handler())
	if v, _ := s.Value(TargetsFinished, LabelStatus, "failed", LabelDiagnosisCode, "F2"); v != 2 {
		t.Errorf("%s{failed,F2} = %v, want 2\n%s", TargetsFinished, v, s.Text)
	}
	if v, _ := s.Value("temporal_workflow_completed_total", "namespace", "default", "workflow_type", "Target"); v != 1 {
		t.Errorf("the SDK's counter: %v, want 1 (Prometheus naming: _total)", v)
	}
	if v, _ := s.Value("temporal_workflow_task_execution_latency_seconds_count", "namespace", "default", "workflow_type", "Target"); v != 1 {
		t.Errorf("the SDK's timer: count %v, want 1 (a histogram in seconds)", v)
	}
	if s.Types["temporal_workflow_task_execution_latency_seconds"] != "histogram" {
		t.Errorf("the SDK's timers are %q, want histograms", s.Types["temporal_workflow_task_execution_latency_seconds"])
	}
}

// A target's old keys count for 25 hours after a worker looked at them,
// and a later look replaces them.
func TestKeysPendingRetirementExpire(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	m := New(Options{})
	m.keys.now = func() time.Time { return now }
	value := func(state string) float64 {
		v, _ := metricstest.Get(t, m.Handler()).Value(KeysPendingRetirement, LabelState, state)
		return v
	}
	if d, p := value(KeyStateDisabled), value(KeyStatePendingDeletion); d != 0 || p != 0 {
		t.Fatalf("before any look: %v, %v", d, p)
	}
	m.KeysPendingRetirement("222222222222", "us-east-1", 2, 1)
	m.KeysPendingRetirement("333333333333", "us-east-1", 1, 0)
	if d, p := value(KeyStateDisabled), value(KeyStatePendingDeletion); d != 3 || p != 1 {
		t.Errorf("two targets: disabled %v, pending_deletion %v; want 3, 1", d, p)
	}
	now = now.Add(2 * time.Hour)
	m.KeysPendingRetirement("222222222222", "us-east-1", 0, 2) // scheduled since
	now = now.Add(KeyRetirementTTL - time.Hour)                // the other target's look is 25 h old
	if d, p := value(KeyStateDisabled), value(KeyStatePendingDeletion); d != 0 || p != 2 {
		t.Errorf("after 25 h: disabled %v, pending_deletion %v; want 0, 2", d, p)
	}
}

func TestServeNamesAnAddressItCannotListenOn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = New(Options{}).Serve(ln.Addr().String())
	if err == nil || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("serving on a busy port: %v", err)
	}
	srv, err := New(Options{}).Serve("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if s := metricstest.GetURL(t, "http://"+srv.Addr()+"/metrics"); !s.Has("process_resident_memory_bytes") || !s.Has(SharesAdded) {
		t.Errorf("/metrics lacks the process's or amicrypt's metrics:\n%s", s.Text)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}
