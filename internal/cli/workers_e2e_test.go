//go:build linux

package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/sdk/client"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/benchkit"
	"github.com/amicrypt/amicrypt/internal/config"
	"github.com/amicrypt/amicrypt/internal/sandbox/world"
	"github.com/amicrypt/amicrypt/internal/temporalconn"
	"github.com/amicrypt/amicrypt/workflows"
)

// sharedRunAccounts are the clean target accounts this test adds to the
// default world beside 222222222222 and 333333333333: six accounts of two
// regions, twelve targets for three workers to share.
var sharedRunAccounts = []string{"555555555501", "555555555502", "555555555503", "555555555504"}

// Three 'amicrypt worker' processes poll one task queue; a run of twelve
// targets spreads over them. Once at least two of them hold the run's
// activities and copies are pending, the one holding the most waits is
// killed (SIGKILL). The run completes with every target succeeded, and the
// sandbox shows nothing done twice: one CopyImage and one encrypted image
// per target, one key per account and region, no boot-proof group or
// launch template left, no share left on the sources. The histories show the
// work shared (activities started by at least two identities) and each
// activity the killed worker held retried by another worker after its
// heartbeat timeout.
//
// It takes about three minutes, nearly all of it Temporal's: a killed
// worker's WaitAndVerify is noticed only when its heartbeat timeout (2 min,
// workflows/options.go) passes, and retried after the retry policy's first
// interval (30 s). Nothing shorter proves that a real worker's loss is
// recovered; TestDurabilityWorkerKilledWhileCopiesPending pays the same wait.
func TestWorkersShareARunAndOneIsKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the amicrypt binary and waits out a heartbeat timeout (about 3 min)")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin := durBuildAmicrypt(t, dir)

	w := sharedRunWorld(t)
	endpoint := durStartSandbox(t, w)
	temporal, c := durStartTemporal(ctx, t)
	const taskQueue = "amicrypt-workers"
	env := durWorkerEnv(t, dir, endpoint)
	names := []string{"shared-worker-1", "shared-worker-2", "shared-worker-3"}
	workers := map[string]*durWorker{}
	for _, name := range names {
		workers[name] = durStartWorker(t, bin, dir, name, env, []string{"worker",
			"--temporal-address", temporal.FrontendAddress(), "--namespace", temporalconn.DefaultNamespace, "--task-queue", taskQueue,
			"--aws-endpoint-url", endpoint, "--identity", name, "--log-format", "json"})
	}
	dumpLogs := func() {
		for _, name := range names {
			workers[name].dumpLog(t)
		}
	}

	const builder = "111111111111"
	builderImages := builderSources(w, builder)
	in, targets := sharedRunInput(t, builderImages)
	expected := expectedOutcomes(w, targets)
	for _, tg := range targets {
		if expected[tg.ID()] != workflows.StatusSucceeded {
			t.Fatalf("%s: the world predicts %s; every target of this test must be able to succeed", tg.ID(), expected[tg.ID()])
		}
	}
	if len(targets) != 2*(2+len(sharedRunAccounts)) {
		t.Fatalf("%d targets, want %d: the world or the config changed", len(targets), 2*(2+len(sharedRunAccounts)))
	}
	ids := sharedRunWorkflowIDs(in)

	run, _, err := startPipeline(ctx, c, taskQueue, in)
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()

	victim, held, pending := sharedRunWaitToKill(ctx, t, c, endpoint, in, ids, workers)
	t.Logf("after %s: %d copies pending, activities held %s; killing %s (pid %d) with SIGKILL",
		time.Since(started).Round(time.Millisecond), pending, describeHeld(held), victim, workers[victim].cmd.Process.Pid)
	workers[victim].kill(t)

	// What the kill lost: the activities still started on the dead worker.
	// Read after the kill, so an activity it finished just before dying is
	// not counted; at least one must be left, and the run still running,
	// or the kill landed too late to prove anything.
	after, err := sharedRunHeld(ctx, c, ids)
	if err != nil {
		t.Fatal(err)
	}
	lost := after[victim]
	if len(lost) == 0 {
		dumpLogs()
		t.Fatalf("%s held no unfinished activity when it died (before the kill: %s): the kill proves nothing", victim, describeHeld(held))
	}
	if desc, err := c.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID()); err != nil {
		t.Fatal(err)
	} else if st := desc.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("the run is %s right after the kill, want running", st)
	}
	t.Logf("lost with %s: %s", victim, describeActivities(lost))

	report, err := followRun(ctx, c, run, io.Discard, true)
	if err != nil {
		dumpLogs()
		t.Fatal(err)
	}
	t.Logf("run %s ended %s after it started: %v", in.RunID, time.Since(started).Round(time.Second), report.Summary)
	for _, name := range names {
		select {
		case <-workers[name].done:
			if name != victim {
				t.Errorf("%s exited during the run: %v", name, workers[name].cmd.ProcessState)
			}
		default:
		}
	}

	// The report: every target succeeded, with nothing to look at.
	if err := checkOutcomes(report, expected); err != nil {
		t.Errorf("report: %v", err)
	}
	rows := map[string]workflows.TargetReport{}
	for _, r := range report.Targets {
		rows[r.Account+"/"+r.Region] = r
		if r.Status != workflows.StatusSucceeded || r.EncryptedImageID == "" || r.Boot.Result != activities.BootInService {
			t.Errorf("%s/%s: %s (image %q, boot %+v, diagnosis %+v), want succeeded and proven", r.Account, r.Region, r.Status, r.EncryptedImageID, r.Boot, r.Diagnosis)
		}
		if len(r.Warnings) > 0 {
			t.Errorf("%s/%s: warnings %v", r.Account, r.Region, r.Warnings)
		}
	}

	// The work was shared, and what the dead worker held was finished by
	// the others.
	sharedRunCheckHistories(ctx, t, c, ids, victim, lost)

	// Nothing done twice, from the sandbox.
	sharedRunCheckSandbox(ctx, t, endpoint, targets, rows, builderImages)
	if t.Failed() {
		dumpLogs()
	}
}

// sharedRunWorld is the default world with copies of durCopySeconds and the
// clean accounts of sharedRunAccounts, made like payments-prod.
func sharedRunWorld(t *testing.T) *world.World {
	t.Helper()
	var extra strings.Builder
	extra.WriteString("accounts:\n")
	for i, id := range sharedRunAccounts {
		fmt.Fprintf(&extra, "  - id: %q\n    name: shared-%d\n    service_linked_roles: [AWSServiceRoleForAutoScaling]\n    roles: [*target-role]\n", id, i+1)
	}
	text := strings.Replace(string(world.DefaultYAML()), "accounts:\n", extra.String(), 1)
	text = strings.Replace(text, "copy_seconds: 3 ", fmt.Sprintf("copy_seconds: %d ", durCopySeconds), 1)
	w, err := world.Parse([]byte(text), "shared-run.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Timing.Copy(); got != durCopySeconds*time.Second {
		t.Fatalf("copy time %s, want %ds: the default world's timing line changed", got, durCopySeconds)
	}
	for _, id := range sharedRunAccounts {
		if w.Account(id) == nil {
			t.Fatalf("account %s is not in the world", id)
		}
	}
	return w
}

// sharedRunInput is the run: 222222222222, 333333333333 and the added
// accounts, both regions, boot proof on (444444444444, which fails F2 by
// design, is left out).
func sharedRunInput(t *testing.T, builderImages map[string]string) (workflows.PipelineInput, []activities.Target) {
	t.Helper()
	text := `builder:
  account: "111111111111"
  role_arn: arn:aws:iam::111111111111:role/amicrypt-pipeline
defaults:
  regions: [us-east-1, eu-west-1]
  external_id: amicrypt
  boot_proof: {enabled: true, instance_type: t3.micro}
targets:
  - {account: "222222222222", name: payments-prod}
  - {account: "333333333333", name: analytics-dev}
`
	for i, id := range sharedRunAccounts {
		text += fmt.Sprintf("  - {account: %q, name: shared-%d}\n", id, i+1)
	}
	cfg, err := config.Parse([]byte(text), "shared-run.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, src, targets, err := cfg.Expand(builderImages)
	if err != nil {
		t.Fatal(err)
	}
	in := workflows.PipelineInput{Builder: b, Sources: src, Targets: targets, InFlight: cfg.Concurrency.InFlight, PerAccountRegion: cfg.Concurrency.PerAccountRegion}
	in.RunID = runIDFor(in)
	return in, targets
}

// sharedRunWorkflowIDs are the run's workflows: the Pipeline, its one Batch
// (six accounts are under DefaultBatchAccounts) and each Target.
func sharedRunWorkflowIDs(in workflows.PipelineInput) []string {
	ids := []string{workflows.PipelineWorkflowID(in.RunID), workflows.BatchWorkflowID(in.RunID, 0)}
	for _, tg := range in.Targets {
		src, _ := workflows.NearestSource(in.Sources, tg.Region)
		ids = append(ids, workflows.TargetWorkflowID(src.ImageID, tg.Account, tg.Region))
	}
	return ids
}

// heldActivity is an activity a worker has started and not finished, as the
// workflow's pending activities show it.
type heldActivity struct {
	workflowID, activityID, name string
	attempt                      int32
}

// sharedRunHeld lists the started, unfinished activities of the workflows
// ids by the identity of the worker that started them. A workflow not
// started yet is skipped.
func sharedRunHeld(ctx context.Context, c client.Client, ids []string) (map[string][]heldActivity, error) {
	held := map[string][]heldActivity{}
	for _, id := range ids {
		desc, err := c.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			continue
		}
		for _, pa := range desc.GetPendingActivities() {
			if pa.GetState() != enumspb.PENDING_ACTIVITY_STATE_STARTED {
				continue
			}
			who := pa.GetLastWorkerIdentity()
			held[who] = append(held[who], heldActivity{workflowID: id, activityID: pa.GetActivityId(), name: pa.GetActivityType().GetName(), attempt: pa.GetAttempt()})
		}
	}
	return held, nil
}

// sharedRunWaitToKill waits for the moment to kill a worker: copies pending
// in the sandbox, at least two workers holding activities of the run, and
// one of them holding only waits (WaitAndVerify, ProveBoot), whose 2-minute
// heartbeat timeout brings them back; any other activity lost would come
// back only at its start-to-close timeout (up to 15 min). It returns the
// worker holding the most waits, what each held, and how many copies were
// pending. A run that ends first fails the test.
func sharedRunWaitToKill(ctx context.Context, t *testing.T, c client.Client, endpoint string, in workflows.PipelineInput, ids []string, workers map[string]*durWorker) (string, map[string][]heldActivity, int) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	last := ""
	for {
		pending := 0
		if st, err := benchkit.ReadState(ctx, endpoint); err == nil {
			for _, tg := range in.Targets {
				src, _ := workflows.NearestSource(in.Sources, tg.Region)
				if reg := durRegion(st, tg.Account, tg.Region); reg != nil {
					for _, im := range reg.Images {
						if im.Tags[activities.TagSourceImage] == src.ImageID && im.State == "pending" {
							pending++
						}
					}
				}
			}
		}
		held, err := sharedRunHeld(ctx, c, ids)
		if err != nil {
			t.Fatal(err)
		}
		victim := ""
		if pending > 0 && len(held) >= 2 {
			for _, who := range durSortedKeys(held) {
				if workers[who] != nil && onlyWaits(held[who]) && (victim == "" || len(held[who]) > len(held[victim])) {
					victim = who
				}
			}
		}
		if victim != "" {
			return victim, held, pending
		}
		last = fmt.Sprintf("%d copies pending, activities held %s", pending, describeHeld(held))
		if desc, err := c.DescribeWorkflowExecution(ctx, ids[0], ""); err == nil {
			if st := desc.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				t.Fatalf("the run ended (%s) before a moment to kill a worker came (last: %s)", st, last)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no moment with copies pending, two workers busy and one holding only waits within 90 s (last: %s)", last)
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func onlyWaits(acts []heldActivity) bool {
	for _, a := range acts {
		if a.name != "WaitAndVerify" && a.name != "ProveBoot" {
			return false
		}
	}
	return len(acts) > 0
}

func describeHeld(held map[string][]heldActivity) string {
	var parts []string
	for _, who := range durSortedKeys(held) {
		parts = append(parts, fmt.Sprintf("%s: %d", who, len(held[who])))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func describeActivities(acts []heldActivity) string {
	var parts []string
	for _, a := range acts {
		parts = append(parts, fmt.Sprintf("%s %s (%s, attempt %d)", a.workflowID, a.name, a.activityID, a.attempt))
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

// finishedActivity is an activity's last attempt as its workflow's history
// records it: the ActivityTaskStarted event (written when the attempt ends,
// with the attempt number and the previous attempt's failure) and whether
// it completed.
type finishedActivity struct {
	name, identity string
	attempt        int32
	lastFailure    *failurepb.Failure
	completed      bool
}

// sharedRunCheckHistories checks the run's histories: its activities were
// started by at least two workers, and each activity lost with the victim
// completed on another worker as a retry after a heartbeat timeout.
func sharedRunCheckHistories(ctx context.Context, t *testing.T, c client.Client, ids []string, victim string, lost []heldActivity) {
	t.Helper()
	byID := map[string]*finishedActivity{} // workflow id + "/" + activity id
	startedBy := map[string]int{}
	for _, id := range ids {
		scheduled := map[int64]string{} // event id -> activity id
		names := map[int64]string{}
		it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatalf("%s: history: %v", id, err)
			}
			if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
				scheduled[ev.GetEventId()], names[ev.GetEventId()] = a.GetActivityId(), a.GetActivityType().GetName()
			}
			if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
				byID[id+"/"+scheduled[a.GetScheduledEventId()]] = &finishedActivity{name: names[a.GetScheduledEventId()], identity: a.GetIdentity(), attempt: a.GetAttempt(), lastFailure: a.GetLastFailure()}
				startedBy[a.GetIdentity()]++
			}
			if a := ev.GetActivityTaskCompletedEventAttributes(); a != nil {
				if f := byID[id+"/"+scheduled[a.GetScheduledEventId()]]; f != nil {
					f.completed = true
				}
			}
		}
	}
	t.Logf("activities started (last attempts) by worker: %v", startedBy)
	if len(startedBy) < 2 {
		t.Errorf("the run's activities were started by %v: want at least two workers", startedBy)
	}
	for _, l := range lost {
		f := byID[l.workflowID+"/"+l.activityID]
		switch {
		case f == nil:
			t.Errorf("%s: %s (%s), lost with %s, is not in the history", l.workflowID, l.name, l.activityID, victim)
		case f.identity == victim || f.attempt <= l.attempt || !f.completed:
			t.Errorf("%s: %s, lost with %s at attempt %d, last ran on %s at attempt %d (completed %v); want it completed by another worker as a retry",
				l.workflowID, l.name, victim, l.attempt, f.identity, f.attempt, f.completed)
		case f.lastFailure.GetTimeoutFailureInfo().GetTimeoutType() != enumspb.TIMEOUT_TYPE_HEARTBEAT:
			t.Errorf("%s: %s was retried on %s after %v, want after a heartbeat timeout", l.workflowID, l.name, f.identity, f.lastFailure)
		default:
			t.Logf("%s: %s, lost with %s, completed on %s at attempt %d after a heartbeat timeout", l.workflowID, l.name, victim, f.identity, f.attempt)
		}
	}
}

// sharedRunCheckSandbox checks, on the sandbox's state and counters, that
// nothing was done twice and nothing left behind: per target one CopyImage
// call and one image copied from its source (the one reported), one
// customer key in its account and region (the alias's, the one reported);
// no CopyImage anywhere else; no boot-proof group or template, no share
// left on the sources.
func sharedRunCheckSandbox(ctx context.Context, t *testing.T, endpoint string, targets []activities.Target, rows map[string]workflows.TargetReport, builderImages map[string]string) {
	t.Helper()
	st := durSettledState(ctx, t, endpoint)
	writes := counters(ctx, t, endpoint)
	copyCalls := 0
	for k, n := range writes {
		if strings.HasSuffix(k, " ec2:CopyImage") {
			copyCalls += int(n)
		}
	}
	if copyCalls != len(targets) {
		t.Errorf("%d CopyImage calls in all, want %d (one per target)", copyCalls, len(targets))
	}
	for _, tg := range targets {
		row := rows[tg.ID()]
		if n := writes[tg.ID()+" ec2:CopyImage"]; n != 1 {
			t.Errorf("%s: %d CopyImage calls, want 1", tg.ID(), n)
		}
		reg := durRegion(st, tg.Account, tg.Region)
		if reg == nil {
			t.Errorf("%s: not in the sandbox's state", tg.ID())
			continue
		}
		var copies []string
		for _, im := range reg.Images {
			if im.Tags[activities.TagSourceImage] == builderImages[tg.Region] {
				copies = append(copies, im.ID+" ("+im.State+")")
			}
		}
		sort.Strings(copies)
		if len(copies) != 1 || copies[0] != row.EncryptedImageID+" (available)" {
			t.Errorf("%s: images copied from %s: %v, want only the reported %s (available)", tg.ID(), builderImages[tg.Region], copies, row.EncryptedImageID)
		}
		var keys []string
		for _, k := range reg.Keys {
			if k.Manager == "CUSTOMER" {
				keys = append(keys, k.ARN+" ("+k.State+")")
			}
		}
		sort.Strings(keys)
		aliased := ""
		if k := reg.Keys[reg.Aliases[tg.KeyAlias]]; k != nil {
			aliased = k.ARN
		}
		if len(keys) != 1 || aliased != row.KeyARN || keys[0] != row.KeyARN+" (Enabled)" {
			t.Errorf("%s: customer keys %v, %s names %q; want one, the reported %s (Enabled)", tg.ID(), keys, tg.KeyAlias, aliased, row.KeyARN)
		}
	}
	durCheckNothingLeft(t, st, "111111111111", builderImages)
}
