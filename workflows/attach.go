package workflows

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/amicrypt/amicrypt/internal/heartbeat"
)

// Attach lets a parent wait for a child it could not start because a
// workflow of the same id is already running: two runs of the same source
// image reach the same Target (its id names the image, account and region,
// not the run), and the second waits for the first's result instead of
// copying again.
//
// Temporal gives a workflow no way to await a workflow it did not start, and
// a signal would need the running workflow to know its waiters. So the parent
// runs an activity that waits for the running workflow's result through the
// client (client.GetWorkflow(...).Get long-polls the history for the close
// event), heartbeating on its own clock meanwhile (internal/heartbeat), so a
// lost worker is noticed within the heartbeat timeout however long the other
// run takes. worker.Register registers it next to the AWS activities.
type Attach struct {
	Client client.Client
	// HeartbeatInterval is how often the wait heartbeats (default
	// heartbeat.DefaultInterval).
	HeartbeatInterval time.Duration
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
	ctx, stop := heartbeat.Start(ctx, a.HeartbeatInterval)
	defer stop()
	heartbeat.Progress(ctx, workflowID)
	err := a.Client.GetWorkflow(ctx, workflowID, "").Get(ctx, out)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	}
	var canceled *temporal.CanceledError
	if errors.As(err, &canceled) && canceled.HasDetails() && canceled.Details(out) == nil {
		return nil
	}
	return err
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
