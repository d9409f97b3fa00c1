package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"go.temporal.io/sdk/client"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/config"
	"github.com/amicrypt/amicrypt/internal/pipelinerun"
	"github.com/amicrypt/amicrypt/internal/policy"
	"github.com/amicrypt/amicrypt/internal/sandbox"
	"github.com/amicrypt/amicrypt/internal/sandbox/world"
	"github.com/amicrypt/amicrypt/workflows"
)

// The rotation and sweep end-to-end tests: the embedded Temporal server, the
// AWS sandbox and a worker (startE2E), driven through the command line
// (Main) as an operator would, and checked in the sandbox's state.

const (
	rotParam    = "/amicrypt/base/ami-id"
	rotTemplate = "amicrypt-base"
)

// rotationConfig is a config over the default world's accounts given
// (account: regions, nil for the defaults), publishing to an SSM parameter
// and a launch template.
func rotationConfig(t *testing.T, targets string) (string, *config.Config) {
	t.Helper()
	text := `builder:
  account: "111111111111"
  role_arn: arn:aws:iam::111111111111:role/amicrypt-pipeline
defaults:
  regions: [us-east-1, eu-west-1]
  external_id: amicrypt
  publish: {ssm_parameter: ` + rotParam + `, launch_template: ` + rotTemplate + `}
rotation: {deletion_window_days: 7, retire_after: 0s}
retention: {grace: 0s}
targets:
` + targets
	path := filepath.Join(t.TempDir(), "amicrypt.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, cfg
}

// runCLI runs amicrypt with the environment's Temporal flags.
func runCLI(env *devEnv, args ...string) (code int, stdout, stderr string) {
	args = append(args, "--temporal-address", env.Temporal.FrontendAddress(), "--namespace", env.Namespace, "--task-queue", env.TaskQueue)
	var out, errb bytes.Buffer
	code = Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func decodeReport(t *testing.T, stdout, stderr string) *workflows.Report {
	t.Helper()
	var r workflows.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("the --json report does not decode: %v\nstdout: %s\nstderr: %s", err, stdout, stderr)
	}
	return &r
}

// pipelineFirst runs the pipeline over the config's targets; every one must succeed.
func pipelineFirst(t *testing.T, env *devEnv, cfg *config.Config) *workflows.Report {
	t.Helper()
	r := runToReport(t, env, pipelineFor(t, env, cfg))
	for _, tr := range r.Targets {
		if tr.Status != workflows.StatusSucceeded {
			t.Fatalf("the pipeline before the rotation: %s/%s %s %+v", tr.Account, tr.Region, tr.Status, tr.Diagnosis)
		}
	}
	return r
}

func aliasKey(st sandbox.State, account, region string) *sandbox.Key {
	reg := st.Accounts[account].Regions[region]
	return reg.Keys[reg.Aliases[activities.DefaultKeyAlias]]
}

func keyByARN(st sandbox.State, account, region, arn string) *sandbox.Key {
	for _, k := range st.Accounts[account].Regions[region].Keys {
		if k.ARN == arn {
			return k
		}
	}
	return nil
}

// live is an image not deregistered.
func live(im *sandbox.Image) bool { return im.State != "deregistered" }

// imageKeys are the keys of an image's encrypted block devices.
func imageKeys(im *sandbox.Image) []string {
	var ks []string
	for _, bd := range im.BlockDevices {
		if bd.Encrypted {
			ks = append(ks, bd.KMSKeyID)
		}
	}
	return ks
}

// nothingOnKey lists the live amicrypt images, snapshots and published
// pointers of account/region still referring to key (or to an image under it).
func nothingOnKey(st sandbox.State, account, region, key string) []string {
	reg := st.Accounts[account].Regions[region]
	var left []string
	under := map[string]bool{}
	for id, im := range reg.Images {
		for _, k := range imageKeys(im) {
			if k == key {
				under[id] = true
			}
		}
		if under[id] && live(im) && im.Tags[activities.TagSourceImage] != "" {
			left = append(left, "image "+id)
		}
	}
	for id, sn := range reg.Snapshots {
		if sn.KMSKeyID == key && sn.State != "deleted" {
			left = append(left, "snapshot "+id)
		}
	}
	if p := reg.Parameters[rotParam]; p != nil && under[p.Value] {
		left = append(left, "parameter "+rotParam+" = "+p.Value)
	}
	if img := templateImage(reg); under[img] {
		left = append(left, "launch template "+rotTemplate+" default version on "+img)
	}
	sort.Strings(left)
	return left
}

// templateImage is the image of the published launch template's default version.
func templateImage(reg *sandbox.Region) string {
	for _, lt := range reg.LaunchTemplates {
		if lt.Name != rotTemplate {
			continue
		}
		for _, v := range lt.Versions {
			if v.Number == lt.DefaultVersion {
				s, _ := v.Data["ImageId"].(string)
				return s
			}
		}
	}
	return ""
}

func parameterValue(reg *sandbox.Region) string {
	if p := reg.Parameters[rotParam]; p != nil {
		return p.Value
	}
	return ""
}

func ec2AsRoot(env *devEnv, account, region string) *ec2.Client {
	return ec2.NewFromConfig(aws.Config{Region: region, BaseEndpoint: aws.String(env.SandboxEndpoint), Credentials: credentials.NewStaticCredentialsProvider(account, "sandbox", "")})
}

// setBehaviour changes the sandbox's timing or faults while it runs.
func setBehaviour(t *testing.T, env *devEnv, doc string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, env.SandboxEndpoint+"/_sandbox/behaviour", strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT /_sandbox/behaviour %s: %s", doc, resp.Status)
	}
}

func rowsByRegion(r *workflows.Report) map[string]workflows.TargetReport {
	out := map[string]workflows.TargetReport{}
	for _, tr := range r.Targets {
		out[tr.Region] = tr
	}
	return out
}

// TestRotateMovesEverythingToTheNewKeyAndRetiresTheOldOne: an account with
// amicrypt AMIs in two regions, published to an SSM parameter and a launch
// template, is rotated with 'amicrypt rotate --wait --json'. Afterwards, in
// each region, no live amicrypt AMI or snapshot and no published pointer
// refers to the old key, the alias names the new key (tagged as the old one's
// successor), every new AMI was proven to boot under it, the old images are
// gone (retention grace 0s) and the old key is disabled, not yet deleted.
func TestRotateMovesEverythingToTheNewKeyAndRetiresTheOldOne(t *testing.T) {
	env := startE2E(t, world.Default())
	path, cfg := rotationConfig(t, "  - {account: \"222222222222\", name: payments-prod}\n")
	pipelineFirst(t, env, cfg)
	before := sandboxState(t, env)
	oldKeys, oldImages := map[string]string{}, map[string]string{}
	for _, region := range []string{"us-east-1", "eu-west-1"} {
		oldKeys[region] = aliasKey(before, "222222222222", region).ARN
		oldImages[region] = parameterValue(before.Accounts["222222222222"].Regions[region])
		if oldImages[region] == "" || templateImage(before.Accounts["222222222222"].Regions[region]) != oldImages[region] {
			t.Fatalf("%s: the pipeline published nothing to rotate", region)
		}
	}

	code, stdout, stderr := runCLI(env, "rotate", "--config", path, "--account", "222222222222", "--reason", "leaked", "--operator", "e2e", "--wait", "--json")
	if code != 0 {
		t.Fatalf("rotate: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	r := decodeReport(t, stdout, stderr)
	if r.Kind != workflows.KindRotation || r.Reason != "leaked" || r.Operator != "e2e" || !strings.HasPrefix(r.RunID, "rotation-222222222222-") || len(r.Targets) != 2 {
		t.Fatalf("report = %+v", r)
	}
	st := sandboxState(t, env)
	for region, tr := range rowsByRegion(r) {
		reg := st.Accounts["222222222222"].Regions[region]
		old := oldKeys[region]
		if tr.Status != workflows.StatusSucceeded || tr.OldKeyARN != old || tr.KeyARN == "" || tr.KeyARN == old || !tr.AliasMoved {
			t.Errorf("%s: row %+v (old key %s)", region, tr, old)
			continue
		}
		if k := aliasKey(st, "222222222222", region); k == nil || k.ARN != tr.KeyARN {
			t.Errorf("%s: the alias names %v, want the new key %s", region, k, tr.KeyARN)
		} else if k.Tags[activities.TagPredecessor] != old || !k.RotationEnabled {
			t.Errorf("%s: the new key is not tagged as %s's successor, or rotation is off: %v", region, old, k.Tags)
		}
		if left := nothingOnKey(st, "222222222222", region, old); len(left) > 0 {
			t.Errorf("%s: still on the old key: %s", region, strings.Join(left, "; "))
		}
		if len(tr.Images) != 1 || tr.Images[0].OldImageID != oldImages[region] || tr.Images[0].Status != "proven" || tr.Images[0].Boot.Result != activities.BootInService {
			t.Errorf("%s: images %+v, want %s re-encrypted and proven", region, tr.Images, oldImages[region])
			continue
		}
		newImage := tr.Images[0].NewImageID
		im := reg.Images[newImage]
		if im == nil || !live(im) || im.Tags[activities.TagProven] != "true" {
			t.Errorf("%s: the new image %s is not live and proven: %+v", region, newImage, im)
		} else if ks := imageKeys(im); len(ks) == 0 || ks[0] != tr.KeyARN {
			t.Errorf("%s: the new image's snapshots are under %v, want %s", region, ks, tr.KeyARN)
		}
		if got := parameterValue(reg); got != newImage {
			t.Errorf("%s: %s = %s, want %s", region, rotParam, got, newImage)
		}
		if got := templateImage(reg); got != newImage {
			t.Errorf("%s: %s's default version is on %s, want %s", region, rotTemplate, got, newImage)
		}
		if len(tr.Published) != 2 || len(tr.Deregistered) != 1 || tr.Deregistered[0] != oldImages[region] {
			t.Errorf("%s: published %v, deregistered %v", region, tr.Published, tr.Deregistered)
		}
		// The rotation only disables the old key (reversible); its
		// deletion is a later sweep's, once it stayed disabled and untried.
		k := keyByARN(st, "222222222222", region, old)
		if k == nil || k.State != string(kmstypes.KeyStateDisabled) || k.Tags[activities.TagSuccessor] != tr.KeyARN || k.Tags[activities.TagKeyDisabledAt] == "" {
			t.Errorf("%s: the old key is not disabled, tagged with its successor and when: %+v", region, k)
		}
		if len(tr.OldKeys) != 1 || tr.OldKeys[0].State != string(kmstypes.KeyStateDisabled) || tr.OldKeys[0].DeletionDate != nil {
			t.Errorf("%s: old keys reported %+v", region, tr.OldKeys)
		}
	}

	// The human-readable report and 'status' tell the same story.
	code, stdout, stderr = runCLI(env, "status", workflows.RotationWorkflowID("222222222222"))
	if code != 0 {
		t.Fatalf("status: exit %d\n%s\n%s", code, stdout, stderr)
	}
	mustContain(t, stdout, "rotation "+r.RunID+" (reason leaked, by e2e)", "(alias moved)", "Disabled", "enable-key", "boot InService", "ssm:"+rotParam, "2 targets: 2 succeeded")
}

// TestRotateKeepsAnOldKeyAnInUseVolumeHolds: an instance launched from the
// old AMI keeps a volume under the old key. The rotation moves the alias and
// the pointers, keeps the old AMI (the instance uses it) and the old key
// Enabled, and names the volume and the instance.
func TestRotateKeepsAnOldKeyAnInUseVolumeHolds(t *testing.T) {
	env := startE2E(t, world.Default())
	path, cfg := rotationConfig(t, "  - {account: \"222222222222\", name: payments-prod, regions: [us-east-1]}\n")
	run := pipelineFirst(t, env, cfg)
	oldImage, oldKey := run.Targets[0].EncryptedImageID, run.Targets[0].KeyARN
	ctx := context.Background()
	out, err := ec2AsRoot(env, "222222222222", "us-east-1").RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId: aws.String(oldImage), InstanceType: ec2types.InstanceTypeT3Micro, MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
	})
	if err != nil {
		t.Fatalf("launching an instance from %s: %v", oldImage, err)
	}
	instance := aws.ToString(out.Instances[0].InstanceId)
	var volume string
	deadline := time.Now().Add(30 * time.Second)
	for volume == "" {
		for _, v := range sandboxState(t, env).Accounts["222222222222"].Regions["us-east-1"].Volumes {
			if v.InstanceID == instance && v.KMSKeyID == oldKey && v.State == "in-use" {
				volume = v.ID
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s has no in-use volume under %s", instance, oldKey)
		}
		time.Sleep(200 * time.Millisecond)
	}

	code, stdout, stderr := runCLI(env, "rotate", "--config", path, "--account", "222222222222", "--reason", "scheduled", "--wait", "--json")
	if code != 0 {
		t.Fatalf("rotate: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	tr := decodeReport(t, stdout, stderr).Targets[0]
	if tr.Status != workflows.StatusSucceeded || !tr.AliasMoved || len(tr.OldKeys) != 1 {
		t.Fatalf("row %+v", tr)
	}
	fate := tr.OldKeys[0]
	if fate.KeyARN != oldKey || fate.State != string(kmstypes.KeyStateEnabled) || fate.DeletionDate != nil || !strings.Contains(strings.Join(fate.HeldBy, " "), volume) {
		t.Errorf("old key's fate %+v: want %s Enabled, held by %s", fate, oldKey, volume)
	}
	st := sandboxState(t, env)
	if k := keyByARN(st, "222222222222", "us-east-1", oldKey); k == nil || k.State != string(kmstypes.KeyStateEnabled) {
		t.Errorf("the old key is not Enabled: %+v", k)
	}
	if k := aliasKey(st, "222222222222", "us-east-1"); k == nil || k.ARN != tr.KeyARN {
		t.Errorf("the alias did not move to %s", tr.KeyARN)
	}
	// The pointers moved all the same; the old AMI an instance runs from is
	// kept (never retired while used), and the report says what keeps it.
	if tr.Retirement == nil || len(tr.Retirement.Kept) != 1 || !strings.Contains(tr.Retirement.Kept[0], oldImage) || !strings.Contains(tr.Retirement.Kept[0], "instance "+instance) {
		t.Errorf("retirement %+v: want %s kept, used by instance %s", tr.Retirement, oldImage, instance)
	}
	if left := nothingOnKey(st, "222222222222", "us-east-1", oldKey); len(left) != 2 || !strings.Contains(strings.Join(left, " "), oldImage) {
		t.Errorf("still on the old key: %s; want only the kept image %s and its snapshot", strings.Join(left, "; "), oldImage)
	}
	code, stdout, _ = runCLI(env, "status", workflows.RotationWorkflowID("222222222222"))
	if code != 0 {
		t.Fatalf("status: exit %d", code)
	}
	mustContain(t, stdout, "still Enabled, held by", volume)
}

// TestRotateWhoseBootProofFailsLeavesTheAliasAndPointers: the new key's
// policy is broken while its copy is pending (only the root administration
// statement left), so the boot proof fails. The region fails at boot-proof,
// the exit status is 1, and the alias, the SSM parameter and the launch
// template stay where they were; the old key stays Enabled.
func TestRotateWhoseBootProofFailsLeavesTheAliasAndPointers(t *testing.T) {
	env := startE2E(t, world.Default())
	path, cfg := rotationConfig(t, "  - {account: \"222222222222\", name: payments-prod, regions: [us-east-1]}\n")
	run := pipelineFirst(t, env, cfg)
	oldImage, oldKey := run.Targets[0].EncryptedImageID, run.Targets[0].KeyARN
	before := sandboxState(t, env).Accounts["222222222222"].Regions["us-east-1"]
	paramBefore, templateBefore := parameterValue(before), templateImage(before)
	setBehaviour(t, env, `{"copy_seconds": 8}`)

	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, stdout, stderr := runCLI(env, "rotate", "--config", path, "--account", "222222222222", "--reason", "policy", "--wait", "--json")
		done <- result{code, stdout, stderr}
	}()
	// The successor key appears, then its copy is pending: break its policy.
	var newKey *sandbox.Key
	deadline := time.Now().Add(time.Minute)
	for {
		st := sandboxState(t, env)
		reg := st.Accounts["222222222222"].Regions["us-east-1"]
		for _, k := range reg.Keys {
			if k.Tags[activities.TagPredecessor] == oldKey {
				newKey = k
			}
		}
		if newKey != nil && pending(st, "222222222222", "us-east-1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no successor key of %s with a pending copy (found %v)", oldKey, newKey)
		}
		select {
		case r := <-done:
			t.Fatalf("the rotation ended before its copy was pending: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		case <-time.After(100 * time.Millisecond):
		}
	}
	// Asking again while it runs attaches to it: nothing new starts.
	code, stdout, stderr := runCLI(env, "rotate", "--config", path, "--account", "222222222222", "--reason", "leaked", "--json")
	var attached struct {
		RotationID string `json:"rotation_id"`
		WorkflowID string `json:"workflow_id"`
		Attached   bool   `json:"attached"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &attached) != nil || !attached.Attached || attached.WorkflowID != workflows.RotationWorkflowID("222222222222") ||
		newKey.Tags[activities.TagRotation] != attached.RotationID {
		t.Errorf("a second rotate while one runs: exit %d, %s (the running one is %s)\n%s", code, stdout, newKey.Tags[activities.TagRotation], stderr)
	}
	mustContain(t, stderr, "a rotation of account 222222222222 is already running", "reason policy", "attached to it, nothing new was started")

	kc := kmsAsRoot(env, "222222222222", "us-east-1")
	ctx := context.Background()
	got, err := kc.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(newKey.ID), PolicyName: aws.String("default")})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := policy.Parse([]byte(aws.ToString(got.Policy)))
	if err != nil {
		t.Fatal(err)
	}
	var rootOnly []policy.Statement
	for _, s := range doc.Statements {
		if s.Sid == policy.SidRootAdministration {
			rootOnly = append(rootOnly, s)
		}
	}
	if len(rootOnly) != 1 {
		t.Fatalf("the new key's policy has no %q statement: %s", policy.SidRootAdministration, aws.ToString(got.Policy))
	}
	doc.Statements = rootOnly
	b, _ := doc.Marshal()
	if _, err := kc.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(newKey.ID), PolicyName: aws.String("default"), Policy: aws.String(string(b))}); err != nil {
		t.Fatal(err)
	}

	var res result
	select {
	case res = <-done:
	case <-time.After(3 * time.Minute):
		t.Fatal("the rotation did not end within 3 minutes")
	}
	if res.code != 1 {
		t.Fatalf("rotate: want exit 1 (a region failed), got %d\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
	}
	mustContain(t, res.stderr, "did not succeed", "222222222222/us-east-1 failed")
	tr := decodeReport(t, res.stdout, res.stderr).Targets[0]
	if tr.Status != workflows.StatusFailed || tr.Step != workflows.StepBootProof || tr.Diagnosis == nil || tr.AliasMoved || len(tr.Published) != 0 {
		t.Fatalf("want failed at %s, alias not moved, nothing repointed; got %s at %s, %+v", workflows.StepBootProof, tr.Status, tr.Step, tr)
	}
	st := sandboxState(t, env)
	reg := st.Accounts["222222222222"].Regions["us-east-1"]
	if k := aliasKey(st, "222222222222", "us-east-1"); k == nil || k.ARN != oldKey || k.State != string(kmstypes.KeyStateEnabled) {
		t.Errorf("the alias should still name the old, enabled key %s: %+v", oldKey, k)
	}
	if got := parameterValue(reg); got != paramBefore || got != oldImage {
		t.Errorf("%s moved: %s, was %s", rotParam, got, paramBefore)
	}
	if got := templateImage(reg); got != templateBefore {
		t.Errorf("%s moved: %s, was %s", rotTemplate, got, templateBefore)
	}
	if im := reg.Images[oldImage]; im == nil || !live(im) {
		t.Errorf("the old, proven image %s was retired although the rotation failed", oldImage)
	}
	for _, im := range tr.Images {
		if n := reg.Images[im.NewImageID]; n != nil && live(n) && n.Tags[activities.TagProven] != "false" {
			t.Errorf("the copy %s that failed its boot proof is not tagged %s=false", im.NewImageID, activities.TagProven)
		}
	}
}

// sweepWorld is the default world and an account whose AMI ends up under a
// key other than its alias's.
func sweepWorld(t *testing.T) *world.World {
	t.Helper()
	extra := `accounts:
  - id: "555555555555"
    name: stale-images
    service_linked_roles: [AWSServiceRoleForAutoScaling]
    roles: [*target-role]
`
	text := strings.Replace(string(world.DefaultYAML()), "accounts:\n", extra, 1)
	w, err := world.Parse([]byte(text), "sweep-world.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestSweepRepairsRotatesAndReencryptsAndLeavesAHealthyAccountAlone: after a
// pipeline, three things go wrong in the sandbox: a managed key's policy
// loses a required statement (222222222222, us-east-1), a key is tagged
// amicrypt:retire (222222222222, eu-west-1), and an account's alias moves to
// another key, leaving its AMI under a stale key (555555555555). 'amicrypt
// sweep --wait --json' repairs the policy, rotates the retired key and
// re-encrypts the stale AMI; 333333333333, healthy, gets no write call.
func TestSweepRepairsRotatesAndReencryptsAndLeavesAHealthyAccountAlone(t *testing.T) {
	env := startE2E(t, sweepWorld(t))
	path, cfg := rotationConfig(t, `  - {account: "222222222222", name: payments-prod}
  - {account: "333333333333", name: analytics-dev}
  - {account: "555555555555", name: stale-images, regions: [us-east-1]}
`)
	pipelineFirst(t, env, cfg)
	ctx := context.Background()
	st := sandboxState(t, env)

	// 1. Drift: the service-linked role's statement goes.
	driftKey := aliasKey(st, "222222222222", "us-east-1")
	kc := kmsAsRoot(env, "222222222222", "us-east-1")
	doc, err := policy.Parse([]byte(driftKey.Policy))
	if err != nil {
		t.Fatal(err)
	}
	var kept []policy.Statement
	for _, s := range doc.Statements {
		if s.Sid != policy.SidServiceLinkedRoleUse {
			kept = append(kept, s)
		}
	}
	if len(kept) == len(doc.Statements) {
		t.Fatalf("the managed key's policy has no %q statement: %s", policy.SidServiceLinkedRoleUse, driftKey.Policy)
	}
	doc.Statements = kept
	b, _ := doc.Marshal()
	if _, err := kc.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(driftKey.ID), PolicyName: aws.String("default"), Policy: aws.String(string(b))}); err != nil {
		t.Fatal(err)
	}

	// 2. Retirement asked for by tag — by amicrypt's role: the key's
	// policy refuses amicrypt's tags to everyone else, the account's root
	// included.
	retireKey := aliasKey(st, "222222222222", "eu-west-1")
	retireTag := &kms.TagResourceInput{KeyId: aws.String(retireKey.ID),
		Tags: []kmstypes.Tag{{TagKey: aws.String(activities.TagRetire), TagValue: aws.String(activities.ReasonPolicy)}}}
	if _, err := kmsAsRoot(env, "222222222222", "eu-west-1").TagResource(ctx, retireTag); !activities.IsAccessDenied(err) {
		t.Fatalf("the account's root tagged amicrypt's key %s: %v", activities.TagRetire, err)
	}
	if _, err := kmsAsTargetRole(env, "222222222222", "eu-west-1").TagResource(ctx, retireTag); err != nil {
		t.Fatal(err)
	}

	// 3. A stale key: the alias moves to another managed key (made by the
	// account's root, rotation on), the AMI stays under the first one.
	staleKey := aliasKey(st, "555555555555", "us-east-1")
	var staleImage string
	for id, im := range st.Accounts["555555555555"].Regions["us-east-1"].Images {
		if live(im) && im.Tags[activities.TagSourceImage] != "" {
			staleImage = id
		}
	}
	kc5 := kmsAsRoot(env, "555555555555", "us-east-1")
	created, err := kc5.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("amicrypt: dedicated key of account 555555555555 for encrypted AMIs (alias/amicrypt)"),
		Tags: []kmstypes.Tag{{TagKey: aws.String(activities.TagManagedKey), TagValue: aws.String("true")}}})
	if err != nil {
		t.Fatal(err)
	}
	aliasNow := aws.ToString(created.KeyMetadata.Arn)
	if _, err := kc5.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: created.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	if _, err := kc5.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String(activities.DefaultKeyAlias), TargetKeyId: created.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}

	healthyBefore := sandbox.Writes(env.Sandbox.Counters(), "333333333333")
	code, stdout, stderr := runCLI(env, "sweep", "--config", path, "--wait", "--json")
	if code != 0 {
		t.Fatalf("sweep: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	r := decodeReport(t, stdout, stderr)
	if r.Kind != workflows.KindSweep || len(r.Keys) != 5 {
		t.Fatalf("report: kind %q, %d keys: %+v", r.Kind, len(r.Keys), r.Keys)
	}
	health := map[string]activities.KeyHealth{}
	for _, k := range r.Keys {
		health[k.Account+"/"+k.Region] = k
	}
	if h := health["222222222222/us-east-1"]; len(h.PolicyDrift) == 0 || !h.PolicyRepaired || h.Writes == 0 || h.Due != "" {
		t.Errorf("the drifted key: %+v", h)
	}
	if h := health["222222222222/eu-west-1"]; h.RetireTag != activities.ReasonPolicy || h.Due != activities.ReasonPolicy {
		t.Errorf("the key tagged for retirement: %+v", h)
	}
	if h := health["555555555555/us-east-1"]; !h.Rekey || len(h.StaleImages) != 1 || h.StaleImages[0] != staleImage || len(h.StaleKeys) != 1 || h.StaleKeys[0] != staleKey.ARN {
		t.Errorf("the stale image %s under %s: %+v", staleImage, staleKey.ARN, h)
	}
	for _, region := range []string{"us-east-1", "eu-west-1"} {
		if h := health["333333333333/"+region]; h.Writes != 0 || h.Error != nil || h.Due != "" || h.Rekey || h.PolicyRepaired || h.RotationRepaired {
			t.Errorf("the healthy account in %s: %+v", region, h)
		}
	}
	if got := sandbox.Writes(env.Sandbox.Counters(), "333333333333"); fmt.Sprint(got) != fmt.Sprint(healthyBefore) {
		t.Errorf("the healthy account got write calls during the sweep: before %v, after %v", healthyBefore, got)
	}
	wantRotations := []string{workflows.RotationWorkflowID("222222222222"), workflows.RotationWorkflowID("555555555555")}
	if fmt.Sprint(r.Rotations) != fmt.Sprint(wantRotations) {
		t.Errorf("rotations %v, want %v", r.Rotations, wantRotations)
	}
	rotated := map[string]bool{}
	for _, tr := range r.Targets {
		rotated[tr.Account] = true
		if tr.Status != workflows.StatusSucceeded {
			t.Errorf("rotation of %s/%s: %s %+v", tr.Account, tr.Region, tr.Status, tr.Diagnosis)
		}
	}
	// The rotations' rows, read from their reports, are the report's.
	if !rotated["222222222222"] || !rotated["555555555555"] || len(r.Targets) != r.Summary["total"] {
		t.Errorf("the sweep's report has %d rotation rows (summary %v) of accounts %v, want both rotations'", len(r.Targets), r.Summary, rotated)
	}

	after := sandboxState(t, env)
	// The drifted policy has the statement back, and the key is kept.
	if k := aliasKey(after, "222222222222", "us-east-1"); k.ARN != driftKey.ARN || !strings.Contains(k.Policy, policy.SidServiceLinkedRoleUse) {
		t.Errorf("us-east-1's key after the sweep: %s, policy %s", k.ARN, k.Policy)
	}
	// The retired key was rotated: a new key under the alias, the old one
	// disabled (its deletion is the next sweep's).
	if k := aliasKey(after, "222222222222", "eu-west-1"); k.ARN == retireKey.ARN || k.Tags[activities.TagPredecessor] != retireKey.ARN {
		t.Errorf("eu-west-1's alias after the sweep: %+v", k)
	}
	if k := keyByARN(after, "222222222222", "eu-west-1", retireKey.ARN); k.State != string(kmstypes.KeyStateDisabled) {
		t.Errorf("the retired key is %s, want Disabled", k.State)
	}
	if left := nothingOnKey(after, "222222222222", "eu-west-1", retireKey.ARN); len(left) > 0 {
		t.Errorf("still on the retired key: %s", strings.Join(left, "; "))
	}
	// The stale AMI is re-encrypted under the alias's key.
	if left := nothingOnKey(after, "555555555555", "us-east-1", staleKey.ARN); len(left) > 0 {
		t.Errorf("still on the stale key: %s", strings.Join(left, "; "))
	}
	if k := aliasKey(after, "555555555555", "us-east-1"); k.ARN != aliasNow {
		t.Errorf("the re-encryption moved 555555555555's alias to %s", k.ARN)
	}
	if p := parameterValue(after.Accounts["555555555555"].Regions["us-east-1"]); p == staleImage || after.Accounts["555555555555"].Regions["us-east-1"].Images[p] == nil ||
		imageKeys(after.Accounts["555555555555"].Regions["us-east-1"].Images[p])[0] != aliasNow {
		t.Errorf("%s in 555555555555 names %s, not an image under %s", rotParam, p, aliasNow)
	}
	// The second sweep finishes the retired key's retirement (retire_after
	// 0s: disabled long enough, nothing holds it, nothing tried it) and
	// does nothing else.
	code, stdout, stderr = runCLI(env, "sweep", "--config", path, "--wait", "--json")
	if code != 0 {
		t.Fatalf("second sweep: exit %d\n%s\n%s", code, stdout, stderr)
	}
	r2 := decodeReport(t, stdout, stderr)
	for _, k := range r2.Keys {
		if k.Account+"/"+k.Region == "222222222222/eu-west-1" {
			if len(k.OldKeys) != 1 || k.OldKeys[0].KeyARN != retireKey.ARN || k.OldKeys[0].State != string(kmstypes.KeyStatePendingDeletion) || k.Writes != 1 {
				t.Errorf("second sweep, the retired key: %+v", k)
			}
			continue
		}
		if k.Writes != 0 || k.Due != "" || k.Rekey {
			t.Errorf("second sweep, %s/%s: %+v", k.Account, k.Region, k)
		}
	}
	if k := keyByARN(sandboxState(t, env), "222222222222", "eu-west-1", retireKey.ARN); k.State != string(kmstypes.KeyStatePendingDeletion) || k.PendingWindowInDays != 7 {
		t.Errorf("after the second sweep the retired key is %s (window %d), want PendingDeletion in 7 days", k.State, k.PendingWindowInDays)
	}
	// A third finds nothing to do: no rotation, no write.
	code, stdout, stderr = runCLI(env, "sweep", "--config", path, "--wait", "--json")
	if code != 0 {
		t.Fatalf("third sweep: exit %d\n%s\n%s", code, stdout, stderr)
	}
	r2 = decodeReport(t, stdout, stderr)
	for _, k := range r2.Keys {
		if k.Writes != 0 || k.Due != "" || k.Rekey {
			t.Errorf("third sweep, %s/%s: %+v", k.Account, k.Region, k)
		}
	}
	if len(r2.Rotations) != 0 {
		t.Errorf("second sweep started rotations: %v", r2.Rotations)
	}
}

// TestScheduleCreateDescribePauseTriggerDelete drives the sweep's Temporal
// Schedule through the command line on the embedded server: create (then
// create again: updated), describe (the interval and the next run), pause
// and unpause with a note, a run triggered now that sweeps every target, and
// delete — after which the schedule is a clear error.
func TestScheduleCreateDescribePauseTriggerDelete(t *testing.T) {
	env := startE2E(t, world.Default())
	path, _ := rotationConfig(t, "  - {account: \"222222222222\", name: payments-prod}\n  - {account: \"333333333333\", name: analytics-dev}\n")

	code, stdout, stderr := runCLI(env, "schedule", "create", "--config", path)
	if code != 0 {
		t.Fatalf("create: exit %d\n%s\n%s", code, stdout, stderr)
	}
	mustContain(t, stdout, "created schedule amicrypt-sweep: a sweep of 4 targets every 24h", "next runs")
	code, stdout, stderr = runCLI(env, "schedule", "create", "--config", path, "--every", "12h")
	if code != 0 {
		t.Fatalf("create again: exit %d\n%s\n%s", code, stdout, stderr)
	}
	mustContain(t, stdout, "updated schedule amicrypt-sweep: a sweep of 4 targets every 12h")

	describe := func() scheduleDescription {
		t.Helper()
		code, stdout, stderr := runCLI(env, "schedule", "describe", "--json")
		if code != 0 {
			t.Fatalf("describe: exit %d\n%s\n%s", code, stdout, stderr)
		}
		var d scheduleDescription
		if err := json.Unmarshal([]byte(stdout), &d); err != nil {
			t.Fatalf("describe --json: %v\n%s", err, stdout)
		}
		return d
	}
	d := describe()
	if d.ID != workflows.ScheduleID || d.Paused || d.EveryText != "12h" || d.Overlap != "skip" || d.Targets != 4 || d.TaskQueue != env.TaskQueue || len(d.NextRuns) == 0 {
		t.Fatalf("describe: %+v", d)
	}
	if next := d.NextRuns[0]; next.Before(time.Now()) || next.After(time.Now().Add(12*time.Hour+time.Minute)) {
		t.Errorf("next run %s is not within the next 12h", next)
	}

	code, stdout, stderr = runCLI(env, "schedule", "pause", "--config", path, "--note", "change freeze")
	if code != 0 {
		t.Fatalf("pause: exit %d\n%s\n%s", code, stdout, stderr)
	}
	mustContain(t, stdout, "paused schedule amicrypt-sweep", "paused (change freeze)", "none while paused")
	if d := describe(); !d.Paused || d.Note != "change freeze" {
		t.Errorf("after pause: %+v", d)
	}
	if code, stdout, stderr = runCLI(env, "schedule", "unpause"); code != 0 {
		t.Fatalf("unpause: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if d := describe(); d.Paused {
		t.Errorf("after unpause: %+v", d)
	}

	// Run it now, as the interval would, and follow the sweep it starts.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := env.Client.ScheduleClient().GetHandle(ctx, workflows.ScheduleID).Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	var sweepID string
	for sweepID == "" {
		if d := describe(); len(d.RecentSweeps) > 0 {
			sweepID = d.RecentSweeps[0].WorkflowID
		}
		if ctx.Err() != nil {
			t.Fatal("the triggered schedule started no sweep")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.HasPrefix(sweepID, workflows.ScheduleID+"-") {
		t.Errorf("the sweep's workflow id %s is not the schedule's id and a time", sweepID)
	}
	var r workflows.Report
	if err := env.Client.GetWorkflow(ctx, sweepID, "").Get(ctx, &r); err != nil {
		t.Fatalf("the scheduled sweep %s: %v", sweepID, err)
	}
	// Its keys are its batches' (as status reads them).
	if err := pipelinerun.Complete(ctx, env.Client, &r); err != nil {
		t.Fatalf("the scheduled sweep %s's keys: %v", sweepID, err)
	}
	if r.Kind != workflows.KindSweep || len(r.Keys) != 4 || r.Operator != "schedule "+workflows.ScheduleID {
		t.Errorf("the scheduled sweep's report: %+v", r)
	}
	code, stdout, _ = runCLI(env, "status", sweepID)
	if code != 0 {
		t.Errorf("status %s: exit %d\n%s", sweepID, code, stdout)
	}
	mustContain(t, stdout, "sweep "+sweepID+" (by schedule amicrypt-sweep)", "4 keys:")
	if d := describe(); d.Actions != 1 || len(d.RecentSweeps) != 1 || d.RecentSweeps[0].WorkflowID != sweepID {
		t.Errorf("after the run: %+v", d)
	}

	if code, stdout, stderr = runCLI(env, "schedule", "delete"); code != 0 || !strings.Contains(stdout, "deleted schedule amicrypt-sweep") {
		t.Fatalf("delete: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, sub := range []string{"describe", "pause", "unpause", "delete"} {
		code, _, stderr := runCLI(env, "schedule", sub)
		if code != 1 || !strings.Contains(stderr, "no schedule amicrypt-sweep in this namespace: create it with 'amicrypt schedule create --config FILE'") {
			t.Errorf("%s of a deleted schedule: exit %d, %s", sub, code, stderr)
		}
	}
}

// TestDryRunsChangeNothingAndListWhatTheRealCommandsDo: 'rotate --dry-run'
// and 'sweep --dry-run' make no mutating AWS call in the target account (the
// sandbox's counters), and the actions they list — create the successor,
// re-encrypt, repoint, move the alias, disable and deregister the old image,
// disable the old key; then schedule its deletion — are exactly what the
// real commands then do.
func TestDryRunsChangeNothingAndListWhatTheRealCommandsDo(t *testing.T) {
	env := startE2E(t, world.Default())
	path, cfg := rotationConfig(t, "  - {account: \"222222222222\", name: payments-prod, regions: [us-east-1]}\n")
	pipelineFirst(t, env, cfg)

	dry := func(args ...string) *workflows.Report {
		t.Helper()
		before := sandbox.Writes(env.Sandbox.Counters(), "222222222222")
		code, stdout, stderr := runCLI(env, append(args, "--dry-run", "--json")...)
		if code != 0 {
			t.Fatalf("%s --dry-run: exit %d\nstdout: %s\nstderr: %s", args[0], code, stdout, stderr)
		}
		if after := sandbox.Writes(env.Sandbox.Counters(), "222222222222"); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("%s --dry-run made mutating calls: before %v, after %v", args[0], before, after)
		}
		r := decodeReport(t, stdout, stderr)
		if !r.DryRun {
			t.Errorf("%s --dry-run: the report is not marked as a dry run", args[0])
		}
		return r
	}
	real := func(args ...string) *workflows.Report {
		t.Helper()
		code, stdout, stderr := runCLI(env, append(args, "--wait", "--json")...)
		if code != 0 {
			t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", args[0], code, stdout, stderr)
		}
		return decodeReport(t, stdout, stderr)
	}

	rotate := []string{"rotate", "--config", path, "--account", "222222222222", "--reason", "scheduled"}
	planned := dry(rotate...).Actions()
	for _, want := range []string{activities.ActCreate + " key", activities.ActReencrypt, activities.ActRepoint + " ssm:" + rotParam,
		activities.ActRepoint + " launch template " + rotTemplate, activities.ActMoveAlias, activities.ActDisableImage, activities.ActDeregisterImage, activities.ActDisableKey} {
		found := false
		for _, a := range planned {
			found = found || strings.HasPrefix(a, want)
		}
		if !found {
			t.Errorf("the rotation's dry run lists no %q: %v", want, planned)
		}
	}
	// The dry run's successor does not exist yet: the real one is named
	// after it is made; the rest must be the same actions on the same
	// resources.
	did := real(rotate...).Actions()
	if fmt.Sprint(planned) != fmt.Sprint(did) {
		t.Errorf("rotate --dry-run listed\n  %v\nthe rotation did\n  %v", strings.Join(planned, "\n  "), strings.Join(did, "\n  "))
	}

	sweep := []string{"sweep", "--config", path}
	planned = dry(sweep...).Actions()
	if len(planned) != 1 || !strings.HasPrefix(planned[0], activities.ActScheduleKeyDeletion+" ") {
		t.Errorf("the sweep's dry run: %v, want the old key's deletion scheduled", planned)
	}
	if did := real(sweep...).Actions(); fmt.Sprint(planned) != fmt.Sprint(did) {
		t.Errorf("sweep --dry-run listed %v, the sweep did %v", planned, did)
	}
}
