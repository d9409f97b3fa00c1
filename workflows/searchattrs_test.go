package workflows

import (
	"sync"
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

// unset is how recordUpserts writes an attribute a workflow unset.
const unset = "<unset>"

// recordUpserts records every UpsertTypedSearchAttributes of env's
// workflows, each as attribute name → value.
func recordUpserts(env *testsuite.TestWorkflowEnvironment) func() []map[string]string {
	var mu sync.Mutex
	var got []map[string]string
	env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		m := map[string]string{}
		for k, v := range args.Get(0).(temporal.SearchAttributes).GetUntypedValues() {
			s, ok := v.(string)
			if !ok {
				s = unset
			}
			m[k.GetName()] = s
		}
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}).Return(nil)
	return func() []map[string]string { mu.Lock(); defer mu.Unlock(); return got }
}

// attrs folds upserts into the attributes they leave.
func attrs(upserts []map[string]string) map[string]string {
	out := map[string]string{}
	for _, u := range upserts {
		for k, v := range u {
			if v == unset {
				delete(out, k)
			} else {
				out[k] = v
			}
		}
	}
	return out
}

// A Target started without attributes (by a Batch older than them) shows
// its run, account and region with its first step; then each step as it
// begins, one upsert each, and its end with its status.
func TestTargetShowsItsStepsAndEndInSearchAttributes(t *testing.T) {
	f := newFake()
	tg := target(acctA, "us-east-1")
	var upserts func() []map[string]string
	r, err := runTarget(t, f, targetInput(tg), func(env *testsuite.TestWorkflowEnvironment) { upserts = recordUpserts(env) })
	require.NoError(t, err)
	require.Equal(t, StatusSucceeded, r.Status)

	assert.Equal(t, []map[string]string{
		{"AmicryptRun": "run1", "AmicryptAccount": acctA, "AmicryptRegion": "us-east-1", "AmicryptStep": StepPrepare, "AmicryptStatus": StatusRunning},
		{"AmicryptStep": StepCopy},
		{"AmicryptStep": StepWaitAvailable},
		{"AmicryptStep": StepBootProof},
		{"AmicryptStep": StepPublish},
		// done and succeeded together: one command
		{"AmicryptStep": StepDone, "AmicryptStatus": StatusSucceeded},
	}, upserts())
}

// A Target its Batch started running (AttributesAtWaits) shows only the
// steps that wait on AWS and its end: three upserts where a Target of the
// first scheme makes six, and no version marker of its own (a run of 1,000
// targets writes 4,000 fewer visibility records).
func TestTargetStartedRunningShowsItsWaitsAndEnd(t *testing.T) {
	f := newFake()
	tg := target(acctA, "us-east-1")
	in := targetInput(tg)
	in.Attributes = AttributesAtWaits
	var upserts func() []map[string]string
	r, err := runTarget(t, f, in, func(env *testsuite.TestWorkflowEnvironment) {
		upserts = recordUpserts(env)
		require.NoError(t, env.SetTypedSearchAttributesOnStart(targetStartAttributes("run1", tg)))
	})
	require.NoError(t, err)
	require.Equal(t, StatusSucceeded, r.Status)

	assert.Equal(t, []map[string]string{
		{"AmicryptStep": StepWaitAvailable},
		{"AmicryptStep": StepBootProof},
		{"AmicryptStep": StepDone, "AmicryptStatus": StatusSucceeded},
	}, upserts())

	// Failing in its first workflow task, it shows the step that failed,
	// its status and its code in one upsert.
	f = newFake()
	f.errs["PrepareTarget "+tg.ID()] = diagnosedAt(activities.StepKey, activities.F2, "key alias/amicrypt does not let AWSServiceRoleForAutoScaling use it")
	r, err = runTarget(t, f, in, func(env *testsuite.TestWorkflowEnvironment) {
		upserts = recordUpserts(env)
		require.NoError(t, env.SetTypedSearchAttributesOnStart(targetStartAttributes("run1", tg)))
	})
	require.NoError(t, err)
	require.Equal(t, StatusFailed, r.Status)
	assert.Equal(t, []map[string]string{
		{"AmicryptStep": StepKey, "AmicryptStatus": StatusFailed, "AmicryptDiagnosis": activities.F2},
	}, upserts())
}

// A failed Target ends showing the step that failed and its diagnosis code;
// one whose start carried its run (as its Batch starts it) does not repeat
// it.
func TestFailedTargetShowsItsDiagnosisCode(t *testing.T) {
	f := newFake()
	tg := target(acctA, "us-east-1")
	f.errs["PrepareTarget "+tg.ID()] = diagnosedAt(activities.StepKey, activities.F2, "key alias/amicrypt does not let AWSServiceRoleForAutoScaling use it")
	var upserts func() []map[string]string
	r, err := runTarget(t, f, targetInput(tg), func(env *testsuite.TestWorkflowEnvironment) {
		upserts = recordUpserts(env)
		require.NoError(t, env.SetTypedSearchAttributesOnStart(targetStartAttributes("run1", tg)))
	})
	require.NoError(t, err)
	require.Equal(t, StatusFailed, r.Status)

	assert.Equal(t, []map[string]string{
		{"AmicryptStep": StepPrepare, "AmicryptStatus": StatusRunning},
		{"AmicryptStep": StepKey, "AmicryptStatus": StatusFailed, "AmicryptDiagnosis": activities.F2},
	}, upserts())
}

// A cancelled Target shows it, after its compensation.
func TestCancelledTargetShowsCancelled(t *testing.T) {
	f := newFake()
	f.waitDelay = time.Hour
	tg := target(acctA, "us-east-1")
	var upserts func() []map[string]string
	_, err := runTarget(t, f, targetInput(tg), func(env *testsuite.TestWorkflowEnvironment) {
		upserts = recordUpserts(env)
		env.RegisterDelayedCallback(env.CancelWorkflow, 10*time.Minute)
	})
	require.True(t, temporal.IsCanceledError(err), "%v", err)
	got := attrs(upserts())
	assert.Equal(t, StatusCancelled, got["AmicryptStatus"])
	assert.Equal(t, StepWaitAvailable, got["AmicryptStep"])
	assert.NotContains(t, got, "AmicryptDiagnosis")
}

// The Batch starts each Target with its run, account and region, running
// its first step, and tells it so; each Target then shows its waits and its
// end.
func TestBatchStartsTargetsWithTheirSearchAttributes(t *testing.T) {
	f := newFake()
	tg := target(acctB, "eu-west-1")
	f.errs["PrepareTarget "+tg.ID()] = diagnosedAt(activities.StepKey, activities.F2, "key alias/amicrypt does not let AWSServiceRoleForAutoScaling use it")
	env := newEnv(t, f)
	upserts := recordUpserts(env)
	started := map[string]map[string]string{}
	env.SetOnChildWorkflowStartedListener(func(info *workflow.Info, ctx workflow.Context, _ converter.EncodedValues) {
		sa := workflow.GetTypedSearchAttributes(ctx)
		m := map[string]string{}
		for _, k := range []temporal.SearchAttributeKeyKeyword{AttrRun, AttrAccount, AttrRegion, AttrStatus, AttrStep, AttrDiagnosis} {
			if v, ok := sa.GetKeyword(k); ok {
				m[k.GetName()] = v
			}
		}
		started[info.WorkflowExecution.ID] = m
	})
	reports, err := runBatch(t, env, batchInput([]activities.Target{target(acctA, "us-east-1"), tg}, 2))
	require.NoError(t, err)
	require.Len(t, reports, 2)

	for _, tt := range []activities.Target{target(acctA, "us-east-1"), tg} {
		id := TargetWorkflowID(fakeSource(tt.Region).ImageID, tt.Account, tt.Region)
		assert.Equal(t, map[string]string{"AmicryptRun": "run1", "AmicryptAccount": tt.Account, "AmicryptRegion": tt.Region, "AmicryptStatus": StatusRunning, "AmicryptStep": StepPrepare},
			started[id], "%s started with", id)
	}
	var runs, failed, succeeded int
	for _, u := range upserts() {
		if _, ok := u["AmicryptRun"]; ok {
			runs++
		}
		switch u["AmicryptStatus"] {
		case StatusFailed:
			failed++
			assert.Equal(t, activities.F2, u["AmicryptDiagnosis"])
		case StatusSucceeded:
			succeeded++
		}
	}
	assert.Zero(t, runs, "a Target started with its run does not upsert it again")
	for _, u := range upserts() {
		assert.NotEqual(t, StepPrepare, u["AmicryptStep"], "a Target started running its first step does not show it again")
	}
	assert.Equal(t, 1, failed)
	assert.Equal(t, 1, succeeded)
}

// fakeSource is the source serving a region of the fakes' world.
func fakeSource(region string) activities.Source {
	if region == euwest1.Region {
		return euwest1
	}
	return useast1
}
