// Command chaos runs amicrypt's whole pipeline under AWS faults and killed
// workers, then checks from the AWS sandbox's own state that nothing was
// lost, duplicated or leaked. It is a benchmark, not a test: 'make chaos'
// runs it, 'make test' does not.
//
// The run: N targets (N/4 accounts × 4 regions) against the embedded
// Temporal server and the sandbox, both in this process; -workers real
// 'amicrypt worker' processes on one task queue; the sandbox's faults
// throttle_rate, error_rate and lost_response_rate on every service (the
// token buckets too); and -kills SIGKILLs of a worker, each replaced at once
// by a new process. The kills are aimed, at random moments drawn from -seed,
// at the phases a lost worker hurts differently: the local activities a
// Target runs inside its workflow tasks (PrepareTarget and CopyEncrypted
// when targets start, FinishTarget when they publish), the boot proof
// (ProveBoot) and, with more than three kills, the wait for a copy
// (WaitAndVerify). Which phase each kill hit is read from the run itself:
// the killed worker's own log lines (a Target logs each step it enters) for
// local activities, Temporal's pending activities for the others.
//
// At the end, from the sandbox's state (not from the report), every target
// must hold: exactly one amicrypt image (tagged amicrypt:source-image = the
// source, not deregistered), available and proven, the one the report
// names; its snapshots under the key the account's alias names; no managed
// key enabled without an alias; no boot-proof group, template or instance
// left; nothing of the source still shared; the SSM parameter and launch
// template the config publishes to on the new image. And the report says
// every target succeeded.
//
// Usage (from the module root):
//
//	go run ./bench/chaos                          # 200 targets, copy 60 s, boot 20 s, 3 kills
//	go run ./bench/chaos -copy 15m -seed 42 -json
//
// The worker polls AWS with its production settings (amicrypt worker has no
// flag to change them); -worker-arg passes more flags to every worker.
// Exit status: 0 when every invariant holds and every planned kill was
// made, 1 otherwise, 2 for bad flags.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"

	"github.com/amicrypt/amicrypt/internal/benchkit"
	"github.com/amicrypt/amicrypt/internal/pipelinerun"
	"github.com/amicrypt/amicrypt/workflows"
)

// Where the config publishes every proven image.
const (
	publishParameter = "/amicrypt/chaos/ami"
	publishTemplate  = "amicrypt-chaos-app"
)

type options struct {
	targets          int
	copyTime         time.Duration
	bootTime         time.Duration
	kills            int
	workers          int
	seed             int64
	throttleRate     float64
	errorRate        float64
	lostResponseRate float64
	throttle         bool
	json             bool
	workerBin        string
	workerArgs       stringList
	timeout          time.Duration
	dir              string
	quiet            bool
}

// stringList is a flag that may be given more than once.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// parseFlags reads the command line; the seed defaults to the clock.
func parseFlags(args []string, errOut io.Writer) (options, error) {
	o := options{}
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.IntVar(&o.targets, "targets", 200, "targets: accounts × 4 regions (the last account takes the remainder)")
	fs.DurationVar(&o.copyTime, "copy", 60*time.Second, "simulated CopyImage time (e.g. 15m for AWS-like copies)")
	fs.DurationVar(&o.bootTime, "boot", 20*time.Second, "simulated Auto Scaling launch time")
	fs.IntVar(&o.kills, "kills", 3, "SIGKILLs of a worker during the run, each replaced by a new worker")
	fs.IntVar(&o.workers, "workers", 2, "amicrypt worker processes on the task queue")
	fs.Int64Var(&o.seed, "seed", 0, "seed of the kills' phases, moments and victims (0: from the clock; printed)")
	fs.Float64Var(&o.throttleRate, "throttle-rate", 0.1, "sandbox faults.throttle_rate: calls refused with the service's throttling error")
	fs.Float64Var(&o.errorRate, "error-rate", 0.02, "sandbox faults.error_rate: calls failed with an internal error, nothing applied")
	fs.Float64Var(&o.lostResponseRate, "lost-response-rate", 0.01, "sandbox faults.lost_response_rate: calls applied, then answered with an internal error")
	fs.BoolVar(&o.throttle, "throttle", true, "the sandbox's token buckets (EC2, KMS, STS rate limits) too")
	fs.BoolVar(&o.json, "json", false, "print the figures, kills and violations as JSON")
	fs.StringVar(&o.workerBin, "worker-bin", "", "an amicrypt binary to run as the workers (default: go build ./cmd/amicrypt-worker)")
	fs.Var(&o.workerArgs, "worker-arg", "one more argument for every 'amicrypt worker' (repeat the flag for more)")
	fs.DurationVar(&o.timeout, "timeout", 0, "give up on the run after this long (0: 30m + 4 × (copy + boot))")
	fs.StringVar(&o.dir, "dir", "", "keep the workers' logs, the world and the config here (default: a temporary directory, removed)")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress lines on stderr")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	rate := func(name string, v float64) error {
		if v < 0 || v > 1 {
			return fmt.Errorf("-%s must be between 0 and 1, not %v", name, v)
		}
		return nil
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %v", fs.Args())
	case o.targets < 1:
		return o, errors.New("-targets must be at least 1")
	case o.copyTime < 0 || o.bootTime < 0:
		return o, errors.New("-copy and -boot must not be negative")
	case o.kills < 0:
		return o, errors.New("-kills must not be negative")
	case o.workers < 1:
		return o, errors.New("-workers must be at least 1")
	case o.timeout < 0:
		return o, errors.New("-timeout must not be negative")
	}
	if err := errors.Join(rate("throttle-rate", o.throttleRate), rate("error-rate", o.errorRate), rate("lost-response-rate", o.lostResponseRate)); err != nil {
		return o, err
	}
	if o.seed == 0 {
		o.seed = time.Now().UnixNano()
	}
	if o.timeout == 0 {
		o.timeout = 30*time.Minute + 4*(o.copyTime+o.bootTime)
	}
	return o, nil
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "chaos:", err)
		}
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code, err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
	}
	os.Exit(code)
}

// result is everything the run measured and found; the JSON output.
type result struct {
	Seed     int64  `json:"seed"`
	Targets  int    `json:"targets"`
	Accounts int    `json:"accounts"`
	Copy     string `json:"copy"`
	Boot     string `json:"boot"`
	Workers  int    `json:"workers"`
	// The sandbox's faults on every service, and whether the token buckets
	// were on too.
	ThrottleRate     float64 `json:"throttle_rate"`
	ErrorRate        float64 `json:"error_rate"`
	LostResponseRate float64 `json:"lost_response_rate"`
	TokenBuckets     bool    `json:"token_buckets"`
	// PollSettings says which poll intervals the workers used.
	PollSettings string `json:"poll_settings"`
	RunID        string `json:"run_id"`

	// The figures.
	WallSeconds float64        `json:"wall_seconds"`
	Summary     map[string]int `json:"summary"`
	// AttemptsBeyondFirst: activity attempts beyond each activity's first,
	// from the histories (ActivityTaskStarted's attempt; a local activity's
	// marker), also per activity. A local activity run again because its
	// worker was lost starts again at attempt 1 in the next worker: those
	// are the kills' local_rerun_elsewhere and the workflow-task timeouts.
	AttemptsBeyondFirst int64              `json:"attempts_beyond_first"`
	AttemptsByActivity  map[string]int64   `json:"attempts_beyond_first_by_activity"`
	History             benchkit.Histories `json:"history"`
	AWS                 benchkit.AWSCalls  `json:"aws"`
	Kills               []kill             `json:"kills"`
	// WorkerExits are workers that exited without being killed.
	WorkerExits []string `json:"worker_exits,omitempty"`

	Checked    []string    `json:"invariants_checked"`
	Violations []violation `json:"violations"`
	// Leftovers that are not violations, for the record: duplicate copies
	// deregistered, managed keys scheduled for deletion.
	Notes []string `json:"notes,omitempty"`

	BuildSeconds   float64 `json:"build_seconds"`
	SetupSeconds   float64 `json:"setup_seconds"`
	MeasureSeconds float64 `json:"measure_seconds"`
	Dir            string  `json:"dir,omitempty"`
}

func run(ctx context.Context, o options) (int, error) {
	progress := io.Writer(os.Stderr)
	if o.quiet {
		progress = io.Discard
	}
	fmt.Fprintf(progress, "chaos: seed %d (the same -seed gives the same kill plan; where each kill lands depends on the run)\n", o.seed)
	// The world, the config, the run's input and the worker binary.
	p := benchkit.NewPlan(o.targets)
	prep, err := benchkit.Prepare(ctx, p, benchkit.PrepareOptions{
		Dir: o.dir, Name: "amicrypt-chaos",
		WorldYAML: chaosWorld(p, o), ConfigYAML: chaosConfig(p, o),
		RunID:     fmt.Sprintf("chaos-%d-%d", o.targets, time.Now().Unix()),
		WorkerBin: o.workerBin, Progress: progress,
	})
	if err != nil {
		return 1, err
	}
	defer prep.Close()
	dir, w, in, bin := prep.Dir, prep.World, prep.Input, prep.Bin
	res := result{
		Seed: o.seed, Targets: len(in.Targets), Accounts: len(p.Accounts), Copy: o.copyTime.String(), Boot: o.bootTime.String(),
		Workers: o.workers, ThrottleRate: o.throttleRate, ErrorRate: o.errorRate, LostResponseRate: o.lostResponseRate,
		TokenBuckets: o.throttle, RunID: in.RunID,
		PollSettings: "production (amicrypt worker has no poll flags)",
		BuildSeconds: prep.BuildSeconds,
	}
	if len(o.workerArgs) > 0 {
		res.PollSettings += "; worker args " + o.workerArgs.String()
	}
	if o.dir != "" {
		res.Dir = dir
	}

	// The sandbox, Temporal and the workers.
	setup := time.Now()
	log := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(zerolog.ErrorLevel).With().Timestamp().Logger()
	env, err := benchkit.StartEnv(ctx, w, "amicrypt-chaos", log)
	if err != nil {
		return 1, err
	}
	defer env.Close()
	defer env.Temporal.Quiet()
	steps := newTracker()
	f := &fleet{env: env, bin: bin, dir: dir, extra: o.workerArgs, steps: steps, progress: progress}
	defer f.stopAll()
	for range o.workers {
		if _, err := f.start(ctx); err != nil {
			return 1, err
		}
	}
	res.SetupSeconds = time.Since(setup).Seconds()
	fmt.Fprintf(progress, "%d targets (%d accounts × up to %d regions), copy %s, boot %s; faults: throttle_rate %g, error_rate %g, lost_response_rate %g, token buckets %t; %d workers; Temporal %s, sandbox %s, logs in %s\n",
		len(in.Targets), len(p.Accounts), len(benchkit.Regions), o.copyTime, o.bootTime, o.throttleRate, o.errorRate, o.lostResponseRate, o.throttle,
		o.workers, env.Temporal.FrontendAddress(), env.Endpoint, dir)

	// The run, and the kills beside it.
	rctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	t0 := time.Now()
	steps.start(t0)
	wr, err := env.Client.ExecuteWorkflow(rctx, client.StartWorkflowOptions{ID: workflows.PipelineWorkflowID(in.RunID), TaskQueue: env.TaskQueue}, workflows.Pipeline, in)
	if err != nil {
		return 1, fmt.Errorf("starting the run: %w", err)
	}
	done := make(chan error, 1)
	var report workflows.Report
	go func() { done <- wr.Get(rctx, &report) }()

	k := &killer{fleet: f, steps: steps, client: env.Client, plan: planKills(newRand(o.seed), o.kills, len(in.Targets)), rng: newRand(o.seed + 1),
		workers: o.workers, sources: p.Sources, t0: t0, progress: progress}
	kctx, stopKills := context.WithCancel(rctx)
	killsDone := make(chan struct{})
	go func() {
		defer close(killsDone)
		k.run(kctx)
	}()

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var runErr error
wait:
	for n := 1; ; n++ {
		select {
		case runErr = <-done:
			break wait
		case <-tick.C:
			if err := f.replaceExited(rctx); err != nil {
				runErr = err
				break wait
			}
			if n%15 == 0 {
				printProgress(rctx, progress, env.Endpoint, steps, f, k, time.Since(t0), len(in.Targets))
			}
		}
	}
	wall := time.Since(t0)
	stopKills()
	<-killsDone
	res.WallSeconds = wall.Seconds()
	res.Kills = k.results()
	res.WorkerExits = f.unexpectedExits()
	if runErr != nil {
		fmt.Fprintf(progress, "the run did not end with a report after %s: %v\n", wall.Round(time.Second), runErr)
	} else {
		fmt.Fprintf(progress, "run ended after %s: %v; measuring and checking\n", wall.Round(time.Millisecond), report.Summary)
		// The rows are the batches' (pipelinerun.Complete reads them).
		if err := pipelinerun.Complete(ctx, env.Client, &report); err != nil {
			runErr = fmt.Errorf("reading the report's rows: %w", err)
		}
	}

	// The figures and the invariants.
	measure := time.Now()
	mctx, mcancel := context.WithTimeout(ctx, 10*time.Minute)
	defer mcancel()
	if res.AWS, err = benchkit.ReadCounters(mctx, env.Endpoint); err != nil {
		return 1, err
	}
	if res.History, err = benchkit.ReadHistories(mctx, env.Client, in.RunID, report, in); err != nil {
		fmt.Fprintf(progress, "reading the histories: %v\n", err)
	}
	res.AttemptsBeyondFirst = res.History.Retries
	res.AttemptsByActivity = map[string]int64{}
	for name, s := range res.History.ByActivity {
		if s.Retries > 0 {
			res.AttemptsByActivity[name] = s.Retries
		}
	}
	k.rerunEvidence(res.Kills)
	st, err := settledState(mctx, env.Endpoint)
	if err != nil {
		return 1, err
	}
	chk := check(st, res.AWS.Rows, in, report, runErr)
	res.Checked, res.Violations, res.Notes = chk.checked, chk.violations, chk.notes
	res.Summary = report.Summary
	res.MeasureSeconds = time.Since(measure).Seconds()

	if o.json {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return 1, err
		}
	} else {
		printResult(os.Stdout, res)
	}

	var errs []error
	if runErr != nil {
		errs = append(errs, fmt.Errorf("the run did not end: %w", runErr))
	}
	if n := len(res.Violations); n > 0 {
		errs = append(errs, fmt.Errorf("%d invariant violations", n))
	}
	for _, kl := range res.Kills {
		if kl.Missed != "" {
			errs = append(errs, fmt.Errorf("kill %d (%s) not made: %s", kl.N, kl.Planned, kl.Missed))
		}
	}
	if len(errs) > 0 {
		return 1, errors.Join(errs...)
	}
	return 0, nil
}

// chaosWorld is the sandbox's world: the benchmark organisation with the
// faults on every service.
func chaosWorld(p benchkit.Plan, o options) []byte {
	return p.WorldYAML(benchkit.WorldOptions{
		Title: "amicrypt chaos benchmark", Copy: o.copyTime, Boot: o.bootTime, Throttle: o.throttle,
		ThrottleRate: o.throttleRate, ErrorRate: o.errorRate, LostResponseRate: o.lostResponseRate,
	})
}

// chaosConfig is the run's configuration: every target publishes to an SSM
// parameter and a launch template.
func chaosConfig(p benchkit.Plan, o options) []byte {
	return p.ConfigYAML(benchkit.ConfigOptions{InFlight: workflows.DefaultInFlight, Boot: o.bootTime,
		SSMParameter: publishParameter, LaunchTemplate: publishTemplate})
}

func printProgress(ctx context.Context, out io.Writer, endpoint string, steps *tracker, f *fleet, k *killer, elapsed time.Duration, targets int) {
	line := fmt.Sprintf("  %6s  %s", elapsed.Round(time.Second), steps.summary(targets))
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if calls, err := benchkit.ReadCounters(qctx, endpoint); err == nil {
		line += fmt.Sprintf("  AWS calls %d (throttled %d, errors %d, lost responses %d)", calls.Total, calls.Throttled, calls.InjectedErrors, calls.LostResponses)
	}
	line += fmt.Sprintf("  workers %s  kills %d/%d", strings.Join(f.liveNames(), ","), k.made(), len(k.plan))
	fmt.Fprintln(out, line)
}
