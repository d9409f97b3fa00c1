package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"go.temporal.io/sdk/activity"
)

// The five activities a Target workflow runs. Most do several of DESIGN.md's
// steps in one activity, so a target costs Temporal five activities (and
// their history events) instead of a dozen; each step stays its own function
// above, with its own diagnosis, and a diagnosed failure names its step
// (Diagnosis.Step). Every step is idempotent, so a retried activity redoes
// the steps that finished before without a second copy, key or group.
//
//   - PrepareTarget: assume the role (F7), the service-linked role, the key
//     and its prediction (F2, F3, F5, F6) — steps 1–3.
//   - CopyEncrypted (copy.go): the encrypted copy — step 5.
//   - WaitAndVerify: the wait for it, the snapshots' key — step 6 and the
//     check of step 8.
//   - ProveBoot: the throwaway template and group, the wait for InService,
//     the root volume's key, and the deletion of both — step 7.
//   - FinishTarget: the proven/unproven tag, publication, retention — 9, 10.

// Steps, as Diagnosis.Step and the Target workflow's progress name them.
const (
	StepShare             = "share"
	StepAssume            = "assume-role"
	StepServiceLinkedRole = "service-linked-role"
	StepKey               = "key"
	StepCopy              = "copy"
	StepWaitAvailable     = "wait-available"
	StepVerify            = "verify-snapshots"
	StepBootProof         = "boot-proof"
	StepMark              = "mark"
	StepPublish           = "publish"
	StepRetention         = "retention"
)

// PrepareTargetInput prepares one target: its role, service-linked role and key.
type PrepareTargetInput struct {
	Target   Target `json:"target"`
	RunID    string `json:"run_id"`
	Pipeline string `json:"pipeline_role_arn,omitempty"`
	// Builder and Source, when given, are checked for this target too
	// (the source's storage, keys and architecture); inputs recorded
	// before they were passed have neither.
	Builder *Builder `json:"builder,omitempty"`
	Source  *Source  `json:"source,omitempty"`
}

// PrepareTargetResult is who amicrypt is in the target, the service-linked
// role the boot proof uses, and the key.
type PrepareTargetResult struct {
	AssumedARN string          `json:"assumed_arn"`
	SLRARN     string          `json:"slr_arn"`
	Key        EnsureKeyResult `json:"key"`
	// LeftoversRemoved are boot proofs earlier workflows abandoned in the
	// account and region (terminated, never compensated), removed now.
	LeftoversRemoved []string `json:"leftovers_removed,omitempty"`
	// Warnings: what went wrong without stopping the target.
	Warnings []string `json:"warnings,omitempty"`
}

// PrepareTarget runs the target's preflight (preflight.go) for real: it
// assumes the target's role, checks the source for it, the pointers it
// publishes to and the boot proof's room, ensures its service-linked role
// and its key, and predicts whether the role can use the key — all before
// anything is copied. A plan runs the same checks without writing.
func (a *Activities) PrepareTarget(ctx context.Context, in PrepareTargetInput) (PrepareTargetResult, error) {
	res, plan, err := a.prepare(ctx, in, false)
	if err != nil {
		return res, err
	}
	log := a.logFor(in.Target.Account, in.Target.Region)
	for _, w := range plan.Warnings {
		log.Warn().Msg(w)
	}
	// Housekeeping, not a step. An account and region whose key amicrypt
	// just created never had a boot proof (a proof needs the key): nothing
	// to look for, no call spent. Otherwise a refusal (a permission missing)
	// is a warning, and a throttled or failed call only logged — the next
	// target of the account and region, or the sweep, looks again.
	if !res.Key.Created {
		removed, err := a.removeAbandonedProofs(ctx, in.Target, false)
		res.LeftoversRemoved = removed
		switch {
		case err == nil:
		case isRetryable(err):
			log.Warn().Err(err).Msg("could not look for abandoned boot proofs now; the next run or sweep will")
		default:
			res.Warnings = append(res.Warnings, fmt.Sprintf("could not look for abandoned boot proofs in account %s, %s: %v", in.Target.Account, in.Target.Region, err))
		}
	}
	return res, nil
}

// WaitAndVerifyInput waits for the target's copy (CopyEncrypted's image).
type WaitAndVerifyInput struct {
	Target  Target `json:"target"`
	ImageID string `json:"image_id"`
	KeyARN  string `json:"key_arn"`
	// Started: the copy was just started (not reused), so it cannot be
	// available yet and the first look waits.
	Started bool `json:"started,omitempty"`
}

// CopiedImage is the target's encrypted copy, available, and what its
// snapshots say.
type CopiedImage struct {
	ImageID    string `json:"image_id"`
	Family     string `json:"family,omitempty"`
	RootDevice string `json:"root_device,omitempty"`
	// StaleReason: the copy carries an amicrypt:proven-reason tag from an
	// earlier proof that failed.
	StaleReason bool `json:"stale_reason,omitempty"`
	// Verify is the snapshots' check; VerifyFailure its diagnosis when a
	// snapshot is not under the key (F8) — the image exists and is kept,
	// tagged unproven, so this is a result, not an error.
	Verify        VerifyResult `json:"verify"`
	VerifyFailure *Diagnosis   `json:"verify_failure,omitempty"`
}

// WaitAndVerify waits until the copy is available, heartbeating (copies take
// minutes to hours; a worker lost meanwhile is noticed by the heartbeat
// timeout and the retry waits on), then checks that every snapshot is under
// the key, from the image the last poll read.
func (a *Activities) WaitAndVerify(ctx context.Context, in WaitAndVerifyInput) (CopiedImage, error) {
	ctx, stop := a.keepAlive(ctx)
	defer stop()
	res := CopiedImage{ImageID: in.ImageID}
	im, err := a.waitAvailable(ctx, in.Target, in.ImageID, in.Started && firstAttempt(ctx))
	if err != nil {
		return res, atStep(StepWaitAvailable, err)
	}
	if in.Started {
		a.copyAvailable(in.Target, im)
	}
	tags := tagMap(im.Tags)
	res.Family = tags[TagFamily]
	_, res.StaleReason = tags[TagProvenReason]
	res.RootDevice = aws.ToString(im.RootDeviceName)
	res.Verify, err = verifyImage(ctx, a.clients.EC2(targetAccess(in.Target)), in.Target, im, in.KeyARN)
	if err != nil {
		d, ok := DiagnosisOf(err)
		if !ok {
			return res, atStep(StepVerify, err)
		}
		d.Step = StepVerify
		res.VerifyFailure = &d
	}
	return res, nil
}

// ProveBootResult is the boot proof's outcome; Cleaned says the group and
// template are deleted (else the workflow deletes them).
type ProveBootResult struct {
	Boot    BootResult `json:"boot"`
	Cleaned bool       `json:"cleaned"`
}

// proofCleanupTimeout bounds the deletion ProveBoot does itself after a
// cancellation; the workflow's compensation does the rest.
const proofCleanupTimeout = 5 * time.Minute

// ProveBoot launches the copy through a throwaway Auto Scaling group as the
// service-linked role, waits for an instance InService (or a failed launch,
// diagnosed from the scaling activity and the key's actual policy), checks
// its root volume's key, and deletes the group and template whatever
// happened — also when cancelled, in a context the cancellation does not
// reach. A failed proof is a diagnosed error carrying the BootResult
// (BootResultOf).
func (a *Activities) ProveBoot(ctx context.Context, in BootProofInput) (ProveBootResult, error) {
	ctx, stop := a.keepAlive(ctx)
	defer stop()
	created, err := a.startBootProof(ctx, in)
	var br BootResult
	if err == nil {
		br, err = a.waitBoot(ctx, in, created)
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), proofCleanupTimeout)
	defer cancel()
	if cerr := a.DeleteBootProof(cctx, in); cerr != nil {
		t := in.Target
		group, template := in.BootProofNames()
		log := a.logFor(t.Account, t.Region)
		log.Warn().Err(cerr).Str("group", group).Str("template", template).Msg("boot proof not deleted yet; the workflow deletes it")
		if err == nil {
			// The proof held; the workflow still owes the cleanup.
			return ProveBootResult{Boot: br}, nil
		}
	}
	if err != nil {
		return ProveBootResult{}, atStep(StepBootProof, err)
	}
	return ProveBootResult{Boot: br, Cleaned: true}, nil
}

// FinishTargetInput closes a target: Proven false (with Reason) only tags
// the image unproven; Proven true tags it proven (when a proof ran),
// publishes it and applies retention.
type FinishTargetInput struct {
	Target  Target `json:"target"`
	Source  Source `json:"source"`
	ImageID string `json:"image_id"`
	// KeyARN is the key the image was copied under.
	KeyARN string `json:"key_arn,omitempty"`
	// Family is the copy's amicrypt:family tag (the target's family is
	// FamilyOf its configuration and source when the tag is missing).
	Family string `json:"family,omitempty"`
	Proven bool   `json:"proven"`
	Reason string `json:"reason,omitempty"`
	// StaleReason: the image carries a reason from an earlier failed proof
	// (CopiedImage.StaleReason), to delete when it is proven now.
	StaleReason bool `json:"stale_reason,omitempty"`
}

// FinishTargetResult is what was published and retired.
type FinishTargetResult struct {
	Published []string `json:"published,omitempty"`
	// Previous: what each pointer moved named before.
	Previous []string `json:"previous,omitempty"`
	// PointersKept: pointers left on a newer build, and why.
	PointersKept []string   `json:"pointers_kept,omitempty"`
	Retirement   Retirement `json:"retirement"`
}

// family is the target's family: configured, else the copy's tag (older
// copies carry the source's whole name: derived), else the source's.
func (in FinishTargetInput) family() string {
	switch {
	case in.Target.Family != "":
		return in.Target.Family
	case in.Family != "":
		return FamilyFromName(in.Family)
	}
	return FamilyOf(in.Target, in.Source)
}

// FinishTarget tags the copy proven or unproven, and a proven copy is
// published (SSM parameter, launch template: amicrypt's own only, never
// moved back to an older build) and the family's older proven copies
// beyond Keep retired (disabled, then deregistered after the grace; never
// while used).
func (a *Activities) FinishTarget(ctx context.Context, in FinishTargetInput) (FinishTargetResult, error) {
	var res FinishTargetResult
	t := in.Target
	if !in.Proven || t.BootProof.Enabled {
		if err := a.MarkImage(ctx, MarkImageInput{Target: t, ImageID: in.ImageID, Proven: in.Proven, Reason: in.Reason, NoStaleReason: !in.StaleReason}); err != nil {
			return res, atStep(StepMark, err)
		}
	}
	if !in.Proven {
		return res, nil
	}
	family := in.family()
	if t.Publish.SSMParameter != "" || t.Publish.LaunchTemplate != "" {
		published, err := a.publishImage(ctx, PublishInput{Target: t, ImageID: in.ImageID, Family: family})
		if err != nil {
			return res, atStep(StepPublish, err)
		}
		res.Published, res.Previous, res.PointersKept = published.Published, published.Previous, published.Kept
	}
	// Keep 0 means no retention: amicrypt never retires images it was not
	// told to.
	if t.Keep > 0 {
		retired, err := a.applyRetention(ctx, RetentionInput{Target: t, Source: in.Source, KeepImageID: in.ImageID, KeyARN: in.KeyARN, Family: family})
		if err != nil {
			return res, atStep(StepRetention, err)
		}
		res.Retirement = retired
	}
	return res, nil
}

// firstAttempt reports whether ctx is an activity's first attempt (or not an
// activity's at all).
func firstAttempt(ctx context.Context) bool {
	return !activity.IsActivity(ctx) || activity.GetInfo(ctx).Attempt <= 1
}
