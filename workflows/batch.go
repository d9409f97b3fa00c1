package workflows

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/amicrypt/amicrypt/activities"
)

// Batch runs the targets of a slice of a run's accounts. It shares each
// source image once with all the batch's accounts that need it (one
// ShareSource per source region, after FindPreexistingShares read what the
// source had before amicrypt: that is kept, never added nor revoked), runs
// a Target child per target with a
// sliding window of in.InFlight (and at most in.PerAccountRegion per account
// and region), revokes an account's shares as soon as all its targets are
// done (one UnshareSource per source region for the accounts that finished
// together), and on failure or cancellation revokes every share still in
// place, in a disconnected context.
//
// A target is served by NearestSource: the source image in its region, else
// the nearest of its partition. A share that fails fails the targets it
// serves, with its diagnosis (F1: the builder's snapshots are under the AWS
// managed key). Child ids are TargetWorkflowID(source image, account,
// region); a child already running under that id (the same source image
// requested by another run) is attached to (see Attach).
//
// It returns one report per target, ordered by account and region; when
// cancelled, the reports ride on the CanceledError's details. It answers
// QueryProgress with a Report of its targets, and QuerySummary with their
// counts per status.
func Batch(ctx workflow.Context, in BatchInput) ([]TargetReport, error) {
	b := newBatchRun(ctx, in)
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (Report, error) { return b.progress(), nil }); err != nil {
		return nil, err
	}
	if err := workflow.SetQueryHandler(ctx, QuerySummary, func() (map[string]int, error) { return Summary(b.reports), nil }); err != nil {
		return nil, err
	}
	b.run(ctx)
	reports := copyReports(b.reports)
	if canceled(ctx, nil) {
		return reports, temporal.NewCanceledError(reports)
	}
	return reports, nil
}

type batchRun struct {
	in      BatchInput
	log     log.Logger
	targets []activities.Target // sorted by account, region
	sources []activities.Source // per target
	served  []bool              // a source serves the target
	reports []TargetReport
	started []bool

	// shared[source region][account]: shares in place (or maybe in place,
	// after a failed call); revoked entries are deleted.
	shared map[string]map[string]bool
	// keep[source region]: the permissions the source had before amicrypt
	// (FindPreexistingShares): never added, never revoked.
	keep map[string]activities.SourcePermissions
	// left[account]: the account's targets not final yet.
	left map[string]int
	// finished: accounts whose targets all became final since the last
	// revocation.
	finished []string
	// revoking[source region]: accounts waiting for their shares there to
	// be revoked; unsharing[source region]: an UnshareSource is in flight
	// there. One call at a time per region: the accounts that finish
	// meanwhile wait and go together in the next (ModifyImageAttribute
	// takes many accounts, and the builder's bucket refills at 5 per second).
	revoking  map[string][]string
	unsharing map[string]bool
	// The RevokeDelay timer: its cancel while it runs; revokeDue once it
	// fired.
	cancelRevokeTimer workflow.CancelFunc
	revokeDue         bool

	selector workflow.Selector
	running  int
	perKey   map[string]int
	pending  int // unshare calls in flight
}

func newBatchRun(ctx workflow.Context, in BatchInput) *batchRun {
	// At most MaxBatchTargets children pending at once, whatever the
	// caller asks: Temporal refuses more than 2,000.
	if in.InFlight <= 0 {
		in.InFlight = DefaultInFlight
	}
	in.InFlight = min(in.InFlight, MaxBatchTargets)
	if in.PerAccountRegion <= 0 {
		in.PerAccountRegion = DefaultPerAccountRegion
	}
	b := &batchRun{
		in:        in,
		log:       log.With(workflow.GetLogger(ctx), "batch", in.Index),
		targets:   sortTargets(in.Targets),
		shared:    map[string]map[string]bool{},
		keep:      map[string]activities.SourcePermissions{},
		left:      map[string]int{},
		perKey:    map[string]int{},
		revoking:  map[string][]string{},
		unsharing: map[string]bool{},
		selector:  workflow.NewSelector(ctx),
	}
	for _, t := range b.targets {
		src, ok := NearestSource(in.Sources, t.Region)
		b.sources = append(b.sources, src)
		b.served = append(b.served, ok)
		b.reports = append(b.reports, pendingReport(t, src))
		b.started = append(b.started, false)
		b.left[t.Account]++
	}
	return b
}

func (b *batchRun) progress() Report {
	reports := copyReports(b.reports)
	return Report{
		RunID:   b.in.RunID,
		Sources: sourcesByRegion(b.in.Sources),
		Targets: reports,
		Summary: Summary(reports),
	}
}

func (b *batchRun) run(ctx workflow.Context) {
	defer b.revokeAll(ctx)
	b.share(ctx)
	b.runTargets(ctx)
}

// share grants every account of the batch the sources its targets use: one
// ShareSource per source region, all regions at once.
func (b *batchRun) share(ctx workflow.Context) {
	var a *activities.Activities
	for i, t := range b.targets {
		if !b.served[i] {
			b.end(ctx, i, b.failedReport(i, StepShare, activities.Diagnosis{
				Code:  activities.Other,
				Cause: fmt.Sprintf("no source image in the partition of region %s for account %s", t.Region, t.Account),
				Fix:   "add a source image (region:ami-id) in the target's partition",
			}))
		}
	}
	if workflow.GetVersion(ctx, identityBeforeShareVersion, workflow.DefaultVersion, 1) == 1 {
		b.verifyIdentities(ctx)
	}
	for i, t := range b.targets {
		if !b.served[i] || final(b.reports[i].Status) {
			continue
		}
		r := b.sources[i].Region
		if b.shared[r] == nil {
			b.shared[r] = map[string]bool{}
		}
		// Recorded before the call: a call that fails halfway may have
		// shared some accounts, and revoking an absent share is harmless.
		b.shared[r][t.Account] = true
	}
	regions := sortedKeys(b.shared)
	sctx := withStep(ctx, StepShare, activities.Target{})
	if workflow.GetVersion(ctx, keepPreexistingVersion, workflow.DefaultVersion, 1) == 1 {
		regions = b.findPreexisting(ctx, sctx, regions)
	}
	futures := make([]workflow.Future, len(regions))
	for k, r := range regions {
		in := activities.ShareSourceInput{Builder: b.in.Builder, Source: b.sourceIn(r), Accounts: sortedKeys(b.shared[r]), Keep: b.keep[r]}
		futures[k] = workflow.ExecuteActivity(sctx, a.ShareSource, in)
	}
	for k, r := range regions {
		var res activities.ShareSourceResult
		err := futures[k].Get(ctx, &res)
		if err == nil {
			// The source's name is the copies' family: targets need not
			// read it again.
			for i := range b.targets {
				if b.served[i] && b.sources[i].Region == r && b.sources[i].Name == "" {
					b.sources[i].Name, b.sources[i].Created = res.Name, res.Created
				}
			}
			continue
		}
		if canceled(ctx, err) {
			continue
		}
		src := b.sourceIn(r)
		for i, t := range b.targets {
			if b.served[i] && b.sources[i].Region == r {
				b.end(ctx, i, b.failedReport(i, StepShare, diagnose(err, StepShare, t)))
			}
		}
		b.log.Warn("sharing the source failed", "source", src.ImageID, "region", r, "error", err)
	}
}

// identityBeforeShareVersion gates verifyIdentities before the shares: a
// batch started before it shares with every account of its input.
const identityBeforeShareVersion = "identity-before-share"

// verifyIdentities fails, before anything is shared, the targets amicrypt
// may not act in: a role_arn of another account than the target's (read
// here, whatever the input's producer checked), and every target whose
// role cannot be assumed, or answers GetCallerIdentity from another account
// (VerifyTargets). Their accounts never see the source.
func (b *batchRun) verifyIdentities(ctx workflow.Context) {
	var a *activities.Activities
	var check []activities.Target
	var idx []int
	for i, t := range b.targets {
		if !b.served[i] || final(b.reports[i].Status) {
			continue
		}
		if d, wrong := activities.RoleOfAnotherAccount(t); wrong {
			b.end(ctx, i, b.failedReport(i, activities.StepAssume, d))
			continue
		}
		check, idx = append(check, t), append(idx, i)
	}
	if len(check) == 0 {
		return
	}
	var res activities.VerifyTargetsResult
	err := workflow.ExecuteActivity(withStep(ctx, activities.StepAssume, activities.Target{}), a.VerifyTargets, activities.VerifyTargetsInput{Targets: check}).Get(ctx, &res)
	for k, i := range idx {
		t := check[k]
		switch d, refused := res.Refused[t.ID()]; {
		case err != nil && !canceled(ctx, err):
			// Unverified is not shared: the targets fail with the cause.
			b.end(ctx, i, b.failedReport(i, activities.StepAssume, diagnose(err, activities.StepAssume, t)))
		case refused:
			b.end(ctx, i, b.failedReport(i, activities.StepAssume, d))
		}
	}
}

// keepPreexistingVersion gates FindPreexistingShares before the
// ShareSource calls: a batch started before it shares and revokes without
// Keep, and revokes what its source had before amicrypt too.
const keepPreexistingVersion = "keep-preexisting-shares"

// findPreexisting reads, per source region, the permissions the source had
// before amicrypt (FindPreexistingShares) into b.keep, and returns the
// regions to share. Their results are in the history, so a replay has
// them back. A region whose read fails shares nothing — its targets fail at
// the share, and nothing is revoked there: without the read, a revocation
// could remove what the source had before.
func (b *batchRun) findPreexisting(ctx, sctx workflow.Context, regions []string) []string {
	var a *activities.Activities
	futures := make([]workflow.Future, len(regions))
	for k, r := range regions {
		in := activities.ShareSourceInput{Builder: b.in.Builder, Source: b.sourceIn(r), Accounts: sortedKeys(b.shared[r])}
		futures[k] = workflow.ExecuteActivity(sctx, a.FindPreexistingShares, in)
	}
	var share []string
	for k, r := range regions {
		var res activities.PreexistingShares
		err := futures[k].Get(ctx, &res)
		if err == nil {
			b.keep[r] = res.Keep
			share = append(share, r)
			continue
		}
		delete(b.shared, r)
		if canceled(ctx, err) {
			continue
		}
		for i, t := range b.targets {
			if b.served[i] && b.sources[i].Region == r {
				b.end(ctx, i, b.failedReport(i, StepShare, diagnose(err, StepShare, t)))
			}
		}
		b.log.Warn("reading the source's permissions failed", "source", b.sourceIn(r).ImageID, "region", r, "error", err)
	}
	return share
}

func (b *batchRun) sourceIn(region string) activities.Source {
	for _, s := range b.in.Sources {
		if s.Region == region {
			return s
		}
	}
	return activities.Source{Region: region}
}

// runTargets is the sliding window: start targets in order while the window
// and the per-account-region cap allow, wait for any to finish, revoke the
// shares of accounts that finished, repeat.
func (b *batchRun) runTargets(ctx workflow.Context) {
	for {
		if canceled(ctx, nil) {
			for i := range b.targets {
				if !b.started[i] && !final(b.reports[i].Status) {
					r := b.reports[i]
					r.Status = StatusCancelled
					b.end(ctx, i, r)
				}
			}
		} else {
			b.startTargets(ctx)
			b.revokeFinished(ctx)
		}
		if b.running == 0 && b.pending == 0 {
			return
		}
		b.selector.Select(ctx)
		for b.selector.HasPending() {
			b.selector.Select(ctx)
		}
	}
}

func perKey(t activities.Target) string { return t.Account + "/" + t.Region }

func (b *batchRun) startTargets(ctx workflow.Context) {
	for i, t := range b.targets {
		if b.running >= b.in.InFlight {
			return
		}
		if b.started[i] || final(b.reports[i].Status) || b.perKey[perKey(t)] >= b.in.PerAccountRegion {
			continue
		}
		b.started[i] = true
		b.running++
		b.perKey[perKey(t)]++
		b.reports[i].Status = StatusRunning
		if b.in.Children >= ChildrenOnSelector {
			b.watchTarget(ctx, i)
			continue
		}
		b.selector.AddFuture(b.execTarget(ctx, i), func(f workflow.Future) {
			var r TargetReport
			_ = f.Get(ctx, &r) // the future is never set with an error
			b.targetDone(ctx, i, r)
		})
	}
}

// targetDone frees target i's place in the window and records its report.
func (b *batchRun) targetDone(ctx workflow.Context, i int, r TargetReport) {
	b.running--
	b.perKey[perKey(b.targets[i])]--
	b.end(ctx, i, r)
}

// startTarget starts target i's child. It starts with its search
// attributes (run, account, region, running its first step) and is told so
// (AttributesAtWaits): both are part of the start command's content, which
// a replay does not compare, so a Batch recorded before them replays alike.
func (b *batchRun) startTarget(ctx workflow.Context, i int) (workflow.ChildWorkflowFuture, string) {
	t, src := b.targets[i], b.sources[i]
	id := TargetWorkflowID(src.ImageID, t.Account, t.Region)
	in := TargetInput{RunID: b.in.RunID, Source: src, Target: t, PipelineRoleARN: b.in.PipelineRoleARN, Builder: &b.in.Builder, Attributes: AttributesAtWaits}
	opts := childOptions(id)
	opts.TypedSearchAttributes = targetStartAttributes(b.in.RunID, t)
	return workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, opts), Target, in), id
}

// attachTarget waits for the run of target i's id that another run started.
func (b *batchRun) attachTarget(ctx workflow.Context, i int, id string) workflow.Future {
	b.log.Info("target already running, attaching to it", "workflow_id", id)
	var at *Attach
	return workflow.ExecuteActivity(withStep(ctx, stepAttach, b.targets[i]), at.AwaitTarget, id)
}

// watchTarget runs target i's child (or attaches to the run of the same id
// already under way) on the Batch's selector (ChildrenOnSelector), and
// records its report, whatever happened.
func (b *batchRun) watchTarget(ctx workflow.Context, i int) {
	child, id := b.startTarget(ctx, i)
	b.selector.AddFuture(child, func(f workflow.Future) {
		var r TargetReport
		err := f.Get(ctx, &r)
		if err != nil && alreadyStarted(err) {
			b.selector.AddFuture(b.attachTarget(ctx, i, id), func(f workflow.Future) {
				var r TargetReport
				err := f.Get(ctx, &r)
				b.targetDone(ctx, i, b.childReport(ctx, i, id, r, err))
			})
			return
		}
		b.targetDone(ctx, i, b.childReport(ctx, i, id, r, err))
	})
}

// execTarget is watchTarget for a Batch started before ChildrenOnSelector:
// a coroutine per child, resolving the future it returns to the child's
// report.
func (b *batchRun) execTarget(ctx workflow.Context, i int) workflow.Future {
	future, settable := workflow.NewFuture(ctx)
	workflow.Go(ctx, func(ctx workflow.Context) {
		var r TargetReport
		child, id := b.startTarget(ctx, i)
		err := child.Get(ctx, &r)
		if err != nil && alreadyStarted(err) {
			r = TargetReport{}
			err = b.attachTarget(ctx, i, id).Get(ctx, &r)
		}
		settable.Set(b.childReport(ctx, i, id, r, err), nil)
	})
	return future
}

// childReport is the report of target i from its child's result.
func (b *batchRun) childReport(ctx workflow.Context, i int, id string, r TargetReport, err error) TargetReport {
	if err == nil {
		return r
	}
	var canceledErr *temporal.CanceledError
	if errors.As(err, &canceledErr) {
		var cr TargetReport
		if canceledErr.HasDetails() && canceledErr.Details(&cr) == nil && cr.Account != "" {
			cr.Status = StatusCancelled
			return cr
		}
		cr = b.reports[i]
		cr.Status = StatusCancelled
		now := workflow.Now(ctx)
		cr.FinishedAt = &now
		return cr
	}
	return b.failedReport(i, "", activities.Diagnosis{
		Code:  activities.Other,
		Cause: fmt.Sprintf("workflow %s for account %s, region %s ended without a report: %v", id, b.targets[i].Account, b.targets[i].Region, err),
		Fix:   "read the workflow's history (temporal workflow show --workflow-id " + id + "), fix the cause and replay the target",
	})
}

func (b *batchRun) failedReport(i int, step string, d activities.Diagnosis) TargetReport {
	r := b.reports[i]
	r.Status = StatusFailed
	if step != "" {
		r.Step = step
	}
	r.Diagnosis = &d
	return r
}

// end records target i's final report and notes its account finished when
// it was the account's last.
func (b *batchRun) end(ctx workflow.Context, i int, r TargetReport) {
	if r.FinishedAt == nil {
		now := workflow.Now(ctx)
		r.FinishedAt = &now
	}
	b.reports[i] = r
	account := b.targets[i].Account
	b.left[account]--
	if b.left[account] == 0 {
		b.finished = append(b.finished, account)
	}
}

// RevokeDelay is how long a finished account's shares wait to be revoked,
// so that the accounts finishing meanwhile are revoked by the same calls
// (ModifyImageAttribute takes many accounts; the builder's bucket for it
// refills at 5 per second). The last targets of a batch do not wait.
const RevokeDelay = 15 * time.Second

// revokeFinished revokes the shares of the accounts that finished: after
// RevokeDelay (at once when no target is running), one UnshareSource per
// source region for all the accounts finished by then, at most one in flight
// per region. A revocation that fails leaves the share recorded, for
// revokeAll to try again.
func (b *batchRun) revokeFinished(ctx workflow.Context) {
	for _, acct := range b.finished {
		for _, r := range sortedKeys(b.shared) {
			if b.shared[r][acct] {
				b.revoking[r] = append(b.revoking[r], acct)
			}
		}
	}
	b.finished = nil
	waiting := false
	for _, accounts := range b.revoking {
		waiting = waiting || len(accounts) > 0
	}
	if !waiting {
		return
	}
	if b.running > 0 && !b.revokeDue {
		if b.cancelRevokeTimer == nil {
			tctx, cancel := workflow.WithCancel(ctx)
			b.cancelRevokeTimer = cancel
			b.pending++
			b.selector.AddFuture(workflow.NewTimer(tctx, RevokeDelay), func(f workflow.Future) {
				b.pending--
				b.cancelRevokeTimer = nil
				b.revokeDue = f.Get(ctx, nil) == nil
			})
		}
		return
	}
	if b.cancelRevokeTimer != nil {
		b.cancelRevokeTimer()
	}
	b.revokeDue = false
	var a *activities.Activities
	uctx := withStep(ctx, stepUnshare, activities.Target{})
	for _, r := range sortedKeys(b.revoking) {
		revoke := b.revoking[r]
		if len(revoke) == 0 || b.unsharing[r] {
			continue
		}
		delete(b.revoking, r)
		sort.Strings(revoke)
		in := activities.ShareSourceInput{Builder: b.in.Builder, Source: b.sourceIn(r), Accounts: revoke, Keep: b.keep[r].Only(revoke)}
		b.pending++
		b.unsharing[r] = true
		b.selector.AddFuture(workflow.ExecuteActivity(uctx, a.UnshareSource, in), func(f workflow.Future) {
			b.pending--
			b.unsharing[r] = false
			if err := f.Get(ctx, nil); err != nil {
				b.log.Warn("revoking shares failed; retried at the end of the batch", "region", r, "accounts", revoke, "error", err)
				return
			}
			for _, acct := range revoke {
				delete(b.shared[r], acct)
			}
		})
	}
}

// revokeAll revokes every share still in place — after the last target, or
// on failure or cancellation — in a context the cancellation does not reach.
// A share it cannot revoke is a warning on the account's reports.
func (b *batchRun) revokeAll(ctx workflow.Context) {
	var a *activities.Activities
	dctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	uctx := withStep(dctx, stepUnshare, activities.Target{})
	type call struct {
		region   string
		accounts []string
		future   workflow.Future
	}
	var calls []call
	for _, r := range sortedKeys(b.shared) {
		accounts := sortedKeys(b.shared[r])
		if len(accounts) == 0 {
			continue
		}
		in := activities.ShareSourceInput{Builder: b.in.Builder, Source: b.sourceIn(r), Accounts: accounts, Keep: b.keep[r].Only(accounts)}
		calls = append(calls, call{r, accounts, workflow.ExecuteActivity(uctx, a.UnshareSource, in)})
	}
	for _, c := range calls {
		err := c.future.Get(dctx, nil)
		if err == nil {
			for _, acct := range c.accounts {
				delete(b.shared[c.region], acct)
			}
			continue
		}
		src := b.sourceIn(c.region)
		b.log.Error("revoking shares failed", "region", c.region, "accounts", c.accounts, "error", err)
		for i, t := range b.targets {
			if b.sources[i].Region == c.region && contains(c.accounts, t.Account) {
				b.reports[i].Warnings = append(b.reports[i].Warnings, fmt.Sprintf(
					"source %s in %s is still shared with account %s (launch and create-volume permission): %v; remove them by hand or rerun",
					src.ImageID, c.region, t.Account, err))
			}
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

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
