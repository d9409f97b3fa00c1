package activities

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"

	"github.com/amicrypt/amicrypt/internal/operator"
)

// A read session cannot write, whatever its role may do: the target role
// of the test world may kms:* and ec2:*, yet an activity of the read class
// (PlanTargets: a plan's) asks, through the ClientFactory's real clients,
// for kms:CreateKey and ec2:CopyImage and the sandbox refuses both, for the
// session policy; an activity of the prepare class may create the key.
// The sandbox's trail shows each request under the session amicrypt named,
// with the run's operator as its SourceIdentity.
func TestAReadSessionIsRefusedWhatItsRoleMayDo(t *testing.T) {
	h := newHarness(t)
	h.env.SetWorkerOptions(worker.Options{BackgroundActivityContext: operator.With(context.Background(), operator.Attribution{Operator: "alice", Run: "amicrypt-run-r1"})})
	access := Access{Account: payments, Region: region, RoleARN: "arn:aws:iam::" + payments + ":role/amicrypt-target", ExternalID: "amicrypt"}
	clients := h.acts.clients

	createKey := func(ctx context.Context) (string, error) {
		_, err := clients.KMS(access).CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("must not exist")})
		return errorCode(err), nil
	}
	copyImage := func(ctx context.Context) (string, error) {
		_, err := clients.EC2(access).CopyImage(ctx, &ec2.CopyImageInput{Name: aws.String("must-not-exist"), SourceImageId: aws.String(sourceAMI),
			SourceRegion: aws.String(region), Encrypted: aws.Bool(true)})
		return errorCode(err), nil
	}
	call := func(name string, fn func(context.Context) (string, error)) string {
		t.Helper()
		h.env.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
		val, err := h.env.ExecuteActivity(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var code string
		if err := val.Get(&code); err != nil {
			t.Fatal(err)
		}
		return code
	}

	// The read class: every activity of a plan.
	if got := call("PlanTargets", createKey); got != "AccessDeniedException" {
		t.Errorf("kms:CreateKey in a read session: %q, want AccessDeniedException", got)
	}
	if got := call("FindKeyedImages", copyImage); got != "UnauthorizedOperation" {
		t.Errorf("ec2:CopyImage in a read session: %q, want UnauthorizedOperation (EC2's access denied)", got)
	}
	// The same role in the prepare class may create the key.
	if got := call("PrepareTarget", createKey); got != "" {
		t.Errorf("kms:CreateKey in a prepare session: %q, want it allowed", got)
	}

	byName := map[string][]string{}
	for _, ev := range h.sb.Server.TrailEvents(payments, region) {
		if ev.Name != "CreateKey" {
			continue
		}
		byName[ev.Username] = append(byName[ev.Username], ev.ErrorCode)
		var rec struct {
			UserIdentity struct {
				SessionContext struct {
					SourceIdentity string `json:"sourceIdentity"`
				} `json:"sessionContext"`
			} `json:"userIdentity"`
		}
		if err := json.Unmarshal([]byte(ev.Record), &rec); err != nil || rec.UserIdentity.SessionContext.SourceIdentity != "alice" {
			t.Errorf("the trail's CreateKey of %s has sourceIdentity %q, want alice (%v)", ev.Username, rec.UserIdentity.SessionContext.SourceIdentity, err)
		}
	}
	if got := byName["amicrypt-run-r1-read"]; len(got) != 1 || got[0] != "AccessDenied" && got[0] != "AccessDeniedException" {
		t.Errorf("the trail's CreateKey of amicrypt-run-r1-read: %v, want one refused", got)
	}
	if got := byName["amicrypt-run-r1-prepare"]; len(got) != 1 || got[0] != "" {
		t.Errorf("the trail's CreateKey of amicrypt-run-r1-prepare: %v, want one that succeeded (all: %v)", got, byName)
	}
}

// errorCode is an AWS error's code, "" for none.
func errorCode(err error) string {
	if err == nil {
		return ""
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return err.Error()
}
