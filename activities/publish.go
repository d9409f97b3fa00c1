package activities

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

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

// publishImage announces a proven copy (step 9): the SSM parameter
// (String, data type aws:ec2:image) and/or a new default version of the
// launch template (created when missing) pointing at the image. It writes
// only pointers that are amicrypt's (publishOwner), and never moves one
// backwards: a pointer already on a newer build of the family (by the
// source's creation date) stays, and the result says so. Publishing what is
// already published changes nothing. It returns "ssm:<name>" and
// "launch-template:<id>:<version>", and what each pointer named before.
func (a *Activities) publishImage(ctx context.Context, in PublishInput) (PublishResult, error) {
	t := in.Target
	acc := targetAccess(t)
	log := a.logFor(t.Account, t.Region).With().Str("image", in.ImageID).Logger()
	var res PublishResult
	assumed, err := a.assumeTarget(ctx, AssumeTargetInput{Target: t})
	if err != nil {
		return res, err
	}
	owner, err := a.publishOwner(ctx, t, assumed.Arn, in.Family)
	if err != nil {
		return res, err
	}
	ec := a.clients.EC2(acc)

	if name := t.Publish.SSMParameter; name != "" {
		w := where{Account: t.Account, Region: t.Region, Resource: "parameter " + name}
		cur := owner.parameterValue
		switch newer, err := a.newerBuild(ctx, ec, cur, in); {
		case err != nil:
			return res, diagnose(err, "ec2:DescribeImages", w)
		case newer != "":
			res.Kept = append(res.Kept, fmt.Sprintf("ssm:%s stays on %s: %s", name, cur, newer))
		case cur != in.ImageID:
			if err := putImageParameter(ctx, a.clients.SSM(acc), name, in.ImageID, !owner.parameterExists); err != nil {
				return res, diagnose(err, "ssm:PutParameter", w)
			}
			log.Info().Str("parameter", name).Str("previous", cur).Msg("published to SSM")
			if cur != "" {
				res.Previous = append(res.Previous, fmt.Sprintf("ssm:%s was %s", name, cur))
			}
			res.Published = append(res.Published, "ssm:"+name)
		default:
			res.Published = append(res.Published, "ssm:"+name)
		}
	}

	if name := t.Publish.LaunchTemplate; name != "" {
		w := where{Account: t.Account, Region: t.Region, Resource: "launch template " + name}
		cur := owner.templateImage
		switch newer, err := a.newerBuild(ctx, ec, cur, in); {
		case err != nil:
			return res, diagnose(err, "ec2:DescribeImages", w)
		case newer != "":
			res.Kept = append(res.Kept, fmt.Sprintf("launch template %s stays on %s: %s", name, cur, newer))
		default:
			id, version, err := a.publishLaunchTemplate(ctx, ec, name, in.ImageID, owner.templateDefault)
			if err != nil {
				return res, diagnose(err, "ec2:CreateLaunchTemplateVersion", w)
			}
			log.Info().Str("template", id).Int64("version", version).Str("previous", cur).Msg("published to the launch template")
			if cur != "" && cur != in.ImageID {
				res.Previous = append(res.Previous, fmt.Sprintf("launch template %s was %s", name, cur))
			}
			res.Published = append(res.Published, fmt.Sprintf("launch-template:%s:%d", id, version))
		}
	}
	return res, nil
}

// newerBuild says why the image a pointer names (cur) is a newer build of
// the family than in.ImageID ("" when it is not, or is not of the family,
// or is gone): a replay of an old run never moves a pointer backwards.
func (a *Activities) newerBuild(ctx context.Context, ec EC2API, cur string, in PublishInput) (string, error) {
	if cur == "" || cur == in.ImageID || !strings.HasPrefix(cur, "ami-") {
		return "", nil
	}
	out, err := ec.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{cur, in.ImageID}, IncludeDisabled: aws.Bool(true)})
	if IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	order := map[string]string{}
	family := map[string]string{}
	for _, im := range out.Images {
		tags := tagMap(im.Tags)
		o := tags[TagSourceCreated]
		if o == "" {
			o = aws.ToString(im.CreationDate)
		}
		order[aws.ToString(im.ImageId)] = o
		family[aws.ToString(im.ImageId)] = tags[TagFamily]
	}
	f := in.Family
	if f == "" {
		f = FamilyFromName(family[in.ImageID])
	}
	if !sameFamily(family[cur], f) || order[cur] <= order[in.ImageID] {
		return "", nil
	}
	return fmt.Sprintf("a newer build of family %s (built %s; this one %s)", f, order[cur], order[in.ImageID]), nil
}

// errNotAmicrypts is the cause of publishOwner's refusal of a pointer that
// is not amicrypt's (as against a failure to look).
var errNotAmicrypts = errors.New("the publish target is not amicrypt's")

// publishTargets is what the target's publish pointers name now, once
// publishOwner found them amicrypt's (or absent).
type publishTargets struct {
	parameterExists bool
	parameterValue  string // the image the parameter names
	templateImage   string // the image the template's default version names
	// templateDefault is the template's default version (nil: no template).
	templateDefault *ec2types.LaunchTemplateVersion
}

// publishOwner checks, before anything is written, that the pointers the
// target publishes to are amicrypt's to write: absent (amicrypt creates
// them), or made by amicrypt — an SSM parameter of data type aws:ec2:image
// last written by the role amicrypt acts as here (SSM records the writer:
// LastModifiedUser, which no one can set), naming an image of this family
// or none left; a launch template created by that role (EC2's CreatedBy).
// Anything else is refused with a diagnosis naming it and the fix. caller
// is amicrypt's identity in the target (sts:GetCallerIdentity).
func (a *Activities) publishOwner(ctx context.Context, t Target, caller, family string) (publishTargets, error) {
	var pt publishTargets
	acc := targetAccess(t)
	if name := t.Publish.SSMParameter; name != "" {
		w := where{Account: t.Account, Region: t.Region, Resource: "parameter " + name}
		sc := a.clients.SSM(acc)
		cur, err := sc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name)})
		switch {
		case IsNotFound(err):
		case err != nil:
			return pt, diagnose(err, "ssm:GetParameter", w)
		case cur.Parameter != nil:
			pt.parameterExists = true
			pt.parameterValue = aws.ToString(cur.Parameter.Value)
			meta, err := sc.DescribeParameters(ctx, &ssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{
				{Key: aws.String("Name"), Option: aws.String("Equals"), Values: []string{name}},
			}})
			if err != nil {
				return pt, diagnose(err, "ssm:DescribeParameters", w)
			}
			var writer, dataType string
			if meta != nil && len(meta.Parameters) > 0 {
				writer, dataType = aws.ToString(meta.Parameters[0].LastModifiedUser), aws.ToString(meta.Parameters[0].DataType)
			}
			if dataType == "" {
				dataType = aws.ToString(cur.Parameter.DataType)
			}
			why := ""
			switch {
			case dataType != "aws:ec2:image":
				why = fmt.Sprintf("it is of data type %q, not aws:ec2:image", dataType)
			case !sameRole(writer, caller):
				why = fmt.Sprintf("it was last written by %s, not by amicrypt (%s)", orUnknown(writer), caller)
			default:
				if other, err := a.otherFamily(ctx, t, pt.parameterValue, family); err != nil {
					return pt, diagnose(err, "ec2:DescribeImages", w)
				} else if other != "" {
					why = fmt.Sprintf("it names %s, %s", pt.parameterValue, other)
				}
			}
			if why != "" {
				return pt, atStep(StepPublish, Diagnosed(Diagnosis{
					Code:  Other,
					Cause: fmt.Sprintf("the SSM parameter %s in account %s, %s exists and is not amicrypt's: %s; amicrypt does not overwrite it", name, t.Account, t.Region, why),
					Fix:   fmt.Sprintf("Name a parameter of amicrypt's own in publish.ssm_parameter (amicrypt creates it), or delete %s if nothing reads it (aws ssm delete-parameter --name %s --region %s), then run again.", name, name, t.Region),
				}, errNotAmicrypts))
			}
		}
	}
	if name := t.Publish.LaunchTemplate; name != "" {
		w := where{Account: t.Account, Region: t.Region, Resource: "launch template " + name}
		ec := a.clients.EC2(acc)
		out, err := ec.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateNames: []string{name}})
		switch {
		case IsNotFound(err):
		case err != nil:
			return pt, diagnose(err, "ec2:DescribeLaunchTemplates", w)
		case len(out.LaunchTemplates) > 0:
			lt := out.LaunchTemplates[0]
			if by := aws.ToString(lt.CreatedBy); !sameRole(by, caller) {
				return pt, atStep(StepPublish, Diagnosed(Diagnosis{
					Code:  Other,
					Cause: fmt.Sprintf("the launch template %s (%s) in account %s, %s was created by %s, not by amicrypt (%s); amicrypt does not add versions to it nor change its default", name, aws.ToString(lt.LaunchTemplateId), t.Account, t.Region, orUnknown(by), caller),
					Fix:   "Name a launch template of amicrypt's own in publish.launch_template (amicrypt creates it), and point the template you own at its image through the SSM parameter amicrypt publishes (image id resolve:ssm:NAME), then run again.",
				}, errNotAmicrypts))
			}
			v, err := ec.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: lt.LaunchTemplateId, Versions: []string{"$Default"}})
			if err != nil && !IsNotFound(err) {
				return pt, diagnose(err, "ec2:DescribeLaunchTemplateVersions", w)
			}
			if err == nil && len(v.LaunchTemplateVersions) > 0 && v.LaunchTemplateVersions[0].LaunchTemplateData != nil {
				pt.templateDefault = &v.LaunchTemplateVersions[0]
				pt.templateImage = aws.ToString(pt.templateDefault.LaunchTemplateData.ImageId)
			}
		}
	}
	return pt, nil
}

// otherFamily says why image (a pointer's value) is not of the family: ""
// when it is, or is gone, or family is unknown.
func (a *Activities) otherFamily(ctx context.Context, t Target, image, family string) (string, error) {
	if family == "" || !strings.HasPrefix(image, "ami-") {
		return "", nil
	}
	im, err := describeImage(ctx, a.clients.EC2(targetAccess(t)), image)
	if err != nil || im == nil {
		return "", err
	}
	if f := tagMap(im.Tags)[TagFamily]; !sameFamily(f, family) {
		return fmt.Sprintf("an image of family %q, not %q", orUnknown(f), family), nil
	}
	return "", nil
}

// sameRole says whether two principal ARNs are the same role (any session
// of it: arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION) or the same
// principal.
func sameRole(a, b string) bool {
	role := func(arn string) string {
		if i := strings.Index(arn, ":assumed-role/"); i >= 0 {
			acct := arn[:i]
			rest := arn[i+len(":assumed-role/"):]
			if j := strings.Index(rest, "/"); j >= 0 {
				rest = rest[:j]
			}
			return acct[strings.LastIndex(acct, ":")+1:] + "/" + rest
		}
		return arn
	}
	return a != "" && role(a) == role(b)
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown principal"
	}
	return s
}

// putImageParameter sets an SSM parameter (String, data type aws:ec2:image)
// to a proven image; a new one is created tagged as amicrypt's (SSM takes
// tags only at creation, not with Overwrite).
func putImageParameter(ctx context.Context, sc SSMAPI, name, imageID string, create bool) error {
	in := &ssm.PutParameterInput{
		Name:        aws.String(name),
		Value:       aws.String(imageID),
		Type:        ssmtypes.ParameterTypeString,
		DataType:    aws.String("aws:ec2:image"),
		Overwrite:   aws.Bool(!create),
		Description: aws.String("amicrypt: the newest proven encrypted image"),
	}
	if create {
		in.Tags = []ssmtypes.Tag{{Key: aws.String(TagManagedKey), Value: aws.String("true")}}
	}
	_, err := sc.PutParameter(ctx, in)
	if create && APICode(err) == "ParameterAlreadyExists" {
		// Made meanwhile (a retry after a lost answer): overwrite.
		in.Tags, in.Overwrite = nil, aws.Bool(true)
		_, err = sc.PutParameter(ctx, in)
	}
	return err
}

// publishLaunchTemplate makes a version of the template pointing at the
// image (its other settings copied from the default version, cur, as
// publishOwner read it) and makes it the default; a default version already
// on the image is kept as it is. With no template (cur nil) it creates one,
// tagged as amicrypt's.
func (a *Activities) publishLaunchTemplate(ctx context.Context, ec EC2API, name, imageID string, cur *ec2types.LaunchTemplateVersion) (string, int64, error) {
	data := &ec2types.RequestLaunchTemplateData{ImageId: aws.String(imageID)}
	if cur == nil {
		out, err := ec.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
			LaunchTemplateName: aws.String(name),
			VersionDescription: aws.String("amicrypt: " + imageID),
			LaunchTemplateData: data,
			TagSpecifications: []ec2types.TagSpecification{{
				ResourceType: ec2types.ResourceTypeLaunchTemplate,
				Tags:         []ec2types.Tag{{Key: aws.String(TagManagedKey), Value: aws.String("true")}},
			}},
		})
		if err == nil {
			return aws.ToString(out.LaunchTemplate.LaunchTemplateId), aws.ToInt64(out.LaunchTemplate.DefaultVersionNumber), nil
		}
		if APICode(err) != "InvalidLaunchTemplateName.AlreadyExistsException" {
			return "", 0, err
		}
		// Made meanwhile (a retry after a lost answer): its default version.
		got, err := ec.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: aws.String(name), Versions: []string{"$Default"}})
		if err != nil {
			return "", 0, err
		}
		if len(got.LaunchTemplateVersions) > 0 {
			cur = &got.LaunchTemplateVersions[0]
		}
	}
	source := "$Default"
	if cur != nil {
		if cur.LaunchTemplateData != nil && aws.ToString(cur.LaunchTemplateData.ImageId) == imageID {
			return aws.ToString(cur.LaunchTemplateId), aws.ToInt64(cur.VersionNumber), nil
		}
		source = strconv.FormatInt(aws.ToInt64(cur.VersionNumber), 10)
	}
	return newDefaultVersion(ctx, ec, &ec2.CreateLaunchTemplateVersionInput{
		LaunchTemplateName: aws.String(name),
		SourceVersion:      aws.String(source),
		VersionDescription: aws.String("amicrypt: " + imageID),
		LaunchTemplateData: data,
		ClientToken:        aws.String(Token("lt-publish", name, source, imageID)),
	})
}

// newDefaultVersion is the one way amicrypt moves a launch template it owns
// (publish, rotation repoint): a new version from the given one's settings
// (SourceVersion) with what changes, made the default. The ClientToken makes
// a retry after a lost answer, or of an activity stopped before the new
// version became the default, get the same version, not another. It returns
// the template's id and the new version.
func newDefaultVersion(ctx context.Context, ec EC2API, in *ec2.CreateLaunchTemplateVersionInput) (string, int64, error) {
	out, err := ec.CreateLaunchTemplateVersion(ctx, in)
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
