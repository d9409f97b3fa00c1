package activities

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// VerifySnapshots checks that every snapshot of the copy is encrypted under
// the dedicated key (DescribeImages does not show keys; DescribeSnapshots
// does). A snapshot that is not is F8, naming the snapshot and its key.
func (a *Activities) verifySnapshots(ctx context.Context, in VerifyInput) (VerifyResult, error) {
	t := in.Target
	ec := a.clients.EC2(targetAccess(t))
	w := where{Account: t.Account, Region: t.Region, Resource: "image " + in.ImageID}
	im, err := describeImage(ctx, ec, in.ImageID)
	if err != nil {
		return VerifyResult{}, diagnose(err, "ec2:DescribeImages", w)
	}
	if im == nil {
		return VerifyResult{}, Diagnosed(Diagnosis{Code: Other,
			Cause: fmt.Sprintf("image %s does not exist in account %s, %s", in.ImageID, t.Account, t.Region),
			Fix:   "The copy is gone; replay the target to copy again."}, nil)
	}
	return verifyImage(ctx, ec, t, im, in.KeyARN)
}

// verifyImage is VerifySnapshots over an image already read.
func verifyImage(ctx context.Context, ec EC2API, t Target, im *ec2types.Image, keyARN string) (VerifyResult, error) {
	imageID := aws.ToString(im.ImageId)
	w := where{Account: t.Account, Region: t.Region, Resource: "image " + imageID}
	snaps := imageSnapshots(*im)
	res := VerifyResult{Snapshots: snaps}
	if len(snaps) == 0 {
		return res, Diagnosed(Diagnosis{Code: F8,
			Cause: fmt.Sprintf("image %s in account %s, %s has no EBS snapshots to verify", imageID, t.Account, t.Region),
			Fix:   "amicrypt copies EBS-backed images only; check the source image."}, nil)
	}
	out, err := ec.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: snaps})
	if err != nil {
		return res, diagnose(err, "ec2:DescribeSnapshots", w)
	}
	var wrong []string
	for _, sn := range out.Snapshots {
		key := aws.ToString(sn.KmsKeyId)
		switch {
		case !aws.ToBool(sn.Encrypted):
			wrong = append(wrong, fmt.Sprintf("snapshot %s is not encrypted", aws.ToString(sn.SnapshotId)))
		case key != keyARN:
			wrong = append(wrong, fmt.Sprintf("snapshot %s is under key %s", aws.ToString(sn.SnapshotId), key))
		}
	}
	if len(out.Snapshots) != len(snaps) {
		wrong = append(wrong, fmt.Sprintf("only %d of the image's %d snapshots could be read", len(out.Snapshots), len(snaps)))
	}
	if len(wrong) > 0 {
		return res, Diagnosed(Diagnosis{
			Code:  F8,
			Cause: fmt.Sprintf("image %s in account %s, %s is not entirely under the dedicated key %s: %s", imageID, t.Account, t.Region, keyARN, strings.Join(wrong, "; ")),
			Fix:   "Copy again with Encrypted=true and KmsKeyId=<the dedicated key> (deregister this image first); do not use images whose snapshots are under another key.",
		}, nil)
	}
	res.SnapshotsEncrypted = true
	return res, nil
}
