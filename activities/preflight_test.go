package activities

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// A region that already has as many AMI copies pending as EC2 runs at once
// makes the plan warn that the copy will wait — a warning, not a failure:
// the run waits ResourceLimitExceeded out.
func TestThePlanWarnsWhenTheRegionsCopiesAreFull(t *testing.T) {
	const timing = "timing: {copy_seconds: 0.2,"
	if !strings.Contains(testWorld, timing) {
		t.Fatal("the test world changed: no copy time to lengthen")
	}
	h := newHarnessOf(t, strings.Replace(testWorld, timing, "timing: {copy_seconds: 600,", 1), nil)
	// payments copies one of its images as many times as EC2 allows.
	ec := h.rootEC2(payments)
	for i := range ConcurrentCopyLimit {
		if _, err := ec.CopyImage(h.ctx, &ec2.CopyImageInput{Name: aws.String(fmt.Sprintf("busy-%d", i)), SourceImageId: aws.String("ami-0c0000000000a0001"), SourceRegion: aws.String(region)}); err != nil {
			t.Fatalf("copy %d: %v", i, err)
		}
	}
	plan := func(account string) TargetPlan {
		t.Helper()
		out := must[[]TargetPlan](h, h.acts.PlanTargets, PlanTargetsInput{RunID: "run-1", Builder: Builder{Account: builderAcct}, Pipeline: pipelineARN,
			Items: []PlanItem{{Target: target(account), Source: Source{Region: region, ImageID: sourceAMI}}}})
		return out[0]
	}
	full := plan(payments)
	if full.Outcome == PlanFail {
		t.Fatalf("a full copy queue is predicted to fail: %+v", full.Failures)
	}
	if !strings.Contains(strings.Join(full.Warnings, "\n"), fmt.Sprintf("%d AMI copies pending in %s", ConcurrentCopyLimit, region)) {
		t.Errorf("no warning about the %d pending copies: %q", ConcurrentCopyLimit, full.Warnings)
	}
	for _, w := range plan(analytics).Warnings {
		if strings.Contains(w, "pending") {
			t.Errorf("an account with no copies pending is warned: %s", w)
		}
	}
}
