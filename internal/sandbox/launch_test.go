package sandbox

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// Launch tests: instances, launch templates, the default network and Auto
// Scaling groups, through real aws-sdk-go-v2 clients, moving the sandbox clock
// instead of sleeping.

const (
	lgAcct   = "222222222222" // the group's (target) account
	lgOther  = "444444444444" // owns a key used cross-account (F6)
	lgRegion = "us-east-1"
	lgEncAMI = "ami-0123456789abcdef0" // encrypted under alias/k of lgAcct
	lgPlain  = "ami-0123456789abcdef1" // unencrypted
	lgShared = "ami-0123456789abcdef2" // owned by lgOther, under its alias/shared, launchable by lgAcct
)

var (
	lgDefaultSLR = "arn:aws:iam::" + lgAcct + ":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
	lgCMKSLR     = "arn:aws:iam::" + lgAcct + ":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_CMK"
)

// Key policies as JSON strings.
func lgRootStatement(acct string) string {
	return `{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"kms:*","Resource":"*"}`
}

func lgPolicy(statements ...string) string {
	return `'{"Version":"2012-10-17","Statement":[` + strings.Join(statements, ",") + `]}'`
}

// lgSeed003 is seed 003 case 1: the two statements naming a service-linked role.
func lgSeed003(principal string) []string {
	return []string{
		`{"Sid":"Allow use of the key","Effect":"Allow","Principal":{"AWS":["` + principal + `"]},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"}`,
		`{"Sid":"Allow attachment of persistent resources","Effect":"Allow","Principal":{"AWS":["` + principal + `"]},"Action":["kms:CreateGrant"],"Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":true}}}`,
	}
}

// lgSeed004 is the aws/ebs-style statement: every principal of the account, through EC2.
func lgSeed004(acct string) string {
	return `{"Sid":"Allow access through EBS for all principals in the account","Effect":"Allow","Principal":{"AWS":"*"},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:CreateGrant","kms:DescribeKey"],"Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"` + acct + `","kms:ViaService":"ec2.us-east-1.amazonaws.com"}}}`
}

// lgWorld builds a world: lgAcct owns lgEncAMI under alias/k (with keyPolicy,
// "" = KMS's default policy) and lgPlain; extra is appended to lgAcct's entry.
func lgWorld(keyPolicy, keyExtra, acctExtra string) string {
	policyLine := ""
	if keyPolicy != "" {
		policyLine = "\n        policy: " + keyPolicy
	}
	return `
regions: [us-east-1]
accounts:
  - id: "` + lgAcct + `"
    service_linked_roles: [AWSServiceRoleForAutoScaling, AWSServiceRoleForAutoScaling_CMK]
    images:
      - {id: ` + lgEncAMI + `, region: us-east-1, name: enc, encrypted: alias/k}
      - {id: ` + lgPlain + `, region: us-east-1, name: plain, encrypted: false}
    keys:
      - alias: alias/k
        region: us-east-1` + policyLine + keyExtra + acctExtra + `
timing: {boot_seconds: 5, instance_seconds: 2}
faults: {throttle: false}
`
}

type lgGroupOpts struct {
	image  string
	slr    string
	ltData *ec2types.RequestLaunchTemplateData
}

// lgCreateGroup makes a launch template and a group of desired capacity 1.
func lgCreateGroup(t *testing.T, e *testEnv, name string, o lgGroupOpts) {
	t.Helper()
	data := o.ltData
	if data == nil {
		data = &ec2types.RequestLaunchTemplateData{}
	}
	if data.ImageId == nil {
		data.ImageId = aws.String(o.image)
	}
	if data.InstanceType == "" {
		data.InstanceType = ec2types.InstanceTypeT3Micro
	}
	lt := lgMust(e.ec2(lgAcct, lgRegion).CreateLaunchTemplate(e.ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(name + "-lt"), LaunchTemplateData: data,
	}))(t)
	in := &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(name),
		LaunchTemplate:       &astypes.LaunchTemplateSpecification{LaunchTemplateId: lt.LaunchTemplate.LaunchTemplateId, Version: aws.String("$Latest")},
		MinSize:              aws.Int32(0), MaxSize: aws.Int32(1), DesiredCapacity: aws.Int32(1),
		AvailabilityZones: []string{"us-east-1a"},
	}
	if o.slr != "" {
		in.ServiceLinkedRoleARN = aws.String(o.slr)
	}
	lgMust(e.autoscaling(lgAcct, lgRegion).CreateAutoScalingGroup(e.ctx, in))(t)
}

// lgActivities returns a group's activities, newest first.
func lgActivities(t *testing.T, e *testEnv, name string) []astypes.Activity {
	t.Helper()
	out := lgMust(e.autoscaling(lgAcct, lgRegion).DescribeScalingActivities(e.ctx, &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String(name)}))(t)
	return out.Activities
}

// lgMust checks a call's error: lgMust(client.Call(...))(t).
func lgMust[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v
	}
}

var lgInstanceRE = regexp.MustCompile(`i-[0-9a-f]+`)

// lgFirstLaunch returns the group's first (oldest) activity and its instance id.
func lgFirstLaunch(t *testing.T, e *testEnv, name string) (astypes.Activity, string) {
	t.Helper()
	acts := lgActivities(t, e, name)
	if len(acts) == 0 {
		t.Fatalf("group %s has no activities", name)
	}
	a := acts[len(acts)-1]
	return a, lgInstanceRE.FindString(aws.ToString(a.Description))
}

func lgInstance(t *testing.T, e *testEnv, acct, id string) ec2types.Instance {
	t.Helper()
	out := lgMust(e.ec2(acct, lgRegion).DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}))(t)
	return out.Reservations[0].Instances[0]
}

// lgExpectFailed checks the F2 shape: a Failed launch whose message carries
// EC2's state reason, and the instance terminated with it.
func lgExpectFailed(t *testing.T, e *testEnv, name, reason string) {
	t.Helper()
	a, id := lgFirstLaunch(t, e, name)
	if a.StatusCode != astypes.ScalingActivityStatusCodeFailed {
		t.Fatalf("activity %s: want Failed, got %s (%s)", aws.ToString(a.Description), a.StatusCode, aws.ToString(a.StatusMessage))
	}
	want := "Instance became unhealthy while waiting for instance to be in InService state. Termination Reason: " + reason
	if aws.ToString(a.StatusMessage) != want {
		t.Fatalf("StatusMessage:\n got %q\nwant %q", aws.ToString(a.StatusMessage), want)
	}
	if !strings.Contains(aws.ToString(a.Description), "Launching a new EC2 instance: "+id) || !strings.Contains(aws.ToString(a.Description), "Status Reason: "+want) {
		t.Fatalf("Description: %q", aws.ToString(a.Description))
	}
	if aws.ToInt32(a.Progress) != 100 || a.EndTime == nil || a.Cause == nil || !strings.Contains(*a.Cause, "increasing the capacity from 0 to 1") {
		t.Fatalf("activity fields: %+v", a)
	}
	in := lgInstance(t, e, lgAcct, id)
	code := strings.SplitN(reason, ":", 2)[0]
	if in.State.Name != ec2types.InstanceStateNameTerminated || in.StateReason == nil || aws.ToString(in.StateReason.Code) != code || aws.ToString(in.StateReason.Message) != reason {
		t.Fatalf("instance %s: state %s reason %+v", id, in.State.Name, in.StateReason)
	}
}

func lgExpectSuccessful(t *testing.T, e *testEnv, name string) string {
	t.Helper()
	a, id := lgFirstLaunch(t, e, name)
	if a.StatusCode != astypes.ScalingActivityStatusCodeSuccessful {
		t.Fatalf("activity %s: want Successful, got %s: %s", aws.ToString(a.Description), a.StatusCode, aws.ToString(a.StatusMessage))
	}
	g := lgMust(e.autoscaling(lgAcct, lgRegion).DescribeAutoScalingGroups(e.ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}}))(t)
	gi := g.AutoScalingGroups[0].Instances
	if len(gi) != 1 || aws.ToString(gi[0].InstanceId) != id || gi[0].LifecycleState != astypes.LifecycleStateInService || aws.ToString(gi[0].HealthStatus) != "Healthy" {
		t.Fatalf("group instances: %+v", gi)
	}
	if in := lgInstance(t, e, lgAcct, id); in.State.Name != ec2types.InstanceStateNameRunning {
		t.Fatalf("instance %s is %s", id, in.State.Name)
	}
	return id
}

const lgClientError = "Client.InternalError: Client error on launch"

func TestLaunchF2RootOnlyKeyPolicyFailsTheGroupLaunch(t *testing.T) {
	e := newTestEnv(t, lgWorld(lgPolicy(lgRootStatement(lgAcct)), "", ""))
	lgCreateGroup(t, e, "f2", lgGroupOpts{image: lgEncAMI})

	// Right after creation: a launch in progress, the instance pending and launched by the role.
	a, id := lgFirstLaunch(t, e, "f2")
	if a.StatusCode != astypes.ScalingActivityStatusCodeInProgress || id == "" {
		t.Fatalf("fresh launch: %s %q", a.StatusCode, aws.ToString(a.Description))
	}
	if !strings.Contains(aws.ToString(a.Cause), "a user request created an AutoScalingGroup changing the desired capacity from 0 to 1") {
		t.Fatalf("cause: %q", aws.ToString(a.Cause))
	}
	g := lgMust(e.autoscaling(lgAcct, lgRegion).DescribeAutoScalingGroups(e.ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"f2"}}))(t)
	if gi := g.AutoScalingGroups[0].Instances; len(gi) != 1 || gi[0].LifecycleState != astypes.LifecycleStatePending {
		t.Fatalf("pending instance: %+v", gi)
	}
	if in := lgInstance(t, e, lgAcct, id); in.State.Name != ec2types.InstanceStateNamePending || in.Tags == nil {
		t.Fatalf("instance: %s", in.State.Name)
	}
	e.srv.cloud.mu.Lock()
	launchedBy := e.srv.cloud.state.Accounts[lgAcct].Regions[lgRegion].Instances[id].LaunchedBy
	e.srv.cloud.mu.Unlock()
	if launchedBy != lgDefaultSLR {
		t.Fatalf("LaunchedBy %s", launchedBy)
	}

	e.clock.Advance(5 * time.Second)
	lgExpectFailed(t, e, "f2", lgClientError)
	if g := lgMust(e.autoscaling(lgAcct, lgRegion).DescribeAutoScalingGroups(e.ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"f2"}}))(t); len(g.AutoScalingGroups[0].Instances) != 0 {
		t.Fatalf("failed instance still in the group: %+v", g.AutoScalingGroups[0].Instances)
	}

	// Auto Scaling tries again after a backoff, and fails the same way.
	e.clock.Advance(10 * time.Second)
	acts := lgActivities(t, e, "f2")
	if len(acts) != 2 || acts[0].StatusCode != astypes.ScalingActivityStatusCodeInProgress {
		t.Fatalf("retry: %d activities, newest %s", len(acts), acts[0].StatusCode)
	}
	e.clock.Advance(5 * time.Second)
	acts = lgActivities(t, e, "f2")
	if acts[0].StatusCode != astypes.ScalingActivityStatusCodeFailed {
		t.Fatalf("retry: %s", acts[0].StatusCode)
	}
	// The backoff grows, and the list stays bounded however long it fails.
	e.clock.Advance(10 * time.Second)
	if n := len(lgActivities(t, e, "f2")); n != 2 {
		t.Fatalf("second retry came before its backoff: %d activities", n)
	}
	for i := 0; i < 400; i++ {
		e.clock.Advance(30 * time.Second)
		e.autoscaling(lgAcct, lgRegion).DescribeAutoScalingGroups(e.ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
	}
	e.srv.cloud.mu.Lock()
	n := len(e.srv.cloud.state.Accounts[lgAcct].Regions[lgRegion].Groups["f2"].Activities)
	e.srv.cloud.mu.Unlock()
	if n > asgMaxActivities || n < 10 {
		t.Fatalf("activities kept: %d", n)
	}
}

func TestLaunchSeed003StatementsLetTheGroupLaunch(t *testing.T) {
	e := newTestEnv(t, lgWorld(lgPolicy(append([]string{lgRootStatement(lgAcct)}, lgSeed003(lgDefaultSLR)...)...), "", ""))
	lgCreateGroup(t, e, "ok", lgGroupOpts{image: lgEncAMI})
	e.clock.Advance(5 * time.Second)
	id := lgExpectSuccessful(t, e, "ok")
	in := lgInstance(t, e, lgAcct, id)
	tags := map[string]string{}
	for _, tg := range in.Tags {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	if tags["aws:autoscaling:groupName"] != "ok" || tags["aws:ec2launchtemplate:version"] != "1" {
		t.Fatalf("instance tags: %v", tags)
	}
}

func TestLaunchF3CustomSuffixRoleMustBeTheOneTheKeyNames(t *testing.T) {
	// The policy names the default role; the group uses the _CMK one.
	e := newTestEnv(t, lgWorld(lgPolicy(append([]string{lgRootStatement(lgAcct)}, lgSeed003(lgDefaultSLR)...)...), "", ""))
	lgCreateGroup(t, e, "f3", lgGroupOpts{image: lgEncAMI, slr: lgCMKSLR})
	e.clock.Advance(5 * time.Second)
	lgExpectFailed(t, e, "f3", lgClientError)

	// Naming the suffix role fixes it.
	e = newTestEnv(t, lgWorld(lgPolicy(append([]string{lgRootStatement(lgAcct)}, lgSeed003(lgCMKSLR)...)...), "", ""))
	lgCreateGroup(t, e, "f3", lgGroupOpts{image: lgEncAMI, slr: lgCMKSLR})
	e.clock.Advance(5 * time.Second)
	lgExpectSuccessful(t, e, "f3")
	g := lgMust(e.autoscaling(lgAcct, lgRegion).DescribeAutoScalingGroups(e.ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"f3"}}))(t)
	if aws.ToString(g.AutoScalingGroups[0].ServiceLinkedRoleARN) != lgCMKSLR {
		t.Fatalf("role: %s", aws.ToString(g.AutoScalingGroups[0].ServiceLinkedRoleARN))
	}
}

func TestLaunchSeed004WildcardViaServiceStatementCoversTheRole(t *testing.T) {
	e := newTestEnv(t, lgWorld(lgPolicy(lgRootStatement(lgAcct), lgSeed004(lgAcct)), "", ""))
	lgCreateGroup(t, e, "s4", lgGroupOpts{image: lgEncAMI, slr: lgCMKSLR})
	e.clock.Advance(5 * time.Second)
	lgExpectSuccessful(t, e, "s4")
}

func TestLaunchF6KeyOfAnotherAccountNeedsAGrantToTheRole(t *testing.T) {
	// lgOther owns the AMI's key; its policy lets lgAcct's root use the key and
	// create grants (seed 003 case 2) — which delegates to lgAcct's IAM, and the
	// role's policy has no KMS action.
	otherPolicy := lgPolicy(lgRootStatement(lgOther),
		`{"Sid":"Allow use of the key","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::`+lgAcct+`:root"]},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"}`,
		`{"Sid":"Allow attachment of persistent resources","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::`+lgAcct+`:root"]},"Action":["kms:CreateGrant"],"Resource":"*"}`)
	other := `
  - id: "` + lgOther + `"
    images:
      - {id: ` + lgShared + `, region: us-east-1, name: shared, encrypted: alias/shared, launch_permissions: ["` + lgAcct + `"]}
    keys:
      - alias: alias/shared
        region: us-east-1
        policy: ` + otherPolicy
	e := newTestEnv(t, lgWorld("", "", other))
	lgCreateGroup(t, e, "f6", lgGroupOpts{image: lgShared})
	e.clock.Advance(5 * time.Second)
	lgExpectFailed(t, e, "f6", lgClientError)

	// From the group's account, grant the role the key (seed 003 case 2, step 4).
	k := e.kms(lgAcct, lgRegion)
	key := lgMust(k.DescribeKey(e.ctx, &kms.DescribeKeyInput{KeyId: aws.String("arn:aws:kms:us-east-1:" + lgOther + ":alias/shared")}))(t)
	_, err := k.CreateGrant(e.ctx, &kms.CreateGrantInput{
		KeyId: key.KeyMetadata.Arn, GranteePrincipal: aws.String(lgDefaultSLR),
		Operations: []kmstypes.GrantOperation{"Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "DescribeKey", "CreateGrant"},
	})
	if err != nil {
		t.Fatalf("CreateGrant from the group's account: %v", err)
	}
	// The retry (after the backoff) launches and now succeeds.
	e.clock.Advance(10 * time.Second)
	e.clock.Advance(5 * time.Second)
	acts := lgActivities(t, e, "f6")
	if len(acts) != 2 || acts[0].StatusCode != astypes.ScalingActivityStatusCodeSuccessful {
		t.Fatalf("after the grant: %d activities, newest %s: %s", len(acts), acts[0].StatusCode, aws.ToString(acts[0].StatusMessage))
	}
	if !strings.Contains(aws.ToString(acts[0].Cause), "an instance was started in response to a difference between desired and actual capacity") {
		t.Fatalf("retry cause: %q", aws.ToString(acts[0].Cause))
	}
}

func TestLaunchF5DisabledKeyFailsWithInvalidState(t *testing.T) {
	e := newTestEnv(t, lgWorld(lgPolicy(lgRootStatement(lgAcct), lgSeed004(lgAcct)), "\n        state: Disabled", ""))
	lgCreateGroup(t, e, "f5", lgGroupOpts{image: lgEncAMI})
	e.clock.Advance(5 * time.Second)
	lgExpectFailed(t, e, "f5", "Client.InvalidKMSKey.InvalidState: The KMS key provided is in an incorrect state")
}

func TestLaunchF8EncryptedWithoutKeyUsesTheAccountDefaultKey(t *testing.T) {
	e := newTestEnv(t, lgWorld(lgPolicy(lgRootStatement(lgAcct), lgSeed004(lgAcct)), "", "\n    ebs_encryption_by_default: true"))
	lgCreateGroup(t, e, "f8", lgGroupOpts{image: lgEncAMI, ltData: &ec2types.RequestLaunchTemplateData{
		BlockDeviceMappings: []ec2types.LaunchTemplateBlockDeviceMappingRequest{{DeviceName: aws.String("/dev/xvda"), Ebs: &ec2types.LaunchTemplateEbsBlockDeviceRequest{Encrypted: aws.Bool(true)}}},
	}})
	e.clock.Advance(5 * time.Second)
	id := lgExpectSuccessful(t, e, "f8")
	k := e.kms(lgAcct, lgRegion)
	ebsKey := lgMust(k.DescribeKey(e.ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/aws/ebs")}))(t)
	dedicated := lgMust(k.DescribeKey(e.ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/k")}))(t)
	vols := lgMust(e.ec2(lgAcct, lgRegion).DescribeVolumes(e.ctx, &ec2.DescribeVolumesInput{Filters: []ec2types.Filter{{Name: aws.String("attachment.instance-id"), Values: []string{id}}}}))(t)
	if len(vols.Volumes) != 1 {
		t.Fatalf("volumes: %+v", vols.Volumes)
	}
	v := vols.Volumes[0]
	if !aws.ToBool(v.Encrypted) || aws.ToString(v.KmsKeyId) != aws.ToString(ebsKey.KeyMetadata.Arn) || aws.ToString(v.KmsKeyId) == aws.ToString(dedicated.KeyMetadata.Arn) {
		t.Fatalf("F8: volume under %s, want aws/ebs %s", aws.ToString(v.KmsKeyId), aws.ToString(ebsKey.KeyMetadata.Arn))
	}

	// Naming the dedicated key in the template keeps the volume under it.
	ec := e.ec2(lgAcct, lgRegion)
	out := lgMust(ec.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(lgEncAMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		BlockDeviceMappings: []ec2types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &ec2types.EbsBlockDevice{Encrypted: aws.Bool(true), KmsKeyId: aws.String("alias/k")}}}}))(t)
	vols = lgMust(ec.DescribeVolumes(e.ctx, &ec2.DescribeVolumesInput{Filters: []ec2types.Filter{{Name: aws.String("attachment.instance-id"), Values: []string{aws.ToString(out.Instances[0].InstanceId)}}}}))(t)
	if aws.ToString(vols.Volumes[0].KmsKeyId) != aws.ToString(dedicated.KeyMetadata.Arn) {
		t.Fatalf("named key: volume under %s", aws.ToString(vols.Volumes[0].KmsKeyId))
	}
}

func TestLaunchFixingTheKeyPolicyBeforeTheLaunchResolvesMakesItSucceed(t *testing.T) {
	e := newTestEnv(t, lgWorld(lgPolicy(lgRootStatement(lgAcct)), "", ""))
	lgCreateGroup(t, e, "fix", lgGroupOpts{image: lgEncAMI})
	e.clock.Advance(2 * time.Second)
	fixed := `{"Version":"2012-10-17","Statement":[` + lgRootStatement(lgAcct) + "," + strings.Join(lgSeed003(lgDefaultSLR), ",") + `]}`
	k := e.kms(lgAcct, lgRegion)
	key := lgMust(k.DescribeKey(e.ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/k")}))(t)
	lgMust(k.PutKeyPolicy(e.ctx, &kms.PutKeyPolicyInput{KeyId: key.KeyMetadata.KeyId, PolicyName: aws.String("default"), Policy: aws.String(fixed)}))(t)
	e.clock.Advance(3 * time.Second)
	lgExpectSuccessful(t, e, "fix")
}

// seed002World: a role that may use EC2 but has no KMS permission, and a key
// with KMS's default policy (root only: access is up to IAM).
const lgOpsRole = `
    roles:
      - name: ops
        trust: {Version: "2012-10-17", Statement: [{Effect: Allow, Principal: {AWS: "arn:aws:iam::222222222222:root"}, Action: "sts:AssumeRole"}]}
        policies: [{Version: "2012-10-17", Statement: [{Effect: Allow, Action: "ec2:*", Resource: "*"}]}]`

func TestLaunchSeed002RoleWithoutCreateGrantCannotRunOrStartEncryptedInstances(t *testing.T) {
	e := newTestEnv(t, lgWorld("", "", lgOpsRole))
	roleCfg, err := e.assumeRole(e.rootCfg(lgAcct, lgRegion), "arn:aws:iam::"+lgAcct+":role/ops", "")
	if err != nil {
		t.Fatal(err)
	}
	ops := ec2.NewFromConfig(roleCfg)
	root := e.ec2(lgAcct, lgRegion)

	// RunInstances succeeds, the instance goes pending, then terminated.
	run := lgMust(ops.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(lgEncAMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1), InstanceType: ec2types.InstanceTypeT3Micro}))(t)
	id := aws.ToString(run.Instances[0].InstanceId)
	if run.Instances[0].State.Name != ec2types.InstanceStateNamePending {
		t.Fatalf("RunInstances: %s", run.Instances[0].State.Name)
	}
	e.clock.Advance(2 * time.Second)
	in := lgInstance(t, e, lgAcct, id)
	if in.State.Name != ec2types.InstanceStateNameTerminated || aws.ToString(in.StateReason.Code) != "Client.InternalError" || aws.ToString(in.StateReason.Message) != lgClientError {
		t.Fatalf("seed 002 launch: %s %+v", in.State.Name, in.StateReason)
	}
	if vols := lgMust(root.DescribeVolumes(e.ctx, &ec2.DescribeVolumesInput{Filters: []ec2types.Filter{{Name: aws.String("attachment.instance-id"), Values: []string{id}}}}))(t); len(vols.Volumes) != 0 {
		t.Fatalf("a failed launch left volumes: %+v", vols.Volumes)
	}

	// The root user (allowed by the key policy) runs one; it runs; it is stopped.
	run = lgMust(root.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(lgEncAMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}))(t)
	id = aws.ToString(run.Instances[0].InstanceId)
	e.clock.Advance(2 * time.Second)
	if in := lgInstance(t, e, lgAcct, id); in.State.Name != ec2types.InstanceStateNameRunning {
		t.Fatalf("root's instance: %s", in.State.Name)
	}
	stop := lgMust(root.StopInstances(e.ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}}))(t)
	if stop.StoppingInstances[0].CurrentState.Name != ec2types.InstanceStateNameStopping || stop.StoppingInstances[0].PreviousState.Name != ec2types.InstanceStateNameRunning {
		t.Fatalf("stop: %+v", stop.StoppingInstances[0])
	}
	e.clock.Advance(2 * time.Second)
	if in := lgInstance(t, e, lgAcct, id); in.State.Name != ec2types.InstanceStateNameStopped || aws.ToString(in.StateReason.Code) != "Client.UserInitiatedShutdown" {
		t.Fatalf("stopped: %s %+v", in.State.Name, in.StateReason)
	}

	// The role starts it: pending, then stopped again (F4).
	start := lgMust(ops.StartInstances(e.ctx, &ec2.StartInstancesInput{InstanceIds: []string{id}}))(t)
	if start.StartingInstances[0].CurrentState.Name != ec2types.InstanceStateNamePending {
		t.Fatalf("start: %+v", start.StartingInstances[0].CurrentState)
	}
	e.clock.Advance(2 * time.Second)
	in = lgInstance(t, e, lgAcct, id)
	if in.State.Name != ec2types.InstanceStateNameStopped || aws.ToString(in.StateReason.Code) != "Client.InternalError" {
		t.Fatalf("seed 002 start: %s %+v", in.State.Name, in.StateReason)
	}

	// The root user can start it.
	lgMust(root.StartInstances(e.ctx, &ec2.StartInstancesInput{InstanceIds: []string{id}}))(t)
	e.clock.Advance(2 * time.Second)
	if in := lgInstance(t, e, lgAcct, id); in.State.Name != ec2types.InstanceStateNameRunning || in.StateReason != nil {
		t.Fatalf("root start: %s %+v", in.State.Name, in.StateReason)
	}
	// An unencrypted image is no problem for the role.
	run = lgMust(ops.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(lgPlain), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}))(t)
	e.clock.Advance(2 * time.Second)
	if in := lgInstance(t, e, lgAcct, aws.ToString(run.Instances[0].InstanceId)); in.State.Name != ec2types.InstanceStateNameRunning {
		t.Fatalf("plain image: %s", in.State.Name)
	}
}

func TestLaunchDefaultServiceLinkedRoleIsCreatedWithTheFirstGroup(t *testing.T) {
	w := strings.Replace(lgWorld("", "", ""), "    service_linked_roles: [AWSServiceRoleForAutoScaling, AWSServiceRoleForAutoScaling_CMK]\n", "", 1)
	e := newTestEnv(t, w)
	_, err := e.iam(lgAcct).GetRole(e.ctx, &iam.GetRoleInput{RoleName: aws.String("AWSServiceRoleForAutoScaling")})
	if errCode(err) != "NoSuchEntity" {
		t.Fatalf("before: %v", err)
	}
	// A custom-suffix role that does not exist is refused.
	lt := lgMust(e.ec2(lgAcct, lgRegion).CreateLaunchTemplate(e.ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String("tpl"), LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(lgPlain)},
	}))(t)
	_, err = e.autoscaling(lgAcct, lgRegion).CreateAutoScalingGroup(e.ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String("g"), MinSize: aws.Int32(1), MaxSize: aws.Int32(1), AvailabilityZones: []string{"us-east-1a"},
		LaunchTemplate:       &astypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String("tpl")},
		ServiceLinkedRoleARN: aws.String(lgCMKSLR),
	})
	if errCode(err) != "ValidationError" || !strings.Contains(err.Error(), "ARN specified for Service-Linked Role does not exist.") {
		t.Fatalf("missing suffix role: %v", err)
	}
	lgCreateGroupFromTemplate(t, e, "g", aws.ToString(lt.LaunchTemplate.LaunchTemplateId))
	role := lgMust(e.iam(lgAcct).GetRole(e.ctx, &iam.GetRoleInput{RoleName: aws.String("AWSServiceRoleForAutoScaling")}))(t)
	if aws.ToString(role.Role.Arn) != lgDefaultSLR {
		t.Fatalf("role: %s", aws.ToString(role.Role.Arn))
	}
	g := lgMust(e.autoscaling(lgAcct, lgRegion).DescribeAutoScalingGroups(e.ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"g"}}))(t)
	if aws.ToString(g.AutoScalingGroups[0].ServiceLinkedRoleARN) != lgDefaultSLR {
		t.Fatalf("group role: %s", aws.ToString(g.AutoScalingGroups[0].ServiceLinkedRoleARN))
	}
	e.clock.Advance(5 * time.Second)
	lgExpectSuccessful(t, e, "g")
}

func lgCreateGroupFromTemplate(t *testing.T, e *testEnv, name, ltID string) {
	t.Helper()
	lgMust(e.autoscaling(lgAcct, lgRegion).CreateAutoScalingGroup(e.ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(name), MinSize: aws.Int32(1), MaxSize: aws.Int32(2), DesiredCapacity: aws.Int32(1),
		LaunchTemplate:    &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(ltID)},
		VPCZoneIdentifier: aws.String(lgDefaultSubnets(t, e)),
	}))(t)
}

func lgDefaultSubnets(t *testing.T, e *testEnv) string {
	t.Helper()
	sn := lgMust(e.ec2(lgAcct, lgRegion).DescribeSubnets(e.ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{{Name: aws.String("default-for-az"), Values: []string{"true"}}}}))(t)
	var ids []string
	for _, s := range sn.Subnets {
		ids = append(ids, aws.ToString(s.SubnetId))
	}
	return strings.Join(ids, ",")
}

func TestLaunchGroupValidationAndDeletion(t *testing.T) {
	e := newTestEnv(t, lgWorld("", "", ""))
	as := e.autoscaling(lgAcct, lgRegion)
	lt := lgMust(e.ec2(lgAcct, lgRegion).CreateLaunchTemplate(e.ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String("tpl"), LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(lgPlain)},
	}))(t)
	ltID := aws.ToString(lt.LaunchTemplate.LaunchTemplateId)
	spec := &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(ltID)}
	cases := []struct {
		in   autoscaling.CreateAutoScalingGroupInput
		code string
		msg  string
	}{
		{autoscaling.CreateAutoScalingGroupInput{MinSize: aws.Int32(2), MaxSize: aws.Int32(1), LaunchTemplate: spec, AvailabilityZones: []string{"us-east-1a"}}, "ValidationError", "Max bound, 1, must be greater than or equal to min bound, 2"},
		{autoscaling.CreateAutoScalingGroupInput{MinSize: aws.Int32(0), MaxSize: aws.Int32(1), DesiredCapacity: aws.Int32(3), LaunchTemplate: spec, AvailabilityZones: []string{"us-east-1a"}}, "ValidationError", "Desired capacity:3 must be between the specified min size:0 and max size:1"},
		{autoscaling.CreateAutoScalingGroupInput{MinSize: aws.Int32(0), MaxSize: aws.Int32(1), LaunchConfigurationName: aws.String("lc"), AvailabilityZones: []string{"us-east-1a"}}, "ValidationError", "Launch configurations are not modelled"},
		{autoscaling.CreateAutoScalingGroupInput{MinSize: aws.Int32(0), MaxSize: aws.Int32(1), LaunchTemplate: spec}, "ValidationError", "At least one Availability Zone or VPC Subnet is required."},
		{autoscaling.CreateAutoScalingGroupInput{MinSize: aws.Int32(0), MaxSize: aws.Int32(1), LaunchTemplate: spec, VPCZoneIdentifier: aws.String("subnet-0000000000000000f")}, "ValidationError", "The subnet ID 'subnet-0000000000000000f' does not exist"},
		{autoscaling.CreateAutoScalingGroupInput{MinSize: aws.Int32(0), MaxSize: aws.Int32(1), LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String("nope")}, AvailabilityZones: []string{"us-east-1a"}}, "ValidationError", "You must use a valid fully-formed launch template."},
	}
	for i, tc := range cases {
		tc.in.AutoScalingGroupName = aws.String(fmt.Sprintf("bad-%d", i))
		_, err := as.CreateAutoScalingGroup(e.ctx, &tc.in)
		if errCode(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("case %d: want %s %q, got %v", i, tc.code, tc.msg, err)
		}
	}

	lgCreateGroupFromTemplate(t, e, "g", ltID)
	_, err := as.CreateAutoScalingGroup(e.ctx, &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String("g"), MinSize: aws.Int32(0), MaxSize: aws.Int32(1), LaunchTemplate: spec, AvailabilityZones: []string{"us-east-1a"}})
	if errCode(err) != "AlreadyExists" || !strings.Contains(err.Error(), "AutoScalingGroup by this name already exists - A group with the name g already exists") {
		t.Fatalf("duplicate: %v", err)
	}
	e.clock.Advance(5 * time.Second)
	lgExpectSuccessful(t, e, "g")

	// Scale out and in.
	lgMust(as.SetDesiredCapacity(e.ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("g"), DesiredCapacity: aws.Int32(2)}))(t)
	if _, err := as.SetDesiredCapacity(e.ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("g"), DesiredCapacity: aws.Int32(3)}); errCode(err) != "ValidationError" || !strings.Contains(err.Error(), "New SetDesiredCapacity value 3 is above max value 2 for the AutoScalingGroup.") {
		t.Fatalf("above max: %v", err)
	}
	e.clock.Advance(5 * time.Second)
	ai := lgMust(as.DescribeAutoScalingInstances(e.ctx, &autoscaling.DescribeAutoScalingInstancesInput{}))(t)
	if len(ai.AutoScalingInstances) != 2 || aws.ToString(ai.AutoScalingInstances[1].HealthStatus) != "HEALTHY" || aws.ToString(ai.AutoScalingInstances[1].LifecycleState) != "InService" {
		t.Fatalf("instances: %+v", ai.AutoScalingInstances)
	}
	zones := map[string]bool{}
	for _, i := range ai.AutoScalingInstances {
		zones[aws.ToString(i.AvailabilityZone)] = true
	}
	if len(zones) != 2 {
		t.Fatalf("instances not balanced across zones: %v", zones)
	}
	acts := lgActivities(t, e, "g")
	if !strings.Contains(aws.ToString(acts[0].Cause), "a user request explicitly set group desired capacity changing the desired capacity from 1 to 2") {
		t.Fatalf("cause: %q", aws.ToString(acts[0].Cause))
	}
	lgMust(as.UpdateAutoScalingGroup(e.ctx, &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String("g"), MaxSize: aws.Int32(1)}))(t)
	acts = lgActivities(t, e, "g")
	if !strings.HasPrefix(aws.ToString(acts[0].Description), "Terminating EC2 instance: i-") || acts[0].StatusCode != astypes.ScalingActivityStatusCodeInProgress {
		t.Fatalf("scale in: %+v", acts[0])
	}
	e.clock.Advance(2 * time.Second)
	if acts = lgActivities(t, e, "g"); acts[0].StatusCode != astypes.ScalingActivityStatusCodeSuccessful {
		t.Fatalf("scale in: %s", acts[0].StatusCode)
	}

	// A user terminating the group's instance gets it replaced.
	g := lgMust(as.DescribeAutoScalingGroups(e.ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"g"}}))(t)
	id := aws.ToString(g.AutoScalingGroups[0].Instances[0].InstanceId)
	lgMust(e.ec2(lgAcct, lgRegion).TerminateInstances(e.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}))(t)
	g = lgMust(as.DescribeAutoScalingGroups(e.ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"g"}}))(t)
	if len(g.AutoScalingGroups[0].Instances) != 2 {
		t.Fatalf("replacement: %+v", g.AutoScalingGroups[0].Instances)
	}

	// Delete: refused while instances remain, unless forced.
	_, err = as.DeleteAutoScalingGroup(e.ctx, &autoscaling.DeleteAutoScalingGroupInput{AutoScalingGroupName: aws.String("g")})
	if errCode(err) != "ResourceInUse" || !strings.Contains(err.Error(), "You cannot delete an AutoScalingGroup while there are instances or pending Spot instance request(s) still in the group.") {
		t.Fatalf("delete: %v", err)
	}
	lgMust(as.DeleteAutoScalingGroup(e.ctx, &autoscaling.DeleteAutoScalingGroupInput{AutoScalingGroupName: aws.String("g"), ForceDelete: aws.Bool(true)}))(t)
	g = lgMust(as.DescribeAutoScalingGroups(e.ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"g"}}))(t)
	if len(g.AutoScalingGroups) != 1 || aws.ToString(g.AutoScalingGroups[0].Status) != "Delete in progress" {
		t.Fatalf("deleting: %+v", g.AutoScalingGroups)
	}
	e.clock.Advance(2 * time.Second)
	g = lgMust(as.DescribeAutoScalingGroups(e.ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"g"}}))(t)
	if len(g.AutoScalingGroups) != 0 {
		t.Fatalf("deleted group still listed: %+v", g.AutoScalingGroups)
	}
	all := lgMust(e.ec2(lgAcct, lgRegion).DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String("tag:aws:autoscaling:groupName"), Values: []string{"g"}}, {Name: aws.String("instance-state-name"), Values: []string{"pending", "running", "shutting-down"}}}}))(t)
	if len(all.Reservations) != 0 {
		t.Fatalf("instances left running: %+v", all.Reservations)
	}
	_, err = as.DeleteAutoScalingGroup(e.ctx, &autoscaling.DeleteAutoScalingGroupInput{AutoScalingGroupName: aws.String("g")})
	if errCode(err) != "ValidationError" || !strings.Contains(err.Error(), "AutoScalingGroup name not found - ") {
		t.Fatalf("delete again: %v", err)
	}

	// A group with nothing in it deletes without ForceDelete.
	lgMust(as.CreateAutoScalingGroup(e.ctx, &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String("empty"), MinSize: aws.Int32(0), MaxSize: aws.Int32(1), LaunchTemplate: spec, AvailabilityZones: []string{"us-east-1b"}}))(t)
	lgMust(as.DeleteAutoScalingGroup(e.ctx, &autoscaling.DeleteAutoScalingGroupInput{AutoScalingGroupName: aws.String("empty")}))(t)

	// Terminated instances are shown for about an hour, then forgotten.
	e.clock.Advance(61 * time.Minute)
	_, err = e.ec2(lgAcct, lgRegion).DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if errCode(err) != "InvalidInstanceID.NotFound" {
		t.Fatalf("forgotten instance: %v", err)
	}
}

func TestLaunchGroupOnAnImageItCannotLaunch(t *testing.T) {
	e := newTestEnv(t, lgWorld("", "", ""))
	lgCreateGroup(t, e, "noimg", lgGroupOpts{image: "ami-0fffffffffffffff0"})
	a, _ := lgFirstLaunch(t, e, "noimg")
	want := "The image id '[ami-0fffffffffffffff0]' does not exist. Launching EC2 instance failed."
	if a.StatusCode != astypes.ScalingActivityStatusCodeFailed || aws.ToString(a.StatusMessage) != want ||
		aws.ToString(a.Description) != "Launching a new EC2 instance.  Status Reason: "+want {
		t.Fatalf("activity: %s %q %q", a.StatusCode, aws.ToString(a.StatusMessage), aws.ToString(a.Description))
	}
}

func TestLaunchTemplateVersions(t *testing.T) {
	e := newTestEnv(t, lgWorld("", "", ""))
	ec := e.ec2(lgAcct, lgRegion)
	sg := lgMust(ec.CreateSecurityGroup(e.ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("web"), Description: aws.String("web")}))(t)
	lt := lgMust(ec.CreateLaunchTemplate(e.ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String("tpl"), VersionDescription: aws.String("first"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{
			ImageId: aws.String(lgEncAMI), InstanceType: ec2types.InstanceTypeT3Micro, SecurityGroupIds: []string{aws.ToString(sg.GroupId)},
			BlockDeviceMappings: []ec2types.LaunchTemplateBlockDeviceMappingRequest{{DeviceName: aws.String("/dev/xvda"),
				Ebs: &ec2types.LaunchTemplateEbsBlockDeviceRequest{Encrypted: aws.Bool(true), KmsKeyId: aws.String("alias/k"), VolumeSize: aws.Int32(20), VolumeType: ec2types.VolumeTypeGp3}}},
			TagSpecifications: []ec2types.LaunchTemplateTagSpecificationRequest{{ResourceType: ec2types.ResourceTypeInstance, Tags: []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String("proof")}}}},
		},
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeLaunchTemplate, Tags: []ec2types.Tag{{Key: aws.String("team"), Value: aws.String("x")}}}},
	}))(t)
	if lt.LaunchTemplate.DefaultVersionNumber == nil || *lt.LaunchTemplate.DefaultVersionNumber != 1 || *lt.LaunchTemplate.LatestVersionNumber != 1 ||
		!strings.HasPrefix(aws.ToString(lt.LaunchTemplate.LaunchTemplateId), "lt-") || aws.ToString(lt.LaunchTemplate.CreatedBy) != "arn:aws:iam::"+lgAcct+":root" {
		t.Fatalf("created: %+v", lt.LaunchTemplate)
	}
	ltID := lt.LaunchTemplate.LaunchTemplateId
	if _, err := ec.CreateLaunchTemplate(e.ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("tpl"), LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(lgPlain)}}); errCode(err) != "InvalidLaunchTemplateName.AlreadyExistsException" {
		t.Fatalf("duplicate: %v", err)
	}
	v2 := lgMust(ec.CreateLaunchTemplateVersion(e.ctx, &ec2.CreateLaunchTemplateVersionInput{
		LaunchTemplateId: ltID, SourceVersion: aws.String("1"), VersionDescription: aws.String("bigger"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{InstanceType: ec2types.InstanceTypeT3Small},
	}))(t)
	if aws.ToInt64(v2.LaunchTemplateVersion.VersionNumber) != 2 || aws.ToString(v2.LaunchTemplateVersion.LaunchTemplateData.ImageId) != lgEncAMI || aws.ToBool(v2.LaunchTemplateVersion.DefaultVersion) {
		t.Fatalf("v2: %+v", v2.LaunchTemplateVersion)
	}
	get := func(v string) ec2types.LaunchTemplateVersion {
		out := lgMust(ec.DescribeLaunchTemplateVersions(e.ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: aws.String("tpl"), Versions: []string{v}}))(t)
		return out.LaunchTemplateVersions[0]
	}
	if n := aws.ToInt64(get("$Latest").VersionNumber); n != 2 {
		t.Fatalf("$Latest = %d", n)
	}
	def := get("$Default")
	if aws.ToInt64(def.VersionNumber) != 1 || !aws.ToBool(def.DefaultVersion) || aws.ToString(def.VersionDescription) != "first" {
		t.Fatalf("$Default: %+v", def)
	}
	d := def.LaunchTemplateData
	if d.InstanceType != ec2types.InstanceTypeT3Micro || len(d.SecurityGroupIds) != 1 || len(d.BlockDeviceMappings) != 1 ||
		aws.ToString(d.BlockDeviceMappings[0].Ebs.KmsKeyId) != "alias/k" || !aws.ToBool(d.BlockDeviceMappings[0].Ebs.Encrypted) ||
		aws.ToInt32(d.BlockDeviceMappings[0].Ebs.VolumeSize) != 20 || len(d.TagSpecifications) != 1 || aws.ToString(d.TagSpecifications[0].Tags[0].Value) != "proof" {
		t.Fatalf("data echoed: %+v", d)
	}
	all := lgMust(ec.DescribeLaunchTemplateVersions(e.ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: ltID}))(t)
	if len(all.LaunchTemplateVersions) != 2 || aws.ToInt64(all.LaunchTemplateVersions[0].VersionNumber) != 2 {
		t.Fatalf("all versions: %d", len(all.LaunchTemplateVersions))
	}
	if _, err := ec.DescribeLaunchTemplateVersions(e.ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: ltID, Versions: []string{"7"}}); errCode(err) != "InvalidLaunchTemplateId.VersionNotFound" {
		t.Fatalf("missing version: %v", err)
	}
	mod := lgMust(ec.ModifyLaunchTemplate(e.ctx, &ec2.ModifyLaunchTemplateInput{LaunchTemplateId: ltID, DefaultVersion: aws.String("2")}))(t)
	if aws.ToInt64(mod.LaunchTemplate.DefaultVersionNumber) != 2 || aws.ToInt64(get("$Default").VersionNumber) != 2 {
		t.Fatalf("modify: %+v", mod.LaunchTemplate)
	}
	lts := lgMust(ec.DescribeLaunchTemplates(e.ctx, &ec2.DescribeLaunchTemplatesInput{Filters: []ec2types.Filter{{Name: aws.String("tag:team"), Values: []string{"x"}}}}))(t)
	if len(lts.LaunchTemplates) != 1 || aws.ToInt64(lts.LaunchTemplates[0].LatestVersionNumber) != 2 {
		t.Fatalf("describe: %+v", lts.LaunchTemplates)
	}
	if _, err := ec.DescribeLaunchTemplates(e.ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateNames: []string{"nope"}}); errCode(err) != "InvalidLaunchTemplateName.NotFoundException" {
		t.Fatalf("name not found: %v", err)
	}
	if _, err := ec.DescribeLaunchTemplates(e.ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateIds: []string{"lt-0123456789abcdef0"}}); errCode(err) != "InvalidLaunchTemplateId.NotFound" {
		t.Fatalf("id not found: %v", err)
	}

	// RunInstances from the template ($Default is now version 2): explicit
	// parameters win, the template's volume and tags apply.
	run := lgMust(ec.RunInstances(e.ctx, &ec2.RunInstancesInput{MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		LaunchTemplate: &ec2types.LaunchTemplateSpecification{LaunchTemplateName: aws.String("tpl")}}))(t)
	in := run.Instances[0]
	tags := map[string]string{}
	for _, tg := range in.Tags {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	if in.InstanceType != ec2types.InstanceTypeT3Small || tags["Name"] != "proof" || tags["aws:ec2launchtemplate:id"] != aws.ToString(ltID) || tags["aws:ec2launchtemplate:version"] != "2" ||
		len(in.SecurityGroups) != 1 || aws.ToString(in.SecurityGroups[0].GroupId) != aws.ToString(sg.GroupId) {
		t.Fatalf("instance from template: %s %v %+v", in.InstanceType, tags, in.SecurityGroups)
	}
	vols := lgMust(ec.DescribeVolumes(e.ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{aws.ToString(in.BlockDeviceMappings[0].Ebs.VolumeId)}}))(t)
	if v := vols.Volumes[0]; aws.ToInt32(v.Size) != 20 || v.VolumeType != ec2types.VolumeTypeGp3 || !aws.ToBool(v.Encrypted) {
		t.Fatalf("volume: %+v", v)
	}

	del := lgMust(ec.DeleteLaunchTemplate(e.ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateId: ltID}))(t)
	if aws.ToString(del.LaunchTemplate.LaunchTemplateName) != "tpl" {
		t.Fatalf("delete: %+v", del.LaunchTemplate)
	}
	if _, err := ec.DeleteLaunchTemplate(e.ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateName: aws.String("tpl")}); errCode(err) != "InvalidLaunchTemplateName.NotFoundException" {
		t.Fatalf("delete again: %v", err)
	}
}

// TestLaunchDescribeVolumesReportTheirKey: EC2 has no filter on the KMS key;
// a caller filters on encrypted (or the attachment) and reads KmsKeyId.
func TestLaunchDescribeVolumesReportTheirKey(t *testing.T) {
	e := newTestEnv(t, lgWorld("", "", ""))
	ec := e.ec2(lgAcct, lgRegion)
	key := lgMust(e.kms(lgAcct, lgRegion).DescribeKey(e.ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/k")}))(t)
	run := lgMust(ec.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(lgEncAMI), MinCount: aws.Int32(2), MaxCount: aws.Int32(2),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeVolume, Tags: []ec2types.Tag{{Key: aws.String("purpose"), Value: aws.String("proof")}}}}}))(t)
	lgMust(ec.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(lgPlain), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}))(t)
	if len(run.Instances) != 2 || aws.ToString(run.ReservationId) == "" {
		t.Fatalf("run: %+v", run)
	}
	if _, err := ec.DescribeVolumes(e.ctx, &ec2.DescribeVolumesInput{Filters: []ec2types.Filter{{Name: aws.String("kms-key-id"), Values: []string{aws.ToString(key.KeyMetadata.Arn)}}}}); errCode(err) != "InvalidParameterValue" {
		t.Fatalf("kms-key-id is not an EC2 filter: want InvalidParameterValue, got %v", err)
	}
	byKey := lgMust(ec.DescribeVolumes(e.ctx, &ec2.DescribeVolumesInput{Filters: []ec2types.Filter{{Name: aws.String("encrypted"), Values: []string{"true"}}}}))(t)
	if len(byKey.Volumes) != 2 {
		t.Fatalf("encrypted: %d volumes", len(byKey.Volumes))
	}
	for _, v := range byKey.Volumes {
		if v.State != ec2types.VolumeStateInUse || len(v.Attachments) != 1 || aws.ToString(v.SnapshotId) == "" || len(v.Tags) != 1 || !aws.ToBool(v.Attachments[0].DeleteOnTermination) ||
			aws.ToString(v.KmsKeyId) != aws.ToString(key.KeyMetadata.Arn) {
			t.Fatalf("volume: %+v", v)
		}
	}
	enc := lgMust(ec.DescribeVolumes(e.ctx, &ec2.DescribeVolumesInput{Filters: []ec2types.Filter{{Name: aws.String("encrypted"), Values: []string{"false"}}}}))(t)
	if len(enc.Volumes) != 1 {
		t.Fatalf("unencrypted: %d", len(enc.Volumes))
	}
	if _, err := ec.DescribeVolumes(e.ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{"vol-0123456789abcdef0"}}); errCode(err) != "InvalidVolume.NotFound" {
		t.Fatalf("missing volume: %v", err)
	}
	// Terminating deletes DeleteOnTermination volumes.
	lgMust(ec.TerminateInstances(e.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{aws.ToString(run.Instances[0].InstanceId)}}))(t)
	e.clock.Advance(2 * time.Second)
	byKey = lgMust(ec.DescribeVolumes(e.ctx, &ec2.DescribeVolumesInput{Filters: []ec2types.Filter{{Name: aws.String("encrypted"), Values: []string{"true"}}}}))(t)
	if len(byKey.Volumes) != 1 {
		t.Fatalf("after termination: %d volumes", len(byKey.Volumes))
	}
	// Paging DescribeInstances.
	page := lgMust(ec.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5)}))(t)
	n := 0
	for _, r := range page.Reservations {
		n += len(r.Instances)
	}
	if n != 3 || page.NextToken != nil {
		t.Fatalf("instances: %d", n)
	}
	st := lgMust(ec.DescribeInstanceStatus(e.ctx, &ec2.DescribeInstanceStatusInput{}))(t)
	if len(st.InstanceStatuses) != 2 || st.InstanceStatuses[0].InstanceStatus.Status != ec2types.SummaryStatusOk {
		t.Fatalf("status: %+v", st.InstanceStatuses)
	}
}

// TestLaunchNetworkAsPackerUsesIt follows the calls Packer's amazon-ebs builder
// makes around its source instance.
func TestLaunchNetworkAsPackerUsesIt(t *testing.T) {
	e := newTestEnv(t, lgWorld("", "", ""))
	ec := e.ec2(lgAcct, lgRegion)
	regions := lgMust(ec.DescribeRegions(e.ctx, &ec2.DescribeRegionsInput{AllRegions: aws.Bool(true)}))(t)
	if len(regions.Regions) != 1 || aws.ToString(regions.Regions[0].RegionName) != lgRegion {
		t.Fatalf("regions: %+v", regions.Regions)
	}
	azs := lgMust(ec.DescribeAvailabilityZones(e.ctx, &ec2.DescribeAvailabilityZonesInput{}))(t)
	if len(azs.AvailabilityZones) != 3 || aws.ToString(azs.AvailabilityZones[0].ZoneId) != "use1-az1" {
		t.Fatalf("zones: %+v", azs.AvailabilityZones)
	}
	vpcs := lgMust(ec.DescribeVpcs(e.ctx, &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{{Name: aws.String("is-default"), Values: []string{"true"}}}}))(t)
	if len(vpcs.Vpcs) != 1 || aws.ToString(vpcs.Vpcs[0].CidrBlock) != "172.31.0.0/16" {
		t.Fatalf("vpcs: %+v", vpcs.Vpcs)
	}
	vpcID := aws.ToString(vpcs.Vpcs[0].VpcId)
	attrs := lgMust(ec.DescribeAccountAttributes(e.ctx, &ec2.DescribeAccountAttributesInput{AttributeNames: []ec2types.AccountAttributeName{"default-vpc"}}))(t)
	if aws.ToString(attrs.AccountAttributes[0].AttributeValues[0].AttributeValue) != vpcID {
		t.Fatalf("default-vpc: %+v", attrs.AccountAttributes)
	}
	subnets := lgMust(ec.DescribeSubnets(e.ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{vpcID}}, {Name: aws.String("availability-zone"), Values: []string{"us-east-1b"}}}}))(t)
	if len(subnets.Subnets) != 1 || !aws.ToBool(subnets.Subnets[0].DefaultForAz) || aws.ToString(subnets.Subnets[0].CidrBlock) != "172.31.16.0/20" {
		t.Fatalf("subnets: %+v", subnets.Subnets)
	}
	// The same ids on another call, and for the account alone.
	again := lgMust(ec.DescribeVpcs(e.ctx, &ec2.DescribeVpcsInput{}))(t)
	if len(again.Vpcs) != 1 || aws.ToString(again.Vpcs[0].VpcId) != vpcID {
		t.Fatalf("vpc changed: %+v", again.Vpcs)
	}

	sg := lgMust(ec.CreateSecurityGroup(e.ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("packer_6743a1b2"), Description: aws.String("Temporary group for Packer"), VpcId: aws.String(vpcID)}))(t)
	if _, err := ec.CreateSecurityGroup(e.ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("packer_6743a1b2"), Description: aws.String("again")}); errCode(err) != "InvalidGroup.Duplicate" {
		t.Fatalf("duplicate group: %v", err)
	}
	desc := lgMust(ec.DescribeSecurityGroups(e.ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{aws.ToString(sg.GroupId)}}))(t)
	if len(desc.SecurityGroups) != 1 || aws.ToString(desc.SecurityGroups[0].VpcId) != vpcID {
		t.Fatalf("describe group: %+v", desc.SecurityGroups)
	}
	perm := []ec2types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}
	auth := lgMust(ec.AuthorizeSecurityGroupIngress(e.ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: sg.GroupId, IpPermissions: perm}))(t)
	if !aws.ToBool(auth.Return) {
		t.Fatal("authorize: Return false")
	}
	if _, err := ec.AuthorizeSecurityGroupIngress(e.ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: sg.GroupId, IpPermissions: perm}); errCode(err) != "InvalidPermission.Duplicate" {
		t.Fatalf("duplicate rule: %v", err)
	}
	desc = lgMust(ec.DescribeSecurityGroups(e.ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{{Name: aws.String("group-name"), Values: []string{"packer_*"}}}}))(t)
	if len(desc.SecurityGroups) != 1 || len(desc.SecurityGroups[0].IpPermissions) != 1 || aws.ToInt32(desc.SecurityGroups[0].IpPermissions[0].FromPort) != 22 {
		t.Fatalf("rules: %+v", desc.SecurityGroups)
	}
	if _, err := ec.DescribeSecurityGroups(e.ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{"sg-0123456789abcdef0"}}); errCode(err) != "InvalidGroup.NotFound" {
		t.Fatalf("missing group: %v", err)
	}

	kp := lgMust(ec.CreateKeyPair(e.ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("packer_6743a1b2")}))(t)
	if !strings.HasPrefix(aws.ToString(kp.KeyMaterial), "-----BEGIN RSA PRIVATE KEY-----") || aws.ToString(kp.KeyFingerprint) == "" {
		t.Fatalf("key pair: %+v", kp)
	}
	if _, err := ec.CreateKeyPair(e.ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("packer_6743a1b2")}); errCode(err) != "InvalidKeyPair.Duplicate" {
		t.Fatalf("duplicate key pair: %v", err)
	}
	kps := lgMust(ec.DescribeKeyPairs(e.ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{"packer_6743a1b2"}}))(t)
	if len(kps.KeyPairs) != 1 || aws.ToString(kps.KeyPairs[0].KeyFingerprint) != aws.ToString(kp.KeyFingerprint) {
		t.Fatalf("key pairs: %+v", kps.KeyPairs)
	}

	run := lgMust(ec.RunInstances(e.ctx, &ec2.RunInstancesInput{
		ImageId: aws.String(lgPlain), InstanceType: ec2types.InstanceTypeT3Micro, MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		KeyName: aws.String("packer_6743a1b2"), SecurityGroupIds: []string{aws.ToString(sg.GroupId)}, SubnetId: subnets.Subnets[0].SubnetId,
		UserData: aws.String("IyEvYmluL3NoCg=="), IamInstanceProfile: &ec2types.IamInstanceProfileSpecification{Name: aws.String("builder")},
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance, Tags: []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String("Packer Builder")}}}},
		ClientToken:       aws.String("packer-token-1"),
	}))(t)
	id := aws.ToString(run.Instances[0].InstanceId)
	again2 := lgMust(ec.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(lgPlain), MinCount: aws.Int32(1), MaxCount: aws.Int32(1), ClientToken: aws.String("packer-token-1")}))(t)
	if aws.ToString(again2.Instances[0].InstanceId) != id {
		t.Fatalf("ClientToken: a second instance %s", aws.ToString(again2.Instances[0].InstanceId))
	}
	e.clock.Advance(2 * time.Second)
	in := lgInstance(t, e, lgAcct, id)
	if in.State.Name != ec2types.InstanceStateNameRunning || aws.ToString(in.KeyName) != "packer_6743a1b2" || aws.ToString(in.SubnetId) != aws.ToString(subnets.Subnets[0].SubnetId) ||
		aws.ToString(in.VpcId) != vpcID || aws.ToString(in.Placement.AvailabilityZone) != "us-east-1b" || !strings.HasPrefix(aws.ToString(in.PrivateIpAddress), "172.31.") ||
		aws.ToString(in.PublicIpAddress) == "" || in.RootDeviceType != ec2types.DeviceTypeEbs || len(in.BlockDeviceMappings) != 1 ||
		aws.ToString(in.IamInstanceProfile.Arn) != "arn:aws:iam::"+lgAcct+":instance-profile/builder" {
		t.Fatalf("instance: %+v", in)
	}
	filtered := lgMust(ec.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String("tag:Name"), Values: []string{"Packer*"}}, {Name: aws.String("instance-state-name"), Values: []string{"running"}}}}))(t)
	if len(filtered.Reservations) != 1 {
		t.Fatalf("filtered: %+v", filtered.Reservations)
	}
	if _, err := ec.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0123456789abcdef0"}}); errCode(err) != "InvalidInstanceID.NotFound" {
		t.Fatalf("missing instance: %v", err)
	}
	lgMust(ec.ModifyInstanceAttribute(e.ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(id), EnaSupport: &ec2types.AttributeBooleanValue{Value: aws.Bool(true)}}))(t)

	if _, err := ec.DeleteSecurityGroup(e.ctx, &ec2.DeleteSecurityGroupInput{GroupId: sg.GroupId}); errCode(err) != "DependencyViolation" {
		t.Fatalf("delete group in use: %v", err)
	}
	term := lgMust(ec.TerminateInstances(e.ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}))(t)
	if term.TerminatingInstances[0].CurrentState.Name != ec2types.InstanceStateNameShuttingDown {
		t.Fatalf("terminate: %+v", term.TerminatingInstances[0])
	}
	e.clock.Advance(2 * time.Second)
	if in := lgInstance(t, e, lgAcct, id); in.State.Name != ec2types.InstanceStateNameTerminated || aws.ToInt32(in.State.Code) != 48 {
		t.Fatalf("terminated: %+v", in.State)
	}
	lgMust(ec.DeleteSecurityGroup(e.ctx, &ec2.DeleteSecurityGroupInput{GroupId: sg.GroupId}))(t)
	lgMust(ec.DeleteKeyPair(e.ctx, &ec2.DeleteKeyPairInput{KeyName: aws.String("packer_6743a1b2")}))(t)
	if _, err := ec.DescribeKeyPairs(e.ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{"packer_6743a1b2"}}); errCode(err) != "InvalidKeyPair.NotFound" {
		t.Fatalf("deleted key pair: %v", err)
	}
	def := lgMust(ec.DescribeSecurityGroups(e.ctx, &ec2.DescribeSecurityGroupsInput{GroupNames: []string{"default"}}))(t)
	if _, err := ec.DeleteSecurityGroup(e.ctx, &ec2.DeleteSecurityGroupInput{GroupId: def.SecurityGroups[0].GroupId}); errCode(err) != "CannotDelete" {
		t.Fatalf("delete default group: %v", err)
	}
}

// CreateLaunchTemplateVersion with a ClientToken is idempotent: a retry
// answers the version the first call made; the token with other parameters
// is IdempotentParameterMismatch.
func TestCreateLaunchTemplateVersionClientToken(t *testing.T) {
	e := newTestEnv(t, lgWorld("", "", ""))
	ec := e.ec2(lgAcct, lgRegion)
	lgMust(ec.CreateLaunchTemplate(e.ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String("tpl"), LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(lgPlain)},
	}))(t)
	in := &ec2.CreateLaunchTemplateVersionInput{
		LaunchTemplateName: aws.String("tpl"), SourceVersion: aws.String("$Default"), ClientToken: aws.String("tok-1"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(lgEncAMI)},
	}
	first := lgMust(ec.CreateLaunchTemplateVersion(e.ctx, in))(t)
	again := lgMust(ec.CreateLaunchTemplateVersion(e.ctx, in))(t)
	if n1, n2 := aws.ToInt64(first.LaunchTemplateVersion.VersionNumber), aws.ToInt64(again.LaunchTemplateVersion.VersionNumber); n1 != 2 || n2 != 2 {
		t.Fatalf("versions %d and %d, want 2 both times", n1, n2)
	}
	in.LaunchTemplateData = &ec2types.RequestLaunchTemplateData{ImageId: aws.String(lgShared)}
	if _, err := ec.CreateLaunchTemplateVersion(e.ctx, in); errCode(err) != "IdempotentParameterMismatch" {
		t.Fatalf("the token with other data: %v, want IdempotentParameterMismatch", err)
	}
	in.ClientToken = aws.String("tok-2")
	if v := lgMust(ec.CreateLaunchTemplateVersion(e.ctx, in))(t); aws.ToInt64(v.LaunchTemplateVersion.VersionNumber) != 3 {
		t.Fatalf("a new token made version %d, want 3", aws.ToInt64(v.LaunchTemplateVersion.VersionNumber))
	}
}
