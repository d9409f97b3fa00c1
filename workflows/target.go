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
// (the report so far).
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
	err := t.run(ctx)
	return t.finish(ctx, err)
}

// targetRun is one Target workflow's state.
type targetRun struct {
	in  TargetInput
	rep TargetReport
	log log.Logger
	slr string // the service-linked role's ARN

	// proofArmed: DeleteBootProof must run before the workflow ends;
	// proofDeleted: it has run.
	proofArmed, proofDeleted bool
}

// failure is a diagnosed failure that no activity error carries (a boot
// proof that reported Failed, snapshots not under the key).
type failure struct{ d activities.Diagnosis }

func (f failure) Error() string { return f.d.String() }

// bootResult decodes WaitBootProof's result, with the diagnosis the activity
// may add to it (the JSON field "diagnosis"), whether or not
// activities.BootResult declares that field yet.
type bootResult struct {
	activities.BootResult
	Diagnosis *activities.Diagnosis `json:"diagnosis,omitempty"`
}

func (t *targetRun) enter(step string) {
	t.rep.Step = step
	t.log.Info("target step", "step", step)
}

func (t *targetRun) exec(ctx workflow.Context, step string, fn, in, out any) error {
	return workflow.ExecuteActivity(withStep(ctx, step, t.in.Target), fn, in).Get(ctx, out)
}

func (t *targetRun) run(ctx workflow.Context) error {
	var a *activities.Activities
	tg := t.in.Target

	t.enter(StepAssume)
	var assumed activities.AssumeTargetResult
	if err := t.exec(ctx, StepAssume, a.AssumeTarget, activities.AssumeTargetInput{Target: tg}, &assumed); err != nil {
		return err
	}

	t.enter(StepServiceLinkedRole)
	var slr activities.EnsureServiceLinkedRoleResult
	if err := t.exec(ctx, StepServiceLinkedRole, a.EnsureServiceLinkedRole, activities.EnsureServiceLinkedRoleInput{Target: tg}, &slr); err != nil {
		return err
	}
	t.slr = slr.RoleARN
	if t.slr == "" {
		t.slr = tg.ServiceLinkedRoleARN()
	}

	// The key is checked (F2, F3, F5, F6) before anything is copied.
	t.enter(StepKey)
	var key activities.EnsureKeyResult
	keyIn := activities.EnsureKeyInput{Target: tg, RunID: t.in.RunID, SLRARN: t.slr, Pipeline: t.in.PipelineRoleARN}
	if err := t.exec(ctx, StepKey, a.EnsureKey, keyIn, &key); err != nil {
		return err
	}
	t.rep.KeyARN = key.KeyARN

	// From the copy on, the boot-proof cleanup is armed: DeleteBootProof
	// finds the group and template by names derived from the run and the
	// target and tolerates their absence, so it never depends on whether
	// StartBootProof ran or its result was recorded. Nothing of the proof
	// can exist before the copy, so earlier failures do not pay for it.
	if tg.BootProof.Enabled {
		t.proofArmed = true
		defer t.deleteBootProof(ctx)
	}

	t.enter(StepCopy)
	var copied activities.CopyImageResult
	copyIn := activities.CopyImageInput{Target: tg, Source: t.in.Source, KeyARN: key.KeyARN, RunID: t.in.RunID}
	if err := t.exec(ctx, StepCopy, a.CopyEncrypted, copyIn, &copied); err != nil {
		return err
	}
	t.rep.EncryptedImageID = copied.ImageID

	t.enter(StepWaitAvailable)
	var avail activities.WaitImageResult
	if err := t.exec(ctx, StepWaitAvailable, a.WaitImageAvailable, activities.WaitImageInput{Target: tg, ImageID: copied.ImageID}, &avail); err != nil {
		return err
	}
	if avail.State != "" && avail.State != "available" {
		return failure{activities.Diagnosis{
			Code:  activities.Other,
			Cause: fmt.Sprintf("image %s in account %s, region %s ended %s instead of available", copied.ImageID, tg.Account, tg.Region, avail.State),
			Fix:   "look at the image's state reason in the EC2 console, fix the cause and replay the target",
		}}
	}

	var proofErr error
	if tg.BootProof.Enabled {
		t.enter(StepBootProof)
		proofErr = t.proveBoot(ctx)
		if canceled(ctx, proofErr) {
			return proofErr
		}
	} else {
		t.rep.Boot = activities.BootResult{Result: activities.BootSkipped}
	}

	t.enter(StepVerify)
	var verified activities.VerifyResult
	verifyErr := t.exec(ctx, StepVerify, a.VerifySnapshots, activities.VerifyInput{Target: tg, ImageID: copied.ImageID, KeyARN: key.KeyARN}, &verified)
	if canceled(ctx, verifyErr) {
		return verifyErr
	}
	t.rep.SnapshotsEncrypted = verifyErr == nil && verified.SnapshotsEncrypted

	// A copy that did not prove itself is kept, tagged unproven, and never
	// published: an operator can look at it, and a replay reuses it.
	failed, failedAt := proofErr, StepBootProof
	if failed == nil && verifyErr != nil {
		failed, failedAt = verifyErr, StepVerify
	}
	if failed == nil && !verified.SnapshotsEncrypted {
		failed, failedAt = failure{activities.Diagnosis{
			Code: activities.Other,
			Cause: fmt.Sprintf("snapshots %v of image %s in account %s, region %s are not all encrypted under %s",
				verified.Snapshots, copied.ImageID, tg.Account, tg.Region, key.KeyARN),
			Fix: "deregister the image and replay the target: the copy must name the dedicated key (KmsKeyId), never the account's default",
		}}, StepVerify
	}
	if failed != nil {
		t.enter(StepMark)
		mark := activities.MarkImageInput{Target: tg, ImageID: copied.ImageID, Proven: false, Reason: diagnose(failed, failedAt, tg).Cause}
		if err := t.exec(ctx, StepMark, a.MarkImage, mark, nil); err != nil {
			if canceled(ctx, err) {
				return err
			}
			t.warn("image %s not tagged unproven: %v", copied.ImageID, err)
		}
		t.rep.Step = failedAt
		return failed
	}

	if tg.BootProof.Enabled {
		t.enter(StepMark)
		if err := t.exec(ctx, StepMark, a.MarkImage, activities.MarkImageInput{Target: tg, ImageID: copied.ImageID, Proven: true}, nil); err != nil {
			return err
		}
	}

	if tg.Publish.SSMParameter != "" || tg.Publish.LaunchTemplate != "" {
		t.enter(StepPublish)
		var published activities.PublishResult
		if err := t.exec(ctx, StepPublish, a.PublishImage, activities.PublishInput{Target: tg, ImageID: copied.ImageID}, &published); err != nil {
			return err
		}
		t.rep.Published = published.Published
	}

	// Keep 0 means no retention: amicrypt never deletes images it was not
	// told to.
	if tg.Keep > 0 {
		t.enter(StepRetention)
		var retained activities.RetentionResult
		if err := t.exec(ctx, StepRetention, a.ApplyRetention, activities.RetentionInput{Target: tg, Source: t.in.Source, KeepImageID: copied.ImageID}, &retained); err != nil {
			return err
		}
		if len(retained.Deregistered) > 0 {
			t.log.Info("retention deregistered images", "images", retained.Deregistered)
		}
	}

	t.enter(StepDone)
	return nil
}

func (t *targetRun) bootInput() activities.BootProofInput {
	return activities.BootProofInput{
		Target:  t.in.Target,
		RunID:   t.in.RunID,
		ImageID: t.rep.EncryptedImageID,
		KeyARN:  t.rep.KeyARN,
		SLRARN:  t.slr,
	}
}

// proveBoot starts the throwaway group, waits for its instance, and deletes
// the group and template whatever happened. A launch that failed comes back
// either as a diagnosed error or as a BootResult "Failed" (with or without a
// diagnosis); both are a failure with a diagnosis.
func (t *targetRun) proveBoot(ctx workflow.Context) error {
	var a *activities.Activities
	defer t.deleteBootProof(ctx)
	in := t.bootInput()
	if err := t.exec(ctx, StepBootProof, a.StartBootProof, in, nil); err != nil {
		return err
	}
	var res bootResult
	if err := t.exec(ctx, stepBootWait, a.WaitBootProof, in, &res); err != nil {
		if !canceled(ctx, err) {
			// A failed launch carries the BootResult (the scaling
			// activity's message) next to its diagnosis.
			br, ok := activities.BootResultOf(err)
			if !ok {
				br = activities.BootResult{Result: activities.BootFailed, Message: diagnose(err, StepBootProof, t.in.Target).Cause}
			}
			t.rep.Boot = br
		}
		return err
	}
	t.rep.Boot = res.BootResult
	if res.Result == activities.BootInService {
		return nil
	}
	if res.Diagnosis != nil && res.Diagnosis.Code != "" {
		return failure{*res.Diagnosis}
	}
	group, _ := in.BootProofNames()
	return failure{activities.Diagnosis{
		Code: activities.Other,
		Cause: fmt.Sprintf("boot proof group %s in account %s, region %s ended %q: %s",
			group, t.in.Target.Account, t.in.Target.Region, res.Result, res.Message),
		Fix: "read the group's scaling activities; if the launch failed on the key, check that the key policy or a grant lets " +
			t.slr + " use the key through EC2",
	}}
}

// deleteBootProof runs DeleteBootProof once, in a context disconnected from
// the workflow's, so it also runs when the workflow is being cancelled.
func (t *targetRun) deleteBootProof(ctx workflow.Context) {
	if !t.proofArmed || t.proofDeleted {
		return
	}
	t.proofDeleted = true
	var a *activities.Activities
	dctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	if err := t.exec(dctx, stepBootDelete, a.DeleteBootProof, t.bootInput(), nil); err != nil {
		group, template := t.bootInput().BootProofNames()
		t.warn("boot-proof group %s and launch template %s may be left behind: %v", group, template, err)
	}
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
		return t.rep, temporal.NewCanceledError(t.rep)
	default:
		d := diagnose(err, t.rep.Step, t.in.Target)
		t.rep.Status = StatusFailed
		t.rep.Diagnosis = &d
		t.log.Warn("target failed", "step", t.rep.Step, "code", d.Code, "cause", d.Cause)
	}
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
