package activities

import (
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func TestShareAndUnshareAreBatched(t *testing.T) {
	h := newHarness(t)
	accounts := []string{payments, analytics, legacy, keyOwner, "666666666666", payments}
	in := ShareSourceInput{Builder: Builder{Account: builderAcct}, Source: Source{Region: region, ImageID: sourceAMI}, Accounts: accounts}
	res := must[ShareSourceResult](h, h.acts.ShareSource, in)
	if n := h.sb.Calls(builderAcct, region, "ec2:ModifyImageAttribute"); n != 1 {
		t.Errorf("ModifyImageAttribute called %d times for 5 accounts, want 1", n)
	}
	if n := h.sb.Calls(builderAcct, region, "ec2:ModifySnapshotAttribute"); n != 1 {
		t.Errorf("ModifySnapshotAttribute called %d times for one snapshot, want 1", n)
	}
	if res.Calls < 3 {
		t.Errorf("reported %d builder calls", res.Calls)
	}
	want := []string{payments, analytics, legacy, keyOwner, "666666666666"}
	slices.Sort(want)
	if got := h.launchPermissions(); !slices.Equal(got, want) {
		t.Fatalf("launch permissions %v, want %v", got, want)
	}
	must[ShareSourceResult](h, h.acts.ShareSource, in) // sharing again is harmless

	must[ShareSourceResult](h, h.acts.UnshareSource, in)
	if got := h.launchPermissions(); len(got) != 0 {
		t.Fatalf("launch permissions after unshare: %v", got)
	}
	if n := h.sb.Calls(builderAcct, region, "ec2:ModifyImageAttribute"); n != 3 {
		t.Errorf("ModifyImageAttribute called %d times for share, share, unshare; want 3", n)
	}
	must[ShareSourceResult](h, h.acts.UnshareSource, in) // unsharing again is harmless
}

func (h *harness) launchPermissions() []string {
	h.t.Helper()
	out, err := h.rootEC2(builderAcct).DescribeImageAttribute(h.ctx, &ec2.DescribeImageAttributeInput{
		ImageId: aws.String(sourceAMI), Attribute: ec2types.ImageAttributeNameLaunchPermission,
	})
	if err != nil {
		h.t.Fatalf("describe image attribute: %v", err)
	}
	var ids []string
	for _, p := range out.LaunchPermissions {
		ids = append(ids, aws.ToString(p.UserId))
	}
	slices.Sort(ids)
	return ids
}

func TestShareRefusesASourceUnderTheAWSManagedKeyWithF1(t *testing.T) {
	h := newHarness(t)
	in := ShareSourceInput{Builder: Builder{Account: builderAcct}, Source: Source{Region: region, ImageID: managedAMI}, Accounts: []string{payments}}
	d := diagnosed(h, h.acts.ShareSource, in, F1)
	if n := h.sb.Calls(builderAcct, region, "ec2:ModifyImageAttribute") + h.sb.Calls(builderAcct, region, "ec2:ModifySnapshotAttribute"); n != 0 {
		t.Errorf("%d permission changes were attempted before refusing", n)
	}
	if !contains(d.Fix, "disable-ebs-encryption-by-default") || !contains(d.Cause, managedAMI) {
		t.Errorf("diagnosis: %s", d)
	}
}
