package policy

import (
	"strings"
	"testing"
)

func TestLint(t *testing.T) {
	root := defaultRootStatement(asgAccount)
	cases := []struct {
		name     string
		policy   *Document
		severity string
		sid      string
		says     string
	}{
		{"kms:* to a role", mustPolicy(t, root, `{"Sid": "Admins", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/Admin"}, "Action": "kms:*", "Resource": "*"}`),
			SeverityWarning, "Admins", "allows kms:* to arn:aws:iam::111122223333:role/Admin; only the account root"},
		{"wildcard without conditions", mustPolicy(t, root, `{"Sid": "Open", "Effect": "Allow", "Principal": "*", "Action": ["kms:Decrypt"], "Resource": "*"}`),
			SeverityError, "Open", `allows every AWS principal ("*") with no condition`},
		{"wildcard with ViaService only", mustPolicy(t, root, `{"Sid": "Via", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["kms:Decrypt"], "Resource": "*", "Condition": {"StringEquals": {"kms:ViaService": "ec2.us-west-2.amazonaws.com"}}}`),
			SeverityWarning, "Via", `without a condition on kms:CallerAccount (= "111122223333")`},
		{"CreateGrant without GrantIsForAWSResource (seed 003 case 2)", mustPolicy(t, defaultRootStatement(keyOwner), seed003Case2Use, seed003Case2Attach),
			SeverityWarning, "Allow attachment of persistent resources", "allows kms:CreateGrant to arn:aws:iam::111122223333:root without Bool kms:GrantIsForAWSResource"},
		{"CreateGrant to the instance role (seed 000)", mustPolicy(t, seed000InstanceStatement, seed000RootStatement),
			SeverityWarning, "Allow use of the key by the instance", "allows kms:CreateGrant to arn:aws:iam::111122223333:role/InstanceRole"},
		{"root principal with conditions but no aws:userid (seed 000's footnote)", mustPolicy(t, seed000InstanceStatement, seed000WithoutUserID),
			SeverityWarning, "Allow use of the key by the root user for autoscaling purposes",
			`means every principal of account 111122223333 whose IAM policy allows it, not only the root user, and its conditions (kms:ViaService) limit how the key is used, not who uses it; to mean only the root user add StringEquals "aws:userid": "111122223333"`},
		{"no principal", mustPolicy(t, root, `{"Sid": "Nobody", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}`),
			SeverityError, "Nobody", "has no Principal"},
		{"no resource", mustPolicy(t, root, `{"Sid": "NoResource", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/Admin"}, "Action": "kms:Decrypt"}`),
			SeverityError, "NoResource", "has no Resource"},
		{"duplicate Sid", mustPolicy(t, root, root), SeverityWarning, "Enable IAM User Permissions", "used by another statement"},
		{"NotPrincipal with Allow", mustPolicy(t, root, `{"Sid": "Inverse", "Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:role/Admin"}, "Action": "kms:Decrypt", "Resource": "*"}`),
			SeverityWarning, "Inverse", "NotPrincipal with Allow"},
		{"characters KMS refuses", mustPolicy(t, root, `{"Sid": "Emoji 🔑", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/Admin"}, "Action": "kms:Decrypt", "Resource": "*"}`),
			SeverityError, "", "KMS accepts only printable ASCII and Latin-1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			acct := asgAccount
			if strings.Contains(tc.name, "seed 003 case 2") {
				acct = keyOwner
			}
			findings := Lint(tc.policy, acct)
			for _, f := range findings {
				if f.Severity == tc.severity && f.Sid == tc.sid && strings.Contains(f.Message, tc.says) {
					return
				}
			}
			t.Errorf("no %s for %q saying %q; got:\n%s", tc.severity, tc.sid, tc.says, findingsText(findings))
		})
	}
}

func TestLintSize(t *testing.T) {
	var stmts []string
	for i := 0; i < 200; i++ {
		stmts = append(stmts, `{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/application-role-with-a-rather-long-name-`+strings.Repeat("x", 20)+`"}, "Action": ["kms:Decrypt", "kms:DescribeKey"], "Resource": "*"}`)
	}
	findings := Lint(mustPolicy(t, stmts...), asgAccount)
	for _, f := range findings {
		if f.Severity == SeverityError && strings.Contains(f.Message, "KMS accepts at most 32768") {
			return
		}
	}
	t.Errorf("no size error; got:\n%s", findingsText(findings))
}

func TestLintIsQuietOnGoodPolicies(t *testing.T) {
	good := map[string]*Document{
		"amicrypt's required policy": RequiredKeyPolicy(RequiredParams{Account: asgAccount, Region: region, PipelineRoleARN: operatorRole}),
		"seed 003 case 1":            mustPolicy(t, defaultRootStatement(asgAccount), seed003Case1Use, seed003Case1Attach),
		"seed 004":                   mustPolicy(t, defaultRootStatement(asgAccount), seed004EBS, seed004Kublr, seed004AutoScaling),
		"seed 000's root statement":  mustPolicy(t, defaultRootStatement(asgAccount), seed000RootStatement),
	}
	for name, d := range good {
		if f := Lint(d, asgAccount); len(f) != 0 {
			t.Errorf("%s: unexpected findings:\n%s", name, findingsText(f))
		}
	}
}

func findingsText(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("  " + f.String() + "\n")
	}
	return b.String()
}
