package cli

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/config"
	"github.com/amicrypt/amicrypt/workflows"
)

// A batch terminated while its targets copy never revokes its shares: the
// unencrypted source stays shared with its accounts. The next run finds the
// batch's history in Temporal, revokes what it had shared (and only that),
// and says so in its report — before sharing anything itself.
func TestTheNextRunRevokesWhatATerminatedBatchLeftShared(t *testing.T) {
	t.Parallel()
	w := durWorld(t) // copies of 6 s: the batch is caught with its shares in place
	env := startE2E(t, w)
	cfg, err := config.Parse(config.Example(), "example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	all := pipelineFor(t, env, cfg)
	byAccount := func(account string) workflows.PipelineInput {
		in := all
		in.Targets = nil
		for _, tg := range all.Targets {
			if tg.Account == account {
				in.Targets = append(in.Targets, tg)
			}
		}
		in.RunID = runIDFor(in)
		return in
	}
	first, second := byAccount("222222222222"), byAccount("333333333333")
	if len(first.Targets) == 0 || len(second.Targets) == 0 {
		t.Fatalf("the example config changed: targets %v", all.Targets)
	}
	source := first.Sources[0]

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	run, _, err := startPipeline(ctx, env.Client, env.TaskQueue, first)
	if err != nil {
		t.Fatal(err)
	}
	shared := func() []string {
		for _, im := range sandboxState(t, env).Accounts[env.BuilderAccount].Regions[source.Region].Images {
			if im.ID == source.ImageID {
				return im.LaunchPermissions
			}
		}
		return nil
	}
	for !slices.Contains(shared(), "222222222222") {
		if ctx.Err() != nil {
			t.Fatal("the first run never shared its source")
		}
		time.Sleep(100 * time.Millisecond)
	}
	batch := workflows.BatchWorkflowID(first.RunID, 0)
	if err := env.Client.TerminateWorkflow(ctx, batch, "", "test: a batch terminated before its revocation"); err != nil {
		t.Fatal(err)
	}
	if _, err := followRun(ctx, env.Client, run, nil, true); err != nil {
		t.Logf("first run: %v", err)
	}
	if !slices.Contains(shared(), "222222222222") {
		t.Fatalf("the terminated batch's share is gone by itself (%v): the test tests nothing", shared())
	}

	rep := runToReport(t, env, second)
	if got := shared(); len(got) != 0 {
		t.Errorf("after the next run the source %s is still shared with %v", source.ImageID, got)
	}
	if len(rep.Housekeeping) == 0 || !strings.Contains(strings.Join(rep.Housekeeping, "\n"), "222222222222") || !strings.Contains(strings.Join(rep.Housekeeping, "\n"), batch) {
		t.Errorf("the next run's report does not say it revoked the share %s left: housekeeping %v, warnings %v", batch, rep.Housekeeping, rep.Warnings)
	}
	if rep.Summary[workflows.StatusSucceeded] != len(second.Targets) {
		t.Errorf("the next run: %v", rep.Summary)
	}
}

// A target terminated during its boot proof, whose proof could not delete
// its group itself (the worker lost, AWS refusing at that moment), leaves
// the Auto Scaling group launching instances for ever. Once the proof's time is over, the next
// target of the account and region finds the group, asks Temporal that its
// workflow is closed, removes it and its template, and reports it.
func TestTheNextTargetRemovesTheBootProofATerminatedTargetLeft(t *testing.T) {
	t.Parallel() // mostly waits for the proof's minute to pass
	w := durWorld(t)
	w.Timing.BootSeconds = 20 // the proof is caught under way
	env := startE2E(t, w)
	cfg, err := config.Parse(config.Example(), "example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	all := pipelineFor(t, env, cfg)
	in := all
	in.Targets = nil
	for _, tg := range all.Targets {
		if tg.Account == "222222222222" && tg.Region == "us-east-1" {
			tg.BootProof.Timeout = time.Minute // the shortest the config allows
			in.Targets = append(in.Targets, tg)
		}
	}
	if len(in.Targets) != 1 {
		t.Fatalf("the example config changed: targets %v", all.Targets)
	}
	tg := in.Targets[0]
	in.RunID = runIDFor(in)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run, _, err := startPipeline(ctx, env.Client, env.TaskQueue, in)
	if err != nil {
		t.Fatal(err)
	}
	groups := func() []string {
		var out []string
		for name := range sandboxState(t, env).Accounts[tg.Account].Regions[tg.Region].Groups {
			out = append(out, name)
		}
		return out
	}
	for len(groups()) == 0 {
		if ctx.Err() != nil {
			t.Fatal("the boot proof never started")
		}
		time.Sleep(100 * time.Millisecond)
	}
	created := time.Now()
	src, _ := workflows.NearestSource(in.Sources, tg.Region)
	target := workflows.TargetWorkflowID(src.ImageID, tg.Account, tg.Region)
	// The proof's own cleanup fails (a worker lost at that moment would do
	// the same): terminated, the workflow runs no compensation either.
	setBehaviour(t, env, `{"actions": {"autoscaling:DeleteAutoScalingGroup": {"error_rate": 1}}}`)
	// The target first: terminated, it runs no compensation (a cancelled
	// one would delete its proof).
	for _, id := range []string{target, workflows.BatchWorkflowID(in.RunID, 0), workflows.PipelineWorkflowID(in.RunID)} {
		if err := env.Client.TerminateWorkflow(ctx, id, "", "test: terminated during the boot proof"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := followRun(ctx, env.Client, run, nil, true); err == nil {
		t.Log("the first run ended without an error")
	}
	// The proof's activity, left running, ends its wait and fails to
	// delete the group (the SDK tries three times).
	for refused := int64(0); refused < 3; {
		if ctx.Err() != nil {
			t.Fatal("the proof never tried to delete its group")
		}
		time.Sleep(200 * time.Millisecond)
		refused = 0
		for _, r := range env.Sandbox.Counters() {
			if r.Account == tg.Account && r.Action == "autoscaling:DeleteAutoScalingGroup" {
				refused += r.InjectedErrors
			}
		}
	}
	time.Sleep(time.Second)
	setBehaviour(t, env, `{"actions": {"autoscaling:DeleteAutoScalingGroup": {"error_rate": 0}}}`)
	left := groups()
	if len(left) != 1 {
		t.Fatalf("groups after the termination: %v, want the proof's", left)
	}

	// A second run of the account and region, once the proof's minute is
	// over.
	time.Sleep(time.Until(created.Add(time.Minute + 2*time.Second)))
	again := in
	again.Targets = []activities.Target{tg}
	again.Targets[0].BootProof.Timeout = 2 * time.Minute
	again.RunID = runIDFor(again)
	rep := runToReport(t, env, again)
	if rep.Summary[workflows.StatusSucceeded] != 1 {
		t.Fatalf("the next run: %v %+v", rep.Summary, rep.Targets)
	}
	row := rep.Targets[0]
	if len(row.LeftoversRemoved) != 1 || !strings.Contains(row.LeftoversRemoved[0], left[0]) || !strings.Contains(row.LeftoversRemoved[0], target) {
		t.Errorf("the next target removed %v, want %s of %s", row.LeftoversRemoved, left[0], target)
	}
	if g := groups(); len(g) != 0 {
		t.Errorf("groups left: %v", g)
	}
	for _, lt := range sandboxState(t, env).Accounts[tg.Account].Regions[tg.Region].LaunchTemplates {
		if lt.Name == left[0] {
			t.Errorf("launch template %s left", lt.Name)
		}
	}
}
