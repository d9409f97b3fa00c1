package workflows

import (
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/amicrypt/amicrypt/activities"
)

// Defaults of PipelineInput's knobs, and the bounds that keep a run inside
// Temporal's limits (2,000 pending children or activities per execution,
// 51,200 history events).
const (
	DefaultInFlight         = 1000
	DefaultPerAccountRegion = 20
	// DefaultBatchAccounts: 25 accounts (100 targets of 4 regions) per
	// Batch. Every child event rewrites its parent's state, pending children
	// included, so smaller batches cost the server less per event: at 1,000
	// targets on 2 cores, batches of 25 started every target within 17–22 s,
	// batches of 100 within 19–29 s (README, "The pipeline at scale").
	DefaultBatchAccounts = 25
	// MaxBatchTargets caps one Batch's targets: a Batch's history is about
	// six events per target (child initiated, started, closed, and the
	// workflow tasks between), so 1,000 targets stay near 6,000 events, its
	// pending children stay under 2,000 whatever the window, and its result
	// (one TargetReport per target) stays well under the 2 MB payload limit.
	MaxBatchTargets = 1000
	// MaxConcurrentBatches caps the Batch children running at once: a Batch
	// shares the sources with all its accounts when it starts, so fewer
	// batches at once keep fewer accounts shared, and the Pipeline's pending
	// children stay far under 2,000.
	MaxConcurrentBatches = 20
	// DefaultBootProofTimeout is how long a boot proof may take when the
	// target does not say.
	DefaultBootProofTimeout = 15 * time.Minute
)

// retry is the retry policy of every activity: throttling and 5xx are
// retried with backoff, diagnosed failures (amicrypt.F1 ... amicrypt.other)
// never are.
func retry(initial, maxInterval time.Duration, attempts int32) *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:        initial,
		BackoffCoefficient:     2,
		MaximumInterval:        maxInterval,
		MaximumAttempts:        attempts,
		NonRetryableErrorTypes: activities.NonRetryableErrorTypes(),
	}
}

// activityOptions are the options of each step's activity. Every activity
// has a StartToClose timeout sized to the AWS calls it makes, a heartbeat
// timeout when it waits, and the retry policy above.
func activityOptions(step string, t activities.Target) workflow.ActivityOptions {
	switch step {
	case StepPrepare:
		// STS (AccessDenied is F7, not retried), IAM get-or-create, KMS
		// describe/create, policy or grant, evaluation.
		return workflow.ActivityOptions{StartToCloseTimeout: 5 * time.Minute, RetryPolicy: retry(2*time.Second, time.Minute, 8)}
	case activities.StepAssume:
		// A batch's targets before the share: STS for each account (16 at
		// once), remembered for their prepare steps; it heartbeats.
		return workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Minute, HeartbeatTimeout: 2 * time.Minute, RetryPolicy: retry(2*time.Second, time.Minute, 8)}
	case StepShare:
		// Builder: ModifyImageAttribute and ModifySnapshotAttribute for up to
		// a batch of accounts (5 per second each); it heartbeats, so a lost
		// worker is noticed in 2 minutes, not 15.
		return workflow.ActivityOptions{StartToCloseTimeout: 15 * time.Minute, HeartbeatTimeout: 2 * time.Minute, RetryPolicy: retry(5*time.Second, 2*time.Minute, 10)}
	case StepCopy:
		// CopyImage is 1 per second per account and region (burst 100):
		// throttling is expected under load and retried patiently; the
		// ClientToken makes a retry never copy twice.
		return workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Minute, RetryPolicy: retry(5*time.Second, 2*time.Minute, 20)}
	case StepWaitAvailable:
		// Copies take minutes to hours: the activity polls with backoff
		// and heartbeats; a lost worker is noticed within the heartbeat
		// timeout and the wait resumes on another. Then the snapshots.
		return workflow.ActivityOptions{
			StartToCloseTimeout:    12 * time.Hour,
			ScheduleToCloseTimeout: 24 * time.Hour,
			HeartbeatTimeout:       2 * time.Minute,
			RetryPolicy:            retry(30*time.Second, 10*time.Minute, 10),
		}
	case StepBootProof:
		// Template and group, the wait for InService (heartbeating), their
		// deletion. It waits for cancellation to finish, so the
		// compensation never races a create.
		timeout := t.BootProof.Timeout
		if timeout <= 0 {
			timeout = DefaultBootProofTimeout
		}
		return workflow.ActivityOptions{
			StartToCloseTimeout: timeout + 15*time.Minute,
			HeartbeatTimeout:    2 * time.Minute,
			WaitForCancellation: true,
			RetryPolicy:         retry(10*time.Second, 2*time.Minute, 5),
		}
	case StepPublish:
		// Tag, publish, retention (deregisters images and deletes
		// snapshots, possibly many).
		return workflow.ActivityOptions{StartToCloseTimeout: 15 * time.Minute, RetryPolicy: retry(5*time.Second, 2*time.Minute, 10)}
	case StepSuccessorKey, StepFindImages, stepInspect:
		// A rotation's keys (STS, IAM, KMS describe/create/tag) or image
		// list (DescribeImages, DescribeSnapshots); a sweep's look at a key.
		return workflow.ActivityOptions{StartToCloseTimeout: 5 * time.Minute, RetryPolicy: retry(2*time.Second, time.Minute, 8)}
	case StepMark:
		return workflow.ActivityOptions{StartToCloseTimeout: 2 * time.Minute, RetryPolicy: retry(2*time.Second, time.Minute, 10)}
	case StepSwitch, StepRetire:
		// Alias, parameters, templates; deregistrations, grants, the list
		// of what still holds a key (every volume and snapshot), the key's
		// deletion. Retried long: the account is usable meanwhile, but a
		// rotation is not finished until they are done.
		return workflow.ActivityOptions{StartToCloseTimeout: 15 * time.Minute, RetryPolicy: retry(5*time.Second, 5*time.Minute, 20)}
	case stepBootDelete:
		// Compensation: retried long, since a group left behind costs money.
		return workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Minute, RetryPolicy: retry(5*time.Second, 5*time.Minute, 30)}
	case stepUnshare:
		// Compensation as much as a step: retried long; it heartbeats, as
		// the share does.
		return workflow.ActivityOptions{StartToCloseTimeout: 15 * time.Minute, HeartbeatTimeout: 2 * time.Minute, RetryPolicy: retry(5*time.Second, 5*time.Minute, 30)}
	case stepResolve:
		// Organizations: a unit's accounts in pages of 1,000 (50 calls),
		// the units below the selectors; heartbeats while it pages.
		return workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Minute, HeartbeatTimeout: 2 * time.Minute, RetryPolicy: retry(2*time.Second, time.Minute, 10)}
	case stepAttach:
		// Waits on another run of the same workflow id, polling its result
		// and heartbeating between polls.
		return workflow.ActivityOptions{
			StartToCloseTimeout: 24 * time.Hour,
			HeartbeatTimeout:    2 * time.Minute,
			RetryPolicy:         retry(10*time.Second, 5*time.Minute, 0),
		}
	}
	panic("workflows: no activity options for step " + step)
}

// localActivityOptions are the options of the steps a Target runs as local
// activities (seconds of AWS calls each): the StartToClose timeouts and
// retry policies their steps had as activities.
func localActivityOptions(step string) workflow.LocalActivityOptions {
	o := activityOptions(step, activities.Target{})
	return workflow.LocalActivityOptions{StartToCloseTimeout: o.StartToCloseTimeout, RetryPolicy: o.RetryPolicy}
}

// Activity steps that are not target steps of their own.
const (
	stepBootDelete = "boot-proof-delete"
	stepUnshare    = "unshare"
	stepAttach     = "attach"
	// stepResolve: a run's organization targets read from Organizations.
	stepResolve = "resolve-targets"
)

// withStep is ctx with the activity options of step.
func withStep(ctx workflow.Context, step string, t activities.Target) workflow.Context {
	return workflow.WithActivityOptions(ctx, activityOptions(step, t))
}

// childOptions are the options of a Target or Batch child. The id is
// deterministic; a closed workflow of the same id may run again (a replay of
// failed targets), a running one is attached to (see attach.go). Cancelling
// the parent cancels the child and waits for its compensation; terminating
// the parent cancels (not terminates) the child, so compensation still runs.
func childOptions(id string) workflow.ChildWorkflowOptions {
	return workflow.ChildWorkflowOptions{
		WorkflowID:            id,
		WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		ParentClosePolicy:     enums.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
		WaitForCancellation:   true,
	}
}
