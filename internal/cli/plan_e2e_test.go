//go:build linux

package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/config"
	"github.com/amicrypt/amicrypt/internal/pipelinerun"
	"github.com/amicrypt/amicrypt/internal/sandbox"
	"github.com/amicrypt/amicrypt/internal/sandbox/world"
	"github.com/amicrypt/amicrypt/workflows"
)

// The plan and the run it precedes agree, target by target, on worlds
// where each predicted failure is there to find. The default world's five
// targets, changed so that:
//
//   - 222222222222 us-east-1 is healthy: the plan says the run creates the
//     key, and the run creates it — and nothing else of the kind;
//   - 222222222222 eu-west-1 names a boot-proof subnet that does not exist;
//   - 333333333333 us-east-1 is healthy: the plan says the run creates the
//     service-linked role;
//   - 333333333333 eu-west-1 proves an x86_64 image on an arm64 type;
//   - 444444444444 us-east-1, whose key the service-linked role cannot use
//     (the default world's F2), asks for a grant to the role instead — and
//     names a launch principal that may not use the key (F4, seed 002).
//
// A second round replans with 333333333333 eu-west-1's role naming another
// account (F7). The sandbox's counters show no mutating call during either
// plan but sts:AssumeRole.
func TestThePlanPredictsWhatTheRunThenDoes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the amicrypt binary and runs a plan and a pipeline")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	w := durWorld(t)
	w.Timing.CopySeconds = 1
	const deployer = "app-deployer"
	w.Account("444444444444").Roles = append(w.Account("444444444444").Roles, world.Role{Name: deployer, Path: "/",
		Trust: json.RawMessage(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444444444444:root"},"Action":["sts:AssumeRole","sts:SetSourceIdentity"]}]}`)})
	s := startOneWorker(ctx, t, w, "plan")
	endpoint, c, taskQueue := s.endpoint, s.client, s.taskQueue

	cfg, err := config.Parse(config.Example(), "example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, src, targets, err := cfg.Expand(builderSources(w, "111111111111"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"222222222222/us-east-1": workflows.StatusSucceeded,
		"222222222222/eu-west-1": activities.NoSubnet,
		"333333333333/us-east-1": workflows.StatusSucceeded,
		"333333333333/eu-west-1": activities.Architecture,
		"444444444444/us-east-1": activities.F4,
	}
	for i := range targets {
		tg := &targets[i]
		switch tg.ID() {
		case "222222222222/eu-west-1":
			tg.BootProof.SubnetIDs = []string{"subnet-0feedfacefeedface0"}
		case "444444444444/us-east-1":
			tg.GrantServiceLinkedRole = true
			tg.LaunchPrincipals = []string{"arn:aws:iam::444444444444:role/" + deployer}
		case "333333333333/eu-west-1":
			tg.BootProof.InstanceType = "t4g.micro"
		}
	}
	if len(targets) != len(want) {
		t.Fatalf("the example config changed: %d targets", len(targets))
	}
	in := workflows.PipelineInput{Builder: b, Sources: src, Targets: targets, InFlight: cfg.Concurrency.InFlight, PerAccountRegion: cfg.Concurrency.PerAccountRegion}
	in.RunID = runIDFor(in)

	plan := planWithoutWrites(ctx, t, c, taskQueue, endpoint, in)
	for _, tp := range plan.Targets {
		if got := predicted(tp); got != want[tp.Account+"/"+tp.Region] {
			t.Errorf("plan of %s/%s: %s, want %s (%+v)", tp.Account, tp.Region, got, want[tp.Account+"/"+tp.Region], tp.Failures)
		}
	}
	healthy := planOf(plan, "222222222222", "us-east-1")
	if !hasChange(healthy, activities.ActCreate, "key alias/amicrypt") {
		t.Errorf("the healthy target's plan does not create the key: %+v", healthy.Changes)
	}
	if !hasChange(planOf(plan, "333333333333", "us-east-1"), activities.ActCreate, "service-linked role AWSServiceRoleForAutoScaling") {
		t.Errorf("the plan does not create 333333333333's service-linked role: %+v", planOf(plan, "333333333333", "us-east-1").Changes)
	}
	if exitForPlan(plan) == nil {
		t.Error("a plan with predicted failures exits 0")
	}
	var text strings.Builder
	pipelinerun.WritePlan(&text, plan)
	for _, s := range []string{"will-fail", "would fail at boot-proof: subnet", "subnet-0feedfacefeedface0", "t4g.micro", "app-deployer", "kms:GrantIsForAWSResource", "would create key alias/amicrypt", `"Sid"`, "aws kms create-grant", "aws iam create-service-linked-role"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("the plan's text lacks %q:\n%s", s, text.String())
		}
	}

	// The run, on the same targets.
	before := counters(ctx, t, endpoint)
	run, _, err := startPipeline(ctx, c, taskQueue, in)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := followRun(ctx, c, run, io.Discard, true)
	if err != nil {
		t.Fatalf("run %s: %v", in.RunID, err)
	}
	after := counters(ctx, t, endpoint)
	for _, tr := range rep.Targets {
		got := tr.Status
		if tr.Diagnosis != nil {
			got = tr.Diagnosis.Code
		}
		tp := planOf(plan, tr.Account, tr.Region)
		if got != predicted(tp) {
			t.Errorf("%s/%s: the plan predicted %s, the run ended %s (%v)", tr.Account, tr.Region, predicted(tp), got, tr.Diagnosis)
		}
		if tr.Status != workflows.StatusSucceeded {
			continue
		}
		// What the plan said the run creates, the run created, and no more.
		for call, do := range map[string]string{"kms:CreateKey": activities.ActCreate + " key", "kms:PutKeyPolicy": activities.ActUpdatePolicy, "kms:CreateGrant": activities.ActCreateGrant} {
			planned := 0
			for _, x := range tp.Changes {
				if strings.HasPrefix(x.Do+" "+x.Resource, do) {
					planned++
				}
			}
			k := tr.Account + "/" + tr.Region + " " + call
			if made := after[k] - before[k]; made != int64(planned) {
				t.Errorf("%s/%s: the run made %d %s, the plan listed %d", tr.Account, tr.Region, made, call, planned)
			}
		}
	}

	// Round two: a role of another account.
	for i := range in.Targets {
		if in.Targets[i].ID() == "333333333333/eu-west-1" {
			in.Targets[i].RoleARN = strings.Replace(in.Targets[i].RoleARN, "333333333333", "222222222222", 1)
			in.Targets = in.Targets[i : i+1]
			break
		}
	}
	in.RunID = runIDFor(in)
	plan = planWithoutWrites(ctx, t, c, taskQueue, endpoint, in)
	if got := predicted(plan.Targets[0]); got != activities.F7 {
		t.Errorf("a role of another account: plan predicts %s, want F7 (%+v)", got, plan.Targets[0].Failures)
	}
	run, _, err = startPipeline(ctx, c, taskQueue, in)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err = followRun(ctx, c, run, io.Discard, true); err != nil {
		t.Fatal(err)
	}
	if d := rep.Targets[0].Diagnosis; d == nil || d.Code != activities.F7 {
		t.Errorf("a role of another account: the run ended %s (%v), the plan predicted F7", rep.Targets[0].Status, d)
	}
}

// planWithoutWrites plans in and fails the test when the sandbox saw a
// mutating call meanwhile (sts:AssumeRole aside).
func planWithoutWrites(ctx context.Context, t *testing.T, c client.Client, taskQueue, endpoint string, in workflows.PipelineInput) *workflows.PlanReport {
	t.Helper()
	before := counters(ctx, t, endpoint)
	plan, err := pipelinerun.Plan(ctx, c, taskQueue, in)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if writes := sandbox.NewWrites(before, counters(ctx, t, endpoint)); len(writes) > 0 {
		t.Errorf("the plan made mutating calls: %v", writes)
	}
	if len(plan.Targets) != len(in.Targets) {
		t.Fatalf("%d targets planned, %d given", len(plan.Targets), len(in.Targets))
	}
	return plan
}

// counters reads the sandbox's mutating calls by account, region and action.
func counters(ctx context.Context, t *testing.T, endpoint string) map[string]int64 {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/_sandbox/counters", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rows []sandbox.CounterRow
	if err := json.NewDecoder(resp.Body).Decode(&rows); err != nil {
		t.Fatal(err)
	}
	return sandbox.Writes(rows, "")
}

// predicted is a target plan's outcome as the run's report would say it:
// the first failure's code, or succeeded.
func predicted(tp activities.TargetPlan) string {
	if len(tp.Failures) > 0 {
		return tp.Failures[0].Code
	}
	return workflows.StatusSucceeded
}

func planOf(p *workflows.PlanReport, account, region string) activities.TargetPlan {
	for _, tp := range p.Targets {
		if tp.Account == account && tp.Region == region {
			return tp
		}
	}
	return activities.TargetPlan{}
}

func hasChange(tp activities.TargetPlan, do, resource string) bool {
	for _, x := range tp.Changes {
		if x.Do == do && x.Resource == resource {
			return true
		}
	}
	return false
}
