package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/amicrypt/amicrypt/internal/sandbox/world"
	"github.com/amicrypt/amicrypt/workflows"
)

// 'amicrypt cancel RUN' on a run whose copies are under way: the run stops,
// its compensation revokes the source's shares and deletes its boot proofs,
// the report it ends with has no target succeeded, and the workflow is
// cancelled. Cancelling it again says it has ended; an unknown run is bad
// input.
func TestCancelStopsARunAndLeavesNothingBehind(t *testing.T) {
	env := startE2E(t, world.Default())
	setBehaviour(t, env, `{"copy_seconds": 120}`)
	path, _ := rotationConfig(t, "  - {account: \"222222222222\", name: payments-prod}\n  - {account: \"333333333333\", name: analytics-dev}\n")
	code, stdout, stderr := runCLI(env, "run", "--config", path, "--source", "us-east-1=ami-0b0000000000a0001", "--source", "eu-west-1=ami-0b0000000000e0001", "--json")
	if code != 0 {
		t.Fatalf("run: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	var started struct {
		RunID string `json:"run_id"`
	}
	if err := json.Unmarshal([]byte(stdout), &started); err != nil || started.RunID == "" {
		t.Fatalf("run --json: %v\n%s", err, stdout)
	}

	// Wait until the source is shared: there is something to compensate.
	deadline := time.Now().Add(90 * time.Second)
	for {
		shared := false
		for _, im := range sandboxState(t, env).Accounts[env.BuilderAccount].Regions["us-east-1"].Images {
			shared = shared || len(im.LaunchPermissions) > 0
		}
		if shared {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the run never shared its source")
		}
		time.Sleep(200 * time.Millisecond)
	}

	code, stdout, stderr = runCLI(env, "cancel", started.RunID, "--json")
	if code != 0 {
		t.Fatalf("cancel: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	r := decodeReport(t, stdout, stderr)
	if len(r.Targets) != 4 {
		t.Fatalf("the cancelled run's report has %d targets, want 4: %+v", len(r.Targets), r.Targets)
	}
	for _, tr := range r.Targets {
		if tr.Status == workflows.StatusSucceeded {
			t.Errorf("%s/%s succeeded in a run cancelled while copying", tr.Account, tr.Region)
		}
	}
	desc, err := env.Client.DescribeWorkflowExecution(context.Background(), workflows.PipelineWorkflowID(started.RunID), "")
	if err != nil {
		t.Fatal(err)
	}
	if st := desc.WorkflowExecutionInfo.GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED {
		t.Errorf("the run's workflow is %s, want cancelled", st)
	}
	assertNothingLeftBehind(t, env)

	code, _, stderr = runCLI(env, "cancel", started.RunID)
	if code != 0 || !strings.Contains(stderr, "has already ended (cancelled)") {
		t.Errorf("cancelling it again: exit %d, stderr %q; want 0 and that it has ended", code, stderr)
	}
	code, _, stderr = runCLI(env, "cancel", "0123456789ab")
	if code != 2 || !strings.Contains(stderr, "no run 0123456789ab") {
		t.Errorf("cancelling an unknown run: exit %d, stderr %q; want 2 naming it", code, stderr)
	}
}
