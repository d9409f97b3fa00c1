package activities

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// AssumeTarget proves the target's role can be assumed (step 1): it assumes
// the role and asks STS who amicrypt now is. A refusal is F7, naming the role
// and the condition (ExternalId) to check. The credentials stay cached for
// the other activities of the target.
func (a *Activities) AssumeTarget(ctx context.Context, in AssumeTargetInput) (AssumeTargetResult, error) {
	t := in.Target
	w := where{Account: t.Account, Region: t.Region, Resource: "role " + t.RoleARN}
	out, err := a.clients.STS(targetAccess(t)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return AssumeTargetResult{}, diagnose(err, "sts:AssumeRole", w)
	}
	arn := aws.ToString(out.Arn)
	log := a.logFor(t.Account, t.Region)
	log.Info().Str("as", arn).Msg("target role assumed")
	return AssumeTargetResult{Arn: arn}, nil
}
