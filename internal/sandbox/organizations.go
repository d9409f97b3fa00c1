package sandbox

import (
	"fmt"
	"sort"

	"github.com/amicrypt/amicrypt/internal/sandbox/world"
)

// AWS Organizations: DescribeOrganization, the organization the caller's
// account belongs to (Organizations API Reference). Organizations is a
// global service: its endpoint is organizations.us-east-1.amazonaws.com and
// requests are signed for us-east-1, whatever region a client names; the
// sandbox serves it in any region and answers for the account alone.
//
// Membership comes from the world: organization_id (every account), an
// account's organization (none, or another organization's id) and
// organization_management_account (default: the organization's first
// account listed). The organization's ARN, like its management account's,
// carries the management account's id, as AWS's ARN formats for
// Organizations do.
//
// Where AWS does not document a behaviour, the sandbox's choices:
//   - FeatureSet is ALL and AvailablePolicyTypes lists the service control
//     policies as enabled (a world declares neither).
//   - MasterAccountEmail is left out: a world declares no e-mail addresses.

const organizationsRegion = "us-east-1"

func (s *Server) registerOrganizations() {
	s.handle("organizations", "DescribeOrganization", orgDescribeOrganization)
}

// organizationOf is the id of the organization an account belongs to, ""
// for none (and for an account the world does not have).
func (c *Cloud) organizationOf(account string) string {
	a := c.state.Accounts[account]
	if a == nil {
		return ""
	}
	switch a.Organization {
	case "":
		return c.state.OrganizationID
	case world.NoOrganization:
		return ""
	}
	return a.Organization
}

// managementAccountOf is an organization's management account: the one the
// world named, else (a state file written before it was kept) its member
// with the lowest id.
func (c *Cloud) managementAccountOf(org string) string {
	if m := c.state.ManagementAccounts[org]; m != "" {
		return m
	}
	var members []string
	for id := range c.state.Accounts {
		if c.organizationOf(id) == org {
			members = append(members, id)
		}
	}
	sort.Strings(members)
	if len(members) == 0 {
		return ""
	}
	return members[0]
}

// orgDescribeOrganization answers the caller's account's organization, or
// AWSOrganizationsNotInUseException ("Your account is not a member of an
// organization") for an account in none. IAM's
// organizations:DescribeOrganization was checked before (server.serve).
func orgDescribeOrganization(c *call) (map[string]any, error) {
	org := c.c.organizationOf(c.caller.Account)
	if org == "" {
		return nil, apiErr("AWSOrganizationsNotInUseException", "Your account is not a member of an organization.")
	}
	mgmt := c.c.managementAccountOf(org)
	return map[string]any{"Organization": map[string]any{
		"Id":               org,
		"Arn":              fmt.Sprintf("arn:aws:organizations::%s:organization/%s", mgmt, org),
		"FeatureSet":       "ALL",
		"MasterAccountId":  mgmt,
		"MasterAccountArn": fmt.Sprintf("arn:aws:organizations::%s:account/%s/%s", mgmt, org, mgmt),
		"AvailablePolicyTypes": []any{
			map[string]any{"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"},
		},
	}}, nil
}
