package activities

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/amicrypt/amicrypt/internal/policy"
)

// InspectKey is a sweep's look at one target's key. It answers: is automatic
// rotation on (turned on here for a key amicrypt manages); is the key older
// than MaxKeyAgeDays, or tagged amicrypt:retire (then a rotation is Due);
// has its policy drifted from amicrypt's required statements (reconciled
// here, the owner's statements kept, for a managed key or one with
// manage_key_policy; only reported otherwise); are there live amicrypt
// images under another key than the alias's (Rekey). A healthy key costs
// reads only: Writes counts the calls that changed something.
//
// A target that cannot be inspected (role, permissions) is reported with
// its diagnosis in Error, not as an activity failure: one account's problem
// does not stop the sweep of the others.
func (a *Activities) InspectKey(ctx context.Context, in InspectKeyInput) (KeyHealth, error) {
	t := in.Target
	alias := keyAlias(t)
	h := KeyHealth{Account: t.Account, Region: t.Region, Alias: alias}
	fail := func(err error) (KeyHealth, error) {
		d, ok := DiagnosisOf(err)
		if !ok {
			if isRetryable(err) || ctx.Err() != nil {
				return h, err // throttled, 5xx, cancelled: Temporal retries
			}
			d = Diagnosis{Code: Other, Cause: fmt.Sprintf("inspecting %s in account %s, %s: %v", alias, t.Account, t.Region, err),
				Fix: "Read the worker's log for this target, fix the cause, and sweep again."}
		}
		h.Error = &d
		return h, nil
	}
	if _, err := a.assumeTarget(ctx, AssumeTargetInput{Target: t}); err != nil {
		return fail(err)
	}
	if in.DryRun {
		// Abandoned boot proofs are looked for (and removed) by a real sweep.
	} else if removed, err := a.removeAbandonedProofs(ctx, t, true); err != nil {
		h.Findings = append(h.Findings, fmt.Sprintf("could not look for abandoned boot proofs: %v", err))
	} else if len(removed) > 0 {
		h.LeftoversRemoved = removed
		h.Writes += len(removed)
		for _, r := range removed {
			h.Findings = append(h.Findings, "removed "+r)
		}
	}
	kc := a.clients.KMS(targetAccess(t))
	w := where{Account: t.Account, Region: t.Region, Resource: "key " + alias}
	ref := alias
	if t.KeyARN != "" {
		ref, h.Alias = t.KeyARN, ""
	}
	md, err := describeKey(ctx, kc, ref)
	if IsNotFound(err) && t.KeyARN == "" {
		h.Missing = true
		h.Findings = append(h.Findings, fmt.Sprintf("no key under %s yet: the next run creates it", alias))
		return h, nil
	}
	if err != nil {
		return fail(diagnose(err, "kms:DescribeKey", w))
	}
	key := aws.ToString(md.Arn)
	h.KeyARN = key
	w.Resource = fmt.Sprintf("key %s (%s)", key, alias)
	h.AgeDays = keyAge(md, time.Now())
	if d, bad := keyStateDiagnosis(t, md, h.Alias); bad {
		h.Error = &d
		return h, nil
	}
	if t.KeyARN != "" {
		// Another account's key: its owner rotates it; only its state matters here.
		h.Findings = append(h.Findings, "key of account "+accountOfARN(key)+": rotated by its owner, not by amicrypt")
		return h, nil
	}

	tags, err := keyTags(ctx, kc, key)
	if err != nil && !IsAccessDenied(err) {
		return fail(diagnose(err, "kms:ListResourceTags", w))
	}
	doc, docErr := a.keyPolicy(ctx, kc, key)
	if docErr != nil && !IsAccessDenied(docErr) {
		return fail(diagnose(docErr, "kms:GetKeyPolicy", w))
	}
	h.Managed = managedKey(t, md, tags, doc)
	if tags[TagManagedKey] == "true" && !h.Managed {
		h.Findings = append(h.Findings, "tagged amicrypt:managed, but neither its policy nor its description is amicrypt's: treated as an adopted key")
	}
	manage := h.Managed || t.ManageKeyPolicy

	// Automatic rotation.
	st, err := kc.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: aws.String(key)})
	switch {
	case err != nil && !IsAccessDenied(err):
		return fail(diagnose(err, "kms:GetKeyRotationStatus", w))
	case err == nil && st.KeyRotationEnabled:
		h.RotationEnabled = true
	case err == nil && manage && in.DryRun:
		h.Findings = append(h.Findings, "automatic rotation is off: would be turned on")
	case err == nil && manage:
		if _, err := kc.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: aws.String(key)}); err != nil {
			return fail(diagnose(err, "kms:EnableKeyRotation", w))
		}
		h.Writes++
		h.RotationEnabled, h.RotationRepaired = true, true
		h.Findings = append(h.Findings, "automatic rotation was off: turned on")
	case err == nil:
		h.Findings = append(h.Findings, fmt.Sprintf("automatic rotation is off on this adopted key (aws kms enable-key-rotation --key-id %s --region %s)", key, t.Region))
	}

	// Due for rotation: age, or the retire tag.
	// By age only keys amicrypt manages: an adopted key (a security
	// team's) is rotated when someone asks — its amicrypt:retire tag, or
	// amicrypt rotate — not because a clock said so.
	if in.MaxKeyAgeDays > 0 && h.AgeDays > in.MaxKeyAgeDays && !manage {
		h.Findings = append(h.Findings, fmt.Sprintf("the key is %d days old, more than max_key_age_days %d; it is adopted, so amicrypt does not rotate it on its own (run amicrypt rotate)", h.AgeDays, in.MaxKeyAgeDays))
	}
	if in.MaxKeyAgeDays > 0 && h.AgeDays > in.MaxKeyAgeDays && manage {
		h.Due = ReasonScheduled
		h.Findings = append(h.Findings, fmt.Sprintf("the key is %d days old, more than max_key_age_days %d: rotation due", h.AgeDays, in.MaxKeyAgeDays))
	}
	if r, ok := tags[TagRetire]; ok && !guarded(t, key, doc) {
		h.Findings = append(h.Findings, fmt.Sprintf("tagged %s=%q, but the key policy lets others than %s set amicrypt's tags: not acted on (run amicrypt rotate to rotate it)", TagRetire, r, t.RoleARN))
	} else if ok {
		h.RetireTag = r
		h.Due = r
		if !ValidReason(r) {
			h.Due = ReasonPolicy
		}
		h.Findings = append(h.Findings, fmt.Sprintf("tagged %s=%q: rotation due (%s)", TagRetire, r, h.Due))
	}

	// Policy drift.
	switch {
	case docErr != nil:
		h.Findings = append(h.Findings, "the key policy is not readable by amicrypt: drift not checked")
	default:
		slr := t.ServiceLinkedRoleARN()
		merged, rep := policy.MergeRequired(doc, policy.RequiredKeyPolicy(requiredParams(t, key, slr, in.Pipeline)))
		if rep.Changed {
			h.PolicyDrift = append(append([]string(nil), rep.Added...), rep.Corrected...)
			sort.Strings(h.PolicyDrift)
			if manage && in.DryRun {
				h.Findings = append(h.Findings, fmt.Sprintf("key policy drifted (%v): would be reconciled, the owner's statements kept", h.PolicyDrift))
			} else if manage {
				text, err := merged.Marshal()
				if err == nil {
					_, err = kc.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(key), Policy: aws.String(string(text)), PolicyName: aws.String("default")})
				}
				if err != nil {
					return fail(keyPolicyWriteError(err, "kms:PutKeyPolicy", w))
				}
				h.Writes++
				h.PolicyRepaired = true
				h.Findings = append(h.Findings, fmt.Sprintf("key policy drifted (%v): reconciled, the owner's statements kept", h.PolicyDrift))
			} else if ok, act, _ := evaluateSLRUse(doc, nil, t, key, slr); !ok {
				h.Findings = append(h.Findings, fmt.Sprintf("adopted key: %s by the service-linked role would be refused; amicrypt does not edit it (manage_key_policy: false)", act))
			}
		}
	}

	// The target's own images (by evidence, not tags) under another key
	// than the alias's: re-encryption due. Those retention or a rotation
	// disabled: deregistered once their grace is over (enabled again if
	// something came to use them).
	ec := a.clients.EC2(targetAccess(t))
	// The alias's line, from the tags already read.
	line := map[string]bool{key: true}
	if err := a.walkLine(ctx, kc, t, key, tags, line); err != nil {
		return fail(diagnose(err, "kms:ListResourceTags", w))
	}
	images, outside, err := scopedImages(ctx, ec, imageScope{Account: t.Account, Region: t.Region, Family: t.Family, Keys: line, OtherKey: a.formerKeys(ctx, t)})
	if err != nil {
		return fail(diagnose(err, "ec2:DescribeImages", where{Account: t.Account, Region: t.Region, Resource: "amicrypt images"}))
	}
	stale := map[string]bool{}
	var disabled []familyImage
	for _, im := range images {
		switch {
		case im.State == ec2types.ImageStateDisabled && !im.disabledAt().IsZero():
			disabled = append(disabled, im)
		case im.State != ec2types.ImageStateAvailable || !im.proven(t):
		default:
			for _, k := range im.SnapshotKeys {
				if k != key {
					h.StaleImages = append(h.StaleImages, im.ID)
					stale[k] = true
					break
				}
			}
		}
	}
	h.Retirement.OutOfScope = outside
	if err := a.retire(ctx, t, nil, disabled, "", in.DryRun, nil, &h.Retirement); err != nil {
		return fail(err)
	}
	if !in.DryRun {
		h.Writes += len(h.Retirement.Deregistered) + len(h.Retirement.Enabled)
	}
	h.Findings = append(h.Findings, h.Retirement.Lines()...)
	if p, err := enabledKey(ctx, kc, tags[TagPredecessor]); err != nil {
		return fail(diagnose(err, "kms:DescribeKey", w))
	} else if p != "" && line[p] {
		stale[p] = true
		h.Rekey = true
		h.Findings = append(h.Findings, fmt.Sprintf("the key rotated away from, %s, is still enabled (something held it, or tried it, then): retirement due", p))
	}
	// The keys a rotation disabled: enabled again if something tried them,
	// their deletion scheduled once retire_after is over and nothing holds
	// them.
	if old := othersOf(line, key); len(old) > 0 {
		fates, err := a.finishKeyRetirement(ctx, t, old, in.DeletionWindowDays, in.DryRun)
		if err != nil {
			return fail(err)
		}
		h.OldKeys = fates
		for _, f := range fates {
			for _, act := range f.Actions {
				if !in.DryRun {
					h.Writes++
				}
				h.Findings = append(h.Findings, act.String())
			}
		}
	}
	a.keysPendingRetirement(t, h.OldKeys)
	for k := range stale {
		h.StaleKeys = append(h.StaleKeys, k)
	}
	sort.Strings(h.StaleKeys)
	if len(h.StaleImages) > 0 {
		h.Rekey = true
		h.Findings = append(h.Findings, fmt.Sprintf("%d amicrypt image(s) under another key than %s's (%v): re-encryption due", len(h.StaleImages), alias, h.StaleKeys))
	}
	return h, nil
}
