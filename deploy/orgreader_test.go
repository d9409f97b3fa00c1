package deploy

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/amicrypt/amicrypt/internal/policy"
)

// The organization reader (cloudformation/organization-reader.yaml,
// terraform/organization-reader): the role of the management account (or of
// a delegated administrator) that the pipeline role assumes to resolve a
// config's organization targets. It must allow what orgtargets.go calls,
// nothing else, and trust only the pipeline role.

func readerRole(t *testing.T, params map[string]string) *iamRole {
	t.Helper()
	return roleOf(t, instantiate(t, readerTemplate, managementAccount, params), "OrganizationReaderRole")
}

// TestOrganizationReaderAllowsWhatTheActivitiesDo evaluates every
// organization entry of permissions() for the reader.
func TestOrganizationReaderAllowsWhatTheActivitiesDo(t *testing.T) {
	for name, params := range map[string]map[string]string{"defaults": readerDefaults(), "external id": readerWithExternalID()} {
		role := readerRole(t, params)
		if role.ARN != readerRoleARN {
			t.Errorf("%s: role ARN %s, want %s", name, role.ARN, readerRoleARN)
		}
		n := 0
		for _, u := range permissions(nil) {
			if u.Role != "organization" {
				continue
			}
			n++
			d := policy.EvaluateIdentity(policy.Request{Principal: role.principal(), Action: u.Action, Resource: u.Resource, Context: u.Context})
			if !d.Allowed {
				t.Errorf("%s: %s (%s): refused: %s", name, describe("organization", u.Action, u.Resource, u.Context), u.Where, d.Reason)
			}
		}
		if n == 0 {
			t.Fatal("permissions() lists nothing for the organization reader")
		}
	}
}

// TestOrganizationReaderAllowsNothingElse: the reader's policy names exactly
// the actions permissions() lists for it (no wildcard, no NotAction), only on
// the organization's root, units and accounts where AWS allows a resource,
// and it refuses what amicrypt never does.
func TestOrganizationReaderAllowsNothingElse(t *testing.T) {
	role := readerRole(t, readerDefaults())
	want := map[string]bool{}
	for _, u := range permissions(nil) {
		if u.Role == "organization" {
			want[u.Action] = true
		}
	}
	granted := map[string]bool{}
	for _, doc := range role.Identity {
		for i, s := range doc.Statements {
			if s.NotAction != nil || s.NotResource != nil {
				t.Errorf("statement %s uses NotAction or NotResource", s.Label(i))
			}
			if s.Effect != policy.Allow {
				continue
			}
			for _, a := range s.Action {
				if strings.Contains(a, "*") || !want[a] {
					t.Errorf("statement %s allows %s, which orgtargets.go does not call", s.Label(i), a)
				}
				granted[a] = true
			}
		}
	}
	for _, a := range slices.Sorted(maps.Keys(want)) {
		if !granted[a] {
			t.Errorf("the reader's policy does not name %s", a)
		}
	}

	otherOrg := "o-zzzzzzzzzz"
	refused := []struct {
		action, resource, why string
	}{
		{"organizations:ListAccounts", "*", "never called (the accounts are listed unit by unit)"},
		{"organizations:ListOrganizationalUnitsForParent", orgRoot, "never called (ListChildren lists the units)"},
		{"organizations:ListParents", orgAccount, "an account's parent: amicrypt asks only a unit's"},
		{"organizations:DescribeAccount", "arn:aws:organizations::" + managementAccount + ":account/" + otherOrg + "/" + targetAccount, "another organization's account"},
		{"organizations:ListChildren", "arn:aws:organizations::" + managementAccount + ":ou/" + otherOrg + "/ou-ab12-cd34ef56", "another organization's unit"},
		{"organizations:ListAccountsForParent", "arn:aws:organizations::" + managementAccount + ":root/" + otherOrg + "/r-ab12", "another organization's root"},
		{"organizations:DescribeOrganizationalUnit", orgRoot, "a unit's read on the root"},
		{"organizations:DescribePolicy", "arn:aws:organizations::" + managementAccount + ":policy/" + orgID + "/service_control_policy/p-ab12cd34", "policies"},
		{"organizations:ListPoliciesForTarget", orgAccount, "policies"},
		{"organizations:ListTagsForResource", orgAccount, "tags"},
		{"organizations:ListDelegatedAdministrators", "*", "never called"},
		{"organizations:CreateAccount", "*", "changing the organization"},
		{"organizations:MoveAccount", orgAccount, "changing the organization"},
		{"organizations:RemoveAccountFromOrganization", orgAccount, "changing the organization"},
		{"organizations:CloseAccount", orgAccount, "changing the organization"},
		{"organizations:AttachPolicy", orgUnit, "changing the organization"},
		{"organizations:TagResource", orgAccount, "changing the organization"},
		{"organizations:RegisterDelegatedAdministrator", orgAccount, "changing the organization"},
		{"organizations:PutResourcePolicy", "*", "changing the organization"},
		{"sts:AssumeRole", "arn:aws:iam::" + targetAccount + ":role/OrganizationAccountAccessRole", "hopping into member accounts"},
		{"sts:AssumeRole", targetRoleARN, "the targets are the pipeline role's to assume"},
		{"iam:CreateRole", "arn:aws:iam::" + managementAccount + ":role/x", "anything of IAM"},
		{"account:GetAlternateContact", "*", "anything but Organizations' reads"},
	}
	for _, r := range refused {
		if d := policy.EvaluateIdentity(policy.Request{Principal: role.principal(), Action: r.action, Resource: r.resource}); d.Allowed {
			t.Errorf("%s is allowed (%s), but must not be (%s)", describe("organization", r.action, r.resource, nil), d.Reason, r.why)
		}
	}
}

// TestOrganizationReaderTrustsOnlyThePipelineRole plays the pipeline role
// (with the builder stack's identity policy) assuming the reader.
func TestOrganizationReaderTrustsOnlyThePipelineRole(t *testing.T) {
	builder := roleOf(t, instantiate(t, builderTemplate, builderAccount, builderWithReader()), "PipelineRole")
	withoutParam := roleOf(t, instantiate(t, builderTemplate, builderAccount, builderIRSA()), "PipelineRole")
	for name, params := range map[string]map[string]string{"defaults": readerDefaults(), "external id": readerWithExternalID()} {
		reader := readerRole(t, params)
		xid := params["ExternalId"]
		try := func(p policy.Principal, action, xid string) policy.Decision {
			ctx := map[string][]string{"aws:ResourceAccount": {managementAccount}, "aws:SourceIdentity": {"alice"}}
			if xid != "" {
				ctx["sts:ExternalId"] = []string{xid}
			}
			return policy.EvaluateTrust(reader.Trust, managementAccount, policy.Request{Principal: p, Action: action, Resource: reader.ARN, Context: ctx})
		}
		for _, action := range []string{"sts:AssumeRole", "sts:SetSourceIdentity"} {
			if d := try(builder.principal(), action, xid); !d.Allowed {
				t.Errorf("%s: the pipeline role may not %s the reader (external id %q): %s", name, action, xid, d.Reason)
			}
		}
		if xid != "" {
			if d := try(builder.principal(), "sts:AssumeRole", ""); d.Allowed {
				t.Errorf("%s: the pipeline role WITHOUT the external id admitted: %s", name, d.Reason)
			}
			if d := try(builder.principal(), "sts:AssumeRole", "guess"); d.Allowed {
				t.Errorf("%s: the pipeline role with a wrong external id admitted: %s", name, d.Reason)
			}
		}
		// Across accounts the caller's own policy must allow it too: the
		// builder stack grants it only with OrganizationReaderRoleArn.
		if d := try(withoutParam.principal(), "sts:AssumeRole", xid); d.Allowed {
			t.Errorf("%s: a pipeline role whose stack has no OrganizationReaderRoleArn admitted: %s", name, d.Reason)
		}
		others := map[string]policy.Principal{
			"another role of the builder account": session("arn:aws:iam::" + builderAccount + ":role/packer"),
			"a target role":                       session(targetRoleARN),
			"a role of the management account":    session("arn:aws:iam::" + managementAccount + ":role/admin"),
		}
		for who, p := range others {
			p.IdentityPolicies = []*policy.Document{{Version: policy.Version2012, Statements: []policy.Statement{{Effect: policy.Allow, Action: []string{"sts:*"}, Resource: []string{"*"}}}}}
			if d := try(p, "sts:AssumeRole", xid); d.Allowed {
				t.Errorf("%s: %s, allowed sts:*, admitted: %s", name, who, d.Reason)
			}
		}
	}

	// With the reader, the pipeline role may assume that one role of the
	// management account, no other.
	for _, other := range []string{
		"arn:aws:iam::" + managementAccount + ":role/OrganizationAccountAccessRole",
		"arn:aws:iam::" + managementAccount + ":role/amicrypt-organization-reader-2",
	} {
		if d := policy.EvaluateIdentity(policy.Request{Principal: builder.principal(), Action: "sts:AssumeRole", Resource: other, Context: map[string][]string{"aws:ResourceAccount": {managementAccount}}}); d.Allowed {
			t.Errorf("with OrganizationReaderRoleArn the pipeline role may assume %s: %s", other, d.Reason)
		}
	}
}
