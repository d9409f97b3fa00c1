package sandbox

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/amicrypt/amicrypt/internal/sandbox/wire"
	"github.com/amicrypt/amicrypt/internal/sandbox/world"
)

// AWS Organizations (Organizations API Reference): DescribeOrganization,
// the organization the caller's account belongs to, and the reads of its
// structure — ListRoots, ListChildren, ListAccountsForParent,
// ListOrganizationalUnitsForParent, ListParents, ListAccounts,
// DescribeAccount, DescribeOrganizationalUnit. Organizations is a global
// service: its endpoint is organizations.us-east-1.amazonaws.com and requests
// are signed for us-east-1, whatever region a client names; the sandbox
// serves it in any region and answers for the account alone.
//
// Membership comes from the world: organization_id or organization.id (every
// account), an account's organization (none, or another organization's id)
// and the management account (organization_management_account or
// organization.management_account; default: the organization's first
// account listed). The tree comes from organization.units: a member in no
// OU is directly under the root; another organization has its members under
// its root. ARNs carry the management account's id, as AWS's ARN formats for
// Organizations do: arn:aws:organizations::<management>:account/<org>/<id>,
// :root/<org>/<root id>, :ou/<org>/<ou id>.
//
// IAM's organizations:<Action> is checked first (server.serve), on resource
// "*". Then, as each API reference says: a caller in no organization is
// AWSOrganizationsNotInUseException; the reads of the structure are "only
// for the management account or a member account that is a delegated
// administrator", others are AccessDeniedException "You don't have
// permissions to access this resource.". Then the input, then the lookups
// (ParentNotFoundException, ChildNotFoundException, AccountNotFoundException,
// OrganizationalUnitNotFoundException). List operations take MaxResults 1-20
// and a NextToken from a previous call of the same operation with the same
// parameters; anything else is InvalidInputException with the model's
// Reason (MIN_VALUE_EXCEEDED, MAX_VALUE_EXCEEDED, INVALID_NEXT_TOKEN), as
// are ids that do not match the model's patterns (INVALID_PATTERN) and a
// ChildType other than ACCOUNT or ORGANIZATIONAL_UNIT (INVALID_ENUM).
//
// Where AWS does not document a behaviour, the sandbox's choices:
//   - FeatureSet is ALL; AvailablePolicyTypes (DescribeOrganization) and a
//     root's PolicyTypes list the service control policies as enabled (a
//     world declares neither).
//   - MasterAccountEmail and an account's Email are left out: a world
//     declares no e-mail addresses, and the model requires neither. Name is
//     the world account's name, left out when it has none. Account.Paths and
//     OrganizationalUnit.Path (newer members of the model) are left out: AWS
//     does not say which operations fill them.
//   - JoinedMethod is INVITED for every member (the world says nothing of
//     how an account joined; the CLI reference's examples show INVITED, the
//     management account's too); JoinedTimestamp is when the sandbox's world
//     began, a day before its start. State is the same as Status (ACTIVE,
//     SUSPENDED or PENDING_CLOSURE: the world's status of the account).
//   - The error messages not otherwise known are the model's descriptions
//     of the error or of its Reason. The model's enum names the bad-token
//     reason INVALID_NEXT_TOKEN, its documentation INVALID_PAGINATION_TOKEN:
//     the sandbox sends the enum's.
//   - The order of the checks (IAM, membership, management or delegated
//     administrator, input, lookups) and of listings: OUs in the world's
//     order, accounts by id. Without MaxResults a page holds 20 (AWS: "a
//     value that is specific to the operation"). A page is never shorter
//     than MaxResults while more remain (AWS may return fewer, even none,
//     with a NextToken).
//   - A delegated administrator may read every part of the structure; the
//     world does not say for which service it is registered.

const organizationsRegion = "us-east-1"

// orgPageMax is the most, and the sandbox's default, MaxResults of the
// Organizations list operations served (the model: 1-20).
const orgPageMax = 20

// OrgTree is one organization's structure.
type OrgTree struct {
	RootID string `json:"root_id"`
	// Units are the organization's OUs, parents before their children, in
	// the world's order.
	Units []*OrgUnit `json:"units,omitempty"`
	// Parents holds the OU of each member in one (account id -> OU id);
	// the other members are directly under the root.
	Parents map[string]string `json:"parents,omitempty"`
	// DelegatedAdministrators are members registered as delegated
	// administrators (for some service).
	DelegatedAdministrators []string `json:"delegated_administrators,omitempty"`
	// Status holds each member's status other than ACTIVE (account id ->
	// SUSPENDED or PENDING_CLOSURE).
	Status map[string]string `json:"status,omitempty"`
	// Joined is when the members joined the organization (JoinedTimestamp).
	Joined time.Time `json:"joined,omitempty"`
}

// OrgUnit is an organizational unit.
type OrgUnit struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Parent string `json:"parent"` // the root's id or an OU's
}

// orgTreesFromWorld builds the tree of every organization the world's
// accounts belong to.
func orgTreesFromWorld(w *world.World, joined time.Time) map[string]*OrgTree {
	trees := map[string]*OrgTree{}
	tree := func(org string) *OrgTree {
		t := trees[org]
		if t == nil {
			t = &OrgTree{RootID: world.DefaultRootID(org), Joined: joined}
			trees[org] = t
		}
		return t
	}
	if o := w.Organization.Resolved(w.MainOrganization()); o != nil && w.MainOrganization() != "" {
		t := tree(w.MainOrganization())
		t.RootID = o.RootID
		t.DelegatedAdministrators = slices.Clone(o.DelegatedAdministrators)
		var add func(units []world.OrganizationalUnit, parent string)
		add = func(units []world.OrganizationalUnit, parent string) {
			for _, u := range units {
				t.Units = append(t.Units, &OrgUnit{ID: u.ID, Name: u.Name, Parent: parent})
				for _, a := range u.Accounts {
					if t.Parents == nil {
						t.Parents = map[string]string{}
					}
					t.Parents[a] = u.ID
				}
			}
			for _, u := range units {
				add(u.Units, u.ID)
			}
		}
		add(o.Units, o.RootID)
	}
	for i := range w.Accounts {
		a := &w.Accounts[i]
		org := w.OrganizationOf(a)
		if org == "" {
			continue
		}
		t := tree(org)
		if a.Status != "" && a.Status != world.AccountActive {
			if t.Status == nil {
				t.Status = map[string]string{}
			}
			t.Status[a.ID] = a.Status
		}
	}
	return trees
}

func (s *Server) registerOrganizations() {
	s.handle("organizations", "DescribeOrganization", orgDescribeOrganization)
	s.handle("organizations", "ListRoots", orgListRoots)
	s.handle("organizations", "ListChildren", orgListChildren)
	s.handle("organizations", "ListAccountsForParent", orgListAccountsForParent)
	s.handle("organizations", "ListOrganizationalUnitsForParent", orgListOrganizationalUnitsForParent)
	s.handle("organizations", "ListParents", orgListParents)
	s.handle("organizations", "ListAccounts", orgListAccounts)
	s.handle("organizations", "DescribeAccount", orgDescribeAccount)
	s.handle("organizations", "DescribeOrganizationalUnit", orgDescribeOrganizationalUnit)
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
	members := c.orgMembers(org)
	if len(members) == 0 {
		return ""
	}
	return members[0]
}

// orgMembers are the ids of an organization's accounts, sorted.
func (c *Cloud) orgMembers(org string) []string {
	var members []string
	for id := range c.state.Accounts {
		if c.organizationOf(id) == org {
			members = append(members, id)
		}
	}
	sort.Strings(members)
	return members
}

// orgTree is an organization's structure; for a state written before trees
// were kept, every member active under a root of world.DefaultRootID.
func (c *Cloud) orgTree(org string) *OrgTree {
	if t := c.state.Organizations[org]; t != nil {
		return t
	}
	t := &OrgTree{RootID: world.DefaultRootID(org)}
	if !c.state.TrackingStart.IsZero() {
		t.Joined = c.state.TrackingStart.Add(-24 * time.Hour)
	}
	return t
}

// orgView is the organization a call reads, with what it answers from.
type orgView struct {
	id, mgmt string
	tree     *OrgTree
}

func (o *orgView) arn(kind, id string) string {
	return fmt.Sprintf("arn:aws:organizations::%s:%s/%s/%s", o.mgmt, kind, o.id, id)
}

// unit is the OU with this id, or nil.
func (o *orgView) unit(id string) *OrgUnit {
	for _, u := range o.tree.Units {
		if u.ID == id {
			return u
		}
	}
	return nil
}

// parentOf is the id of the root or OU an account is directly in.
func (o *orgView) parentOf(account string) string {
	if p := o.tree.Parents[account]; p != "" {
		return p
	}
	return o.tree.RootID
}

// isParent reports whether id is the root or one of the OUs.
func (o *orgView) isParent(id string) bool { return id == o.tree.RootID || o.unit(id) != nil }

// callerOrg is the caller's organization, for the operations that only the
// management account and delegated administrators may call.
func callerOrg(c *call) (*orgView, error) {
	id := c.c.organizationOf(c.caller.Account)
	if id == "" {
		return nil, apiErr("AWSOrganizationsNotInUseException", "Your account is not a member of an organization.")
	}
	o := &orgView{id: id, mgmt: c.c.managementAccountOf(id), tree: c.c.orgTree(id)}
	if c.caller.Account != o.mgmt && !slices.Contains(o.tree.DelegatedAdministrators, c.caller.Account) {
		return nil, apiErr("AccessDeniedException", "You don't have permissions to access this resource.")
	}
	return o, nil
}

// The model's patterns of the ids these operations take.
var (
	orgParentIDRe = regexp.MustCompile(`^(r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$`)
	orgChildIDRe  = regexp.MustCompile(`^(\d{12}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$`)
	orgAccountRe  = regexp.MustCompile(`^\d{12}$`)
	orgUnitIDRe   = regexp.MustCompile(`^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$`)
)

// invalidInput is Organizations' InvalidInputException with its Reason.
func invalidInput(reason, message string) *wire.APIError {
	return &wire.APIError{Code: "InvalidInputException", Message: message, Fields: map[string]string{"Reason": reason}}
}

// orgInputID checks the id in member of the request against its pattern.
func orgInputID(c *call, member string, re *regexp.Regexp) (string, error) {
	id := wire.Str(c.in, member)
	if !re.MatchString(id) {
		return "", invalidInput("INVALID_PATTERN", "You provided a value that doesn't match the required pattern.")
	}
	return id, nil
}

// orgParent is the request's ParentId: the root or an OU of the organization.
func orgParent(c *call, o *orgView) (string, error) {
	id, err := orgInputID(c, "ParentId", orgParentIDRe)
	if err != nil {
		return "", err
	}
	if !o.isParent(id) {
		return "", apiErr("ParentNotFoundException", "We can't find a root or OU with the ParentId that you specified.")
	}
	return id, nil
}

// orgPage answers one page of items: out[member] and a NextToken when more
// remain. A token is good for the operation and params it was made for.
func orgPage(c *call, params, member string, items []any) (map[string]any, error) {
	limit := int64(orgPageMax)
	if n, ok := wire.IntOK(c.in, "MaxResults"); ok {
		switch {
		case n < 1:
			return nil, invalidInput("MIN_VALUE_EXCEEDED", "You provided a numeric parameter that has a smaller value than allowed.")
		case n > orgPageMax:
			return nil, invalidInput("MAX_VALUE_EXCEEDED", "You provided a numeric parameter that has a larger value than allowed.")
		}
		limit = n
	}
	sum := sha256.Sum256([]byte(c.action + "\x00" + params))
	tag := hex.EncodeToString(sum[:8])
	start := 0
	if tok := wire.Str(c.in, "NextToken"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		parts := strings.Split(string(raw), "|")
		bad := err != nil || len(parts) != 3 || parts[0] != "v1" || parts[1] != tag
		if !bad {
			start, err = strconv.Atoi(parts[2])
			bad = err != nil || start < 1 || start > len(items)
		}
		if bad {
			return nil, invalidInput("INVALID_NEXT_TOKEN", "Get the value for the NextToken parameter from the response to a previous call of the operation.")
		}
	}
	end := min(start+int(limit), len(items))
	out := map[string]any{member: append([]any{}, items[start:end]...)}
	if end < len(items) {
		out["NextToken"] = base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("v1|%s|%d", tag, end)))
	}
	return out, nil
}

// account is an account of the organization as Organizations describes it.
func (o *orgView) account(c *Cloud, id string) map[string]any {
	status := o.tree.Status[id]
	if status == "" {
		status = world.AccountActive
	}
	out := map[string]any{
		"Id": id, "Arn": o.arn("account", id),
		"Status": status, "State": status,
		"JoinedMethod": "INVITED",
	}
	if !o.tree.Joined.IsZero() {
		out["JoinedTimestamp"] = o.tree.Joined
	}
	if a := c.state.Accounts[id]; a != nil && a.Name != "" {
		out["Name"] = a.Name
	}
	return out
}

func (o *orgView) ou(u *OrgUnit) map[string]any {
	return map[string]any{"Id": u.ID, "Arn": o.arn("ou", u.ID), "Name": u.Name}
}

// orgDescribeOrganization answers the caller's account's organization, or
// AWSOrganizationsNotInUseException ("Your account is not a member of an
// organization") for an account in none. Any member may call it.
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

// orgListRoots answers the organization's one root.
func orgListRoots(c *call) (map[string]any, error) {
	o, err := callerOrg(c)
	if err != nil {
		return nil, err
	}
	root := map[string]any{
		"Id": o.tree.RootID, "Arn": o.arn("root", o.tree.RootID), "Name": "Root",
		"PolicyTypes": []any{map[string]any{"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}},
	}
	return orgPage(c, "", "Roots", []any{root})
}

// orgListChildren answers the OUs or the accounts directly in a parent.
func orgListChildren(c *call) (map[string]any, error) {
	o, err := callerOrg(c)
	if err != nil {
		return nil, err
	}
	typ := wire.Str(c.in, "ChildType")
	if typ != "ACCOUNT" && typ != "ORGANIZATIONAL_UNIT" {
		return nil, invalidInput("INVALID_ENUM", "You specified an invalid value.")
	}
	parent, err := orgParent(c, o)
	if err != nil {
		return nil, err
	}
	children := []any{}
	if typ == "ACCOUNT" {
		for _, id := range o.accountsIn(c.c, parent) {
			children = append(children, map[string]any{"Id": id, "Type": typ})
		}
	} else {
		for _, u := range o.unitsIn(parent) {
			children = append(children, map[string]any{"Id": u.ID, "Type": typ})
		}
	}
	return orgPage(c, typ+"|"+parent, "Children", children)
}

// accountsIn are the members directly in parent, by id.
func (o *orgView) accountsIn(c *Cloud, parent string) []string {
	var ids []string
	for _, id := range c.orgMembers(o.id) {
		if o.parentOf(id) == parent {
			ids = append(ids, id)
		}
	}
	return ids
}

// unitsIn are the OUs directly in parent, in the world's order.
func (o *orgView) unitsIn(parent string) []*OrgUnit {
	var units []*OrgUnit
	for _, u := range o.tree.Units {
		if u.Parent == parent {
			units = append(units, u)
		}
	}
	return units
}

// orgListAccountsForParent answers the accounts directly in the root (those
// in no OU) or in an OU (not in the OUs inside it).
func orgListAccountsForParent(c *call) (map[string]any, error) {
	return orgListInParent(c, "Accounts", func(o *orgView, parent string) []any {
		accounts := []any{}
		for _, id := range o.accountsIn(c.c, parent) {
			accounts = append(accounts, o.account(c.c, id))
		}
		return accounts
	})
}

// orgListOrganizationalUnitsForParent answers the OUs directly in a parent.
func orgListOrganizationalUnitsForParent(c *call) (map[string]any, error) {
	return orgListInParent(c, "OrganizationalUnits", func(o *orgView, parent string) []any {
		units := []any{}
		for _, u := range o.unitsIn(parent) {
			units = append(units, o.ou(u))
		}
		return units
	})
}

// orgListInParent is a list of what is directly in the request's parent:
// the caller's organization, the parent checked, the page of list's items
// under member.
func orgListInParent(c *call, member string, list func(o *orgView, parent string) []any) (map[string]any, error) {
	o, err := callerOrg(c)
	if err != nil {
		return nil, err
	}
	parent, err := orgParent(c, o)
	if err != nil {
		return nil, err
	}
	return orgPage(c, parent, member, list(o, parent))
}

// orgListParents answers the root or OU an account or OU is directly in
// ("In the current release, a child can have only a single parent").
func orgListParents(c *call) (map[string]any, error) {
	o, err := callerOrg(c)
	if err != nil {
		return nil, err
	}
	child, err := orgInputID(c, "ChildId", orgChildIDRe)
	if err != nil {
		return nil, err
	}
	var parent string
	if u := o.unit(child); u != nil {
		parent = u.Parent
	} else if orgAccountRe.MatchString(child) && c.c.organizationOf(child) == o.id {
		parent = o.parentOf(child)
	} else {
		return nil, apiErr("ChildNotFoundException", "We can't find an organizational unit (OU) or AWS account with the ChildId that you specified.")
	}
	typ := "ORGANIZATIONAL_UNIT"
	if parent == o.tree.RootID {
		typ = "ROOT"
	}
	return orgPage(c, child, "Parents", []any{map[string]any{"Id": parent, "Type": typ}})
}

// orgListAccounts answers every account of the organization.
func orgListAccounts(c *call) (map[string]any, error) {
	o, err := callerOrg(c)
	if err != nil {
		return nil, err
	}
	accounts := []any{}
	for _, id := range c.c.orgMembers(o.id) {
		accounts = append(accounts, o.account(c.c, id))
	}
	return orgPage(c, "", "Accounts", accounts)
}

// orgDescribeAccount answers an account of the organization.
func orgDescribeAccount(c *call) (map[string]any, error) {
	o, err := callerOrg(c)
	if err != nil {
		return nil, err
	}
	id, err := orgInputID(c, "AccountId", orgAccountRe)
	if err != nil {
		return nil, err
	}
	if c.c.organizationOf(id) != o.id {
		return nil, apiErr("AccountNotFoundException", "We can't find an AWS account with the AccountId that you specified.")
	}
	return map[string]any{"Account": o.account(c.c, id)}, nil
}

// orgDescribeOrganizationalUnit answers an OU of the organization.
func orgDescribeOrganizationalUnit(c *call) (map[string]any, error) {
	o, err := callerOrg(c)
	if err != nil {
		return nil, err
	}
	id, err := orgInputID(c, "OrganizationalUnitId", orgUnitIDRe)
	if err != nil {
		return nil, err
	}
	u := o.unit(id)
	if u == nil {
		return nil, apiErr("OrganizationalUnitNotFoundException", "We can't find an OU with the OrganizationalUnitId that you specified.")
	}
	return map[string]any{"OrganizationalUnit": o.ou(u)}, nil
}
