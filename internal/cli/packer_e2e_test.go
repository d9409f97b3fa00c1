package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/amicrypt/amicrypt/internal/config"
	"github.com/amicrypt/amicrypt/internal/sandbox"
	"github.com/amicrypt/amicrypt/internal/sandbox/world"
)

// packerTools finds the Packer and packer-plugin-amazon binaries the
// end-to-end test drives. `make test` builds them into ./bin
// (scripts/packer-tools.sh) and sets AMICRYPT_PACKER_BIN, so there the test
// must run: missing binaries fail it. A bare `go test` uses ./bin when both
// are there and skips the test otherwise.
func packerTools(t *testing.T) (packer, amazon string) {
	t.Helper()
	dir := os.Getenv("AMICRYPT_PACKER_BIN")
	required := dir != ""
	if !required {
		dir = filepath.Join("..", "..", "bin")
	}
	packer, amazon = filepath.Join(dir, "packer"), filepath.Join(dir, "packer-plugin-amazon")
	for _, p := range []string{packer, amazon} {
		if _, err := os.Stat(p); err != nil {
			if required {
				t.Fatalf("AMICRYPT_PACKER_BIN=%s: %v (run `make packer-tools`)", dir, err)
			}
			t.Skipf("%s is missing: `make packer-tools` builds Packer and packer-plugin-amazon (`make test` does it)", p)
		}
	}
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	return abs(packer), abs(amazon)
}

// packerEnv is a Packer installation in a temporary PACKER_PLUGIN_PATH with
// the amazon plugin and amicrypt's own, freshly built.
type packerEnv struct {
	packer string
	env    []string
	dir    string
}

func newPackerEnv(t *testing.T, dev *devEnv) *packerEnv {
	t.Helper()
	packer, amazon := packerTools(t)
	dir := t.TempDir()
	plugin := filepath.Join(dir, "packer-plugin-amicrypt")
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("building the plugin needs the go command: %v", err)
	}
	build := exec.Command(gobin, "build", "-o", plugin, "../../packer-plugin")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the plugin: %v\n%s", err, out)
	}
	p := &packerEnv{packer: packer, dir: dir, env: append(os.Environ(),
		"PACKER_PLUGIN_PATH="+filepath.Join(dir, "plugins"),
		"PACKER_CONFIG_DIR="+filepath.Join(dir, "config"),
		"PACKER_CACHE_DIR="+filepath.Join(dir, "cache"),
		"CHECKPOINT_DISABLE=1",
		"PACKER_NO_COLOR=1",
		"PACKER_LOG=1",
		// The builder account's root user in the sandbox (its 12-digit access key id).
		"AWS_ACCESS_KEY_ID="+dev.BuilderAccount,
		"AWS_SECRET_ACCESS_KEY=sandbox",
		"AWS_SESSION_TOKEN=",
		"AWS_PROFILE=",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true",
		// packer-plugin-amazon v1.8.2 honours custom_endpoint_ec2 for its main
		// EC2 client only: the per-region clients of tagging and ami_regions
		// copies (common.GetRegionConn) are built from the shared AWS config
		// without it. The SDK's own endpoint variable reaches those too.
		"AWS_ENDPOINT_URL="+dev.SandboxEndpoint,
		// amazon-ebs's waiters poll every 15 s or more by default; the
		// sandbox's instances and images change state in seconds.
		"AWS_POLL_DELAY_SECONDS=1",
		"AWS_MAX_ATTEMPTS=300",
		"TEMPORAL_ADDRESS="+dev.Temporal.FrontendAddress(),
		"TEMPORAL_NAMESPACE="+dev.Namespace,
		"AMICRYPT_TASK_QUEUE="+dev.TaskQueue,
	)}
	p.run(t, "plugins", "install", "--path", amazon, "github.com/hashicorp/amazon")
	p.run(t, "plugins", "install", "--path", plugin, "github.com/amicrypt/amicrypt")
	return p
}

// withEnv is p with more environment variables (later ones win).
func (p *packerEnv) withEnv(kv ...string) *packerEnv {
	q := *p
	q.env = append(append([]string(nil), p.env...), kv...)
	return &q
}

// run runs packer and fails the test if it fails.
func (p *packerEnv) run(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, log, err := p.try(ctx, args...)
	if err != nil {
		t.Fatalf("packer %s: %v\n%s\n--- log ---\n%s", strings.Join(args, " "), err, out, tail(log, 200))
	}
	return out
}

// try runs packer; out is its output, log Packer's log (PACKER_LOG).
func (p *packerEnv) try(ctx context.Context, args ...string) (out, log string, err error) {
	cmd := exec.CommandContext(ctx, p.packer, args...)
	cmd.Env = p.env
	cmd.Dir = p.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	return stdout.String(), stderr.String(), err
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// build runs `packer build` of a template (relative to packer-plugin/)
// against the sandbox with an amicrypt config, and returns Packer's output,
// its log, the manifest written after amicrypt (nil if none) and the error.
func (p *packerEnv) build(t *testing.T, dev *devEnv, template, name, configYAML string, vars ...string) (out, log string, manifest *packerManifest, err error) {
	t.Helper()
	cfgPath := filepath.Join(p.dir, name+".yaml")
	if err := os.WriteFile(cfgPath, []byte(configYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	manifestPath := filepath.Join(p.dir, name+"-manifest.json")
	args := []string{"build", "-color=false",
		"-var", "amicrypt_config=" + cfgPath,
		"-var", "manifest=" + manifestPath}
	for _, v := range vars {
		args = append(args, "-var", v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, log, err = p.try(ctx, append(args, p.template(t, template))...)
	t.Logf("packer build (%s):\n%s", name, out)
	p.keepLog(name, log)
	if b, rerr := os.ReadFile(manifestPath); rerr == nil {
		manifest = &packerManifest{}
		if jerr := json.Unmarshal(b, manifest); jerr != nil {
			t.Fatalf("manifest: %v\n%s", jerr, b)
		}
	}
	return out, log, manifest, err
}

// template is the absolute path of a template under packer-plugin/.
func (p *packerEnv) template(t *testing.T, rel string) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("..", "..", "packer-plugin", rel))
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// keepLog writes Packer's log (PACKER_LOG=1: every plugin's) to
// $AMICRYPT_PACKER_LOG_DIR/<name>.log when that is set.
func (p *packerEnv) keepLog(name, log string) {
	if dir := os.Getenv("AMICRYPT_PACKER_LOG_DIR"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, name+".log"), []byte(log), 0o644)
	}
}

type packerManifest struct {
	Builds []struct {
		Name        string `json:"name"`
		BuilderType string `json:"builder_type"`
		ArtifactID  string `json:"artifact_id"`
	} `json:"builds"`
}

// exampleConfigWithout is the example config (which fits the default world)
// without one account's target and the comment above it.
func exampleConfigWithout(t *testing.T, account string) string {
	t.Helper()
	text := string(config.Example())
	item := strings.Index(text, "  - account: \""+account+"\"")
	if item < 0 {
		t.Fatalf("no target %s in the example config", account)
	}
	end := len(text)
	if next := strings.Index(text[item+1:], "\n  - account: "); next >= 0 {
		end = item + 1 + next + 1
	}
	start := item
	for start > 0 {
		prev := strings.LastIndex(text[:start-1], "\n") + 1
		if !strings.HasPrefix(strings.TrimSpace(text[prev:start]), "#") {
			break
		}
		start = prev
	}
	return text[:start] + text[end:]
}

// imagesOf lists account:region:ami of every available amicrypt image (by
// its amicrypt:source-image tag) made from sourceImage, in the sandbox.
func imagesOf(st sandbox.State, sourceImage string) []string {
	var out []string
	for id, a := range st.Accounts {
		for rn, r := range a.Regions {
			for imID, im := range r.Images {
				if im.Tags["amicrypt:source-image"] == sourceImage && im.State != "deregistered" {
					out = append(out, id+":"+rn+":"+imID)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// builderImages lists the builder's images other than the world's.
func builderImages(st sandbox.State, w *world.World, builder string) []string {
	known := map[string]bool{}
	for _, a := range w.Accounts {
		for _, im := range a.Images {
			known[im.ID] = true
		}
	}
	var out []string
	for rn, r := range st.Accounts[builder].Regions {
		for imID, im := range r.Images {
			if !known[imID] && im.State != "deregistered" {
				out = append(out, rn+":"+imID)
			}
		}
	}
	sort.Strings(out)
	return out
}

// TestPackerBuildEncryptsIntoEveryTarget is issue 4's end-to-end test: the real
// Packer binary and the real amazon-ebs builder build an unencrypted AMI in
// the sandbox's builder account from the world's public base image, then
// amicrypt's post-processor, in the same build, has the pipeline (embedded
// Temporal, a worker) encrypt it into every target; the manifest
// post-processor after it records amicrypt's artifact.
func TestPackerBuildEncryptsIntoEveryTarget(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds with Packer against the sandbox and Temporal")
	}
	packerTools(t) // skip before starting anything
	dev := startE2E(t, world.Default())
	p := newPackerEnv(t, dev)
	endpoint := "aws_endpoint=" + dev.SandboxEndpoint
	good := exampleConfigWithout(t, "444444444444")

	t.Run("validate lists every problem at once", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, _, err := p.try(ctx, "validate", p.template(t, "test-fixtures/invalid.pkr.hcl"))
		if err == nil {
			t.Fatalf("packer validate accepted the invalid template:\n%s", out)
		}
		outputHas(t, out, `temporal_address "temporal.example.com" is not host:port`,
			"temporal_tls_cert and temporal_tls_key go together", `fail_on "most"`,
			`builder_account: "1111" is not a 12-digit AWS account id`, "us-est-1", "target[1].account", "source_amis")
		if _, _, err := p.try(ctx, "validate", "-var", "amicrypt_config="+filepath.Join(p.dir, "none.yaml"), p.template(t, "example/build.pkr.hcl")); err == nil {
			t.Error("packer validate accepted a config file that does not exist")
		}
	})

	var firstSource, firstArtifact, firstRun string
	t.Run("every target succeeds", func(t *testing.T) {
		out, log, manifest, err := p.build(t, dev, "example/build.pkr.hcl", "good", good, endpoint)
		if err != nil {
			t.Fatalf("packer build: %v\n--- log ---\n%s", err, tail(log, 300))
		}
		st := sandboxState(t, dev)
		built := builderImages(st, dev.World, dev.BuilderAccount)
		if len(built) != 1 {
			t.Fatalf("want amazon-ebs to have made one AMI in the builder account, got %v", built)
		}
		firstSource = strings.SplitN(built[0], ":", 2)[1]
		assertPackerBuiltIt(t, dev, st, firstSource)

		encrypted := imagesOf(st, firstSource)
		want := []string{"222222222222:eu-west-1:", "222222222222:us-east-1:", "333333333333:eu-west-1:", "333333333333:us-east-1:"}
		if len(encrypted) != len(want) {
			t.Fatalf("the sandbox holds %v, want one encrypted image per target (%d)", encrypted, len(want))
		}
		for i, w := range want {
			if !strings.HasPrefix(encrypted[i], w) {
				t.Errorf("image %d: %s, want %s...", i, encrypted[i], w)
			}
		}
		if manifest == nil || len(manifest.Builds) == 0 {
			t.Fatal("no manifest written after amicrypt")
		}
		firstArtifact = manifest.Builds[len(manifest.Builds)-1].ArtifactID
		if firstArtifact != strings.Join(encrypted, ",") {
			t.Errorf("amicrypt's artifact id (as the manifest post-processor saw it) = %q, want %q", firstArtifact, strings.Join(encrypted, ","))
		}
		outputHas(t, out, "amicrypt: started run", "4 targets: 4 succeeded", firstSource)
		firstRun = runIDIn(out)
		assertNothingLeftBehind(t, dev)
	})
	if firstRun == "" {
		t.FailNow()
	}

	t.Run("building again with the same AMI attaches to the run", func(t *testing.T) {
		before := imagesOf(sandboxState(t, dev), firstSource)
		copies := dev.Sandbox.Calls("222222222222", "us-east-1", "ec2:CopyImage")
		out, log, manifest, err := p.build(t, dev, "test-fixtures/source-amis.pkr.hcl", "again", good, `source_amis={"us-east-1":"`+firstSource+`"}`)
		if err != nil {
			t.Fatalf("packer build: %v\n--- log ---\n%s", err, tail(log, 200))
		}
		outputHas(t, out, "amicrypt: attached to run "+firstRun)
		if manifest == nil || manifest.Builds[len(manifest.Builds)-1].ArtifactID != firstArtifact {
			t.Errorf("artifact %+v, want the first run's %s", manifest, firstArtifact)
		}
		if after := imagesOf(sandboxState(t, dev), firstSource); strings.Join(after, ",") != strings.Join(before, ",") {
			t.Errorf("images %v after attaching, %v before", after, before)
		}
		if n := dev.Sandbox.Calls("222222222222", "us-east-1", "ec2:CopyImage"); n != copies {
			t.Errorf("attaching made %d CopyImage calls", n-copies)
		}
	})

	t.Run("a task queue no worker polls", func(t *testing.T) {
		// Another queue: the run started there (other targets, so another
		// run) waits for a worker that never comes.
		lonely := p.withEnv("AMICRYPT_TASK_QUEUE=amicrypt-nobody")
		sources := `source_amis={"us-east-1":"` + firstSource + `"}`
		paymentsOnly := exampleConfigWithout(t, "333333333333")
		out, log, manifest, err := lonely.build(t, dev, "test-fixtures/source-amis.pkr.hcl", "no-wait", paymentsOnly, sources, "wait=false")
		if err != nil {
			t.Fatalf("packer build with wait = false: %v\n--- log ---\n%s", err, tail(log, 200))
		}
		run := runIDIn(out)
		outputHas(t, out, "amicrypt: started run", "no worker polls task queue amicrypt-nobody", "wait = false: not waiting", "amicrypt status "+run)
		if run == firstRun {
			t.Fatalf("other targets, same run %s", run)
		}
		defer func() {
			_ = dev.Client.TerminateWorkflow(context.Background(), "amicrypt-run-"+run, "", "test over")
		}()
		if manifest == nil || manifest.Builds[len(manifest.Builds)-1].ArtifactID != "" {
			t.Errorf("the artifact of a run not waited for lists images: %+v", manifest)
		}
		out, _, _, err = lonely.build(t, dev, "test-fixtures/source-amis.pkr.hcl", "timeout", paymentsOnly, sources, "timeout=3s")
		if err == nil {
			t.Fatal("the build succeeded although its run could not finish")
		}
		outputHas(t, out, "amicrypt: attached to run "+run, "did not finish within timeout 3s; it goes on")
	})

	t.Run("Ctrl-C cancels the run", func(t *testing.T) {
		testPackerInterrupt(t, dev, p, good, endpoint)
	})

	// Two builds at once: one target's key policy leaves Auto Scaling out (F2).
	t.Run("a broken key policy", func(t *testing.T) {
		t.Run("fails the build with its diagnosis", func(t *testing.T) {
			t.Parallel()
			out, _, manifest, err := p.build(t, dev, "example/build.pkr.hcl", "f2", string(config.Example()), endpoint, "fail_on=any", "ami_prefix=f2")
			if err == nil {
				t.Fatal("packer build succeeded with a target that cannot succeed")
			}
			outputHas(t, out, "444444444444 us-east-1 (legacy-batch): failed at key: F2", "AWSServiceRoleForAutoScaling",
				"kms:GrantIsForAWSResource", `fail_on = "any" fails the build`)
			if manifest != nil {
				t.Errorf("the manifest post-processor ran after a failed amicrypt: %+v", manifest)
			}
		})
		t.Run("lets the build go on under fail_on", func(t *testing.T) {
			t.Parallel()
			out, log, manifest, err := p.build(t, dev, "example/build.pkr.hcl", "f2-tolerated", string(config.Example()), endpoint, "fail_on=2", "ami_prefix=f2-tolerated")
			if err != nil {
				t.Fatalf("packer build with fail_on = 2 and one failed target: %v\n--- log ---\n%s", err, tail(log, 200))
			}
			outputHas(t, out, "444444444444 us-east-1 (legacy-batch): failed at key: F2", `fail_on = "2": the build goes on`)
			if manifest == nil || len(manifest.Builds) == 0 {
				t.Fatal("no manifest")
			}
			ids := strings.Split(manifest.Builds[len(manifest.Builds)-1].ArtifactID, ",")
			if len(ids) != 4 {
				t.Errorf("artifact lists %v, want the 4 targets that succeeded", ids)
			}
			for _, id := range ids {
				if strings.HasPrefix(id, "444444444444:") {
					t.Errorf("artifact lists the failed target: %s", id)
				}
			}
		})
	})
}

// outputHas reports every part Packer's output lacks, in one error.
func outputHas(t *testing.T, out string, parts ...string) {
	t.Helper()
	var missing []string
	for _, p := range parts {
		if !strings.Contains(out, p) {
			missing = append(missing, strconv.Quote(p))
		}
	}
	if len(missing) > 0 {
		t.Errorf("Packer's output lacks %s (the output is logged above)", strings.Join(missing, ", "))
	}
}

// runIDIn finds the run id in the post-processor's "started run ID" line.
func runIDIn(out string) string {
	for _, verb := range []string{"amicrypt: started run ", "amicrypt: attached to run "} {
		if i := strings.Index(out, verb); i >= 0 {
			return strings.Fields(out[i+len(verb):])[0]
		}
	}
	return ""
}

// assertPackerBuiltIt checks that amazon-ebs did the building in the builder
// account: an instance from the public base image, stopped, imaged and
// terminated; its temporary security group gone; the template's tags on the
// AMI.
func assertPackerBuiltIt(t *testing.T, dev *devEnv, st sandbox.State, source string) {
	t.Helper()
	region := st.Accounts[dev.BuilderAccount].Regions["us-east-1"]
	im := region.Images[source]
	if im == nil || im.Tags["Name"] != "base" || im.SourceInstanceID == "" {
		t.Fatalf("the built AMI %s: %+v", source, im)
	}
	inst := region.Instances[im.SourceInstanceID]
	if inst == nil || inst.ImageID != "ami-0a0000000000a0001" || inst.State != "terminated" {
		t.Errorf("the build instance %s: %+v", im.SourceInstanceID, inst)
	}
	for _, sg := range region.SecurityGroups {
		if strings.HasPrefix(sg.Name, "packer_") {
			t.Errorf("amazon-ebs left its temporary security group %s (%s)", sg.ID, sg.Name)
		}
	}
	for _, action := range []string{"ec2:RunInstances", "ec2:StopInstances", "ec2:CreateImage", "ec2:TerminateInstances", "ec2:CreateSecurityGroup", "ec2:DeleteSecurityGroup", "ec2:CreateTags"} {
		if dev.Sandbox.Calls(dev.BuilderAccount, "us-east-1", action) == 0 {
			t.Errorf("amazon-ebs made no %s call", action)
		}
	}
}

// testPackerInterrupt interrupts `packer build` (SIGINT, as Ctrl-C does) once
// amicrypt's run has started: the post-processor cancels the run, which
// revokes the source's shares and deletes its boot-proof groups, and the
// build fails.
func testPackerInterrupt(t *testing.T, dev *devEnv, p *packerEnv, configYAML, endpoint string) {
	cfgPath := filepath.Join(p.dir, "interrupt.yaml")
	if err := os.WriteFile(cfgPath, []byte(configYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.packer, "build", "-color=false", "-var", endpoint, "-var", "amicrypt_config="+cfgPath,
		"-var", "ami_prefix=interrupt", "-var", "manifest="+filepath.Join(p.dir, "interrupt-manifest.json"), p.template(t, "example/build.pkr.hcl"))
	cmd.Env, cmd.Dir = p.env, p.dir
	// Its own process group, to which Ctrl-C's SIGINT goes, as a terminal
	// sends it to its foreground group: Packer runs under panicwrap, whose
	// parent process does not forward signals to the Packer it wraps.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var log bytes.Buffer
	cmd.Stderr = &log
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	interrupted := false
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if !interrupted && strings.Contains(line, "amicrypt: started run") {
			if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			interrupted = true
		}
	}
	err = cmd.Wait()
	t.Logf("packer build (interrupted):\n%s", out.String())
	p.keepLog("interrupt", log.String())
	if !interrupted {
		t.Fatalf("amicrypt's run never started\n--- log ---\n%s", tail(log.String(), 200))
	}
	if err == nil {
		t.Fatal("the interrupted build succeeded")
	}
	outputHas(t, out.String(), "amicrypt: build cancelled, cancelling run", "cancelled")
	runID := runIDIn(out.String())
	desc, err := dev.Client.DescribeWorkflowExecution(context.Background(), "amicrypt-run-"+runID, "")
	if err != nil {
		t.Fatal(err)
	}
	if st := desc.WorkflowExecutionInfo.GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED {
		t.Errorf("run %s is %s, want cancelled", runID, st)
	}
	assertNothingLeftBehind(t, dev)
}
