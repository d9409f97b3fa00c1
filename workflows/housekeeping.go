package workflows

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/workflow"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/heartbeat"
)

// Housekeeping finds, in Temporal, what workflows that ended without their
// compensation left behind in AWS. A Batch shares the source with its
// accounts and revokes every share on success, failure and cancellation — but
// a Batch that was terminated (or timed out, or failed in a way no code
// handles) never runs its revocation, and the unencrypted source stays shared.
// Its history still says what it shared and what it revoked. The worker
// registers it next to the AWS activities; the Pipeline and the Sweep run it
// as they start and revoke what it finds (UnshareSource).
type Housekeeping struct {
	// Client reads the client's namespace: its visibility and histories.
	Client client.Client
}

// StaleShare is what one batch that ended without its revocation left
// shared: the same ShareSourceInput its UnshareSource would have had.
type StaleShare struct {
	Batch string                      `json:"batch"`
	Share activities.ShareSourceInput `json:"share"`
}

// String names the share for a report.
func (s StaleShare) String() string {
	return fmt.Sprintf("source %s (%s) shared with %s by %s, which ended without revoking it",
		s.Share.Source.ImageID, s.Share.Source.Region, strings.Join(s.Share.Accounts, ", "), s.Batch)
}

// abandonedBatches are the closed batches that did not run their
// revocation: terminated, timed out, or failed.
const abandonedBatches = `WorkflowType = 'Batch' AND ExecutionStatus != 'Running' AND ExecutionStatus != 'Completed' AND ExecutionStatus != 'Canceled' AND ExecutionStatus != 'ContinuedAsNew'`

// runningBatches are the batches under way, whose shares are needed.
const runningBatches = `WorkflowType = 'Batch' AND ExecutionStatus = 'Running'`

// FindStaleShares lists the shares abandoned batches left in place — each
// batch's ShareSource calls minus its completed UnshareSource calls, read
// from its history — except those a running batch of the same source and
// account still needs. Only Temporal is read; the caller revokes.
func (h *Housekeeping) FindStaleShares(ctx context.Context) ([]StaleShare, error) {
	ctx, stop := heartbeat.Start(ctx, 0)
	defer stop()
	// The abandoned batches first: almost always there are none, and then
	// no running batch's history need be read.
	abandoned, err := h.list(ctx, abandonedBatches)
	if err != nil || len(abandoned) == 0 {
		return nil, err
	}
	needed := map[string]bool{} // source image/account
	running, err := h.list(ctx, runningBatches)
	if err != nil {
		return nil, err
	}
	for _, ex := range running {
		shared, _, err := h.shares(ctx, ex.ID, ex.RunID)
		if err != nil {
			return nil, err
		}
		for _, s := range shared {
			for _, a := range s.Accounts {
				needed[s.Source.ImageID+"/"+a] = true
			}
		}
	}
	var out []StaleShare
	for _, ex := range abandoned {
		heartbeat.Progress(ctx, ex.ID)
		shared, revoked, err := h.shares(ctx, ex.ID, ex.RunID)
		if err != nil {
			return nil, err
		}
		for _, s := range shared {
			var left []string
			for _, a := range s.Accounts {
				key := s.Source.ImageID + "/" + a
				if !revoked[key] && !needed[key] {
					left = append(left, a)
				}
			}
			if len(left) > 0 {
				sort.Strings(left)
				s.Accounts = left
				out = append(out, StaleShare{Batch: ex.ID, Share: s})
			}
		}
	}
	return out, nil
}

type execution struct{ ID, RunID string }

func (h *Housekeeping) list(ctx context.Context, query string) ([]execution, error) {
	var out []execution
	var token []byte
	for {
		resp, err := h.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: query, NextPageToken: token,
		})
		if err != nil {
			return nil, fmt.Errorf("listing workflows (%s), %w", query, err)
		}
		for _, e := range resp.GetExecutions() {
			out = append(out, execution{e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId()})
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return out, nil
		}
	}
}

// shares reads a batch's history: the ShareSource inputs it scheduled, and
// the source/account pairs its completed UnshareSource calls revoked.
func (h *Housekeeping) shares(ctx context.Context, id, runID string) ([]activities.ShareSourceInput, map[string]bool, error) {
	dc := converter.GetDefaultDataConverter()
	var shared []activities.ShareSourceInput
	unshares := map[int64]activities.ShareSourceInput{}
	revoked := map[string]bool{}
	it := h.Client.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, nil, fmt.Errorf("reading the history of %s, %w", id, err)
		}
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			a := ev.GetActivityTaskScheduledEventAttributes()
			name := a.GetActivityType().GetName()
			if name != "ShareSource" && name != "UnshareSource" {
				continue
			}
			var in activities.ShareSourceInput
			if err := dc.FromPayloads(a.GetInput(), &in); err != nil {
				return nil, nil, fmt.Errorf("decoding %s's input in the history of %s, %w", name, id, err)
			}
			if name == "ShareSource" {
				shared = append(shared, in)
			} else {
				unshares[ev.GetEventId()] = in
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			if in, ok := unshares[ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()]; ok {
				for _, a := range in.Accounts {
					revoked[in.Source.ImageID+"/"+a] = true
				}
			}
		}
	}
	return shared, revoked, nil
}

// staleSharesVersion gates the Pipeline's and the Sweep's look for shares
// abandoned batches left: runs recorded before it replay without it. A
// Pipeline at version 1 looks before it plans its batches; at version 2 it
// looks while its batches run, leaving alone the shares it makes itself.
const staleSharesVersion = "revoke-stale-shares"

// revokeStaleShares revokes what abandoned batches left shared (see
// Housekeeping), except the accounts of a source own says are the caller's
// own ("<source image>/<account>": a run shares them itself, and revokes
// them when it is done), and returns a line per share revoked, and per
// share it could not revoke. A failure to look is a warning: housekeeping
// never stops a run.
func revokeStaleShares(ctx workflow.Context, logger log.Logger, own map[string]bool) (removed, warnings []string) {
	var hk *Housekeeping
	var a *activities.Activities
	var stale []StaleShare
	fctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute,
		HeartbeatTimeout:    2 * time.Minute,
		RetryPolicy:         retry(5*time.Second, time.Minute, 5),
	})
	if err := workflow.ExecuteActivity(fctx, hk.FindStaleShares).Get(ctx, &stale); err != nil {
		logger.Warn("could not look for shares abandoned batches left", "error", err)
		return nil, []string{fmt.Sprintf("could not look for shares that terminated runs left on their sources: %v", err)}
	}
	var left []StaleShare
	for _, st := range stale {
		var accounts []string
		for _, a := range st.Share.Accounts {
			if !own[st.Share.Source.ImageID+"/"+a] {
				accounts = append(accounts, a)
			}
		}
		if len(accounts) > 0 {
			st.Share.Accounts = accounts
			left = append(left, st)
		}
	}
	stale = left
	uctx := withStep(ctx, stepUnshare, activities.Target{})
	futures := make([]workflow.Future, len(stale))
	for i, s := range stale {
		futures[i] = workflow.ExecuteActivity(uctx, a.UnshareSource, s.Share)
	}
	for i, s := range stale {
		if err := futures[i].Get(ctx, nil); err != nil {
			warnings = append(warnings, fmt.Sprintf("could not revoke %s: %v", s, err))
			continue
		}
		logger.Info("revoked a share an abandoned batch left", "batch", s.Batch, "source", s.Share.Source.ImageID, "accounts", s.Share.Accounts)
		removed = append(removed, "revoked "+s.String())
	}
	return removed, warnings
}
