package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/amicrypt/amicrypt/internal/sandbox/world"
)

// orgWorld: an organization managed by its second account, a standalone
// account and one of another organization; a member's role that may ask
// and one that may not. The world serves eu-west-1 only: Organizations is
// global, answered whatever region the client signs for.
const orgWorld = `
regions: [eu-west-1]
organization_id: o-abcdefghij
organization_management_account: "222222222222"
accounts:
  - id: "111111111111"
    roles:
      - name: reader
        trust: {Version: "2012-10-17", Statement: [{Effect: Allow, Principal: {AWS: "arn:aws:iam::111111111111:root"}, Action: "sts:AssumeRole"}]}
        policies: [{Version: "2012-10-17", Statement: [{Effect: Allow, Action: "organizations:DescribeOrganization", Resource: "*"}]}]
      - name: ec2-only
        trust: {Version: "2012-10-17", Statement: [{Effect: Allow, Principal: {AWS: "arn:aws:iam::111111111111:root"}, Action: "sts:AssumeRole"}]}
        policies: [{Version: "2012-10-17", Statement: [{Effect: Allow, Action: "ec2:Describe*", Resource: "*"}]}]
  - id: "222222222222"
  - {id: "333333333333", organization: none}
  - {id: "444444444444", organization: o-otherorg00}
`

// TestDescribeOrganization: a member learns its organization and its
// management account; an account in none hears
// AWSOrganizationsNotInUseException; a role IAM does not allow
// organizations:DescribeOrganization is refused.
func TestDescribeOrganization(t *testing.T) {
	e := newTestEnv(t, orgWorld)
	org := func(cfg aws.Config) *organizations.Client { return organizations.NewFromConfig(cfg) }

	reader := outcome(e.assumeRole(e.rootCfg("111111111111", "eu-west-1"), "arn:aws:iam::111111111111:role/reader", "")).need(t)
	out := must(org(reader).DescribeOrganization(e.ctx, &organizations.DescribeOrganizationInput{}))
	o := out.Organization
	if aws.ToString(o.Id) != "o-abcdefghij" || aws.ToString(o.MasterAccountId) != "222222222222" ||
		aws.ToString(o.Arn) != "arn:aws:organizations::222222222222:organization/o-abcdefghij" ||
		aws.ToString(o.MasterAccountArn) != "arn:aws:organizations::222222222222:account/o-abcdefghij/222222222222" || o.FeatureSet != "ALL" {
		t.Fatalf("a member's organization: %+v", o)
	}

	other := must(org(e.rootCfg("444444444444", "us-east-1")).DescribeOrganization(e.ctx, &organizations.DescribeOrganizationInput{}))
	if aws.ToString(other.Organization.Id) != "o-otherorg00" || aws.ToString(other.Organization.MasterAccountId) != "444444444444" {
		t.Fatalf("another organization's member: %+v", other.Organization)
	}

	_, err := org(e.rootCfg("333333333333", "eu-west-1")).DescribeOrganization(e.ctx, &organizations.DescribeOrganizationInput{})
	wantCode(t, "an account in no organization", err, "AWSOrganizationsNotInUseException")

	ec2Only := outcome(e.assumeRole(e.rootCfg("111111111111", "eu-west-1"), "arn:aws:iam::111111111111:role/ec2-only", "")).need(t)
	_, err = org(ec2Only).DescribeOrganization(e.ctx, &organizations.DescribeOrganizationInput{})
	wantCode(t, "a role without organizations:DescribeOrganization", err, "AccessDeniedException")
}

// treeWorld: an organization managed by 111111111111 with a delegated
// administrator, OUs two levels deep (one OU empty), a suspended account, a
// member directly under the root; a standalone account and the management
// account of another organization. The management account has a role that
// may read the tree and one that may not.
const treeWorld = `
regions: [eu-west-1]
organization:
  id: o-abcdefghij
  management_account: "111111111111"
  delegated_administrators: ["222222222222"]
  units:
    - id: ou-abcd-11111111
      name: prod
      accounts: ["333333333333", "444444444444"]
      units:
        - name: payments
          accounts: ["555555555555"]
    - name: sandbox
accounts:
  - id: "111111111111"
    name: management
    roles:
      - name: org-reader
        trust: {Version: "2012-10-17", Statement: [{Effect: Allow, Principal: {AWS: "arn:aws:iam::111111111111:root"}, Action: "sts:AssumeRole"}]}
        policies: [{Version: "2012-10-17", Statement: [{Effect: Allow, Action: ["organizations:List*", "organizations:Describe*"], Resource: "*"}]}]
      - name: roots-only
        trust: {Version: "2012-10-17", Statement: [{Effect: Allow, Principal: {AWS: "arn:aws:iam::111111111111:root"}, Action: "sts:AssumeRole"}]}
        policies: [{Version: "2012-10-17", Statement: [{Effect: Allow, Action: "organizations:ListRoots", Resource: "*"}]}]
  - {id: "222222222222", name: security}
  - {id: "333333333333", name: web}
  - {id: "444444444444", name: batch, status: SUSPENDED}
  - {id: "555555555555", name: ledger}
  - {id: "666666666666", status: PENDING_CLOSURE}
  - {id: "777777777777", organization: none}
  - {id: "888888888888", organization: o-otherorg00}
`

// orgReason is the Reason of an InvalidInputException ("" for another error).
func orgReason(err error) string {
	var ie *orgtypes.InvalidInputException
	if errors.As(err, &ie) {
		return string(ie.Reason)
	}
	return ""
}

// TestOrganizationTree: the management account walks the world's tree as
// Organizations lists it — the root, the OUs in each parent, the accounts
// directly in each, each child's parent — and finds by walking exactly the
// accounts ListAccounts lists.
func TestOrganizationTree(t *testing.T) {
	e := newTestEnv(t, treeWorld)
	reader := outcome(e.assumeRole(e.rootCfg("111111111111", "eu-west-1"), "arn:aws:iam::111111111111:role/org-reader", "")).need(t)
	org := organizations.NewFromConfig(reader)

	roots := must(org.ListRoots(e.ctx, &organizations.ListRootsInput{}))
	if len(roots.Roots) != 1 || roots.NextToken != nil {
		t.Fatalf("roots: %+v", roots)
	}
	root := roots.Roots[0]
	if aws.ToString(root.Id) != "r-abcd" || aws.ToString(root.Name) != "Root" ||
		aws.ToString(root.Arn) != "arn:aws:organizations::111111111111:root/o-abcdefghij/r-abcd" ||
		len(root.PolicyTypes) != 1 || root.PolicyTypes[0].Type != orgtypes.PolicyTypeServiceControlPolicy {
		t.Fatalf("root: %+v", root)
	}

	top := must(org.ListOrganizationalUnitsForParent(e.ctx, &organizations.ListOrganizationalUnitsForParentInput{ParentId: root.Id})).OrganizationalUnits
	if len(top) != 2 || aws.ToString(top[0].Id) != "ou-abcd-11111111" || aws.ToString(top[0].Name) != "prod" ||
		aws.ToString(top[0].Arn) != "arn:aws:organizations::111111111111:ou/o-abcdefghij/ou-abcd-11111111" || aws.ToString(top[1].Name) != "sandbox" {
		t.Fatalf("OUs under the root: %+v", top)
	}
	nested := must(org.ListChildren(e.ctx, &organizations.ListChildrenInput{ParentId: top[0].Id, ChildType: orgtypes.ChildTypeOrganizationalUnit})).Children
	if len(nested) != 1 || nested[0].Type != orgtypes.ChildTypeOrganizationalUnit || !strings.HasPrefix(aws.ToString(nested[0].Id), "ou-abcd-") {
		t.Fatalf("OUs under prod: %+v", nested)
	}
	payments := must(org.DescribeOrganizationalUnit(e.ctx, &organizations.DescribeOrganizationalUnitInput{OrganizationalUnitId: nested[0].Id})).OrganizationalUnit
	if aws.ToString(payments.Name) != "payments" || !strings.HasSuffix(aws.ToString(payments.Arn), ":ou/o-abcdefghij/"+aws.ToString(nested[0].Id)) {
		t.Fatalf("payments: %+v", payments)
	}
	inPayments := must(org.ListAccountsForParent(e.ctx, &organizations.ListAccountsForParentInput{ParentId: payments.Id})).Accounts
	if len(inPayments) != 1 || aws.ToString(inPayments[0].Id) != "555555555555" || aws.ToString(inPayments[0].Name) != "ledger" ||
		aws.ToString(inPayments[0].Arn) != "arn:aws:organizations::111111111111:account/o-abcdefghij/555555555555" ||
		inPayments[0].Status != orgtypes.AccountStatusActive || inPayments[0].State != orgtypes.AccountStateActive ||
		inPayments[0].JoinedMethod != orgtypes.AccountJoinedMethodInvited || inPayments[0].JoinedTimestamp == nil {
		t.Fatalf("accounts in payments: %+v", inPayments)
	}
	// The root holds the accounts in no OU; an OU only its own, not those
	// of the OUs inside it; an empty OU lists nothing.
	ids := func(accounts []orgtypes.Account) (out []string) {
		for _, a := range accounts {
			out = append(out, aws.ToString(a.Id))
		}
		return out
	}
	if got := ids(must(org.ListAccountsForParent(e.ctx, &organizations.ListAccountsForParentInput{ParentId: root.Id})).Accounts); !slices.Equal(got, []string{"111111111111", "222222222222", "666666666666"}) {
		t.Errorf("accounts under the root: %v", got)
	}
	if got := ids(must(org.ListAccountsForParent(e.ctx, &organizations.ListAccountsForParentInput{ParentId: top[0].Id})).Accounts); !slices.Equal(got, []string{"333333333333", "444444444444"}) {
		t.Errorf("accounts in prod: %v", got)
	}
	empty := must(org.ListChildren(e.ctx, &organizations.ListChildrenInput{ParentId: top[1].Id, ChildType: orgtypes.ChildTypeAccount}))
	if empty.Children == nil || len(empty.Children) != 0 || empty.NextToken != nil {
		t.Errorf("children of the empty OU: %+v", empty)
	}

	// Each child's one parent.
	parent := func(child string) orgtypes.Parent {
		ps := must(org.ListParents(e.ctx, &organizations.ListParentsInput{ChildId: aws.String(child)})).Parents
		if len(ps) != 1 {
			t.Fatalf("parents of %s: %+v", child, ps)
		}
		return ps[0]
	}
	if p := parent("555555555555"); aws.ToString(p.Id) != aws.ToString(payments.Id) || p.Type != orgtypes.ParentTypeOrganizationalUnit {
		t.Errorf("parent of 555555555555: %+v", p)
	}
	if p := parent(aws.ToString(payments.Id)); aws.ToString(p.Id) != "ou-abcd-11111111" || p.Type != orgtypes.ParentTypeOrganizationalUnit {
		t.Errorf("parent of payments: %+v", p)
	}
	if p := parent("ou-abcd-11111111"); aws.ToString(p.Id) != "r-abcd" || p.Type != orgtypes.ParentTypeRoot {
		t.Errorf("parent of prod: %+v", p)
	}
	if p := parent("111111111111"); aws.ToString(p.Id) != "r-abcd" || p.Type != orgtypes.ParentTypeRoot {
		t.Errorf("parent of the management account: %+v", p)
	}

	// Statuses: suspended and pending closure as the world says, State alike.
	batch := must(org.DescribeAccount(e.ctx, &organizations.DescribeAccountInput{AccountId: aws.String("444444444444")})).Account
	if batch.Status != orgtypes.AccountStatusSuspended || batch.State != orgtypes.AccountStateSuspended || aws.ToString(batch.Name) != "batch" {
		t.Errorf("the suspended account: %+v", batch)
	}
	closing := must(org.DescribeAccount(e.ctx, &organizations.DescribeAccountInput{AccountId: aws.String("666666666666")})).Account
	if closing.Status != orgtypes.AccountStatusPendingClosure || closing.Name != nil {
		t.Errorf("the account pending closure (no name in the world): %+v", closing)
	}

	// Walking the tree from the root finds every account ListAccounts lists.
	var walked []string
	var walk func(parent string)
	walk = func(parent string) {
		for _, typ := range []orgtypes.ChildType{orgtypes.ChildTypeAccount, orgtypes.ChildTypeOrganizationalUnit} {
			p := organizations.NewListChildrenPaginator(org, &organizations.ListChildrenInput{ParentId: aws.String(parent), ChildType: typ})
			for p.HasMorePages() {
				for _, c := range must(p.NextPage(e.ctx)).Children {
					if typ == orgtypes.ChildTypeAccount {
						walked = append(walked, aws.ToString(c.Id))
					} else {
						walk(aws.ToString(c.Id))
					}
				}
			}
		}
	}
	walk("r-abcd")
	slices.Sort(walked)
	listed := ids(must(org.ListAccounts(e.ctx, &organizations.ListAccountsInput{})).Accounts)
	if want := []string{"111111111111", "222222222222", "333333333333", "444444444444", "555555555555", "666666666666"}; !slices.Equal(walked, want) || !slices.Equal(listed, want) {
		t.Errorf("walked %v, listed %v; want %v", walked, listed, want)
	}
}

// TestOrganizationPages: MaxResults pages a listing, each page with a
// NextToken until the last; the SDK's paginator reads them all; a token
// made up, or from another listing, is InvalidInputException
// INVALID_NEXT_TOKEN; MaxResults out of 1-20 is refused.
func TestOrganizationPages(t *testing.T) {
	e := newTestEnv(t, treeWorld)
	org := organizations.NewFromConfig(e.rootCfg("111111111111", "eu-west-1"))

	var got []string
	var token *string
	pages := 0
	for {
		out := must(org.ListAccounts(e.ctx, &organizations.ListAccountsInput{MaxResults: aws.Int32(4), NextToken: token}))
		pages++
		if len(out.Accounts) > 4 {
			t.Fatalf("page %d holds %d accounts, MaxResults 4", pages, len(out.Accounts))
		}
		for _, a := range out.Accounts {
			got = append(got, aws.ToString(a.Id))
		}
		if token = out.NextToken; token == nil {
			break
		}
	}
	if pages != 2 || len(got) != 6 || got[4] != "555555555555" {
		t.Errorf("%d pages: %v", pages, got)
	}

	p := organizations.NewListAccountsForParentPaginator(org, &organizations.ListAccountsForParentInput{ParentId: aws.String("r-abcd")}, func(o *organizations.ListAccountsForParentPaginatorOptions) { o.Limit = 1 })
	var underRoot []string
	for p.HasMorePages() {
		for _, a := range must(p.NextPage(e.ctx)).Accounts {
			underRoot = append(underRoot, aws.ToString(a.Id))
		}
	}
	if !slices.Equal(underRoot, []string{"111111111111", "222222222222", "666666666666"}) {
		t.Errorf("one account a page under the root: %v", underRoot)
	}

	first := must(org.ListAccountsForParent(e.ctx, &organizations.ListAccountsForParentInput{ParentId: aws.String("r-abcd"), MaxResults: aws.Int32(1)}))
	for what, call := range map[string]func() error{
		"a made-up token": func() error {
			_, err := org.ListAccounts(e.ctx, &organizations.ListAccountsInput{NextToken: aws.String("page-2")})
			return err
		},
		"another parent's token": func() error {
			_, err := org.ListAccountsForParent(e.ctx, &organizations.ListAccountsForParentInput{ParentId: aws.String("ou-abcd-11111111"), NextToken: first.NextToken})
			return err
		},
		"another operation's token": func() error {
			_, err := org.ListAccounts(e.ctx, &organizations.ListAccountsInput{NextToken: first.NextToken})
			return err
		},
	} {
		if err := call(); errCode(err) != "InvalidInputException" || orgReason(err) != "INVALID_NEXT_TOKEN" {
			t.Errorf("%s: want InvalidInputException INVALID_NEXT_TOKEN, got %v", what, err)
		}
	}
	for n, reason := range map[int32]string{0: "MIN_VALUE_EXCEEDED", 21: "MAX_VALUE_EXCEEDED"} {
		_, err := org.ListRoots(e.ctx, &organizations.ListRootsInput{MaxResults: aws.Int32(n)})
		if errCode(err) != "InvalidInputException" || orgReason(err) != reason {
			t.Errorf("MaxResults %d: want InvalidInputException %s, got %v", n, reason, err)
		}
	}
}

// TestOrganizationReaders: only the management account and a delegated
// administrator read the structure; a plain member hears AccessDenied, an
// account in no organization AWSOrganizationsNotInUseException, a role IAM
// does not allow the action AccessDenied; another organization's management
// account reads its own organization, all under its root.
func TestOrganizationReaders(t *testing.T) {
	e := newTestEnv(t, treeWorld)
	org := func(account string) *organizations.Client {
		return organizations.NewFromConfig(e.rootCfg(account, "eu-west-1"))
	}
	reads := map[string]func(*organizations.Client) error{
		"ListRoots": func(c *organizations.Client) error {
			_, err := c.ListRoots(e.ctx, &organizations.ListRootsInput{})
			return err
		},
		"ListAccounts": func(c *organizations.Client) error {
			_, err := c.ListAccounts(e.ctx, &organizations.ListAccountsInput{})
			return err
		},
		"ListChildren": func(c *organizations.Client) error {
			_, err := c.ListChildren(e.ctx, &organizations.ListChildrenInput{ParentId: aws.String("r-abcd"), ChildType: orgtypes.ChildTypeAccount})
			return err
		},
		"DescribeAccount": func(c *organizations.Client) error {
			_, err := c.DescribeAccount(e.ctx, &organizations.DescribeAccountInput{AccountId: aws.String("333333333333")})
			return err
		},
		"ListParents": func(c *organizations.Client) error {
			_, err := c.ListParents(e.ctx, &organizations.ListParentsInput{ChildId: aws.String("333333333333")})
			return err
		},
	}
	for name, read := range reads {
		if err := read(org("222222222222")); err != nil {
			t.Errorf("%s by the delegated administrator: %v", name, err)
		}
		err := read(org("333333333333"))
		var ad *orgtypes.AccessDeniedException
		if !errors.As(err, &ad) || aws.ToString(ad.Message) != "You don't have permissions to access this resource." {
			t.Errorf("%s by a plain member: want AccessDeniedException, got %v", name, err)
		}
		wantCode(t, name+" by an account in no organization", read(org("777777777777")), "AWSOrganizationsNotInUseException")
	}
	// Any member still learns its organization.
	must(org("333333333333").DescribeOrganization(e.ctx, &organizations.DescribeOrganizationInput{}))

	rootsOnly := outcome(e.assumeRole(e.rootCfg("111111111111", "eu-west-1"), "arn:aws:iam::111111111111:role/roots-only", "")).need(t)
	must(organizations.NewFromConfig(rootsOnly).ListRoots(e.ctx, &organizations.ListRootsInput{}))
	_, err := organizations.NewFromConfig(rootsOnly).ListAccounts(e.ctx, &organizations.ListAccountsInput{})
	wantCode(t, "a role without organizations:ListAccounts", err, "AccessDeniedException")

	other := org("888888888888")
	otherRoot := aws.ToString(must(other.ListRoots(e.ctx, &organizations.ListRootsInput{})).Roots[0].Id)
	accounts := must(other.ListAccountsForParent(e.ctx, &organizations.ListAccountsForParentInput{ParentId: aws.String(otherRoot)})).Accounts
	if otherRoot != world.DefaultRootID("o-otherorg00") || len(accounts) != 1 || aws.ToString(accounts[0].Id) != "888888888888" ||
		aws.ToString(accounts[0].Arn) != "arn:aws:organizations::888888888888:account/o-otherorg00/888888888888" {
		t.Errorf("another organization: root %s, accounts %+v", otherRoot, accounts)
	}
}

// TestOrganizationNotFound: ids of the right form that name nothing in the
// caller's organization, and ids of the wrong form.
func TestOrganizationNotFound(t *testing.T) {
	e := newTestEnv(t, treeWorld)
	org := organizations.NewFromConfig(e.rootCfg("111111111111", "eu-west-1"))
	for _, parent := range []string{"ou-abcd-99999999", "r-zzzz", organizationsRootOf(t, e, "888888888888")} {
		_, err := org.ListChildren(e.ctx, &organizations.ListChildrenInput{ParentId: aws.String(parent), ChildType: orgtypes.ChildTypeAccount})
		wantCode(t, "ListChildren of "+parent, err, "ParentNotFoundException")
		_, err = org.ListOrganizationalUnitsForParent(e.ctx, &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String(parent)})
		wantCode(t, "ListOrganizationalUnitsForParent of "+parent, err, "ParentNotFoundException")
		_, err = org.ListAccountsForParent(e.ctx, &organizations.ListAccountsForParentInput{ParentId: aws.String(parent)})
		wantCode(t, "ListAccountsForParent of "+parent, err, "ParentNotFoundException")
	}
	for _, child := range []string{"777777777777", "888888888888", "999999999999", "ou-abcd-99999999"} {
		_, err := org.ListParents(e.ctx, &organizations.ListParentsInput{ChildId: aws.String(child)})
		wantCode(t, "ListParents of "+child, err, "ChildNotFoundException")
	}
	_, err := org.DescribeAccount(e.ctx, &organizations.DescribeAccountInput{AccountId: aws.String("777777777777")})
	wantCode(t, "DescribeAccount of an account in no organization", err, "AccountNotFoundException")
	_, err = org.DescribeOrganizationalUnit(e.ctx, &organizations.DescribeOrganizationalUnitInput{OrganizationalUnitId: aws.String("ou-abcd-99999999")})
	wantCode(t, "DescribeOrganizationalUnit of no OU", err, "OrganizationalUnitNotFoundException")

	_, err = org.ListChildren(e.ctx, &organizations.ListChildrenInput{ParentId: aws.String("prod"), ChildType: orgtypes.ChildTypeAccount})
	if orgReason(err) != "INVALID_PATTERN" {
		t.Errorf("a parent id of the wrong form: want InvalidInputException INVALID_PATTERN, got %v", err)
	}
	_, err = org.ListParents(e.ctx, &organizations.ListParentsInput{ChildId: aws.String("r-abcd")})
	if orgReason(err) != "INVALID_PATTERN" {
		t.Errorf("the root as a child: want InvalidInputException INVALID_PATTERN, got %v", err)
	}
	_, err = org.ListChildren(e.ctx, &organizations.ListChildrenInput{ParentId: aws.String("r-abcd"), ChildType: "POLICY"})
	if orgReason(err) != "INVALID_ENUM" {
		t.Errorf("ChildType POLICY: want InvalidInputException INVALID_ENUM, got %v", err)
	}
}

func organizationsRootOf(t *testing.T, e *testEnv, account string) string {
	t.Helper()
	return aws.ToString(must(organizations.NewFromConfig(e.rootCfg(account, "eu-west-1")).ListRoots(e.ctx, &organizations.ListRootsInput{})).Roots[0].Id)
}

// TestOrganizationTreePersists: the tree is part of the saved state; a state
// saved before trees were kept has every member directly under the root.
func TestOrganizationTreePersists(t *testing.T) {
	w := must(world.Parse([]byte(treeWorld), "w.yaml"))
	dir := t.TempDir()
	saved := filepath.Join(dir, "state.json")
	srv := must(New(w, Options{StateFile: saved}))
	if err := srv.persist.flush(); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(must(os.ReadFile(saved)), &doc); err != nil {
		t.Fatal(err)
	}
	delete(doc["state"].(map[string]any), "organizations")
	old := filepath.Join(dir, "old.json")
	if err := os.WriteFile(old, must(json.Marshal(doc)), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		file, root string
		underRoot  int
	}{{saved, "r-abcd", 3}, {old, world.DefaultRootID("o-abcdefghij"), 6}} {
		e := stateFileEnv(t, w, tc.file)
		org := organizations.NewFromConfig(e.rootCfg("111111111111", "eu-west-1"))
		accounts := must(org.ListAccountsForParent(e.ctx, &organizations.ListAccountsForParentInput{ParentId: aws.String(tc.root)})).Accounts
		if len(accounts) != tc.underRoot {
			t.Errorf("%s: %d accounts under root %s, want %d", filepath.Base(tc.file), len(accounts), tc.root, tc.underRoot)
		}
		units := must(org.ListOrganizationalUnitsForParent(e.ctx, &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String(tc.root)})).OrganizationalUnits
		if (tc.file == saved) != (len(units) == 2) {
			t.Errorf("%s: OUs under the root %+v", filepath.Base(tc.file), units)
		}
	}
}

// stateFileEnv starts a sandbox on w that loads and saves file.
func stateFileEnv(t *testing.T, w *world.World, file string) *testEnv {
	t.Helper()
	srv := must(New(w, Options{StateFile: file}))
	rememberServer(srv)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &testEnv{t: t, srv: srv, http: hs, ctx: context.Background(), region: w.Regions[0]}
}
