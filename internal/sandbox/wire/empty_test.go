package wire

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// emptyOnTheWire is what AWS answers, per served operation with list members
// in its output, when there is nothing to list: the empty element (EC2, by
// its locationName; awsquery, by member name) or the JSON member holding [].
var emptyOnTheWire = map[string][]string{
	"ec2:DescribeImages":                             {"<imagesSet/>"},
	"ec2:DescribeImageReferences":                    {"<imageReferenceSet/>"},
	"ec2:DescribeSnapshots":                          {"<snapshotSet/>"},
	"ec2:DescribeVolumes":                            {"<volumeSet/>"},
	"ec2:DescribeTags":                               {"<tagSet/>"},
	"ec2:RunInstances":                               {"<groupSet/>", "<instancesSet/>"},
	"ec2:DescribeInstances":                          {"<reservationSet/>"},
	"ec2:DescribeInstanceStatus":                     {"<instanceStatusSet/>"},
	"ec2:StopInstances":                              {"<instancesSet/>"},
	"ec2:StartInstances":                             {"<instancesSet/>"},
	"ec2:TerminateInstances":                         {"<instancesSet/>"},
	"ec2:DescribeLaunchTemplates":                    {"<launchTemplates/>"},
	"ec2:DescribeLaunchTemplateVersions":             {"<launchTemplateVersionSet/>"},
	"ec2:DescribeRegions":                            {"<regionInfo/>"},
	"ec2:DescribeAvailabilityZones":                  {"<availabilityZoneInfo/>"},
	"ec2:DescribeVpcs":                               {"<vpcSet/>"},
	"ec2:DescribeSubnets":                            {"<subnetSet/>"},
	"ec2:DescribeSecurityGroups":                     {"<securityGroupInfo/>"},
	"ec2:AuthorizeSecurityGroupIngress":              {"<securityGroupRuleSet/>"},
	"ec2:DescribeKeyPairs":                           {"<keySet/>"},
	"ec2:DescribeAccountAttributes":                  {"<accountAttributeSet/>"},
	"ec2:DescribeInstanceTypes":                      {"<instanceTypeSet/>"},
	"iam:ListRoles":                                  {"<Roles/>"},
	"iam:ListRolePolicies":                           {"<PolicyNames/>"},
	"iam:ListAttachedRolePolicies":                   {"<AttachedPolicies/>"},
	"iam:ListAccountAliases":                         {"<AccountAliases/>"},
	"autoscaling:DescribeAutoScalingGroups":          {"<AutoScalingGroups/>"},
	"autoscaling:DescribeScalingActivities":          {"<Activities/>"},
	"autoscaling:DescribeAutoScalingInstances":       {"<AutoScalingInstances/>"},
	"autoscaling:DescribeLaunchConfigurations":       {"<LaunchConfigurations/>"},
	"kms:ListKeys":                                   {"Keys"},
	"kms:ListAliases":                                {"Aliases"},
	"kms:ListGrants":                                 {"Grants"},
	"kms:ListResourceTags":                           {"Tags"},
	"ssm:GetParameters":                              {"InvalidParameters", "Parameters"},
	"ssm:DescribeParameters":                         {"Parameters"},
	"ssm:GetParametersByPath":                        {"Parameters"},
	"ssm:ListTagsForResource":                        {"TagList"},
	"cloudtrail:LookupEvents":                        {"Events"},
	"organizations:ListRoots":                        {"Roots"},
	"organizations:ListChildren":                     {"Children"},
	"organizations:ListAccountsForParent":            {"Accounts"},
	"organizations:ListOrganizationalUnitsForParent": {"OrganizationalUnits"},
	"organizations:ListAccounts":                     {"Accounts"},
	"organizations:ListParents":                      {"Parents"},
}

// returnedOnRequest are the output lists AWS sends only when the request asks
// for them: they stay absent when the handler gives none.
var returnedOnRequest = map[string][]string{
	"ec2:DescribeImageAttribute":    {"BlockDeviceMappings", "LaunchPermissions", "ProductCodes"},
	"ec2:DescribeSnapshotAttribute": {"CreateVolumePermissions", "ProductCodes"},
	"ec2:DeregisterImage":           {"DeleteSnapshotResults"},
	"ec2:CreateSecurityGroup":       {"Tags"},
	"ec2:CreateKeyPair":             {"Tags"},
}

// TestEmptyListsAsEachProtocolWritesThem encodes the output of every served
// operation with list members as a handler with nothing to list leaves it, and
// checks the body has each list, empty, as AWS writes it.
func TestEmptyListsAsEachProtocolWritesThem(t *testing.T) {
	for _, svcName := range Services() {
		svc := MustLoad(svcName)
		for _, name := range svc.Operations() {
			op, _ := svc.Operation(name)
			key := svcName + ":" + name
			var lists []string
			if op.output != nil {
				for _, mn := range op.output.MemberNames {
					if op.output.Members[mn].shape.Type == "list" {
						lists = append(lists, mn)
					}
				}
			}
			want, onRequest := emptyOnTheWire[key], returnedOnRequest[key]
			if len(lists) > 0 && len(want) == 0 && len(onRequest) == 0 {
				t.Errorf("%s returns lists %v: say in emptyOnTheWire or returnedOnRequest what AWS answers when they are empty", key, lists)
				continue
			}
			body, _, err := svc.EncodeResponse(op, nil, "req-1")
			if err != nil {
				t.Errorf("%s: %v", key, err)
				continue
			}
			if svc.Protocol == ProtocolJSON {
				var doc map[string]any
				if err := json.Unmarshal(body, &doc); err != nil {
					t.Errorf("%s: %v in %s", key, err, body)
					continue
				}
				var keys []string
				for k, v := range doc {
					if l, ok := v.([]any); !ok || len(l) != 0 {
						t.Errorf("%s: %s = %v, want []", key, k, v)
					}
					keys = append(keys, k)
				}
				sort.Strings(keys)
				if strings.Join(keys, ",") != strings.Join(want, ",") {
					t.Errorf("%s: body %s, want %v as []", key, body, want)
				}
				continue
			}
			for _, el := range want {
				if !strings.Contains(string(body), el) {
					t.Errorf("%s: body lacks %s:\n%s", key, el, body)
				}
			}
			if n := strings.Count(string(body), "/>"); n != len(want) {
				t.Errorf("%s: %d empty elements, want %v:\n%s", key, n, want, body)
			}
		}
	}
	// A list the handler gives is written as given; one returned on request
	// is written when given, even empty.
	op, _ := MustLoad("ec2").Operation("DescribeImageAttribute")
	body, _, err := MustLoad("ec2").EncodeResponse(op, map[string]any{"ImageId": "ami-1", "LaunchPermissions": []any{}}, "req-1")
	if err != nil || !strings.Contains(string(body), "<launchPermission/>") || strings.Contains(string(body), "productCodes") {
		t.Errorf("DescribeImageAttribute launchPermission, none: %v\n%s", err, body)
	}
}

// TestEmptyListsReachTheSDKs: aws-sdk-go-v2 returns an empty, non-nil slice
// for an empty list and nil for an absent one; a handler with nothing to list
// gives the former, as AWS does.
func TestEmptyListsReachTheSDKs(t *testing.T) {
	nothing := func(op *Operation, in map[string]any) (map[string]any, error) { return nil, nil }
	cfg := func(f *fakeAWS) aws.Config {
		return aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(f.URL), Credentials: testCreds, Retryer: noRetry}
	}
	f := newFake(t, "", nothing)
	c := cfg(f)

	images, err := ec2.NewFromConfig(c).DescribeImages(ctx(t), &ec2.DescribeImagesInput{Owners: []string{"self"}})
	if err != nil || images.Images == nil {
		t.Errorf("DescribeImages: Images = %#v, %v; want an empty slice", images.Images, err)
	}
	templates, err := ec2.NewFromConfig(c).DescribeLaunchTemplates(ctx(t), &ec2.DescribeLaunchTemplatesInput{})
	if err != nil || templates.LaunchTemplates == nil {
		t.Errorf("DescribeLaunchTemplates: %#v, %v; want an empty slice", templates.LaunchTemplates, err)
	}
	roles, err := iam.NewFromConfig(c).ListRoles(ctx(t), &iam.ListRolesInput{})
	if err != nil || roles.Roles == nil {
		t.Errorf("ListRoles: Roles = %#v, %v; want an empty slice", roles.Roles, err)
	}
	groups, err := autoscaling.NewFromConfig(c).DescribeAutoScalingGroups(ctx(t), &autoscaling.DescribeAutoScalingGroupsInput{})
	if err != nil || groups.AutoScalingGroups == nil {
		t.Errorf("DescribeAutoScalingGroups: %#v, %v; want an empty slice", groups.AutoScalingGroups, err)
	}
	keys, err := kms.NewFromConfig(c).ListKeys(ctx(t), &kms.ListKeysInput{})
	if err != nil || keys.Keys == nil {
		t.Errorf("ListKeys: Keys = %#v, %v; want an empty slice", keys.Keys, err)
	}
	children, err := organizations.NewFromConfig(c).ListChildren(ctx(t), &organizations.ListChildrenInput{ParentId: aws.String("r-abcd"), ChildType: "ACCOUNT"})
	if err != nil || children.Children == nil {
		t.Errorf("ListChildren: Children = %#v, %v; want an empty slice", children.Children, err)
	}
	params, err := ssm.NewFromConfig(c).GetParameters(ctx(t), &ssm.GetParametersInput{Names: []string{"/a"}})
	if err != nil || params.Parameters == nil || params.InvalidParameters == nil {
		t.Errorf("GetParameters: %#v, %#v, %v; want empty slices", params.Parameters, params.InvalidParameters, err)
	}
}
