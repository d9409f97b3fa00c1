package sandbox

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/amicrypt/amicrypt/internal/awsregion"
	"github.com/amicrypt/amicrypt/internal/policy"
	"github.com/amicrypt/amicrypt/internal/sandbox/wire"
)

// Service-linked roles the sandbox knows how to create, by service principal.
var serviceLinkedRoleNames = map[string]string{
	"autoscaling.amazonaws.com":          "AWSServiceRoleForAutoScaling",
	"elasticloadbalancing.amazonaws.com": "AWSServiceRoleForElasticLoadBalancing",
	"spot.amazonaws.com":                 "AWSServiceRoleForEC2Spot",
}

// autoScalingServiceRolePolicy stands for AWS's managed AutoScalingServiceRolePolicy:
// EC2, ELB, CloudWatch and SNS actions and no KMS action at all — which is why a
// customer managed key must let the role in from the key side (seed 003).
const autoScalingServiceRolePolicy = `{"Version":"2012-10-17","Statement":[` +
	`{"Sid":"EC2InstanceManagement","Effect":"Allow","Action":["ec2:AttachClassicLinkVpc","ec2:CancelSpotInstanceRequests","ec2:CreateFleet","ec2:CreateTags","ec2:DeleteTags","ec2:Describe*","ec2:DetachClassicLinkVpc","ec2:ModifyInstanceAttribute","ec2:RequestSpotInstances","ec2:RunInstances","ec2:StartInstances","ec2:StopInstances","ec2:TerminateInstances"],"Resource":"*"},` +
	`{"Sid":"EC2InstanceProfileManagement","Effect":"Allow","Action":["iam:PassRole"],"Resource":"*","Condition":{"StringLike":{"iam:PassedToService":"ec2.amazonaws.com*"}}},` +
	`{"Sid":"EC2SpotManagement","Effect":"Allow","Action":["iam:CreateServiceLinkedRole"],"Resource":"*","Condition":{"StringEquals":{"iam:AWSServiceName":"spot.amazonaws.com"}}},` +
	`{"Sid":"ELBManagement","Effect":"Allow","Action":["elasticloadbalancing:Register*","elasticloadbalancing:Deregister*","elasticloadbalancing:Describe*"],"Resource":"*"},` +
	`{"Sid":"CWManagement","Effect":"Allow","Action":["cloudwatch:DeleteAlarms","cloudwatch:DescribeAlarms","cloudwatch:GetMetricData","cloudwatch:PutMetricAlarm"],"Resource":"*"},` +
	`{"Sid":"SNSManagement","Effect":"Allow","Action":["sns:Publish"],"Resource":"*"},` +
	`{"Sid":"EventBridgeRuleManagement","Effect":"Allow","Action":["events:PutRule","events:PutTargets","events:RemoveTargets","events:DeleteRule","events:DescribeRule"],"Resource":"*","Condition":{"StringEquals":{"events:ManagedBy":"autoscaling.amazonaws.com"}}}]}`

func serviceTrust(service string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"%s"},"Action":"sts:AssumeRole"}]}`, service)
}

var roleNameRE = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)

func (s *Server) registerIAM() {
	s.handle("iam", "GetRole", s.iamGetRole)
	s.handle("iam", "CreateRole", s.iamCreateRole)
	s.handle("iam", "ListRoles", s.iamListRoles)
	s.handle("iam", "CreateServiceLinkedRole", s.iamCreateServiceLinkedRole)
	s.handle("iam", "DeleteServiceLinkedRole", s.iamDeleteServiceLinkedRole)
	s.handle("iam", "PutRolePolicy", s.iamPutRolePolicy)
	s.handle("iam", "GetRolePolicy", s.iamGetRolePolicy)
	s.handle("iam", "ListRolePolicies", s.iamListRolePolicies)
	s.handle("iam", "ListAttachedRolePolicies", s.iamListAttachedRolePolicies)
	s.handle("iam", "GetUser", s.iamGetUser)
	s.handle("iam", "ListAccountAliases", s.iamListAccountAliases)
}

func roleOut(r *Role) map[string]any {
	out := map[string]any{
		"Path":                     r.Path,
		"RoleName":                 r.Name,
		"RoleId":                   r.RoleID,
		"Arn":                      r.ARN,
		"CreateDate":               r.Created,
		"AssumeRolePolicyDocument": url.QueryEscape(string(r.Trust)),
		"MaxSessionDuration":       int64(3600),
	}
	if r.Description != "" {
		out["Description"] = r.Description
	}
	return out
}

func noSuchRole(name string) *wire.APIError {
	return apiErrStatus(404, "NoSuchEntity", "The role with name %s cannot be found.", name)
}

func (s *Server) iamGetRole(c *call) (map[string]any, error) {
	name := wire.Str(c.in, "RoleName")
	r := c.c.state.Accounts[c.caller.Account].Roles[name]
	if r == nil {
		return nil, noSuchRole(name)
	}
	return map[string]any{"Role": roleOut(r)}, nil
}

func (s *Server) iamCreateRole(c *call) (map[string]any, error) {
	name := wire.Str(c.in, "RoleName")
	if !roleNameRE.MatchString(name) {
		return nil, apiErr("ValidationError", "1 validation error detected: Value '%s' at 'roleName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+", name)
	}
	acct := c.c.state.Accounts[c.caller.Account]
	if acct.Roles[name] != nil {
		return nil, apiErrStatus(409, "EntityAlreadyExists", "Role with name %s already exists.", name)
	}
	trust := wire.Str(c.in, "AssumeRolePolicyDocument")
	if _, err := policy.Parse([]byte(trust)); err != nil {
		return nil, apiErr("MalformedPolicyDocument", "%v", err)
	}
	path := wire.Str(c.in, "Path")
	if path == "" {
		path = "/"
	}
	r := c.c.newRole(c.caller.Account, name, path, trust, "")
	r.Description = wire.Str(c.in, "Description")
	acct.Roles[name] = r
	c.c.markDirty()
	return map[string]any{"Role": roleOut(r)}, nil
}

// newRole builds a role with its ARN and unique id.
func (c *Cloud) newRole(account, name, path, trust, service string) *Role {
	id := strings.ToUpper(c.nextToken("role", 17))
	return &Role{
		Name: name, Path: path, ARN: fmt.Sprintf("arn:aws:iam::%s:role%s%s", account, path, name),
		RoleID: "AROA" + id, Trust: []byte(trust), Policies: map[string]string{}, ServiceName: service,
		Created: c.clock().UTC().Truncate(time.Second),
	}
}

func (s *Server) iamListRoles(c *call) (map[string]any, error) {
	prefix := wire.Str(c.in, "PathPrefix")
	acct := c.c.state.Accounts[c.caller.Account]
	var roles []any
	for _, n := range sortedKeys(acct.Roles) {
		r := acct.Roles[n]
		if prefix == "" || strings.HasPrefix(r.Path, prefix) {
			roles = append(roles, roleOut(r))
		}
	}
	page, next := paginate(roles, wire.Str(c.in, "Marker"), int(wire.Int(c.in, "MaxItems")), 100)
	out := map[string]any{"Roles": page, "IsTruncated": next != ""}
	if next != "" {
		out["Marker"] = next
	}
	return out, nil
}

func (s *Server) iamCreateServiceLinkedRole(c *call) (map[string]any, error) {
	service := wire.Str(c.in, "AWSServiceName")
	base, ok := serviceLinkedRoleNames[service]
	if !ok {
		return nil, apiErr("InvalidInput", "Unrecognized service principal: %s (the sandbox models service-linked roles for %s)", service, strings.Join(sortedKeys(serviceLinkedRoleNames), ", "))
	}
	name := base
	if suffix := wire.Str(c.in, "CustomSuffix"); suffix != "" {
		if service != "autoscaling.amazonaws.com" {
			return nil, apiErr("InvalidInput", "Custom suffix is not allowed for %s", service)
		}
		name = base + "_" + suffix
	}
	acct := c.c.state.Accounts[c.caller.Account]
	if acct.Roles[name] != nil {
		return nil, apiErr("InvalidInput", "Service role name %s has been taken in this account, please try a different suffix.", name)
	}
	r := c.c.newServiceLinkedRole(c.caller.Account, service, name)
	r.Description = wire.Str(c.in, "Description")
	acct.Roles[name] = r
	c.c.markDirty()
	return map[string]any{"Role": roleOut(r)}, nil
}

func (c *Cloud) newServiceLinkedRole(account, service, name string) *Role {
	r := c.newRole(account, name, "/aws-service-role/"+service+"/", serviceTrust(service), service)
	if service == "autoscaling.amazonaws.com" {
		r.Policies["AutoScalingServiceRolePolicy"] = autoScalingServiceRolePolicy
	}
	return r
}

func (s *Server) iamDeleteServiceLinkedRole(c *call) (map[string]any, error) {
	name := wire.Str(c.in, "RoleName")
	acct := c.c.state.Accounts[c.caller.Account]
	r := acct.Roles[name]
	if r == nil {
		return nil, noSuchRole(name)
	}
	if r.ServiceName == "" {
		return nil, apiErr("InvalidInput", "Role %s is not a service-linked role; use DeleteRole", name)
	}
	delete(acct.Roles, name)
	c.c.markDirty()
	return map[string]any{"DeletionTaskId": fmt.Sprintf("task/aws-service-role/%s/%s/%s", r.ServiceName, name, c.c.nextUUID("task"))}, nil
}

func (s *Server) iamPutRolePolicy(c *call) (map[string]any, error) {
	name := wire.Str(c.in, "RoleName")
	r := c.c.state.Accounts[c.caller.Account].Roles[name]
	if r == nil {
		return nil, noSuchRole(name)
	}
	if r.ServiceName != "" {
		return nil, apiErrStatus(400, "UnmodifiableEntity", "Cannot perform the operation on the protected role '%s' - this role is only modifiable by AWS", name)
	}
	doc := wire.Str(c.in, "PolicyDocument")
	if _, err := policy.Parse([]byte(doc)); err != nil {
		return nil, apiErr("MalformedPolicyDocument", "%v", err)
	}
	r.Policies[wire.Str(c.in, "PolicyName")] = doc
	c.c.markDirty()
	return nil, nil
}

func (s *Server) iamGetRolePolicy(c *call) (map[string]any, error) {
	name, pname := wire.Str(c.in, "RoleName"), wire.Str(c.in, "PolicyName")
	r := c.c.state.Accounts[c.caller.Account].Roles[name]
	if r == nil {
		return nil, noSuchRole(name)
	}
	doc, ok := r.Policies[pname]
	if !ok {
		return nil, apiErrStatus(404, "NoSuchEntity", "The role policy with name %s cannot be found.", pname)
	}
	return map[string]any{"RoleName": name, "PolicyName": pname, "PolicyDocument": url.QueryEscape(doc)}, nil
}

func (s *Server) iamListRolePolicies(c *call) (map[string]any, error) {
	name := wire.Str(c.in, "RoleName")
	r := c.c.state.Accounts[c.caller.Account].Roles[name]
	if r == nil {
		return nil, noSuchRole(name)
	}
	names := []string{}
	for _, n := range sortedKeys(r.Policies) {
		if r.ServiceName != "" {
			continue // managed policies of service-linked roles are not inline
		}
		names = append(names, n)
	}
	return map[string]any{"PolicyNames": names, "IsTruncated": false}, nil
}

// iamListAttachedRolePolicies: the sandbox models inline policies only, so
// an ordinary role has no managed policy attached (AWS answers an empty
// list for such a role). A service-linked role's permissions are the
// managed policy AWS attaches to it; it is listed by the name AWS gives it
// for Auto Scaling's role (AutoScalingServiceRolePolicy).
func (s *Server) iamListAttachedRolePolicies(c *call) (map[string]any, error) {
	name := wire.Str(c.in, "RoleName")
	r := c.c.state.Accounts[c.caller.Account].Roles[name]
	if r == nil {
		return nil, noSuchRole(name)
	}
	attached := []map[string]any{}
	if r.ServiceName == "autoscaling.amazonaws.com" {
		attached = append(attached, map[string]any{"PolicyName": "AutoScalingServiceRolePolicy",
			"PolicyArn": "arn:" + awsregion.Partition(c.region) + ":iam::aws:policy/aws-service-role/AutoScalingServiceRolePolicy"})
	}
	return map[string]any{"AttachedPolicies": attached, "IsTruncated": false}, nil
}

func (s *Server) iamGetUser(c *call) (map[string]any, error) {
	if !c.caller.IsRoot {
		return nil, apiErr("ValidationError", "Must specify userName when calling with non-User credentials")
	}
	return map[string]any{"User": map[string]any{
		"Path": "/", "UserName": c.caller.Account, "UserId": c.caller.Account, "Arn": c.caller.ARN,
		"CreateDate": time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
	}}, nil
}

func (s *Server) iamListAccountAliases(c *call) (map[string]any, error) {
	aliases := []string{}
	if n := c.c.state.Accounts[c.caller.Account].Name; n != "" {
		aliases = append(aliases, n)
	}
	return map[string]any{"AccountAliases": aliases, "IsTruncated": false}, nil
}

// paginate pages a listing by an opaque marker (the index of the next item).
func paginate(items []any, marker string, limit, def int) ([]any, string) {
	if limit <= 0 {
		limit = def
	}
	start := 0
	if marker != "" {
		fmt.Sscanf(marker, "p%d", &start)
	}
	if start > len(items) {
		start = len(items)
	}
	end := start + limit
	if end >= len(items) {
		if items[start:] == nil {
			return []any{}, ""
		}
		return items[start:], ""
	}
	return items[start:end], fmt.Sprintf("p%d", end)
}
