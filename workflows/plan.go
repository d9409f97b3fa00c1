package workflows

import (
	"cmp"
	"fmt"
	"strconv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/workflow"

	"github.com/amicrypt/amicrypt/activities"
)

// PlanInput is one slice of a plan: the targets to plan, and (in the first
// slice) the shares of the sources to plan. A plan of many targets is
// several Plan workflows, so that each result stays far under Temporal's
// payload limit (a target's plan carries its key policy, a few KB).
type PlanInput struct {
	RunID           string              `json:"run_id"`
	Builder         activities.Builder  `json:"builder"`
	Sources         []activities.Source `json:"sources"`
	Targets         []activities.Target `json:"targets"`
	PipelineRoleARN string              `json:"pipeline_role_arn,omitempty"`
	// Shares are the sources' shares to plan, each with every account the
	// whole run would share it with.
	Shares []activities.ShareSourceInput `json:"shares,omitempty"`
}

// PlanReport is a plan: per source what sharing it would do, per target
// what the run would change and what AWS would refuse; and, when the run
// has organization targets, what they resolved to.
type PlanReport struct {
	RunID        string                  `json:"run_id"`
	Organization *OrganizationResolution `json:"organization,omitempty"`
	Sources      []activities.SourcePlan `json:"sources,omitempty"`
	Targets      []activities.TargetPlan `json:"targets"`
}

// PlanRunWorkflowID names the PlanRun of a plan started at a moment.
func PlanRunWorkflowID(runID string, at time.Time) string {
	return "amicrypt-plan-" + runID + "-" + at.UTC().Format("20060102T150405.000Z")
}

// PlanSliceWorkflowID names slice n of a PlanRun's plan: a Plan workflow.
func PlanSliceWorkflowID(planRunID string, n int) string {
	return planRunID + "-" + strconv.Itoa(n)
}

// PlanWorkflowTargets is how many targets one Plan workflow plans: each
// target's plan carries its key policy (a few KB), so a slice's result
// stays under Temporal's payload limits.
const PlanWorkflowTargets = 150

// PlanRunReport is what a PlanRun returns: how many Plan workflows hold
// the plan (PlanSliceWorkflowID 0 … Slices-1, in the targets' order), and
// what the organization's targets resolved to. It stays a few hundred
// bytes whatever the number of targets.
type PlanRunReport struct {
	RunID        string                  `json:"run_id"`
	Targets      int                     `json:"targets"`
	Slices       int                     `json:"slices"`
	Organization *OrganizationResolution `json:"organization,omitempty"`
}

// PlanRun plans a run of any size: it gathers the run's targets as the
// Pipeline does (the parts its starter signals, the organization's
// accounts resolved with reads), then starts one Plan workflow per
// PlanWorkflowTargets targets (the first also plans the sources' shares)
// and returns as soon as they have started. The Plan workflows outlive it
// (their parent-close policy is abandon), and the client reads each one's
// result: a plan's rows never pass through one workflow's history or one
// payload.
func PlanRun(ctx workflow.Context, in PipelineInput) (PlanRunReport, error) {
	rep := PlanRunReport{RunID: in.RunID}
	all, org, err := gatherTargets(ctx, workflow.GetLogger(ctx), in)
	rep.Organization = org
	if err != nil {
		return rep, err
	}
	whole := in
	whole.Targets, whole.TargetParts, whole.Organization = all, 0, nil
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	var started []workflow.ChildWorkflowFuture
	for n, start := 0, 0; start < len(all) || n == 0; n, start = n+1, start+PlanWorkflowTargets {
		end := min(start+PlanWorkflowTargets, len(all))
		pin := PlanInput{RunID: in.RunID, Builder: in.Builder, Sources: in.Sources, Targets: all[start:end], PipelineRoleARN: in.PipelineRoleARN}
		if n == 0 {
			pin.Shares = PlanShares(whole)
		}
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:               PlanSliceWorkflowID(id, n),
			WorkflowExecutionTimeout: PlanTimeout,
			ParentClosePolicy:        enumspb.PARENT_CLOSE_POLICY_ABANDON,
		})
		started = append(started, workflow.ExecuteChildWorkflow(cctx, Plan, pin))
	}
	for n, f := range started {
		if err := f.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
			return rep, fmt.Errorf("starting slice %d of the plan: %w", n, err)
		}
	}
	rep.Targets, rep.Slices = len(all), len(started)
	return rep, nil
}

// PlanTimeout bounds a PlanRun and each of its Plan workflows.
const PlanTimeout = 30 * time.Minute

// PlanSlice is how many targets one PlanTargets activity plans.
const PlanSlice = 50

// Plan plans a slice of a run with reads only: PlanShare per source, then
// PlanTargets per PlanSlice targets, all at once.
func Plan(ctx workflow.Context, in PlanInput) (PlanReport, error) {
	var a *activities.Activities
	rep := PlanReport{RunID: in.RunID}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    2 * time.Minute,
		RetryPolicy:         retry(time.Second, 30*time.Second, 10),
	})
	shares := make([]workflow.Future, len(in.Shares))
	for i, s := range in.Shares {
		shares[i] = workflow.ExecuteActivity(actx, a.PlanShare, s)
	}
	var slices []workflow.Future
	for start := 0; start < len(in.Targets); start += PlanSlice {
		end := min(start+PlanSlice, len(in.Targets))
		items := make([]activities.PlanItem, 0, end-start)
		for _, t := range in.Targets[start:end] {
			src, _ := NearestSource(in.Sources, t.Region)
			items = append(items, activities.PlanItem{Target: t, Source: src})
		}
		slices = append(slices, workflow.ExecuteActivity(actx, a.PlanTargets, activities.PlanTargetsInput{
			RunID: in.RunID, Builder: in.Builder, Items: items, Pipeline: in.PipelineRoleARN,
		}))
	}
	for _, f := range shares {
		var sp activities.SourcePlan
		if err := f.Get(ctx, &sp); err != nil {
			return rep, err
		}
		rep.Sources = append(rep.Sources, sp)
	}
	for _, f := range slices {
		var plans []activities.TargetPlan
		if err := f.Get(ctx, &plans); err != nil {
			return rep, err
		}
		rep.Targets = append(rep.Targets, plans...)
	}
	return rep, nil
}

// PlanShares are the shares a run of in would make: per source, every
// account whose targets copy it.
func PlanShares(in PipelineInput) []activities.ShareSourceInput {
	accounts := map[string]map[string]bool{}
	for _, t := range in.Targets {
		src, ok := NearestSource(in.Sources, t.Region)
		if !ok {
			continue
		}
		if accounts[src.Region] == nil {
			accounts[src.Region] = map[string]bool{}
		}
		accounts[src.Region][t.Account] = true
	}
	// A run shares a source with one batch's accounts at a time.
	batchAccounts := min(cmp.Or(in.BatchAccounts, DefaultBatchAccounts), activities.MaxSourceShares)
	var out []activities.ShareSourceInput
	for _, s := range in.Sources {
		if len(accounts[s.Region]) == 0 {
			continue
		}
		out = append(out, activities.ShareSourceInput{Builder: in.Builder, Source: s, Accounts: sortedKeys(accounts[s.Region]), AtOnce: batchAccounts})
	}
	return out
}

// ApplySourcePlans puts a source's predicted failure on every target that
// copies it (the run's ShareSource would fail them all), first, as the
// run meets it first.
func ApplySourcePlans(in PipelineInput, rep *PlanReport) {
	failed := map[string]*activities.Diagnosis{}
	for _, s := range rep.Sources {
		if s.Failure != nil {
			failed[s.Region] = s.Failure
		}
	}
	if len(failed) == 0 {
		return
	}
	for i := range rep.Targets {
		tp := &rep.Targets[i]
		src, ok := NearestSource(in.Sources, tp.Region)
		if d := failed[src.Region]; ok && d != nil {
			tp.Failures = append([]activities.Diagnosis{*d}, tp.Failures...)
			tp.Outcome = activities.PlanFail
		}
	}
}
