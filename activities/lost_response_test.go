package activities

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"go.temporal.io/sdk/temporal"
)

// Every call that creates or deletes something, its answer lost (applied,
// then a 500, every time it is made): the target's activities, each retried
// as Temporal retries them, still end with one key, one copy, one published
// version, and no boot-proof group or template. The SDK's own retries repeat
// the lost call too, so each case makes the duplicate a naive retry would.
func TestTargetSurvivesLostResponses(t *testing.T) {
	for _, tc := range []struct {
		action  string
		account string
		// once: the answers are lost during the first failed attempt
		// only — for a call every attempt must make and have answered
		// (the new version must become the default).
		once bool
	}{
		{"kms:CreateKey", payments, false},
		{"kms:CreateAlias", payments, false},
		{"kms:PutKeyPolicy", legacy, false},
		{"iam:CreateServiceLinkedRole", analytics, false},
		{"ec2:CopyImage", payments, false},
		{"ec2:CreateLaunchTemplate", payments, false},
		{"autoscaling:CreateAutoScalingGroup", payments, false},
		{"autoscaling:DeleteAutoScalingGroup", payments, false},
		{"ec2:DeleteLaunchTemplate", payments, false},
		{"ec2:CreateLaunchTemplateVersion", payments, true},
		{"ec2:ModifyLaunchTemplate", payments, false},
		{"ssm:PutParameter", payments, false},
	} {
		t.Run(tc.action, func(t *testing.T) {
			t.Parallel()
			world := testWorld + "\nfaults:\n  actions: {\"" + tc.action + "\": {lost_response_rate: 1}}\n"
			h := newHarnessOf(t, world, nil)
			tg := target(tc.account)
			tg.Publish = Publish{SSMParameter: "/amicrypt/base/ami-id", LaunchTemplate: "base"}
			if tc.account == legacy {
				tg.KeyAlias, tg.ManageKeyPolicy = "alias/adopted", true
			}
			// The published template exists (amicrypt made it on an earlier
			// run), on another image: publishing makes a new default version.
			if _, err := h.acts.clients.EC2(targetAccess(tg)).CreateLaunchTemplate(h.ctx, &ec2.CreateLaunchTemplateInput{
				LaunchTemplateName: aws.String("base"), LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(sourceAMI)},
			}); err != nil && APICode(err) != "InvalidLaunchTemplateName.AlreadyExistsException" {
				t.Fatal(err) // (a lost answer of this very call is retried into AlreadyExists)
			}
			before := h.keyARNs(tc.account)
			var onFailure func()
			if tc.once {
				onFailure = func() { h.setBehaviour(`{"actions": {"` + tc.action + `": {"lost_response_rate": 0}}}`) }
			}
			image := h.targetWithRetries(tg, "run-1", onFailure)

			if n := h.lostResponses(tc.account, tc.action); n == 0 {
				t.Fatalf("no answer of %s was lost: the case tests nothing", tc.action)
			}
			// A create without a client token is never repeated in one call
			// (the SDK's retry of a lost answer would make a second key
			// nothing finds): the next attempt adopts what it made.
			if tc.action == "kms:CreateKey" {
				if n := h.calls(tc.account, tc.action); n != 1 {
					t.Errorf("kms:CreateKey called %d times, want 1 (its answer lost, the key adopted by the next attempt)", n)
				}
			}
			h.assertOneOfEverything(tg, image, before)
		})
	}
}

// targetWithRetries runs a target's activities in order, each retried up to
// eight times on an error no one diagnosed (as Temporal's retry policy does),
// and returns the copy. onFailure (when not nil) runs after an attempt fails.
func (h *harness) targetWithRetries(tg Target, runID string, onFailure func()) string {
	h.t.Helper()
	src := Source{Region: region, ImageID: sourceAMI}
	retry := func(what string, fn func() error) {
		h.t.Helper()
		var err error
		for range 8 {
			if err = fn(); err == nil {
				return
			}
			if onFailure != nil {
				onFailure()
			}
			var app *temporal.ApplicationError
			if errors.As(err, &app) && app.NonRetryable() {
				break
			}
		}
		h.t.Fatalf("%s: %v", what, err)
	}
	retry("ShareSource", func() error {
		_, err := run[ShareSourceResult](h, h.acts.ShareSource, ShareSourceInput{Builder: Builder{Account: builderAcct}, Source: src, Accounts: []string{tg.Account}})
		return err
	})
	var prep PrepareTargetResult
	retry("PrepareTarget", func() (err error) {
		prep, err = run[PrepareTargetResult](h, h.acts.PrepareTarget, PrepareTargetInput{Target: tg, RunID: runID, Pipeline: pipelineARN})
		return err
	})
	var c CopyImageResult
	retry("CopyEncrypted", func() (err error) {
		c, err = run[CopyImageResult](h, h.acts.CopyEncrypted, CopyImageInput{Target: tg, Source: src, KeyARN: prep.Key.KeyARN, RunID: runID})
		return err
	})
	var copied CopiedImage
	retry("WaitAndVerify", func() (err error) {
		copied, err = run[CopiedImage](h, h.acts.WaitAndVerify, WaitAndVerifyInput{Target: tg, ImageID: c.ImageID, KeyARN: prep.Key.KeyARN})
		return err
	})
	in := BootProofInput{Target: tg, RunID: runID, ImageID: c.ImageID, KeyARN: prep.Key.KeyARN, SLRARN: prep.SLRARN, RootDevice: copied.RootDevice}
	var proof ProveBootResult
	retry("ProveBoot", func() (err error) {
		proof, err = run[ProveBootResult](h, h.acts.ProveBoot, in)
		return err
	})
	if proof.Boot.Result != BootInService {
		h.t.Fatalf("boot: %+v", proof)
	}
	if !proof.Cleaned {
		retry("DeleteBootProof", func() error { _, err := run[struct{}](h, h.acts.DeleteBootProof, in); return err })
	}
	retry("FinishTarget", func() error {
		_, err := run[FinishTargetResult](h, h.acts.FinishTarget, FinishTargetInput{Target: tg, Source: src, ImageID: c.ImageID, Family: copied.Family, Proven: true})
		return err
	})
	retry("UnshareSource", func() error {
		_, err := run[ShareSourceResult](h, h.acts.UnshareSource, ShareSourceInput{Builder: Builder{Account: builderAcct}, Source: src, Accounts: []string{tg.Account}})
		return err
	})
	return c.ImageID
}

// lostResponses is how many answers of action the account lost.
func (h *harness) lostResponses(account, action string) int64 {
	var n int64
	for _, r := range h.sb.Counters() {
		if r.Account == account && r.Action == action {
			n += r.LostResponses
		}
	}
	return n
}

// keyARNs lists the account's keys in the harness region.
func (h *harness) keyARNs(account string) map[string]bool {
	h.t.Helper()
	out := map[string]bool{}
	keys, err := h.rootKMS(account).ListKeys(h.ctx, &kms.ListKeysInput{})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, k := range keys.Keys {
		out[aws.ToString(k.KeyArn)] = true
	}
	return out
}

// setBehaviour changes the sandbox's faults and timing while it runs.
func (h *harness) setBehaviour(doc string) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPut, h.sb.URL+"/_sandbox/behaviour", strings.NewReader(doc))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("PUT /_sandbox/behaviour %s: %s", doc, resp.Status)
	}
}

// assertOneOfEverything checks the target's account and region: one enabled
// amicrypt key (under the alias) among the keys made since before, one copy of the source, no boot-proof
// group or template, the parameter and the template's default version on
// the copy, one version added to the template.
func (h *harness) assertOneOfEverything(tg Target, image string, before map[string]bool) {
	h.t.Helper()
	acct := tg.Account
	kc := h.rootKMS(acct)
	aliased := h.keyARN(acct, keyAlias(tg))
	keys, err := kc.ListKeys(h.ctx, &kms.ListKeysInput{})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, k := range keys.Keys {
		arn := aws.ToString(k.KeyArn)
		if before[arn] {
			continue
		}
		md, err := kc.DescribeKey(h.ctx, &kms.DescribeKeyInput{KeyId: k.KeyId})
		if err != nil {
			h.t.Fatal(err)
		}
		tags, err := keyTags(h.ctx, kc, arn)
		if err != nil {
			h.t.Fatal(err)
		}
		if tags[TagManagedKey] == "true" && md.KeyMetadata.KeyState == kmstypes.KeyStateEnabled && arn != aliased {
			h.t.Errorf("%s: managed key %s is enabled without the alias (%s names %s)", acct, arn, keyAlias(tg), aliased)
		}
	}
	ims, err := h.rootEC2(acct).DescribeImages(h.ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}})
	if err != nil {
		h.t.Fatal(err)
	}
	var copies []string
	for _, im := range ims.Images {
		if tagMap(im.Tags)[TagSourceImage] == sourceAMI {
			copies = append(copies, aws.ToString(im.ImageId))
		}
	}
	if len(copies) != 1 || copies[0] != image {
		h.t.Errorf("%s: copies of %s: %v, want only %s", acct, sourceAMI, copies, image)
	}
	groups, err := h.rootAS(acct).DescribeAutoScalingGroups(h.ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, g := range groups.AutoScalingGroups {
		h.t.Errorf("%s: group %s left behind", acct, aws.ToString(g.AutoScalingGroupName))
	}
	lts, err := h.rootEC2(acct).DescribeLaunchTemplates(h.ctx, &ec2.DescribeLaunchTemplatesInput{})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, lt := range lts.LaunchTemplates {
		name := aws.ToString(lt.LaunchTemplateName)
		if name != "base" {
			h.t.Errorf("%s: launch template %s left behind", acct, name)
			continue
		}
		if v := aws.ToInt64(lt.LatestVersionNumber); v != 2 || aws.ToInt64(lt.DefaultVersionNumber) != 2 {
			h.t.Errorf("%s: template base has versions up to %d, default %d; want one version added, the default", acct, v, aws.ToInt64(lt.DefaultVersionNumber))
		}
	}
	def, err := h.rootEC2(acct).DescribeLaunchTemplateVersions(h.ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: aws.String("base"), Versions: []string{"$Default"}})
	if err != nil || len(def.LaunchTemplateVersions) != 1 || aws.ToString(def.LaunchTemplateVersions[0].LaunchTemplateData.ImageId) != image {
		h.t.Errorf("%s: template base's default version: %+v, %v; want %s", acct, def, err, image)
	}
	p, err := h.rootSSM(acct).GetParameter(h.ctx, &ssm.GetParameterInput{Name: aws.String(tg.Publish.SSMParameter)})
	if err != nil || aws.ToString(p.Parameter.Value) != image {
		h.t.Errorf("%s: parameter %s: %v, %v; want %s", acct, tg.Publish.SSMParameter, p, err, image)
	}
}
