package workflows

import (
	"errors"
	"fmt"
	"sort"
	"strconv"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/amicrypt/amicrypt/activities"
)

// Sweep looks at every configured target's key (InspectKey, a bounded number
// at once): rotation on, age, the amicrypt:retire tag, policy drift, images
// under a stale key. It repairs on the spot what needs no new key (rotation
// turned on, a drifted policy reconciled with the owner's statements kept),
// then starts a Rotation for every account where one is due — a new key
// where the key is too old or tagged for retirement, a re-encryption where
// images sit under another key than the alias's — at most
// ConcurrentRotations at once, and waits for them. A rotation of the same
// account already running (an operator's) is not started twice.
//
// Its report lists every key's health (Keys), the rotations (Rotations) and
// their rows (Targets). A Temporal Schedule runs it with overlap policy skip.
func Sweep(ctx workflow.Context, in SweepInput) (Report, error) {
	if in.SweepID == "" {
		in.SweepID = workflow.GetInfo(ctx).WorkflowExecution.ID
	}
	if in.ConcurrentRotations <= 0 {
		in.ConcurrentRotations = DefaultConcurrentRotations
	}
	s := &sweepRun{in: in, log: log.With(workflow.GetLogger(ctx), "sweep", in.SweepID)}
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (Report, error) { return s.report(), nil }); err != nil {
		return s.report(), err
	}
	if in.Organization != nil {
		// Only inputs since organization targets have one: what an older
		// sweep's history replays does not come here.
		if err := s.resolve(ctx); err != nil {
			return s.report(), err
		}
	}
	s.keys = make([]activities.KeyHealth, len(s.in.Targets))
	for i, tg := range s.in.Targets {
		s.keys[i] = activities.KeyHealth{Account: tg.Account, Region: tg.Region}
	}
	s.batched = workflow.GetVersion(ctx, sweepBatchesVersion, workflow.DefaultVersion, 1) == 1
	if workflow.GetVersion(ctx, staleSharesVersion, workflow.DefaultVersion, 1) != workflow.DefaultVersion && !in.DryRun {
		s.housekeeping, s.warnings = revokeStaleShares(ctx, s.log, nil)
	}
	if s.batched {
		s.inspectInBatches(ctx)
	} else {
		s.inspect(ctx)
	}
	if s.batched {
		s.runRefs = workflow.GetVersion(ctx, rotationRunsVersion, workflow.DefaultVersion, 1) == 1
	}
	if ctx.Err() == nil {
		s.rotate(ctx)
	}
	rep := s.report()
	if ctx.Err() != nil {
		return rep, temporal.NewCanceledError(rep)
	}
	s.log.Info("sweep done", "keys", len(rep.Keys), "rotations", len(rep.Rotations), "summary", rep.Summary)
	return rep, nil
}

type sweepRun struct {
	in  SweepInput
	org *OrganizationResolution
	// batched: the keys are inspected by SweepBatch children, which keep
	// the KeyHealth rows (keys holds only what plan needs: the due ones,
	// and a row per key that could not be inspected, for the counts).
	batched bool
	batches []BatchStatus
	// runRefs: the rotations' rows stay in their reports; runs names them
	// and rowCounts counts their rows per status.
	runRefs   bool
	runs      []RotationRun
	rowCounts map[string]int
	log       log.Logger
	keys      []activities.KeyHealth
	rotations []string
	rows      []TargetReport
	// housekeeping and warnings: what revokeStaleShares did and could not.
	housekeeping, warnings []string
}

func (s *sweepRun) report() Report {
	rows := append([]TargetReport(nil), s.rows...)
	if s.batched {
		return Report{
			RunID:         s.in.SweepID,
			Kind:          KindSweep,
			DryRun:        s.in.DryRun,
			Operator:      s.in.Operator,
			Rotations:     append([]string(nil), s.rotations...),
			RotationRuns:  append([]RotationRun(nil), s.runs...),
			Targets:       rows,
			Summary:       s.summary(rows),
			Batches:       append([]BatchStatus(nil), s.batches...),
			RowsInBatches: true,
			Housekeeping:  append([]string(nil), s.housekeeping...),
			Warnings:      append([]string(nil), s.warnings...),
			Organization:  s.org,
		}
	}
	return Report{
		RunID:     s.in.SweepID,
		Kind:      KindSweep,
		DryRun:    s.in.DryRun,
		Operator:  s.in.Operator,
		Keys:      append([]activities.KeyHealth(nil), s.keys...),
		Rotations: append([]string(nil), s.rotations...),
		Targets:   rows,
		Summary:   Summary(rows),

		Housekeeping: append([]string(nil), s.housekeeping...),
		Warnings:     append([]string(nil), s.warnings...),
		Organization: s.org,
	}
}

// summary counts rows, and the rows left in the rotations' reports.
func (s *sweepRun) summary(rows []TargetReport) map[string]int {
	sum := Summary(rows)
	for k, n := range s.rowCounts {
		sum[k] += n
	}
	return sum
}

// RotationCompleted is RotationRun.Status of a rotation that completed.
const RotationCompleted = ""

// rotationRunsVersion gates the rotations' rows: a sweep started before it
// collects every rotation's rows in its report (which then grows with the
// accounts it rotates).
const rotationRunsVersion = "rotation-runs"

// resolve adds the organization's targets to the listed ones (the
// partition from the first region a selector or a listed target names).
func (s *sweepRun) resolve(ctx workflow.Context) error {
	region := firstSelectorRegion(*s.in.Organization)
	if region == "" && len(s.in.Targets) > 0 {
		region = s.in.Targets[0].Region
	}
	s.org = &OrganizationResolution{}
	targets, err := resolveOrganization(ctx, s.log, *s.in.Organization, region, s.in.Targets, s.org)
	if err != nil {
		return err
	}
	s.in.Targets = sortTargets(targets)
	return nil
}

// inspect runs InspectKey for every target, DefaultInspections at once. A
// key that could not be inspected after the retries is reported with the
// error as its diagnosis.
func (s *sweepRun) inspect(ctx workflow.Context) {
	var a *activities.Activities
	eachAtMost(ctx, len(s.in.Targets), DefaultInspections, func(ctx workflow.Context, i int) {
		tg := s.in.Targets[i]
		in := activities.InspectKeyInput{Target: tg, MaxKeyAgeDays: s.in.MaxKeyAgeDays, Pipeline: s.in.PipelineRoleARN, DeletionWindowDays: s.in.DeletionWindowDays, DryRun: s.in.DryRun}
		var h activities.KeyHealth
		if err := workflow.ExecuteActivity(withStep(ctx, stepInspect, tg), a.InspectKey, in).Get(ctx, &h); err != nil {
			if canceled(ctx, err) {
				return
			}
			d := diagnose(err, stepInspect, tg)
			h = activities.KeyHealth{Account: tg.Account, Region: tg.Region, Error: &d}
		}
		s.keys[i] = h
	}, nil)
}

// sweepBatchesVersion gates the batched inspection: a sweep started before
// it inspects every key itself and returns every KeyHealth.
const sweepBatchesVersion = "sweep-batches"

// SweepBatchTargets is how many keys one SweepBatch inspects: its history
// (about three events a key) and its result (one KeyHealth each) stay small.
const SweepBatchTargets = 200

// SweepBatchWorkflowID is the id of a sweep's n-th (from 0) SweepBatch.
func SweepBatchWorkflowID(sweepID string, n int) string {
	return "amicrypt-sweep-batch-" + sweepID + "-" + strconv.Itoa(n)
}

// SweepBatchInput is one slice of a sweep's targets to inspect.
type SweepBatchInput struct {
	SweepID string              `json:"sweep_id"`
	Index   int                 `json:"index"`
	Targets []activities.Target `json:"targets"`
	// MaxKeyAgeDays, PipelineRoleARN, DeletionWindowDays, DryRun: the
	// sweep's.
	MaxKeyAgeDays      int    `json:"max_key_age_days,omitempty"`
	PipelineRoleARN    string `json:"pipeline_role_arn,omitempty"`
	DeletionWindowDays int    `json:"deletion_window_days,omitempty"`
	DryRun             bool   `json:"dry_run,omitempty"`
}

// SweepBatch inspects a slice of a sweep's keys (InspectKey,
// DefaultInspections at once) and returns their KeyHealth rows in the
// order of its targets. It answers QueryProgress with them so far.
func SweepBatch(ctx workflow.Context, in SweepBatchInput) ([]activities.KeyHealth, error) {
	s := &sweepRun{in: SweepInput{SweepID: in.SweepID, Targets: in.Targets, MaxKeyAgeDays: in.MaxKeyAgeDays,
		PipelineRoleARN: in.PipelineRoleARN, DeletionWindowDays: in.DeletionWindowDays, DryRun: in.DryRun},
		log: log.With(workflow.GetLogger(ctx), "sweep", in.SweepID, "batch", in.Index)}
	s.keys = make([]activities.KeyHealth, len(in.Targets))
	for i, tg := range in.Targets {
		s.keys[i] = activities.KeyHealth{Account: tg.Account, Region: tg.Region}
	}
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (Report, error) {
		return Report{RunID: in.SweepID, Kind: KindSweep, Keys: append([]activities.KeyHealth(nil), s.keys...)}, nil
	}); err != nil {
		return nil, err
	}
	s.inspect(ctx)
	if ctx.Err() != nil {
		return s.keys, temporal.NewCanceledError(s.keys)
	}
	return s.keys, nil
}

// inspectInBatches inspects the keys through SweepBatch children, two at
// once, and keeps of their rows only what plan needs: a key due for
// rotation or re-encryption, or one that could not be inspected (counted);
// the others become zero values.
func (s *sweepRun) inspectInBatches(ctx workflow.Context) {
	type slice struct{ start, end int }
	var slices []slice
	for start := 0; start < len(s.in.Targets); start += SweepBatchTargets {
		slices = append(slices, slice{start, min(start+SweepBatchTargets, len(s.in.Targets))})
	}
	s.batches = make([]BatchStatus, len(slices))
	for n, sl := range slices {
		s.batches[n] = BatchStatus{WorkflowID: SweepBatchWorkflowID(s.in.SweepID, n), Status: StatusPending, Targets: sl.end - sl.start}
	}
	eachAtMost(ctx, len(slices), 2, func(ctx workflow.Context, n int) {
		sl := slices[n]
		s.batches[n].Status = StatusRunning
		in := SweepBatchInput{SweepID: s.in.SweepID, Index: n, Targets: s.in.Targets[sl.start:sl.end], MaxKeyAgeDays: s.in.MaxKeyAgeDays,
			PipelineRoleARN: s.in.PipelineRoleARN, DeletionWindowDays: s.in.DeletionWindowDays, DryRun: s.in.DryRun}
		var keys []activities.KeyHealth
		err := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, childOptions(s.batches[n].WorkflowID)), SweepBatch, in).Get(ctx, &keys)
		var ce *temporal.CanceledError
		if err != nil && errors.As(err, &ce) && ce.HasDetails() {
			_ = ce.Details(&keys)
		}
		sum := map[string]int{"total": sl.end - sl.start, "inspected": 0, "uninspected": 0, "due": 0}
		for k := sl.start; k < sl.end; k++ {
			tg := s.in.Targets[k]
			h := activities.KeyHealth{Account: tg.Account, Region: tg.Region}
			switch {
			case k-sl.start < len(keys):
				h = keys[k-sl.start]
			case err != nil:
				d := diagnose(err, stepInspect, tg)
				h.Error = &d
			}
			if h.Error == nil && h.Due == "" && !h.Rekey {
				s.keys[k] = activities.KeyHealth{}
				sum["inspected"]++
				continue
			}
			if h.Error != nil {
				sum["uninspected"]++
			} else {
				sum["due"]++
			}
			s.keys[k] = h
		}
		s.batches[n].Summary = sum
		s.batches[n].Status = StatusSucceeded
		if err != nil {
			s.batches[n].Status = StatusCancelled
			if !temporal.IsCanceledError(err) {
				s.batches[n].Status, s.batches[n].Error = StatusFailed, err.Error()
			}
		}
	}, func(n int, _ error) { s.batches[n].Status = StatusCancelled })
}

// reasonRank orders reasons when an account's regions give several: the
// most urgent names the rotation.
var reasonRank = map[string]int{activities.ReasonScheduled: 1, activities.ReasonPolicy: 2, activities.ReasonLeaked: 3}

// plan groups what is due by account: the rotations to start, in account order.
func (s *sweepRun) plan() []RotationInput {
	byAccount := map[string]*RotationInput{}
	var order []string
	for i, h := range s.keys {
		if h.Error != nil || (h.Due == "" && !h.Rekey) {
			continue
		}
		tg := s.in.Targets[i]
		ri := byAccount[tg.Account]
		if ri == nil {
			ri = &RotationInput{
				RotationID:         s.in.SweepID + "-" + tg.Account,
				Account:            tg.Account,
				Operator:           s.in.Operator,
				DeletionWindowDays: s.in.DeletionWindowDays,
				PipelineRoleARN:    s.in.PipelineRoleARN,
				DryRun:             s.in.DryRun,
			}
			byAccount[tg.Account] = ri
			order = append(order, tg.Account)
		}
		ri.Targets = append(ri.Targets, tg)
		if h.Due == "" {
			ri.RekeyRegions = append(ri.RekeyRegions, tg.Region)
		} else if reasonRank[h.Due] > reasonRank[ri.Reason] {
			ri.Reason = h.Due
		}
	}
	sort.Strings(order)
	out := make([]RotationInput, 0, len(order))
	for _, acct := range order {
		ri := byAccount[acct]
		if ri.Reason == "" {
			// Only re-encryption: the images move to the alias's key.
			ri.Reason = activities.ReasonScheduled
		}
		out = append(out, *ri)
	}
	return out
}

// rotate starts the due rotations as children, ConcurrentRotations at once,
// and collects their rows.
func (s *sweepRun) rotate(ctx workflow.Context) {
	plans := s.plan()
	eachAtMost(ctx, len(plans), s.in.ConcurrentRotations, func(ctx workflow.Context, i int) {
		s.runRotation(ctx, plans[i])
	}, nil)
}

func (s *sweepRun) runRotation(ctx workflow.Context, ri RotationInput) {
	id := RotationWorkflowID(ri.Account)
	if ri.DryRun {
		id = DryRunRotationWorkflowID(ri.Account, s.in.SweepID)
	}
	cctx := workflow.WithChildOptions(ctx, childOptions(id))
	f := workflow.ExecuteChildWorkflow(cctx, Rotation, ri)
	if err := f.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		if temporal.IsWorkflowExecutionAlreadyStartedError(err) {
			s.rotations = append(s.rotations, id+" (already running: not started again)")
			return
		}
		s.failRows(ri, err)
		return
	}
	if s.runRefs {
		s.followRotation(ctx, f, ri)
		return
	}
	s.rotations = append(s.rotations, id)
	var rep Report
	if err := f.Get(ctx, &rep); err != nil {
		var ce *temporal.CanceledError
		if errors.As(err, &ce) && ce.HasDetails() && ce.Details(&rep) == nil {
			s.rows = append(s.rows, rep.Targets...)
			return
		}
		s.failRows(ri, err)
		return
	}
	s.rows = append(s.rows, rep.Targets...)
}

// followRotation waits for a started rotation and keeps a reference to
// it, its rows counted (a rotation-runs sweep).
func (s *sweepRun) followRotation(ctx workflow.Context, f workflow.ChildWorkflowFuture, ri RotationInput) {
	var exec workflow.Execution
	_ = f.GetChildWorkflowExecution().Get(ctx, &exec)
	n := len(s.runs)
	s.runs = append(s.runs, RotationRun{Account: ri.Account, RunID: exec.RunID, Status: StatusRunning, Regions: len(ri.Targets)})
	if s.rowCounts == nil {
		s.rowCounts = map[string]int{}
	}
	s.rowCounts[StatusRunning] += len(ri.Targets)
	s.rowCounts["total"] += len(ri.Targets)
	var rep Report
	err := f.Get(ctx, &rep)
	s.rowCounts[StatusRunning] -= len(ri.Targets)
	var ce *temporal.CanceledError
	switch {
	case err == nil:
		s.runs[n].Status = RotationCompleted
	case errors.As(err, &ce) && ce.HasDetails() && ce.Details(&rep) == nil:
		s.runs[n].Status = StatusCancelled
	default:
		s.runs[n].Status, s.runs[n].Error = StatusFailed, truncate(err.Error(), MaxRotationErrorBytes)
		if temporal.IsCanceledError(err) {
			s.runs[n].Status = StatusCancelled
		}
		s.rowCounts[s.runs[n].Status] += len(ri.Targets)
		return
	}
	counted := 0
	for _, row := range rep.Targets {
		s.rowCounts[row.Status]++
		counted++
	}
	// A region the report lacks counts as failed.
	if missing := len(ri.Targets) - counted; missing > 0 {
		s.rowCounts[StatusFailed] += missing
	} else {
		s.rowCounts["total"] -= missing
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// failRows reports every region of a rotation that did not run (or did not
// report) as failed.
func (s *sweepRun) failRows(ri RotationInput, err error) {
	for _, tg := range ri.Targets {
		d := activities.Diagnosis{Code: activities.Other,
			Cause: fmt.Sprintf("the rotation of account %s (%s) did not complete: %v", ri.Account, RotationWorkflowID(ri.Account), err),
			Fix:   "Read the rotation's history (temporal workflow show), fix the cause, and sweep again or run amicrypt rotate.",
		}
		s.rows = append(s.rows, TargetReport{Account: tg.Account, Name: tg.Name, Region: tg.Region, Status: StatusFailed, Diagnosis: &d})
	}
}
