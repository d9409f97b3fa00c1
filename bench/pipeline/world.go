package main

import (
	"fmt"
	"strings"
	"time"
)

// The organisation the benchmark runs against: a builder with one source
// image per region and targets accounts × regions, every target account with
// the Auto Scaling service-linked role and the amicrypt-target role, no key
// yet (amicrypt creates and manages one per account and region).
const (
	builderAccount = "111111111111"
	pipelineRole   = "arn:aws:iam::111111111111:role/amicrypt-pipeline"
	externalID     = "amicrypt-bench"
	firstTarget    = 200000000000 // target account ids count up from here
)

// benchRegions are the regions of every target account (the last account
// may use fewer when -targets is not a multiple of len(benchRegions)).
var benchRegions = []string{"us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"}

// plan is the benchmark's shape: accounts, each with its regions.
type plan struct {
	accounts []string
	regions  [][]string // regions[i]: the regions of accounts[i]
	sources  map[string]string
}

func newPlan(targets int) plan {
	p := plan{sources: map[string]string{}}
	for i, r := range benchRegions {
		p.sources[r] = fmt.Sprintf("ami-0b%014x", i+1)
	}
	for n := 0; n < targets; n += len(benchRegions) {
		p.accounts = append(p.accounts, fmt.Sprintf("%012d", firstTarget+len(p.accounts)))
		p.regions = append(p.regions, benchRegions[:min(len(benchRegions), targets-n)])
	}
	return p
}

// worldYAML is the sandbox's world file for the plan.
func (p plan) worldYAML(copyTime, bootTime time.Duration, throttle bool) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# amicrypt pipeline benchmark: %d target accounts.\n", len(p.accounts))
	fmt.Fprintf(&b, "regions: [%s]\n\n", strings.Join(benchRegions, ", "))
	fmt.Fprintf(&b, `x-target-role: &target-role
  name: amicrypt-target
  trust:
    Version: "2012-10-17"
    Statement:
      - Effect: Allow
        Principal:
          AWS: %s
        Action: sts:AssumeRole
        Condition:
          StringEquals:
            sts:ExternalId: %s
  policies:
    amicrypt-target:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Action: ["ec2:*", "autoscaling:*", "kms:*", "iam:GetRole", "iam:CreateServiceLinkedRole", "ssm:PutParameter", "ssm:GetParameter"]
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
              Action: sts:AssumeRole
        policies:
          amicrypt-pipeline:
            Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Action: ["ec2:DescribeImages", "ec2:DescribeSnapshots", "ec2:DescribeImageAttribute", "ec2:DescribeSnapshotAttribute", "ec2:ModifyImageAttribute", "ec2:ModifySnapshotAttribute"]
                Resource: "*"
              - Effect: Allow
                Action: sts:AssumeRole
                Resource: arn:aws:iam::*:role/amicrypt-target
    images:
`, pipelineRole, externalID, builderAccount, builderAccount)
	for _, r := range benchRegions {
		fmt.Fprintf(&b, "      - {id: %s, region: %s, name: bench-base, encrypted: false}\n", p.sources[r], r)
	}
	for i, a := range p.accounts {
		fmt.Fprintf(&b, "  - {id: \"%s\", name: bench-%05d, service_linked_roles: [AWSServiceRoleForAutoScaling], roles: [*target-role]}\n", a, i)
	}
	fmt.Fprintf(&b, "\ntiming:\n  copy_seconds: %g\n  boot_seconds: %g\n  create_image_seconds: 5\n  instance_seconds: 2\n",
		copyTime.Seconds(), bootTime.Seconds())
	fmt.Fprintf(&b, "faults:\n  throttle: %t\n", throttle)
	return []byte(b.String())
}

// configYAML is amicrypt's run configuration for the plan: the example
// config's settings (boot proof on, keep 3, per_account_region 20) with the
// given in_flight.
func (p plan) configYAML(inFlight int, bootTime time.Duration) []byte {
	timeout := 15 * time.Minute
	if 3*bootTime > timeout {
		timeout = 3 * bootTime
	}
	var b strings.Builder
	fmt.Fprintf(&b, `builder:
  account: "%s"
  role_arn: %s
defaults:
  regions: [%s]
  role_name: amicrypt-target
  external_id: %s
  key_alias: alias/amicrypt
  boot_proof:
    enabled: true
    instance_type: t3.micro
    timeout: %s
  keep: 3
concurrency:
  per_account_region: 20
  in_flight: %d
targets:
`, builderAccount, pipelineRole, strings.Join(benchRegions, ", "), externalID, timeout.Round(time.Second), inFlight)
	for i, a := range p.accounts {
		if len(p.regions[i]) == len(benchRegions) {
			fmt.Fprintf(&b, "  - {account: \"%s\", name: bench-%05d}\n", a, i)
		} else {
			fmt.Fprintf(&b, "  - {account: \"%s\", name: bench-%05d, regions: [%s]}\n", a, i, strings.Join(p.regions[i], ", "))
		}
	}
	return []byte(b.String())
}
