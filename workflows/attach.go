package workflows

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// Attach lets a parent wait for a child it could not start because a
// workflow of the same id is already running: two runs of the same source
// image reach the same Target (its id names the image, account and region,
// not the run), and the second waits for the first's result instead of
// copying again.
//
// Temporal gives a workflow no way to await a workflow it did not start, and
// a signal would need the running workflow to know its waiters. So the parent
// runs an activity that polls the running workflow's result through the
// client (client.GetWorkflow(...).Get long-polls the history for the close
// event) and heartbeats between polls. The worker registers it next to the
// AWS activities: w.RegisterActivity(&workflows.Attach{Client: c}).
type Attach struct {
	Client client.Client
	// Poll is how long one long-poll lasts before a heartbeat (default 30s).
	Poll time.Duration
}

// AwaitTarget waits for the running Target workflow with this id and returns
// its report (also when that run was cancelled: its report rides on the
// cancellation).
func (a *Attach) AwaitTarget(ctx context.Context, workflowID string) (TargetReport, error) {
	var r TargetReport
	err := a.await(ctx, workflowID, &r)
	return r, err
}

// AwaitBatch waits for the running Batch workflow with this id and returns
// its reports.
func (a *Attach) AwaitBatch(ctx context.Context, workflowID string) ([]TargetReport, error) {
	var r []TargetReport
	err := a.await(ctx, workflowID, &r)
	return r, err
}

func (a *Attach) await(ctx context.Context, workflowID string, out any) error {
	poll := a.Poll
	if poll <= 0 {
		poll = 30 * time.Second
	}
	for {
		pollCtx, cancel := context.WithTimeout(ctx, poll)
		err := a.Client.GetWorkflow(pollCtx, workflowID, "").Get(pollCtx, out)
		timedOut := pollCtx.Err() != nil
		cancel()
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case timedOut:
			activity.RecordHeartbeat(ctx, workflowID)
			continue
		}
		var canceled *temporal.CanceledError
		if errors.As(err, &canceled) && canceled.HasDetails() && canceled.Details(out) == nil {
			return nil
		}
		return err
	}
}

// alreadyStarted reports whether a child failed to start because a workflow
// of its id is running: the server says so with
// ChildWorkflowExecutionAlreadyStartedError, the test environment with the
// service error.
func alreadyStarted(err error) bool {
	var child *temporal.ChildWorkflowExecutionAlreadyStartedError
	var service *serviceerror.WorkflowExecutionAlreadyStarted
	return errors.As(err, &child) || errors.As(err, &service)
}
