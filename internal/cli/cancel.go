package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/amicrypt/amicrypt/internal/pipelinerun"
	"github.com/amicrypt/amicrypt/internal/temporalconn"
)

type cancelFlags struct {
	wait time.Duration
	json bool
	conn temporalconn.Options
}

// newCancelCmd is 'amicrypt cancel': a run, rotation or sweep asked to stop,
// its compensation run, its report printed.
func newCancelCmd(g *globalFlags) *cobra.Command {
	f := &cancelFlags{}
	cmd := &cobra.Command{
		Use:   "cancel RUN|WORKFLOW-ID",
		Short: "Stop a run, a rotation or a sweep: its compensation revokes shares and deletes boot proofs, then its report is printed",
		Long: `Ask a run (by the run id 'amicrypt run' printed), a rotation
(amicrypt-rotate-ACCOUNT) or a sweep (amicrypt-sweep-...) to stop, and wait for
the report it ends with. Cancelling is not abandoning: the workflow's
compensation runs first — boot-proof Auto Scaling groups and launch templates
are deleted and the source image's shares revoked (a share another running
batch still needs is kept) — and copies already made stay, as a later run would
find them. Targets that had not finished are reported as cancelled.

Exit status 0 when the report came (the run has stopped, or had already ended),
1 when it did not come within --wait (the run is stopping; 'amicrypt status'
shows it), 2 for a run that does not exist.`,
		Example: `  amicrypt cancel 3f2a9c1b7d4e
  amicrypt cancel amicrypt-rotate-222222222222 --json`,
		Args: exactlyOneArg("RUN", "the run id 'amicrypt run' printed, or a rotation's or sweep's workflow id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.wait <= 0 {
				return usageError("--wait must be positive (it is %s): how long to wait for the cancelled run's report; nothing was cancelled", f.wait)
			}
			return withTemporal(cmd, g, f.conn, func(ctx context.Context, c client.Client) error {
				id := statusWorkflowID(args[0])
				desc, err := c.DescribeWorkflowExecution(ctx, id, "")
				var nf *serviceerror.NotFound
				if errors.As(err, &nf) {
					return usageError("no run %s (workflow %s) in this namespace: nothing was cancelled", args[0], id)
				}
				if err != nil {
					return fmt.Errorf("looking up run %s: %w", args[0], err)
				}
				out := cmd.OutOrStdout()
				if st := desc.WorkflowExecutionInfo.GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
					fmt.Fprintf(cmd.ErrOrStderr(), "run %s has already ended (%s): nothing to cancel\n", args[0], statusWord(st))
					report, _, err := runReport(ctx, c, args[0])
					if err != nil {
						return nil // ended without a report (terminated, say): said above
					}
					return printReport(out, report, f.json)
				}
				if !f.json {
					fmt.Fprintf(cmd.ErrOrStderr(), "cancelling run %s: its compensation revokes the source's shares and deletes boot proofs; waiting up to %s for its report\n", args[0], f.wait)
				}
				report, err := pipelinerun.Cancel(ctx, c, c.GetWorkflow(ctx, id, ""), f.wait)
				if err != nil {
					return err
				}
				return printReport(out, report, f.json)
			})
		},
	}
	cmd.Flags().DurationVar(&f.wait, "wait", 5*time.Minute, "how long to wait for the cancelled run's report (its compensation runs first)")
	cmd.Flags().BoolVar(&f.json, "json", false, "print the report as JSON")
	f.conn.BindFlags(cmd.Flags())
	return cmd
}

// statusWord is a workflow status as a word: completed, failed, canceled, ...
func statusWord(st enumspb.WorkflowExecutionStatus) string {
	switch st {
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return "completed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		return "failed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return "cancelled"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return "terminated"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return "timed out"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return "continued as new"
	}
	return st.String()
}
