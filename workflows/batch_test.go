package workflows

import (
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/amicrypt/amicrypt/activities"
)

func batchInput(tgs []activities.Target, inFlight int) BatchInput {
	return BatchInput{RunID: "run1", Builder: builder, Sources: bothSrcs, Targets: tgs, InFlight: inFlight}
}

// runBatch runs one Batch to its end and returns its reports (from the
// result or the cancellation's details) and error.
func runBatch(t *testing.T, env *testsuite.TestWorkflowEnvironment, in BatchInput) ([]TargetReport, error) {
	t.Helper()
	env.ExecuteWorkflow(Batch, in)
	require.True(t, env.IsWorkflowCompleted())
	var reports []TargetReport
	err := env.GetWorkflowError()
	if err == nil {
		require.NoError(t, env.GetWorkflowResult(&reports))
		return reports, nil
	}
	var canceledErr *temporal.CanceledError
	if errors.As(err, &canceledErr) {
		require.NoError(t, canceledErr.Details(&reports))
	}
	return reports, err
}

func byID(reports []TargetReport) map[string]TargetReport {
	m := map[string]TargetReport{}
	for _, r := range reports {
		m[r.Account+"/"+r.Region] = r
	}
	return m
}

func TestBatchSharesOnceAndRevokesEachAccountWhenItsRegionsAreDone(t *testing.T) {
	f := newFake()
	f.waitDelay = time.Hour // each target takes an hour
	env := newEnv(t, f)
	// A has one region, B two; a window of 1 runs them one after another,
	// account by account.
	tgs := []activities.Target{target(acctB, "eu-west-1"), target(acctA, "us-east-1"), target(acctB, "us-east-1")}
	reports, err := runBatch(t, env, batchInput(tgs, 1))
	require.NoError(t, err)

	require.Len(t, reports, 3)
	for _, r := range reports {
		assert.Equal(t, StatusSucceeded, r.Status, r.Account+"/"+r.Region)
	}
	assert.Equal(t, []string{acctA + "/us-east-1", acctB + "/eu-west-1", acctB + "/us-east-1"},
		[]string{reports[0].Account + "/" + reports[0].Region, reports[1].Account + "/" + reports[1].Region, reports[2].Account + "/" + reports[2].Region},
		"reports ordered by account, region")

	// One share per source region, for every account that region serves,
	// before any target starts.
	shares := f.callsTo("ShareSource")
	assert.ElementsMatch(t, []string{
		"ShareSource eu-west-1 " + acctB,
		"ShareSource us-east-1 " + acctA + " " + acctB,
	}, shares)
	firstPrepare := len(f.calls)
	for _, c := range f.callsTo("PrepareTarget") {
		firstPrepare = min(firstPrepare, f.index(c))
	}
	for _, s := range shares {
		assert.Less(t, f.index(s), firstPrepare, s)
	}

	// A's share is revoked once A's only region is done (concurrently with
	// B's first target, so the two may interleave either way); B's once both
	// its regions are.
	unshareA := f.index("UnshareSource us-east-1 " + acctA)
	require.GreaterOrEqual(t, unshareA, 0, f.callsTo())
	assert.Greater(t, unshareA, f.index("FinishTarget "+acctA+"/us-east-1"))
	// (Whether A's revoke is recorded before B's targets end depends on how the
	// test environment interleaves concurrent activities: not asserted.)
	lastB := max(f.index("FinishTarget "+acctB+"/eu-west-1"), f.index("FinishTarget "+acctB+"/us-east-1"))
	for _, c := range []string{"UnshareSource eu-west-1 " + acctB, "UnshareSource us-east-1 " + acctB} {
		i := f.index(c)
		require.GreaterOrEqual(t, i, 0, c)
		assert.Greater(t, i, lastB, c)
	}
	assert.Len(t, f.callsTo("UnshareSource"), 3, "every share revoked exactly once")
}

func TestBatchRevokesAccountsFinishingTogetherInOneCall(t *testing.T) {
	f := newFake()
	f.waitDelay = time.Hour
	env := newEnv(t, f)
	// A window of 2: A and B run together and finish together while C,
	// started then, still runs; C finishes last.
	acctC := "444444444444"
	tgs := []activities.Target{target(acctA, "us-east-1"), target(acctB, "us-east-1"), target(acctC, "us-east-1")}
	_, err := runBatch(t, env, batchInput(tgs, 2))
	require.NoError(t, err)
	assert.Equal(t, []string{
		"UnshareSource us-east-1 " + acctA + " " + acctB, // RevokeDelay after they finished, while C runs
		"UnshareSource us-east-1 " + acctC,               // at once: the batch's last target
	}, f.callsTo("UnshareSource"))
	assert.Less(t, f.index("UnshareSource us-east-1 "+acctA+" "+acctB), f.index("FinishTarget "+acctC+"/us-east-1"),
		"A and B are not kept shared until the batch ends")
}

func TestBatchWindowCapsTargetsInFlight(t *testing.T) {
	f := newFake()
	f.waitDelay = time.Hour
	env := newEnv(t, f)
	running, peak := 0, 0
	env.SetOnChildWorkflowStartedListener(func(*workflow.Info, workflow.Context, converter.EncodedValues) {
		running++
		peak = max(peak, running)
	})
	env.SetOnChildWorkflowCompletedListener(func(*workflow.Info, converter.EncodedValue, error) { running-- })
	reports, err := runBatch(t, env, batchInput(targets(accountIDs(5), "us-east-1", "eu-west-1"), 3))
	require.NoError(t, err)
	assert.Len(t, reports, 10)
	assert.Equal(t, 3, peak)
}

func TestBatchShareFailureF1FailsTheTargetsItServes(t *testing.T) {
	f := newFake()
	f.errs["ShareSource us-east-1"] = diagnosed(activities.F1, "snapshots of ami-0a0000000000a0001 are encrypted with the AWS managed key aws/ebs")
	env := newEnv(t, f)
	tgs := []activities.Target{target(acctA, "us-east-1"), target(acctB, "us-east-1"), target(acctB, "eu-west-1")}
	reports, err := runBatch(t, env, batchInput(tgs, 10))
	require.NoError(t, err)

	rs := byID(reports)
	for _, id := range []string{acctA + "/us-east-1", acctB + "/us-east-1"} {
		r := rs[id]
		assert.Equal(t, StatusFailed, r.Status, id)
		assert.Equal(t, StepShare, r.Step, id)
		require.NotNil(t, r.Diagnosis, id)
		assert.Equal(t, activities.F1, r.Diagnosis.Code, id)
		assert.NotNil(t, r.FinishedAt, id)
		assert.Empty(t, f.callsTo("PrepareTarget "+id), "no Target for a source that could not be shared")
	}
	assert.Equal(t, StatusSucceeded, rs[acctB+"/eu-west-1"].Status, "the other source's targets go on")
	// Every account touched by a share is unshared, the failed one included.
	assert.Equal(t, map[string]int{"us-east-1 " + acctA: 1, "us-east-1 " + acctB: 1, "eu-west-1 " + acctB: 1}, f.revoked())
}

func TestBatchCancelledMidProofCompensates(t *testing.T) {
	f := newFake()
	f.bootDelay = time.Hour
	env := newEnv(t, f)
	env.RegisterDelayedCallback(env.CancelWorkflow, 10*time.Minute)
	tgs := []activities.Target{target(acctA, "us-east-1"), target(acctA, "eu-west-1"), target(acctB, "us-east-1")}
	reports, err := runBatch(t, env, batchInput(tgs, 2))
	require.Error(t, err)
	assert.True(t, temporal.IsCanceledError(err), err)

	require.Len(t, reports, 3)
	for _, r := range reports {
		assert.Equal(t, StatusCancelled, r.Status, r.Account+"/"+r.Region)
		assert.NotNil(t, r.FinishedAt)
	}
	// The two targets in flight deleted their proofs; the third never started.
	assert.ElementsMatch(t, []string{"DeleteBootProof " + acctA + "/eu-west-1", "DeleteBootProof " + acctA + "/us-east-1"}, distinct(f.callsTo("DeleteBootProof")))
	assert.Empty(t, f.callsTo("PrepareTarget "+acctB))
	// Every share revoked, in a context the cancellation did not reach.
	assert.ElementsMatch(t, []string{
		"UnshareSource eu-west-1 " + acctA,
		"UnshareSource us-east-1 " + acctA + " " + acctB,
	}, f.callsTo("UnshareSource"))
}

func TestBatchChildIDsAreDeterministic(t *testing.T) {
	f := newFake()
	env := newEnv(t, f)
	var ids []string
	env.SetOnChildWorkflowStartedListener(func(info *workflow.Info, _ workflow.Context, _ converter.EncodedValues) {
		ids = append(ids, info.WorkflowExecution.ID)
	})
	tgs := []activities.Target{target(acctA, "us-east-1"), target(acctA, "eu-west-1"), target(acctA, "ap-southeast-2")}
	_, err := runBatch(t, env, batchInput(tgs, 10))
	require.NoError(t, err)
	sort.Strings(ids)
	assert.Equal(t, []string{
		"amicrypt-target-" + useast1.ImageID + "-" + acctA + "-us-east-1",
		// no source in ap-: us-east-1 and eu-west-1 are as near, the name decides
		"amicrypt-target-" + euwest1.ImageID + "-" + acctA + "-ap-southeast-2",
		"amicrypt-target-" + euwest1.ImageID + "-" + acctA + "-eu-west-1",
	}, ids)
	assert.Len(t, f.callsTo("CopyEncrypted "+acctA+"/ap-southeast-2 "+euwest1.ImageID), 1)
}

// twoRuns starts two Batch children for the same targets, as two runs of
// the same source image would: the second finds the Target workflows
// running and attaches to them instead of copying again.
func twoRuns(ctx workflow.Context, in BatchInput) ([][]TargetReport, error) {
	var futures []workflow.Future
	for n := range 2 {
		in := in
		in.RunID = []string{"runA", "runB"}[n]
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: BatchWorkflowID(in.RunID, 0)})
		futures = append(futures, workflow.ExecuteChildWorkflow(cctx, Batch, in))
		_ = workflow.Sleep(ctx, time.Minute)
	}
	var out [][]TargetReport
	for _, f := range futures {
		var r []TargetReport
		if err := f.Get(ctx, &r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func TestBatchAttachesToATargetAlreadyRunning(t *testing.T) {
	f := newFake()
	f.waitDelay = time.Hour
	env := newEnv(t, f)
	env.RegisterWorkflow(twoRuns)
	tg := target(acctA, "us-east-1")
	id := TargetWorkflowID(useast1.ImageID, acctA, "us-east-1")
	var at *Attach
	attached := TargetReport{Account: acctA, Region: "us-east-1", Status: StatusSucceeded, EncryptedImageID: "ami-from-the-first-run"}
	env.OnActivity(at.AwaitTarget, mock.Anything, id).Return(attached, nil).Once()

	env.ExecuteWorkflow(twoRuns, batchInput([]activities.Target{tg}, 10))
	require.NoError(t, env.GetWorkflowError())
	var out [][]TargetReport
	require.NoError(t, env.GetWorkflowResult(&out))
	require.Len(t, out, 2)
	assert.Equal(t, imageID(tg), out[0][0].EncryptedImageID)
	assert.Equal(t, "ami-from-the-first-run", out[1][0].EncryptedImageID, "the second run reports the first run's result")
	assert.Len(t, f.callsTo("CopyEncrypted"), 1, "the work is done once")
	env.AssertExpectations(t)
}

func TestBatchProgressQuery(t *testing.T) {
	f := newFake()
	f.waitDelay = time.Hour
	env := newEnv(t, f)
	var during Report
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryProgress)
		require.NoError(t, err)
		require.NoError(t, v.Get(&during))
	}, 30*time.Minute)
	_, err := runBatch(t, env, batchInput(targets(accountIDs(3), "us-east-1"), 2))
	require.NoError(t, err)
	assert.Equal(t, 2, during.Summary[StatusRunning])
	assert.Equal(t, 1, during.Summary[StatusPending])
	assert.Equal(t, 3, during.Summary["total"])
	assert.Equal(t, useast1.ImageID, during.Sources["us-east-1"])
}

// The source had acctA's launch and create-volume permission before
// amicrypt (FindPreexistingShares says so, before any share): the Batch
// passes them as Keep to ShareSource and to acctA's UnshareSource (once
// acctA is done, while acctB's targets run), and to no other account's.
func TestBatchPassesWhatTheSourceHadBeforeAmicryptToUnshareSource(t *testing.T) {
	f := newFake()
	f.waitDelay = time.Hour
	f.preexisting = map[string]activities.SourcePermissions{
		"us-east-1": {Launch: []string{acctA}, Snapshots: []activities.SnapshotAccounts{{SnapshotID: "snap-0a", Accounts: []string{acctA}}}},
	}
	env := newEnv(t, f)
	tgs := []activities.Target{target(acctA, "us-east-1"), target(acctB, "us-east-1"), target(acctB, "eu-west-1")}
	_, err := runBatch(t, env, batchInput(tgs, 1))
	require.NoError(t, err)

	assert.ElementsMatch(t, []string{
		"FindPreexistingShares eu-west-1 " + acctB,
		"FindPreexistingShares us-east-1 " + acctA + " " + acctB,
	}, f.callsTo("FindPreexistingShares"))
	for _, r := range []string{"eu-west-1", "us-east-1"} {
		assert.Less(t, f.index("FindPreexistingShares "+r), f.index("ShareSource "+r), "the source's permissions are read before it is shared")
	}
	assert.ElementsMatch(t, []string{
		"ShareSource eu-west-1 " + acctB,
		"ShareSource us-east-1 " + acctA + " " + acctB + " keep=" + acctA,
	}, f.callsTo("ShareSource"))
	assert.ElementsMatch(t, []string{
		"UnshareSource us-east-1 " + acctA + " keep=" + acctA,
		"UnshareSource eu-west-1 " + acctB,
		"UnshareSource us-east-1 " + acctB,
	}, f.callsTo("UnshareSource"))
	var keeps []activities.SourcePermissions
	for _, in := range f.unshares {
		if in.Source.Region == "us-east-1" && slices.Contains(in.Accounts, acctA) {
			keeps = append(keeps, in.Keep)
		}
	}
	require.Len(t, keeps, 1)
	assert.Equal(t, f.preexisting["us-east-1"], keeps[0], "the snapshot's create-volume permission is kept too")
}

// Cancelled, the Batch revokes everything in a disconnected context — still
// keeping what the source had before amicrypt.
func TestBatchCancelledKeepsWhatTheSourceHadBefore(t *testing.T) {
	f := newFake()
	f.bootDelay = time.Hour
	f.preexisting = map[string]activities.SourcePermissions{"us-east-1": {Launch: []string{acctB}}}
	env := newEnv(t, f)
	env.RegisterDelayedCallback(env.CancelWorkflow, 10*time.Minute)
	tgs := []activities.Target{target(acctA, "us-east-1"), target(acctB, "us-east-1")}
	_, err := runBatch(t, env, batchInput(tgs, 2))
	require.Error(t, err)
	assert.Equal(t, []string{"UnshareSource us-east-1 " + acctA + " " + acctB + " keep=" + acctB}, f.callsTo("UnshareSource"))
}

// Without the source's permissions read, the Batch cannot tell what it may
// revoke: the region's targets fail at the share, and nothing there is
// shared or revoked.
func TestBatchThatCannotReadTheSourcesPermissionsSharesNothing(t *testing.T) {
	f := newFake()
	f.errs["FindPreexistingShares us-east-1"] = diagnosed(activities.F7, "not authorized to perform ec2:DescribeImageAttribute")
	env := newEnv(t, f)
	tgs := []activities.Target{target(acctA, "us-east-1"), target(acctA, "eu-west-1")}
	reports, err := runBatch(t, env, batchInput(tgs, 10))
	require.NoError(t, err)
	rs := byID(reports)
	assert.Equal(t, StatusFailed, rs[acctA+"/us-east-1"].Status)
	assert.Equal(t, StepShare, rs[acctA+"/us-east-1"].Step)
	assert.Equal(t, StatusSucceeded, rs[acctA+"/eu-west-1"].Status)
	assert.Empty(t, f.callsTo("ShareSource us-east-1"))
	assert.Empty(t, f.callsTo("UnshareSource us-east-1"))
	assert.Equal(t, []string{"UnshareSource eu-west-1 " + acctA}, f.callsTo("UnshareSource"))
}

// A target amicrypt may not act in — its role cannot be assumed, or its
// role_arn names another account — fails F7 before the share, and its
// account never appears in the source's permissions.
func TestBatchSharesOnlyWithAccountsWhoseRoleItAssumed(t *testing.T) {
	f := newFake()
	acctC := "444444444444"
	f.errs["VerifyTargets "+acctB+"/us-east-1"] = diagnosed(activities.F7, "amicrypt cannot assume role arn:aws:iam::"+acctB+":role/amicrypt-target")
	env := newEnv(t, f)
	other := target(acctC, "us-east-1")
	other.RoleARN = "arn:aws:iam::" + acctA + ":role/amicrypt-target" // a role of another account
	tgs := []activities.Target{target(acctA, "us-east-1"), target(acctB, "us-east-1"), other}
	reports, err := runBatch(t, env, batchInput(tgs, 10))
	require.NoError(t, err)

	rs := byID(reports)
	assert.Equal(t, StatusSucceeded, rs[acctA+"/us-east-1"].Status)
	for _, id := range []string{acctB + "/us-east-1", acctC + "/us-east-1"} {
		r := rs[id]
		assert.Equal(t, StatusFailed, r.Status, id)
		assert.Equal(t, activities.StepAssume, r.Step, id)
		require.NotNil(t, r.Diagnosis, id)
		assert.Equal(t, activities.F7, r.Diagnosis.Code, id)
		assert.Empty(t, f.callsTo("PrepareTarget "+id), id)
	}
	assert.Contains(t, rs[acctC+"/us-east-1"].Diagnosis.Cause, "is not a role of account "+acctC)
	for _, c := range f.calls {
		if strings.HasPrefix(c, "ShareSource") || strings.HasPrefix(c, "UnshareSource") {
			assert.NotContains(t, c, acctB, "an account whose role was refused is shared with: %s", c)
			assert.NotContains(t, c, acctC, "an account whose role names another is shared with: %s", c)
		}
	}
	assert.Equal(t, []string{"ShareSource us-east-1 " + acctA}, f.callsTo("ShareSource"))
}
