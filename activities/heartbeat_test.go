package activities

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// A copy whose polls are further apart than the activity's heartbeat
// timeout still completes in its first attempt: the heartbeat runs on its
// own clock, not the poll's. With the heartbeat as sparse as the polls, the
// same wait times out, so the test shows the difference it claims.
//
// Scaled down from production (polls up to 2 min apart, 20 s heartbeats, a
// 2-minute heartbeat timeout; pinned by workflows' TestWaitingActivities...):
// the copy takes 2.5 s, the first poll waits 6 s, the heartbeat timeout is
// 1 s.
func TestWaitHeartbeatsBetweenSparsePolls(t *testing.T) {
	world := strings.Replace(testWorld, "copy_seconds: 0.2", "copy_seconds: 2.5", 1)
	if world == testWorld {
		t.Fatal("the test world's timing changed; update this test")
	}
	for _, tc := range []struct {
		name      string
		heartbeat time.Duration
		wantOK    bool
	}{
		{"heartbeat on its own clock", 200 * time.Millisecond, true},
		{"heartbeat no more often than the polls", time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarnessOf(t, world, func(c *Config) {
				c.PollInitial, c.PollMax = time.Second, time.Second // a copy's first wait: 6 s
				c.HeartbeatInterval = tc.heartbeat
			})
			tg := target(payments)
			key := must[EnsureKeyResult](h, h.acts.ensureKey, ensureKeyIn(tg))
			must[ShareSourceResult](h, h.acts.ShareSource, ShareSourceInput{Builder: Builder{Account: builderAcct}, Source: Source{Region: region, ImageID: sourceAMI}, Accounts: []string{payments}})
			c := must[CopyImageResult](h, h.acts.CopyEncrypted, CopyImageInput{Target: tg, Source: Source{Region: region, ImageID: sourceAMI}, KeyARN: key.KeyARN, RunID: "run-1"})

			wait := func(ctx workflow.Context, in WaitAndVerifyInput) (CopiedImage, error) {
				ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
					StartToCloseTimeout: time.Minute,
					HeartbeatTimeout:    time.Second,
					RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
				})
				var out CopiedImage
				err := workflow.ExecuteActivity(ctx, h.acts.WaitAndVerify, in).Get(ctx, &out)
				return out, err
			}
			var suite testsuite.WorkflowTestSuite
			env := suite.NewTestWorkflowEnvironment()
			env.RegisterWorkflow(wait)
			env.RegisterActivity(h.acts.WaitAndVerify)
			env.SetTestTimeout(time.Minute)
			var beats atomic.Int32 // heartbeats sent to the server: at most one per 0.8 × the timeout
			env.SetOnActivityHeartbeatListener(func(*activity.Info, converter.EncodedValues) { beats.Add(1) })
			env.ExecuteWorkflow(wait, WaitAndVerifyInput{Target: tg, ImageID: c.ImageID, KeyARN: key.KeyARN, Started: true})
			err := env.GetWorkflowError()
			if !tc.wantOK {
				var timeout *temporal.TimeoutError
				if err == nil || !errors.As(err, &timeout) {
					t.Fatalf("want a heartbeat timeout, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("the wait failed (%d heartbeats): %v", beats.Load(), err)
			}
			var got CopiedImage
			if err := env.GetWorkflowResult(&got); err != nil || got.ImageID != c.ImageID || !got.Verify.SnapshotsEncrypted {
				t.Fatalf("result %+v, %v", got, err)
			}
			if n := beats.Load(); n < 2 {
				t.Errorf("%d heartbeats reached Temporal in a wait of over 2.5 s", n)
			}
		})
	}
}
