package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

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
	t      *testing.T
	packer string
	env    []string
	dir    string
}

func newPackerEnv(t *testing.T, dev *devEnv) *packerEnv {
	t.Helper()
	packer, amazon := packerTools(t)
	dir := t.TempDir()
	plugin := filepath.Join(dir, "packer-plugin-amicrypt")
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	build := exec.Command(gobin, "build", "-o", plugin, "../../packer-plugin")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the plugin: %v\n%s", err, out)
	}
	p := &packerEnv{t: t, packer: packer, dir: dir, env: append(os.Environ(),
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
		"TEMPORAL_ADDRESS="+dev.Temporal.FrontendAddress(),
		"TEMPORAL_NAMESPACE="+dev.Namespace,
		"AMICRYPT_TASK_QUEUE="+dev.TaskQueue,
	)}
	p.run(context.Background(), "plugins", "install", "--path", amazon, "github.com/hashicorp/amazon")
	p.run(context.Background(), "plugins", "install", "--path", plugin, "github.com/amicrypt/amicrypt")
	return p
}

// run runs packer and fails the test if it fails.
func (p *packerEnv) run(ctx context.Context, args ...string) string {
	p.t.Helper()
	out, log, err := p.try(ctx, args...)
	if err != nil {
		p.t.Fatalf("packer %s: %v\n%s\n--- log ---\n%s", strings.Join(args, " "), err, out, tail(log, 200))
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

// build runs `packer build` of the plugin's example template against the
// sandbox with an amicrypt config, and returns Packer's output, its log, the
// manifest written after amicrypt (nil if none) and the error.
func (p *packerEnv) build(dev *devEnv, name, configYAML, failOn string) (out, log string, manifest *packerManifest, err error) {
	p.t.Helper()
	cfgPath := filepath.Join(p.dir, name+".yaml")
	if err := os.WriteFile(cfgPath, []byte(configYAML), 0o644); err != nil {
		p.t.Fatal(err)
	}
	template, err := filepath.Abs("../../packer-plugin/example/build.pkr.hcl")
	if err != nil {
		p.t.Fatal(err)
	}
	manifestPath := filepath.Join(p.dir, name+"-manifest.json")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, log, err = p.try(ctx, "build", "-color=false",
		"-var", "aws_endpoint="+dev.SandboxEndpoint,
		"-var", "amicrypt_config="+cfgPath,
		"-var", "fail_on="+failOn,
		"-var", "manifest="+manifestPath,
		template)
	p.t.Logf("packer build (%s):\n%s", name, out)
	if b, rerr := os.ReadFile(manifestPath); rerr == nil {
		manifest = &packerManifest{}
		if jerr := json.Unmarshal(b, manifest); jerr != nil {
			p.t.Fatalf("manifest: %v\n%s", jerr, b)
		}
	}
	return out, log, manifest, err
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

	t.Run("every target succeeds", func(t *testing.T) {
		p.t = t
		out, log, manifest, err := p.build(dev, "good", exampleConfigWithout(t, "444444444444"), "any")
		if err != nil {
			t.Fatalf("packer build: %v\n%s\n--- log ---\n%s", err, out, tail(log, 300))
		}
		st := sandboxState(t, dev)
		built := builderImages(st, dev.World, dev.BuilderAccount)
		if len(built) != 1 {
			t.Fatalf("want amazon-ebs to have made one AMI in the builder account, got %v\n%s", built, out)
		}
		source := strings.SplitN(built[0], ":", 2)[1]
		encrypted := imagesOf(st, source)
		want := []string{"222222222222:eu-west-1:", "222222222222:us-east-1:", "333333333333:eu-west-1:", "333333333333:us-east-1:"}
		if len(encrypted) != len(want) {
			t.Fatalf("the sandbox holds %v, want one encrypted image per target (%d)\n%s", encrypted, len(want), out)
		}
		for i, w := range want {
			if !strings.HasPrefix(encrypted[i], w) {
				t.Errorf("image %d: %s, want %s...", i, encrypted[i], w)
			}
		}
		if manifest == nil || len(manifest.Builds) == 0 {
			t.Fatalf("no manifest written after amicrypt\n%s", out)
		}
		last := manifest.Builds[len(manifest.Builds)-1]
		if last.ArtifactID != strings.Join(encrypted, ",") {
			t.Errorf("amicrypt's artifact id (as the manifest post-processor saw it) = %q, want %q", last.ArtifactID, strings.Join(encrypted, ","))
		}
		mustContain(t, out, "amicrypt: started run", "4 targets: 4 succeeded", source)
		assertNothingLeftBehind(t, dev)
	})

	t.Run("a broken key policy fails the build with its diagnosis", func(t *testing.T) {
		p.t = t
		out, _, manifest, err := p.build(dev, "f2", string(config.Example()), "any")
		if err == nil {
			t.Fatalf("packer build succeeded with a target that cannot succeed:\n%s", out)
		}
		mustContain(t, out, "444444444444 us-east-1 (legacy-batch): failed", "F2", "AWSServiceRoleForAutoScaling", `fail_on = "any" fails the build`)
		if manifest != nil {
			t.Errorf("the manifest post-processor ran after a failed amicrypt: %+v", manifest)
		}
	})

	t.Run("fail_on lets the build go on with the diagnosis", func(t *testing.T) {
		p.t = t
		out, log, manifest, err := p.build(dev, "f2-tolerated", string(config.Example()), "2")
		if err != nil {
			t.Fatalf("packer build with fail_on = 2 and one failed target: %v\n%s\n--- log ---\n%s", err, out, tail(log, 200))
		}
		mustContain(t, out, "444444444444 us-east-1 (legacy-batch): failed", "F2", `fail_on = "2": the build goes on`)
		if manifest == nil || len(manifest.Builds) == 0 {
			t.Fatalf("no manifest\n%s", out)
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
}
