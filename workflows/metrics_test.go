package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/metrics"
	"github.com/amicrypt/amicrypt/internal/metrics/metricstest"
)

// What an operator reads on a worker's /metrics once targets ended: one
// count per target in amicrypt_targets_finished_total, by status and
// diagnosis code — through the workflow's metrics handler, with the
// worker's own handler (metrics.TemporalHandler) set in the test
// environment.
func TestTargetsFinishedAreCountedByStatusAndDiagnosisCode(t *testing.T) {
	m := metrics.New(metrics.Options{TargetOutcomes: TargetOutcomes()})

	before := metricstest.Get(t, m.Handler())
	for _, outcome := range TargetOutcomes() {
		v, ok := before.Value(metrics.TargetsFinished, metrics.LabelStatus, outcome[0], metrics.LabelDiagnosisCode, outcome[1])
		assert.True(t, ok && v == 0, "%v listed at 0 before any target ended: %v %v", outcome, v, ok)
	}

	// Two succeed, one fails F2 (key), one F7 (role), one is cancelled.
	for _, account := range []string{acctA, acctB} {
		r, err := runMeteredTarget(t, m, newFake(), targetInput(target(account, "us-east-1")))
		require.NoError(t, err)
		require.Equal(t, StatusSucceeded, r.Status)
	}
	f := newFake()
	tg := target(acctA, "eu-west-1")
	f.errs["PrepareTarget "+tg.ID()] = diagnosedAt(activities.StepKey, activities.F2, "key alias/amicrypt does not let AWSServiceRoleForAutoScaling use it")
	r, err := runMeteredTarget(t, m, f, targetInput(tg))
	require.NoError(t, err)
	require.Equal(t, activities.F2, r.Diagnosis.Code)
	f = newFake()
	tg = target(acctC, "us-east-1")
	f.errs["PrepareTarget "+tg.ID()] = diagnosedAt(activities.StepAssume, activities.F7, "role cannot be assumed")
	_, err = runMeteredTarget(t, m, f, targetInput(tg))
	require.NoError(t, err)
	f = newFake()
	f.waitDelay = time.Hour
	r, _ = runMeteredTarget(t, m, f, targetInput(target(acctB, "eu-west-1")), func(env *testsuite.TestWorkflowEnvironment) {
		env.RegisterDelayedCallback(env.CancelWorkflow, 10*time.Minute)
	})
	require.Equal(t, StatusCancelled, r.Status)

	after := metricstest.Get(t, m.Handler())
	for _, c := range []struct {
		status, code string
		want         float64
	}{
		{StatusSucceeded, "", 2},
		{StatusFailed, activities.F2, 1},
		{StatusFailed, activities.F7, 1},
		{StatusFailed, activities.F5, 0},
		{StatusCancelled, "", 1},
	} {
		v, ok := after.Value(metrics.TargetsFinished, metrics.LabelStatus, c.status, metrics.LabelDiagnosisCode, c.code)
		assert.True(t, ok, "no series status=%q diagnosis_code=%q", c.status, c.code)
		assert.Equal(t, c.want, v, "status=%q diagnosis_code=%q", c.status, c.code)
	}
	assert.Equal(t, 5.0, after.Sum(metrics.TargetsFinished), "one count per target")
}

// runMeteredTarget is runTarget in a test suite whose metrics handler is
// the worker's (the suite, not the environment, takes the handler).
func runMeteredTarget(t *testing.T, m *metrics.Metrics, f *fakeAWS, in TargetInput, setup ...func(env *testsuite.TestWorkflowEnvironment)) (TargetReport, error) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetMetricsHandler(m.TemporalHandler(nil))
	return runTargetIn(t, newEnvIn(t, &s, f), in, setup...)
}
