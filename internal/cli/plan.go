package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/amicrypt/amicrypt/internal/pipelinerun"
	"github.com/amicrypt/amicrypt/internal/temporalconn"
	"github.com/amicrypt/amicrypt/workflows"
)

type planFlags struct {
	operator string
	config   string
	sources  []string
	accounts []string
	json     bool
	conn     temporalconn.Options
}

func newPlanCmd(g *globalFlags) *cobra.Command {
	f := &planFlags{}
	cmd := &cobra.Command{
		Use:   "plan --config FILE --source REGION=AMI [--source ...] [--target-account ID] [--json]",
		Short: "Check every target before anything is shared, copied or created: what the run would change, and what AWS would refuse, with reads only",
		Long: `Plan a run without changing anything in AWS: the worker makes only reads
(Describe*, Get*, List*, sts:AssumeRole, kms:GetKeyPolicy, kms:ListGrants,
iam:GetRole, ...), running for every target the same checks the run's prepare
step makes — one implementation, so the plan and the run it precedes agree.

For each target it lists what the run would change:
  - create the key (its whole policy), reconcile its policy (the statements
    added or corrected, as JSON; the owner's statements are kept), enable its
    rotation, create the grant (the exact create-grant call);
  - create the Auto Scaling service-linked role;
  - create or move the SSM parameter and launch template it publishes to
    (old value -> new copy);
  - retire older builds (which images would be disabled or deregistered; what
    keeps the others);
and per source, the accounts it would be shared with.

Organization targets (organization: true, organizational_unit: ou-...) are
resolved as the run resolves them, through the organization reader role, and
the plan says what they resolved to (accounts, units, suspended and closing
accounts skipped). The run resolves them again when it starts: an account
that joins in between is served by the run without having been planned.
--target-account plans only accounts the config lists one by one.

And what AWS would refuse, each as the run would report it, with the fix:
  F7  the role cannot be assumed, or is in another account
  F1  the source's snapshots are under the AWS managed key, or under a builder
      key the target account may not use
  F2/F3/F5/F6  the key: unusable by the service-linked role, disabled,
      pending deletion, asymmetric, another account's without a grant
  F4  a launch_principals role could not launch from the copies
  source        the source is missing, or instance-store backed
  architecture  the boot-proof instance type cannot run the image
  subnet        the boot_proof.subnet_ids do not exist, or no default VPC
  quota         no room for one more Auto Scaling group; no room on the source
                for one batch's accounts under AWS's sharing quota (1,000 per
                image; a run of more accounts shares in waves within it)
  other         a publish target that exists and is not amicrypt's

Output: a table grouped by outcome (will-fail, will-change, ok), then each
target's changes, failures with fixes, and warnings. --json prints the plan
(schema in the README, "amicrypt plan").

Exit status: 0 when no target is predicted to fail, 1 when one is, 2 for bad
input (nothing is contacted).`,
		Example: `  amicrypt plan --config amicrypt.yaml --source us-east-1=ami-0b0000000000a0001
  amicrypt plan --config amicrypt.yaml --source us-east-1=ami-0b0000000000a0001 --target-account 444444444444 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := useOperator(cmd, f.operator); err != nil {
				return err
			}
			in, err := pipelineInputFromFlags(f.config, f.sources)
			if err != nil {
				return err
			}
			if in, err = onlyAccounts(in, f.accounts); err != nil {
				return err
			}
			if in.Organization != nil && len(f.accounts) > 0 {
				// --target-account plans accounts listed one by one only.
				in.Organization = nil
			}
			in.RunID = runIDFor(in)
			return withTemporal(cmd, g, f.conn, func(ctx context.Context, c client.Client) error {
				rep, err := pipelinerun.Plan(ctx, c, f.conn.TaskQueue, in)
				if err != nil {
					return err
				}
				if err := printPlan(cmd.OutOrStdout(), rep, f.json); err != nil {
					return err
				}
				return exitForPlan(rep)
			})
		},
	}
	cmd.Flags().StringVar(&f.config, "config", "", "amicrypt config file (YAML): builder, defaults, targets (required)")
	cmd.Flags().StringArrayVar(&f.sources, "source", nil, "REGION=AMI of an unencrypted source image in the builder account; repeat per region (required)")
	cmd.Flags().StringArrayVar(&f.accounts, "target-account", nil, "plan only this account's targets, listed one by one in the config (repeatable)")
	cmd.Flags().BoolVar(&f.json, "json", false, "print the plan as JSON")
	bindOperator(cmd.Flags(), &f.operator)
	f.conn.BindFlags(cmd.Flags())
	return cmd
}

// onlyAccounts narrows a run to the named accounts' targets.
func onlyAccounts(in workflows.PipelineInput, accounts []string) (workflows.PipelineInput, error) {
	if len(accounts) == 0 {
		return in, nil
	}
	want := map[string]bool{}
	for _, a := range accounts {
		if !accountIDPattern(a) {
			return in, usageError("--target-account %q is not a 12-digit AWS account id", a)
		}
		want[a] = true
	}
	var kept = in.Targets[:0:0]
	for _, t := range in.Targets {
		if want[t.Account] {
			kept = append(kept, t)
			delete(want, t.Account)
		}
	}
	if len(want) > 0 {
		var missing []string
		for a := range want {
			missing = append(missing, a)
		}
		return in, usageError("the config has no target in account(s) %s", strings.Join(missing, ", "))
	}
	in.Targets = kept
	return in, nil
}

// printPlan writes a plan as the table a person reads, or as JSON.
func printPlan(w io.Writer, rep *workflows.PlanReport, asJSON bool) error {
	if asJSON {
		return writeJSON(w, rep)
	}
	pipelinerun.WritePlan(w, rep)
	return nil
}

// exitForPlan is exit status 1 when a target is predicted to fail.
func exitForPlan(rep *workflows.PlanReport) error {
	bad := pipelinerun.PredictedFailures(rep)
	if len(bad) == 0 {
		return nil
	}
	return &exitError{code: 1, err: fmt.Errorf("%d of %d targets are predicted to fail: %s (fix them as the plan says, then plan again)", len(bad), len(rep.Targets), strings.Join(bad, ", "))}
}
