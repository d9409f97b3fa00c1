package sandbox

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

const plainAMI = "ami-0aaaaaaaaaaaaaaa1" // builder's unencrypted image in imagesWorld

func describeOwn(t *testing.T, e *testEnv, c *ec2.Client, in *ec2.DescribeImagesInput) map[string]ec2types.Image {
	t.Helper()
	out := map[string]ec2types.Image{}
	for _, im := range must(c.DescribeImages(e.ctx, in)).Images {
		out[aws.ToString(im.ImageId)] = im
	}
	return out
}

// TestDisableImage: a disabled AMI is made private, is hidden from listings
// unless IncludeDisabled, cannot be launched, copied or shared, and keeps its
// snapshots in use; EnableImage makes it available again without giving the
// accounts it was shared with their access back.
func TestDisableImage(t *testing.T) {
	e := newTestEnv(t, imagesWorld)
	b, tgt := e.ec2(builder, "us-east-1"), e.ec2(target, "us-east-1")
	if err := share(t, e, plainAMI, target); err != nil {
		t.Fatal(err)
	}
	must(b.ModifyImageAttribute(e.ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(plainAMI),
		LaunchPermission: &ec2types.LaunchPermissionModifications{Add: []ec2types.LaunchPermission{{Group: ec2types.PermissionGroupAll}}}}))
	if _, err := tgt.DisableImage(e.ctx, &ec2.DisableImageInput{ImageId: aws.String(plainAMI)}); errCode(err) != "AuthFailure" {
		t.Fatalf("DisableImage by an account it is shared with: want AuthFailure, got %v", err)
	}
	if out := must(b.DisableImage(e.ctx, &ec2.DisableImageInput{ImageId: aws.String(plainAMI)})); !aws.ToBool(out.Return) {
		t.Fatalf("DisableImage: %+v", out)
	}
	if out := must(b.DisableImage(e.ctx, &ec2.DisableImageInput{ImageId: aws.String(plainAMI)})); !aws.ToBool(out.Return) {
		t.Fatalf("DisableImage of a disabled image: %+v", out)
	}

	// Hidden from the owner's listings by default, shown with IncludeDisabled or by id.
	if _, ok := describeOwn(t, e, b, &ec2.DescribeImagesInput{Owners: []string{"self"}})[plainAMI]; ok {
		t.Fatal("a disabled image is listed without IncludeDisabled")
	}
	im, ok := describeOwn(t, e, b, &ec2.DescribeImagesInput{Owners: []string{"self"}, IncludeDisabled: aws.Bool(true),
		Filters: []ec2types.Filter{{Name: aws.String("state"), Values: []string{"disabled"}}}})[plainAMI]
	if !ok || im.State != ec2types.ImageStateDisabled || aws.ToBool(im.Public) {
		t.Fatalf("IncludeDisabled with state=disabled: %v %+v", ok, im)
	}
	if im := describeOwn(t, e, b, &ec2.DescribeImagesInput{ImageIds: []string{plainAMI}})[plainAMI]; im.State != ec2types.ImageStateDisabled {
		t.Fatalf("a disabled image named by id: %+v", im)
	}
	// Made private: the other account no longer sees it, and its permissions are gone.
	if _, err := tgt.DescribeImages(e.ctx, &ec2.DescribeImagesInput{ImageIds: []string{plainAMI}}); errCode(err) != "InvalidAMIID.NotFound" {
		t.Fatalf("the account it was shared with: want InvalidAMIID.NotFound, got %v", err)
	}
	attr := must(b.DescribeImageAttribute(e.ctx, &ec2.DescribeImageAttributeInput{ImageId: aws.String(plainAMI), Attribute: ec2types.ImageAttributeNameLaunchPermission}))
	if len(attr.LaunchPermissions) != 0 {
		t.Fatalf("launch permissions of a disabled image: %+v", attr.LaunchPermissions)
	}
	// Not launched, copied nor shared.
	if _, err := b.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(plainAMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}); errCode(err) != "InvalidAMIID.Unavailable" {
		t.Fatalf("RunInstances of a disabled image: want InvalidAMIID.Unavailable, got %v", err)
	}
	if _, err := e.ec2(builder, "eu-west-1").CopyImage(e.ctx, &ec2.CopyImageInput{SourceImageId: aws.String(plainAMI), SourceRegion: aws.String("us-east-1"), Name: aws.String("copy")}); errCode(err) != "IncorrectState" {
		t.Fatalf("CopyImage of a disabled image: want IncorrectState, got %v", err)
	}
	if _, err := b.ModifyImageAttribute(e.ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(plainAMI),
		LaunchPermission: &ec2types.LaunchPermissionModifications{Add: []ec2types.LaunchPermission{{UserId: aws.String(target)}}}}); errCode(err) != "IncorrectState" {
		t.Fatalf("sharing a disabled image: want IncorrectState, got %v", err)
	}
	snap := im.BlockDeviceMappings[0].Ebs.SnapshotId
	if _, err := b.DeleteSnapshot(e.ctx, &ec2.DeleteSnapshotInput{SnapshotId: snap}); errCode(err) != "InvalidSnapshot.InUse" {
		t.Fatalf("deleting a disabled image's snapshot: want InvalidSnapshot.InUse, got %v", err)
	}

	if out := must(b.EnableImage(e.ctx, &ec2.EnableImageInput{ImageId: aws.String(plainAMI)})); !aws.ToBool(out.Return) {
		t.Fatalf("EnableImage: %+v", out)
	}
	if im := describeOwn(t, e, b, &ec2.DescribeImagesInput{Owners: []string{"self"}})[plainAMI]; im.State != ec2types.ImageStateAvailable {
		t.Fatalf("after EnableImage: %+v", im)
	}
	if _, err := tgt.DescribeImages(e.ctx, &ec2.DescribeImagesInput{ImageIds: []string{plainAMI}}); errCode(err) != "InvalidAMIID.NotFound" {
		t.Fatalf("after EnableImage the other account regained access: %v", err)
	}
	must(b.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(plainAMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}))
}

// TestAutoScalingCannotLaunchADisabledImage: the group's launch fails with
// the error RunInstances gives.
func TestAutoScalingCannotLaunchADisabledImage(t *testing.T) {
	e := newTestEnv(t, lgWorld("", "", ""))
	c := e.ec2(lgAcct, lgRegion)
	must(c.DisableImage(e.ctx, &ec2.DisableImageInput{ImageId: aws.String(lgPlain)}))
	lgCreateGroup(t, e, "off", lgGroupOpts{image: lgPlain})
	acts := lgActivities(t, e, "off")
	if len(acts) == 0 || acts[0].StatusCode != astypes.ScalingActivityStatusCodeFailed || !strings.Contains(aws.ToString(acts[0].StatusMessage), "disabled") {
		t.Fatalf("group launch of a disabled image: %+v", acts)
	}
	must(c.EnableImage(e.ctx, &ec2.EnableImageInput{ImageId: aws.String(lgPlain)}))
	e.clock.Advance(5 * time.Minute)
	must(e.autoscaling(lgAcct, lgRegion).DescribeAutoScalingGroups(e.ctx, &autoscaling.DescribeAutoScalingGroupsInput{}))
	e.clock.Advance(10 * time.Second)
	if acts := lgActivities(t, e, "off"); acts[0].StatusCode != astypes.ScalingActivityStatusCodeSuccessful {
		t.Fatalf("group launch after EnableImage: %+v", acts[0])
	}
}

// TestDeregistrationProtection: a protected image cannot be deregistered; with
// the cooldown it stays protected for 24 hours after protection is disabled.
func TestDeregistrationProtection(t *testing.T) {
	e := newTestEnv(t, imagesWorld)
	b := e.ec2(builder, "us-east-1")
	const other = "ami-0aaaaaaaaaaaaaaa3"
	protection := func(id string) string {
		t.Helper()
		return aws.ToString(describeOwn(t, e, b, &ec2.DescribeImagesInput{ImageIds: []string{id}})[id].DeregistrationProtection)
	}
	if p := protection(plainAMI); p != "disabled" {
		t.Fatalf("an image never protected: %q", p)
	}
	if out := must(b.EnableImageDeregistrationProtection(e.ctx, &ec2.EnableImageDeregistrationProtectionInput{ImageId: aws.String(plainAMI)})); aws.ToString(out.Return) != "enabled-without-cooldown" {
		t.Fatalf("EnableImageDeregistrationProtection: %q", aws.ToString(out.Return))
	}
	if p := protection(plainAMI); p != "enabled-without-cooldown" {
		t.Fatalf("protected image: %q", p)
	}
	if _, err := b.DeregisterImage(e.ctx, &ec2.DeregisterImageInput{ImageId: aws.String(plainAMI)}); errCode(err) != "OperationNotPermitted" {
		t.Fatalf("DeregisterImage of a protected image: want OperationNotPermitted, got %v", err)
	}
	if out := must(b.DisableImageDeregistrationProtection(e.ctx, &ec2.DisableImageDeregistrationProtectionInput{ImageId: aws.String(plainAMI)})); aws.ToString(out.Return) != "disabled" {
		t.Fatalf("DisableImageDeregistrationProtection: %q", aws.ToString(out.Return))
	}
	must(b.DeregisterImage(e.ctx, &ec2.DeregisterImageInput{ImageId: aws.String(plainAMI)}))

	// With the cooldown.
	if out := must(b.EnableImageDeregistrationProtection(e.ctx, &ec2.EnableImageDeregistrationProtectionInput{ImageId: aws.String(other), WithCooldown: aws.Bool(true)})); aws.ToString(out.Return) != "enabled-with-cooldown" {
		t.Fatalf("EnableImageDeregistrationProtection WithCooldown: %q", aws.ToString(out.Return))
	}
	until := e.clock.Now().Add(24 * time.Hour).UTC().Format("2006-01-02T15:04:05.000Z")
	if out := must(b.DisableImageDeregistrationProtection(e.ctx, &ec2.DisableImageDeregistrationProtectionInput{ImageId: aws.String(other)})); aws.ToString(out.Return) != "disabled after "+until {
		t.Fatalf("disabling a protection with cooldown: %q", aws.ToString(out.Return))
	}
	if p := protection(other); p != "disabled after "+until {
		t.Fatalf("during the cooldown: %q", p)
	}
	e.clock.Advance(23 * time.Hour)
	if _, err := b.DeregisterImage(e.ctx, &ec2.DeregisterImageInput{ImageId: aws.String(other)}); errCode(err) != "OperationNotPermitted" {
		t.Fatalf("DeregisterImage during the cooldown: want OperationNotPermitted, got %v", err)
	}
	e.clock.Advance(time.Hour)
	if p := protection(other); p != "disabled" {
		t.Fatalf("after the cooldown: %q", p)
	}
	must(b.DeregisterImage(e.ctx, &ec2.DeregisterImageInput{ImageId: aws.String(other)}))
}

// TestSourceImageAndLastLaunchedTime: copies and images of instances name the
// AMI they come from; LastLaunchedTime reports a launch 24 hours after it.
func TestSourceImageAndLastLaunchedTime(t *testing.T) {
	e := newTestEnv(t, strings.Replace(imagesWorld, "timing: {copy_seconds: 30, boot_seconds: 5}", "timing: {copy_seconds: 30, boot_seconds: 5, instance_seconds: 2, create_image_seconds: 5}", 1))
	b := e.ec2(builder, "us-east-1")
	cp := must(e.ec2(builder, "eu-west-1").CopyImage(e.ctx, &ec2.CopyImageInput{SourceImageId: aws.String(plainAMI), SourceRegion: aws.String("us-east-1"), Name: aws.String("copy")}))
	im := describeOwn(t, e, e.ec2(builder, "eu-west-1"), &ec2.DescribeImagesInput{ImageIds: []string{*cp.ImageId}})[*cp.ImageId]
	if aws.ToString(im.SourceImageId) != plainAMI || aws.ToString(im.SourceImageRegion) != "us-east-1" {
		t.Fatalf("copy's source: %s in %s", aws.ToString(im.SourceImageId), aws.ToString(im.SourceImageRegion))
	}

	if im := describeOwn(t, e, b, &ec2.DescribeImagesInput{ImageIds: []string{plainAMI}})[plainAMI]; im.LastLaunchedTime != nil {
		t.Fatalf("never launched, LastLaunchedTime %s", aws.ToString(im.LastLaunchedTime))
	}
	launched := e.clock.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	run := must(b.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(plainAMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}))
	e.clock.Advance(23 * time.Hour)
	if im := describeOwn(t, e, b, &ec2.DescribeImagesInput{ImageIds: []string{plainAMI}})[plainAMI]; im.LastLaunchedTime != nil {
		t.Fatalf("launched 23 hours ago, LastLaunchedTime already %s", aws.ToString(im.LastLaunchedTime))
	}
	must(b.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(plainAMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}))
	e.clock.Advance(time.Hour)
	if im := describeOwn(t, e, b, &ec2.DescribeImagesInput{ImageIds: []string{plainAMI}})[plainAMI]; aws.ToString(im.LastLaunchedTime) != launched {
		t.Fatalf("LastLaunchedTime 24 hours after the first launch: %q, want %q", aws.ToString(im.LastLaunchedTime), launched)
	}

	out := must(b.CreateImage(e.ctx, &ec2.CreateImageInput{InstanceId: run.Instances[0].InstanceId, Name: aws.String("imaged")}))
	im = describeOwn(t, e, b, &ec2.DescribeImagesInput{ImageIds: []string{*out.ImageId}})[*out.ImageId]
	if aws.ToString(im.SourceImageId) != plainAMI || aws.ToString(im.SourceImageRegion) != "us-east-1" || aws.ToString(im.SourceInstanceId) != aws.ToString(run.Instances[0].InstanceId) {
		t.Fatalf("CreateImage's source: %s in %s from %s", aws.ToString(im.SourceImageId), aws.ToString(im.SourceImageRegion), aws.ToString(im.SourceInstanceId))
	}
}

// TestDescribeLaunchConfigurationsIsEmpty: launch configurations are not
// modelled, so none exists, by name or not.
func TestDescribeLaunchConfigurationsIsEmpty(t *testing.T) {
	e := newTestEnv(t, lgWorld("", "", ""))
	as := e.autoscaling(lgAcct, lgRegion)
	out := must(as.DescribeLaunchConfigurations(e.ctx, &autoscaling.DescribeLaunchConfigurationsInput{LaunchConfigurationNames: []string{"old"}}))
	if out.LaunchConfigurations == nil || len(out.LaunchConfigurations) != 0 || out.NextToken != nil {
		t.Fatalf("DescribeLaunchConfigurations: %+v", out)
	}
	if _, err := as.DescribeLaunchConfigurations(e.ctx, &autoscaling.DescribeLaunchConfigurationsInput{MaxRecords: aws.Int32(101)}); errCode(err) != "ValidationError" {
		t.Fatalf("MaxRecords 101: %v", err)
	}
}
