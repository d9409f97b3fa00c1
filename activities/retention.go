package activities

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// applyRetention keeps, of the family's images provably amicrypt's in the
// target's account and region (scopedImages), the newest Target.Keep proven
// ones by build order — KeepImageID, the image the run just published,
// always among the kept — and retires the other proven ones in two steps
// (retire): disabled now, deregistered with their snapshots once disabled
// for the retention grace and still unused. An image something uses is kept
// whatever keep says, and the result says what kept it. Unproven, failed and
// pending images are neither counted nor retired. Keep 0 turns retention
// off.
func (a *Activities) applyRetention(ctx context.Context, in RetentionInput) (Retirement, error) {
	t := in.Target
	var res Retirement
	if t.Keep < 1 {
		return res, nil
	}
	family := in.Family
	if family == "" {
		family = FamilyOf(t, in.Source)
	}
	acc := targetAccess(t)
	ec := a.clients.EC2(acc)
	w := where{Account: t.Account, Region: t.Region, Resource: "images of family " + family}
	candidates, err := candidateImages(ctx, ec, family)
	if err != nil {
		return res, diagnose(err, "ec2:DescribeImages", w)
	}
	room := t.Keep
	if in.Incoming {
		room-- // the copy to come is the newest, and kept
	}
	if !mayRetire(candidates, room) {
		return res, nil // no more builds than keep, none waiting out its grace
	}
	keys, err := a.configKeys(ctx, t, in.KeyARN)
	if err != nil {
		w.Resource = "the keys of " + keyAlias(t)
		return res, diagnose(err, "kms:ListResourceTags", w)
	}
	images, outside, err := judgeImages(ctx, ec, imageScope{Account: t.Account, Region: t.Region, Family: family, Keys: keys, OtherKey: a.formerKeys(ctx, t)}, candidates)
	if err != nil {
		return res, diagnose(err, "ec2:DescribeSnapshots", w)
	}
	res.OutOfScope = outside
	var retire, disabled []familyImage
	// In build order, newest first: the run's own image takes a place
	// among the kept when it is among the newest, and is kept anyway when
	// it is not (a replay of an old build retires nothing newer).
	kept := t.Keep - room
	for _, im := range images {
		switch {
		case im.State == "disabled":
			if im.disabledAt().IsZero() {
				res.Kept = append(res.Kept, im.ID+": disabled by someone else than amicrypt: left as it is")
				continue
			}
			disabled = append(disabled, im)
		case im.ID == in.KeepImageID:
			kept++
		case im.State != "available":
		case !im.proven(t):
		case kept < t.Keep:
			kept++
		default:
			retire = append(retire, im)
		}
	}
	why := fmt.Sprintf("retention: older than the %d newest proven builds of family %s", t.Keep, family)
	return res, a.retire(ctx, t, retire, disabled, why, in.DryRun, nil, &res)
}

// mayRetire says whether the family's candidates (tags alone) leave
// retention anything to do: more available builds than keep, or one
// amicrypt disabled waiting out its grace. A first build of a family costs
// one call.
func mayRetire(candidates []ec2types.Image, keep int) bool {
	available := 0
	for _, im := range candidates {
		switch {
		case im.State == ec2types.ImageStateAvailable:
			available++
		case im.State == ec2types.ImageStateDisabled && tagMap(im.Tags)[TagDisabledAt] != "":
			return true
		}
	}
	return available > keep
}

// proven says whether an image counts as proven for retention: its boot
// proof passed, or the target proves nothing and it was never marked failed.
func (im familyImage) proven(t Target) bool {
	return im.Proven == "true" || (!t.BootProof.Enabled && im.Proven == "")
}

// configKeys are the keys whose images are this target's: key (the run's:
// the alias's key, or key_arn's), the alias's key, and the keys it replaced
// — each predecessor named by the newer key's amicrypt:predecessor tag,
// naming it back by its own amicrypt:successor tag, and whose policy keeps
// amicrypt's tags to amicrypt's role (tags alone prove nothing).
func (a *Activities) configKeys(ctx context.Context, t Target, key string) (map[string]bool, error) {
	keys, _, err := a.keyLine(ctx, t, key)
	return keys, err
}

// keyLine is configKeys, and the alias's current key ("" when none, or for
// key_arn).
func (a *Activities) keyLine(ctx context.Context, t Target, key string) (map[string]bool, string, error) {
	keys := map[string]bool{}
	if key != "" {
		keys[key] = true
	}
	if t.KeyARN != "" {
		keys[t.KeyARN] = true
		return keys, "", nil
	}
	kc := a.clients.KMS(targetAccess(t))
	md, err := describeKey(ctx, kc, keyAlias(t))
	if IsNotFound(err) {
		return keys, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	current := aws.ToString(md.Arn)
	keys[current] = true
	if err := a.walkLine(ctx, kc, t, current, nil, keys); err != nil {
		return nil, "", err
	}
	return keys, current, nil
}

// walkLine adds to keys the keys current replaced, newest first: each
// predecessor named by the newer key's amicrypt:predecessor tag, naming it
// back by its own amicrypt:successor tag, and whose policy keeps amicrypt's
// tags to amicrypt's role (tagsGuarded). tags are current's tags when the caller has read them (nil:
// read here); each key's tags are read once.
func (a *Activities) walkLine(ctx context.Context, kc KMSAPI, t Target, current string, tags map[string]string, keys map[string]bool) error {
	cur := current
	for range 20 {
		if tags == nil {
			var err error
			if tags, err = keyTags(ctx, kc, cur); err != nil {
				return err
			}
		}
		prev := tags[TagPredecessor]
		if prev == "" || keys[prev] {
			return nil
		}
		ptags, err := keyTags(ctx, kc, prev)
		if IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if ptags[TagSuccessor] != cur {
			return nil
		}
		// Tags anyone allowed kms:TagResource could set on a key whose
		// policy does not keep them to amicrypt's role.
		if ok, _, err := a.tagsGuarded(ctx, kc, t, prev); err != nil || !ok {
			return err
		}
		keys[prev] = true
		cur, tags = prev, ptags
	}
	return nil
}
