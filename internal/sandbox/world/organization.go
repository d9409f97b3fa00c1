package world

import (
	"regexp"
	"slices"
	"strings"

	"github.com/amicrypt/amicrypt/internal/yamlconf"
)

// AWS Organizations in a world file. Two forms say which organization the
// accounts belong to, and may be mixed:
//
//	organization_id: o-abcdefghij                 # the short form
//	organization_management_account: "111111111111"
//
//	organization:                                  # the richer form
//	  id: o-abcdefghij
//	  management_account: "111111111111"
//	  delegated_administrators: ["222222222222"]
//	  units:
//	    - name: prod
//	      accounts: ["333333333333"]
//	      units:
//	        - {name: payments, accounts: ["444444444444"]}
//
// organization: is the same organization as organization_id, with its tree:
// giving organization_id and organization.id (or the two management account
// keys) is an error unless they are equal. Every account is a member of the
// world's organization unless its own organization: says none or names
// another; a member in no unit is directly under the root. Another
// organization (an account's organization: o-...) has no units: its members
// are under its root, its management account is its first member listed.

// Organization is the world's AWS Organizations organization with its root,
// organizational units (OUs) and delegated administrators.
type Organization struct {
	// ID of the organization (o- and 10-32 lowercase letters or digits).
	// Required unless organization_id gives it.
	ID string `yaml:"id"`
	// ManagementAccount is the organization's management account (an
	// account of the world, a member). Default: organization_management_account,
	// else the first member listed.
	ManagementAccount string `yaml:"management_account,omitempty"`
	// RootID is the id of the organization's root (r- and 4-32 lowercase
	// letters or digits). Default: the root part of the first unit id given
	// (ou-<root>-...), else derived from the organization's id.
	RootID string `yaml:"root_id,omitempty"`
	// DelegatedAdministrators are member accounts registered as delegated
	// administrators for an AWS service: like the management account they
	// may read the organization's structure (ListAccounts, ListChildren, ...).
	// The world does not say for which service.
	DelegatedAdministrators []string `yaml:"delegated_administrators,omitempty"`
	// Units are the OUs directly under the root.
	Units []OrganizationalUnit `yaml:"units,omitempty"`
}

// OrganizationalUnit is an OU: a container of accounts and of other OUs.
type OrganizationalUnit struct {
	// ID of the OU: ou-<the root id without r->-<8-32 lowercase letters or
	// digits>. Default: derived from the organization's id and the names of
	// the OU and of the OUs above it, so the same world gives the same ids.
	ID string `yaml:"id"`
	// Name of the OU (1-128 ASCII characters), unique among its siblings
	// (Organizations refuses a second OU of the same name in a parent).
	Name string `yaml:"name"`
	// Accounts directly in this OU: accounts of the world that are members
	// of the organization, each in at most one OU.
	Accounts []string `yaml:"accounts,omitempty"`
	// Units are the OUs inside this one.
	Units []OrganizationalUnit `yaml:"units,omitempty"`
}

// Account statuses in an organization (Organizations' AccountStatus).
const (
	AccountActive         = "ACTIVE"
	AccountSuspended      = "SUSPENDED"
	AccountPendingClosure = "PENDING_CLOSURE"
)

// MaxUnitDepth is how deep OUs nest under a root: five levels
// (Organizations quotas, "OU maximum nesting in a root").
const MaxUnitDepth = 5

var (
	accountStatuses = []string{AccountActive, AccountSuspended, AccountPendingClosure}
	rootIDRe        = regexp.MustCompile(`^r-[0-9a-z]{4,32}$`)
	unitIDRe        = regexp.MustCompile(`^ou-([0-9a-z]{4,32})-[0-9a-z]{8,32}$`)
	unitNameRe      = regexp.MustCompile(`^[\x20-\x7e]{1,128}$`)
)

// MainOrganization is the id of the world's organization: organization_id,
// else organization.id ("" for none). Accounts belong to it unless their
// own organization says otherwise.
func (w *World) MainOrganization() string {
	if w.OrganizationID != "" {
		return w.OrganizationID
	}
	if w.Organization != nil {
		return w.Organization.ID
	}
	return ""
}

// organizationManagement is the management account the world names for its
// organization, "" when it names none.
func (w *World) organizationManagement() string {
	if w.OrganizationManagementAccount != "" {
		return w.OrganizationManagementAccount
	}
	if w.Organization != nil {
		return w.Organization.ManagementAccount
	}
	return ""
}

// DefaultRootID is the root id the sandbox gives organization org when the
// world names none: r- and 4 hex digits derived from org.
func DefaultRootID(org string) string { return "r-" + derivedHex(4, "root", org) }

// Resolved returns a copy of the organization whose root and units all have
// their ids: those written, the others derived (see RootID and
// OrganizationalUnit.ID). org is the organization's id when ID is empty
// (organization_id gave it).
func (o *Organization) Resolved(org string) *Organization {
	if o == nil {
		return nil
	}
	r := *o
	if r.ID != "" {
		org = r.ID
	}
	r.DelegatedAdministrators = slices.Clone(o.DelegatedAdministrators)
	if r.RootID == "" {
		r.RootID = DefaultRootID(org)
		if m := firstUnitRoot(o.Units); m != "" {
			r.RootID = "r-" + m
		}
	}
	r.Units = resolveUnits(o.Units, org, strings.TrimPrefix(r.RootID, "r-"), nil)
	return &r
}

// firstUnitRoot is the root part of the first well-formed unit id written,
// depth first in file order.
func firstUnitRoot(units []OrganizationalUnit) string {
	for _, u := range units {
		if m := unitIDRe.FindStringSubmatch(u.ID); m != nil {
			return m[1]
		}
		if r := firstUnitRoot(u.Units); r != "" {
			return r
		}
	}
	return ""
}

func resolveUnits(units []OrganizationalUnit, org, root string, names []string) []OrganizationalUnit {
	if units == nil {
		return nil
	}
	out := make([]OrganizationalUnit, len(units))
	for i, u := range units {
		path := append(slices.Clone(names), u.Name)
		if u.ID == "" {
			u.ID = "ou-" + root + "-" + derivedHex(8, append([]string{"ou", org}, path...)...)
		}
		u.Accounts = slices.Clone(u.Accounts)
		u.Units = resolveUnits(u.Units, org, root, path)
		out[i] = u
	}
	return out
}

// organizations checks each account's membership and status, the
// management account, and the organization: block.
func (c *checker) organizations(w *World) {
	org := w.MainOrganization()
	for i := range w.Accounts {
		a := &w.Accounts[i]
		p := yamlconf.Index("accounts", i)
		if a.Organization != "" && a.Organization != NoOrganization && !orgIDRe.MatchString(a.Organization) {
			c.errf(p+".organization", "%q is neither %q nor an AWS Organizations id (o- and 10-32 lowercase letters or digits)", a.Organization, NoOrganization)
		}
		switch {
		case a.Status == "":
		case !slices.Contains(accountStatuses, a.Status):
			c.errf(p+".status", "%q is not an account status in an organization; use %s", a.Status, oneOf(accountStatuses))
		case w.OrganizationOf(a) == "":
			c.errf(p+".status", "account %s is in no organization; status is an account's status in its organization: leave it out, or make the account a member", a.ID)
		}
	}

	o := w.Organization
	if o != nil {
		switch {
		case o.ID == "" && w.OrganizationID == "":
			c.errf("organization.id", "required: the organization's id, e.g. id: o-a1b2c3d4e5")
		case o.ID != "" && !orgIDRe.MatchString(o.ID):
			c.errf("organization.id", "%q is not an AWS Organizations id (o- and 10-32 lowercase letters or digits)", o.ID)
		case o.ID != "" && w.OrganizationID != "" && o.ID != w.OrganizationID:
			c.errf("organization.id", "%s is not organization_id %s (at %s): both name the world's organization; give its id once", o.ID, w.OrganizationID, c.where("organization_id"))
		}
		if o.ManagementAccount != "" && w.OrganizationManagementAccount != "" && o.ManagementAccount != w.OrganizationManagementAccount {
			c.errf("organization.management_account", "%s is not organization_management_account %s (at %s): both name the management account; give it once", o.ManagementAccount, w.OrganizationManagementAccount, c.where("organization_management_account"))
		}
	}

	mp := "organization_management_account"
	if w.OrganizationManagementAccount == "" {
		mp = "organization.management_account"
	}
	if m := w.organizationManagement(); m != "" {
		switch {
		case org == "" && o != nil:
			// The missing organization.id says it.
		case org == "":
			c.errf(mp, "there is no organization to manage: set organization_id too")
		default:
			c.member(w, mp, m, "the management account is a member of the organization it manages")
		}
	}
	if o == nil || org == "" || !orgIDRe.MatchString(org) {
		return
	}
	mgmt := w.ManagementAccountOf(org)

	if o.RootID != "" && !rootIDRe.MatchString(o.RootID) {
		c.errf("organization.root_id", "%q is not a root id (r- and 4-32 lowercase letters or digits)", o.RootID)
	}
	admins := map[string]string{}
	for i, id := range o.DelegatedAdministrators {
		p := yamlconf.Index("organization.delegated_administrators", i)
		if !c.member(w, p, id, "a delegated administrator is a member account of the organization") {
			continue
		}
		switch first, dup := admins[id]; {
		case dup:
			c.errf(p, "account %s is listed twice (first at %s)", id, c.where(first))
		case id == mgmt:
			c.errf(p, "%s is the management account, which Organizations does not register as a delegated administrator (it may already do everything)", id)
		default:
			admins[id] = p
		}
	}

	// The root the units' ids must name: root_id, else the first unit id
	// written (Resolved takes it the same way, and derives the others).
	root, rootAt := "", "organization.root_id"
	switch {
	case c.written(rootAt) || !c.fromFile() && o.RootID != "":
		if rootIDRe.MatchString(o.RootID) {
			root = strings.TrimPrefix(o.RootID, "r-")
		}
	default:
		root, rootAt = c.firstUnitRoot(o.Units, "organization.units")
	}
	t := &unitChecker{c: c, w: w, org: org, root: root, rootAt: rootAt, ids: map[string]string{}, accounts: map[string]string{}}
	t.units(o.Units, "organization.units", 1)
}

// firstUnitRoot is the root part of the first well-formed unit id written
// (not derived), with its path.
func (c *checker) firstUnitRoot(units []OrganizationalUnit, path string) (root, at string) {
	for i, u := range units {
		p := yamlconf.Index(path, i)
		written := c.written(p+".id") || !c.fromFile() && u.ID != ""
		if m := unitIDRe.FindStringSubmatch(u.ID); m != nil && written {
			return m[1], p + ".id"
		}
		if r, at := c.firstUnitRoot(u.Units, p+".units"); r != "" {
			return r, at
		}
	}
	return "", ""
}

// member checks that id, at path, is an account of the world in its
// organization; why says why it must be. It reports whether it is.
func (c *checker) member(w *World, path, id, why string) bool {
	if !accountIDRe.MatchString(id) {
		c.errf(path, "%s", c.badAccountID(path, id))
		return false
	}
	org := w.MainOrganization()
	a := w.Account(id)
	if a == nil {
		c.errf(path, "%q is not an account of this world", id)
		return false
	}
	if got := w.OrganizationOf(a); got != org {
		if got == "" {
			got = NoOrganization
		}
		c.errf(path, "account %s is not in organization %s (its organization: %s); %s", id, org, got, why)
		return false
	}
	return true
}

// unitChecker checks the OUs of the world's organization.
type unitChecker struct {
	c        *checker
	w        *World
	org      string
	root     string            // the root id without r-; "" when none is known
	rootAt   string            // where root was written
	ids      map[string]string // unit id → path of its id
	accounts map[string]string // account → path where a unit lists it
}

func (t *unitChecker) units(units []OrganizationalUnit, path string, depth int) {
	c := t.c
	names := map[string]string{}
	for i := range units {
		u := &units[i]
		p := yamlconf.Index(path, i)
		if depth > MaxUnitDepth {
			c.errf(p, "OUs nest at most %d levels under the root (Organizations quota); this one is at level %d", MaxUnitDepth, depth)
		}
		switch {
		case u.Name == "":
			c.errf(p+".name", "required: the OU's name")
		case !unitNameRe.MatchString(u.Name):
			c.errf(p+".name", "%q is not an OU name (1-128 ASCII characters)", u.Name)
		default:
			if first, dup := names[u.Name]; dup {
				c.errf(p+".name", "an OU named %q is already in this parent (at %s); Organizations keeps OU names unique per parent", u.Name, c.where(first))
			} else {
				names[u.Name] = p + ".name"
			}
		}
		// An id left out was derived (Resolved): well-formed, under the
		// root, unique but for a copy written elsewhere.
		written := c.written(p+".id") || !c.fromFile() && u.ID != ""
		if u.ID != "" {
			m := unitIDRe.FindStringSubmatch(u.ID)
			switch {
			case !written:
				if first, dup := t.ids[u.ID]; dup && c.written(first) {
					c.errf(p, "the id derived for this OU, %s, is written for another (at %s); give this one an id", u.ID, c.where(first))
				}
				t.ids[u.ID] = p + ".id"
			case m == nil:
				c.errf(p+".id", "%q is not an OU id (ou-, the root id without r- (4-32 lowercase letters or digits), - and 8-32 lowercase letters or digits)", u.ID)
			case t.root != "" && m[1] != t.root:
				c.errf(p+".id", "%s is not under the organization's root r-%s (%s): an OU id begins ou-%s-", u.ID, t.root, c.where(t.rootAt), t.root)
			default:
				if first, dup := t.ids[u.ID]; dup {
					c.errf(p+".id", "OU id %s is used twice (first at %s)", u.ID, c.where(first))
				} else {
					t.ids[u.ID] = p + ".id"
				}
			}
		}
		for j, id := range u.Accounts {
			ap := yamlconf.Index(p+".accounts", j)
			if !c.member(t.w, ap, id, "an OU holds member accounts only") {
				continue
			}
			if first, dup := t.accounts[id]; dup {
				c.errf(ap, "account %s is already in an OU (at %s); an account is in one OU at most", id, c.where(first))
				continue
			}
			t.accounts[id] = ap
		}
		t.units(u.Units, p+".units", depth+1)
	}
}
