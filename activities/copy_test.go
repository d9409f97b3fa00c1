package activities

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestCopyEncryptedIsReusedAndVerified(t *testing.T) {
	h := newHarness(t)
	tg := target(payments)
	key := must[EnsureKeyResult](h, h.acts.ensureKey, ensureKeyIn(tg))
	must[ShareSourceResult](h, h.acts.ShareSource, ShareSourceInput{Builder: Builder{Account: builderAcct}, Source: Source{Region: region, ImageID: sourceAMI}, Accounts: []string{payments}})
	in := CopyImageInput{Target: tg, Source: Source{Region: region, ImageID: sourceAMI}, KeyARN: key.KeyARN, RunID: "run-1"}
	first := must[CopyImageResult](h, h.acts.CopyEncrypted, in)
	if first.Reused || first.ImageID == "" {
		t.Fatalf("first copy: %+v", first)
	}
	second := must[CopyImageResult](h, h.acts.CopyEncrypted, in)
	if !second.Reused || second.ImageID != first.ImageID {
		t.Fatalf("second copy: %+v, want %s reused", second, first.ImageID)
	}
	// A replay (another run) reuses it too.
	in.RunID = "run-2"
	if third := must[CopyImageResult](h, h.acts.CopyEncrypted, in); third.ImageID != first.ImageID {
		t.Fatalf("replay copied again: %+v", third)
	}
	if n := h.sb.Calls(payments, region, "ec2:CopyImage"); n != 1 {
		t.Fatalf("CopyImage called %d times, want 1", n)
	}
	if st := must[CopiedImage](h, h.acts.WaitAndVerify, WaitAndVerifyInput{Target: tg, ImageID: first.ImageID, KeyARN: key.KeyARN}); st.ImageID != first.ImageID || st.VerifyFailure != nil {
		t.Fatalf("wait: %+v", st)
	}
	img, err := h.rootEC2(payments).DescribeImages(h.ctx, &ec2.DescribeImagesInput{ImageIds: []string{first.ImageID}})
	if err != nil {
		t.Fatal(err)
	}
	tags := tagMap(img.Images[0].Tags)
	if tags[TagSourceImage] != sourceAMI || tags[TagKey] != key.KeyARN || tags[TagFamily] != "base" || tags[TagRun] != "run-1" {
		t.Errorf("tags %v", tags)
	}
	if name := aws.ToString(img.Images[0].Name); name != "base-2026-11-"+sourceAMI {
		t.Errorf("name %s", name)
	}
	v := must[VerifyResult](h, h.acts.verifySnapshots, VerifyInput{Target: tg, ImageID: first.ImageID, KeyARN: key.KeyARN})
	if !v.SnapshotsEncrypted || len(v.Snapshots) != 1 {
		t.Fatalf("verify: %+v", v)
	}
	d := diagnosed(h, h.acts.verifySnapshots, VerifyInput{Target: tg, ImageID: first.ImageID, KeyARN: "arn:aws:kms:us-east-1:222222222222:key/other"}, F8)
	if !contains(d.Cause, v.Snapshots[0]) || !contains(d.Cause, key.KeyARN) {
		t.Errorf("F8 does not name the snapshot and its key: %s", d)
	}
}

func TestCopyUnderADisabledKeyEndsFailedWithF5(t *testing.T) {
	h := newHarness(t)
	tg := target(legacy)
	keyARN := h.keyARN(legacy, "alias/disabled")
	must[ShareSourceResult](h, h.acts.ShareSource, ShareSourceInput{Builder: Builder{Account: builderAcct}, Source: Source{Region: region, ImageID: sourceAMI}, Accounts: []string{legacy}})
	c := must[CopyImageResult](h, h.acts.CopyEncrypted, CopyImageInput{Target: tg, Source: Source{Region: region, ImageID: sourceAMI}, KeyARN: keyARN, RunID: "run-1"})
	d := diagnosed(h, h.acts.WaitAndVerify, WaitAndVerifyInput{Target: tg, ImageID: c.ImageID, KeyARN: keyARN}, F5)
	if !contains(d.Cause, "disabled") || !contains(d.Fix, "enable-key") {
		t.Errorf("diagnosis: %s", d)
	}
}

func TestCopyOfASourceNotSharedIsDiagnosed(t *testing.T) {
	h := newHarness(t)
	d := diagnosed(h, h.acts.CopyEncrypted, CopyImageInput{Target: target(analytics), Source: Source{Region: region, ImageID: sourceAMI},
		KeyARN: "arn:aws:kms:us-east-1:333333333333:key/x", RunID: "run-1"}, Other)
	if !contains(d.Cause, "not visible to account 333333333333") {
		t.Errorf("diagnosis: %s", d)
	}
}
