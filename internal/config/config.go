// Package config reads amicrypt's run configuration: the builder account, the
// settings every target inherits, concurrency, and the target accounts,
// listed one by one or selected from the AWS organization.
//
// A config is YAML:
//
//	builder:
//	  account: "111111111111"
//	  role_arn: arn:aws:iam::111111111111:role/amicrypt-pipeline   # optional
//	defaults:
//	  regions: [us-east-1, eu-west-1]
//	  role_name: amicrypt-target
//	  external_id: amicrypt
//	targets:
//	  - account: "222222222222"
//	    name: payments-prod
//	  - account: "444444444444"
//	    regions: [us-east-1]
//
// See example.yaml ([Example]) for every key with its default. Parsing is
// strict: unknown keys are errors listing the allowed keys, and every problem
// is reported at once as file:line:col: path: message, sorted by line.
//
// # Inheritance
//
// Every target (an organization selector too: see below) inherits every key
// of defaults: and may override it: regions,
// role_name, role_arn, external_id, key_alias, key_arn, manage_key_policy,
// grant_service_linked_role, service_linked_role_suffix, boot_proof, publish,
// family, keep. boot_proof and publish merge key by key (a target's
// boot_proof: {timeout: 30m} keeps the default instance type); to switch off
// one publish target, set it to "". A value set on the target beats one from
// defaults; so a target's role_name beats a role_arn in defaults, and a
// target's key_alias beats a key_arn in defaults. On one level, role_arn wins
// over role_name and key_arn over key_alias. Built-in defaults: role_name
// amicrypt-target, key_alias alias/amicrypt, boot_proof enabled with t3.micro
// and a 15m timeout, keep 3, concurrency 20 per account and region and 1000 in
// flight. regions has no default: give it under defaults or on each target.
//
// family names the line of builds a target's copies belong to: retention and
// publishing compare images of one family only. Left out, it is the source
// image's name without one trailing date, date-time, Unix timestamp or build
// number and the '-', '_' or ' ' before it (base-1733500000 → base,
// web-2026-12-07 → web, api-build-42 → api-build; a '.' is not a separator, so
// ubuntu-22.04 stays): [activities.FamilyFromName], at run time. keep is how
// many proven images of the family retention keeps per account and region; 0
// turns retention off.
//
// # Retention
//
// The retention: block says how an image retention retires leaves:
//
//	retention:
//	  grace: 7d  # disabled this long (EnableImage undoes it), then deregistered with its snapshots; 0s: at once
//
// # Durations
//
// Durations (boot_proof.timeout, retention.grace, rotation.retire_after,
// rotation.every) are written as Go writes them, 90s, 15m, 1h30m, with whole
// days allowed in front: 7d, 1d12h. 0s is zero.
//
// # Rotation
//
// The rotation: block configures key rotation ('amicrypt rotate') and the
// sweep ('amicrypt sweep', 'amicrypt schedule'); every key is optional:
//
//	rotation:
//	  retire_after: 7d          # an old key stays disabled, unused and untried this long, then...
//	  deletion_window_days: 30  # ...waits this long in PendingDeletion, 7–30
//	  max_key_age_days: 365     # a sweep rotates older keys; 0: never for age
//	  concurrent_rotations: 5   # rotations one sweep runs at once, ≥ 1
//	  every: 24h                # the sweep schedule's interval, ≥ 1m
//
// A rotation and a sweep need the targets only: [Config.ExpandTargets]
// resolves them without source images, and [Config.Organization] gives the
// organization selectors, whose accounts are read when they run.
//
// YAML anchors, aliases and merge keys work; top-level keys beginning with x-
// are ignored, a place to define anchors.
//
// # Organization targets
//
// A targets entry may select accounts of the AWS organization instead of
// naming one: organization: true selects every account of the organization,
// organizational_unit: ou-... every account of that unit and of the units
// below it. A selector takes exclude: (accounts it never serves) and every
// setting an account's entry takes, inherited from defaults in the same way,
// but two: role_arn names one account's role, so a selector assumes role_name
// in each account (its own, else defaults', else amicrypt-target; a role_arn
// in defaults never applies to it), and name, as Organizations names the
// accounts. An account listed by itself is served with its own entry only,
// whatever selector covers it too; where selectors overlap (a unit inside the
// organization, or inside another selected unit), an account gets the
// settings of the nearest selected unit above it.
//
//	organization:   # optional: how to read the organization
//	  role_arn: arn:aws:iam::999999999999:role/amicrypt-organization-reader
//	  external_id: amicrypt-org
//	targets:
//	  - organization: true
//	    exclude: ["555555555555", "666666666666"]
//	  - organizational_unit: ou-ab12-cd34ef56
//	    regions: [us-east-1]
//	    role_name: amicrypt-prod
//	    key_alias: alias/prod
//	  - account: "222222222222"   # its own entry, whatever unit it is in
//	    key_alias: alias/payments
//
// The selectors are resolved when a run, plan or sweep starts, through AWS
// Organizations, which answers only in the management account or a delegated
// administrator account: organization.role_arn names a role there for the
// worker to assume (with external_id, if given); left out, the worker's own
// credentials must be allowed to list the organization. Suspended accounts
// and accounts being closed are skipped. So a new account of a selected unit
// is served without a change to the config. [Config.Expand] and
// [Config.ExpandTargets] give the accounts listed one by one;
// [Config.Organization] gives the selectors, each region's settings resolved.
// A selector's regions need a --source in their partition as every target's
// do, and the organization lives in one partition: the selectors' regions and
// organization.role_arn share it.
//
// # Regional values
//
// KMS keys and subnets belong to one region. key_arn is one key ARN or a
// mapping region → key ARN; a single key ARN serves only its own region, so a
// target with more regions needs the mapping (or a multi-Region key, mrk-...,
// whose replicas share its id: its ARN is used with each region put in).
// subnet_ids is a list, allowed only for a one-region target, or a mapping
// region → list; a region without subnets uses the default VPC.
//
// # Regions
//
// Region names are checked for AWS's syntax (us-east-1, ap-southeast-7,
// us-gov-west-1, cn-northwest-1, eusc-de-east-1), not against a list: AWS adds
// regions, and a config should not need a new amicrypt to use one. A misspelt
// region (us-est-1) fails the syntax and gets a suggestion. Copies stay within a
// partition (aws, aws-cn, aws-us-gov, ...): every target region needs a source
// image in its partition, and an account's regions share one partition.
package config

import (
	_ "embed"
	"fmt"
	"os"
	"reflect"
	"sort"
	"time"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/yamlconf"
)

// Built-in defaults.
const (
	DefaultRoleName         = "amicrypt-target"
	DefaultKeyAlias         = "alias/amicrypt"
	DefaultInstanceType     = "t3.micro"
	DefaultBootTimeout      = 15 * time.Minute
	DefaultKeep             = 3
	DefaultPerAccountRegion = 20
	DefaultInFlight         = 1000
	// DefaultDeletionWindowDays is how long a retired key waits in
	// PendingDeletion (KMS allows 7–30 days): the longest time to notice a
	// mistake.
	DefaultDeletionWindowDays = 30
	// DefaultMaxKeyAgeDays: a sweep finds a key older than a year due for
	// rotation.
	DefaultMaxKeyAgeDays = 365
	// DefaultConcurrentRotations caps the rotations one sweep runs at once.
	DefaultConcurrentRotations = 5
	// DefaultSweepEvery is the sweep schedule's interval.
	DefaultSweepEvery = 24 * time.Hour
	// MinSweepEvery is the shortest sweep interval accepted.
	MinSweepEvery = time.Minute
	// MinDeletionWindowDays and MaxDeletionWindowDays are KMS's bounds on
	// ScheduleKeyDeletion's waiting period.
	MinDeletionWindowDays = activities.MinDeletionWindowDays
	MaxDeletionWindowDays = activities.MaxDeletionWindowDays
	// MinBootTimeout is the shortest boot-proof timeout accepted: an
	// instance needs about a minute to reach InService.
	MinBootTimeout = time.Minute
	// DefaultRetentionGrace is how long an image retention retired stays
	// disabled before it is deregistered with its snapshots.
	DefaultRetentionGrace = activities.DefaultRetentionGrace
	// DefaultRetireAfter is how long a key a rotation replaced stays
	// disabled, unused and untried before its deletion is scheduled.
	DefaultRetireAfter = activities.DefaultRetireAfter
	// MaxFamilyLen is the longest family: the amicrypt:family tag's value,
	// and EC2 takes tag values of at most 256 characters.
	MaxFamilyLen = 256
)

// Config is a parsed config file. A Config from Parse or Load is valid and
// has Concurrency filled in; Expand resolves the targets.
type Config struct {
	// Builder is the account where Packer built the source images.
	Builder Builder `yaml:"builder"`
	// OrganizationAccess is the organization: block: how the worker reads
	// the organization to resolve the selectors among Targets; nil: not
	// given (the worker's own credentials). Config.Organization gives the
	// selectors resolved.
	OrganizationAccess *OrganizationAccess `yaml:"organization"`
	// Defaults are the settings every target inherits.
	Defaults TargetSettings `yaml:"defaults"`
	// Concurrency bounds the run.
	Concurrency Concurrency `yaml:"concurrency"`
	// Retention says how an image retention retires leaves.
	Retention Retention `yaml:"retention"`
	// Rotation configures key rotations and the sweep.
	Rotation Rotation `yaml:"rotation"`
	// Targets are the target accounts and the organization selectors, in
	// file order.
	Targets []TargetEntry `yaml:"targets"`

	// File is the file name given to Parse, used in messages.
	File string `yaml:"-"`
	pos  *yamlconf.Positions
}

// Builder is the builder account.
type Builder struct {
	// Account is the 12-digit account id. Required.
	Account string `yaml:"account"`
	// RoleARN is assumed for builder calls; empty: the worker's own
	// credentials are the builder's.
	RoleARN string `yaml:"role_arn"`
	// ExternalID is given when assuming RoleARN.
	ExternalID string `yaml:"external_id"`
}

// OrganizationAccess is the organization: block.
type OrganizationAccess struct {
	// RoleARN is a role in the organization's management account or in a
	// delegated administrator account, assumed to list the organization;
	// empty: the worker's own credentials.
	RoleARN string `yaml:"role_arn"`
	// ExternalID is given when assuming RoleARN.
	ExternalID string `yaml:"external_id"`
}

// TargetSettings are what a target inherits from defaults and may override.
// A nil field (a nil slice for Regions) is not given: it is inherited. A
// non-nil empty Regions is given, and wrong.
type TargetSettings struct {
	// Regions to copy into.
	Regions []string `yaml:"regions"`
	// RoleName is the role assumed in the target account:
	// arn:<partition>:iam::<account>:role/<RoleName>.
	RoleName *string `yaml:"role_name"`
	// RoleARN names the role in full instead; its account must be the
	// target's.
	RoleARN *string `yaml:"role_arn"`
	// ExternalID is given when assuming the role.
	ExternalID *string `yaml:"external_id"`
	// KeyAlias is the dedicated key's alias in the target account.
	KeyAlias *string `yaml:"key_alias"`
	// KeyARN names a key owned by another account instead.
	KeyARN *KeyARN `yaml:"key_arn"`
	// ManageKeyPolicy: reconcile the policy of an adopted key too.
	ManageKeyPolicy *bool `yaml:"manage_key_policy"`
	// GrantServiceLinkedRole: give the service-linked role a KMS grant on an
	// adopted key instead of editing its policy.
	GrantServiceLinkedRole *bool `yaml:"grant_service_linked_role"`
	// ServiceLinkedRoleSuffix selects AWSServiceRoleForAutoScaling_<suffix>;
	// "" is AWSServiceRoleForAutoScaling.
	ServiceLinkedRoleSuffix *string `yaml:"service_linked_role_suffix"`
	// BootProof configures the boot proof, merged key by key.
	BootProof *BootProof `yaml:"boot_proof"`
	// Publish says where a proven image is announced, merged key by key.
	Publish *Publish `yaml:"publish"`
	// Family names the line of builds the copies belong to; not given:
	// derived from the source image's name (activities.FamilyFromName).
	Family *string `yaml:"family"`
	// Keep is how many proven amicrypt images of a family to keep per
	// account and region; 0 turns retention off.
	Keep *int `yaml:"keep"`
	// LaunchPrincipals are the role ARNs that will launch instances from
	// the copies: plan and run check each may use the key through EC2
	// (kms:CreateGrant for AWS resources included, F4).
	LaunchPrincipals []string `yaml:"launch_principals"`
}

// BootProof is the boot_proof: block; nil fields are inherited.
type BootProof struct {
	Enabled      *bool          `yaml:"enabled"`
	InstanceType *string        `yaml:"instance_type"`
	SubnetIDs    *SubnetIDs     `yaml:"subnet_ids"`
	Timeout      *time.Duration `yaml:"timeout"`
}

// Publish is the publish: block; nil fields are inherited, "" publishes
// nothing there.
type Publish struct {
	// SSMParameter is the name of the SSM parameter set to the new image id.
	SSMParameter *string `yaml:"ssm_parameter"`
	// LaunchTemplate is the name (or lt- id) of a launch template that gets a
	// new default version with the new image.
	LaunchTemplate *string `yaml:"launch_template"`
}

// KeyARN is key_arn: one key ARN, or one per region.
type KeyARN struct {
	// ARN is the key_arn: <arn> form.
	ARN string
	// ByRegion is the key_arn: {region: arn} form.
	ByRegion map[string]string
}

// SubnetIDs is subnet_ids: one list, or one per region.
type SubnetIDs struct {
	// All is the subnet_ids: [...] form (one-region targets only).
	All []string
	// ByRegion is the subnet_ids: {region: [...]} form.
	ByRegion map[string][]string
}

// Concurrency bounds a run.
type Concurrency struct {
	// PerAccountRegion caps the targets of one account and region at once
	// (default 20).
	PerAccountRegion int `yaml:"per_account_region"`
	// InFlight caps the targets running at once across the run (default
	// 1000).
	InFlight int `yaml:"in_flight"`
}

// Retention is the retention: block. A Config from Parse has Grace filled in
// (the default when the file leaves it out); in a Config built in Go a nil
// Grace means the default.
type Retention struct {
	// Grace is how long an image retention retired stays disabled
	// (EnableImage undoes it) before it is deregistered with its snapshots;
	// 0 deregisters it at once (default 7 days).
	Grace *time.Duration `yaml:"grace"`
}

// Rotation is the rotation: block: how key rotations retire old keys and
// what the scheduled sweep looks for. A Config from Parse has every field
// filled in (defaults for what the file leaves out); in a Config built in Go
// a zero DeletionWindowDays, ConcurrentRotations or Every, or a nil
// RetireAfter, means the default.
type Rotation struct {
	// RetireAfter is how long a key a rotation replaced stays disabled,
	// unused and untried before amicrypt schedules its deletion; 0 schedules
	// it as soon as it is found unused (default 7 days).
	RetireAfter *time.Duration `yaml:"retire_after"`
	// DeletionWindowDays is how long an old key waits in PendingDeletion
	// after a rotation retired it: 7–30 (default 30).
	DeletionWindowDays int `yaml:"deletion_window_days"`
	// MaxKeyAgeDays makes a sweep rotate a key older than this many days; 0
	// never rotates a key for its age (default 365).
	MaxKeyAgeDays int `yaml:"max_key_age_days"`
	// ConcurrentRotations caps the rotations a sweep runs at once (default 5).
	ConcurrentRotations int `yaml:"concurrent_rotations"`
	// Every is the sweep schedule's interval, at least 1m (default 24h).
	Every time.Duration `yaml:"every"`
}

// WithDefaults fills in what a Config built in Go may leave zero:
// RetireAfter, DeletionWindowDays, ConcurrentRotations and Every
// (MaxKeyAgeDays 0 means never, and stays).
func (r Rotation) WithDefaults() Rotation {
	d := DefaultRotation()
	if r.RetireAfter == nil {
		r.RetireAfter = d.RetireAfter
	}
	if r.DeletionWindowDays == 0 {
		r.DeletionWindowDays = d.DeletionWindowDays
	}
	if r.ConcurrentRotations == 0 {
		r.ConcurrentRotations = d.ConcurrentRotations
	}
	if r.Every == 0 {
		r.Every = d.Every
	}
	return r
}

// TargetEntry is one targets: item: one account and its overrides, or a
// selector of many accounts (the whole organization, or an organizational
// unit) and the settings each of them gets. An entry is exactly one of the
// three: Account, Organization true, or OrganizationalUnit.
type TargetEntry struct {
	// Account is the 12-digit account id; unique. Its entry overrides every
	// selector's settings for it.
	Account string `yaml:"account"`
	// Organization true selects every account of the organization.
	Organization *bool `yaml:"organization"`
	// OrganizationalUnit selects the accounts of an organizational unit
	// (ou-...) and of every unit below it.
	OrganizationalUnit string `yaml:"organizational_unit"`
	// Exclude are accounts a selector never serves (selectors only).
	Exclude []string `yaml:"exclude"`
	// Name is a label for reports; unique when given. Account entries only:
	// a selector's accounts are named as in Organizations.
	Name           string `yaml:"name"`
	TargetSettings `yaml:",inline"`
}

// IsSelector reports whether the entry selects accounts of the
// organization (organization: true, or organizational_unit) rather than
// naming one account.
func (t *TargetEntry) IsSelector() bool {
	return t.Account == "" && (t.OrganizationalUnit != "" || (t.Organization != nil && *t.Organization))
}

// selected says what a selector selects, for messages: "organizational
// unit ou-..." or "the organization".
func (t *TargetEntry) selected() string {
	if t.OrganizationalUnit != "" {
		return "organizational unit " + t.OrganizationalUnit
	}
	return "the organization"
}

//go:embed example.yaml
var exampleYAML []byte

// Example returns the embedded example config (a copy): the sandbox's
// default world as a config, every key shown with its default.
func Example() []byte { return append([]byte(nil), exampleYAML...) }

// Load reads and parses the config file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config file: %w", err)
	}
	return Parse(data, path)
}

var (
	configType    = reflect.TypeOf(Config{})
	keyARNType    = reflect.TypeOf(KeyARN{})
	subnetIDsType = reflect.TypeOf(SubnetIDs{})
	durationType  = reflect.TypeOf(time.Duration(0))
)

// Parse reads a config. filename is used in messages only. Every problem is
// returned at once, joined, each a *yamlconf.Error (file:line:col: path:
// message).
func Parse(data []byte, filename string) (cfg *Config, err error) {
	defer func() {
		if r := recover(); r != nil {
			cfg, err = nil, yamlconf.Join([]*yamlconf.Error{{File: filename, Message: fmt.Sprintf("cannot read this config (internal failure: %v)", r)}})
		}
	}()
	body, err := yamlconf.Parse(data, filename, yamlconf.Options{Noun: "config file"})
	if err != nil {
		return nil, err
	}
	if body.Kind == yamlconf.Null {
		return nil, yamlconf.Join([]*yamlconf.Error{{File: filename, Message: "the config file is empty: it needs at least builder: and targets: (start from the example config)"}})
	}
	d := yamlconf.NewDecoder(filename)
	d.Extensions = []reflect.Type{configType}
	d.Custom = map[reflect.Type]func(*yamlconf.Node, string, reflect.Value){
		keyARNType:    func(n *yamlconf.Node, path string, v reflect.Value) { decodeKeyARN(d, n, path, v) },
		subnetIDsType: func(n *yamlconf.Node, path string, v reflect.Value) { decodeSubnetIDs(d, n, path, v) },
		durationType:  func(n *yamlconf.Node, path string, v reflect.Value) { decodeDuration(d, n, path, v) },
	}
	cfg = &Config{File: filename,
		Concurrency: Concurrency{PerAccountRegion: DefaultPerAccountRegion, InFlight: DefaultInFlight},
		Retention:   DefaultRetention(),
		Rotation:    DefaultRotation(),
	}
	d.Decode(body, "", reflect.ValueOf(cfg).Elem())
	cfg.pos = d.Positions()
	c := &checker{cfg: cfg, r: d.Report}
	c.check()
	if err := d.Report.Err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func decodeKeyARN(d *yamlconf.Decoder, n *yamlconf.Node, path string, v reflect.Value) {
	var k KeyARN
	switch {
	case n.Kind == yamlconf.Null:
	case n.Kind == yamlconf.Scalar && n.Type == yamlconf.StringScalar:
		k.ARN = n.Text
	case n.Kind == yamlconf.Mapping:
		d.Decode(n, path, reflect.ValueOf(&k.ByRegion).Elem())
	default:
		d.Fail(n, path, "expected a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), or a mapping region → key ARN; got %s", n.Describe())
		return
	}
	v.Set(reflect.ValueOf(k))
}

func decodeSubnetIDs(d *yamlconf.Decoder, n *yamlconf.Node, path string, v reflect.Value) {
	var s SubnetIDs
	switch n.Kind {
	case yamlconf.Null:
	case yamlconf.Sequence:
		d.Decode(n, path, reflect.ValueOf(&s.All).Elem())
		if s.All == nil {
			s.All = []string{}
		}
	case yamlconf.Mapping:
		d.Decode(n, path, reflect.ValueOf(&s.ByRegion).Elem())
	default:
		d.Fail(n, path, "expected a list of subnet ids, or a mapping region → list; got %s", n.Describe())
		return
	}
	v.Set(reflect.ValueOf(s))
}

// Validate checks a Config (one built in Go, say) and returns every problem,
// joined; positions are known for a Config from Parse.
func (c *Config) Validate() error {
	ch := &checker{cfg: c, r: &yamlconf.Report{File: c.File, Pos: c.pos}}
	ch.check()
	return ch.r.Err()
}

// Positions says where each value of a parsed Config was written (nil for a
// Config built in Go); paths look like targets[1].regions[0].
func (c *Config) Positions() *yamlconf.Positions { return c.pos }

// DefaultRetention is the retention: block of a file that gives none.
func DefaultRetention() Retention {
	grace := DefaultRetentionGrace
	return Retention{Grace: &grace}
}

// GraceOrDefault is Grace, or DefaultRetentionGrace when it is nil.
func (r Retention) GraceOrDefault() time.Duration {
	if r.Grace == nil {
		return DefaultRetentionGrace
	}
	return *r.Grace
}

// DefaultRotation is the rotation: block of a file that gives none.
func DefaultRotation() Rotation {
	retire := DefaultRetireAfter
	return Rotation{
		RetireAfter:         &retire,
		DeletionWindowDays:  DefaultDeletionWindowDays,
		MaxKeyAgeDays:       DefaultMaxKeyAgeDays,
		ConcurrentRotations: DefaultConcurrentRotations,
		Every:               DefaultSweepEvery,
	}
}

// Expand resolves every target's settings and returns the builder, the
// sources (sorted by region) and one target per account × region of the
// accounts listed one by one, sorted by account then region: the selectors'
// accounts are known only when the run resolves them through AWS
// Organizations ([Config.Organization]), so a config of selectors only
// gives no targets here. sources maps region → AMI id; it is checked too:
// AMI ids well formed, regions well formed, one partition, and every target
// region, the selectors' too, reachable from a source. On any problem
// nothing is returned but the error.
func (c *Config) Expand(sources map[string]string) (builder activities.Builder, src []activities.Source, targets []activities.Target, err error) {
	ch := &checker{cfg: c, r: &yamlconf.Report{File: c.File, Pos: c.pos}}
	ch.check()
	ch.sources(sources)
	if err := ch.r.Err(); err != nil {
		return activities.Builder{}, nil, nil, err
	}
	for region, id := range sources {
		src = append(src, activities.Source{Region: region, ImageID: id})
	}
	sort.Slice(src, func(i, j int) bool { return src[i].Region < src[j].Region })
	return c.builder(), src, ch.expandAll(), nil
}

// ExpandTargets resolves every target's settings without source images, for
// what works on the targets alone (a key rotation, a sweep): the builder and
// one target per account × region of the accounts listed one by one, sorted
// by account then region. The config is checked as Expand checks it, less
// the sources. A rotation or sweep gets the organization's accounts through
// [Config.Organization], resolved when it runs.
func (c *Config) ExpandTargets() (activities.Builder, []activities.Target, error) {
	ch := &checker{cfg: c, r: &yamlconf.Report{File: c.File, Pos: c.pos}}
	ch.check()
	if err := ch.r.Err(); err != nil {
		return activities.Builder{}, nil, err
	}
	return c.builder(), ch.expandAll(), nil
}

func (c *Config) builder() activities.Builder {
	return activities.Builder{Account: c.Builder.Account, RoleARN: c.Builder.RoleARN, ExternalID: c.Builder.ExternalID}
}

// expandAll gives every target of the accounts listed one by one, sorted by
// account then region.
func (c *checker) expandAll() []activities.Target {
	var targets []activities.Target
	for i := range c.cfg.Targets {
		if c.cfg.Targets[i].IsSelector() {
			continue
		}
		targets = append(targets, c.resolve(i).expand()...)
	}
	sort.SliceStable(targets, func(i, j int) bool {
		if targets[i].Account != targets[j].Account {
			return targets[i].Account < targets[j].Account
		}
		return targets[i].Region < targets[j].Region
	})
	return targets
}

// Organization gives the config's organization selectors as the worker
// resolves them at run start (activities.ListOrganizationUnits and the rest),
// or nil when no targets entry is organization: true or organizational_unit.
// It is meant for a valid Config (from Parse, or after Validate, Expand or
// ExpandTargets).
//
// Each selector's Regions are what each of its accounts gets, one target per
// region, resolved from defaults exactly as an account's entry is, less
// what belongs to one account (Account, Name and RoleARN, left empty);
// RoleName is the role assumed in each account. Listed are the accounts
// listed one by one, sorted: their own entries override every selector.
func (c *Config) Organization() *activities.OrganizationTargets {
	ch := &checker{cfg: c, r: &yamlconf.Report{File: c.File, Pos: c.pos}}
	var o activities.OrganizationTargets
	if a := c.OrganizationAccess; a != nil {
		o.RoleARN, o.ExternalID = a.RoleARN, a.ExternalID
	}
	for i := range c.Targets {
		t := &c.Targets[i]
		if !t.IsSelector() {
			if t.Account != "" {
				o.Listed = append(o.Listed, t.Account)
			}
			continue
		}
		rs := ch.resolve(i)
		regions := rs.expand()
		for j := range regions {
			regions[j].Account, regions[j].Name, regions[j].RoleARN = "", "", ""
		}
		o.Selectors = append(o.Selectors, activities.OrganizationSelector{
			Unit:     t.OrganizationalUnit,
			Exclude:  append([]string(nil), t.Exclude...),
			RoleName: rs.roleName,
			Regions:  regions,
		})
	}
	if len(o.Selectors) == 0 {
		return nil
	}
	sort.Strings(o.Listed)
	return &o
}
