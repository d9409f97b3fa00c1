package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/config"
	"github.com/amicrypt/amicrypt/internal/pipelinerun"
	"github.com/amicrypt/amicrypt/internal/policy"
	"github.com/amicrypt/amicrypt/internal/sandbox"
	"github.com/amicrypt/amicrypt/internal/sandbox/world"
	"github.com/amicrypt/amicrypt/workflows"
)

type demoFlags struct {
	stateDir string
	uiAddr   string
	keep     bool
}

func newDemoCmd(g *globalFlags) *cobra.Command {
	f := &demoFlags{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole story locally: a pipeline over the default world, a diagnosed failure, its fix, a replay and a key rotation",
		Long: `What 'make demo' runs. In one process: the embedded Temporal server, the AWS sandbox
with the default world ('amicrypt sandbox default-world') and a worker acting in
the builder account. Then one pipeline copies the builder's AMIs into every
target account and region, encrypted under each account's own key, and proves
each copy boots. The target whose key policy leaves out the Auto Scaling
service-linked role fails with diagnosis F2 and the statements to add; the demo
adds them to that key's policy in the sandbox, replays the failed target and
shows it succeed. Last, payments-prod's key is rotated (reason scheduled): its
AMIs are re-encrypted under a new key and proven to boot, the alias moves, and
the old key is scheduled for deletion.

Exit status 0 only if every outcome is the one the world implies.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("log-level") && os.Getenv("AMICRYPT_LOG_LEVEL") == "" {
				// The story is the output; the components' own logs would drown
				// it. A failure still ends the demo with its error.
				log = log.Level(zerolog.Disabled)
			}
			return runDemo(cmd.Context(), cmd.OutOrStdout(), f, log)
		},
	}
	cmd.Flags().StringVar(&f.stateDir, "state-dir", "", "keep Temporal's and the sandbox's state here (default: a temporary directory, removed afterwards)")
	cmd.Flags().StringVar(&f.uiAddr, "ui-addr", "", "serve Temporal's web UI on this address (e.g. 127.0.0.1:8233) to watch the runs")
	cmd.Flags().BoolVar(&f.keep, "keep-running", false, "keep Temporal, the sandbox and the worker running after the story, until Ctrl-C")
	return cmd
}

func runDemo(ctx context.Context, out io.Writer, f *demoFlags, log zerolog.Logger) error {
	stateDir := f.stateDir
	if stateDir == "" {
		dir, err := os.MkdirTemp("", "amicrypt-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		stateDir = dir
	}
	w := world.Default()
	step := func(format string, args ...any) { fmt.Fprintf(out, "\n== "+format+"\n", args...) }

	step("Starting Temporal, the AWS sandbox (default world) and a worker")
	start := time.Now()
	env, err := startDev(ctx, devOptions{World: w, StateDir: stateDir, SandboxAddr: "127.0.0.1:0", TemporalAddr: "127.0.0.1:0", UIAddr: f.uiAddr, Logger: log})
	if err != nil {
		return err
	}
	defer env.Stop()
	fmt.Fprintf(out, "Temporal %s, AWS sandbox %s, worker acting as %s (%s)\n", env.Temporal.FrontendAddress(), env.SandboxEndpoint, env.WorkerIdentity, time.Since(start).Round(time.Millisecond))
	if ui := env.Temporal.UIAddress(); ui != "" {
		fmt.Fprintf(out, "Temporal UI: http://%s\n", ui)
	}

	cfg, err := config.Parse(config.Example(), "example.yaml")
	if err != nil {
		return fmt.Errorf("the built-in example config: %w", err)
	}
	sources := builderSources(w, env.BuilderAccount)
	builder, src, targets, err := cfg.Expand(sources)
	if err != nil {
		return fmt.Errorf("the built-in example config does not fit the default world: %w", err)
	}
	expected := expectedOutcomes(w, targets)

	in := workflows.PipelineInput{Builder: builder, Sources: src, Targets: targets, InFlight: cfg.Concurrency.InFlight, PerAccountRegion: cfg.Concurrency.PerAccountRegion}
	in.RunID = runIDFor(in)
	step("Plan %s: %d targets checked with reads only, before anything is shared, copied or created", in.RunID, len(targets))
	if err := demoPlan(ctx, env, in, expected, out); err != nil {
		return err
	}
	step("Run %s: %d targets from %s", in.RunID, len(targets), describeSources(sources))
	report, err := runAndFollow(ctx, env, in, out)
	if err != nil {
		return err
	}
	if err := printReport(out, report, false); err != nil {
		return err
	}
	if err := checkOutcomes(report, expected); err != nil {
		return &exitError{code: 1, err: fmt.Errorf("the first run did not end as the default world implies: %w", err)}
	}
	copiesBefore := copyCalls(env, report)

	step("Fixing what the diagnosis names, in the sandbox")
	for _, t := range report.Targets {
		if t.Diagnosis == nil {
			continue
		}
		slr := activities.Target{Account: t.Account, Region: t.Region}.ServiceLinkedRoleARN()
		key, added, err := addMissingStatementsFor(ctx, env.SandboxEndpoint, t.Account, t.Region, t.KeyARN, slr)
		if err != nil {
			return fmt.Errorf("applying the fix for %s/%s: %w", t.Account, t.Region, err)
		}
		fmt.Fprintf(out, "%s %s: put-key-policy on %s, adding %s\n", t.Account, t.Region, key, strings.Join(added, ", "))
	}

	replay, err := replayInput(ctx, env.Client, report.RunID, nil, nil)
	if err != nil {
		return err
	}
	step("Replay %s of run %s: only the %d failed target(s)", replay.RunID, report.RunID, len(replay.Targets))
	second, err := runAndFollow(ctx, env, replay, out)
	if err != nil {
		return err
	}
	if err := printReport(out, second, false); err != nil {
		return err
	}
	for _, t := range second.Targets {
		if t.Status != workflows.StatusSucceeded {
			return &exitError{code: 1, err: fmt.Errorf("after the fix, %s/%s should succeed, but it is %s", t.Account, t.Region, t.Status)}
		}
	}
	copiesAfter := copyCalls(env, report)
	for id, n := range copiesBefore {
		if copiesAfter[id] != n && !inReport(second, id) {
			return &exitError{code: 1, err: fmt.Errorf("the replay called CopyImage in %s, which had already succeeded", id)}
		}
	}
	rotated, err := demoRotation(ctx, env, cfg, out, step)
	if err != nil {
		return err
	}

	step("Result")
	fmt.Fprintf(out, "%s\nthe replay made no AWS call in the %d targets that had succeeded (the sandbox's counters show no new CopyImage there)\n", summaryLine(second), len(report.Targets)-len(second.Targets))
	fmt.Fprintln(out, rotated)
	if f.keep {
		fmt.Fprintln(out, "\nStill running (Ctrl-C stops): export AWS_ENDPOINT_URL="+env.SandboxEndpoint+" TEMPORAL_ADDRESS="+env.Temporal.FrontendAddress())
		select {
		case <-ctx.Done():
		case err := <-env.Failed():
			return err
		}
	}
	return nil
}

// demoPlan plans the run and checks the plan against the world: the
// targets expected to fail are predicted to, with the same code, the
// others are not, and the sandbox saw no mutating call meanwhile.
func demoPlan(ctx context.Context, env *devEnv, in workflows.PipelineInput, expected map[string]string, out io.Writer) error {
	before := sandbox.Writes(env.Sandbox.Counters(), "")
	rep, err := pipelinerun.Plan(ctx, env.Client, env.TaskQueue, in)
	if err != nil {
		return err
	}
	pipelinerun.WritePlan(out, rep)
	if writes := sandbox.NewWrites(before, sandbox.Writes(env.Sandbox.Counters(), "")); len(writes) > 0 {
		return &exitError{code: 1, err: fmt.Errorf("the plan made mutating AWS calls, and a plan makes none: %s", strings.Join(writes, ", "))}
	}
	var wrong []string
	for _, t := range rep.Targets {
		want, got := expected[t.Account+"/"+t.Region], workflows.StatusSucceeded
		if len(t.Failures) > 0 {
			got = t.Failures[0].Code
		}
		if got != want {
			wrong = append(wrong, fmt.Sprintf("%s/%s: predicted %s, the world implies %s", t.Account, t.Region, got, want))
		}
	}
	if len(rep.Targets) != len(expected) {
		wrong = append(wrong, fmt.Sprintf("%d targets planned, %d expected", len(rep.Targets), len(expected)))
	}
	if len(wrong) > 0 {
		return &exitError{code: 1, err: fmt.Errorf("the plan does not predict what the default world implies: %s", strings.Join(wrong, "; "))}
	}
	return nil
}

// demoAccount is the account the demo rotates.
const demoAccount = "222222222222"

// demoRotation rotates demoAccount's key (reason scheduled) and checks what
// a rotation promises in the sandbox: in every region the alias names the
// new key, the AMI was re-encrypted and proven under it, and the old key is
// disabled (its deletion is a later sweep's). It returns the result line.
func demoRotation(ctx context.Context, env *devEnv, cfg *config.Config, out io.Writer, step func(string, ...any)) (string, error) {
	_, all, err := cfg.ExpandTargets()
	if err != nil {
		return "", err
	}
	targets, err := accountTargets(all, demoAccount, "")
	if err != nil {
		return "", err
	}
	in := workflows.RotationInput{
		RotationID: pipelinerun.RotationID(demoAccount, time.Now()), Account: demoAccount, Targets: targets,
		Reason: activities.ReasonScheduled, Operator: "amicrypt demo", DeletionWindowDays: cfg.Rotation.WithDefaults().DeletionWindowDays,
	}
	step("Rotation %s: account %s (%s) moves to a new key, reason %s", in.RotationID, demoAccount, targets[0].Name, in.Reason)
	run, _, err := startRotation(ctx, env.Client, env.TaskQueue, in)
	if err != nil {
		return "", err
	}
	r, err := followRun(ctx, env.Client, run, out, false)
	if err != nil {
		return "", err
	}
	if err := printReport(out, r, false); err != nil {
		return "", err
	}
	var wrong []string
	for _, t := range r.Targets {
		id := t.Account + "/" + t.Region
		if t.Status != workflows.StatusSucceeded || !t.AliasMoved || len(t.Images) == 0 {
			wrong = append(wrong, fmt.Sprintf("%s: %s, alias moved %v, %d images", id, t.Status, t.AliasMoved, len(t.Images)))
			continue
		}
		for _, im := range t.Images {
			if im.Status != "proven" || im.Boot.Result != activities.BootInService {
				wrong = append(wrong, fmt.Sprintf("%s: image %s → %s %s, boot %s", id, im.OldImageID, im.NewImageID, im.Status, im.Boot.Result))
			}
		}
		kc := kms.NewFromConfig(aws.Config{Region: t.Region, BaseEndpoint: aws.String(env.SandboxEndpoint),
			Credentials: credentials.NewStaticCredentialsProvider(t.Account, "sandbox", "")})
		alias, err := kc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(activities.DefaultKeyAlias)})
		if err != nil {
			return "", fmt.Errorf("reading %s's alias: %w", id, err)
		}
		if got := aws.ToString(alias.KeyMetadata.Arn); got != t.KeyARN || got == t.OldKeyARN {
			wrong = append(wrong, fmt.Sprintf("%s: the alias names %s, not the new key %s", id, got, t.KeyARN))
		}
		old, err := kc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(t.OldKeyARN)})
		if err != nil {
			return "", fmt.Errorf("reading %s's old key: %w", id, err)
		}
		if old.KeyMetadata.KeyState != kmstypes.KeyStateDisabled {
			wrong = append(wrong, fmt.Sprintf("%s: the old key is %s, not Disabled", id, old.KeyMetadata.KeyState))
		}
	}
	if len(r.Targets) != len(targets) {
		wrong = append(wrong, fmt.Sprintf("%d regions reported, %d rotated", len(r.Targets), len(targets)))
	}
	if len(wrong) > 0 {
		return "", &exitError{code: 1, err: fmt.Errorf("the rotation of %s did not end as it should: %s", demoAccount, strings.Join(wrong, "; "))}
	}
	return fmt.Sprintf("the rotation moved %s's alias and AMIs to new keys in %d regions, each AMI proven to boot; the old AMIs and keys are disabled (reversible): a sweep deregisters the AMIs after the retention grace and schedules the keys' deletion (%d days' window) once they stayed disabled, unheld and untried for rotation.retire_after",
		demoAccount, len(r.Targets), in.DeletionWindowDays), nil
}

func runAndFollow(ctx context.Context, env *devEnv, in workflows.PipelineInput, out io.Writer) (*workflows.Report, error) {
	run, _, err := startPipeline(ctx, env.Client, env.TaskQueue, in)
	if err != nil {
		return nil, err
	}
	return followRun(ctx, env.Client, run, out, false)
}

// builderSources are the builder account's images, one per region.
func builderSources(w *world.World, builder string) map[string]string {
	out := map[string]string{}
	if a := w.Account(builder); a != nil {
		for _, im := range a.Images {
			if _, ok := out[im.Region]; !ok {
				out[im.Region] = im.ID
			}
		}
	}
	return out
}

func describeSources(s map[string]string) string {
	var parts []string
	for r, id := range s {
		parts = append(parts, r+"="+id)
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// expectedOutcomes says, from the world alone, which targets must fail with F2:
// those whose existing key's policy, read by the evaluator, does not let the
// service-linked role and EC2 use it.
func expectedOutcomes(w *world.World, targets []activities.Target) map[string]string {
	out := map[string]string{}
	for _, t := range targets {
		out[t.ID()] = workflows.StatusSucceeded
		a := w.Account(t.Account)
		if a == nil {
			continue
		}
		k := a.Key(t.Region, t.KeyAlias)
		if k == nil {
			continue
		}
		doc, err := policy.Parse(k.EffectivePolicy(t.Account))
		if err != nil {
			continue
		}
		params := policy.RequiredParams{Account: t.Account, Region: t.Region, ServiceLinkedRoleARNs: []string{t.ServiceLinkedRoleARN()}, KeyARN: k.ARN(t.Account)}
		if len(policy.MissingStatements(doc, params)) > 0 {
			out[t.ID()] = activities.F2
		}
	}
	return out
}

func checkOutcomes(r *workflows.Report, expected map[string]string) error {
	var wrong []string
	for _, t := range r.Targets {
		want := expected[t.Account+"/"+t.Region]
		got := t.Status
		if t.Diagnosis != nil {
			got = t.Diagnosis.Code
		}
		if got != want {
			wrong = append(wrong, fmt.Sprintf("%s/%s: want %s, got %s", t.Account, t.Region, want, got))
		}
	}
	if len(r.Targets) != len(expected) {
		wrong = append(wrong, fmt.Sprintf("%d targets reported, %d expected", len(r.Targets), len(expected)))
	}
	if len(wrong) > 0 {
		return fmt.Errorf("%s", strings.Join(wrong, "; "))
	}
	return nil
}

// addMissingStatementsFor does what an F2/F3 diagnosis asks, as the key's
// account root: the statements the evaluator finds missing for the
// service-linked role are added to the key's policy (key "" = alias/amicrypt).
func addMissingStatementsFor(ctx context.Context, endpoint, account, region, key, slrARN string) (string, []string, error) {
	c := kms.NewFromConfig(aws.Config{
		Region: region, BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(account, "sandbox", ""),
	})
	if key == "" {
		d, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(activities.DefaultKeyAlias)})
		if err != nil {
			return "", nil, err
		}
		key = aws.ToString(d.KeyMetadata.Arn)
	}
	got, err := c.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(key), PolicyName: aws.String("default")})
	if err != nil {
		return "", nil, err
	}
	doc, err := policy.Parse([]byte(aws.ToString(got.Policy)))
	if err != nil {
		return "", nil, err
	}
	missing := policy.MissingStatements(doc, policy.RequiredParams{Account: account, Region: region, ServiceLinkedRoleARNs: []string{slrARN}, KeyARN: key})
	var sids []string
	for _, st := range missing {
		doc.Statements = append(doc.Statements, st)
		sids = append(sids, fmt.Sprintf("%q", st.Sid))
	}
	b, err := doc.Marshal()
	if err != nil {
		return "", nil, err
	}
	if _, err := c.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(key), PolicyName: aws.String("default"), Policy: aws.String(string(b))}); err != nil {
		return "", nil, err
	}
	return key, sids, nil
}

// copyCalls counts ec2:CopyImage calls per target, from the sandbox's counters.
func copyCalls(env *devEnv, r *workflows.Report) map[string]int64 {
	out := map[string]int64{}
	for _, t := range r.Targets {
		out[t.Account+"/"+t.Region] = env.Sandbox.Calls(t.Account, t.Region, "ec2:CopyImage")
	}
	return out
}

func inReport(r *workflows.Report, id string) bool {
	for _, t := range r.Targets {
		if t.Account+"/"+t.Region == id {
			return true
		}
	}
	return false
}
