package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/config"
	"github.com/amicrypt/amicrypt/internal/operator"
	"github.com/amicrypt/amicrypt/internal/payloadcodec"
	"github.com/amicrypt/amicrypt/internal/pipelinerun"
	"github.com/amicrypt/amicrypt/internal/temporalconn"
	"github.com/amicrypt/amicrypt/workflows"
)

type rotateFlags struct {
	config         string
	account        string
	region         string
	reason         string
	operator       string
	deletionWindow int
	wait           bool
	json           bool
	dryRun         bool
	conn           temporalconn.Options
}

func newRotateCmd(g *globalFlags) *cobra.Command {
	f := &rotateFlags{}
	cmd := &cobra.Command{
		Use:   "rotate --config FILE --account ID --reason leaked|scheduled|policy [--region R]",
		Short: "Move one account's amicrypt AMIs to a new KMS key, prove them, repoint what was published, and retire the old key",
		Long: `Rotate the dedicated key of one target account (every region the config gives it,
or only --region): a durable workflow on the Temporal cluster, one per account at a
time, that

  1. creates the new key with amicrypt's required policy merged with every
     statement the owner kept on the old key (the evaluator proves the Auto
     Scaling service-linked role and EC2 can use it before anything is copied),
     turns on automatic rotation and tags it amicrypt:predecessor=<old key>;
  2. copies every live amicrypt AMI under the old key to the new key (a full
     re-encrypting CopyImage) and proves each copy boots, as the pipeline does;
  3. moves the alias to the new key and repoints the SSM parameter and launch
     template amicrypt published to the new AMIs;
  4. retires, each step reversible first: the old AMIs are disabled (aws ec2
     enable-image undoes it) and deregistered with their snapshots once the
     retention grace (retention.grace, default 7d) is over — never while
     anything uses them (an instance, a launch template version or Auto
     Scaling group amicrypt does not own, a parameter): the report names what
     kept each; the old key, when nothing holds it (volumes, snapshots, AMIs,
     launch template versions naming it, the EBS default key, grants other
     than amicrypt's), is only disabled. A later sweep schedules its deletion
     (rotation.deletion_window_days, 7–30) once it has stayed disabled for
     rotation.retire_after (default 7d) with nothing holding it and no request
     refused since (CloudTrail) — or enables it again, naming the caller, if
     something tried it.

Only AMIs provably amicrypt's for this target are touched: made by CopyImage
from the image their tags name (EC2's SourceImageId), every snapshot under a key
of the alias's line, of the configured family. An unproven AMI is skipped, and
one that only carries amicrypt's tags is left alone: both are named.

Any failure leaves the account usable: the alias stays on a key whose AMIs are
proven and nothing published points at an unproven AMI. Fix the cause and run
the same command again.

--reason (leaked, scheduled, policy) and --operator are recorded in tags on both
keys and in the report. If a rotation of the account is already running, the
command attaches to it instead of starting another.

Without --wait the command prints the workflow id and returns; 'amicrypt status
amicrypt-rotate-ACCOUNT' shows the latest rotation of the account later.

Exit status: 0 when every region succeeded (or, without --wait, when the rotation
started), 1 when a region failed, 2 for bad input (nothing is started).`,
		Example: `  # a key that leaked: rotate it everywhere, now, and watch
  amicrypt rotate --config amicrypt.yaml --account 222222222222 --reason leaked --wait

  # what a rotation would do, changing nothing
  amicrypt rotate --config amicrypt.yaml --account 222222222222 --reason scheduled --dry-run

  # one region, a shorter deletion window, the report as JSON
  amicrypt rotate --config amicrypt.yaml --account 222222222222 --region eu-west-1 \
      --reason policy --deletion-window-days 7 --wait --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			op, err := useOperator(cmd, f.operator)
			if err != nil {
				return err
			}
			f.operator = op
			in, err := rotationInputFromFlags(f, cmd.Flags().Changed("deletion-window-days"), time.Now())
			if err != nil {
				return err
			}
			in.DryRun = f.dryRun
			return startRotationAndReport(cmd, g, f.conn, in, f.wait || f.dryRun, f.json)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "amicrypt config file (YAML): the targets and the rotation: block (required)")
	fl.StringVar(&f.account, "account", "", "the 12-digit target account whose key to rotate (required)")
	fl.StringVar(&f.region, "region", "", "rotate only this region of the account (default: every region the config gives it)")
	fl.StringVar(&f.reason, "reason", "", "why: "+strings.Join(activities.RotationReasons, ", ")+" (required; recorded in tags and the report)")
	fl.StringVar(&f.operator, "operator", "", "who asks (default $USER@hostname; recorded in tags and the report, and the SourceIdentity of the rotation's AWS role sessions; 2–64 letters, digits and _+=,.@-)")
	fl.IntVar(&f.deletionWindow, "deletion-window-days", 0, fmt.Sprintf("days the old key waits in PendingDeletion, %d-%d (default: the config's rotation.deletion_window_days, else %d)", activities.MinDeletionWindowDays, activities.MaxDeletionWindowDays, config.DefaultDeletionWindowDays))
	fl.BoolVar(&f.wait, "wait", false, "wait for the rotation, showing progress, then print the report")
	fl.BoolVar(&f.dryRun, "dry-run", false, "change nothing: list every action the rotation would take (create the key, re-encrypt, repoint, move the alias, disable or deregister images, disable keys), each with its evidence, in the form of amicrypt plan; implies --wait")
	fl.BoolVar(&f.json, "json", false, "print machine-readable JSON (the workflow id, or with --wait the report)")
	f.conn.BindFlags(fl)
	return cmd
}

// defaultOperator is $USER@hostname.
func defaultOperator() string {
	user := os.Getenv("USER")
	if user == "" {
		user = os.Getenv("LOGNAME")
	}
	if user == "" {
		user = "unknown"
	}
	return sanitizedOperator(user + "@" + hostname())
}

// loadConfigForTargets reads the config and resolves its targets; every
// problem is a usage error (nothing started).
func loadConfigForTargets(cmdName, path string) (*config.Config, []activities.Target, error) {
	if path == "" {
		return nil, nil, usageError("--config is required: the file naming the targets (see 'amicrypt %s --help')", cmdName)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, nil, usageError("--config %s: %v", path, err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, usageError("the config is not valid, nothing was started:\n%v", err)
	}
	_, targets, err := cfg.ExpandTargets()
	if err != nil {
		return nil, nil, usageError("nothing was started:\n%v", err)
	}
	return cfg, targets, nil
}

// rotationInputFromFlags checks every flag and the config before anything is
// contacted: bad input starts nothing. All flag problems are reported at once.
func rotationInputFromFlags(f *rotateFlags, windowGiven bool, now time.Time) (workflows.RotationInput, error) {
	var problems []string
	switch {
	case f.account == "":
		problems = append(problems, "--account is required: the 12-digit id of the target account whose key to rotate")
	case !accountIDPattern(f.account):
		problems = append(problems, fmt.Sprintf("--account %q is not a 12-digit AWS account id", f.account))
	}
	switch {
	case f.reason == "":
		problems = append(problems, "--reason is required: one of "+strings.Join(activities.RotationReasons, ", ")+" (leaked: the key material is compromised; scheduled: routine; policy: the key must change settings or owner)")
	case !activities.ValidReason(f.reason):
		problems = append(problems, fmt.Sprintf("--reason %q is not one of %s", f.reason, strings.Join(activities.RotationReasons, ", ")))
	}
	if f.region != "" && !config.ValidRegion(f.region) {
		problems = append(problems, fmt.Sprintf("--region %q is not an AWS region name like us-east-1", f.region))
	}
	if windowGiven && (f.deletionWindow < activities.MinDeletionWindowDays || f.deletionWindow > activities.MaxDeletionWindowDays) {
		problems = append(problems, fmt.Sprintf("--deletion-window-days %d: KMS schedules a key's deletion %d to %d days ahead", f.deletionWindow, activities.MinDeletionWindowDays, activities.MaxDeletionWindowDays))
	}
	if f.config == "" {
		problems = append(problems, "--config is required: the file naming the targets (see 'amicrypt rotate --help')")
	}
	if len(problems) > 0 {
		return workflows.RotationInput{}, usageError("nothing was started:\n%s", strings.Join(problems, "\n"))
	}
	cfg, all, err := loadConfigForTargets("rotate", f.config)
	if err != nil {
		return workflows.RotationInput{}, err
	}
	org := cfg.Organization()
	var targets []activities.Target
	if org != nil && !listsAccount(all, f.account) {
		// An account of the organization's selectors: the rotation finds
		// its targets as it starts (and refuses, saying why, if the
		// selectors do not serve it).
		if err := organizationServesRegion(org, f.region); err != nil {
			return workflows.RotationInput{}, err
		}
	} else {
		org = nil
		if targets, err = accountTargets(all, f.account, f.region); err != nil {
			return workflows.RotationInput{}, err
		}
	}
	window := cfg.Rotation.WithDefaults().DeletionWindowDays
	if windowGiven {
		window = f.deletionWindow
	}
	operator := f.operator
	if operator == "" {
		operator = defaultOperator()
	}
	return workflows.RotationInput{
		RotationID:         pipelinerun.RotationID(f.account, now),
		Account:            f.account,
		Targets:            targets,
		Organization:       org,
		Region:             orgRegion(org, f.region),
		Reason:             f.reason,
		Operator:           operator,
		DeletionWindowDays: window,
	}, nil
}

func listsAccount(targets []activities.Target, account string) bool {
	for _, t := range targets {
		if t.Account == account {
			return true
		}
	}
	return false
}

// organizationServesRegion: --region must be one the organization selectors
// give their accounts (which selector serves the account is known only
// once the rotation resolves them).
func organizationServesRegion(org *activities.OrganizationTargets, region string) error {
	if region == "" {
		return nil
	}
	var have []string
	seen := map[string]bool{}
	for _, sel := range org.Selectors {
		for _, t := range sel.Regions {
			if t.Region == region {
				return nil
			}
			if !seen[t.Region] {
				seen[t.Region] = true
				have = append(have, t.Region)
			}
		}
	}
	sort.Strings(have)
	return usageError("the config's organization targets give no account region %s, nothing was started; their regions are: %s", region, strings.Join(have, ", "))
}

func orgRegion(org *activities.OrganizationTargets, region string) string {
	if org == nil {
		return ""
	}
	return region
}

// accountTargets picks the account's targets (only region's, if given); an
// account or region the config lacks is a usage error naming what it has.
func accountTargets(all []activities.Target, account, region string) ([]activities.Target, error) {
	var mine []activities.Target
	accounts := map[string]string{}
	for _, t := range all {
		accounts[t.Account] = t.Name
		if t.Account == account {
			mine = append(mine, t)
		}
	}
	if len(mine) == 0 {
		var have []string
		for a, name := range accounts {
			if name != "" {
				a += " (" + name + ")"
			}
			have = append(have, a)
		}
		sort.Strings(have)
		return nil, usageError("account %s is not a target of the config, nothing was started; its targets are: %s", account, strings.Join(have, ", "))
	}
	if region == "" {
		return mine, nil
	}
	var regions []string
	for _, t := range mine {
		if t.Region == region {
			return []activities.Target{t}, nil
		}
		regions = append(regions, t.Region)
	}
	return nil, usageError("the config gives account %s no region %s, nothing was started; its regions are: %s", account, region, strings.Join(regions, ", "))
}

// rotationRegions names the regions a rotation covers.
func rotationRegions(in workflows.RotationInput) string {
	if len(in.Targets) == 0 && in.Organization != nil {
		if in.Region != "" {
			return in.Region
		}
		return "(every region the organization's targets give it)"
	}
	return regionsOf(in.Targets)
}

func regionsOf(targets []activities.Target) string {
	var rs []string
	for _, t := range targets {
		rs = append(rs, t.Region)
	}
	return strings.Join(rs, ", ")
}

// startRotation starts the account's rotation, or attaches to the one
// already running (attached = true; its input is what that one does).
func startRotation(ctx context.Context, c client.Client, taskQueue string, in workflows.RotationInput) (client.WorkflowRun, *workflows.RotationInput, error) {
	id := workflows.RotationWorkflowID(in.Account)
	if in.DryRun {
		id = workflows.DryRunRotationWorkflowID(in.Account, in.RotationID)
		ctx = readOnlyRun(ctx)
	}
	// Sessions are named after this rotation (amicrypt-rotation-<account>-
	// <time>-<step>), not after the workflow id every rotation of the
	// account shares.
	if at := operator.From(ctx); at.Run == "" {
		at.Run = in.RotationID
		ctx = operator.With(ctx, at)
	}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                taskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, workflows.Rotation, in)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		var running workflows.RotationInput
		if err := workflowInput(ctx, c, id, &running); err != nil {
			running = workflows.RotationInput{Account: in.Account}
		}
		return c.GetWorkflow(ctx, id, ""), &running, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("starting the rotation of account %s on task queue %s: %w", in.Account, taskQueue, err)
	}
	return run, nil, nil
}

// errNoHistory: a workflow id with no history (no such workflow).
var errNoHistory = pipelinerun.ErrNoHistory

// workflowInput decodes the input a workflow (its latest run) started with.
func workflowInput(ctx context.Context, c client.Client, workflowID string, into any) error {
	return pipelinerun.WorkflowInput(ctx, c, workflowID, into)
}

func startRotationAndReport(cmd *cobra.Command, g *globalFlags, conn temporalconn.Options, in workflows.RotationInput, wait, asJSON bool) error {
	return withTemporal(cmd, g, conn, func(ctx context.Context, c client.Client) error {
		run, running, err := startRotation(ctx, c, conn.TaskQueue, in)
		if err != nil {
			return err
		}
		out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
		id := run.GetID()
		if running != nil {
			note := fmt.Sprintf("a rotation of account %s is already running", in.Account)
			if running.RotationID != "" {
				note += fmt.Sprintf(" (%s: regions %s, reason %s, by %s)", running.RotationID, rotationRegions(*running), running.Reason, running.Operator)
			}
			note += "; attached to it, nothing new was started"
			fmt.Fprintln(errOut, note)
			in = *running
		}
		if !wait {
			if asJSON {
				return json.NewEncoder(out).Encode(map[string]any{"rotation_id": in.RotationID, "workflow_id": id, "attached": running != nil})
			}
			verb := "started"
			if running != nil {
				verb = "attached to"
			}
			fmt.Fprintf(out, "%s rotation %s of account %s (regions %s, reason %s, by %s)\nworkflow %s; follow it with: amicrypt status %s\n",
				verb, in.RotationID, in.Account, rotationRegions(in), in.Reason, in.Operator, id, id)
			return nil
		}
		if !asJSON {
			fmt.Fprintf(errOut, "rotation %s of account %s: regions %s; Ctrl-C stops waiting (the rotation goes on)\n", in.RotationID, in.Account, rotationRegions(in))
		}
		return followAndReport(ctx, c, run, out, errOut, asJSON)
	})
}

type sweepFlags struct {
	config   string
	operator string
	wait     bool
	json     bool
	dryRun   bool
	conn     temporalconn.Options
}

func newSweepCmd(g *globalFlags) *cobra.Command {
	f := &sweepFlags{}
	cmd := &cobra.Command{
		Use:   "sweep --config FILE",
		Short: "Look once at every target's key: repair rotation and policy drift, re-encrypt stale AMIs, start the rotations that are due",
		Long: `Start one sweep over every target of the config, as the schedule ('amicrypt schedule')
does at every interval. For each target account and region the sweep asks:

  - is automatic rotation on (turned on if not);
  - has the key policy drifted from what amicrypt requires (repaired, keeping
    the owner's statements);
  - is the key older than rotation.max_key_age_days, or tagged amicrypt:retire
    (a rotation is due);
  - are there live amicrypt AMIs under a key other than the alias's current key
    (they are re-encrypted under it);
  - the second steps of retirement: AMIs retired earlier are deregistered once
    their grace is over (enabled again if something came to use them); a key a
    rotation disabled has its deletion scheduled once it has stayed disabled for
    rotation.retire_after with nothing holding it, or is enabled again when
    CloudTrail shows someone tried it (the report names them).

It starts the rotations that are due, at most rotation.concurrent_rotations at
once, and reports every key, the AWS calls that changed something (a healthy
key gets none), and the rotations started ('amicrypt status amicrypt-rotate-ACCOUNT').

Exit status: 0 when every key was inspected (or, without --wait, when the sweep
started), 1 when a key could not be inspected or a rotation failed, 2 for bad
input (nothing is started).`,
		Example: `  amicrypt sweep --config amicrypt.yaml --dry-run
  amicrypt sweep --config amicrypt.yaml --wait
  amicrypt sweep --config amicrypt.yaml --wait --json | jq '.keys[] | select(.writes > 0)'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			op, err := useOperator(cmd, f.operator)
			if err != nil {
				return err
			}
			f.operator = op
			cfg, targets, err := loadConfigForTargets("sweep", f.config)
			if err != nil {
				return err
			}
			operator := f.operator
			if operator == "" {
				operator = defaultOperator()
			}
			in := sweepInput(cfg, targets, operator)
			warning, err := sweepInputFits(in)
			if err != nil {
				return err
			}
			if warning != "" {
				fmt.Fprintln(cmd.ErrOrStderr(), warning)
			}
			in.SweepID = pipelinerun.SweepID(time.Now())
			if f.dryRun {
				in.DryRun, in.SweepID = true, "dryrun-"+in.SweepID
			}
			return startSweepAndReport(cmd, g, f.conn, in, f.wait || f.dryRun, f.json)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "amicrypt config file (YAML): the targets and the rotation: block (required)")
	fl.StringVar(&f.operator, "operator", "", "who asks (default $USER@hostname; recorded on the rotations the sweep starts, and the SourceIdentity of its AWS role sessions; 2–64 letters, digits and _+=,.@-)")
	fl.BoolVar(&f.wait, "wait", false, "wait for the sweep, showing progress, then print the report")
	fl.BoolVar(&f.dryRun, "dry-run", false, "change nothing: inspect every key and dry-run the rotations that are due, listing every action (re-encrypt, repoint, disable or deregister images, disable, enable or schedule the deletion of keys) with its evidence, in the form of amicrypt plan; implies --wait")
	fl.BoolVar(&f.json, "json", false, "print machine-readable JSON (the workflow id, or with --wait the report)")
	f.conn.BindFlags(fl)
	return cmd
}

// sweepInput is a sweep over the config's targets with its rotation: settings.
func sweepInput(cfg *config.Config, targets []activities.Target, operator string) workflows.SweepInput {
	r := cfg.Rotation.WithDefaults()
	return workflows.SweepInput{
		Targets:             targets,
		Organization:        cfg.Organization(),
		MaxKeyAgeDays:       r.MaxKeyAgeDays,
		ConcurrentRotations: r.ConcurrentRotations,
		DeletionWindowDays:  r.DeletionWindowDays,
		Operator:            operator,
	}
}

// Temporal refuses a payload over 2 MB as stored, and warns above 256 KB.
const (
	payloadRefused = 2 << 20
	payloadWarned  = 256 << 10
)

// sweepInputFits checks the size of a sweep's input (a schedule's action
// carries the same): it holds every target the config lists one by one
// (organization targets are resolved by the sweep as it runs), measured as
// the clients store it (payloadcodec.Compression). Too large is bad input; large, a warning
// naming the remedy.
func sweepInputFits(in workflows.SweepInput) (warning string, err error) {
	p, err := converter.GetDefaultDataConverter().ToPayload(in)
	if err != nil {
		return "", err
	}
	stored, err := payloadcodec.Compression.Encode([]*commonpb.Payload{p})
	if err != nil {
		return "", err
	}
	size := len(stored[0].GetData())
	remedy := "name the accounts through the organization instead (targets: - organizational_unit: ou-… or - organization: true), which the sweep resolves as it runs, or split the config between schedules (--id)"
	switch n := size; {
	case n > payloadRefused:
		return "", usageError("the sweep's input would carry the %d targets the config lists one by one in %d KB (compressed), over the 2 MB Temporal accepts; nothing was started: %s", len(in.Targets), n>>10, remedy)
	case n > payloadWarned:
		return fmt.Sprintf("warning: the sweep's input carries the %d targets the config lists one by one in %d KB (compressed); Temporal warns above 256 KB: %s", len(in.Targets), n>>10, remedy), nil
	}
	return "", nil
}

// startSweep starts a one-off sweep (or attaches to the one of the same id).
func startSweep(ctx context.Context, c client.Client, taskQueue string, in workflows.SweepInput) (client.WorkflowRun, bool, error) {
	id := workflows.SweepWorkflowID(in.SweepID)
	if in.DryRun {
		ctx = readOnlyRun(ctx)
	}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                taskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, workflows.Sweep, in)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		return c.GetWorkflow(ctx, id, ""), true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("starting sweep %s on task queue %s: %w", in.SweepID, taskQueue, err)
	}
	return run, false, nil
}

func startSweepAndReport(cmd *cobra.Command, g *globalFlags, conn temporalconn.Options, in workflows.SweepInput, wait, asJSON bool) error {
	return withTemporal(cmd, g, conn, func(ctx context.Context, c client.Client) error {
		run, attached, err := startSweep(ctx, c, conn.TaskQueue, in)
		if err != nil {
			return err
		}
		out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
		if !wait {
			if asJSON {
				return json.NewEncoder(out).Encode(map[string]any{"sweep_id": in.SweepID, "workflow_id": run.GetID(), "attached": attached})
			}
			verb := "started"
			if attached {
				verb = "attached to"
			}
			fmt.Fprintf(out, "%s sweep %s over %s\nworkflow %s; follow it with: amicrypt status %s\n", verb, in.SweepID, pipelinerun.DescribeTargets(in.Targets, in.Organization), run.GetID(), run.GetID())
			return nil
		}
		if !asJSON {
			fmt.Fprintf(errOut, "sweep %s: %s; Ctrl-C stops waiting (the sweep goes on)\n", in.SweepID, pipelinerun.DescribeTargets(in.Targets, in.Organization))
		}
		return followAndReport(ctx, c, run, out, errOut, asJSON)
	})
}
