//go:build linux

package cli

import (
	"context"
	"io"
	"sort"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/config"
	"github.com/amicrypt/amicrypt/internal/temporalconn"
	"github.com/amicrypt/amicrypt/workflows"
)

// Two runs whose targets overlap — the same source into the same accounts
// and regions, as when `run` and `replay` go together or a Packer build is
// started twice with other targets — are started together on the real
// worker binary. Both finish with every row final; the targets they share
// are copied once (the second run attaches to the first's Target, or reuses
// its copy when it already ended); and no share, group or template is left.
// Read from the sandbox's state and Temporal's histories, not the reports.
func TestOverlappingRunsBothFinishAndCopyEachTargetOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the amicrypt binary and runs two pipelines (about 1 min)")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin := durBuildAmicrypt(t, dir)

	w := durWorld(t) // copies of 6 s: the first run's targets are under way when the second arrives
	endpoint := durStartSandbox(t, w)
	temporal, c := durStartTemporal(ctx, t)
	const taskQueue = "amicrypt-overlap"
	env := durWorkerEnv(t, dir, endpoint)
	worker := durStartWorker(t, bin, dir, "overlap-worker", env, []string{"worker",
		"--temporal-address", temporal.FrontendAddress(), "--namespace", temporalconn.DefaultNamespace, "--task-queue", taskQueue,
		"--aws-endpoint-url", endpoint, "--identity", "overlap-worker", "--log-format", "json"})

	cfg, err := config.Parse(config.Example(), "example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const builder = "111111111111"
	builderImages := builderSources(w, builder)
	b, src, targets, err := cfg.Expand(builderImages)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(targets, func(i, j int) bool { return targets[i].ID() < targets[j].ID() })
	if len(targets) != 5 {
		t.Fatalf("the example config has %d targets, this test splits 5; update it", len(targets))
	}
	expected := expectedOutcomes(w, targets)
	// Run 1: the first four targets; run 2: the last four. Three in common.
	runs := []workflows.PipelineInput{
		{Builder: b, Sources: src, Targets: targets[:4], InFlight: cfg.Concurrency.InFlight, PerAccountRegion: cfg.Concurrency.PerAccountRegion},
		{Builder: b, Sources: src, Targets: targets[1:], InFlight: cfg.Concurrency.InFlight, PerAccountRegion: cfg.Concurrency.PerAccountRegion},
	}
	for i := range runs {
		runs[i].RunID = runIDFor(runs[i])
	}
	if runs[0].RunID == runs[1].RunID {
		t.Fatal("the two runs got one id")
	}

	started := time.Now()
	reports := make([]*workflows.Report, len(runs))
	errs := make([]error, len(runs))
	var wg sync.WaitGroup
	for i, in := range runs {
		run, _, err := startPipeline(ctx, c, taskQueue, in)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			reports[i], errs[i] = followRun(ctx, c, run, io.Discard, true)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			worker.dumpLog(t)
			t.Fatalf("run %s: %v", runs[i].RunID, err)
		}
	}
	t.Logf("both runs ended after %s: %v / %v", time.Since(started).Round(time.Second), reports[0].Summary, reports[1].Summary)

	// Both reports: every target final, with what the world implies.
	for i, rep := range reports {
		if len(rep.Targets) != len(runs[i].Targets) {
			t.Errorf("run %s reports %d targets, want %d", runs[i].RunID, len(rep.Targets), len(runs[i].Targets))
		}
		want := map[string]string{}
		for _, tg := range runs[i].Targets {
			want[tg.ID()] = expected[tg.ID()]
		}
		if err := checkOutcomes(rep, want); err != nil {
			t.Errorf("run %s: %v", runs[i].RunID, err)
		}
		for _, r := range rep.Targets {
			if len(r.Warnings) > 0 {
				t.Errorf("run %s, %s/%s: warnings %v", runs[i].RunID, r.Account, r.Region, r.Warnings)
			}
		}
	}

	// Started together, one run found some of the shared targets running
	// under the other and waited for them.
	attached := 0
	for _, in := range runs {
		attached += overlapAttaches(ctx, t, c, workflows.BatchWorkflowID(in.RunID, 0))
	}
	if attached == 0 {
		t.Errorf("neither run attached to a target of the other: the overlap was not exercised")
	}
	t.Logf("%d targets attached to the other run's", attached)

	// AWS: one copy per target, nothing left shared or running.
	st := durSettledState(ctx, t, endpoint)
	for _, tg := range targets {
		source := builderImages[tg.Region]
		var copies []string
		for _, im := range durRegion(st, tg.Account, tg.Region).Images {
			if im.Tags[activities.TagSourceImage] == source {
				copies = append(copies, im.ID+" ("+im.State+")")
			}
		}
		want := 0
		if expected[tg.ID()] == workflows.StatusSucceeded {
			want = 1
		}
		if len(copies) != want {
			t.Errorf("%s: %d copies of %s, want %d: %v", tg.ID(), len(copies), source, want, copies)
		}
	}
	durCheckNothingLeft(t, st, builder, builderImages)
	if t.Failed() {
		worker.dumpLog(t)
	}
}

// overlapAttaches counts the AwaitTarget activities a batch completed: the
// targets it found running under another run and waited for.
func overlapAttaches(ctx context.Context, t *testing.T, c client.Client, batchID string) int {
	t.Helper()
	scheduled := map[int64]bool{}
	n := 0
	it := c.GetWorkflowHistory(ctx, batchID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatalf("history of %s: %v", batchID, err)
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == "AwaitTarget" {
			scheduled[ev.GetEventId()] = true
		}
		if a := ev.GetActivityTaskCompletedEventAttributes(); a != nil && scheduled[a.GetScheduledEventId()] {
			n++
		}
	}
	return n
}
