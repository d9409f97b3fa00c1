package activities

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// One implementation of an encrypted copy for the pipeline (CopyEncrypted:
// the source under the target's key) and a rotation (ReencryptImage: an
// image of the target under the new key): find the copy made before, else
// CopyImage with a client token, a name of amicrypt's and the copy's tags;
// a name already taken is this very copy (reused), a failed copy of it
// (deregistered, copied again under a fresh token), or someone else's (the
// next name, or a diagnosis).

// imageCopy describes one copy.
type imageCopy struct {
	// From and FromRegion are the image copied.
	From, FromRegion string
	KeyARN           string
	// Names are the AMI names to try, in order.
	Names []string
	// Token is the ClientToken for name (its position i in Names), before
	// any retry.
	Token func(i int, name string) string
	// Tags go on the copy and its snapshots; Description on the copy.
	Tags        map[string]string
	Description string
	// Find are the tag filters that find this very copy (pending or
	// available); Looked: the caller looked already, and found none.
	Find   []ec2types.Filter
	Looked bool
	// Is says whether an image's tags make it this very copy.
	Is func(tags map[string]string) bool
	// What names the copy in diagnoses ("copy of ami-…").
	What string
}

// copyImage makes (or finds) the copy. w names the target in diagnoses.
func (a *Activities) copyImage(ctx context.Context, ec EC2API, c imageCopy, w where) (CopyImageResult, error) {
	log := a.logFor(w.Account, w.Region).With().Str("from", c.From).Str("key", c.KeyARN).Logger()
	if c.Looked {
	} else if id, err := findImageCopy(ctx, ec, c.Find); err != nil {
		return CopyImageResult{}, diagnose(err, "ec2:DescribeImages", w)
	} else if id != "" {
		log.Info().Str("image", id).Msg("existing copy reused")
		return CopyImageResult{ImageID: id, Reused: true}, nil
	}
	for i, name := range c.Names {
		id, err := c.start(ctx, ec, name, c.Token(i, name))
		if err == nil {
			log.Info().Str("image", id).Str("name", name).Msg("encrypted copy started")
			return CopyImageResult{ImageID: id}, nil
		}
		if APICode(err) != "InvalidAMIName.Duplicate" {
			return CopyImageResult{}, diagnose(err, "ec2:CopyImage", w)
		}
		// The name is taken: reuse the image if it is this very copy, clear
		// it away if it is a failed copy of it, else try the next name.
		dup, derr := imageByName(ctx, ec, name)
		if derr != nil {
			return CopyImageResult{}, diagnose(derr, "ec2:DescribeImages", w)
		}
		if dup == nil || !c.Is(tagMap(dup.Tags)) {
			continue
		}
		switch dup.State {
		case ec2types.ImageStatePending, ec2types.ImageStateAvailable:
			return CopyImageResult{ImageID: aws.ToString(dup.ImageId), Reused: true}, nil
		case ec2types.ImageStateFailed:
			if _, err := ec.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: dup.ImageId, DeleteAssociatedSnapshots: aws.Bool(true)}); err != nil && !IsNotFound(err) {
				return CopyImageResult{}, diagnose(err, "ec2:DeregisterImage", w)
			}
			log.Info().Str("image", aws.ToString(dup.ImageId)).Msg("failed copy deregistered")
			id, err := c.start(ctx, ec, name, Token("retry", c.Token(i, name), aws.ToString(dup.ImageId)))
			if err != nil {
				return CopyImageResult{}, diagnose(err, "ec2:CopyImage", w)
			}
			return CopyImageResult{ImageID: id}, nil
		}
	}
	return CopyImageResult{}, Diagnosed(Diagnosis{
		Code:  Other,
		Cause: fmt.Sprintf("every AMI name amicrypt would give the %s in account %s, %s is taken by another image (%s)", c.What, w.Account, w.Region, strings.Join(c.Names, ", ")),
		Fix:   "Deregister or rename the image holding the name, then run again.",
	}, nil)
}

// start is the CopyImage call itself.
func (c imageCopy) start(ctx context.Context, ec EC2API, name, token string) (string, error) {
	m := map[string]string{"Name": name}
	for k, v := range c.Tags {
		m[k] = v
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tags := make([]ec2types.Tag, 0, len(keys))
	for _, k := range keys {
		tags = append(tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(truncate(m[k], 256))})
	}
	out, err := ec.CopyImage(ctx, &ec2.CopyImageInput{
		Name:          aws.String(name),
		Description:   aws.String(truncate(c.Description, 255)),
		SourceImageId: aws.String(c.From),
		SourceRegion:  aws.String(c.FromRegion),
		Encrypted:     aws.Bool(true),
		KmsKeyId:      aws.String(c.KeyARN),
		ClientToken:   aws.String(token),
		TagSpecifications: []ec2types.TagSpecification{
			{ResourceType: ec2types.ResourceTypeImage, Tags: tags},
			{ResourceType: ec2types.ResourceTypeSnapshot, Tags: tags},
		},
	})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.ImageId), nil
}

// findImageCopy finds an own image the filters match that is pending or
// available, preferring available, then the newest.
func findImageCopy(ctx context.Context, ec EC2API, filters []ec2types.Filter) (string, error) {
	filters = append(append([]ec2types.Filter(nil), filters...),
		ec2types.Filter{Name: aws.String("state"), Values: []string{string(ec2types.ImageStatePending), string(ec2types.ImageStateAvailable)}})
	images, err := describeOwnImages(ctx, ec, filters)
	if err != nil || len(images) == 0 {
		return "", err
	}
	sort.SliceStable(images, func(i, j int) bool {
		ai, aj := images[i].State == ec2types.ImageStateAvailable, images[j].State == ec2types.ImageStateAvailable
		if ai != aj {
			return ai
		}
		return aws.ToString(images[i].CreationDate) > aws.ToString(images[j].CreationDate)
	})
	return aws.ToString(images[0].ImageId), nil
}

// tagFilter is the filter of images tagged key=value.
func tagFilter(key, value string) ec2types.Filter {
	return ec2types.Filter{Name: aws.String("tag:" + key), Values: []string{value}}
}
