package pipelinerun

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/workflows"
)

// PlanWorkflowTargets is how many targets one Plan workflow plans: each
// target's plan carries its key policy (a few KB), so a slice's result
// stays far under Temporal's 2 MB payload limit.
const PlanWorkflowTargets = 150

// Plan plans a run with reads only: one Plan workflow per slice of
// PlanWorkflowTargets targets, all at once, merged in the input's order,
// with each source's predicted failure put on the targets that copy it.
func Plan(ctx context.Context, c client.Client, taskQueue string, in workflows.PipelineInput) (*workflows.PlanReport, error) {
	at := time.Now()
	type slice struct {
		id  string
		run client.WorkflowRun
	}
	var slices []slice
	for n, start := 0, 0; start < len(in.Targets) || n == 0; n, start = n+1, start+PlanWorkflowTargets {
		end := min(start+PlanWorkflowTargets, len(in.Targets))
		pin := workflows.PlanInput{RunID: in.RunID, Builder: in.Builder, Sources: in.Sources, Targets: in.Targets[start:end], PipelineRoleARN: in.PipelineRoleARN}
		if n == 0 {
			pin.Shares = workflows.PlanShares(in)
		}
		id := workflows.PlanWorkflowID(in.RunID, at, n)
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: id, TaskQueue: taskQueue, WorkflowExecutionTimeout: 30 * time.Minute,
		}, workflows.Plan, pin)
		if err != nil {
			return nil, fmt.Errorf("starting plan %s: %w", id, err)
		}
		slices = append(slices, slice{id, run})
	}
	rep := &workflows.PlanReport{RunID: in.RunID}
	for _, s := range slices {
		var part workflows.PlanReport
		if err := s.run.Get(ctx, &part); err != nil {
			return nil, fmt.Errorf("plan %s: %w", s.id, err)
		}
		rep.Sources = append(rep.Sources, part.Sources...)
		rep.Targets = append(rep.Targets, part.Targets...)
	}
	workflows.ApplySourcePlans(in, rep)
	return rep, nil
}

// PlanCounts counts a plan's targets by outcome.
func PlanCounts(rep *workflows.PlanReport) (ok, change, fail int) {
	for _, t := range rep.Targets {
		switch t.Outcome {
		case activities.PlanFail:
			fail++
		case activities.PlanChange:
			change++
		default:
			ok++
		}
	}
	return ok, change, fail
}

// PlanSummaryLine is "plan of run R: N targets: a ok, b will change, c will fail".
func PlanSummaryLine(rep *workflows.PlanReport) string {
	ok, change, fail := PlanCounts(rep)
	return fmt.Sprintf("plan of run %s: %d targets: %d ok, %d will change, %d will fail", rep.RunID, len(rep.Targets), ok, change, fail)
}

// PredictedFailures lists the targets a plan predicts to fail, as
// "account/region code".
func PredictedFailures(rep *workflows.PlanReport) []string {
	var out []string
	for _, t := range rep.Targets {
		if t.Outcome == activities.PlanFail && len(t.Failures) > 0 {
			out = append(out, t.Account+"/"+t.Region+" "+t.Failures[0].Code)
		}
	}
	return out
}

// planOrder is the table's grouping: what will fail first.
var planOrder = []string{activities.PlanFail, activities.PlanChange, activities.PlanOK}

// WritePlan writes a plan for a person: the sources, a table of the
// targets grouped by outcome, then each target's changes (with the exact
// statements or call), its predicted failures with their fixes, and its
// warnings; last the summary line.
func WritePlan(w io.Writer, rep *workflows.PlanReport) {
	fmt.Fprintln(w, "PLAN: nothing was changed in AWS (reads only); below is what the run would do, and what AWS would refuse")
	for _, s := range rep.Sources {
		line := fmt.Sprintf("source %s %s", s.Region, s.ImageID)
		if s.Name != "" {
			line += " (" + s.Name + ")"
		}
		switch {
		case s.Failure != nil:
			line += fmt.Sprintf(": would fail: %s %s\n  fix: %s", s.Failure.Code, s.Failure.Cause, indent(s.Failure.Fix, "       "))
		case s.Share != nil:
			line += ": " + s.Share.Do + " " + s.Share.Evidence
		default:
			line += fmt.Sprintf(": shared with every target account already (%d)", s.AlreadyShared)
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintln(w)
	writePlanTable(w, rep.Targets)
	writePlanDetails(w, rep.Targets)
	fmt.Fprintf(w, "\n%s\n", PlanSummaryLine(rep))
}

func writePlanTable(w io.Writer, targets []activities.TargetPlan) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "OUTCOME\tACCOUNT\tREGION\tNAME\tKEY\tCHANGES\tPREDICTED FAILURE")
	for _, outcome := range planOrder {
		for _, t := range targets {
			if t.Outcome != outcome {
				continue
			}
			failure := "-"
			if len(t.Failures) > 0 {
				failure = t.Failures[0].Code
				if t.Failures[0].Step != "" {
					failure += " (" + t.Failures[0].Step + ")"
				}
				if n := len(t.Failures); n > 1 {
					failure += fmt.Sprintf(" +%d", n-1)
				}
			}
			key := "(new)"
			if t.KeyARN != "" {
				key = ShortKey(t.KeyARN)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", t.Outcome, t.Account, t.Region, Dash(t.Name), key, len(t.Changes), failure)
		}
	}
	tw.Flush()
}

func writePlanDetails(w io.Writer, targets []activities.TargetPlan) {
	for _, outcome := range planOrder {
		for _, t := range targets {
			if t.Outcome != outcome || len(t.Changes)+len(t.Failures)+len(t.Warnings) == 0 {
				continue
			}
			fmt.Fprintf(w, "\n%s %s (%s): %s\n", t.Account, t.Region, Dash(t.Name), t.Outcome)
			for _, d := range t.Failures {
				step := ""
				if d.Step != "" {
					step = " at " + d.Step
				}
				fmt.Fprintf(w, "  would fail%s: %s %s\n  fix: %s\n", step, d.Code, d.Cause, indent(d.Fix, "       "))
			}
			for _, x := range t.Changes {
				fmt.Fprintf(w, "  would %s\n", x.String())
				if x.Detail != "" {
					fmt.Fprintf(w, "      %s\n", indent(x.Detail, "      "))
				}
			}
			for _, warn := range t.Warnings {
				fmt.Fprintf(w, "  warning      %s\n", warn)
			}
		}
	}
}
