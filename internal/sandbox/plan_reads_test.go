package sandbox

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// The reads a zero-write plan makes, and the refusals they predict: instance
// types and their architectures, Auto Scaling's account limits, accounts
// without a default VPC, instance store-backed images, the AMI sharing quota,
// and a builder key the target may not use.

const (
	prAcct   = "222222222222"
	prOther  = "333333333333"
	prRegion = "us-east-1"
	prX86    = "ami-0123456789abcdef1"
	prArm    = "ami-0123456789abcdef3"
	prStore  = "ami-0123456789abcdef4"
	prI386   = "ami-0123456789abcdef5"
)

// prWorld: prAcct owns an x86_64, an arm64, an i386 and an instance
// store-backed image; extra is appended to its entry.
func prWorld(acctExtra, tail string) string {
	return `
regions: [us-east-1, eu-west-1]
accounts:
  - id: "` + prAcct + `"
    service_linked_roles: [AWSServiceRoleForAutoScaling]
    images:
      - {id: ` + prX86 + `, region: us-east-1, name: x86}
      - {id: ` + prArm + `, region: us-east-1, name: arm, architecture: arm64}
      - {id: ` + prI386 + `, region: us-east-1, name: old, architecture: i386}
      - {id: ` + prStore + `, region: us-east-1, name: store, root_device_type: instance-store, root_device_name: /dev/sda1}` + acctExtra + `
  - id: "` + prOther + `"
timing: {boot_seconds: 5, instance_seconds: 2, copy_seconds: 10}
faults: {throttle: false}
` + tail
}

const prArchMessage = "The architecture '%s' of the specified instance type does not match the architecture '%s' of the specified AMI. " +
	"Specify an instance type and an AMI that have matching architectures, and try again. " +
	"You can use 'describe-instance-types' or 'describe-images' to discover the architecture of the instance type or AMI."

// prRetryingEC2 is an EC2 client that retries as the SDK does by default. The
// harness's clients make one attempt; a read of many instance types is a
// large response, and aws-sdk-go-v2 can lose the keep-alive connection of one
// to a local endpoint ("use of closed network connection" while decoding,
// aws/aws-sdk-go-v2#2737), which its default retryer retries.
func prRetryingEC2(e *testEnv, account, region string) *ec2.Client {
	cfg := e.rootCfg(account, region)
	cfg.Retryer = func() aws.Retryer { return retry.NewStandard() }
	return ec2.NewFromConfig(cfg)
}

func TestDescribeInstanceTypesAnswersAWSValues(t *testing.T) {
	e := newTestEnv(t, prWorld("", ""))
	ec := prRetryingEC2(e, prAcct, prRegion)
	want := []struct {
		name       string
		vcpus, mib int64
		archs      string
	}{
		{"t2.micro", 1, 1024, "i386,x86_64"}, {"t3.micro", 2, 1024, "x86_64"}, {"t3.small", 2, 2048, "x86_64"},
		{"t3.medium", 2, 4096, "x86_64"}, {"t3a.micro", 2, 1024, "x86_64"}, {"m5.large", 2, 8192, "x86_64"},
		{"c5.large", 2, 4096, "x86_64"}, {"t4g.micro", 2, 1024, "arm64"}, {"t4g.small", 2, 2048, "arm64"},
		{"m6g.large", 2, 8192, "arm64"}, {"c6g.large", 2, 4096, "arm64"}, {"c7g.large", 2, 4096, "arm64"},
		{"m7g.large", 2, 8192, "arm64"}, {"a1.medium", 1, 2048, "arm64"}, {"mac1.metal", 12, 32768, "x86_64_mac"},
		{"m1.small", 1, 1740, "i386,x86_64"},
	}
	var names []string
	for _, w := range want {
		names = append(names, w.name)
	}
	out := lgMust(ec.DescribeInstanceTypes(e.ctx, &ec2.DescribeInstanceTypesInput{InstanceTypes: toInstanceTypes(names)}))(t)
	got := map[string]ec2types.InstanceTypeInfo{}
	for _, it := range out.InstanceTypes {
		got[string(it.InstanceType)] = it
	}
	for _, w := range want {
		it, ok := got[w.name]
		if !ok {
			t.Errorf("%s: not described", w.name)
			continue
		}
		var archs []string
		for _, a := range it.ProcessorInfo.SupportedArchitectures {
			archs = append(archs, string(a))
		}
		if aws.ToInt32(it.VCpuInfo.DefaultVCpus) != int32(w.vcpus) || aws.ToInt64(it.MemoryInfo.SizeInMiB) != w.mib || strings.Join(archs, ",") != w.archs {
			t.Errorf("%s: %d vCPUs, %d MiB, %v; want %d, %d, %s", w.name, aws.ToInt32(it.VCpuInfo.DefaultVCpus), aws.ToInt64(it.MemoryInfo.SizeInMiB), archs, w.vcpus, w.mib, w.archs)
		}
	}
	if mac := got["mac1.metal"]; !aws.ToBool(mac.BareMetal) || mac.Hypervisor != "" || aws.ToBool(mac.BurstablePerformanceSupported) {
		t.Errorf("mac1.metal: bare metal %v, hypervisor %q", aws.ToBool(mac.BareMetal), mac.Hypervisor)
	}
	if t3 := got["t3.micro"]; !aws.ToBool(t3.BurstablePerformanceSupported) || t3.Hypervisor != ec2types.InstanceTypeHypervisorNitro || !aws.ToBool(t3.CurrentGeneration) {
		t.Errorf("t3.micro: %+v", t3)
	}

	// An instance type the sandbox does not know: EC2's InvalidInstanceType.
	_, err := ec.DescribeInstanceTypes(e.ctx, &ec2.DescribeInstanceTypesInput{InstanceTypes: []ec2types.InstanceType{"t3.micro", "t3.mega"}})
	if errCode(err) != "InvalidInstanceType" || !strings.Contains(err.Error(), "The following supplied instance types do not exist: [t3.mega]") {
		t.Fatalf("unknown type: %v", err)
	}

	// The architecture filter, alone and with the instance-type filter.
	arm := lgMust(ec.DescribeInstanceTypes(e.ctx, &ec2.DescribeInstanceTypesInput{Filters: []ec2types.Filter{
		{Name: aws.String("processor-info.supported-architecture"), Values: []string{"arm64"}}}}))(t)
	seen := map[string]bool{}
	for _, it := range arm.InstanceTypes {
		seen[string(it.InstanceType)] = true
		if it.ProcessorInfo.SupportedArchitectures[0] != ec2types.ArchitectureTypeArm64 {
			t.Errorf("arm64 filter gave %s (%v)", it.InstanceType, it.ProcessorInfo.SupportedArchitectures)
		}
	}
	if !seen["t4g.micro"] || !seen["a1.medium"] || seen["t3.micro"] {
		t.Errorf("arm64 types: %v", seen)
	}
	micro := lgMust(ec.DescribeInstanceTypes(e.ctx, &ec2.DescribeInstanceTypesInput{Filters: []ec2types.Filter{
		{Name: aws.String("processor-info.supported-architecture"), Values: []string{"x86_64"}},
		{Name: aws.String("instance-type"), Values: []string{"*.micro"}}}}))(t)
	var microNames []string
	for _, it := range micro.InstanceTypes {
		microNames = append(microNames, string(it.InstanceType))
	}
	if strings.Join(microNames, ",") != "t2.micro,t3.micro,t3a.micro" {
		t.Errorf("x86_64 *.micro: %v", microNames)
	}

	// Pages of MaxResults, walked by the SDK's paginator, give the whole table once.
	all := lgMust(ec.DescribeInstanceTypes(e.ctx, &ec2.DescribeInstanceTypesInput{}))(t)
	if all.NextToken != nil || len(all.InstanceTypes) < 40 {
		t.Fatalf("whole table: %d types, next token %v", len(all.InstanceTypes), all.NextToken)
	}
	p := ec2.NewDescribeInstanceTypesPaginator(ec, &ec2.DescribeInstanceTypesInput{MaxResults: aws.Int32(5)})
	pages, count := 0, 0
	paged := map[string]bool{}
	for p.HasMorePages() {
		page := lgMust(p.NextPage(e.ctx))(t)
		if len(page.InstanceTypes) > 5 {
			t.Fatalf("page of %d types with MaxResults 5", len(page.InstanceTypes))
		}
		pages++
		for _, it := range page.InstanceTypes {
			paged[string(it.InstanceType)] = true
			count++
		}
	}
	if count != len(all.InstanceTypes) || len(paged) != count || pages != (count+4)/5 {
		t.Fatalf("paged %d types (%d distinct) in %d pages; want %d", count, len(paged), pages, len(all.InstanceTypes))
	}
	for _, bad := range []int32{4, 101} {
		if _, err := ec.DescribeInstanceTypes(e.ctx, &ec2.DescribeInstanceTypesInput{MaxResults: aws.Int32(bad)}); errCode(err) != "InvalidParameterValue" {
			t.Errorf("MaxResults %d: %v", bad, err)
		}
	}
	if _, err := ec.DescribeInstanceTypes(e.ctx, &ec2.DescribeInstanceTypesInput{NextToken: aws.String("garbage")}); errCode(err) != "InvalidParameterValue" {
		t.Errorf("bad NextToken: %v", err)
	}
	if _, err := ec.DescribeInstanceTypes(e.ctx, &ec2.DescribeInstanceTypesInput{Filters: []ec2types.Filter{{Name: aws.String("colour"), Values: []string{"red"}}}}); errCode(err) != "InvalidParameterValue" {
		t.Errorf("unknown filter: %v", err)
	}

	// A read: no mutating call counted.
	if n := e.srv.MutatingCalls(prAcct, prRegion); n != 0 || !ReadOnlyAction("ec2:DescribeInstanceTypes") {
		t.Fatalf("mutating calls after DescribeInstanceTypes: %d", n)
	}
	if e.srv.Calls(prAcct, prRegion, "ec2:DescribeInstanceTypes") == 0 {
		t.Fatal("DescribeInstanceTypes not counted")
	}
}

func toInstanceTypes(names []string) []ec2types.InstanceType {
	out := make([]ec2types.InstanceType, len(names))
	for i, n := range names {
		out[i] = ec2types.InstanceType(n)
	}
	return out
}

func TestRunInstancesRefusesAnImageItsInstanceTypeCannotRun(t *testing.T) {
	e := newTestEnv(t, prWorld("", ""))
	ec := e.ec2(prAcct, prRegion)
	run := func(image, itype string) error {
		in := &ec2.RunInstancesInput{ImageId: aws.String(image), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}
		if itype != "" {
			in.InstanceType = ec2types.InstanceType(itype)
		}
		_, err := ec.RunInstances(e.ctx, in)
		return err
	}
	for _, tc := range []struct {
		image, itype, code, msg string
	}{
		{prArm, "t3.micro", "InvalidParameterValue", fmt.Sprintf(prArchMessage, "x86_64", "arm64")},
		{prX86, "t4g.micro", "InvalidParameterValue", fmt.Sprintf(prArchMessage, "arm64", "x86_64")},
		{prArm, "mac1.metal", "InvalidParameterValue", fmt.Sprintf(prArchMessage, "x86_64_mac", "arm64")},
		{prI386, "t3.micro", "InvalidParameterValue", fmt.Sprintf(prArchMessage, "x86_64", "i386")},
		// No InstanceType: RunInstances' default, m1.small, runs no arm64 image.
		{prArm, "", "InvalidParameterValue", fmt.Sprintf(prArchMessage, "x86_64", "arm64")},
		{prX86, "t3.mega", "InvalidParameterValue", "Invalid value 't3.mega' for InstanceType."},
		{prStore, "t3.micro", "UnsupportedOperation", "AMI '" + prStore + "' with an instance-store root device is not supported for the instance type 't3.micro'."},
	} {
		err := run(tc.image, tc.itype)
		if errCode(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s on %q: want %s %q, got %v", tc.image, tc.itype, tc.code, tc.msg, err)
		}
	}
	for _, ok := range []struct{ image, itype string }{{prArm, "t4g.micro"}, {prArm, "a1.medium"}, {prX86, "t3.micro"}, {prI386, "t2.micro"}, {prX86, ""}} {
		if err := run(ok.image, ok.itype); err != nil {
			t.Errorf("%s on %q: %v", ok.image, ok.itype, err)
		}
	}
	// A refused RunInstances is still a mutating call.
	if n := e.srv.MutatingCalls(prAcct, prRegion); n != 12 {
		t.Errorf("mutating calls: %d, want 12", n)
	}
}

func TestAutoScalingRefusesAndFailsAMismatchedLaunchTemplate(t *testing.T) {
	e := newTestEnv(t, prWorld("", ""))
	ec, as := e.ec2(prAcct, prRegion), e.autoscaling(prAcct, prRegion)
	lt := lgMust(ec.CreateLaunchTemplate(e.ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("arm-on-x86"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(prArm), InstanceType: ec2types.InstanceTypeT3Micro}}))(t)
	ltID := lt.LaunchTemplate.LaunchTemplateId

	// Creating the group: Auto Scaling checks the template's instance type
	// against its image.
	_, err := as.CreateAutoScalingGroup(e.ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String("arm"), MinSize: aws.Int32(0), MaxSize: aws.Int32(1), DesiredCapacity: aws.Int32(1),
		LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: ltID}, AvailabilityZones: []string{"us-east-1a"},
	})
	want := "You must use a valid fully-formed launch template. " + fmt.Sprintf(prArchMessage, "x86_64", "arm64")
	if errCode(err) != "ValidationError" || !strings.Contains(err.Error(), want) {
		t.Fatalf("create with a mismatched template: %v", err)
	}

	// A group on $Latest made while the template was right launches what the
	// template says later: a new version that mismatches fails the launch,
	// with EC2's message in the scaling activity.
	lgMust(ec.CreateLaunchTemplateVersion(e.ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: ltID,
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(prArm), InstanceType: ec2types.InstanceTypeT4gMicro}}))(t)
	lgMust(as.CreateAutoScalingGroup(e.ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String("later"), MinSize: aws.Int32(0), MaxSize: aws.Int32(1), DesiredCapacity: aws.Int32(0),
		LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: ltID, Version: aws.String("$Latest")}, AvailabilityZones: []string{"us-east-1a"},
	}))(t)
	lgMust(ec.CreateLaunchTemplateVersion(e.ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: ltID,
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(prX86), InstanceType: ec2types.InstanceTypeT4gMicro}}))(t)
	lgMust(as.SetDesiredCapacity(e.ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("later"), DesiredCapacity: aws.Int32(1)}))(t)
	acts := lgMust(as.DescribeScalingActivities(e.ctx, &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String("later")}))(t).Activities
	if len(acts) != 1 {
		t.Fatalf("activities: %+v", acts)
	}
	msg := fmt.Sprintf(prArchMessage, "arm64", "x86_64") + " Launching EC2 instance failed."
	if a := acts[0]; a.StatusCode != astypes.ScalingActivityStatusCodeFailed || aws.ToString(a.StatusMessage) != msg ||
		aws.ToString(a.Description) != "Launching a new EC2 instance.  Status Reason: "+msg {
		t.Fatalf("activity: %s %q %q", a.StatusCode, aws.ToString(a.StatusMessage), aws.ToString(a.Description))
	}
	// Updating the group to a mismatched version is refused like creating it.
	_, err = as.UpdateAutoScalingGroup(e.ctx, &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String("later"),
		LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: ltID, Version: aws.String("1")}})
	if errCode(err) != "ValidationError" || !strings.Contains(err.Error(), want) {
		t.Fatalf("update to a mismatched version: %v", err)
	}
	// Back to version 2 (arm64 on t4g.micro): the next launch succeeds.
	lgMust(as.UpdateAutoScalingGroup(e.ctx, &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String("later"),
		LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: ltID, Version: aws.String("2")}}))(t)
	e.clock.Advance(10 * time.Minute)
	acts = lgMust(as.DescribeScalingActivities(e.ctx, &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String("later")}))(t).Activities
	if acts[0].StatusCode != astypes.ScalingActivityStatusCodeSuccessful {
		t.Fatalf("after the fix: %s %s", acts[0].StatusCode, aws.ToString(acts[0].StatusMessage))
	}
}

func TestDescribeAccountLimitsAndTheGroupQuota(t *testing.T) {
	e := newTestEnv(t, prWorld("\n    autoscaling_group_limit: 1", ""))
	as := e.autoscaling(prAcct, prRegion)
	limits := func(acct, region string) *autoscaling.DescribeAccountLimitsOutput {
		t.Helper()
		return lgMust(e.autoscaling(acct, region).DescribeAccountLimits(e.ctx, &autoscaling.DescribeAccountLimitsInput{}))(t)
	}
	if l := limits(prAcct, prRegion); aws.ToInt32(l.MaxNumberOfAutoScalingGroups) != 1 || aws.ToInt32(l.NumberOfAutoScalingGroups) != 0 ||
		aws.ToInt32(l.MaxNumberOfLaunchConfigurations) != 200 || aws.ToInt32(l.NumberOfLaunchConfigurations) != 0 {
		t.Fatalf("limits before: %+v", l)
	}
	if l := limits(prOther, prRegion); aws.ToInt32(l.MaxNumberOfAutoScalingGroups) != 500 {
		t.Fatalf("an account without autoscaling_group_limit: %d groups, want AWS's 500", aws.ToInt32(l.MaxNumberOfAutoScalingGroups))
	}
	lt := lgMust(e.ec2(prAcct, prRegion).CreateLaunchTemplate(e.ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("tpl"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(prX86), InstanceType: ec2types.InstanceTypeT3Micro}}))(t)
	group := func(name string) error {
		_, err := as.CreateAutoScalingGroup(e.ctx, &autoscaling.CreateAutoScalingGroupInput{
			AutoScalingGroupName: aws.String(name), MinSize: aws.Int32(0), MaxSize: aws.Int32(1), DesiredCapacity: aws.Int32(0),
			LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: lt.LaunchTemplate.LaunchTemplateId}, AvailabilityZones: []string{"us-east-1a"},
		})
		return err
	}
	lgMust(struct{}{}, group("first"))(t)
	if l := limits(prAcct, prRegion); aws.ToInt32(l.NumberOfAutoScalingGroups) != 1 {
		t.Fatalf("limits after one group: %+v", l)
	}
	err := group("second")
	if errCode(err) != "LimitExceeded" || !strings.Contains(err.Error(), "AutoScalingGroup limit exceeded - You may only have 1 AutoScalingGroups") {
		t.Fatalf("second group over the quota: %v", err)
	}
	// The quota is per region: the other region has none yet.
	if l := limits(prAcct, "eu-west-1"); aws.ToInt32(l.NumberOfAutoScalingGroups) != 0 || aws.ToInt32(l.MaxNumberOfAutoScalingGroups) != 1 {
		t.Fatalf("eu-west-1: %+v", l)
	}
	// Once the first group is gone, the second fits.
	lgMust(as.DeleteAutoScalingGroup(e.ctx, &autoscaling.DeleteAutoScalingGroupInput{AutoScalingGroupName: aws.String("first"), ForceDelete: aws.Bool(true)}))(t)
	e.clock.Advance(time.Minute)
	lgMust(struct{}{}, group("second"))(t)

	if !ReadOnlyAction("autoscaling:DescribeAccountLimits") {
		t.Fatal("DescribeAccountLimits counted as mutating")
	}
	if n := e.srv.Calls(prAcct, prRegion, "autoscaling:DescribeAccountLimits"); n != 2 {
		t.Fatalf("DescribeAccountLimits calls: %d", n)
	}
}

func TestAnAccountWithoutADefaultVPC(t *testing.T) {
	e := newTestEnv(t, prWorld("\n    default_vpc: {us-east-1: false}", ""))
	ec, as := e.ec2(prAcct, prRegion), e.autoscaling(prAcct, prRegion)

	if v := lgMust(ec.DescribeVpcs(e.ctx, &ec2.DescribeVpcsInput{}))(t); len(v.Vpcs) != 0 {
		t.Fatalf("vpcs: %+v", v.Vpcs)
	}
	if s := lgMust(ec.DescribeSubnets(e.ctx, &ec2.DescribeSubnetsInput{}))(t); len(s.Subnets) != 0 {
		t.Fatalf("subnets: %+v", s.Subnets)
	}
	if g := lgMust(ec.DescribeSecurityGroups(e.ctx, &ec2.DescribeSecurityGroupsInput{}))(t); len(g.SecurityGroups) != 0 {
		t.Fatalf("security groups: %+v", g.SecurityGroups)
	}
	attrs := lgMust(ec.DescribeAccountAttributes(e.ctx, &ec2.DescribeAccountAttributesInput{AttributeNames: []ec2types.AccountAttributeName{"default-vpc"}}))(t)
	if v := aws.ToString(attrs.AccountAttributes[0].AttributeValues[0].AttributeValue); v != "none" {
		t.Fatalf("default-vpc: %s, want none", v)
	}

	noVPC := "No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC."
	_, err := ec.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(prX86), InstanceType: ec2types.InstanceTypeT3Micro, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if errCode(err) != "VPCIdNotSpecified" || !strings.Contains(err.Error(), noVPC) {
		t.Fatalf("RunInstances without a subnet: %v", err)
	}
	_, err = ec.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(prX86), InstanceType: ec2types.InstanceTypeT3Micro, MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		SubnetId: aws.String("subnet-0123456789abcdef0")})
	if errCode(err) != "InvalidSubnetID.NotFound" {
		t.Fatalf("RunInstances in a subnet that does not exist: %v", err)
	}
	_, err = ec.DescribeSecurityGroups(e.ctx, &ec2.DescribeSecurityGroupsInput{GroupNames: []string{"default"}})
	if errCode(err) != "VPCIdNotSpecified" || !strings.Contains(err.Error(), noVPC) {
		t.Fatalf("DescribeSecurityGroups by name: %v", err)
	}
	_, err = ec.CreateSecurityGroup(e.ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("web"), Description: aws.String("web")})
	if errCode(err) != "VPCIdNotSpecified" || !strings.Contains(err.Error(), "No default VPC for this user") {
		t.Fatalf("CreateSecurityGroup without VpcId: %v", err)
	}

	lt := lgMust(ec.CreateLaunchTemplate(e.ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("tpl"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(prX86), InstanceType: ec2types.InstanceTypeT3Micro}}))(t)
	spec := &astypes.LaunchTemplateSpecification{LaunchTemplateId: lt.LaunchTemplate.LaunchTemplateId}
	_, err = as.CreateAutoScalingGroup(e.ctx, &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String("zones"),
		MinSize: aws.Int32(0), MaxSize: aws.Int32(1), DesiredCapacity: aws.Int32(1), LaunchTemplate: spec, AvailabilityZones: []string{"us-east-1a"}})
	if errCode(err) != "ValidationError" || !strings.Contains(err.Error(), "No default VPC for this user") {
		t.Fatalf("a group of Availability Zones only: %v", err)
	}
	_, err = as.CreateAutoScalingGroup(e.ctx, &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String("subnet"),
		MinSize: aws.Int32(0), MaxSize: aws.Int32(1), DesiredCapacity: aws.Int32(1), LaunchTemplate: spec, VPCZoneIdentifier: aws.String("subnet-0123456789abcdef0")})
	if errCode(err) != "ValidationError" || !strings.Contains(err.Error(), "The subnet ID 'subnet-0123456789abcdef0' does not exist") {
		t.Fatalf("a group in a subnet that does not exist: %v", err)
	}
	if g := lgMust(as.DescribeAutoScalingGroups(e.ctx, &autoscaling.DescribeAutoScalingGroupsInput{}))(t); len(g.AutoScalingGroups) != 0 {
		t.Fatalf("groups were created: %+v", g.AutoScalingGroups)
	}

	// The other region keeps its default VPC, and other accounts theirs.
	west := e.ec2(prAcct, "eu-west-1")
	attrs = lgMust(west.DescribeAccountAttributes(e.ctx, &ec2.DescribeAccountAttributesInput{AttributeNames: []ec2types.AccountAttributeName{"default-vpc"}}))(t)
	if v := aws.ToString(attrs.AccountAttributes[0].AttributeValues[0].AttributeValue); !strings.HasPrefix(v, "vpc-") {
		t.Fatalf("eu-west-1 default-vpc: %s", v)
	}
	if v := lgMust(e.ec2(prOther, prRegion).DescribeVpcs(e.ctx, &ec2.DescribeVpcsInput{}))(t); len(v.Vpcs) != 1 || !aws.ToBool(v.Vpcs[0].IsDefault) {
		t.Fatalf("another account's default VPC: %+v", v.Vpcs)
	}
}

func TestInstanceStoreBackedImages(t *testing.T) {
	e := newTestEnv(t, prWorld("", ""))
	ec := e.ec2(prAcct, prRegion)
	im := lgMust(ec.DescribeImages(e.ctx, &ec2.DescribeImagesInput{ImageIds: []string{prStore, prX86}}))(t).Images
	byID := map[string]ec2types.Image{}
	for _, i := range im {
		byID[aws.ToString(i.ImageId)] = i
	}
	store, ebs := byID[prStore], byID[prX86]
	if store.RootDeviceType != ec2types.DeviceTypeInstanceStore || aws.ToString(store.RootDeviceName) != "/dev/sda1" || len(store.BlockDeviceMappings) != 1 ||
		store.BlockDeviceMappings[0].Ebs != nil || aws.ToString(store.BlockDeviceMappings[0].DeviceName) != "/dev/sda1" || aws.ToString(store.BlockDeviceMappings[0].VirtualName) != "ephemeral0" {
		t.Fatalf("instance store-backed image: %+v %+v", store, store.BlockDeviceMappings)
	}
	if ebs.RootDeviceType != ec2types.DeviceTypeEbs || ebs.BlockDeviceMappings[0].Ebs == nil {
		t.Fatalf("EBS-backed image: %+v", ebs)
	}
	filtered := lgMust(ec.DescribeImages(e.ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}, Filters: []ec2types.Filter{{Name: aws.String("root-device-type"), Values: []string{"instance-store"}}}}))(t)
	if len(filtered.Images) != 1 || aws.ToString(filtered.Images[0].ImageId) != prStore {
		t.Fatalf("root-device-type filter: %+v", filtered.Images)
	}

	// CopyImage with Encrypted: no snapshot to encrypt.
	_, err := ec.CopyImage(e.ctx, &ec2.CopyImageInput{SourceImageId: aws.String(prStore), SourceRegion: aws.String(prRegion), Name: aws.String("store-enc"), Encrypted: aws.Bool(true)})
	if errCode(err) != "InvalidParameterCombination" || !strings.Contains(err.Error(), "instance store-backed") {
		t.Fatalf("encrypted copy of an instance store-backed image: %v", err)
	}
	// Without Encrypted it copies, and stays instance store-backed.
	cp := lgMust(ec.CopyImage(e.ctx, &ec2.CopyImageInput{SourceImageId: aws.String(prStore), SourceRegion: aws.String(prRegion), Name: aws.String("store-copy")}))(t)
	e.clock.Advance(11 * time.Second)
	c := lgMust(ec.DescribeImages(e.ctx, &ec2.DescribeImagesInput{ImageIds: []string{aws.ToString(cp.ImageId)}}))(t).Images[0]
	if c.State != ec2types.ImageStateAvailable || c.RootDeviceType != ec2types.DeviceTypeInstanceStore {
		t.Fatalf("plain copy: %s %s", c.State, c.RootDeviceType)
	}

	// It runs on a type with an instance store root device only.
	run := lgMust(ec.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(prStore), InstanceType: ec2types.InstanceTypeM1Small, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}))(t)
	if in := run.Instances[0]; in.RootDeviceType != ec2types.DeviceTypeInstanceStore || len(in.BlockDeviceMappings) != 0 {
		t.Fatalf("instance of an instance store-backed image: %s %+v", in.RootDeviceType, in.BlockDeviceMappings)
	}
	e.clock.Advance(3 * time.Second)
	_, err = ec.CreateImage(e.ctx, &ec2.CreateImageInput{InstanceId: run.Instances[0].InstanceId, Name: aws.String("from-store")})
	if errCode(err) != "InvalidParameterValue" {
		t.Fatalf("CreateImage from an instance store-backed instance: %v", err)
	}
}

func TestModifyImageAttributeStopsAtTheAMISharingQuota(t *testing.T) {
	e := newTestEnv(t, `
regions: [us-east-1]
accounts:
  - id: "111111111111"
    images:
      - {id: ami-0123456789abcdef1, region: us-east-1, name: base, launch_permissions: ["222222222222"]}
  - id: "222222222222"
  - id: "333333333333"
  - id: "444444444444"
limits: {image_share_accounts: 2}
faults: {throttle: false}
`)
	ec := e.ec2("111111111111", "us-east-1")
	share := func(add, remove []string) error {
		mods := &ec2types.LaunchPermissionModifications{}
		for _, a := range add {
			mods.Add = append(mods.Add, ec2types.LaunchPermission{UserId: aws.String(a)})
		}
		for _, r := range remove {
			mods.Remove = append(mods.Remove, ec2types.LaunchPermission{UserId: aws.String(r)})
		}
		_, err := ec.ModifyImageAttribute(e.ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String("ami-0123456789abcdef1"), LaunchPermission: mods})
		return err
	}
	perms := func() []string {
		out := lgMust(ec.DescribeImageAttribute(e.ctx, &ec2.DescribeImageAttributeInput{ImageId: aws.String("ami-0123456789abcdef1"), Attribute: ec2types.ImageAttributeNameLaunchPermission}))(t)
		var ids []string
		for _, p := range out.LaunchPermissions {
			ids = append(ids, aws.ToString(p.UserId))
		}
		return ids
	}
	if err := share([]string{"333333333333"}, nil); err != nil {
		t.Fatalf("second account: %v", err)
	}
	err := share([]string{"444444444444"}, nil)
	if errCode(err) != "ResourceLimitExceeded" || !strings.Contains(err.Error(), "You have reached your quota of 2 for the number of entities that an AMI can be shared with in this Region") {
		t.Fatalf("third account over a quota of 2: %v", err)
	}
	if got := strings.Join(perms(), ","); got != "222222222222,333333333333" {
		t.Fatalf("a refused request changed the permissions: %s", got)
	}
	// Sharing the same account again, or swapping one for another, stays within it.
	if err := share([]string{"333333333333"}, nil); err != nil {
		t.Fatalf("an account already shared with: %v", err)
	}
	if err := share([]string{"444444444444"}, []string{"222222222222"}); err != nil {
		t.Fatalf("swap: %v", err)
	}
	if got := strings.Join(perms(), ","); got != "333333333333,444444444444" {
		t.Fatalf("after the swap: %s", got)
	}
	// The quota can be changed while running (the admin endpoint), like the
	// other limits.
	var b Behaviour
	getJSON(t, e.http.URL+"/_sandbox/behaviour", &b)
	if b.ImageShareAccounts != 2 {
		t.Fatalf("behaviour: image_share_accounts %d", b.ImageShareAccounts)
	}
}

func TestCopyFromTheTargetFailsWhenTheBuilderKeyDoesNotNameIt(t *testing.T) {
	// The builder's source image is under its own customer managed key,
	// shared with the target; the key's policy (KMS's default: the builder's
	// root only) does not name the target, so EBS cannot read the source for
	// the target's copy.
	world := func(builderKeyPolicy string) string {
		policy := ""
		if builderKeyPolicy != "" {
			policy = "\n        policy: '" + builderKeyPolicy + "'"
		}
		return `
regions: [us-east-1]
accounts:
  - id: "111111111111"
    images:
      - {id: ami-0123456789abcdef1, region: us-east-1, name: base, encrypted: alias/builder, launch_permissions: ["222222222222"]}
    keys:
      - alias: alias/builder
        region: us-east-1` + policy + `
  - id: "222222222222"
    keys:
      - {alias: alias/dedicated, region: us-east-1}
timing: {copy_seconds: 10}
faults: {throttle: false}
`
	}
	copyAndWait := func(e *testEnv) ec2types.Image {
		t.Helper()
		tgt := e.ec2("222222222222", "us-east-1")
		out := lgMust(tgt.CopyImage(e.ctx, &ec2.CopyImageInput{SourceImageId: aws.String("ami-0123456789abcdef1"), SourceRegion: aws.String("us-east-1"),
			Name: aws.String("base-encrypted"), Encrypted: aws.Bool(true), KmsKeyId: aws.String("alias/dedicated")}))(t)
		e.clock.Advance(11 * time.Second)
		return lgMust(tgt.DescribeImages(e.ctx, &ec2.DescribeImagesInput{ImageIds: []string{aws.ToString(out.ImageId)}}))(t).Images[0]
	}

	e := newTestEnv(t, world(""))
	builderKey := lgMust(e.kms("111111111111", "us-east-1").DescribeKey(e.ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/builder")}))(t).KeyMetadata
	img := copyAndWait(e)
	if img.State != ec2types.ImageStateFailed || img.StateReason == nil || aws.ToString(img.StateReason.Code) != "Client.InvalidKMSKey.AccessDenied" ||
		!strings.Contains(aws.ToString(img.StateReason.Message), aws.ToString(builderKey.Arn)) ||
		!strings.Contains(aws.ToString(img.StateReason.Message), "arn:aws:iam::222222222222:root") {
		t.Fatalf("copy under a builder key that does not name the target: %s %+v", img.State, img.StateReason)
	}

	// The same key with a statement for the target account: the copy succeeds.
	named := `{"Version":"2012-10-17","Statement":[` + lgRootStatement("111111111111") + `,` +
		`{"Sid":"Targets","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":["kms:Decrypt","kms:DescribeKey","kms:CreateGrant","kms:ReEncrypt*"],"Resource":"*"}]}`
	e = newTestEnv(t, world(named))
	if img := copyAndWait(e); img.State != ec2types.ImageStateAvailable {
		t.Fatalf("copy under a builder key that names the target: %s %+v", img.State, img.StateReason)
	}
}

// TestAWSCLIReadsWhatAPlanReads drives the new reads with the real AWS CLI:
// the instance types of an architecture, an unknown type's error, and Auto
// Scaling's account limits.
func TestAWSCLIReadsWhatAPlanReads(t *testing.T) {
	bin := awsCLI(t)
	e := newTestEnv(t, prWorld("\n    autoscaling_group_limit: 7", ""))
	cli := &cliRunner{t: t, bin: bin, endpoint: e.http.URL, home: t.TempDir()}
	out := cli.run(prAcct, prRegion, "ec2", "describe-instance-types", "--instance-types", "t4g.micro", "t3.micro")
	types, _ := dig(out, "InstanceTypes").([]any)
	if len(types) != 2 || digStr(out, "InstanceTypes", 0, "InstanceType") != "t3.micro" || digStr(out, "InstanceTypes", 1, "ProcessorInfo", "SupportedArchitectures", 0) != "arm64" ||
		dig(out, "InstanceTypes", 1, "MemoryInfo", "SizeInMiB") != float64(1024) || dig(out, "InstanceTypes", 1, "VCpuInfo", "DefaultVCpus") != float64(2) {
		t.Fatalf("describe-instance-types: %v", out)
	}
	if _, err := cli.try(prAcct, prRegion, "ec2", "describe-instance-types", "--instance-types", "t3.mega"); err == nil ||
		!strings.Contains(err.Error(), "InvalidInstanceType") || !strings.Contains(err.Error(), "The following supplied instance types do not exist: [t3.mega]") {
		t.Fatalf("unknown type: %v", err)
	}
	limits := cli.run(prAcct, prRegion, "autoscaling", "describe-account-limits")
	if dig(limits, "MaxNumberOfAutoScalingGroups") != float64(7) || dig(limits, "NumberOfAutoScalingGroups") != float64(0) ||
		dig(limits, "MaxNumberOfLaunchConfigurations") != float64(200) || dig(limits, "NumberOfLaunchConfigurations") != float64(0) {
		t.Fatalf("describe-account-limits: %v", limits)
	}
}
