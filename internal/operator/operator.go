// Package operator carries who started a run, and which run, from the
// command that starts a workflow to the activities that act in AWS, through
// Temporal's headers (a context propagator), not through the workflows'
// inputs: recorded histories replay unchanged, and every workflow a run
// starts, child or activity, inherits it.
//
// The activities name their assumed-role sessions after the run and pass
// the operator as the session's SourceIdentity, so CloudTrail shows which
// run, step and person did what (activities.ClientFactory).
package operator

import (
	"context"
	"errors"
	"fmt"
	"os/user"
	"regexp"
	"strings"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"
)

// Attribution is what a run's activities know of it.
type Attribution struct {
	// Operator is who started the run: the CLI's --operator (default the
	// OS user), the Packer build's name. Empty for runs started before
	// amicrypt propagated it.
	Operator string `json:"operator,omitempty"`
	// Run names the run in session names. Empty: the root workflow's id
	// (a pipeline's amicrypt-run-<run id>, a rotation's, a sweep's);
	// a plan names its slices' common run.
	Run string `json:"run,omitempty"`
	// ReadOnly marks a run that only reads (a plan, a dry run): every
	// activity of it assumes its roles read-only.
	ReadOnly bool `json:"read_only,omitempty"`
}

// Valid is STS's rule for a SourceIdentity (and a session name): 2 to 64
// characters of letters, digits and _+=,.@-, not starting with "aws:".
var valid = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

// Validate says why name cannot be an operator (a SourceIdentity).
func Validate(name string) error {
	switch {
	case name == "":
		return errors.New("the operator is empty")
	case !valid.MatchString(name):
		return fmt.Errorf("operator %q must be 2 to 64 characters of letters, digits and _+=,.@- (AWS's rule for a role session's SourceIdentity)", name)
	case strings.HasPrefix(strings.ToLower(name), "aws:"):
		return fmt.Errorf("operator %q must not start with aws: (reserved by AWS)", name)
	}
	return nil
}

// Sanitize turns any name (an OS user "DOMAIN\\jane doe", a Packer build
// "amazon-ebs.golden") into a valid operator: characters STS refuses become
// '-', cut to 64; "" when nothing is left.
func Sanitize(name string) string {
	b := []rune(name)
	for i, r := range b {
		if !(r == '_' || r == '+' || r == '=' || r == ',' || r == '.' || r == '@' || r == '-' ||
			r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			b[i] = '-'
		}
	}
	s := strings.Trim(string(b), "-")
	if len(s) > 64 {
		s = s[:64]
	}
	if len(s) < 2 || strings.HasPrefix(strings.ToLower(s), "aws:") {
		return ""
	}
	return s
}

// Default is the OS user, sanitized; "unknown" when there is none.
func Default() string {
	if u, err := user.Current(); err == nil {
		if s := Sanitize(u.Username); s != "" {
			return s
		}
	}
	return "unknown"
}

type ctxKey struct{}

// With returns ctx carrying a: workflows started with it (through a
// client dialled with Propagator) and their activities know it.
func With(ctx context.Context, a Attribution) context.Context {
	return context.WithValue(ctx, ctxKey{}, a)
}

// From is the attribution ctx carries (in an activity: its run's).
func From(ctx context.Context) Attribution {
	a, _ := ctx.Value(ctxKey{}).(Attribution)
	return a
}

// headerKey is the Temporal header the attribution travels in.
const headerKey = "amicrypt-attribution"

// Propagator returns the context propagator that carries an Attribution
// from the starting client to workflows, their children and activities
// (local ones too). A workflow that received none (one started before it
// existed) passes none on; its activities name the session after their
// own workflow.
func Propagator() workflow.ContextPropagator { return propagator{} }

type propagator struct{}

var dc = converter.GetDefaultDataConverter()

func write(w workflow.HeaderWriter, a Attribution) error {
	if a == (Attribution{}) {
		return nil
	}
	p, err := dc.ToPayload(a)
	if err != nil {
		return err
	}
	w.Set(headerKey, p)
	return nil
}

func read(r workflow.HeaderReader) (Attribution, bool, error) {
	p, ok := r.Get(headerKey)
	if !ok {
		return Attribution{}, false, nil
	}
	var a Attribution
	if err := dc.FromPayload(p, &a); err != nil {
		return Attribution{}, false, fmt.Errorf("reading the %s header, %w", headerKey, err)
	}
	return a, true, nil
}

func (propagator) Inject(ctx context.Context, w workflow.HeaderWriter) error {
	return write(w, From(ctx))
}

func (propagator) Extract(ctx context.Context, r workflow.HeaderReader) (context.Context, error) {
	a, ok, err := read(r)
	if err != nil || !ok {
		return ctx, err
	}
	return With(ctx, a), nil
}

// InjectFromWorkflow names the run after the root workflow when the
// starter did not: children and activities all carry the same run.
func (propagator) InjectFromWorkflow(ctx workflow.Context, w workflow.HeaderWriter) error {
	a, _ := ctx.Value(ctxKey{}).(Attribution)
	if a == (Attribution{}) {
		return nil
	}
	if a.Run == "" {
		info := workflow.GetInfo(ctx)
		a.Run = info.WorkflowExecution.ID
		if info.RootWorkflowExecution != nil && info.RootWorkflowExecution.ID != "" {
			a.Run = info.RootWorkflowExecution.ID
		}
	}
	return write(w, a)
}

func (propagator) ExtractToWorkflow(ctx workflow.Context, r workflow.HeaderReader) (workflow.Context, error) {
	a, ok, err := read(r)
	if err != nil || !ok {
		return ctx, err
	}
	return workflow.WithValue(ctx, ctxKey{}, a), nil
}
