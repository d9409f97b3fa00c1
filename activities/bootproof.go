package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// Boot proof results.
const (
	BootInService = "InService"
	BootFailed    = "Failed"
	BootSkipped   = "Skipped"
)

// DefaultBootInstanceType is the boot proof's instance type when the target
// names none.
const DefaultBootInstanceType = "t3.micro"

// startBootProof creates the throwaway launch template and Auto Scaling group
// that prove the copy boots (step 7): the template launches the copy with its
// root volume encrypted under the dedicated key, always named (F8: left
// alone, a volume may end up under the account's default key); the group
// (min 0, max 1, desired 1) launches as the target's service-linked role.
// Names come from the run and target (BootProofInput.BootProofNames), so a
// retry finds what an earlier attempt made ("already exists" is success).
// It returns when the group was created (read from the group when an earlier
// attempt created it).
func (a *Activities) startBootProof(ctx context.Context, in BootProofInput) (time.Time, error) {
	t := in.Target
	acc := targetAccess(t)
	ec := a.clients.EC2(acc)
	group, template := in.BootProofNames()
	log := a.logFor(t.Account, t.Region).With().Str("image", in.ImageID).Str("group", group).Logger()
	w := where{Account: t.Account, Region: t.Region, Resource: "image " + in.ImageID}

	root := in.RootDevice
	if root == "" {
		im, err := describeImage(ctx, ec, in.ImageID)
		if err != nil {
			return time.Time{}, diagnose(err, "ec2:DescribeImages", w)
		}
		if im == nil {
			return time.Time{}, Diagnosed(Diagnosis{Code: Other,
				Cause: fmt.Sprintf("image %s does not exist in account %s, %s", in.ImageID, t.Account, t.Region),
				Fix:   "The copy is gone; replay the target to copy again."}, nil)
		}
		root = aws.ToString(im.RootDeviceName)
	}
	if root == "" {
		root = "/dev/xvda"
	}
	itype := t.BootProof.InstanceType
	if itype == "" {
		itype = DefaultBootInstanceType
	}
	// What a later run or sweep needs to tell this proof, abandoned, from
	// one under way (removeAbandonedProofs): its workflow and its end.
	timeout := t.BootProof.Timeout
	if timeout <= 0 {
		timeout = a.defaultBootTimeout
	}
	expires := time.Now().Add(timeout).UTC().Format(time.RFC3339)
	workflowID, workflowRun := "", ""
	if activity.IsActivity(ctx) {
		we := activity.GetInfo(ctx).WorkflowExecution
		workflowID, workflowRun = we.ID, we.RunID
	}
	tags := []ec2types.Tag{
		{Key: aws.String(TagRun), Value: aws.String(in.RunID)},
		{Key: aws.String(TagSourceImage), Value: aws.String(in.ImageID)},
		{Key: aws.String(TagExpires), Value: aws.String(expires)},
	}
	if workflowID != "" {
		tags = append(tags, ec2types.Tag{Key: aws.String(TagWorkflow), Value: aws.String(workflowID)},
			ec2types.Tag{Key: aws.String(TagWorkflowRun), Value: aws.String(workflowRun)})
	}
	_, err := ec.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(template),
		VersionDescription: aws.String("amicrypt boot proof of " + in.ImageID),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{
			ImageId:      aws.String(in.ImageID),
			InstanceType: ec2types.InstanceType(itype),
			BlockDeviceMappings: []ec2types.LaunchTemplateBlockDeviceMappingRequest{{
				DeviceName: aws.String(root),
				Ebs: &ec2types.LaunchTemplateEbsBlockDeviceRequest{
					Encrypted:           aws.Bool(true),
					KmsKeyId:            aws.String(in.KeyARN),
					DeleteOnTermination: aws.Bool(true),
				},
			}},
		},
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeLaunchTemplate, Tags: tags}},
	})
	if err != nil && APICode(err) != "InvalidLaunchTemplateName.AlreadyExistsException" {
		w.Resource = "launch template " + template
		return time.Time{}, diagnose(err, "ec2:CreateLaunchTemplate", w)
	}

	slr := in.SLRARN
	if slr == "" {
		slr = t.ServiceLinkedRoleARN()
	}
	req := &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(group),
		LaunchTemplate:       &astypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String(template), Version: aws.String("$Latest")},
		MinSize:              aws.Int32(0),
		MaxSize:              aws.Int32(1),
		DesiredCapacity:      aws.Int32(1),
		ServiceLinkedRoleARN: aws.String(slr),
		Tags: []astypes.Tag{
			{Key: aws.String(TagRun), Value: aws.String(in.RunID), PropagateAtLaunch: aws.Bool(true)},
			{Key: aws.String("Name"), Value: aws.String("amicrypt boot proof " + in.ImageID), PropagateAtLaunch: aws.Bool(true)},
			{Key: aws.String(TagExpires), Value: aws.String(expires), PropagateAtLaunch: aws.Bool(false)},
		},
	}
	if workflowID != "" {
		req.Tags = append(req.Tags, astypes.Tag{Key: aws.String(TagWorkflow), Value: aws.String(workflowID), PropagateAtLaunch: aws.Bool(false)},
			astypes.Tag{Key: aws.String(TagWorkflowRun), Value: aws.String(workflowRun), PropagateAtLaunch: aws.Bool(false)})
	}
	if len(t.BootProof.SubnetIDs) > 0 {
		req.VPCZoneIdentifier = aws.String(strings.Join(t.BootProof.SubnetIDs, ","))
	} else {
		req.AvailabilityZones = []string{t.Region + "a"}
	}
	as := a.clients.AutoScaling(acc)
	created := time.Now()
	w.Resource = "Auto Scaling group " + group
	if _, err := as.CreateAutoScalingGroup(ctx, req); err != nil {
		if APICode(err) != "AlreadyExists" {
			return time.Time{}, diagnose(err, "autoscaling:CreateAutoScalingGroup", w)
		}
		// An earlier attempt created it: its timeout runs from then.
		g, err := describeGroup(ctx, as, group)
		if err != nil {
			return time.Time{}, diagnose(err, "autoscaling:DescribeAutoScalingGroups", w)
		}
		if g != nil && g.CreatedTime != nil {
			created = *g.CreatedTime
		}
	}
	log.Info().Str("role", slr).Msg("boot proof started")
	return created, nil
}

// waitBoot polls the boot-proof group, heartbeating, until an instance
// is InService or a launch fails, or the target's boot-proof timeout (counted
// from the group's creation, so a retried activity does not extend it)
// passes.
//
// Failure contract: a failed proof is an ERROR, not a result. The activity
// returns a non-retryable Diagnosed error (DiagnosisOf gives F2/F3/F6/F5/F8
// or other, computed from the scaling activity's message and the key's actual
// policy), whose details also carry the BootResult{Result: "Failed",
// Message: <the scaling activity's StatusMessage>} — BootResultOf(err)
// recovers it for the report. So every failed activity reaches the workflow
// the same way, and the retry policy never retries a proof that failed.
//
// On InService the root volume is checked to be under the dedicated key (F8
// otherwise) and BootResult{Result: "InService", InstanceID} returns with a
// nil error.
//
// created is when the group was created; zero when not known (then read
// from the group, and the first look is at once).
//
// A poll reads the group: an instance InService is the proof, an instance
// Pending a launch under way — the same one as at the last poll needs
// nothing more. Only a group with no instance launching, or a new instance
// (the launch before it ended), has its scaling activities read, for a
// launch that failed: Auto Scaling removes a failed launch's instance and
// tries again later, and the activity keeps the cause. A proof that boots
// costs one DescribeAutoScalingGroups a poll.
func (a *Activities) waitBoot(ctx context.Context, in BootProofInput, created time.Time) (BootResult, error) {
	t := in.Target
	acc := targetAccess(t)
	as := a.clients.AutoScaling(acc)
	group, _ := in.BootProofNames()
	log := a.logFor(t.Account, t.Region).With().Str("image", in.ImageID).Str("group", group).Logger()
	w := where{Account: t.Account, Region: t.Region, Resource: "Auto Scaling group " + group}
	timeout := t.BootProof.Timeout
	if timeout <= 0 {
		timeout = a.defaultBootTimeout
	}
	p := a.newPoller(pollBoot)
	launching := "" // the instance a launch under way started, as last seen
	for first := true; ; first = false {
		if !first || !created.IsZero() {
			if err := p.wait(ctx, "group "+group+" launching"); err != nil {
				return BootResult{}, err
			}
		}
		g, err := describeGroup(ctx, as, group)
		if err != nil {
			if d := diagnose(err, "autoscaling:DescribeAutoScalingGroups", w); d != err {
				return BootResult{}, d
			}
			log.Debug().Err(err).Msg("describe failed; polling on")
			continue
		}
		if g == nil {
			return BootResult{}, Diagnosed(Diagnosis{Code: Other,
				Cause: fmt.Sprintf("the boot-proof group %s does not exist in account %s, %s", group, t.Account, t.Region),
				Fix:   "the group is created first (or the group was deleted meanwhile); replay the target."}, nil)
		}
		if created.IsZero() {
			created = aws.ToTime(g.CreatedTime)
		}
		pending := ""
		for _, inst := range g.Instances {
			switch inst.LifecycleState {
			case astypes.LifecycleStateInService:
				id := aws.ToString(inst.InstanceId)
				log.Info().Str("instance", id).Msg("boot proof: instance InService")
				if err := a.checkRootVolume(ctx, in, id); err != nil {
					return BootResult{Result: BootFailed, InstanceID: id, Message: err.Error()}, err
				}
				a.metrics.BootProven(t.Region, time.Since(created))
				return BootResult{Result: BootInService, InstanceID: id}, nil
			case astypes.LifecycleStatePending, astypes.LifecycleStatePendingWait, astypes.LifecycleStatePendingProceed:
				pending = aws.ToString(inst.InstanceId)
			}
		}
		sameLaunch := pending != "" && (launching == "" || pending == launching)
		launching = pending
		if !sameLaunch {
			acts, err := as.DescribeScalingActivities(ctx, &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String(group), MaxRecords: aws.Int32(20)})
			if err != nil {
				if d := diagnose(err, "autoscaling:DescribeScalingActivities", w); d != err {
					return BootResult{}, d
				}
				log.Debug().Err(err).Msg("describe failed; polling on")
				continue
			}
			if act := failedActivity(acts.Activities); act != nil {
				msg := aws.ToString(act.StatusMessage)
				if msg == "" {
					msg = aws.ToString(act.Description)
				}
				br := BootResult{Result: BootFailed, Message: msg}
				d := a.bootFailure(ctx, in, group, msg)
				log.Warn().Str("code", d.Code).Str("message", msg).Msg("boot proof failed")
				return br, bootFailed(d, br)
			}
		}
		if !created.IsZero() && time.Since(created) > timeout {
			br := BootResult{Result: BootFailed, Message: fmt.Sprintf("no instance InService within %s", timeout)}
			return br, bootFailed(Diagnosis{
				Code: Other,
				Cause: fmt.Sprintf("the boot-proof group %s in account %s, %s had no instance InService within %s of its creation, and no launch failed",
					group, t.Account, t.Region, timeout),
				Fix: "Check the group's scaling activities and the instance's console output; raise boot_proof.timeout if the image is slow to boot; then replay the target.",
			}, br)
		}
	}
}

// bootFailed is the Diagnosed error of a failed proof, carrying the
// BootResult as a second detail.
func bootFailed(d Diagnosis, br BootResult) error {
	return temporal.NewNonRetryableApplicationError(d.Cause, ErrorType(d.Code), nil, d, br)
}

// BootResultOf recovers the BootResult a failed boot proof (ProveBoot) carries in its
// error (ok false when err carries none).
func BootResultOf(err error) (BootResult, bool) {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !appErr.HasDetails() {
		return BootResult{}, false
	}
	var d Diagnosis
	var br BootResult
	if appErr.Details(&d, &br) != nil || br.Result == "" {
		return BootResult{}, false
	}
	return br, true
}

func describeGroup(ctx context.Context, as AutoScalingAPI, name string) (*astypes.AutoScalingGroup, error) {
	out, err := as.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil {
		return nil, err
	}
	if len(out.AutoScalingGroups) == 0 {
		return nil, nil
	}
	return &out.AutoScalingGroups[0], nil
}

// failedActivity is the newest launch that ended Failed or Cancelled.
func failedActivity(acts []astypes.Activity) *astypes.Activity {
	for i := range acts {
		switch acts[i].StatusCode {
		case astypes.ScalingActivityStatusCodeFailed, astypes.ScalingActivityStatusCodeCancelled:
			return &acts[i]
		}
	}
	return nil
}

// bootFailure diagnoses a failed launch from the scaling activity's message:
// a key AWS would not use for the service-linked role (Client.InternalError:
// Client error on launch, InvalidKMSKey) is F2, F3 or F6 from the key's
// actual policy, a key in the wrong state F5, anything else "other".
func (a *Activities) bootFailure(ctx context.Context, in BootProofInput, group, msg string) Diagnosis {
	t := in.Target
	observed := "scaling activity Failed: " + msg
	if strings.Contains(msg, "Client.InternalError") || strings.Contains(msg, "InvalidKMSKey") {
		return a.keyUseDiagnosis(ctx, t, in.KeyARN, in.SLRARN, observed)
	}
	return Diagnosis{
		Code:  Other,
		Cause: fmt.Sprintf("the boot-proof group %s in account %s, %s could not launch image %s: %s", group, t.Account, t.Region, in.ImageID, msg),
		Fix:   "AWS's message names the cause (instance type, subnet, capacity, quota); correct the target's boot_proof settings or wait, then replay the target.",
	}
}

// checkRootVolume proves the instance's root volume is under the dedicated
// key (F8 otherwise). Where the instance cannot be read the check is skipped:
// VerifySnapshots checks the image itself.
func (a *Activities) checkRootVolume(ctx context.Context, in BootProofInput, instanceID string) error {
	if in.KeyARN == "" {
		return nil
	}
	t := in.Target
	ec := a.clients.EC2(targetAccess(t))
	log := a.logFor(t.Account, t.Region).With().Str("instance", instanceID).Logger()
	root := in.RootDevice
	if root == "" {
		out, err := ec.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{instanceID}})
		if err != nil || len(out.Reservations) == 0 || len(out.Reservations[0].Instances) == 0 {
			log.Warn().Err(err).Msg("instance unreadable: root volume key not checked")
			return nil
		}
		root = aws.ToString(out.Reservations[0].Instances[0].RootDeviceName)
	}
	// The instance's volume at the root device: one call, by filters.
	vols, err := ec.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: []ec2types.Filter{
		{Name: aws.String("attachment.instance-id"), Values: []string{instanceID}},
		{Name: aws.String("attachment.device"), Values: []string{root}},
	}})
	if err != nil || len(vols.Volumes) == 0 {
		log.Warn().Err(err).Str("device", root).Msg("root volume unreadable: its key not checked")
		return nil
	}
	v := vols.Volumes[0]
	volID := aws.ToString(v.VolumeId)
	if aws.ToBool(v.Encrypted) && aws.ToString(v.KmsKeyId) == in.KeyARN {
		return nil
	}
	key := aws.ToString(v.KmsKeyId)
	if !aws.ToBool(v.Encrypted) {
		key = "no key (unencrypted)"
	}
	br := BootResult{Result: BootFailed, InstanceID: instanceID, Message: fmt.Sprintf("root volume %s is under %s, not %s", volID, key, in.KeyARN)}
	return bootFailed(Diagnosis{
		Code:  F8,
		Cause: fmt.Sprintf("the boot-proof instance %s in account %s, %s has its root volume %s under %s, not the dedicated key %s", instanceID, t.Account, t.Region, volID, key, in.KeyARN),
		Fix:   "Name the dedicated key on the root volume's block device mapping (Ebs.Encrypted=true, Ebs.KmsKeyId=<key ARN>) in every launch template using the image; amicrypt's own templates do.",
	}, br)
}

// DeleteBootProof deletes the group (forced: its instance goes too), waits
// until it is gone (it stays "Delete in progress" a while), then deletes the
// template. What does not exist is fine, so it runs safely as compensation,
// twice, or when the proof never started.
func (a *Activities) DeleteBootProof(ctx context.Context, in BootProofInput) error {
	t := in.Target
	acc := targetAccess(t)
	as := a.clients.AutoScaling(acc)
	group, template := in.BootProofNames()
	log := a.logFor(t.Account, t.Region).With().Str("group", group).Logger()
	w := where{Account: t.Account, Region: t.Region, Resource: "Auto Scaling group " + group}

	_, err := as.DeleteAutoScalingGroup(ctx, &autoscaling.DeleteAutoScalingGroupInput{AutoScalingGroupName: aws.String(group), ForceDelete: aws.Bool(true)})
	if err != nil && !IsNotFound(err) {
		return diagnose(err, "autoscaling:DeleteAutoScalingGroup", w)
	}
	// A forced delete terminates the instance first: look after a wait
	// (a group that never existed is gone at once).
	p := a.newPoller(pollShort)
	for gone := IsNotFound(err); !gone; {
		if err := p.wait(ctx, "group "+group+" deleting"); err != nil {
			return err
		}
		g, err := describeGroup(ctx, as, group)
		if err != nil {
			if d := diagnose(err, "autoscaling:DescribeAutoScalingGroups", w); d != err {
				return d
			}
			continue
		}
		gone = g == nil
	}
	_, err = a.clients.EC2(acc).DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateName: aws.String(template)})
	if err != nil && !IsNotFound(err) {
		w.Resource = "launch template " + template
		return diagnose(err, "ec2:DeleteLaunchTemplate", w)
	}
	log.Info().Msg("boot proof deleted")
	return nil
}
