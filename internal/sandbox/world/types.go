package world

import (
	"encoding/json"
	"math"
	"strings"
	"time"

	"github.com/amicrypt/amicrypt/internal/awsregion"
)

// World is the shape of an organisation as the sandbox models it: the regions
// it serves, its accounts with their IAM roles and users, AMIs, KMS keys and SSM
// parameters, and how the simulated services behave (timing, faults, limits).
//
// A World returned by [Parse], [Load] or [Default] is valid and has every
// default filled in (role paths, image architecture, key ids, snapshot ids,
// timing, ...). A World built in Go can be checked with [World.Validate].
type World struct {
	// Regions the sandbox serves, e.g. us-east-1. Required, non-empty, unique.
	Regions []string `yaml:"regions"`
	// OrganizationID is the AWS Organizations id (o-...) every account belongs
	// to: the value of aws:PrincipalOrgID. Empty: the accounts are in no
	// organisation (unless Organization gives the id). A World from [Parse]
	// has it set whichever of the two forms the file used.
	OrganizationID string `yaml:"organization_id,omitempty"`
	// OrganizationManagementAccount is the management account of the
	// organization OrganizationID names (DescribeOrganization's
	// MasterAccountId): an account of the world in that organization.
	// Default: Organization.ManagementAccount, else the first account listed
	// in the organization.
	OrganizationManagementAccount string `yaml:"organization_management_account,omitempty"`
	// Organization is the richer form of the two keys above: the same
	// organization with its OUs and delegated administrators (see
	// organization.go). nil: every member is directly under the root.
	Organization *Organization `yaml:"organization,omitempty"`
	// Accounts of the world. Required, non-empty; ids and names unique.
	Accounts []Account `yaml:"accounts"`
	// Timing of simulated long-running operations.
	Timing Timing `yaml:"timing"`
	// Faults injected into API calls.
	Faults Faults `yaml:"faults"`
	// Limits applied by the simulated services.
	Limits Limits `yaml:"limits"`
}

// Account is one AWS account of the world.
type Account struct {
	// ID is the 12-digit account id, e.g. "111111111111". Required, unique.
	ID string `yaml:"id"`
	// Name is a label for people and for look-ups by name; unique when given.
	Name string `yaml:"name,omitempty"`
	// Organization is the account's membership of AWS Organizations: empty,
	// the world's organization_id (none when that is empty); "none", no
	// organization; an id (o-...), another organization, whose management
	// account is the first account listed in it. In a world file:
	//
	//	organization: none               # a standalone account
	//	organization: o-otherorg0000     # an account of another company
	Organization string `yaml:"organization,omitempty"`
	// Status is the account's status in its organization (Organizations'
	// Account Status and State): ACTIVE (default), SUSPENDED or
	// PENDING_CLOSURE. Only for an account in an organization.
	Status string `yaml:"status,omitempty"`
	// EBSEncryptionByDefault: new volumes and snapshots in this account are
	// encrypted, under EBSDefaultKMSKey or else the AWS managed aws/ebs key.
	EBSEncryptionByDefault bool `yaml:"ebs_encryption_by_default"`
	// EBSDefaultKMSKey is the alias (alias/...) or id of a key this account
	// declares, in every region of the world, used as the EBS default key.
	// Empty: the AWS managed key aws/ebs.
	EBSDefaultKMSKey string `yaml:"ebs_default_kms_key,omitempty"`
	// ServiceLinkedRoles that already exist in the account:
	// AWSServiceRoleForAutoScaling or AWSServiceRoleForAutoScaling_<suffix>.
	// A service-linked role not listed does not exist.
	ServiceLinkedRoles []string `yaml:"service_linked_roles,omitempty"`
	// Roles are the IAM roles of the account.
	Roles []Role `yaml:"roles,omitempty"`
	// Users are the IAM users of the account.
	Users []User `yaml:"users,omitempty"`
	// Images are the AMIs the account owns.
	Images []Image `yaml:"images,omitempty"`
	// Keys are the customer managed KMS keys of the account, one entry per
	// region (a world file entry with regions: [...] becomes one Key per region).
	Keys []Key `yaml:"keys,omitempty"`
	// Parameters are SSM parameters of the account.
	Parameters []Parameter `yaml:"parameters,omitempty"`
	// DefaultVPC says, per region of the world, whether the account has its
	// default VPC there (the default VPC, its default subnets and its
	// "default" security group). A region not listed has one, as every AWS
	// account does until it deletes it. In a world file:
	//
	//	default_vpc: {us-east-1: false}          # none in us-east-1
	//	default_vpc: {us-east-1: false, eu-west-1: false}
	//
	// Keys are regions of the world; values true or false.
	DefaultVPC map[string]bool `yaml:"default_vpc,omitempty"`
	// AutoScalingGroupLimit is the account's Amazon EC2 Auto Scaling quota
	// "Auto Scaling groups per region": CreateAutoScalingGroup is refused
	// (LimitExceeded) in a region that already has this many groups, and
	// DescribeAccountLimits answers it as MaxNumberOfAutoScalingGroups.
	// Default 500, AWS's default quota (0 in a World built in Go means the
	// default). In a world file: autoscaling_group_limit: 2.
	AutoScalingGroupLimit int `yaml:"autoscaling_group_limit"`
}

// DefaultAutoScalingGroupLimit is AWS's default quota of Auto Scaling groups
// per account and region ("Quotas for Auto Scaling resources and groups").
const DefaultAutoScalingGroupLimit = 500

// HasDefaultVPC reports whether the account has its default VPC in region
// (every region not set to false in DefaultVPC).
func (a *Account) HasDefaultVPC(region string) bool {
	has, ok := a.DefaultVPC[region]
	return !ok || has
}

// GroupLimit is AutoScalingGroupLimit, or AWS's default when it is 0.
func (a *Account) GroupLimit() int {
	if a.AutoScalingGroupLimit > 0 {
		return a.AutoScalingGroupLimit
	}
	return DefaultAutoScalingGroupLimit
}

// Role is an IAM role.
type Role struct {
	// Name of the role (IAM name rules: 1-64 of A-Z a-z 0-9 + = , . @ _ -).
	Name string `yaml:"name"`
	// Path of the role; "/" when not given.
	Path string `yaml:"path,omitempty"`
	// Trust is the trust (assume-role) policy as canonical JSON.
	Trust json.RawMessage `yaml:"trust"`
	// Policies are the inline identity policies, in file order.
	Policies []NamedPolicy `yaml:"policies,omitempty"`
}

// User is an IAM user.
type User struct {
	// Name of the user (IAM name rules, as for roles).
	Name string `yaml:"name"`
	// Path of the user; "/" when not given.
	Path string `yaml:"path,omitempty"`
	// Policies are the inline identity policies, in file order.
	Policies []NamedPolicy `yaml:"policies,omitempty"`
}

// NamedPolicy is an inline IAM policy. In a world file, policies is either a
// mapping name → document, or a list whose items are documents (named
// inline-1, inline-2, ...) or {name: ..., document: ...} pairs; a document is a
// YAML mapping or a JSON string.
type NamedPolicy struct {
	// Name of the inline policy.
	Name string `yaml:"name"`
	// Document is the policy as canonical JSON: compact, keys in file order.
	Document json.RawMessage `yaml:"document"`
}

// Image is an AMI: EBS-backed, with one root snapshot, unless RootDeviceType
// says instance-store.
type Image struct {
	// ID is the AMI id (ami- and 8-17 hex digits), unique across the world.
	ID string `yaml:"id"`
	// Region of the image; one of World.Regions.
	Region string `yaml:"region"`
	// Name of the image, unique per account and region (AMI name rules).
	Name string `yaml:"name"`
	// Description is free text.
	Description string `yaml:"description,omitempty"`
	// Encrypted says how the image's snapshot is encrypted.
	Encrypted EncryptionSpec `yaml:"encrypted"`
	// Public: every account may launch and copy the image.
	Public bool `yaml:"public"`
	// LaunchPermissions lists accounts of the world the image is already
	// shared with; they also have createVolumePermission on its snapshot.
	LaunchPermissions []string `yaml:"launch_permissions,omitempty"`
	// Architecture: x86_64 (default), arm64, i386, x86_64_mac or arm64_mac.
	Architecture string `yaml:"architecture"`
	// RootDeviceName, default /dev/xvda.
	RootDeviceName string `yaml:"root_device_name"`
	// RootDeviceType: ebs (default; the root device is an EBS volume made
	// from the image's snapshot) or instance-store (an instance
	// store-backed AMI: no snapshot, so no encrypted, snapshot_id or
	// volume_size). "" in a World built in Go is ebs.
	RootDeviceType string `yaml:"root_device_type"`
	// VolumeSize of the root volume in GiB, default 8 (EBS-backed images).
	VolumeSize int `yaml:"volume_size"`
	// SnapshotID of the root snapshot; derived from the image id when not
	// given (EBS-backed images).
	SnapshotID string `yaml:"snapshot_id"`
	// Tags of the image.
	Tags map[string]string `yaml:"tags,omitempty"`
	// State: available (default), pending or failed.
	State string `yaml:"state"`
}

// EncryptionMode says how an image's snapshot is encrypted.
type EncryptionMode string

// Encryption modes of an image.
const (
	// EncryptionNone: not encrypted (world file: encrypted: false).
	EncryptionNone EncryptionMode = "none"
	// EncryptionAWSManaged: encrypted with the AWS managed key aws/ebs
	// (world file: encrypted: aws-managed). Such an image cannot be shared.
	EncryptionAWSManaged EncryptionMode = "aws-managed"
	// EncryptionKey: encrypted with a customer managed key of the owning
	// account in the image's region (world file: encrypted: alias/<name>).
	EncryptionKey EncryptionMode = "key"
)

// EncryptionSpec is the encryption of an image. The zero value means not
// encrypted.
type EncryptionSpec struct {
	// Mode is EncryptionNone, EncryptionAWSManaged or EncryptionKey; "" is
	// EncryptionNone.
	Mode EncryptionMode `yaml:"mode"`
	// KeyAlias is the alias (alias/...) of the key when Mode is EncryptionKey.
	KeyAlias string `yaml:"key_alias,omitempty"`
}

// IsEncrypted reports whether the spec is an encrypted one.
func (e EncryptionSpec) IsEncrypted() bool {
	return e.Mode == EncryptionAWSManaged || e.Mode == EncryptionKey
}

// String returns the spec as written in a world file: false, aws-managed or
// the key alias.
func (e EncryptionSpec) String() string {
	switch e.Mode {
	case EncryptionAWSManaged:
		return "aws-managed"
	case EncryptionKey:
		return e.KeyAlias
	}
	return "false"
}

// Key is a customer managed KMS key in one region.
type Key struct {
	// Alias of the key, alias/<name>; alias/aws/ is reserved. Unique per
	// account and region.
	Alias string `yaml:"alias"`
	// ID is the key id (a UUID, or mrk-... for a multi-Region key); derived
	// from account, region and alias when not given.
	ID string `yaml:"id"`
	// Region of the key. In a world file, regions: [a, b] declares one key
	// per region.
	Region string `yaml:"region"`
	// Description is free text.
	Description string `yaml:"description,omitempty"`
	// Spec is the key spec, default SYMMETRIC_DEFAULT (see KeySpecs).
	Spec string `yaml:"spec"`
	// Usage is the key usage; default per spec (see DefaultKeyUsage).
	Usage string `yaml:"usage"`
	// State: Enabled (default), Disabled or PendingDeletion.
	State string `yaml:"state"`
	// Rotation: automatic key rotation is enabled (symmetric keys only).
	Rotation bool `yaml:"rotation"`
	// Policy is the key policy as canonical JSON; nil means the AWS default
	// key policy (see DefaultKeyPolicy and EffectivePolicy).
	Policy json.RawMessage `yaml:"policy,omitempty"`
	// Tags of the key.
	Tags map[string]string `yaml:"tags,omitempty"`
	// Grants that already exist on the key.
	Grants []Grant `yaml:"grants,omitempty"`
}

// Grant is an existing KMS grant on a key.
type Grant struct {
	// ID of the grant (64 hex digits); derived when not given.
	ID string `yaml:"id"`
	// Name of the grant, optional.
	Name string `yaml:"name,omitempty"`
	// Grantee is the grantee principal ARN. Required.
	Grantee string `yaml:"grantee"`
	// Operations the grant allows, e.g. Decrypt, CreateGrant. Required.
	Operations []string `yaml:"operations"`
	// RetiringPrincipal ARN, optional.
	RetiringPrincipal string `yaml:"retiring_principal,omitempty"`
}

// Parameter is an SSM parameter.
type Parameter struct {
	// Region of the parameter; one of World.Regions.
	Region string `yaml:"region"`
	// Name of the parameter, e.g. /images/base/ami-id.
	Name string `yaml:"name"`
	// Value of the parameter.
	Value string `yaml:"value"`
	// Type: String (default), StringList or SecureString.
	Type string `yaml:"type"`
}

// Timing holds the simulated durations of long-running operations, in seconds.
type Timing struct {
	// CopySeconds is how long CopyImage takes (default 20).
	CopySeconds float64 `yaml:"copy_seconds"`
	// BootSeconds is how long an Auto Scaling launch takes (default 5).
	BootSeconds float64 `yaml:"boot_seconds"`
	// CreateImageSeconds is how long CreateImage takes (default 5).
	CreateImageSeconds float64 `yaml:"create_image_seconds"`
	// InstanceSeconds is how long RunInstances stays pending (default 2).
	InstanceSeconds float64 `yaml:"instance_seconds"`
}

// Copy is CopySeconds as a duration.
func (t Timing) Copy() time.Duration { return seconds(t.CopySeconds) }

// Boot is BootSeconds as a duration.
func (t Timing) Boot() time.Duration { return seconds(t.BootSeconds) }

// CreateImage is CreateImageSeconds as a duration.
func (t Timing) CreateImage() time.Duration { return seconds(t.CreateImageSeconds) }

// Instance is InstanceSeconds as a duration.
func (t Timing) Instance() time.Duration { return seconds(t.InstanceSeconds) }

func seconds(s float64) time.Duration {
	if !(s > 0) || math.IsInf(s, 0) {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}

// Faults configures injected failures. A rule for an action overrides one for
// its service, which overrides the global error_rate, lost_response_rate,
// throttle_rate and latency_ms.
type Faults struct {
	// Throttle: EC2, KMS and STS request-rate limits apply (default true in a
	// world file).
	Throttle bool `yaml:"throttle"`
	// ErrorRate is the probability (0..1) that a call fails, not applied,
	// with the service's internal error (EC2 InternalError / HTTP 500, ...).
	ErrorRate float64 `yaml:"error_rate"`
	// LostResponseRate is the probability (0..1) that a call is applied and
	// its response lost: the caller gets the service's internal error (HTTP
	// 500), so a retry repeats a call that took effect (a second CreateKey).
	LostResponseRate float64 `yaml:"lost_response_rate"`
	// ThrottleRate is the probability (0..1) that a call is refused, not
	// applied, with the service's throttling error (RequestLimitExceeded,
	// ThrottlingException, Throttling), on top of the request-rate limits.
	ThrottleRate float64 `yaml:"throttle_rate"`
	// LatencyMS is latency added to every call, in milliseconds.
	LatencyMS int `yaml:"latency_ms"`
	// Services holds per-service rules keyed by ec2, kms, iam, sts,
	// autoscaling or ssm.
	Services map[string]FaultRule `yaml:"services,omitempty"`
	// Actions holds per-action rules keyed by action name (CopyImage) or
	// service:action (ec2:CopyImage, which wins over the bare name).
	Actions map[string]FaultRule `yaml:"actions,omitempty"`
	// CopyFailures maps a source AMI id to a state reason: every copy of that
	// image ends failed with this reason.
	CopyFailures map[string]string `yaml:"copy_failures,omitempty"`
}

// FaultRule overrides the rates and/or latency; a nil field inherits.
type FaultRule struct {
	// ErrorRate is the failure probability, 0..1; nil inherits.
	ErrorRate *float64 `yaml:"error_rate,omitempty"`
	// LostResponseRate is the lost-response probability, 0..1; nil inherits.
	LostResponseRate *float64 `yaml:"lost_response_rate,omitempty"`
	// ThrottleRate is the throttling probability, 0..1; nil inherits.
	ThrottleRate *float64 `yaml:"throttle_rate,omitempty"`
	// LatencyMS is the added latency in milliseconds; nil inherits.
	LatencyMS *int `yaml:"latency_ms,omitempty"`
}

// CallFaults are the faults one call is subject to.
type CallFaults struct {
	ErrorRate        float64
	LostResponseRate float64
	ThrottleRate     float64
	Latency          time.Duration
}

// For returns the faults of one call, service being ec2, kms, ... and action
// the API action name (CopyImage): the global values, overridden by the
// service's rule, then the action's, then the service:action one's.
func (f Faults) For(service, action string) CallFaults {
	c := CallFaults{ErrorRate: f.ErrorRate, LostResponseRate: f.LostResponseRate, ThrottleRate: f.ThrottleRate}
	ms := f.LatencyMS
	service = strings.ToLower(service)
	apply := func(r FaultRule, ok bool) {
		if !ok {
			return
		}
		if r.ErrorRate != nil {
			c.ErrorRate = *r.ErrorRate
		}
		if r.LostResponseRate != nil {
			c.LostResponseRate = *r.LostResponseRate
		}
		if r.ThrottleRate != nil {
			c.ThrottleRate = *r.ThrottleRate
		}
		if r.LatencyMS != nil {
			ms = *r.LatencyMS
		}
	}
	r, ok := f.Services[service]
	apply(r, ok)
	r, ok = f.Actions[action]
	apply(r, ok)
	r, ok = f.Actions[service+":"+action]
	apply(r, ok)
	c.Latency = time.Duration(ms) * time.Millisecond
	return c
}

// Limits configures service limits.
type Limits struct {
	// ConcurrentCopies is the number of CopyImage operations that may be in
	// progress per destination account and region (default 100).
	ConcurrentCopies int `yaml:"concurrent_copies"`
	// ImageShareAccounts is EC2's "AMI sharing" quota: how many accounts an
	// AMI may be shared with (launch permissions) in a region; adding more
	// with ModifyImageAttribute is refused (ResourceLimitExceeded). Default
	// 1000, AWS's default quota (0 in a World built in Go means the default).
	ImageShareAccounts int `yaml:"image_share_accounts"`
	// Buckets overrides request-rate token buckets by class (see
	// DefaultBuckets for the classes and AWS's values).
	Buckets map[string]Bucket `yaml:"buckets,omitempty"`
}

// Root device types of an image.
const (
	RootDeviceEBS           = "ebs"
	RootDeviceInstanceStore = "instance-store"
)

// DefaultImageShareAccounts is AWS's default "AMI sharing" quota: the
// entities an AMI can be shared with in a region (EC2 User Guide, AMI quotas).
const DefaultImageShareAccounts = 1000

// ShareAccounts is ImageShareAccounts, or AWS's default when it is 0.
func (l Limits) ShareAccounts() int {
	if l.ImageShareAccounts > 0 {
		return l.ImageShareAccounts
	}
	return DefaultImageShareAccounts
}

// IsInstanceStore reports whether the image is instance store-backed.
func (i *Image) IsInstanceStore() bool { return i.RootDeviceType == RootDeviceInstanceStore }

// Bucket is a request-rate token bucket, applied per account and region.
type Bucket struct {
	// Burst is the bucket size (maximum requests at once).
	Burst int `yaml:"burst"`
	// Rate is the refill rate in requests per second.
	Rate float64 `yaml:"rate"`
}

// Request-rate classes of Limits.Buckets. The EC2 classes follow EC2's
// throttling model: an action with its own bucket uses it, other Describe*
// calls use BucketDescribe and other mutating calls BucketMutating.
const (
	BucketDescribe                = "describe"
	BucketMutating                = "mutating"
	BucketCopyImage               = "CopyImage"
	BucketCreateTags              = "CreateTags"
	BucketModifyImageAttribute    = "ModifyImageAttribute"
	BucketModifySnapshotAttribute = "ModifySnapshotAttribute"
	BucketRunInstances            = "RunInstances"
	BucketKMSCreateGrant          = "kms:CreateGrant"
	BucketKMSDescribeKey          = "kms:DescribeKey"
	BucketKMSPutKeyPolicy         = "kms:PutKeyPolicy"
	BucketSTS                     = "sts"
)

// DefaultBuckets returns AWS's request-rate limits per account and region by
// class (a new map on each call).
func DefaultBuckets() map[string]Bucket {
	return map[string]Bucket{
		BucketDescribe:                {Burst: 100, Rate: 20},
		BucketMutating:                {Burst: 50, Rate: 5},
		BucketCopyImage:               {Burst: 100, Rate: 1},
		BucketCreateTags:              {Burst: 100, Rate: 10},
		BucketModifyImageAttribute:    {Burst: 100, Rate: 5},
		BucketModifySnapshotAttribute: {Burst: 100, Rate: 5},
		BucketRunInstances:            {Burst: 5, Rate: 2},
		BucketKMSCreateGrant:          {Burst: 50, Rate: 50},
		BucketKMSDescribeKey:          {Burst: 2000, Rate: 2000},
		BucketKMSPutKeyPolicy:         {Burst: 15, Rate: 15},
		BucketSTS:                     {Burst: 600, Rate: 600},
	}
}

// Bucket returns the token bucket of a class: the override in Buckets, else
// AWS's default; ok is false for an unknown class.
func (l Limits) Bucket(class string) (b Bucket, ok bool) {
	if b, ok := l.Buckets[class]; ok {
		return b, true
	}
	b, ok = DefaultBuckets()[class]
	return b, ok
}

// Account returns the account with this id, or nil.
func (w *World) Account(id string) *Account {
	for i := range w.Accounts {
		if w.Accounts[i].ID == id {
			return &w.Accounts[i]
		}
	}
	return nil
}

// AccountByName returns the account with this name, or nil.
func (w *World) AccountByName(name string) *Account {
	for i := range w.Accounts {
		if name != "" && w.Accounts[i].Name == name {
			return &w.Accounts[i]
		}
	}
	return nil
}

// HasRegion reports whether the world serves region.
func (w *World) HasRegion(region string) bool {
	for _, r := range w.Regions {
		if r == region {
			return true
		}
	}
	return false
}

// Image returns the image with this id and its owner, or nils.
func (w *World) Image(id string) (*Account, *Image) {
	for i := range w.Accounts {
		a := &w.Accounts[i]
		for j := range a.Images {
			if a.Images[j].ID == id {
				return a, &a.Images[j]
			}
		}
	}
	return nil, nil
}

// Key returns the account's key in region whose alias or id is aliasOrID, or
// nil.
func (a *Account) Key(region, aliasOrID string) *Key {
	for i := range a.Keys {
		k := &a.Keys[i]
		if k.Region == region && (k.Alias == aliasOrID || (k.ID != "" && k.ID == aliasOrID)) {
			return k
		}
	}
	return nil
}

// Role returns the account's role with this name, or nil.
func (a *Account) Role(name string) *Role {
	for i := range a.Roles {
		if a.Roles[i].Name == name {
			return &a.Roles[i]
		}
	}
	return nil
}

// HasServiceLinkedRole reports whether the service-linked role name exists.
func (a *Account) HasServiceLinkedRole(name string) bool {
	for _, r := range a.ServiceLinkedRoles {
		if r == name {
			return true
		}
	}
	return false
}

// ARN returns the key's ARN when owned by account.
func (k *Key) ARN(account string) string {
	return "arn:" + Partition(k.Region) + ":kms:" + k.Region + ":" + account + ":key/" + k.ID
}

// EffectivePolicy returns the key's policy, or the AWS default key policy for
// account when the world file gave none.
func (k *Key) EffectivePolicy(account string) json.RawMessage {
	if len(k.Policy) > 0 {
		return k.Policy
	}
	return DefaultKeyPolicy(account, Partition(k.Region))
}

// DefaultKeyPolicy returns the key policy AWS gives a key created without
// one: the account root may do everything (kms:*), which delegates access to
// the account's IAM policies. partition is usually "aws".
func DefaultKeyPolicy(account, partition string) json.RawMessage {
	if partition == "" {
		partition = "aws"
	}
	return json.RawMessage(`{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:` +
		partition + `:iam::` + account + `:root"},"Action":"kms:*","Resource":"*"}]}`)
}

// Partition returns the ARN partition of a region: aws, aws-us-gov or aws-cn.
func Partition(region string) string { return awsregion.Partition(region) }

// NoOrganization is Account.Organization for an account in no organization.
const NoOrganization = "none"

// OrganizationOf is the id of the organization account belongs to, or ""
// when it belongs to none.
func (w *World) OrganizationOf(a *Account) string {
	switch a.Organization {
	case "":
		return w.MainOrganization()
	case NoOrganization:
		return ""
	}
	return a.Organization
}

// ManagementAccountOf is the management account of organization org: the
// one the world names for its organization (organization_management_account
// or organization.management_account), else the first account listed in org
// ("" when none is).
func (w *World) ManagementAccountOf(org string) string {
	if org == "" {
		return ""
	}
	if m := w.organizationManagement(); org == w.MainOrganization() && m != "" {
		return m
	}
	for i := range w.Accounts {
		if w.OrganizationOf(&w.Accounts[i]) == org {
			return w.Accounts[i].ID
		}
	}
	return ""
}
