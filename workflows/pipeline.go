package workflows

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strings"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/amicrypt/amicrypt/activities"
)

// ErrorTypeInvalidInput is the (non-retryable) error type of a Pipeline
// started with an input it refuses.
const ErrorTypeInvalidInput = "amicrypt.InvalidInput"

// Pipeline is one run: it checks the input, splits the accounts into Batch
// children and runs them, at most InFlight targets at once across the run,
// and returns the Report with every target's row and the Summary.
//
// Batching keeps every execution inside Temporal's limits (2,000 pending
// children, 51,200 history events, 2 MB payloads): a Batch holds at most
// BatchAccounts accounts and MaxBatchTargets targets (an account's regions
// are never split across batches), so its children and history stay bounded;
// the Pipeline runs at most MaxConcurrentBatches batches at once, each with a
// window of targets taken from InFlight (its whole size when the budget
// allows, at least InFlight / (batches at once)), so the run never has more
// than InFlight targets in flight, and its own history grows by about six
// events per batch. Batch ids are BatchWorkflowID(RunID, n), n from 0.
//
// Cancelling the Pipeline cancels the running batches, which cancel their
// targets and wait for their compensation; targets not started yet end
// cancelled. The report then rides on the CanceledError's details.
//
// It answers QueryProgress with the Report so far (see progress.go for what
// a running batch's rows say).
func Pipeline(ctx workflow.Context, in PipelineInput) (Report, error) {
	in = in.withDefaults()
	if in.RunID == "" {
		in.RunID = workflow.GetInfo(ctx).WorkflowExecution.RunID
	}
	p := newPipelineRun(ctx, in)
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (Report, error) { return p.report(), nil }); err != nil {
		return Report{}, err
	}
	if err := in.Validate(); err != nil {
		return p.report(), temporal.NewNonRetryableApplicationError(err.Error(), ErrorTypeInvalidInput, nil)
	}
	if workflow.GetVersion(ctx, rowsInBatchesVersion, workflow.DefaultVersion, 1) == 1 {
		p.slim = true
		if err := workflow.SetQueryHandler(ctx, QueryBatchTargets, p.batchTargets); err != nil {
			return Report{}, err
		}
		if err := p.gather(ctx); err != nil {
			if canceled(ctx, nil) {
				return p.report(), temporal.NewCanceledError(p.report())
			}
			return p.report(), err
		}
	}
	switch workflow.GetVersion(ctx, staleSharesVersion, workflow.DefaultVersion, 2) {
	case workflow.DefaultVersion:
		p.plan()
		p.run(ctx)
	case 1:
		p.housekeeping, p.warnings = revokeStaleShares(ctx, p.log, nil)
		p.plan()
		p.run(ctx)
	default:
		// Beside the batches, not before them: the run does not wait for
		// it, and leaves alone the shares it makes itself.
		done, settle := workflow.NewFuture(ctx)
		workflow.Go(ctx, func(ctx workflow.Context) {
			p.housekeeping, p.warnings = revokeStaleShares(ctx, p.log, p.ownShares())
			settle.Set(nil, nil)
		})
		p.plan()
		p.run(ctx)
		_ = done.Get(ctx, nil)
	}
	rep := p.report()
	if canceled(ctx, nil) {
		return rep, temporal.NewCanceledError(rep)
	}
	return rep, nil
}

// rowsInBatchesVersion gates the run whose input, result and query answers
// stay small whatever its size: targets in parts and from organizations
// (gather), rows kept by the batches, the report a summary. A run started
// before it keeps every row itself.
const rowsInBatchesVersion = "rows-in-batches"

func (in PipelineInput) withDefaults() PipelineInput {
	if in.InFlight == 0 {
		in.InFlight = DefaultInFlight
	}
	if in.PerAccountRegion == 0 {
		in.PerAccountRegion = DefaultPerAccountRegion
	}
	if in.BatchAccounts == 0 {
		in.BatchAccounts = DefaultBatchAccounts
	}
	return in
}

var (
	accountPattern = regexp.MustCompile(`^[0-9]{12}$`)
	imagePattern   = regexp.MustCompile(`^ami-[0-9a-f]{8,17}$`)
)

// Validate checks a run's input and says everything wrong with it at once:
// sources and targets present, region names well formed, one source per region, one
// target per account and region, every target with a source in its
// partition, no negative knob. The CLI calls it before starting a run; the
// Pipeline calls it again and fails, not retryably, with the same message.
func (in PipelineInput) Validate() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if len(in.Sources) == 0 {
		add("no source image: give one region:ami-id pair per region Packer built in")
	}
	if len(in.Targets) == 0 && in.TargetParts <= 1 && in.Organization == nil {
		add("no target: give at least one account and region")
	}
	if in.TargetParts < 0 {
		add("target_parts must not be negative")
	}
	seenSource := map[string]bool{}
	for i, s := range in.Sources {
		switch {
		case !ValidRegion(s.Region):
			add("source %d (%s): %q is not a region name (like us-east-1)", i, s.ImageID, s.Region)
		case seenSource[s.Region]:
			add("source %d (%s): a second source in region %s; give one image per region", i, s.ImageID, s.Region)
		}
		seenSource[s.Region] = true
		if !imagePattern.MatchString(s.ImageID) {
			add("source %d in %s: %q is not an image id (ami-...)", i, s.Region, s.ImageID)
		}
	}
	seenTarget := make(map[string]bool, len(in.Targets))
	// Per region, once: a run has tens of thousands of targets in a few
	// regions, and validates them inside a workflow task.
	type regionCheck struct{ valid, served bool }
	regions := map[string]regionCheck{}
	for i, t := range in.Targets {
		if !accountPattern.MatchString(t.Account) {
			add("target %d (%s): account %q is not a 12-digit account id", i, t.ID(), t.Account)
		}
		rc, ok := regions[t.Region]
		if !ok {
			rc.valid = ValidRegion(t.Region)
			if rc.valid && len(in.Sources) > 0 {
				_, rc.served = NearestSource(in.Sources, t.Region)
			}
			regions[t.Region] = rc
		}
		switch {
		case !rc.valid:
			add("target %d (%s): %q is not a region name (like us-east-1)", i, t.ID(), t.Region)
		case len(in.Sources) > 0 && !rc.served:
			add("target %d (%s): no source image in partition %s", i, t.ID(), Partition(t.Region))
		}
		id := t.ID()
		if seenTarget[id] {
			add("target %d: %s is listed twice; give each account and region once", i, id)
		}
		seenTarget[id] = true
	}
	if in.InFlight < 0 || in.PerAccountRegion < 0 || in.BatchAccounts < 0 {
		add("in_flight, per_account_region and batch_accounts must not be negative (0 takes the default)")
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New("invalid pipeline input: " + strings.Join(problems, "; "))
}

// ownShares are the run's own shares: "<source image>/<account>" for every
// target.
func (p *pipelineRun) ownShares() map[string]bool {
	own := map[string]bool{}
	for _, t := range p.all {
		if src, ok := p.source(t.Region); ok {
			own[src.ImageID+"/"+t.Account] = true
		}
	}
	return own
}

// planBatches splits targets into batches of whole accounts (sorted by
// account, each account's targets by region): at most batchAccounts
// accounts and maxTargets targets a batch, except that one account's targets
// always stay together.
func planBatches(targets []activities.Target, batchAccounts, maxTargets int) [][]activities.Target {
	sorted := sortTargets(targets)
	var batches [][]activities.Target
	var cur []activities.Target
	accounts := 0
	for start := 0; start < len(sorted); {
		end := start
		for end < len(sorted) && sorted[end].Account == sorted[start].Account {
			end++
		}
		account := sorted[start:end]
		if len(cur) > 0 && (accounts == batchAccounts || len(cur)+len(account) > maxTargets) {
			batches = append(batches, cur)
			cur, accounts = nil, 0
		}
		cur = append(cur, account...)
		accounts++
		start = end
	}
	if len(cur) > 0 {
		batches = append(batches, cur)
	}
	return batches
}

type pipelineRun struct {
	in  PipelineInput
	log log.Logger
	// slim: a rows-in-batches run. It keeps no rows (targets stays empty):
	// each batch's status counts its rows.
	slim bool
	// all are the run's targets (the input's, or gather's).
	all     []activities.Target
	targets []TargetReport // sorted by account, region
	index   map[string]int // target ID → row
	org     *OrganizationResolution
	// sources: NearestSource per target region, once.
	sources map[string]sourceFor
	// The share window (openShareWindow): per source region, how many
	// more accounts the running batches may share it with (nil: no
	// window), and per batch, how many accounts it shares each source with.
	window      map[string]int
	batchShares []map[string]int
	batches     [][]activities.Target
	status      []BatchStatus
	windows     []int // each batch's InFlight, set when it starts
	fair        int   // the least window a batch starts with (when it has as many targets)
	budget      int   // targets in flight the running batches have not taken
	// housekeeping and warnings: what revokeStaleShares did and could not.
	housekeeping, warnings []string
}

func newPipelineRun(ctx workflow.Context, in PipelineInput) *pipelineRun {
	p := &pipelineRun{
		in:    in,
		log:   log.With(workflow.GetLogger(ctx), "run", in.RunID),
		index: map[string]int{},
		all:   in.Targets,
	}
	if workflow.GetVersion(ctx, rowsInBatchesVersion, workflow.DefaultVersion, 1) == 1 {
		// gather fills all; no row is kept.
		return p
	}
	for _, t := range sortTargets(in.Targets) {
		src, _ := NearestSource(in.Sources, t.Region)
		p.index[t.ID()] = len(p.targets)
		p.targets = append(p.targets, pendingReport(t, src))
	}
	return p
}

func (p *pipelineRun) plan() {
	batchAccounts := p.in.BatchAccounts
	if p.slim {
		// A batch shares the sources with all its accounts at once.
		batchAccounts = min(batchAccounts, activities.MaxSourceShares)
	}
	p.batches = planBatches(p.all, batchAccounts, MaxBatchTargets)
	for n, batch := range p.batches {
		accounts := 0
		for i := range batch {
			if i == 0 || batch[i].Account != batch[i-1].Account {
				accounts++
			}
		}
		p.status = append(p.status, BatchStatus{
			WorkflowID: BatchWorkflowID(p.in.RunID, n),
			Status:     StatusPending,
			Accounts:   accounts,
			Targets:    len(batch),
		})
	}
	slots := min(len(p.batches), p.in.InFlight, MaxConcurrentBatches)
	p.fair = max(1, p.in.InFlight/max(1, slots))
	p.budget = p.in.InFlight
	p.windows = make([]int, len(p.batches))
	p.log.Info("run planned", "targets", len(p.all), "batches", len(p.batches), "in_flight", p.in.InFlight)
}

func (p *pipelineRun) report() Report {
	if p.slim {
		return p.summaryReport()
	}
	targets := copyReports(p.targets)
	return Report{
		RunID:    p.in.RunID,
		ReplayOf: p.in.ReplayOf,
		Sources:  sourcesByRegion(p.in.Sources),
		Targets:  targets,
		Summary:  Summary(targets),
		Batches:  append([]BatchStatus(nil), p.status...),

		Housekeeping: append([]string(nil), p.housekeeping...),
		Warnings:     append([]string(nil), p.warnings...),
	}
}

// shareWindowVersion gates the share window: a rows-in-batches run started
// before it starts its batches on the budget of targets in flight alone.
const shareWindowVersion = "share-window"

// openShareWindow reads how many entities each source is shared with
// already (CountSourceShares) and sets p.window: what AWS's quota of
// activities.MaxSourceShares leaves the run. A source whose count cannot
// be read gets the whole quota (its share says what AWS answers).
func (p *pipelineRun) openShareWindow(ctx workflow.Context) {
	if !p.slim || workflow.GetVersion(ctx, shareWindowVersion, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	var a *activities.Activities
	sctx := withStep(ctx, StepShare, activities.Target{})
	futures := make([]workflow.Future, len(p.in.Sources))
	for i, src := range p.in.Sources {
		futures[i] = workflow.ExecuteActivity(sctx, a.CountSourceShares, activities.ShareSourceInput{Builder: p.in.Builder, Source: src})
	}
	p.window = map[string]int{}
	for i, src := range p.in.Sources {
		var got activities.SourceShares
		if err := futures[i].Get(ctx, &got); err != nil {
			p.log.Warn("counting the source's shares failed; assuming none", "source", src.ImageID, "region", src.Region, "error", err)
		}
		p.window[src.Region] = max(activities.MaxSourceShares-got.Entities, 0)
	}
	p.batchShares = make([]map[string]int, len(p.batches))
	for n, batch := range p.batches {
		seen := map[string]bool{}
		p.batchShares[n] = map[string]int{}
		for _, t := range batch {
			src, ok := p.source(t.Region)
			if key := src.Region + "/" + t.Account; ok && !seen[key] {
				seen[key] = true
				p.batchShares[n][src.Region]++
			}
		}
	}
	p.log.Info("share window", "left", p.window)
}

// fitsShareWindow: batch n's shares fit in what the window has left on
// every source it uses.
func (p *pipelineRun) fitsShareWindow(n int) bool {
	if p.window == nil {
		return true
	}
	for r, k := range p.batchShares[n] {
		if k > p.window[r] {
			return false
		}
	}
	return true
}

// takeShareWindow takes (sign 1) or gives back (sign -1) batch n's shares.
func (p *pipelineRun) takeShareWindow(n, sign int) {
	if p.window == nil {
		return
	}
	for r, k := range p.batchShares[n] {
		p.window[r] -= sign * k
	}
}

// run is the sliding window over batches.
func (p *pipelineRun) run(ctx workflow.Context) {
	p.openShareWindow(ctx)
	selector := workflow.NewSelector(ctx)
	running, next := 0, 0
	for {
		if canceled(ctx, nil) {
			for ; next < len(p.batches); next++ {
				p.status[next].Status = StatusCancelled
				p.setStatus(ctx, p.batches[next], StatusCancelled)
			}
		}
		// A batch starts when the budget of targets in flight gives it its
		// whole size, or at least a fair share (in_flight over the batches
		// that may run at once): 1,000 targets in three batches all run at
		// once under in_flight 1,000.
		for ; next < len(p.batches) && running < MaxConcurrentBatches; next++ {
			n := next
			size := len(p.batches[n])
			if p.budget < min(size, p.fair) {
				break
			}
			// AWS's quota of entities a source is shared with: a batch
			// waits until the running ones have revoked enough (one runs
			// whatever, so that the run moves; its share then says what
			// AWS answers).
			if running > 0 && !p.fitsShareWindow(n) {
				break
			}
			p.takeShareWindow(n, 1)
			p.windows[n] = min(size, p.budget)
			p.budget -= p.windows[n]
			running++
			p.status[n].Status = StatusRunning
			p.setStatus(ctx, p.batches[n], StatusRunning)
			selector.AddFuture(p.execBatch(ctx, n), func(f workflow.Future) {
				running--
				p.budget += p.windows[n]
				p.takeShareWindow(n, -1)
				var reports []TargetReport
				_ = f.Get(ctx, &reports) // never set with an error
				p.collect(ctx, n, reports)
			})
		}
		if running == 0 {
			return
		}
		selector.Select(ctx)
	}
}

type sourceFor struct {
	src activities.Source
	ok  bool
}

// source is NearestSource(p.in.Sources, region), worked out once per region.
func (p *pipelineRun) source(region string) (activities.Source, bool) {
	if p.sources == nil {
		p.sources = map[string]sourceFor{}
	}
	s, ok := p.sources[region]
	if !ok {
		s.src, s.ok = NearestSource(p.in.Sources, region)
		p.sources[region] = s
	}
	return s.src, s.ok
}

// summaryReport is a rows-in-batches run's report: counts, batches, no row.
func (p *pipelineRun) summaryReport() Report {
	sum := Summary(nil)
	batches := make([]BatchStatus, len(p.status))
	for n, b := range p.status {
		batches[n] = b
		switch {
		case b.Summary != nil:
			for k, v := range b.Summary {
				if k != "total" {
					sum[k] += v
				}
			}
			batches[n].Summary = maps.Clone(b.Summary)
		case b.Status == StatusRunning:
			sum[StatusRunning] += b.Targets
		case b.Status == StatusCancelled:
			sum[StatusCancelled] += b.Targets
		default:
			sum[StatusPending] += b.Targets
		}
	}
	if len(p.status) == 0 {
		// Not planned yet (gathering the targets): what is known.
		sum[StatusPending] = len(p.all)
	}
	sum["total"] = len(p.all)
	var org *OrganizationResolution
	if p.org != nil {
		o := *p.org
		o.Skipped = append([]activities.OrganizationAccount(nil), p.org.Skipped...)
		org = &o
	}
	return Report{
		RunID:         p.in.RunID,
		ReplayOf:      p.in.ReplayOf,
		Sources:       sourcesByRegion(p.in.Sources),
		Summary:       sum,
		Batches:       batches,
		RowsInBatches: true,
		Organization:  org,
		Housekeeping:  append([]string(nil), p.housekeeping...),
		Warnings:      append([]string(nil), p.warnings...),
	}
}

// batchTargets answers QueryBatchTargets: batch n's targets as pending rows.
func (p *pipelineRun) batchTargets(n int) ([]TargetReport, error) {
	if n < 0 || n >= len(p.batches) {
		return nil, fmt.Errorf("run %s has no batch %d (it has %d)", p.in.RunID, n, len(p.batches))
	}
	rows := make([]TargetReport, 0, len(p.batches[n]))
	for _, t := range p.batches[n] {
		src, _ := p.source(t.Region)
		r := pendingReport(t, src)
		r.Status = p.status[n].Status
		if r.Status == StatusRunning || r.Status == StatusSucceeded {
			r.Status = StatusPending // its own rows are the batch's
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// setStatus sets the status of the given targets' rows that are not final.
func (p *pipelineRun) setStatus(ctx workflow.Context, targets []activities.Target, status string) {
	if p.slim {
		return
	}
	for _, t := range targets {
		row := &p.targets[p.index[t.ID()]]
		if final(row.Status) {
			continue
		}
		row.Status = status
		if final(status) {
			now := workflow.Now(ctx)
			row.FinishedAt = &now
		}
	}
}

// execBatch runs batch n (or attaches to its run already under way) and
// resolves to its reports, whatever happened.
func (p *pipelineRun) execBatch(ctx workflow.Context, n int) workflow.Future {
	id := p.status[n].WorkflowID
	in := BatchInput{
		RunID:            p.in.RunID,
		Index:            n,
		Builder:          p.in.Builder,
		Sources:          p.in.Sources,
		Targets:          p.batches[n],
		InFlight:         p.windows[n],
		PerAccountRegion: p.in.PerAccountRegion,
		PipelineRoleARN:  p.in.PipelineRoleARN,
		Children:         ChildrenOnSelector,
	}
	future, settable := workflow.NewFuture(ctx)
	workflow.Go(ctx, func(ctx workflow.Context) {
		var reports []TargetReport
		err := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, childOptions(id)), Batch, in).Get(ctx, &reports)
		if err != nil && alreadyStarted(err) {
			p.log.Info("batch already running, attaching to it", "workflow_id", id)
			var at *Attach
			reports = nil
			err = workflow.ExecuteActivity(withStep(ctx, stepAttach, activities.Target{}), at.AwaitBatch, id).Get(ctx, &reports)
		}
		if err != nil {
			var canceledErr *temporal.CanceledError
			if errors.As(err, &canceledErr) && canceledErr.HasDetails() {
				reports = nil
				_ = canceledErr.Details(&reports)
			}
			if reports == nil {
				p.log.Error("batch ended without reports", "workflow_id", id, "error", err)
			}
		}
		settable.Set(p.fill(ctx, n, reports, err), nil)
	})
	return future
}

// fill completes a batch's reports: a target the batch did not report on
// is cancelled (the batch was cancelled) or failed (it ended with an error).
func (p *pipelineRun) fill(ctx workflow.Context, n int, reports []TargetReport, err error) []TargetReport {
	got := map[string]bool{}
	for _, r := range reports {
		got[r.Account+"/"+r.Region] = true
	}
	now := workflow.Now(ctx)
	for _, t := range p.batches[n] {
		if got[t.ID()] {
			continue
		}
		var r TargetReport
		if p.slim {
			src, _ := p.source(t.Region)
			r = pendingReport(t, src)
			p.status[n].Error = fmt.Sprintf("the batch ended without a report for some of its targets: %v", err)
		} else {
			r = p.targets[p.index[t.ID()]]
		}
		r.FinishedAt = &now
		if temporal.IsCanceledError(err) {
			r.Status = StatusCancelled
		} else {
			r.Status = StatusFailed
			r.Diagnosis = &activities.Diagnosis{
				Code: activities.Other,
				Cause: fmt.Sprintf("batch %s ended without a report for account %s, region %s: %v",
					p.status[n].WorkflowID, t.Account, t.Region, err),
				Fix: "read the batch's history (temporal workflow show --workflow-id " + p.status[n].WorkflowID + "), fix the cause and replay the run's failed targets",
			}
		}
		reports = append(reports, r)
	}
	return reports
}

func (p *pipelineRun) collect(ctx workflow.Context, n int, reports []TargetReport) {
	if p.slim {
		p.status[n].Summary = Summary(reports)
	}
	for _, r := range reports {
		if p.slim {
			break
		}
		if i, ok := p.index[r.Account+"/"+r.Region]; ok {
			p.targets[i] = r
		}
	}
	p.status[n].Status = StatusSucceeded
	if canceled(ctx, nil) {
		p.status[n].Status = StatusCancelled
	}
	p.log.Info("batch done", "batch", n, "summary", Summary(reports))
}
