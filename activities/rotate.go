package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/amicrypt/amicrypt/internal/policy"
)

// A key rotation, one account and region at a time (the Rotation workflow
// runs the regions side by side):
//
//   - PrepareRotation: the role, the service-linked role, the alias's key and
//     its successor — a new key whose policy is amicrypt's required one merged
//     with every statement the owner kept on the old key, predicted usable by
//     the service-linked role before it is even created.
//   - FindKeyedImages: every live amicrypt image whose snapshots are not under
//     the new key.
//   - ReencryptImage: a re-encrypting CopyImage of each (then WaitAndVerify,
//     ProveBoot and MarkImage, as in the pipeline).
//   - SwitchKey: the alias to the new key; the published SSM parameter and
//     launch template default version to the new images.
//   - RetireOldKeys: the old images and amicrypt's grants go; an old key that
//     nothing else holds is disabled and scheduled for deletion.

// PrepareRotation assumes the target's role, ensures its service-linked role,
// reads the key under the alias and, with NewKey, finds or creates its
// successor. A successor is found by the old key's amicrypt:successor tag, or
// by a scan for a key tagged as the old key's successor whatever rotation
// made it, so a retried or re-run rotation never makes a second
// key.
func (a *Activities) PrepareRotation(ctx context.Context, in PrepareRotationInput) (PrepareRotationResult, error) {
	t := in.Target
	var res PrepareRotationResult
	if t.KeyARN != "" {
		return res, atStep(StepKey, Diagnosed(Diagnosis{
			Code: Other,
			Cause: fmt.Sprintf("target %s uses key_arn %s, a key of account %s: amicrypt rotates only the key under its alias in the target account",
				t.ID(), t.KeyARN, accountOfARN(t.KeyARN)),
			Fix: "Rotate the key in the account that owns it and set key_arn to the new key, then run the pipeline (it re-encrypts nothing by itself) — or remove key_arn so amicrypt keeps a key of its own here.",
		}, nil))
	}
	if _, err := a.assumeTarget(ctx, AssumeTargetInput{Target: t}); err != nil {
		return res, atStep(StepAssume, err)
	}
	slr, err := a.ensureServiceLinkedRole(ctx, EnsureServiceLinkedRoleInput{Target: t, DryRun: in.DryRun})
	if err != nil {
		return res, atStep(StepServiceLinkedRole, err)
	}
	if slr.Planned || slr.Created {
		res.Actions = append(res.Actions, Action{Do: ActCreate, Resource: "service-linked role " + slr.RoleARN, Evidence: "it did not exist; the boot proof launches through it"})
	}
	res.SLRARN = slr.RoleARN
	if res.SLRARN == "" {
		res.SLRARN = t.ServiceLinkedRoleARN()
	}

	alias := keyAlias(t)
	kc := a.clients.KMS(targetAccess(t))
	w := where{Account: t.Account, Region: t.Region, Resource: "key " + alias}
	log := a.logFor(t.Account, t.Region).With().Str("alias", alias).Str("rotation", in.RotationID).Logger()
	md, err := describeKey(ctx, kc, alias)
	if IsNotFound(err) {
		return res, atStep(StepKey, Diagnosed(Diagnosis{
			Code:  Other,
			Cause: fmt.Sprintf("no key under %s in account %s, %s: there is nothing to rotate", alias, t.Account, t.Region),
			Fix:   "Run the pipeline first (it creates the key), or correct key_alias in the config.",
		}, err))
	}
	if err != nil {
		return res, atStep(StepKey, diagnose(err, "kms:DescribeKey", w))
	}
	cur := aws.ToString(md.Arn)
	res.CurrentKey, res.NewKey = cur, cur
	w.Resource = fmt.Sprintf("key %s (%s)", cur, alias)
	if md.KeyManager != kmstypes.KeyManagerTypeCustomer {
		return res, atStep(StepKey, Diagnosed(Diagnosis{
			Code:  F5,
			Cause: fmt.Sprintf("%s in account %s, %s names the AWS managed key %s, which cannot be rotated by hand nor replaced", alias, t.Account, t.Region, cur),
			Fix:   fmt.Sprintf("Delete the alias %s so the pipeline creates a customer managed key, then run the pipeline.", alias),
		}, nil))
	}
	if d, bad := keyStateDiagnosis(t, md, alias); bad {
		// Re-encrypting reads the old snapshots: the old key must work.
		d.Fix = "A rotation copies every image out from under the old key, so the old key must still be usable: " + d.Fix
		return res, atStep(StepKey, Diagnosed(d, nil))
	}
	tags, err := keyTags(ctx, kc, cur)
	if err != nil {
		return res, atStep(StepSuccessorKey, diagnose(err, "kms:ListResourceTags", w))
	}
	if p, err := liveKey(ctx, kc, tags[TagPredecessor]); err != nil {
		return res, atStep(StepSuccessorKey, diagnose(err, "kms:DescribeKey", w))
	} else {
		res.Predecessor = p
	}
	if !in.NewKey {
		return res, nil
	}

	if next := tags[TagSuccessor]; next != "" {
		if ok, err := a.usableSuccessor(ctx, kc, t, cur, next); err != nil {
			return res, atStep(StepSuccessorKey, diagnose(err, "kms:DescribeKey", w))
		} else if ok {
			log.Info().Str("key", next).Msg("successor key found")
			res.NewKey = next
			if in.DryRun {
				return res, nil
			}
			if err := ensureRotation(ctx, kc, next); err != nil {
				return res, atStep(StepSuccessorKey, diagnose(err, "kms:EnableKeyRotation", w))
			}
			return res, nil
		}
	}
	// An earlier attempt — of this rotation, or of an earlier one that
	// failed, under another rotation id — may have created the successor
	// and lost the answer or died before tagging the old key: one successor
	// per key, however many times the rotation runs.
	made, err := a.findKeys(ctx, kc, t, func(tags map[string]string) bool {
		return tags[TagManagedKey] == "true" && tags[TagPredecessor] == cur
	})
	if err != nil {
		return res, atStep(StepSuccessorKey, diagnose(err, "kms:ListKeys", w))
	}
	if len(made) > 0 && in.DryRun {
		res.NewKey = aws.ToString(made[0].Arn)
		return res, nil
	}
	if len(made) > 0 {
		next := aws.ToString(made[0].Arn)
		for _, k := range made[1:] {
			res.RetiredKeys = append(res.RetiredKeys, a.retireUnusedKey(ctx, kc, t, k, "a second successor of "+cur+" an earlier attempt made", log)...)
		}
		log.Info().Str("key", next).Msg("successor key made by an earlier attempt found")
		res.NewKey = next
		if err := ensureRotation(ctx, kc, next); err != nil {
			return res, atStep(StepSuccessorKey, diagnose(err, "kms:EnableKeyRotation", w))
		}
		return res, atStep(StepSuccessorKey, a.finishSuccessor(ctx, kc, t, cur, next, in, w))
	}

	// The new key's policy: amicrypt's required statements merged into the
	// old key's, every statement of the owner kept.
	oldDoc, err := a.keyPolicy(ctx, kc, cur)
	if err != nil {
		if IsAccessDenied(err) || IsNotFound(err) || APICode(err) != "" {
			return res, atStep(StepSuccessorKey, Diagnosed(Diagnosis{
				Code:  Other,
				Cause: fmt.Sprintf("the policy of %s in account %s, %s cannot be read (%s): the new key could not keep its owner's statements", cur, t.Account, t.Region, apiMessageOr(err)),
				Fix:   fmt.Sprintf("Let %s call kms:GetKeyPolicy on the key (a statement for the pipeline role), then run the rotation again.", t.RoleARN),
			}, err))
		}
		return res, atStep(StepSuccessorKey, diagnose(err, "kms:GetKeyPolicy", w))
	}
	required := policy.RequiredKeyPolicy(requiredParams(t, "", res.SLRARN, in.Pipeline))
	merged, _ := policy.MergeRequired(oldDoc, required)
	res.Kept = ownerStatements(oldDoc, required)
	// Predict, before anything exists: a Deny the owner kept could still
	// lock the service-linked role out.
	placeholder := plannedKeyARN(t)
	if ok, act, reason := evaluateSLRUse(merged, nil, t, placeholder, res.SLRARN); !ok {
		d := slrKeyDiagnosis(t, placeholder, res.SLRARN, merged, nil, nil,
			fmt.Sprintf("predicted before creating the successor of %s: %s would be refused (%s)", cur, act, reason))
		d.Fix = "A statement kept from the old key's policy refuses the service-linked role (a Deny?): correct the old key's policy, then run the rotation again. " + d.Fix
		return res, atStep(StepSuccessorKey, Diagnosed(d, nil))
	}
	text, err := merged.Marshal()
	if err != nil {
		return res, atStep(StepSuccessorKey, Diagnosed(Diagnosis{Code: Other,
			Cause: fmt.Sprintf("the new key's policy (the old key %s's, merged) in account %s, %s cannot be written: %v", cur, t.Account, t.Region, err),
			Fix:   "Correct the old key's statements amicrypt cannot write back, then run the rotation again."}, err))
	}
	create := Action{Do: ActCreate, Resource: "key (successor of " + cur + ", alias " + alias + ")",
		Evidence: fmt.Sprintf("amicrypt's required policy merged with the old key's, keeping %v; predicted usable by %s", res.Kept, res.SLRARN)}
	if in.DryRun {
		res.NewKey = ""
		res.Actions = append(res.Actions, create)
		return res, nil
	}
	out, err := kc.CreateKey(ctx, &kms.CreateKeyInput{
		Description: aws.String(truncate(fmt.Sprintf(keyDescriptionPrefix+"%s for encrypted AMIs (%s), successor of %s (%s)", t.Account, alias, cur, in.Reason), 8192)),
		KeySpec:     kmstypes.KeySpecSymmetricDefault,
		KeyUsage:    kmstypes.KeyUsageTypeEncryptDecrypt,
		Policy:      aws.String(string(text)),
		Tags: kmsTags(map[string]string{
			TagManagedKey:     "true",
			TagKeyAlias:       alias,
			TagPredecessor:    cur,
			TagRotation:       in.RotationID,
			TagRotationReason: in.Reason,
			TagRotatedBy:      in.Operator,
		}),
	}, noRetry)
	if err != nil {
		return res, atStep(StepSuccessorKey, keyPolicyWriteError(err, "kms:CreateKey", w))
	}
	next := aws.ToString(out.KeyMetadata.Arn)
	res.NewKey, res.Created = next, true
	res.Actions = append(res.Actions, create)
	log.Info().Str("key", next).Strs("kept", res.Kept).Msg("successor key created")
	if err := ensureRotation(ctx, kc, next); err != nil {
		return res, atStep(StepSuccessorKey, diagnose(err, "kms:EnableKeyRotation", where{Account: t.Account, Region: t.Region, Resource: "key " + next}))
	}
	return res, atStep(StepSuccessorKey, a.finishSuccessor(ctx, kc, t, cur, next, in, w))
}

// StepSuccessorKey names PrepareRotation's key creation in a diagnosis.
const StepSuccessorKey = "successor-key"

// finishSuccessor tags the old key with its successor, the reason and the
// operator.
func (a *Activities) finishSuccessor(ctx context.Context, kc KMSAPI, t Target, cur, next string, in PrepareRotationInput, w where) error {
	_, err := kc.TagResource(ctx, &kms.TagResourceInput{KeyId: aws.String(cur), Tags: kmsTags(map[string]string{
		TagSuccessor:      next,
		TagRotationReason: in.Reason,
		TagRotatedBy:      in.Operator,
	})})
	if err != nil {
		return diagnose(err, "kms:TagResource", w)
	}
	return nil
}

// liveKey returns arn when that key exists and is not pending deletion
// ("" for an empty arn).
func liveKey(ctx context.Context, kc KMSAPI, arn string) (string, error) {
	return keyIn(ctx, kc, arn, func(st kmstypes.KeyState) bool {
		return st != kmstypes.KeyStatePendingDeletion && st != kmstypes.KeyStatePendingReplicaDeletion
	})
}

// enabledKey returns arn when that key exists and is enabled ("" for an
// empty arn).
func enabledKey(ctx context.Context, kc KMSAPI, arn string) (string, error) {
	return keyIn(ctx, kc, arn, func(st kmstypes.KeyState) bool { return st == kmstypes.KeyStateEnabled })
}

// keyIn returns arn when that key exists and its state is one ok accepts
// ("" for an empty arn).
func keyIn(ctx context.Context, kc KMSAPI, arn string, ok func(kmstypes.KeyState) bool) (string, error) {
	if arn == "" {
		return "", nil
	}
	md, err := describeKey(ctx, kc, arn)
	if IsNotFound(err) {
		return "", nil
	}
	if err != nil || !ok(md.KeyState) {
		return "", err
	}
	return arn, nil
}

// usableSuccessor: the key cur's amicrypt:successor tag names still exists
// and is enabled, and is amicrypt's successor of cur — tagged so
// (amicrypt:managed, amicrypt:predecessor naming cur back) under a policy
// that keeps amicrypt's tags to the target's role. A successor tag alone
// proves nothing: on a key whose policy lets others tag, anyone could have
// pointed it at a key of theirs.
func (a *Activities) usableSuccessor(ctx context.Context, kc KMSAPI, t Target, cur, arn string) (bool, error) {
	md, err := describeKey(ctx, kc, arn)
	if IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if md.KeyState != kmstypes.KeyStateEnabled {
		return false, nil
	}
	tags, err := keyTags(ctx, kc, arn)
	if IsAccessDenied(err) || IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if tags[TagManagedKey] != "true" || tags[TagPredecessor] != cur {
		return false, nil
	}
	ok, _, err := a.tagsGuarded(ctx, kc, t, arn)
	return ok, err
}

// keyTags reads a key's tags.
func keyTags(ctx context.Context, kc KMSAPI, keyARN string) (map[string]string, error) {
	out := map[string]string{}
	p := kms.NewListResourceTagsPaginator(kc, &kms.ListResourceTagsInput{KeyId: aws.String(keyARN)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, tag := range page.Tags {
			out[aws.ToString(tag.TagKey)] = aws.ToString(tag.TagValue)
		}
	}
	return out, nil
}

// kmsTags turns a map into KMS tags (empty values left out; values cut to
// KMS's 256 characters), sorted by key.
func kmsTags(m map[string]string) []kmstypes.Tag {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if v != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := make([]kmstypes.Tag, 0, len(keys))
	for _, k := range keys {
		out = append(out, kmstypes.Tag{TagKey: aws.String(k), TagValue: aws.String(truncate(m[k], 256))})
	}
	return out
}

// ownerStatements names the old policy's statements that are not amicrypt's
// required ones: what the new key keeps of its owner's.
func ownerStatements(old, required *policy.Document) []string {
	req := map[string]bool{}
	for _, s := range required.Statements {
		req[s.Sid] = true
	}
	var out []string
	for i, s := range old.Statements {
		switch {
		case s.Sid == "":
			out = append(out, "#"+strconv.Itoa(i+1))
		case !req[s.Sid]:
			out = append(out, s.Sid)
		}
	}
	return out
}

// FindKeyedImages lists the target's images that are provably amicrypt's
// for its configuration (scopedImages: made by CopyImage from the image
// their tags name, every snapshot under a key of the alias's line, of the
// configured family when one is set) and whose snapshots are not all under
// Keep, each with the key they are under. Only available, proven images are
// re-encrypted (with the boot proof off: those never marked failed); the
// others are listed in Skipped with why, and images that carry amicrypt's
// tags without the evidence in OutOfScope: neither stops the rotation of
// the proven ones. Oldest build first.
func (a *Activities) FindKeyedImages(ctx context.Context, in FindKeyedImagesInput) (FindKeyedImagesResult, error) {
	t := in.Target
	ec := a.clients.EC2(targetAccess(t))
	w := where{Account: t.Account, Region: t.Region, Resource: "amicrypt images"}
	var res FindKeyedImagesResult
	keys, err := a.configKeys(ctx, t, in.Keep)
	if err != nil {
		return res, atStep(StepFindImages, diagnose(err, "kms:ListResourceTags", w))
	}
	images, outside, err := scopedImages(ctx, ec, imageScope{Account: t.Account, Region: t.Region, Family: t.Family, Keys: keys, OtherKey: a.formerKeys(ctx, t)})
	if err != nil {
		return res, atStep(StepFindImages, diagnose(err, "ec2:DescribeImages", w))
	}
	res.OutOfScope = outside
	for i := len(images) - 1; i >= 0; i-- { // oldest build first
		im := images[i]
		key := ""
		under := true
		for _, k := range im.SnapshotKeys {
			if k != in.Keep {
				key, under = k, false
				break
			}
		}
		if under {
			continue // under Keep already
		}
		switch {
		case im.State == ec2types.ImageStateDisabled:
			res.Skipped = append(res.Skipped, im.ID+": disabled (retired); it goes when its retention grace is over")
			continue
		case im.State != ec2types.ImageStateAvailable:
			res.Skipped = append(res.Skipped, fmt.Sprintf("%s: %s, not available", im.ID, im.State))
			continue
		case !im.proven(t):
			why := "never proven to boot"
			if r := im.Tags[TagProvenReason]; r != "" {
				why = "unproven: " + r
			}
			res.Skipped = append(res.Skipped, im.ID+": "+why)
			continue
		}
		own := map[string]string{}
		for k, v := range im.Tags {
			if strings.HasPrefix(k, "amicrypt:") {
				own[k] = v
			}
		}
		res.Images = append(res.Images, KeyedImage{
			ImageID:     im.ID,
			Name:        im.Name,
			KeyARN:      key,
			Family:      im.Tags[TagFamily],
			SourceImage: im.Tags[TagSourceImage],
			RootDevice:  im.rootDevice,
			Snapshots:   im.Snapshots,
			Tags:        own,
		})
	}
	return res, nil
}

// StepFindImages names FindKeyedImages in a diagnosis.
const StepFindImages = "find-images"

// snapshotKeys reads the key of each snapshot, a few hundred at a time.
func snapshotKeys(ctx context.Context, ec EC2API, ids []string) (map[string]string, error) {
	keys := make(map[string]string, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), 200)
		out, err := ec.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: ids[:n]})
		if err != nil && !IsNotFound(err) {
			return nil, err
		}
		if out != nil {
			for _, sn := range out.Snapshots {
				key := ""
				if aws.ToBool(sn.Encrypted) {
					key = aws.ToString(sn.KmsKeyId)
				}
				keys[aws.ToString(sn.SnapshotId)] = key
			}
		}
		ids = ids[n:]
	}
	return keys, nil
}

// ReencryptImage copies an image under the new key, in its own region
// (CopyImage with Encrypted and KmsKeyId re-encrypts every snapshot). A copy
// of the same image under the same key that is pending or available (found
// by its tags) is reused; otherwise CopyImage runs with a ClientToken derived
// from the image and the key, so a retry, a lost worker or a second rotation
// never makes a second copy. The copy carries the old image's amicrypt tags
// (source image, family, run), the new key, amicrypt:rekeyed-from and the
// rotation.
func (a *Activities) ReencryptImage(ctx context.Context, in ReencryptImageInput) (CopyImageResult, error) {
	t, old := in.Target, in.Image
	w := where{Account: t.Account, Region: t.Region, Resource: "re-encrypted copy of " + old.ImageID}
	tags := map[string]string{}
	for k, v := range old.Tags {
		switch k {
		case TagProven, TagProvenReason, TagKey, TagRekeyedFrom, TagRotation, TagDisabledAt, TagDisabledReason:
		default:
			tags[k] = v
		}
	}
	tags[TagKey] = in.NewKey
	tags[TagRekeyedFrom] = old.ImageID
	tags[TagRotation] = in.RotationID
	return a.copyImage(ctx, a.clients.EC2(targetAccess(t)), imageCopy{
		From: old.ImageID, FromRegion: t.Region, KeyARN: in.NewKey,
		Names:       []string{rekeyName(old.Name, old.KeyARN, in.NewKey)},
		Token:       func(int, string) string { return Token("rekey", old.ImageID, in.NewKey, t.Account, t.Region) },
		Tags:        tags,
		Description: fmt.Sprintf("amicrypt: %s re-encrypted from %s for account %s", old.Family, old.ImageID, t.Account),
		Find:        []ec2types.Filter{tagFilter(TagRekeyedFrom, old.ImageID), tagFilter(TagKey, in.NewKey)},
		Is: func(tags map[string]string) bool {
			return tags[TagRekeyedFrom] == old.ImageID && tags[TagKey] == in.NewKey
		},
		What: "re-encrypted copy of " + old.ImageID,
	}, w)
}

// rekeyName is the re-encrypted copy's AMI name: the old name with its key
// digest (if it ends with the old key's) replaced by the new key's, within
// AMI names' 128 characters.
func rekeyName(oldName, oldKey, newKey string) string {
	digest := func(k string) string { return "-" + strings.TrimPrefix(Token("k", k), "k-")[:8] }
	base := strings.TrimSuffix(oldName, digest(oldKey))
	suffix := digest(newKey)
	if max := 128 - len(suffix); len(base) > max {
		base = base[:max]
	}
	return base + suffix
}

// SwitchKey moves the alias to the new key (MoveAlias) and repoints what
// amicrypt published for the target from old images to their copies: the SSM
// parameter's value, and the launch template's default version (a new
// version with the new image, its block devices' old keys replaced by the
// new key). Only pointers that are amicrypt's move (publishOwner): one that
// is not is named in Warnings and left, and so keeps its old image and key.
// A pointer that names no old image is left alone; running it again changes
// nothing.
func (a *Activities) SwitchKey(ctx context.Context, in SwitchKeyInput) (SwitchKeyResult, error) {
	t := in.Target
	acc := targetAccess(t)
	log := a.logFor(t.Account, t.Region).With().Str("key", in.NewKey).Logger()
	var res SwitchKeyResult

	// Only pointers that are amicrypt's move; one that is not stays, and
	// keeps its image (and so the old key) alive.
	assumed, err := a.assumeTarget(ctx, AssumeTargetInput{Target: t})
	if err != nil {
		return res, atStep(StepSwitch, err)
	}
	owner, err := a.publishOwner(ctx, t, assumed.Arn, "")
	if d, ok := DiagnosisOf(err); ok && errors.Is(err, errNotAmicrypts) {
		res.Warnings = append(res.Warnings, d.Cause)
		t.Publish = Publish{}
	} else if err != nil {
		return res, atStep(StepSwitch, err)
	}
	if name := t.Publish.SSMParameter; name != "" {
		if next, ok := in.Images[owner.parameterValue]; ok {
			res.Actions = append(res.Actions, Action{Do: ActRepoint, Resource: "ssm:" + name, Evidence: owner.parameterValue + " → " + next})
			if !in.DryRun {
				if err := putImageParameter(ctx, a.clients.SSM(acc), name, next, false); err != nil {
					return res, atStep(StepSwitch, diagnose(err, "ssm:PutParameter", where{Account: t.Account, Region: t.Region, Resource: "parameter " + name}))
				}
				log.Info().Str("parameter", name).Str("image", next).Msg("parameter repointed")
			}
			res.Repointed = append(res.Repointed, "ssm:"+name)
		}
	}
	if name := t.Publish.LaunchTemplate; name != "" && owner.templateImage != "" {
		if next, ok := in.Images[owner.templateImage]; ok {
			res.Actions = append(res.Actions, Action{Do: ActRepoint, Resource: "launch template " + name, Evidence: owner.templateImage + " → " + next})
			if in.DryRun {
				res.Repointed = append(res.Repointed, "launch template "+name)
			}
		}
		if !in.DryRun {
			ref, err := a.repointLaunchTemplate(ctx, a.clients.EC2(acc), owner.templateDefault, in)
			if err != nil {
				return res, atStep(StepSwitch, diagnose(err, "ec2:CreateLaunchTemplateVersion", where{Account: t.Account, Region: t.Region, Resource: "launch template " + name}))
			}
			if ref != "" {
				log.Info().Str("template", ref).Msg("launch template repointed")
				res.Repointed = append(res.Repointed, ref)
			}
		}
	}

	if in.MoveAlias {
		alias := keyAlias(t)
		w := where{Account: t.Account, Region: t.Region, Resource: "alias " + alias}
		kc := a.clients.KMS(acc)
		md, err := describeKey(ctx, kc, alias)
		if err != nil {
			return res, atStep(StepSwitch, diagnose(err, "kms:DescribeKey", w))
		}
		if aws.ToString(md.Arn) != in.NewKey {
			res.Actions = append(res.Actions, Action{Do: ActMoveAlias, Resource: alias, Evidence: aws.ToString(md.Arn) + " → " + orNew(in.NewKey)})
		}
		if aws.ToString(md.Arn) != in.NewKey && !in.DryRun {
			if _, err := kc.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String(alias), TargetKeyId: aws.String(in.NewKey)}); err != nil {
				return res, atStep(StepSwitch, tagConditionedError(err, "kms:UpdateAlias", w))
			}
			log.Info().Str("alias", alias).Str("from", aws.ToString(md.Arn)).Msg("alias moved to the new key")
		}
		res.AliasMoved = true
	}
	return res, nil
}

// StepSwitch names SwitchKey in a diagnosis.
const StepSwitch = "alias-and-repoint"

// repointLaunchTemplate gives the template a new default version on the new
// image when its default version (v, as publishOwner read it) names an old
// one; it returns "launch-template:<id>:<version>", or "" when there was
// nothing to do.
func (a *Activities) repointLaunchTemplate(ctx context.Context, ec EC2API, v *ec2types.LaunchTemplateVersion, in SwitchKeyInput) (string, error) {
	if v == nil || v.LaunchTemplateData == nil {
		return "", nil
	}
	next, ok := in.Images[aws.ToString(v.LaunchTemplateData.ImageId)]
	if !ok {
		return "", nil
	}
	data := &ec2types.RequestLaunchTemplateData{ImageId: aws.String(next)}
	old := map[string]bool{}
	for _, k := range in.OldKeys {
		old[k] = true
	}
	var bdms []ec2types.LaunchTemplateBlockDeviceMappingRequest
	changed := false
	for _, m := range v.LaunchTemplateData.BlockDeviceMappings {
		r := ec2types.LaunchTemplateBlockDeviceMappingRequest{DeviceName: m.DeviceName, NoDevice: m.NoDevice, VirtualName: m.VirtualName}
		if e := m.Ebs; e != nil {
			r.Ebs = &ec2types.LaunchTemplateEbsBlockDeviceRequest{
				DeleteOnTermination: e.DeleteOnTermination, Encrypted: e.Encrypted, Iops: e.Iops, KmsKeyId: e.KmsKeyId,
				SnapshotId: e.SnapshotId, Throughput: e.Throughput, VolumeSize: e.VolumeSize, VolumeType: e.VolumeType,
			}
			if old[aws.ToString(e.KmsKeyId)] {
				r.Ebs.KmsKeyId = aws.String(in.NewKey)
				changed = true
			}
		}
		bdms = append(bdms, r)
	}
	if changed {
		data.BlockDeviceMappings = bdms
	}
	source := strconv.FormatInt(aws.ToInt64(v.VersionNumber), 10)
	id, version, err := newDefaultVersion(ctx, ec, &ec2.CreateLaunchTemplateVersionInput{
		LaunchTemplateId:   v.LaunchTemplateId,
		SourceVersion:      aws.String(source),
		VersionDescription: aws.String("amicrypt: " + next + " (key rotation)"),
		LaunchTemplateData: data,
		ClientToken:        aws.String(Token("lt-rekey", aws.ToString(v.LaunchTemplateId), source, next, in.NewKey)),
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("launch-template:%s:%d", id, version), nil
}

// RetireOldKeys retires what the rotation replaced, each step reversible
// first: the old images amicrypt re-encrypted are disabled (EnableImage
// undoes it) and deregistered with their snapshots once disabled for the
// retention grace — never while something uses them (an instance, a launch
// template version or Auto Scaling group amicrypt does not own, a
// parameter), which keeps them and names what did. Then each old key of
// this configuration's alias line (Retire, or a key the alias's key names as
// its predecessor and that names it back) that nothing holds — volumes,
// snapshots and images (disabled ones included, except amicrypt's own images
// being retired), launch template versions naming it, the account's EBS
// default key, grants other than amicrypt's — is disabled (EnableKey undoes
// it), tagged with when and why, and amicrypt's grants on it revoked. A
// key is never scheduled for deletion here: a later sweep or rotation does
// that once it has been disabled for rotation.retire_after with nothing
// holding or trying it. A key something holds stays enabled with its
// grants, and its holders are named. Running it again changes nothing more.
func (a *Activities) RetireOldKeys(ctx context.Context, in RetireOldKeysInput) (RetireOldKeysResult, error) {
	t := in.Target
	acc := targetAccess(t)
	ec, kc := a.clients.EC2(acc), a.clients.KMS(acc)
	log := a.logFor(t.Account, t.Region)
	var res RetireOldKeysResult
	w := where{Account: t.Account, Region: t.Region, Resource: "old images"}

	// The old images: two-step retirement.
	var olds []familyImage
	if len(in.OldImages) > 0 {
		out, err := ec.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: in.OldImages, IncludeDisabled: aws.Bool(true)})
		if err != nil && !IsNotFound(err) {
			return res, atStep(StepRetire, diagnose(err, "ec2:DescribeImages", w))
		}
		if out != nil {
			for _, im := range out.Images {
				olds = append(olds, familyImage{ID: aws.ToString(im.ImageId), State: im.State, Tags: tagMap(im.Tags), Snapshots: imageSnapshots(im),
					Protected: strings.HasPrefix(aws.ToString(im.DeregistrationProtection), "enabled")})
			}
		}
	}
	var retire, disabled []familyImage
	for _, im := range olds {
		if im.State == ec2types.ImageStateDisabled {
			disabled = append(disabled, im)
		} else {
			retire = append(retire, im)
		}
	}
	why := "key rotation: re-encrypted under " + orNew(in.NewKey)
	if err := a.retire(ctx, t, retire, disabled, why, in.DryRun, ownPointers(t, in.DryRun), &res.Images); err != nil {
		return res, atStep(StepRetire, err)
	}
	res.Deregistered = res.Images.Deregistered
	// amicrypt's own old images, disabled and on their way out, do not
	// hold their key: launching them fails whatever the key's state.
	retiring := map[string]bool{}
	for _, id := range res.Images.Disabled {
		retiring[id] = true
	}
	for _, im := range disabled {
		if !slices.Contains(res.Images.Enabled, im.ID) {
			retiring[im.ID] = true
		}
	}

	holders, err := a.keyHolders(ctx, t, in.OldKeys, retiring)
	if err != nil {
		return res, atStep(StepRetire, diagnose(err, "ec2:DescribeVolumes", where{Account: t.Account, Region: t.Region, Resource: "resources under the old keys"}))
	}
	retirable := map[string]bool{}
	for _, k := range in.Retire {
		retirable[k] = true
	}
	if line, err := a.configKeys(ctx, t, in.NewKey); err != nil {
		return res, atStep(StepRetire, diagnose(err, "kms:ListResourceTags", where{Account: t.Account, Region: t.Region, Resource: "the keys of " + keyAlias(t)}))
	} else {
		for k := range line {
			if k != in.NewKey {
				retirable[k] = true
			}
		}
	}
	for _, key := range in.OldKeys {
		w := where{Account: t.Account, Region: t.Region, Resource: "old key " + key}
		fate := OldKeyFate{KeyARN: key, HeldBy: holders[key]}
		if owner := accountOfARN(key); owner != "" && owner != t.Account {
			// An image made under a former key_arn: its owner's key,
			// neither amicrypt's to retire nor (often) to read.
			fate.State = "Unknown"
			fate.Note = "key of account " + owner + ": its owner retires it; amicrypt only moved its images off it"
			res.Keys = append(res.Keys, fate)
			continue
		}
		md, err := describeKey(ctx, kc, key)
		if IsNotFound(err) {
			fate.State = "Deleted"
			res.Keys = append(res.Keys, fate)
			continue
		}
		if err != nil {
			return res, atStep(StepRetire, diagnose(err, "kms:DescribeKey", w))
		}
		fate.State = string(md.KeyState)
		switch {
		case md.KeyState == kmstypes.KeyStatePendingDeletion:
			fate.DeletionDate = md.DeletionDate
		case !retirable[key]:
			fate.Note = "not amicrypt's to retire (no rotation of " + keyAlias(t) + " replaced it): left as it is"
		case len(fate.HeldBy) > 0:
			fate.Note = fmt.Sprintf("left enabled, with its grants: %d holder(s) still use it; move or delete them, then sweep (or rotate) again", len(fate.HeldBy))
			log.Warn().Str("key", key).Strs("held_by", fate.HeldBy).Msg("old key still in use: left enabled")
		case md.KeyState == kmstypes.KeyStateEnabled && a.inUseSinceReenabled(ctx, kc, t, key, &fate):
		case md.KeyState == kmstypes.KeyStateEnabled:
			fate.Actions = append(fate.Actions, Action{Do: ActDisableKey, Resource: key, Evidence: "replaced by " + orNew(in.NewKey) + "; nothing holds it"})
			if in.DryRun {
				fate.Note = "would be disabled"
				break
			}
			fate.RevokedGrants, err = revokeAmicryptGrants(ctx, kc, key)
			if err != nil {
				return res, atStep(StepRetire, diagnose(err, "kms:RevokeGrant", w))
			}
			if err := tagKeyDisabled(ctx, kc, key, "key rotation: replaced by "+in.NewKey); err != nil {
				return res, atStep(StepRetire, diagnose(err, "kms:TagResource", w))
			}
			if _, err := kc.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(key)}); err != nil {
				return res, atStep(StepRetire, tagConditionedError(err, "kms:DisableKey", w))
			}
			fate.State = string(kmstypes.KeyStateDisabled)
			fate.Note = fmt.Sprintf("disabled (aws kms enable-key --key-id %s undoes it); its deletion is scheduled by a later sweep or rotation once it has been disabled for %s with nothing holding or trying it", key, t.KeyRetireAfter())
			log.Info().Str("key", key).Msg("old key disabled")
		default:
			fate.Note = "disabled already"
		}
		res.Keys = append(res.Keys, fate)
	}
	// The line's keys disabled by earlier rotations: their second step.
	line, err := a.lineKeys(ctx, t, in.NewKey)
	if err != nil {
		return res, atStep(StepRetire, diagnose(err, "kms:ListResourceTags", where{Account: t.Account, Region: t.Region, Resource: "the keys of " + keyAlias(t)}))
	}
	line = slices.DeleteFunc(line, func(k string) bool { return slices.Contains(in.OldKeys, k) })
	earlier, err := a.finishKeyRetirement(ctx, t, line, in.DeletionWindowDays, in.DryRun)
	if err != nil {
		return res, atStep(StepRetire, err)
	}
	res.Keys = append(res.Keys, earlier...)
	a.keysPendingRetirement(t, res.Keys)
	return res, nil
}

// orNew names a key, or the successor a dry run did not make.
func orNew(key string) string {
	if key == "" {
		return "the new key"
	}
	return key
}

// ownPointers, in a dry run, are the uses of an old image a rotation
// repoints before it retires anything: the target's own SSM parameter and
// launch template (publishOwner decides whether they are amicrypt's).
func ownPointers(t Target, dry bool) func(string) bool {
	if !dry {
		return nil
	}
	return func(use string) bool {
		if p := t.Publish.SSMParameter; p != "" && use == "parameter "+p {
			return true
		}
		lt := t.Publish.LaunchTemplate
		return lt != "" && strings.HasPrefix(use, "launch template "+lt+" version ") && !strings.Contains(use, "Auto Scaling group")
	}
}

// inUseSinceReenabled says whether key, which amicrypt enabled again after
// someone tried it while disabled, was used successfully within
// retire_after (then it is not disabled again), noting it on fate.
func (a *Activities) inUseSinceReenabled(ctx context.Context, kc KMSAPI, t Target, key string, fate *OldKeyFate) bool {
	tags, err := keyTags(ctx, kc, key)
	if err != nil || tags[TagKeyReenabledAt] == "" {
		return false
	}
	use, at, err := lastUse(ctx, kc, key)
	if err != nil {
		fate.Note = "enabled again by amicrypt after someone tried it; its last use cannot be read (" + apiMessageOr(err) + "): left enabled"
		return true
	}
	fate.LastUsed = use
	if !at.IsZero() && time.Since(at) < t.KeyRetireAfter() {
		fate.Note = fmt.Sprintf("enabled again by amicrypt (%s) and used since (%s): not disabled again while in use", tags[TagKeyReenabledReason], use)
		return true
	}
	return false
}

// Tags of a key amicrypt disabled: when (RFC 3339) and why.
const (
	TagKeyDisabledAt     = "amicrypt:disabled-at"
	TagKeyDisabledReason = "amicrypt:disabled-reason"
)

// tagKeyDisabled records on the key when and why amicrypt disabled it,
// before it does (a worker lost between the calls leaves a key amicrypt
// still knows it meant to disable).
func tagKeyDisabled(ctx context.Context, kc KMSAPI, key, why string) error {
	_, err := kc.TagResource(ctx, &kms.TagResourceInput{KeyId: aws.String(key), Tags: kmsTags(map[string]string{
		TagKeyDisabledAt:     time.Now().UTC().Format(time.RFC3339),
		TagKeyDisabledReason: why,
	})})
	return err
}

// tagConditionedError is the error of a call that the deploy/ templates
// allow by a tag amicrypt set moments before (amicrypt:successor,
// amicrypt:managed): KMS may take up to five minutes to apply a new tag to
// authorization, so AccessDenied is retried (the activity's retry policy
// outlasts that) rather than diagnosed at once.
func tagConditionedError(err error, call string, w where) error {
	if IsAccessDenied(err) {
		return fmt.Errorf("%s in %s refused (%s): a tag set moments ago may not authorize yet (KMS applies new tags within five minutes); retrying", call, w, apiMessage(err))
	}
	return diagnose(err, call, w)
}

// StepRetire names RetireOldKeys in a diagnosis.
const StepRetire = "retire-old-key"

// keyHolders finds what still needs each key in the target's account and
// region: volumes (with the instance they are attached to), snapshots (with
// the image they belong to; disabled images included, except the images in
// retiring), launch template versions whose block devices name the key, the
// account's EBS default key, and grants other than amicrypt's — as
// "volume vol-... (in-use, attached to i-...)", "snapshot snap-... (image
// ami-...)", "launch template NAME version N", "the EBS default key of
// REGION", "grant ID for PRINCIPAL". EC2 has no filter by key: encrypted
// volumes, own snapshots and every template version are listed and matched
// here.
func (a *Activities) keyHolders(ctx context.Context, t Target, keys []string, retiring map[string]bool) (map[string][]string, error) {
	acc := targetAccess(t)
	ec, kc := a.clients.EC2(acc), a.clients.KMS(acc)
	want := map[string]bool{}
	for _, k := range keys {
		want[k] = true
	}
	out := map[string][]string{}
	vp := ec2.NewDescribeVolumesPaginator(ec, &ec2.DescribeVolumesInput{Filters: []ec2types.Filter{{Name: aws.String("encrypted"), Values: []string{"true"}}}})
	for vp.HasMorePages() {
		page, err := vp.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, v := range page.Volumes {
			k := aws.ToString(v.KmsKeyId)
			if !want[k] {
				continue
			}
			desc := fmt.Sprintf("volume %s (%s", aws.ToString(v.VolumeId), v.State)
			for _, at := range v.Attachments {
				desc += ", attached to " + aws.ToString(at.InstanceId)
			}
			out[k] = append(out[k], desc+")")
		}
	}
	var images []ec2types.Image
	ip := ec2.NewDescribeImagesPaginator(ec, &ec2.DescribeImagesInput{Owners: []string{"self"}, IncludeDisabled: aws.Bool(true)})
	for ip.HasMorePages() {
		page, err := ip.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		images = append(images, page.Images...)
	}
	imageOf := map[string]string{}
	for _, im := range images {
		for _, sn := range imageSnapshots(im) {
			imageOf[sn] = aws.ToString(im.ImageId)
		}
	}
	sp := ec2.NewDescribeSnapshotsPaginator(ec, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}, Filters: []ec2types.Filter{{Name: aws.String("encrypted"), Values: []string{"true"}}}})
	for sp.HasMorePages() {
		page, err := sp.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, sn := range page.Snapshots {
			k := aws.ToString(sn.KmsKeyId)
			im := imageOf[aws.ToString(sn.SnapshotId)]
			if !want[k] || (im != "" && retiring[im]) {
				continue
			}
			desc := "snapshot " + aws.ToString(sn.SnapshotId)
			if im != "" {
				desc += " (image " + im + ")"
			}
			out[k] = append(out[k], desc)
		}
	}
	// Launch template versions naming a key for their volumes.
	err := eachTemplateVersion(ctx, ec, func(lt ec2types.LaunchTemplate, v ec2types.LaunchTemplateVersion) {
		if v.LaunchTemplateData == nil {
			return
		}
		for _, m := range v.LaunchTemplateData.BlockDeviceMappings {
			if m.Ebs == nil {
				continue
			}
			if k := keyNamed(aws.ToString(m.Ebs.KmsKeyId), keys); k != "" {
				out[k] = append(out[k], fmt.Sprintf("launch template %s version %d", aws.ToString(lt.LaunchTemplateName), aws.ToInt64(v.VersionNumber)))
			}
		}
	})
	if err != nil {
		return nil, err
	}
	// The account's default key for new EBS volumes.
	def, err := ec.GetEbsDefaultKmsKeyId(ctx, &ec2.GetEbsDefaultKmsKeyIdInput{})
	if err != nil {
		return nil, err
	}
	if ref := aws.ToString(def.KmsKeyId); ref != "" {
		k := keyNamed(ref, keys)
		if k == "" && strings.Contains(ref, "alias/") && !strings.HasSuffix(ref, "alias/aws/ebs") {
			// An alias: which key it names now.
			if md, err := describeKey(ctx, kc, ref); err == nil {
				k = keyNamed(aws.ToString(md.Arn), keys)
			}
		}
		if k != "" {
			out[k] = append(out[k], "the EBS default key of "+t.Region+" (aws ec2 modify-ebs-default-kms-key-id)")
		}
	}
	// Grants other than amicrypt's.
	for _, k := range keys {
		if accountOfARN(k) != "" && accountOfARN(k) != t.Account {
			continue
		}
		p := kms.NewListGrantsPaginator(kc, &kms.ListGrantsInput{KeyId: aws.String(k)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if IsNotFound(err) {
				break
			}
			if err != nil {
				return nil, err
			}
			for _, g := range page.Grants {
				if !strings.HasPrefix(aws.ToString(g.Name), "amicrypt-") {
					out[k] = append(out[k], fmt.Sprintf("grant %s for %s", aws.ToString(g.GrantId), aws.ToString(g.GranteePrincipal)))
				}
			}
		}
	}
	for k := range out {
		sort.Strings(out[k])
	}
	return out, nil
}

// keyNamed returns the key of keys that ref names (its ARN, or its key id),
// "" when none.
func keyNamed(ref string, keys []string) string {
	for _, k := range keys {
		if ref == k || (ref != "" && strings.HasSuffix(k, "/"+ref)) {
			return k
		}
	}
	return ""
}

// revokeAmicryptGrants revokes the grants amicrypt made on a key (their
// names begin with "amicrypt-"); grants of others (EBS's own, a security
// team's) stay.
func revokeAmicryptGrants(ctx context.Context, kc KMSAPI, key string) ([]string, error) {
	var ids []string
	p := kms.NewListGrantsPaginator(kc, &kms.ListGrantsInput{KeyId: aws.String(key)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, g := range page.Grants {
			if strings.HasPrefix(aws.ToString(g.Name), "amicrypt-") {
				ids = append(ids, aws.ToString(g.GrantId))
			}
		}
	}
	for _, id := range ids {
		if _, err := kc.RevokeGrant(ctx, &kms.RevokeGrantInput{KeyId: aws.String(key), GrantId: aws.String(id)}); err != nil && !IsNotFound(err) {
			return nil, err
		}
	}
	return ids, nil
}

// keyAge is how many whole days a key has existed at now.
func keyAge(md *kmstypes.KeyMetadata, now time.Time) int {
	if md.CreationDate == nil {
		return 0
	}
	return int(now.Sub(*md.CreationDate) / (24 * time.Hour))
}
