package sandbox

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// permissionChange is what a test reads of a recorded permission change.
type permissionChange struct {
	Name      string
	Error     string
	Added     []string // account ids, "group:all", organization and OU ARNs
	Removed   []string
	Principal string
}

// recordedChanges reads, oldest first, every recorded change of a
// resource's permissions (an image id or a snapshot id) in an account's
// event history, through LookupEvents.
func recordedChanges(t *testing.T, e *testEnv, c *cloudtrail.Client, resource string) []permissionChange {
	t.Helper()
	evs := lookup(t, e, c, cttypes.LookupAttributeKeyResourceName, resource)
	slices.Reverse(evs)
	var out []permissionChange
	for _, ev := range evs {
		var rec struct {
			ErrorCode    string `json:"errorCode"`
			UserIdentity struct {
				ARN string `json:"arn"`
			} `json:"userIdentity"`
			RequestParameters map[string]json.RawMessage `json:"requestParameters"`
		}
		if err := json.Unmarshal([]byte(aws.ToString(ev.CloudTrailEvent)), &rec); err != nil {
			t.Fatal(err)
		}
		pc := permissionChange{Name: aws.ToString(ev.EventName), Error: rec.ErrorCode, Principal: rec.UserIdentity.ARN}
		for _, attr := range []string{"launchPermission", "createVolumePermission"} {
			var mods struct {
				Add, Remove struct {
					Items []map[string]string `json:"items"`
				}
			}
			if raw, ok := rec.RequestParameters[attr]; ok {
				if err := json.Unmarshal(raw, &mods); err != nil {
					t.Fatalf("%s: %v in %s", attr, err, raw)
				}
			}
			read := func(items []map[string]string) (out []string) {
				for _, it := range items {
					for k, v := range it {
						if k == "group" {
							v = "group:" + v
						}
						out = append(out, v)
					}
				}
				return out
			}
			pc.Added = append(pc.Added, read(mods.Add.Items)...)
			pc.Removed = append(pc.Removed, read(mods.Remove.Items)...)
		}
		out = append(out, pc)
	}
	return out
}

// TestCloudTrailRecordsEveryPermissionChange: every request that changes an
// image's launch permissions or a snapshot's create-volume permissions is an
// event of the owner's account, in order, with who made it and what it added
// or removed — a refused one too, with its error code.
func TestCloudTrailRecordsEveryPermissionChange(t *testing.T) {
	e := newTestEnv(t, imagesWorld)
	const img, other = "ami-0aaaaaaaaaaaaaaa1", "333333333333"
	b := e.ec2(builder, "us-east-1")
	snap := *must(b.DescribeImages(e.ctx, &ec2.DescribeImagesInput{ImageIds: []string{img}})).Images[0].BlockDeviceMappings[0].Ebs.SnapshotId

	must(share(t, e, img, target), nil)
	must(b.ModifyImageAttribute(e.ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(img), LaunchPermission: &ec2types.LaunchPermissionModifications{
		Add: []ec2types.LaunchPermission{{UserId: aws.String(other)}, {OrganizationArn: aws.String("arn:aws:organizations::111111111111:organization/o-abcdefghij")}},
	}}))
	_, err := b.ModifyImageAttribute(e.ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(img), LaunchPermission: &ec2types.LaunchPermissionModifications{
		Add: []ec2types.LaunchPermission{{UserId: aws.String("12345")}},
	}})
	wantCode(t, "a share with a malformed account id", err, "InvalidAMIAttributeItemValue")
	must(b.ModifyImageAttribute(e.ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(img), LaunchPermission: &ec2types.LaunchPermissionModifications{
		Remove: []ec2types.LaunchPermission{{UserId: aws.String(target)}},
	}}))
	must(b.ModifySnapshotAttribute(e.ctx, &ec2.ModifySnapshotAttributeInput{SnapshotId: aws.String(snap), OperationType: ec2types.OperationTypeRemove, UserIds: []string{target}}))
	must(b.ResetImageAttribute(e.ctx, &ec2.ResetImageAttributeInput{ImageId: aws.String(img), Attribute: ec2types.ResetImageAttributeNameLaunchPermission}))
	must(b.ResetSnapshotAttribute(e.ctx, &ec2.ResetSnapshotAttributeInput{SnapshotId: aws.String(snap), Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission}))

	perms := must(b.DescribeImageAttribute(e.ctx, &ec2.DescribeImageAttributeInput{ImageId: aws.String(img), Attribute: ec2types.ImageAttributeNameLaunchPermission}))
	if len(perms.LaunchPermissions) != 0 {
		t.Fatalf("launch permissions after ResetImageAttribute: %+v", perms.LaunchPermissions)
	}
	vol := must(b.DescribeSnapshotAttribute(e.ctx, &ec2.DescribeSnapshotAttributeInput{SnapshotId: aws.String(snap), Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission}))
	if len(vol.CreateVolumePermissions) != 0 {
		t.Fatalf("create-volume permissions after ResetSnapshotAttribute: %+v", vol.CreateVolumePermissions)
	}

	trail := e.cloudtrail(builder, "us-east-1")
	image := recordedChanges(t, e, trail, img)
	want := []permissionChange{
		{Name: "ModifyImageAttribute", Added: []string{target}},
		{Name: "ModifyImageAttribute", Added: []string{other, "arn:aws:organizations::111111111111:organization/o-abcdefghij"}},
		{Name: "ModifyImageAttribute", Error: "Client.InvalidAMIAttributeItemValue", Added: []string{"12345"}},
		{Name: "ModifyImageAttribute", Removed: []string{target}},
		{Name: "ResetImageAttribute"},
	}
	checkChanges(t, "image", image, want)
	snapshot := recordedChanges(t, e, trail, snap)
	checkChanges(t, "snapshot", snapshot, []permissionChange{
		{Name: "ModifySnapshotAttribute", Added: []string{target}},
		{Name: "ModifySnapshotAttribute"}, // the older OperationType form: userIds
		{Name: "ResetSnapshotAttribute"},
	})
	evs := lookup(t, e, trail, cttypes.LookupAttributeKeyEventName, "ModifySnapshotAttribute")
	var rec struct {
		RequestParameters map[string]any `json:"requestParameters"`
	}
	if err := json.Unmarshal([]byte(aws.ToString(evs[0].CloudTrailEvent)), &rec); err != nil {
		t.Fatal(err)
	}
	if p := rec.RequestParameters; p["attributeType"] != "CREATE_VOLUME_PERMISSION" || p["operationType"] != "remove" || p["snapshotId"] != snap {
		t.Fatalf("the OperationType form's requestParameters: %v", p)
	}
	if r := evs[0].Resources; len(r) != 1 || aws.ToString(r[0].ResourceType) != "AWS::EC2::Snapshot" || aws.ToString(r[0].ResourceName) != snap {
		t.Fatalf("the snapshot event's resources: %+v", r)
	}
	// Nobody else's history has them.
	if evs := lookup(t, e, e.cloudtrail(target, "us-east-1"), cttypes.LookupAttributeKeyEventSource, "ec2.amazonaws.com"); len(evs) != 0 {
		t.Fatalf("the target's history has EC2 events: %s", names(evs))
	}
}

func checkChanges(t *testing.T, what string, got, want []permissionChange) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d changes recorded, want %d: %+v", what, len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Name != w.Name || g.Error != w.Error || !slices.Equal(g.Added, w.Added) || !slices.Equal(g.Removed, w.Removed) ||
			g.Principal != "arn:aws:iam::"+builder+":root" {
			t.Errorf("%s change %d: %+v, want %+v", what, i, g, w)
		}
	}
}
