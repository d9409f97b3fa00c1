//go:build recordhistory

// Records the histories that replay_test.go replays, by running a Pipeline on
// an in-memory Temporal server (go.temporal.io/server/temporaltest) with the
// fake activities of fake_test.go. The build tag keeps the server out of
// `go test ./workflows/` (linking it costs minutes and gigabytes cold).
// Rerun after a deliberate change to a workflow's commands, and keep the old
// files if running workflows must still replay (gate the change with
// workflow.GetVersion):
//
//	go test -tags recordhistory -run TestRecordHistories -count=1 ./workflows/
package workflows

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/amicrypt/amicrypt/activities"
)

func TestRecordHistories(t *testing.T) {
	srv := temporaltest.NewServer(temporaltest.WithT(t))
	c := srv.GetDefaultClient()

	f := &rotationFake{fakeAWS: newFake(), health: map[string]activities.KeyHealth{}}
	// acctB/eu-west-1's copy does not boot: its history has the
	// unproven-image path.
	f.boot[acctB+"/eu-west-1"] = activities.BootResult{Result: activities.BootFailed, Message: "Client.InternalError: Client error on launch"}
	srv.NewWorker(TaskQueue, func(r worker.Registry) {
		r.RegisterWorkflow(Pipeline)
		r.RegisterWorkflow(Batch)
		r.RegisterWorkflow(Target)
		r.RegisterWorkflow(Rotation)
		r.RegisterWorkflow(Sweep)
		r.RegisterActivity(f)
		r.RegisterActivity(&Attach{Client: c})
	})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
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

	for file, id := range map[string]string{
		"sweep_history.json":                SweepWorkflowID("rec"),
		"rotation_history.json":             RotationWorkflowID(acctA),
		"rotation_boot_failed_history.json": RotationWorkflowID(acctB),
		"pipeline_history.json":             PipelineWorkflowID(in.RunID),
		"batch_history.json":                BatchWorkflowID(in.RunID, 1),
		"target_history.json":               TargetWorkflowID(useast1.ImageID, acctA, "us-east-1"),
		"target_boot_failed_history.json":   TargetWorkflowID(euwest1.ImageID, acctB, "eu-west-1"),
	} {
		var events []*historypb.HistoryEvent
		it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			require.NoError(t, err)
			events = append(events, e)
		}
		b, err := protojson.Marshal(&historypb.History{Events: events})
		require.NoError(t, err)
		// protojson varies its whitespace on purpose; indent with
		// encoding/json so a new recording diffs cleanly.
		var out bytes.Buffer
		require.NoError(t, json.Indent(&out, b, "", "  "))
		out.WriteByte('\n')
		require.NoError(t, os.WriteFile(filepath.Join("testdata", file), out.Bytes(), 0o644))
		t.Logf("%s: %d events of %s", file, len(events), id)
	}
}
