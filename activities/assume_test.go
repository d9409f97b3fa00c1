package activities

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

func TestAssumeTargetActsAsTheTargetRole(t *testing.T) {
	h := newHarness(t)
	res := must[AssumeTargetResult](h, h.acts.assumeTarget, AssumeTargetInput{Target: target(payments)})
	if want := "arn:aws:sts::222222222222:assumed-role/amicrypt-target/amicrypt-test"; res.Arn != want {
		t.Fatalf("acting as %s, want %s", res.Arn, want)
	}
}

func TestAssumeTargetWithAWrongExternalIDIsF7(t *testing.T) {
	h := newHarness(t)
	tg := target(payments)
	tg.ExternalID = "not-amicrypt"
	d := diagnosed(h, h.acts.assumeTarget, AssumeTargetInput{Target: tg}, F7)
	for _, want := range []string{tg.RoleARN, "sts:ExternalId", "external_id"} {
		if !strings.Contains(d.Cause+d.Fix, want) {
			t.Errorf("diagnosis does not mention %s: %s", want, d)
		}
	}
	// The external id is the target's secret: reports and logs never show it.
	if strings.Contains(d.Cause+d.Fix, tg.ExternalID) {
		t.Errorf("the diagnosis shows the external id: %s", d)
	}
	// Every activity reaching the target says the same.
	diagnosed(h, h.acts.ensureServiceLinkedRole, EnsureServiceLinkedRoleInput{Target: tg}, F7)
	// Fixing the external id works at once: the failed credentials were dropped.
	tg.ExternalID = "amicrypt"
	must[AssumeTargetResult](h, h.acts.assumeTarget, AssumeTargetInput{Target: tg})
}

func TestEnsureServiceLinkedRole(t *testing.T) {
	h := newHarness(t)
	t.Run("exists", func(t *testing.T) {
		res := must[EnsureServiceLinkedRoleResult](h, h.acts.ensureServiceLinkedRole, EnsureServiceLinkedRoleInput{Target: target(payments)})
		if res.Created || res.RoleARN != target(payments).ServiceLinkedRoleARN() {
			t.Fatalf("got %+v, want the existing default role", res)
		}
	})
	t.Run("created once", func(t *testing.T) {
		in := EnsureServiceLinkedRoleInput{Target: target(analytics)}
		first := must[EnsureServiceLinkedRoleResult](h, h.acts.ensureServiceLinkedRole, in)
		second := must[EnsureServiceLinkedRoleResult](h, h.acts.ensureServiceLinkedRole, in)
		if !first.Created || second.Created || first.RoleARN != second.RoleARN || first.RoleARN != in.Target.ServiceLinkedRoleARN() {
			t.Fatalf("first %+v, second %+v", first, second)
		}
	})
	t.Run("custom suffix", func(t *testing.T) {
		tg := target(analytics)
		tg.ServiceLinkedRoleSuffix = "CMK"
		res := must[EnsureServiceLinkedRoleResult](h, h.acts.ensureServiceLinkedRole, EnsureServiceLinkedRoleInput{Target: tg})
		want := "arn:aws:iam::333333333333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_CMK"
		if !res.Created || res.RoleARN != want {
			t.Fatalf("got %+v, want %s created", res, want)
		}
	})
}

func TestClientsShareOneConnectionPool(t *testing.T) {
	f := NewClientFactory(aws.Config{Region: "us-east-1"}, ClientOptions{Endpoint: "http://127.0.0.1:1"})
	pools := map[any]bool{}
	for _, acct := range []string{"222222222222", "333333333333"} {
		for _, r := range []string{"us-east-1", "eu-west-1"} {
			a := Access{Account: acct, Region: r, RoleARN: "arn:aws:iam::" + acct + ":role/amicrypt-target"}
			pools[f.EC2(a).(*ec2.Client).Options().HTTPClient] = true
			pools[f.KMS(a).(*kms.Client).Options().HTTPClient] = true
			pools[f.AutoScaling(a).(*autoscaling.Client).Options().HTTPClient] = true
		}
	}
	if len(pools) != 1 {
		t.Errorf("%d HTTP clients (each with its own idle connections) for 12 service clients, want 1", len(pools))
	}
}

// VerifyTargets refuses, each with its F7, the targets whose role cannot be
// assumed, and passes the others — before anything is shared with them.
func TestVerifyTargetsRefusesTheRolesItCannotAssume(t *testing.T) {
	h := newHarness(t)
	good, wrongID := target(payments), target(analytics)
	wrongID.ExternalID = "not-amicrypt"
	missing := target("999999999999")
	res := must[VerifyTargetsResult](h, h.acts.VerifyTargets, VerifyTargetsInput{Targets: []Target{good, wrongID, missing}})
	if _, refused := res.Refused[good.ID()]; refused {
		t.Errorf("the healthy target is refused: %s", res.Refused[good.ID()])
	}
	for _, tg := range []Target{wrongID, missing} {
		d, refused := res.Refused[tg.ID()]
		if !refused || d.Code != F7 || d.Step != StepAssume {
			t.Errorf("%s: %+v, want F7 at %s", tg.ID(), d, StepAssume)
		}
	}
}

// A worker with --allow-accounts acts in no other account and shares the
// builder's images with no other, whatever its input names.
func TestAWorkerServesOnlyItsAllowedAccounts(t *testing.T) {
	h := newHarnessOf(t, testWorld, func(c *Config) { c.AllowAccounts = []string{payments} })
	res := must[VerifyTargetsResult](h, h.acts.VerifyTargets, VerifyTargetsInput{Targets: []Target{target(payments), target(analytics)}})
	if d, ok := res.Refused[target(analytics).ID()]; !ok || d.Code != NotAllowed || !strings.Contains(d.Cause, "--allow-accounts") {
		t.Errorf("an account outside the list: %+v", d)
	}
	if _, ok := res.Refused[target(payments).ID()]; ok {
		t.Errorf("an allowed account is refused: %+v", res.Refused)
	}
	d := diagnosed(h, h.acts.ShareSource, ShareSourceInput{Builder: Builder{Account: builderAcct}, Source: Source{Region: region, ImageID: sourceAMI}, Accounts: []string{payments, analytics}}, NotAllowed)
	if !strings.Contains(d.Cause, analytics) || strings.Contains(d.Cause, payments+",") {
		t.Errorf("the refusal does not name the account outside the list alone: %s", d)
	}
	out, err := h.rootEC2(builderAcct).DescribeImageAttribute(h.ctx, &ec2.DescribeImageAttributeInput{ImageId: aws.String(sourceAMI), Attribute: ec2types.ImageAttributeNameLaunchPermission})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.LaunchPermissions) != 0 {
		t.Errorf("the source was shared anyway: %+v", out.LaunchPermissions)
	}
	// The first activity of a target (and of a rotation, an inspection)
	// assumes its role: refused there too.
	diagnosed(h, h.acts.PrepareTarget, PrepareTargetInput{Target: target(analytics), RunID: "run-1"}, NotAllowed)
}
