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
	"go.temporal.io/sdk/temporal"

	"github.com/amicrypt/amicrypt/activities"
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
	if in.Organization != nil {
		// The selectors, not the accounts they resolve to: the same request
		// attaches, whatever joined the organization meanwhile.
		b, _ := json.Marshal(in.Organization)
		fmt.Fprintf(h, "organization %s\n", b)
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
// started with the same id (attached = true). Targets beyond
// workflows.TargetsPerPart go in parts: the input carries the first, and
// signals the others — sent again when it attaches, so a run whose starter
// stopped halfway gets them (a part received twice counts once).
func Start(ctx context.Context, c client.Client, taskQueue string, in workflows.PipelineInput, o StartOptions) (run client.WorkflowRun, attached bool, err error) {
	id := workflows.PipelineWorkflowID(in.RunID)
	parts := SplitTargets(in.Targets)
	if len(parts) > 1 {
		in.Targets, in.TargetParts = parts[0], len(parts)
	}
	defer func() {
		if err == nil && len(parts) > 1 {
			err = sendParts(ctx, c, id, parts)
		}
	}()
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

// SplitTargets cuts targets into parts of workflows.TargetsPerPart.
func SplitTargets(targets []activities.Target) [][]activities.Target {
	var parts [][]activities.Target
	for start := 0; start < len(targets); start += workflows.TargetsPerPart {
		parts = append(parts, targets[start:min(start+workflows.TargetsPerPart, len(targets))])
	}
	return parts
}

// sendParts signals parts 1… to the run. A run that has ended needs them
// no more.
func sendParts(ctx context.Context, c client.Client, workflowID string, parts [][]activities.Target) error {
	for i := 1; i < len(parts); i++ {
		err := c.SignalWorkflow(ctx, workflowID, "", workflows.SignalTargets, workflows.TargetsPart{Index: i, Targets: parts[i]})
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("sending part %d of %d of the targets to %s: %w (start the same run again to send them)", i+1, len(parts), workflowID, err)
		}
	}
	return nil
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
			if err := Complete(ctx, c, &report); err != nil {
				return nil, err
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

// ProgressRows is the size up to which a run's progress reads its rows
// (each running batch's, every poll); a larger run's progress reads counts.
const ProgressRows = 200

// Progress asks a run for its progress. The pipeline knows a target's final
// status once the target's batch has ended; for batches still running, their
// own progress gives each target's live status and step (a rows-in-batches
// run larger than ProgressRows: their counts).
func Progress(ctx context.Context, c client.Client, workflowID string) (*workflows.Report, error) {
	r, err := queryReport(ctx, c, workflowID)
	if err != nil {
		return nil, err
	}
	if r.RowsInBatches {
		if r.Summary["total"] <= ProgressRows {
			if err := Complete(ctx, c, r); err != nil {
				return nil, err
			}
			r.Summary = workflows.Summary(r.Targets)
			return r, nil
		}
		return r, liveCounts(ctx, c, r)
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

// liveCounts replaces, in r.Summary, each running batch's targets (all
// counted running) with its own counts (QuerySummary).
func liveCounts(ctx context.Context, c client.Client, r *workflows.Report) error {
	for i, b := range r.Batches {
		if b.Status != workflows.StatusRunning || b.Summary != nil {
			continue
		}
		v, err := c.QueryWorkflow(ctx, b.WorkflowID, "", workflows.QuerySummary)
		if err != nil {
			continue // it may have just ended; the next poll sees it
		}
		var sum map[string]int
		if err := v.Get(&sum); err != nil {
			return err
		}
		r.Summary[workflows.StatusRunning] -= b.Targets
		for k, n := range sum {
			if k != "total" {
				r.Summary[k] += n
			}
		}
		r.Batches[i].Summary = sum
	}
	return nil
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
	var canceledErr *temporal.CanceledError
	if errors.As(err, &canceledErr) && canceledErr.HasDetails() && canceledErr.Details(&r) == nil {
		err = nil
	}
	if err == nil {
		if cerr := Complete(ctx, c, &r); cerr != nil {
			return nil, cerr
		}
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
