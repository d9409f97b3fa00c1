package pipelinerun

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/temporalconn"
	"github.com/amicrypt/amicrypt/workflows"
)

// A run's rows, since the rows-in-batches version, are its batches': the
// Pipeline's report counts them (Report.RowsInBatches) and names the
// batches, and each batch holds its own — its result once it ended (a
// cancelled one's rides on the CanceledError), its QueryProgress while it
// runs. A batch not started yet has its targets in the Pipeline, which
// answers QueryBatchTargets. No answer is larger than one batch.

// Complete fills r.Targets of a rows-in-batches report from its batches,
// in batch order (account, then region); a report that carries its rows is
// left as it is.
func Complete(ctx context.Context, c client.Client, r *workflows.Report) error {
	if r.RowsInBatches && r.Kind == workflows.KindSweep {
		return completeSweep(ctx, c, r)
	}
	if !r.RowsInBatches || len(r.Targets) > 0 {
		return nil
	}
	var rows []workflows.TargetReport
	err := EachBatchRows(ctx, c, r, func(batch []workflows.TargetReport) error {
		rows = append(rows, batch...)
		return nil
	})
	r.Targets = rows
	return err
}

// EachBatchRows calls each with every batch's rows in turn, reading one
// batch at a time (status --json streams them).
func EachBatchRows(ctx context.Context, c client.Client, r *workflows.Report, each func([]workflows.TargetReport) error) error {
	pipelineID := workflows.PipelineWorkflowID(r.RunID)
	for n, b := range r.Batches {
		rows, err := batchRows(ctx, c, pipelineID, n, b)
		if err != nil {
			return fmt.Errorf("run %s, batch %s: %w", r.RunID, b.WorkflowID, err)
		}
		if err := each(rows); err != nil {
			return err
		}
	}
	return nil
}

// batchRows reads batch n's rows.
func batchRows(ctx context.Context, c client.Client, pipelineID string, n int, b workflows.BatchStatus) ([]workflows.TargetReport, error) {
	started := b.Summary != nil || b.Status == workflows.StatusRunning
	if !started {
		// Never started: its targets, from the Pipeline. A Pipeline that
		// ended is asked through a worker; without one, its targets are
		// left out (Summary still counts them).
		v, err := c.QueryWorkflow(ctx, pipelineID, "", workflows.QueryBatchTargets, n)
		if err != nil {
			return nil, nil
		}
		var rows []workflows.TargetReport
		if err := v.Get(&rows); err != nil {
			return nil, err
		}
		return rows, nil
	}
	if b.Status == workflows.StatusRunning {
		if rep, err := queryReport(ctx, c, b.WorkflowID); err == nil {
			return rep.Targets, nil
		}
		// It may have just ended: its result.
	}
	var rows []workflows.TargetReport
	gctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := c.GetWorkflow(gctx, b.WorkflowID, "").Get(gctx, &rows)
	var canceledErr *temporal.CanceledError
	switch {
	case err == nil:
	case errors.As(err, &canceledErr):
		rows = nil
		if canceledErr.HasDetails() {
			_ = canceledErr.Details(&rows)
		}
	default:
		rows = nil
	}
	if len(rows) >= b.Targets {
		return rows, nil
	}
	// Some rows are missing (the batch failed, was terminated or
	// cancelled early): the Pipeline counted them failed or cancelled;
	// its input names them.
	var in workflows.BatchInput
	if ierr := WorkflowInput(ctx, c, b.WorkflowID, &in); ierr != nil {
		return rows, nil
	}
	return fillMissing(rows, in, b, err), nil
}

// fillMissing adds a row for each target of in that rows lack, as the
// Pipeline counted it: cancelled when the batch was, else failed with the
// batch's error.
func fillMissing(rows []workflows.TargetReport, in workflows.BatchInput, b workflows.BatchStatus, err error) []workflows.TargetReport {
	have := map[string]bool{}
	for _, r := range rows {
		have[r.Account+"/"+r.Region] = true
	}
	cause := b.Error
	if cause == "" && err != nil {
		cause = err.Error()
	}
	for _, t := range in.Targets {
		if have[t.ID()] {
			continue
		}
		row := workflows.TargetReport{Account: t.Account, Name: t.Name, Region: t.Region}
		if src, ok := workflows.NearestSource(in.Sources, t.Region); ok {
			row.SourceImageID = src.ImageID
		}
		if b.Status == workflows.StatusCancelled || temporal.IsCanceledError(err) {
			row.Status = workflows.StatusCancelled
		} else {
			row.Status = workflows.StatusFailed
			row.Diagnosis = &activities.Diagnosis{
				Code:  activities.Other,
				Cause: fmt.Sprintf("batch %s ended without a report for account %s, region %s: %s", b.WorkflowID, t.Account, t.Region, cause),
				Fix:   "read the batch's history (temporal workflow show --workflow-id " + b.WorkflowID + "), fix the cause and replay the run's failed targets",
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// RunTargets are the targets (with every setting) of a rows-in-batches
// run's started batches, from their inputs: what a replay takes its
// targets' settings from.
func RunTargets(ctx context.Context, c client.Client, r *workflows.Report) ([]activities.Target, error) {
	var out []activities.Target
	for _, b := range r.Batches {
		if b.Summary == nil && b.Status != workflows.StatusRunning {
			continue
		}
		var in workflows.BatchInput
		if err := WorkflowInput(ctx, c, b.WorkflowID, &in); err != nil {
			return nil, fmt.Errorf("run %s: reading the targets of batch %s: %w", r.RunID, b.WorkflowID, err)
		}
		out = append(out, in.Targets...)
	}
	return out, nil
}

// ErrNoHistory: a workflow id with no history (no such workflow).
var ErrNoHistory = errors.New("no such workflow")

// WorkflowInput decodes the input a workflow (its latest run) started
// with, through the client's data converter.
func WorkflowInput(ctx context.Context, c client.Client, workflowID string, into any) error {
	it := c.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	if !it.HasNext() {
		return fmt.Errorf("workflow %s: %w", workflowID, ErrNoHistory)
	}
	ev, err := it.Next()
	if err != nil {
		return fmt.Errorf("reading workflow %s: %w", workflowID, err)
	}
	attrs := ev.GetWorkflowExecutionStartedEventAttributes()
	if attrs == nil {
		return fmt.Errorf("workflow %s: its history does not start with its input", workflowID)
	}
	if err := temporalconn.DataConverter(c).FromPayloads(attrs.GetInput(), into); err != nil {
		return fmt.Errorf("workflow %s: decoding its input: %w", workflowID, err)
	}
	return nil
}

// completeSweep fills r.Keys of a batched sweep from its SweepBatch
// children, in their order: a child's result once it ended, its
// QueryProgress while it runs; a key a child did not report (it failed, or
// was cancelled early) is a row with the child's error.
func completeSweep(ctx context.Context, c client.Client, r *workflows.Report) error {
	if err := completeRotations(ctx, c, r); err != nil {
		return err
	}
	if len(r.Keys) > 0 {
		return nil
	}
	for _, b := range r.Batches {
		var keys []activities.KeyHealth
		var err error
		switch b.Status {
		case workflows.StatusPending:
			continue
		case workflows.StatusRunning:
			if rep, qerr := queryReport(ctx, c, b.WorkflowID); qerr == nil {
				r.Keys = append(r.Keys, rep.Keys...)
				continue
			}
		}
		gctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = c.GetWorkflow(gctx, b.WorkflowID, "").Get(gctx, &keys)
		cancel()
		var canceledErr *temporal.CanceledError
		if errors.As(err, &canceledErr) && canceledErr.HasDetails() {
			_ = canceledErr.Details(&keys)
		}
		if len(keys) < b.Targets {
			var in workflows.SweepBatchInput
			if ierr := WorkflowInput(ctx, c, b.WorkflowID, &in); ierr == nil {
				cause := b.Error
				if cause == "" && err != nil {
					cause = err.Error()
				}
				for _, t := range in.Targets[min(len(keys), len(in.Targets)):] {
					keys = append(keys, activities.KeyHealth{Account: t.Account, Region: t.Region, Error: &activities.Diagnosis{
						Code:  activities.Other,
						Cause: fmt.Sprintf("sweep batch %s ended without inspecting the key of account %s, region %s: %s", b.WorkflowID, t.Account, t.Region, cause),
						Fix:   "read the batch's history (temporal workflow show --workflow-id " + b.WorkflowID + "), fix the cause and sweep again",
					}})
				}
			}
		}
		r.Keys = append(r.Keys, keys...)
	}
	return nil
}

// completeRotations adds to r.Targets the rows of the rotations a sweep
// started (RotationRuns): each rotation's report, from its result once it
// ended, from its QueryProgress while it runs. A rotation that ended
// without a report is a failed (or cancelled) row per region it had.
func completeRotations(ctx context.Context, c client.Client, r *workflows.Report) error {
	if len(r.RotationRuns) == 0 || r.Summary["total"] <= len(r.Targets) {
		return nil
	}
	for _, run := range r.RotationRuns {
		id := workflows.RotationWorkflowID(run.Account)
		if r.DryRun {
			id = workflows.DryRunRotationWorkflowID(run.Account, r.RunID)
		}
		rows, err := rotationRows(ctx, c, id, run)
		if err != nil {
			return fmt.Errorf("sweep %s, rotation %s: %w", r.RunID, id, err)
		}
		r.Targets = append(r.Targets, rows...)
		// The reports name the rotations started as they always did.
		r.Rotations = append(r.Rotations, id)
	}
	return nil
}

func rotationRows(ctx context.Context, c client.Client, id string, run workflows.RotationRun) ([]workflows.TargetReport, error) {
	if run.Status == workflows.StatusRunning {
		if v, err := c.QueryWorkflow(ctx, id, run.RunID, workflows.QueryProgress); err == nil {
			var rep workflows.Report
			if err := v.Get(&rep); err != nil {
				return nil, err
			}
			return rep.Targets, nil
		}
		// It may have just ended: its result.
	}
	var rep workflows.Report
	gctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := c.GetWorkflow(gctx, id, run.RunID).Get(gctx, &rep)
	var canceledErr *temporal.CanceledError
	switch {
	case err == nil:
		return rep.Targets, nil
	case errors.As(err, &canceledErr) && canceledErr.HasDetails() && canceledErr.Details(&rep) == nil:
		return rep.Targets, nil
	}
	cause := run.Error
	if cause == "" {
		cause = err.Error()
	}
	row := workflows.TargetReport{Account: run.Account, Status: workflows.StatusFailed, Diagnosis: &activities.Diagnosis{
		Code:  activities.Other,
		Cause: fmt.Sprintf("the rotation of account %s (%s, run %s) ended without a report: %s", run.Account, id, run.RunID, cause),
		Fix:   "read the rotation's history (temporal workflow show --workflow-id " + id + " --run-id " + run.RunID + "), fix the cause, and sweep again or run amicrypt rotate",
	}}
	if run.Status == workflows.StatusCancelled || temporal.IsCanceledError(err) {
		row.Status, row.Diagnosis = workflows.StatusCancelled, nil
	}
	rows := make([]workflows.TargetReport, max(run.Regions, 1))
	for i := range rows {
		rows[i] = row
	}
	return rows, nil
}
