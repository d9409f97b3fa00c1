package policy

import (
	"strings"
	"testing"
)

var developer = Principal{ARN: "arn:aws:sts::111122223333:assumed-role/Developer/dev", Account: asgAccount}

func TestExplicitDenyWins(t *testing.T) {
	denyDelete := `{"Sid": "NoDeletion", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:ScheduleKeyDeletion", "Resource": "*"}`
	root := Principal{ARN: "arn:aws:iam::111122223333:root", IsRoot: true}
	identityDeny := mustParse(t, `{"Version": "2012-10-17", "Statement": [
		{"Sid": "All", "Effect": "Allow", "Action": "kms:*", "Resource": "*"},
		{"Sid": "NeverDecrypt", "Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}]}`)
	denied := developer
	denied.IdentityPolicies = []*Document{identityDeny}
	runKMS(t, []kmsCase{
		{
			name: "a key policy deny beats the root statement", policy: mustPolicy(t, defaultRootStatement(asgAccount), denyDelete),
			req:     Request{Principal: root, Action: "kms:ScheduleKeyDeletion"},
			allowed: false, decidedBy: []string{"NoDeletion"},
			reason: []string{`key policy statement "NoDeletion" explicitly denies arn:aws:iam::111122223333:root kms:ScheduleKeyDeletion`},
		},
		{
			name:    "an identity deny beats a key policy statement naming the caller's role",
			policy:  mustPolicy(t, `{"Sid": "Dev", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/Developer"}, "Action": "kms:*", "Resource": "*"}`),
			req:     Request{Principal: denied, Action: "kms:Decrypt"},
			allowed: false, decidedBy: []string{"identity:NeverDecrypt"},
		},
		{
			name: "a deny beats a grant", policy: mustPolicy(t, defaultRootStatement(asgAccount), `{"Sid": "NoSLR", "Effect": "Deny", "Principal": {"AWS": "`+slrCMK+`"}, "Action": "kms:*", "Resource": "*"}`),
			grants:  []Grant{{ID: "g1", GranteePrincipal: slrCMK, Operations: []string{"Decrypt"}}},
			req:     Request{Principal: slr(slrCMK), Action: "kms:Decrypt"},
			allowed: false, decidedBy: []string{"NoSLR"},
		},
		{
			name: "a deny naming an account denies its principals", policy: mustPolicy(t, seed004EBS, `{"Sid": "NotThisAccount", "Effect": "Deny", "Principal": {"AWS": "111122223333"}, "Action": "kms:Decrypt", "Resource": "*"}`),
			req:     Request{Principal: developer, Action: "kms:Decrypt", Context: ViaEC2Context(region, asgAccount)},
			allowed: false, decidedBy: []string{"NotThisAccount"},
		},
	})
}

func TestNotElements(t *testing.T) {
	notAction := `{"Sid": "AllButDelete", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/Developer"}, "NotAction": ["kms:ScheduleKeyDeletion", "kms:Put*"], "Resource": "*"}`
	notResource := `{"Sid": "NotThatKey", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/Developer"}, "Action": "kms:Decrypt", "NotResource": "arn:aws:kms:*:111122223333:key/1a2b*"}`
	// The IAM documentation's NotPrincipal example, applied to a key.
	notPrincipal := `{"Sid": "OnlyAudit", "Effect": "Deny", "NotPrincipal": {"AWS": [
		"arn:aws:sts::444455556666:assumed-role/cross-account-read-only-role/cross-account-audit-app",
		"arn:aws:iam::444455556666:role/cross-account-read-only-role",
		"arn:aws:iam::444455556666:root"]}, "Action": "kms:*", "Resource": "*"}`
	allowAudit := `{"Sid": "Audit", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "kms:DescribeKey", "Resource": "*"}`
	kmsAll := mustParse(t, `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}}`)
	audit := Principal{ARN: "arn:aws:sts::444455556666:assumed-role/cross-account-read-only-role/cross-account-audit-app", IdentityPolicies: []*Document{kmsAll}}
	otherSession := Principal{ARN: "arn:aws:sts::444455556666:assumed-role/cross-account-read-only-role/someone-else", IdentityPolicies: []*Document{kmsAll}}
	runKMS(t, []kmsCase{
		{name: "NotAction allows what it does not list", policy: mustPolicy(t, notAction),
			req: Request{Principal: developer, Action: "kms:Decrypt"}, allowed: true, decidedBy: []string{"AllButDelete"}},
		{name: "NotAction does not allow what it lists", policy: mustPolicy(t, notAction),
			req: Request{Principal: developer, Action: "kms:PutKeyPolicy"}, allowed: false},
		{name: "NotResource allows other keys", policy: mustPolicy(t, notResource),
			req: Request{Principal: developer, Action: "kms:Decrypt", Resource: "arn:aws:kms:us-west-2:111122223333:key/ffff"}, allowed: true},
		{name: "NotResource excludes the matching key", policy: mustPolicy(t, notResource),
			req: Request{Principal: developer, Action: "kms:Decrypt"}, allowed: false},
		{name: "NotPrincipal spares the session it fully names", policy: mustPolicy(t, notPrincipal, allowAudit), keyAcct: asgAccount,
			req: Request{Principal: audit, Action: "kms:DescribeKey"}, allowed: true, decidedBy: []string{"Audit", "identity:policy[0].statement[0]"}},
		{name: "NotPrincipal denies another session of the same role", policy: mustPolicy(t, notPrincipal, allowAudit),
			req: Request{Principal: otherSession, Action: "kms:DescribeKey"}, allowed: false, decidedBy: []string{"OnlyAudit"}},
	})
}

func TestConditionOperators(t *testing.T) {
	stmt := func(cond string) *Document {
		return mustPolicy(t, `{"Sid": "S", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*", "Condition": `+cond+`}`)
	}
	ctx := func(kv ...string) map[string][]string { return withContext(nil, kv...) }
	cases := []struct {
		name    string
		cond    string
		context map[string][]string
		allowed bool
	}{
		{"IfExists holds when the key is absent", `{"StringEqualsIfExists": {"kms:ViaService": "ec2.us-west-2.amazonaws.com"}}`, nil, true},
		{"IfExists still compares a present key", `{"StringEqualsIfExists": {"kms:ViaService": "ec2.us-west-2.amazonaws.com"}}`, ctx("kms:ViaService", "rds.us-west-2.amazonaws.com"), false},
		{"a negated operator holds when the key is absent", `{"StringNotEquals": {"sts:ExternalId": "x"}}`, nil, true},
		{"a negated operator with several values is NOR", `{"StringNotEquals": {"kms:ViaService": ["a", "b"]}}`, ctx("kms:ViaService", "b"), false},
		{"ForAllValues: every requested grant operation is listed", `{"ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt", "Encrypt", "DescribeKey"]}}`,
			ctx("kms:GrantOperations", "Decrypt", "kms:GrantOperations", "DescribeKey"), true},
		{"ForAllValues: an operation outside the list fails", `{"ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt", "Encrypt"]}}`,
			ctx("kms:GrantOperations", "Decrypt", "kms:GrantOperations", "CreateGrant"), false},
		{"ForAllValues holds for an absent key", `{"ForAllValues:StringEquals": {"kms:GrantOperations": "Decrypt"}}`, nil, true},
		{"ForAnyValue: one operation listed is enough", `{"ForAnyValue:StringEquals": {"kms:GrantOperations": "CreateGrant"}}`,
			ctx("kms:GrantOperations", "Decrypt", "kms:GrantOperations", "CreateGrant"), true},
		{"ForAnyValue fails for an absent key", `{"ForAnyValue:StringEquals": {"kms:GrantOperations": "CreateGrant"}}`, nil, false},
		{"ForAnyValue:StringNotLike holds when one value matches none", `{"ForAnyValue:StringNotLike": {"kms:GrantOperations": "Decrypt*"}}`,
			ctx("kms:GrantOperations", "Decrypt", "kms:GrantOperations", "Encrypt"), true},
		{"Null true: key absent", `{"Null": {"aws:PrincipalOrgID": "true"}}`, nil, true},
		{"Null true fails when present", `{"Null": {"aws:PrincipalOrgID": "true"}}`, ctx("aws:PrincipalOrgID", "o-abc"), false},
		{"Null false: key present", `{"Null": {"aws:PrincipalOrgID": false}}`, ctx("aws:PrincipalOrgID", "o-abc"), true},
		{"condition keys are case-insensitive", `{"StringEquals": {"KMS:VIASERVICE": "ec2.us-west-2.amazonaws.com"}}`, ctx("kms:viaService", "ec2.us-west-2.amazonaws.com"), true},
		{"StringEquals is case-sensitive in values", `{"StringEquals": {"aws:PrincipalOrgID": "O-ABC"}}`, ctx("aws:PrincipalOrgID", "o-abc"), false},
		{"StringEqualsIgnoreCase is not", `{"StringEqualsIgnoreCase": {"aws:PrincipalOrgID": "O-ABC"}}`, ctx("aws:PrincipalOrgID", "o-abc"), true},
		{"StringLike with ? and *", `{"StringLike": {"kms:ViaService": "ec2.us-????-2.*"}}`, ctx("kms:ViaService", "ec2.us-west-2.amazonaws.com"), true},
		{"StringNotLike", `{"StringNotLike": {"kms:ViaService": "ec2.*"}}`, ctx("kms:ViaService", "ec2.us-west-2.amazonaws.com"), false},
		{"Bool compares without case", `{"Bool": {"kms:GrantIsForAWSResource": "TRUE"}}`, ctx("kms:GrantIsForAWSResource", "true"), true},
		{"ArnLike per segment", `{"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling*"}}`,
			ctx("aws:PrincipalArn", slrCMK), true},
		{"ArnEquals takes wildcards too", `{"ArnEquals": {"aws:SourceArn": "arn:aws:ec2:us-west-2:111122223333:instance/*"}}`,
			ctx("aws:SourceArn", "arn:aws:ec2:us-west-2:111122223333:instance/i-1"), true},
		{"ArnNotLike", `{"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/Admin*"}}`, ctx("aws:PrincipalArn", operatorRole), true},
		{"NumericLessThanEquals", `{"NumericLessThanEquals": {"aws:MultiFactorAuthAge": 3600}}`, ctx("aws:MultiFactorAuthAge", "120"), true},
		{"NumericGreaterThan", `{"NumericGreaterThan": {"aws:MultiFactorAuthAge": "3600"}}`, ctx("aws:MultiFactorAuthAge", "120"), false},
		{"DateLessThan", `{"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}`, ctx("aws:CurrentTime", "2026-05-01T12:00:00Z"), true},
		{"IpAddress", `{"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}`, ctx("aws:SourceIp", "203.0.113.9"), true},
		{"NotIpAddress", `{"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}`, ctx("aws:SourceIp", "203.0.113.9"), false},
		{"several keys under one operator must all hold", `{"StringEquals": {"kms:ViaService": "ec2.us-west-2.amazonaws.com", "kms:CallerAccount": "999999999999"}}`,
			ctx("kms:ViaService", "ec2.us-west-2.amazonaws.com"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := EvaluateKMS(stmt(tc.cond), asgAccount, nil, Request{Principal: developer, Action: "kms:Decrypt", Resource: keyARN, Context: tc.context})
			if d.Allowed != tc.allowed {
				t.Errorf("Allowed = %v, want %v; reason: %s", d.Allowed, tc.allowed, d.Reason)
			}
		})
	}
}

func TestActionNamesAndWildcards(t *testing.T) {
	policy := mustPolicy(t, `{"Sid": "Use", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/Developer"},
		"Action": ["KMS:ReEncrypt*", "kms:generatedatakey*", "kms:Describe?ey"], "Resource": "*"}`)
	for action, want := range map[string]bool{
		"kms:ReEncryptFrom":                   true,
		"kms:reencryptto":                     true,
		"kms:GenerateDataKeyWithoutPlaintext": true,
		"kms:GenerateDataKeyPair":             true,
		"kms:DescribeKey":                     true,
		"kms:DescribeKeys":                    false,
		"kms:Decrypt":                         false,
		"ec2:ReEncryptFrom":                   false,
	} {
		if got := EvaluateKMS(policy, asgAccount, nil, Request{Principal: developer, Action: action, Resource: keyARN}).Allowed; got != want {
			t.Errorf("%s: Allowed = %v, want %v", action, got, want)
		}
	}
}

func TestRolePaths(t *testing.T) {
	// The service-linked role's path is part of its ARN; a policy that leaves it
	// out names a role that does not exist.
	noPath := mustPolicy(t, `{"Sid": "SLR", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/AWSServiceRoleForAutoScaling"}, "Action": "kms:Decrypt", "Resource": "*"}`)
	d := EvaluateKMS(noPath, asgAccount, nil, Request{Principal: slr(slrDefault), Action: "kms:Decrypt", Resource: keyARN})
	if d.Allowed {
		t.Fatal("a role ARN without the service-linked path matched the service-linked role")
	}
	if !strings.Contains(d.Reason, "the path differs") {
		t.Errorf("reason does not point at the path: %s", d.Reason)
	}
	// A session ARN carries no path: it matches the role named with its path.
	session := Principal{ARN: "arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling", Account: asgAccount}
	if d := EvaluateKMS(mustPolicy(t, seed004AutoScaling), asgAccount, nil, Request{Principal: session, Action: "kms:Decrypt", Resource: keyARN}); !d.Allowed {
		t.Errorf("session of the service-linked role denied: %s", d.Reason)
	}
	// The bare account id is the account's root principal.
	bare := mustPolicy(t, `{"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "kms:*", "Resource": "*"}`)
	root := Principal{ARN: "arn:aws:iam::111122223333:root"}
	if d := EvaluateKMS(bare, asgAccount, nil, Request{Principal: root, Action: "kms:Decrypt", Resource: keyARN}); !d.Allowed || d.DecidedBy[0] != "statement[0]" {
		t.Errorf("bare account id did not allow the root user: %+v", d)
	}
}

func TestKeyAccountFromTheKeyARN(t *testing.T) {
	policy := mustPolicy(t, defaultRootStatement(keyOwner), seed003Case2Use)
	cross := Principal{ARN: "arn:aws:sts::111122223333:assumed-role/Developer/dev"}
	d := EvaluateKMS(policy, "", nil, Request{Principal: cross, Action: "kms:Decrypt", Resource: foreignKey})
	if d.Allowed || !strings.Contains(d.Reason, "no identity policy of arn:aws:sts::111122223333:assumed-role/Developer/dev allows kms:Decrypt") {
		t.Errorf("a caller of another account was not asked for its identity policy: %+v", d)
	}
}

func TestServicePrincipal(t *testing.T) {
	policy := mustPolicy(t, `{"Sid": "Logs", "Effect": "Allow", "Principal": {"Service": ["logs.us-west-2.amazonaws.com"]}, "Action": "kms:GenerateDataKey*", "Resource": "*"}`)
	logs := Principal{Service: "logs.us-west-2.amazonaws.com"}
	if d := EvaluateKMS(policy, asgAccount, nil, Request{Principal: logs, Action: "kms:GenerateDataKey", Resource: keyARN}); !d.Allowed {
		t.Errorf("service principal denied: %s", d.Reason)
	}
	if d := EvaluateKMS(policy, asgAccount, nil, Request{Principal: Principal{Service: "ec2.amazonaws.com"}, Action: "kms:GenerateDataKey", Resource: keyARN}); d.Allowed {
		t.Error("another service principal allowed")
	}
}

func TestGrantConstraints(t *testing.T) {
	g := Grant{ID: "g-ebs", KeyARN: keyARN, GranteePrincipal: slrDefault, Operations: []string{"Decrypt"},
		EncryptionContextSubset: map[string]string{"aws:ebs:id": "vol-1"}}
	req := func(ctx map[string][]string) Request {
		return Request{Principal: slr(slrDefault), Action: "kms:Decrypt", Resource: keyARN, Context: ctx}
	}
	if d := EvaluateKMS(nil, asgAccount, []Grant{g}, req(nil)); !d.Allowed {
		t.Errorf("a call without an encryption context should be taken to meet the constraint: %s", d.Reason)
	}
	if d := EvaluateKMS(nil, asgAccount, []Grant{g}, req(map[string][]string{"kms:EncryptionContext:aws:ebs:id": {"vol-1"}})); !d.Allowed {
		t.Errorf("matching encryption context denied: %s", d.Reason)
	}
	d := EvaluateKMS(nil, asgAccount, []Grant{g}, req(map[string][]string{"kms:EncryptionContext:aws:ebs:id": {"vol-2"}}))
	if d.Allowed || !strings.Contains(d.Reason, "aws:ebs:id=vol-1") {
		t.Errorf("other volume's encryption context: %+v", d)
	}
	if !(Grant{RetiringPrincipal: operatorRole}).RetirableBy(Principal{ARN: "arn:aws:sts::111122223333:assumed-role/Operator/x"}) {
		t.Error("retiring principal cannot retire the grant")
	}
	if (Grant{GranteePrincipal: slrDefault, Operations: []string{"Decrypt"}}).RetirableBy(slr(slrDefault)) {
		t.Error("grantee without RetireGrant can retire the grant")
	}
}

func TestEvaluateTrust(t *testing.T) {
	const role = "arn:aws:iam::111122223333:role/amicrypt-target"
	trust := mustParse(t, `{"Version": "2012-10-17", "Statement": [
		{"Sid": "Builder", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "sts:AssumeRole",
		 "Condition": {"StringEquals": {"sts:ExternalId": "amicrypt-7f3a"}}},
		{"Sid": "EC2", "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}`)
	assume := mustParse(t, `{"Version": "2012-10-17", "Statement": [{"Sid": "AssumeTargets", "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/amicrypt-target"}]}`)
	worker := Principal{ARN: "arn:aws:sts::444455556666:assumed-role/amicrypt-worker/w1", IdentityPolicies: []*Document{assume}}
	bare := Principal{ARN: "arn:aws:sts::444455556666:assumed-role/amicrypt-worker/w1"}
	ext := map[string][]string{"sts:ExternalId": {"amicrypt-7f3a"}}
	cases := []struct {
		name    string
		req     Request
		allowed bool
		reason  string
	}{
		{"with the external id and its own permission", Request{Principal: worker, Action: "sts:AssumeRole", Resource: role, Context: ext}, true, `trust policy statement "Builder"`},
		{"without the external id", Request{Principal: worker, Action: "sts:AssumeRole", Resource: role}, false,
			`its condition StringEquals sts:ExternalId (its value not shown) does not hold (request has no sts:ExternalId)`},
		{"without its own sts:AssumeRole permission", Request{Principal: bare, Action: "sts:AssumeRole", Resource: role, Context: ext}, false,
			"no identity policy of arn:aws:sts::444455556666:assumed-role/amicrypt-worker/w1 allows sts:AssumeRole on " + role},
		{"the builder account's root user", Request{Principal: Principal{ARN: "arn:aws:iam::444455556666:root"}, Action: "sts:AssumeRole", Resource: role, Context: ext}, true, ""},
		{"the EC2 service", Request{Principal: Principal{Service: "ec2.amazonaws.com"}, Action: "sts:AssumeRole", Resource: role}, true, `"EC2"`},
		{"a principal of a third account", Request{Principal: Principal{ARN: "arn:aws:iam::999999999999:root"}, Action: "sts:AssumeRole", Resource: role, Context: ext}, false,
			"no statement in the trust policy of " + role},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := EvaluateTrust(trust, asgAccount, tc.req)
			if d.Allowed != tc.allowed {
				t.Fatalf("Allowed = %v, want %v; reason: %s", d.Allowed, tc.allowed, d.Reason)
			}
			if !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("reason %q does not say %q", d.Reason, tc.reason)
			}
		})
	}
}

func TestEvaluateIdentity(t *testing.T) {
	ec2 := mustParse(t, `{"Version": "2012-10-17", "Statement": [
		{"Sid": "Images", "Effect": "Allow", "Action": ["ec2:CopyImage", "ec2:Describe*"], "Resource": "*"},
		{"Sid": "NoTerminate", "Effect": "Deny", "Action": "ec2:TerminateInstances", "Resource": "*", "Condition": {"StringNotEquals": {"aws:ResourceTag/owner": "amicrypt"}}}]}`)
	p := Principal{ARN: operatorRole, IdentityPolicies: []*Document{ec2}}
	cases := []struct {
		name      string
		req       Request
		allowed   bool
		explicit  bool
		decidedBy string
	}{
		{"allowed action", Request{Principal: p, Action: "ec2:CopyImage", Resource: "*"}, true, false, "identity:Images"},
		{"action names ignore case", Request{Principal: p, Action: "EC2:describeimages", Resource: "*"}, true, false, "identity:Images"},
		{"not allowed", Request{Principal: p, Action: "ec2:RunInstances", Resource: "*"}, false, false, ""},
		{"explicit deny", Request{Principal: p, Action: "ec2:TerminateInstances", Resource: "*"}, false, true, "identity:NoTerminate"},
		{"deny condition not met", Request{Principal: p, Action: "ec2:TerminateInstances", Resource: "*",
			Context: map[string][]string{"aws:ResourceTag/owner": {"amicrypt"}}}, false, false, ""},
		{"root user", Request{Principal: Principal{ARN: "arn:aws:iam::111122223333:root", IsRoot: true}, Action: "ec2:RunInstances", Resource: "*"}, true, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := EvaluateIdentity(tc.req)
			if d.Allowed != tc.allowed || d.ExplicitDeny != tc.explicit {
				t.Fatalf("Allowed = %v, ExplicitDeny = %v; want %v, %v; reason: %s", d.Allowed, d.ExplicitDeny, tc.allowed, tc.explicit, d.Reason)
			}
			if tc.decidedBy != "" && (len(d.DecidedBy) != 1 || d.DecidedBy[0] != tc.decidedBy) {
				t.Errorf("DecidedBy = %q, want %q", d.DecidedBy, tc.decidedBy)
			}
			if d.Reason == "" {
				t.Error("no reason given")
			}
		})
	}
}

// BenchmarkEvaluateKMS measures one decision on amicrypt's required policy,
// the sandbox's per-call cost.
func BenchmarkEvaluateKMS(b *testing.B) {
	d := RequiredKeyPolicy(RequiredParams{Account: asgAccount, Region: region, PipelineRoleARN: operatorRole})
	req := Request{Principal: slr(slrDefault), Action: "kms:CreateGrant", Resource: keyARN,
		Context: withContext(ViaEC2Context(region, asgAccount), "kms:GrantIsForAWSResource", "true")}
	for b.Loop() {
		if !EvaluateKMS(d, asgAccount, nil, req).Allowed {
			b.Fatal("denied")
		}
	}
}
