package activities

import (
	"encoding/json"
	"net/http"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/amicrypt/amicrypt/internal/sandbox"
)

// calls counts the sandbox's calls of an action ("kms:GetKeyPolicy") in an
// account, all regions.
func (h *harness) calls(account, action string) int64 {
	h.t.Helper()
	resp, err := http.Get(h.sb.URL + "/_sandbox/counters")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var rows []sandbox.CounterRow
	if err := json.NewDecoder(resp.Body).Decode(&rows); err != nil {
		h.t.Fatal(err)
	}
	var n int64
	for _, r := range rows {
		if r.Account == account && r.Action == action {
			n += r.Calls
		}
	}
	return n
}

func TestPrepareTargetCreatesTheKeyWithoutReadingItBack(t *testing.T) {
	h := newHarness(t)
	tg := target(payments)
	res := must[PrepareTargetResult](h, h.acts.PrepareTarget, PrepareTargetInput{Target: tg, RunID: "run-1", Pipeline: pipelineARN})
	if !res.Key.Created || !res.Key.Managed || res.Key.KeyARN == "" || res.SLRARN != tg.ServiceLinkedRoleARN() {
		t.Fatalf("prepared: %+v", res)
	}
	// The key was made with the required policy and rotation on: nothing
	// to read back.
	for action, want := range map[string]int64{
		"kms:CreateKey": 1, "kms:CreateAlias": 1, "kms:EnableKeyRotation": 1,
		"kms:GetKeyPolicy": 0, "kms:GetKeyRotationStatus": 0, "kms:ListGrants": 0, "kms:ListResourceTags": 0,
	} {
		if got := h.calls(payments, action); got != want {
			t.Errorf("%s: %d calls, want %d", action, got, want)
		}
	}
	rot, err := h.rootKMS(payments).GetKeyRotationStatus(h.ctx, &kms.GetKeyRotationStatusInput{KeyId: aws.String(res.Key.KeyARN)})
	if err != nil || !rot.KeyRotationEnabled {
		t.Errorf("rotation of the new key: %v, %v", rot, err)
	}
	// Prepared again, the key is found and its policy checked.
	again := must[PrepareTargetResult](h, h.acts.PrepareTarget, PrepareTargetInput{Target: tg, RunID: "run-2", Pipeline: pipelineARN})
	if again.Key.Created || again.Key.KeyARN != res.Key.KeyARN {
		t.Errorf("second prepare: %+v", again)
	}
	if got := h.calls(payments, "kms:GetKeyPolicy"); got != 1 {
		t.Errorf("kms:GetKeyPolicy: %d calls after the second prepare, want 1", got)
	}
}

func TestPrepareTargetAsksOncePerAccountForRoleAndServiceLinkedRole(t *testing.T) {
	h := newHarness(t)
	// The account's regions prepare at once, as a run's targets do.
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, r := range []string{"us-east-1", "eu-west-1"} {
		tg := target(payments)
		tg.Region = r
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := h.acts.PrepareTarget(h.ctx, PrepareTargetInput{Target: tg, RunID: "run-1", Pipeline: pipelineARN})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, action := range []string{"sts:GetCallerIdentity", "iam:GetRole"} {
		if got := h.calls(payments, action); got != 1 {
			t.Errorf("%s: %d calls for two regions of one account, want 1", action, got)
		}
	}
}

func TestPrepareTargetNamesTheFailedStep(t *testing.T) {
	h := newHarness(t)
	tg := target(payments)
	tg.ExternalID = "wrong"
	d := diagnosed(h, h.acts.PrepareTarget, PrepareTargetInput{Target: tg, RunID: "run-1"}, F7)
	if d.Step != StepAssume {
		t.Errorf("step %q, want %q", d.Step, StepAssume)
	}
	// The failure was not remembered: the right id works at once.
	tg.ExternalID = "amicrypt"
	must[PrepareTargetResult](h, h.acts.PrepareTarget, PrepareTargetInput{Target: tg, RunID: "run-1", Pipeline: pipelineARN})
}

func TestWaitAndVerifyThenProveBootCleansUpItself(t *testing.T) {
	h := newHarness(t)
	tg := target(payments)
	prep := must[PrepareTargetResult](h, h.acts.PrepareTarget, PrepareTargetInput{Target: tg, RunID: "run-1", Pipeline: pipelineARN})
	src := Source{Region: region, ImageID: sourceAMI}
	share := must[ShareSourceResult](h, h.acts.ShareSource, ShareSourceInput{Builder: Builder{Account: builderAcct}, Source: src, Accounts: []string{payments}})
	if share.Name == "" {
		t.Fatal("ShareSource did not read the source's name")
	}
	src.Name = share.Name
	started := must[CopyImageResult](h, h.acts.CopyEncrypted, CopyImageInput{Target: tg, Source: src, KeyARN: prep.Key.KeyARN, RunID: "run-1"})
	img := must[CopiedImage](h, h.acts.WaitAndVerify, WaitAndVerifyInput{Target: tg, ImageID: started.ImageID, KeyARN: prep.Key.KeyARN, Started: true})
	if img.ImageID != started.ImageID || img.Family != FamilyFromName(share.Name) || img.RootDevice == "" || img.VerifyFailure != nil ||
		!img.Verify.SnapshotsEncrypted || len(img.Verify.Snapshots) == 0 {
		t.Fatalf("copied image: %+v", img)
	}
	in := BootProofInput{Target: tg, RunID: "run-1", ImageID: img.ImageID, KeyARN: prep.Key.KeyARN, SLRARN: prep.SLRARN, RootDevice: img.RootDevice}
	res := must[ProveBootResult](h, h.acts.ProveBoot, in)
	if res.Boot.Result != BootInService || res.Boot.InstanceID == "" || !res.Cleaned {
		t.Fatalf("proof: %+v", res)
	}
	h.assertBootProofGone(in)
	// Knowing the root device, the root volume is read in one call.
	if got := h.calls(payments, "ec2:DescribeInstances"); got != 0 {
		t.Errorf("ec2:DescribeInstances: %d calls, want 0", got)
	}
}

func TestWaitAndVerifyReportsSnapshotsUnderAnotherKeyAsAResult(t *testing.T) {
	h := newHarness(t)
	tg := target(legacy)
	adopted := h.keyARN(legacy, "alias/adopted")
	image := h.copied(tg, adopted)
	// Checked against another key, the image's snapshots are wrong (F8),
	// and the image is still described for the workflow to tag unproven.
	img := must[CopiedImage](h, h.acts.WaitAndVerify, WaitAndVerifyInput{Target: tg, ImageID: image, KeyARN: "arn:aws:kms:us-east-1:444444444444:key/00000000-0000-0000-0000-000000000000"})
	if img.VerifyFailure == nil || img.VerifyFailure.Code != F8 || img.VerifyFailure.Step != StepVerify || img.ImageID != image {
		t.Fatalf("copied image: %+v", img)
	}
}

func TestProveBootFailureCleansUpAndCarriesTheResult(t *testing.T) {
	h := newHarness(t)
	tg := target(legacy)
	keyARN := h.keyARN(legacy, "alias/adopted") // root-only policy: the launch fails
	image := h.copied(tg, keyARN)
	in := BootProofInput{Target: tg, RunID: "run-1", ImageID: image, KeyARN: keyARN, SLRARN: tg.ServiceLinkedRoleARN()}
	_, err := run[ProveBootResult](h, h.acts.ProveBoot, in)
	d, ok := DiagnosisOf(err)
	if !ok || d.Code != F2 || d.Step != StepBootProof {
		t.Fatalf("got %v (%+v), want F2 at %s", err, d, StepBootProof)
	}
	if br, ok := BootResultOf(err); !ok || br.Result != BootFailed || !contains(br.Message, "Client error on launch") {
		t.Errorf("boot result carried by the error: %+v, %v", br, ok)
	}
	h.assertBootProofGone(in)
}

func TestFinishTargetMarksPublishesAndRetains(t *testing.T) {
	h := newHarness(t)
	tg := target(payments)
	tg.Keep = 1
	tg.Publish.SSMParameter = "/amicrypt/test"
	prep := must[PrepareTargetResult](h, h.acts.PrepareTarget, PrepareTargetInput{Target: tg, RunID: "run-1", Pipeline: pipelineARN})
	image := h.copied(tg, prep.Key.KeyARN)

	// Unproven: tagged so, nothing published.
	must[FinishTargetResult](h, h.acts.FinishTarget, FinishTargetInput{Target: tg, Source: Source{Region: region, ImageID: sourceAMI}, ImageID: image, Reason: "boot failed"})
	if tags := h.imageTags(payments, image); tags[TagProven] != "false" || tags[TagProvenReason] != "boot failed" {
		t.Errorf("unproven tags: %v", tags)
	}
	if h.calls(payments, "ssm:PutParameter") != 0 {
		t.Error("an unproven image was published")
	}
	// Proven after a replay: the stale reason goes, the image is published.
	res := must[FinishTargetResult](h, h.acts.FinishTarget, FinishTargetInput{Target: tg, Source: Source{Region: region, ImageID: sourceAMI}, ImageID: image, Proven: true, StaleReason: true})
	if tags := h.imageTags(payments, image); tags[TagProven] != "true" || tags[TagProvenReason] != "" {
		t.Errorf("proven tags: %v", tags)
	}
	if len(res.Published) != 1 || res.Published[0] != "ssm:/amicrypt/test" {
		t.Errorf("published: %v", res.Published)
	}
}

func (h *harness) imageTags(account, imageID string) map[string]string {
	h.t.Helper()
	im, err := describeImage(h.ctx, h.rootEC2(account), imageID)
	if err != nil || im == nil {
		h.t.Fatalf("describe %s: %v", imageID, err)
	}
	return tagMap(im.Tags)
}
