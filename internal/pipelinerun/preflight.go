package pipelinerun

import (
	"context"
	"fmt"
	"io"
	"strings"

	"go.temporal.io/sdk/client"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/workflows"
)

// Preflight is the plan run before a run is started (`amicrypt run
// --preflight`, the Packer post-processor's `preflight = true`) and what it
// predicts. A run is started only when no target is predicted to fail, or
// when the caller allows it anyway.
type Preflight struct {
	Plan *workflows.PlanReport
	// Predicted lists the targets predicted to fail, as "account/region
	// code" (PredictedFailures).
	Predicted []string
}

// RunPreflight plans in with reads only; it starts nothing but the plan's
// own workflows.
func RunPreflight(ctx context.Context, c client.Client, taskQueue string, in workflows.PipelineInput) (*Preflight, error) {
	rep, err := Plan(ctx, c, taskQueue, in)
	if err != nil {
		return nil, fmt.Errorf("preflight: %w", err)
	}
	return &Preflight{Plan: rep, Predicted: PredictedFailures(rep)}, nil
}

// Clear reports whether no target is predicted to fail.
func (p *Preflight) Clear() bool { return len(p.Predicted) == 0 }

// Refusal is the error of a preflight that keeps the run from starting;
// howToGoOn ends it, e.g. "fix them as the plan says, or add
// --allow-predicted-failures".
func (p *Preflight) Refusal(howToGoOn string) error {
	return fmt.Errorf("preflight: nothing was started: %d of %d targets are predicted to fail: %s (%s)",
		len(p.Predicted), len(p.Plan.Targets), strings.Join(p.Predicted, ", "), howToGoOn)
}

// Allowed is the note printed when the run starts despite predicted
// failures, because option (the flag or setting that allows it) says so.
func (p *Preflight) Allowed(option string) string {
	return fmt.Sprintf("preflight: %d targets are predicted to fail (%s); starting anyway (%s)", len(p.Predicted), strings.Join(p.Predicted, ", "), option)
}

// WritePredictedFailures writes each target predicted to fail with every
// failure's step, code, cause and fix, as the plan's details do: a short
// form of WritePlan for where the whole plan is too much (Packer's output).
func WritePredictedFailures(w io.Writer, rep *workflows.PlanReport) {
	for _, t := range rep.Targets {
		if t.Outcome != activities.PlanFail || len(t.Failures) == 0 {
			continue
		}
		fmt.Fprintf(w, "%s %s (%s): %s\n", t.Account, t.Region, Dash(t.Name), t.Outcome)
		writePredictedFailures(w, t.Failures)
	}
}

// writePredictedFailures writes a target's predicted failures, each with
// its fix: the lines of WritePlan's details and of the dry runs'.
func writePredictedFailures(w io.Writer, failures []activities.Diagnosis) {
	for _, d := range failures {
		step := ""
		if d.Step != "" {
			step = " at " + d.Step
		}
		fmt.Fprintf(w, "  would fail%s: %s %s\n  fix: %s\n", step, d.Code, d.Cause, indent(d.Fix, "       "))
	}
}
