package world

import (
	"reflect"
	"strings"
	"testing"
)

// The keys a zero-write plan reads the sandbox through: default_vpc and
// autoscaling_group_limit on an account, root_device_type on an image,
// limits.image_share_accounts.

func TestPlanKeysDefaults(t *testing.T) {
	w := mustParse(t, `
regions: [us-east-1, eu-west-1]
accounts:
  - id: "111111111111"
    images:
      - {id: ami-12345678, region: us-east-1, name: plain}
`)
	a := w.Accounts[0]
	if a.AutoScalingGroupLimit != 500 || a.GroupLimit() != 500 || a.DefaultVPC != nil || !a.HasDefaultVPC("us-east-1") || !a.HasDefaultVPC("eu-west-1") {
		t.Errorf("account defaults: limit %d, default VPC %v", a.AutoScalingGroupLimit, a.DefaultVPC)
	}
	if im := a.Images[0]; im.RootDeviceType != "ebs" || im.IsInstanceStore() || im.SnapshotID == "" || im.VolumeSize != 8 {
		t.Errorf("image defaults: %+v", im)
	}
	if w.Limits.ImageShareAccounts != 1000 || w.Limits.ShareAccounts() != 1000 {
		t.Errorf("limits: %+v", w.Limits)
	}
	// A World built in Go: zero values mean AWS's defaults.
	var goAcct Account
	var goLimits Limits
	if goAcct.GroupLimit() != DefaultAutoScalingGroupLimit || !goAcct.HasDefaultVPC("us-east-1") || goLimits.ShareAccounts() != DefaultImageShareAccounts {
		t.Error("zero values do not mean AWS's defaults")
	}
}

func TestPlanKeysGiven(t *testing.T) {
	w := mustParse(t, `
regions: [us-east-1, eu-west-1]
accounts:
  - id: "111111111111"
    default_vpc: {us-east-1: false, eu-west-1: true}
    autoscaling_group_limit: 2
    images:
      - {id: ami-12345678, region: us-east-1, name: store, root_device_type: instance-store, root_device_name: /dev/sda1}
limits: {image_share_accounts: 3}
`)
	a := w.Accounts[0]
	if !reflect.DeepEqual(a.DefaultVPC, map[string]bool{"us-east-1": false, "eu-west-1": true}) || a.HasDefaultVPC("us-east-1") || !a.HasDefaultVPC("eu-west-1") {
		t.Errorf("default_vpc = %v", a.DefaultVPC)
	}
	if a.GroupLimit() != 2 || w.Limits.ShareAccounts() != 3 {
		t.Errorf("limits: groups %d, shares %d", a.GroupLimit(), w.Limits.ShareAccounts())
	}
	im := a.Images[0]
	if !im.IsInstanceStore() || im.SnapshotID != "" || im.VolumeSize != 0 || im.Encrypted.IsEncrypted() {
		t.Errorf("instance store-backed image: %+v", im)
	}
}

func TestPlanKeysErrors(t *testing.T) {
	expectErrors(t, `regions: [us-east-1, eu-west-1]
accounts:
  - id: "111111111111"
    default_vpc: {us-east-1: false, us-west-2: false}
    autoscaling_group_limit: 0
    images:
      - id: ami-12345678
        region: us-east-1
        name: store
        root_device_type: instance-store
        encrypted: aws-managed
        snapshot_id: snap-0123456789abcdef0
        volume_size: 8
      - {id: ami-12345679, region: us-east-1, name: odd, root_device_type: s3}
  - id: "222222222222"
    default_vpc: {us-east-1: no}
limits: {image_share_accounts: 0}
`, true,
		`world.yaml:4:37: accounts[0].default_vpc.us-west-2: "us-west-2" is not a region of the world (us-east-1, eu-west-1); default_vpc maps regions to true or false, e.g. default_vpc: {us-east-1: false}`,
		`world.yaml:5:30: accounts[0].autoscaling_group_limit: 0: use 1 or more (AWS's default quota is 500 Auto Scaling groups per region)`,
		`world.yaml:11:20: accounts[0].images[0].encrypted: an instance store-backed image (root_device_type: instance-store) has no EBS snapshot to encrypt`,
		`world.yaml:12:22: accounts[0].images[0].snapshot_id: an instance store-backed image (root_device_type: instance-store) has no EBS snapshot; leave snapshot_id out`,
		`world.yaml:13:22: accounts[0].images[0].volume_size: an instance store-backed image (root_device_type: instance-store) has no EBS root volume; leave volume_size out`,
		`world.yaml:14:76: accounts[0].images[1].root_device_type: "s3" is not a root device type; use ebs, instance-store`,
		`world.yaml:16:30: accounts[1].default_vpc.us-east-1: expected true or false, got "no"`,
		`world.yaml:17:32: limits.image_share_accounts: 0: use 1 or more (AWS's default AMI sharing quota is 1000 per image and region)`,
	)
	// default_vpc is a mapping, not a bool for every region.
	got := parseErrors(t, `regions: [us-east-1]
accounts:
  - id: "111111111111"
    default_vpc: false
`)
	if len(got) != 1 || !strings.HasPrefix(got[0], "world.yaml:4:18: accounts[0].default_vpc: expected a mapping") {
		t.Errorf("default_vpc: false:\n\t%s", strings.Join(got, "\n\t"))
	}
}

func TestPlanKeysValidateWithoutPositions(t *testing.T) {
	w := &World{Regions: []string{"us-east-1"}, Accounts: []Account{{
		ID: "111111111111", DefaultVPC: map[string]bool{"eu-west-1": false}, AutoScalingGroupLimit: -1,
		Images: []Image{{ID: "ami-12345678", Region: "us-east-1", Name: "store", RootDeviceType: RootDeviceInstanceStore, SnapshotID: "snap-0123456789abcdef0", VolumeSize: 8}},
	}}, Limits: Limits{ImageShareAccounts: -1}}
	err := w.Validate()
	if err == nil {
		t.Fatal("Validate accepted a broken world")
	}
	for _, want := range []string{
		"accounts[0].default_vpc.eu-west-1:", "accounts[0].autoscaling_group_limit: -1", "accounts[0].images[0].snapshot_id:",
		"accounts[0].images[0].volume_size:", "limits.image_share_accounts: -1",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("no error about %s in:\n%v", want, err)
		}
	}
	// Zero values are AWS's defaults, not errors.
	ok := &World{Regions: []string{"us-east-1"}, Accounts: []Account{{ID: "111111111111",
		Images: []Image{{ID: "ami-12345678", Region: "us-east-1", Name: "store", RootDeviceType: RootDeviceInstanceStore}}}}}
	if err := ok.Validate(); err != nil {
		t.Errorf("a Go world with zero limits: %v", err)
	}
}

func TestLaunchPermissionsWithinTheSharingQuota(t *testing.T) {
	expectErrors(t, `regions: [us-east-1]
accounts:
  - id: "111111111111"
    images:
      - {id: ami-12345678, region: us-east-1, name: base, launch_permissions: ["222222222222", "333333333333"]}
  - id: "222222222222"
  - id: "333333333333"
limits: {image_share_accounts: 1}
`, true,
		`world.yaml:5:79: accounts[0].images[0].launch_permissions: the image is shared with 2 accounts; limits.image_share_accounts allows at most 1 per image`,
	)
}
