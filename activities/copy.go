package activities

import (
	"context"
	"fmt"
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

	// The copy's name comes from the source's, its family from the
	// configuration or the source's name, its build order from the
	// source's creation date: ShareSource read them in the builder account;
	// otherwise read them as the target sees the source (shared with it by
	// ShareSource) — unless the copy exists already.
	find := []ec2types.Filter{tagFilter(TagSourceImage, src.ImageID), tagFilter(TagKey, in.KeyARN)}
	looked := false
	if src.Name == "" || src.Created == "" {
		looked = true
		if id, err := findImageCopy(ctx, ec, find); err != nil {
			return CopyImageResult{}, diagnose(err, "ec2:DescribeImages", w)
		} else if id != "" {
			log.Info().Str("image", id).Msg("existing copy reused")
			return CopyImageResult{ImageID: id, Reused: true}, nil
		}
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
	}
	base := src.Name
	if base == "" {
		base = src.ImageID
	}
	names := []string{in.Name}
	if in.Name == "" {
		names = []string{copyName(base, src.ImageID, ""), copyName(base, src.ImageID, in.KeyARN)}
	}
	tags := map[string]string{
		TagSourceImage: src.ImageID,
		TagKey:         in.KeyARN,
		TagFamily:      FamilyOf(t, src),
		TagRun:         in.RunID,
	}
	if src.Created != "" {
		tags[TagSourceCreated] = src.Created
	}
	return a.copyImage(ctx, ec, imageCopy{
		From: src.ImageID, FromRegion: src.Region, KeyARN: in.KeyARN, Names: names,
		Token: func(i int, name string) string {
			parts := []string{src.ImageID, t.Account, t.Region, in.KeyARN, in.RunID}
			if i > 0 {
				parts = append(parts, name)
			}
			return Token("copy", parts...)
		},
		Tags:        tags,
		Description: fmt.Sprintf("amicrypt: %s (%s, %s) encrypted for account %s", base, src.ImageID, src.Region, t.Account),
		Find:        find,
		Looked:      looked,
		Is: func(tags map[string]string) bool {
			return tags[TagSourceImage] == src.ImageID && tags[TagKey] == in.KeyARN
		},
		What: "copy of " + src.ImageID,
	}, w)
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
