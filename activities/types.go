// Package activities holds every AWS side effect of the pipeline: methods on
// structs holding narrow aws-sdk-go-v2 interfaces, registered once with the
// worker and called from the workflows. Every effect is idempotent (client
// tokens, find-before-create, deterministic names), and AWS errors become typed,
// diagnosed errors at one edge (diagnose.go).
package activities

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/amicrypt/amicrypt/internal/policy"
)

// Tags amicrypt puts on everything it makes.
const (
	TagSourceImage = "amicrypt:source-image"
	TagRun         = "amicrypt:run"
	TagKey         = "amicrypt:key"
	TagFamily      = "amicrypt:family"
	TagProven      = "amicrypt:proven" // "true" after a successful boot proof, "false" when it failed
	TagManagedKey  = "amicrypt:managed"
	// TagKeyAlias is put on a key amicrypt creates, naming the alias it is
	// made for: a key whose CreateKey answer was lost, or whose worker died
	// before CreateAlias, is found by it and adopted instead of made again.
	TagKeyAlias = "amicrypt:alias"
)

// Builder is the account where Packer built the source images.
type Builder struct {
	Account string `json:"account"`
	// RoleARN is assumed for builder calls; empty: the worker's own credentials.
	RoleARN    string `json:"role_arn,omitempty"`
	ExternalID string `json:"external_id,omitempty"`
}

// Source is one unencrypted source image in the builder account.
type Source struct {
	Region  string `json:"region"`
	ImageID string `json:"image_id"`
	// Name is the source image's name (the copies' family), when known:
	// ShareSource reads it in the builder account, so targets need not.
	Name string `json:"name,omitempty"`
	// Created is the source image's creation date (the family's build
	// order), when known: ShareSource reads it with the name.
	Created string `json:"created,omitempty"`
}

// BootProof configures the throwaway Auto Scaling group that proves a copy boots.
type BootProof struct {
	Enabled      bool          `json:"enabled"`
	InstanceType string        `json:"instance_type"`
	SubnetIDs    []string      `json:"subnet_ids,omitempty"`
	Timeout      time.Duration `json:"timeout"`
}

// Publish says where a proven image is announced.
type Publish struct {
	SSMParameter   string `json:"ssm_parameter,omitempty"`
	LaunchTemplate string `json:"launch_template,omitempty"`
}

// Target is one account × region, with everything needed to reach and serve it.
type Target struct {
	Account string `json:"account"`
	Name    string `json:"name,omitempty"`
	Region  string `json:"region"`
	// RoleARN is the role amicrypt assumes in the account.
	RoleARN    string `json:"role_arn"`
	ExternalID string `json:"external_id,omitempty"`
	// KeyAlias is the dedicated key's alias in the account (alias/amicrypt).
	KeyAlias string `json:"key_alias"`
	// KeyARN, when set, names a key owned by another account (seed 003 case 2):
	// amicrypt neither creates nor edits it, and grants the service-linked role
	// its use from the target account.
	KeyARN                  string    `json:"key_arn,omitempty"`
	ManageKeyPolicy         bool      `json:"manage_key_policy,omitempty"`
	GrantServiceLinkedRole  bool      `json:"grant_service_linked_role,omitempty"`
	ServiceLinkedRoleSuffix string    `json:"service_linked_role_suffix,omitempty"`
	BootProof               BootProof `json:"boot_proof"`
	Publish                 Publish   `json:"publish"`
	// Keep is how many proven images of the family retention keeps in the
	// account and region (the newest by build order); 0 turns retention off.
	Keep int `json:"keep"`
	// Family names the line of builds the copies belong to (retention and
	// publishing compare images of one family only); empty: the source
	// image's name without its trailing date, timestamp or build number
	// (FamilyFromName).
	Family string `json:"family,omitempty"`
	// RetentionGrace is how long a retired image stays disabled (reversible
	// with EnableImage) before it is deregistered with its snapshots; nil:
	// DefaultRetentionGrace.
	RetentionGrace *time.Duration `json:"retention_grace,omitempty"`
	// RetireAfter is how long an old key stays disabled, unused and
	// untried, before its deletion is scheduled; nil: DefaultRetireAfter.
	RetireAfter *time.Duration `json:"retire_after,omitempty"`
	// LaunchPrincipals are the role ARNs that will launch instances from
	// the copies (seed 002): each must be able to use the key through EC2,
	// kms:CreateGrant with kms:GrantIsForAWSResource included (F4).
	LaunchPrincipals []string `json:"launch_principals,omitempty"`
}

// Defaults of the retirement delays (the retention: and rotation: blocks).
const (
	DefaultRetentionGrace = 7 * 24 * time.Hour
	DefaultRetireAfter    = 7 * 24 * time.Hour
)

// Grace is the target's retention grace (DefaultRetentionGrace when unset).
func (t Target) Grace() time.Duration {
	if t.RetentionGrace == nil {
		return DefaultRetentionGrace
	}
	return *t.RetentionGrace
}

// KeyRetireAfter is the target's key retirement delay (DefaultRetireAfter
// when unset).
func (t Target) KeyRetireAfter() time.Duration {
	if t.RetireAfter == nil {
		return DefaultRetireAfter
	}
	return *t.RetireAfter
}

// ID is the target's stable identity: account/region.
func (t Target) ID() string { return t.Account + "/" + t.Region }

// ServiceLinkedRoleName is AWSServiceRoleForAutoScaling or its _suffix variant.
func (t Target) ServiceLinkedRoleName() string {
	if t.ServiceLinkedRoleSuffix == "" {
		return "AWSServiceRoleForAutoScaling"
	}
	return "AWSServiceRoleForAutoScaling_" + t.ServiceLinkedRoleSuffix
}

// ServiceLinkedRoleARN is the ARN of the role the boot-proof group uses.
func (t Target) ServiceLinkedRoleARN() string {
	return "arn:aws:iam::" + t.Account + ":role/aws-service-role/autoscaling.amazonaws.com/" + t.ServiceLinkedRoleName()
}

// Token derives a stable token (CopyImage ClientToken, resource names) from the
// target's identity, the source image and a purpose, at most 64 characters.
func Token(purpose string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return purpose + "-" + hex.EncodeToString(h.Sum(nil))[:40]
}

// ---- activity inputs and outputs ----

// AssumeTargetInput checks that the target role can be assumed (F7 otherwise).
type AssumeTargetInput struct {
	Target Target `json:"target"`
}

// AssumeTargetResult is who amicrypt acts as in the target.
type AssumeTargetResult struct {
	Arn string `json:"arn"`
}

// EnsureServiceLinkedRoleInput ensures the Auto Scaling service-linked role.
type EnsureServiceLinkedRoleInput struct {
	Target Target `json:"target"`
	// DryRun creates nothing: Planned says the role would be created.
	DryRun bool `json:"dry_run,omitempty"`
}

// EnsureServiceLinkedRoleResult names the role.
type EnsureServiceLinkedRoleResult struct {
	RoleARN string `json:"role_arn"`
	Created bool   `json:"created"`
	Planned bool   `json:"planned,omitempty"`
}

// EnsureKeyInput ensures the dedicated key (or the grant on another account's
// key) and predicts with the policy evaluator whether the service-linked role
// and EC2 may use it; a target that would fail stops here with F2/F3/F5/F6.
type EnsureKeyInput struct {
	Target   Target `json:"target"`
	RunID    string `json:"run_id"`
	SLRARN   string `json:"slr_arn"`
	Pipeline string `json:"pipeline_role_arn,omitempty"`
	// DryRun changes nothing: Actions says what would be created, written
	// or granted, and the prediction is made on the policy and grants the
	// key would then have.
	DryRun bool `json:"dry_run,omitempty"`
}

// EnsureKeyResult is the key the copy is encrypted under.
type EnsureKeyResult struct {
	KeyARN        string `json:"key_arn"`
	Created       bool   `json:"created"`
	Managed       bool   `json:"managed"`
	PolicyChanged bool   `json:"policy_changed"`
	GrantID       string `json:"grant_id,omitempty"`
	// RetiredKeys are keys earlier attempts made for the alias and nothing
	// used, scheduled for deletion (7 days) when one of them was adopted.
	RetiredKeys []string `json:"retired_keys,omitempty"`
	// Actions a dry run would take (the key, its policy, its rotation, a
	// grant), each with the exact policy statements or call.
	Actions []Action `json:"actions,omitempty"`

	// doc and grants are the key's policy and grants as the prediction saw
	// them (nil: unreadable), for the launch principals' check.
	doc    *policy.Document
	grants []policy.Grant
}

// ShareSourceInput adds (or, for Unshare, removes) launch permission on the
// source image and create-volume permission on each of its snapshots for many
// accounts at once.
type ShareSourceInput struct {
	Builder  Builder  `json:"builder"`
	Source   Source   `json:"source"`
	Accounts []string `json:"accounts"`
	// Keep are permissions the source had before amicrypt shared it
	// (FindPreexistingShares): ShareSource does not add them, UnshareSource
	// never removes them. Inputs recorded before it existed have none.
	Keep SourcePermissions `json:"keep,omitzero"`
	// AtOnce is, for PlanShare, the most accounts the run shares the
	// source with at once (a batch's); 0: all of them.
	AtOnce int `json:"at_once,omitempty"`
}

// ShareSourceResult counts the builder calls made.
type ShareSourceResult struct {
	Calls int `json:"calls"`
	// Name and Created are the source image's name and creation date,
	// read while sharing.
	Name    string `json:"name,omitempty"`
	Created string `json:"created,omitempty"`
}

// CopyImageInput copies the source into the target, encrypted under KeyARN,
// after looking for an existing copy by tag.
type CopyImageInput struct {
	Target Target `json:"target"`
	Source Source `json:"source"`
	KeyARN string `json:"key_arn"`
	RunID  string `json:"run_id"`
	// Name of the new image; derived from the source's name when empty.
	Name string `json:"name,omitempty"`
}

// CopyImageResult is the encrypted image.
type CopyImageResult struct {
	ImageID string `json:"image_id"`
	Reused  bool   `json:"reused"`
}

// BootProofInput creates, waits on, or deletes the throwaway launch template
// and Auto Scaling group. Names are derived from the run and target, so a
// delete works even when the create's result was lost.
type BootProofInput struct {
	Target  Target `json:"target"`
	RunID   string `json:"run_id"`
	ImageID string `json:"image_id"`
	KeyARN  string `json:"key_arn"`
	SLRARN  string `json:"slr_arn"`
	// RootDevice is the image's root device name, when known (saves
	// reading the image).
	RootDevice string `json:"root_device,omitempty"`
}

// BootProofNames are the throwaway resources' names.
func (in BootProofInput) BootProofNames() (group, template string) {
	n := Token("amicrypt-proof", in.RunID, in.Target.Account, in.Target.Region)
	return n, n
}

// BootResult is what the boot proof saw.
type BootResult struct {
	Result     string `json:"result"` // InService | Failed | Skipped
	InstanceID string `json:"instance_id,omitempty"`
	Message    string `json:"message,omitempty"`
}

// VerifyInput checks every snapshot of the new image is under the dedicated key.
type VerifyInput struct {
	Target  Target `json:"target"`
	ImageID string `json:"image_id"`
	KeyARN  string `json:"key_arn"`
}

// VerifyResult reports the snapshot check.
type VerifyResult struct {
	SnapshotsEncrypted bool     `json:"snapshots_encrypted"`
	Snapshots          []string `json:"snapshots"`
}

// PublishInput announces a proven image (SSM parameter, launch template version).
type PublishInput struct {
	Target  Target `json:"target"`
	ImageID string `json:"image_id"`
	// Family of the image (FamilyOf), so a pointer on a newer build of it
	// stays.
	Family string `json:"family,omitempty"`
}

// PublishResult lists what was published ("ssm:/name", "launch-template:lt-...:3").
type PublishResult struct {
	Published []string `json:"published"`
	// Previous: what each pointer moved named before ("ssm:/name was ami-…").
	Previous []string `json:"previous,omitempty"`
	// Kept: pointers left on a newer build of the family, and why.
	Kept []string `json:"kept,omitempty"`
}

// MarkImageInput tags an image proven or unproven.
type MarkImageInput struct {
	Target  Target `json:"target"`
	ImageID string `json:"image_id"`
	Proven  bool   `json:"proven"`
	Reason  string `json:"reason,omitempty"`
	// NoStaleReason: the image is known to carry no amicrypt:proven-reason
	// tag, so a proven mark needs not delete one.
	NoStaleReason bool `json:"no_stale_reason,omitempty"`
}

// RetentionInput keeps the newest Keep proven amicrypt images of the
// family in the target's account and region (KeepImageID always among them)
// and retires the rest (applyRetention).
type RetentionInput struct {
	Target      Target `json:"target"`
	Source      Source `json:"source"`
	KeepImageID string `json:"keep_image_id"`
	// KeyARN is the key the run copied under.
	KeyARN string `json:"key_arn,omitempty"`
	// Family, when known (FamilyOf otherwise).
	Family string `json:"family,omitempty"`
	// DryRun changes nothing; Incoming: a plan's preview, before the copy
	// exists, counting it as the newest build.
	DryRun   bool `json:"dry_run,omitempty"`
	Incoming bool `json:"incoming,omitempty"`
}
