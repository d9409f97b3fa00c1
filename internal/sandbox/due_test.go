package sandbox

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// TestTimeActsOnEveryAccountWhoeverAsks: a copy finishing, a group's launch
// resolving and a key's deletion happen when their time comes, at the next
// request to the sandbox whoever makes it — here only another account, in
// another region — as they would in AWS, where nobody needs to look. The
// state is read directly afterwards, without a request of its own.
func TestTimeActsOnEveryAccountWhoeverAsks(t *testing.T) {
	const bystander = "555555555555"
	world := lgWorld("", "", `
  - id: "`+bystander+`"`)
	if w := strings.Replace(world, "regions: [us-east-1]", "regions: [us-east-1, eu-west-1]", 1); w != world {
		world = w
	} else {
		t.Fatal("lgWorld's regions changed; update this test")
	}
	e := newTestEnv(t, world)

	cp := lgMust(e.ec2(lgAcct, lgRegion).CopyImage(e.ctx, &ec2.CopyImageInput{
		Name: aws.String("copy"), SourceImageId: aws.String(lgPlain), SourceRegion: aws.String(lgRegion),
		Encrypted: aws.Bool(true), KmsKeyId: aws.String("alias/k"),
	}))(t)
	key := lgMust(e.kms(lgAcct, lgRegion).CreateKey(e.ctx, &kms.CreateKeyInput{}))(t)
	lgMust(e.kms(lgAcct, lgRegion).ScheduleKeyDeletion(e.ctx, &kms.ScheduleKeyDeletionInput{KeyId: key.KeyMetadata.KeyId, PendingWindowInDays: aws.Int32(7)}))(t)
	lgCreateGroup(t, e, "proof", lgGroupOpts{image: lgPlain})

	for _, step := range []time.Duration{time.Second, time.Hour, 8 * 24 * time.Hour} {
		e.clock.Advance(step)
		lgMust(e.ec2(bystander, "eu-west-1").DescribeImages(e.ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}}))(t)
	}

	e.srv.cloud.mu.Lock()
	defer e.srv.cloud.mu.Unlock()
	r := e.srv.cloud.state.Accounts[lgAcct].Regions[lgRegion]
	if im := r.Images[aws.ToString(cp.ImageId)]; im == nil || im.State != "available" {
		t.Errorf("the copy %s after an hour: %+v", aws.ToString(cp.ImageId), im)
	}
	if k := r.Keys[aws.ToString(key.KeyMetadata.KeyId)]; k != nil {
		t.Errorf("key %s is %s eight days after its deletion was scheduled for seven", k.ID, k.State)
	}
	g := r.Groups["proof"]
	if g == nil || len(g.Activities) != 1 || g.Activities[0].StatusCode != "Successful" || len(g.Instances) != 1 {
		t.Fatalf("the group an hour after its launch: %+v", g)
	}
	if in := r.Instances[g.Instances[0]]; in == nil || in.State != "running" {
		t.Errorf("the group's instance: %+v", in)
	}
}
