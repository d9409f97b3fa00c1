package sandbox

import (
	"encoding/json"
	"sort"
	"time"
)

// State is everything the sandbox knows, laid out the way an operator reads it:
// per account, then per region. It is what /_sandbox/state returns and what
// --state persists. All access goes through Cloud, which holds the lock.
type State struct {
	Regions        []string `json:"regions"`
	OrganizationID string   `json:"organization_id,omitempty"`
	// ManagementAccounts are the management account of each organization
	// (id -> account id).
	ManagementAccounts map[string]string `json:"management_accounts,omitempty"`
	// Organizations holds each organization's structure (id -> tree): its
	// root, OUs, delegated administrators, where each member is and its
	// status. An organization missing here (a state written before trees
	// were kept) has every member active and directly under its root.
	Organizations map[string]*OrgTree `json:"organizations,omitempty"`
	Accounts      map[string]*Account `json:"accounts"`
	// Sessions are the temporary credentials handed out by sts:AssumeRole.
	Sessions map[string]*Session `json:"sessions,omitempty"`
	// Seq numbers every generated id so ids are unique and repeatable for a world.
	Seq uint64 `json:"seq"`
	// TrackingStart is when the sandbox began recording keys' cryptographic
	// use (GetKeyLastUsage's TrackingStartDate for older keys).
	TrackingStart time.Time `json:"tracking_start,omitempty"`
}

// Account is one AWS account.
type Account struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// Organization is the account's membership as in the world: "" for the
	// world's organization (State.OrganizationID), "none", or an id.
	Organization string           `json:"organization,omitempty"`
	Roles        map[string]*Role `json:"roles"`
	Users        map[string]*User `json:"users,omitempty"`
	// Regions holds the account's regional resources.
	Regions map[string]*Region `json:"regions"`
	// AutoScalingGroupLimit is the account's quota of Auto Scaling groups per
	// region (world: autoscaling_group_limit); 0 is AWS's default, 500.
	AutoScalingGroupLimit int `json:"autoscaling_group_limit,omitempty"`
}

// Role is an IAM role. Service-linked roles have ServiceName set.
type Role struct {
	Name        string            `json:"name"`
	Path        string            `json:"path"`
	ARN         string            `json:"arn"`
	RoleID      string            `json:"role_id"`
	Trust       json.RawMessage   `json:"trust"`
	Policies    map[string]string `json:"policies,omitempty"`
	ServiceName string            `json:"service_name,omitempty"`
	Description string            `json:"description,omitempty"`
	Created     time.Time         `json:"created"`
}

// User is an IAM user. Its access key id (derived from account and name, shown in
// /_sandbox/state) with any secret acts as the user.
type User struct {
	Name        string            `json:"name"`
	Path        string            `json:"path"`
	ARN         string            `json:"arn"`
	UserID      string            `json:"user_id"`
	AccessKeyID string            `json:"access_key_id"`
	Policies    map[string]string `json:"policies,omitempty"`
}

// Session is a set of temporary credentials for an assumed role.
type Session struct {
	AccessKeyID  string    `json:"access_key_id"`
	SessionToken string    `json:"session_token"`
	Account      string    `json:"account"`
	RoleName     string    `json:"role_name"`
	SessionName  string    `json:"session_name"`
	Expires      time.Time `json:"expires"`
	SourceARN    string    `json:"source_arn"`
	Issued       time.Time `json:"issued,omitempty"`
	// SourceIdentity is sts:AssumeRole's SourceIdentity (or the calling
	// session's, which chains): aws:SourceIdentity of the session's requests.
	SourceIdentity string `json:"source_identity,omitempty"`
	// Policy is the inline session policy the session was assumed with.
	Policy string `json:"policy,omitempty"`
}

// Region holds one account's resources in one region.
type Region struct {
	EBSEncryptionByDefault bool   `json:"ebs_encryption_by_default"`
	EBSDefaultKMSKeyID     string `json:"ebs_default_kms_key_id,omitempty"`
	// NoDefaultVPC: the account has no default VPC in this region (world:
	// default_vpc), so none is created on first use.
	NoDefaultVPC bool `json:"no_default_vpc,omitempty"`

	Images    map[string]*Image    `json:"images"`
	Snapshots map[string]*Snapshot `json:"snapshots"`
	Volumes   map[string]*Volume   `json:"volumes,omitempty"`
	Keys      map[string]*Key      `json:"keys"`
	Aliases   map[string]string    `json:"aliases"` // alias/name -> key id
	// AliasDates records when each alias was created and last repointed (ListAliases
	// reports both); aliases without an entry report their key's creation date.
	AliasDates      map[string]*AliasDates     `json:"alias_dates,omitempty"`
	LaunchTemplates map[string]*LaunchTemplate `json:"launch_templates,omitempty"`
	Groups          map[string]*Group          `json:"groups,omitempty"`
	Instances       map[string]*Instance       `json:"instances,omitempty"`
	Parameters      map[string]*Parameter      `json:"parameters,omitempty"`
	VPCs            map[string]*VPC            `json:"vpcs,omitempty"`
	Subnets         map[string]*Subnet         `json:"subnets,omitempty"`
	SecurityGroups  map[string]*SecurityGroup  `json:"security_groups,omitempty"`
	KeyPairs        map[string]*KeyPair        `json:"key_pairs,omitempty"`
	// CopyTokens remembers CopyImage client tokens (token -> image id).
	CopyTokens map[string]*CopyToken `json:"copy_tokens,omitempty"`
}

// AliasDates are an alias's CreationDate and LastUpdatedDate.
type AliasDates struct {
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// Tags is a resource's tag set.
type Tags map[string]string

// Image is an AMI.
type Image struct {
	ID                string   `json:"id"`
	Owner             string   `json:"owner"`
	Region            string   `json:"region"`
	Name              string   `json:"name"`
	Description       string   `json:"description,omitempty"`
	State             string   `json:"state"` // pending | available | failed | disabled | deregistered
	StateReason       string   `json:"state_reason,omitempty"`
	Public            bool     `json:"public,omitempty"`
	LaunchPermissions []string `json:"launch_permissions,omitempty"`
	Architecture      string   `json:"architecture"`
	RootDeviceName    string   `json:"root_device_name"`
	// RootDeviceType is "instance-store" for an instance store-backed AMI
	// (no block devices, no snapshots); "" is ebs.
	RootDeviceType   string        `json:"root_device_type,omitempty"`
	BlockDevices     []BlockDevice `json:"block_devices"`
	Tags             Tags          `json:"tags,omitempty"`
	Created          time.Time     `json:"created"`
	AvailableAt      time.Time     `json:"available_at,omitempty"`
	SourceImageID    string        `json:"source_image_id,omitempty"`
	SourceRegion     string        `json:"source_region,omitempty"`
	SourceInstanceID string        `json:"source_instance_id,omitempty"`
	PendingFailure   string        `json:"pending_failure,omitempty"`
	DeregisteredAt   time.Time     `json:"deregistered_at,omitempty"`
	// DeregistrationProtection is "" (off), "enabled-with-cooldown" or
	// "enabled-without-cooldown"; ProtectedUntil is when the cooldown of a
	// protection disabled with one ends.
	DeregistrationProtection string    `json:"deregistration_protection,omitempty"`
	ProtectedUntil           time.Time `json:"protected_until,omitempty"`
	// LastLaunched is the LastLaunchedTime DescribeImages reports; launches of
	// the last 24 hours wait in RecentLaunches (EC2 reports a launch after 24 hours).
	LastLaunched   time.Time   `json:"last_launched,omitempty"`
	RecentLaunches []time.Time `json:"recent_launches,omitempty"`
}

// BlockDevice is one EBS mapping of an image.
type BlockDevice struct {
	DeviceName          string `json:"device_name"`
	SnapshotID          string `json:"snapshot_id"`
	VolumeSize          int64  `json:"volume_size"`
	VolumeType          string `json:"volume_type"`
	Encrypted           bool   `json:"encrypted"`
	KMSKeyID            string `json:"kms_key_id,omitempty"` // key ARN when encrypted
	DeleteOnTermination bool   `json:"delete_on_termination"`
}

// Snapshot is an EBS snapshot.
type Snapshot struct {
	ID                      string    `json:"id"`
	Owner                   string    `json:"owner"`
	Region                  string    `json:"region"`
	VolumeSize              int64     `json:"volume_size"`
	Encrypted               bool      `json:"encrypted"`
	KMSKeyID                string    `json:"kms_key_id,omitempty"` // key ARN
	State                   string    `json:"state"`
	Description             string    `json:"description,omitempty"`
	CreateVolumePermissions []string  `json:"create_volume_permissions,omitempty"`
	Public                  bool      `json:"public,omitempty"`
	Tags                    Tags      `json:"tags,omitempty"`
	Started                 time.Time `json:"started"`
}

// Volume is an EBS volume (attached to a sandbox instance).
type Volume struct {
	ID         string    `json:"id"`
	Owner      string    `json:"owner"`
	Region     string    `json:"region"`
	Zone       string    `json:"zone"`
	Size       int64     `json:"size"`
	SnapshotID string    `json:"snapshot_id,omitempty"`
	Encrypted  bool      `json:"encrypted"`
	KMSKeyID   string    `json:"kms_key_id,omitempty"`
	State      string    `json:"state"` // creating | available | in-use | deleted
	InstanceID string    `json:"instance_id,omitempty"`
	Device     string    `json:"device,omitempty"`
	Tags       Tags      `json:"tags,omitempty"`
	Created    time.Time `json:"created"`
	// Added for instances (ec2_instances.go).
	VolumeType          string    `json:"volume_type,omitempty"`
	DeleteOnTermination bool      `json:"delete_on_termination,omitempty"`
	AttachTime          time.Time `json:"attach_time,omitempty"`
}

// Key is a KMS key.
type Key struct {
	ID                 string `json:"id"`
	ARN                string `json:"arn"`
	Account            string `json:"account"`
	Region             string `json:"region"`
	Spec               string `json:"spec"`
	Usage              string `json:"usage"`
	State              string `json:"state"`   // Enabled | Disabled | PendingDeletion
	Manager            string `json:"manager"` // CUSTOMER | AWS
	Description        string `json:"description,omitempty"`
	Policy             string `json:"policy"`
	RotationEnabled    bool   `json:"rotation_enabled"`
	RotationPeriodDays int64  `json:"rotation_period_days,omitempty"`
	// RotationAnchor is when automatic rotation was enabled or last happened:
	// the next automatic rotation is due RotationPeriodDays later (creation
	// date when zero).
	RotationAnchor      time.Time   `json:"rotation_anchor,omitempty"`
	Rotations           []time.Time `json:"rotations,omitempty"`
	Grants              []*Grant    `json:"grants,omitempty"`
	Tags                Tags        `json:"tags,omitempty"`
	Created             time.Time   `json:"created"`
	DeletionDate        time.Time   `json:"deletion_date,omitempty"`
	PendingWindowInDays int64       `json:"pending_window_in_days,omitempty"`
	// LastUsage is the key's last successful cryptographic operation
	// (GetKeyLastUsage), nil when none since tracking started.
	LastUsage *KeyUsage `json:"last_usage,omitempty"`
}

// KeyUsage is one successful cryptographic use of a key: the operation, when,
// the CloudTrail event id in the key owner's account and the KMS request id.
type KeyUsage struct {
	Operation string    `json:"operation"`
	Time      time.Time `json:"time"`
	EventID   string    `json:"event_id"`
	RequestID string    `json:"request_id"`
}

// Grant is a KMS grant.
type Grant struct {
	ID                string            `json:"id"`
	Token             string            `json:"token"`
	Name              string            `json:"name,omitempty"`
	GranteePrincipal  string            `json:"grantee_principal"`
	RetiringPrincipal string            `json:"retiring_principal,omitempty"`
	IssuingAccount    string            `json:"issuing_account"`
	Operations        []string          `json:"operations"`
	ContextEquals     map[string]string `json:"encryption_context_equals,omitempty"`
	ContextSubset     map[string]string `json:"encryption_context_subset,omitempty"`
	Created           time.Time         `json:"created"`
}

// LaunchTemplate is an EC2 launch template with its versions.
type LaunchTemplate struct {
	ID             string                   `json:"id"`
	Name           string                   `json:"name"`
	Owner          string                   `json:"owner"`
	DefaultVersion int64                    `json:"default_version"`
	LatestVersion  int64                    `json:"latest_version"`
	Versions       []*LaunchTemplateVersion `json:"versions"`
	Tags           Tags                     `json:"tags,omitempty"`
	Created        time.Time                `json:"created"`
	CreatedBy      string                   `json:"created_by"`
	// VersionTokens remembers CreateLaunchTemplateVersion's client tokens:
	// token -> the version it made and the request it made it from.
	VersionTokens map[string]*VersionToken `json:"version_tokens,omitempty"`
}

// VersionToken is one CreateLaunchTemplateVersion client token.
type VersionToken struct {
	Params  string `json:"params"`
	Version int64  `json:"version"`
}

// LaunchTemplateVersion holds a version's data as the caller sent it
// (RequestLaunchTemplateData, keyed by model member names).
type LaunchTemplateVersion struct {
	Number      int64          `json:"number"`
	Description string         `json:"description,omitempty"`
	Data        map[string]any `json:"data"`
	Created     time.Time      `json:"created"`
	CreatedBy   string         `json:"created_by"`
}

// Group is an Auto Scaling group.
type Group struct {
	Name                  string             `json:"name"`
	ARN                   string             `json:"arn"`
	Owner                 string             `json:"owner"`
	Region                string             `json:"region"`
	LaunchTemplateID      string             `json:"launch_template_id,omitempty"`
	LaunchTemplateName    string             `json:"launch_template_name,omitempty"`
	LaunchTemplateVersion string             `json:"launch_template_version,omitempty"`
	MinSize               int64              `json:"min_size"`
	MaxSize               int64              `json:"max_size"`
	DesiredCapacity       int64              `json:"desired_capacity"`
	Zones                 []string           `json:"zones"`
	VPCZoneIdentifier     string             `json:"vpc_zone_identifier,omitempty"`
	ServiceLinkedRoleARN  string             `json:"service_linked_role_arn"`
	Status                string             `json:"status,omitempty"` // "Delete in progress" while deleting
	Instances             []string           `json:"instances,omitempty"`
	Activities            []*ScalingActivity `json:"activities,omitempty"`
	Tags                  Tags               `json:"tags,omitempty"`
	Created               time.Time          `json:"created"`
	DeletingAt            time.Time          `json:"deleting_at,omitempty"`
	// Added for Auto Scaling (autoscaling.go).
	PropagateAtLaunch      []string `json:"propagate_at_launch,omitempty"` // tag keys copied to instances
	HealthCheckType        string   `json:"health_check_type,omitempty"`
	HealthCheckGracePeriod int64    `json:"health_check_grace_period,omitempty"`
	DefaultCooldown        int64    `json:"default_cooldown,omitempty"`
	MixedInstances         bool     `json:"mixed_instances,omitempty"` // launch template given in a MixedInstancesPolicy
	PendingCause           string   `json:"pending_cause,omitempty"`   // the user request the next activity answers
}

// ScalingActivity is one Auto Scaling activity (launch or terminate).
type ScalingActivity struct {
	ID            string    `json:"id"`
	Description   string    `json:"description"`
	Cause         string    `json:"cause"`
	StatusCode    string    `json:"status_code"` // PreInService | InProgress | Successful | Failed | Cancelled
	StatusMessage string    `json:"status_message,omitempty"`
	Progress      int64     `json:"progress"`
	Start         time.Time `json:"start"`
	End           time.Time `json:"end,omitempty"`
	DueAt         time.Time `json:"due_at,omitempty"`
	InstanceID    string    `json:"instance_id,omitempty"`
	// Added for Auto Scaling (autoscaling.go).
	Details string `json:"details,omitempty"`
	Kind    string `json:"kind,omitempty"` // launch | terminate
}

// Instance is an EC2 instance.
type Instance struct {
	ID               string            `json:"id"`
	Owner            string            `json:"owner"`
	Region           string            `json:"region"`
	ImageID          string            `json:"image_id"`
	InstanceType     string            `json:"instance_type"`
	State            string            `json:"state"` // pending | running | stopping | stopped | shutting-down | terminated
	StateReasonCode  string            `json:"state_reason_code,omitempty"`
	StateReason      string            `json:"state_reason,omitempty"`
	Zone             string            `json:"zone"`
	SubnetID         string            `json:"subnet_id,omitempty"`
	VPCID            string            `json:"vpc_id,omitempty"`
	SecurityGroupIDs []string          `json:"security_group_ids,omitempty"`
	KeyName          string            `json:"key_name,omitempty"`
	PrivateIP        string            `json:"private_ip"`
	PublicIP         string            `json:"public_ip,omitempty"`
	RootDeviceName   string            `json:"root_device_name"`
	RootDeviceType   string            `json:"root_device_type,omitempty"` // "" is ebs
	VolumeIDs        map[string]string `json:"volume_ids,omitempty"`       // device -> volume id
	LaunchedBy       string            `json:"launched_by"`
	GroupName        string            `json:"group_name,omitempty"`
	LaunchTemplateID string            `json:"launch_template_id,omitempty"`
	Tags             Tags              `json:"tags,omitempty"`
	Launched         time.Time         `json:"launched"`
	DueAt            time.Time         `json:"due_at,omitempty"` // when the pending/stopping transition completes
	Next             string            `json:"next,omitempty"`   // state after DueAt

	// Added for instances/launch templates/Auto Scaling (ec2_instances.go).
	ReservationID         string    `json:"reservation_id,omitempty"`
	ClientToken           string    `json:"client_token,omitempty"`
	LaunchIndex           int64     `json:"launch_index,omitempty"`
	Architecture          string    `json:"architecture,omitempty"`
	IamInstanceProfile    string    `json:"iam_instance_profile,omitempty"` // instance profile ARN
	LaunchTemplateVersion string    `json:"launch_template_version,omitempty"`
	TransitionReason      string    `json:"transition_reason,omitempty"` // StateTransitionReason
	FailCode              string    `json:"fail_code,omitempty"`         // decided failure applied at DueAt
	FailMessage           string    `json:"fail_message,omitempty"`
	EndedAt               time.Time `json:"ended_at,omitempty"` // when it became terminated
}

// Parameter is an SSM parameter.
type Parameter struct {
	Name         string    `json:"name"`
	Type         string    `json:"type"`
	Value        string    `json:"value"`
	DataType     string    `json:"data_type"`
	Description  string    `json:"description,omitempty"`
	Version      int64     `json:"version"`
	LastModified time.Time `json:"last_modified"`
	// Tier is Standard (default) or Advanced; KeyID the KMS key of a SecureString.
	Tier  string `json:"tier,omitempty"`
	KeyID string `json:"key_id,omitempty"`
	// LastModifiedUser is the ARN of the caller that wrote the current version.
	LastModifiedUser string `json:"last_modified_user,omitempty"`
	Tags             Tags   `json:"tags,omitempty"`
}

// VPC, Subnet, SecurityGroup and KeyPair exist so launches and Packer's builder find a network.
type VPC struct {
	ID        string `json:"id"`
	CIDR      string `json:"cidr"`
	IsDefault bool   `json:"is_default"`
	Tags      Tags   `json:"tags,omitempty"`
}

// Subnet is a VPC subnet in one availability zone.
type Subnet struct {
	ID        string `json:"id"`
	VPCID     string `json:"vpc_id"`
	Zone      string `json:"zone"`
	CIDR      string `json:"cidr"`
	IsDefault bool   `json:"is_default"`
	Tags      Tags   `json:"tags,omitempty"`
}

// SecurityGroup is a VPC security group.
type SecurityGroup struct {
	ID          string           `json:"id"`
	Name        string           `json:"name"`
	Description string           `json:"description"`
	VPCID       string           `json:"vpc_id"`
	Ingress     []map[string]any `json:"ingress,omitempty"`
	Tags        Tags             `json:"tags,omitempty"`
}

// KeyPair is an EC2 key pair (only its name and fingerprint are kept).
type KeyPair struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Fingerprint string `json:"fingerprint"`
	Tags        Tags   `json:"tags,omitempty"`
}

// CopyToken records a CopyImage idempotency token and the parameters it was used with.
type CopyToken struct {
	ImageID string `json:"image_id"`
	Params  string `json:"params"`
}

func newRegion() *Region {
	r := &Region{}
	r.ensureMaps()
	return r
}

// ensureMaps allocates every resource map; a state read back from JSON leaves
// the empty ones nil.
func (r *Region) ensureMaps() {
	if r.Images == nil {
		r.Images = map[string]*Image{}
	}
	if r.Snapshots == nil {
		r.Snapshots = map[string]*Snapshot{}
	}
	if r.Volumes == nil {
		r.Volumes = map[string]*Volume{}
	}
	if r.Keys == nil {
		r.Keys = map[string]*Key{}
	}
	if r.Aliases == nil {
		r.Aliases = map[string]string{}
	}
	if r.LaunchTemplates == nil {
		r.LaunchTemplates = map[string]*LaunchTemplate{}
	}
	if r.Groups == nil {
		r.Groups = map[string]*Group{}
	}
	if r.Instances == nil {
		r.Instances = map[string]*Instance{}
	}
	if r.Parameters == nil {
		r.Parameters = map[string]*Parameter{}
	}
	if r.VPCs == nil {
		r.VPCs = map[string]*VPC{}
	}
	if r.Subnets == nil {
		r.Subnets = map[string]*Subnet{}
	}
	if r.SecurityGroups == nil {
		r.SecurityGroups = map[string]*SecurityGroup{}
	}
	if r.KeyPairs == nil {
		r.KeyPairs = map[string]*KeyPair{}
	}
	if r.CopyTokens == nil {
		r.CopyTokens = map[string]*CopyToken{}
	}
}

// sortedKeys returns a map's keys in order, so listings are stable.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
