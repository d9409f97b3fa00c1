package pipelinerun

import (
	"bytes"
	"strings"
	"testing"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/workflows"
)

func samplePreflight() *Preflight {
	plan := &workflows.PlanReport{RunID: "597919bd98d9", Targets: []activities.TargetPlan{
		{Account: "222222222222", Name: "payments-prod", Region: "us-east-1", Outcome: activities.PlanChange,
			Changes: []activities.Action{{Do: activities.ActCreate, Resource: "key alias/amicrypt"}}},
		{Account: "444444444444", Name: "legacy-batch", Region: "us-east-1", Outcome: activities.PlanFail, Failures: []activities.Diagnosis{
			{Code: activities.F2, Step: "key", Cause: "the key policy leaves Auto Scaling out", Fix: "add the statements\nor a grant"}}},
	}}
	return &Preflight{Plan: plan, Predicted: PredictedFailures(plan)}
}

func TestPreflightMessages(t *testing.T) {
	pf := samplePreflight()
	if pf.Clear() {
		t.Fatal("a plan with a predicted failure is clear")
	}
	if got, want := pf.Refusal("fix them"), "preflight: nothing was started: 1 of 2 targets are predicted to fail: 444444444444/us-east-1 F2 (fix them)"; got.Error() != want {
		t.Errorf("refusal %q, want %q", got, want)
	}
	if got, want := pf.Allowed("--allow-predicted-failures"), "preflight: 1 targets are predicted to fail (444444444444/us-east-1 F2); starting anyway (--allow-predicted-failures)"; got != want {
		t.Errorf("allowed %q, want %q", got, want)
	}
	if !(&Preflight{Plan: &workflows.PlanReport{}}).Clear() {
		t.Error("a plan without predicted failures is not clear")
	}
}

// The short form lists only the targets predicted to fail, each failure
// with its fix, as the whole plan does.
func TestWritePredictedFailures(t *testing.T) {
	pf := samplePreflight()
	var short, whole bytes.Buffer
	WritePredictedFailures(&short, pf.Plan)
	want := "444444444444 us-east-1 (legacy-batch): will-fail\n  would fail at key: F2 the key policy leaves Auto Scaling out\n  fix: add the statements\n       or a grant\n"
	if short.String() != want {
		t.Errorf("got\n%s\nwant\n%s", short.String(), want)
	}
	WritePlan(&whole, pf.Plan)
	if !strings.Contains(whole.String(), want) {
		t.Errorf("the whole plan does not carry the same failure text:\n%s", whole.String())
	}
}
