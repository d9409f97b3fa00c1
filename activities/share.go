package activities

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// shareChunk is the most account ids amicrypt puts in one permission change.
const shareChunk = 100

// ShareSource lets the accounts launch the source image and create volumes
// from its snapshots (step 4), in as few builder calls as possible: one
// ModifyImageAttribute per 100 accounts, and one ModifySnapshotAttribute per
// snapshot and 100 accounts. Adding a permission that exists is harmless. A
// source whose snapshots are under the AWS managed key cannot be shared: F1,
// refused before any change.
func (a *Activities) ShareSource(ctx context.Context, in ShareSourceInput) (ShareSourceResult, error) {
	return a.changeShares(ctx, in, true)
}

// UnshareSource removes what ShareSource added (step 8), with the same
// batching; removing a permission that is not there, or from an image that
// is gone, is harmless. The workflow calls it on success, failure and
// cancellation.
func (a *Activities) UnshareSource(ctx context.Context, in ShareSourceInput) (ShareSourceResult, error) {
	return a.changeShares(ctx, in, false)
}

func (a *Activities) changeShares(ctx context.Context, in ShareSourceInput, add bool) (ShareSourceResult, error) {
	ctx, stop := a.keepAlive(ctx)
	defer stop()
	b, src := in.Builder, in.Source
	acc := builderAccess(b, src.Region)
	ec := a.clients.EC2(acc)
	log := a.logFor(b.Account, src.Region).With().Str("image", src.ImageID).Logger()
	w := where{Account: b.Account, Region: src.Region, Resource: "source image " + src.ImageID}
	var res ShareSourceResult

	accounts := shareAccounts(in.Accounts, b.Account)
	if len(accounts) == 0 {
		return res, nil
	}
	res.Calls++
	out, err := ec.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{src.ImageID}})
	if err != nil || len(out.Images) == 0 {
		if !add && (err == nil || IsNotFound(err)) {
			return res, nil // nothing left to revoke
		}
		if err == nil || IsNotFound(err) {
			return res, Diagnosed(Diagnosis{
				Code:  Other,
				Cause: fmt.Sprintf("source image %s does not exist in builder account %s, %s", src.ImageID, b.Account, src.Region),
				Fix:   "Check the source image id and region (the Packer artifact's region:ami-id), then run again.",
			}, err)
		}
		return res, diagnose(err, "ec2:DescribeImages", w)
	}
	snapshots := imageSnapshots(out.Images[0])
	res.Name = aws.ToString(out.Images[0].Name)

	if add {
		n, err := a.refuseAWSManagedSource(ctx, acc, src, snapshots)
		res.Calls += n
		if err != nil {
			return res, err
		}
		// Volumes first, so a target that sees the image can also copy it.
		if err := a.changeSnapshotShares(ctx, ec, snapshots, accounts, add, &res, w); err != nil {
			return res, err
		}
		if err := changeImageShares(ctx, ec, src.ImageID, accounts, add, &res, w); err != nil {
			return res, err
		}
		log.Info().Int("accounts", len(accounts)).Int("calls", res.Calls).Msg("source shared")
		return res, nil
	}
	// Revoke visibility first.
	if err := changeImageShares(ctx, ec, src.ImageID, accounts, add, &res, w); err != nil {
		return res, err
	}
	if err := a.changeSnapshotShares(ctx, ec, snapshots, accounts, add, &res, w); err != nil {
		return res, err
	}
	log.Info().Int("accounts", len(accounts)).Int("calls", res.Calls).Msg("source unshared")
	return res, nil
}

// shareAccounts is the sorted, de-duplicated list of accounts to share with,
// without the builder itself.
func shareAccounts(accounts []string, builder string) []string {
	out := slices.Clone(accounts)
	slices.Sort(out)
	out = slices.Compact(out)
	return slices.DeleteFunc(out, func(a string) bool { return a == "" || a == builder })
}

func imageSnapshots(im ec2types.Image) []string {
	var out []string
	for _, bd := range im.BlockDeviceMappings {
		if bd.Ebs != nil && aws.ToString(bd.Ebs.SnapshotId) != "" {
			out = append(out, aws.ToString(bd.Ebs.SnapshotId))
		}
	}
	return out
}

func chunks(ids []string) [][]string {
	var out [][]string
	for len(ids) > shareChunk {
		out = append(out, ids[:shareChunk])
		ids = ids[shareChunk:]
	}
	return append(out, ids)
}

func changeImageShares(ctx context.Context, ec EC2API, imageID string, accounts []string, add bool, res *ShareSourceResult, w where) error {
	for _, part := range chunks(accounts) {
		perms := make([]ec2types.LaunchPermission, len(part))
		for i, acct := range part {
			perms[i] = ec2types.LaunchPermission{UserId: aws.String(acct)}
		}
		mods := &ec2types.LaunchPermissionModifications{}
		if add {
			mods.Add = perms
		} else {
			mods.Remove = perms
		}
		res.Calls++
		_, err := ec.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(imageID), LaunchPermission: mods})
		if err != nil && !(IsNotFound(err) && !add) {
			return diagnose(err, "ec2:ModifyImageAttribute", w)
		}
	}
	return nil
}

func (a *Activities) changeSnapshotShares(ctx context.Context, ec EC2API, snapshots, accounts []string, add bool, res *ShareSourceResult, w where) error {
	for _, snap := range snapshots {
		for _, part := range chunks(accounts) {
			perms := make([]ec2types.CreateVolumePermission, len(part))
			for i, acct := range part {
				perms[i] = ec2types.CreateVolumePermission{UserId: aws.String(acct)}
			}
			mods := &ec2types.CreateVolumePermissionModifications{}
			if add {
				mods.Add = perms
			} else {
				mods.Remove = perms
			}
			res.Calls++
			_, err := ec.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{
				SnapshotId: aws.String(snap), Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission, CreateVolumePermission: mods,
			})
			if err != nil && !(IsNotFound(err) && !add) {
				sw := w
				sw.Resource += ", snapshot " + snap
				return diagnose(err, "ec2:ModifySnapshotAttribute", sw)
			}
		}
	}
	return nil
}

// refuseAWSManagedSource is F1 before any change: a snapshot under an AWS
// managed key (aws/ebs) cannot be shared. Where the builder may not describe
// the key, ModifyImageAttribute's own refusal is diagnosed instead. It
// returns the number of calls made.
func (a *Activities) refuseAWSManagedSource(ctx context.Context, acc Access, src Source, snapshots []string) (int, error) {
	if len(snapshots) == 0 {
		return 0, nil
	}
	calls := 1
	out, err := a.clients.EC2(acc).DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: snapshots})
	if err != nil {
		return calls, diagnose(err, "ec2:DescribeSnapshots", where{Account: acc.Account, Region: acc.Region, Resource: "source image " + src.ImageID})
	}
	seen := map[string]*kmstypes.KeyMetadata{}
	for _, sn := range out.Snapshots {
		key := aws.ToString(sn.KmsKeyId)
		if !aws.ToBool(sn.Encrypted) || key == "" {
			continue
		}
		md, ok := seen[key]
		if !ok {
			calls++
			got, err := a.clients.KMS(acc).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(key)})
			if err == nil {
				md = got.KeyMetadata
			}
			seen[key] = md
		}
		if md != nil && md.KeyManager == kmstypes.KeyManagerTypeAws {
			return calls, Diagnosed(Diagnosis{
				Code: F1,
				Cause: fmt.Sprintf("source image %s in builder account %s, %s has snapshot %s encrypted with the AWS managed key %s, which cannot be shared with other accounts",
					src.ImageID, acc.Account, src.Region, aws.ToString(sn.SnapshotId), key),
				Fix: f1Fix(src.Region),
			}, nil)
		}
	}
	return calls, nil
}
