package workflows

import (
	"strconv"
	"time"

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
// what the run would change and what AWS would refuse.
type PlanReport struct {
	RunID   string                  `json:"run_id"`
	Sources []activities.SourcePlan `json:"sources,omitempty"`
	Targets []activities.TargetPlan `json:"targets"`
}

// PlanWorkflowID names one slice of a plan started at a moment.
func PlanWorkflowID(runID string, at time.Time, slice int) string {
	return "amicrypt-plan-" + runID + "-" + at.UTC().Format("20060102T150405.000Z") + "-" + strconv.Itoa(slice)
}

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
	var out []activities.ShareSourceInput
	for _, s := range in.Sources {
		if len(accounts[s.Region]) == 0 {
			continue
		}
		out = append(out, activities.ShareSourceInput{Builder: in.Builder, Source: s, Accounts: sortedKeys(accounts[s.Region])})
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
