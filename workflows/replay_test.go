package workflows

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/worker"
)

// TestReplay replays recorded histories (testdata/*_history.json, written by
// record_history_test.go against a real Temporal server) through today's
// workflow code: a change that would make a running workflow take another
// path fails here and must be gated with workflow.GetVersion.
func TestReplay(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*_history.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no recorded history: go test -tags recordhistory -run TestRecordHistories ./workflows/")
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			replayer := worker.NewWorkflowReplayer()
			replayer.RegisterWorkflow(Pipeline)
			replayer.RegisterWorkflow(Batch)
			replayer.RegisterWorkflow(Target)
			replayer.RegisterWorkflow(Rotation)
			replayer.RegisterWorkflow(Sweep)
			require.NoError(t, replayer.ReplayWorkflowHistoryFromJSONFile(nil, file))
		})
	}
}
