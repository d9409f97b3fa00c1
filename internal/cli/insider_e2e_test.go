package cli

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/config"
	"github.com/amicrypt/amicrypt/internal/sandbox/world"
)

// insiderWorld is the default world where payments-prod (222222222222) also
// has another team's key and image, and a user allowed only to tag.
func insiderWorld(t *testing.T) *world.World {
	t.Helper()
	const anchor = "    name: payments-prod\n    service_linked_roles: [AWSServiceRoleForAutoScaling]\n    roles: [*target-role]\n"
	const extra = `    users:
      - name: tagger
        policies: [{Version: "2012-10-17", Statement: [{Effect: Allow, Action: ["kms:TagResource", "ec2:CreateTags"], Resource: "*"}]}]
    keys:
      - {alias: alias/team-secrets, region: us-east-1}
    images:
      - {id: ami-0c0000000000c0001, region: us-east-1, name: base-2026-01, encrypted: alias/team-secrets}
`
	text := string(world.DefaultYAML())
	if !strings.Contains(text, anchor) {
		t.Fatal("the default world changed: payments-prod not found")
	}
	w, err := world.Parse([]byte(strings.Replace(text, anchor, anchor+extra, 1)), "insider-world.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestAnInsiderWhoMayOnlyTagCannotSteerAmicrypt: a user of a target account
// allowed only kms:TagResource and ec2:CreateTags puts every amicrypt:* tag
// on another team's key and image — managed, the alias, a successor link,
// "disabled by amicrypt" long ago, a retirement request; amicrypt's image
// tags naming the builder's source, proven, oldest of the family. Neither
// amicrypt's key (its policy refuses him) nor anything else of amicrypt's
// can be tagged by him. Then a run, its retention, a rotation and two sweeps
// leave the team's key enabled with its policy byte-for-byte unchanged, and
// its image registered and enabled.
func TestAnInsiderWhoMayOnlyTagCannotSteerAmicrypt(t *testing.T) {
	env := startE2E(t, insiderWorld(t))
	path, _ := rotationConfig(t, "  - {account: \"222222222222\", name: payments-prod, regions: [us-east-1]}\n")
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(text), "  external_id: amicrypt\n", "  external_id: amicrypt\n  keep: 1\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	pipelineFirst(t, env, cfg)
	ctx := context.Background()
	st := sandboxState(t, env)
	reg := st.Accounts["222222222222"].Regions["us-east-1"]
	ours := aliasKey(st, "222222222222", "us-east-1")
	team := reg.Keys[reg.Aliases["alias/team-secrets"]]
	const teamImage = "ami-0c0000000000c0001"
	var source string
	for _, tr := range st.Accounts["111111111111"].Regions["us-east-1"].Images {
		if tr.Name == "base-2026-11" {
			source = tr.ID
		}
	}
	if ours == nil || team == nil || source == "" {
		t.Fatalf("world: amicrypt's key %v, the team's key %v, source %q", ours, team, source)
	}
	teamPolicy := team.Policy

	user := st.Accounts["222222222222"].Users["tagger"]
	cfgAs := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(env.SandboxEndpoint), Credentials: credentials.NewStaticCredentialsProvider(user.AccessKeyID, "x", "")}
	kc, ec := kms.NewFromConfig(cfgAs), ec2.NewFromConfig(cfgAs)
	kmsTag := func(key string, kv map[string]string) error {
		var tags []kmstypes.Tag
		for k, v := range kv {
			tags = append(tags, kmstypes.Tag{TagKey: aws.String(k), TagValue: aws.String(v)})
		}
		_, err := kc.TagResource(ctx, &kms.TagResourceInput{KeyId: aws.String(key), Tags: tags})
		return err
	}
	every := map[string]string{
		activities.TagManagedKey: "true", activities.TagKeyAlias: activities.DefaultKeyAlias,
		activities.TagSuccessor: ours.ARN, activities.TagPredecessor: ours.ARN,
		activities.TagKeyDisabledAt: "2020-01-01T00:00:00Z", activities.TagKeyDisabledReason: "key rotation",
		activities.TagRetire: activities.ReasonLeaked, activities.TagRotation: "rotation-1",
	}
	if err := kmsTag(team.ARN, every); err != nil {
		t.Fatalf("the insider may tag the team's key: %v", err)
	}
	if err := kmsTag(ours.ARN, map[string]string{activities.TagPredecessor: team.ARN}); !activities.IsAccessDenied(err) {
		t.Fatalf("the insider tagged amicrypt's key: %v", err)
	}
	if _, err := kc.UntagResource(ctx, &kms.UntagResourceInput{KeyId: aws.String(ours.ARN), TagKeys: []string{activities.TagManagedKey}}); !activities.IsAccessDenied(err) {
		t.Fatalf("the insider untagged amicrypt's key: %v", err)
	}
	if _, err := ec.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{teamImage}, Tags: []ec2types.Tag{
		{Key: aws.String(activities.TagSourceImage), Value: aws.String(source)},
		{Key: aws.String(activities.TagFamily), Value: aws.String("base")},
		{Key: aws.String(activities.TagSourceCreated), Value: aws.String("2000-01-01T00:00:00.000Z")},
		{Key: aws.String(activities.TagProven), Value: aws.String("true")},
		{Key: aws.String(activities.TagManagedKey), Value: aws.String("true")},
		{Key: aws.String(activities.TagDisabledAt), Value: aws.String("2020-01-01T00:00:00Z")},
	}}); err != nil {
		t.Fatalf("the insider may tag the team's image: %v", err)
	}

	// A run (and its retention), a rotation, two sweeps.
	pipelineFirst(t, env, cfg)
	if code, stdout, stderr := runCLI(env, "rotate", "--config", path, "--account", "222222222222", "--reason", "scheduled", "--wait", "--json"); code != 0 {
		t.Fatalf("rotate: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	for i := range 2 {
		if code, stdout, stderr := runCLI(env, "sweep", "--config", path, "--wait", "--json"); code != 0 {
			t.Fatalf("sweep %d: exit %d\nstdout: %s\nstderr: %s", i+1, code, stdout, stderr)
		}
	}

	after := sandboxState(t, env)
	areg := after.Accounts["222222222222"].Regions["us-east-1"]
	k := areg.Keys[team.ID]
	if k == nil || k.State != string(kmstypes.KeyStateEnabled) || k.Policy != teamPolicy {
		t.Errorf("the team's key after run, rotation and sweeps: %+v\nwant Enabled with its policy unchanged:\n%s", k, teamPolicy)
	}
	if im := areg.Images[teamImage]; im == nil || !live(im) || im.State != "available" {
		t.Errorf("the team's image after run, rotation and sweeps: %+v, want registered and available", im)
	}
	if a := aliasKey(after, "222222222222", "us-east-1"); a == nil || a.ARN == team.ARN {
		t.Errorf("amicrypt's alias names %v", a)
	}
}
