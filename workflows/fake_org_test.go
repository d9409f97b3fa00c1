package workflows

import (
	"context"
	"fmt"
	"strconv"

	"github.com/amicrypt/amicrypt/activities"
)

// fakeOrg is an organization as the Organizations activities read it: a
// root and units (parents before children), each unit's own accounts.
type fakeOrg struct {
	id    string
	units []activities.OrganizationUnit
	// accounts[unit id] are the unit's own accounts.
	accounts map[string][]activities.OrganizationAccount
	// page is how many accounts one ListOrganizationAccounts returns (0:
	// all).
	page int
	// denied: every listing fails with this error.
	denied error
	// pages counts ListOrganizationAccounts calls.
	pages int
}

func (o *fakeOrg) ListOrganizationUnits(_ context.Context, in activities.ListOrganizationUnitsInput) (activities.OrganizationTree, error) {
	if o.denied != nil {
		return activities.OrganizationTree{}, o.denied
	}
	return activities.OrganizationTree{OrganizationID: o.id, Root: o.units[0].ID, Units: o.units}, nil
}

func (o *fakeOrg) ListOrganizationAccounts(_ context.Context, in activities.ListOrganizationAccountsInput) (activities.OrganizationAccountsPage, error) {
	if o.denied != nil {
		return activities.OrganizationAccountsPage{}, o.denied
	}
	o.pages++
	all := o.accounts[in.Parent]
	start := 0
	if in.NextToken != "" {
		start, _ = strconv.Atoi(in.NextToken)
	}
	end := len(all)
	if o.page > 0 {
		end = min(start+o.page, len(all))
	}
	page := activities.OrganizationAccountsPage{Accounts: all[start:end]}
	if end < len(all) {
		page.NextToken = strconv.Itoa(end)
	}
	return page, nil
}

func (o *fakeOrg) DescribeOrganizationAccounts(_ context.Context, in activities.DescribeOrganizationAccountsInput) ([]activities.OrganizationAccount, error) {
	var out []activities.OrganizationAccount
	for _, id := range in.Accounts {
		found := activities.OrganizationAccount{ID: id}
		for _, accts := range o.accounts {
			for _, a := range accts {
				if a.ID == id {
					found = a
				}
			}
		}
		out = append(out, found)
	}
	return out, nil
}

// bigOrg is an organization of n accounts in units of perUnit accounts,
// every unit directly under the root.
func bigOrg(n, perUnit int) *fakeOrg {
	o := &fakeOrg{id: "o-big0000000", accounts: map[string][]activities.OrganizationAccount{}, page: activities.MaxOrganizationAccountsPage}
	o.units = append(o.units, activities.OrganizationUnit{ID: "r-root"})
	for i := 0; i < n; i++ {
		unit := fmt.Sprintf("ou-root-%08d", i/perUnit)
		if i%perUnit == 0 {
			o.units = append(o.units, activities.OrganizationUnit{ID: unit, Parent: "r-root", Name: unit})
		}
		o.accounts[unit] = append(o.accounts[unit], activities.OrganizationAccount{ID: fmt.Sprintf("3%011d", i), Name: fmt.Sprintf("team-%d", i), Status: "ACTIVE"})
	}
	return o
}

// The Organizations activities of fakeAWS (registered by name on a real
// worker, record_history_test.go) read f.org.
func (f *fakeAWS) ListOrganizationUnits(ctx context.Context, in activities.ListOrganizationUnitsInput) (activities.OrganizationTree, error) {
	return f.org.ListOrganizationUnits(ctx, in)
}

func (f *fakeAWS) ListOrganizationAccounts(ctx context.Context, in activities.ListOrganizationAccountsInput) (activities.OrganizationAccountsPage, error) {
	return f.org.ListOrganizationAccounts(ctx, in)
}

func (f *fakeAWS) DescribeOrganizationAccounts(ctx context.Context, in activities.DescribeOrganizationAccountsInput) ([]activities.OrganizationAccount, error) {
	return f.org.DescribeOrganizationAccounts(ctx, in)
}
