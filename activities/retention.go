package activities

import (
	"context"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// ApplyRetention keeps the newest Target.Keep amicrypt images of the source's
// family (tag amicrypt:family, the source image's name) in the target region,
// KeepImageID always among them, and deregisters the rest with their
// snapshots (step 10). Keep below 1 turns retention off. Pending images (a
// copy under way) are never touched. The family is read from KeepImageID's
// tags, else from a copy of the source.
func (a *Activities) applyRetention(ctx context.Context, in RetentionInput) (RetentionResult, error) {
	t := in.Target
	var res RetentionResult
	if t.Keep < 1 {
		return res, nil
	}
	ec := a.clients.EC2(targetAccess(t))
	log := a.logFor(t.Account, t.Region)
	w := where{Account: t.Account, Region: t.Region, Resource: "images of " + in.Source.ImageID}

	family, err := a.familyOf(ctx, ec, in)
	if err != nil {
		return res, diagnose(err, "ec2:DescribeImages", w)
	}
	if family == "" {
		return res, nil
	}
	w.Resource = "images of family " + family
	images, err := describeOwnImages(ctx, ec, []ec2types.Filter{{Name: aws.String("tag:" + TagFamily), Values: []string{family}}})
	if err != nil {
		return res, diagnose(err, "ec2:DescribeImages", w)
	}
	sort.SliceStable(images, func(i, j int) bool {
		return aws.ToString(images[i].CreationDate) > aws.ToString(images[j].CreationDate)
	})
	kept := 0
	for _, im := range images {
		if aws.ToString(im.ImageId) == in.KeepImageID {
			kept++
		}
	}
	for _, im := range images {
		id := aws.ToString(im.ImageId)
		if id == in.KeepImageID || im.State == ec2types.ImageStatePending {
			continue
		}
		if kept < t.Keep {
			kept++
			continue
		}
		_, err := ec.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: im.ImageId, DeleteAssociatedSnapshots: aws.Bool(true)})
		if err != nil && !IsNotFound(err) {
			w.Resource = fmt.Sprintf("image %s (family %s)", id, family)
			return res, diagnose(err, "ec2:DeregisterImage", w)
		}
		log.Info().Str("image", id).Str("family", family).Msg("image retired")
		res.Deregistered = append(res.Deregistered, id)
	}
	return res, nil
}

func (a *Activities) familyOf(ctx context.Context, ec EC2API, in RetentionInput) (string, error) {
	if in.Family != "" {
		return in.Family, nil
	}
	if in.KeepImageID != "" {
		im, err := describeImage(ctx, ec, in.KeepImageID)
		if err != nil {
			return "", err
		}
		if im != nil {
			if f := tagMap(im.Tags)[TagFamily]; f != "" {
				return f, nil
			}
		}
	}
	if in.Source.ImageID == "" {
		return "", nil
	}
	images, err := describeOwnImages(ctx, ec, []ec2types.Filter{{Name: aws.String("tag:" + TagSourceImage), Values: []string{in.Source.ImageID}}})
	if err != nil {
		return "", err
	}
	for _, im := range images {
		if f := tagMap(im.Tags)[TagFamily]; f != "" {
			return f, nil
		}
	}
	return "", nil
}
