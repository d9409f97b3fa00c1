package policy

import (
	"strings"
	"testing"
)

func TestTheRequiredKeyPolicyKeepsAmicryptsTagsToItsRole(t *testing.T) {
	const (
		key  = "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"
		role = "arn:aws:iam::222222222222:role/platform/amicrypt-target"
	)
	p := RequiredParams{Account: "222222222222", Region: "eu-west-1", TargetRoleARN: role, KeyARN: key}
	doc := RequiredKeyPolicy(p)
	if ok, why := GuardsAmicryptTags(doc, key, role); !ok {
		t.Fatalf("amicrypt's own policy does not guard its tags: %s", why)
	}

	// What an insider allowed kms:TagResource meets, and what amicrypt's role may still do.
	admin := &Document{Version: Version2012, Statements: []Statement{{Effect: Allow, Action: []string{"kms:*"}, Resource: []string{"*"}}}}
	insider := Principal{ARN: "arn:aws:iam::222222222222:user/tagger", Account: "222222222222", IdentityPolicies: []*Document{admin}}
	self := Principal{ARN: "arn:aws:sts::222222222222:assumed-role/amicrypt-target/run", Account: "222222222222", RoleARN: role, IdentityPolicies: []*Document{admin}}
	tag := func(pr Principal, keys ...string) Decision {
		return EvaluateKMS(doc, "222222222222", nil, Request{Principal: pr, Action: "kms:TagResource", Resource: key, Context: map[string][]string{"aws:TagKeys": keys}})
	}
	if d := tag(insider, "amicrypt:managed"); d.Allowed || !d.ExplicitDeny {
		t.Errorf("an insider may tag amicrypt:managed: %+v", d)
	}
	if d := tag(insider, "team", "amicrypt:successor"); !d.ExplicitDeny {
		t.Errorf("an insider may tag amicrypt:successor among other tags: %+v", d)
	}
	if d := tag(insider, "team"); !d.Allowed {
		t.Errorf("the account's own tags are refused: %+v", d)
	}
	if d := tag(self, "amicrypt:managed"); !d.Allowed {
		t.Errorf("amicrypt's role may not tag its key: %+v", d)
	}

	// Merged into an owner's policy, the guard comes along.
	owner := &Document{Version: Version2012, Statements: []Statement{{Sid: "Enable IAM User Permissions", Effect: Allow, Principal: &Principals{AWS: []string{"arn:aws:iam::222222222222:root"}}, Action: []string{"kms:*"}, Resource: []string{"*"}}}}
	if ok, _ := GuardsAmicryptTags(owner, key, role); ok {
		t.Error("the default key policy counts as guarding amicrypt's tags")
	}
	merged, rep := MergeRequired(owner, doc)
	if ok, why := GuardsAmicryptTags(merged, key, role); !ok || !strings.Contains(strings.Join(rep.Added, " "), SidTagsOnlyByAmicrypt) {
		t.Errorf("merged policy: guarded %v (%s), added %v", ok, why, rep.Added)
	}
}

func TestOnlyAGuardThatBindsEveryoneCounts(t *testing.T) {
	const (
		key  = "arn:aws:kms:us-east-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"
		role = "arn:aws:iam::222222222222:role/amicrypt-target"
	)
	base := RequiredKeyPolicy(RequiredParams{Account: "222222222222", Region: "us-east-1", KeyARN: key})
	with := func(st Statement) *Document {
		d := base.Clone()
		d.Statements = append(d.Statements, st)
		return d
	}
	guard := tagGuardStatement(role)
	cases := map[string]*Document{
		"no guard": base,
		"the guard under amicrypt's Sid, but only for TagResource": with(func() Statement {
			s := guard.Clone()
			s.Action = []string{"kms:TagResource"}
			return s
		}()),
		"only amicrypt:managed": with(func() Statement {
			s := guard.Clone()
			s.Condition[0].Values = []string{"amicrypt:managed"}
			return s
		}()),
		"exempting the whole account": with(func() Statement {
			s := guard.Clone()
			s.Condition[1] = Condition{Operator: "StringNotEquals", Key: "aws:PrincipalAccount", Values: []string{"222222222222"}}
			return s
		}()),
		"denying amicrypt's role too": with(func() Statement {
			s := guard.Clone()
			s.Condition = s.Condition[:1]
			return s
		}()),
	}
	for name, doc := range cases {
		if ok, _ := GuardsAmicryptTags(doc, key, role); ok {
			t.Errorf("%s: counts as guarding amicrypt's tags", name)
		}
	}
	if ok, why := GuardsAmicryptTags(with(guard), key, role); !ok {
		t.Errorf("the guard itself does not count: %s", why)
	}
	if ok, _ := GuardsAmicryptTags(nil, key, role); ok {
		t.Error("an unreadable policy counts as guarding")
	}
}
