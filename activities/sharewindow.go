package activities

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// MaxSourceShares is AWS's quota of entities (accounts, organizations,
// OUs) an AMI may be shared with in a region: 1,000 by default (EC2 User
// Guide, "Share an AMI with specific AWS accounts"; it can be raised). A
// run keeps the accounts it shares a source with at once within what the
// source has left of it (the Pipeline's share window).
const MaxSourceShares = 1000

// SourceShares is how many entities a source's launch permission names now.
type SourceShares struct {
	Entities int `json:"entities"`
}

// CountSourceShares counts the entities a source image is shared with:
// accounts, organizations and OUs of its launch permission (the group
// "all" does not count against the quota).
func (a *Activities) CountSourceShares(ctx context.Context, in ShareSourceInput) (SourceShares, error) {
	b, src := in.Builder, in.Source
	w := where{Account: b.Account, Region: src.Region, Resource: "source image " + src.ImageID}
	out, err := a.clients.EC2(builderAccess(b, src.Region)).DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{
		ImageId: aws.String(src.ImageID), Attribute: ec2types.ImageAttributeNameLaunchPermission,
	})
	if IsNotFound(err) {
		return SourceShares{}, sourceMissing(src, b)
	}
	if err != nil {
		return SourceShares{}, diagnose(err, "ec2:DescribeImageAttribute", w)
	}
	var n int
	for _, lp := range out.LaunchPermissions {
		if aws.ToString(lp.UserId) != "" || aws.ToString(lp.OrganizationArn) != "" || aws.ToString(lp.OrganizationalUnitArn) != "" {
			n++
		}
	}
	return SourceShares{Entities: n}, nil
}
