package cli

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/amicrypt/amicrypt/internal/operator"
)

// operatorUsage is --operator's help on the commands that start workflows.
const operatorUsage = "who starts this (default: the OS user as user@host): the SourceIdentity of every AWS role session the run assumes, so CloudTrail shows it; 2–64 letters, digits and _+=,.@-"

func bindOperator(fs *pflag.FlagSet, p *string) {
	fs.StringVar(p, "operator", "", operatorUsage)
}

// useOperator validates --operator (default defaultOperator) and puts it in
// the command's context: the workflows the command starts carry it, through
// Temporal's headers, to every activity, which assumes its roles with it as
// the SourceIdentity. A bad value is a usage error: nothing is started.
func useOperator(cmd *cobra.Command, name string) (string, error) {
	if name == "" {
		name = defaultOperator()
	}
	if err := operator.Validate(name); err != nil {
		return "", usageError("--operator: %v; nothing was started", err)
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	at := operator.From(ctx)
	at.Operator = name
	cmd.SetContext(operator.With(ctx, at))
	return name, nil
}

// sanitizedOperator is name made a valid operator, else the OS user.
func sanitizedOperator(name string) string {
	if s := operator.Sanitize(name); s != "" {
		return s
	}
	return operator.Default()
}

// readOnlyRun marks what ctx starts as a run that only reads (a dry run):
// its activities assume their roles with the read-only session policy.
func readOnlyRun(ctx context.Context) context.Context {
	at := operator.From(ctx)
	at.ReadOnly = true
	return operator.With(ctx, at)
}
