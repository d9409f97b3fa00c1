// Command plan benchmarks 'amicrypt plan' against the AWS sandbox: N
// targets (N/4 accounts × 4 regions) with EC2 throttling on, planned by one
// real 'amicrypt worker' process on the embedded Temporal server through
// pipelinerun.Plan, as 'amicrypt plan' plans them. It prints the figures
// issue 12 sets goals for, each with its goal:
//
//   - the plan's wall time (goal ≤ 10 s), from starting its Plan workflows
//     to the merged report;
//   - AWS calls per target during the plan (goal ≤ 12), from the sandbox's
//     counters, builder account included; -v breaks them down per action
//     (the JSON always does);
//   - mutating AWS calls during the plan (goal 0): the plan makes reads only
//     (sts:AssumeRole counts as one, see sandbox.Writes);
//   - throttling errors surfaced to workflows (goal 0, as in bench/pipeline):
//     activity attempts that failed on a rate limit and so reached
//     Temporal, read from the Plan workflows' histories;
//   - the worker's peak RSS (goal ≤ 300 MB, as in bench/pipeline), VmHWM;
//   - the plan's outcomes (goal: none will-fail; the generated world is
//     healthy, so every target is ok or will-change).
//
// Usage (from the module root):
//
//	go run ./bench/plan                       # 1,000 targets
//	go run ./bench/plan -targets 100 -v -json
//
// It builds ./cmd/amicrypt-worker into a temporary directory first, or runs
// -worker-bin. Exit status: 0 when every target was planned and none is
// predicted to fail (and, with -check, every goal met), 1 otherwise, 2 for
// bad flags.
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
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/benchkit"
	"github.com/amicrypt/amicrypt/internal/pipelinerun"
	"github.com/amicrypt/amicrypt/internal/sandbox"
	"github.com/amicrypt/amicrypt/internal/temporalconn"
	"github.com/amicrypt/amicrypt/workflows"
)

// Goals: issue 12's for the plan, bench/pipeline's for throttling and RSS.
const (
	goalWall           = 10 * time.Second
	goalCallsPerTarget = 12
	goalWrites         = 0
	goalThrottling     = 0
	goalRSS            = 300 << 20
)

type options struct {
	targets       int
	throttle      bool
	json          bool
	check         bool
	verbose       bool
	workerBin     string
	maxActivities int
	timeout       time.Duration
	dir           string
	quiet         bool
	orgUnits      int
	debugAddr     string
}

// parseFlags reads the command line.
func parseFlags(args []string, errOut io.Writer) (options, error) {
	o := options{}
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.IntVar(&o.targets, "targets", 1000, "targets: accounts × 4 regions (the last account takes the remainder)")
	fs.BoolVar(&o.throttle, "throttle", true, "AWS request-rate limits (EC2 token buckets, KMS, STS)")
	fs.BoolVar(&o.json, "json", false, "print the figures as JSON (with the calls per action)")
	fs.BoolVar(&o.check, "check", false, "exit 1 when a goal is missed")
	fs.BoolVar(&o.verbose, "v", false, "print the AWS calls per target by action, and by activity")
	fs.StringVar(&o.workerBin, "worker-bin", "", "an amicrypt binary to run as the worker (default: go build ./cmd/amicrypt-worker)")
	fs.IntVar(&o.maxActivities, "max-concurrent-activities", 0, "the worker's --max-concurrent-activities (0: its default)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up on the plan after this long")
	fs.StringVar(&o.dir, "dir", "", "keep the worker's log, the world and the config here (default: a temporary directory, removed)")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress lines on stderr")
	fs.StringVar(&o.debugAddr, "debug-addr", "", "the worker's --debug-addr: its Go profiles (go tool pprof http://ADDR/debug/pprof/heap)")
	fs.IntVar(&o.orgUnits, "org-units", 0, "targets from an AWS organization of the accounts in this many organizational units, resolved by the plan (0: listed one by one in the config); -targets must then be a multiple of 4")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %v", fs.Args())
	case o.targets < 1:
		return o, errors.New("-targets must be at least 1")
	case o.maxActivities < 0:
		return o, errors.New("-max-concurrent-activities must not be negative")
	case o.timeout <= 0:
		return o, errors.New("-timeout must be positive")
	case o.orgUnits < 0 || o.orgUnits > 0 && o.targets%len(benchkit.Regions) != 0:
		return o, fmt.Errorf("-org-units must not be negative, and needs -targets a multiple of %d (every account of the organization has every region)", len(benchkit.Regions))
	}
	return o, nil
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "plan:", err)
		}
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code, err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "plan:", err)
	}
	os.Exit(code)
}

// result is everything measured; the JSON output.
type result struct {
	Targets       int    `json:"targets"`
	Accounts      int    `json:"accounts"`
	Throttle      bool   `json:"throttle"`
	RunID         string `json:"run_id"`
	PlanWorkflows int    `json:"plan_workflows"`
	// OrgUnits > 0: the targets came from an organization of that many OUs.
	OrgUnits int `json:"org_units,omitempty"`

	// The figures.
	WallSeconds        float64 `json:"wall_seconds"`
	CallsPerTarget     float64 `json:"aws_calls_per_target"`
	Writes             int64   `json:"mutating_calls"`
	ThrottlingSurfaced int64   `json:"throttling_errors_surfaced"`
	WorkerPeakRSSBytes int64   `json:"worker_peak_rss_bytes"`
	// Outcomes: ok, will-change, will-fail.
	Outcomes map[string]int  `json:"outcomes"`
	Goals    map[string]bool `json:"goals_met"`

	// WriteCalls lists the mutating calls, "account/region action ×n".
	WriteCalls []string `json:"mutating_calls_list,omitempty"`
	// PredictedFailures: "account/region code" of the targets predicted to
	// fail (at most 10), and the first one's diagnosis.
	PredictedFailures []string `json:"predicted_failures,omitempty"`
	FirstFailure      string   `json:"first_failure,omitempty"`
	// Warnings: how many the plan noted, over every target.
	Warnings int `json:"warnings"`
	// AWS: the calls made during the plan (by_action: per action, all
	// targets); Histories: the Plan workflows'.
	AWS     benchkit.AWSCalls  `json:"aws"`
	History benchkit.Histories `json:"history"`

	WorkerCPUSeconds float64 `json:"worker_cpu_seconds"` // during the plan
	ServerCPUSeconds float64 `json:"server_cpu_seconds"` // this process (Temporal, the sandbox, the benchmark), during the plan
	BuildSeconds     float64 `json:"build_seconds"`
	SetupSeconds     float64 `json:"setup_seconds"`
	MeasureSeconds   float64 `json:"measure_seconds"`
}

func run(ctx context.Context, o options) (int, error) {
	progress := io.Writer(os.Stderr)
	if o.quiet {
		progress = io.Discard
	}
	// The world and the config: bench/pipeline's (copy and boot times play
	// no part in a plan).
	p := benchkit.NewPlan(o.targets)
	prep, err := benchkit.Prepare(ctx, p, benchkit.PrepareOptions{
		Dir: o.dir, Name: "amicrypt-bench-plan",
		WorldYAML:  p.WorldYAML(benchkit.WorldOptions{Title: "amicrypt plan benchmark", Copy: time.Minute, Boot: 30 * time.Second, Throttle: o.throttle, Units: o.orgUnits}),
		ConfigYAML: p.ConfigYAML(benchkit.ConfigOptions{InFlight: workflows.DefaultInFlight, Boot: 30 * time.Second, Organization: o.orgUnits > 0}),
		RunID:      fmt.Sprintf("bench-plan-%d-%d", o.targets, time.Now().Unix()),
		WorkerBin:  o.workerBin, Progress: progress,
	})
	if err != nil {
		return 1, err
	}
	defer prep.Close()
	dir, w, in, bin := prep.Dir, prep.World, prep.Input, prep.Bin
	nTargets := len(in.Targets)
	if in.Organization != nil {
		nTargets = o.targets // resolved by the plan
	}
	res := result{Targets: nTargets, Accounts: len(p.Accounts), OrgUnits: o.orgUnits, Throttle: o.throttle, RunID: in.RunID, BuildSeconds: prep.BuildSeconds}

	// The sandbox, Temporal, a client and the worker.
	setup := time.Now()
	log := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(zerolog.ErrorLevel).With().Timestamp().Logger()
	const taskQueue = "amicrypt-bench"
	env, err := benchkit.StartEnv(ctx, w, taskQueue, log)
	if err != nil {
		return 1, err
	}
	defer env.Close()
	args := env.WorkerArgs("amicrypt-bench-worker")
	if o.maxActivities > 0 {
		args = append(args, "--max-concurrent-activities", fmt.Sprint(o.maxActivities))
	}
	if o.debugAddr != "" {
		args = append(args, "--debug-addr", o.debugAddr)
	}
	wk, err := benchkit.StartWorker(ctx, bin, dir, env.Endpoint, args, benchkit.WorkerOptions{})
	if err != nil {
		return 1, err
	}
	defer env.Temporal.Quiet()
	defer wk.Stop()
	res.SetupSeconds = time.Since(setup).Seconds()
	fmt.Fprintf(progress, "%d targets (%d accounts × up to %d regions), throttling %t; Temporal %s, sandbox %s, worker pid %d (log %s)\n",
		nTargets, len(p.Accounts), len(benchkit.Regions), o.throttle, env.Temporal.FrontendAddress(), env.Endpoint, wk.Cmd.Process.Pid, wk.LogPath)

	// The plan, between two readings of the counters (the worker's own
	// start made calls too).
	before, err := benchkit.ReadCounters(ctx, env.Endpoint)
	if err != nil {
		return 1, err
	}
	cpu0, _ := benchkit.CPUTime(wk.Cmd.Process.Pid)
	self0 := benchkit.SelfCPU()
	pctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	type planned struct {
		rep *workflows.PlanReport
		err error
	}
	done := make(chan planned, 1)
	t0 := time.Now()
	go func() {
		rep, err := pipelinerun.Plan(pctx, env.Client, taskQueue, in)
		done <- planned{rep, err}
	}()
	var got planned
	select {
	case got = <-done:
	case <-wk.Done:
		got.err = fmt.Errorf("the worker exited during the plan (%v); its log: %s", wk.Cmd.ProcessState, wk.LogPath)
	}
	wall := time.Since(t0)
	if cpu1, ok := benchkit.CPUTime(wk.Cmd.Process.Pid); ok {
		res.WorkerCPUSeconds = (cpu1 - cpu0).Seconds()
	}
	res.ServerCPUSeconds = (benchkit.SelfCPU() - self0).Seconds()
	if _, peak, ok := benchkit.Memory(wk.Cmd.Process.Pid); ok {
		res.WorkerPeakRSSBytes = peak
	}
	if got.err != nil {
		return 1, fmt.Errorf("the plan did not end with a report after %s: %w", wall.Round(time.Millisecond), got.err)
	}
	rep := got.rep
	fmt.Fprintf(progress, "%s, after %s; measuring\n", pipelinerun.PlanSummaryLine(rep), wall.Round(time.Millisecond))

	// The figures.
	measure := time.Now()
	mctx, mcancel := context.WithTimeout(ctx, 5*time.Minute)
	defer mcancel()
	after, err := benchkit.ReadCounters(mctx, env.Endpoint)
	if err != nil {
		return 1, err
	}
	res.AWS = after.Since(before)
	wb, wa := sandbox.Writes(before.Rows, ""), sandbox.Writes(after.Rows, "")
	res.WriteCalls = sandbox.NewWrites(wb, wa)
	for k, n := range wa {
		res.Writes += max(n-wb[k], 0)
	}
	want := (nTargets+workflows.PlanWorkflowTargets-1)/workflows.PlanWorkflowTargets + 1 // and the PlanRun
	ids, err := planWorkflowIDs(mctx, env.Client, want)
	if err != nil {
		return 1, err
	}
	res.PlanWorkflows = len(ids)
	if res.History, err = benchkit.ReadWorkflowHistories(mctx, env.Client, in.RunID, ids); err != nil {
		return 1, err
	}
	res.MeasureSeconds = time.Since(measure).Seconds()

	ok, change, fail := pipelinerun.PlanCounts(rep)
	res.Outcomes = map[string]int{activities.PlanOK: ok, activities.PlanChange: change, activities.PlanFail: fail}
	for _, t := range rep.Targets {
		res.Warnings += len(t.Warnings)
		if len(t.Failures) > 0 && res.FirstFailure == "" {
			d := t.Failures[0]
			res.FirstFailure = fmt.Sprintf("%s/%s %s: %s", t.Account, t.Region, d.Code, d.Cause)
		}
	}
	if bad := pipelinerun.PredictedFailures(rep); len(bad) > 0 {
		res.PredictedFailures = bad[:min(len(bad), 10)]
	}
	res.WallSeconds = wall.Seconds()
	res.CallsPerTarget = float64(res.AWS.Total) / float64(nTargets)
	res.ThrottlingSurfaced = res.History.ThrottlingRetries + res.History.ThrottlingFailures
	res.Goals = map[string]bool{
		"wall_seconds":               wall <= goalWall,
		"largest_history_event":      res.History.MaxEventBytes <= benchkit.MaxPayloadBytes,
		"aws_calls_per_target":       res.CallsPerTarget <= goalCallsPerTarget,
		"mutating_calls":             res.Writes <= goalWrites,
		"throttling_errors_surfaced": res.ThrottlingSurfaced <= goalThrottling,
		"worker_peak_rss":            res.WorkerPeakRSSBytes > 0 && res.WorkerPeakRSSBytes <= goalRSS,
		"no_predicted_failure":       fail == 0 && len(rep.Targets) == nTargets,
	}

	if o.json {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return 1, err
		}
	} else {
		printResult(os.Stdout, res, o.verbose)
	}

	code := 0
	if len(rep.Targets) != nTargets || fail > 0 {
		code = 1
		err = fmt.Errorf("%d of %d targets planned, %d predicted to fail (the generated world is healthy: none should be)", len(rep.Targets), nTargets, fail)
	}
	if o.check {
		for _, goal := range sortedKeys(res.Goals) {
			if !res.Goals[goal] {
				code = 1
				err = errors.Join(err, fmt.Errorf("goal missed: %s", goal))
			}
		}
	}
	return code, err
}

// planWorkflowIDs lists the Plan workflows (the server is the benchmark's
// own: the plan's only), waiting a little for the visibility store to show
// all want of them.
func planWorkflowIDs(ctx context.Context, c client.Client, want int) ([]string, error) {
	for wait := 0; ; wait++ {
		var ids []string
		var token []byte
		for {
			resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
				Namespace: temporalconn.DefaultNamespace, Query: "WorkflowType = 'Plan' OR WorkflowType = 'PlanRun'", NextPageToken: token,
			})
			if err != nil {
				return nil, fmt.Errorf("listing the Plan workflows: %w", err)
			}
			for _, e := range resp.GetExecutions() {
				ids = append(ids, e.GetExecution().GetWorkflowId())
			}
			if token = resp.GetNextPageToken(); len(token) == 0 {
				break
			}
		}
		if len(ids) >= want || wait == 50 {
			sort.Strings(ids)
			return ids, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func printResult(out io.Writer, r result, verbose bool) {
	mark := func(goal string) string {
		if r.Goals[goal] {
			return "met"
		}
		return "MISSED"
	}
	fmt.Fprintf(out, "amicrypt plan benchmark: %d targets (%d accounts × %d regions), throttling %t, %d Plan workflows\n\n",
		r.Targets, r.Accounts, len(benchkit.Regions), r.Throttle, r.PlanWorkflows)
	fmt.Fprintf(out, "  %-42s %10s   %-10s %s\n", "figure", "measured", "goal", "")
	fmt.Fprintf(out, "  %-42s %10.2f   %-10s %s\n", "plan wall time (s)", r.WallSeconds, "≤ 10", mark("wall_seconds"))
	fmt.Fprintf(out, "  %-42s %10.2f   %-10s %s  (%d calls, %d throttled by the sandbox, %d in the builder account)\n",
		"AWS calls per target", r.CallsPerTarget, "≤ 12", mark("aws_calls_per_target"), r.AWS.Total, r.AWS.Throttled, r.AWS.Builder)
	fmt.Fprintf(out, "  %-42s %10d   %-10s %s  (sts:AssumeRole counts as a read)\n", "mutating AWS calls", r.Writes, "0", mark("mutating_calls"))
	fmt.Fprintf(out, "  %-42s %10d   %-10s %s  (%d retried attempts, %d failed activities)\n",
		"throttling errors surfaced to workflows", r.ThrottlingSurfaced, "0", mark("throttling_errors_surfaced"), r.History.ThrottlingRetries, r.History.ThrottlingFailures)
	fmt.Fprintf(out, "  %-42s %10.1f   %-10s %s  (VmHWM; MB = 2^20 bytes)\n", "worker peak RSS (MB)", float64(r.WorkerPeakRSSBytes)/(1<<20), "≤ 300", mark("worker_peak_rss"))
	fmt.Fprintf(out, "  %-42s %10.1f   %-10s %s  (%s of %s, as stored: compressed)\n", "largest history event (KB)", float64(r.History.MaxEventBytes)/1024, "≤ 256", mark("largest_history_event"), r.History.MaxEventType, r.History.MaxEventWorkflow)
	fmt.Fprintf(out, "  %-42s %10d   %-10s %s  (ok %d, will-change %d; %d warnings)\n", "targets predicted to fail", r.Outcomes[activities.PlanFail], "0",
		mark("no_predicted_failure"), r.Outcomes[activities.PlanOK], r.Outcomes[activities.PlanChange], r.Warnings)
	if len(r.WriteCalls) > 0 {
		fmt.Fprintf(out, "\nmutating calls: %s\n", strings.Join(r.WriteCalls, ", "))
	}
	if len(r.PredictedFailures) > 0 {
		fmt.Fprintf(out, "\npredicted failures: %s\n  first: %s\n", strings.Join(r.PredictedFailures, ", "), r.FirstFailure)
	}
	fmt.Fprintf(out, "\nCPU during the plan: worker %.1f s, Temporal + sandbox + benchmark %.1f s (over %.1f s of wall time)\n", r.WorkerCPUSeconds, r.ServerCPUSeconds, r.WallSeconds)
	fmt.Fprintf(out, "time: build %.1f s, setup %.1f s, plan %.1f s, measuring %.1f s\n", r.BuildSeconds, r.SetupSeconds, r.WallSeconds, r.MeasureSeconds)
	if len(r.History.Examples) > 0 {
		fmt.Fprintf(out, "throttling that reached workflows, e.g.:\n  %s\n", strings.Join(r.History.Examples, "\n  "))
	}
	if !verbose {
		return
	}
	n := float64(r.Targets)
	fmt.Fprintf(out, "\nAWS calls per target, by action:\n")
	for _, a := range benchkit.TopActions(r.AWS.ByAction, 40) {
		th := ""
		if t := r.AWS.ThrottledByAction[a]; t > 0 {
			th = fmt.Sprintf("  (%d throttled)", t)
		}
		fmt.Fprintf(out, "  %-40s %7.3f  %6d%s\n", a, float64(r.AWS.ByAction[a])/n, r.AWS.ByAction[a], th)
	}
	h := r.History
	fmt.Fprintf(out, "\nactivities: %d scheduled, %d retried attempts, %d failed, %d timed out\n", h.Activities, h.Retries, h.Failures, h.TimedOut)
	fmt.Fprintf(out, "  %-28s %7s %12s %12s %10s\n", "activity", "count", "queue avg s", "run avg s", "run max s")
	for _, name := range sortedKeys(h.ByActivity) {
		s := h.ByActivity[name]
		c := float64(max(s.Scheduled, 1))
		fmt.Fprintf(out, "  %-28s %7d %12.2f %12.2f %10.1f\n", name, s.Scheduled, s.QueueSeconds/c, s.RunSeconds/c, s.MaxRunSeconds)
	}
}
