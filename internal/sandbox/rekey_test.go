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
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// Re-encrypting an account's own image under another key of the same account
// and region, and what the old key's state then does to volumes, launches and
// copies: the EC2 and KMS calls a manual key rotation makes.

const (
	rkAcct  = "222222222222"
	rkImage = "ami-0aaaaaaaaaaaaaab1" // the account's own image, under alias/old
)

// rekeyWorld: the account owns rkImage under alias/old and a second key
// alias/new; both keys carry the aws/ebs-style statement so the Auto Scaling
// service-linked role can use them through EC2. A role "only-new" may use
// alias/new and not alias/old (its IAM policy names the new key's aliases only).
const rekeyWorld = `
regions: [us-east-1, eu-west-1]
accounts:
  - id: "222222222222"
    service_linked_roles: [AWSServiceRoleForAutoScaling]
    images:
      - {id: ami-0aaaaaaaaaaaaaab1, region: us-east-1, name: app-v1, encrypted: alias/old, tags: {family: app}}
    keys:
      - alias: alias/old
        region: us-east-1
        policy: &ebspolicy
          Version: "2012-10-17"
          Statement:
            - {Sid: Enable IAM User Permissions, Effect: Allow, Principal: {AWS: "arn:aws:iam::222222222222:root"}, Action: "kms:*", Resource: "*"}
            - Sid: Allow access through EBS for all principals in the account
              Effect: Allow
              Principal: {AWS: "*"}
              Action: ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"]
              Resource: "*"
              Condition: {StringEquals: {"kms:CallerAccount": "222222222222", "kms:ViaService": "ec2.us-east-1.amazonaws.com"}}
      - {alias: alias/new, region: us-east-1, policy: *ebspolicy}
      - {alias: alias/elsewhere, region: eu-west-1}
    roles:
      - name: only-new
        trust: {Version: "2012-10-17", Statement: [{Effect: Allow, Principal: {AWS: "arn:aws:iam::222222222222:root"}, Action: "sts:AssumeRole"}]}
        policies:
          ec2: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "ec2:*", Resource: "*"}]}
timing: {copy_seconds: 30, instance_seconds: 2, boot_seconds: 5}
faults: {throttle: false}
`

func rkKeyARN(t *testing.T, e *testEnv, alias string) string {
	t.Helper()
	return aws.ToString(must(e.kms(rkAcct, "us-east-1").DescribeKey(e.ctx, &kms.DescribeKeyInput{KeyId: aws.String(alias)})).KeyMetadata.Arn)
}

func rkImageOf(t *testing.T, e *testEnv, id string) ec2types.Image {
	t.Helper()
	return must(e.ec2(rkAcct, "us-east-1").DescribeImages(e.ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})).Images[0]
}

func rkSnapshot(t *testing.T, e *testEnv, id string) ec2types.Snapshot {
	t.Helper()
	out := must(e.ec2(rkAcct, "us-east-1").DescribeSnapshots(e.ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}, SnapshotIds: []string{id}}))
	if len(out.Snapshots) != 1 {
		t.Fatalf("DescribeSnapshots %s: %d snapshots", id, len(out.Snapshots))
	}
	return out.Snapshots[0]
}

func TestRekeyCopyImageUnderAnotherKeyOfTheAccount(t *testing.T) {
	e := newTestEnv(t, rekeyWorld)
	ec := e.ec2(rkAcct, "us-east-1")
	oldARN, newARN := rkKeyARN(t, e, "alias/old"), rkKeyARN(t, e, "alias/new")
	src := rkImageOf(t, e, rkImage)
	srcSnap := aws.ToString(src.BlockDeviceMappings[0].Ebs.SnapshotId)
	if s := rkSnapshot(t, e, srcSnap); !aws.ToBool(s.Encrypted) || aws.ToString(s.KmsKeyId) != oldARN {
		t.Fatalf("source snapshot: %v %s, want %s", aws.ToBool(s.Encrypted), aws.ToString(s.KmsKeyId), oldARN)
	}

	in := &ec2.CopyImageInput{
		SourceImageId: aws.String(rkImage), SourceRegion: aws.String("us-east-1"), Name: aws.String("app-v1-rekeyed"),
		Encrypted: aws.Bool(true), KmsKeyId: aws.String(newARN), ClientToken: aws.String("rekey-app-v1"),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSnapshot, Tags: []ec2types.Tag{{Key: aws.String("key"), Value: aws.String(newARN)}}}},
	}
	out := must(ec.CopyImage(e.ctx, in))
	if again := must(ec.CopyImage(e.ctx, in)); *again.ImageId != *out.ImageId {
		t.Fatalf("same client token: %s then %s", *out.ImageId, *again.ImageId)
	}
	other := *in
	other.KmsKeyId = aws.String("alias/old")
	if _, err := ec.CopyImage(e.ctx, &other); errCode(err) != "IdempotentParameterMismatch" {
		t.Fatalf("same token, other key: want IdempotentParameterMismatch, got %v", err)
	}
	e.clock.Advance(31 * time.Second)
	img := rkImageOf(t, e, *out.ImageId)
	if img.State != ec2types.ImageStateAvailable || aws.ToString(img.SourceImageId) != rkImage {
		t.Fatalf("copy: %s from %s", img.State, aws.ToString(img.SourceImageId))
	}
	newSnap := aws.ToString(img.BlockDeviceMappings[0].Ebs.SnapshotId)
	if s := rkSnapshot(t, e, newSnap); !aws.ToBool(s.Encrypted) || aws.ToString(s.KmsKeyId) != newARN || s.State != ec2types.SnapshotStateCompleted {
		t.Fatalf("copy's snapshot: %v %s %s, want under %s", aws.ToBool(s.Encrypted), aws.ToString(s.KmsKeyId), s.State, newARN)
	}
	if s := rkSnapshot(t, e, srcSnap); aws.ToString(s.KmsKeyId) != oldARN {
		t.Fatalf("the source snapshot moved to %s", aws.ToString(s.KmsKeyId))
	}
	// The token still answers after the copy finished.
	if again := must(ec.CopyImage(e.ctx, in)); *again.ImageId != *out.ImageId {
		t.Fatalf("token after completion: %s, want %s", *again.ImageId, *out.ImageId)
	}

	// A caller who may use the new key but not the old one: EBS cannot read the
	// source, the copy ends failed naming the old key.
	roleCfg := must(e.assumeRole(e.rootCfg(rkAcct, "us-east-1"), "arn:aws:iam::"+rkAcct+":role/only-new", ""))
	// The EBS statement covers every principal of the account; take it away
	// from the old key so only the key policy's root delegation (to IAM) is left.
	must(e.kms(rkAcct, "us-east-1").PutKeyPolicy(e.ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(oldARN), Policy: aws.String(defaultKeyPolicy(rkAcct))}))
	failed := must(ec2.NewFromConfig(roleCfg).CopyImage(e.ctx, &ec2.CopyImageInput{
		SourceImageId: aws.String(rkImage), SourceRegion: aws.String("us-east-1"), Name: aws.String("app-v1-noread"),
		Encrypted: aws.Bool(true), KmsKeyId: aws.String("alias/new"),
	}))
	e.clock.Advance(31 * time.Second)
	fi := rkImageOf(t, e, *failed.ImageId)
	if fi.State != ec2types.ImageStateFailed || fi.StateReason == nil || aws.ToString(fi.StateReason.Code) != "Client.InvalidKMSKey.AccessDenied" ||
		!strings.Contains(aws.ToString(fi.StateReason.Message), oldARN) {
		t.Fatalf("copy without the old key: %s %+v", fi.State, fi.StateReason)
	}
	must(e.kms(rkAcct, "us-east-1").PutKeyPolicy(e.ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(oldARN), Policy: aws.String(rkPolicyOf(t, e, newARN))}))

	// The old key disabled: a copy from it fails with the key's state, and its
	// snapshots are gone.
	must(e.kms(rkAcct, "us-east-1").DisableKey(e.ctx, &kms.DisableKeyInput{KeyId: aws.String(oldARN)}))
	off := must(ec.CopyImage(e.ctx, &ec2.CopyImageInput{
		SourceImageId: aws.String(rkImage), SourceRegion: aws.String("us-east-1"), Name: aws.String("app-v1-off"),
		Encrypted: aws.Bool(true), KmsKeyId: aws.String(newARN), ClientToken: aws.String("rekey-off"),
	}))
	pending := rkImageOf(t, e, *off.ImageId)
	if pending.State != ec2types.ImageStatePending {
		t.Fatalf("copy from a disabled key right after the call: %s (the sandbox fails it when the copy time is over)", pending.State)
	}
	e.clock.Advance(31 * time.Second)
	oi := rkImageOf(t, e, *off.ImageId)
	if oi.State != ec2types.ImageStateFailed || oi.StateReason == nil || aws.ToString(oi.StateReason.Code) != "Client.InvalidKMSKey.InvalidState" ||
		!strings.Contains(aws.ToString(oi.StateReason.Message), oldARN+" is disabled") {
		t.Fatalf("copy from a disabled key: %s %+v", oi.State, oi.StateReason)
	}
	if _, err := ec.DescribeSnapshots(e.ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}, SnapshotIds: []string{aws.ToString(pending.BlockDeviceMappings[0].Ebs.SnapshotId)}}); errCode(err) != "InvalidSnapshot.NotFound" {
		t.Fatalf("snapshot of a failed copy: want InvalidSnapshot.NotFound, got %v", err)
	}
	// A KmsKeyId of another region is refused at once.
	if _, err := ec.CopyImage(e.ctx, &ec2.CopyImageInput{SourceImageId: aws.String(rkImage), SourceRegion: aws.String("us-east-1"), Name: aws.String("app-v1-west"),
		Encrypted: aws.Bool(true), KmsKeyId: aws.String(rkKeyARNIn(t, e, "eu-west-1", "alias/elsewhere"))}); errCode(err) != "InvalidParameterValue" {
		t.Fatalf("key of another region: want InvalidParameterValue, got %v", err)
	}

	// Retiring the old image: its snapshot is in use while it is registered;
	// deregistering with DeleteAssociatedSnapshots deletes it.
	if _, err := ec.DeleteSnapshot(e.ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(srcSnap)}); errCode(err) != "InvalidSnapshot.InUse" ||
		!strings.Contains(err.Error(), rkImage) {
		t.Fatalf("deleting the old image's snapshot: want InvalidSnapshot.InUse naming %s, got %v", rkImage, err)
	}
	dr := must(ec.DeregisterImage(e.ctx, &ec2.DeregisterImageInput{ImageId: aws.String(rkImage), DeleteAssociatedSnapshots: aws.Bool(true)}))
	if len(dr.DeleteSnapshotResults) != 1 || aws.ToString(dr.DeleteSnapshotResults[0].SnapshotId) != srcSnap || dr.DeleteSnapshotResults[0].ReturnCode != ec2types.SnapshotReturnCodesSuccess {
		t.Fatalf("DeleteSnapshotResults: %+v", dr.DeleteSnapshotResults)
	}
	if _, err := ec.DescribeSnapshots(e.ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}, SnapshotIds: []string{srcSnap}}); errCode(err) != "InvalidSnapshot.NotFound" {
		t.Fatalf("old snapshot after deregistering: want InvalidSnapshot.NotFound, got %v", err)
	}
	left := must(ec.DescribeSnapshots(e.ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}}))
	if len(left.Snapshots) != 1 || aws.ToString(left.Snapshots[0].SnapshotId) != newSnap {
		t.Fatalf("snapshots left: %+v", left.Snapshots)
	}
	if _, err := ec.DescribeSnapshots(e.ctx, &ec2.DescribeSnapshotsInput{Filters: []ec2types.Filter{{Name: aws.String("kms-key-id"), Values: []string{newARN}}}}); errCode(err) != "InvalidParameterValue" {
		t.Fatalf("kms-key-id is not a DescribeSnapshots filter: want InvalidParameterValue, got %v", err)
	}
}

func rkKeyARNIn(t *testing.T, e *testEnv, region, alias string) string {
	t.Helper()
	return aws.ToString(must(e.kms(rkAcct, region).DescribeKey(e.ctx, &kms.DescribeKeyInput{KeyId: aws.String(alias)})).KeyMetadata.Arn)
}

func rkPolicyOf(t *testing.T, e *testEnv, keyID string) string {
	t.Helper()
	return aws.ToString(must(e.kms(rkAcct, "us-east-1").GetKeyPolicy(e.ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(keyID)})).Policy)
}

// rkVolumes returns the volumes attached to an instance.
func rkVolumes(t *testing.T, e *testEnv, instanceID string) []ec2types.Volume {
	t.Helper()
	return must(e.ec2(rkAcct, "us-east-1").DescribeVolumes(e.ctx, &ec2.DescribeVolumesInput{Filters: []ec2types.Filter{{Name: aws.String("attachment.instance-id"), Values: []string{instanceID}}}})).Volumes
}

// rkCreateGroup makes a group of desired capacity 1 on a launch template.
func rkCreateGroup(t *testing.T, e *testEnv, name, ltID string) {
	t.Helper()
	must(e.autoscaling(rkAcct, "us-east-1").CreateAutoScalingGroup(e.ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(name),
		LaunchTemplate:       &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(ltID), Version: aws.String("$Latest")},
		MinSize:              aws.Int32(0), MaxSize: aws.Int32(1), DesiredCapacity: aws.Int32(1), AvailabilityZones: []string{"us-east-1a"},
	}))
}

// rkGroupInstance returns the id of the group's one InService instance.
func rkGroupInstance(t *testing.T, e *testEnv, name string) string {
	t.Helper()
	g := must(e.autoscaling(rkAcct, "us-east-1").DescribeAutoScalingGroups(e.ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}}))
	gi := g.AutoScalingGroups[0].Instances
	if len(gi) != 1 || gi[0].LifecycleState != astypes.LifecycleStateInService {
		t.Fatalf("group %s instances: %+v", name, gi)
	}
	return aws.ToString(gi[0].InstanceId)
}

func TestRekeyVolumesAreUnderTheImageKeyUnlessTheMappingNamesOne(t *testing.T) {
	e := newTestEnv(t, rekeyWorld)
	ec := e.ec2(rkAcct, "us-east-1")
	oldARN, newARN := rkKeyARN(t, e, "alias/old"), rkKeyARN(t, e, "alias/new")

	plain := must(ec.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(rkImage), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeVolume, Tags: []ec2types.Tag{{Key: aws.String("role"), Value: aws.String("web")}}}}})).Instances[0]
	named := must(ec.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(rkImage), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		BlockDeviceMappings: []ec2types.BlockDeviceMapping{
			{DeviceName: aws.String("/dev/xvda"), Ebs: &ec2types.EbsBlockDevice{Encrypted: aws.Bool(true), KmsKeyId: aws.String("alias/new")}},
			{DeviceName: aws.String("/dev/sdf"), Ebs: &ec2types.EbsBlockDevice{VolumeSize: aws.Int32(4), DeleteOnTermination: aws.Bool(false)}},
		}})).Instances[0]
	e.clock.Advance(3 * time.Second)

	vols := rkVolumes(t, e, *plain.InstanceId)
	if len(vols) != 1 || !aws.ToBool(vols[0].Encrypted) || aws.ToString(vols[0].KmsKeyId) != oldARN || vols[0].State != ec2types.VolumeStateInUse ||
		aws.ToString(vols[0].Attachments[0].Device) != "/dev/xvda" {
		t.Fatalf("volume of an instance of the image under the old key: %+v", vols)
	}
	byID := must(ec.DescribeVolumes(e.ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{aws.ToString(vols[0].VolumeId)}})).Volumes
	if len(byID) != 1 || aws.ToString(byID[0].KmsKeyId) != oldARN {
		t.Fatalf("by volume id: %+v", byID)
	}
	vols = rkVolumes(t, e, *named.InstanceId)
	if len(vols) != 2 {
		t.Fatalf("volumes of the instance with mappings: %+v", vols)
	}
	for _, v := range vols {
		dev := aws.ToString(v.Attachments[0].Device)
		switch {
		case dev == "/dev/xvda" && aws.ToString(v.KmsKeyId) == newARN && aws.ToBool(v.Encrypted):
		case dev == "/dev/sdf" && !aws.ToBool(v.Encrypted) && v.KmsKeyId == nil && !aws.ToBool(v.Attachments[0].DeleteOnTermination):
		default:
			t.Fatalf("volume %s: encrypted %v key %s", dev, aws.ToBool(v.Encrypted), aws.ToString(v.KmsKeyId))
		}
	}
	// The filters AWS documents.
	for _, c := range []struct {
		name, value string
		want        int
	}{{"encrypted", "true", 2}, {"encrypted", "false", 1}, {"attachment.device", "/dev/xvda", 2}, {"status", "in-use", 3},
		{"attachment.delete-on-termination", "false", 1}, {"attachment.status", "attached", 3}, {"availability-zone-id", "use1-az*", 3}} {
		got := must(ec.DescribeVolumes(e.ctx, &ec2.DescribeVolumesInput{Filters: []ec2types.Filter{{Name: aws.String(c.name), Values: []string{c.value}}}})).Volumes
		if len(got) != c.want {
			t.Fatalf("filter %s=%s: %d volumes, want %d", c.name, c.value, len(got), c.want)
		}
	}
	if got := must(ec.DescribeVolumes(e.ctx, &ec2.DescribeVolumesInput{Filters: []ec2types.Filter{{Name: aws.String("tag:role"), Values: []string{"web"}}}})).Volumes; len(got) != 1 || aws.ToString(got[0].KmsKeyId) != oldARN {
		t.Fatalf("tag filter: %+v", got)
	}
	if _, err := ec.DescribeVolumes(e.ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{"volume-1"}}); errCode(err) != "InvalidVolumeID.Malformed" {
		t.Fatalf("malformed volume id: want InvalidVolumeID.Malformed, got %v", err)
	}

	// An Auto Scaling group launching the image without naming a key: the old key.
	lt := must(ec.CreateLaunchTemplate(e.ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("app"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(rkImage), InstanceType: ec2types.InstanceTypeT3Micro}}))
	rkCreateGroup(t, e, "app", aws.ToString(lt.LaunchTemplate.LaunchTemplateId))
	e.clock.Advance(6 * time.Second)
	groupInstance := rkGroupInstance(t, e, "app")
	if vols := rkVolumes(t, e, groupInstance); len(vols) != 1 || aws.ToString(vols[0].KmsKeyId) != oldARN {
		t.Fatalf("group instance's volumes: %+v", vols)
	}

	// Terminating deletes the DeleteOnTermination volumes and detaches the others.
	must(ec.TerminateInstances(e.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{*plain.InstanceId, *named.InstanceId}}))
	e.clock.Advance(3 * time.Second)
	left := must(ec.DescribeVolumes(e.ctx, &ec2.DescribeVolumesInput{Filters: []ec2types.Filter{{Name: aws.String("status"), Values: []string{"available"}}}})).Volumes
	if len(left) != 1 || len(left[0].Attachments) != 0 || aws.ToInt32(left[0].Size) != 4 {
		t.Fatalf("volumes left available after termination: %+v", left)
	}
	if vols := rkVolumes(t, e, *plain.InstanceId); len(vols) != 0 {
		t.Fatalf("volumes still attached to a terminated instance: %+v", vols)
	}
	if all := must(ec.DescribeVolumes(e.ctx, &ec2.DescribeVolumesInput{})).Volumes; len(all) != 2 {
		t.Fatalf("volumes after termination: want the group instance's and the kept one, got %d", len(all))
	}
}

func TestRekeyDisabledKeyKeepsRunningInstancesAndFailsNewLaunches(t *testing.T) {
	e := newTestEnv(t, rekeyWorld)
	ec := e.ec2(rkAcct, "us-east-1")
	oldARN := rkKeyARN(t, e, "alias/old")
	running := must(ec.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(rkImage), MinCount: aws.Int32(2), MaxCount: aws.Int32(2)})).Instances
	e.clock.Advance(3 * time.Second)

	must(e.kms(rkAcct, "us-east-1").DisableKey(e.ctx, &kms.DisableKeyInput{KeyId: aws.String(oldARN)}))
	e.clock.Advance(time.Hour)
	// Attached volumes keep working: the instances stay running.
	for _, in := range running {
		if got := lgInstance(t, e, rkAcct, *in.InstanceId); got.State.Name != ec2types.InstanceStateNameRunning {
			t.Fatalf("running instance after its key was disabled: %s", got.State.Name)
		}
		if vols := rkVolumes(t, e, *in.InstanceId); len(vols) != 1 || vols[0].State != ec2types.VolumeStateInUse || aws.ToString(vols[0].KmsKeyId) != oldARN {
			t.Fatalf("volume after its key was disabled: %+v", vols)
		}
	}
	// Stopped and started again, it does not come back.
	stopped := *running[0].InstanceId
	must(ec.StopInstances(e.ctx, &ec2.StopInstancesInput{InstanceIds: []string{stopped}}))
	e.clock.Advance(3 * time.Second)
	must(ec.StartInstances(e.ctx, &ec2.StartInstancesInput{InstanceIds: []string{stopped}}))
	if got := lgInstance(t, e, rkAcct, stopped); got.State.Name != ec2types.InstanceStateNamePending {
		t.Fatalf("right after StartInstances: %s", got.State.Name)
	}
	e.clock.Advance(3 * time.Second)
	if got := lgInstance(t, e, rkAcct, stopped); got.State.Name != ec2types.InstanceStateNameStopped || got.StateReason == nil ||
		aws.ToString(got.StateReason.Code) != keyStateFailCode || aws.ToString(got.StateReason.Message) != keyStateFailMsg {
		t.Fatalf("start with a disabled key: %s %+v", got.State.Name, got.StateReason)
	}
	if vols := rkVolumes(t, e, stopped); len(vols) != 1 {
		t.Fatalf("the stopped instance's volume: %+v", vols)
	}
	// A new launch terminates with the key's state.
	fresh := must(ec.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(rkImage), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})).Instances[0]
	e.clock.Advance(3 * time.Second)
	if got := lgInstance(t, e, rkAcct, *fresh.InstanceId); got.State.Name != ec2types.InstanceStateNameTerminated || aws.ToString(got.StateReason.Code) != keyStateFailCode {
		t.Fatalf("launch with a disabled key: %s %+v", got.State.Name, got.StateReason)
	}
	if vols := rkVolumes(t, e, *fresh.InstanceId); len(vols) != 0 {
		t.Fatalf("a failed launch left volumes: %+v", vols)
	}
	// So does a group's launch; its activity fails with EC2's reason.
	lt := must(ec.CreateLaunchTemplate(e.ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("app"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(rkImage), InstanceType: ec2types.InstanceTypeT3Micro}}))
	rkCreateGroup(t, e, "app", aws.ToString(lt.LaunchTemplate.LaunchTemplateId))
	e.clock.Advance(6 * time.Second)
	lgExpectFailed(t, e, "app", keyStateFailMsg)

	// Enabled again, the stopped instance starts.
	must(e.kms(rkAcct, "us-east-1").EnableKey(e.ctx, &kms.EnableKeyInput{KeyId: aws.String(oldARN)}))
	must(ec.StartInstances(e.ctx, &ec2.StartInstancesInput{InstanceIds: []string{stopped}}))
	e.clock.Advance(3 * time.Second)
	if got := lgInstance(t, e, rkAcct, stopped); got.State.Name != ec2types.InstanceStateNameRunning {
		t.Fatalf("start after EnableKey: %s %+v", got.State.Name, got.StateReason)
	}
}
