package workflows

import (
	"github.com/amicrypt/amicrypt/activities"
)

// Report kinds: a Pipeline's report has none (a run); a Rotation's and a
// Sweep's say what they are.
const (
	KindRun      = ""
	KindRotation = "rotation"
	KindSweep    = "sweep"
)

// Rotation steps, as a rotation target's Step names them (with StepCopy,
// StepWaitAvailable, StepVerify, StepBootProof and StepMark of the pipeline
// for each re-encrypted image).
const (
	StepSuccessorKey = activities.StepSuccessorKey
	StepFindImages   = activities.StepFindImages
	StepSwitch       = activities.StepSwitch
	StepRetire       = activities.StepRetire
	// stepInspect is a sweep's look at one target's key.
	stepInspect = "inspect-key"
)

// Defaults of a rotation and a sweep.
const (
	// DefaultDeletionWindowDays: an old key is scheduled for deletion after
	// 30 days (KMS allows 7–30), the longest time to notice a mistake.
	DefaultDeletionWindowDays = 30
	// DefaultImagesPerRegion caps the images one rotation re-encrypts at
	// once in one region.
	DefaultImagesPerRegion = 5
	// DefaultConcurrentRotations caps the rotations a sweep runs at once.
	DefaultConcurrentRotations = 5
	// DefaultInspections caps the keys a sweep inspects at once.
	DefaultInspections = 20
)

// RotationInput is one account's rotation: every region listed in Targets
// (one target per region, as the config expands them).
type RotationInput struct {
	// RotationID names the rotation (tags, boot-proof names, report).
	RotationID string              `json:"rotation_id"`
	Account    string              `json:"account"`
	Targets    []activities.Target `json:"targets"`
	// Reason is leaked, scheduled or policy (activities.RotationReasons).
	Reason   string `json:"reason"`
	Operator string `json:"operator"`
	// RekeyRegions are regions where no new key is made: the images under
	// a key other than the alias's are re-encrypted under the alias's key
	// (what a sweep finds after a rotation that could not retire
	// everything, or a copy that finished under an old key).
	RekeyRegions []string `json:"rekey_regions,omitempty"`
	// DeletionWindowDays is the old key's waiting period (7–30, default 30).
	DeletionWindowDays int `json:"deletion_window_days,omitempty"`
	// ImagesPerRegion caps the images re-encrypted at once per region.
	ImagesPerRegion int    `json:"images_per_region,omitempty"`
	PipelineRoleARN string `json:"pipeline_role_arn,omitempty"`
	// DryRun changes nothing in AWS: each row lists the actions the
	// rotation would take, with their evidence.
	DryRun bool `json:"dry_run,omitempty"`
	// Organization: Targets is empty, the account is one the config's
	// organization selectors serve (not listed one by one); the rotation
	// resolves the selectors as it starts and takes the account's targets
	// (only Region's, when set).
	Organization *activities.OrganizationTargets `json:"organization,omitempty"`
	Region       string                          `json:"region,omitempty"`
}

// SweepInput is one sweep over the configured targets.
type SweepInput struct {
	// SweepID names the sweep; empty: the workflow id.
	SweepID string              `json:"sweep_id,omitempty"`
	Targets []activities.Target `json:"targets"`
	// MaxKeyAgeDays: a key older than this is due for rotation (0: age
	// never makes a key due).
	MaxKeyAgeDays int `json:"max_key_age_days,omitempty"`
	// ConcurrentRotations caps the rotations running at once (default 5).
	ConcurrentRotations int    `json:"concurrent_rotations,omitempty"`
	DeletionWindowDays  int    `json:"deletion_window_days,omitempty"`
	PipelineRoleARN     string `json:"pipeline_role_arn,omitempty"`
	// Operator is recorded on the rotations the sweep starts.
	Operator string `json:"operator,omitempty"`
	// DryRun changes nothing in AWS: the keys' findings and the dry runs
	// of the rotations that are due list every action a sweep would take.
	DryRun bool `json:"dry_run,omitempty"`
	// Organization: targets the sweep resolves from AWS Organizations as it
	// starts (each sweep anew: an account that joined is swept), beside
	// Targets, the accounts listed one by one.
	Organization *activities.OrganizationTargets `json:"organization,omitempty"`
}

// RotationWorkflowID is the id of an account's rotation: one at a time per
// account, whoever starts it (an operator or a sweep).
func RotationWorkflowID(account string) string { return "amicrypt-rotate-" + account }

// DryRunRotationWorkflowID is the id of a dry run of an account's rotation
// (by id): it never blocks, nor attaches to, a real one.
func DryRunRotationWorkflowID(account, id string) string {
	return "amicrypt-rotate-dryrun-" + account + "-" + id
}

// SweepWorkflowID is the id of a one-off sweep.
func SweepWorkflowID(id string) string { return "amicrypt-sweep-" + id }

// ScheduleID is the default id of the sweep's Temporal Schedule.
const ScheduleID = "amicrypt-sweep"
