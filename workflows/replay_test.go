package workflows

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
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
			replayer.RegisterWorkflow(SweepBatch)
			replayer.RegisterWorkflow(PlanRun)
			replayer.RegisterWorkflow(Plan)
			if id, ok := replayedAs[filepath.Base(file)]; ok {
				// A workflow that names its children after its own id
				// replays under the id it was recorded with.
				f, err := os.Open(file)
				require.NoError(t, err)
				defer f.Close()
				h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
				require.NoError(t, err)
				require.NoError(t, replayer.ReplayWorkflowHistoryWithOptions(nil, h, worker.ReplayWorkflowHistoryOptions{
					OriginalExecution: workflow.Execution{ID: id},
				}))
				return
			}
			require.NoError(t, replayer.ReplayWorkflowHistoryFromJSONFile(nil, file))
		})
	}
}

// replayedAs are the workflow ids of recorded histories whose commands
// depend on the id (a PlanRun names its slices after itself).
var replayedAs = map[string]string{
	"plan_run_history.json": PlanRunWorkflowID("rec-plan", time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)),
}

// historiesManifest lists every recorded history with its SHA-256.
const historiesManifest = "histories.sha256"

// TestRecordedHistoriesAreKept holds every recorded history to the hash it
// was recorded with. The histories are a contract with runs in flight (a
// copy runs for hours; a worker deploy during a run is certain): a change
// that breaks them must be gated with workflow.GetVersion, and the old
// history still replays. Re-recording a history to make a change pass would
// hide exactly that, so it fails here; record a new scenario beside the old
// ones instead (record_history_test.go writes only files that do not exist,
// and adds their lines to the manifest).
func TestRecordedHistoriesAreKept(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", historiesManifest))
	require.NoError(t, err)
	defer f.Close()
	listed := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		require.Len(t, fields, 2, "manifest line %q: want '<sha256>  <file>'", sc.Text())
		listed[fields[1]] = fields[0]
	}
	require.NoError(t, sc.Err())

	files, err := filepath.Glob(filepath.Join("testdata", "*_history.json"))
	require.NoError(t, err)
	for _, file := range files {
		name := filepath.Base(file)
		want, ok := listed[name]
		if !ok {
			t.Errorf("%s is not in testdata/%s: record new histories with record_history_test.go, which lists them", name, historiesManifest)
			continue
		}
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("%s changed since it was recorded (sha256 %s, recorded %s): recorded histories are never re-recorded; "+
				"restore it (git checkout), gate the workflow change with workflow.GetVersion, and record a new scenario beside it", name, got, want)
		}
		delete(listed, name)
	}
	for name := range listed {
		t.Errorf("testdata/%s lists %s, which is gone: a recorded history is never deleted while runs of its version may be in flight", historiesManifest, name)
	}
}
