package activities

import "time"

// Tags of a key rotation. On the new key: TagPredecessor (the old key's
// ARN), TagRotation, TagRotationReason, TagRotatedBy and TagManagedKey. On
// the old key: TagSuccessor (the new key's ARN), the reason and operator.
// On a re-encrypted image and its snapshots: TagRekeyedFrom (the image it was
// copied from) and TagRotation, with the old image's amicrypt tags.
const (
	TagSuccessor      = "amicrypt:successor"
	TagPredecessor    = "amicrypt:predecessor"
	TagRotation       = "amicrypt:rotation"
	TagRotationReason = "amicrypt:rotation-reason"
	TagRotatedBy      = "amicrypt:rotated-by"
	TagRekeyedFrom    = "amicrypt:rekeyed-from"
	// TagRetire on a key asks the next sweep to rotate it; its value is the
	// reason (leaked, scheduled, policy; anything else counts as policy).
	TagRetire = "amicrypt:retire"
)

// Rotation reasons, recorded in tags and reports.
const (
	ReasonLeaked    = "leaked"
	ReasonScheduled = "scheduled"
	ReasonPolicy    = "policy"
)

// RotationReasons lists the reasons a rotation may give.
var RotationReasons = []string{ReasonLeaked, ReasonScheduled, ReasonPolicy}

// ValidReason reports whether r is one of RotationReasons.
func ValidReason(r string) bool {
	for _, v := range RotationReasons {
		if r == v {
			return true
		}
	}
	return false
}

// Deletion windows KMS allows for ScheduleKeyDeletion.
const (
	MinDeletionWindowDays = 7
	MaxDeletionWindowDays = 30
)

// PrepareRotationInput prepares one region of a rotation: the role, the
// service-linked role, the alias's current key and (NewKey) its successor.
type PrepareRotationInput struct {
	Target     Target `json:"target"`
	RotationID string `json:"rotation_id"`
	Reason     string `json:"reason"`
	Operator   string `json:"operator"`
	Pipeline   string `json:"pipeline_role_arn,omitempty"`
	// NewKey: make (or find) the successor of the alias's key; false
	// re-encrypts under the alias's key itself.
	NewKey bool `json:"new_key"`
	// DryRun creates nothing: Actions says what would be (a successor not
	// made yet leaves NewKey empty).
	DryRun bool `json:"dry_run,omitempty"`
}

// PrepareRotationResult is the region's keys: Current is the alias's key,
// New the key images are re-encrypted under (Current when no new key).
type PrepareRotationResult struct {
	SLRARN     string `json:"slr_arn"`
	CurrentKey string `json:"current_key"`
	NewKey     string `json:"new_key"`
	Created    bool   `json:"created"`
	// Predecessor is a key amicrypt rotated away from before (the alias's
	// key's amicrypt:predecessor) that is not yet pending deletion: one a
	// volume held at that rotation, to retire now if nothing holds it.
	Predecessor string `json:"predecessor,omitempty"`
	// Kept are the Sids (or positions) of the old key's statements the
	// new key's policy kept.
	Kept []string `json:"kept,omitempty"`
	// RetiredKeys are further successors earlier attempts made and nothing
	// used, scheduled for deletion (7 days).
	RetiredKeys []string `json:"retired_keys,omitempty"`
	// Actions a dry run would take.
	Actions []Action `json:"actions,omitempty"`
}

// KeyedImage is a live amicrypt image and the key its snapshots are under.
type KeyedImage struct {
	ImageID     string   `json:"image_id"`
	Name        string   `json:"name"`
	KeyARN      string   `json:"key_arn"`
	Family      string   `json:"family,omitempty"`
	SourceImage string   `json:"source_image,omitempty"`
	RootDevice  string   `json:"root_device,omitempty"`
	Snapshots   []string `json:"snapshots,omitempty"`
	// Tags are the image's amicrypt tags (amicrypt:*), carried to its copy.
	Tags map[string]string `json:"tags,omitempty"`
}

// FindKeyedImagesInput finds the target's live amicrypt images whose
// snapshots are not (all) under Keep.
type FindKeyedImagesInput struct {
	Target Target `json:"target"`
	Keep   string `json:"keep_key"`
}

// FindKeyedImagesResult lists them, oldest first.
type FindKeyedImagesResult struct {
	Images []KeyedImage `json:"images"`
	// Skipped: "ami-…: why" for images of the target not re-encrypted
	// (unproven, failed, disabled); OutOfScope: images carrying amicrypt's
	// tags without the evidence that they are this target's.
	Skipped    []string `json:"skipped,omitempty"`
	OutOfScope []string `json:"out_of_scope,omitempty"`
}

// ReencryptImageInput copies Image under NewKey (a re-encrypting CopyImage
// in the same region).
type ReencryptImageInput struct {
	Target     Target     `json:"target"`
	Image      KeyedImage `json:"image"`
	NewKey     string     `json:"new_key"`
	RotationID string     `json:"rotation_id"`
}

// RekeyedImage is one image of a rotation: the old one, its copy under the
// new key, and the copy's boot proof.
type RekeyedImage struct {
	OldImageID string     `json:"old_image_id"`
	NewImageID string     `json:"new_image_id,omitempty"`
	Family     string     `json:"family,omitempty"`
	Status     string     `json:"status"` // running | proven | failed
	Boot       BootResult `json:"boot"`
}

// SwitchKeyInput moves the alias to NewKey and repoints what amicrypt
// published (the target's SSM parameter and launch template) from the old
// images to their copies (Images: old image id → new image id).
type SwitchKeyInput struct {
	Target    Target            `json:"target"`
	NewKey    string            `json:"new_key"`
	OldKeys   []string          `json:"old_keys,omitempty"`
	Images    map[string]string `json:"images,omitempty"`
	MoveAlias bool              `json:"move_alias"`
	// DryRun changes nothing: Actions says what would be.
	DryRun bool `json:"dry_run,omitempty"`
}

// SwitchKeyResult says what moved.
type SwitchKeyResult struct {
	AliasMoved bool     `json:"alias_moved"`
	Repointed  []string `json:"repointed,omitempty"`
	// Warnings: configured pointers that are not amicrypt's, left alone.
	Warnings []string `json:"warnings,omitempty"`
	// Actions: what moved (or, in a dry run, would).
	Actions []Action `json:"actions,omitempty"`
}

// RetireOldKeysInput retires what the rotation replaced: the old images
// (disabled, deregistered after the grace, never while used) and each old
// key of the alias's line that nothing holds (disabled only).
type RetireOldKeysInput struct {
	Target    Target   `json:"target"`
	OldImages []string `json:"old_images,omitempty"`
	// NewKey is the key the images were re-encrypted under.
	NewKey string `json:"new_key,omitempty"`
	// OldKeys are every key the rotation moved images away from.
	OldKeys []string `json:"old_keys"`
	// Retire are the old keys amicrypt may disable: the key the alias named
	// before a rotation. Keys of the alias's line (configKeys) are retired
	// too; others are only reported.
	Retire []string `json:"retire,omitempty"`
	// DeletionWindowDays is the window a later deletion is scheduled with.
	DeletionWindowDays int `json:"deletion_window_days"`
	// DryRun changes nothing: the result says what would be done.
	DryRun bool `json:"dry_run,omitempty"`
}

// OldKeyFate is what became of an old key.
type OldKeyFate struct {
	KeyARN string `json:"key_arn"`
	// State is the key's state afterwards: PendingDeletion, or Enabled
	// when something still holds it (HeldBy names each resource) or it is
	// not amicrypt's to retire.
	State        string     `json:"state"`
	DeletionDate *time.Time `json:"deletion_date,omitempty"`
	HeldBy       []string   `json:"held_by,omitempty"`
	// RevokedGrants are amicrypt's grants on the key that were revoked.
	RevokedGrants []string `json:"revoked_grants,omitempty"`
	Note          string   `json:"note,omitempty"`
	// Tried: requests refused while the key was disabled (CloudTrail),
	// newest first; LastUsed: its last successful use (GetKeyLastUsage).
	Tried    []string `json:"tried,omitempty"`
	LastUsed string   `json:"last_used,omitempty"`
	// Actions: what was done to the key (or, in a dry run, would be), with
	// the evidence.
	Actions []Action `json:"actions,omitempty"`
}

// RetireOldKeysResult is what was retired.
type RetireOldKeysResult struct {
	// Images is what became of the old images; Deregistered repeats its
	// Deregistered.
	Images       Retirement   `json:"images"`
	Deregistered []string     `json:"deregistered,omitempty"`
	Keys         []OldKeyFate `json:"keys"`
}

// InspectKeyInput is a sweep's look at one target's key.
type InspectKeyInput struct {
	Target        Target `json:"target"`
	MaxKeyAgeDays int    `json:"max_key_age_days,omitempty"`
	Pipeline      string `json:"pipeline_role_arn,omitempty"`
	// DeletionWindowDays is the window of a retired key's deletion.
	DeletionWindowDays int `json:"deletion_window_days,omitempty"`
	// DryRun changes nothing: the findings say what would be done.
	DryRun bool `json:"dry_run,omitempty"`
}

// KeyHealth is what a sweep found on one target's key, and what it repaired
// on the spot (rotation turned on, a drifted policy reconciled).
type KeyHealth struct {
	Account string `json:"account"`
	Region  string `json:"region"`
	Alias   string `json:"alias"`
	KeyARN  string `json:"key_arn,omitempty"`
	Managed bool   `json:"managed"`
	// Missing: no key under the alias (the next run creates one).
	Missing          bool   `json:"missing,omitempty"`
	RotationEnabled  bool   `json:"rotation_enabled"`
	RotationRepaired bool   `json:"rotation_repaired,omitempty"`
	AgeDays          int    `json:"age_days"`
	RetireTag        string `json:"retire_tag,omitempty"`
	// PolicyDrift lists the required statements missing or changed.
	PolicyDrift    []string `json:"policy_drift,omitempty"`
	PolicyRepaired bool     `json:"policy_repaired,omitempty"`
	// StaleImages are live amicrypt images under another key than the
	// alias's (StaleKeys).
	StaleImages []string `json:"stale_images,omitempty"`
	StaleKeys   []string `json:"stale_keys,omitempty"`
	// Due is the reason a rotation is due ("" when none), Rekey that
	// stale images need re-encrypting.
	Due   string `json:"due,omitempty"`
	Rekey bool   `json:"rekey,omitempty"`
	// Findings explain, one line each, what is wrong and what was done.
	Findings []string `json:"findings,omitempty"`
	// LeftoversRemoved are boot proofs terminated workflows abandoned in
	// the account and region, removed by the sweep.
	LeftoversRemoved []string `json:"leftovers_removed,omitempty"`
	// Retirement: the target's images retired earlier whose grace ended
	// (deregistered) or that came back into use (enabled), and images left
	// alone for want of evidence.
	Retirement Retirement `json:"retirement"`
	// OldKeys: the keys a rotation disabled, and what became of them now
	// (enabled again when tried, deletion scheduled when due).
	OldKeys []OldKeyFate `json:"old_keys,omitempty"`
	// Writes counts the AWS calls that changed something (0 for a healthy key).
	Writes int `json:"writes"`
	// Error is set when the key could not be inspected.
	Error *Diagnosis `json:"error,omitempty"`
}
