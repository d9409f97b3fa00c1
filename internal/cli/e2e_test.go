package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/rs/zerolog"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/config"
	"github.com/amicrypt/amicrypt/internal/policy"
	"github.com/amicrypt/amicrypt/internal/sandbox"
	"github.com/amicrypt/amicrypt/internal/sandbox/world"
	"github.com/amicrypt/amicrypt/workflows"
)

// startE2E starts Temporal, the sandbox on a world file and a worker.
func startE2E(t *testing.T, w *world.World) *devEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: starts Temporal, the sandbox and a worker")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env, err := startDev(ctx, devOptions{World: w, StateDir: t.TempDir(), SandboxAddr: "127.0.0.1:0", TemporalAddr: "127.0.0.1:0", Logger: zerolog.Nop()})
	if err != nil {
		t.Fatalf("starting the dev environment: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	return env
}

func loadWorldFile(t *testing.T, path string) *world.World {
	t.Helper()
	w, err := world.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func pipelineFor(t *testing.T, env *devEnv, cfg *config.Config) workflows.PipelineInput {
	t.Helper()
	builder, src, targets, err := cfg.Expand(builderSources(env.World, env.BuilderAccount))
	if err != nil {
		t.Fatal(err)
	}
	in := workflows.PipelineInput{Builder: builder, Sources: src, Targets: targets, InFlight: cfg.Concurrency.InFlight, PerAccountRegion: cfg.Concurrency.PerAccountRegion}
	in.RunID = runIDFor(in)
	return in
}

func runToReport(t *testing.T, env *devEnv, in workflows.PipelineInput) *workflows.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r, err := runAndFollow(ctx, env, in, io.Discard)
	if err != nil {
		t.Fatalf("run %s: %v", in.RunID, err)
	}
	return r
}

func outcome(t workflows.TargetReport) string {
	if t.Diagnosis != nil {
		return t.Diagnosis.Code
	}
	return t.Status
}

// sandboxState reads the sandbox's whole state through its admin endpoint.
func sandboxState(t *testing.T, env *devEnv) sandbox.State {
	t.Helper()
	resp, err := http.Get(env.SandboxEndpoint + "/_sandbox/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st sandbox.State
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func kmsAsRoot(env *devEnv, account, region string) *kms.Client {
	return kms.NewFromConfig(aws.Config{Region: region, BaseEndpoint: aws.String(env.SandboxEndpoint), Credentials: credentials.NewStaticCredentialsProvider(account, "sandbox", "")})
}

// kmsAsTargetRole is KMS as amicrypt's role in account of the default
// world: the builder's root assumes amicrypt-pipeline, which assumes
// amicrypt-target with the ExternalId.
func kmsAsTargetRole(env *devEnv, account, region string) *kms.Client {
	base := aws.Config{Region: region, BaseEndpoint: aws.String(env.SandboxEndpoint), Credentials: credentials.NewStaticCredentialsProvider("111111111111", "sandbox", "")}
	pipeline := base.Copy()
	pipeline.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(base), "arn:aws:iam::111111111111:role/amicrypt-pipeline"))
	target := base.Copy()
	target.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(pipeline), "arn:aws:iam::"+account+":role/amicrypt-target",
		func(o *stscreds.AssumeRoleOptions) { o.ExternalID = aws.String("amicrypt") }))
	return kms.NewFromConfig(target)
}

// TestPipelineDiagnosesEveryFailureAndReplayFixesThem is the end-to-end story of
// the pipeline on a multi-account, multi-region world: F1, F2, F3, F5, F6 and F7
// targets each fail with their diagnosis while the others succeed; once the
// causes are fixed in the sandbox (and the ExternalId in the config), a replay
// with its default selection (the targets that did not succeed) makes them
// succeed without a single AWS call, of any action, reaching the targets that
// had already succeeded — 444444444444/eu-west-1 among them, in the account of
// a failed target.
func TestPipelineDiagnosesEveryFailureAndReplayFixesThem(t *testing.T) {
	env := startE2E(t, loadWorldFile(t, "testdata/e2e/world.yaml"))
	cfg, err := config.Load("testdata/e2e/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	in := pipelineFor(t, env, cfg)
	report := runToReport(t, env, in)

	want := map[string]string{
		"222222222222/us-east-1": "succeeded", "222222222222/eu-west-1": "succeeded",
		"333333333333/us-east-1": "succeeded", "333333333333/eu-west-1": "succeeded",
		"444444444444/us-east-1": activities.F2, "444444444444/eu-west-1": "succeeded", "555555555555/us-east-1": activities.F3,
		"666666666666/us-east-1": activities.F5, "777777777777/us-east-1": activities.F6,
		"999999999999/us-east-1": activities.F7, "121212121212/ap-southeast-2": activities.F1,
	}
	got := map[string]workflows.TargetReport{}
	for _, tr := range report.Targets {
		got[tr.Account+"/"+tr.Region] = tr
	}
	for id, w := range want {
		tr, ok := got[id]
		if !ok {
			t.Errorf("%s: missing from the report", id)
			continue
		}
		if outcome(tr) != w {
			t.Errorf("%s: want %s, got %s (%+v)", id, w, outcome(tr), tr.Diagnosis)
		}
		if tr.Diagnosis != nil && (tr.Diagnosis.Cause == "" || tr.Diagnosis.Fix == "") {
			t.Errorf("%s: diagnosis without cause or fix: %+v", id, tr.Diagnosis)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	for _, tr := range report.Targets {
		if tr.Status == workflows.StatusSucceeded && (!tr.SnapshotsEncrypted || tr.Boot.Result != activities.BootInService || tr.EncryptedImageID == "" || tr.KeyARN == "") {
			t.Errorf("%s/%s succeeded without its proof: %+v", tr.Account, tr.Region, tr)
		}
	}
	// F2's fix names the service-linked role; F3's the suffix role; F6's the CreateGrant call.
	mustContain(t, got["444444444444/us-east-1"].Diagnosis.Fix, "AWSServiceRoleForAutoScaling", "kms:CreateGrant")
	mustContain(t, got["555555555555/us-east-1"].Diagnosis.Fix, "AWSServiceRoleForAutoScaling_CMK")
	mustContain(t, got["777777777777/us-east-1"].Diagnosis.Fix, "create-grant", "888888888888")
	mustContain(t, got["999999999999/us-east-1"].Diagnosis.Cause, "arn:aws:iam::999999999999:role/amicrypt-target")
	mustContain(t, got["121212121212/ap-southeast-2"].Diagnosis.Cause, "AWS managed")

	// Nothing temporary is left: no group, no template, no share on the sources.
	assertNothingLeftBehind(t, env)
	callsBefore := callsBy(env)

	// Fix the causes, as their diagnoses say.
	ctx := context.Background()
	addStatements(t, env, "444444444444", "us-east-1", activities.Target{Account: "444444444444", Region: "us-east-1"}.ServiceLinkedRoleARN())
	addStatements(t, env, "555555555555", "us-east-1", activities.Target{Account: "555555555555", Region: "us-east-1", ServiceLinkedRoleSuffix: "CMK"}.ServiceLinkedRoleARN())
	if _, err := kmsAsRoot(env, "666666666666", "us-east-1").EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(keyIDOf(t, env, "666666666666", "us-east-1", "alias/amicrypt"))}); err != nil {
		t.Fatal(err)
	}
	// F6 (seed 003, case 2, step 2): the key's owner lets the target account use it and create grants.
	owner := kmsAsRoot(env, "888888888888", "us-east-1")
	keyID := "8e8e8e8e-0000-4000-8000-000000000006"
	pol, err := owner.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(keyID), PolicyName: aws.String("default")})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := policy.Parse([]byte(aws.ToString(pol.Policy)))
	if err != nil {
		t.Fatal(err)
	}
	extra, err := policy.Parse([]byte(`{"Version":"2012-10-17","Statement":[
	 {"Sid":"Allow use of the key","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::777777777777:root"]},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"},
	 {"Sid":"Allow attachment of persistent resources","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::777777777777:root"]},"Action":["kms:CreateGrant"],"Resource":"*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	doc.Statements = append(doc.Statements, extra.Statements...)
	b, _ := doc.Marshal()
	if _, err := owner.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(keyID), PolicyName: aws.String("default"), Policy: aws.String(string(b))}); err != nil {
		t.Fatal(err)
	}
	// F7: the corrected config carries the rotated ExternalId.
	raw, err := os.ReadFile("testdata/e2e/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fixedText := strings.Replace(string(raw), `{account: "999999999999", name: f7-trust}`, `{account: "999999999999", name: f7-trust, external_id: rotated-e2e}`, 1)
	fixedPath := filepath.Join(t.TempDir(), "fixed.yaml")
	if err := os.WriteFile(fixedPath, []byte(fixedText), 0o644); err != nil {
		t.Fatal(err)
	}
	fixed, err := config.Load(fixedPath)
	if err != nil {
		t.Fatal(err)
	}
	// Replay's default selection: every target that did not succeed. F1
	// cannot be fixed without a new build, so that one fails again.
	replay, err := replayInput(ctx, env.Client, report.RunID, fixed, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(replay.Targets); got != 6 {
		t.Fatalf("replay targets: want the 6 that did not succeed, got %d: %+v", got, replay.Targets)
	}
	second := runToReport(t, env, replay)
	for _, tr := range second.Targets {
		want := workflows.StatusSucceeded
		if tr.Account == "121212121212" {
			want = workflows.StatusFailed
		}
		if tr.Status != want {
			t.Errorf("after the fix %s/%s: want %s, got %s %+v", tr.Account, tr.Region, want, tr.Status, tr.Diagnosis)
		}
	}
	// The succeeded targets of the first run saw no call at all, of any
	// action, in their account and region.
	after := callsBy(env)
	for _, tr := range report.Targets {
		if tr.Status != workflows.StatusSucceeded {
			continue
		}
		prefix := tr.Account + "/" + tr.Region + "/"
		for key, n := range after {
			if strings.HasPrefix(key, prefix) && n != callsBefore[key] {
				t.Errorf("%s/%s had succeeded, yet the replay called %s there (%d → %d)", tr.Account, tr.Region, strings.TrimPrefix(key, prefix), callsBefore[key], n)
			}
		}
	}
	assertNothingLeftBehind(t, env)
	// One encrypted image per succeeded target, and only one.
	st := sandboxState(t, env)
	for _, tr := range append(report.Targets, second.Targets...) {
		if tr.Status != workflows.StatusSucceeded {
			continue
		}
		n := 0
		for _, im := range st.Accounts[tr.Account].Regions[tr.Region].Images {
			if im.Tags[activities.TagSourceImage] != "" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s/%s: want exactly one amicrypt image, found %d", tr.Account, tr.Region, n)
		}
	}
}

// callsBy is every sandbox call counter, by "account/region/service:action"
// of the calling account.
func callsBy(env *devEnv) map[string]int64 {
	out := map[string]int64{}
	for _, r := range env.Sandbox.Counters() {
		out[r.Account+"/"+r.Region+"/"+r.Action] = r.Calls
	}
	return out
}

// TestBootProofCatchesAKeyPolicyBrokenDuringTheCopy: the evaluator's prediction
// passed, then the key policy was broken while the copy was pending; the Auto
// Scaling group's failed launch is the ground truth (F2), and the group and the
// launch template are deleted all the same.
func TestBootProofCatchesAKeyPolicyBrokenDuringTheCopy(t *testing.T) {
	w, err := world.Parse([]byte(strings.Replace(string(world.DefaultYAML()), "copy_seconds: 3 ", "copy_seconds: 4 ", 1)), "slow-copy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env := startE2E(t, w)
	cfg, err := config.Parse(config.Example(), "example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	in := pipelineFor(t, env, cfg)
	var only []activities.Target
	for _, tg := range in.Targets {
		if tg.ID() == "222222222222/us-east-1" {
			only = append(only, tg)
		}
	}
	in.Targets = only
	in.RunID = runIDFor(in)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, _, err := startPipeline(ctx, env.Client, env.TaskQueue, in)
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the copy is pending, then break the key policy: root only.
	deadline := time.Now().Add(time.Minute)
	for {
		if pending(sandboxState(t, env), "222222222222", "us-east-1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the copy never became pending")
		}
		time.Sleep(100 * time.Millisecond)
	}
	keyID := keyIDOf(t, env, "222222222222", "us-east-1", "alias/amicrypt")
	rootOnly := `{"Version":"2012-10-17","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":"kms:*","Resource":"*"}]}`
	if _, err := kmsAsRoot(env, "222222222222", "us-east-1").PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(keyID), PolicyName: aws.String("default"), Policy: aws.String(rootOnly)}); err != nil {
		t.Fatal(err)
	}
	report, err := followRun(ctx, env.Client, run, io.Discard, true)
	if err != nil {
		t.Fatal(err)
	}
	tr := report.Targets[0]
	if tr.Status != workflows.StatusFailed || tr.Diagnosis == nil || tr.Diagnosis.Code != activities.F2 {
		t.Fatalf("want failed F2 from the boot proof, got %s %+v", tr.Status, tr.Diagnosis)
	}
	mustContain(t, tr.Boot.Message, "Client.InternalError: Client error on launch")
	if len(tr.Published) != 0 {
		t.Errorf("an unproven image was published: %v", tr.Published)
	}
	st := sandboxState(t, env)
	im := st.Accounts["222222222222"].Regions["us-east-1"].Images[tr.EncryptedImageID]
	if im == nil || im.Tags[activities.TagProven] != "false" {
		t.Errorf("the unproven image should be kept and tagged %s=false: %+v", activities.TagProven, im)
	}
	assertNothingLeftBehind(t, env)
}

func pending(st sandbox.State, account, region string) bool {
	for _, im := range st.Accounts[account].Regions[region].Images {
		if im.State == "pending" {
			return true
		}
	}
	return false
}

func keyIDOf(t *testing.T, env *devEnv, account, region, alias string) string {
	t.Helper()
	d, err := kmsAsRoot(env, account, region).DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: aws.String(alias)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(d.KeyMetadata.KeyId)
}

// addStatements adds what the evaluator finds missing for slrARN to a key's policy.
func addStatements(t *testing.T, env *devEnv, account, region, slrARN string) {
	t.Helper()
	if _, _, err := addMissingStatementsFor(context.Background(), env.SandboxEndpoint, account, region, "", slrARN); err != nil {
		t.Fatalf("fixing %s/%s: %v", account, region, err)
	}
}

// assertNothingLeftBehind: no Auto Scaling group or launch template in any
// account, and no launch or create-volume permission left on the builder's images.
func assertNothingLeftBehind(t *testing.T, env *devEnv) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := sandboxState(t, env)
		var left []string
		for id, a := range st.Accounts {
			for rn, r := range a.Regions {
				for name := range r.Groups {
					left = append(left, id+"/"+rn+" group "+name)
				}
				for lt := range r.LaunchTemplates {
					left = append(left, id+"/"+rn+" launch template "+lt)
				}
				if id != env.BuilderAccount {
					continue
				}
				for imID, im := range r.Images {
					if len(im.LaunchPermissions) > 0 {
						left = append(left, "share of "+imID+" with "+strings.Join(im.LaunchPermissions, ","))
					}
				}
				for snID, sn := range r.Snapshots {
					if len(sn.CreateVolumePermissions) > 0 {
						left = append(left, "volume permission of "+snID+" for "+strings.Join(sn.CreateVolumePermissions, ","))
					}
				}
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("left behind: %s", strings.Join(left, "; "))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func mustContain(t *testing.T, s string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Errorf("%q lacks %q", s, p)
		}
	}
}
