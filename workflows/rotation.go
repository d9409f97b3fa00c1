package workflows

import (
	"fmt"
	"sort"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/amicrypt/amicrypt/activities"
)

// Rotation moves one account (every region in its input) from the key under
// its alias to a new one, or (RekeyRegions) moves images under old keys to
// the alias's key. Per region, side by side:
//
//  1. PrepareRotation: the successor key — amicrypt's required policy merged
//     with the old key's statements, predicted usable before it exists,
//     rotation on, tagged as the old key's successor.
//  2. FindKeyedImages: every proven image provably amicrypt's for the
//     target (not by its tags alone) that is not under the new key; the
//     unproven, failed and out-of-scope ones are reported and skipped.
//  3. For each, a few at a time: ReencryptImage, WaitAndVerify, the boot
//     proof (as the pipeline's, its compensation included), MarkImage.
//  4. Only when every image is proven: SwitchKey (the alias to the new key,
//     the published parameter and launch template to the new images).
//  5. RetireOldKeys: the old images are disabled, and deregistered after
//     the retention grace, unless something uses them (named); the old key
//     is disabled, unless something still holds it (named). Its deletion is
//     scheduled later, once it has stayed disabled, unheld and untried.
//
// A failure stops the region before step 4: the alias and what is published
// stay on the old key, whose images are proven; the new copies are kept,
// tagged unproven, and a rotation started again reuses the successor key and
// the copies. A region's failure does not stop the others. Like the
// Pipeline, it returns the report with failed rows and a nil error; a
// cancelled rotation returns a CanceledError after its compensation.
func Rotation(ctx workflow.Context, in RotationInput) (Report, error) {
	in = in.withDefaults()
	r := &rotationRun{in: in, log: log.With(workflow.GetLogger(ctx), "account", in.Account, "rotation", in.RotationID)}
	if len(in.Targets) == 0 && in.Organization != nil {
		// An account of the organization's selectors: its targets as a run
		// would resolve them now (a rotation recorded before this input
		// field never comes here).
		targets, res, err := organizationAccountTargets(ctx, r.log, *in.Organization, in.Account, in.Region)
		r.org = res
		if err != nil {
			return r.report(), err
		}
		in.Targets, r.in.Targets = targets, targets
	}
	r.rows = make([]TargetReport, len(in.Targets))
	for i, tg := range in.Targets {
		r.rows[i] = TargetReport{Account: tg.Account, Name: tg.Name, Region: tg.Region, Status: StatusPending}
	}
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (Report, error) { return r.report(), nil }); err != nil {
		return r.report(), err
	}
	if err := in.Validate(); err != nil {
		return r.report(), temporal.NewNonRetryableApplicationError(err.Error(), "amicrypt.input", nil)
	}
	wg := workflow.NewWaitGroup(ctx)
	for i := range in.Targets {
		wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			r.region(ctx, i)
		})
	}
	wg.Wait(ctx)
	rep := r.report()
	if ctx.Err() != nil {
		return rep, temporal.NewCanceledError(rep)
	}
	r.log.Info("rotation done", "summary", rep.Summary)
	return rep, nil
}

func (in RotationInput) withDefaults() RotationInput {
	if in.DeletionWindowDays == 0 {
		in.DeletionWindowDays = DefaultDeletionWindowDays
	}
	if in.ImagesPerRegion <= 0 {
		in.ImagesPerRegion = DefaultImagesPerRegion
	}
	return in
}

// Validate checks a rotation's input: a reason, one account, one target per
// region, a deletion window KMS accepts.
func (in RotationInput) Validate() error {
	if !activities.ValidReason(in.Reason) {
		return fmt.Errorf("rotation reason %q: want one of %v", in.Reason, activities.RotationReasons)
	}
	if len(in.Targets) == 0 {
		return fmt.Errorf("rotation of account %s has no targets", in.Account)
	}
	seen := map[string]bool{}
	for _, tg := range in.Targets {
		if tg.Account != in.Account {
			return fmt.Errorf("rotation of account %s lists a target of account %s", in.Account, tg.Account)
		}
		if seen[tg.Region] {
			return fmt.Errorf("rotation of account %s lists region %s twice", in.Account, tg.Region)
		}
		seen[tg.Region] = true
	}
	if w := in.DeletionWindowDays; w != 0 && (w < activities.MinDeletionWindowDays || w > activities.MaxDeletionWindowDays) {
		return fmt.Errorf("deletion window %d days: KMS allows %d to %d", w, activities.MinDeletionWindowDays, activities.MaxDeletionWindowDays)
	}
	return nil
}

// rotationRun is one Rotation workflow's state: a row per region.
type rotationRun struct {
	in   RotationInput
	log  log.Logger
	rows []TargetReport
	// org: how the account's targets were resolved (nil: listed).
	org *OrganizationResolution
}

func (r *rotationRun) report() Report {
	rows := append([]TargetReport(nil), r.rows...)
	return Report{
		RunID:    r.in.RotationID,
		Kind:     KindRotation,
		DryRun:   r.in.DryRun,
		Reason:   r.in.Reason,
		Operator: r.in.Operator,
		Targets:  rows,
		Summary:  Summary(rows),

		Organization: r.org,
	}
}

func (r *rotationRun) rekey(region string) bool {
	for _, x := range r.in.RekeyRegions {
		if x == region {
			return true
		}
	}
	return false
}

// region rotates one region and closes its row.
func (r *rotationRun) region(ctx workflow.Context, i int) {
	row := &r.rows[i]
	started := workflow.Now(ctx)
	row.Status, row.StartedAt = StatusRunning, &started
	err := r.rotateRegion(ctx, i)
	now := workflow.Now(ctx)
	row.FinishedAt = &now
	switch {
	case err == nil:
		row.Status = StatusSucceeded
	case canceled(ctx, err):
		row.Status = StatusCancelled
	default:
		d := diagnose(err, row.Step, r.in.Targets[i])
		if d.Step != "" {
			row.Step = d.Step
		}
		row.Status, row.Diagnosis = StatusFailed, &d
		r.log.Warn("rotation failed", "region", row.Region, "step", row.Step, "code", d.Code, "cause", d.Cause)
	}
}

func (r *rotationRun) exec(ctx workflow.Context, step string, tg activities.Target, fn, in, out any) error {
	return workflow.ExecuteActivity(withStep(ctx, step, tg), fn, in).Get(ctx, out)
}

func (r *rotationRun) rotateRegion(ctx workflow.Context, i int) error {
	if r.in.DryRun {
		return r.planRegion(ctx, i)
	}
	var a *activities.Activities
	tg, row := r.in.Targets[i], &r.rows[i]
	enter := func(step string) {
		row.Step = step
		r.log.Info("rotation step", "region", tg.Region, "step", step)
	}

	enter(StepSuccessorKey)
	var prep activities.PrepareRotationResult
	prepIn := activities.PrepareRotationInput{Target: tg, RotationID: r.in.RotationID, Reason: r.in.Reason, Operator: r.in.Operator,
		Pipeline: r.in.PipelineRoleARN, NewKey: !r.rekey(tg.Region)}
	if err := r.exec(ctx, StepSuccessorKey, tg, a.PrepareRotation, prepIn, &prep); err != nil {
		return err
	}
	row.KeyARN, row.OldKeyARN = prep.NewKey, prep.CurrentKey
	row.Actions = append(row.Actions, prep.Actions...)

	enter(StepFindImages)
	var found activities.FindKeyedImagesResult
	if err := r.exec(ctx, StepFindImages, tg, a.FindKeyedImages, activities.FindKeyedImagesInput{Target: tg, Keep: prep.NewKey}, &found); err != nil {
		return err
	}
	for _, sk := range found.Skipped {
		row.Warnings = append(row.Warnings, "not re-encrypted: "+sk)
	}
	if len(found.OutOfScope) > 0 {
		row.Retirement = &activities.Retirement{OutOfScope: found.OutOfScope}
	}
	row.Images = make([]activities.RekeyedImage, len(found.Images))
	for j, im := range found.Images {
		row.Images[j] = activities.RekeyedImage{OldImageID: im.ImageID, Family: im.Family, Status: StatusPending}
	}

	// Re-encrypt and prove every image, a few at a time.
	enter(StepCopy)
	errs := make([]error, len(found.Images))
	failedAt := make([]string, len(found.Images))
	eachAtMost(ctx, len(found.Images), r.in.ImagesPerRegion, func(ctx workflow.Context, j int) {
		failedAt[j], errs[j] = r.rekeyImage(ctx, i, j, found.Images[j], prep)
	}, func(j int, err error) { errs[j] = err })
	if ctx.Err() != nil {
		return ctx.Err()
	}
	for j, err := range errs {
		if err != nil {
			d := diagnose(err, failedAt[j], tg)
			if d.Step == "" {
				d.Step = failedAt[j]
			}
			d.Cause = fmt.Sprintf("image %s: %s", found.Images[j].ImageID, d.Cause)
			return failure{d}
		}
	}

	// Every image proven: the alias and the pointers move.
	enter(StepSwitch)
	images := map[string]string{}
	for j, im := range found.Images {
		images[im.ImageID] = row.Images[j].NewImageID
	}
	oldImages, keys, retire := replaced(found, prep)
	var sw activities.SwitchKeyResult
	swIn := activities.SwitchKeyInput{Target: tg, NewKey: prep.NewKey, OldKeys: keys, Images: images, MoveAlias: prep.CurrentKey != prep.NewKey}
	if err := r.exec(ctx, StepSwitch, tg, a.SwitchKey, swIn, &sw); err != nil {
		return err
	}
	row.AliasMoved, row.Published = sw.AliasMoved, sw.Repointed
	row.Warnings = append(row.Warnings, sw.Warnings...)
	for _, im := range found.Images {
		row.Actions = append(row.Actions, reencryptAction(im, prep.NewKey))
	}
	row.Actions = append(row.Actions, sw.Actions...)

	enter(StepRetire)
	var ret activities.RetireOldKeysResult
	retIn := activities.RetireOldKeysInput{Target: tg, OldImages: oldImages, NewKey: prep.NewKey, OldKeys: keys, Retire: retire, DeletionWindowDays: r.in.DeletionWindowDays}
	if err := r.exec(ctx, StepRetire, tg, a.RetireOldKeys, retIn, &ret); err != nil {
		return err
	}
	row.Deregistered, row.OldKeys = ret.Deregistered, ret.Keys
	row.Actions = append(row.Actions, retireActions(ret)...)
	if !ret.Images.Empty() {
		r := ret.Images
		if row.Retirement != nil {
			r.OutOfScope = row.Retirement.OutOfScope
		}
		row.Retirement = &r
	}
	for _, k := range ret.Keys {
		if len(k.HeldBy) > 0 {
			row.Warnings = append(row.Warnings, fmt.Sprintf("old key %s left enabled, still held by: %v", k.KeyARN, k.HeldBy))
		}
	}
	enter(StepDone)
	return nil
}

// rekeyImage re-encrypts one image under the new key, waits for the copy,
// checks its snapshots, proves it boots, and tags it proven or unproven. A
// failure comes back with the step it failed at.
func (r *rotationRun) rekeyImage(ctx workflow.Context, i, j int, old activities.KeyedImage, prep activities.PrepareRotationResult) (string, error) {
	var a *activities.Activities
	tg, img := r.in.Targets[i], &r.rows[i].Images[j]
	img.Status = StepCopy
	var started activities.CopyImageResult
	cin := activities.ReencryptImageInput{Target: tg, Image: old, NewKey: prep.NewKey, RotationID: r.in.RotationID}
	if err := r.exec(ctx, StepCopy, tg, a.ReencryptImage, cin, &started); err != nil {
		img.Status = StatusFailed
		return StepCopy, err
	}
	img.NewImageID = started.ImageID

	img.Status = StepWaitAvailable
	var copied activities.CopiedImage
	win := activities.WaitAndVerifyInput{Target: tg, ImageID: started.ImageID, KeyARN: prep.NewKey, Started: !started.Reused}
	if err := r.exec(ctx, StepWaitAvailable, tg, a.WaitAndVerify, win, &copied); err != nil {
		img.Status = StatusFailed
		return StepWaitAvailable, err
	}
	var failed error
	failedAt := StepVerify
	switch {
	case copied.VerifyFailure != nil:
		failed = failure{*copied.VerifyFailure}
		img.Boot = activities.BootResult{Result: activities.BootSkipped, Message: "not tried: the snapshots are not under the new key"}
	case tg.BootProof.Enabled:
		img.Status, failedAt = StepBootProof, StepBootProof
		proof := activities.BootProofInput{Target: tg, RunID: r.in.RotationID + "/" + old.ImageID, ImageID: copied.ImageID,
			KeyARN: prep.NewKey, SLRARN: prep.SLRARN, RootDevice: copied.RootDevice}
		img.Boot, failed = runBootProof(ctx, proof, func(format string, args ...any) {
			r.rows[i].Warnings = append(r.rows[i].Warnings, fmt.Sprintf(format, args...))
		})
		if canceled(ctx, failed) {
			return StepBootProof, failed
		}
	default:
		img.Boot = activities.BootResult{Result: activities.BootSkipped}
	}
	mark := activities.MarkImageInput{Target: tg, ImageID: copied.ImageID, Proven: failed == nil, NoStaleReason: !copied.StaleReason}
	if failed != nil {
		mark.Reason = diagnose(failed, failedAt, tg).Cause
	}
	if !tg.BootProof.Enabled && failed == nil {
		img.Status = "copied"
		return "", nil
	}
	if err := r.exec(ctx, StepMark, tg, a.MarkImage, mark, nil); err != nil && failed == nil {
		img.Status = StatusFailed
		return StepMark, err
	}
	if failed != nil {
		img.Status = StatusFailed
		return failedAt, failed
	}
	img.Status = "proven"
	return "", nil
}

// planRegion is a dry run of rotateRegion: the same look at the region —
// the successor key (found, or the one that would be made), the images in
// scope, the pointers, what would be retired and what keeps what — with
// no change in AWS. The row lists every action with its evidence.
func (r *rotationRun) planRegion(ctx workflow.Context, i int) error {
	var a *activities.Activities
	tg, row := r.in.Targets[i], &r.rows[i]
	row.Step = StepSuccessorKey
	var prep activities.PrepareRotationResult
	prepIn := activities.PrepareRotationInput{Target: tg, RotationID: r.in.RotationID, Reason: r.in.Reason, Operator: r.in.Operator,
		Pipeline: r.in.PipelineRoleARN, NewKey: !r.rekey(tg.Region), DryRun: true}
	if err := r.exec(ctx, StepSuccessorKey, tg, a.PrepareRotation, prepIn, &prep); err != nil {
		return err
	}
	row.KeyARN, row.OldKeyARN = prep.NewKey, prep.CurrentKey
	row.Actions = append(row.Actions, prep.Actions...)

	row.Step = StepFindImages
	var found activities.FindKeyedImagesResult
	if err := r.exec(ctx, StepFindImages, tg, a.FindKeyedImages, activities.FindKeyedImagesInput{Target: tg, Keep: prep.NewKey}, &found); err != nil {
		return err
	}
	for _, sk := range found.Skipped {
		row.Warnings = append(row.Warnings, "would not re-encrypt: "+sk)
	}
	images := map[string]string{}
	for _, im := range found.Images {
		row.Images = append(row.Images, activities.RekeyedImage{OldImageID: im.ImageID, Family: im.Family, Status: "planned"})
		row.Actions = append(row.Actions, reencryptAction(im, prep.NewKey))
		images[im.ImageID] = "(its re-encrypted copy)"
	}
	oldImages, keys, retire := replaced(found, prep)

	row.Step = StepSwitch
	var sw activities.SwitchKeyResult
	swIn := activities.SwitchKeyInput{Target: tg, NewKey: prep.NewKey, OldKeys: keys, Images: images, MoveAlias: prep.CurrentKey != prep.NewKey, DryRun: true}
	if err := r.exec(ctx, StepSwitch, tg, a.SwitchKey, swIn, &sw); err != nil {
		return err
	}
	row.Published = sw.Repointed
	row.Warnings = append(row.Warnings, sw.Warnings...)
	row.Actions = append(row.Actions, sw.Actions...)

	row.Step = StepRetire
	var ret activities.RetireOldKeysResult
	retIn := activities.RetireOldKeysInput{Target: tg, OldImages: oldImages, NewKey: prep.NewKey, OldKeys: keys, Retire: retire, DeletionWindowDays: r.in.DeletionWindowDays, DryRun: true}
	if err := r.exec(ctx, StepRetire, tg, a.RetireOldKeys, retIn, &ret); err != nil {
		return err
	}
	row.OldKeys = ret.Keys
	if !ret.Images.Empty() || len(found.OutOfScope) > 0 {
		rt := ret.Images
		rt.OutOfScope = found.OutOfScope
		row.Retirement = &rt
	}
	row.Actions = append(row.Actions, retireActions(ret)...)
	row.Step = StepDone
	return nil
}

// replaced is what a region's rotation replaces: the old images, every key
// they (or the alias, or its predecessor left enabled by an earlier
// rotation) were under, and the key the alias named, which is retired.
func replaced(found activities.FindKeyedImagesResult, prep activities.PrepareRotationResult) (oldImages, keys, retire []string) {
	oldKeys := map[string]bool{}
	for _, im := range found.Images {
		oldImages = append(oldImages, im.ImageID)
		if im.KeyARN != "" && im.KeyARN != prep.NewKey {
			oldKeys[im.KeyARN] = true
		}
	}
	if prep.Predecessor != "" && prep.Predecessor != prep.NewKey {
		// Left enabled by an earlier rotation: retired now if nothing holds it.
		oldKeys[prep.Predecessor] = true
	}
	if prep.CurrentKey != prep.NewKey {
		oldKeys[prep.CurrentKey] = true
		retire = []string{prep.CurrentKey}
	}
	for k := range oldKeys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return oldImages, keys, retire
}

// reencryptAction is the re-encryption of an image under the new key.
func reencryptAction(im activities.KeyedImage, newKey string) activities.Action {
	to := newKey
	if to == "" {
		to = "the new key"
	}
	return activities.Action{Do: activities.ActReencrypt, Resource: im.ImageID,
		Evidence: fmt.Sprintf("proven, amicrypt's copy of %s, under %s; copied under %s", im.SourceImage, im.KeyARN, to)}
}

// retireActions are a retirement's actions: the old images' (disable,
// deregister, enable again) and the old keys'.
func retireActions(ret activities.RetireOldKeysResult) []activities.Action {
	out := ret.Images.Actions()
	for _, k := range ret.Keys {
		out = append(out, k.Actions...)
	}
	return out
}
