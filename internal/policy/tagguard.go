package policy

import (
	"fmt"
	"strings"
)

// TagKeyPrefix starts every tag key amicrypt sets on a key. Its tags say
// which keys amicrypt made and which it rotated away from, so they decide
// what it may disable and delete: no one but amicrypt may set them.
const TagKeyPrefix = "amicrypt:"

// SidTagsOnlyByAmicrypt is the key-policy statement that denies every
// principal but amicrypt's target role kms:TagResource and
// kms:UntagResource of amicrypt's tag keys.
const SidTagsOnlyByAmicrypt = "amicrypt:TagsOnlyByAmicrypt"

// tagGuardActions are the calls that set or remove a key's tags.
var tagGuardActions = []string{"kms:TagResource", "kms:UntagResource"}

// tagGuardStatement denies tagging with amicrypt:* keys to every principal
// but role (aws:PrincipalArn of a role session is its role's ARN, path
// included). An explicit deny in a key policy binds the account's root user
// and every IAM policy alike; only a principal allowed kms:PutKeyPolicy can
// lift it, and doing so is visible in the policy.
func tagGuardStatement(role string) Statement {
	return Statement{
		Sid: SidTagsOnlyByAmicrypt, Effect: Deny,
		Principal: &Principals{AWS: []string{"*"}},
		Action:    cloneStrings(tagGuardActions), Resource: []string{"*"},
		Condition: []Condition{
			{Operator: "ForAnyValue:StringLike", Key: "aws:TagKeys", Values: []string{TagKeyPrefix + "*"}},
			{Operator: "ArnNotEquals", Key: "aws:PrincipalArn", Values: []string{role}},
		},
	}
}

// guardProbeTags are tag keys whose value decides what amicrypt does with a
// key; GuardsAmicryptTags checks each, and one no tag of amicrypt's uses.
var guardProbeTags = []string{"amicrypt:managed", "amicrypt:alias", "amicrypt:successor", "amicrypt:predecessor", "amicrypt:disabled-at", "amicrypt:x"}

// GuardsAmicryptTags says whether a key policy keeps every principal but
// role from setting or removing amicrypt's tags on the key — decided by
// evaluating the policy, not by finding a Sid: the account's root user, an
// IAM user and a role session of the account each holding an identity
// policy that allows kms:*, and a principal of another account, are all
// explicitly denied kms:TagResource and kms:UntagResource of each of
// amicrypt's tag keys, while role is not denied. When it is false the key's
// amicrypt:* tags may have been set by anyone allowed to tag, and prove
// nothing; why says which probe got through.
func GuardsAmicryptTags(doc *Document, keyARN, role string) (ok bool, why string) {
	if doc == nil {
		return false, "the key policy cannot be read"
	}
	account := arnAccount(keyARN)
	partition := "aws"
	if p := strings.SplitN(keyARN, ":", 3); len(p) == 3 && p[1] != "" {
		partition = p[1]
	}
	admin := &Document{Version: Version2012, Statements: []Statement{{Effect: Allow, Action: []string{"kms:*"}, Resource: []string{"*"}}}}
	other := "999999999999"
	if account == other {
		other = "888888888888"
	}
	probes := []Principal{
		{ARN: fmt.Sprintf("arn:%s:iam::%s:root", partition, account), Account: account, IsRoot: true},
		{ARN: fmt.Sprintf("arn:%s:iam::%s:user/tagger", partition, account), Account: account, IdentityPolicies: []*Document{admin}},
		{ARN: fmt.Sprintf("arn:%s:sts::%s:assumed-role/tagger/s", partition, account), Account: account,
			RoleARN: fmt.Sprintf("arn:%s:iam::%s:role/tagger", partition, account), IdentityPolicies: []*Document{admin}},
		{ARN: fmt.Sprintf("arn:%s:iam::%s:root", partition, other), Account: other, IsRoot: true},
	}
	request := func(pr Principal, action, tag string) Request {
		ctx := map[string][]string{"aws:TagKeys": {tag}}
		if action == "kms:TagResource" {
			ctx["aws:RequestTag/"+tag] = []string{"true"}
		}
		return Request{Principal: pr, Action: action, Resource: keyARN, Context: ctx}
	}
	for _, pr := range probes {
		for _, action := range tagGuardActions {
			for _, tag := range guardProbeTags {
				if d := EvaluateKMS(doc, account, nil, request(pr, action, tag)); !d.ExplicitDeny {
					return false, fmt.Sprintf("the key policy does not deny %s of %s to %s", action, tag, pr.ARN)
				}
			}
		}
	}
	if role != "" {
		self := Principal{ARN: fmt.Sprintf("arn:%s:sts::%s:assumed-role/%s/s", partition, arnAccount(role), roleName(role)), Account: arnAccount(role), RoleARN: role, IdentityPolicies: []*Document{admin}}
		if d := EvaluateKMS(doc, account, nil, request(self, "kms:TagResource", "amicrypt:managed")); d.ExplicitDeny {
			return false, "the key policy denies amicrypt's own role " + role + " its tags too"
		}
	}
	return true, ""
}

// roleName is the last path element of a role ARN.
func roleName(roleARN string) string {
	return roleARN[strings.LastIndex(roleARN, "/")+1:]
}
