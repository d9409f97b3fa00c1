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

// CopyEncrypted makes the target's private copy of the source, encrypted
// under the target's key (step 5). A copy of the same source under the same
// key that is pending or available (found by its tags) is reused, so a
// replay never copies twice. Otherwise CopyImage runs with a ClientToken
// derived from the source, target, key and run (a retried activity gets the
// same image), a name derived from the source's ("<name>-<source id>"), and
// amicrypt's tags on the image and its snapshots.
//
// The token includes the run so that a replay after a failed copy starts a
// new one (a token stays bound to its failed image); within a run it is stable.
func (a *Activities) CopyEncrypted(ctx context.Context, in CopyImageInput) (CopyImageResult, error) {
	t, src := in.Target, in.Source
	acc := targetAccess(t)
	ec := a.clients.EC2(acc)
	log := a.logFor(t.Account, t.Region).With().Str("source", src.ImageID).Logger()
	w := where{Account: t.Account, Region: t.Region, Resource: "copy of " + src.ImageID}

	if id, err := findCopy(ctx, ec, src.ImageID, in.KeyARN); err != nil {
		return CopyImageResult{}, diagnose(err, "ec2:DescribeImages", w)
	} else if id != "" {
		log.Info().Str("image", id).Msg("existing copy reused")
		return CopyImageResult{ImageID: id, Reused: true}, nil
	}

	// The copy's name comes from the source's, its family from the
	// configuration or the source's name, its build order from the
	// source's creation date: ShareSource read them in the builder account;
	// otherwise read them as the target sees the source (shared with it by
	// ShareSource).
	if src.Name == "" || src.Created == "" {
		srcOut, err := a.clients.EC2(acc.inRegion(src.Region)).DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{src.ImageID}})
		if err != nil && !IsNotFound(err) {
			return CopyImageResult{}, diagnose(err, "ec2:DescribeImages", where{Account: t.Account, Region: src.Region, Resource: "source image " + src.ImageID})
		}
		if err != nil || len(srcOut.Images) == 0 {
			return CopyImageResult{}, Diagnosed(Diagnosis{
				Code:  Other,
				Cause: fmt.Sprintf("source image %s (%s) is not visible to account %s", src.ImageID, src.Region, t.Account),
				Fix:   "The source must be shared with the account first (ShareSource adds its launch permission and its snapshots' create-volume permission); check the source id and region, then replay the target.",
			}, err)
		}
		src.Name = aws.ToString(srcOut.Images[0].Name)
		src.Created = aws.ToString(srcOut.Images[0].CreationDate)
		in.Source = src
	}
	base := src.Name
	if base == "" {
		base = src.ImageID
	}

	names := []string{in.Name}
	if in.Name == "" {
		names = []string{copyName(base, src.ImageID, ""), copyName(base, src.ImageID, in.KeyARN)}
	}
	for i, name := range names {
		parts := []string{src.ImageID, t.Account, t.Region, in.KeyARN, in.RunID}
		if i > 0 {
			parts = append(parts, name)
		}
		id, err := a.copyNamed(ctx, ec, in, base, name, Token("copy", parts...))
		if err == nil {
			log.Info().Str("image", id).Str("name", name).Msg("encrypted copy started")
			return CopyImageResult{ImageID: id}, nil
		}
		if APICode(err) != "InvalidAMIName.Duplicate" {
			return CopyImageResult{}, diagnose(err, "ec2:CopyImage", w)
		}
		// The name is taken: reuse the image if it is this very copy, clear
		// it away if it is a failed copy of ours, else try the next name.
		dup, derr := imageByName(ctx, ec, name)
		if derr != nil {
			return CopyImageResult{}, diagnose(derr, "ec2:DescribeImages", w)
		}
		if dup == nil {
			continue
		}
		tags := tagMap(dup.Tags)
		ours := tags[TagSourceImage] == src.ImageID
		switch {
		case ours && tags[TagKey] == in.KeyARN && (dup.State == ec2types.ImageStatePending || dup.State == ec2types.ImageStateAvailable):
			return CopyImageResult{ImageID: aws.ToString(dup.ImageId), Reused: true}, nil
		case ours && dup.State == ec2types.ImageStateFailed:
			if _, err := ec.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: dup.ImageId, DeleteAssociatedSnapshots: aws.Bool(true)}); err != nil && !IsNotFound(err) {
				return CopyImageResult{}, diagnose(err, "ec2:DeregisterImage", w)
			}
			log.Info().Str("image", aws.ToString(dup.ImageId)).Msg("failed copy deregistered")
			id, err := a.copyNamed(ctx, ec, in, base, name, Token("copy", append(parts, "retry", aws.ToString(dup.ImageId))...))
			if err != nil {
				return CopyImageResult{}, diagnose(err, "ec2:CopyImage", w)
			}
			return CopyImageResult{ImageID: id}, nil
		}
	}
	return CopyImageResult{}, Diagnosed(Diagnosis{
		Code:  Other,
		Cause: fmt.Sprintf("every AMI name amicrypt would give the copy of %s in account %s, %s is taken by another image (%s)", src.ImageID, t.Account, t.Region, strings.Join(names, ", ")),
		Fix:   "Deregister or rename the image holding the name, or give the copy a name of its own, then replay the target.",
	}, nil)
}

func (a *Activities) copyNamed(ctx context.Context, ec EC2API, in CopyImageInput, base, name, token string) (string, error) {
	tags := []ec2types.Tag{
		{Key: aws.String(TagSourceImage), Value: aws.String(in.Source.ImageID)},
		{Key: aws.String(TagKey), Value: aws.String(in.KeyARN)},
		{Key: aws.String(TagFamily), Value: aws.String(truncate(FamilyOf(in.Target, in.Source), 256))},
		{Key: aws.String(TagRun), Value: aws.String(in.RunID)},
		{Key: aws.String("Name"), Value: aws.String(name)},
	}
	if in.Source.Created != "" {
		tags = append(tags, ec2types.Tag{Key: aws.String(TagSourceCreated), Value: aws.String(in.Source.Created)})
	}
	out, err := ec.CopyImage(ctx, &ec2.CopyImageInput{
		Name:          aws.String(name),
		Description:   aws.String(truncate(fmt.Sprintf("amicrypt: %s (%s, %s) encrypted for account %s", base, in.Source.ImageID, in.Source.Region, in.Target.Account), 255)),
		SourceImageId: aws.String(in.Source.ImageID),
		SourceRegion:  aws.String(in.Source.Region),
		Encrypted:     aws.Bool(true),
		KmsKeyId:      aws.String(in.KeyARN),
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

// findCopy finds an own image copied from src under key that is pending or
// available, preferring available, then the newest.
func findCopy(ctx context.Context, ec EC2API, src, keyARN string) (string, error) {
	images, err := describeOwnImages(ctx, ec, []ec2types.Filter{
		{Name: aws.String("tag:" + TagSourceImage), Values: []string{src}},
		{Name: aws.String("tag:" + TagKey), Values: []string{keyARN}},
		{Name: aws.String("state"), Values: []string{string(ec2types.ImageStatePending), string(ec2types.ImageStateAvailable)}},
	})
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

// describeOwnImages lists the caller's images matching filters, every page.
func describeOwnImages(ctx context.Context, ec EC2API, filters []ec2types.Filter) ([]ec2types.Image, error) {
	var out []ec2types.Image
	p := ec2.NewDescribeImagesPaginator(ec, &ec2.DescribeImagesInput{Owners: []string{"self"}, Filters: filters})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Images...)
	}
	return out, nil
}

func imageByName(ctx context.Context, ec EC2API, name string) (*ec2types.Image, error) {
	images, err := describeOwnImages(ctx, ec, []ec2types.Filter{{Name: aws.String("name"), Values: []string{name}}})
	if err != nil || len(images) == 0 {
		return nil, err
	}
	return &images[0], nil
}

// describeImage reads one image; nil when it does not exist.
func describeImage(ctx context.Context, ec EC2API, id string) (*ec2types.Image, error) {
	out, err := ec.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	if IsNotFound(err) {
		return nil, nil
	}
	if err != nil || len(out.Images) == 0 {
		return nil, err
	}
	return &out.Images[0], nil
}

func tagMap(tags []ec2types.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

// copyName derives the copy's AMI name from the source's: "<name>-<source
// id>" (plus a short digest of the key when a second name is needed), within
// AMI name rules (3–128 characters of letters, digits and ()[] ./-_'@).
func copyName(sourceName, srcID, keyARN string) string {
	suffix := "-" + srcID
	if keyARN != "" {
		suffix += "-" + strings.TrimPrefix(Token("k", keyARN), "k-")[:8]
	}
	var b strings.Builder
	for _, r := range sourceName {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("()[] ./-_'@", r):
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	base := b.String()
	if max := 128 - len(suffix); len(base) > max {
		base = base[:max]
	}
	return base + suffix
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// waitAvailable polls the copy until it is available (step 6), with a
// capped backoff while a heartbeat keeps running (copies take minutes to
// hours). A copy that ends failed is diagnosed from its state reason: a key
// problem is F5 or F2 (F6 for another account's key), anything else "other".
// It returns the image as the
// last poll saw it (available), so what follows needs not read it again.
// waitFirst skips the first look (a copy just started is never available).
func (a *Activities) waitAvailable(ctx context.Context, t Target, imageID string, waitFirst bool) (*ec2types.Image, error) {
	ec := a.clients.EC2(targetAccess(t))
	log := a.logFor(t.Account, t.Region).With().Str("image", imageID).Logger()
	w := where{Account: t.Account, Region: t.Region, Resource: "image " + imageID}
	p := a.newPoller(pollCopy)
	for first := true; ; first = false {
		if !first || waitFirst {
			if err := p.wait(ctx, "image "+imageID+" pending"); err != nil {
				return nil, err
			}
		}
		im, err := describeImage(ctx, ec, imageID)
		switch {
		case err != nil:
			if d := diagnose(err, "ec2:DescribeImages", w); d != err {
				return nil, d
			}
			log.Debug().Err(err).Msg("describe failed; polling on")
		case im == nil:
			return nil, Diagnosed(Diagnosis{
				Code:  Other,
				Cause: fmt.Sprintf("image %s in account %s, %s disappeared while amicrypt waited for it", imageID, t.Account, t.Region),
				Fix:   "Someone deregistered the copy; replay the target to copy again.",
			}, nil)
		case im.State == ec2types.ImageStateAvailable:
			log.Info().Msg("copy available")
			return im, nil
		case im.State == ec2types.ImageStatePending:
		default:
			return nil, Diagnosed(a.copyFailure(ctx, t, im), nil)
		}
	}
}

// copyFailure explains a copy that ended failed (or in another final state).
func (a *Activities) copyFailure(ctx context.Context, t Target, im *ec2types.Image) Diagnosis {
	reason := string(im.State)
	if im.StateReason != nil {
		reason = aws.ToString(im.StateReason.Message)
		if code := aws.ToString(im.StateReason.Code); code != "" && !strings.HasPrefix(reason, code) {
			reason = code + ": " + reason
		}
	}
	id := aws.ToString(im.ImageId)
	observed := fmt.Sprintf("copy %s ended %s: %s", id, im.State, reason)
	if strings.Contains(reason, "InvalidKMSKey") || strings.Contains(strings.ToLower(reason), "kms") {
		key := tagMap(im.Tags)[TagKey]
		if key == "" {
			key = t.KeyARN
		}
		if key != "" {
			d := a.keyUseDiagnosis(ctx, t, key, "", observed)
			if d.Code == F2 || d.Code == F3 {
				// The copy is written by EC2 for amicrypt's role, not for the
				// service-linked role; the statements to add cover both.
				d.Cause = fmt.Sprintf("EC2 could not use key %s of account %s in %s to write the copy (%s)", key, t.Account, t.Region, observed)
			}
			return d
		}
	}
	return Diagnosis{
		Code:  Other,
		Cause: fmt.Sprintf("the encrypted copy %s in account %s, %s ended %s: %s", id, t.Account, t.Region, im.State, reason),
		Fix:   "AWS gives the reason above; when it is transient, replay the target (amicrypt deregisters the failed copy and copies again).",
	}
}
