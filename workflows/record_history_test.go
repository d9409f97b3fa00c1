//go:build recordhistory

// Records the histories that replay_test.go replays, by running workflows on
// an in-memory Temporal server (go.temporal.io/server/temporaltest) with the
// fake activities of fake_test.go. The build tag keeps the server out of
// `go test ./workflows/` (linking it costs minutes and gigabytes cold).
//
// Recorded histories are a contract with runs in flight: a file that exists
// is never written again (TestRecordedHistoriesAreKept holds each to its hash
// in testdata/histories.sha256). A scenario whose files all exist is
// skipped; after a change to a workflow's commands (gated with
// workflow.GetVersion), add a scenario with new file names, and run:
//
//	go test -tags recordhistory -run TestRecordHistories -count=1 ./workflows/
package workflows

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/amicrypt/amicrypt/activities"
)

// recording is one scenario: run writes workflows and returns the file
// each history goes to (file name → workflow id).
type recording struct {
	name string
	run  func(ctx context.Context, t *testing.T, c client.Client, f *rotationFake) map[string]string
}

var recordings = []recording{
	{"pipeline, sweep and rotations (first release)", recordFirstRelease},
	{"a cancelled run", recordCancelledRun},
	{"two runs attached to one target", recordAttach},
	{"a failed share", recordFailedShare},
	{"a run and a sweep revoking what a terminated batch left shared (revoke-stale-shares v1)", recordStaleShares},
	{"a run revoking what a terminated batch left shared beside its batches (revoke-stale-shares v2)", recordStaleSharesBeside},
	{"a batch keeping what its source had before amicrypt (keep-preexisting-shares v1)", recordKeepPreexisting},
	{"a batch assuming every target's role before sharing (identity-before-share v1)", recordIdentityBeforeShare},
	{"a run of targets in parts and from an organization, its rows kept by its batches (rows-in-batches v1)", recordRowsInBatches},
	{"a run whose batches wait for room on a source shared near AWS's quota (share-window v1)", recordShareWindow},
	{"targets started with their search attributes, showing their steps and ends (search-attributes v1)", recordSearchAttributes},
	{"a sweep inspecting its keys through SweepBatch children (sweep-batches v1)", recordSweepBatches},
	{"a plan of targets in parts and from an organization, in slices (PlanRun)", recordPlanRun},
	{"a sweep whose rotations keep their rows (rotation-runs v1)", recordSweepRotationRuns},
	{"targets started running by their batch, showing their waits and ends (AttributesAtWaits)", recordAttributesAtWaits},
	{"batches watching their children on their selector (ChildrenOnSelector)", recordChildrenOnSelector},
	{"two runs attached to one target, their batches watching on their selectors (ChildrenOnSelector)", recordAttachOnSelector},
	{"a batch starting one target at a time while it revokes a finished account's shares (ChildrenOnSelector)", recordOneAtATimeOnSelector},
}

func TestRecordHistories(t *testing.T) {
	srv := temporaltest.NewServer(temporaltest.WithT(t))
	c := srv.GetDefaultClient()
	f := &rotationFake{fakeAWS: newFake(), health: map[string]activities.KeyHealth{}}
	srv.NewWorker(TaskQueue, func(r worker.Registry) {
		r.RegisterWorkflow(Pipeline)
		r.RegisterWorkflow(Batch)
		r.RegisterWorkflow(Target)
		r.RegisterWorkflow(Rotation)
		r.RegisterWorkflow(Sweep)
		r.RegisterWorkflow(SweepBatch)
		r.RegisterWorkflow(PlanRun)
		r.RegisterWorkflow(Plan)
		r.RegisterActivity(f)
		r.RegisterActivity(&Attach{Client: c})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	registerSearchAttributes(ctx, t, c, srv.GetDefaultNamespace())

	for _, rec := range recordings {
		t.Run(rec.name, func(t *testing.T) {
			files := rec.run(ctx, t, c, f)
			for file, id := range files {
				path := filepath.Join("testdata", file)
				if _, err := os.Stat(path); err == nil {
					t.Logf("%s: kept (recorded before; never re-recorded)", file)
					continue
				}
				writeHistory(ctx, t, c, id, path)
			}
		})
	}
}

// exists reports whether every file is recorded already: the scenario need
// not run.
// recordRun runs a Pipeline on the recording server to its end and returns its report.
func recordRun(ctx context.Context, t *testing.T, c client.Client, in PipelineInput) Report {
	t.Helper()
	wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: PipelineWorkflowID(in.RunID), TaskQueue: TaskQueue}, Pipeline, in)
	require.NoError(t, err)
	var rep Report
	require.NoError(t, wr.Get(ctx, &rep))
	return rep
}

func exists(files ...string) bool {
	for _, f := range files {
		if _, err := os.Stat(filepath.Join("testdata", f)); err != nil {
			return false
		}
	}
	return true
}

// writeHistory writes workflow id's history to path and lists it in the
// manifest.
func writeHistory(ctx context.Context, t *testing.T, c client.Client, id, path string) {
	t.Helper()
	var events []*historypb.HistoryEvent
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		require.NoError(t, err)
		events = append(events, e)
	}
	b, err := protojson.Marshal(&historypb.History{Events: events})
	require.NoError(t, err)
	// protojson varies its whitespace on purpose; indent with encoding/json
	// so a new recording diffs cleanly.
	var out bytes.Buffer
	require.NoError(t, json.Indent(&out, b, "", "  "))
	out.WriteByte('\n')
	require.NoError(t, os.WriteFile(path, out.Bytes(), 0o644))
	sum := sha256.Sum256(out.Bytes())

	manifest := filepath.Join("testdata", historiesManifest)
	old, err := os.ReadFile(manifest)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(old)), "\n")
	lines = append(lines, hex.EncodeToString(sum[:])+"  "+filepath.Base(path))
	sort.Slice(lines, func(i, j int) bool { return strings.Fields(lines[i])[1] < strings.Fields(lines[j])[1] })
	require.NoError(t, os.WriteFile(manifest, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	t.Logf("%s: %d events of %s", filepath.Base(path), len(events), id)
}

// recordFirstRelease is how the first release's histories were recorded.
func recordFirstRelease(ctx context.Context, t *testing.T, c client.Client, f *rotationFake) map[string]string {
	files := map[string]string{
		"sweep_history.json":                SweepWorkflowID("rec"),
		"rotation_history.json":             RotationWorkflowID(acctA),
		"rotation_boot_failed_history.json": RotationWorkflowID(acctB),
		"pipeline_history.json":             PipelineWorkflowID("rec"),
		"batch_history.json":                BatchWorkflowID("rec", 1),
		"target_history.json":               TargetWorkflowID(useast1.ImageID, acctA, "us-east-1"),
		"target_boot_failed_history.json":   TargetWorkflowID(euwest1.ImageID, acctB, "eu-west-1"),
	}
	if exists(keys(files)...) {
		return files
	}
	// acctB/eu-west-1's copy does not boot: its history has the
	// unproven-image path.
	f.boot[acctB+"/eu-west-1"] = activities.BootResult{Result: activities.BootFailed, Message: "Client.InternalError: Client error on launch"}
	defer delete(f.boot, acctB+"/eu-west-1")
	in := PipelineInput{
		RunID:         "rec",
		Builder:       builder,
		Sources:       bothSrcs,
		Targets:       targets([]string{acctA, acctB}, "us-east-1", "eu-west-1"),
		BatchAccounts: 1,
		InFlight:      2,
	}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: PipelineWorkflowID(in.RunID), TaskQueue: TaskQueue}, Pipeline, in)
	require.NoError(t, err)
	var rep Report
	require.NoError(t, run.Get(ctx, &rep))
	require.Equal(t, 3, rep.Summary[StatusSucceeded], rep)
	require.Equal(t, 1, rep.Summary[StatusFailed], rep)

	// A sweep that finds acctA's us-east-1 key tagged for retirement and
	// rotates it; acctB eu-west-1's new copy does not boot (above), so its
	// rotation is the failed-proof path.
	f.health[acctA+"/us-east-1"] = activities.KeyHealth{Account: acctA, Region: "us-east-1", Due: activities.ReasonPolicy}
	f.health[acctB+"/eu-west-1"] = activities.KeyHealth{Account: acctB, Region: "eu-west-1", Due: activities.ReasonLeaked}
	sweepIn := SweepInput{SweepID: "rec", Targets: targets([]string{acctA, acctB}, "us-east-1", "eu-west-1"), Operator: "rec"}
	srun, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: SweepWorkflowID("rec"), TaskQueue: TaskQueue}, Sweep, sweepIn)
	require.NoError(t, err)
	var srep Report
	require.NoError(t, srun.Get(ctx, &srep))
	require.Equal(t, 1, srep.Summary[StatusSucceeded], srep)
	require.Equal(t, 1, srep.Summary[StatusFailed], srep)

	return files
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// recordCancelledRun: a run cancelled while its target proves the boot —
// the proof is cancelled, its compensation and the revocation run.
func recordCancelledRun(ctx context.Context, t *testing.T, c client.Client, f *rotationFake) map[string]string {
	const run = "rec-cancel"
	tg := target(acctC, "us-east-1")
	files := map[string]string{
		"pipeline_cancelled_history.json": PipelineWorkflowID(run),
		"batch_cancelled_history.json":    BatchWorkflowID(run, 0),
		"target_cancelled_history.json":   TargetWorkflowID(useast1.ImageID, tg.Account, tg.Region),
	}
	if exists(keys(files)...) {
		return files
	}
	f.mu.Lock()
	f.sleep["ProveBoot "+tg.ID()] = time.Minute
	f.mu.Unlock()
	defer func() { f.mu.Lock(); delete(f.sleep, "ProveBoot "+tg.ID()); f.mu.Unlock() }()
	in := PipelineInput{RunID: run, Builder: builder, Sources: bothSrcs, Targets: []activities.Target{tg}}
	wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: PipelineWorkflowID(run), TaskQueue: TaskQueue}, Pipeline, in)
	require.NoError(t, err)
	waitFor(t, "ProveBoot "+tg.ID(), func() bool {
		d, err := c.DescribeWorkflowExecution(ctx, TargetWorkflowID(useast1.ImageID, tg.Account, tg.Region), "")
		if err != nil {
			return false
		}
		for _, pa := range d.GetPendingActivities() {
			if pa.GetActivityType().GetName() == "ProveBoot" && pa.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED {
				return true
			}
		}
		return false
	})
	require.NoError(t, c.CancelWorkflow(ctx, PipelineWorkflowID(run), ""))
	var rep Report
	err = wr.Get(ctx, &rep)
	var canceled *temporal.CanceledError
	require.True(t, errors.As(err, &canceled), "the run ends cancelled: %v", err)
	require.NoError(t, canceled.Details(&rep))
	require.Equal(t, 1, rep.Summary[StatusCancelled], rep)
	return files
}

// waitFor polls ready until it holds (at most 30 s).
func waitFor(t *testing.T, what string, ready func() bool) {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if ready() {
			return
		}
	}
	t.Fatalf("%s never started", what)
}

// recordAttach: two runs of one source into one target, started together:
// one runs the Target, the other's batch waits for it (AwaitTarget).
func recordAttach(ctx context.Context, t *testing.T, c client.Client, f *rotationFake) map[string]string {
	return recordTwoRunsAttached(ctx, t, c, f, "rec-attach", "attach")
}

// recordAttachOnSelector: the same with batches that watch their children
// on their selector (ChildrenOnSelector).
func recordAttachOnSelector(ctx context.Context, t *testing.T, c client.Client, f *rotationFake) map[string]string {
	return recordTwoRunsAttached(ctx, t, c, f, "rec-attach-sel", "attach_on_selector")
}

// recordTwoRunsAttached records runs <run>-1 and <run>-2 of one target, as
// batch_<name>_1_history.json and batch_<name>_2_history.json.
func recordTwoRunsAttached(ctx context.Context, t *testing.T, c client.Client, f *rotationFake, run, name string) map[string]string {
	runs := []string{run + "-1", run + "-2"}
	tg := target(acctA, "eu-west-1")
	files := map[string]string{
		"batch_" + name + "_1_history.json": BatchWorkflowID(runs[0], 0),
		"batch_" + name + "_2_history.json": BatchWorkflowID(runs[1], 0),
	}
	if exists(keys(files)...) {
		return files
	}
	f.mu.Lock()
	f.sleep["WaitAndVerify "+tg.ID()] = 5 * time.Second
	f.mu.Unlock()
	defer func() { f.mu.Lock(); delete(f.sleep, "WaitAndVerify "+tg.ID()); f.mu.Unlock() }()
	var wg sync.WaitGroup
	reports := make([]Report, len(runs))
	errs := make([]error, len(runs))
	for i, run := range runs {
		in := PipelineInput{RunID: run, Builder: builder, Sources: bothSrcs, Targets: []activities.Target{tg}}
		wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: PipelineWorkflowID(run), TaskQueue: TaskQueue}, Pipeline, in)
		require.NoError(t, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = wr.Get(ctx, &reports[i])
		}()
	}
	wg.Wait()
	for i, rep := range reports {
		require.NoError(t, errs[i])
		require.Equal(t, 1, rep.Summary[StatusSucceeded], rep)
	}
	require.Len(t, f.callsTo("WaitAndVerify "+tg.ID()), 1, "one run waited for the other's target")
	return files
}

// recordFailedShare: the source cannot be shared (F1): its targets fail at
// the share and the batch revokes what it may have shared.
func recordFailedShare(ctx context.Context, t *testing.T, c client.Client, f *rotationFake) map[string]string {
	const run = "rec-share-failed"
	files := map[string]string{"batch_share_failed_history.json": BatchWorkflowID(run, 0)}
	if exists(keys(files)...) {
		return files
	}
	f.mu.Lock()
	f.errs["ShareSource us-east-1"] = diagnosed(activities.F1, "snapshots of ami-0a0000000000a0001 are encrypted with the AWS managed key aws/ebs")
	f.mu.Unlock()
	defer func() { f.mu.Lock(); delete(f.errs, "ShareSource us-east-1"); f.mu.Unlock() }()
	in := PipelineInput{RunID: run, Builder: builder, Sources: bothSrcs,
		Targets: []activities.Target{target(acctB, "us-east-1"), target(acctB, "eu-west-1")}}
	rep := recordRun(ctx, t, c, in)
	require.Equal(t, 1, rep.Summary[StatusFailed], rep)
	require.Equal(t, 1, rep.Summary[StatusSucceeded], rep)
	return files
}

// recordStaleShares: a run and a sweep that start by revoking a share a
// terminated batch left (the revoke-stale-shares version marker).
func recordStaleShares(ctx context.Context, t *testing.T, c client.Client, f *rotationFake) map[string]string {
	const run = "rec-stale"
	files := map[string]string{
		"pipeline_stale_shares_history.json": PipelineWorkflowID(run),
		"sweep_stale_shares_history.json":    SweepWorkflowID(run),
	}
	if exists(keys(files)...) {
		return files
	}
	f.mu.Lock()
	f.stale = []StaleShare{{Batch: "amicrypt-batch-terminated-0", Share: activities.ShareSourceInput{Builder: builder, Source: useast1, Accounts: []string{"555555555555"}}}}
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.stale = nil; f.mu.Unlock() }()
	in := PipelineInput{RunID: run, Builder: builder, Sources: bothSrcs, Targets: []activities.Target{target(acctC, "eu-west-1")}}
	rep := recordRun(ctx, t, c, in)
	require.Len(t, rep.Housekeeping, 1, rep)
	sweepIn := SweepInput{SweepID: run, Targets: []activities.Target{target(acctC, "eu-west-1")}, Operator: "rec"}
	sr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: SweepWorkflowID(run), TaskQueue: TaskQueue}, Sweep, sweepIn)
	require.NoError(t, err)
	require.NoError(t, sr.Get(ctx, &rep))
	require.Len(t, rep.Housekeeping, 1, rep)
	return files
}

// recordStaleSharesBeside: a run that revokes a terminated batch's share
// while its own batch runs, leaving its own account's share alone
// (revoke-stale-shares v2).
func recordStaleSharesBeside(ctx context.Context, t *testing.T, c client.Client, f *rotationFake) map[string]string {
	const run = "rec-stale-v2"
	files := map[string]string{"pipeline_stale_shares_v2_history.json": PipelineWorkflowID(run)}
	if exists(keys(files)...) {
		return files
	}
	f.mu.Lock()
	f.stale = []StaleShare{{Batch: "amicrypt-batch-terminated-0", Share: activities.ShareSourceInput{Builder: builder, Source: euwest1, Accounts: []string{acctC, "555555555555"}}}}
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.stale = nil; f.mu.Unlock() }()
	in := PipelineInput{RunID: run, Builder: builder, Sources: bothSrcs, Targets: []activities.Target{target(acctC, "eu-west-1")}}
	rep := recordRun(ctx, t, c, in)
	require.Len(t, rep.Housekeeping, 1, rep)
	require.NotContains(t, rep.Housekeeping[0], acctC)
	return files
}

// recordKeepPreexisting: a batch that reads what its sources had before
// amicrypt (FindPreexistingShares, the keep-preexisting-shares version
// marker), shares and revokes with it as Keep.
func recordKeepPreexisting(ctx context.Context, t *testing.T, c client.Client, f *rotationFake) map[string]string {
	const run = "rec-keep"
	files := map[string]string{"batch_keep_preexisting_history.json": BatchWorkflowID(run, 0)}
	if exists(keys(files)...) {
		return files
	}
	f.mu.Lock()
	f.preexisting = map[string]activities.SourcePermissions{"us-east-1": {Launch: []string{acctA},
		Snapshots: []activities.SnapshotAccounts{{SnapshotID: "snap-0a", Accounts: []string{acctA}}}}}
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.preexisting = nil; f.mu.Unlock() }()
	in := PipelineInput{RunID: run, Builder: builder, Sources: bothSrcs,
		Targets: []activities.Target{target(acctA, "us-east-1"), target(acctB, "us-east-1"), target(acctB, "eu-west-1")}}
	rep := recordRun(ctx, t, c, in)
	require.Equal(t, 3, rep.Summary[StatusSucceeded], rep)
	require.Contains(t, strings.Join(f.callsTo("UnshareSource us-east-1"), "\n"), " keep="+acctA)
	return files
}

// recordIdentityBeforeShare: one target's role cannot be assumed, another's
// names another account: both fail F7 before the share, which names only
// the third's account.
func recordIdentityBeforeShare(ctx context.Context, t *testing.T, c client.Client, f *rotationFake) map[string]string {
	const run = "rec-identity"
	files := map[string]string{"batch_identity_before_share_history.json": BatchWorkflowID(run, 0)}
	if exists(keys(files)...) {
		return files
	}
	const acctC = "444444444444"
	refused := "VerifyTargets " + acctB + "/us-east-1"
	f.mu.Lock()
	f.errs[refused] = diagnosed(activities.F7, "amicrypt cannot assume role arn:aws:iam::"+acctB+":role/amicrypt-target")
	f.mu.Unlock()
	defer func() { f.mu.Lock(); delete(f.errs, refused); f.mu.Unlock() }()
	other := target(acctC, "us-east-1")
	other.RoleARN = "arn:aws:iam::" + acctA + ":role/amicrypt-target"
	in := PipelineInput{RunID: run, Builder: builder, Sources: bothSrcs,
		Targets: []activities.Target{target(acctA, "us-east-1"), target(acctB, "us-east-1"), other}}
	rep := recordRun(ctx, t, c, in)
	require.Equal(t, 2, rep.Summary[StatusFailed], rep)
	for _, call := range f.callsTo("ShareSource") {
		require.NotContains(t, call, acctB, "shared with an account whose role was refused")
		require.NotContains(t, call, acctC, "shared with an account whose role names another")
	}
	return files
}

func recordRowsInBatches(ctx context.Context, t *testing.T, c client.Client, f *rotationFake) map[string]string {
	const run = "rec-rows"
	files := map[string]string{
		"pipeline_rows_in_batches_history.json": PipelineWorkflowID(run),
		"batch_rows_in_batches_history.json":    BatchWorkflowID(run, 0),
	}
	if exists(keys(files)...) {
		return files
	}
	f.org = testOrg()
	defer func() { f.org = nil }()
	listed := []activities.Target{target("666666666666", "us-east-1"), target("888888888888", "us-east-1")}
	in := PipelineInput{RunID: run, Builder: builder, Sources: bothSrcs, Targets: listed[:1], TargetParts: 2, BatchAccounts: 2,
		Organization: &activities.OrganizationTargets{
			Selectors: []activities.OrganizationSelector{{Unit: "ou-ab12-prod0000", RoleName: "amicrypt-target", Regions: []activities.Target{template("us-east-1", "alias/amicrypt")}}},
			Listed:    []string{"666666666666", "888888888888"},
		}}
	wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: PipelineWorkflowID(run), TaskQueue: TaskQueue}, Pipeline, in)
	require.NoError(t, err)
	require.NoError(t, c.SignalWorkflow(ctx, PipelineWorkflowID(run), "", SignalTargets, TargetsPart{Index: 1, Targets: listed[1:]}))
	var rep Report
	require.NoError(t, wr.Get(ctx, &rep))
	require.True(t, rep.RowsInBatches)
	require.Equal(t, 4, rep.Summary[StatusSucceeded], rep)
	require.Len(t, rep.Batches, 2)
	return files
}

func recordShareWindow(ctx context.Context, t *testing.T, c client.Client, f *rotationFake) map[string]string {
	const run = "rec-window"
	files := map[string]string{"pipeline_share_window_history.json": PipelineWorkflowID(run)}
	if exists(keys(files)...) {
		return files
	}
	f.mu.Lock()
	f.sourceShares = map[string]int{"us-east-1": activities.MaxSourceShares - 1}
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.sourceShares = nil; f.mu.Unlock() }()
	in := PipelineInput{RunID: run, Builder: builder, Sources: []activities.Source{useast1}, BatchAccounts: 1,
		Targets: []activities.Target{target(acctA, "us-east-1"), target(acctB, "us-east-1")}}
	rep := recordRun(ctx, t, c, in)
	require.Equal(t, 2, rep.Summary[StatusSucceeded], rep)
	return files
}

// registerSearchAttributes creates amicrypt's search attributes in the test
// server's namespace, and waits until its visibility takes queries on them
// (the namespace's cache refreshes every few seconds).
func registerSearchAttributes(ctx context.Context, t *testing.T, c client.Client, namespace string) {
	t.Helper()
	_, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: namespace, SearchAttributes: SearchAttributeTypes(),
	})
	require.NoError(t, err)
	q := AttrRun.GetName() + " = 'probe'"
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		_, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: namespace, Query: q})
		if err == nil {
			break
		}
		require.True(t, time.Now().Before(end), "the search attributes are not queryable: %v", err)
	}
	// The history service's cache refreshes on its own clock.
	time.Sleep(3 * time.Second)
}

// recordSearchAttributes: a run of two targets, one failing F2: the Batch
// starts them with their run, account and region; each upserts its steps
// and its end (the search-attributes version marker), which visibility
// then answers. (Recorded before Batches told their Targets the scheme;
// they replay with the Batch of today, which does not change the commands.)
func recordSearchAttributes(ctx context.Context, t *testing.T, c client.Client, f *rotationFake) map[string]string {
	return recordTwoTargetsOneFailing(ctx, t, c, f, "rec-attrs", "search_attributes")
}

// recordAttributesAtWaits: the same run with Targets their Batch started
// running (AttributesAtWaits): no version marker, an upsert for each wait
// and the end.
func recordAttributesAtWaits(ctx context.Context, t *testing.T, c client.Client, f *rotationFake) map[string]string {
	return recordTwoTargetsOneFailing(ctx, t, c, f, "rec-attrs-waits", "attributes_at_waits")
}

// recordChildrenOnSelector: the same run with a Batch that watches its
// children on its selector (ChildrenOnSelector).
func recordChildrenOnSelector(ctx context.Context, t *testing.T, c client.Client, f *rotationFake) map[string]string {
	return recordTwoTargetsOneFailing(ctx, t, c, f, "rec-children", "children_on_selector")
}

// recordOneAtATimeOnSelector: three targets of two accounts, one at a time
// (in_flight 1): the second account's target starts in the task that
// decides to revoke the first account's shares.
func recordOneAtATimeOnSelector(ctx context.Context, t *testing.T, c client.Client, f *rotationFake) map[string]string {
	const run = "rec-one-at-a-time"
	files := map[string]string{"batch_one_at_a_time_on_selector_history.json": BatchWorkflowID(run, 0)}
	if exists(keys(files)...) {
		return files
	}
	in := PipelineInput{RunID: run, Builder: builder, Sources: bothSrcs, InFlight: 1,
		Targets: []activities.Target{target(acctA, "us-east-1"), target(acctA, "eu-west-1"), target(acctB, "eu-west-1")}}
	rep := recordRun(ctx, t, c, in)
	require.Equal(t, 3, rep.Summary[StatusSucceeded], rep)
	return files
}

// recordTwoTargetsOneFailing runs two targets, one failing F2, and records
// the Batch and both Targets as batch_<name>_history.json,
// target_<name>_history.json and target_<name>_failed_history.json, once
// visibility answers for the failed one.
func recordTwoTargetsOneFailing(ctx context.Context, t *testing.T, c client.Client, f *rotationFake, run, name string) map[string]string {
	failing := target(acctB, "eu-west-1")
	files := map[string]string{
		"batch_" + name + "_history.json":         BatchWorkflowID(run, 0),
		"target_" + name + "_history.json":        TargetWorkflowID(useast1.ImageID, acctA, "us-east-1"),
		"target_" + name + "_failed_history.json": TargetWorkflowID(euwest1.ImageID, failing.Account, failing.Region),
	}
	if exists(keys(files)...) {
		return files
	}
	key := "PrepareTarget " + failing.ID()
	f.mu.Lock()
	f.errs[key] = diagnosedAt(activities.StepKey, activities.F2, "key alias/amicrypt does not let AWSServiceRoleForAutoScaling use it")
	f.mu.Unlock()
	defer func() { f.mu.Lock(); delete(f.errs, key); f.mu.Unlock() }()
	in := PipelineInput{RunID: run, Builder: builder, Sources: bothSrcs, Targets: []activities.Target{target(acctA, "us-east-1"), failing}}
	rep := recordRun(ctx, t, c, in)
	require.Equal(t, 1, rep.Summary[StatusFailed], rep)
	require.Equal(t, 1, rep.Summary[StatusSucceeded], rep)

	// Visibility catches up within seconds.
	q := "AmicryptRun = '" + run + "' AND AmicryptStatus = 'failed' AND AmicryptDiagnosis = 'F2'"
	waitFor(t, "visibility of the failed target", func() bool {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: q})
		return err == nil && len(resp.GetExecutions()) == 1 &&
			resp.GetExecutions()[0].GetExecution().GetWorkflowId() == files["target_"+name+"_failed_history.json"]
	})
	return files
}

func recordSweepBatches(ctx context.Context, t *testing.T, c client.Client, f *rotationFake) map[string]string {
	const id = "rec-batches"
	files := map[string]string{
		"sweep_batches_history.json": SweepWorkflowID(id),
		"sweep_batch_history.json":   SweepBatchWorkflowID(id, 0),
	}
	if exists(keys(files)...) {
		return files
	}
	in := SweepInput{SweepID: id, Targets: targets([]string{acctA, acctB}, "us-east-1", "eu-west-1"), Operator: "schedule amicrypt-sweep"}
	wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: SweepWorkflowID(id), TaskQueue: TaskQueue}, Sweep, in)
	require.NoError(t, err)
	var rep Report
	require.NoError(t, wr.Get(ctx, &rep))
	require.True(t, rep.RowsInBatches, rep)
	require.Len(t, rep.Batches, 1)
	return files
}

// recordPlanRun: a plan whose listed targets come in two parts, with an
// organization's unit besides; PlanRun gathers them and starts its Plan
// slices, which it does not wait for.
func recordPlanRun(ctx context.Context, t *testing.T, c client.Client, f *rotationFake) map[string]string {
	id := PlanRunWorkflowID("rec-plan", time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	files := map[string]string{
		"plan_run_history.json": id,
		"plan_history.json":     PlanSliceWorkflowID(id, 0),
	}
	if exists(keys(files)...) {
		return files
	}
	f.org = testOrg()
	defer func() { f.org = nil }()
	listed := []activities.Target{target("666666666666", "us-east-1"), target("888888888888", "us-east-1")}
	in := PipelineInput{RunID: "rec-plan", Builder: builder, Sources: bothSrcs, Targets: listed[:1], TargetParts: 2,
		Organization: &activities.OrganizationTargets{
			Selectors: []activities.OrganizationSelector{{Unit: "ou-ab12-prod0000", RoleName: "amicrypt-target", Regions: []activities.Target{template("us-east-1", "alias/amicrypt")}}},
			Listed:    []string{"666666666666", "888888888888"},
		}}
	wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: TaskQueue}, PlanRun, in)
	require.NoError(t, err)
	require.NoError(t, c.SignalWorkflow(ctx, id, "", SignalTargets, TargetsPart{Index: 1, Targets: listed[1:]}))
	var rep PlanRunReport
	require.NoError(t, wr.Get(ctx, &rep))
	require.Equal(t, 1, rep.Slices, rep)
	var plan PlanReport
	require.NoError(t, c.GetWorkflow(ctx, PlanSliceWorkflowID(id, 0), "").Get(ctx, &plan))
	require.Len(t, plan.Targets, rep.Targets, plan)
	return files
}

// recordSweepRotationRuns: a sweep that finds one account's key due and
// rotates it; the rotation's rows stay in its report.
func recordSweepRotationRuns(ctx context.Context, t *testing.T, c client.Client, f *rotationFake) map[string]string {
	const id = "rec-rotation-runs"
	files := map[string]string{"sweep_rotation_runs_history.json": SweepWorkflowID(id)}
	if exists(keys(files)...) {
		return files
	}
	due := target(acctA, "us-east-1")
	f.mu.Lock()
	f.health[due.ID()] = activities.KeyHealth{Account: acctA, Region: "us-east-1", Due: activities.ReasonScheduled}
	f.mu.Unlock()
	defer func() { f.mu.Lock(); delete(f.health, due.ID()); f.mu.Unlock() }()
	in := SweepInput{SweepID: id, Targets: targets([]string{acctA, acctB}, "us-east-1"), Operator: "schedule amicrypt-sweep"}
	wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: SweepWorkflowID(id), TaskQueue: TaskQueue}, Sweep, in)
	require.NoError(t, err)
	var rep Report
	require.NoError(t, wr.Get(ctx, &rep))
	require.Len(t, rep.RotationRuns, 1, rep)
	require.Equal(t, 1, rep.Summary[StatusSucceeded], rep)
	return files
}
