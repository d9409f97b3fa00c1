package activities

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Tags on a boot proof's group and template that let a later run or sweep
// tell one abandoned by a terminated workflow from one under way.
const (
	// TagWorkflow and TagWorkflowRun are the id and the run of the
	// workflow that made the boot proof (a later run of the same id —
	// a replay of the target — is another workflow run).
	TagWorkflow    = "amicrypt:workflow"
	TagWorkflowRun = "amicrypt:workflow-run"
	// TagExpires is when the proof is over at the latest (its timeout from
	// the group's creation), RFC 3339.
	TagExpires = "amicrypt:expires"
)

// proofLeftoverAge is how old a boot-proof group without an expiry tag (made
// before the tag existed) must be to count as abandoned: far beyond any boot
// proof's timeout.
const proofLeftoverAge = 24 * time.Hour

// WorkflowChecker answers the activities' questions about other workflows
// from Temporal (worker.TemporalWorkflows).
type WorkflowChecker interface {
	// WorkflowRunning tells whether a workflow run is still running (runID
	// empty: the latest run of the id).
	WorkflowRunning(ctx context.Context, workflowID, runID string) (bool, error)
	// BatchShares lists the Batch workflows running now, other than the
	// workflow except, that shared source image imageID with one of
	// accounts: what each holds, read from its history (see BatchShare).
	// Every batch started before asOf is among those it looks at: it waits
	// out the lag of Temporal's visibility past asOf (zero: no wait, the
	// batches visible now).
	BatchShares(ctx context.Context, imageID string, accounts []string, except string, asOf time.Time) ([]BatchShare, error)
}

// proofPrefix starts every boot-proof group's and template's name
// (BootProofNames).
const proofPrefix = "amicrypt-proof-"

// removeAbandonedProofs deletes the boot-proof groups and templates of the
// target's account and region that a workflow left behind: a workflow that
// was terminated (not cancelled) never runs its compensation, and its group
// would relaunch instances for ever. A group or template is removed only on
// evidence that it is amicrypt's and over:
//
//   - its name is the one amicrypt derives from its amicrypt:run tag, the
//     account and the region (BootProofNames);
//   - its amicrypt:expires time (its boot-proof timeout from its creation)
//     has passed, and the workflow its amicrypt:workflow tag names is not
//     running (Temporal says so; without a checker it is left alone);
//   - or, without those tags (made before they existed), it is older than
//     a day.
//
// It returns what it removed, for the report. withTemplates also looks for
// templates whose group is gone (a deletion that stopped half way: the
// sweep does; the start of a target looks at groups only, one call).
func (a *Activities) removeAbandonedProofs(ctx context.Context, t Target, withTemplates bool) ([]string, error) {
	acc := targetAccess(t)
	as := a.clients.AutoScaling(acc)
	ec := a.clients.EC2(acc)
	log := a.logFor(t.Account, t.Region)
	now := time.Now()
	var removed []string

	var groups []astypes.AutoScalingGroup
	p := autoscaling.NewDescribeAutoScalingGroupsPaginator(as, &autoscaling.DescribeAutoScalingGroupsInput{
		Filters: []astypes.Filter{{Name: aws.String("tag-key"), Values: []string{TagRun}}},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return removed, diagnose(err, "autoscaling:DescribeAutoScalingGroups", where{Account: t.Account, Region: t.Region, Resource: "boot-proof groups"})
		}
		groups = append(groups, page.AutoScalingGroups...)
	}
	for _, g := range groups {
		name := aws.ToString(g.AutoScalingGroupName)
		tags := map[string]string{}
		for _, tag := range g.Tags {
			tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
		}
		over, why, err := a.proofOver(ctx, t, name, tags, aws.ToTime(g.CreatedTime), now)
		if err != nil {
			return removed, err
		}
		if !over {
			continue
		}
		in := BootProofInput{Target: t, RunID: tags[TagRun]}
		if err := a.DeleteBootProof(ctx, in); err != nil {
			return removed, err
		}
		what := fmt.Sprintf("boot-proof group and launch template %s (%s)", name, why)
		log.Warn().Str("group", name).Str("why", why).Msg("abandoned boot proof removed")
		removed = append(removed, what)
	}

	if !withTemplates {
		return removed, nil
	}
	// Templates whose group is already gone (a deletion that stopped half
	// way).
	tp := ec2.NewDescribeLaunchTemplatesPaginator(ec, &ec2.DescribeLaunchTemplatesInput{
		Filters: []ec2types.Filter{{Name: aws.String("tag-key"), Values: []string{TagRun}}},
	})
	for tp.HasMorePages() {
		page, err := tp.NextPage(ctx)
		if err != nil {
			return removed, diagnose(err, "ec2:DescribeLaunchTemplates", where{Account: t.Account, Region: t.Region, Resource: "boot-proof templates"})
		}
		for _, lt := range page.LaunchTemplates {
			name := aws.ToString(lt.LaunchTemplateName)
			if !strings.HasPrefix(name, proofPrefix) || containsGroup(groups, name) {
				continue
			}
			over, why, err := a.proofOver(ctx, t, name, tagMap(lt.Tags), aws.ToTime(lt.CreateTime), now)
			if err != nil {
				return removed, err
			}
			if !over {
				continue
			}
			if _, err := ec.DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateId: lt.LaunchTemplateId}); err != nil && !IsNotFound(err) {
				return removed, diagnose(err, "ec2:DeleteLaunchTemplate", where{Account: t.Account, Region: t.Region, Resource: "launch template " + name})
			}
			log.Warn().Str("template", name).Str("why", why).Msg("abandoned boot-proof template removed")
			removed = append(removed, fmt.Sprintf("boot-proof launch template %s (%s)", name, why))
		}
	}
	return removed, nil
}

// proofOver decides whether the boot proof named name, with tags, created
// at created, is amicrypt's and over (see removeAbandonedProofs); why says
// on what evidence.
func (a *Activities) proofOver(ctx context.Context, t Target, name string, tags map[string]string, created, now time.Time) (bool, string, error) {
	run := tags[TagRun]
	if run == "" || !strings.HasPrefix(name, proofPrefix) {
		return false, "", nil
	}
	if want, _ := (BootProofInput{Target: t, RunID: run}).BootProofNames(); want != name {
		return false, "", nil // not a name amicrypt gives: someone else's
	}
	id := tags[TagWorkflow]
	if id == "" {
		// Made before the tags existed (or outside a workflow): only age
		// tells.
		if created.IsZero() || now.Sub(created) < proofLeftoverAge {
			return false, "", nil
		}
		return true, fmt.Sprintf("run %s, created %s, long over", run, created.UTC().Format(time.RFC3339)), nil
	}
	if exp, err := time.Parse(time.RFC3339, tags[TagExpires]); err != nil || now.Before(exp) {
		return false, "", nil
	}
	if a.workflows == nil {
		return false, "", nil
	}
	running, err := a.workflows.WorkflowRunning(ctx, id, tags[TagWorkflowRun])
	if err != nil {
		return false, "", fmt.Errorf("asking Temporal whether workflow %s (boot proof %s in account %s, %s) still runs, %w", id, name, t.Account, t.Region, err)
	}
	if running {
		return false, "", nil
	}
	return true, fmt.Sprintf("its workflow %s is closed and its time ran out", id), nil
}

func containsGroup(groups []astypes.AutoScalingGroup, name string) bool {
	for _, g := range groups {
		if aws.ToString(g.AutoScalingGroupName) == name {
			return true
		}
	}
	return false
}
