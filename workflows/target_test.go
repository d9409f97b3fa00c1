package workflows

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/amicrypt/amicrypt/activities"
)

const acctA, acctB, acctC = "222222222222", "333333333333", "444444444444"

func targetInput(t activities.Target) TargetInput {
	return TargetInput{RunID: "run1", Source: useast1, Target: t}
}

// runTarget runs one Target workflow to its end and returns its report (from
// the result, or from the cancellation's details) and error.
func runTarget(t *testing.T, f *fakeAWS, in TargetInput, setup ...func(env *testsuite.TestWorkflowEnvironment)) (TargetReport, error) {
	t.Helper()
	return runTargetIn(t, newEnv(t, f), in, setup...)
}

// runTargetIn is runTarget in a given environment.
func runTargetIn(t *testing.T, env *testsuite.TestWorkflowEnvironment, in TargetInput, setup ...func(env *testsuite.TestWorkflowEnvironment)) (TargetReport, error) {
	t.Helper()
	for _, s := range setup {
		s(env)
	}
	env.ExecuteWorkflow(Target, in)
	require.True(t, env.IsWorkflowCompleted())
	var r TargetReport
	err := env.GetWorkflowError()
	if err == nil {
		require.NoError(t, env.GetWorkflowResult(&r))
		return r, nil
	}
	var canceledErr *temporal.CanceledError
	if errors.As(err, &canceledErr) {
		require.NoError(t, canceledErr.Details(&r))
	}
	return r, err
}

func TestTargetHappyPath(t *testing.T) {
	f := newFake()
	tg := target(acctA, "us-east-1")
	r, err := runTarget(t, f, targetInput(tg))
	require.NoError(t, err)

	assert.Equal(t, StatusSucceeded, r.Status)
	assert.Equal(t, StepDone, r.Step)
	assert.Equal(t, acctA, r.Account)
	assert.Equal(t, "us-east-1", r.Region)
	assert.Equal(t, useast1.ImageID, r.SourceImageID)
	assert.Equal(t, imageID(tg), r.EncryptedImageID)
	assert.Equal(t, keyARN(tg), r.KeyARN)
	assert.True(t, r.SnapshotsEncrypted)
	assert.Equal(t, activities.BootInService, r.Boot.Result)
	assert.NotEmpty(t, r.Boot.InstanceID)
	assert.Equal(t, []string{"ssm:/amicrypt/al2023"}, r.Published)
	require.NotNil(t, r.StartedAt)
	require.NotNil(t, r.FinishedAt)
	assert.False(t, r.FinishedAt.Before(*r.StartedAt))
	assert.Nil(t, r.Diagnosis)
	assert.Empty(t, r.Warnings)

	id := tg.ID()
	assert.Equal(t, []string{
		"PrepareTarget " + id,
		"CopyEncrypted " + id + " " + useast1.ImageID,
		// the wait, then the snapshots' key, checked before booting: a
		// copy not under the key is condemned without a boot
		"WaitAndVerify " + id,
		// the proof deletes its group itself, before publishing; so no
		// compensation (DeleteBootProof) runs
		"ProveBoot " + id,
		"FinishTarget " + id + " proven=true",
	}, f.callsTo())
}

func TestTargetWithoutBootProofPublishesUnmarked(t *testing.T) {
	f := newFake()
	tg := target(acctA, "us-east-1")
	tg.BootProof.Enabled = false
	tg.Keep = 0
	r, err := runTarget(t, f, targetInput(tg))
	require.NoError(t, err)
	assert.Equal(t, StatusSucceeded, r.Status)
	assert.Equal(t, activities.BootSkipped, r.Boot.Result)
	assert.Empty(t, f.callsTo("ProveBoot", "DeleteBootProof"), "no proof, nothing to clean")
	assert.Equal(t, []string{"FinishTarget " + tg.ID() + " proven=true"}, f.callsTo("FinishTarget"))
	assert.Equal(t, []string{"ssm:/amicrypt/al2023"}, r.Published)
}

func TestTargetAssumeFailureF7(t *testing.T) {
	f := newFake()
	tg := target(acctA, "us-east-1")
	f.errs["PrepareTarget "+tg.ID()] = diagnosedAt(activities.StepAssume, activities.F7, "role arn:aws:iam::222222222222:role/amicrypt cannot be assumed: ExternalId does not match")
	r, err := runTarget(t, f, targetInput(tg))
	require.NoError(t, err, "a diagnosed failure is a report, not a workflow failure")

	assert.Equal(t, StatusFailed, r.Status)
	assert.Equal(t, StepAssume, r.Step)
	require.NotNil(t, r.Diagnosis)
	assert.Equal(t, activities.F7, r.Diagnosis.Code)
	assert.Contains(t, r.Diagnosis.Cause, "ExternalId")
	assert.Equal(t, "fix for F7", r.Diagnosis.Fix)
	assert.NotNil(t, r.FinishedAt)
	assert.Equal(t, []string{"PrepareTarget " + tg.ID()}, f.callsTo(), "nothing after a failed assume")
}

func TestTargetKeyFailureF2StopsBeforeCopy(t *testing.T) {
	f := newFake()
	tg := target(acctA, "us-east-1")
	f.errs["PrepareTarget "+tg.ID()] = diagnosedAt(activities.StepKey, activities.F2, "key alias/amicrypt does not let AWSServiceRoleForAutoScaling use it")
	r, err := runTarget(t, f, targetInput(tg))
	require.NoError(t, err)

	assert.Equal(t, StatusFailed, r.Status)
	assert.Equal(t, StepKey, r.Step)
	require.NotNil(t, r.Diagnosis)
	assert.Equal(t, activities.F2, r.Diagnosis.Code)
	assert.Empty(t, f.callsTo("CopyEncrypted", "ProveBoot", "DeleteBootProof"), "hours of copying saved")
	assert.Empty(t, r.EncryptedImageID)
}

func TestTargetBootFailureKeepsImageUnproven(t *testing.T) {
	for name, fail := range map[string]func(f *fakeAWS, id string){
		"diagnosed error": func(f *fakeAWS, id string) {
			f.errs["ProveBoot "+id] = diagnosed(activities.F2, "scaling activity Failed: Client.InternalError: Client error on launch")
		},
		// what activities.ProveBoot returns: the diagnosis, and the
		// BootResult as a second detail
		"diagnosed error with its result": func(f *fakeAWS, id string) {
			d := activities.Diagnosis{Code: activities.F2, Cause: "key alias/amicrypt does not let AWSServiceRoleForAutoScaling use it: Client error on launch", Fix: "add the statements"}
			br := activities.BootResult{Result: activities.BootFailed, Message: "Client.InternalError: Client error on launch"}
			f.errs["ProveBoot "+id] = temporal.NewNonRetryableApplicationError(d.Cause, activities.ErrorType(d.Code), nil, d, br)
		},
		"result Failed": func(f *fakeAWS, id string) {
			f.boot[id] = activities.BootResult{Result: activities.BootFailed, Message: "Client.InternalError: Client error on launch"}
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFake()
			tg := target(acctA, "us-east-1")
			fail(f, tg.ID())
			r, err := runTarget(t, f, targetInput(tg))
			require.NoError(t, err)

			assert.Equal(t, StatusFailed, r.Status)
			assert.Equal(t, StepBootProof, r.Step)
			assert.Equal(t, activities.BootFailed, r.Boot.Result)
			assert.Contains(t, r.Boot.Message, "Client error on launch")
			require.NotNil(t, r.Diagnosis)
			if name != "result Failed" {
				assert.Equal(t, activities.F2, r.Diagnosis.Code)
			}
			assert.Contains(t, r.Diagnosis.Cause, "Client error on launch")
			assert.Equal(t, imageID(tg), r.EncryptedImageID, "the image is kept")
			// A failed activity is followed by the workflow's compensation;
			// a proof that reported Failed had cleaned up itself.
			want := 1
			if name == "result Failed" {
				want = 0
			}
			assert.Len(t, f.callsTo("DeleteBootProof"), want)
			assert.Equal(t, []string{"FinishTarget " + tg.ID() + " proven=false"}, f.callsTo("FinishTarget"), "tagged unproven, never published")
			assert.Empty(t, r.Published)
		})
	}
}

func TestTargetBootProofErrorStillDeletes(t *testing.T) {
	f := newFake()
	tg := target(acctA, "us-east-1")
	f.errs["ProveBoot "+tg.ID()] = temporal.NewNonRetryableApplicationError("launch template rejected", "test", nil)
	r, err := runTarget(t, f, targetInput(tg))
	require.NoError(t, err)
	assert.Equal(t, StatusFailed, r.Status)
	assert.Equal(t, StepBootProof, r.Step)
	require.NotNil(t, r.Diagnosis)
	assert.Equal(t, activities.Other, r.Diagnosis.Code)
	assert.Contains(t, r.Diagnosis.Cause, "launch template rejected")
	assert.Contains(t, r.Diagnosis.Cause, acctA)
	assert.Len(t, f.callsTo("DeleteBootProof"), 1, "the workflow's compensation after the proof's error")
	assert.Equal(t, []string{"FinishTarget " + tg.ID() + " proven=false"}, f.callsTo("FinishTarget"))
}

func TestTargetCancelledMidCopyRunsCompensation(t *testing.T) {
	f := newFake()
	f.waitDelay = time.Hour
	tg := target(acctA, "us-east-1")
	r, err := runTarget(t, f, targetInput(tg), func(env *testsuite.TestWorkflowEnvironment) {
		env.RegisterDelayedCallback(env.CancelWorkflow, 10*time.Minute)
	})
	require.Error(t, err)
	assert.True(t, temporal.IsCanceledError(err), "a cancelled target ends cancelled: %v", err)

	assert.Equal(t, StatusCancelled, r.Status)
	assert.Equal(t, StepWaitAvailable, r.Step)
	assert.Equal(t, imageID(tg), r.EncryptedImageID)
	assert.NotNil(t, r.FinishedAt)
	assert.Empty(t, f.callsTo("ProveBoot", "DeleteBootProof", "FinishTarget"),
		"no proof was started, so there is nothing of it to delete")
}

func TestTargetAnswersStepAndReportQueries(t *testing.T) {
	f := newFake()
	f.waitDelay = time.Hour
	tg := target(acctA, "us-east-1")
	env := newEnv(t, f)
	var step string
	var partial TargetReport
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryStep)
		require.NoError(t, err)
		require.NoError(t, v.Get(&step))
		v, err = env.QueryWorkflow(QueryReport)
		require.NoError(t, err)
		require.NoError(t, v.Get(&partial))
	}, 30*time.Minute)
	env.ExecuteWorkflow(Target, targetInput(tg))
	require.NoError(t, env.GetWorkflowError())

	assert.Equal(t, StepWaitAvailable, step)
	assert.Equal(t, StatusRunning, partial.Status)
	assert.Equal(t, imageID(tg), partial.EncryptedImageID)
	assert.Equal(t, keyARN(tg), partial.KeyARN)
	assert.Nil(t, partial.FinishedAt)
}

func TestTargetUndiagnosedErrorIsOther(t *testing.T) {
	f := newFake()
	tg := target(acctA, "us-east-1")
	f.errs["CopyEncrypted "+tg.ID()] = temporal.NewNonRetryableApplicationError("IdempotentParameterMismatch", "test", nil)
	r, err := runTarget(t, f, targetInput(tg))
	require.NoError(t, err)
	assert.Equal(t, StatusFailed, r.Status)
	assert.Equal(t, StepCopy, r.Step)
	require.NotNil(t, r.Diagnosis)
	assert.Equal(t, activities.Other, r.Diagnosis.Code)
	assert.True(t, strings.Contains(r.Diagnosis.Cause, "copy") && strings.Contains(r.Diagnosis.Cause, "us-east-1"), r.Diagnosis.Cause)
	// No proof was started: nothing of it to delete.
	assert.Empty(t, f.callsTo("ProveBoot", "DeleteBootProof"))
}

func TestTargetSnapshotsNotUnderKeyFail(t *testing.T) {
	f := newFake()
	tg := target(acctA, "us-east-1")
	// WaitAndVerify finds a snapshot outside the key and says so in its
	// result.
	f.verify[tg.ID()] = &activities.Diagnosis{Code: activities.F8, Cause: "snapshot snap-0a of the copy is under the account's default key", Fix: "fix for F8", Step: activities.StepVerify}
	r, err := runTarget(t, f, targetInput(tg))
	require.NoError(t, err)
	assert.Equal(t, StatusFailed, r.Status)
	assert.Equal(t, StepVerify, r.Step)
	assert.Equal(t, activities.F8, r.Diagnosis.Code)
	assert.False(t, r.SnapshotsEncrypted)
	assert.Equal(t, []string{"FinishTarget " + tg.ID() + " proven=false"}, f.callsTo("FinishTarget"))
	assert.Empty(t, f.callsTo("ProveBoot"), "a copy not under the key is not booted")
}
