package sandbox

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// imagesWorld: a builder with an unencrypted image, an image under the AWS-managed
// key (F1) and one under its own key; a target with a key whose policy is the
// default one (root: delegates to IAM) and a role without KMS permissions.
const imagesWorld = `
regions: [us-east-1, eu-west-1]
accounts:
  - id: "111111111111"
    name: builder
    images:
      - {id: ami-0aaaaaaaaaaaaaaa1, region: us-east-1, name: base-plain, encrypted: false, tags: {family: base}}
      - {id: ami-0aaaaaaaaaaaaaaa2, region: us-east-1, name: base-awsmanaged, encrypted: aws-managed}
      - {id: ami-0aaaaaaaaaaaaaaa3, region: us-east-1, name: base-ownkey, encrypted: alias/packer}
    keys:
      - {alias: alias/packer, region: us-east-1}
  - id: "222222222222"
    name: target
    service_linked_roles: [AWSServiceRoleForAutoScaling]
    roles:
      - name: no-kms
        trust: {Version: "2012-10-17", Statement: [{Effect: Allow, Principal: {AWS: "arn:aws:iam::222222222222:root"}, Action: "sts:AssumeRole"}]}
        policies: [{Version: "2012-10-17", Statement: [{Effect: Allow, Action: "ec2:*", Resource: "*"}]}]
    keys:
      - {alias: alias/dedicated, region: us-east-1}
      - {alias: alias/dedicated, region: eu-west-1}
      - {alias: alias/off, region: us-east-1, state: Disabled}
timing: {copy_seconds: 30, boot_seconds: 5}
faults: {throttle: false}
`

const (
	builder = "111111111111"
	target  = "222222222222"
)

func share(t *testing.T, e *testEnv, imageID, account string) error {
	t.Helper()
	b := e.ec2(builder, "us-east-1")
	if _, err := b.ModifyImageAttribute(e.ctx, &ec2.ModifyImageAttributeInput{
		ImageId:          aws.String(imageID),
		LaunchPermission: &ec2types.LaunchPermissionModifications{Add: []ec2types.LaunchPermission{{UserId: aws.String(account)}}},
	}); err != nil {
		return err
	}
	img := must(b.DescribeImages(e.ctx, &ec2.DescribeImagesInput{ImageIds: []string{imageID}}))
	for _, bdm := range img.Images[0].BlockDeviceMappings {
		if _, err := b.ModifySnapshotAttribute(e.ctx, &ec2.ModifySnapshotAttributeInput{
			SnapshotId:             bdm.Ebs.SnapshotId,
			Attribute:              ec2types.SnapshotAttributeNameCreateVolumePermission,
			CreateVolumePermission: &ec2types.CreateVolumePermissionModifications{Add: []ec2types.CreateVolumePermission{{UserId: aws.String(account)}}},
		}); err != nil {
			return err
		}
	}
	return nil
}

func TestSharedImageBecomesVisibleOnlyToTheAccountItIsSharedWith(t *testing.T) {
	e := newTestEnv(t, imagesWorld)
	tgt := e.ec2(target, "us-east-1")
	_, err := tgt.DescribeImages(e.ctx, &ec2.DescribeImagesInput{ImageIds: []string{"ami-0aaaaaaaaaaaaaaa1"}})
	if errCode(err) != "InvalidAMIID.NotFound" {
		t.Fatalf("before sharing: want InvalidAMIID.NotFound, got %v", err)
	}
	if err := share(t, e, "ami-0aaaaaaaaaaaaaaa1", target); err != nil {
		t.Fatal(err)
	}
	out := must(tgt.DescribeImages(e.ctx, &ec2.DescribeImagesInput{ExecutableUsers: []string{"self"}}))
	if len(out.Images) != 1 || *out.Images[0].ImageId != "ami-0aaaaaaaaaaaaaaa1" || *out.Images[0].OwnerId != builder {
		t.Fatalf("shared images seen by target: %+v", out.Images)
	}
	attr := must(e.ec2(builder, "us-east-1").DescribeImageAttribute(e.ctx, &ec2.DescribeImageAttributeInput{ImageId: aws.String("ami-0aaaaaaaaaaaaaaa1"), Attribute: ec2types.ImageAttributeNameLaunchPermission}))
	if len(attr.LaunchPermissions) != 1 || *attr.LaunchPermissions[0].UserId != target {
		t.Fatalf("launch permissions: %+v", attr.LaunchPermissions)
	}
	// Another region does not see it.
	_, err = e.ec2(target, "eu-west-1").DescribeImages(e.ctx, &ec2.DescribeImagesInput{ImageIds: []string{"ami-0aaaaaaaaaaaaaaa1"}})
	if errCode(err) != "InvalidAMIID.NotFound" {
		t.Fatalf("other region: want InvalidAMIID.NotFound, got %v", err)
	}
	// Only the owner may change sharing.
	_, err = tgt.ModifyImageAttribute(e.ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String("ami-0aaaaaaaaaaaaaaa1"), LaunchPermission: &ec2types.LaunchPermissionModifications{Remove: []ec2types.LaunchPermission{{UserId: aws.String(target)}}}})
	if errCode(err) != "AuthFailure" {
		t.Fatalf("non-owner unshare: want AuthFailure, got %v", err)
	}
}

func TestF1SharingAnImageUnderTheAWSManagedKeyIsRefused(t *testing.T) {
	e := newTestEnv(t, imagesWorld)
	err := share(t, e, "ami-0aaaaaaaaaaaaaaa2", target)
	if errCode(err) != "InvalidParameter" || !strings.Contains(err.Error(), "Snapshots encrypted with the AWS Managed CMK can't be shared") {
		t.Fatalf("want InvalidParameter about the AWS managed CMK, got %v", err)
	}
	snaps := must(e.ec2(builder, "us-east-1").DescribeSnapshots(e.ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}, Filters: []ec2types.Filter{{Name: aws.String("encrypted"), Values: []string{"true"}}}}))
	if len(snaps.Snapshots) != 2 {
		t.Fatalf("want the aws-managed and own-key snapshots, got %d", len(snaps.Snapshots))
	}
}

func TestF1CopyingAnEncryptedImageUnencryptedIsRefused(t *testing.T) {
	e := newTestEnv(t, imagesWorld)
	_, err := e.ec2(builder, "eu-west-1").CopyImage(e.ctx, &ec2.CopyImageInput{
		SourceImageId: aws.String("ami-0aaaaaaaaaaaaaaa3"), SourceRegion: aws.String("us-east-1"), Name: aws.String("copy"), Encrypted: aws.Bool(false),
	})
	if errCode(err) != "InvalidRequest" || !strings.Contains(err.Error(), "Creating an unencrypted copy from an encrypted snapshot is not supported") {
		t.Fatalf("want InvalidRequest, got %v", err)
	}
}

func TestEncryptedCopyIntoTheTargetUnderItsDedicatedKey(t *testing.T) {
	e := newTestEnv(t, imagesWorld)
	tgt := e.ec2(target, "us-east-1")
	in := &ec2.CopyImageInput{
		SourceImageId: aws.String("ami-0aaaaaaaaaaaaaaa1"), SourceRegion: aws.String("us-east-1"), Name: aws.String("base-encrypted"),
		Encrypted: aws.Bool(true), KmsKeyId: aws.String("alias/dedicated"), ClientToken: aws.String("tok-1"),
		TagSpecifications: []ec2types.TagSpecification{
			{ResourceType: ec2types.ResourceTypeImage, Tags: []ec2types.Tag{{Key: aws.String("source"), Value: aws.String("ami-0aaaaaaaaaaaaaaa1")}}},
			{ResourceType: ec2types.ResourceTypeSnapshot, Tags: []ec2types.Tag{{Key: aws.String("source"), Value: aws.String("ami-0aaaaaaaaaaaaaaa1")}}},
		},
	}
	// Not shared yet: the source does not exist for the target.
	if _, err := tgt.CopyImage(e.ctx, in); errCode(err) != "InvalidAMIID.NotFound" {
		t.Fatalf("copy before share: want InvalidAMIID.NotFound, got %v", err)
	}
	// Launch permission without create-volume permission is not enough.
	must(e.ec2(builder, "us-east-1").ModifyImageAttribute(e.ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String("ami-0aaaaaaaaaaaaaaa1"), OperationType: ec2types.OperationTypeAdd, UserIds: []string{target}, Attribute: aws.String("launchPermission")}))
	if _, err := tgt.CopyImage(e.ctx, in); errCode(err) != "AuthFailure" {
		t.Fatalf("copy without createVolumePermission: want AuthFailure, got %v", err)
	}
	if err := share(t, e, "ami-0aaaaaaaaaaaaaaa1", target); err != nil {
		t.Fatal(err)
	}
	out := must(tgt.CopyImage(e.ctx, in))
	again := must(tgt.CopyImage(e.ctx, in))
	if *again.ImageId != *out.ImageId {
		t.Fatalf("same client token made a second copy: %s then %s", *out.ImageId, *again.ImageId)
	}
	changed := *in
	changed.Name = aws.String("other-name")
	if _, err := tgt.CopyImage(e.ctx, &changed); errCode(err) != "IdempotentParameterMismatch" {
		t.Fatalf("same token, other parameters: want IdempotentParameterMismatch, got %v", err)
	}
	img := must(tgt.DescribeImages(e.ctx, &ec2.DescribeImagesInput{ImageIds: []string{*out.ImageId}})).Images[0]
	if img.State != ec2types.ImageStatePending {
		t.Fatalf("fresh copy: want pending, got %s", img.State)
	}
	e.clock.Advance(31 * time.Second)
	img = must(tgt.DescribeImages(e.ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}, Filters: []ec2types.Filter{{Name: aws.String("tag:source"), Values: []string{"ami-0aaaaaaaaaaaaaaa1"}}}})).Images[0]
	if img.State != ec2types.ImageStateAvailable || !*img.BlockDeviceMappings[0].Ebs.Encrypted {
		t.Fatalf("after the copy time: want available and encrypted, got %s %+v", img.State, img.BlockDeviceMappings[0].Ebs)
	}
	key := must(e.kms(target, "us-east-1").DescribeKey(e.ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/dedicated")}))
	snaps := must(tgt.DescribeSnapshots(e.ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{*img.BlockDeviceMappings[0].Ebs.SnapshotId}}))
	if got := aws.ToString(snaps.Snapshots[0].KmsKeyId); got != *key.KeyMetadata.Arn {
		t.Fatalf("snapshot key: want %s, got %s", *key.KeyMetadata.Arn, got)
	}
	if _, err := tgt.CopyImage(e.ctx, &ec2.CopyImageInput{SourceImageId: aws.String("ami-0aaaaaaaaaaaaaaa1"), SourceRegion: aws.String("us-east-1"), Name: aws.String("base-encrypted"), Encrypted: aws.Bool(true), KmsKeyId: aws.String("alias/dedicated")}); errCode(err) != "InvalidAMIName.Duplicate" {
		t.Fatalf("duplicate name: want InvalidAMIName.Duplicate, got %v", err)
	}
	// Retention: deregister with its snapshots.
	dr := must(tgt.DeregisterImage(e.ctx, &ec2.DeregisterImageInput{ImageId: img.ImageId, DeleteAssociatedSnapshots: aws.Bool(true)}))
	if len(dr.DeleteSnapshotResults) != 1 {
		t.Fatalf("deregister results: %+v", dr.DeleteSnapshotResults)
	}
	if left := must(tgt.DescribeSnapshots(e.ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}})); len(left.Snapshots) != 0 {
		t.Fatalf("snapshots left after deregistering with DeleteAssociatedSnapshots: %d", len(left.Snapshots))
	}
}

func TestCopyUnderAKeyTheCallerCannotUseEndsFailed(t *testing.T) {
	e := newTestEnv(t, imagesWorld)
	if err := share(t, e, "ami-0aaaaaaaaaaaaaaa1", target); err != nil {
		t.Fatal(err)
	}
	// A role with ec2:* but no kms permission, on a key whose policy delegates to IAM.
	roleCfg := must(e.assumeRole(e.rootCfg(target, "us-east-1"), "arn:aws:iam::222222222222:role/no-kms", ""))
	out := must(ec2.NewFromConfig(roleCfg).CopyImage(e.ctx, &ec2.CopyImageInput{
		SourceImageId: aws.String("ami-0aaaaaaaaaaaaaaa1"), SourceRegion: aws.String("us-east-1"), Name: aws.String("nope"),
		Encrypted: aws.Bool(true), KmsKeyId: aws.String("alias/dedicated"),
	}))
	e.clock.Advance(31 * time.Second)
	img := must(e.ec2(target, "us-east-1").DescribeImages(e.ctx, &ec2.DescribeImagesInput{ImageIds: []string{*out.ImageId}})).Images[0]
	if img.State != ec2types.ImageStateFailed || img.StateReason == nil || !strings.Contains(*img.StateReason.Message, "kms:") {
		t.Fatalf("want failed with a KMS reason, got %s %+v", img.State, img.StateReason)
	}
	// A disabled key: the copy fails with the key's state.
	out = must(e.ec2(target, "us-east-1").CopyImage(e.ctx, &ec2.CopyImageInput{
		SourceImageId: aws.String("ami-0aaaaaaaaaaaaaaa1"), SourceRegion: aws.String("us-east-1"), Name: aws.String("off"),
		Encrypted: aws.Bool(true), KmsKeyId: aws.String("alias/off"),
	}))
	e.clock.Advance(31 * time.Second)
	img = must(e.ec2(target, "us-east-1").DescribeImages(e.ctx, &ec2.DescribeImagesInput{ImageIds: []string{*out.ImageId}})).Images[0]
	if img.State != ec2types.ImageStateFailed || !strings.Contains(*img.StateReason.Code, "InvalidKMSKey.InvalidState") {
		t.Fatalf("disabled key: want failed InvalidKMSKey.InvalidState, got %s %+v", img.State, img.StateReason)
	}
	// A key that does not exist in the destination region is refused at once.
	_, err := e.ec2(target, "us-east-1").CopyImage(e.ctx, &ec2.CopyImageInput{
		SourceImageId: aws.String("ami-0aaaaaaaaaaaaaaa1"), SourceRegion: aws.String("us-east-1"), Name: aws.String("ghost"),
		Encrypted: aws.Bool(true), KmsKeyId: aws.String("alias/ghost"),
	})
	if errCode(err) != "InvalidParameterValue" {
		t.Fatalf("missing key: want InvalidParameterValue, got %v", err)
	}
}

func TestConcurrentCopyLimitPerDestinationRegion(t *testing.T) {
	e := newTestEnv(t, strings.Replace(imagesWorld, "faults: {throttle: false}", "faults: {throttle: false}\nlimits: {concurrent_copies: 2}", 1))
	b := e.ec2(builder, "eu-west-1")
	for i := 0; i < 2; i++ {
		must(b.CopyImage(e.ctx, &ec2.CopyImageInput{SourceImageId: aws.String("ami-0aaaaaaaaaaaaaaa1"), SourceRegion: aws.String("us-east-1"), Name: aws.String("c" + string(rune('a'+i)) + "x")}))
	}
	_, err := b.CopyImage(e.ctx, &ec2.CopyImageInput{SourceImageId: aws.String("ami-0aaaaaaaaaaaaaaa1"), SourceRegion: aws.String("us-east-1"), Name: aws.String("third")})
	if errCode(err) != "ResourceLimitExceeded" {
		t.Fatalf("third concurrent copy: want ResourceLimitExceeded, got %v", err)
	}
	e.clock.Advance(31 * time.Second)
	must(b.CopyImage(e.ctx, &ec2.CopyImageInput{SourceImageId: aws.String("ami-0aaaaaaaaaaaaaaa1"), SourceRegion: aws.String("us-east-1"), Name: aws.String("third")}))
}

func TestEC2ThrottlesCopyImageAtItsBucket(t *testing.T) {
	e := newTestEnv(t, strings.Replace(imagesWorld, "faults: {throttle: false}", "faults: {throttle: true}\nlimits: {concurrent_copies: 1000, buckets: {CopyImage: {burst: 3, rate: 1}}}", 1))
	b := e.ec2(builder, "eu-west-1")
	var codes []string
	for i := 0; i < 4; i++ {
		_, err := b.CopyImage(e.ctx, &ec2.CopyImageInput{SourceImageId: aws.String("ami-0aaaaaaaaaaaaaaa1"), SourceRegion: aws.String("us-east-1"), Name: aws.String("copy-" + string(rune('a'+i)))})
		codes = append(codes, errCode(err))
	}
	if strings.Join(codes, ",") != ",,,RequestLimitExceeded" {
		t.Fatalf("want three copies then RequestLimitExceeded, got %q", codes)
	}
	// Describe calls draw from their own bucket and still pass.
	must(b.DescribeImages(e.ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}}))
	e.clock.Advance(2 * time.Second)
	must(b.CopyImage(e.ctx, &ec2.CopyImageInput{SourceImageId: aws.String("ami-0aaaaaaaaaaaaaaa1"), SourceRegion: aws.String("us-east-1"), Name: aws.String("copy-later")}))
	if got := e.srv.Calls(builder, "eu-west-1", "ec2:CopyImage"); got != 5 {
		t.Fatalf("counter for ec2:CopyImage: want 5, got %d", got)
	}
}

func TestTagsAndFilters(t *testing.T) {
	e := newTestEnv(t, imagesWorld)
	b := e.ec2(builder, "us-east-1")
	must(b.CreateTags(e.ctx, &ec2.CreateTagsInput{Resources: []string{"ami-0aaaaaaaaaaaaaaa1"}, Tags: []ec2types.Tag{{Key: aws.String("stage"), Value: aws.String("gold")}}}))
	out := must(b.DescribeImages(e.ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}, Filters: []ec2types.Filter{{Name: aws.String("tag:stage"), Values: []string{"go*"}}, {Name: aws.String("name"), Values: []string{"base-*"}}}}))
	if len(out.Images) != 1 || *out.Images[0].ImageId != "ami-0aaaaaaaaaaaaaaa1" {
		t.Fatalf("filtered images: %+v", out.Images)
	}
	must(b.DeleteTags(e.ctx, &ec2.DeleteTagsInput{Resources: []string{"ami-0aaaaaaaaaaaaaaa1"}, Tags: []ec2types.Tag{{Key: aws.String("stage")}}}))
	out = must(b.DescribeImages(e.ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}, Filters: []ec2types.Filter{{Name: aws.String("tag-key"), Values: []string{"stage"}}}}))
	if len(out.Images) != 0 {
		t.Fatalf("tag deleted but image still matches")
	}
	if _, err := b.CreateTags(e.ctx, &ec2.CreateTagsInput{Resources: []string{"ami-0fffffffffffffff0"}, Tags: []ec2types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}}); errCode(err) != "InvalidAMIID.NotFound" {
		t.Fatalf("tagging a missing image: want InvalidAMIID.NotFound, got %v", err)
	}
	if _, err := b.DescribeImages(e.ctx, &ec2.DescribeImagesInput{Filters: []ec2types.Filter{{Name: aws.String("no-such-filter"), Values: []string{"x"}}}}); errCode(err) != "InvalidParameterValue" {
		t.Fatalf("unknown filter: want InvalidParameterValue, got %v", err)
	}
}

func TestDescribeImagesPaginates(t *testing.T) {
	e := newTestEnv(t, imagesWorld)
	p := ec2.NewDescribeImagesPaginator(e.ec2(builder, "us-east-1"), &ec2.DescribeImagesInput{Owners: []string{"self"}, MaxResults: aws.Int32(1)})
	var ids []string
	pages := 0
	for p.HasMorePages() {
		out := must(p.NextPage(e.ctx))
		pages++
		for _, im := range out.Images {
			ids = append(ids, *im.ImageId)
		}
	}
	if len(ids) != 3 || pages < 3 {
		t.Fatalf("want 3 images over 3+ pages, got %v in %d pages", ids, pages)
	}
}

func TestEbsEncryptionByDefaultEncryptsEveryCopy(t *testing.T) {
	e := newTestEnv(t, imagesWorld)
	b := e.ec2(builder, "eu-west-1")
	must(b.EnableEbsEncryptionByDefault(e.ctx, &ec2.EnableEbsEncryptionByDefaultInput{}))
	if !*must(b.GetEbsEncryptionByDefault(e.ctx, &ec2.GetEbsEncryptionByDefaultInput{})).EbsEncryptionByDefault {
		t.Fatal("encryption by default not reported")
	}
	out := must(b.CopyImage(e.ctx, &ec2.CopyImageInput{SourceImageId: aws.String("ami-0aaaaaaaaaaaaaaa1"), SourceRegion: aws.String("us-east-1"), Name: aws.String("regional")}))
	img := must(b.DescribeImages(e.ctx, &ec2.DescribeImagesInput{ImageIds: []string{*out.ImageId}})).Images[0]
	snap := must(b.DescribeSnapshots(e.ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{*img.BlockDeviceMappings[0].Ebs.SnapshotId}})).Snapshots[0]
	ebsKey := must(e.kms(builder, "eu-west-1").DescribeKey(e.ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/aws/ebs")}))
	if !*snap.Encrypted || *snap.KmsKeyId != *ebsKey.KeyMetadata.Arn {
		t.Fatalf("copy in an account with encryption by default: want aws/ebs %s, got %v %v", *ebsKey.KeyMetadata.Arn, *snap.Encrypted, aws.ToString(snap.KmsKeyId))
	}
	// And that copy, under the AWS managed key, cannot be shared (F1's second half).
	e.clock.Advance(31 * time.Second)
	_, err := b.ModifyImageAttribute(e.ctx, &ec2.ModifyImageAttributeInput{ImageId: out.ImageId, LaunchPermission: &ec2types.LaunchPermissionModifications{Add: []ec2types.LaunchPermission{{UserId: aws.String(target)}}}})
	if errCode(err) != "InvalidParameter" {
		t.Fatalf("sharing a copy under aws/ebs: want InvalidParameter, got %v", err)
	}
}

func TestDryRun(t *testing.T) {
	e := newTestEnv(t, imagesWorld)
	_, err := e.ec2(builder, "us-east-1").DescribeImages(e.ctx, &ec2.DescribeImagesInput{DryRun: aws.Bool(true)})
	if errCode(err) != "DryRunOperation" {
		t.Fatalf("want DryRunOperation, got %v", err)
	}
}

func TestSnapshotsInUseAndDefaultKeys(t *testing.T) {
	e := newTestEnv(t, imagesWorld)
	b := e.ec2(builder, "us-east-1")
	img := must(b.DescribeImages(e.ctx, &ec2.DescribeImagesInput{ImageIds: []string{"ami-0aaaaaaaaaaaaaaa1"}})).Images[0]
	snap := img.BlockDeviceMappings[0].Ebs.SnapshotId
	if _, err := b.DeleteSnapshot(e.ctx, &ec2.DeleteSnapshotInput{SnapshotId: snap}); errCode(err) != "InvalidSnapshot.InUse" {
		t.Fatalf("deleting a registered image's snapshot: want InvalidSnapshot.InUse, got %v", err)
	}
	must(b.DeregisterImage(e.ctx, &ec2.DeregisterImageInput{ImageId: img.ImageId}))
	must(b.DeleteSnapshot(e.ctx, &ec2.DeleteSnapshotInput{SnapshotId: snap}))
	if _, err := b.DescribeSnapshots(e.ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{*snap}}); errCode(err) != "InvalidSnapshot.NotFound" {
		t.Fatalf("deleted snapshot: want InvalidSnapshot.NotFound, got %v", err)
	}
	if k := must(b.GetEbsDefaultKmsKeyId(e.ctx, &ec2.GetEbsDefaultKmsKeyIdInput{})); *k.KmsKeyId != "alias/aws/ebs" {
		t.Fatalf("default EBS key: %s", *k.KmsKeyId)
	}
	must(b.EnableEbsEncryptionByDefault(e.ctx, &ec2.EnableEbsEncryptionByDefaultInput{}))
	must(b.DisableEbsEncryptionByDefault(e.ctx, &ec2.DisableEbsEncryptionByDefaultInput{}))
	if *must(b.GetEbsEncryptionByDefault(e.ctx, &ec2.GetEbsEncryptionByDefaultInput{})).EbsEncryptionByDefault {
		t.Fatal("encryption by default still on after disabling it")
	}
	must(b.CreateTags(e.ctx, &ec2.CreateTagsInput{Resources: []string{"ami-0aaaaaaaaaaaaaaa3"}, Tags: []ec2types.Tag{{Key: aws.String("team"), Value: aws.String("platform")}}}))
	tags := must(b.DescribeTags(e.ctx, &ec2.DescribeTagsInput{Filters: []ec2types.Filter{{Name: aws.String("key"), Values: []string{"team"}}}}))
	if len(tags.Tags) != 1 || *tags.Tags[0].ResourceId != "ami-0aaaaaaaaaaaaaaa3" || tags.Tags[0].ResourceType != ec2types.ResourceTypeImage {
		t.Fatalf("DescribeTags: %+v", tags.Tags)
	}
}

// TestCreateImageFromAnInstance is what Packer's amazon-ebs builder does: launch
// from a public base image, then image the instance. The new AMI's snapshot is
// encrypted exactly as the instance's volume is.
func TestCreateImageFromAnInstance(t *testing.T) {
	e := newTestEnv(t, `
regions: [us-east-1]
accounts:
  - id: "137112412989"
    name: amazon
    images: [{id: ami-0a0000000000a0001, region: us-east-1, name: al2023-base, public: true}]
  - id: "111111111111"
    name: builder
timing: {instance_seconds: 2, create_image_seconds: 5}
faults: {throttle: false}
`)
	b := e.ec2(builder, "us-east-1")
	base := must(b.DescribeImages(e.ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"}, Filters: []ec2types.Filter{{Name: aws.String("name"), Values: []string{"al2023-*"}}}}))
	if len(base.Images) != 1 || aws.ToString(base.Images[0].ImageOwnerAlias) != "amazon" {
		t.Fatalf("public base image by owner alias: %+v", base.Images)
	}
	run := must(b.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: base.Images[0].ImageId, MinCount: aws.Int32(1), MaxCount: aws.Int32(1), InstanceType: ec2types.InstanceTypeT3Micro}))
	id := run.Instances[0].InstanceId
	if _, err := b.CreateImage(e.ctx, &ec2.CreateImageInput{InstanceId: id, Name: aws.String("built")}); errCode(err) != "IncorrectInstanceState" {
		t.Fatalf("imaging a pending instance: want IncorrectInstanceState, got %v", err)
	}
	e.clock.Advance(3 * time.Second)
	out := must(b.CreateImage(e.ctx, &ec2.CreateImageInput{InstanceId: id, Name: aws.String("built"),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeImage, Tags: []ec2types.Tag{{Key: aws.String("build"), Value: aws.String("42")}}}}}))
	img := must(b.DescribeImages(e.ctx, &ec2.DescribeImagesInput{ImageIds: []string{*out.ImageId}})).Images[0]
	if img.State != ec2types.ImageStatePending || aws.ToString(img.SourceInstanceId) != *id {
		t.Fatalf("fresh image: %s from %s", img.State, aws.ToString(img.SourceInstanceId))
	}
	e.clock.Advance(6 * time.Second)
	img = must(b.DescribeImages(e.ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}, Filters: []ec2types.Filter{{Name: aws.String("tag:build"), Values: []string{"42"}}}})).Images[0]
	if img.State != ec2types.ImageStateAvailable || len(img.BlockDeviceMappings) != 1 || *img.BlockDeviceMappings[0].Ebs.Encrypted {
		t.Fatalf("built image: %s %+v", img.State, img.BlockDeviceMappings)
	}
}

func TestFaultsFromTheWorldFilePerActionAndKMSThrottling(t *testing.T) {
	e := newTestEnv(t, strings.Replace(imagesWorld, "faults: {throttle: false}", `faults:
  throttle: true
  actions: {CopyImage: {error_rate: 1}, DescribeSnapshots: {latency_ms: 60}}
limits: {buckets: {"kms:CreateGrant": {burst: 2, rate: 1}}}`, 1))
	b := e.ec2(builder, "eu-west-1")
	_, err := b.CopyImage(e.ctx, &ec2.CopyImageInput{SourceImageId: aws.String("ami-0aaaaaaaaaaaaaaa1"), SourceRegion: aws.String("us-east-1"), Name: aws.String("x-copy")})
	if errCode(err) != "InternalError" {
		t.Fatalf("CopyImage with error_rate 1: want InternalError, got %v", err)
	}
	must(b.DescribeImages(e.ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}}))
	start := time.Now()
	must(b.DescribeSnapshots(e.ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}}))
	if waited := time.Since(start); waited < 60*time.Millisecond {
		t.Fatalf("DescribeSnapshots with latency_ms 60 answered after %v", waited)
	}
	k := e.kms(target, "us-east-1")
	key := must(k.DescribeKey(e.ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/dedicated")})) // CreateGrant takes no alias
	grant := &kms.CreateGrantInput{KeyId: key.KeyMetadata.Arn, GranteePrincipal: aws.String("arn:aws:iam::222222222222:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"), Operations: []kmstypes.GrantOperation{kmstypes.GrantOperationDecrypt}}
	must(k.CreateGrant(e.ctx, grant))
	must(k.CreateGrant(e.ctx, grant))
	if _, err := k.CreateGrant(e.ctx, grant); errCode(err) != "ThrottlingException" {
		t.Fatalf("third CreateGrant in a second with burst 2: want ThrottlingException, got %v", err)
	}
	must(k.DescribeKey(e.ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/dedicated")}))
}

// The account's default EBS key: a customer managed key becomes it (its
// ARN answered), an unknown key is refused, and a reset gives the AWS
// managed key back.
func TestEBSDefaultKeyCanBeNamedAndReset(t *testing.T) {
	e := newTestEnv(t, imagesWorld)
	ec := e.ec2(target, "us-east-1")
	k := must(e.kms(target, "us-east-1").CreateKey(e.ctx, &kms.CreateKeyInput{}))
	arn := aws.ToString(k.KeyMetadata.Arn)
	out, err := ec.ModifyEbsDefaultKmsKeyId(e.ctx, &ec2.ModifyEbsDefaultKmsKeyIdInput{KmsKeyId: k.KeyMetadata.KeyId})
	if err != nil || aws.ToString(out.KmsKeyId) != arn {
		t.Fatalf("modify: %v, %v", out, err)
	}
	got, err := ec.GetEbsDefaultKmsKeyId(e.ctx, &ec2.GetEbsDefaultKmsKeyIdInput{})
	if err != nil || aws.ToString(got.KmsKeyId) != arn {
		t.Fatalf("get: %v, %v", got, err)
	}
	if _, err := ec.ModifyEbsDefaultKmsKeyId(e.ctx, &ec2.ModifyEbsDefaultKmsKeyIdInput{KmsKeyId: aws.String("alias/nope")}); errCode(err) != "InvalidParameterValue" {
		t.Errorf("an unknown key: %v", err)
	}
	if _, err := ec.ResetEbsDefaultKmsKeyId(e.ctx, &ec2.ResetEbsDefaultKmsKeyIdInput{}); err != nil {
		t.Fatal(err)
	}
	if got := must(ec.GetEbsDefaultKmsKeyId(e.ctx, &ec2.GetEbsDefaultKmsKeyIdInput{})); aws.ToString(got.KmsKeyId) != "alias/aws/ebs" {
		t.Errorf("after reset: %v", aws.ToString(got.KmsKeyId))
	}
}
