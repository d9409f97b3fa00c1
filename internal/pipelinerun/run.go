// Package pipelinerun is the client side of a pipeline run, shared by the
// amicrypt CLI (run, status, replay, demo) and the Packer post-processor: the
// run id derived from what a run does, starting or attaching to a run,
// following its progress to its report, cancelling it, and the report's
// human-readable forms.
//
// It imports the Temporal SDK client only, never the server.
package pipelinerun

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/amicrypt/amicrypt/workflows"
)

// RunID derives a run id from what the run does (sources, targets, and the
// run it replays), so starting the same request twice attaches to the first
// run instead of copying again.
func RunID(in workflows.PipelineInput) string {
	h := sha256.New()
	for _, s := range in.Sources {
		fmt.Fprintf(h, "source %s %s\n", s.Region, s.ImageID)
	}
	for _, t := range in.Targets {
		b, _ := json.Marshal(t)
		h.Write(b)
		h.Write([]byte{'\n'})
	}
	fmt.Fprintf(h, "replay-of %s\n", in.ReplayOf)
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// StartOptions tune Start.
type StartOptions struct {
	// RestartUnsuccessful starts the run afresh when a run of the same id
	// was cancelled, terminated, failed or timed out, instead of attaching
	// to its end. (A run that completed, even with failed targets, is
	// always attached to: its report stands.)
	RestartUnsuccessful bool
}

// Start starts the run's Pipeline workflow, or returns the one already
// started with the same id (attached = true).
func Start(ctx context.Context, c client.Client, taskQueue string, in workflows.PipelineInput, o StartOptions) (run client.WorkflowRun, attached bool, err error) {
	id := workflows.PipelineWorkflowID(in.RunID)
	reuse := enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE
	if o.RestartUnsuccessful {
		reuse = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY
	}
	// A run of this id already under way, or ended in a way the reuse policy
	// keeps, comes back as WorkflowExecutionAlreadyStarted (asked for: by
	// default the SDK hands back the existing run as if it had just started),
	// so attaching is told apart from starting.
	run, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                taskQueue,
		WorkflowIDReusePolicy:                    reuse,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, workflows.Pipeline, in)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		return c.GetWorkflow(ctx, id, ""), true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("starting run %s on task queue %s: %w", in.RunID, taskQueue, err)
	}
	return run, false, nil
}

// PollInterval is how often Follow asks a run for its progress.
const PollInterval = time.Second

// Follow waits for the run's report, calling onProgress (when not nil) with
// the run's progress about every PollInterval and once with the final report.
// When ctx ends first it returns ctx's error; the run goes on.
func Follow(ctx context.Context, c client.Client, run client.WorkflowRun, onProgress func(*workflows.Report)) (*workflows.Report, error) {
	done := make(chan error, 1)
	var report workflows.Report
	go func() { done <- run.Get(ctx, &report) }()
	tick := time.NewTicker(PollInterval)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				return nil, fmt.Errorf("run %s ended without a report: %w", run.GetID(), err)
			}
			if onProgress != nil {
				onProgress(&report)
			}
			return &report, nil
		case <-tick.C:
			if onProgress == nil {
				continue
			}
			if p, err := Progress(ctx, c, run.GetID()); err == nil {
				onProgress(p)
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Progress asks a run for its progress. The pipeline knows a target's final
// status once the target's batch has ended; for batches still running, their
// own progress gives each target's live status and step.
func Progress(ctx context.Context, c client.Client, workflowID string) (*workflows.Report, error) {
	r, err := queryReport(ctx, c, workflowID)
	if err != nil {
		return nil, err
	}
	live := map[string]workflows.TargetReport{}
	for _, b := range r.Batches {
		if b.Status != workflows.StatusRunning {
			continue
		}
		br, err := queryReport(ctx, c, b.WorkflowID)
		if err != nil {
			continue // the batch may have just ended; the next poll sees it
		}
		for _, t := range br.Targets {
			live[t.Account+"/"+t.Region] = t
		}
	}
	for i, t := range r.Targets {
		if l, ok := live[t.Account+"/"+t.Region]; ok {
			r.Targets[i] = l
		}
	}
	r.Summary = workflows.Summary(r.Targets)
	return r, nil
}

func queryReport(ctx context.Context, c client.Client, workflowID string) (*workflows.Report, error) {
	v, err := c.QueryWorkflow(ctx, workflowID, "", workflows.QueryProgress)
	if err != nil {
		return nil, err
	}
	var r workflows.Report
	if err := v.Get(&r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Cancel asks the run to stop and waits, up to wait, for the report it ends
// with (its compensation — deleting boot-proof groups, revoking shares — runs
// first). ctx should not be the context that was just cancelled.
func Cancel(ctx context.Context, c client.Client, run client.WorkflowRun, wait time.Duration) (*workflows.Report, error) {
	if err := c.CancelWorkflow(ctx, run.GetID(), ""); err != nil {
		var nf *serviceerror.NotFound
		if !errors.As(err, &nf) {
			return nil, fmt.Errorf("cancelling run %s: %w", run.GetID(), err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var r workflows.Report
	err := c.GetWorkflow(wctx, run.GetID(), "").Get(wctx, &r)
	if err == nil {
		return &r, nil
	}
	if p, perr := Progress(ctx, c, run.GetID()); perr == nil {
		return p, nil
	}
	return nil, fmt.Errorf("run %s was asked to cancel; its report did not come within %s: %w", run.GetID(), wait, err)
}

// HasWorker reports whether a worker polls the task queue for workflow tasks
// (seen by the server in the last minutes). A run on a queue no worker polls
// waits, silently, until one does.
func HasWorker(ctx context.Context, c client.Client, taskQueue string) (bool, error) {
	resp, err := c.DescribeTaskQueue(ctx, taskQueue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
	if err != nil {
		return false, fmt.Errorf("describing task queue %s: %w", taskQueue, err)
	}
	return len(resp.GetPollers()) > 0, nil
}
