package activities

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// A rotation touches only what the evidence shows is the target's: an image
// that only carries amicrypt's tags is left as it is; an image a launch
// template amicrypt does not own pins is re-encrypted but kept, and so is
// the old key, both named; an unproven image is skipped without stopping
// the rotation of the proven ones, which are re-encrypted and switched.
func TestRotationTouchesOnlyWhatIsProvablyItsOwn(t *testing.T) {
	h := newHarness(t)
	tg := target(payments)
	tg.BootProof.Enabled = false
	tg.Publish.SSMParameter = "/golden/app"
	zero := time.Duration(0)
	tg.RetentionGrace = &zero
	prep0 := must[PrepareTargetResult](h, h.acts.PrepareTarget, PrepareTargetInput{Target: tg, RunID: "run-1", Pipeline: pipelineARN})
	old := prep0.Key.KeyARN

	pinned, _ := h.deliver(tg, old, h.build("app-1733500000"), "run-1")
	newest, _ := h.deliver(tg, old, h.build("app-1733600000"), "run-2")
	// An unproven copy of a third build.
	unprovenSrc := h.build("app-1733700000")
	must[ShareSourceResult](h, h.acts.ShareSource, ShareSourceInput{Builder: Builder{Account: builderAcct}, Source: unprovenSrc, Accounts: []string{payments}})
	uc := must[CopyImageResult](h, h.acts.CopyEncrypted, CopyImageInput{Target: tg, Source: unprovenSrc, KeyARN: old, RunID: "run-3"})
	must[CopiedImage](h, h.acts.WaitAndVerify, WaitAndVerifyInput{Target: tg, ImageID: uc.ImageID, KeyARN: old})
	must[struct{}](h, h.acts.MarkImage, MarkImageInput{Target: tg, ImageID: uc.ImageID, Proven: false, Reason: "boot proof failed: F2"})
	// Another team's image, tagged as if it were amicrypt's.
	forged := "ami-0c0000000000a0002"
	if _, err := h.rootEC2(payments).CreateTags(h.ctx, &ec2.CreateTagsInput{Resources: []string{forged}, Tags: []ec2types.Tag{
		{Key: aws.String(TagSourceImage), Value: aws.String(sourceAMI)}, {Key: aws.String(TagKey), Value: aws.String(old)},
		{Key: aws.String(TagProven), Value: aws.String("true")}, {Key: aws.String(TagFamily), Value: aws.String("app")},
	}}); err != nil {
		t.Fatal(err)
	}
	// A launch template amicrypt does not own, pinned to the older build.
	if _, err := h.rootEC2(payments).CreateLaunchTemplate(h.ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String("team-app"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(pinned), InstanceType: ec2types.InstanceTypeT3Micro},
	}); err != nil {
		t.Fatal(err)
	}

	prep := must[PrepareRotationResult](h, h.acts.PrepareRotation, PrepareRotationInput{Target: tg, RotationID: "rot-1", Reason: ReasonLeaked, Operator: "alice", Pipeline: pipelineARN, NewKey: true})
	found := must[FindKeyedImagesResult](h, h.acts.FindKeyedImages, FindKeyedImagesInput{Target: tg, Keep: prep.NewKey})
	var ids []string
	for _, im := range found.Images {
		ids = append(ids, im.ImageID)
	}
	if strings.Join(ids, " ") != pinned+" "+newest {
		t.Fatalf("to re-encrypt: %v, want the proven %s and %s, oldest build first", ids, pinned, newest)
	}
	if len(found.Skipped) != 1 || !strings.HasPrefix(found.Skipped[0], uc.ImageID+": unproven: boot proof failed") {
		t.Errorf("skipped: %v, want %s named as unproven", found.Skipped, uc.ImageID)
	}
	if len(found.OutOfScope) != 1 || !strings.HasPrefix(found.OutOfScope[0], forged+":") {
		t.Errorf("out of scope: %v, want %s", found.OutOfScope, forged)
	}

	images := map[string]string{}
	for _, im := range found.Images {
		c := must[CopyImageResult](h, h.acts.ReencryptImage, ReencryptImageInput{Target: tg, Image: im, NewKey: prep.NewKey, RotationID: "rot-1"})
		must[CopiedImage](h, h.acts.WaitAndVerify, WaitAndVerifyInput{Target: tg, ImageID: c.ImageID, KeyARN: prep.NewKey, Started: true})
		images[im.ImageID] = c.ImageID
	}
	sw := must[SwitchKeyResult](h, h.acts.SwitchKey, SwitchKeyInput{Target: tg, NewKey: prep.NewKey, OldKeys: []string{old}, Images: images, MoveAlias: true})
	if !sw.AliasMoved || len(sw.Repointed) != 1 {
		t.Fatalf("switch: %+v", sw)
	}
	p, err := h.rootSSM(payments).GetParameter(h.ctx, &ssm.GetParameterInput{Name: aws.String("/golden/app")})
	if err != nil || aws.ToString(p.Parameter.Value) != images[newest] {
		t.Fatalf("parameter: %v, %v; want %s", p, err, images[newest])
	}
	ret := must[RetireOldKeysResult](h, h.acts.RetireOldKeys, RetireOldKeysInput{Target: tg, OldImages: []string{pinned, newest}, NewKey: prep.NewKey, OldKeys: []string{old}, Retire: []string{old}, DeletionWindowDays: 7})
	if len(ret.Images.Deregistered) != 1 || ret.Images.Deregistered[0] != newest {
		t.Errorf("old images retired: %+v, want only %s (grace 0s)", ret.Images, newest)
	}
	if kept := strings.Join(ret.Images.Kept, " "); !strings.Contains(kept, pinned) || !strings.Contains(kept, "launch template team-app version 1") {
		t.Errorf("kept: %v, want %s kept and its launch template named", ret.Images.Kept, pinned)
	}
	fate := ret.Keys[0]
	if fate.State != "Enabled" || !strings.Contains(strings.Join(fate.HeldBy, " "), pinned) || len(fate.RevokedGrants) != 0 {
		t.Errorf("old key: %+v, want enabled with its grants, held by %s's snapshot", fate, pinned)
	}
	st := h.imageStates(payments)
	if st[pinned] != ec2types.ImageStateAvailable || st[forged] != ec2types.ImageStateAvailable || st[uc.ImageID] != ec2types.ImageStateAvailable {
		t.Errorf("states: %v", st)
	}
	md, err := h.rootKMS(payments).DescribeKey(h.ctx, &kms.DescribeKeyInput{KeyId: aws.String(old)})
	if err != nil || md.KeyMetadata.KeyState != "Enabled" {
		t.Errorf("old key: %v, %v", md, err)
	}
}

// A parameter the config names that amicrypt did not make is refused before
// anything is created or copied, and left unchanged.
func TestPublishingRefusesAParameterThatIsNotAmicrypts(t *testing.T) {
	h := newHarness(t)
	tg := target(payments)
	tg.Publish.SSMParameter = "/team/db-password"
	if _, err := h.rootSSM(payments).PutParameter(h.ctx, &ssm.PutParameterInput{Name: aws.String("/team/db-password"), Value: aws.String("hunter2"), Type: "SecureString"}); err != nil {
		t.Fatal(err)
	}
	d := diagnosed(h, h.acts.PrepareTarget, PrepareTargetInput{Target: tg, RunID: "run-1", Pipeline: pipelineARN}, Other)
	if !strings.Contains(d.Cause, "/team/db-password") || !strings.Contains(d.Cause, "not amicrypt's") || !strings.Contains(d.Fix, "publish.ssm_parameter") || d.Step != StepPublish {
		t.Errorf("diagnosis: %+v", d)
	}
	if n := h.sb.Calls(payments, region, "kms:CreateKey"); n != 0 {
		t.Errorf("a key was created (%d) before the refusal", n)
	}
	p, err := h.rootSSM(payments).GetParameter(h.ctx, &ssm.GetParameterInput{Name: aws.String("/team/db-password"), WithDecryption: aws.Bool(true)})
	if err != nil || aws.ToString(p.Parameter.Value) != "hunter2" {
		t.Errorf("parameter: %v, %v", p, err)
	}
	// One written by someone else as an image parameter is refused too.
	if _, err := h.rootSSM(payments).PutParameter(h.ctx, &ssm.PutParameterInput{Name: aws.String("/team/ami"), Value: aws.String("ami-0c0000000000a0001"), Type: "String", DataType: aws.String("aws:ec2:image")}); err != nil {
		t.Fatal(err)
	}
	tg.Publish.SSMParameter = "/team/ami"
	d = diagnosed(h, h.acts.PrepareTarget, PrepareTargetInput{Target: tg, RunID: "run-1", Pipeline: pipelineARN}, Other)
	if !strings.Contains(d.Cause, "last written by arn:aws:iam::222222222222:root") {
		t.Errorf("diagnosis: %+v", d)
	}
}
