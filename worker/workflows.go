package worker

import (
	"context"
	"errors"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/amicrypt/amicrypt/activities"
)

// TemporalWorkflows answers the activities' question "does this workflow
// run still run?" from Temporal (DescribeWorkflowExecution; the latest run
// of the id when runID is empty): a
// boot proof whose workflow is closed — terminated, so never compensated —
// is removed by the next run or sweep.
func TemporalWorkflows(c client.Client) activities.WorkflowChecker { return temporalWorkflows{c} }

type temporalWorkflows struct{ c client.Client }

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
