//go:build linux

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/amicrypt/amicrypt/internal/config"
	"github.com/amicrypt/amicrypt/internal/sandbox"
	"github.com/amicrypt/amicrypt/internal/sandbox/world"
	"github.com/amicrypt/amicrypt/workflows"
)

// TestPackerPreflightStartsNothingWhenATargetIsPredictedToFail is issue 12's
// `preflight = true` with the real Packer (null builder, source_amis: no
// amazon-ebs build, so it stays cheap). In the default world legacy-batch
// (444444444444 us-east-1) has a key the Auto Scaling service-linked role
// cannot use: the plan predicts F2, so the post-processor starts nothing —
// no run workflow, and the sandbox sees no mutating call (sts aside): no
// share, no key, no copy — lists the predicted failure with its code and
// fix, and judges it by fail_on as a run's failed targets are: "any" fails
// the build; "2" lets it go on, with an artifact that holds no AMI.
func TestPackerPreflightStartsNothingWhenATargetIsPredictedToFail(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds with Packer against the sandbox and Temporal")
	}
	packerTools(t) // skip before starting anything
	dev := startE2E(t, world.Default())
	p := newPackerEnv(t, dev)
	src, err := json.Marshal(builderSources(dev.World, dev.BuilderAccount))
	if err != nil {
		t.Fatal(err)
	}
	withLegacyBatch := string(config.Example())

	for _, c := range []struct {
		failOn  string
		fails   bool
		verdict string
	}{
		{"any", true, `(fail_on = "any" fails the build)`},
		{"2", false, `(fail_on = "2": the build goes on, with no AMI copied)`},
	} {
		t.Run("fail_on="+c.failOn, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			before := counters(ctx, t, dev.SandboxEndpoint)
			out, log, manifest, err := p.build(t, dev, "test-fixtures/source-amis.pkr.hcl", "preflight-"+c.failOn, withLegacyBatch,
				"source_amis="+string(src), "preflight=true", "fail_on="+c.failOn)
			if writes := sandbox.NewWrites(before, counters(ctx, t, dev.SandboxEndpoint)); len(writes) > 0 {
				t.Errorf("the preflight made mutating calls: %v", writes)
			}
			switch {
			case c.fails && err == nil:
				t.Error("packer build succeeded with a target predicted to fail")
			case !c.fails && err != nil:
				t.Errorf("packer build: %v\n--- log ---\n%s", err, tail(log, 200))
			}
			outputHas(t, out, "amicrypt: preflight: plan of run", "5 targets:", "1 will fail",
				"444444444444 us-east-1 (legacy-batch): will-fail", ": F2 ", "fix: ", "AWSServiceRoleForAutoScaling",
				"preflight: nothing was started: 1 of 5 targets are predicted to fail: 444444444444/us-east-1 F2", c.verdict)
			if strings.Contains(out, "amicrypt: started run") || strings.Contains(out, "amicrypt: attached to run") {
				t.Error("the post-processor started the run")
			}
			run := plannedRunIn(out)
			if run == "" {
				t.Fatal("no run id in the preflight's output")
			}
			_, err = dev.Client.DescribeWorkflowExecution(ctx, workflows.PipelineWorkflowID(run), "")
			if nf := (*serviceerror.NotFound)(nil); !errors.As(err, &nf) {
				t.Errorf("run %s: want no workflow, got %v", run, err)
			}
			switch {
			case c.fails && manifest != nil:
				t.Errorf("the manifest post-processor ran after a failed amicrypt: %+v", manifest)
			case !c.fails && (manifest == nil || len(manifest.Builds) == 0):
				t.Error("no manifest after a build that went on")
			case !c.fails && manifest.Builds[len(manifest.Builds)-1].ArtifactID != "":
				t.Errorf("the artifact of a run not started lists %q", manifest.Builds[len(manifest.Builds)-1].ArtifactID)
			}
		})
	}
}

// plannedRunIn finds the run id in the preflight's "planning run ID" line.
func plannedRunIn(out string) string {
	const verb = "amicrypt: preflight: planning run "
	if i := strings.Index(out, verb); i >= 0 {
		return strings.Fields(out[i+len(verb):])[0]
	}
	return ""
}
