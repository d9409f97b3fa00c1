package activities

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// TagProvenReason holds why an image is unproven (at most 256 characters).
const TagProvenReason = "amicrypt:proven-reason"

// MarkImage tags the copy proven (amicrypt:proven=true) or not (false, with
// the reason, truncated to a tag value's 256 characters).
func (a *Activities) MarkImage(ctx context.Context, in MarkImageInput) error {
	t := in.Target
	ec := a.clients.EC2(targetAccess(t))
	w := where{Account: t.Account, Region: t.Region, Resource: "image " + in.ImageID}
	tags := []ec2types.Tag{{Key: aws.String(TagProven), Value: aws.String(strconv.FormatBool(in.Proven))}}
	if in.Reason != "" {
		tags = append(tags, ec2types.Tag{Key: aws.String(TagProvenReason), Value: aws.String(truncate(in.Reason, 256))})
	}
	if _, err := ec.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{in.ImageID}, Tags: tags}); err != nil {
		return diagnose(err, "ec2:CreateTags", w)
	}
	if in.Proven && in.Reason == "" && !in.NoStaleReason {
		// A reason left by an earlier, failed proof no longer holds.
		if _, err := ec.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{in.ImageID}, Tags: []ec2types.Tag{{Key: aws.String(TagProvenReason)}}}); err != nil {
			return diagnose(err, "ec2:DeleteTags", w)
		}
	}
	return nil
}

// PublishImage announces a proven copy (step 9): the SSM parameter
// (String, data type aws:ec2:image) and/or a new default version of the
// launch template (created when missing) pointing at the image. Publishing
// what is already published changes nothing. It returns "ssm:<name>" and
// "launch-template:<id>:<version>".
func (a *Activities) publishImage(ctx context.Context, in PublishInput) (PublishResult, error) {
	t := in.Target
	acc := targetAccess(t)
	log := a.logFor(t.Account, t.Region).With().Str("image", in.ImageID).Logger()
	var res PublishResult

	if name := t.Publish.SSMParameter; name != "" {
		w := where{Account: t.Account, Region: t.Region, Resource: "parameter " + name}
		sc := a.clients.SSM(acc)
		cur, err := sc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name)})
		if err != nil && !IsNotFound(err) {
			return res, diagnose(err, "ssm:GetParameter", w)
		}
		if err != nil || cur.Parameter == nil || aws.ToString(cur.Parameter.Value) != in.ImageID {
			if err := putImageParameter(ctx, sc, name, in.ImageID); err != nil {
				return res, diagnose(err, "ssm:PutParameter", w)
			}
			log.Info().Str("parameter", name).Msg("published to SSM")
		}
		res.Published = append(res.Published, "ssm:"+name)
	}

	if name := t.Publish.LaunchTemplate; name != "" {
		id, version, err := a.publishLaunchTemplate(ctx, a.clients.EC2(acc), name, in.ImageID)
		if err != nil {
			return res, diagnose(err, "ec2:CreateLaunchTemplateVersion", where{Account: t.Account, Region: t.Region, Resource: "launch template " + name})
		}
		log.Info().Str("template", id).Int64("version", version).Msg("published to the launch template")
		res.Published = append(res.Published, fmt.Sprintf("launch-template:%s:%d", id, version))
	}
	return res, nil
}

// putImageParameter sets an SSM parameter (String, data type aws:ec2:image)
// to a proven image.
func putImageParameter(ctx context.Context, sc SSMAPI, name, imageID string) error {
	_, err := sc.PutParameter(ctx, &ssm.PutParameterInput{
		Name:        aws.String(name),
		Value:       aws.String(imageID),
		Type:        ssmtypes.ParameterTypeString,
		DataType:    aws.String("aws:ec2:image"),
		Overwrite:   aws.Bool(true),
		Description: aws.String("amicrypt: the newest proven encrypted image"),
	})
	return err
}

// publishLaunchTemplate makes a version of the template pointing at the image
// (its other settings copied from the default version) and makes it the
// default; a default version already on the image is kept as it is.
func (a *Activities) publishLaunchTemplate(ctx context.Context, ec EC2API, name, imageID string) (string, int64, error) {
	data := &ec2types.RequestLaunchTemplateData{ImageId: aws.String(imageID)}
	cur, err := ec.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: aws.String(name), Versions: []string{"$Default"}})
	if IsNotFound(err) {
		out, err := ec.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
			LaunchTemplateName: aws.String(name),
			VersionDescription: aws.String("amicrypt: " + imageID),
			LaunchTemplateData: data,
		})
		if err == nil {
			return aws.ToString(out.LaunchTemplate.LaunchTemplateId), aws.ToInt64(out.LaunchTemplate.DefaultVersionNumber), nil
		}
		if APICode(err) != "InvalidLaunchTemplateName.AlreadyExistsException" {
			return "", 0, err
		}
		cur, err = ec.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: aws.String(name), Versions: []string{"$Default"}})
		if err != nil {
			return "", 0, err
		}
	} else if err != nil {
		return "", 0, err
	}
	if len(cur.LaunchTemplateVersions) > 0 {
		v := cur.LaunchTemplateVersions[0]
		if v.LaunchTemplateData != nil && aws.ToString(v.LaunchTemplateData.ImageId) == imageID {
			return aws.ToString(v.LaunchTemplateId), aws.ToInt64(v.VersionNumber), nil
		}
	}
	source := "$Default"
	if len(cur.LaunchTemplateVersions) > 0 {
		source = strconv.FormatInt(aws.ToInt64(cur.LaunchTemplateVersions[0].VersionNumber), 10)
	}
	out, err := ec.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{
		LaunchTemplateName: aws.String(name),
		SourceVersion:      aws.String(source),
		VersionDescription: aws.String("amicrypt: " + imageID),
		LaunchTemplateData: data,
		// A retry after a lost answer, or of the activity before the new
		// version became the default, gets the same version, not another.
		ClientToken: aws.String(Token("lt-publish", name, source, imageID)),
	})
	if err != nil {
		return "", 0, err
	}
	v := out.LaunchTemplateVersion
	version := aws.ToInt64(v.VersionNumber)
	if _, err := ec.ModifyLaunchTemplate(ctx, &ec2.ModifyLaunchTemplateInput{
		LaunchTemplateId: v.LaunchTemplateId,
		DefaultVersion:   aws.String(strconv.FormatInt(version, 10)),
	}); err != nil {
		return "", 0, err
	}
	return aws.ToString(v.LaunchTemplateId), version, nil
}
