package activities

import (
	"context"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/rs/zerolog"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"

	"github.com/amicrypt/amicrypt/internal/sandbox/sandboxtest"
)

// The activities run in Temporal's test activity environment against a real
// sandbox, through real aws-sdk-go-v2 clients: amicrypt's pipeline role in
// the builder account assumes amicrypt-target in each target, with the
// external id "amicrypt", as in the default world.

const (
	builderAcct = "111111111111"
	payments    = "222222222222" // clean: default SLR, no key (amicrypt creates it)
	analytics   = "333333333333" // no service-linked role yet
	legacy      = "444444444444" // adopted keys of a security team
	keyOwner    = "555555555555" // owns keys used by payments across accounts
	region      = "us-east-1"
	sourceAMI   = "ami-0b0000000000a0001"
	managedAMI  = "ami-0b0000000000a0002" // under aws/ebs: F1
	pipelineARN = "arn:aws:iam::111111111111:role/amicrypt-pipeline"
)

const testWorld = `
regions: [us-east-1, eu-west-1]

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

x-root-only: &root-only
  Version: "2012-10-17"
  Statement:
    - Sid: Enable IAM User Permissions
      Effect: Allow
      Principal: {AWS: "arn:aws:iam::444444444444:root"}
      Action: kms:*
      Resource: "*"

accounts:
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
    images:
      - {id: ami-0b0000000000a0001, region: us-east-1, name: base-2026-11, encrypted: false}
      - {id: ami-0b0000000000a0002, region: us-east-1, name: base-2026-11-ebs-default, encrypted: aws-managed}

  - id: "222222222222"
    name: payments
    service_linked_roles: [AWSServiceRoleForAutoScaling]
    roles: [*target-role]
    images:
      - {id: ami-0c0000000000a0001, region: us-east-1, name: old-1, tags: {"amicrypt:family": base-2026-11}}
      - {id: ami-0c0000000000a0002, region: us-east-1, name: old-2, tags: {"amicrypt:family": base-2026-11}}
      - {id: ami-0c0000000000a0003, region: us-east-1, name: old-3, tags: {"amicrypt:family": base-2026-11}}
      - {id: ami-0c0000000000a0004, region: us-east-1, name: other-family, tags: {"amicrypt:family": other}}

  - id: "333333333333"
    name: analytics
    roles: [*target-role]

  - id: "444444444444"
    name: legacy
    service_linked_roles: [AWSServiceRoleForAutoScaling]
    roles: [*target-role]
    keys:
      - {alias: alias/adopted, region: us-east-1, policy: *root-only}
      - {alias: alias/adopted-manage, region: us-east-1, policy: *root-only}
      - {alias: alias/adopted-grant, region: us-east-1, policy: *root-only}
      - {alias: alias/disabled, region: us-east-1, state: Disabled}
      - {alias: alias/asymmetric, region: us-east-1, spec: RSA_2048}
      - alias: alias/managed
        region: us-east-1
        # Made by an amicrypt older than its tag guard, its policy since rewritten.
        description: "amicrypt: dedicated key of account 444444444444 for encrypted AMIs (alias/managed)"
        tags: {"amicrypt:managed": "true"}
        policy:
          Version: "2012-10-17"
          Statement:
            - Sid: Enable IAM User Permissions
              Effect: Allow
              Principal: {AWS: "arn:aws:iam::444444444444:root"}
              Action: kms:*
              Resource: "*"
            - Sid: OwnerAuditors
              Effect: Allow
              Principal: {AWS: "arn:aws:iam::444444444444:role/amicrypt-target"}
              Action: ["kms:DescribeKey", "kms:GetKeyPolicy"]
              Resource: "*"

  - id: "555555555555"
    name: key-owner
    keys:
      - alias: alias/shared-open
        region: us-east-1
        policy:
          Version: "2012-10-17"
          Statement:
            - Sid: Enable IAM User Permissions
              Effect: Allow
              Principal: {AWS: "arn:aws:iam::555555555555:root"}
              Action: kms:*
              Resource: "*"
            - Sid: Allow use of the key
              Effect: Allow
              Principal: {AWS: "arn:aws:iam::222222222222:root"}
              Action: ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
              Resource: "*"
            - Sid: Allow attachment of persistent resources
              Effect: Allow
              Principal: {AWS: "arn:aws:iam::222222222222:root"}
              Action: kms:CreateGrant
              Resource: "*"
      - {alias: alias/shared-closed, region: us-east-1}

timing: {copy_seconds: 0.2, boot_seconds: 0.2, instance_seconds: 0.1, create_image_seconds: 0.2}
`

// harness is a sandbox, amicrypt's activities wired to it, and Temporal's
// activity test environment.
type harness struct {
	t    *testing.T
	sb   *sandboxtest.Sandbox
	acts *Activities
	env  *testsuite.TestActivityEnvironment
	ctx  context.Context
	// registered: the functions run so far, registered with env by name
	// (the activities and, for finer tests, the steps they are made of).
	registered map[string]bool
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessOf(t, testWorld, nil)
}

// newHarnessOf is a harness over world, with the activities' Config changed
// by tune (when not nil).
func newHarnessOf(t *testing.T, world string, tune func(*Config)) *harness {
	t.Helper()
	sb := sandboxtest.Start(t, world, nil)
	root := sb.RootConfig(builderAcct, region)
	// The worker runs as the builder's pipeline role.
	base := root.Copy()
	base.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(root), pipelineARN))
	var log zerolog.Logger
	if testing.Verbose() {
		log = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).With().Timestamp().Logger()
	}
	cfg := Config{
		Clients:     NewClientFactory(base, ClientOptions{Endpoint: sb.URL, SessionName: "amicrypt-test"}),
		Logger:      log,
		PollInitial: 20 * time.Millisecond,
		PollMax:     100 * time.Millisecond,
		BootTimeout: 20 * time.Second,
	}
	if tune != nil {
		tune(&cfg)
	}
	acts := New(cfg)
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	return &harness{t: t, sb: sb, acts: acts, env: env, ctx: context.Background(), registered: map[string]bool{}}
}

// run executes one activity in the test environment and decodes its result.
func run[T any](h *harness, fn any, in any) (T, error) {
	h.t.Helper()
	var out T
	full := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()).Name()
	name := strings.TrimSuffix(full[strings.LastIndex(full, ".")+1:], "-fm")
	if !h.registered[name] {
		h.env.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
		h.registered[name] = true
	}
	val, err := h.env.ExecuteActivity(name, in)
	if err != nil {
		return out, err
	}
	if val != nil && val.HasValue() {
		if err := val.Get(&out); err != nil {
			h.t.Fatalf("decoding the result: %v", err)
		}
	}
	return out, nil
}

// must runs an activity that must succeed.
func must[T any](h *harness, fn any, in any) T {
	h.t.Helper()
	out, err := run[T](h, fn, in)
	if err != nil {
		h.t.Fatalf("activity failed: %v", err)
	}
	return out
}

// diagnosed runs an activity that must fail with a diagnosis of code.
func diagnosed(h *harness, fn any, in any, code string) Diagnosis {
	h.t.Helper()
	_, err := run[struct{}](h, fn, in)
	if err == nil {
		h.t.Fatalf("activity succeeded; want diagnosis %s", code)
	}
	d, ok := DiagnosisOf(err)
	if !ok {
		h.t.Fatalf("error carries no diagnosis: %v", err)
	}
	if d.Code != code {
		h.t.Fatalf("diagnosis %s, want %s: %s", d.Code, code, d)
	}
	h.t.Logf("diagnosis:\n%s", d)
	return d
}

// target is an account's target in us-east-1, as the default world sets it up.
func target(account string) Target {
	return Target{
		Account: account, Region: region,
		RoleARN: "arn:aws:iam::" + account + ":role/amicrypt-target", ExternalID: "amicrypt",
		KeyAlias:  "alias/amicrypt",
		BootProof: BootProof{Enabled: true, InstanceType: "t3.micro", Timeout: 20 * time.Second},
	}
}

// Root clients of the sandbox, for setting up and checking.
func (h *harness) rootKMS(account string) *kms.Client {
	return kms.NewFromConfig(h.sb.RootConfig(account, region))
}
func (h *harness) rootEC2(account string) *ec2.Client {
	return ec2.NewFromConfig(h.sb.RootConfig(account, region))
}
func (h *harness) rootAS(account string) *autoscaling.Client {
	return autoscaling.NewFromConfig(h.sb.RootConfig(account, region))
}
func (h *harness) rootSSM(account string) *ssm.Client {
	return ssm.NewFromConfig(h.sb.RootConfig(account, region))
}

// keyARN resolves an alias of an account with its root user.
func (h *harness) keyARN(account, alias string) string {
	h.t.Helper()
	out, err := h.rootKMS(account).DescribeKey(h.ctx, &kms.DescribeKeyInput{KeyId: aws.String(alias)})
	if err != nil {
		h.t.Fatalf("describe %s in %s: %v", alias, account, err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

// keyPolicyText is a key's policy as its owner reads it.
func (h *harness) keyPolicyText(account, keyARN string) string {
	h.t.Helper()
	out, err := h.rootKMS(account).GetKeyPolicy(h.ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(keyARN), PolicyName: aws.String("default")})
	if err != nil {
		h.t.Fatalf("get key policy: %v", err)
	}
	return aws.ToString(out.Policy)
}

// copied shares the source with the target's account, makes the encrypted
// copy under keyARN and waits for it.
func (h *harness) copied(t Target, keyARN string) string {
	h.t.Helper()
	must[ShareSourceResult](h, h.acts.ShareSource, ShareSourceInput{Builder: Builder{Account: builderAcct}, Source: Source{Region: region, ImageID: sourceAMI}, Accounts: []string{t.Account}})
	c := must[CopyImageResult](h, h.acts.CopyEncrypted, CopyImageInput{Target: t, Source: Source{Region: region, ImageID: sourceAMI}, KeyARN: keyARN, RunID: "run-1"})
	must[CopiedImage](h, h.acts.WaitAndVerify, WaitAndVerifyInput{Target: t, ImageID: c.ImageID, KeyARN: keyARN})
	return c.ImageID
}
