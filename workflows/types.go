// Package workflows holds amicrypt's deterministic Temporal workflows: Pipeline
// (one run per source image set, fanning out), Batch (a slice of accounts, so a
// run stays under Temporal's pending-children and history limits) and Target
// (one account × region: steps 1–10 of DESIGN.md).
package workflows

import (
	"sort"
	"strconv"
	"time"

	"github.com/amicrypt/amicrypt/activities"
)

// TaskQueue is the default task queue of amicrypt's worker.
const TaskQueue = "amicrypt"

// Query names: a Pipeline answers QueryProgress with a Report of every target's
// current status; a Target answers QueryStep with its current step.
const (
	QueryProgress = "progress"
	QueryStep     = "step"
)

// Target statuses in a report.
const (
	StatusPending   = "pending"
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
)

// PipelineInput is one run: the builder's source images (one per region) and
// the targets (one per account × region) to copy them into.
type PipelineInput struct {
	// RunID names the run; the workflow id is "amicrypt-run-<RunID>".
	RunID   string              `json:"run_id"`
	Builder activities.Builder  `json:"builder"`
	Sources []activities.Source `json:"sources"`
	Targets []activities.Target `json:"targets"`
	// InFlight caps the targets running at once across the run (default 1000).
	InFlight int `json:"in_flight"`
	// PerAccountRegion caps the targets of one account and region at once (default 20).
	PerAccountRegion int `json:"per_account_region"`
	// BatchAccounts is how many accounts one Batch child handles (default 100).
	BatchAccounts int `json:"batch_accounts,omitempty"`
	// ReplayOf names the run this one replays, if any.
	ReplayOf string `json:"replay_of,omitempty"`
	// PipelineRoleARN is the role the worker acts as; EnsureKey names it in
	// the key policies it writes.
	PipelineRoleARN string `json:"pipeline_role_arn,omitempty"`
	// TargetParts: the targets listed one by one come in this many parts,
	// Targets the first and SignalTargets the others (TargetsPart), so no
	// input grows with the run (0 or 1: Targets are all of them).
	TargetParts int `json:"target_parts,omitempty"`
	// Organization: targets the run resolves from AWS Organizations as it
	// starts (organization and organizational_unit entries of the config).
	Organization *activities.OrganizationTargets `json:"organization,omitempty"`
}

// SignalTargets carries a TargetsPart of a run's targets.
const SignalTargets = "targets"

// TargetsPart is the Index-th (from 1; Targets of the input is part 0) of
// a run's PipelineInput.TargetParts parts of targets.
type TargetsPart struct {
	Index   int                 `json:"index"`
	Targets []activities.Target `json:"targets"`
}

// TargetsPerPart is how many targets one part carries (a few hundred
// bytes each: a part stays far under 256 KB).
const TargetsPerPart = 250

// TargetReport is one row of the report.
type TargetReport struct {
	Account            string                `json:"account"`
	Name               string                `json:"name,omitempty"`
	Region             string                `json:"region"`
	Status             string                `json:"status"`
	Step               string                `json:"step,omitempty"`
	SourceImageID      string                `json:"source_image_id,omitempty"`
	EncryptedImageID   string                `json:"encrypted_image_id,omitempty"`
	KeyARN             string                `json:"key_arn,omitempty"`
	SnapshotsEncrypted bool                  `json:"snapshots_encrypted"`
	Boot               activities.BootResult `json:"boot"`
	Published          []string              `json:"published,omitempty"`
	StartedAt          *time.Time            `json:"started_at,omitempty"`
	FinishedAt         *time.Time            `json:"finished_at,omitempty"`
	Diagnosis          *activities.Diagnosis `json:"diagnosis,omitempty"`
	// Warnings are cleanups that did not happen (a boot-proof group left
	// behind, a share not revoked): the target's status does not change, but
	// an operator should look.
	Warnings []string `json:"warnings,omitempty"`
	// LeftoversRemoved are boot proofs that workflows terminated earlier
	// had left in the account and region, removed as this target started.
	LeftoversRemoved []string `json:"leftovers_removed,omitempty"`
	// RetiredKeys are keys earlier attempts made for the alias and nothing
	// ever used (their answer lost), scheduled for deletion (7 days).
	RetiredKeys []string `json:"retired_keys,omitempty"`
	// PreviousPointers: what each pointer the run moved named before;
	// PointersKept: pointers left on a newer build of the family.
	PreviousPointers []string `json:"previous_pointers,omitempty"`
	PointersKept     []string `json:"pointers_kept,omitempty"`
	// Retirement is what retention (or a rotation) disabled, deregistered,
	// kept and left alone, and why.
	Retirement *activities.Retirement `json:"retirement,omitempty"`

	// A rotation's row (Report.Kind rotation): KeyARN is the new key,
	// OldKeyARN the key the alias named before; Images the re-encrypted
	// images (old → new, each proven), AliasMoved whether the alias now
	// names KeyARN, Published the pointers repointed, Deregistered the old
	// images retired, OldKeys what became of each old key.
	OldKeyARN    string                    `json:"old_key_arn,omitempty"`
	Images       []activities.RekeyedImage `json:"images,omitempty"`
	AliasMoved   bool                      `json:"alias_moved,omitempty"`
	Deregistered []string                  `json:"deregistered,omitempty"`
	OldKeys      []activities.OldKeyFate   `json:"old_keys,omitempty"`
	// Actions are the destructive or overwriting steps a rotation took (or,
	// in a dry run, would take), each with its evidence.
	Actions []activities.Action `json:"actions,omitempty"`
}

// Report is what a run returns and what `amicrypt status` prints.
type Report struct {
	RunID    string            `json:"run_id"`
	ReplayOf string            `json:"replay_of,omitempty"`
	Sources  map[string]string `json:"sources"`
	Targets  []TargetReport    `json:"targets"`
	Summary  map[string]int    `json:"summary"`
	// Batches lists the run's Batch children and how far each is; a running
	// batch answers QueryProgress with its targets' exact statuses.
	Batches []BatchStatus `json:"batches,omitempty"`
	// RowsInBatches: the rows are not in this report but in its batches'
	// (each batch's result, or its QueryProgress while it runs; a batch not
	// started, QueryBatchTargets of the Pipeline): Summary counts them. A
	// run's report since the rows-in-batches version; pipelinerun.Complete
	// fills Targets in.
	RowsInBatches bool `json:"rows_in_batches,omitempty"`
	// Organization says how the run's organization targets were resolved.
	Organization *OrganizationResolution `json:"organization,omitempty"`

	// Kind is "" for a run, "rotation" or "sweep".
	Kind string `json:"kind,omitempty"`
	// DryRun: nothing was changed; the rows and keys list what would be.
	DryRun bool `json:"dry_run,omitempty"`
	// Reason and Operator of a rotation (a sweep's: the operator).
	Reason   string `json:"reason,omitempty"`
	Operator string `json:"operator,omitempty"`
	// Keys is a sweep's look at every target's key, and what it repaired.
	Keys []activities.KeyHealth `json:"keys,omitempty"`
	// Rotations lists the rotations a sweep started (workflow ids), or
	// found already running.
	Rotations []string `json:"rotations,omitempty"`
	// RotationRuns are the rotations a sweep started since the
	// rotation-runs version: each rotation's rows stay in its own report
	// (its result, or its QueryProgress while it runs), and Summary counts
	// them; pipelinerun.Complete fills Targets in. Rotations then lists
	// only those found already running.
	RotationRuns []RotationRun `json:"rotation_runs,omitempty"`

	// Housekeeping says what the run or sweep cleaned up as it started that
	// earlier workflows, terminated before their compensation, had left
	// (shares on a source); Warnings what it could not.
	Housekeeping []string `json:"housekeeping,omitempty"`
	Warnings     []string `json:"warnings,omitempty"`
}

// RotationRun is one rotation a sweep started: its workflow is
// RotationWorkflowID(Account) (DryRunRotationWorkflowID for a dry run),
// this run of it RunID. About 80 bytes: 2,500 accounts' rotations fit
// within a payload.
type RotationRun struct {
	Account string `json:"account"`
	RunID   string `json:"run_id,omitempty"`
	// Status is running, or how the rotation workflow ended: "" when it
	// completed (its rows say how each region went: RotationCompleted),
	// failed or cancelled.
	Status string `json:"status,omitempty"`
	// Regions is how many rows the rotation has (one per region).
	Regions int `json:"regions"`
	// Error: the rotation ended without a report (at most
	// MaxRotationErrorBytes of it).
	Error string `json:"error,omitempty"`
}

// MaxRotationErrorBytes bounds RotationRun.Error.
const MaxRotationErrorBytes = 300

// BatchStatus is one Batch child of a run, as the Pipeline sees it.
type BatchStatus struct {
	WorkflowID string `json:"workflow_id"`
	Status     string `json:"status"` // pending | running | succeeded (all reports in) | cancelled
	Accounts   int    `json:"accounts"`
	Targets    int    `json:"targets"`
	// Summary counts the batch's targets per status once it ended (a
	// rows-in-batches run).
	Summary map[string]int `json:"summary,omitempty"`
	// Error: the batch ended without a row for some targets (they count as
	// failed, or cancelled), and why.
	Error string `json:"error,omitempty"`
}

// OrganizationResolution is what a run's organization targets became.
type OrganizationResolution struct {
	OrganizationID string `json:"organization_id,omitempty"`
	// Accounts served, targets they make, units read.
	Accounts int `json:"accounts"`
	Targets  int `json:"targets"`
	Units    int `json:"units"`
	// Excluded: accounts the selectors' exclude lists left out.
	Excluded int `json:"excluded,omitempty"`
	// Skipped: suspended accounts and accounts being closed (at most
	// MaxSkippedListed listed; SkippedCount counts them all).
	Skipped      []activities.OrganizationAccount `json:"skipped,omitempty"`
	SkippedCount int                              `json:"skipped_count,omitempty"`
}

// MaxSkippedListed bounds the skipped accounts a report lists.
const MaxSkippedListed = 100

// TargetInput is one Target workflow: one account × region, served by one
// source image that the Batch has already shared with the account.
type TargetInput struct {
	RunID           string            `json:"run_id"`
	Source          activities.Source `json:"source"`
	Target          activities.Target `json:"target"`
	PipelineRoleARN string            `json:"pipeline_role_arn,omitempty"`
	// Builder owns the source; PrepareTarget checks the source for the
	// target with it (inputs recorded before it was passed have none).
	Builder *activities.Builder `json:"builder,omitempty"`
	// Attributes is how the Target keeps its search attributes
	// (searchattrs.go): AttributesAtWaits when its Batch started it running
	// (a Batch of this release); 0 in inputs from before, where the Target
	// asks the search-attributes version instead.
	Attributes int `json:"attributes,omitempty"`
}

// BatchInput is one Batch workflow: a slice of a run's accounts with all
// their targets.
type BatchInput struct {
	RunID   string              `json:"run_id"`
	Index   int                 `json:"index"`
	Builder activities.Builder  `json:"builder"`
	Sources []activities.Source `json:"sources"`
	Targets []activities.Target `json:"targets"`
	// InFlight is this batch's share of the run's InFlight.
	InFlight         int    `json:"in_flight"`
	PerAccountRegion int    `json:"per_account_region"`
	PipelineRoleARN  string `json:"pipeline_role_arn,omitempty"`
	// Children is how the Batch watches its Target children:
	// ChildrenOnSelector when its Pipeline says so; 0 (a Batch started
	// before) a coroutine per child, as it was recorded.
	Children int `json:"children,omitempty"`
}

// ChildrenOnSelector: a Batch watches its children's futures on its one
// selector, with no coroutine per child (a Batch of a thousand running
// targets holds a thousand futures, not a thousand parked goroutines and
// their stacks in the worker). Its commands come in another order than a
// coroutine per child gives (a child's start before a revocation decided in
// the same task), hence the input field: a Batch keeps the way it started.
const ChildrenOnSelector = 1

// QueryReport: a running Target answers it with its TargetReport so far. (A
// Batch, like the Pipeline, answers QueryProgress with a Report of its targets.)
const QueryReport = "report"

// QuerySummary: a Batch answers it with its targets' counts per status
// (Summary), what progress reads every second. QueryBatchTargets (an int
// argument, the batch's index): a rows-in-batches Pipeline answers it with
// the pending rows of that batch's targets.
const (
	QuerySummary      = "summary"
	QueryBatchTargets = "batch-targets"
)

// Steps of a target. QueryStep answers with the step under way: share (the
// Batch's, before a Target starts), prepare, copy, boot-proof, publish, done
// — one per activity. A failed target's TargetReport.Step is the finer step
// that failed (the diagnosis names it: assume-role, service-linked-role, key,
// copy, wait-available, verify-snapshots, boot-proof, mark, publish,
// retention).
const (
	StepShare             = activities.StepShare
	StepPrepare           = "prepare"
	StepAssume            = activities.StepAssume
	StepServiceLinkedRole = activities.StepServiceLinkedRole
	StepKey               = activities.StepKey
	StepCopy              = activities.StepCopy
	StepWaitAvailable     = activities.StepWaitAvailable
	StepBootProof         = activities.StepBootProof
	StepVerify            = activities.StepVerify
	StepMark              = activities.StepMark
	StepPublish           = activities.StepPublish
	StepRetention         = activities.StepRetention
	StepDone              = "done"
)

// PipelineWorkflowID is the Pipeline workflow's id for a run.
func PipelineWorkflowID(runID string) string { return "amicrypt-run-" + runID }

// BatchWorkflowID is the id of a run's n-th (from 0) Batch child.
func BatchWorkflowID(runID string, n int) string {
	return "amicrypt-batch-" + runID + "-" + strconv.Itoa(n)
}

// TargetWorkflowID is the id of the Target child copying a source image into
// one account and region. It does not name the run: two runs of the same
// source image share the target's workflow, so the work is done once.
func TargetWorkflowID(sourceImageID, account, region string) string {
	return "amicrypt-target-" + sourceImageID + "-" + account + "-" + region
}

// Actions lists every destructive or overwriting action a report's rows
// and keys record — a rotation's re-encryptions, pointer moves, image and
// key retirements, a sweep's second steps — as "do resource", sorted: a
// dry run's list is what the real command then does.
func (r Report) Actions() []string {
	var out []string
	for _, t := range r.Targets {
		for _, a := range t.Actions {
			out = append(out, a.Do+" "+a.Resource)
		}
	}
	for _, k := range r.Keys {
		for _, a := range k.Retirement.Actions() {
			out = append(out, a.Do+" "+a.Resource)
		}
		for _, f := range k.OldKeys {
			for _, a := range f.Actions {
				out = append(out, a.Do+" "+a.Resource)
			}
		}
	}
	sort.Strings(out)
	return out
}
