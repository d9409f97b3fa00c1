// Package amicrypt is the Packer post-processor that hands a build's AMIs to
// amicrypt's pipeline and returns the encrypted AMI of every target account
// and region.
package amicrypt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/hcldec"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"
	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"

	"github.com/amicrypt/amicrypt/internal/operator"
	"github.com/amicrypt/amicrypt/internal/pipelinerun"
	"github.com/amicrypt/amicrypt/internal/temporalconn"
	"github.com/amicrypt/amicrypt/workflows"
)

// CancelWait bounds how long Ctrl-C waits for the cancelled run's report
// (its compensation deletes boot-proof groups and revokes shares first).
const CancelWait = 2 * time.Minute

// PostProcessor is the "amicrypt" post-processor.
type PostProcessor struct {
	config Config
	// dial connects to Temporal; tests replace it.
	dial func(ctx context.Context, o temporalconn.Options) (client.Client, error)
}

// ConfigSpec is the generated HCL2 spec.
func (p *PostProcessor) ConfigSpec() hcldec.ObjectSpec { return p.config.FlatMapstructure().HCL2Spec() }

// Configure decodes and validates the configuration, reporting every problem
// at once.
func (p *PostProcessor) Configure(raws ...interface{}) error {
	err := config.Decode(&p.config, &config.DecodeOpts{
		PluginType:         BuilderID,
		Interpolate:        true,
		InterpolateContext: &p.config.ctx,
		InterpolateFilter:  &interpolate.RenderFilter{Exclude: []string{}},
	}, raws...)
	if err != nil {
		return err
	}
	return p.config.prepare()
}

// PostProcess runs the pipeline over the input artifact's AMIs (or
// source_amis) and returns the encrypted AMIs. The input artifact is kept
// unless keep_input_artifact = false: replays and key rotations copy from it.
func (p *PostProcessor) PostProcess(ctx context.Context, ui packersdk.Ui, in packersdk.Artifact) (packersdk.Artifact, bool, bool, error) {
	const keep, forceOverride = true, false
	sources := p.config.SourceAMIs
	if len(sources) == 0 {
		var err error
		if sources, err = sourcesFromArtifact(in.BuilderId(), in.Id()); err != nil {
			return nil, keep, forceOverride, err
		}
	}
	builder, src, targets, err := p.config.run.Expand(sources)
	if err != nil {
		return nil, keep, forceOverride, fmt.Errorf("the source AMIs %s do not serve the targets, nothing was started:\n%w", describeSources(sources), err)
	}
	input := workflows.PipelineInput{
		Builder: builder, Sources: src, Targets: targets,
		InFlight: p.config.run.Concurrency.InFlight, PerAccountRegion: p.config.run.Concurrency.PerAccountRegion,
		Organization: p.config.run.Organization(),
	}
	if err := input.Validate(); err != nil {
		return nil, keep, forceOverride, fmt.Errorf("nothing was started:\n%w", err)
	}
	// The run id derives from the sources and targets: building again after an
	// interruption attaches to the same run instead of copying again.
	input.RunID = pipelinerun.RunID(input)

	// The build's name is the run's operator: the SourceIdentity of every
	// role session its activities assume, so CloudTrail shows which build
	// did what.
	ctx = operator.With(ctx, operator.Attribution{Operator: buildOperator(p.config.PackerBuildName)})

	opts := p.config.temporalOptions()
	dial := p.dial
	if dial == nil {
		dial = dialTemporal
	}
	c, err := dial(ctx, opts)
	if err != nil {
		return nil, keep, forceOverride, err
	}
	defer c.Close()
	if p.config.Preflight {
		start, artifact, err := p.preflight(ctx, ui, c, opts, input, sources)
		if !start {
			return artifact, keep, forceOverride, err
		}
	}
	run, attached, err := pipelinerun.Start(ctx, c, opts.TaskQueue, input, pipelinerun.StartOptions{RestartUnsuccessful: true})
	if err != nil {
		return nil, keep, forceOverride, err
	}
	verb := "started"
	if attached {
		verb = "attached to"
	}
	ui.Say(fmt.Sprintf("amicrypt: %s run %s (workflow %s): %s into %d targets, task queue %s at %s",
		verb, input.RunID, run.GetID(), describeSources(sources), len(targets), opts.TaskQueue, opts.Address))
	if ok, err := pipelinerun.HasWorker(ctx, c, opts.TaskQueue); err == nil && !ok {
		ui.Error(fmt.Sprintf("amicrypt: no worker polls task queue %s in namespace %s: the run waits until one does ('amicrypt worker' with the builder account's AWS credentials, or 'amicrypt dev'; check task_queue / %s)",
			opts.TaskQueue, opts.Namespace, temporalconn.EnvTaskQueue))
	}
	artifact := &Artifact{RunID: input.RunID, WorkflowID: run.GetID(), Sources: sources}
	if !p.config.waits() {
		ui.Say("wait = false: not waiting; follow the run with: amicrypt status " + input.RunID)
		return artifact, keep, forceOverride, nil
	}

	waitCtx := ctx
	if p.config.Timeout > 0 {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(ctx, p.config.Timeout)
		defer cancel()
	}
	tracker := pipelinerun.NewProgressTracker()
	tracker.ShowImage = true
	report, err := pipelinerun.Follow(waitCtx, c, run, func(r *workflows.Report) {
		for _, line := range tracker.Changes(r) {
			ui.Say(line)
		}
	})
	switch {
	case err != nil && ctx.Err() != nil:
		// Packer was interrupted (Ctrl-C): cancel the run; its compensation
		// cleans up what it made.
		ui.Error(fmt.Sprintf("amicrypt: build cancelled, cancelling run %s ...", input.RunID))
		cctx, cancel := context.WithTimeout(context.Background(), CancelWait+10*time.Second)
		defer cancel()
		final, cerr := pipelinerun.Cancel(cctx, c, run, CancelWait)
		if cerr != nil {
			return nil, keep, forceOverride, cerr
		}
		ui.Say(table(final))
		return nil, keep, forceOverride, fmt.Errorf("amicrypt run %s cancelled", input.RunID)
	case err != nil && waitCtx.Err() != nil:
		return nil, keep, forceOverride, fmt.Errorf("amicrypt run %s did not finish within timeout %s; it goes on: build again to attach to it, or follow it with: amicrypt status %s", input.RunID, p.config.Timeout, input.RunID)
	case err != nil:
		return nil, keep, forceOverride, err
	}
	artifact.Report = report
	ui.Say("amicrypt: run " + input.RunID + " ended\n" + table(report))

	failed := failedTargets(report)
	if len(failed) > 0 {
		msg := fmt.Sprintf("amicrypt run %s: %d of %d targets did not succeed:\n%s\nReplay them after fixing the cause: amicrypt replay %s",
			input.RunID, len(failed), len(report.Targets), strings.Join(failed, "\n"), input.RunID)
		if p.config.failOn.fails(len(failed), len(report.Targets)) {
			return nil, keep, forceOverride, errors.New(msg + fmt.Sprintf(" (fail_on = %q fails the build)", p.config.failOn))
		}
		ui.Error(msg + fmt.Sprintf(" (fail_on = %q: the build goes on)", p.config.failOn))
	}
	return artifact, keep, forceOverride, nil
}

// preflight plans the run with reads only before it starts (preflight =
// true), showing the plan's summary and each predicted failure. It returns
// start = true when no target is predicted to fail, or when
// allow_predicted_failures lets the run start anyway. Otherwise nothing is
// started, and the predicted failures are judged by fail_on as a run's
// failed targets are: an error when they fail the build, else an artifact
// that holds no AMI.
func (p *PostProcessor) preflight(ctx context.Context, ui packersdk.Ui, c client.Client, opts temporalconn.Options, input workflows.PipelineInput, sources map[string]string) (start bool, _ *Artifact, _ error) {
	if ok, err := pipelinerun.HasWorker(ctx, c, opts.TaskQueue); err == nil && !ok {
		ui.Error(fmt.Sprintf("amicrypt: no worker polls task queue %s in namespace %s: the preflight's plan waits until one does ('amicrypt worker' with the builder account's AWS credentials, or 'amicrypt dev'; check task_queue / %s)",
			opts.TaskQueue, opts.Namespace, temporalconn.EnvTaskQueue))
	}
	ui.Say(fmt.Sprintf("amicrypt: preflight: planning run %s (%s into %s) with reads only, task queue %s at %s",
		input.RunID, describeSources(sources), pipelinerun.DescribeTargets(input.Targets, input.Organization), opts.TaskQueue, opts.Address))
	planCtx := ctx
	if p.config.Timeout > 0 {
		var cancel context.CancelFunc
		planCtx, cancel = context.WithTimeout(ctx, p.config.Timeout)
		defer cancel()
	}
	pf, err := pipelinerun.RunPreflight(planCtx, c, opts.TaskQueue, input)
	switch {
	case err != nil && ctx.Err() != nil:
		return false, nil, fmt.Errorf("amicrypt: build cancelled during the preflight of run %s; nothing was started", input.RunID)
	case err != nil && planCtx.Err() != nil:
		return false, nil, fmt.Errorf("amicrypt: the preflight of run %s did not finish within timeout %s; nothing was started", input.RunID, p.config.Timeout)
	case err != nil:
		return false, nil, fmt.Errorf("amicrypt run %s: %w; nothing was started", input.RunID, err)
	}
	ui.Say("amicrypt: preflight: " + pipelinerun.PlanSummaryLine(pf.Plan))
	if pf.Clear() {
		return true, nil, nil
	}
	var b bytes.Buffer
	pipelinerun.WritePredictedFailures(&b, pf.Plan)
	ui.Say("amicrypt: predicted failures ('amicrypt plan' over the same config and sources shows the whole plan):\n" + strings.TrimRight(b.String(), "\n"))
	if p.config.AllowPredictedFailures {
		ui.Say("amicrypt: " + pf.Allowed("allow_predicted_failures = true"))
		return true, nil, nil
	}
	msg := fmt.Sprintf("amicrypt run %s: %v", input.RunID,
		pf.Refusal("fix them as listed above, then build again; or set allow_predicted_failures = true to start the run anyway"))
	if p.config.failOn.fails(len(pf.Predicted), len(pf.Plan.Targets)) {
		return false, nil, errors.New(msg + fmt.Sprintf(" (fail_on = %q fails the build)", p.config.failOn))
	}
	ui.Error(msg + fmt.Sprintf(" (fail_on = %q: the build goes on, with no AMI copied)", p.config.failOn))
	return false, &Artifact{RunID: input.RunID, Sources: sources, Preflight: pf.Plan}, nil
}

// failedTargets describes each target that did not succeed, with its
// diagnosis; the run's table above it carries each fix in full.
func failedTargets(r *workflows.Report) []string {
	var out []string
	for _, t := range r.Targets {
		if t.Status == workflows.StatusSucceeded {
			continue
		}
		line := fmt.Sprintf("  %s %s (%s): %s", t.Account, t.Region, pipelinerun.Dash(t.Name), t.Status)
		if d := t.Diagnosis; d != nil {
			step := d.Step
			if step == "" {
				step = t.Step
			}
			if step != "" {
				line += " at " + step
			}
			line += fmt.Sprintf(": %s %s (the fix is in the table above)", d.Code, d.Cause)
		}
		out = append(out, line)
	}
	return out
}

func table(r *workflows.Report) string {
	var b bytes.Buffer
	pipelinerun.WriteTable(&b, r)
	return strings.TrimRight(b.String(), "\n")
}

// dialTemporal connects with the SDK's logs on the plugin's stderr (Packer's
// log), warnings and worse only.
func dialTemporal(ctx context.Context, o temporalconn.Options) (client.Client, error) {
	log := zerolog.New(os.Stderr).Level(zerolog.WarnLevel).With().Timestamp().Str("plugin", "amicrypt").Logger()
	return temporalconn.Dial(ctx, o, log)
}

// buildOperator is a Packer build's name made a valid SourceIdentity
// ("packer" when nothing of it is left).
func buildOperator(build string) string {
	if s := operator.Sanitize(build); s != "" {
		return s
	}
	return "packer"
}
