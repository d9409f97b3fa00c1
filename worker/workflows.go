package worker

import (
	"context"
	"errors"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/temporalconn"
	"github.com/amicrypt/amicrypt/workflows"
)

// TemporalWorkflows answers the activities' questions about other
// workflows from Temporal:
//
//   - "does this workflow run still run?" (DescribeWorkflowExecution; the
//     latest run of the id when runID is empty): a boot proof whose
//     workflow is closed — terminated, so never compensated — is removed by
//     the next run or sweep;
//   - "which running batches hold this source's share with these
//     accounts?" (workflows.RunningShares: the running batches from
//     Temporal's visibility, what each shared and revoked from its history):
//     a share another batch still needs is not revoked, and a permission
//     the source had before amicrypt is told from one amicrypt added.
//
// Make one per worker: it remembers which source images and accounts each
// running batch can share (its input), so that asking costs one visibility
// query and the histories of only the batches that can share them.
func TemporalWorkflows(c client.Client) activities.WorkflowChecker {
	return temporalWorkflows{c: c, shares: &workflows.RunningShares{Client: c, DataConverter: temporalconn.DataConverter(c)}}
}

type temporalWorkflows struct {
	c      client.Client
	shares *workflows.RunningShares
}

func (w temporalWorkflows) WorkflowRunning(ctx context.Context, workflowID, runID string) (bool, error) {
	d, err := w.c.DescribeWorkflowExecution(ctx, workflowID, runID)
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return false, nil // gone from Temporal's retention: long closed
	}
	if err != nil {
		return false, err
	}
	return d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, nil
}

func (w temporalWorkflows) BatchShares(ctx context.Context, imageID string, accounts []string, except string, asOf time.Time) ([]activities.BatchShare, error) {
	return w.shares.BatchShares(ctx, imageID, accounts, except, asOf)
}
