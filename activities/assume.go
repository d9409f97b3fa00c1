package activities

import (
	"context"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"golang.org/x/sync/errgroup"
)

// AssumeTarget proves the target's role can be assumed (step 1): it assumes
// the role and asks STS who amicrypt now is. A refusal is F7, naming the role
// and the condition (ExternalId) to check. The credentials stay cached for
// the other activities of the target, and the answer is remembered for the
// account's other regions a while (see memo).
func (a *Activities) assumeTarget(ctx context.Context, in AssumeTargetInput) (AssumeTargetResult, error) {
	t := in.Target
	if err := a.refuseUnallowed("acting in target "+t.ID(), t.Account); err != nil {
		return AssumeTargetResult{}, err
	}
	w := where{Account: t.Account, Region: t.Region, Resource: "role " + t.RoleARN}
	arn, fresh, err := a.accounts.get("assume\x00"+t.Account+"\x00"+t.RoleARN+"\x00"+t.ExternalID, func() (string, error) {
		out, err := a.clients.STS(targetAccess(t)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			return "", err
		}
		return aws.ToString(out.Arn), nil
	})
	if err != nil {
		return AssumeTargetResult{}, diagnose(err, "sts:AssumeRole", w)
	}
	if got := accountOfARN(arn); got != "" && got != t.Account {
		return AssumeTargetResult{}, Diagnosed(roleOfAnotherAccount(t, got, " (it is "+arn+" there)"), nil)
	}
	if fresh {
		log := a.logFor(t.Account, t.Region)
		log.Info().Str("as", arn).Msg("target role assumed")
	}
	if err := a.verifyOrganization(ctx, t); err != nil {
		return AssumeTargetResult{}, err
	}
	return AssumeTargetResult{Arn: arn}, nil
}

// RoleOfAnotherAccount is F7 for a target whose role_arn names another
// account than the target's — read from the ARN, before anything is
// assumed (a workflow calls it: it is pure).
func RoleOfAnotherAccount(t Target) (Diagnosis, bool) {
	if acct := accountOfARN(t.RoleARN); acct != t.Account {
		return roleOfAnotherAccount(t, acct, ""), true
	}
	return Diagnosis{}, false
}

// roleOfAnotherAccount is F7: amicrypt would act in account acct, not the
// target's; seen adds what showed it.
func roleOfAnotherAccount(t Target, acct, seen string) Diagnosis {
	return Diagnosis{
		Code:  F7,
		Cause: fmt.Sprintf("role %s of target %s is not a role of account %s but of account %q%s: amicrypt would act in the wrong account", t.RoleARN, t.ID(), t.Account, acct, seen),
		Fix:   fmt.Sprintf("Set the target's role_arn to amicrypt's role in account %s (arn:aws:iam::%s:role/...), then run again.", t.Account, t.Account),
		Step:  StepAssume,
	}
}

// VerifyTargetsInput is a batch's targets, before the source is shared with
// their accounts.
type VerifyTargetsInput struct {
	Targets []Target `json:"targets"`
}

// VerifyTargetsResult names the targets amicrypt may not act in (by
// Target.ID), each with its diagnosis (F7).
type VerifyTargetsResult struct {
	Refused map[string]Diagnosis `json:"refused,omitempty"`
}

// VerifyTargets assumes each target's role and asks STS who amicrypt is
// there, several at once, before anything of the builder's is shared with
// the target accounts: a typo'd or hostile account id, or a role that is
// not the target's, is refused here and never gets the unencrypted source.
// The answers are remembered (see assumeTarget), so the targets' own
// prepare step asks nothing again.
func (a *Activities) VerifyTargets(ctx context.Context, in VerifyTargetsInput) (VerifyTargetsResult, error) {
	ctx, stop := a.keepAlive(ctx)
	defer stop()
	var res VerifyTargetsResult
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(planConcurrency)
	for _, t := range in.Targets {
		g.Go(func() error {
			_, err := a.assumeTarget(gctx, AssumeTargetInput{Target: t})
			if err == nil {
				return nil
			}
			d, ok := DiagnosisOf(atStep(StepAssume, err))
			if !ok {
				return err // throttled, an answer lost: the activity retries
			}
			mu.Lock()
			defer mu.Unlock()
			if res.Refused == nil {
				res.Refused = map[string]Diagnosis{}
			}
			res.Refused[t.ID()] = d
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return VerifyTargetsResult{}, err
	}
	return res, nil
}
