package sandbox

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/amicrypt/amicrypt/internal/policy"
	"github.com/amicrypt/amicrypt/internal/sandbox/wire"
	"github.com/amicrypt/amicrypt/internal/sandbox/world"
)

// Amazon EC2 Auto Scaling, as far as proving that an AMI boots needs it: groups
// built on launch templates, launches made asynchronously by the group's
// service-linked role, scaling activities that record what happened, and
// deletion.
//
// A launch is an activity: when the group has fewer live instances than its
// desired capacity it calls RunInstances as its service-linked role (the
// instance is pending, LaunchedBy the role) and, after the world's boot
// duration, the launch resolves. It succeeds when EC2 can use the KMS key of
// every encrypted volume of the instance for the role — the snapshot's key to
// read, the volume's key to write — which useKeyViaEC2 decides from the key
// policy, the grants and the role's own (KMS-less) permissions policy. Otherwise
// the instance terminates with Client.InternalError and the activity fails with
// the message AWS gives (F2, F3, F6); then the group tries again after a
// backoff. The key decision is taken when the launch resolves, so a key policy
// fixed in between lets it succeed.

const (
	asgService         = "autoscaling.amazonaws.com"
	asgDefaultRoleName = "AWSServiceRoleForAutoScaling"
	asgDeleting        = "Delete in progress"
	asgMaxActivities   = 100 // activities kept per group (AWS keeps six weeks)
	asgMaxBackoff      = 5 * time.Minute
	asgUnhealthy       = "Instance became unhealthy while waiting for instance to be in InService state. Termination Reason: "
)

var asgSLRARNRE = regexp.MustCompile(`^arn:aws:iam::(\d{12}):role/aws-service-role/autoscaling\.amazonaws\.com/(AWSServiceRoleForAutoScaling(?:_[\w+=,.@-]+)?)$`)

func (s *Server) registerAutoScaling() {
	s.handle("autoscaling", "CreateAutoScalingGroup", s.asCreateAutoScalingGroup)
	s.handle("autoscaling", "UpdateAutoScalingGroup", s.asUpdateAutoScalingGroup)
	s.handle("autoscaling", "SetDesiredCapacity", s.asSetDesiredCapacity)
	s.handle("autoscaling", "DescribeAutoScalingGroups", s.asDescribeAutoScalingGroups)
	s.handle("autoscaling", "DescribeScalingActivities", s.asDescribeScalingActivities)
	s.handle("autoscaling", "DeleteAutoScalingGroup", s.asDeleteAutoScalingGroup)
	s.handle("autoscaling", "DescribeAutoScalingInstances", s.asDescribeAutoScalingInstances)
	s.handle("autoscaling", "DescribeLaunchConfigurations", s.asDescribeLaunchConfigurations)
	s.handle("autoscaling", "DescribeAccountLimits", s.asDescribeAccountLimits)
}

// maxLaunchConfigurations is AWS's default quota of launch configurations
// per region ("Quotas for Auto Scaling resources and groups": 200).
const maxLaunchConfigurations = 200

// groupLimit is the account's quota of groups per region.
func (c *Cloud) groupLimit(account string) int {
	if a := c.state.Accounts[account]; a != nil && a.AutoScalingGroupLimit > 0 {
		return a.AutoScalingGroupLimit
	}
	return world.DefaultAutoScalingGroupLimit
}

// asDescribeAccountLimits answers the account's Auto Scaling quotas and use in
// the request's region: its groups (a group being deleted still counts until
// it is gone; AWS does not document when it stops counting) against the
// world's autoscaling_group_limit (AWS's default quota, 500 groups per
// region; the API Reference still says 200), and launch configurations,
// which the sandbox does not model: none, against AWS's default quota of 200.
func (s *Server) asDescribeAccountLimits(c *call) (map[string]any, error) {
	r := c.c.region(c.caller.Account, c.region)
	return map[string]any{
		"MaxNumberOfAutoScalingGroups":    int64(c.c.groupLimit(c.caller.Account)),
		"MaxNumberOfLaunchConfigurations": int64(maxLaunchConfigurations),
		"NumberOfAutoScalingGroups":       int64(len(r.Groups)),
		"NumberOfLaunchConfigurations":    int64(0),
	}, nil
}

// asDescribeLaunchConfigurations lists launch configurations. The sandbox
// models none (AWS no longer offers them to new accounts, and
// CreateAutoScalingGroup here takes a launch template), so the list is always
// empty; names that match nothing give an empty list too, as AWS answers for
// names that do not exist (the API Reference documents no error for them).
func (s *Server) asDescribeLaunchConfigurations(c *call) (map[string]any, error) {
	if n, ok := wire.IntOK(c.in, "MaxRecords"); ok && (n < 1 || n > 100) {
		return nil, asValidation("1 validation error detected: Value '%d' at 'maxRecords' failed to satisfy constraint: Member must have value between 1 and 100", n)
	}
	if tok := wire.Str(c.in, "NextToken"); tok != "" {
		return nil, asValidation("The token '%s' is invalid.", tok)
	}
	return map[string]any{"LaunchConfigurations": []any{}}, nil
}

func asValidation(format string, args ...any) error {
	return apiErr("ValidationError", format, args...)
}

func asGroupNotFound(name string) error {
	return asValidation("AutoScalingGroup name not found - AutoScalingGroup '%s' not found", name)
}

func asTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func defaultSLRARN(account string) string {
	return fmt.Sprintf("arn:aws:iam::%s:role/aws-service-role/%s/%s", account, asgService, asgDefaultRoleName)
}

// callerMay evaluates the caller's identity policies for an action with extra
// condition keys (root may do everything in its account).
func (c *Cloud) callerMay(cl *Caller, action, resource string, extra map[string][]string) policy.Decision {
	if cl.IsRoot {
		return policy.Decision{Allowed: true}
	}
	ctx := c.baseContext(cl)
	for k, v := range extra {
		ctx[k] = v
	}
	return policy.EvaluateIdentity(policy.Request{Principal: cl.principal(), Action: action, Resource: resource, Context: ctx})
}

// groupServiceLinkedRole resolves a group's ServiceLinkedRoleARN. The default
// role is created when it does not exist yet ("Amazon EC2 Auto Scaling creates
// the service-linked role for you the first time you create a group"); a
// custom-suffix role must exist.
func (c *Cloud) groupServiceLinkedRole(cl *Caller, arn string, mayCreate bool) (*Role, error) {
	acct := c.state.Accounts[cl.Account]
	if arn == "" || arn == defaultSLRARN(cl.Account) {
		if r := acct.Roles[asgDefaultRoleName]; r != nil {
			return r, nil
		}
		if !mayCreate {
			return nil, asValidation("ARN specified for Service-Linked Role does not exist.")
		}
		// Creating it needs iam:CreateServiceLinkedRole. How AWS words the refusal
		// is not documented; the sandbox answers AccessDenied naming the action.
		roleARN := defaultSLRARN(cl.Account)
		if d := c.callerMay(cl, "iam:CreateServiceLinkedRole", roleARN, map[string][]string{"iam:AWSServiceName": {asgService}}); !d.Allowed {
			return nil, accessDenied("autoscaling", cl.ARN, "iam:CreateServiceLinkedRole", roleARN,
				"Auto Scaling creates "+asgDefaultRoleName+" on the first group and the caller may not: "+d.Reason)
		}
		r := c.newServiceLinkedRole(cl.Account, asgService, asgDefaultRoleName)
		r.Description = "Default Service-Linked Role enables access to AWS Services and Resources used or managed by Auto Scaling"
		acct.Roles[asgDefaultRoleName] = r
		c.markDirty()
		return r, nil
	}
	m := asgSLRARNRE.FindStringSubmatch(arn)
	if m == nil || m[1] != cl.Account {
		return nil, asValidation("ARN specified for Service-Linked Role does not exist.")
	}
	r := acct.Roles[m[2]]
	if r == nil || r.ARN != arn || r.ServiceName != asgService {
		return nil, asValidation("ARN specified for Service-Linked Role does not exist.")
	}
	// A role other than the default one must be passed (iam:PassRole), as the
	// Auto Scaling documentation says for custom-suffix roles.
	if d := c.callerMay(cl, "iam:PassRole", arn, map[string][]string{"iam:PassedToService": {asgService}}); !d.Allowed {
		return nil, accessDenied("autoscaling", cl.ARN, "iam:PassRole", arn, d.Reason)
	}
	return r, nil
}

// groupRole finds the role a group launches as (nil when it was deleted).
func (c *Cloud) groupRole(g *Group) *Role {
	acct := c.state.Accounts[g.Owner]
	name := g.ServiceLinkedRoleARN[strings.LastIndex(g.ServiceLinkedRoleARN, "/")+1:]
	if r := acct.Roles[name]; r != nil && r.ARN == g.ServiceLinkedRoleARN {
		return r
	}
	return nil
}

// groupLaunchTemplate reads the LaunchTemplate (or MixedInstancesPolicy) of a
// Create/Update request. Launch configurations and groups made from an
// instance are not modelled.
func (c *Cloud) groupLaunchTemplate(cl *Caller, region string, in map[string]any) (spec map[string]any, mixed bool, lt *LaunchTemplate, err error) {
	if wire.Str(in, "LaunchConfigurationName") != "" {
		return nil, false, nil, asValidation("Launch configurations are not modelled by this sandbox (AWS no longer offers them to new accounts); use a launch template.")
	}
	if wire.Str(in, "InstanceId") != "" {
		return nil, false, nil, asValidation("Creating a group from an instance (InstanceId) is not modelled by this sandbox; use a launch template.")
	}
	spec = wire.Struct(in, "LaunchTemplate")
	if mip := wire.Struct(in, "MixedInstancesPolicy"); mip != nil {
		if spec != nil {
			return nil, false, nil, asValidation("Valid requests must contain either LaunchTemplate, LaunchConfigurationName, InstanceId or MixedInstancesPolicy parameter.")
		}
		spec, mixed = wire.Struct(wire.Struct(mip, "LaunchTemplate"), "LaunchTemplateSpecification"), true
		if spec == nil {
			return nil, false, nil, asValidation("A MixedInstancesPolicy needs LaunchTemplate.LaunchTemplateSpecification.")
		}
	}
	if spec == nil {
		return nil, false, nil, nil
	}
	id, name := wire.Str(spec, "LaunchTemplateId"), wire.Str(spec, "LaunchTemplateName")
	if (id == "") == (name == "") {
		return nil, false, nil, asValidation("Valid requests must contain either launchTemplateId or LaunchTemplateName")
	}
	lt, _, err = c.findLaunchTemplateVersion(cl.Account, region, id, name, wire.Str(spec, "Version"))
	if err != nil {
		return nil, false, nil, asValidation("You must use a valid fully-formed launch template. %s", wire.AsAPIError(err).Message)
	}
	// Using a launch template in a group needs ec2:RunInstances on it
	// ("Control the use of launch templates in Auto Scaling groups"). AWS
	// does not document the exact request Auto Scaling authorizes; the
	// sandbox asks for ec2:RunInstances on the template's ARN, with the
	// template's tags (aws:ResourceTag/...) and ec2:LaunchTemplate, the
	// keys AWS documents for a launch from a template.
	ltARN := fmt.Sprintf("arn:aws:ec2:%s:%s:launch-template/%s", region, lt.Owner, lt.ID)
	ctx := map[string][]string{"ec2:LaunchTemplate": {ltARN}}
	for k, v := range lt.Tags {
		ctx["aws:ResourceTag/"+k] = []string{v}
	}
	if d := c.callerMay(cl, "ec2:RunInstances", ltARN, ctx); !d.Allowed {
		return nil, false, nil, asValidation("You are not authorized to use launch template: %s", lt.ID)
	}
	return spec, mixed, lt, nil
}

// groupZones reads VPCZoneIdentifier or AvailabilityZones. A group given
// Availability Zones only launches into the default subnets of those zones;
// in a region where the account has no default VPC it is refused at once with
// ValidationError "No default VPC for this user". AWS does not document what
// happens to such a group; the sandbox refuses it when it is created or
// updated, as Auto Scaling refuses a launch configuration needing the default
// VPC (ValidationError, "No default VPC for this user") and checks an
// Availability Zones group's launch template against the default VPC when the
// group is created ("The security group '...' does not exist in default VPC
// '...'"), rather than letting every launch fail.
func (c *Cloud) groupZones(account, region string, in map[string]any) (zones []string, vzi string, err error) {
	vpc := c.defaultNetwork(account, region)
	r := c.region(account, region)
	if v := wire.Str(in, "VPCZoneIdentifier"); v != "" {
		var ids []string
		for _, id := range strings.Split(v, ",") {
			id = strings.TrimSpace(id)
			if id == "" {
				continue
			}
			sn := r.Subnets[id]
			if sn == nil {
				return nil, "", asValidation("The subnet ID '%s' does not exist", id)
			}
			ids = append(ids, id)
			if !inList(zones, sn.Zone) {
				zones = append(zones, sn.Zone)
			}
		}
		if len(ids) == 0 {
			return nil, "", asValidation("At least one Availability Zone or VPC Subnet is required.")
		}
		return zones, strings.Join(ids, ","), nil
	}
	azs := wire.Strs(in, "AvailabilityZones")
	for _, z := range azs {
		if zoneIndex(region, z) < 0 {
			return nil, "", asValidation("The availability zone '%s' is not legal", z)
		}
		if !inList(zones, z) {
			zones = append(zones, z)
		}
	}
	if len(zones) == 0 {
		return nil, "", asValidation("At least one Availability Zone or VPC Subnet is required.")
	}
	if vpc == nil {
		return nil, "", asValidation("No default VPC for this user")
	}
	return zones, "", nil
}

// checkGroupLaunchTemplate is the check CreateAutoScalingGroup and
// UpdateAutoScalingGroup make of the launch template version a group will
// launch: an image whose architecture its instance type does not support is
// refused with ValidationError "You must use a valid fully-formed launch
// template." and EC2's message, as Auto Scaling answers. The same check
// refuses an instance store-backed image on a type without an instance store
// root (undocumented for groups; the sandbox treats it like the architecture).
// The other problems of a template (a missing image, an unknown or absent
// instance type, a key EC2 may not use) show at launch, in the scaling
// activity.
func (c *Cloud) checkGroupLaunchTemplate(account, region string, lt *LaunchTemplate, version string) error {
	_, v, err := c.findLaunchTemplateVersion(account, region, lt.ID, "", version)
	if err != nil {
		return nil // reported by groupLaunchTemplate
	}
	im, err := c.visibleImage(account, region, wire.Str(v.Data, "ImageId"))
	if err != nil {
		return nil
	}
	itype := wire.Str(v.Data, "InstanceType")
	if itype == "" || lookupInstanceType(itype) == nil {
		return nil
	}
	if err := checkLaunchType(itype, im); err != nil {
		return asValidation("You must use a valid fully-formed launch template. %s", wire.AsAPIError(err).Message)
	}
	return nil
}

func checkSizes(min, max, desired int64) error {
	if min < 0 || max < 0 {
		return asValidation("MinSize and MaxSize must not be negative")
	}
	if min > max {
		return asValidation("Max bound, %d, must be greater than or equal to min bound, %d", max, min)
	}
	if desired < min || desired > max {
		return asValidation("Desired capacity:%d must be between the specified min size:%d and max size:%d", desired, min, max)
	}
	return nil
}

func (s *Server) asCreateAutoScalingGroup(c *call) (map[string]any, error) {
	acct, region := c.caller.Account, c.region
	r := c.c.region(acct, region)
	name := wire.Str(c.in, "AutoScalingGroupName")
	if name == "" || len(name) > 255 {
		return nil, asValidation("1 validation error detected: Value '%s' at 'autoScalingGroupName' failed to satisfy constraint: Member must have length between 1 and 255", name)
	}
	if r.Groups[name] != nil {
		return nil, apiErr("AlreadyExists", "AutoScalingGroup by this name already exists - A group with the name %s already exists", name)
	}
	if limit := c.c.groupLimit(acct); len(r.Groups) >= limit {
		// LimitExceeded is the error CreateAutoScalingGroup documents ("You have
		// already reached a limit for your Amazon EC2 Auto Scaling resources");
		// its wording for groups is not documented. The sandbox's follows the
		// one Auto Scaling gives for launch configurations ("Launch
		// Configuration limit exceeded - You may only have 100 launch
		// configurations").
		return nil, apiErr("LimitExceeded", "AutoScalingGroup limit exceeded - You may only have %d AutoScalingGroups", limit)
	}
	spec, mixed, lt, err := c.c.groupLaunchTemplate(c.caller, region, c.in)
	if err != nil {
		return nil, err
	}
	if lt == nil {
		return nil, asValidation("Valid requests must contain either LaunchTemplate, LaunchConfigurationName, InstanceId or MixedInstancesPolicy parameter.")
	}
	if err := c.c.checkGroupLaunchTemplate(acct, region, lt, wire.Str(spec, "Version")); err != nil {
		return nil, err
	}
	min, max := wire.Int(c.in, "MinSize"), wire.Int(c.in, "MaxSize")
	desired, ok := wire.IntOK(c.in, "DesiredCapacity")
	if !ok {
		desired = min
	}
	if err := checkSizes(min, max, desired); err != nil {
		return nil, err
	}
	zones, vzi, err := c.c.groupZones(acct, region, c.in)
	if err != nil {
		return nil, err
	}
	tags, propagate, err := groupTags(name, c.in)
	if err != nil {
		return nil, err
	}
	role, err := c.c.groupServiceLinkedRole(c.caller, wire.Str(c.in, "ServiceLinkedRoleARN"), true)
	if err != nil {
		return nil, err
	}
	version := wire.Str(spec, "Version")
	if version == "" {
		version = "$Default"
	}
	g := &Group{
		Name: name, Owner: acct, Region: region,
		ARN:              fmt.Sprintf("arn:aws:autoscaling:%s:%s:autoScalingGroup:%s:autoScalingGroupName/%s", region, acct, c.c.nextUUID("asg"), name),
		LaunchTemplateID: lt.ID, LaunchTemplateName: lt.Name, LaunchTemplateVersion: version, MixedInstances: mixed,
		MinSize: min, MaxSize: max, DesiredCapacity: desired, Zones: zones, VPCZoneIdentifier: vzi,
		ServiceLinkedRoleARN: role.ARN, Tags: tags, PropagateAtLaunch: propagate, Created: c.now.UTC(),
		HealthCheckType: "EC2", DefaultCooldown: 300,
	}
	if v := wire.Str(c.in, "HealthCheckType"); v != "" {
		g.HealthCheckType = v
	}
	if v, ok := wire.IntOK(c.in, "HealthCheckGracePeriod"); ok {
		g.HealthCheckGracePeriod = v
	}
	if v, ok := wire.IntOK(c.in, "DefaultCooldown"); ok {
		g.DefaultCooldown = v
	}
	if desired > 0 {
		g.PendingCause = fmt.Sprintf("At %s a user request created an AutoScalingGroup changing the desired capacity from 0 to %d.", asTime(c.now), desired)
	}
	r.Groups[name] = g
	c.c.markDirty()
	c.c.stepGroup(r, g, c.now)
	return nil, nil
}

// groupTags reads the Tags of a Create request.
func groupTags(name string, in map[string]any) (Tags, []string, error) {
	var tags Tags
	var propagate []string
	for _, t := range wire.Structs(in, "Tags") {
		k := wire.Str(t, "Key")
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return nil, nil, asValidation("Tag keys starting with 'aws:' are reserved for internal use")
		}
		if id := wire.Str(t, "ResourceId"); id != "" && id != name {
			return nil, nil, asValidation("Tag ResourceId %s does not match the group being created, %s", id, name)
		}
		if tags == nil {
			tags = Tags{}
		}
		tags[k] = wire.Str(t, "Value")
		if wire.Bool(t, "PropagateAtLaunch") && !inList(propagate, k) {
			propagate = append(propagate, k)
		}
	}
	sort.Strings(propagate)
	return tags, propagate, nil
}

// liveGroup finds a group that is not being deleted.
func (c *Cloud) liveGroup(account, region, name string) (*Group, error) {
	g := c.region(account, region).Groups[name]
	if g == nil {
		return nil, asGroupNotFound(name)
	}
	if g.Status == asgDeleting {
		// The code is Auto Scaling's; the wording is the sandbox's.
		return nil, apiErr("ScalingActivityInProgress", "AutoScalingGroup %s is being deleted.", name)
	}
	return g, nil
}

func (s *Server) asUpdateAutoScalingGroup(c *call) (map[string]any, error) {
	acct, region := c.caller.Account, c.region
	r := c.c.region(acct, region)
	g, err := c.c.liveGroup(acct, region, wire.Str(c.in, "AutoScalingGroupName"))
	if err != nil {
		return nil, err
	}
	spec, mixed, lt, err := c.c.groupLaunchTemplate(c.caller, region, c.in)
	if err != nil {
		return nil, err
	}
	if lt != nil {
		if err := c.c.checkGroupLaunchTemplate(acct, region, lt, wire.Str(spec, "Version")); err != nil {
			return nil, err
		}
	}
	min, max, desired := g.MinSize, g.MaxSize, g.DesiredCapacity
	if v, ok := wire.IntOK(c.in, "MinSize"); ok {
		min = v
		if desired < min {
			desired = min
		}
	}
	if v, ok := wire.IntOK(c.in, "MaxSize"); ok {
		max = v
		if desired > max {
			desired = max
		}
	}
	if v, ok := wire.IntOK(c.in, "DesiredCapacity"); ok {
		desired = v
	}
	if err := checkSizes(min, max, desired); err != nil {
		return nil, err
	}
	var zones []string
	var vzi string
	if wire.Str(c.in, "VPCZoneIdentifier") != "" || len(wire.Strs(c.in, "AvailabilityZones")) > 0 {
		if zones, vzi, err = c.c.groupZones(acct, region, c.in); err != nil {
			return nil, err
		}
	}
	var role *Role
	if arn := wire.Str(c.in, "ServiceLinkedRoleARN"); arn != "" {
		if role, err = c.c.groupServiceLinkedRole(c.caller, arn, false); err != nil {
			return nil, err
		}
	}
	// Everything is valid: apply.
	if lt != nil {
		version := wire.Str(spec, "Version")
		if version == "" {
			version = "$Default"
		}
		g.LaunchTemplateID, g.LaunchTemplateName, g.LaunchTemplateVersion, g.MixedInstances = lt.ID, lt.Name, version, mixed
	}
	if zones != nil {
		g.Zones, g.VPCZoneIdentifier = zones, vzi
	}
	if role != nil {
		g.ServiceLinkedRoleARN = role.ARN
	}
	if v := wire.Str(c.in, "HealthCheckType"); v != "" {
		g.HealthCheckType = v
	}
	if v, ok := wire.IntOK(c.in, "HealthCheckGracePeriod"); ok {
		g.HealthCheckGracePeriod = v
	}
	if v, ok := wire.IntOK(c.in, "DefaultCooldown"); ok {
		g.DefaultCooldown = v
	}
	if desired != g.DesiredCapacity {
		g.PendingCause = fmt.Sprintf("At %s a user request update of AutoScalingGroup constraints to min: %d, max: %d, desired: %d changing the desired capacity from %d to %d.",
			asTime(c.now), min, max, desired, g.DesiredCapacity, desired)
	}
	g.MinSize, g.MaxSize, g.DesiredCapacity = min, max, desired
	c.c.markDirty()
	c.c.stepGroup(r, g, c.now)
	return nil, nil
}

func (s *Server) asSetDesiredCapacity(c *call) (map[string]any, error) {
	r := c.c.region(c.caller.Account, c.region)
	g, err := c.c.liveGroup(c.caller.Account, c.region, wire.Str(c.in, "AutoScalingGroupName"))
	if err != nil {
		return nil, err
	}
	d := wire.Int(c.in, "DesiredCapacity")
	if d > g.MaxSize {
		return nil, asValidation("New SetDesiredCapacity value %d is above max value %d for the AutoScalingGroup.", d, g.MaxSize)
	}
	if d < g.MinSize {
		return nil, asValidation("New SetDesiredCapacity value %d is below min value %d for the AutoScalingGroup.", d, g.MinSize)
	}
	if d != g.DesiredCapacity {
		g.PendingCause = fmt.Sprintf("At %s a user request explicitly set group desired capacity changing the desired capacity from %d to %d.", asTime(c.now), g.DesiredCapacity, d)
		g.DesiredCapacity = d
		c.c.markDirty()
	}
	c.c.stepGroup(r, g, c.now)
	return nil, nil
}

func (s *Server) asDeleteAutoScalingGroup(c *call) (map[string]any, error) {
	name := wire.Str(c.in, "AutoScalingGroupName")
	r := c.c.region(c.caller.Account, c.region)
	g := r.Groups[name]
	if g == nil {
		return nil, asGroupNotFound(name)
	}
	if g.Status == asgDeleting {
		return nil, nil
	}
	live := c.c.groupInstancesIn(r, g, "pending", "running", "stopping", "stopped", "shutting-down")
	if !wire.Bool(c.in, "ForceDelete") {
		if len(live) > 0 {
			return nil, apiErr("ResourceInUse", "You cannot delete an AutoScalingGroup while there are instances or pending Spot instance request(s) still in the group.")
		}
		for _, a := range g.Activities {
			if a.StatusCode == "InProgress" {
				return nil, apiErr("ScalingActivityInProgress", "You cannot delete an AutoScalingGroup while there are scaling activities in progress for that group.")
			}
		}
	}
	for _, in := range live {
		c.c.beginTerminate(in, c.now)
	}
	for _, a := range g.Activities {
		if a.StatusCode == "InProgress" {
			a.StatusCode, a.Progress, a.End, a.DueAt = "Cancelled", 100, c.now.UTC(), time.Time{}
			a.StatusMessage = "The Auto Scaling group was deleted."
		}
	}
	// Deletion completes once the instances are gone; until then the group is
	// listed with Status "Delete in progress".
	wait := c.c.cfg.InstanceDuration
	if wait < time.Second {
		wait = time.Second
	}
	g.Status, g.DeletingAt, g.DesiredCapacity, g.MinSize = asgDeleting, c.now.Add(wait), 0, 0
	c.c.markDirty()
	return nil, nil
}

// groupInstancesIn returns the group's instances in the given states.
func (c *Cloud) groupInstancesIn(r *Region, g *Group, states ...string) []*Instance {
	var out []*Instance
	for _, id := range g.Instances {
		if in := r.Instances[id]; in != nil && inList(states, in.State) {
			out = append(out, in)
		}
	}
	return out
}

func lifecycleState(in *Instance) (state, health string) {
	switch in.State {
	case "pending":
		return "Pending", "Healthy"
	case "running":
		return "InService", "Healthy"
	case "shutting-down":
		return "Terminating", "Unhealthy"
	case "terminated":
		return "Terminated", "Unhealthy"
	}
	return "InService", "Unhealthy" // stopping / stopped: about to be replaced
}

func (c *Cloud) groupOut(r *Region, g *Group) map[string]any {
	var insts []any
	for _, id := range g.Instances {
		in := r.Instances[id]
		if in == nil {
			continue
		}
		ls, health := lifecycleState(in)
		insts = append(insts, map[string]any{
			"InstanceId": in.ID, "InstanceType": in.InstanceType, "AvailabilityZone": in.Zone, "LifecycleState": ls,
			"HealthStatus": health, "ProtectedFromScaleIn": false,
			"LaunchTemplate": map[string]any{"LaunchTemplateId": g.LaunchTemplateID, "LaunchTemplateName": g.LaunchTemplateName, "Version": in.LaunchTemplateVersion},
		})
	}
	var tags []any
	for _, k := range sortedKeys(g.Tags) {
		tags = append(tags, map[string]any{"ResourceId": g.Name, "ResourceType": "auto-scaling-group", "Key": k, "Value": g.Tags[k],
			"PropagateAtLaunch": inList(g.PropagateAtLaunch, k)})
	}
	out := map[string]any{
		"AutoScalingGroupName": g.Name, "AutoScalingGroupARN": g.ARN, "MinSize": g.MinSize, "MaxSize": g.MaxSize,
		"DesiredCapacity": g.DesiredCapacity, "DefaultCooldown": g.DefaultCooldown, "AvailabilityZones": orEmptyStrings(g.Zones),
		"LoadBalancerNames": []string{}, "TargetGroupARNs": []string{}, "HealthCheckType": g.HealthCheckType,
		"HealthCheckGracePeriod": g.HealthCheckGracePeriod, "Instances": orEmpty(insts), "CreatedTime": g.Created,
		"SuspendedProcesses": []any{}, "EnabledMetrics": []any{}, "Tags": orEmpty(tags), "TerminationPolicies": []string{"Default"},
		"NewInstancesProtectedFromScaleIn": false, "ServiceLinkedRoleARN": g.ServiceLinkedRoleARN, "CapacityRebalance": false,
		"TrafficSources": []any{},
	}
	if g.VPCZoneIdentifier != "" {
		out["VPCZoneIdentifier"] = g.VPCZoneIdentifier
	}
	spec := map[string]any{"LaunchTemplateId": g.LaunchTemplateID, "LaunchTemplateName": g.LaunchTemplateName, "Version": g.LaunchTemplateVersion}
	if g.MixedInstances {
		out["MixedInstancesPolicy"] = map[string]any{
			"LaunchTemplate": map[string]any{"LaunchTemplateSpecification": spec, "Overrides": []any{}},
			"InstancesDistribution": map[string]any{"OnDemandAllocationStrategy": "prioritized", "OnDemandBaseCapacity": int64(0),
				"OnDemandPercentageAboveBaseCapacity": int64(100), "SpotAllocationStrategy": "lowest-price", "SpotInstancePools": int64(2)},
		}
	} else {
		out["LaunchTemplate"] = spec
	}
	if g.Status != "" {
		out["Status"] = g.Status
	}
	return out
}

func orEmptyStrings(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// asFilters checks Auto Scaling's tag filters (tag-key, tag-value, tag:<key>).
func asFilters(in map[string]any) (map[string][]string, error) {
	f := wire.Filters(in)
	for name := range f {
		if _, ok := tagAttr(nil, name); !ok {
			return nil, asValidation("Filter name %s is not valid; valid names are tag-key, tag-value and tag:<key>.", name)
		}
	}
	return f, nil
}

func (s *Server) asDescribeAutoScalingGroups(c *call) (map[string]any, error) {
	r := c.c.region(c.caller.Account, c.region)
	names := wire.Strs(c.in, "AutoScalingGroupNames")
	f, err := asFilters(c.in)
	if err != nil {
		return nil, err
	}
	if n, ok := wire.IntOK(c.in, "MaxRecords"); ok && (n < 1 || n > 100) {
		return nil, asValidation("1 validation error detected: Value '%d' at 'maxRecords' failed to satisfy constraint: Member must have value between 1 and 100", n)
	}
	var items []any
	for _, name := range sortedKeys(r.Groups) {
		g := r.Groups[name]
		if len(names) > 0 && !inList(names, name) {
			continue
		}
		if !ec2Match(f, g.Tags, func(string) []string { return nil }) {
			continue
		}
		items = append(items, c.c.groupOut(r, g))
	}
	page, next := paginate(orEmpty(items), wire.Str(c.in, "NextToken"), int(wire.Int(c.in, "MaxRecords")), 50)
	out := map[string]any{"AutoScalingGroups": page}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

func activityOut(g *Group, a *ScalingActivity) map[string]any {
	out := map[string]any{
		"ActivityId": a.ID, "AutoScalingGroupName": g.Name, "AutoScalingGroupARN": g.ARN, "Description": a.Description,
		"Cause": a.Cause, "StartTime": a.Start, "StatusCode": a.StatusCode, "Progress": a.Progress, "Details": a.Details,
	}
	if !a.End.IsZero() {
		out["EndTime"] = a.End
	}
	if a.StatusMessage != "" {
		out["StatusMessage"] = a.StatusMessage
	}
	if a.Details == "" {
		out["Details"] = "{}"
	}
	return out
}

// asDescribeScalingActivities lists activities newest first. A group name that
// does not exist gives an empty list (activities of deleted groups are not kept).
func (s *Server) asDescribeScalingActivities(c *call) (map[string]any, error) {
	r := c.c.region(c.caller.Account, c.region)
	name := wire.Str(c.in, "AutoScalingGroupName")
	ids := wire.Strs(c.in, "ActivityIds")
	if n, ok := wire.IntOK(c.in, "MaxRecords"); ok && (n < 1 || n > 100) {
		return nil, asValidation("1 validation error detected: Value '%d' at 'maxRecords' failed to satisfy constraint: Member must have value between 1 and 100", n)
	}
	type ga struct {
		g *Group
		a *ScalingActivity
		i int
	}
	var all []ga
	for _, gn := range sortedKeys(r.Groups) {
		if name != "" && gn != name {
			continue
		}
		g := r.Groups[gn]
		for i, a := range g.Activities {
			if len(ids) > 0 && !inList(ids, a.ID) {
				continue
			}
			all = append(all, ga{g, a, i})
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		if !all[i].a.Start.Equal(all[j].a.Start) {
			return all[i].a.Start.After(all[j].a.Start)
		}
		if all[i].g != all[j].g {
			return all[i].g.Name < all[j].g.Name
		}
		return all[i].i > all[j].i
	})
	items := []any{}
	for _, x := range all {
		items = append(items, activityOut(x.g, x.a))
	}
	page, next := paginate(items, wire.Str(c.in, "NextToken"), int(wire.Int(c.in, "MaxRecords")), 100)
	out := map[string]any{"Activities": page}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

func (s *Server) asDescribeAutoScalingInstances(c *call) (map[string]any, error) {
	r := c.c.region(c.caller.Account, c.region)
	ids := wire.Strs(c.in, "InstanceIds")
	if n, ok := wire.IntOK(c.in, "MaxRecords"); ok && (n < 1 || n > 50) {
		return nil, asValidation("1 validation error detected: Value '%d' at 'maxRecords' failed to satisfy constraint: Member must have value between 1 and 50", n)
	}
	items := []any{}
	for _, gn := range sortedKeys(r.Groups) {
		g := r.Groups[gn]
		for _, id := range g.Instances {
			in := r.Instances[id]
			if in == nil || len(ids) > 0 && !inList(ids, id) {
				continue
			}
			ls, health := lifecycleState(in)
			// This API spells health in capitals (HEALTHY), unlike DescribeAutoScalingGroups.
			items = append(items, map[string]any{
				"InstanceId": in.ID, "AutoScalingGroupName": g.Name, "AvailabilityZone": in.Zone, "LifecycleState": ls,
				"HealthStatus": strings.ToUpper(health), "ProtectedFromScaleIn": false, "InstanceType": in.InstanceType,
				"LaunchTemplate": map[string]any{"LaunchTemplateId": g.LaunchTemplateID, "LaunchTemplateName": g.LaunchTemplateName, "Version": in.LaunchTemplateVersion},
			})
		}
	}
	page, next := paginate(items, wire.Str(c.in, "NextToken"), int(wire.Int(c.in, "MaxRecords")), 50)
	out := map[string]any{"AutoScalingInstances": page}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

// ---- the group engine ----

// stepGroup processes what is due for one group at now: activities whose time
// has come (in time order), then one launch or termination at a time until the
// group matches its desired capacity or must wait (backoff after a failure).
// A launch answering a change (creation, new desired capacity, a lost
// instance) is made at now; a retry after failures at the end of its backoff.
// At most 50 steps run per call; the rest waits for the next request (more
// says so).
func (c *Cloud) stepGroup(r *Region, g *Group, now time.Time) (more bool) {
	if g.Status == asgDeleting {
		if !now.Before(g.DeletingAt) {
			delete(r.Groups, g.Name)
			c.markDirty()
		}
		return false
	}
	for step := 0; step < 50; step++ {
		c.checkGroupHealth(r, g, now)
		if a := earliestDue(g, now); a != nil {
			c.resolveActivity(r, g, a)
			continue
		}
		live := c.groupInstancesIn(r, g, "pending", "running")
		if int64(len(live)) > g.DesiredCapacity {
			c.shrinkGroup(r, g, live, now)
			continue
		}
		if int64(len(live)) < g.DesiredCapacity {
			at := now
			if until, ok := launchBackoff(g, c.cfg.BootDuration); ok {
				if until.After(now) {
					return false
				}
				// A retry happens when its backoff ends, even if nobody looked then.
				at = until
			}
			c.startGroupLaunch(r, g, len(live), at)
			continue
		}
		return false
	}
	return true
}

func earliestDue(g *Group, now time.Time) *ScalingActivity {
	var due *ScalingActivity
	for _, a := range g.Activities {
		if a.StatusCode == "InProgress" && !a.DueAt.IsZero() && !a.DueAt.After(now) && (due == nil || a.DueAt.Before(due.DueAt)) {
			due = a
		}
	}
	return due
}

// launchBackoff says when the group may try again after failed launches: twice
// the boot duration after the first failure, doubling with each further one, at
// most five minutes. AWS backs off failing launches too; its schedule is not
// documented, this one is the sandbox's.
func launchBackoff(g *Group, boot time.Duration) (time.Time, bool) {
	failures := 0
	var last *ScalingActivity
	for i := len(g.Activities) - 1; i >= 0; i-- {
		a := g.Activities[i]
		if a.Kind != "launch" {
			continue
		}
		if a.StatusCode != "Failed" {
			break
		}
		if last == nil {
			last = a
		}
		failures++
	}
	if last == nil {
		return time.Time{}, false
	}
	wait := 2 * boot
	if wait < time.Second {
		wait = time.Second
	}
	limit := asgMaxBackoff
	if wait > limit {
		limit = wait
	}
	for i := 1; i < failures && wait < limit; i++ {
		wait *= 2
	}
	if wait > limit {
		wait = limit
	}
	return last.End.Add(wait), true
}

func (c *Cloud) addActivity(g *Group, a *ScalingActivity) {
	g.Activities = append(g.Activities, a)
	for len(g.Activities) > asgMaxActivities {
		g.Activities = g.Activities[1:]
	}
	c.markDirty()
}

// takeCause returns the cause of the next activity: the pending user request
// (if any) followed by what the group did.
func (g *Group) takeCause(what string) string {
	cause := what
	if g.PendingCause != "" {
		cause = g.PendingCause + "  " + what
		g.PendingCause = ""
	}
	return cause
}

// checkGroupHealth drops terminated instances from the group and replaces
// instances that were stopped or terminated behind its back.
func (c *Cloud) checkGroupHealth(r *Region, g *Group, now time.Time) {
	var keep []string
	for _, id := range g.Instances {
		in := r.Instances[id]
		if in == nil || in.State == "terminated" {
			c.markDirty()
			continue
		}
		keep = append(keep, id)
		if in.State == "stopping" || in.State == "stopped" || in.State == "shutting-down" {
			if hasTerminateActivity(g, in.ID) {
				continue
			}
			c.beginTerminate(in, now)
			due := in.DueAt
			if due.IsZero() {
				due = now
			}
			c.addActivity(g, &ScalingActivity{
				ID: c.nextUUID("activity"), Kind: "terminate", InstanceID: in.ID, StatusCode: "InProgress", Progress: 50,
				Description: "Terminating EC2 instance: " + in.ID,
				Cause:       fmt.Sprintf("At %s an instance was taken out of service in response to an EC2 health check indicating it has been terminated or stopped.", asTime(now)),
				Start:       now.UTC(), DueAt: due,
			})
		}
	}
	if len(keep) != len(g.Instances) {
		g.Instances = keep
	}
}

func hasTerminateActivity(g *Group, id string) bool {
	for _, a := range g.Activities {
		if a.Kind == "terminate" && a.InstanceID == id {
			return true
		}
	}
	return false
}

// shrinkGroup terminates one instance above the desired capacity: in the zone
// with the most instances, the oldest one (a simplified default termination policy).
func (c *Cloud) shrinkGroup(r *Region, g *Group, live []*Instance, now time.Time) {
	perZone := map[string]int{}
	for _, in := range live {
		perZone[in.Zone]++
	}
	victim := live[0]
	for _, in := range live[1:] {
		if perZone[in.Zone] > perZone[victim.Zone] || perZone[in.Zone] == perZone[victim.Zone] && in.Launched.Before(victim.Launched) {
			victim = in
		}
	}
	from := len(live)
	c.beginTerminate(victim, now)
	due := victim.DueAt
	if due.IsZero() {
		due = now
	}
	ts := asTime(now)
	c.addActivity(g, &ScalingActivity{
		ID: c.nextUUID("activity"), Kind: "terminate", InstanceID: victim.ID, StatusCode: "InProgress", Progress: 50,
		Description: "Terminating EC2 instance: " + victim.ID,
		Cause: g.takeCause(fmt.Sprintf("At %s an instance was taken out of service in response to a difference between desired and actual capacity, shrinking the capacity from %d to %d.  At %s instance %s was selected for termination.",
			ts, from, from-1, ts, victim.ID)),
		Start: now.UTC(), DueAt: due,
	})
}

// pickZone chooses where the next instance goes: the group's zone with the
// fewest live instances (Auto Scaling balances across zones), and its subnet.
func (c *Cloud) pickZone(r *Region, g *Group) (zone, subnetID string) {
	count := map[string]int{}
	for _, in := range c.groupInstancesIn(r, g, "pending", "running") {
		count[in.Zone]++
	}
	zones := g.Zones
	if len(zones) == 0 {
		zones = zoneNames(g.Region)[:1]
	}
	zone = zones[0]
	for _, z := range zones[1:] {
		if count[z] < count[zone] {
			zone = z
		}
	}
	if g.VPCZoneIdentifier != "" {
		for _, id := range strings.Split(g.VPCZoneIdentifier, ",") {
			if sn := r.Subnets[id]; sn != nil && sn.Zone == zone {
				return zone, sn.ID
			}
		}
	}
	if sn := c.defaultSubnet(g.Owner, g.Region, zone); sn != nil {
		return zone, sn.ID
	}
	return zone, ""
}

// startGroupLaunch makes the group's RunInstances call, as its service-linked
// role, and records the launch activity. A call EC2 refuses fails the activity
// at once with EC2's message.
func (c *Cloud) startGroupLaunch(r *Region, g *Group, live int, now time.Time) {
	a := &ScalingActivity{
		ID: c.nextUUID("activity"), Kind: "launch", StatusCode: "InProgress", Progress: 30, Start: now.UTC(),
		Cause: g.takeCause(fmt.Sprintf("At %s an instance was started in response to a difference between desired and actual capacity, increasing the capacity from %d to %d.",
			asTime(now), live, live+1)),
	}
	zone, subnetID := c.pickZone(r, g)
	details, _ := json.Marshal(map[string]string{"Subnet ID": subnetID, "Availability Zone": zone})
	a.Details = string(details)
	fail := func(err error) {
		msg := strings.TrimSuffix(wire.AsAPIError(err).Message, ".") + ". Launching EC2 instance failed."
		a.StatusCode, a.StatusMessage, a.Progress, a.End = "Failed", msg, 100, now.UTC()
		a.Description = "Launching a new EC2 instance.  Status Reason: " + msg
		c.addActivity(g, a)
	}
	role := c.groupRole(g)
	if role == nil {
		fail(apiErr("AccessDenied", "The service-linked role %s of the group does not exist", g.ServiceLinkedRoleARN))
		return
	}
	lt, v, err := c.findLaunchTemplateVersion(g.Owner, g.Region, g.LaunchTemplateID, "", g.LaunchTemplateVersion)
	if err != nil {
		fail(err)
		return
	}
	extra := Tags{"aws:autoscaling:groupName": g.Name}
	for _, k := range g.PropagateAtLaunch {
		extra[k] = g.Tags[k]
	}
	insts, err := c.launchInstances(launchSpec{
		account: g.Owner, region: g.Region, params: deepCopyMap(v.Data), minCount: 1, maxCount: 1,
		launchedBy: role.ARN, groupName: g.Name, ltID: lt.ID, ltVersion: fmt.Sprint(v.Number),
		subnetID: subnetID, extraTags: extra,
	}, now)
	if err != nil {
		fail(err)
		return
	}
	in := insts[0]
	// The group, not advanceInstances, decides when this instance leaves pending.
	in.Next, in.DueAt = "", time.Time{}
	g.Instances = append(g.Instances, in.ID)
	a.InstanceID, a.DueAt = in.ID, now.Add(c.cfg.BootDuration)
	a.Description = "Launching a new EC2 instance: " + in.ID
	c.addActivity(g, a)
}

// resolveActivity ends an activity whose time has come.
func (c *Cloud) resolveActivity(r *Region, g *Group, a *ScalingActivity) {
	at := a.DueAt
	a.DueAt = time.Time{}
	a.End, a.Progress = at.UTC(), 100
	c.markDirty()
	if a.Kind == "terminate" {
		a.StatusCode = "Successful"
		return
	}
	in := r.Instances[a.InstanceID]
	if in == nil || in.State != "pending" {
		// Terminated (by a user, or a forced delete) before it was InService.
		a.StatusCode = "Cancelled"
		a.StatusMessage = "Instance " + a.InstanceID + " was terminated before it reached the InService state."
		return
	}
	code, msg := in.FailCode, in.FailMessage
	if code == "" {
		if role := c.groupRole(g); role == nil {
			code, msg = launchFailCode, launchFailMessage
		} else if prob := c.instanceKeyProblem(&kmsUse{actor: serviceRoleActor(g.Owner, role, "AutoScaling", asgService, at), at: at}, c.rolePrincipal(g.Owner, role), "", in); prob != nil {
			code, msg = launchFailure(prob)
		}
	}
	if code != "" {
		c.failLaunch(r, in, at, code, msg)
		a.StatusCode = "Failed"
		a.StatusMessage = asgUnhealthy + msg
		a.Description = fmt.Sprintf("Launching a new EC2 instance: %s.  Status Reason: %s", in.ID, a.StatusMessage)
		var keep []string
		for _, id := range g.Instances {
			if id != in.ID {
				keep = append(keep, id)
			}
		}
		g.Instances = keep
		return
	}
	in.State, in.StateReasonCode, in.StateReason = "running", "", ""
	a.StatusCode = "Successful"
}
