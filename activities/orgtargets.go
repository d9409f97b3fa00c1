package activities

import (
	"context"
	"fmt"
	"sort"

	"go.temporal.io/sdk/activity"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
)

// Targets from AWS Organizations. A config's targets may name an
// organizational unit (its accounts and those of every unit below it) or
// the whole organization, with accounts to exclude and the settings every
// account of the selector gets. A run resolves them as it starts, from the
// management account or a delegated administrator: ListOrganizationUnits
// reads the units below the selectors (ListRoots, ListChildren), then
// ListOrganizationAccounts pages through each unit's accounts
// (ListAccountsForParent), and DescribeOrganizationAccounts reads the
// status of the accounts the config lists one by one. Suspended accounts,
// and accounts being closed, are skipped and reported. The answers are the
// activities' results, so they are recorded in the run's history; a plan, a
// sweep and the next scheduled sweep resolve anew, so a new account is
// served without a change to the config.

// OrganizationTargets are a config's organization selectors and how to read
// the organization.
type OrganizationTargets struct {
	// RoleARN is a role in the management account or in a delegated
	// administrator, assumed to list the organization; empty: the worker's
	// own credentials.
	RoleARN    string `json:"role_arn,omitempty"`
	ExternalID string `json:"external_id,omitempty"`
	// Selectors in config order.
	Selectors []OrganizationSelector `json:"selectors"`
	// Listed are the accounts the config lists one by one: their own entries
	// override every selector's settings.
	Listed []string `json:"listed,omitempty"`
}

// OrganizationSelector is one organization targets: entry.
type OrganizationSelector struct {
	// Unit is the organizational unit (ou-...) whose accounts, in it and in
	// every unit below it, the selector serves; empty: the whole
	// organization. Where selectors overlap, an account belongs to the
	// selector of the nearest unit above it.
	Unit string `json:"unit,omitempty"`
	// Exclude are accounts the selector never serves.
	Exclude []string `json:"exclude,omitempty"`
	// RoleName is the role assumed in each account:
	// arn:<partition>:iam::<account>:role/<RoleName>.
	RoleName string `json:"role_name"`
	// Regions are the settings of each account's targets, one per region:
	// every field but Account, Name and RoleARN.
	Regions []Target `json:"regions"`
}

// organizationAccess is how the organization is read: as the
// organization reader (the management account's or a delegated
// administrator's role; Organizations is global: the region only picks the
// partition).
func organizationAccess(o OrganizationTargets, region string) Access {
	return Access{Region: region, RoleARN: o.RoleARN, ExternalID: o.ExternalID}
}

// ListOrganizationUnitsInput asks for the units below the selectors.
type ListOrganizationUnitsInput struct {
	Organization OrganizationTargets `json:"organization"`
	// Region picks the partition (the first source's region).
	Region string `json:"region"`
}

// OrganizationUnit is a root or an organizational unit.
type OrganizationUnit struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// Parent is the unit above ("" for the root, and for a selector's unit
	// whose parent was not read).
	Parent string `json:"parent,omitempty"`
}

// OrganizationTree is the organization's root and every unit below the
// selectors, each listed once, parents before children.
type OrganizationTree struct {
	OrganizationID string             `json:"organization_id"`
	Root           string             `json:"root"`
	Units          []OrganizationUnit `json:"units"`
}

// ListOrganizationAccountsInput asks for one page of a unit's own accounts.
type ListOrganizationAccountsInput struct {
	Organization OrganizationTargets `json:"organization"`
	Region       string              `json:"region"`
	Parent       string              `json:"parent"`
	NextToken    string              `json:"next_token,omitempty"`
}

// OrganizationAccount is a member account and its status (ACTIVE,
// SUSPENDED, PENDING_CLOSURE).
type OrganizationAccount struct {
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	Status string `json:"status,omitempty"`
}

// OrganizationAccountsPage is up to MaxOrganizationAccountsPage accounts
// of a unit, and the token of the next page ("" at the end).
type OrganizationAccountsPage struct {
	Accounts  []OrganizationAccount `json:"accounts"`
	NextToken string                `json:"next_token,omitempty"`
}

// MaxOrganizationAccountsPage bounds one ListOrganizationAccounts result
// (60-odd bytes an account), so no payload grows with the organization.
const MaxOrganizationAccountsPage = 1000

// DescribeOrganizationAccountsInput asks for the status of listed accounts.
type DescribeOrganizationAccountsInput struct {
	Organization OrganizationTargets `json:"organization"`
	Region       string              `json:"region"`
	Accounts     []string            `json:"accounts"`
}

// ActiveAccount reports whether an account's status lets amicrypt serve it.
func ActiveAccount(status string) bool {
	return status == "" || status == string(orgtypes.AccountStatusActive)
}

// ListOrganizationUnits reads the organization's root and the units below
// each selector (the whole organization's for a selector without a unit).
func (a *Activities) ListOrganizationUnits(ctx context.Context, in ListOrganizationUnitsInput) (OrganizationTree, error) {
	api := a.clients.Organizations(organizationAccess(in.Organization, in.Region))
	w := organizationWhere(in.Organization, in.Region, "organization")
	roots, err := api.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil {
		return OrganizationTree{}, a.organizationError(err, w, "ListRoots", in.Organization)
	}
	if len(roots.Roots) == 0 {
		return OrganizationTree{}, fmt.Errorf("ListRoots answered no root in %s", w)
	}
	root := roots.Roots[0]
	tree := OrganizationTree{Root: aws.ToString(root.Id)}
	if desc, err := api.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{}); err == nil && desc.Organization != nil {
		tree.OrganizationID = aws.ToString(desc.Organization.Id)
	}
	seen := map[string]bool{}
	var walk func(parent string) error
	walk = func(parent string) error {
		var token *string
		for {
			out, err := api.ListChildren(ctx, &organizations.ListChildrenInput{
				ParentId: aws.String(parent), ChildType: orgtypes.ChildTypeOrganizationalUnit, NextToken: token,
			})
			if err != nil {
				return a.organizationError(err, organizationWhere(in.Organization, in.Region, "unit "+parent), "ListChildren", in.Organization)
			}
			for _, c := range out.Children {
				id := aws.ToString(c.Id)
				if seen[id] {
					continue
				}
				seen[id] = true
				unit := OrganizationUnit{ID: id, Parent: parent}
				if d, err := api.DescribeOrganizationalUnit(ctx, &organizations.DescribeOrganizationalUnitInput{OrganizationalUnitId: aws.String(id)}); err == nil && d.OrganizationalUnit != nil {
					unit.Name = aws.ToString(d.OrganizationalUnit.Name)
				}
				tree.Units = append(tree.Units, unit)
				if err := walk(id); err != nil {
					return err
				}
			}
			if aws.ToString(out.NextToken) == "" {
				return nil
			}
			token = out.NextToken
		}
	}
	seen[tree.Root] = true
	tree.Units = append(tree.Units, OrganizationUnit{ID: tree.Root, Name: aws.ToString(root.Name)})
	// The whole organization first: a selector's unit below the root is
	// then found with its parent.
	units := selectorUnits(in.Organization)
	if units[""] {
		if err := walk(tree.Root); err != nil {
			return OrganizationTree{}, err
		}
	}
	for _, u := range sortedUnits(units) {
		if u == "" || seen[u] {
			continue
		}
		d, err := api.DescribeOrganizationalUnit(ctx, &organizations.DescribeOrganizationalUnitInput{OrganizationalUnitId: aws.String(u)})
		if err != nil {
			return OrganizationTree{}, a.organizationError(err, organizationWhere(in.Organization, in.Region, "unit "+u), "DescribeOrganizationalUnit", in.Organization)
		}
		seen[u] = true
		unit := OrganizationUnit{ID: u}
		if d.OrganizationalUnit != nil {
			unit.Name = aws.ToString(d.OrganizationalUnit.Name)
		}
		if p, err := api.ListParents(ctx, &organizations.ListParentsInput{ChildId: aws.String(u)}); err == nil && len(p.Parents) > 0 {
			unit.Parent = aws.ToString(p.Parents[0].Id)
		}
		tree.Units = append(tree.Units, unit)
		if err := walk(u); err != nil {
			return OrganizationTree{}, err
		}
	}
	return tree, nil
}

// ListOrganizationAccounts reads one page of a unit's own accounts (not
// those of the units below it), at most MaxOrganizationAccountsPage.
func (a *Activities) ListOrganizationAccounts(ctx context.Context, in ListOrganizationAccountsInput) (OrganizationAccountsPage, error) {
	api := a.clients.Organizations(organizationAccess(in.Organization, in.Region))
	var page OrganizationAccountsPage
	token := in.NextToken
	for len(page.Accounts) < MaxOrganizationAccountsPage {
		out, err := api.ListAccountsForParent(ctx, &organizations.ListAccountsForParentInput{
			ParentId: aws.String(in.Parent), MaxResults: aws.Int32(20), NextToken: optional(token),
		})
		if err != nil {
			return OrganizationAccountsPage{}, a.organizationError(err, organizationWhere(in.Organization, in.Region, "unit "+in.Parent), "ListAccountsForParent", in.Organization)
		}
		for _, acct := range out.Accounts {
			page.Accounts = append(page.Accounts, OrganizationAccount{ID: aws.ToString(acct.Id), Name: aws.ToString(acct.Name), Status: string(acct.Status)})
		}
		token = aws.ToString(out.NextToken)
		if token == "" {
			break
		}
		heartbeatCount(ctx, len(page.Accounts))
	}
	page.NextToken = token
	return page, nil
}

// DescribeOrganizationAccounts reads the status of accounts the config
// lists one by one. An account not in the organization is served as listed
// (status "").
func (a *Activities) DescribeOrganizationAccounts(ctx context.Context, in DescribeOrganizationAccountsInput) ([]OrganizationAccount, error) {
	api := a.clients.Organizations(organizationAccess(in.Organization, in.Region))
	out := make([]OrganizationAccount, 0, len(in.Accounts))
	for _, id := range in.Accounts {
		d, err := api.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String(id)})
		switch {
		case APICode(err) == "AccountNotFoundException":
			out = append(out, OrganizationAccount{ID: id})
			continue
		case err != nil:
			return nil, a.organizationError(err, organizationWhere(in.Organization, in.Region, "account "+id), "DescribeAccount", in.Organization)
		}
		acct := OrganizationAccount{ID: id}
		if d.Account != nil {
			acct.Name, acct.Status = aws.ToString(d.Account.Name), string(d.Account.Status)
		}
		out = append(out, acct)
		heartbeatCount(ctx, len(out))
	}
	return out, nil
}

func organizationWhere(o OrganizationTargets, region, resource string) where {
	w := where{Account: "of the worker's own credentials", Region: region, Resource: resource}
	if acct := accountOfARN(o.RoleARN); acct != "" {
		w.Account = acct
		w.Resource += " (as " + o.RoleARN + ")"
	}
	return w
}

// organizationError is a listing's error, diagnosed: access refused is
// NotAllowed, with the fix (the management account or a delegated
// administrator); a unit that does not exist names the selector's unit.
func (a *Activities) organizationError(err error, w where, action string, o OrganizationTargets) error {
	who := "the worker's own credentials"
	if o.RoleARN != "" {
		who = "role " + o.RoleARN
	}
	switch code := APICode(err); {
	case code == "AWSOrganizationsNotInUseException":
		return Diagnosed(Diagnosis{
			Code:  NotAllowed,
			Cause: fmt.Sprintf("the config's targets name an organization, but %s belong to an account in no organization (organizations:%s in %s: %s)", who, action, w, apiMessage(err)),
			Fix:   "Set organization.role_arn in the config to a role in the organization's management account (or in a delegated administrator account), or list the target accounts one by one.",
		}, err)
	case code == "AccessDeniedException" || IsAccessDenied(err):
		return Diagnosed(Diagnosis{
			Code: NotAllowed,
			Cause: fmt.Sprintf("%s may not list the organization: organizations:%s in %s was refused (%s). AWS answers these calls only in the management account or a delegated administrator account, and only to a principal allowed organizations:ListRoots, ListChildren, ListParents, ListAccountsForParent, DescribeAccount, DescribeOrganizationalUnit",
				who, action, w, apiMessage(err)),
			Fix: "Set organization.role_arn in the config to a role in the management account or a delegated administrator account that trusts amicrypt's pipeline role and allows those actions (deploy/ has it: OrganizationReader), then run again.",
		}, err)
	case code == "ParentNotFoundException" || code == "OrganizationalUnitNotFoundException" || code == "ChildNotFoundException":
		return Diagnosed(Diagnosis{
			Code:  Other,
			Cause: fmt.Sprintf("the organization has no %s: organizations:%s answered %s (%s)", w.Resource, action, code, apiMessage(err)),
			Fix:   "Check the organizational_unit ids in the config's targets (aws organizations list-children --parent-id <root> --child-type ORGANIZATIONAL_UNIT lists them) and run again.",
		}, err)
	}
	return diagnose(err, "organizations:"+action, w)
}

func selectorUnits(o OrganizationTargets) map[string]bool {
	units := map[string]bool{}
	for _, s := range o.Selectors {
		units[s.Unit] = true
	}
	return units
}

func sortedUnits(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for u := range m {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

// heartbeatCount tells Temporal a long listing is alive.
func heartbeatCount(ctx context.Context, n int) {
	if activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, n)
	}
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}
