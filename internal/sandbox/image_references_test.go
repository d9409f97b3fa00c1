package sandbox

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// refWorld is lgWorld with a role that may use EC2 and nothing else.
var refWorld = lgWorld("", "", `
    roles:
      - name: ec2only
        trust: {Version: "2012-10-17", Statement: [{Effect: Allow, Principal: {AWS: "arn:aws:iam::`+lgAcct+`:root"}, Action: "sts:AssumeRole"}]}
        policies: [{Version: "2012-10-17", Statement: [{Effect: Allow, Action: "ec2:*", Resource: "*"}]}]`)

func imageRefs(t *testing.T, e *testEnv, c *ec2.Client, in *ec2.DescribeImageReferencesInput) []string {
	t.Helper()
	var out []string
	p := ec2.NewDescribeImageReferencesPaginator(c, in)
	for p.HasMorePages() {
		page := must(p.NextPage(e.ctx))
		for _, r := range page.ImageReferences {
			out = append(out, aws.ToString(r.ImageId)+" "+string(r.ResourceType)+" "+aws.ToString(r.Arn))
		}
	}
	return out
}

// TestDescribeImageReferences finds the caller's instances, launch templates
// (within the version depth) and String parameters that name an AMI.
func TestDescribeImageReferences(t *testing.T) {
	e := newTestEnv(t, refWorld)
	ec := e.ec2(lgAcct, lgRegion)
	arn := func(kind, id string) string { return "arn:aws:ec2:" + lgRegion + ":" + lgAcct + ":" + kind + "/" + id }

	first := must(ec.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(lgPlain), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})).Instances[0].InstanceId
	second := must(ec.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(lgPlain), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})).Instances[0].InstanceId
	must(ec.TerminateInstances(e.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{*second}}))
	e.clock.Advance(3 * time.Second)

	// Template a names lgPlain in version 1 only, then eleven versions of lgEncAMI.
	a := must(ec.CreateLaunchTemplate(e.ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("tpl-a"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(lgPlain)}})).LaunchTemplate.LaunchTemplateId
	for i := 0; i < 11; i++ {
		must(ec.CreateLaunchTemplateVersion(e.ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: a,
			LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(lgEncAMI)}}))
	}
	b := must(ec.CreateLaunchTemplate(e.ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("tpl-b"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(lgEncAMI)}})).LaunchTemplate.LaunchTemplateId

	sm := e.ssm(lgAcct, lgRegion)
	must(sm.PutParameter(e.ctx, &ssm.PutParameterInput{Name: aws.String("/ami/text"), Value: aws.String(lgPlain), Type: ssmtypes.ParameterTypeString}))
	must(sm.PutParameter(e.ctx, &ssm.PutParameterInput{Name: aws.String("/ami/typed"), Value: aws.String(lgPlain), Type: ssmtypes.ParameterTypeString, DataType: aws.String("aws:ec2:image")}))
	must(sm.PutParameter(e.ctx, &ssm.PutParameterInput{Name: aws.String("/ami/secret"), Value: aws.String(lgPlain), Type: ssmtypes.ParameterTypeSecureString}))
	param := func(name string) string { return "arn:aws:ssm:" + lgRegion + ":" + lgAcct + ":parameter/" + name }

	all := imageRefs(t, e, ec, &ec2.DescribeImageReferencesInput{ImageIds: []string{lgPlain, lgEncAMI}, IncludeAllResourceTypes: aws.Bool(true), MaxResults: aws.Int32(5)})
	want := []string{
		lgPlain + " ec2:Instance " + arn("instance", *first),
		lgPlain + " ec2:Instance " + arn("instance", *second), // terminated: every state by default
		lgPlain + " ssm:Parameter " + param("ami/text"),
		lgPlain + " ssm:Parameter " + param("ami/typed"),
		lgEncAMI + " ec2:LaunchTemplate " + arn("launch-template", *a),
		lgEncAMI + " ec2:LaunchTemplate " + arn("launch-template", *b),
	}
	// Instances and templates come in an order of their own; compare as sets,
	// after checking the AMIs come in the order of ImageIds.
	if len(all) != len(want) || !strings.HasPrefix(all[3], lgPlain) || !strings.HasPrefix(all[4], lgEncAMI) {
		t.Fatalf("IncludeAllResourceTypes: %v", all)
	}
	slices.Sort(all)
	slices.Sort(want)
	if strings.Join(all, "\n") != strings.Join(want, "\n") {
		t.Fatalf("IncludeAllResourceTypes, two pages of 5:\n%s\nwant\n%s", strings.Join(all, "\n"), strings.Join(want, "\n"))
	}

	running := imageRefs(t, e, ec, &ec2.DescribeImageReferencesInput{ImageIds: []string{lgPlain}, ResourceTypes: []ec2types.ResourceTypeRequest{{
		ResourceType:        ec2types.ImageReferenceResourceTypeEc2Instance,
		ResourceTypeOptions: []ec2types.ResourceTypeOption{{OptionName: ec2types.ImageReferenceOptionNameStateName, OptionValues: []string{"pending", "running"}}},
	}}})
	if len(running) != 1 || !strings.HasSuffix(running[0], *first) {
		t.Fatalf("state-name pending, running: %v", running)
	}
	deep := imageRefs(t, e, ec, &ec2.DescribeImageReferencesInput{ImageIds: []string{lgPlain}, IncludeAllResourceTypes: aws.Bool(true), ResourceTypes: []ec2types.ResourceTypeRequest{{
		ResourceType:        ec2types.ImageReferenceResourceTypeEc2LaunchTemplate,
		ResourceTypeOptions: []ec2types.ResourceTypeOption{{OptionName: ec2types.ImageReferenceOptionNameVersionDepth, OptionValues: []string{"12"}}},
	}}})
	if len(deep) != 5 || !slices.Contains(deep, lgPlain+" ec2:LaunchTemplate "+arn("launch-template", *a)) {
		t.Fatalf("version-depth 12 over IncludeAllResourceTypes: %v", deep)
	}
	if got := imageRefs(t, e, ec, &ec2.DescribeImageReferencesInput{ImageIds: []string{lgPlain}, ResourceTypes: []ec2types.ResourceTypeRequest{
		{ResourceType: ec2types.ImageReferenceResourceTypeImageBuilderImageRecipe}}}); len(got) != 0 {
		t.Fatalf("Image Builder is not modelled, yet: %v", got)
	}

	for name, in := range map[string]*ec2.DescribeImageReferencesInput{
		"MissingParameter":       {ImageIds: []string{lgPlain}},
		"InvalidAMIID.Malformed": {ImageIds: []string{"image-1"}, IncludeAllResourceTypes: aws.Bool(true)},
		"InvalidParameterValue": {ImageIds: []string{lgPlain}, ResourceTypes: []ec2types.ResourceTypeRequest{{ResourceType: ec2types.ImageReferenceResourceTypeEc2Instance,
			ResourceTypeOptions: []ec2types.ResourceTypeOption{{OptionName: ec2types.ImageReferenceOptionNameVersionDepth, OptionValues: []string{"2"}}}}}},
	} {
		if _, err := ec.DescribeImageReferences(e.ctx, in); errCode(err) != name {
			t.Errorf("want %s, got %v", name, err)
		}
	}
	if _, err := ec.DescribeImageReferences(e.ctx, &ec2.DescribeImageReferencesInput{ImageIds: []string{lgPlain}, IncludeAllResourceTypes: aws.Bool(true), MaxResults: aws.Int32(4)}); errCode(err) != "InvalidParameterValue" {
		t.Errorf("MaxResults 4: %v", err)
	}

	// The check reads with the caller's permissions.
	role := ec2.NewFromConfig(must(e.assumeRole(e.rootCfg(lgAcct, lgRegion), "arn:aws:iam::"+lgAcct+":role/ec2only", "")))
	if _, err := role.DescribeImageReferences(e.ctx, &ec2.DescribeImageReferencesInput{ImageIds: []string{lgPlain}, IncludeAllResourceTypes: aws.Bool(true)}); errCode(err) != "UnauthorizedOperation" || !strings.Contains(err.Error(), "ssm:DescribeParameters") {
		t.Fatalf("a role without SSM permissions, all types: want UnauthorizedOperation, got %v", err)
	}
	if got := imageRefs(t, e, role, &ec2.DescribeImageReferencesInput{ImageIds: []string{lgPlain}, ResourceTypes: []ec2types.ResourceTypeRequest{{ResourceType: ec2types.ImageReferenceResourceTypeEc2Instance}}}); len(got) != 2 {
		t.Fatalf("a role with EC2 permissions, instances: %v", got)
	}
}

// TestLaunchTemplateKeyAndCreator: a version's block device mapping naming a
// KMS key by ARN comes back as given and encrypts the instance's volume; the
// template and its versions report who created them.
func TestLaunchTemplateKeyAndCreator(t *testing.T) {
	e := newTestEnv(t, refWorld)
	roleCfg := must(e.assumeRole(e.rootCfg(lgAcct, lgRegion), "arn:aws:iam::"+lgAcct+":role/ec2only", ""))
	ec := ec2.NewFromConfig(roleCfg)
	creator := "arn:aws:sts::" + lgAcct + ":assumed-role/ec2only/test"
	keyARN := aws.ToString(must(e.kms(lgAcct, lgRegion).DescribeKey(e.ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/k")})).KeyMetadata.Arn)
	lt := must(ec.CreateLaunchTemplate(e.ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("keyed"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(lgPlain)}})).LaunchTemplate
	if aws.ToString(lt.CreatedBy) != creator {
		t.Fatalf("CreateLaunchTemplate CreatedBy: %q", aws.ToString(lt.CreatedBy))
	}
	v := must(ec.CreateLaunchTemplateVersion(e.ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: lt.LaunchTemplateId, SourceVersion: aws.String("1"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{BlockDeviceMappings: []ec2types.LaunchTemplateBlockDeviceMappingRequest{{DeviceName: aws.String("/dev/xvda"),
			Ebs: &ec2types.LaunchTemplateEbsBlockDeviceRequest{Encrypted: aws.Bool(true), KmsKeyId: aws.String(keyARN), DeleteOnTermination: aws.Bool(true)}}}}})).LaunchTemplateVersion
	if aws.ToString(v.CreatedBy) != creator {
		t.Fatalf("CreateLaunchTemplateVersion CreatedBy: %q", aws.ToString(v.CreatedBy))
	}
	got := must(e.ec2(lgAcct, lgRegion).DescribeLaunchTemplateVersions(e.ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: lt.LaunchTemplateId, Versions: []string{"2"}})).LaunchTemplateVersions[0]
	bdm := got.LaunchTemplateData.BlockDeviceMappings
	if len(bdm) != 1 || aws.ToString(bdm[0].Ebs.KmsKeyId) != keyARN || !aws.ToBool(bdm[0].Ebs.Encrypted) || !aws.ToBool(bdm[0].Ebs.DeleteOnTermination) ||
		aws.ToString(got.LaunchTemplateData.ImageId) != lgPlain || aws.ToString(got.CreatedBy) != creator {
		t.Fatalf("version 2: %+v %+v", got, bdm)
	}
	lts := must(e.ec2(lgAcct, lgRegion).DescribeLaunchTemplates(e.ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateIds: []string{*lt.LaunchTemplateId}})).LaunchTemplates
	if len(lts) != 1 || aws.ToString(lts[0].CreatedBy) != creator {
		t.Fatalf("DescribeLaunchTemplates CreatedBy: %+v", lts)
	}
	run := must(e.ec2(lgAcct, lgRegion).RunInstances(e.ctx, &ec2.RunInstancesInput{MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		LaunchTemplate: &ec2types.LaunchTemplateSpecification{LaunchTemplateId: lt.LaunchTemplateId, Version: aws.String("2")}}))
	vol := must(e.ec2(lgAcct, lgRegion).DescribeVolumes(e.ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{aws.ToString(run.Instances[0].BlockDeviceMappings[0].Ebs.VolumeId)}})).Volumes[0]
	if !aws.ToBool(vol.Encrypted) || aws.ToString(vol.KmsKeyId) != keyARN {
		t.Fatalf("volume from the version: %v %s", aws.ToBool(vol.Encrypted), aws.ToString(vol.KmsKeyId))
	}
}
