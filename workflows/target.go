package workflows

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/amicrypt/amicrypt/activities"
)

// Target copies one source image into one account and region, encrypted
// under the account's dedicated key, proves the copy boots through an Auto
// Scaling group, and publishes it (steps 1–10 of DESIGN.md; the Batch has
// shared the source with the account before).
//
// A target that fails — a diagnosed failure (F1–F8) or an error that
// outlived its retries — ends with status failed and its Diagnosis, and the
// workflow completes with that report and a nil error: the parent collects
// reports, it does not handle failures. A cancelled target runs its
// compensation (the boot-proof group and template are deleted) and ends as
// cancelled, its report carried as the details of the CanceledError.
//
// While it runs, it answers QueryStep (the current step) and QueryReport
// (the report so far), and shows its step and status in its search
// attributes (searchattrs.go), with its diagnosis code when it ends.
func Target(ctx workflow.Context, in TargetInput) (TargetReport, error) {
	t := &targetRun{
		in: in,
		log: log.With(workflow.GetLogger(ctx),
			"account", in.Target.Account, "region", in.Target.Region, "source", in.Source.ImageID),
	}
	started := workflow.Now(ctx)
	t.rep = TargetReport{
		Account:       in.Target.Account,
		Name:          in.Target.Name,
		Region:        in.Target.Region,
		Status:        StatusRunning,
		SourceImageID: in.Source.ImageID,
		StartedAt:     &started,
	}
	if err := workflow.SetQueryHandler(ctx, QueryStep, func() (string, error) { return t.rep.Step, nil }); err != nil {
		return t.rep, err
	}
	if err := workflow.SetQueryHandler(ctx, QueryReport, func() (TargetReport, error) { return t.rep, nil }); err != nil {
		return t.rep, err
	}
	t.attrs = attributesScheme(ctx, in)
	if t.attrs == AttributesAtWaits {
		t.shown = shownAtStart(ctx)
	}
	rep, err := t.finish(ctx, t.run(ctx))
	targetFinished(ctx, rep)
	return rep, err
}

// targetRun is one Target workflow's state.
type targetRun struct {
	in  TargetInput
	rep TargetReport
	log log.Logger
	slr string // the service-linked role's ARN
	// attrs: how the Target keeps its search attributes (attributesScheme);
	// shown: what they hold, as it last upserted or was started with.
	attrs int
	shown shownAttrs
}

// failure is a diagnosed failure that no activity error carries (a boot
// proof that reported Failed, snapshots not under the key).
type failure struct{ d activities.Diagnosis }

func (f failure) Error() string { return f.d.String() }

// enter begins a step and shows it in the search attributes where the
// Target's scheme shows it (showsStep); done is shown by finish, with the
// status, in one upsert.
func (t *targetRun) enter(ctx workflow.Context, step string) {
	t.rep.Step = step
	t.log.Info("target step", "step", step)
	if t.showsStep(step) {
		t.show(ctx)
	}
}

// execLocal runs a short step as a local activity: in the worker that runs
// the workflow task, recorded as one marker, with no task to schedule, match
// and dispatch — a Target's quick steps cost the Temporal server almost
// nothing, which is what lets a thousand targets start at once. Its retries
// back off in the worker (on a timer when the wait is long); its side effects
// are idempotent like every activity's, so a retry or a lost worker is safe.
func (t *targetRun) execLocal(ctx workflow.Context, step string, fn, in, out any) error {
	return workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, localActivityOptions(step)), fn, in).Get(ctx, out)
}

func (t *targetRun) exec(ctx workflow.Context, step string, fn, in, out any) error {
	return workflow.ExecuteActivity(withStep(ctx, step, t.in.Target), fn, in).Get(ctx, out)
}

func (t *targetRun) run(ctx workflow.Context) error {
	var a *activities.Activities
	tg := t.in.Target

	// Role, service-linked role and key; the key is checked (F2, F3, F5,
	// F6) before anything is copied.
	t.enter(ctx, StepPrepare)
	var prep activities.PrepareTargetResult
	prepIn := activities.PrepareTargetInput{Target: tg, RunID: t.in.RunID, Pipeline: t.in.PipelineRoleARN, Builder: t.in.Builder}
	if t.in.Builder != nil {
		src := t.in.Source
		prepIn.Source = &src
	}
	if err := t.execLocal(ctx, StepPrepare, a.PrepareTarget, prepIn, &prep); err != nil {
		return err
	}
	t.slr = prep.SLRARN
	if t.slr == "" {
		t.slr = tg.ServiceLinkedRoleARN()
	}
	t.rep.KeyARN = prep.Key.KeyARN
	t.rep.LeftoversRemoved = prep.LeftoversRemoved
	t.rep.RetiredKeys = prep.Key.RetiredKeys
	for _, w := range prep.Warnings {
		t.warn("%s", w)
	}

	t.enter(ctx, StepCopy)
	var started activities.CopyImageResult
	copyIn := activities.CopyImageInput{Target: tg, Source: t.in.Source, KeyARN: t.rep.KeyARN, RunID: t.in.RunID}
	if err := t.execLocal(ctx, StepCopy, a.CopyEncrypted, copyIn, &started); err != nil {
		return err
	}
	t.rep.EncryptedImageID = started.ImageID

	// The wait for the copy, and the snapshots' key.
	t.enter(ctx, StepWaitAvailable)
	var copied activities.CopiedImage
	waitIn := activities.WaitAndVerifyInput{Target: tg, ImageID: started.ImageID, KeyARN: t.rep.KeyARN, Started: !started.Reused}
	if err := t.exec(ctx, StepWaitAvailable, a.WaitAndVerify, waitIn, &copied); err != nil {
		return err
	}
	t.rep.SnapshotsEncrypted = copied.VerifyFailure == nil && copied.Verify.SnapshotsEncrypted

	// A copy that did not prove itself is kept, tagged unproven, and never
	// published: an operator can look at it, and a replay reuses it. Its
	// snapshots not under the key already condemn it: no boot proof then.
	var failed error
	failedAt := StepVerify
	switch {
	case copied.VerifyFailure != nil:
		failed = failure{*copied.VerifyFailure}
		t.rep.Boot = activities.BootResult{Result: activities.BootSkipped, Message: "not tried: the snapshots are not under the dedicated key"}
	case !copied.Verify.SnapshotsEncrypted:
		failed = failure{activities.Diagnosis{
			Code: activities.Other,
			Cause: fmt.Sprintf("snapshots %v of image %s in account %s, region %s are not all encrypted under %s",
				copied.Verify.Snapshots, copied.ImageID, tg.Account, tg.Region, t.rep.KeyARN),
			Fix:  "deregister the image and replay the target: the copy must name the dedicated key (KmsKeyId), never the account's default",
			Step: StepVerify,
		}}
	case tg.BootProof.Enabled:
		t.enter(ctx, StepBootProof)
		failed, failedAt = t.proveBoot(ctx, copied), StepBootProof
		if canceled(ctx, failed) {
			return failed
		}
	default:
		t.rep.Boot = activities.BootResult{Result: activities.BootSkipped}
	}

	t.enter(ctx, StepPublish)
	fin := activities.FinishTargetInput{Target: tg, Source: t.in.Source, ImageID: copied.ImageID, KeyARN: t.rep.KeyARN, Family: copied.Family,
		Proven: failed == nil, StaleReason: copied.StaleReason}
	if failed != nil {
		fin.Reason = diagnose(failed, failedAt, tg).Cause
	}
	var finished activities.FinishTargetResult
	if err := t.execLocal(ctx, StepPublish, a.FinishTarget, fin, &finished); err != nil {
		if failed == nil || canceled(ctx, err) {
			return err
		}
		t.warn("image %s not tagged unproven: %v", copied.ImageID, err)
	}
	if failed != nil {
		t.rep.Step = failedAt
		return failed
	}
	t.rep.Published, t.rep.PreviousPointers, t.rep.PointersKept = finished.Published, finished.Previous, finished.PointersKept
	if r := finished.Retirement; !r.Empty() {
		t.rep.Retirement = &r
		t.log.Info("retention", "disabled", r.Disabled, "deregistered", r.Deregistered, "kept", r.Kept)
	}
	t.enter(ctx, StepDone)
	return nil
}

func (t *targetRun) bootInput(copied activities.CopiedImage) activities.BootProofInput {
	return activities.BootProofInput{
		Target:     t.in.Target,
		RunID:      t.in.RunID,
		ImageID:    copied.ImageID,
		KeyARN:     t.rep.KeyARN,
		SLRARN:     t.slr,
		RootDevice: copied.RootDevice,
	}
}

// proveBoot runs the target's boot proof (see runBootProof).
func (t *targetRun) proveBoot(ctx workflow.Context, copied activities.CopiedImage) error {
	br, err := runBootProof(ctx, t.bootInput(copied), t.warn)
	if !canceled(ctx, err) {
		t.rep.Boot = br
	}
	return err
}

// runBootProof runs a boot proof, which deletes its group and template
// itself; when it could not (it failed, was cancelled, or its cleanup did
// not finish), DeleteBootProof runs as compensation, in a context
// disconnected from the workflow's so it also runs when the workflow is
// being cancelled. A launch that failed comes back either as a diagnosed
// error or as a BootResult "Failed"; both are a failure with a diagnosis,
// returned with the BootResult (the zero one when cancelled).
func runBootProof(ctx workflow.Context, in activities.BootProofInput, warn func(string, ...any)) (activities.BootResult, error) {
	var a *activities.Activities
	tg := in.Target
	cleaned := false
	defer func() {
		if cleaned {
			return
		}
		dctx, cancel := workflow.NewDisconnectedContext(ctx)
		defer cancel()
		if err := workflow.ExecuteActivity(withStep(dctx, stepBootDelete, tg), a.DeleteBootProof, in).Get(dctx, nil); err != nil {
			group, template := in.BootProofNames()
			warn("boot-proof group %s and launch template %s may be left behind: %v", group, template, err)
		}
	}()
	var res activities.ProveBootResult
	if err := workflow.ExecuteActivity(withStep(ctx, StepBootProof, tg), a.ProveBoot, in).Get(ctx, &res); err != nil {
		if canceled(ctx, err) {
			return activities.BootResult{}, err
		}
		// A failed launch carries the BootResult (the scaling activity's
		// message) next to its diagnosis.
		br, ok := activities.BootResultOf(err)
		if !ok {
			br = activities.BootResult{Result: activities.BootFailed, Message: diagnose(err, StepBootProof, tg).Cause}
		}
		return br, err
	}
	cleaned = res.Cleaned
	if res.Boot.Result == activities.BootInService {
		return res.Boot, nil
	}
	group, _ := in.BootProofNames()
	return res.Boot, failure{activities.Diagnosis{
		Code: activities.Other,
		Cause: fmt.Sprintf("boot proof group %s in account %s, region %s ended %q: %s",
			group, tg.Account, tg.Region, res.Boot.Result, res.Boot.Message),
		Fix: "read the group's scaling activities; if the launch failed on the key, check that the key policy or a grant lets " +
			in.SLRARN + " use the key through EC2",
		Step: StepBootProof,
	}}
}

func (t *targetRun) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	t.rep.Warnings = append(t.rep.Warnings, msg)
	t.log.Warn(msg)
}

// finish closes the report: succeeded, failed with a diagnosis (a nil
// error: the report says it), or cancelled (a CanceledError carrying the
// report, after compensation ran).
func (t *targetRun) finish(ctx workflow.Context, err error) (TargetReport, error) {
	now := workflow.Now(ctx)
	t.rep.FinishedAt = &now
	switch {
	case err == nil:
		t.rep.Status = StatusSucceeded
	case canceled(ctx, err):
		t.rep.Status = StatusCancelled
		t.log.Info("target cancelled", "step", t.rep.Step)
		t.show(ctx)
		return t.rep, temporal.NewCanceledError(t.rep)
	default:
		d := diagnose(err, t.rep.Step, t.in.Target)
		if d.Step != "" {
			t.rep.Step = d.Step
		}
		t.rep.Status = StatusFailed
		t.rep.Diagnosis = &d
		t.log.Warn("target failed", "step", t.rep.Step, "code", d.Code, "cause", d.Cause)
	}
	t.show(ctx)
	return t.rep, nil
}

// canceled reports whether err is, or ctx is in, a cancellation.
func canceled(ctx workflow.Context, err error) bool {
	return errors.Is(ctx.Err(), workflow.ErrCanceled) || (err != nil && temporal.IsCanceledError(err))
}

// diagnose is the diagnosis of a failed step: the one the activity attached,
// ours, or, for an error no one diagnosed (retries exhausted, a timeout), an
// "other" naming the step, the account and region, and the error.
func diagnose(err error, step string, tg activities.Target) activities.Diagnosis {
	var f failure
	if errors.As(err, &f) {
		return f.d
	}
	if d, ok := activities.DiagnosisOf(err); ok {
		return d
	}
	return activities.Diagnosis{
		Code:  activities.Other,
		Cause: fmt.Sprintf("step %s failed in account %s, region %s: %v", step, tg.Account, tg.Region, err),
		Fix:   "not a known failure mode: read the worker's log for this target, fix the cause and replay the target",
	}
}
