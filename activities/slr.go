package activities

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// autoScalingService is the service principal of the Auto Scaling
// service-linked roles.
const autoScalingService = "autoscaling.amazonaws.com"

// ensureServiceLinkedRole makes sure the target account has the Auto Scaling
// service-linked role the boot-proof group uses (step 3):
// AWSServiceRoleForAutoScaling, or AWSServiceRoleForAutoScaling_<suffix> when
// the target names a suffix (Auto Scaling creates only the default role by
// itself). A role created meanwhile by someone else counts as existing. Run
// it before EnsureKey: a key policy or grant naming a role that does not
// exist is refused.
func (a *Activities) ensureServiceLinkedRole(ctx context.Context, in EnsureServiceLinkedRoleInput) (EnsureServiceLinkedRoleResult, error) {
	if in.DryRun {
		return a.getOrCreateServiceLinkedRole(ctx, in) // a plan is never remembered as done
	}
	// IAM is global: the account's regions ask once (see memo).
	var res EnsureServiceLinkedRoleResult
	arn, _, err := a.accounts.get("slr\x00"+in.Target.Account+"\x00"+in.Target.RoleARN+"\x00"+in.Target.ServiceLinkedRoleName(), func() (string, error) {
		r, err := a.getOrCreateServiceLinkedRole(ctx, in)
		res = r
		return r.RoleARN, err
	})
	if err != nil {
		return EnsureServiceLinkedRoleResult{}, err
	}
	res.RoleARN = arn
	return res, nil
}

// getOrCreateServiceLinkedRole is ensureServiceLinkedRole without the memo.
func (a *Activities) getOrCreateServiceLinkedRole(ctx context.Context, in EnsureServiceLinkedRoleInput) (EnsureServiceLinkedRoleResult, error) {
	t := in.Target
	name := t.ServiceLinkedRoleName()
	w := where{Account: t.Account, Region: t.Region, Resource: "service-linked role " + name}
	c := a.clients.IAM(targetAccess(t))
	log := a.logFor(t.Account, t.Region).With().Str("role", name).Logger()

	got, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	if err == nil {
		return EnsureServiceLinkedRoleResult{RoleARN: aws.ToString(got.Role.Arn)}, nil
	}
	if !IsNotFound(err) {
		return EnsureServiceLinkedRoleResult{}, diagnose(err, "iam:GetRole", w)
	}
	if in.DryRun {
		return EnsureServiceLinkedRoleResult{RoleARN: t.ServiceLinkedRoleARN(), Planned: true}, nil
	}
	req := &iam.CreateServiceLinkedRoleInput{
		AWSServiceName: aws.String(autoScalingService),
		Description:    aws.String("Auto Scaling service-linked role, created by amicrypt for its boot proofs"),
	}
	if t.ServiceLinkedRoleSuffix != "" {
		req.CustomSuffix = aws.String(t.ServiceLinkedRoleSuffix)
	}
	created, err := c.CreateServiceLinkedRole(ctx, req)
	switch {
	case err == nil:
		log.Info().Msg("service-linked role created")
		return EnsureServiceLinkedRoleResult{RoleARN: aws.ToString(created.Role.Arn), Created: true}, nil
	case APICode(err) == "InvalidInput" && strings.Contains(apiMessage(err), "has been taken"):
		// Created by someone else since GetRole: read it.
		got, gerr := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
		if gerr != nil {
			return EnsureServiceLinkedRoleResult{}, diagnose(gerr, "iam:GetRole", w)
		}
		return EnsureServiceLinkedRoleResult{RoleARN: aws.ToString(got.Role.Arn)}, nil
	}
	return EnsureServiceLinkedRoleResult{}, diagnose(err, "iam:CreateServiceLinkedRole", w)
}
