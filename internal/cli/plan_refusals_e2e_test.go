//go:build linux

package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	autoscalingtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/config"
	"github.com/amicrypt/amicrypt/internal/pipelinerun"
	"github.com/amicrypt/amicrypt/internal/sandbox/world"
	"github.com/amicrypt/amicrypt/workflows"
)

// refusalsWorld has a target account for each refusal the plan predicts
// about a target, and a builder with a source image for each refusal about
// a source. Nothing in it is amicrypt-specific but the role names the
// config uses.
const refusalsWorld = `
regions: [us-east-1]

x-target-role: &target-role
  name: amicrypt-target
  trust:
    Version: "2012-10-17"
    Statement:
      - Effect: Allow
        Principal: {AWS: "arn:aws:iam::111111111111:role/amicrypt-pipeline"}
        Action: [sts:AssumeRole, sts:SetSourceIdentity]
        Condition: {StringEquals: {"sts:ExternalId": amicrypt}}
  policies:
    amicrypt-target:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Action: ["ec2:*", "autoscaling:*", "kms:*", "ssm:*", "iam:GetRole", "iam:CreateServiceLinkedRole", "iam:ListRolePolicies", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies", "iam:PassRole", "cloudtrail:LookupEvents"]
          Resource: "*"

accounts:
  - id: "137112412989"
    name: amazon
    images:
      - {id: ami-0a0000000000a0001, region: us-east-1, name: al2023, public: true}

  - id: "111111111111"
    name: builder
    roles:
      - name: amicrypt-pipeline
        trust:
          Version: "2012-10-17"
          Statement:
            - Effect: Allow
              Principal: {AWS: "arn:aws:iam::111111111111:root"}
              Action: [sts:AssumeRole, sts:SetSourceIdentity]
        policies:
          amicrypt-pipeline:
            Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Action: ["ec2:DescribeImages", "ec2:DescribeSnapshots", "ec2:DescribeImageAttribute", "ec2:DescribeSnapshotAttribute",
                         "ec2:ModifyImageAttribute", "ec2:ModifySnapshotAttribute", "kms:DescribeKey", "kms:GetKeyPolicy"]
                Resource: "*"
              - Effect: Allow
                Action: [sts:AssumeRole, sts:SetSourceIdentity]
                Resource: "arn:aws:iam::*:role/amicrypt-target"
    keys:
      - {alias: alias/builder-closed, region: us-east-1, policy: {Version: "2012-10-17", Statement: [{Sid: Root, Effect: Allow, Principal: {AWS: "arn:aws:iam::111111111111:root"}, Action: "kms:*", Resource: "*"}]}}
    images:
      - {id: ami-0b0000000000a0001, region: us-east-1, name: base-good, encrypted: false}
      - {id: ami-0b0000000000a0002, region: us-east-1, name: base-aws-managed, encrypted: aws-managed}
      - {id: ami-0b0000000000a0003, region: us-east-1, name: base-builder-key, encrypted: alias/builder-closed}
      - {id: ami-0b0000000000a0004, region: us-east-1, name: base-instance-store, root_device_type: instance-store}
      - id: ami-0b0000000000a0005
        region: us-east-1
        name: base-crowded
        encrypted: false
        launch_permissions: [__CROWD__] # every filler account: as many as EC2 allows

  # __FILLERS__: accounts the crowded image is shared with

  # F2: an adopted key whose policy leaves the service-linked role out.
  - id: "222222222222"
    service_linked_roles: [AWSServiceRoleForAutoScaling]
    roles: [*target-role]
    keys:
      - {alias: alias/amicrypt, region: us-east-1, policy: {Version: "2012-10-17", Statement: [{Sid: Root, Effect: Allow, Principal: {AWS: "arn:aws:iam::222222222222:root"}, Action: "kms:*", Resource: "*"}]}}

  # F3: the policy names the default service-linked role, the target uses its _batch sibling.
  - id: "333333333333"
    service_linked_roles: [AWSServiceRoleForAutoScaling, AWSServiceRoleForAutoScaling_batch]
    roles: [*target-role]
    keys:
      - alias: alias/amicrypt
        region: us-east-1
        policy:
          Version: "2012-10-17"
          Statement:
            - {Sid: Root, Effect: Allow, Principal: {AWS: "arn:aws:iam::333333333333:root"}, Action: "kms:*", Resource: "*"}
            - Sid: AutoScaling
              Effect: Allow
              Principal: {AWS: "arn:aws:iam::333333333333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"}
              Action: ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey", "kms:CreateGrant"]
              Resource: "*"

  # F5: the key is disabled.
  - id: "444444444444"
    service_linked_roles: [AWSServiceRoleForAutoScaling]
    roles: [*target-role]
    keys:
      - {alias: alias/amicrypt, region: us-east-1, state: Disabled}

  # Owns the key 666666666666 names: 666666666666 may use it, not grant it
  # to its service-linked role.
  - id: "555555555555"
    keys:
      - alias: alias/shared
        id: 1234abcd-12ab-34cd-56ef-1234567890ab
        region: us-east-1
        policy:
          Version: "2012-10-17"
          Statement:
            - {Sid: Root, Effect: Allow, Principal: {AWS: "arn:aws:iam::555555555555:root"}, Action: "kms:*", Resource: "*"}
            - Sid: UseByTheTarget
              Effect: Allow
              Principal: {AWS: "arn:aws:iam::666666666666:root"}
              Action: ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
              Resource: "*"

  # F6: the key of another account.
  - id: "666666666666"
    service_linked_roles: [AWSServiceRoleForAutoScaling]
    roles: [*target-role]

  # quota: one Auto Scaling group allowed, and the test creates one.
  - id: "777777777777"
    service_linked_roles: [AWSServiceRoleForAutoScaling]
    roles: [*target-role]
    autoscaling_group_limit: 1

  # subnet: no default VPC, no subnet configured.
  - id: "888888888888"
    service_linked_roles: [AWSServiceRoleForAutoScaling]
    roles: [*target-role]
    default_vpc: {us-east-1: false}

  # publish: the parameter exists and is someone else's (data type text).
  - id: "121212121212"
    service_linked_roles: [AWSServiceRoleForAutoScaling]
    roles: [*target-role]
    parameters:
      - {region: us-east-1, name: /images/base, value: ami-0123456789abcdef0}

  # Healthy: the source rounds' target.
  - id: "131313131313"
    service_linked_roles: [AWSServiceRoleForAutoScaling]
    roles: [*target-role]

timing: {copy_seconds: 1, boot_seconds: 1, instance_seconds: 0.5, create_image_seconds: 1}
`

const refusalsConfig = `
builder:
  account: "111111111111"
  role_arn: arn:aws:iam::111111111111:role/amicrypt-pipeline
defaults:
  regions: [us-east-1]
  role_name: amicrypt-target
  external_id: amicrypt
  key_alias: alias/amicrypt
  boot_proof: {enabled: true, instance_type: t3.micro}
targets:
  - {account: "222222222222", name: f2-policy}
  - {account: "333333333333", name: f3-suffix, service_linked_role_suffix: batch}
  - {account: "444444444444", name: f5-disabled}
  - {account: "666666666666", name: f6-foreign, key_arn: "arn:aws:kms:us-east-1:555555555555:key/1234abcd-12ab-34cd-56ef-1234567890ab"}
  - {account: "777777777777", name: group-quota}
  - {account: "888888888888", name: no-default-vpc}
  - {account: "121212121212", name: foreign-parameter, publish: {ssm_parameter: /images/base}}
  - {account: "131313131313", name: healthy}
`

// Every refusal the plan predicts, the run then meets with the same code:
// first the targets' (F2, F3, F5, F6, the group quota, no subnet, a publish
// target that is not amicrypt's) in one plan and one run; then the
// sources' (F1 under the AWS managed key, F1 under a builder key the target
// may not use, instance-store, missing, the sharing quota), each a plan and
// a run into the healthy account. No plan writes anything.
func TestThePlanPredictsEveryRefusalTheRunMeets(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the amicrypt binary and runs plans and pipelines")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	// The crowded image is shared with as many accounts as EC2 allows.
	var crowd, fillers []string
	for i := range activities.MaxSourceShares {
		id := fmt.Sprintf("9%011d", i+1)
		crowd = append(crowd, `"`+id+`"`)
		fillers = append(fillers, `  - {id: "`+id+`"}`)
	}
	worldText := strings.Replace(refusalsWorld, "[__CROWD__]", "["+strings.Join(crowd, ", ")+"]", 1)
	worldText = strings.Replace(worldText, "  # __FILLERS__: accounts the crowded image is shared with", strings.Join(fillers, "\n"), 1)
	w, err := world.Parse([]byte(worldText), "refusals.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := startOneWorker(ctx, t, w, "refusals")
	endpoint, c, taskQueue := s.endpoint, s.client, s.taskQueue
	fillGroupQuota(ctx, t, endpoint, "777777777777", "us-east-1")

	cfg, err := config.Parse([]byte(refusalsConfig), "refusals.yaml")
	if err != nil {
		t.Fatal(err)
	}
	inputFor := func(image string, accounts ...string) workflows.PipelineInput {
		t.Helper()
		b, src, targets, err := cfg.Expand(map[string]string{"us-east-1": image})
		if err != nil {
			t.Fatal(err)
		}
		in, err := onlyAccounts(workflows.PipelineInput{Builder: b, Sources: src, Targets: targets, InFlight: cfg.Concurrency.InFlight, PerAccountRegion: cfg.Concurrency.PerAccountRegion}, accounts)
		if err != nil {
			t.Fatal(err)
		}
		in.RunID = runIDFor(in)
		return in
	}
	// planThenRun plans in, checks each target's prediction, runs in and
	// checks each target ends as predicted; it returns the plan.
	planThenRun := func(round string, in workflows.PipelineInput, want map[string]string) *workflows.PlanReport {
		t.Helper()
		plan := planWithoutWrites(ctx, t, c, taskQueue, endpoint, in)
		for _, tp := range plan.Targets {
			if got := predicted(tp); got != want[tp.Account] {
				t.Errorf("%s: the plan of %s predicts %s, want %s (%+v)", round, tp.Account, got, want[tp.Account], tp.Failures)
			}
		}
		if exitForPlan(plan) == nil {
			t.Errorf("%s: a plan with predicted failures exits 0", round)
		}
		run, _, err := startPipeline(ctx, c, taskQueue, in)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := followRun(ctx, c, run, io.Discard, true)
		if err != nil {
			t.Fatalf("%s: run %s: %v", round, in.RunID, err)
		}
		for _, tr := range rep.Targets {
			got := tr.Status
			if tr.Diagnosis != nil {
				got = tr.Diagnosis.Code
			}
			if want := predicted(planOf(plan, tr.Account, tr.Region)); got != want {
				t.Errorf("%s: %s/%s: the plan predicted %s, the run ended %s (%v)", round, tr.Account, tr.Region, want, got, tr.Diagnosis)
			}
		}
		return plan
	}

	// The targets' refusals.
	in := inputFor("ami-0b0000000000a0001", "222222222222", "333333333333", "444444444444", "666666666666", "777777777777", "888888888888", "121212121212")
	plan := planThenRun("targets", in, map[string]string{
		"222222222222": activities.F2,
		"333333333333": activities.F3,
		"444444444444": activities.F5,
		"666666666666": activities.F6,
		"777777777777": activities.Quota,
		"888888888888": activities.NoSubnet,
		"121212121212": activities.Other,
	})
	var text strings.Builder
	pipelinerun.WritePlan(&text, plan)
	for _, s := range []string{
		"AWSServiceRoleForAutoScaling_batch",      // F3 names the role the policy lacks
		"is disabled",                             // F5 says the key's state
		"555555555555",                            // F6 names the key's account
		"1 Auto Scaling groups of its quota of 1", // the quota, counted
		"no default VPC",                          // the subnet
		"/images/base",                            // the parameter not amicrypt's
	} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("the plan's text lacks %q:\n%s", s, text.String())
		}
	}

	// The sources' refusals, each into the healthy account.
	for _, tc := range []struct {
		name, image, code, says string
	}{
		{"under the AWS managed key", "ami-0b0000000000a0002", activities.F1, "AWS managed"},
		{"under a builder key the target may not use", "ami-0b0000000000a0003", activities.F1, "the builder's key"},
		{"instance-store backed", "ami-0b0000000000a0004", activities.SourceUnusable, "instance-store"},
		{"missing", "ami-0b0000000000dead0", activities.SourceUnusable, "does not exist"},
		{"shared with as many accounts as AWS allows", "ami-0b0000000000a0005", activities.Quota, "cannot be shared with more accounts"},
	} {
		plan := planThenRun("source "+tc.name, inputFor(tc.image, "131313131313"), map[string]string{"131313131313": tc.code})
		if len(plan.Targets) == 1 && len(plan.Targets[0].Failures) > 0 {
			if d := plan.Targets[0].Failures[0]; !strings.Contains(d.Cause+" "+d.Fix, tc.says) && !strings.Contains(fmt.Sprint(plan.Sources), tc.says) {
				t.Errorf("source %s: the prediction does not say %q: %s", tc.name, tc.says, d)
			}
		}
	}
}

// fillGroupQuota creates, as the account's root user, as many Auto Scaling
// groups (of no instances) as the account's quota allows.
func fillGroupQuota(ctx context.Context, t *testing.T, endpoint, account, region string) {
	t.Helper()
	cfg := aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider(account, "sandbox", ""), BaseEndpoint: aws.String(endpoint)}
	as := autoscaling.NewFromConfig(cfg)
	lim, err := as.DescribeAccountLimits(ctx, &autoscaling.DescribeAccountLimitsInput{})
	if err != nil {
		t.Fatal(err)
	}
	lt, err := ec2.NewFromConfig(cfg).CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String("web"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String("ami-0a0000000000a0001"), InstanceType: ec2types.InstanceTypeT3Micro},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := aws.ToInt32(lim.NumberOfAutoScalingGroups); i < aws.ToInt32(lim.MaxNumberOfAutoScalingGroups); i++ {
		if _, err := as.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
			AutoScalingGroupName: aws.String(fmt.Sprintf("web-%d", i)),
			LaunchTemplate:       &autoscalingtypes.LaunchTemplateSpecification{LaunchTemplateId: lt.LaunchTemplate.LaunchTemplateId, Version: aws.String("$Latest")},
			MinSize:              aws.Int32(0), MaxSize: aws.Int32(0), DesiredCapacity: aws.Int32(0),
			AvailabilityZones: []string{region + "a"},
		}); err != nil {
			t.Fatal(err)
		}
	}
}
