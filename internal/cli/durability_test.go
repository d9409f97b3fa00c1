//go:build linux

package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/benchkit"
	"github.com/amicrypt/amicrypt/internal/config"
	"github.com/amicrypt/amicrypt/internal/devserver"
	"github.com/amicrypt/amicrypt/internal/sandbox"
	"github.com/amicrypt/amicrypt/internal/sandbox/world"
	"github.com/amicrypt/amicrypt/internal/temporalconn"
	"github.com/amicrypt/amicrypt/workflows"
)

// durCopySeconds is how long a copy stays pending in this test's world: long
// enough to catch every target in its wait and kill the worker there.
const durCopySeconds = 6

// The worker process is killed (SIGKILL) while copies are pending and a new
// worker started: the run completes with exactly one encrypted AMI per target,
// and no Auto Scaling group, launch template or share is left behind — read
// from the sandbox's own state, not from the report.
//
// Temporal (embedded) and the AWS sandbox run in the test; the workers are the
// real amicrypt binary, as separate processes acting as the builder's
// amicrypt-pipeline role through an AWS profile, as a deployed worker would.
//
// It takes about three minutes, most of it waiting: Temporal notices the lost
// WaitAndVerify activities only when their heartbeat timeout (2 min,
// workflows/options.go) passes, then retries them after the retry policy's
// first interval (30 s).
func TestDurabilityWorkerKilledWhileCopiesPending(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the amicrypt binary and waits out a heartbeat timeout (about 3 min)")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 14*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin := durBuildAmicrypt(t, dir)

	w := durWorld(t)
	endpoint := durStartSandbox(t, w)
	temporal, c := durStartTemporal(ctx, t)
	const taskQueue = "amicrypt-durability"

	env := durWorkerEnv(t, dir, endpoint)
	workerArgs := func(identity string) []string {
		return []string{"worker",
			"--temporal-address", temporal.FrontendAddress(), "--namespace", temporalconn.DefaultNamespace, "--task-queue", taskQueue,
			"--aws-endpoint-url", endpoint, "--identity", identity, "--log-format", "json"}
	}
	first := durStartWorker(t, bin, dir, "durability-worker-1", env, workerArgs("durability-worker-1"))

	// The run: the example config over the default world's builder images.
	cfg, err := config.Parse(config.Example(), "example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const builder = "111111111111"
	builderImages := builderSources(w, builder)
	b, src, targets, err := cfg.Expand(builderImages)
	if err != nil {
		t.Fatal(err)
	}
	in := workflows.PipelineInput{Builder: b, Sources: src, Targets: targets, InFlight: cfg.Concurrency.InFlight, PerAccountRegion: cfg.Concurrency.PerAccountRegion}
	in.RunID = runIDFor(in)
	expected := expectedOutcomes(w, targets)
	var copying []activities.Target // the targets that get as far as a copy
	for _, tg := range targets {
		if expected[tg.ID()] == workflows.StatusSucceeded {
			copying = append(copying, tg)
		}
	}
	if len(targets) != 5 || len(copying) != 4 || expected["444444444444/us-east-1"] != activities.F2 {
		t.Fatalf("the default world and example config changed: targets %v, expected outcomes %v; update this test", len(targets), expected)
	}

	run, _, err := startPipeline(ctx, c, taskQueue, in)
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()

	// Kill the worker once copies are pending and nothing but waits runs on it
	// (in practice every copy is pending by then).
	pending := durWaitForCopiesPending(ctx, t, c, endpoint, in, copying, first)
	t.Logf("copies pending after %s: %v; killing worker 1 (pid %d) with SIGKILL", time.Since(started).Round(time.Millisecond), pending, first.cmd.Process.Pid)
	first.kill(t)
	time.Sleep(time.Second)
	second := durStartWorker(t, bin, dir, "durability-worker-2", env, workerArgs("durability-worker-2"))

	report, err := followRun(ctx, c, run, io.Discard, true)
	if err != nil {
		first.dumpLog(t)
		second.dumpLog(t)
		t.Fatal(err)
	}
	t.Logf("run %s ended after %s: %v", in.RunID, time.Since(started).Round(time.Second), report.Summary)

	// The report: what the default world implies.
	if err := checkOutcomes(report, expected); err != nil {
		t.Errorf("report: %v", err)
	}
	for _, r := range report.Targets {
		if r.Account+"/"+r.Region == "444444444444/us-east-1" {
			if r.Status != workflows.StatusFailed || r.Diagnosis == nil || r.Diagnosis.Code != activities.F2 {
				t.Errorf("444444444444/us-east-1: %s %+v, want failed with F2", r.Status, r.Diagnosis)
			}
		} else if r.Status != workflows.StatusSucceeded || r.EncryptedImageID == "" {
			t.Errorf("%s/%s: %s (image %q, diagnosis %+v), want succeeded", r.Account, r.Region, r.Status, r.EncryptedImageID, r.Diagnosis)
		}
		if len(r.Warnings) > 0 {
			t.Errorf("%s/%s: warnings %v", r.Account, r.Region, r.Warnings)
		}
	}

	// The waits the first worker held were taken over by the second.
	durCheckWaitsResumed(ctx, t, c, in, copying, pending)

	// The AWS side, from the sandbox's state.
	st := durSettledState(ctx, t, endpoint)
	rows := map[string]workflows.TargetReport{}
	for _, r := range report.Targets {
		rows[r.Account+"/"+r.Region] = r
	}
	for _, tg := range targets {
		source := builderImages[tg.Region]
		var copies []string
		if reg := durRegion(st, tg.Account, tg.Region); reg != nil {
			for _, im := range reg.Images {
				if im.Tags[activities.TagSourceImage] == source {
					copies = append(copies, im.ID+" ("+im.State+")")
				}
			}
		}
		sort.Strings(copies)
		want := 0
		if expected[tg.ID()] == workflows.StatusSucceeded {
			want = 1
		}
		if len(copies) != want {
			t.Errorf("%s: %d images copied from %s, want %d: %v", tg.ID(), len(copies), source, want, copies)
		} else if want == 1 && copies[0] != rows[tg.ID()].EncryptedImageID+" (available)" {
			t.Errorf("%s: the sandbox holds %s, the report says %s (available)", tg.ID(), copies[0], rows[tg.ID()].EncryptedImageID)
		}
	}
	durCheckNothingLeft(t, st, builder, builderImages)
	if t.Failed() {
		first.dumpLog(t)
		second.dumpLog(t)
		return
	}

	// Then a rotation of one account, and the worker killed while its
	// re-encrypting copies are pending: it completes on a third worker
	// with one copy per image, the alias moved, the old keys retired.
	durRotationSurvivesKill(ctx, t, c, endpoint, targets, second, func() *durWorker {
		return durStartWorker(t, bin, dir, "durability-worker-3", env, workerArgs("durability-worker-3"))
	})
}

// durRotationSurvivesKill rotates 222222222222 (both regions) on the worker
// running, kills it once the re-encrypting copies are pending and only waits
// run, and checks on the sandbox's state that the rotation finished on the
// next worker without a duplicate copy.
func durRotationSurvivesKill(ctx context.Context, t *testing.T, c client.Client, endpoint string, targets []activities.Target, running *durWorker, next func() *durWorker) {
	t.Helper()
	const acct = "222222222222"
	ri := workflows.RotationInput{RotationID: "durability-rotation", Account: acct, Reason: activities.ReasonLeaked, Operator: "durability-test", DeletionWindowDays: 7}
	for _, tg := range targets {
		if tg.Account == acct {
			ri.Targets = append(ri.Targets, tg)
		}
	}
	before := durSettledState(ctx, t, endpoint)
	oldImages := map[string]string{} // image -> region
	oldKeys := map[string]string{}   // region -> key
	for _, tg := range ri.Targets {
		reg := durRegion(before, acct, tg.Region)
		oldKeys[tg.Region] = reg.Keys[reg.Aliases["alias/amicrypt"]].ARN
		for _, im := range reg.Images {
			if im.Tags[activities.TagSourceImage] != "" && im.State == "available" {
				oldImages[im.ID] = tg.Region
			}
		}
	}
	if len(oldImages) != len(ri.Targets) {
		t.Fatalf("before the rotation: amicrypt images %v, want one per region of %s", oldImages, acct)
	}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.RotationWorkflowID(acct), TaskQueue: "amicrypt-durability"}, workflows.Rotation, ri)
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	deadline := started.Add(90 * time.Second)
	for {
		var pending []string
		if st, err := benchkit.ReadState(ctx, endpoint); err == nil {
			for _, tg := range ri.Targets {
				for _, im := range durRegion(st, acct, tg.Region).Images {
					if im.Tags[activities.TagRekeyedFrom] != "" && im.State == "pending" {
						pending = append(pending, im.ID)
					}
				}
			}
		}
		busy := false
		if len(pending) == len(oldImages) {
			desc, err := c.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
			if err != nil {
				t.Fatal(err)
			}
			for _, pa := range desc.GetPendingActivities() {
				if name := pa.GetActivityType().GetName(); pa.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED && name != "WaitAndVerify" {
					busy = true
				}
			}
			if !busy {
				t.Logf("re-encrypting copies pending after %s: %v; killing %s", time.Since(started).Round(time.Millisecond), pending, running.name)
				break
			}
		}
		if time.Now().After(deadline) {
			running.dumpLog(t)
			t.Fatalf("no moment with every re-encrypting copy pending and only waits running within 90 s (pending %v)", pending)
		}
		time.Sleep(50 * time.Millisecond)
	}
	running.kill(t)
	time.Sleep(time.Second)
	third := next()

	var rep workflows.Report
	if err := run.Get(ctx, &rep); err != nil {
		third.dumpLog(t)
		t.Fatal(err)
	}
	t.Logf("rotation ended after %s: %v", time.Since(started).Round(time.Second), rep.Summary)
	for _, row := range rep.Targets {
		if row.Status != workflows.StatusSucceeded || !row.AliasMoved || len(row.Images) != 1 || row.Images[0].Boot.Result != activities.BootInService {
			t.Errorf("%s/%s: %s, alias moved %v, images %+v, diagnosis %+v", row.Account, row.Region, row.Status, row.AliasMoved, row.Images, row.Diagnosis)
		}
	}
	st := durSettledState(ctx, t, endpoint)
	for _, tg := range ri.Targets {
		reg := durRegion(st, acct, tg.Region)
		copies := map[string][]string{}
		for _, im := range reg.Images {
			if from := im.Tags[activities.TagRekeyedFrom]; from != "" && im.State != "deregistered" {
				copies[from] = append(copies[from], im.ID+" ("+im.State+")")
			}
			// Retired in two steps: disabled now, deregistered after the
			// retention grace (the default 7 days here).
			if oldImages[im.ID] != "" && im.State != "disabled" && im.State != "deregistered" {
				t.Errorf("%s/%s: old image %s still %s", acct, tg.Region, im.ID, im.State)
			}
		}
		for old, region := range oldImages {
			if region == tg.Region && len(copies[old]) != 1 {
				t.Errorf("%s/%s: copies of %s: %v, want exactly one", acct, tg.Region, old, copies[old])
			}
		}
		newKey := reg.Keys[reg.Aliases["alias/amicrypt"]]
		if newKey.ARN == oldKeys[tg.Region] || newKey.Tags[activities.TagPredecessor] != oldKeys[tg.Region] {
			t.Errorf("%s/%s: the alias names %s (predecessor %q), want the successor of %s", acct, tg.Region, newKey.ARN, newKey.Tags[activities.TagPredecessor], oldKeys[tg.Region])
		}
		for _, k := range reg.Keys {
			if k.ARN == oldKeys[tg.Region] && k.State != "Disabled" {
				t.Errorf("%s/%s: old key %s is %s, want Disabled (a later sweep schedules its deletion)", acct, tg.Region, k.ARN, k.State)
			}
		}
		for name := range reg.Groups {
			t.Errorf("%s/%s: Auto Scaling group %s left behind", acct, tg.Region, name)
		}
	}
	if t.Failed() {
		running.dumpLog(t)
		third.dumpLog(t)
	}
}

// durBuildAmicrypt builds the amicrypt binary from this module (the build
// cache makes a repeat quick).
func durBuildAmicrypt(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "amicrypt")
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", bin, "github.com/amicrypt/amicrypt/cmd/amicrypt")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built %s in %s", bin, time.Since(start).Round(time.Millisecond))
	return bin
}

// durWorld is the default world with copies slow enough to be caught pending.
func durWorld(t *testing.T) *world.World {
	t.Helper()
	re := regexp.MustCompile(`(?m)^(\s*copy_seconds:\s*)[0-9.]+`)
	def := world.DefaultYAML()
	if len(re.FindAllIndex(def, -1)) != 1 {
		t.Fatal("the default world has no single timing.copy_seconds line to raise")
	}
	w, err := world.Parse(re.ReplaceAll(def, []byte(fmt.Sprintf("${1}%d", durCopySeconds))), "durability.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Timing.Copy(); got != durCopySeconds*time.Second {
		t.Fatalf("copy time %s after the change, want %ds", got, durCopySeconds)
	}
	return w
}

// durStartSandbox serves the world on a free port until the test ends.
func durStartSandbox(t *testing.T, w *world.World) string {
	t.Helper()
	sb, err := sandbox.New(w, sandbox.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sb.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("sandbox: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// durStartTemporal starts the embedded Temporal server in memory and a client.
func durStartTemporal(ctx context.Context, t *testing.T) (*devserver.Server, client.Client) {
	t.Helper()
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)
	srv, err := devserver.Start(ctx, devserver.Options{Address: "127.0.0.1:0", Namespace: temporalconn.DefaultNamespace, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Logf("stopping Temporal: %v", err)
		}
	})
	c, err := temporalconn.Dial(ctx, temporalconn.Options{Address: srv.FrontendAddress(), Namespace: temporalconn.DefaultNamespace, TaskQueue: "amicrypt-durability"}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return srv, c
}

// durWorkerEnv is the worker's environment: nothing of the caller's AWS,
// Temporal or amicrypt settings, and an AWS profile that assumes the
// builder's amicrypt-pipeline role from the builder's root credentials — the
// identity the target roles trust. (Static AWS_ACCESS_KEY_ID variables would
// win over AWS_PROFILE in the SDK's chain and leave the worker as root, which
// the targets' trust policies refuse.) AWS_ENDPOINT_URL_STS makes the
// profile's own sts:AssumeRole reach the sandbox too.
func durWorkerEnv(t *testing.T, dir, endpoint string) []string {
	t.Helper()
	files := map[string]string{
		"aws-config": "[profile amicrypt-pipeline]\n" +
			"role_arn = arn:aws:iam::111111111111:role/amicrypt-pipeline\n" +
			"source_profile = builder-root\nrole_session_name = amicrypt-durability\nregion = us-east-1\n\n" +
			"[profile builder-root]\nregion = us-east-1\n",
		"aws-credentials": "[builder-root]\naws_access_key_id = 111111111111\naws_secret_access_key = x\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "TEMPORAL_") || strings.HasPrefix(k, "AMICRYPT_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"AWS_CONFIG_FILE="+filepath.Join(dir, "aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "aws-credentials"),
		"AWS_PROFILE=amicrypt-pipeline",
		"AWS_REGION=us-east-1",
		"AWS_ENDPOINT_URL="+endpoint,
		"AWS_ENDPOINT_URL_STS="+endpoint,
		"AWS_EC2_METADATA_DISABLED=true",
	)
}

// oneWorker is what most end-to-end tests run on: the sandbox serving a
// world, the embedded Temporal server and a client, and one real 'amicrypt
// worker' process polling taskQueue. Its log is shown when the test fails.
type oneWorker struct {
	endpoint, taskQueue string
	temporal            *devserver.Server
	client              client.Client
	worker              *durWorker
}

// startOneWorker starts them for the test; env is added to the worker's
// environment (durWorkerEnv).
func startOneWorker(ctx context.Context, t *testing.T, w *world.World, name string, env ...string) *oneWorker {
	t.Helper()
	dir := t.TempDir()
	bin := durBuildAmicrypt(t, dir)
	s := &oneWorker{endpoint: durStartSandbox(t, w), taskQueue: "amicrypt-" + name}
	s.temporal, s.client = durStartTemporal(ctx, t)
	s.worker = durStartWorker(t, bin, dir, name+"-worker", append(durWorkerEnv(t, dir, s.endpoint), env...), []string{"worker",
		"--temporal-address", s.temporal.FrontendAddress(), "--namespace", temporalconn.DefaultNamespace, "--task-queue", s.taskQueue,
		"--aws-endpoint-url", s.endpoint, "--identity", name + "-worker", "--log-format", "json"})
	t.Cleanup(func() {
		if t.Failed() {
			s.worker.dumpLog(t)
		}
	})
	return s
}

// durWorker is an 'amicrypt worker' child process.
type durWorker struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// durStartWorker starts the worker and waits until it says it runs; the
// test's end kills it. Its log goes to a file, shown when the test fails.
func durStartWorker(t *testing.T, bin, dir, name string, env, args []string) *durWorker {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	// The worker dies with the test process, however that ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatal(err)
	}
	w := &durWorker{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(w.done)
	}()
	t.Cleanup(func() { w.kill(t) })

	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(logPath)
		if strings.Contains(string(b), "worker running") {
			if !strings.Contains(string(b), "assumed-role/amicrypt-pipeline/") {
				w.dumpLog(t)
				t.Fatalf("%s does not act as the builder's amicrypt-pipeline role", name)
			}
			return w
		}
		select {
		case <-w.done:
			w.dumpLog(t)
			t.Fatalf("%s exited at start: %v", name, cmd.ProcessState)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			w.dumpLog(t)
			t.Fatalf("%s did not start within 30 s", name)
		}
	}
}

// kill sends SIGKILL (kill -9) and waits for the process to be gone.
func (w *durWorker) kill(t *testing.T) {
	select {
	case <-w.done:
		return
	default:
	}
	if err := w.cmd.Process.Kill(); err != nil {
		t.Logf("killing %s: %v", w.name, err)
	}
	<-w.done
}

func (w *durWorker) dumpLog(t *testing.T) {
	b, err := os.ReadFile(w.log)
	if err != nil {
		t.Logf("%s log: %v", w.name, err)
		return
	}
	if len(b) > 20000 {
		b = b[len(b)-20000:]
	}
	t.Logf("%s log (tail):\n%s", w.name, b)
}

// durWaitForCopiesPending waits until copies are pending in the sandbox and
// the only activities the worker has started are waits (WaitAndVerify,
// ProveBoot): a kill then loses only activities that heartbeat. Any other
// started activity would be noticed only at its start-to-close timeout
// (CopyEncrypted 10 min, UnshareSource 15 min), too long for a test. It
// returns the pending copies as "account/region=image".
func durWaitForCopiesPending(ctx context.Context, t *testing.T, c client.Client, endpoint string, in workflows.PipelineInput, copying []activities.Target, w *durWorker) []string {
	t.Helper()
	ids := []string{workflows.PipelineWorkflowID(in.RunID), workflows.BatchWorkflowID(in.RunID, 0)}
	for _, tg := range in.Targets {
		src, _ := workflows.NearestSource(in.Sources, tg.Region)
		ids = append(ids, workflows.TargetWorkflowID(src.ImageID, tg.Account, tg.Region))
	}
	deadline := time.Now().Add(90 * time.Second)
	last := ""
	for {
		var pending []string
		if st, err := benchkit.ReadState(ctx, endpoint); err == nil {
			for _, tg := range copying {
				src, _ := workflows.NearestSource(in.Sources, tg.Region)
				if reg := durRegion(st, tg.Account, tg.Region); reg != nil {
					for _, im := range reg.Images {
						if im.Tags[activities.TagSourceImage] == src.ImageID && im.State == "pending" {
							pending = append(pending, tg.ID()+"="+im.ID)
						}
					}
				}
			}
		}
		var busy []string
		if len(pending) > 0 {
			for _, id := range ids {
				desc, err := c.DescribeWorkflowExecution(ctx, id, "")
				if err != nil {
					busy = append(busy, id+": "+err.Error())
					continue
				}
				for _, pa := range desc.GetPendingActivities() {
					name := pa.GetActivityType().GetName()
					if pa.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED && name != "WaitAndVerify" && name != "ProveBoot" {
						busy = append(busy, id+": "+name)
					}
				}
			}
			if len(busy) == 0 {
				sort.Strings(pending)
				return pending
			}
		}
		last = fmt.Sprintf("copies pending %v, other activities running %v", pending, busy)
		if time.Now().After(deadline) {
			w.dumpLog(t)
			t.Fatalf("no moment with copies pending and only waits running within 90 s (last: %s)", last)
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-w.done:
			w.dumpLog(t)
			t.Fatalf("%s exited on its own", w.name)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// durCheckWaitsResumed checks, in the history of each target whose copy was
// pending at the kill, that its WaitAndVerify completed on the second
// worker after a retry: the first worker's attempt died with it.
func durCheckWaitsResumed(ctx context.Context, t *testing.T, c client.Client, in workflows.PipelineInput, copying []activities.Target, pendingAtKill []string) {
	t.Helper()
	wasPending := map[string]bool{}
	for _, p := range pendingAtKill {
		id, _, _ := strings.Cut(p, "=")
		wasPending[id] = true
	}
	retried := 0
	for _, tg := range copying {
		src, _ := workflows.NearestSource(in.Sources, tg.Region)
		id := workflows.TargetWorkflowID(src.ImageID, tg.Account, tg.Region)
		scheduled := map[int64]string{}
		found := false
		it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Errorf("%s: history: %v", id, err)
				break
			}
			if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
				scheduled[ev.GetEventId()] = a.GetActivityType().GetName()
			}
			if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && scheduled[a.GetScheduledEventId()] == "WaitAndVerify" {
				found = true
				// A wait the first worker had started comes back as a retry on the
				// second; one it had not picked up yet starts there as attempt 1.
				// Either way only the second worker can have finished it.
				if wasPending[tg.ID()] && a.GetIdentity() != "durability-worker-2" {
					t.Errorf("%s: its copy was pending at the kill, but WaitAndVerify ended on %q; want durability-worker-2", tg.ID(), a.GetIdentity())
				}
				if wasPending[tg.ID()] && a.GetAttempt() >= 2 {
					retried++
				}
			}
		}
		if !found {
			t.Errorf("%s: no WaitAndVerify in the history of %s", tg.ID(), id)
		}
	}
	// How many waits the first worker had already picked up when it was killed
	// depends on timing (all of them, usually): logged, not asserted.
	t.Logf("%d of %d waits pending at the kill came back as retries on the second worker", retried, len(pendingAtKill))
}

// durSettledState is the state once no Auto Scaling group is being deleted
// (deleted groups show "Delete in progress" for a moment), or after 15 s.
func durSettledState(ctx context.Context, t *testing.T, endpoint string) *sandbox.State {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, err := benchkit.ReadState(ctx, endpoint)
		if err != nil {
			t.Fatal(err)
		}
		deleting := false
		for _, a := range st.Accounts {
			for _, reg := range a.Regions {
				for _, g := range reg.Groups {
					deleting = deleting || g.Status == "Delete in progress"
				}
			}
		}
		if !deleting || time.Now().After(deadline) {
			return st
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func durRegion(st *sandbox.State, account, region string) *sandbox.Region {
	if a := st.Accounts[account]; a != nil {
		return a.Regions[region]
	}
	return nil
}

func durSortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// durCheckNothingLeft checks the sandbox's state for what a run must not
// leave: a boot-proof group or template in any account, a share of the
// builder's sources (launch or create-volume permission).
func durCheckNothingLeft(t *testing.T, st *sandbox.State, builder string, builderImages map[string]string) {
	t.Helper()
	for _, acct := range durSortedKeys(st.Accounts) {
		a := st.Accounts[acct]
		for _, region := range durSortedKeys(a.Regions) {
			reg := a.Regions[region]
			for name, g := range reg.Groups {
				t.Errorf("%s/%s: Auto Scaling group %s left behind (status %q)", acct, region, name, g.Status)
			}
			for id, lt := range reg.LaunchTemplates {
				t.Errorf("%s/%s: launch template %s (%s) left behind", acct, region, lt.Name, id)
			}
		}
	}
	for region, id := range builderImages {
		reg := durRegion(st, builder, region)
		im := reg.Images[id]
		if im == nil {
			t.Errorf("the builder's source %s in %s is gone", id, region)
			continue
		}
		if len(im.LaunchPermissions) > 0 {
			t.Errorf("source %s in %s is still shared: launch permissions %v", id, region, im.LaunchPermissions)
		}
		for _, bd := range im.BlockDevices {
			if sn := reg.Snapshots[bd.SnapshotID]; sn != nil && len(sn.CreateVolumePermissions) > 0 {
				t.Errorf("snapshot %s of source %s in %s is still shared: create-volume permissions %v", sn.ID, id, region, sn.CreateVolumePermissions)
			}
		}
	}
}
