package activities

import (
	"strings"
	"testing"
)

func TestAssumeTargetActsAsTheTargetRole(t *testing.T) {
	h := newHarness(t)
	res := must[AssumeTargetResult](h, h.acts.AssumeTarget, AssumeTargetInput{Target: target(payments)})
	if want := "arn:aws:sts::222222222222:assumed-role/amicrypt-target/amicrypt-test"; res.Arn != want {
		t.Fatalf("acting as %s, want %s", res.Arn, want)
	}
}

func TestAssumeTargetWithAWrongExternalIDIsF7(t *testing.T) {
	h := newHarness(t)
	tg := target(payments)
	tg.ExternalID = "not-amicrypt"
	d := diagnosed(h, h.acts.AssumeTarget, AssumeTargetInput{Target: tg}, F7)
	for _, want := range []string{tg.RoleARN, "sts:ExternalId", `"not-amicrypt"`} {
		if !strings.Contains(d.Cause+d.Fix, want) {
			t.Errorf("diagnosis does not mention %s: %s", want, d)
		}
	}
	// Every activity reaching the target says the same.
	diagnosed(h, h.acts.EnsureServiceLinkedRole, EnsureServiceLinkedRoleInput{Target: tg}, F7)
	// Fixing the external id works at once: the failed credentials were dropped.
	tg.ExternalID = "amicrypt"
	must[AssumeTargetResult](h, h.acts.AssumeTarget, AssumeTargetInput{Target: tg})
}

func TestEnsureServiceLinkedRole(t *testing.T) {
	h := newHarness(t)
	t.Run("exists", func(t *testing.T) {
		res := must[EnsureServiceLinkedRoleResult](h, h.acts.EnsureServiceLinkedRole, EnsureServiceLinkedRoleInput{Target: target(payments)})
		if res.Created || res.RoleARN != target(payments).ServiceLinkedRoleARN() {
			t.Fatalf("got %+v, want the existing default role", res)
		}
	})
	t.Run("created once", func(t *testing.T) {
		in := EnsureServiceLinkedRoleInput{Target: target(analytics)}
		first := must[EnsureServiceLinkedRoleResult](h, h.acts.EnsureServiceLinkedRole, in)
		second := must[EnsureServiceLinkedRoleResult](h, h.acts.EnsureServiceLinkedRole, in)
		if !first.Created || second.Created || first.RoleARN != second.RoleARN || first.RoleARN != in.Target.ServiceLinkedRoleARN() {
			t.Fatalf("first %+v, second %+v", first, second)
		}
	})
	t.Run("custom suffix", func(t *testing.T) {
		tg := target(analytics)
		tg.ServiceLinkedRoleSuffix = "CMK"
		res := must[EnsureServiceLinkedRoleResult](h, h.acts.EnsureServiceLinkedRole, EnsureServiceLinkedRoleInput{Target: tg})
		want := "arn:aws:iam::333333333333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_CMK"
		if !res.Created || res.RoleARN != want {
			t.Fatalf("got %+v, want %s created", res, want)
		}
	})
}
