package activities

import (
	"context"
	"reflect"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// What the activities record in the worker's metrics (internal/metrics),
// when Config.Metrics is set. The AWS calls themselves are counted by the
// ClientFactory (ClientOptions.Metrics).

// AWSActions are, by service (as the metrics label it: ec2, kms, …), the
// actions the activities call: the methods of the narrow interfaces in
// clients.go. The worker starts their call counters at zero.
func AWSActions() map[string][]string {
	out := map[string][]string{}
	for service, typ := range map[string]reflect.Type{
		"ec2":           reflect.TypeFor[EC2API](),
		"kms":           reflect.TypeFor[KMSAPI](),
		"iam":           reflect.TypeFor[IAMAPI](),
		"autoscaling":   reflect.TypeFor[AutoScalingAPI](),
		"ssm":           reflect.TypeFor[SSMAPI](),
		"sts":           reflect.TypeFor[STSAPI](),
		"cloudtrail":    reflect.TypeFor[CloudTrailAPI](),
		"organizations": reflect.TypeFor[OrganizationsAPI](),
	} {
		for i := range typ.NumMethod() {
			out[service] = append(out[service], typ.Method(i).Name)
		}
	}
	return out
}

// copyAvailable records how long AWS took to make a copy this target
// started available: from its CreationDate (set when CopyImage was called)
// to now, the poll that found it available.
func (a *Activities) copyAvailable(t Target, im *ec2types.Image) {
	if a.metrics == nil || im == nil {
		return
	}
	created, err := time.Parse(time.RFC3339, aws.ToString(im.CreationDate))
	if err != nil {
		return
	}
	a.metrics.CopyAvailable(t.Region, time.Since(created))
}

// launchPermissionsBefore reads, for the metrics only, which accounts may
// launch a source image before its shares change, so that a permission
// already there (another batch's, or a retried attempt's) is not counted
// as given, nor one never given as taken back. nil: no metrics, or the
// read failed (then every change counts).
func (a *Activities) launchPermissionsBefore(ctx context.Context, ec EC2API, imageID string, res *ShareSourceResult) map[string]bool {
	if a.metrics == nil {
		return nil
	}
	res.Calls++
	out, err := ec.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: aws.String(imageID), Attribute: ec2types.ImageAttributeNameLaunchPermission})
	if err != nil {
		a.log.Debug().Err(err).Str("image", imageID).Msg("launch permissions not read: the shares metrics count every change")
		return nil
	}
	before := map[string]bool{}
	for _, lp := range out.LaunchPermissions {
		if id := aws.ToString(lp.UserId); id != "" {
			before[id] = true
		}
	}
	return before
}

// changedShares is how many of accounts a share (add) or revocation
// changed, given the permissions before (nil: unknown, all of them).
func changedShares(accounts []string, before map[string]bool, add bool) int {
	if before == nil {
		return len(accounts)
	}
	n := 0
	for _, acct := range accounts {
		if before[acct] != add {
			n++
		}
	}
	return n
}

// keysPendingRetirement records what a sweep or a rotation found of a
// target's old keys: disabled, or scheduled for deletion.
func (a *Activities) keysPendingRetirement(t Target, fates []OldKeyFate) {
	if a.metrics == nil {
		return
	}
	var disabled, pending int
	for _, f := range fates {
		switch f.State {
		case string(kmstypes.KeyStateDisabled):
			disabled++
		case string(kmstypes.KeyStatePendingDeletion):
			pending++
		}
	}
	a.metrics.KeysPendingRetirement(t.Account, t.Region, disabled, pending)
}
