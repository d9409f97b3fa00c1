// Package worker wires amicrypt's workflows and activities into a Temporal
// worker: `amicrypt worker` and `amicrypt dev` run what New returns.
package worker

import (
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/amicrypt/amicrypt/activities"
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
// activities registered. Start it with Run (blocks until interrupted) or
// Start/Stop.
func New(c client.Client, taskQueue string, acts *activities.Activities, opts Options) sdkworker.Worker {
	w := sdkworker.New(c, taskQueue, sdkworker.Options{
		MaxConcurrentActivityExecutionSize:     orDefault(opts.MaxConcurrentActivities, DefaultMaxConcurrentActivities),
		MaxConcurrentWorkflowTaskExecutionSize: orDefault(opts.MaxConcurrentWorkflowTasks, DefaultMaxConcurrentWorkflowTasks),
		MaxConcurrentActivityTaskPollers:       orDefault(opts.Pollers, DefaultPollers),
		MaxConcurrentWorkflowTaskPollers:       orDefault(opts.Pollers, DefaultPollers),
		WorkerStopTimeout:                      orDefault(opts.StopTimeout, DefaultStopTimeout),
		Identity:                               opts.Identity,
		OnFatalError:                           opts.OnFatalError,
	})
	Register(w, acts)
	return w
}

// Register registers amicrypt's workflows and, when acts is not nil, its
// activities on r: a worker, a workflow replayer (acts nil) or a test
// environment.
func Register(r sdkworker.Registry, acts *activities.Activities) {
	RegisterWorkflows(r)
	if acts != nil {
		r.RegisterActivity(acts)
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
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
