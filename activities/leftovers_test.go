package activities

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// workflowsRunning is a WorkflowChecker over a fixed answer per workflow.
type workflowsRunning map[string]bool

func (w workflowsRunning) WorkflowRunning(_ context.Context, id, _ string) (bool, error) {
	return w[id], nil
}

// BatchShares: no other batch shares anything (share_test.go has a
// checker that says otherwise).
func (w workflowsRunning) BatchShares(context.Context, string, []string, string, time.Time) ([]BatchShare, error) {
	return nil, nil
}

// abandonProof makes a boot proof's template and group as a workflow would
// have (named from run, tagged with its workflow and expiry), and returns
// the name.
func (h *harness) abandonProof(tg Target, run, workflowID string, expires time.Time, withGroup bool) string {
	h.t.Helper()
	name, _ := BootProofInput{Target: tg, RunID: run}.BootProofNames()
	return h.proofNamed(tg, name, run, workflowID, expires, withGroup)
}

func (h *harness) proofNamed(tg Target, name, run, workflowID string, expires time.Time, withGroup bool) string {
	h.t.Helper()
	tags := []ec2types.Tag{{Key: aws.String(TagRun), Value: aws.String(run)}, {Key: aws.String(TagExpires), Value: aws.String(expires.UTC().Format(time.RFC3339))}}
	astags := []astypes.Tag{{Key: aws.String(TagRun), Value: aws.String(run)}, {Key: aws.String(TagExpires), Value: aws.String(expires.UTC().Format(time.RFC3339))}}
	if workflowID != "" {
		tags = append(tags, ec2types.Tag{Key: aws.String(TagWorkflow), Value: aws.String(workflowID)})
		astags = append(astags, astypes.Tag{Key: aws.String(TagWorkflow), Value: aws.String(workflowID)})
	}
	if _, err := h.rootEC2(tg.Account).CreateLaunchTemplate(h.ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(name),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(sourceAMI), InstanceType: ec2types.InstanceTypeT3Micro},
		TagSpecifications:  []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeLaunchTemplate, Tags: tags}},
	}); err != nil {
		h.t.Fatal(err)
	}
	if withGroup {
		if _, err := h.rootAS(tg.Account).CreateAutoScalingGroup(h.ctx, &autoscaling.CreateAutoScalingGroupInput{
			AutoScalingGroupName: aws.String(name),
			LaunchTemplate:       &astypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String(name)},
			MinSize:              aws.Int32(0), MaxSize: aws.Int32(1), DesiredCapacity: aws.Int32(0),
			AvailabilityZones: []string{region + "a"},
			Tags:              astags,
		}); err != nil {
			h.t.Fatal(err)
		}
	}
	return name
}

func (h *harness) proofExists(account, name string) (group, template bool) {
	h.t.Helper()
	g, err := h.rootAS(account).DescribeAutoScalingGroups(h.ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil {
		h.t.Fatal(err)
	}
	lts, err := h.rootEC2(account).DescribeLaunchTemplates(h.ctx, &ec2.DescribeLaunchTemplatesInput{})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, lt := range lts.LaunchTemplates {
		template = template || aws.ToString(lt.LaunchTemplateName) == name
	}
	return len(g.AutoScalingGroups) > 0, template
}

// A workflow terminated during its boot proof never deletes its group: the
// next target of the account and region removes it — only it: not one whose
// workflow still runs, nor one not over yet, nor one amicrypt did not name.
func TestPrepareTargetRemovesBootProofsOfTerminatedWorkflows(t *testing.T) {
	checker := workflowsRunning{"amicrypt-target-running": true}
	h := newHarnessOf(t, testWorld, func(c *Config) { c.Workflows = checker })
	tg := target(payments)
	// The account's first target creates its key: no proof can exist yet,
	// so none is looked for.
	must[PrepareTargetResult](h, h.acts.PrepareTarget, PrepareTargetInput{Target: tg, RunID: "run-0", Pipeline: pipelineARN})
	if n := h.calls(payments, "autoscaling:DescribeAutoScalingGroups"); n != 0 {
		t.Errorf("the target that created the key looked for boot proofs (%d calls)", n)
	}
	past, future := time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	terminated := h.abandonProof(tg, "run-terminated", "amicrypt-target-terminated", past, true)
	running := h.abandonProof(tg, "run-running", "amicrypt-target-running", past, true)
	notOver := h.abandonProof(tg, "run-not-over", "amicrypt-target-terminated-2", future, true)
	foreign := h.proofNamed(tg, "amicrypt-proof-not-a-derived-name", "run-x", "amicrypt-target-terminated", past, true)

	res := must[PrepareTargetResult](h, h.acts.PrepareTarget, PrepareTargetInput{Target: tg, RunID: "run-1", Pipeline: pipelineARN})
	if len(res.LeftoversRemoved) != 1 || !strings.Contains(res.LeftoversRemoved[0], terminated) || !strings.Contains(res.LeftoversRemoved[0], "amicrypt-target-terminated") {
		t.Errorf("removed %v, want only %s, naming its closed workflow", res.LeftoversRemoved, terminated)
	}
	if g, lt := h.proofExists(payments, terminated); g || lt {
		t.Errorf("%s: group %v, template %v left", terminated, g, lt)
	}
	for _, kept := range []string{running, notOver, foreign} {
		if g, lt := h.proofExists(payments, kept); !g || !lt {
			t.Errorf("%s: group %v, template %v; want both kept", kept, g, lt)
		}
	}
}

// The sweep removes the same, and a template whose group is already gone.
func TestInspectKeyRemovesAbandonedBootProofs(t *testing.T) {
	h := newHarnessOf(t, testWorld, func(c *Config) { c.Workflows = workflowsRunning{} })
	tg := target(payments)
	must[PrepareTargetResult](h, h.acts.PrepareTarget, PrepareTargetInput{Target: tg, RunID: "run-1", Pipeline: pipelineARN})
	past := time.Now().Add(-time.Minute)
	group := h.abandonProof(tg, "run-a", "amicrypt-target-a", past, true)
	template := h.abandonProof(tg, "run-b", "amicrypt-target-b", past, false)

	kh := must[KeyHealth](h, h.acts.InspectKey, InspectKeyInput{Target: tg})
	if len(kh.LeftoversRemoved) != 2 || kh.Writes < 2 {
		t.Errorf("sweep removed %v (writes %d), want the group %s and the template %s", kh.LeftoversRemoved, kh.Writes, group, template)
	}
	for _, name := range []string{group, template} {
		if g, lt := h.proofExists(payments, name); g || lt {
			t.Errorf("%s: group %v, template %v left", name, g, lt)
		}
	}
}
