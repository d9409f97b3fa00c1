package main

import (
	"context"
	"fmt"
	"io"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/benchkit"
	"github.com/amicrypt/amicrypt/internal/operator"
	"github.com/amicrypt/amicrypt/internal/pipelinerun"
	"github.com/amicrypt/amicrypt/internal/sandbox"
	"github.com/amicrypt/amicrypt/workflows"
)

// sweepResult is what -sweep measures: a sweep of the run's targets right
// after the run, as 'amicrypt sweep --wait' starts one (the keys are new,
// so none is due: every key is inspected and nothing rotated).
type sweepResult struct {
	Keys               int            `json:"keys"`
	Findings           map[string]int `json:"findings"`
	Batches            int            `json:"batches"`
	WallSeconds        float64        `json:"wall_seconds"`
	CallsPerKey        float64        `json:"aws_calls_per_key"`
	Writes             int64          `json:"mutating_calls"`
	ThrottlingSurfaced int64          `json:"throttling_errors_surfaced"`
	WorkerPeakRSSBytes int64          `json:"worker_peak_rss_bytes"`
	// Events and the largest event, over the Sweep and its SweepBatches.
	Events           int64   `json:"history_events"`
	EventsPerKey     float64 `json:"history_events_per_key"`
	MaxEventBytes    int64   `json:"max_event_bytes"`
	MaxEventType     string  `json:"max_event_type"`
	MaxEventWorkflow string  `json:"max_event_workflow"`
	// AWS: the calls made during the sweep.
	AWS benchkit.AWSCalls `json:"aws"`
}

// measureSweep sweeps the run's targets (listed, or the organization's,
// resolved again by the sweep) and measures it.
func measureSweep(ctx context.Context, progress io.Writer, c client.Client, taskQueue, endpoint string, wk *benchkit.Worker, listed []activities.Target, org *activities.OrganizationTargets, timeout time.Duration) (*sweepResult, error) {
	res := &sweepResult{}
	before, err := benchkit.ReadCounters(ctx, endpoint)
	if err != nil {
		return nil, err
	}
	benchkit.ResetPeakMemory(wk.Cmd.Process.Pid)
	in := workflows.SweepInput{
		SweepID: "bench-" + pipelinerun.SweepID(time.Now()), Targets: listed, Organization: org,
		MaxKeyAgeDays: 365, Operator: "amicrypt-bench",
	}
	sctx, cancel := context.WithTimeout(operator.With(ctx, operator.Attribution{Operator: "amicrypt-bench"}), timeout)
	defer cancel()
	t0 := time.Now()
	run, err := c.ExecuteWorkflow(sctx, client.StartWorkflowOptions{
		ID: workflows.SweepWorkflowID(in.SweepID), TaskQueue: taskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}, workflows.Sweep, in)
	if err != nil {
		return nil, fmt.Errorf("starting the sweep: %w", err)
	}
	fmt.Fprintf(progress, "sweep %s started\n", in.SweepID)
	var report workflows.Report
	done := make(chan error, 1)
	go func() { done <- run.Get(sctx, &report) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case err = <-done:
			waiting = false
		case <-wk.Done:
			return nil, fmt.Errorf("the worker exited during the sweep (%v); its log: %s", wk.Cmd.ProcessState, wk.LogPath)
		case <-tick.C:
			if _, peak, ok := benchkit.Memory(wk.Cmd.Process.Pid); ok {
				res.WorkerPeakRSSBytes = max(res.WorkerPeakRSSBytes, peak)
			}
		}
	}
	res.WallSeconds = time.Since(t0).Seconds()
	if _, peak, ok := benchkit.Memory(wk.Cmd.Process.Pid); ok {
		res.WorkerPeakRSSBytes = max(res.WorkerPeakRSSBytes, peak)
	}
	if err != nil {
		return nil, fmt.Errorf("the sweep did not end with a report after %.1f s: %w", res.WallSeconds, err)
	}
	after, err := benchkit.ReadCounters(ctx, endpoint)
	if err != nil {
		return nil, err
	}
	res.AWS = after.Since(before)
	wb, wa := sandbox.Writes(before.Rows, ""), sandbox.Writes(after.Rows, "")
	for k, n := range wa {
		res.Writes += max(n-wb[k], 0)
	}
	ids := []string{workflows.SweepWorkflowID(in.SweepID)}
	for _, b := range report.Batches {
		ids = append(ids, b.WorkflowID)
	}
	res.Batches = len(report.Batches)
	if err := pipelinerun.Complete(ctx, c, &report); err != nil {
		return nil, fmt.Errorf("reading the sweep's keys: %w", err)
	}
	h, err := benchkit.ReadWorkflowHistories(ctx, c, in.SweepID, ids)
	if err != nil {
		return nil, err
	}
	res.Keys = len(report.Keys)
	res.Findings = map[string]int{}
	for _, k := range report.Keys {
		switch {
		case k.Missing:
			res.Findings["missing"]++
		case k.Due != "":
			res.Findings["due"]++
		case len(k.Findings) > 0:
			res.Findings["with findings"]++
		default:
			res.Findings["healthy"]++
		}
	}
	res.Events, res.MaxEventBytes, res.MaxEventType, res.MaxEventWorkflow = h.Events, h.MaxEventBytes, h.MaxEventType, h.MaxEventWorkflow
	res.ThrottlingSurfaced = h.ThrottlingRetries + h.ThrottlingFailures
	if res.Keys > 0 {
		res.CallsPerKey = float64(res.AWS.Total) / float64(res.Keys)
		res.EventsPerKey = float64(res.Events) / float64(res.Keys)
	}
	return res, nil
}

func printSweep(out io.Writer, s *sweepResult) {
	fmt.Fprintf(out, "\nsweep of the same targets right after the run (%d keys in %d SweepBatch workflows; findings %v):\n", s.Keys, s.Batches, s.Findings)
	fmt.Fprintf(out, "  %-42s %10.1f\n", "wall time (s)", s.WallSeconds)
	fmt.Fprintf(out, "  %-42s %10.2f   (%d calls, %d mutating)\n", "AWS calls per key", s.CallsPerKey, s.AWS.Total, s.Writes)
	fmt.Fprintf(out, "  %-42s %10d\n", "throttling errors surfaced to workflows", s.ThrottlingSurfaced)
	fmt.Fprintf(out, "  %-42s %10.1f   (VmHWM since the sweep started)\n", "worker peak RSS (MB)", float64(s.WorkerPeakRSSBytes)/(1<<20))
	fmt.Fprintf(out, "  %-42s %10.1f   (%d events)\n", "Temporal history events per key", s.EventsPerKey, s.Events)
	fmt.Fprintf(out, "  %-42s %10.1f   (%s of %s, as stored: compressed)\n", "largest history event (KB)", float64(s.MaxEventBytes)/1024, s.MaxEventType, s.MaxEventWorkflow)
}
