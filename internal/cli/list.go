package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/amicrypt/amicrypt/internal/temporalconn"
	"github.com/amicrypt/amicrypt/worker"
	"github.com/amicrypt/amicrypt/workflows"
)

type listFlags struct {
	run, status, diagnosis, account, region string
	json                                    bool
	conn                                    temporalconn.Options
}

// newListCmd is 'amicrypt list': a run's targets from Temporal's
// visibility, by their search attributes.
func newListCmd(g *globalFlags) *cobra.Command {
	f := &listFlags{}
	cmd := &cobra.Command{
		Use:   "list --run RUN",
		Short: "List a run's targets by status, diagnosis code, account or region, from Temporal's visibility (search attributes)",
		Long: `List the targets of a run that match the filters, as Temporal's visibility
knows them from the search attributes each Target workflow carries
(AmicryptRun, AmicryptAccount, AmicryptRegion, AmicryptStep, AmicryptStatus,
AmicryptDiagnosis): no report is read, so it answers as quickly over 10,000
targets as over 10. The Temporal UI filters the same way, e.g.
  AmicryptRun = '3f2a9c1b7d4e' AND AmicryptDiagnosis = 'F2'

A target is running from its start (pending: started by an earlier release's
batch, until its first step), then succeeded, failed (with its diagnosis code)
or cancelled; one whose workflow ended without saying so shows how it closed
(terminated, timed out). Its step is shown as it starts to wait on AWS
(prepare, wait-available, boot-proof, done); a failed target shows the step
that failed. Visibility lags a few seconds behind the workflows.

It does not list:
  - targets the run's batches have not started yet ('amicrypt status RUN'
    counts them);
  - targets another run of the same source image had under way when this run
    reached them: this run attached to them, and they carry the run that
    started them;
  - targets of runs started before amicrypt set search attributes.

The namespace must have the search attributes: 'amicrypt dev' creates them;
on a cluster, 'temporal operator search-attribute create' (the error says the
exact command), on Temporal Cloud 'tcld namespace search-attributes add'.

Exit status 0 when the query was answered (even with no target), 2 for bad
input (nothing contacted), 1 otherwise.`,
		Example: `  amicrypt list --run 3f2a9c1b7d4e --status failed
  amicrypt list --run 3f2a9c1b7d4e --diagnosis F2 --json
  amicrypt list --run 3f2a9c1b7d4e --account 444444444444 --region us-east-1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			query, err := f.query()
			if err != nil {
				return err
			}
			return withTemporal(cmd, g, f.conn, func(ctx context.Context, c client.Client) error {
				rows, err := listTargets(ctx, c, f.conn, query)
				if err != nil {
					return err
				}
				if f.json {
					if rows == nil {
						rows = []listRow{}
					}
					return writeJSON(cmd.OutOrStdout(), rows)
				}
				if len(rows) == 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "no target of run %s matches (visibility lags a few seconds; 'amicrypt status %s' reads the run itself)\n", f.run, f.run)
					return nil
				}
				writeListTable(cmd.OutOrStdout(), rows)
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.run, "run", "", "the run id 'amicrypt run' printed (required)")
	fl.StringVar(&f.status, "status", "", "only targets with this status: "+strings.Join(listStatuses, ", "))
	fl.StringVar(&f.diagnosis, "diagnosis", "", "only failed targets with this diagnosis code: "+strings.Join(diagnosisCodes(), ", "))
	fl.StringVar(&f.account, "account", "", "only the targets of this 12-digit account")
	fl.StringVar(&f.region, "region", "", "only the targets in this region")
	fl.BoolVar(&f.json, "json", false, "print a JSON array of the targets")
	f.conn.BindFlags(fl)
	return cmd
}

// listStatuses are the statuses --status takes.
var listStatuses = []string{workflows.StatusPending, workflows.StatusRunning, workflows.StatusSucceeded, workflows.StatusFailed, workflows.StatusCancelled}

// diagnosisCodes are the codes a failed target can carry.
func diagnosisCodes() []string {
	var out []string
	for _, o := range workflows.TargetOutcomes() {
		if o[0] == workflows.StatusFailed {
			out = append(out, o[1])
		}
	}
	return out
}

// query checks the flags (usage errors, before anything is contacted) and
// returns the visibility query they ask.
func (f *listFlags) query() (string, error) {
	f.run = strings.TrimPrefix(f.run, workflows.PipelineWorkflowID(""))
	switch {
	case f.run == "":
		return "", usageError("--run is required: the run id 'amicrypt run' printed")
	case strings.ContainsAny(f.run, `'"\`) || strings.ContainsFunc(f.run, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return "", usageError("--run %q is not a run id: quotes, backslashes and control characters have no place in one", f.run)
	}
	conds := []string{"WorkflowType = 'Target'", equals(workflows.AttrRun.GetName(), f.run)}
	if f.status != "" {
		if !slices.Contains(listStatuses, f.status) {
			return "", usageError("--status %q is not one of %s", f.status, strings.Join(listStatuses, ", "))
		}
		conds = append(conds, equals(workflows.AttrStatus.GetName(), f.status))
		if f.status == workflows.StatusPending || f.status == workflows.StatusRunning {
			// Not a Target that ended without saying so (terminated).
			conds = append(conds, "ExecutionStatus = 'Running'")
		}
	}
	if f.diagnosis != "" {
		code, ok := diagnosisCode(f.diagnosis)
		if !ok {
			return "", usageError("--diagnosis %q is not a diagnosis code: one of %s", f.diagnosis, strings.Join(diagnosisCodes(), ", "))
		}
		if f.status != "" && f.status != workflows.StatusFailed {
			return "", usageError("--diagnosis %s with --status %s: only failed targets have a diagnosis", code, f.status)
		}
		f.diagnosis = code
		conds = append(conds, equals(workflows.AttrDiagnosis.GetName(), code))
	}
	if f.account != "" {
		if !accountIDPattern(f.account) {
			return "", usageError("--account %q is not a 12-digit AWS account id", f.account)
		}
		conds = append(conds, equals(workflows.AttrAccount.GetName(), f.account))
	}
	if f.region != "" {
		if !workflows.ValidRegion(f.region) {
			return "", usageError("--region %q is not an AWS region name (e.g. us-east-1)", f.region)
		}
		conds = append(conds, equals(workflows.AttrRegion.GetName(), f.region))
	}
	return strings.Join(conds, " AND "), nil
}

// diagnosisCode is the code s names: as written, or F1–F8 in lower case.
func diagnosisCode(s string) (string, bool) {
	for _, c := range diagnosisCodes() {
		if s == c || (len(c) == 2 && c[0] == 'F' && strings.EqualFold(s, c)) {
			return c, true
		}
	}
	return "", false
}

// equals is a visibility condition; v holds no quote (checked, or ours).
func equals(name, v string) string { return name + " = '" + v + "'" }

// listRow is one target as visibility knows it.
type listRow struct {
	Run        string     `json:"run"`
	Account    string     `json:"account"`
	Region     string     `json:"region"`
	Status     string     `json:"status"`
	Step       string     `json:"step,omitempty"`
	Diagnosis  string     `json:"diagnosis,omitempty"`
	WorkflowID string     `json:"workflow_id"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	ClosedAt   *time.Time `json:"closed_at,omitempty"`
}

// listPageSize is how many executions one ListWorkflowExecutions call
// asks for (the server's default maximum).
const listPageSize = 1000

// listTargets pages through the executions query matches, sorted by
// account, region and workflow id. A query the namespace cannot answer
// because it lacks amicrypt's search attributes is a
// *worker.SearchAttributesError naming the commands that create them.
func listTargets(ctx context.Context, c client.Client, conn temporalconn.Options, query string) ([]listRow, error) {
	var rows []listRow
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: conn.Namespace, PageSize: listPageSize, NextPageToken: token, Query: query,
		})
		if err != nil {
			var bad *serviceerror.InvalidArgument
			if errors.As(err, &bad) {
				var missing *worker.SearchAttributesError
				if cerr := worker.CheckSearchAttributes(ctx, c, conn.Namespace, commandAddress(conn.Address)); errors.As(cerr, &missing) {
					return nil, missing
				}
			}
			return nil, fmt.Errorf("listing targets in namespace %s (query %s): %w", conn.Namespace, query, err)
		}
		for _, info := range resp.GetExecutions() {
			rows = append(rows, listRowOf(info))
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			break
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.Account != b.Account {
			return a.Account < b.Account
		}
		if a.Region != b.Region {
			return a.Region < b.Region
		}
		return a.WorkflowID < b.WorkflowID
	})
	return rows, nil
}

// listRowOf reads a Target's search attributes. A Target that closed
// without its final status (terminated, timed out) shows how it closed.
func listRowOf(info *workflowpb.WorkflowExecutionInfo) listRow {
	attrs := info.GetSearchAttributes().GetIndexedFields()
	get := func(name string) string {
		var s string
		if p, ok := attrs[name]; ok {
			_ = converter.GetDefaultDataConverter().FromPayload(p, &s)
		}
		return s
	}
	r := listRow{
		Run:        get(workflows.AttrRun.GetName()),
		Account:    get(workflows.AttrAccount.GetName()),
		Region:     get(workflows.AttrRegion.GetName()),
		Status:     get(workflows.AttrStatus.GetName()),
		Step:       get(workflows.AttrStep.GetName()),
		Diagnosis:  get(workflows.AttrDiagnosis.GetName()),
		WorkflowID: info.GetExecution().GetWorkflowId(),
	}
	if st := info.GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		switch r.Status {
		case workflows.StatusSucceeded, workflows.StatusFailed, workflows.StatusCancelled:
		default:
			r.Status = statusWord(st)
		}
	}
	if t := info.GetStartTime(); t != nil {
		v := t.AsTime()
		r.StartedAt = &v
	}
	if t := info.GetCloseTime(); t != nil {
		v := t.AsTime()
		r.ClosedAt = &v
	}
	return r
}

// writeListTable prints the rows as a table a person reads.
func writeListTable(w io.Writer, rows []listRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tREGION\tSTATUS\tSTEP\tDIAGNOSIS\tWORKFLOW ID")
	for _, r := range rows {
		diag := r.Diagnosis
		if diag == "" {
			diag = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Account, r.Region, r.Status, r.Step, diag, r.WorkflowID)
	}
	_ = tw.Flush()
}
