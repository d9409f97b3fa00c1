package activities

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

func TestPublishToSSMAndALaunchTemplate(t *testing.T) {
	h := newHarness(t)
	tg := target(payments)
	tg.Publish = Publish{SSMParameter: "/amicrypt/base", LaunchTemplate: "app"}
	key := must[EnsureKeyResult](h, h.acts.ensureKey, ensureKeyIn(tg))
	image := h.copied(tg, key.KeyARN)

	must[struct{}](h, h.acts.MarkImage, MarkImageInput{Target: tg, ImageID: image, Proven: true})
	img, err := h.rootEC2(payments).DescribeImages(h.ctx, &ec2.DescribeImagesInput{ImageIds: []string{image}})
	if err != nil || tagMap(img.Images[0].Tags)[TagProven] != "true" {
		t.Fatalf("proven tag: %v, %v", img, err)
	}

	res := must[PublishResult](h, h.acts.publishImage, PublishInput{Target: tg, ImageID: image})
	if len(res.Published) != 2 || res.Published[0] != "ssm:/amicrypt/base" || !strings.HasPrefix(res.Published[1], "launch-template:lt-") || !strings.HasSuffix(res.Published[1], ":1") {
		t.Fatalf("published %v", res.Published)
	}
	p, err := h.rootSSM(payments).GetParameter(h.ctx, &ssm.GetParameterInput{Name: aws.String("/amicrypt/base")})
	if err != nil || aws.ToString(p.Parameter.Value) != image || aws.ToString(p.Parameter.DataType) != "aws:ec2:image" {
		t.Fatalf("parameter: %+v, %v", p, err)
	}
	again := must[PublishResult](h, h.acts.publishImage, PublishInput{Target: tg, ImageID: image})
	if strings.Join(again.Published, " ") != strings.Join(res.Published, " ") {
		t.Fatalf("publishing again gave %v, want %v", again.Published, res.Published)
	}

	// A newer image becomes version 2, the default.
	other := "ami-0c0000000000a0004"
	next := must[PublishResult](h, h.acts.publishImage, PublishInput{Target: tg, ImageID: other})
	if !strings.HasSuffix(next.Published[1], ":2") {
		t.Fatalf("second image published as %v", next.Published)
	}
	v, err := h.rootEC2(payments).DescribeLaunchTemplateVersions(h.ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: aws.String("app"), Versions: []string{"$Default"}})
	if err != nil || aws.ToString(v.LaunchTemplateVersions[0].LaunchTemplateData.ImageId) != other {
		t.Fatalf("default version: %+v, %v", v, err)
	}

	must[struct{}](h, h.acts.MarkImage, MarkImageInput{Target: tg, ImageID: image, Proven: false, Reason: strings.Repeat("x", 400)})
	img, _ = h.rootEC2(payments).DescribeImages(h.ctx, &ec2.DescribeImagesInput{ImageIds: []string{image}})
	if tags := tagMap(img.Images[0].Tags); tags[TagProven] != "false" || len(tags[TagProvenReason]) != 256 {
		t.Fatalf("unproven tags: %v", tags)
	}
}
