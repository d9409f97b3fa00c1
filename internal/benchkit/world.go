// Package benchkit is what amicrypt's benchmarks under bench/ share: the
// organisation they run against (world file and run configuration), the
// real worker binary as a child process, the sandbox's counters and state,
// the run's Temporal histories and the /proc figures of a process.
package benchkit

import (
	"fmt"
	"strings"
	"time"

	"github.com/amicrypt/amicrypt/internal/config"
	"github.com/amicrypt/amicrypt/workflows"
)

// The organisation a benchmark runs against: a builder with one source image
// per region and targets accounts × regions, every target account with the
// Auto Scaling service-linked role and the amicrypt-target role, no key yet
// (amicrypt creates and manages one per account and region).
const (
	BuilderAccount = "111111111111"
	PipelineRole   = "arn:aws:iam::111111111111:role/amicrypt-pipeline"
	ExternalID     = "amicrypt-bench"
	KeyAlias       = "alias/amicrypt"
	firstTarget    = 200000000000 // target account ids count up from here
)

// Regions are the regions of every target account (the last account may use
// fewer when the number of targets is not a multiple of len(Regions)).
var Regions = []string{"us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"}

// Plan is a benchmark's shape: accounts, each with its regions, and the
// builder's source image of every region.
type Plan struct {
	Accounts []string
	// AccountRegions[i] are the regions of Accounts[i].
	AccountRegions [][]string
	// Sources: region → the builder's source image there.
	Sources map[string]string
}

// NewPlan lays out targets as accounts × Regions, the last account taking
// the remainder.
func NewPlan(targets int) Plan {
	p := Plan{Sources: map[string]string{}}
	for i, r := range Regions {
		p.Sources[r] = fmt.Sprintf("ami-0b%014x", i+1)
	}
	for n := 0; n < targets; n += len(Regions) {
		p.Accounts = append(p.Accounts, fmt.Sprintf("%012d", firstTarget+len(p.Accounts)))
		p.AccountRegions = append(p.AccountRegions, Regions[:min(len(Regions), targets-n)])
	}
	return p
}

// WorldOptions are the sandbox's timing and faults.
type WorldOptions struct {
	// Title names the benchmark in the world file's first comment line.
	Title    string
	Copy     time.Duration // simulated CopyImage time
	Boot     time.Duration // simulated Auto Scaling launch time
	Throttle bool          // the token buckets (EC2, KMS, STS rate limits)
	// The world file's faults.throttle_rate, error_rate and
	// lost_response_rate, for every service; zero ones are left out.
	ThrottleRate, ErrorRate, LostResponseRate float64
	// Units > 0 puts the accounts in an organization the builder manages,
	// in that many organizational units (consecutive accounts together),
	// and lets the pipeline role read it.
	Units int
}

// OrganizationID is the benchmark organization's id (WorldOptions.Units).
const OrganizationID = "o-bench00000"

// WorldYAML is the sandbox's world file for the plan.
func (p Plan) WorldYAML(o WorldOptions) []byte {
	var b strings.Builder
	title := o.Title
	if title == "" {
		title = "amicrypt benchmark"
	}
	fmt.Fprintf(&b, "# %s: %d target accounts.\n", title, len(p.Accounts))
	fmt.Fprintf(&b, "regions: [%s]\n\n", strings.Join(Regions, ", "))
	fmt.Fprintf(&b, `x-target-role: &target-role
  name: amicrypt-target
  trust:
    Version: "2012-10-17"
    Statement:
      - Effect: Allow
        Principal:
          AWS: %s
        Action: [sts:AssumeRole, sts:SetSourceIdentity]
        Condition:
          StringEquals:
            sts:ExternalId: %s
  policies:
    amicrypt-target:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Action: ["ec2:*", "autoscaling:*", "kms:*", "iam:GetRole", "iam:CreateServiceLinkedRole", "iam:ListRolePolicies", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies", "ssm:PutParameter", "ssm:GetParameter", "ssm:GetParameters", "ssm:DescribeParameters", "ssm:AddTagsToResource", "cloudtrail:LookupEvents"]
          Resource: "*"

accounts:
  - id: "%s"
    name: builder
    ebs_encryption_by_default: false
    roles:
      - name: amicrypt-pipeline
        trust:
          Version: "2012-10-17"
          Statement:
            - Effect: Allow
              Principal:
                AWS: arn:aws:iam::%s:root
              Action: [sts:AssumeRole, sts:SetSourceIdentity]
        policies:
          amicrypt-pipeline:
            Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Action: ["ec2:DescribeImages", "ec2:DescribeSnapshots", "ec2:DescribeImageAttribute", "ec2:DescribeSnapshotAttribute", "ec2:ModifyImageAttribute", "ec2:ModifySnapshotAttribute"]
                Resource: "*"
              - Effect: Allow
                Action: ["kms:DescribeKey", "kms:GetKeyPolicy"]
                Resource: arn:aws:kms:*:%s:key/*
              - Effect: Allow
                Action: [sts:AssumeRole, sts:SetSourceIdentity]
                Resource: arn:aws:iam::*:role/amicrypt-target%s
    images:
`, PipelineRole, ExternalID, BuilderAccount, BuilderAccount, BuilderAccount, orgRead(o.Units))
	for _, r := range Regions {
		fmt.Fprintf(&b, "      - {id: %s, region: %s, name: bench-base, encrypted: false}\n", p.Sources[r], r)
	}
	for i, a := range p.Accounts {
		fmt.Fprintf(&b, "  - {id: \"%s\", name: bench-%05d, service_linked_roles: [AWSServiceRoleForAutoScaling], roles: [*target-role]}\n", a, i)
	}
	if o.Units > 0 {
		fmt.Fprintf(&b, "\norganization:\n  id: %s\n  management_account: \"%s\"\n  units:\n", OrganizationID, BuilderAccount)
		per := (len(p.Accounts) + o.Units - 1) / o.Units
		for u := 0; u*per < len(p.Accounts); u++ {
			ids := p.Accounts[u*per : min((u+1)*per, len(p.Accounts))]
			fmt.Fprintf(&b, "    - {name: unit-%03d, accounts: [\"%s\"]}\n", u, strings.Join(ids, `", "`))
		}
	}
	fmt.Fprintf(&b, "\ntiming:\n  copy_seconds: %g\n  boot_seconds: %g\n  create_image_seconds: 5\n  instance_seconds: 2\n",
		o.Copy.Seconds(), o.Boot.Seconds())
	fmt.Fprintf(&b, "faults:\n  throttle: %t\n", o.Throttle)
	for _, f := range []struct {
		key  string
		rate float64
	}{{"throttle_rate", o.ThrottleRate}, {"error_rate", o.ErrorRate}, {"lost_response_rate", o.LostResponseRate}} {
		if f.rate != 0 {
			fmt.Fprintf(&b, "  %s: %g\n", f.key, f.rate)
		}
	}
	return []byte(b.String())
}

// orgRead is the pipeline role's statement reading the organization, when
// there is one.
func orgRead(units int) string {
	if units == 0 {
		return ""
	}
	return `
              - Effect: Allow
                Action: ["organizations:List*", "organizations:Describe*"]
                Resource: "*"`
}

// ConfigOptions are the run configuration's knobs a benchmark sets.
type ConfigOptions struct {
	InFlight int           // concurrency.in_flight
	Boot     time.Duration // the boot-proof timeout is the larger of 15 min and 3 × Boot
	// SSMParameter and LaunchTemplate are defaults.publish's; "" leaves the
	// publish block out.
	SSMParameter, LaunchTemplate string
	// Organization: the targets are the organization's accounts (one
	// organization: true entry, the builder excluded), not listed.
	Organization bool
}

// ConfigYAML is amicrypt's run configuration for the plan: the example
// config's settings (boot proof on, keep 3, per_account_region 20) with the
// given in_flight and publish targets.
func (p Plan) ConfigYAML(o ConfigOptions) []byte {
	timeout := 15 * time.Minute
	if 3*o.Boot > timeout {
		timeout = 3 * o.Boot
	}
	publish := ""
	if o.SSMParameter != "" || o.LaunchTemplate != "" {
		publish = fmt.Sprintf("  publish: {ssm_parameter: %q, launch_template: %q}\n", o.SSMParameter, o.LaunchTemplate)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `builder:
  account: "%s"
  role_arn: %s
defaults:
  regions: [%s]
  role_name: amicrypt-target
  external_id: %s
  key_alias: %s
  boot_proof:
    enabled: true
    instance_type: t3.micro
    timeout: %s
%s  keep: 3
concurrency:
  per_account_region: 20
  in_flight: %d
targets:
`, BuilderAccount, PipelineRole, strings.Join(Regions, ", "), ExternalID, KeyAlias, timeout.Round(time.Second), publish, o.InFlight)
	if o.Organization {
		fmt.Fprintf(&b, "  - organization: true\n    exclude: [\"%s\"]\n", BuilderAccount)
		return []byte(b.String())
	}
	for i, a := range p.Accounts {
		if len(p.AccountRegions[i]) == len(Regions) {
			fmt.Fprintf(&b, "  - {account: \"%s\", name: bench-%05d}\n", a, i)
		} else {
			fmt.Fprintf(&b, "  - {account: \"%s\", name: bench-%05d, regions: [%s]}\n", a, i, strings.Join(p.AccountRegions[i], ", "))
		}
	}
	return []byte(b.String())
}

// PipelineInput is the run configYAML (ConfigYAML's) describes, over the
// plan's sources, named runID, validated.
func (p Plan) PipelineInput(configYAML []byte, runID string) (workflows.PipelineInput, error) {
	cfg, err := config.Parse(configYAML, "bench-config.yaml")
	if err != nil {
		return workflows.PipelineInput{}, fmt.Errorf("the generated config: %w", err)
	}
	builder, sources, targets, err := cfg.Expand(p.Sources)
	if err != nil {
		return workflows.PipelineInput{}, fmt.Errorf("the generated config: %w", err)
	}
	in := workflows.PipelineInput{
		RunID:   runID,
		Builder: builder, Sources: sources, Targets: targets,
		InFlight: cfg.Concurrency.InFlight, PerAccountRegion: cfg.Concurrency.PerAccountRegion,
		Organization: cfg.Organization(),
	}
	return in, in.Validate()
}
