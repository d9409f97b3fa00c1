package workflows

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
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
	// DataConverter decodes the payloads of those histories: the one the
	// client's workers and starters use (a payload codec's); nil: Temporal's
	// default.
	DataConverter converter.DataConverter
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
// account still needs, and the permissions the batch was told the source
// had before amicrypt (its ShareSource's Keep, which the revocation keeps).
// Only Temporal is read; the caller revokes.
func (h *Housekeeping) FindStaleShares(ctx context.Context) ([]StaleShare, error) {
	ctx, stop := heartbeat.Start(ctx, 0)
	defer stop()
	// The abandoned batches first: almost always there are none, and then
	// no running batch's history need be read.
	abandoned, err := listWorkflows(ctx, h.Client, abandonedBatches)
	if err != nil || len(abandoned) == 0 {
		return nil, err
	}
	needed := map[string]bool{} // source image/account
	running, err := listWorkflows(ctx, h.Client, runningBatches)
	if err != nil {
		return nil, err
	}
	for _, ex := range running {
		bh, err := readBatchHistory(ctx, h.Client, h.DataConverter, ex.ID, ex.RunID)
		if err != nil {
			return nil, err
		}
		for _, s := range bh.shared {
			for _, a := range s.Accounts {
				needed[s.Source.ImageID+"/"+a] = true
			}
		}
	}
	var out []StaleShare
	for _, ex := range abandoned {
		heartbeat.Progress(ctx, ex.ID)
		bh, err := readBatchHistory(ctx, h.Client, h.DataConverter, ex.ID, ex.RunID)
		if err != nil {
			return nil, err
		}
		for _, s := range bh.shared {
			var left []string
			for _, a := range s.Accounts {
				key := s.Source.ImageID + "/" + a
				if !bh.revoked[key] && !needed[key] && !s.Keep.HasAll(a) {
					left = append(left, a)
				}
			}
			if len(left) > 0 {
				sort.Strings(left)
				s.Accounts = left
				s.Keep = s.Keep.Only(left)
				out = append(out, StaleShare{Batch: ex.ID, Share: s})
			}
		}
	}
	return out, nil
}

// RunningShares answers the activities' question "which running batches
// hold this source image's share with these accounts?"
// (activities.WorkflowChecker's BatchShares; worker.TemporalWorkflows) from
// Temporal: the running batches are listed from its visibility, and what
// each holds is read from its history — its ShareSource inputs (accounts,
// Keep), and which of those accounts it handed to UnshareSource, and which
// of those calls completed.
//
// A batch's input (the first event of its history: its targets and
// sources) says which source images and accounts it can share at all; it is
// read once per batch and kept, so the batches of the same run, whose
// accounts never overlap, cost one call each, once — only a batch that can
// share the image with one of the accounts has its whole history read.
type RunningShares struct {
	Client client.Client
	// DataConverter decodes the batches' histories, as Housekeeping's.
	DataConverter converter.DataConverter
	// VisibilityLag bounds how long after a workflow starts Temporal's
	// visibility may still not list it (0: DefaultVisibilityLag).
	VisibilityLag time.Duration

	mu sync.Mutex
	// reach[run id]: "<source image>/<account>" the batch run can share;
	// nil when its input could not be read (its history is read instead).
	reach map[string]map[string]bool
}

// DefaultVisibilityLag is RunningShares' VisibilityLag by default. A SQL
// visibility store (the embedded server's SQLite, PostgreSQL, MySQL) lists
// a workflow within milliseconds; Elasticsearch refreshes every second.
const DefaultVisibilityLag = 2 * time.Second

// BatchShares lists what the running batches other than the workflow except
// hold of imageID for one of accounts; every batch started before asOf is
// looked at (it waits until VisibilityLag has passed since asOf).
func (r *RunningShares) BatchShares(ctx context.Context, imageID string, accounts []string, except string, asOf time.Time) ([]activities.BatchShare, error) {
	if !asOf.IsZero() {
		lag := r.VisibilityLag
		if lag <= 0 {
			lag = DefaultVisibilityLag
		}
		t := time.NewTimer(time.Until(asOf.Add(lag)))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	running, err := listWorkflows(ctx, r.Client, runningBatches)
	if err != nil {
		return nil, err
	}
	r.forget(running)
	var out []activities.BatchShare
	for _, ex := range running {
		if ex.ID == except {
			continue
		}
		reach, err := r.reachOf(ctx, ex)
		if err != nil {
			return nil, err
		}
		if reach != nil && !slices.ContainsFunc(accounts, func(a string) bool { return reach[imageID+"/"+a] }) {
			continue
		}
		bh, err := readBatchHistory(ctx, r.Client, r.DataConverter, ex.ID, ex.RunID)
		if err != nil {
			return nil, err
		}
		bs := activities.BatchShare{WorkflowID: ex.ID}
		for _, s := range bh.shared {
			if s.Source.ImageID != imageID {
				continue
			}
			for _, a := range s.Accounts {
				key := imageID + "/" + a
				if !bh.revoked[key] && !slices.Contains(bs.Held, a) {
					bs.Held = append(bs.Held, a)
				}
				if !bh.unsharing[key] && !slices.Contains(bs.Needed, a) {
					bs.Needed = append(bs.Needed, a)
				}
			}
			bs.Keep.Launch = append(bs.Keep.Launch, s.Keep.Launch...)
			bs.Keep.Snapshots = append(bs.Keep.Snapshots, s.Keep.Snapshots...)
		}
		if len(bs.Held) > 0 || len(bs.Keep.Launch) > 0 || len(bs.Keep.Snapshots) > 0 {
			out = append(out, bs)
		}
	}
	return out, nil
}

// forget drops what it knows of the batches no longer running.
func (r *RunningShares) forget(running []execution) {
	r.mu.Lock()
	defer r.mu.Unlock()
	keep := map[string]bool{}
	for _, ex := range running {
		keep[ex.RunID] = true
	}
	for run := range r.reach {
		if !keep[run] {
			delete(r.reach, run)
		}
	}
}

// reachOf is what batch run ex can share, from its input.
func (r *RunningShares) reachOf(ctx context.Context, ex execution) (map[string]bool, error) {
	r.mu.Lock()
	reach, ok := r.reach[ex.RunID]
	r.mu.Unlock()
	if ok {
		return reach, nil
	}
	it := r.Client.GetWorkflowHistory(ctx, ex.ID, ex.RunID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	if !it.HasNext() {
		return nil, nil
	}
	ev, err := it.Next()
	if err != nil {
		return nil, fmt.Errorf("reading the history of %s, %w", ex.ID, err)
	}
	var in BatchInput
	if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil && orDefault(r.DataConverter).FromPayloads(a.GetInput(), &in) == nil {
		reach = map[string]bool{}
		for _, t := range in.Targets {
			if src, ok := NearestSource(in.Sources, t.Region); ok {
				reach[src.ImageID+"/"+t.Account] = true
			}
		}
	}
	r.mu.Lock()
	if r.reach == nil {
		r.reach = map[string]map[string]bool{}
	}
	r.reach[ex.RunID] = reach
	r.mu.Unlock()
	return reach, nil
}

type execution struct{ ID, RunID string }

// orDefault is dc, or Temporal's default converter when nil.
func orDefault(dc converter.DataConverter) converter.DataConverter {
	if dc == nil {
		return converter.GetDefaultDataConverter()
	}
	return dc
}

func listWorkflows(ctx context.Context, c client.Client, query string) ([]execution, error) {
	var out []execution
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
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

// batchHistory is what a batch's history says of its shares.
type batchHistory struct {
	// shared are its ShareSource inputs (accounts, Keep).
	shared []activities.ShareSourceInput
	// unsharing: "<source image>/<account>" handed to an UnshareSource;
	// revoked: those whose UnshareSource completed.
	unsharing, revoked map[string]bool
}

// readBatchHistory reads a batch's history: the ShareSource inputs it
// scheduled, and the source/account pairs its UnshareSource calls were
// given and, once completed, revoked.
func readBatchHistory(ctx context.Context, c client.Client, dc converter.DataConverter, id, runID string) (batchHistory, error) {
	dc = orDefault(dc)
	bh := batchHistory{unsharing: map[string]bool{}, revoked: map[string]bool{}}
	unshares := map[int64]activities.ShareSourceInput{}
	it := c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return bh, fmt.Errorf("reading the history of %s, %w", id, err)
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
				return bh, fmt.Errorf("decoding %s's input in the history of %s, %w", name, id, err)
			}
			if name == "ShareSource" {
				bh.shared = append(bh.shared, in)
				continue
			}
			unshares[ev.GetEventId()] = in
			for _, acct := range in.Accounts {
				bh.unsharing[in.Source.ImageID+"/"+acct] = true
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			if in, ok := unshares[ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()]; ok {
				for _, acct := range in.Accounts {
					bh.revoked[in.Source.ImageID+"/"+acct] = true
				}
			}
		}
	}
	return bh, nil
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
