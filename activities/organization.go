package activities

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
)

// A worker run with --allow-organization o-... serves the accounts of that
// organization (and those of --allow-accounts, when given too).
//
// How an account's organization is verified: amicrypt asks
// organizations:DescribeOrganization as the target's own role, once the
// role is assumed and GetCallerIdentity has shown it is a role of the
// target's account. The answer is the organization of the account the
// credentials belong to — the target's — whoever asks, and only a member
// account can answer it (one in none hears AWSOrganizationsNotInUseException).
// The other way AWS offers, a trust policy's aws:PrincipalOrgID condition,
// constrains the caller: it would tell the target that amicrypt's pipeline
// role is of the organization, never amicrypt that the target is. And the
// trust policy is the target's to write, so it cannot be what the worker
// relies on.
//
// It is asked before any share, in VerifyTargets, and again in every
// target's first activity (assumeTarget: PrepareTarget, a rotation's and an
// inspection's first step). ShareSource, which acts as the builder and holds
// no target's role, cannot ask a target's organization: it refuses only
// what --allow-accounts alone refuses, and relies on the Batch, which shares
// only with the accounts VerifyTargets let through. Each account's answer is
// remembered (accountMemoTTL), so an account's many regions, and the
// targets of a large organization, ask once per account.

// OrganizationIDPattern describes a valid AWS Organizations id.
const OrganizationIDPattern = "o- and 10-32 lowercase letters or digits"

// Organizations is the AWS Organizations client for an access. Organizations
// is global: the SDK reaches its one endpoint whatever the region names (the
// region only picks the partition).
func (f *ClientFactory) Organizations(a Access) OrganizationsAPI {
	return client(f, a, "organizations", func(cfg aws.Config) OrganizationsAPI { return organizations.NewFromConfig(cfg) })
}

// notInOrganization is what the memo remembers of an account in no
// organization (AWSOrganizationsNotInUseException).
const notInOrganization = ""

// verifyOrganization refuses, with NotAllowed, a target this worker may not
// serve because its account is not in the organization of
// --allow-organization. It is nil when no organization is allowed, or when
// the account is among --allow-accounts. The target's role is already
// assumed (assumeTarget).
func (a *Activities) verifyOrganization(ctx context.Context, t Target) error {
	if a.organization == "" || a.allowed[t.Account] {
		return nil
	}
	org, _, err := a.accounts.get("organization\x00"+t.Account, func() (string, error) {
		out, err := a.clients.Organizations(targetAccess(t)).DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
		if APICode(err) == "AWSOrganizationsNotInUseException" {
			return notInOrganization, nil
		}
		if err != nil {
			return "", err
		}
		if out.Organization == nil || aws.ToString(out.Organization.Id) == "" {
			return "", errors.New("DescribeOrganization answered no organization id")
		}
		return aws.ToString(out.Organization.Id), nil
	})
	w := where{Account: t.Account, Region: t.Region, Resource: "role " + t.RoleARN}
	switch {
	case err != nil && IsAccessDenied(err):
		return Diagnosed(Diagnosis{
			Code: NotAllowed,
			Cause: fmt.Sprintf("target %s refused: this worker serves the accounts of organization %s (amicrypt worker --allow-organization), and it could not ask which organization account %s belongs to: "+
				"organizations:DescribeOrganization in %s was denied (%s)", t.ID(), a.organization, t.Account, w, apiMessage(err)),
			Fix: fmt.Sprintf("Allow organizations:DescribeOrganization to the target role %s (deploy/ grants it in the role's Describe statement), or add account %s to the workers' --allow-accounts, then replay the target.",
				t.RoleARN, t.Account),
			Step: StepAssume,
		}, err)
	case err != nil:
		// diagnose keeps throttling, cancellation and diagnosed errors as they are.
		return diagnose(err, "organizations:DescribeOrganization", w)
	case org == notInOrganization:
		return Diagnosed(Diagnosis{
			Code: NotAllowed,
			Cause: fmt.Sprintf("target %s refused: account %s (%s) is in no AWS organization (AWSOrganizationsNotInUseException), and this worker serves only the accounts of organization %s (amicrypt worker --allow-organization), whatever the run's input says",
				t.ID(), t.Account, t.Region, a.organization),
			Fix:  fmt.Sprintf("If account %s is one of yours, invite it into %s or add it to the workers' --allow-accounts, restart them, then replay the target; if it is not, remove it from the config.", t.Account, a.organization),
			Step: StepAssume,
		}, nil)
	case org != a.organization:
		return Diagnosed(Diagnosis{
			Code: NotAllowed,
			Cause: fmt.Sprintf("target %s refused: account %s (%s) belongs to organization %s, not %s, the one this worker serves (amicrypt worker --allow-organization), whatever the run's input says",
				t.ID(), t.Account, t.Region, org, a.organization),
			Fix:  fmt.Sprintf("If account %s is one of yours, add it to the workers' --allow-accounts (or serve %s too with another worker), then replay the target; if it is not, remove it from the config.", t.Account, org),
			Step: StepAssume,
		}, nil)
	}
	return nil
}
