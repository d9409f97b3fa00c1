// Command pipeline benchmarks amicrypt's whole pipeline against the AWS
// sandbox: N targets (N/4 accounts × 4 regions) with simulated copy and boot
// times and EC2 throttling on, run by one real 'amicrypt worker' process on
// the embedded Temporal server. It prints five figures, each with its goal:
//
//   - wall time ÷ the slowest single target (goal ≤ 1.15): how much the
//     fan-out itself costs, beyond the longest target's own time;
//   - AWS calls per target (goal ≤ 25), from the sandbox's counters;
//   - throttling errors surfaced to workflows (goal 0): activity attempts that
//     failed on a rate limit (RequestLimitExceeded, ThrottlingException, ...)
//     and so reached Temporal, read from the histories;
//   - the worker's peak RSS (goal ≤ 300 MB), VmHWM from /proc;
//   - Temporal history events per target (goal ≤ 60), over every workflow of
//     the run (Pipeline, Batches, Targets).
//
// Usage (from the module root):
//
//	go run ./bench/pipeline -targets 1000 -copy 60s -boot 30s
//	go run ./bench/pipeline -targets 100 -copy 20s -boot 10s -json
//
// It builds ./cmd/amicrypt-worker (amicrypt without the embedded Temporal
// server, the binary deployed as a worker) into a temporary directory first,
// or runs -worker-bin.
// Exit status: 0 when the run ended with every target succeeded (and, with
// -check, every goal met), 1 otherwise, 2 for bad flags.
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
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/benchkit"
	"github.com/amicrypt/amicrypt/internal/operator"
	"github.com/amicrypt/amicrypt/internal/pipelinerun"
	"github.com/amicrypt/amicrypt/internal/temporalconn"
	"github.com/amicrypt/amicrypt/workflows"
)

// Goals.
const (
	goalRatio          = 1.15
	goalCallsPerTarget = 25
	goalThrottling     = 0
	goalRSS            = 300 << 20
	goalEvents         = 60
)

type options struct {
	targets       int
	copyTime      time.Duration
	bootTime      time.Duration
	throttle      bool
	json          bool
	inFlight      int
	batchAccounts int
	workerBin     string
	maxActivities int
	timeout       time.Duration
	dir           string
	check         bool
	quiet         bool
	debugAddr     string
	memLimit      string
	orgUnits      int
	sweep         bool
	workers       int
	killAt        float64
	cpuProfile    string
	cpuProfileFor time.Duration
}

func main() {
	o := options{}
	fs := flag.NewFlagSet("pipeline", flag.ContinueOnError)
	fs.IntVar(&o.targets, "targets", 1000, "targets: accounts × 4 regions (the last account takes the remainder)")
	fs.DurationVar(&o.copyTime, "copy", 60*time.Second, "simulated CopyImage time")
	fs.DurationVar(&o.bootTime, "boot", 30*time.Second, "simulated Auto Scaling launch time")
	fs.BoolVar(&o.throttle, "throttle", true, "AWS request-rate limits (EC2 token buckets, KMS, STS)")
	fs.BoolVar(&o.json, "json", false, "print the figures as JSON")
	fs.IntVar(&o.inFlight, "in-flight", 1000, "the config's concurrency.in_flight")
	fs.IntVar(&o.batchAccounts, "batch-accounts", 0, "accounts per Batch workflow (PipelineInput.BatchAccounts; 0: the pipeline's default)")
	fs.StringVar(&o.workerBin, "worker-bin", "", "an amicrypt binary to run as the worker (default: go build ./cmd/amicrypt-worker)")
	fs.IntVar(&o.maxActivities, "max-concurrent-activities", 0, "the worker's --max-concurrent-activities (0: its default)")
	fs.DurationVar(&o.timeout, "timeout", time.Hour, "give up on the run after this long")
	fs.StringVar(&o.dir, "dir", "", "keep the worker's log, the world and the config here (default: a temporary directory, removed)")
	fs.BoolVar(&o.check, "check", false, "exit 1 when a goal is missed")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress lines on stderr")
	fs.IntVar(&o.orgUnits, "org-units", 0, "targets from an AWS organization of the accounts in this many organizational units, resolved by the run (0: listed one by one in the config); -targets must then be a multiple of 4")
	fs.IntVar(&o.workers, "workers", 1, "worker processes sharing the task queue (the figures of RSS, CPU and open files are the first one's)")
	fs.Float64Var(&o.killAt, "kill-at", 0, "with -workers 2 or more: kill the last worker (SIGKILL) once this fraction of the targets has finished, e.g. 0.5 (0: no kill); the run must still complete with one CopyImage per target")
	fs.BoolVar(&o.sweep, "sweep", false, "after the run, sweep its targets ('amicrypt sweep --wait': every key inspected, none due) and measure the sweep")
	fs.StringVar(&o.memLimit, "worker-gomemlimit", "", "the workers' GOMEMLIMIT (Go's soft memory limit, as deploy/ sets it: e.g. 250MiB; empty: none)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (embedded Temporal and the sandbox) over the run to this file")
	fs.DurationVar(&o.cpuProfileFor, "cpuprofile-for", 0, "with -cpuprofile: stop profiling after this long, e.g. 45s to see the targets' start (0: the whole run)")
	fs.StringVar(&o.debugAddr, "debug-addr", "", "the worker's --debug-addr: its Go profiles (go tool pprof http://ADDR/debug/pprof/heap)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(os.Stderr, "pipeline: unexpected arguments %v\n", fs.Args())
		os.Exit(2)
	case o.targets < 1:
		fmt.Fprintln(os.Stderr, "pipeline: -targets must be at least 1")
		os.Exit(2)
	case o.copyTime < 0 || o.bootTime < 0:
		fmt.Fprintln(os.Stderr, "pipeline: -copy and -boot must not be negative")
		os.Exit(2)
	case o.inFlight < 1:
		fmt.Fprintln(os.Stderr, "pipeline: -in-flight must be at least 1")
		os.Exit(2)
	case o.workers < 1 || o.killAt < 0 || o.killAt >= 1 || o.killAt > 0 && o.workers < 2:
		fmt.Fprintln(os.Stderr, "pipeline: -workers must be at least 1, and -kill-at a fraction in [0, 1) with -workers 2 or more")
		os.Exit(2)
	case o.cpuProfileFor < 0 || o.cpuProfileFor > 0 && o.cpuProfile == "":
		fmt.Fprintln(os.Stderr, "pipeline: -cpuprofile-for needs -cpuprofile FILE and must not be negative")
		os.Exit(2)
	case o.orgUnits < 0 || o.orgUnits > 0 && o.targets%len(benchkit.Regions) != 0:
		fmt.Fprintf(os.Stderr, "pipeline: -org-units must not be negative, and needs -targets a multiple of %d (every account of the organization has every region)\n", len(benchkit.Regions))
		os.Exit(2)
	}
	if o.cpuProfile != "" {
		// The file is closed by the process's exit, after StopCPUProfile
		// (below, or after -cpuprofile-for) has written the profile out.
		f, err := os.Create(o.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "pipeline: -cpuprofile:", err)
			os.Exit(2)
		}
		if o.cpuProfileFor > 0 {
			time.AfterFunc(o.cpuProfileFor, pprof.StopCPUProfile)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code, err := run(ctx, o)
	stop()
	pprof.StopCPUProfile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pipeline:", err)
	}
	os.Exit(code)
}

// result is everything measured; the JSON output.
type result struct {
	Targets int `json:"targets"`
	// Workers sharing the task queue; KilledAt*: when -kill-at killed one
	// (seconds into the run, targets finished then); CopiesPerTarget:
	// ec2:CopyImage calls per target (above 1 when a call was retried with
	// its client token); Copies: the images made from the sources (one per
	// target when nothing was copied twice), CopiedTwice the targets with
	// more than one.
	Workers         int     `json:"workers"`
	KilledAtSeconds float64 `json:"killed_at_seconds,omitempty"`
	KilledAtTargets int64   `json:"killed_at_targets,omitempty"`
	CopiesPerTarget float64 `json:"copy_image_calls_per_target"`
	Copies          int     `json:"copies"`
	CopiedTwice     int     `json:"targets_copied_twice"`
	// Sweep: -sweep's figures.
	Sweep *sweepResult `json:"sweep,omitempty"`
	// OrgUnits > 0: the targets came from an organization of that many OUs.
	OrgUnits int    `json:"org_units,omitempty"`
	Accounts int    `json:"accounts"`
	Copy     string `json:"copy"`
	Boot     string `json:"boot"`
	Throttle bool   `json:"throttle"`
	InFlight int    `json:"in_flight"`
	// BatchAccounts as given (0: the pipeline's default) and the Batch
	// workflows the run had.
	BatchAccounts int    `json:"batch_accounts"`
	Batches       int    `json:"batches"`
	RunID         string `json:"run_id"`

	// The five figures.
	WallSeconds          float64 `json:"wall_seconds"`
	SlowestTargetSeconds float64 `json:"slowest_target_seconds"`
	SlowestTarget        string  `json:"slowest_target"`
	WallOverSlowest      float64 `json:"wall_over_slowest"`
	// Waves: ⌈accounts ÷ AWS's 1,000 shares per source⌉; LowerBoundSeconds:
	// (Waves − 1) copy times plus the slowest target, what the quota
	// allows at best; WallOverBound, the goal's figure.
	Waves              int             `json:"waves"`
	LowerBoundSeconds  float64         `json:"lower_bound_seconds"`
	WallOverBound      float64         `json:"wall_over_bound"`
	CallsPerTarget     float64         `json:"aws_calls_per_target"`
	ThrottlingSurfaced int64           `json:"throttling_errors_surfaced"`
	WorkerPeakRSSBytes int64           `json:"worker_peak_rss_bytes"`
	EventsPerTarget    float64         `json:"history_events_per_target"`
	Goals              map[string]bool `json:"goals_met"`

	Summary map[string]int     `json:"summary"`
	AWS     benchkit.AWSCalls  `json:"aws"`
	History benchkit.Histories `json:"history"`

	// When the first and the last Target workflow started, after the run did.
	FirstTargetStartSeconds float64 `json:"first_target_start_seconds"`
	LastTargetStartSeconds  float64 `json:"last_target_start_seconds"`
	WorkerCPUSeconds        float64 `json:"worker_cpu_seconds"`
	// WorkerPeakOpenFiles: the most file descriptors (mostly sockets) the
	// worker held, sampled every second.
	WorkerPeakOpenFiles int     `json:"worker_peak_open_files"`
	ServerCPUSeconds    float64 `json:"server_cpu_seconds"` // this process: Temporal, the sandbox, the benchmark
	BuildSeconds        float64 `json:"build_seconds"`
	SetupSeconds        float64 `json:"setup_seconds"`
	MeasureSeconds      float64 `json:"measure_seconds"`
}

func run(ctx context.Context, o options) (int, error) {
	progress := io.Writer(os.Stderr)
	if o.quiet {
		progress = io.Discard
	}
	// The world, the config, the input and the worker binary.
	p := benchkit.NewPlan(o.targets)
	prep, err := benchkit.Prepare(ctx, p, benchkit.PrepareOptions{
		Dir: o.dir, Name: "amicrypt-bench",
		WorldYAML:  p.WorldYAML(benchkit.WorldOptions{Title: "amicrypt pipeline benchmark", Copy: o.copyTime, Boot: o.bootTime, Throttle: o.throttle, Units: o.orgUnits}),
		ConfigYAML: p.ConfigYAML(benchkit.ConfigOptions{InFlight: o.inFlight, Boot: o.bootTime, Organization: o.orgUnits > 0}),
		RunID:      fmt.Sprintf("bench-%d-%d", o.targets, time.Now().Unix()),
		WorkerBin:  o.workerBin, Progress: progress,
	})
	if err != nil {
		return 1, err
	}
	defer prep.Close()
	dir, w, in, bin := prep.Dir, prep.World, prep.Input, prep.Bin
	in.BatchAccounts = o.batchAccounts
	if err := in.Validate(); err != nil {
		return 1, err
	}
	targets := in.Targets
	listed := in.Targets // the config's (none from an organization)
	nTargets := len(targets)
	if in.Organization != nil {
		nTargets = o.targets // resolved by the run
	}
	res := result{
		OrgUnits: o.orgUnits,
		Targets:  nTargets, Accounts: len(p.Accounts), Copy: o.copyTime.String(), Boot: o.bootTime.String(),
		Throttle: o.throttle, InFlight: in.InFlight, BatchAccounts: o.batchAccounts, RunID: in.RunID,
		BuildSeconds: prep.BuildSeconds,
	}

	// The sandbox, Temporal, a client and the worker.
	setup := time.Now()
	log := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(zerolog.ErrorLevel).With().Timestamp().Logger()
	const taskQueue = "amicrypt-bench"
	env, err := benchkit.StartEnv(ctx, w, taskQueue, log)
	if err != nil {
		return 1, err
	}
	defer env.Close()
	ts, c, endpoint := env.Temporal, env.Client, env.Endpoint

	var extra []string
	if o.maxActivities > 0 {
		extra = append(extra, "--max-concurrent-activities", fmt.Sprint(o.maxActivities))
	}
	args := append(env.WorkerArgs("amicrypt-bench-worker"), extra...)
	if o.debugAddr != "" {
		args = append(args, "--debug-addr", o.debugAddr)
	}
	var workerEnv []string
	if o.memLimit != "" {
		workerEnv = append(workerEnv, "GOMEMLIMIT="+o.memLimit)
	}
	wk, err := benchkit.StartWorker(ctx, bin, dir, endpoint, args, benchkit.WorkerOptions{Env: workerEnv})
	if err != nil {
		return 1, err
	}
	defer ts.Quiet()
	defer wk.Stop()
	// More workers on the same task queue, the last of which -kill-at kills.
	var victim *benchkit.Worker
	for i := 2; i <= o.workers; i++ {
		more := append(env.WorkerArgs(fmt.Sprintf("amicrypt-bench-worker-%d", i)), extra...)
		other, err := benchkit.StartWorker(ctx, bin, dir, endpoint, more, benchkit.WorkerOptions{LogName: fmt.Sprintf("worker-%d.log", i), Env: workerEnv})
		if err != nil {
			return 1, err
		}
		defer other.Stop()
		victim = other
	}
	res.Workers = o.workers
	res.SetupSeconds = time.Since(setup).Seconds()
	fmt.Fprintf(progress, "%d targets (%d accounts × up to %d regions), copy %s, boot %s, throttling %t; Temporal %s, sandbox %s, worker pid %d (log %s)\n",
		nTargets, len(p.Accounts), len(benchkit.Regions), o.copyTime, o.bootTime, o.throttle, ts.FrontendAddress(), endpoint, wk.Cmd.Process.Pid, wk.LogPath)

	// The run, started as the CLI starts one: with an operator, so its
	// activities assume each role once per step class for the whole run
	// (sessions amicrypt-run-<run>-<step>), not once per target.
	rctx, cancel := context.WithTimeout(operator.With(ctx, operator.Attribution{Operator: "amicrypt-bench"}), o.timeout)
	defer cancel()
	t0 := time.Now()
	// Its targets in parts, as the CLI sends them.
	wr, _, err := pipelinerun.Start(rctx, c, taskQueue, in, pipelinerun.StartOptions{})
	if err != nil {
		return 1, fmt.Errorf("starting the run: %w", err)
	}
	done := make(chan error, 1)
	var report workflows.Report
	go func() { done <- wr.Get(rctx, &report) }()
	var peakSeen int64
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var runErr error
wait:
	for n := 1; ; n++ {
		select {
		case runErr = <-done:
			break wait
		case <-wk.Done:
			runErr = fmt.Errorf("the worker exited during the run (%v); its log: %s", wk.Cmd.ProcessState, wk.LogPath)
			break wait
		case <-tick.C:
			if _, peak, ok := benchkit.Memory(wk.Cmd.Process.Pid); ok {
				peakSeen = max(peakSeen, peak)
			}
			if fds, ok := benchkit.OpenFiles(wk.Cmd.Process.Pid); ok {
				res.WorkerPeakOpenFiles = max(res.WorkerPeakOpenFiles, fds)
			}
			if n%15 == 0 {
				printProgress(rctx, progress, c, endpoint, wk, time.Since(t0), nTargets)
			}
			if o.killAt > 0 && res.KilledAtSeconds == 0 && n%5 == 0 {
				if finished := targetsFinished(rctx, c); finished >= int64(o.killAt*float64(nTargets)) {
					_ = victim.Cmd.Process.Kill()
					res.KilledAtSeconds, res.KilledAtTargets = time.Since(t0).Seconds(), finished
					fmt.Fprintf(progress, "  killed worker pid %d (SIGKILL) with %d of %d targets finished\n", victim.Cmd.Process.Pid, finished, nTargets)
				}
			}
		}
	}
	wall := time.Since(t0)
	if _, peak, ok := benchkit.Memory(wk.Cmd.Process.Pid); ok {
		peakSeen = max(peakSeen, peak)
	}
	if cpu, ok := benchkit.CPUTime(wk.Cmd.Process.Pid); ok {
		res.WorkerCPUSeconds = cpu.Seconds()
	}
	res.ServerCPUSeconds = benchkit.SelfCPU().Seconds()
	if runErr != nil {
		printProgress(ctx, progress, c, endpoint, wk, wall, nTargets)
		return 1, fmt.Errorf("the run did not end with a report after %s: %w", wall.Round(time.Second), runErr)
	}
	fmt.Fprintf(progress, "run ended after %s: %v; measuring\n", wall.Round(time.Millisecond), report.Summary)

	// The rows are the batches' (and, from an organization, so are the
	// targets).
	if err := pipelinerun.Complete(ctx, c, &report); err != nil {
		return 1, fmt.Errorf("reading the report's rows: %w", err)
	}
	if in.Organization != nil {
		if in.Targets, err = pipelinerun.RunTargets(ctx, c, &report); err != nil {
			return 1, err
		}
	}

	// The figures.
	measure := time.Now()
	mctx, mcancel := context.WithTimeout(ctx, 10*time.Minute)
	defer mcancel()
	res.AWS, err = benchkit.ReadCounters(mctx, endpoint)
	if err != nil {
		return 1, err
	}
	res.History, err = benchkit.ReadHistories(mctx, c, in.RunID, report, in)
	if err != nil {
		return 1, err
	}
	res.MeasureSeconds = time.Since(measure).Seconds()
	if o.sweep {
		if res.Sweep, err = measureSweep(ctx, progress, c, taskQueue, endpoint, wk, listed, in.Organization, o.timeout); err != nil {
			return 1, err
		}
	}
	slowest, who := slowestTarget(report)
	first, last := targetSpread(report, t0)
	n := float64(nTargets)
	res.WallSeconds = wall.Seconds()
	res.SlowestTargetSeconds, res.SlowestTarget = slowest.Seconds(), who
	if slowest > 0 {
		res.WallOverSlowest = wall.Seconds() / slowest.Seconds()
	}
	// AWS's sharing quota: a source serves at most MaxSourceShares accounts
	// at once, and an account needs the share until its copies are done, so
	// each further wave of accounts costs at least one more copy time.
	res.Waves = (len(p.Accounts) + activities.MaxSourceShares - 1) / activities.MaxSourceShares
	res.LowerBoundSeconds = float64(res.Waves-1)*o.copyTime.Seconds() + slowest.Seconds()
	if res.LowerBoundSeconds > 0 {
		res.WallOverBound = wall.Seconds() / res.LowerBoundSeconds
	}
	res.CallsPerTarget = float64(res.AWS.Total) / n
	res.CopiesPerTarget = float64(res.AWS.ByAction["ec2:CopyImage"]) / n
	copies, cerr := copiesMade(ctx, endpoint, in.Sources)
	if cerr != nil {
		return 1, cerr
	}
	for _, k := range copies {
		res.Copies += k
		if k > 1 {
			res.CopiedTwice++
		}
	}
	res.ThrottlingSurfaced = res.History.ThrottlingRetries + res.History.ThrottlingFailures
	res.WorkerPeakRSSBytes = peakSeen
	res.EventsPerTarget = float64(res.History.Events) / n
	res.Summary = report.Summary
	res.Batches = len(report.Batches)
	res.FirstTargetStartSeconds, res.LastTargetStartSeconds = first.Seconds(), last.Seconds()
	res.Goals = map[string]bool{
		"wall_over_bound":            res.WallOverBound > 0 && res.WallOverBound <= goalRatio,
		"aws_calls_per_target":       res.CallsPerTarget <= goalCallsPerTarget,
		"throttling_errors_surfaced": res.ThrottlingSurfaced <= goalThrottling,
		"worker_peak_rss":            res.WorkerPeakRSSBytes > 0 && res.WorkerPeakRSSBytes <= goalRSS,
		"history_events_per_target":  res.EventsPerTarget <= goalEvents,
		"largest_history_event":      res.History.MaxEventBytes <= benchkit.MaxPayloadBytes,
	}

	if o.json {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return 1, err
		}
	} else {
		printResult(os.Stdout, res)
		if res.Sweep != nil {
			printSweep(os.Stdout, res.Sweep)
		}
	}

	code := 0
	if report.Summary[workflows.StatusSucceeded] != nTargets {
		code = 1
		err = fmt.Errorf("%d of %d targets did not succeed: %v", nTargets-report.Summary[workflows.StatusSucceeded], nTargets, report.Summary)
	}
	if res.Copies != nTargets || res.CopiedTwice > 0 {
		code = 1
		err = errors.Join(err, fmt.Errorf("%d images copied from the sources for %d targets, %d targets copied more than once: want one copy each", res.Copies, nTargets, res.CopiedTwice))
	}
	if o.check {
		for goal, ok := range res.Goals {
			if !ok {
				code = 1
				err = errors.Join(err, fmt.Errorf("goal missed: %s", goal))
			}
		}
	}
	return code, err
}

// targetsFinished counts the Target workflows that have ended (-1 when
// the count cannot be read).
func targetsFinished(ctx context.Context, c client.Client) int64 {
	resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
		Namespace: temporalconn.DefaultNamespace,
		Query:     "WorkflowType = 'Target' AND ExecutionStatus != 'Running'",
	})
	if err != nil {
		return -1
	}
	return resp.GetCount()
}

func printProgress(ctx context.Context, out io.Writer, c client.Client, endpoint string, wk *benchkit.Worker, elapsed time.Duration, targets int) {
	line := fmt.Sprintf("  %6s", elapsed.Round(time.Second))
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if n := targetsFinished(qctx, c); n >= 0 {
		line += fmt.Sprintf("  targets done %d/%d", n, targets)
	}
	if calls, err := benchkit.ReadCounters(qctx, endpoint); err == nil {
		line += fmt.Sprintf("  AWS calls %d (throttled %d)", calls.Total, calls.Throttled)
	}
	if rss, peak, ok := benchkit.Memory(wk.Cmd.Process.Pid); ok {
		line += fmt.Sprintf("  worker RSS %d MB (peak %d MB)", rss>>20, peak>>20)
	}
	if cpu, ok := benchkit.CPUTime(wk.Cmd.Process.Pid); ok {
		line += fmt.Sprintf("  worker CPU %s", cpu.Round(time.Second))
	}
	if n, ok := benchkit.OpenFiles(wk.Cmd.Process.Pid); ok {
		line += fmt.Sprintf("  worker open files %d", n)
	}
	fmt.Fprintln(out, line)
}

// printLargestEvent prints the largest history event's line: it bounds
// the largest payload (Temporal warns above 256 KB).
func printLargestEvent(out io.Writer, h benchkit.Histories, mark string) {
	fmt.Fprintf(out, "  %-42s %10.1f   %-10s %s  (%s of %s, as stored: compressed)\n", "largest history event (KB)", float64(h.MaxEventBytes)/1024, "≤ 256", mark, h.MaxEventType, h.MaxEventWorkflow)
}

func printResult(out io.Writer, r result) {
	mark := func(goal string) string {
		if r.Goals[goal] {
			return "met"
		}
		return "MISSED"
	}
	fmt.Fprintf(out, "amicrypt pipeline benchmark: %d targets (%d accounts × %d regions), copy %s, boot %s, throttling %t, in_flight %d, %d Batch workflows\n\n",
		r.Targets, r.Accounts, len(benchkit.Regions), r.Copy, r.Boot, r.Throttle, r.InFlight, r.Batches)
	fmt.Fprintf(out, "  %-42s %10s   %-10s %s\n", "figure", "measured", "goal", "")
	fmt.Fprintf(out, "  %-42s %10.3f   %-10s %s  (wall %.1f s; bound %.1f s = %d − 1 extra copy times + the slowest target %.1f s: %s; wall ÷ slowest %.3f)\n", "wall time ÷ lower bound (sharing quota)", r.WallOverBound, "≤ 1.15", mark("wall_over_bound"), r.WallSeconds, r.LowerBoundSeconds, r.Waves, r.SlowestTargetSeconds, r.SlowestTarget, r.WallOverSlowest)
	fmt.Fprintf(out, "  %-42s %10.1f   %-10s %s  (%d calls, %d throttled by the sandbox, %d in the builder account)\n", "AWS calls per target", r.CallsPerTarget, "≤ 25", mark("aws_calls_per_target"), r.AWS.Total, r.AWS.Throttled, r.AWS.Builder)
	fmt.Fprintf(out, "  %-42s %10d   %-10s %s  (%d retried attempts, %d failed activities)\n", "throttling errors surfaced to workflows", r.ThrottlingSurfaced, "0", mark("throttling_errors_surfaced"), r.History.ThrottlingRetries, r.History.ThrottlingFailures)
	fmt.Fprintf(out, "  %-42s %10.1f   %-10s %s  (VmHWM; MB = 2^20 bytes)\n", "worker peak RSS (MB)", float64(r.WorkerPeakRSSBytes)/(1<<20), "≤ 300", mark("worker_peak_rss"))
	fmt.Fprintf(out, "  %-42s %10.1f   %-10s %s  (%d events in %d workflows)\n", "Temporal history events per target", r.EventsPerTarget, "≤ 60", mark("history_events_per_target"), r.History.Events, r.History.Workflows)
	printLargestEvent(out, r.History, mark("largest_history_event"))

	fmt.Fprintf(out, "\nreport: %v; %d images copied for %d targets (%d targets copied more than once), %.2f ec2:CopyImage calls per target (a call retried with its client token makes no image)\n",
		r.Summary, r.Copies, r.Targets, r.CopiedTwice, r.CopiesPerTarget)
	if r.Workers > 1 {
		fmt.Fprintf(out, "%d workers", r.Workers)
		if r.KilledAtSeconds > 0 {
			fmt.Fprintf(out, "; the last killed (SIGKILL) %.1f s into the run, with %d targets finished", r.KilledAtSeconds, r.KilledAtTargets)
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintf(out, "targets started between %.1f s and %.1f s after the run started\n", r.FirstTargetStartSeconds, r.LastTargetStartSeconds)
	fmt.Fprintf(out, "CPU: worker %.1f s, Temporal + sandbox + benchmark %.1f s (over %.1f s of wall time); worker open files at most %d\n", r.WorkerCPUSeconds, r.ServerCPUSeconds, r.WallSeconds, r.WorkerPeakOpenFiles)
	fmt.Fprintf(out, "time: build %.1f s, setup %.1f s, run %.1f s, measuring %.1f s\n", r.BuildSeconds, r.SetupSeconds, r.WallSeconds, r.MeasureSeconds)

	n := float64(r.Targets)
	fmt.Fprintf(out, "\nAWS calls per target, by action:\n")
	for _, a := range benchkit.TopActions(r.AWS.ByAction, 30) {
		th := ""
		if t := r.AWS.ThrottledByAction[a]; t > 0 {
			th = fmt.Sprintf("  (%d throttled)", t)
		}
		fmt.Fprintf(out, "  %-40s %7.2f%s\n", a, float64(r.AWS.ByAction[a])/n, th)
	}
	h := r.History
	fmt.Fprintf(out, "\nhistory events: targets %d (%.1f each, at most %d), batches %d, pipeline %d\n",
		h.TargetEvents, float64(h.TargetEvents)/n, h.MaxTargetEvent, h.BatchEvents, h.PipelineEvents)
	fmt.Fprintf(out, "activities: %d scheduled (%.1f per target), %d retried attempts, %d failed, %d timed out\n",
		h.Activities, float64(h.Activities)/n, h.Retries, h.Failures, h.TimedOut)
	byCount := map[string]int64{}
	for name, s := range h.ByActivity {
		byCount[name] = s.Scheduled
	}
	fmt.Fprintf(out, "  %-28s %7s %12s %12s %10s\n", "activity", "count", "queue avg s", "run avg s", "run max s")
	for _, name := range benchkit.TopActions(byCount, 30) {
		s := h.ByActivity[name]
		extra := ""
		if s.Retries > 0 {
			extra = fmt.Sprintf("  retried %d (on throttling %d)", s.Retries, s.Throttled)
		}
		c := float64(max(s.Scheduled, 1))
		fmt.Fprintf(out, "  %-28s %7d %12.2f %12.2f %10.1f%s\n", name, s.Scheduled, s.QueueSeconds/c, s.RunSeconds/c, s.MaxRunSeconds, extra)
	}
	fmt.Fprintf(out, "per target: workflow tasks %.1f s (scheduled → completed, summed; %.1f s of it scheduled → started)\n",
		h.TargetWorkflowTaskSeconds/n, h.TargetWorkflowTaskQueueSeconds/n)
	if h.Children > 0 {
		fmt.Fprintf(out, "child workflows: %d started, %.2f s on average from request to start (at most %.1f s)\n",
			h.Children, h.ChildStartSeconds/float64(h.Children), h.MaxChildStartSeconds)
	}
	if len(h.Examples) > 0 {
		fmt.Fprintf(out, "throttling that reached workflows, e.g.:\n  %s\n", strings.Join(h.Examples, "\n  "))
	}
}
