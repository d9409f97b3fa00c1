// Package worker wires amicrypt's workflows and activities into a Temporal
// worker: `amicrypt worker` and `amicrypt dev` run what New returns.
package worker

import (
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/temporalconn"
	"github.com/amicrypt/amicrypt/workflows"
)

// Defaults of Options.
const (
	// DefaultMaxConcurrentActivities matches the pipeline's default in-flight
	// targets: waiting for a copy or a boot proof holds an activity slot (it
	// polls with heartbeats), so fewer slots would starve the short steps of
	// other targets behind hours-long waits. A slot is a goroutine mostly asleep.
	DefaultMaxConcurrentActivities = 1000
	// DefaultMaxConcurrentWorkflowTasks bounds workflow tasks (CPU-bound,
	// short) processed at once.
	DefaultMaxConcurrentWorkflowTasks = 200
	// DefaultPollers is the number of pollers of each kind (workflow, activity).
	DefaultPollers = 4
	// DefaultStopTimeout is how long Stop lets running activities finish
	// before cancelling them; their retries resume elsewhere.
	DefaultStopTimeout = 30 * time.Second
	// DeadlockDetectionTimeout is how long workflow code may run without
	// yielding before the SDK fails the task as deadlocked.
	DeadlockDetectionTimeout = 10 * time.Second
)

// Options tune the worker; zero values take the defaults above.
type Options struct {
	// MaxConcurrentActivities caps activity executions running at once.
	MaxConcurrentActivities int
	// MaxConcurrentWorkflowTasks caps workflow tasks processed at once.
	MaxConcurrentWorkflowTasks int
	// Pollers is the number of concurrent pollers for each of workflow and
	// activity tasks.
	Pollers int
	// StopTimeout is how long Stop waits for running activities.
	StopTimeout time.Duration
	// Identity names this worker in Temporal's history and UI; empty: the SDK's
	// default (pid@host).
	Identity string
	// OnFatalError is called if the worker stops on its own (e.g. the namespace
	// was deleted); nil: the error is only returned from Run.
	OnFatalError func(error)
}

// New returns a worker on taskQueue with every amicrypt workflow and the
// activities they call registered (Register; the activities that wait for
// another run or read histories use c). Start it with Run (blocks until interrupted) or Start/Stop.
func New(c client.Client, taskQueue string, acts *activities.Activities, opts Options) sdkworker.Worker {
	w := sdkworker.New(c, taskQueue, sdkworker.Options{
		MaxConcurrentActivityExecutionSize:     orDefault(opts.MaxConcurrentActivities, DefaultMaxConcurrentActivities),
		MaxConcurrentWorkflowTaskExecutionSize: orDefault(opts.MaxConcurrentWorkflowTasks, DefaultMaxConcurrentWorkflowTasks),
		MaxConcurrentActivityTaskPollers:       orDefault(opts.Pollers, DefaultPollers),
		MaxConcurrentWorkflowTaskPollers:       orDefault(opts.Pollers, DefaultPollers),
		WorkerStopTimeout:                      orDefault(opts.StopTimeout, DefaultStopTimeout),
		Identity:                               opts.Identity,
		OnFatalError:                           opts.OnFatalError,
		// A run of tens of thousands of targets sorts, checks and splits
		// them inside one workflow task (a few hundred milliseconds on an
		// idle core, TestNoPayloadOfA50000TargetRunExceeds256KB): the SDK's
		// default of one second would call a busy worker deadlocked.
		DeadlockDetectionTimeout: DeadlockDetectionTimeout,
	})
	Register(w, acts, c)
	return w
}

// Register registers amicrypt's workflows and the activities they call on r
// (a worker, or a test environment): exactly the activities of Activities,
// each once; those that read Temporal use c.
func Register(r sdkworker.Registry, acts *activities.Activities, c client.Client) {
	RegisterWorkflows(r)
	for _, fn := range Activities(acts, &workflows.Attach{Client: c}, &workflows.Housekeeping{Client: c, DataConverter: temporalconn.DataConverter(c)}) {
		r.RegisterActivity(fn)
	}
}

// Activities is the explicit list of the activities amicrypt's workflows
// call, as method values (Temporal names each by its method: "PrepareTarget").
// Nothing else is registered: a method added to activities.Activities is not
// an activity until it is listed here, and TestRegisteredActivitiesAreTheCalledOnes
// fails when this list and the workflows' calls differ.
func Activities(acts *activities.Activities, attach *workflows.Attach, hk *workflows.Housekeeping) []any {
	return []any{
		// Target (workflows/target.go); prepare, copy and finish run as
		// local activities.
		acts.PrepareTarget,
		acts.CopyEncrypted,
		acts.WaitAndVerify,
		acts.ProveBoot,
		acts.FinishTarget,
		acts.DeleteBootProof,
		// Batch (workflows/batch.go).
		acts.VerifyTargets,
		acts.FindPreexistingShares,
		acts.ShareSource,
		acts.UnshareSource,
		// Pipeline (workflows/targetset.go): organization targets; the
		// share window (pipeline.go).
		acts.CountSourceShares,
		acts.ListOrganizationUnits,
		acts.ListOrganizationAccounts,
		acts.DescribeOrganizationAccounts,
		// Rotation (workflows/rotation.go).
		acts.PrepareRotation,
		acts.FindKeyedImages,
		acts.ReencryptImage,
		acts.MarkImage,
		acts.SwitchKey,
		acts.RetireOldKeys,
		// Sweep (workflows/sweep.go).
		acts.InspectKey,
		// Plan (workflows/plan.go): reads only.
		acts.PlanShare,
		acts.PlanTargets,
		// A child of the same id already running (another run of the same
		// source, a replay beside its run): its parent waits for it.
		attach.AwaitTarget,
		attach.AwaitBatch,
		// The Pipeline's and the Sweep's look at what terminated batches
		// left shared (their histories).
		hk.FindStaleShares,
	}
}

// RegisterWorkflows registers the workflows only (replay tests need no
// activities).
func RegisterWorkflows(r sdkworker.WorkflowRegistry) {
	r.RegisterWorkflow(workflows.Pipeline)
	r.RegisterWorkflow(workflows.Batch)
	r.RegisterWorkflow(workflows.Target)
	r.RegisterWorkflow(workflows.Rotation)
	r.RegisterWorkflow(workflows.Sweep)
	r.RegisterWorkflow(workflows.SweepBatch)
	r.RegisterWorkflow(workflows.Plan)
	r.RegisterWorkflow(workflows.PlanRun)
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
