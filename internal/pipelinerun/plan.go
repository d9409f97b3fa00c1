package pipelinerun

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/operator"
	"github.com/amicrypt/amicrypt/workflows"
)

// Plan plans a run with reads only. A PlanRun workflow gathers the run's
// targets (the first part in its input, the others signalled as
// pipelinerun.Start sends a run's; the organization's resolved by the
// worker) and starts one Plan workflow per workflows.PlanWorkflowTargets;
// Plan reads each one's result and merges them in the targets' order, with
// each source's predicted failure put on the targets that copy it.
func Plan(ctx context.Context, c client.Client, taskQueue string, in workflows.PipelineInput) (*workflows.PlanReport, error) {
	id := workflows.PlanRunWorkflowID(in.RunID, time.Now())
	// The plan is one run that only reads: its activities assume their
	// roles read-only, in sessions named after the plan.
	at := operator.From(ctx)
	at.ReadOnly, at.Run = true, id
	ctx = operator.With(ctx, at)
	sources := in.Sources
	parts := SplitTargets(in.Targets)
	if len(parts) > 1 {
		in.Targets, in.TargetParts = parts[0], len(parts)
	}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: taskQueue, WorkflowExecutionTimeout: workflows.PlanTimeout,
	}, workflows.PlanRun, in)
	if err != nil {
		return nil, fmt.Errorf("starting plan %s: %w", id, err)
	}
	if err := sendParts(ctx, c, id, parts); err != nil {
		return nil, err
	}
	var started workflows.PlanRunReport
	if err := run.Get(ctx, &started); err != nil {
		return nil, fmt.Errorf("plan %s: %w", id, err)
	}
	rep := &workflows.PlanReport{RunID: in.RunID, Organization: started.Organization}
	for n := range started.Slices {
		slice := workflows.PlanSliceWorkflowID(id, n)
		var part workflows.PlanReport
		if err := c.GetWorkflow(ctx, slice, "").Get(ctx, &part); err != nil {
			return nil, fmt.Errorf("plan %s: %w", slice, err)
		}
		rep.Sources = append(rep.Sources, part.Sources...)
		rep.Targets = append(rep.Targets, part.Targets...)
	}
	workflows.ApplySourcePlans(workflows.PipelineInput{Sources: sources}, rep)
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
	return "plan of run " + rep.RunID + ": " + outcomeCounts(len(rep.Targets), "target", ok, change, fail)
}

// outcomeCounts is "N targets: a ok, b will change, c will fail".
func outcomeCounts(n int, noun string, ok, change, fail int) string {
	if n != 1 {
		noun += "s"
	}
	return fmt.Sprintf("%d %s: %d ok, %d will change, %d will fail", n, noun, ok, change, fail)
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
	WriteOrganization(w, rep.Organization)
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
	items := make([]planItem, len(rep.Targets))
	for i, t := range rep.Targets {
		key := "(new)"
		if t.KeyARN != "" {
			key = ShortKey(t.KeyARN)
		}
		items[i] = planItem{outcome: t.Outcome, account: t.Account, region: t.Region, label: t.Name,
			columns: []string{Dash(t.Name), key}, failures: t.Failures, changes: t.Changes, warnings: t.Warnings}
	}
	writePlanTable(w, []string{"NAME", "KEY"}, items)
	writePlanDetails(w, items)
	fmt.Fprintf(w, "\n%s\n", PlanSummaryLine(rep))
}

// planItem is one row of a plan's table and its section beneath the
// table: a target of a plan, a region of a rotation's dry run, a key of a
// sweep's. The plan and the dry runs are written by the same functions.
type planItem struct {
	// outcome is activities.PlanFail, PlanChange or PlanOK; while a dry
	// run goes on, a row's status (pending, running: step).
	outcome         string
	account, region string
	// label names the item in its section's heading: the target's name, a
	// key's alias.
	label string
	// columns are the row's values between REGION and CHANGES, under the
	// headers the table is given.
	columns  []string
	failures []activities.Diagnosis
	// facts are what stays and why, and what the changes rest on: the key
	// moved from and to, an image kept and what keeps it, what holds an
	// old key, a sweep's findings.
	facts    []planFact
	changes  []activities.Action
	warnings []string
}

// planFact is one line of an item's section: "label        text".
type planFact struct{ label, text string }

// byOutcome is the items grouped as the table shows them: what will fail,
// what will change, what is ok, then any other outcome (a dry run's rows
// still pending or running), each group in the items' order.
func byOutcome(items []planItem) []planItem {
	out := make([]planItem, 0, len(items))
	for _, outcome := range planOrder {
		for _, it := range items {
			if it.outcome == outcome {
				out = append(out, it)
			}
		}
	}
	for _, it := range items {
		if !slices.Contains(planOrder, it.outcome) {
			out = append(out, it)
		}
	}
	return out
}

// writePlanTable is the table of a plan or a dry run: a row per item
// grouped by outcome, headers naming its columns between REGION and
// CHANGES.
func writePlanTable(w io.Writer, headers []string, items []planItem) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "OUTCOME\tACCOUNT\tREGION\t%s\tCHANGES\tPREDICTED FAILURE\n", strings.Join(headers, "\t"))
	for _, it := range byOutcome(items) {
		failure := "-"
		if len(it.failures) > 0 {
			failure = it.failures[0].Code
			if it.failures[0].Step != "" {
				failure += " (" + it.failures[0].Step + ")"
			}
			if n := len(it.failures); n > 1 {
				failure += fmt.Sprintf(" +%d", n-1)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", it.outcome, it.account, it.region, strings.Join(it.columns, "\t"), len(it.changes), failure)
	}
	tw.Flush()
}

// writePlanDetails writes, per item with something to say, in the
// table's order: what it would fail at with the fix, its facts, each
// change as "would <do> <resource> (evidence)" with the exact detail
// indented beneath, and its warnings.
func writePlanDetails(w io.Writer, items []planItem) {
	for _, it := range byOutcome(items) {
		if len(it.failures)+len(it.facts)+len(it.changes)+len(it.warnings) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s %s (%s): %s\n", it.account, it.region, Dash(it.label), it.outcome)
		writePredictedFailures(w, it.failures)
		for _, f := range it.facts {
			fmt.Fprintf(w, "  %-12s %s\n", f.label, f.text)
		}
		for _, x := range it.changes {
			fmt.Fprintf(w, "  would %s\n", x.String())
			if x.Detail != "" {
				fmt.Fprintf(w, "      %s\n", indent(x.Detail, "      "))
			}
		}
		for _, warn := range it.warnings {
			fmt.Fprintf(w, "  warning      %s\n", warn)
		}
	}
}

// DescribeTargets says which targets a run, plan or sweep serves, for
// the lines that start one: "12 targets", or with organization selectors
// "12 listed targets and the organization's (2 selectors, resolved as it
// starts)".
func DescribeTargets(listed []activities.Target, org *activities.OrganizationTargets) string {
	if org == nil {
		return fmt.Sprintf("%d targets", len(listed))
	}
	sel := fmt.Sprintf("the organization's (%d selectors, resolved as it starts)", len(org.Selectors))
	if len(listed) == 0 {
		return "the targets of " + sel
	}
	return fmt.Sprintf("%d listed targets and %s", len(listed), sel)
}
