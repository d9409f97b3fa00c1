package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/config"
	"github.com/amicrypt/amicrypt/internal/pipelinerun"
	"github.com/amicrypt/amicrypt/internal/temporalconn"
	"github.com/amicrypt/amicrypt/workflows"
)

// runIDFor derives a run id from what the run does, so starting the same
// request twice attaches to the first run instead of copying again.
func runIDFor(in workflows.PipelineInput) string { return pipelinerun.RunID(in) }

type runFlags struct {
	operator  string
	config    string
	sources   []string
	runID     string
	wait      bool
	json      bool
	preflight bool
	allowFail bool
	conn      temporalconn.Options
}

func newRunCmd(g *globalFlags) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run --config FILE --source REGION=AMI [--source ...]",
		Short: "Start a pipeline: copy the source AMIs into every target account and region, encrypted, and prove each boots",
		Long: `Start one pipeline run on a Temporal cluster (a worker must be running: 'amicrypt worker',
or 'amicrypt dev' locally). The config names the builder account and the targets;
--source gives the unencrypted AMI built in each region.

The run id is derived from the sources and targets, so running the same command
again attaches to the run already under way (or done) instead of copying again.
Without --wait the command prints the run id and returns; 'amicrypt status RUN'
shows progress and the report later.

Exit status: 0 when every target succeeded (or, without --wait, when the run
started), 1 when a target failed, 2 for bad input (nothing is started).`,
		Example: `  amicrypt run --config amicrypt.yaml --source us-east-1=ami-0b0000000000a0001 \
      --source eu-west-1=ami-0b0000000000e0001 --wait
  amicrypt run --config amicrypt.yaml --source us-east-1=ami-0123456789abcdef0 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := useOperator(cmd, f.operator); err != nil {
				return err
			}
			if f.allowFail && !f.preflight {
				return usageError("--allow-predicted-failures only applies with --preflight (the plan run first): add --preflight, or leave it out")
			}
			in, err := pipelineInputFromFlags(f.config, f.sources)
			if err != nil {
				return err
			}
			in.RunID = f.runID
			if in.RunID == "" {
				in.RunID = runIDFor(in)
			}
			if f.preflight {
				return withTemporal(cmd, g, f.conn, func(ctx context.Context, c client.Client) error {
					if err := preflightRun(ctx, cmd, c, f.conn.TaskQueue, in, f.allowFail, f.json); err != nil {
						return err
					}
					return startAndReport(cmd, g, f.conn, in, f.wait, f.json)
				})
			}
			return startAndReport(cmd, g, f.conn, in, f.wait, f.json)
		},
	}
	cmd.Flags().StringVar(&f.config, "config", "", "amicrypt config file (YAML): builder, defaults, targets (required)")
	cmd.Flags().StringArrayVar(&f.sources, "source", nil, "REGION=AMI of an unencrypted source image in the builder account; repeat per region (required)")
	cmd.Flags().StringVar(&f.runID, "run-id", "", "name the run (default: derived from sources and targets)")
	cmd.Flags().BoolVar(&f.wait, "wait", false, "wait for the run, showing progress, then print the report")
	cmd.Flags().BoolVar(&f.json, "json", false, "print machine-readable JSON (the run id, or with --wait the report)")
	cmd.Flags().BoolVar(&f.preflight, "preflight", false, "plan first ('amicrypt plan', reads only) and start nothing when a target is predicted to fail")
	bindOperator(cmd.Flags(), &f.operator)
	cmd.Flags().BoolVar(&f.allowFail, "allow-predicted-failures", false, "with --preflight: start the run even when targets are predicted to fail (they are listed)")
	f.conn.BindFlags(cmd.Flags())
	return cmd
}

// preflightRun plans the run and refuses to start it when a target is
// predicted to fail (listing them, exit 1), unless allowed.
func preflightRun(ctx context.Context, cmd *cobra.Command, c client.Client, taskQueue string, in workflows.PipelineInput, allow, asJSON bool) error {
	pf, err := pipelinerun.RunPreflight(ctx, c, taskQueue, in)
	if err != nil {
		return err
	}
	errOut := cmd.ErrOrStderr()
	if !asJSON {
		pipelinerun.WritePlan(errOut, pf.Plan)
	}
	switch {
	case pf.Clear():
		return nil
	case allow:
		fmt.Fprintln(errOut, pf.Allowed("--allow-predicted-failures"))
		return nil
	}
	return &exitError{code: 1, err: pf.Refusal("fix them as the plan says, or add --allow-predicted-failures")}
}

// pipelineInputFromFlags validates the config and the sources before anything
// is contacted: bad input starts nothing.
func pipelineInputFromFlags(configPath string, sourceFlags []string) (workflows.PipelineInput, error) {
	if configPath == "" {
		return workflows.PipelineInput{}, usageError("--config is required: the file naming the builder account and the targets (see 'amicrypt run --help')")
	}
	if len(sourceFlags) == 0 {
		return workflows.PipelineInput{}, usageError("at least one --source REGION=AMI is required: the unencrypted image Packer built in that region")
	}
	if _, err := os.Stat(configPath); err != nil {
		return workflows.PipelineInput{}, usageError("--config %s: %v", configPath, err)
	}
	cfg, err := config.Load(configPath)
	if err != nil {
		return workflows.PipelineInput{}, usageError("the config is not valid, nothing was started:\n%v", err)
	}
	sources, err := config.ParseSources(sourceFlags)
	if err != nil {
		return workflows.PipelineInput{}, usageError("%v", err)
	}
	builder, src, targets, err := cfg.Expand(sources)
	if err != nil {
		return workflows.PipelineInput{}, usageError("nothing was started:\n%v", err)
	}
	in := workflows.PipelineInput{
		Builder: builder, Sources: src, Targets: targets,
		InFlight: cfg.Concurrency.InFlight, PerAccountRegion: cfg.Concurrency.PerAccountRegion,
		Organization: cfg.Organization(),
	}
	if err := in.Validate(); err != nil {
		return workflows.PipelineInput{}, usageError("nothing was started:\n%v", err)
	}
	return in, nil
}

// startAndReport starts (or attaches to) a pipeline and, with wait, follows it to its report.
func startAndReport(cmd *cobra.Command, g *globalFlags, conn temporalconn.Options, in workflows.PipelineInput, wait, asJSON bool) error {
	return withTemporal(cmd, g, conn, func(ctx context.Context, c client.Client) error {
		run, attached, err := startPipeline(ctx, c, conn.TaskQueue, in)
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		if !wait {
			if asJSON {
				return json.NewEncoder(out).Encode(map[string]any{"run_id": in.RunID, "workflow_id": run.GetID(), "attached": attached})
			}
			verb := "started"
			if attached {
				verb = "attached to"
			}
			fmt.Fprintf(out, "%s run %s (%s); follow it with: amicrypt status %s\n", verb, in.RunID, pipelinerun.DescribeTargets(in.Targets, in.Organization), in.RunID)
			return nil
		}
		if !asJSON {
			fmt.Fprintf(cmd.ErrOrStderr(), "run %s: %s; Ctrl-C stops waiting (the run goes on; 'amicrypt cancel' is not needed to detach)\n", in.RunID, pipelinerun.DescribeTargets(in.Targets, in.Organization))
		}
		return followAndReport(ctx, c, run, out, cmd.ErrOrStderr(), asJSON)
	})
}

// followAndReport follows a started run, rotation or sweep (progress on
// errOut unless asJSON), prints its report on out and returns the exit its
// report calls for.
func followAndReport(ctx context.Context, c client.Client, run client.WorkflowRun, out, errOut io.Writer, asJSON bool) error {
	report, err := followRun(ctx, c, run, errOut, asJSON)
	if err != nil {
		return err
	}
	if err := printReport(out, report, asJSON); err != nil {
		return err
	}
	return exitForReport(report)
}

// startPipeline starts the run's workflow, or returns the one already started
// with the same id (attached = true).
func startPipeline(ctx context.Context, c client.Client, taskQueue string, in workflows.PipelineInput) (client.WorkflowRun, bool, error) {
	return pipelinerun.Start(ctx, c, taskQueue, in, pipelinerun.StartOptions{})
}

// followRun polls the run's progress until it ends and returns its report.
func followRun(ctx context.Context, c client.Client, run client.WorkflowRun, progressOut io.Writer, quiet bool) (*workflows.Report, error) {
	var onProgress func(*workflows.Report)
	if !quiet {
		printer := newProgressPrinter(progressOut)
		onProgress = printer.update
	}
	r, err := pipelinerun.Follow(ctx, c, run, onProgress)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("stopped waiting for %s (the run goes on; 'amicrypt status' shows it): %w", run.GetID(), ctx.Err())
	}
	return r, err
}

// queryProgress asks a run for its progress.
func queryProgress(ctx context.Context, c client.Client, workflowID string) (*workflows.Report, error) {
	return pipelinerun.Progress(ctx, c, workflowID)
}

// exitForReport is exit status 1 when a target did not succeed (or, in a
// sweep, a key could not be inspected).
func exitForReport(r *workflows.Report) error {
	var bad []string
	for _, t := range r.Targets {
		if t.Status != workflows.StatusSucceeded {
			bad = append(bad, t.Account+"/"+t.Region+" "+t.Status)
		}
	}
	var uninspected []string
	for _, k := range r.Keys {
		if k.Error != nil {
			uninspected = append(uninspected, k.Account+"/"+k.Region+" "+k.Error.Code)
		}
	}
	if len(bad) == 0 && len(uninspected) == 0 {
		return nil
	}
	switch r.Kind {
	case workflows.KindRotation:
		return &exitError{code: 1, err: fmt.Errorf("%d of %d regions of rotation %s did not succeed: %s; there the alias and what was published still name the old key (fix the cause, then run the same 'amicrypt rotate' again)", len(bad), len(r.Targets), r.RunID, strings.Join(bad, ", "))}
	case workflows.KindSweep:
		var parts []string
		if len(uninspected) > 0 {
			parts = append(parts, fmt.Sprintf("%d of %d keys could not be inspected: %s", len(uninspected), len(r.Keys), strings.Join(uninspected, ", ")))
		}
		if len(bad) > 0 {
			parts = append(parts, fmt.Sprintf("%d rotated regions did not succeed: %s", len(bad), strings.Join(bad, ", ")))
		}
		return &exitError{code: 1, err: fmt.Errorf("sweep %s: %s", r.RunID, strings.Join(parts, "; "))}
	}
	return &exitError{code: 1, err: fmt.Errorf("%d of %d targets did not succeed: %s (replay them with: amicrypt replay %s)", len(bad), len(r.Targets), firstOf(bad, maxListed), r.RunID)}
}

// maxListed bounds the targets an error message names.
const maxListed = 20

// firstOf joins the first n items, and says how many more there are.
func firstOf(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more (the report lists them)", strings.Join(items[:n], ", "), len(items)-n)
}

type statusFlags struct {
	json bool
	conn temporalconn.Options
}

func newStatusCmd(g *globalFlags) *cobra.Command {
	f := &statusFlags{}
	cmd := &cobra.Command{
		Use:   "status RUN|WORKFLOW-ID",
		Short: "Show a run's, a rotation's or a sweep's progress, or its report once it has ended",
		Long: `Show the progress of a run (by the run id 'amicrypt run' printed), a rotation
(amicrypt-rotate-ACCOUNT: the account's latest rotation) or a sweep
(amicrypt-sweep-..., as 'amicrypt sweep' or 'amicrypt schedule describe' print
it), or its report once it has ended. Exit status 1 when an ended one has a
failed target.`,
		Example: `  amicrypt status 3f2a9c1b7d4e
  amicrypt status amicrypt-rotate-222222222222 --json
  amicrypt status amicrypt-sweep-20261123T160000Z`,
		Args: exactlyOneArg("RUN", "the run id 'amicrypt run' printed, or a rotation's or sweep's workflow id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, err := temporalconn.Dial(ctx, f.conn, log)
			if err != nil {
				return err
			}
			defer c.Close()
			report, running, err := runReport(ctx, c, args[0])
			if err != nil {
				return err
			}
			if err := printReport(cmd.OutOrStdout(), report, f.json); err != nil {
				return err
			}
			if running {
				return nil
			}
			return exitForReport(report)
		},
	}
	cmd.Flags().BoolVar(&f.json, "json", false, "print the report as JSON")
	f.conn.BindFlags(cmd.Flags())
	return cmd
}

// statusWorkflowID is the workflow a status argument names: a rotation's or
// a sweep's workflow id as given, a run's from its run id.
func statusWorkflowID(arg string) string {
	for _, prefix := range []string{workflows.RotationWorkflowID(""), workflows.SweepWorkflowID(""), workflows.PipelineWorkflowID("")} {
		if strings.HasPrefix(arg, prefix) {
			return arg
		}
	}
	return workflows.PipelineWorkflowID(arg)
}

// runReport returns a run's (rotation's, sweep's) final report, or its live
// progress while it runs.
func runReport(ctx context.Context, c client.Client, runID string) (*workflows.Report, bool, error) {
	id := statusWorkflowID(runID)
	desc, err := c.DescribeWorkflowExecution(ctx, id, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return nil, false, usageError("no run %s (workflow %s) in this namespace", runID, id)
	}
	if err != nil {
		return nil, false, fmt.Errorf("looking up run %s: %w", runID, err)
	}
	if desc.WorkflowExecutionInfo.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		r, err := queryProgress(ctx, c, id)
		if err != nil {
			return nil, true, fmt.Errorf("asking run %s for its progress: %w", runID, err)
		}
		if err := pipelinerun.Complete(ctx, c, r); err != nil {
			return nil, true, err
		}
		return r, true, nil
	}
	var r workflows.Report
	if err := c.GetWorkflow(ctx, id, "").Get(ctx, &r); err != nil {
		return nil, false, fmt.Errorf("run %s ended without a report (%s): %w", runID, desc.WorkflowExecutionInfo.GetStatus(), err)
	}
	if err := pipelinerun.Complete(ctx, c, &r); err != nil {
		return nil, false, err
	}
	return &r, false, nil
}

// runInput reads the input a run was started with from its history.
func runInput(ctx context.Context, c client.Client, runID string) (workflows.PipelineInput, error) {
	id := workflows.PipelineWorkflowID(runID)
	var in workflows.PipelineInput
	err := workflowInput(ctx, c, id, &in)
	var nf *serviceerror.NotFound
	if errors.Is(err, errNoHistory) || errors.As(err, &nf) {
		return in, usageError("no run %s (workflow %s) in this namespace", runID, id)
	}
	if err != nil {
		return in, fmt.Errorf("run %s: %w", runID, err)
	}
	return in, nil
}

type replayFlags struct {
	operator string
	config   string
	accounts []string
	wait     bool
	json     bool
	conn     temporalconn.Options
}

func newReplayCmd(g *globalFlags) *cobra.Command {
	f := &replayFlags{}
	cmd := &cobra.Command{
		Use:   "replay RUN",
		Short: "Re-run only the failed (or the named) targets of a run, after fixing their cause",
		Long: `Start a new run over the targets of RUN that did not succeed (or, with --account, the
named accounts' targets), with RUN's sources and RUN's config — or a corrected
config given with --config (a fixed ExternalId, say). Targets that succeeded are
not touched: no AWS call reaches them.`,
		Example: `  amicrypt replay 3f2a9c1b7d4e --wait
  amicrypt replay 3f2a9c1b7d4e --config fixed.yaml --account 444444444444 --wait`,
		Args: exactlyOneArg("RUN", "the run id to replay"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := useOperator(cmd, f.operator); err != nil {
				return err
			}
			for _, a := range f.accounts {
				if !accountIDPattern(a) {
					return usageError("--account %q is not a 12-digit AWS account id", a)
				}
			}
			var fixed *config.Config
			if f.config != "" {
				cfg, err := config.Load(f.config)
				if err != nil {
					return usageError("the config is not valid, nothing was started:\n%v", err)
				}
				fixed = cfg
			}
			log, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, err := temporalconn.Dial(ctx, f.conn, log)
			if err != nil {
				return err
			}
			defer c.Close()
			in, err := replayInput(ctx, c, args[0], fixed, f.accounts)
			if err != nil {
				return err
			}
			return startAndReport(cmd, g, f.conn, in, f.wait, f.json)
		},
	}
	cmd.Flags().StringVar(&f.config, "config", "", "a corrected config to use instead of the run's")
	cmd.Flags().StringArrayVar(&f.accounts, "account", nil, "replay this account's targets (repeatable; default: every target that did not succeed)")
	cmd.Flags().BoolVar(&f.wait, "wait", false, "wait for the replay, showing progress, then print the report")
	cmd.Flags().BoolVar(&f.json, "json", false, "print machine-readable JSON")
	bindOperator(cmd.Flags(), &f.operator)
	f.conn.BindFlags(cmd.Flags())
	return cmd
}

// replayInput builds the input of a replay of runID: its sources, the targets to
// redo (from the run's report), and their settings from the fixed config if given.
func replayInput(ctx context.Context, c client.Client, runID string, fixed *config.Config, accounts []string) (workflows.PipelineInput, error) {
	orig, err := runInput(ctx, c, runID)
	if err != nil {
		return workflows.PipelineInput{}, err
	}
	report, running, err := runReport(ctx, c, runID)
	if err != nil {
		return workflows.PipelineInput{}, err
	}
	if running {
		return workflows.PipelineInput{}, usageError("run %s is still running; replay it once it has ended ('amicrypt status %s')", runID, runID)
	}
	want := map[string]bool{}
	for _, t := range report.Targets {
		switch {
		case len(accounts) > 0:
			for _, a := range accounts {
				if a == t.Account {
					want[t.Account+"/"+t.Region] = true
				}
			}
		case t.Status != workflows.StatusSucceeded:
			want[t.Account+"/"+t.Region] = true
		}
	}
	if len(want) == 0 {
		if len(accounts) > 0 {
			return workflows.PipelineInput{}, usageError("run %s has no targets in account(s) %s", runID, strings.Join(accounts, ", "))
		}
		return workflows.PipelineInput{}, usageError("run %s has no failed targets: nothing to replay", runID)
	}
	pool := orig.Targets
	if report.RowsInBatches {
		// Its targets' settings are in its batches' inputs (the run's own
		// input has the first part of them, and no organization's).
		if pool, err = pipelinerun.RunTargets(ctx, c, report); err != nil {
			return workflows.PipelineInput{}, err
		}
	}
	in := orig
	in.Organization, in.TargetParts = nil, 0
	if fixed != nil {
		sources := map[string]string{}
		for _, s := range orig.Sources {
			sources[s.Region] = s.ImageID
		}
		builder, src, targets, err := fixed.Expand(sources)
		if err != nil {
			return workflows.PipelineInput{}, usageError("the corrected config does not fit run %s's sources:\n%v", runID, err)
		}
		in.Builder, in.Sources, pool = builder, src, targets
		in.InFlight, in.PerAccountRegion = fixed.Concurrency.InFlight, fixed.Concurrency.PerAccountRegion
	}
	var selected []activities.Target
	for _, t := range pool {
		if want[t.ID()] {
			selected = append(selected, t)
			delete(want, t.ID())
		}
	}
	if len(want) > 0 {
		missing := make([]string, 0, len(want))
		for id := range want {
			missing = append(missing, id)
		}
		sort.Strings(missing)
		return workflows.PipelineInput{}, usageError("the corrected config has no target for %s, which run %s needs to replay", strings.Join(missing, ", "), runID)
	}
	in.Targets = selected
	in.ReplayOf = runID
	in.RunID = runIDFor(in)
	return in, nil
}

func exactlyOneArg(name, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usageError("%s needs exactly one argument, %s: %s (see '%s --help')", cmd.Name(), name, what, cmd.CommandPath())
		}
		return nil
	}
}

func accountIDPattern(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
