package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/config"
	"github.com/amicrypt/amicrypt/internal/sandbox/world"
	"github.com/amicrypt/amicrypt/workflows"
)

// listJSON runs 'amicrypt list --json' with args until it prints want rows
// (visibility lags the workflows by a few seconds), and returns them.
func listJSON(t *testing.T, env *devEnv, want int, args ...string) []listRow {
	t.Helper()
	var rows []listRow
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		code, stdout, stderr := runCLI(env, append([]string{"list", "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("list %v: exit %d\nstdout: %s\nstderr: %s", args, code, stdout, stderr)
		}
		rows = nil
		if err := json.Unmarshal([]byte(stdout), &rows); err != nil {
			t.Fatalf("list %v --json: %v\n%s", args, err, stdout)
		}
		if len(rows) == want || time.Now().After(deadline) {
			return rows
		}
	}
}

// A run over the default world in which legacy-batch fails F2 (its key
// leaves Auto Scaling out): 'amicrypt list' answers, from the Targets'
// search attributes, exactly the targets the report says failed, with
// their diagnosis code; --diagnosis, --account and --region filter, and
// every target of the run is listed with its final status.
func TestListAnswersARunsTargetsFromSearchAttributes(t *testing.T) {
	env := startE2E(t, world.Default())
	path := filepath.Join(t.TempDir(), "amicrypt.yaml")
	if err := os.WriteFile(path, config.Example(), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stdout, stderr := runCLI(env, "run", "--config", path, "--source", "us-east-1=ami-0b0000000000a0001", "--source", "eu-west-1=ami-0b0000000000e0001", "--wait", "--json")
	report := decodeReport(t, stdout, stderr)
	var failed []workflows.TargetReport
	for _, tr := range report.Targets {
		if tr.Status == workflows.StatusFailed {
			failed = append(failed, tr)
		}
	}
	if len(failed) == 0 || len(failed) == len(report.Targets) {
		t.Fatalf("the run should fail some targets, not all: %+v", report.Summary)
	}
	run := report.RunID

	rows := listJSON(t, env, len(failed), "--run", run, "--status", "failed")
	key := func(account, region, status, step, code string) string {
		return strings.Join([]string{account, region, status, step, code}, " ")
	}
	var want, got []string
	for _, tr := range failed {
		want = append(want, key(tr.Account, tr.Region, tr.Status, tr.Step, tr.Diagnosis.Code))
	}
	for _, r := range rows {
		got = append(got, key(r.Account, r.Region, r.Status, r.Step, r.Diagnosis))
		if r.Run != run || r.WorkflowID != workflows.TargetWorkflowID(sourceOf(report, r.Region), r.Account, r.Region) || r.StartedAt == nil || r.ClosedAt == nil {
			t.Errorf("row %+v: want run %s, the Target's workflow id, its start and close times", r, run)
		}
	}
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("list --status failed:\n%s\nthe report's failed targets:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := listJSON(t, env, len(failed), "--run", run, "--diagnosis", "F2"); len(got) != len(failed) || got[0].Account != "444444444444" || got[0].Diagnosis != activities.F2 {
		t.Errorf("list --diagnosis F2: %+v", got)
	}
	if got := listJSON(t, env, 0, "--run", run, "--diagnosis", "F3"); len(got) != 0 {
		t.Errorf("list --diagnosis F3: %+v, want none", got)
	}

	// Every target, each with its final status; a filter by account and
	// region, as a table.
	all := listJSON(t, env, len(report.Targets), "--run", run)
	if len(all) != len(report.Targets) {
		t.Fatalf("list of the whole run: %d rows, want %d: %+v", len(all), len(report.Targets), all)
	}
	for _, r := range all {
		if r.Status == workflows.StatusSucceeded && (r.Step != workflows.StepDone || r.Diagnosis != "") {
			t.Errorf("succeeded row %+v: want step done, no diagnosis", r)
		}
	}
	code, stdout, stderr := runCLI(env, "list", "--run", run, "--account", "222222222222", "--region", "eu-west-1")
	if code != 0 || !strings.Contains(stdout, "ACCOUNT") || !strings.Contains(stdout, "222222222222  eu-west-1  succeeded  done") || strings.Count(stdout, "\n") != 2 {
		t.Errorf("list --account --region: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(env, "list", "--run", "0123456789ab")
	if code != 0 || stdout != "" || !strings.Contains(stderr, "no target of run 0123456789ab matches") {
		t.Errorf("list of a run that does not exist: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
}

// sourceOf is the source image of the report's run serving region.
func sourceOf(r *workflows.Report, region string) string {
	for _, tr := range r.Targets {
		if tr.Region == region {
			return tr.SourceImageID
		}
	}
	return ""
}

// A namespace without amicrypt's search attributes: the worker refuses to
// start and list fails, both naming the command that creates them.
func TestWorkerAndListRefuseANamespaceWithoutTheSearchAttributes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Temporal")
	}
	t.Setenv(envMetricsAddr, "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, c := durStartTemporal(ctx, t)
	if _, err := c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: "bare", WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	addr := srv.FrontendAddress()
	create := "temporal operator search-attribute create --address " + addr + " --namespace bare --name AmicryptRun --type Keyword --name AmicryptAccount --type Keyword"
	// The new namespace reaches the frontend's cache within seconds.
	var code int
	var stderr string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		code, _, stderr = run("list", "--run", "3f2a9c1b7d4e", "--temporal-address", addr, "--namespace", "bare")
		if strings.Contains(stderr, "lacks amicrypt's search attributes") || time.Now().After(deadline) {
			break
		}
	}
	if code != 1 || !strings.Contains(stderr, create) || !strings.Contains(stderr, "tcld namespace search-attributes add --namespace bare --search-attribute AmicryptRun=Keyword") {
		t.Errorf("list in a namespace without the attributes: exit %d, stderr:\n%s", code, stderr)
	}

	type result struct {
		code   int
		stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, _, stderr := run("worker", "--temporal-address", addr, "--namespace", "bare", "--log-level", "error")
		done <- result{code, stderr}
	}()
	select {
	case r := <-done:
		if r.code != 1 || !strings.Contains(r.stderr, "namespace bare lacks amicrypt's search attributes") || !strings.Contains(r.stderr, create) {
			t.Errorf("worker in a namespace without the attributes: exit %d, stderr:\n%s", r.code, r.stderr)
		}
	case <-time.After(time.Minute):
		t.Fatal("the worker started in a namespace without amicrypt's search attributes")
	}
}
