package activities

import (
	"strings"
	"testing"
)

// orgTestWorld is the test world with an organization: payments in it (the
// management account is the builder), analytics in none, legacy in another;
// the target role may ask its organization.
func orgTestWorld(t *testing.T, roleMayAsk bool) string {
	t.Helper()
	w := testWorld
	for _, r := range []struct{ old, new string }{
		{"regions: [us-east-1, eu-west-1]\n", "regions: [us-east-1, eu-west-1]\norganization_id: o-amicrypt001\n"},
		{"    name: analytics\n", "    name: analytics\n    organization: none\n"},
		{"    name: legacy\n", "    name: legacy\n    organization: o-elsewhere01\n"},
	} {
		if !strings.Contains(w, r.old) {
			t.Fatalf("the test world changed: no %q", r.old)
		}
		w = strings.Replace(w, r.old, r.new, 1)
	}
	if roleMayAsk {
		w = strings.Replace(w, `"cloudtrail:LookupEvents"]`, `"cloudtrail:LookupEvents", "organizations:DescribeOrganization"]`, 1)
	}
	return w
}

// A worker with --allow-organization serves the accounts of that
// organization, asked as each target's role, and refuses one in none or in
// another, before anything is shared and in the target's first activity; it
// asks once per account, whatever its regions.
func TestAWorkerServesOnlyItsOrganization(t *testing.T) {
	h := newHarnessOf(t, orgTestWorld(t, true), func(c *Config) { c.AllowOrganization = "o-amicrypt001" })
	paymentsEU := target(payments)
	paymentsEU.Region = "eu-west-1"
	targets := []Target{target(payments), paymentsEU, target(analytics), target(legacy)}
	res := must[VerifyTargetsResult](h, h.acts.VerifyTargets, VerifyTargetsInput{Targets: targets})
	for _, tg := range targets[:2] {
		if d, ok := res.Refused[tg.ID()]; ok {
			t.Errorf("a member of the organization is refused: %s", d)
		}
	}
	for _, c := range []struct {
		tg   Target
		want []string
	}{
		{target(analytics), []string{"in no AWS organization", "AWSOrganizationsNotInUseException", "--allow-organization", analytics, region}},
		{target(legacy), []string{"o-elsewhere01", "not o-amicrypt001", "--allow-organization", legacy, region}},
	} {
		tg, want := c.tg, c.want
		d, ok := res.Refused[tg.ID()]
		if !ok || d.Code != NotAllowed || d.Step != StepAssume {
			t.Errorf("%s: %+v, want %s", tg.ID(), d, NotAllowed)
			continue
		}
		for _, w := range want {
			if !strings.Contains(d.Cause, w) {
				t.Errorf("%s: the diagnosis does not say %q: %s", tg.ID(), w, d)
			}
		}
	}
	if n := h.sb.Server.Calls(payments, region, "organizations:DescribeOrganization"); n != 1 {
		t.Errorf("payments asked its organization %d times for two regions, want once", n)
	}
	// The first activity of a target refuses it too.
	diagnosed(h, h.acts.PrepareTarget, PrepareTargetInput{Target: target(analytics), RunID: "run-1"}, NotAllowed)
	// ShareSource, which cannot ask, lets the Batch's verified accounts through.
	must[ShareSourceResult](h, h.acts.ShareSource, ShareSourceInput{Builder: Builder{Account: builderAcct}, Source: Source{Region: region, ImageID: sourceAMI}, Accounts: []string{payments}})
}

// --allow-accounts and --allow-organization together: an account either
// allows is served.
func TestAllowAccountsAndOrganizationTogether(t *testing.T) {
	h := newHarnessOf(t, orgTestWorld(t, true), func(c *Config) {
		c.AllowOrganization = "o-amicrypt001"
		c.AllowAccounts = []string{analytics}
	})
	res := must[VerifyTargetsResult](h, h.acts.VerifyTargets, VerifyTargetsInput{Targets: []Target{target(payments), target(analytics), target(legacy)}})
	if len(res.Refused) != 1 || res.Refused[target(legacy).ID()].Code != NotAllowed {
		t.Errorf("refused %+v, want legacy alone (in another organization, not listed)", res.Refused)
	}
	if n := h.sb.Server.Calls(analytics, region, "organizations:DescribeOrganization"); n != 0 {
		t.Errorf("a listed account's organization was asked %d times", n)
	}
}

// A target role that may not ask its organization: refused, naming the
// permission to grant.
func TestAllowOrganizationWithoutDescribeOrganization(t *testing.T) {
	h := newHarnessOf(t, orgTestWorld(t, false), func(c *Config) { c.AllowOrganization = "o-amicrypt001" })
	res := must[VerifyTargetsResult](h, h.acts.VerifyTargets, VerifyTargetsInput{Targets: []Target{target(payments)}})
	d, ok := res.Refused[target(payments).ID()]
	if !ok || d.Code != NotAllowed || !strings.Contains(d.Cause, "organizations:DescribeOrganization") ||
		!strings.Contains(d.Fix, "Allow organizations:DescribeOrganization to the target role") || !strings.Contains(d.Cause, "--allow-organization") {
		t.Errorf("%+v, want %s naming organizations:DescribeOrganization", d, NotAllowed)
	}
}
