package activities

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// startedProof starts the boot proof of a copy of the source in payments,
// under its dedicated key.
func (h *harness) startedProof() BootProofInput {
	tg := target(payments)
	key := must[EnsureKeyResult](h, h.acts.ensureKey, ensureKeyIn(tg))
	image := h.copied(tg, key.KeyARN)
	in := BootProofInput{Target: tg, RunID: "run-1", ImageID: image, KeyARN: key.KeyARN, SLRARN: tg.ServiceLinkedRoleARN()}
	must[struct{}](h, h.startProof, in)
	return in
}

func TestBootProofSucceedsAndIsCleanedUp(t *testing.T) {
	h := newHarness(t)
	in := h.startedProof()
	must[struct{}](h, h.startProof, in) // a retried start finds what it made
	res := must[BootResult](h, h.waitProof, in)
	if res.Result != BootInService || res.InstanceID == "" {
		t.Fatalf("boot: %+v", res)
	}
	must[struct{}](h, h.acts.DeleteBootProof, in)
	must[struct{}](h, h.acts.DeleteBootProof, in)
	h.assertBootProofGone(in)
}

// A proof that boots is watched through its group alone: an instance
// Pending is a launch under way, so the scaling activities (read for a
// launch that failed) are never asked; each poll is one call.
func TestABootingProofIsWatchedThroughItsGroupAlone(t *testing.T) {
	h := newHarness(t)
	in := h.startedProof()
	groups := h.calls(payments, "autoscaling:DescribeAutoScalingGroups")
	if res := must[BootResult](h, h.waitProof, in); res.Result != BootInService {
		t.Fatalf("boot: %+v", res)
	}
	if n := h.calls(payments, "autoscaling:DescribeScalingActivities"); n != 0 {
		t.Errorf("%d DescribeScalingActivities calls for a proof that booted, want 0", n)
	}
	if n := h.calls(payments, "autoscaling:DescribeAutoScalingGroups") - groups; n < 1 {
		t.Errorf("the group was read %d times while it launched", n)
	}
	must[struct{}](h, h.acts.DeleteBootProof, in)
}

func TestBootProofWithARootOnlyKeyPolicyFailsWithF2(t *testing.T) {
	h := newHarness(t)
	tg := target(legacy)
	keyARN := h.keyARN(legacy, "alias/adopted") // root-only: the copy works, the group's launch does not
	image := h.copied(tg, keyARN)
	in := BootProofInput{Target: tg, RunID: "run-1", ImageID: image, KeyARN: keyARN, SLRARN: tg.ServiceLinkedRoleARN()}
	must[struct{}](h, h.startProof, in)
	_, err := run[BootResult](h, h.waitProof, in)
	d, ok := DiagnosisOf(err)
	if !ok || d.Code != F2 {
		t.Fatalf("got %v (%+v), want F2", err, d)
	}
	for _, want := range []string{tg.ServiceLinkedRoleARN(), "kms:CreateGrant", "Client error on launch"} {
		if !contains(d.Cause+d.Fix, want) {
			t.Errorf("diagnosis lacks %s: %s", want, d)
		}
	}
	br, ok := BootResultOf(err)
	if !ok || br.Result != BootFailed || !contains(br.Message, "Client.InternalError: Client error on launch") {
		t.Errorf("boot result carried by the error: %+v, %v", br, ok)
	}
	must[struct{}](h, h.acts.DeleteBootProof, in)
	h.assertBootProofGone(in)
}

func TestDeleteBootProofWithoutStartIsFine(t *testing.T) {
	h := newHarness(t)
	in := BootProofInput{Target: target(payments), RunID: "never-started", ImageID: "ami-0000000000000000f"}
	must[struct{}](h, h.acts.DeleteBootProof, in)
	must[struct{}](h, h.acts.DeleteBootProof, in)
}

// startProof and waitProof run the two halves of ProveBoot (the template
// and group, then the wait) as one activity each, so a test can retry a half.
func (h *harness) startProof(ctx context.Context, in BootProofInput) error {
	_, err := h.acts.startBootProof(ctx, in)
	return err
}

func (h *harness) waitProof(ctx context.Context, in BootProofInput) (BootResult, error) {
	return h.acts.waitBoot(ctx, in, time.Time{})
}

func (h *harness) assertBootProofGone(in BootProofInput) {
	h.t.Helper()
	group, template := in.BootProofNames()
	g, err := h.rootAS(in.Target.Account).DescribeAutoScalingGroups(h.ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{group}})
	if err != nil || len(g.AutoScalingGroups) != 0 {
		h.t.Errorf("group left: %+v, %v", g, err)
	}
	lt, err := h.rootEC2(in.Target.Account).DescribeLaunchTemplates(h.ctx, &ec2.DescribeLaunchTemplatesInput{})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, l := range lt.LaunchTemplates {
		if aws.ToString(l.LaunchTemplateName) == template {
			h.t.Errorf("launch template %s left", template)
		}
	}
}

func TestBootProofWithAnotherAccountsKeyNeedsTheGrantF6(t *testing.T) {
	h := newHarness(t)
	tg := target(payments)
	tg.KeyARN = h.keyARN(keyOwner, "alias/shared-open")
	image := h.copied(tg, tg.KeyARN) // the copy works: the key policy lets account 222222222222 use the key
	in := BootProofInput{Target: tg, RunID: "run-1", ImageID: image, KeyARN: tg.KeyARN, SLRARN: tg.ServiceLinkedRoleARN()}
	must[struct{}](h, h.startProof, in)
	_, err := run[BootResult](h, h.waitProof, in)
	d, ok := DiagnosisOf(err)
	if !ok || d.Code != F6 || !contains(d.Fix, "aws kms create-grant --key-id "+tg.KeyARN) {
		t.Fatalf("got %v (%+v), want F6 with the create-grant call", err, d)
	}
	must[struct{}](h, h.acts.DeleteBootProof, in)

	// With the grant amicrypt makes in EnsureKey, the same image boots.
	must[EnsureKeyResult](h, h.acts.ensureKey, ensureKeyIn(tg))
	in.RunID = "run-2"
	must[struct{}](h, h.startProof, in)
	if res := must[BootResult](h, h.waitProof, in); res.Result != BootInService {
		t.Fatalf("boot with the grant: %+v", res)
	}
	must[struct{}](h, h.acts.DeleteBootProof, in)
	h.assertBootProofGone(in)
}
