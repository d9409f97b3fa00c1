package activities

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// build makes a new unencrypted source image in the builder account, as a
// Packer build would (named with its timestamp), and waits for it.
func (h *harness) build(name string) Source {
	h.t.Helper()
	ec := h.rootEC2(builderAcct)
	out, err := ec.CopyImage(h.ctx, &ec2.CopyImageInput{Name: aws.String(name), SourceImageId: aws.String(sourceAMI), SourceRegion: aws.String(region)})
	if err != nil {
		h.t.Fatalf("building %s: %v", name, err)
	}
	id := aws.ToString(out.ImageId)
	h.waitImage(builderAcct, id, ec2types.ImageStateAvailable)
	time.Sleep(5 * time.Millisecond) // the next build is younger by the clock's millisecond at least
	return Source{Region: region, ImageID: id}
}

// waitImage waits until the account's image is in state.
func (h *harness) waitImage(account, id string, state ec2types.ImageState) {
	h.t.Helper()
	for range 500 {
		out, err := h.rootEC2(account).DescribeImages(h.ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}, IncludeDisabled: aws.Bool(true)})
		if err == nil && len(out.Images) == 1 && out.Images[0].State == state {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("image %s of %s never became %s", id, account, state)
}

// deliver runs a target's pipeline for a source as the workflow does —
// share, copy, wait, finish as proven — and returns the copy and what
// FinishTarget did.
func (h *harness) deliver(tg Target, key string, src Source, run string) (string, FinishTargetResult) {
	h.t.Helper()
	must[ShareSourceResult](h, h.acts.ShareSource, ShareSourceInput{Builder: Builder{Account: builderAcct}, Source: src, Accounts: []string{tg.Account}})
	c := must[CopyImageResult](h, h.acts.CopyEncrypted, CopyImageInput{Target: tg, Source: src, KeyARN: key, RunID: run})
	copied := must[CopiedImage](h, h.acts.WaitAndVerify, WaitAndVerifyInput{Target: tg, ImageID: c.ImageID, KeyARN: key})
	fin := must[FinishTargetResult](h, h.acts.FinishTarget, FinishTargetInput{Target: tg, Source: src, ImageID: c.ImageID, KeyARN: key, Family: copied.Family, Proven: true})
	return c.ImageID, fin
}

// imageStates is the account's own images by id and state, disabled ones included.
func (h *harness) imageStates(account string) map[string]ec2types.ImageState {
	h.t.Helper()
	out, err := h.rootEC2(account).DescribeImages(h.ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}, IncludeDisabled: aws.Bool(true)})
	if err != nil {
		h.t.Fatal(err)
	}
	m := map[string]ec2types.ImageState{}
	for _, im := range out.Images {
		m[aws.ToString(im.ImageId)] = im.State
	}
	return m
}

func TestRetentionKeepsTheNewestProvenBuildsOfTheFamilyAndWhatIsUsed(t *testing.T) {
	h := newHarness(t)
	tg := target(payments)
	tg.Keep = 2
	tg.BootProof.Enabled = false
	zero := time.Duration(0)
	tg.RetentionGrace = &zero
	tg.Publish = Publish{SSMParameter: "/golden/base"}
	key := must[EnsureKeyResult](h, h.acts.ensureKey, ensureKeyIn(tg)).KeyARN

	b1, b2, b3 := h.build("base-1733500000"), h.build("base-1733600000"), h.build("base-1733700000")
	c1, _ := h.deliver(tg, key, b1, "run-1")
	c2, _ := h.deliver(tg, key, b2, "run-2")
	c3, fin := h.deliver(tg, key, b3, "run-3")
	// Packer names every build differently; the family is what they share.
	if len(fin.Retirement.Disabled) != 1 || fin.Retirement.Disabled[0] != c1 || len(fin.Retirement.Deregistered) != 1 || fin.Retirement.Deregistered[0] != c1 {
		t.Fatalf("the third build retired %+v, want the first (%s) disabled then deregistered (grace 0s)", fin.Retirement, c1)
	}
	states := h.imageStates(payments)
	if _, ok := states[c1]; ok || states[c2] != ec2types.ImageStateAvailable || states[c3] != ec2types.ImageStateAvailable {
		t.Fatalf("images after three builds with keep 2: %v (c1 %s, c2 %s, c3 %s)", states, c1, c2, c3)
	}

	// A launch template of the account's own, pinned to the second build,
	// keeps it beyond keep; the report says what kept it.
	if _, err := h.rootEC2(payments).CreateLaunchTemplate(h.ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String("team-pinned"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(c2), InstanceType: ec2types.InstanceTypeT3Micro},
	}); err != nil {
		t.Fatal(err)
	}
	c4, fin := h.deliver(tg, key, h.build("base-1733800000"), "run-4")
	if len(fin.Retirement.Disabled) != 0 || len(fin.Retirement.Kept) != 1 || !strings.Contains(fin.Retirement.Kept[0], c2) || !strings.Contains(fin.Retirement.Kept[0], "launch template team-pinned version 1") {
		t.Fatalf("a pinned image: %+v, want %s kept and named with its launch template", fin.Retirement, c2)
	}

	// A replay of the first build after the fourth moves no pointer back
	// and retires nothing newer.
	r1, fin := h.deliver(tg, key, b1, "run-1-replay")
	if len(fin.Published) != 0 || len(fin.PointersKept) != 1 || !strings.Contains(fin.PointersKept[0], c4) {
		t.Fatalf("replay of an old build: published %v, kept %v; want the parameter kept on %s", fin.Published, fin.PointersKept, c4)
	}
	p, err := h.rootSSM(payments).GetParameter(h.ctx, &ssm.GetParameterInput{Name: aws.String("/golden/base")})
	if err != nil || aws.ToString(p.Parameter.Value) != c4 {
		t.Fatalf("parameter after the replay: %v, %v; want %s", p, err, c4)
	}
	states = h.imageStates(payments)
	for _, id := range []string{c2, c3, c4, r1} {
		if states[id] != ec2types.ImageStateAvailable {
			t.Errorf("after the replay image %s is %q, want available (states %v)", id, states[id], states)
		}
	}

	// keep: 0 retires nothing.
	tg.Keep = 0
	_, fin = h.deliver(tg, key, h.build("base-1733900000"), "run-5")
	if !fin.Retirement.Empty() {
		t.Fatalf("keep 0 retired %+v", fin.Retirement)
	}
}

func TestRetentionDisablesFirstAndDeregistersOnlyAfterTheGrace(t *testing.T) {
	h := newHarness(t)
	tg := target(payments)
	tg.Keep = 1
	tg.BootProof.Enabled = false
	hour := time.Hour
	tg.RetentionGrace = &hour
	key := must[EnsureKeyResult](h, h.acts.ensureKey, ensureKeyIn(tg)).KeyARN

	c1, _ := h.deliver(tg, key, h.build("web-20261201"), "run-1")
	c2, fin := h.deliver(tg, key, h.build("web-20261202"), "run-2")
	if len(fin.Retirement.Disabled) != 1 || fin.Retirement.Disabled[0] != c1 || len(fin.Retirement.Deregistered) != 0 {
		t.Fatalf("retirement with a 1h grace: %+v, want %s disabled only", fin.Retirement, c1)
	}
	if st := h.imageStates(payments); st[c1] != ec2types.ImageStateDisabled || st[c2] != ec2types.ImageStateAvailable {
		t.Fatalf("states: %v", st)
	}
	// Within the grace, a later run leaves it disabled and says when it goes.
	again := must[Retirement](h, h.acts.applyRetention, RetentionInput{Target: tg, KeepImageID: c2, KeyARN: key, Family: "web"})
	if len(again.Deregistered) != 0 || len(again.Kept) != 1 || !strings.Contains(again.Kept[0], "grace") {
		t.Fatalf("within the grace: %+v", again)
	}
	// The grace over (0s now), it is deregistered with its snapshots.
	zero := time.Duration(0)
	tg.RetentionGrace = &zero
	done := must[Retirement](h, h.acts.applyRetention, RetentionInput{Target: tg, KeepImageID: c2, KeyARN: key, Family: "web"})
	if len(done.Deregistered) != 1 || done.Deregistered[0] != c1 {
		t.Fatalf("after the grace: %+v", done)
	}
	if _, ok := h.imageStates(payments)[c1]; ok {
		t.Fatalf("%s still registered", c1)
	}
}

func TestRetentionLeavesImagesTheEvidenceDoesNotShowAmicrypts(t *testing.T) {
	h := newHarness(t)
	tg := target(payments)
	tg.Keep = 1
	tg.BootProof.Enabled = false
	zero := time.Duration(0)
	tg.RetentionGrace = &zero
	key := must[EnsureKeyResult](h, h.acts.ensureKey, ensureKeyIn(tg)).KeyARN

	c1, _ := h.deliver(tg, key, h.build("api-1733500000"), "run-1")
	// Someone in the account who may only tag makes another image look
	// like an old amicrypt copy of the family.
	ec := h.rootEC2(payments)
	forged := "ami-0c0000000000a0001" // a world image, not made by CopyImage
	if _, err := ec.CreateTags(h.ctx, &ec2.CreateTagsInput{Resources: []string{forged}, Tags: []ec2types.Tag{
		{Key: aws.String(TagSourceImage), Value: aws.String(sourceAMI)}, {Key: aws.String(TagFamily), Value: aws.String("api")},
		{Key: aws.String(TagKey), Value: aws.String(key)}, {Key: aws.String(TagProven), Value: aws.String("true")},
		{Key: aws.String(TagSourceCreated), Value: aws.String("2000-01-01T00:00:00.000Z")},
	}}); err != nil {
		t.Fatal(err)
	}
	c2, fin := h.deliver(tg, key, h.build("api-1733600000"), "run-2")
	if len(fin.Retirement.Deregistered) != 1 || fin.Retirement.Deregistered[0] != c1 {
		t.Fatalf("retirement: %+v, want only %s", fin.Retirement, c1)
	}
	if len(fin.Retirement.OutOfScope) != 1 || !strings.HasPrefix(fin.Retirement.OutOfScope[0], forged+": not made by CopyImage") {
		t.Fatalf("out of scope: %v, want %s named", fin.Retirement.OutOfScope, forged)
	}
	if st := h.imageStates(payments); st[forged] != ec2types.ImageStateAvailable || st[c2] != ec2types.ImageStateAvailable {
		t.Fatalf("states: %v", st)
	}
}
