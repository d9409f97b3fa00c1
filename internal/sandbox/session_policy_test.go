package sandbox

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// A world whose role "worker" may be assumed by account 111111111111's
// root with a source identity, and "plain" only without one.
const sourceIdentityWorld = `
regions: [us-east-1]
accounts:
  - id: "111111111111"
    roles:
      - name: worker
        trust: {Version: "2012-10-17", Statement: [{Effect: Allow, Principal: {AWS: "arn:aws:iam::111111111111:root"}, Action: ["sts:AssumeRole", "sts:SetSourceIdentity"]}]}
        policies: [{Version: "2012-10-17", Statement: [{Effect: Allow, Action: ["kms:*", "ec2:*"], Resource: "*"}]}]
      - name: plain
        trust: {Version: "2012-10-17", Statement: [{Effect: Allow, Principal: {AWS: "arn:aws:iam::111111111111:root"}, Action: "sts:AssumeRole"}]}
        policies: [{Version: "2012-10-17", Statement: [{Effect: Allow, Action: "kms:*", Resource: "*"}]}]
faults: {throttle: false}
`

func assumeWith(e *testEnv, roleARN string, set func(*sts.AssumeRoleInput)) (*sts.AssumeRoleOutput, aws.Config, error) {
	in := &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("amicrypt-run1-plan")}
	set(in)
	out, err := e.sts("111111111111", "us-east-1").AssumeRole(e.ctx, in)
	if err != nil {
		return nil, aws.Config{}, err
	}
	c := out.Credentials
	return out, e.cfg(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken, "us-east-1"), nil
}

func TestSourceIdentityNeedsSetSourceIdentityInTheTrustPolicy(t *testing.T) {
	e := newTestEnv(t, sourceIdentityWorld)
	withAlice := func(in *sts.AssumeRoleInput) { in.SourceIdentity = aws.String("alice") }

	_, _, err := assumeWith(e, "arn:aws:iam::111111111111:role/plain", withAlice)
	if errCode(err) != "AccessDenied" || !strings.Contains(err.Error(), "sts:SetSourceIdentity") {
		t.Fatalf("a trust policy without sts:SetSourceIdentity: want AccessDenied naming sts:SetSourceIdentity, got %v", err)
	}
	if _, _, err := assumeWith(e, "arn:aws:iam::111111111111:role/plain", func(*sts.AssumeRoleInput) {}); err != nil {
		t.Fatalf("without a source identity: %v", err)
	}

	for _, bad := range []string{"a", "has space", "aws:me", strings.Repeat("x", 65)} {
		_, _, err := assumeWith(e, "arn:aws:iam::111111111111:role/worker", func(in *sts.AssumeRoleInput) { in.SourceIdentity = aws.String(bad) })
		if errCode(err) != "ValidationError" {
			t.Errorf("SourceIdentity %q: want ValidationError, got %v", bad, err)
		}
	}

	out, cfg, err := assumeWith(e, "arn:aws:iam::111111111111:role/worker", withAlice)
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.SourceIdentity) != "alice" {
		t.Errorf("AssumeRole's SourceIdentity: %q", aws.ToString(out.SourceIdentity))
	}
	// CloudTrail records the session's name and its source identity.
	must(kms.NewFromConfig(cfg).ListKeys(e.ctx, &kms.ListKeysInput{}))
	evs := must(cloudtrail.NewFromConfig(e.rootCfg("111111111111", "us-east-1")).LookupEvents(e.ctx, &cloudtrail.LookupEventsInput{})).Events
	if len(evs) == 0 {
		t.Fatal("no CloudTrail event for the session's ListKeys")
	}
	var ev struct {
		UserIdentity struct {
			ARN            string `json:"arn"`
			SessionContext struct {
				SourceIdentity string `json:"sourceIdentity"`
			} `json:"sessionContext"`
		} `json:"userIdentity"`
	}
	if err := json.Unmarshal([]byte(aws.ToString(evs[0].CloudTrailEvent)), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.UserIdentity.SessionContext.SourceIdentity != "alice" || !strings.HasSuffix(ev.UserIdentity.ARN, "/worker/amicrypt-run1-plan") {
		t.Errorf("CloudTrail userIdentity: %s, sourceIdentity %q; want the session amicrypt-run1-plan of alice", ev.UserIdentity.ARN, ev.UserIdentity.SessionContext.SourceIdentity)
	}
}

func TestASessionPolicyNarrowsTheSession(t *testing.T) {
	e := newTestEnv(t, sourceIdentityWorld)
	readOnly := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Describe*","kms:List*"],"Resource":"*"}]}`
	out, cfg, err := assumeWith(e, "arn:aws:iam::111111111111:role/worker", func(in *sts.AssumeRoleInput) { in.Policy = aws.String(readOnly) })
	if err != nil {
		t.Fatal(err)
	}
	//lint:ignore SA1019 STS still answers PackedPolicySize (the SDK deprecates it for SessionTokenUtilization), and the sandbox models it
	if p := aws.ToInt32(out.PackedPolicySize); p <= 0 || p > 100 {
		t.Errorf("PackedPolicySize %d%%", p)
	}
	kc := kms.NewFromConfig(cfg)
	must(kc.ListKeys(e.ctx, &kms.ListKeysInput{}))
	_, err = kc.CreateKey(e.ctx, &kms.CreateKeyInput{})
	if errCode(err) != "AccessDeniedException" || !strings.Contains(err.Error(), "session policy") {
		t.Fatalf("CreateKey under a read-only session policy: want AccessDeniedException naming the session policy, got %v", err)
	}
	// The role itself still may.
	_, full, _ := assumeWith(e, "arn:aws:iam::111111111111:role/worker", func(*sts.AssumeRoleInput) {})
	must(kms.NewFromConfig(full).CreateKey(e.ctx, &kms.CreateKeyInput{}))
}

func TestATooLargeSessionPolicyIsRefused(t *testing.T) {
	e := newTestEnv(t, sourceIdentityWorld)
	statement := func(i int) string {
		return fmt.Sprintf(`{"Effect":"Allow","Action":"kms:DescribeKey","Resource":"arn:aws:kms:us-east-1:111111111111:key/%08x-%04x-%04x"}`, i*2654435761, i*40503, i*9973)
	}
	doc := func(n int) string {
		var ss []string
		for i := 1; i <= n; i++ {
			ss = append(ss, statement(i))
		}
		return `{"Version":"2012-10-17","Statement":[` + strings.Join(ss, ",") + `]}`
	}
	long := doc(30)
	if len(long) <= 2048 {
		t.Fatalf("test policy too short: %d", len(long))
	}
	_, _, err := assumeWith(e, "arn:aws:iam::111111111111:role/worker", func(in *sts.AssumeRoleInput) { in.Policy = aws.String(long) })
	if errCode(err) != "ValidationError" {
		t.Errorf("a session policy over 2,048 characters: want ValidationError, got %v", err)
	}
	// Under 2,048 characters, but of names that do not compress (a
	// parameter path of random letters): the packed size is too large.
	rnd := rand.New(rand.NewPCG(1, 2))
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	name := make([]byte, 1900)
	for i := range name {
		name[i] = letters[rnd.IntN(len(letters))]
	}
	dense := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ssm:GetParameter","Resource":"arn:aws:ssm:*:*:parameter/` + string(name) + `"}]}`
	if len(dense) > 2048 {
		t.Fatalf("test policy too long: %d", len(dense))
	}
	_, _, err = assumeWith(e, "arn:aws:iam::111111111111:role/worker", func(in *sts.AssumeRoleInput) { in.Policy = aws.String(dense) })
	if errCode(err) != "PackedPolicyTooLarge" {
		t.Errorf("a session policy of %d characters that packs badly: want PackedPolicyTooLarge, got %v", len(dense), err)
	}
	_, _, err = assumeWith(e, "arn:aws:iam::111111111111:role/worker", func(in *sts.AssumeRoleInput) { in.Policy = aws.String(`{"Statement": [`) })
	if errCode(err) != "MalformedPolicyDocument" {
		t.Errorf("a session policy that does not parse: want MalformedPolicyDocument, got %v", err)
	}
}
