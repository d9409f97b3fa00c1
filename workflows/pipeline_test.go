package workflows

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/amicrypt/amicrypt/activities"
)

func pipelineInput(tgs []activities.Target) PipelineInput {
	return PipelineInput{RunID: "r1", Builder: builder, Sources: bothSrcs, Targets: tgs}
}

// runPipeline runs the Pipeline and returns its report with the rows its
// batches returned (as pipelinerun.Complete reads them); also are more
// listeners of children completing.
func runPipeline(t *testing.T, env *testsuite.TestWorkflowEnvironment, in PipelineInput, also ...func(*workflow.Info, converter.EncodedValue, error)) (Report, error) {
	t.Helper()
	rows := map[string][]TargetReport{}
	env.SetOnChildWorkflowCompletedListener(func(info *workflow.Info, result converter.EncodedValue, err error) {
		for _, f := range also {
			f(info, result, err)
		}
		if info.WorkflowType.Name != "Batch" {
			return
		}
		var reports []TargetReport
		var canceledErr *temporal.CanceledError
		switch {
		case err == nil:
			require.NoError(t, result.Get(&reports))
		case errors.As(err, &canceledErr) && canceledErr.HasDetails():
			require.NoError(t, canceledErr.Details(&reports))
		}
		rows[info.WorkflowExecution.ID] = reports
	})
	env.ExecuteWorkflow(Pipeline, in)
	require.True(t, env.IsWorkflowCompleted())
	var r Report
	err := env.GetWorkflowError()
	var canceledErr *temporal.CanceledError
	switch {
	case err == nil:
		require.NoError(t, env.GetWorkflowResult(&r))
	case errors.As(err, &canceledErr):
		require.NoError(t, canceledErr.Details(&r))
	}
	if r.RowsInBatches {
		require.Empty(t, r.Targets, "a rows-in-batches report carries no row")
		for _, b := range r.Batches {
			r.Targets = append(r.Targets, rows[b.WorkflowID]...)
		}
	}
	return r, err
}

func TestPipelineHappyPath(t *testing.T) {
	f := newFake()
	env := newEnv(t, f)
	tgs := targets([]string{acctC, acctA, acctB}, "us-east-1", "eu-west-1")
	r, err := runPipeline(t, env, pipelineInput(tgs))
	require.NoError(t, err)

	assert.Equal(t, "r1", r.RunID)
	assert.Equal(t, map[string]string{"us-east-1": useast1.ImageID, "eu-west-1": euwest1.ImageID}, r.Sources)
	require.Len(t, r.Targets, 6)
	var order []string
	for _, tr := range r.Targets {
		order = append(order, tr.Account+"/"+tr.Region)
		assert.Equal(t, StatusSucceeded, tr.Status)
		assert.NotEmpty(t, tr.EncryptedImageID)
		assert.NotEmpty(t, tr.KeyARN)
		assert.True(t, tr.SnapshotsEncrypted)
		assert.Equal(t, activities.BootInService, tr.Boot.Result)
		assert.NotNil(t, tr.StartedAt)
		assert.NotNil(t, tr.FinishedAt)
	}
	assert.True(t, sort.StringsAreSorted(order), order)
	assert.Equal(t, map[string]int{StatusPending: 0, StatusRunning: 0, StatusSucceeded: 6, StatusFailed: 0, StatusCancelled: 0, "total": 6}, r.Summary)
	assert.Equal(t, []BatchStatus{{WorkflowID: "amicrypt-batch-r1-0", Status: StatusSucceeded, Accounts: 3, Targets: 6, Summary: r.Summary}}, r.Batches)
}

func TestPipelineMixedOutcomes(t *testing.T) {
	f := newFake()
	f.errs["PrepareTarget "+acctA+"/us-east-1"] = diagnosed(activities.F7, "AccessDenied assuming arn:aws:iam::222222222222:role/amicrypt")
	f.errs["PrepareTarget "+acctB+"/eu-west-1"] = diagnosedAt(activities.StepKey, activities.F5, "key alias/amicrypt is pending deletion")
	f.errs["ProveBoot "+acctC+"/us-east-1"] = diagnosed(activities.F2, "Client.InternalError: Client error on launch")
	env := newEnv(t, f)
	r, err := runPipeline(t, env, pipelineInput(targets([]string{acctA, acctB, acctC}, "us-east-1", "eu-west-1")))
	require.NoError(t, err, "failed targets are rows of the report, not a failed run")

	rs := byID(r.Targets)
	assert.Equal(t, activities.F7, rs[acctA+"/us-east-1"].Diagnosis.Code)
	assert.Equal(t, activities.F5, rs[acctB+"/eu-west-1"].Diagnosis.Code)
	assert.Equal(t, activities.F2, rs[acctC+"/us-east-1"].Diagnosis.Code)
	assert.Equal(t, 3, r.Summary[StatusSucceeded])
	assert.Equal(t, 3, r.Summary[StatusFailed])
	assert.Equal(t, []string{"FinishTarget " + acctC + "/us-east-1 proven=false"}, f.callsTo("FinishTarget "+acctC+"/us-east-1"), "never published")
	want := map[string]int{}
	for _, a := range []string{acctA, acctB, acctC} {
		want["us-east-1 "+a], want["eu-west-1 "+a] = 1, 1
	}
	assert.Equal(t, want, f.revoked(), "every share revoked once, failed targets' accounts included")
}

func TestPipelineSplitsAccountsIntoBatches(t *testing.T) {
	f := newFake()
	env := newEnv(t, f)
	var batchIDs []string
	batchAccounts := map[string][]string{}
	env.SetOnChildWorkflowStartedListener(func(info *workflow.Info, _ workflow.Context, args converter.EncodedValues) {
		if info.WorkflowType.Name != "Batch" {
			return
		}
		batchIDs = append(batchIDs, info.WorkflowExecution.ID)
		var in BatchInput
		require.NoError(t, args.Get(&in))
		seen := map[string]bool{}
		for _, tg := range in.Targets {
			if !seen[tg.Account] {
				seen[tg.Account] = true
				batchAccounts[info.WorkflowExecution.ID] = append(batchAccounts[info.WorkflowExecution.ID], tg.Account)
			}
		}
	})
	accounts := accountIDs(5)
	in := pipelineInput(targets(accounts, "us-east-1", "eu-west-1"))
	in.BatchAccounts = 2
	in.InFlight = 4
	r, err := runPipeline(t, env, in)
	require.NoError(t, err)

	sort.Strings(batchIDs)
	assert.Equal(t, []string{"amicrypt-batch-r1-0", "amicrypt-batch-r1-1", "amicrypt-batch-r1-2"}, batchIDs)
	assert.Equal(t, accounts[0:2], batchAccounts["amicrypt-batch-r1-0"])
	assert.Equal(t, accounts[2:4], batchAccounts["amicrypt-batch-r1-1"])
	assert.Equal(t, accounts[4:5], batchAccounts["amicrypt-batch-r1-2"])
	assert.Equal(t, 10, r.Summary[StatusSucceeded])
	require.Len(t, r.Batches, 3)
	assert.Equal(t, BatchStatus{WorkflowID: "amicrypt-batch-r1-2", Status: StatusSucceeded, Accounts: 1, Targets: 2,
		Summary: map[string]int{StatusPending: 0, StatusRunning: 0, StatusSucceeded: 2, StatusFailed: 0, StatusCancelled: 0, "total": 2}}, r.Batches[2])
	// each batch shared its own accounts only
	assert.ElementsMatch(t, []string{
		"ShareSource eu-west-1 " + accounts[0] + " " + accounts[1],
		"ShareSource us-east-1 " + accounts[0] + " " + accounts[1],
		"ShareSource eu-west-1 " + accounts[2] + " " + accounts[3],
		"ShareSource us-east-1 " + accounts[2] + " " + accounts[3],
		"ShareSource eu-west-1 " + accounts[4],
		"ShareSource us-east-1 " + accounts[4],
	}, f.callsTo("ShareSource"))
}

func TestPipelineCapsTargetsInFlightAcrossBatches(t *testing.T) {
	f := newFake()
	f.waitDelay = time.Hour
	env := newEnv(t, f)
	running, peak := 0, 0
	env.SetOnChildWorkflowStartedListener(func(info *workflow.Info, _ workflow.Context, _ converter.EncodedValues) {
		if info.WorkflowType.Name == "Target" {
			running++
			peak = max(peak, running)
		}
	})
	done := func(info *workflow.Info, _ converter.EncodedValue, _ error) {
		if info.WorkflowType.Name == "Target" {
			running--
		}
	}
	in := pipelineInput(targets(accountIDs(6), "us-east-1", "eu-west-1"))
	in.BatchAccounts = 2
	in.InFlight = 5 // batches of 4: the first gets 4, the second the 1 left, the third waits
	r, err := runPipeline(t, env, in, done)
	require.NoError(t, err)
	assert.Equal(t, 12, r.Summary[StatusSucceeded])
	assert.Equal(t, 5, peak, "in_flight is a cap, and all of it is used")
}

func TestPipelineGivesBatchesTheirWholeSizeWhenInFlightAllows(t *testing.T) {
	f := newFake()
	f.waitDelay = time.Hour
	env := newEnv(t, f)
	running, peak := 0, 0
	env.SetOnChildWorkflowStartedListener(func(info *workflow.Info, _ workflow.Context, _ converter.EncodedValues) {
		if info.WorkflowType.Name == "Target" {
			running++
			peak = max(peak, running)
		}
	})
	done := func(info *workflow.Info, _ converter.EncodedValue, _ error) {
		if info.WorkflowType.Name == "Target" {
			running--
		}
	}
	in := pipelineInput(targets(accountIDs(5), "us-east-1", "eu-west-1"))
	in.BatchAccounts = 2 // batches of 4, 4 and 2 targets
	in.InFlight = 10
	start := env.Now()
	r, err := runPipeline(t, env, in, done)
	require.NoError(t, err)
	assert.Equal(t, 10, r.Summary[StatusSucceeded])
	assert.Equal(t, 10, peak, "every target runs at once: no second wave")
	assert.Less(t, env.Now().Sub(start), 2*time.Hour, "the run takes one target's time")
}

func TestPipelineProgressQuery(t *testing.T) {
	f := newFake()
	f.waitDelay = time.Hour
	env := newEnv(t, f)
	in := pipelineInput(targets(accountIDs(4), "us-east-1"))
	in.BatchAccounts = 1
	in.InFlight = 2 // two batches at once: two running, two pending
	var during Report
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryProgress)
		require.NoError(t, err)
		require.NoError(t, v.Get(&during))
	}, 30*time.Minute)
	r, err := runPipeline(t, env, in)
	require.NoError(t, err)

	assert.Equal(t, 4, during.Summary["total"])
	assert.Equal(t, 2, during.Summary[StatusRunning])
	assert.Equal(t, 2, during.Summary[StatusPending])
	require.Len(t, during.Batches, 4)
	assert.Equal(t, StatusRunning, during.Batches[0].Status)
	assert.Equal(t, StatusPending, during.Batches[3].Status)
	assert.Equal(t, 4, r.Summary[StatusSucceeded])
}

func TestPipelineCancelledCancelsTargetsAndRevokesShares(t *testing.T) {
	f := newFake()
	f.bootDelay = time.Hour
	env := newEnv(t, f)
	env.RegisterDelayedCallback(env.CancelWorkflow, 10*time.Minute)
	in := pipelineInput(targets([]string{acctA, acctB}, "us-east-1"))
	in.BatchAccounts = 1
	in.InFlight = 1 // the second batch never starts
	r, err := runPipeline(t, env, in)
	require.Error(t, err)
	assert.True(t, temporal.IsCanceledError(err), err)

	assert.Equal(t, 2, r.Summary[StatusCancelled])
	assert.Equal(t, []string{"DeleteBootProof " + acctA + "/us-east-1"}, distinct(f.callsTo("DeleteBootProof")), "the proof under way is deleted")
	assert.Equal(t, []string{"UnshareSource us-east-1 " + acctA}, f.callsTo("UnshareSource"))
	assert.Empty(t, f.callsTo("ShareSource us-east-1 "+acctB))
	assert.Equal(t, StatusCancelled, r.Batches[1].Status)
}

func TestPipelineRefusesInvalidInput(t *testing.T) {
	f := newFake()
	env := newEnv(t, f)
	in := PipelineInput{
		RunID:   "r1",
		Sources: []activities.Source{useast1, {Region: "us-east-1", ImageID: "ami-0a0000000000a0002"}, {Region: "moon-1", ImageID: "ami-0a0000000000a0003"}},
		Targets: []activities.Target{target(acctA, "us-east-1"), target(acctA, "us-east-1"), target("12", "eu-west-1"), target(acctB, "cn-north-1")},
	}
	_, err := runPipeline(t, env, in)
	require.Error(t, err)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), err)
	assert.Equal(t, ErrorTypeInvalidInput, appErr.Type())
	assert.True(t, appErr.NonRetryable())
	for _, want := range []string{
		"a second source in region us-east-1",
		`"moon-1" is not a region name`,
		"222222222222/us-east-1 is listed twice",
		`account "12" is not a 12-digit account id`,
		"no source image in partition aws-cn",
	} {
		assert.Contains(t, appErr.Error(), want)
	}
	assert.Empty(t, f.callsTo(), "nothing touched AWS")
}

func TestValidate(t *testing.T) {
	ok := pipelineInput(targets([]string{acctA}, "us-east-1", "ap-northeast-1"))
	require.NoError(t, ok.Validate())

	for name, tc := range map[string]struct {
		mutate func(*PipelineInput)
		want   string
	}{
		"no sources":             {func(in *PipelineInput) { in.Sources = nil }, "no source image"},
		"no targets":             {func(in *PipelineInput) { in.Targets = nil }, "no target"},
		"bad image":              {func(in *PipelineInput) { in.Sources[0].ImageID = "i-123" }, `"i-123" is not an image id`},
		"negative window":        {func(in *PipelineInput) { in.InFlight = -1 }, "must not be negative"},
		"misspelt target region": {func(in *PipelineInput) { in.Targets[0].Region = "us-est-1" }, `"us-est-1" is not a region name`},
	} {
		t.Run(name, func(t *testing.T) {
			in := pipelineInput(targets([]string{acctA}, "us-east-1"))
			in.Sources = append([]activities.Source(nil), in.Sources...)
			tc.mutate(&in)
			err := in.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestPlanBatches(t *testing.T) {
	// 5 accounts of 3 regions; at most 2 accounts and 7 targets a batch.
	tgs := targets(accountIDs(5), "us-east-1", "eu-west-1", "ap-south-1")
	batches := planBatches(tgs, 2, 7)
	var shape []string
	for _, b := range batches {
		accounts := map[string]bool{}
		for _, tg := range b {
			accounts[tg.Account] = true
		}
		shape = append(shape, fmt.Sprintf("%da/%dt", len(accounts), len(b)))
	}
	assert.Equal(t, []string{"2a/6t", "2a/6t", "1a/3t"}, shape)

	// the target cap splits before the account cap: 3 regions, at most 4 targets
	batches = planBatches(tgs, 100, 4)
	assert.Len(t, batches, 5, "one account a batch: two would be 6 targets")
	for _, b := range batches {
		for _, tg := range b {
			assert.Equal(t, b[0].Account, tg.Account, "an account is never split")
		}
	}

	// an account larger than the cap still travels whole
	batches = planBatches(targets(accountIDs(1), "us-east-1", "eu-west-1", "ap-south-1"), 100, 2)
	require.Len(t, batches, 1)
	assert.Len(t, batches[0], 3)

	// the default limits: 250 accounts of 4 regions → 10 batches of 25 accounts
	batches = planBatches(targets(manyAccounts(250), "us-east-1", "us-west-2", "eu-west-1", "eu-central-1"), DefaultBatchAccounts, MaxBatchTargets)
	require.Len(t, batches, 10)
	assert.Len(t, batches[0], 100)
	assert.Len(t, batches[9], 100)

	// 100 accounts of 17 regions would be 1,700 targets: with batches of 100
	// accounts the target cap splits them into batches of 58 accounts (986
	// targets)
	batches = planBatches(targets(manyAccounts(100), seventeenRegions...), 100, MaxBatchTargets)
	require.Len(t, batches, 2)
	assert.Len(t, batches[0], 58*17)
}

var seventeenRegions = []string{
	"us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1",
	"eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1",
	"ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1", "ap-southeast-2",
}

func manyAccounts(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("3%011d", i)
	}
	return out
}

func TestWorkflowIDs(t *testing.T) {
	assert.Equal(t, "amicrypt-run-r1", PipelineWorkflowID("r1"))
	assert.Equal(t, "amicrypt-batch-r1-3", BatchWorkflowID("r1", 3))
	assert.Equal(t, "amicrypt-target-ami-0a0000000000a0001-222222222222-eu-west-1", TargetWorkflowID(useast1.ImageID, acctA, "eu-west-1"))
	assert.True(t, strings.HasPrefix(TargetWorkflowID("ami-1", "1", "r"), "amicrypt-target-"))
}

// A run revokes what batches that ended without their revocation
// (terminated) left shared — beside its own batches, leaving alone the
// shares it makes itself — and says so in its report; a failure to look is
// a warning, not a failed run.
func TestPipelineRevokesSharesTerminatedBatchesLeft(t *testing.T) {
	f := newFake()
	old := activities.Builder{Account: builder.Account, RoleARN: "arn:aws:iam::111111111111:role/old-builder"}
	f.stale = []StaleShare{{Batch: "amicrypt-batch-old-0", Share: activities.ShareSourceInput{Builder: old, Source: useast1, Accounts: []string{acctA, "555555555555"}}}}
	env := newEnv(t, f)
	r, err := runPipeline(t, env, pipelineInput(targets([]string{acctA}, "us-east-1")))
	require.NoError(t, err)
	assert.Equal(t, 1, r.Summary[StatusSucceeded])
	assert.ElementsMatch(t, []string{"UnshareSource us-east-1 555555555555", "UnshareSource us-east-1 " + acctA}, f.callsTo("UnshareSource"),
		"the stale share of another account revoked; the run's own account revoked once, by the run when it is done")
	assert.Less(t, f.index("ShareSource us-east-1 "+acctA), f.index("UnshareSource us-east-1 "+acctA))
	require.Len(t, r.Housekeeping, 1)
	assert.Contains(t, r.Housekeeping[0], "555555555555")
	assert.NotContains(t, r.Housekeeping[0], acctA)
	assert.Contains(t, r.Housekeeping[0], "amicrypt-batch-old-0")
	assert.Empty(t, r.Warnings)

	f = newFake()
	f.errs["FindStaleShares "] = errors.New("visibility unavailable")
	env = newEnv(t, f)
	r, err = runPipeline(t, env, pipelineInput(targets([]string{acctA}, "us-east-1")))
	require.NoError(t, err)
	assert.Equal(t, 1, r.Summary[StatusSucceeded], "housekeeping never stops a run")
	require.Len(t, r.Warnings, 1)
	assert.Contains(t, r.Warnings[0], "visibility unavailable")
}
