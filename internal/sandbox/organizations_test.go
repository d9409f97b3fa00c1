package sandbox

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
)

// orgWorld: an organization managed by its second account, a standalone
// account and one of another organization; a member's role that may ask
// and one that may not. The world serves eu-west-1 only: Organizations is
// global, answered whatever region the client signs for.
const orgWorld = `
regions: [eu-west-1]
organization_id: o-abcdefghij
organization_management_account: "222222222222"
accounts:
  - id: "111111111111"
    roles:
      - name: reader
        trust: {Version: "2012-10-17", Statement: [{Effect: Allow, Principal: {AWS: "arn:aws:iam::111111111111:root"}, Action: "sts:AssumeRole"}]}
        policies: [{Version: "2012-10-17", Statement: [{Effect: Allow, Action: "organizations:DescribeOrganization", Resource: "*"}]}]
      - name: ec2-only
        trust: {Version: "2012-10-17", Statement: [{Effect: Allow, Principal: {AWS: "arn:aws:iam::111111111111:root"}, Action: "sts:AssumeRole"}]}
        policies: [{Version: "2012-10-17", Statement: [{Effect: Allow, Action: "ec2:Describe*", Resource: "*"}]}]
  - id: "222222222222"
  - {id: "333333333333", organization: none}
  - {id: "444444444444", organization: o-otherorg00}
`

// TestDescribeOrganization: a member learns its organization and its
// management account; an account in none hears
// AWSOrganizationsNotInUseException; a role IAM does not allow
// organizations:DescribeOrganization is refused.
func TestDescribeOrganization(t *testing.T) {
	e := newTestEnv(t, orgWorld)
	org := func(cfg aws.Config) *organizations.Client { return organizations.NewFromConfig(cfg) }

	reader := outcome(e.assumeRole(e.rootCfg("111111111111", "eu-west-1"), "arn:aws:iam::111111111111:role/reader", "")).need(t)
	out := must(org(reader).DescribeOrganization(e.ctx, &organizations.DescribeOrganizationInput{}))
	o := out.Organization
	if aws.ToString(o.Id) != "o-abcdefghij" || aws.ToString(o.MasterAccountId) != "222222222222" ||
		aws.ToString(o.Arn) != "arn:aws:organizations::222222222222:organization/o-abcdefghij" ||
		aws.ToString(o.MasterAccountArn) != "arn:aws:organizations::222222222222:account/o-abcdefghij/222222222222" || o.FeatureSet != "ALL" {
		t.Fatalf("a member's organization: %+v", o)
	}

	other := must(org(e.rootCfg("444444444444", "us-east-1")).DescribeOrganization(e.ctx, &organizations.DescribeOrganizationInput{}))
	if aws.ToString(other.Organization.Id) != "o-otherorg00" || aws.ToString(other.Organization.MasterAccountId) != "444444444444" {
		t.Fatalf("another organization's member: %+v", other.Organization)
	}

	_, err := org(e.rootCfg("333333333333", "eu-west-1")).DescribeOrganization(e.ctx, &organizations.DescribeOrganizationInput{})
	wantCode(t, "an account in no organization", err, "AWSOrganizationsNotInUseException")

	ec2Only := outcome(e.assumeRole(e.rootCfg("111111111111", "eu-west-1"), "arn:aws:iam::111111111111:role/ec2-only", "")).need(t)
	_, err = org(ec2Only).DescribeOrganization(e.ctx, &organizations.DescribeOrganizationInput{})
	wantCode(t, "a role without organizations:DescribeOrganization", err, "AccessDeniedException")
}
