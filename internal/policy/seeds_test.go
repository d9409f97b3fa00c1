package policy

import (
	"slices"
	"strings"
	"testing"
)

// Accounts, keys and roles as the seed articles print them.
const (
	asgAccount   = "111122223333" // owns the Auto Scaling group (seed 003)
	keyOwner     = "444455556666" // owns the key in seed 003 case 2
	region       = "us-west-2"
	keyARN       = "arn:aws:kms:us-west-2:111122223333:key/1a2b3c4d-5e6f-1a2b-3c4d-5e6f1a2b3c4d"
	foreignKey   = "arn:aws:kms:us-west-2:444455556666:key/1a2b3c4d-5e6f-1a2b-3c4d-5e6f1a2b3c4d"
	slrCMK       = "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_CMK"
	slrDefault   = "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
	operatorRole = "arn:aws:iam::111122223333:role/Operator"
)

// defaultRootStatement is the statement KMS's default key policy holds.
func defaultRootStatement(account string) string {
	return `{"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::` + account + `:root"}, "Action": "kms:*", "Resource": "*"}`
}

// Seed 003, case 1: the statements that let the custom-suffix service-linked role use the key.
const seed003Case1Use = `{ "Sid": "Allow use of the key", "Effect": "Allow", "Principal": { "AWS": [ "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_CMK" ] }, "Action": [ "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey" ], "Resource": "*" }`
const seed003Case1Attach = `{ "Sid": "Allow attachment of persistent resources", "Effect": "Allow", "Principal": { "AWS": [ "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_CMK" ] }, "Action": [ "kms:CreateGrant" ], "Resource": "*", "Condition": { "Bool": { "kms:GrantIsForAWSResource": true } } }`

// Seed 003, case 2: the key owner (444455556666) lets the group's account use the key.
const seed003Case2Use = `{ "Sid": "Allow use of the key", "Effect": "Allow", "Principal": { "AWS": [ "arn:aws:iam::111122223333:root" ] }, "Action": [ "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey" ], "Resource": "*" }`
const seed003Case2Attach = `{ "Sid": "Allow attachment of persistent resources", "Effect": "Allow", "Principal": { "AWS": [ "arn:aws:iam::111122223333:root" ] }, "Action": [ "kms:CreateGrant" ], "Resource": "*" }`
const seed003Case2Identity = `{ "Version": "2012-10-17", "Statement": [ { "Sid": "AllowCreationOfGrant", "Effect": "Allow", "Action": "kms:CreateGrant", "Resource": "arn:aws:kms:us-west-2:444455556666:key/1a2b3c4d-5e6f-1a2b-3c4d-5e6f1a2b3c4d" } ] }`

// Seed 002: the identity policy that lets John create grants for AWS resources.
var seed002Identity = strings.NewReplacer("<region>", region, "<account #>", asgAccount, "<key id>", "1a2b3c4d-5e6f-1a2b-3c4d-5e6f1a2b3c4d").Replace(`{
     "Version": "2012-10-17",
     "Statement": [
          {
               "Effect": "Allow",
               "Action": [
                    "kms:CreateGrant"
               ],
               "Resource": [
                    "arn:aws:kms:<region>:<account #>:key/<key id>"
               ],
               "Condition": {
                    "Bool": {
                         "kms:GrantIsForAWSResource": true
                    }
               }
          }
     ]
}`)

// Seed 004: Kublr's statements, placeholders filled in.
var seed004 = strings.NewReplacer("<aws-account-id>", asgAccount, "<region>", region, "<kublr-iam-user-name>", "kublr")

var seed004EBS = seed004.Replace(`{
      "Sid": "Allow access through EBS for all principals in the account that are authorized to use EBS",
      "Effect": "Allow",
      "Principal": { "AWS": "*" },
      "Action": [
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncrypt*",
        "kms:GenerateDataKey*",
        "kms:CreateGrant",
        "kms:DescribeKey"
      ],
      "Resource": "*",
      "Condition": {
        "StringEquals": {
          "kms:CallerAccount": "<aws-account-id>",
          "kms:ViaService": "ec2.<region>.amazonaws.com"
        }
      }
    }`)

var seed004Kublr = seed004.Replace(`{
      "Sid": "Allow attachment of persistent resources by Kublr",
      "Effect": "Allow",
      "Principal": { "AWS": "arn:aws:iam::<aws-account-id>:user/<kublr-iam-user-name>" },
      "Action": [
        "kms:CreateGrant",
        "kms:ListGrants",
        "kms:RevokeGrant"
      ],
      "Resource": "*",
      "Condition": { "Bool": { "kms:GrantIsForAWSResource": "true" } }
    }`)

var seed004AutoScaling = seed004.Replace(`{
      "Sid": "Allow use of the key by AutoScaling",
      "Effect": "Allow",
      "Principal": { "AWS": "arn:aws:iam::<aws-account-id>:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling" },
      "Action": [
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncrypt*",
        "kms:GenerateDataKey*",
        "kms:DescribeKey"
      ],
      "Resource": "*"
    }`)

// Seed 000's CloudFormation key policy, written as the JSON it becomes in
// us-east-1 of account 111122223333 (it has no default root statement).
const seed000InstanceStatement = `{"Sid": "Allow use of the key by the instance", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/InstanceRole"}, "Action": ["kms:CreateGrant"], "Resource": "*"}`
const seed000RootStatement = `{"Sid": "Allow use of the key by the root user for autoscaling purposes", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*"], "Resource": "*", "Condition": {"StringEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com", "aws:userid": "111122223333"}}}`

// seed000WithoutUserID is the footnote's warning: the same statement without aws:userid.
const seed000WithoutUserID = `{"Sid": "Allow use of the key by the root user for autoscaling purposes", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*"], "Resource": "*", "Condition": {"StringEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}}}`

// mustPolicy builds a key policy document from statement JSON.
func mustPolicy(t testing.TB, statements ...string) *Document {
	t.Helper()
	d, err := Parse([]byte(`{"Version": "2012-10-17", "Statement": [` + strings.Join(statements, ",") + `]}`))
	if err != nil {
		t.Fatalf("parsing test policy: %v", err)
	}
	return d
}

func mustParse(t testing.TB, doc string) *Document {
	t.Helper()
	d, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("parsing test policy: %v", err)
	}
	return d
}

func withContext(base map[string][]string, kv ...string) map[string][]string {
	out := map[string][]string{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = append(out[kv[i]], kv[i+1])
	}
	return out
}

func slr(arn string) Principal {
	// The role's AWS-managed policy grants no KMS action, so for a key its
	// identity policies count as none.
	return Principal{ARN: arn, Account: asgAccount, RoleARN: arn}
}

type kmsCase struct {
	name      string
	policy    *Document
	keyAcct   string
	grants    []Grant
	req       Request
	allowed   bool
	decidedBy []string // when set, must equal Decision.DecidedBy
	reason    []string // substrings the reason must hold
}

func runKMS(t *testing.T, cases []kmsCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			acct := tc.keyAcct
			if acct == "" {
				acct = asgAccount
			}
			if tc.req.Resource == "" {
				tc.req.Resource = keyARN
			}
			d := EvaluateKMS(tc.policy, acct, tc.grants, tc.req)
			if d.Allowed != tc.allowed {
				t.Fatalf("Allowed = %v, want %v; reason: %s", d.Allowed, tc.allowed, d.Reason)
			}
			if tc.decidedBy != nil && !slices.Equal(d.DecidedBy, tc.decidedBy) {
				t.Errorf("DecidedBy = %q, want %q (reason: %s)", d.DecidedBy, tc.decidedBy, d.Reason)
			}
			for _, want := range tc.reason {
				if !strings.Contains(d.Reason, want) {
					t.Errorf("reason %q does not say %q", d.Reason, want)
				}
			}
		})
	}
}

func TestSeed003Case1ServiceLinkedRoleSameAccount(t *testing.T) {
	withStatements := mustPolicy(t, defaultRootStatement(asgAccount), seed003Case1Use, seed003Case1Attach)
	defaultOnly := mustPolicy(t, defaultRootStatement(asgAccount))
	via := ViaEC2Context(region, asgAccount)
	cases := []kmsCase{}
	for _, action := range []string{"kms:Decrypt", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey", "kms:ReEncryptFrom", "kms:Encrypt"} {
		cases = append(cases, kmsCase{
			name: "statements let the role " + action, policy: withStatements,
			req:     Request{Principal: slr(slrCMK), Action: action, Context: via},
			allowed: true, decidedBy: []string{"Allow use of the key"},
			reason: []string{`key policy statement "Allow use of the key" allows ` + slrCMK + " " + action},
		})
	}
	cases = append(cases,
		kmsCase{
			name: "CreateGrant for an AWS resource", policy: withStatements,
			req:     Request{Principal: slr(slrCMK), Action: "kms:CreateGrant", Context: withContext(via, "kms:GrantIsForAWSResource", "true")},
			allowed: true, decidedBy: []string{"Allow attachment of persistent resources"},
		},
		kmsCase{
			name: "CreateGrant not for an AWS resource", policy: withStatements,
			req:     Request{Principal: slr(slrCMK), Action: "kms:CreateGrant", Context: withContext(via, "kms:GrantIsForAWSResource", "false")},
			allowed: false,
			reason:  []string{`statement "Allow attachment of persistent resources" would allow it but its condition Bool kms:GrantIsForAWSResource "true" does not hold (request has "false")`},
		},
		kmsCase{
			name: "CreateGrant without the GrantIsForAWSResource key", policy: withStatements,
			req:     Request{Principal: slr(slrCMK), Action: "kms:CreateGrant", Context: via},
			allowed: false, reason: []string{"request has no kms:GrantIsForAWSResource"},
		},
		kmsCase{
			name: "the statements name the suffix role, not the default one", policy: withStatements,
			req:     Request{Principal: slr(slrDefault), Action: "kms:Decrypt", Context: via},
			allowed: false,
		},
		kmsCase{
			name: "a session of the role matches the role's statements", policy: withStatements,
			req: Request{Principal: Principal{ARN: "arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForAutoScaling_CMK/AutoScaling", Account: asgAccount},
				Action: "kms:Decrypt", Context: via},
			allowed: true,
		},
		kmsCase{
			name: "default policy only: the role has no identity policy that allows KMS", policy: defaultOnly,
			req:     Request{Principal: slr(slrCMK), Action: "kms:Decrypt", Context: via},
			allowed: false,
			reason: []string{`key policy statement "Enable IAM User Permissions" leaves kms:Decrypt to account 111122223333's IAM policies, but no identity policy of ` + slrCMK + ` allows kms:Decrypt on ` + keyARN,
				"no grant gives it Decrypt", "a service-linked role's permissions policy is AWS-managed"},
		},
		kmsCase{
			name: "default policy only: CreateGrant denied too", policy: defaultOnly,
			req:     Request{Principal: slr(slrCMK), Action: "kms:CreateGrant", Context: withContext(via, "kms:GrantIsForAWSResource", "true")},
			allowed: false, reason: []string{"no grant gives it CreateGrant"},
		},
		kmsCase{
			name: "default policy only: the root user itself", policy: defaultOnly,
			req:     Request{Principal: Principal{ARN: "arn:aws:iam::111122223333:root", Account: asgAccount, IsRoot: true}, Action: "kms:ScheduleKeyDeletion"},
			allowed: true, decidedBy: []string{"Enable IAM User Permissions"},
		},
	)
	runKMS(t, cases)
}

func TestSeed003Case2KeyInAnotherAccount(t *testing.T) {
	keyPolicy := mustPolicy(t, defaultRootStatement(keyOwner), seed003Case2Use, seed003Case2Attach)
	granter := Principal{ARN: "arn:aws:sts::111122223333:assumed-role/Operator/alice", Account: asgAccount, RoleARN: operatorRole,
		IdentityPolicies: []*Document{mustParse(t, seed003Case2Identity)}}
	noIdentity := Principal{ARN: "arn:aws:sts::111122223333:assumed-role/Operator/bob", Account: asgAccount, RoleARN: operatorRole}
	grant := Grant{ID: "grant-slr", KeyARN: foreignKey, GranteePrincipal: slrCMK,
		Operations: []string{"Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "DescribeKey", "CreateGrant"}}
	via := ViaEC2Context(region, asgAccount)
	runKMS(t, []kmsCase{
		{
			name: "a role with the identity policy creates the grant across accounts", policy: keyPolicy, keyAcct: keyOwner,
			req:     Request{Principal: granter, Action: "kms:CreateGrant", Resource: foreignKey},
			allowed: true, decidedBy: []string{"Allow attachment of persistent resources", "identity:AllowCreationOfGrant"},
		},
		{
			name: "a role without the identity policy cannot", policy: keyPolicy, keyAcct: keyOwner,
			req:     Request{Principal: noIdentity, Action: "kms:CreateGrant", Resource: foreignKey},
			allowed: false,
			reason:  []string{`key policy statement "Allow attachment of persistent resources" leaves kms:CreateGrant to account 111122223333's IAM policies, but no identity policy of arn:aws:sts::111122223333:assumed-role/Operator/bob allows kms:CreateGrant`},
		},
		{
			name:   "the identity policy alone is not enough when the key policy does not name the account",
			policy: mustPolicy(t, defaultRootStatement(keyOwner)), keyAcct: keyOwner,
			req:     Request{Principal: granter, Action: "kms:CreateGrant", Resource: foreignKey},
			allowed: false,
			reason:  []string{`identity policy statement "AllowCreationOfGrant"`, "no statement in the key policy allows account 111122223333"},
		},
		{
			name: "the service-linked role cannot decrypt without a grant", policy: keyPolicy, keyAcct: keyOwner,
			req:     Request{Principal: slr(slrCMK), Action: "kms:Decrypt", Resource: foreignKey, Context: via},
			allowed: false, reason: []string{"no grant gives it Decrypt"},
		},
		{
			name: "the grant lets the service-linked role decrypt", policy: keyPolicy, keyAcct: keyOwner, grants: []Grant{grant},
			req:     Request{Principal: slr(slrCMK), Action: "kms:Decrypt", Resource: foreignKey, Context: via},
			allowed: true, decidedBy: []string{"grant:grant-slr"},
			reason: []string{"grant grant-slr gives " + slrCMK + " Decrypt on " + foreignKey},
		},
		{
			name: "the grant's CreateGrant lets the role create grants", policy: keyPolicy, keyAcct: keyOwner, grants: []Grant{grant},
			req:     Request{Principal: slr(slrCMK), Action: "kms:CreateGrant", Resource: foreignKey, Context: withContext(via, "kms:GrantIsForAWSResource", "true")},
			allowed: true, decidedBy: []string{"grant:grant-slr"},
		},
		{
			name: "a grant without the operation says what it gives", policy: keyPolicy, keyAcct: keyOwner,
			grants:  []Grant{{ID: "g-describe", KeyARN: foreignKey, GranteePrincipal: slrCMK, Operations: []string{"DescribeKey"}}},
			req:     Request{Principal: slr(slrCMK), Action: "kms:Decrypt", Resource: foreignKey},
			allowed: false, reason: []string{"grant g-describe gives it only DescribeKey"},
		},
		{
			name: "a grant on another key does not count", policy: keyPolicy, keyAcct: keyOwner,
			grants:  []Grant{{ID: "g-other", KeyARN: keyARN, GranteePrincipal: slrCMK, Operations: []string{"Decrypt"}}},
			req:     Request{Principal: slr(slrCMK), Action: "kms:Decrypt", Resource: foreignKey},
			allowed: false,
		},
		{
			name: "the other account's root user needs no identity policy", policy: keyPolicy, keyAcct: keyOwner,
			req:     Request{Principal: Principal{ARN: "arn:aws:iam::111122223333:root", IsRoot: true}, Action: "kms:Decrypt", Resource: foreignKey},
			allowed: true, decidedBy: []string{"Allow use of the key"},
		},
	})
}

func TestSeed002CreateGrantForAWSResource(t *testing.T) {
	keyPolicy := mustPolicy(t, defaultRootStatement(asgAccount))
	fullEC2 := mustParse(t, `{"Version": "2012-10-17", "Statement": [{"Sid": "FullEC2", "Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]}`)
	john := Principal{ARN: "arn:aws:iam::111122223333:user/John", Account: asgAccount, IdentityPolicies: []*Document{fullEC2}}
	johnWithGrant := john
	johnWithGrant.IdentityPolicies = []*Document{fullEC2, mustParse(t, seed002Identity)}
	runKMS(t, []kmsCase{
		{
			name: "full EC2 but no kms:CreateGrant", policy: keyPolicy,
			req:     Request{Principal: john, Action: "kms:CreateGrant", Context: withContext(ViaEC2Context(region, asgAccount), "kms:GrantIsForAWSResource", "true")},
			allowed: false, reason: []string{"no identity policy of arn:aws:iam::111122223333:user/John allows kms:CreateGrant"},
		},
		{
			name: "with the seed's policy, for an AWS resource", policy: keyPolicy,
			req:     Request{Principal: johnWithGrant, Action: "kms:CreateGrant", Context: map[string][]string{"kms:GrantIsForAWSResource": {"true"}}},
			allowed: true, decidedBy: []string{"Enable IAM User Permissions", "identity:policy[1].statement[0]"},
		},
		{
			name: "with the seed's policy, not for an AWS resource", policy: keyPolicy,
			req:     Request{Principal: johnWithGrant, Action: "kms:CreateGrant", Context: map[string][]string{"kms:GrantIsForAWSResource": {"false"}}},
			allowed: false,
			reason:  []string{`identity policy statement "policy[1].statement[0]" would allow it but its condition Bool kms:GrantIsForAWSResource "true" does not hold (request has "false")`},
		},
	})
	// EC2 itself is allowed to John: only the key is the problem.
	if d := EvaluateIdentity(Request{Principal: john, Action: "ec2:StartInstances", Resource: "arn:aws:ec2:us-west-2:111122223333:instance/i-0123456789abcdef0"}); !d.Allowed {
		t.Errorf("John's full EC2 access denied: %s", d.Reason)
	}
}

func TestSeed004WildcardPrincipalViaEC2(t *testing.T) {
	keyPolicy := mustPolicy(t, defaultRootStatement(asgAccount), seed004EBS, seed004Kublr, seed004AutoScaling)
	const ebsSid = "Allow access through EBS for all principals in the account that are authorized to use EBS"
	anyone := Principal{ARN: "arn:aws:sts::111122223333:assumed-role/Developer/dev", Account: asgAccount}
	otherAccount := Principal{ARN: "arn:aws:sts::444455556666:assumed-role/Developer/dev", Account: keyOwner,
		IdentityPolicies: []*Document{mustParse(t, `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}}`)}}
	kublr := Principal{ARN: "arn:aws:iam::111122223333:user/kublr", Account: asgAccount}
	runKMS(t, []kmsCase{
		{
			name: "any principal of the account via EC2 in the region", policy: keyPolicy,
			req:     Request{Principal: anyone, Action: "kms:GenerateDataKeyWithoutPlaintext", Context: ViaEC2Context(region, asgAccount)},
			allowed: true, decidedBy: []string{ebsSid},
		},
		{
			name: "the default service-linked role is covered by the wildcard statement too", policy: mustPolicy(t, defaultRootStatement(asgAccount), seed004EBS),
			req:     Request{Principal: slr(slrDefault), Action: "kms:CreateGrant", Context: withContext(ViaEC2Context(region, asgAccount), "kms:GrantIsForAWSResource", "true")},
			allowed: true, decidedBy: []string{ebsSid},
		},
		{
			name: "via EC2 in another region", policy: keyPolicy,
			req:     Request{Principal: anyone, Action: "kms:Decrypt", Context: ViaEC2Context("eu-west-1", asgAccount)},
			allowed: false,
			reason:  []string{`condition StringEquals kms:ViaService "ec2.us-west-2.amazonaws.com" does not hold (request has "ec2.eu-west-1.amazonaws.com")`},
		},
		{
			name: "from another account, even with kms:* in its IAM policy", policy: keyPolicy,
			req:     Request{Principal: otherAccount, Action: "kms:Decrypt", Context: ViaEC2Context(region, keyOwner)},
			allowed: false, reason: []string{`kms:CallerAccount "111122223333" does not hold (request has "444455556666")`},
		},
		{
			name: "not via a service", policy: keyPolicy,
			req:     Request{Principal: anyone, Action: "kms:Decrypt"},
			allowed: false, reason: []string{"request has no kms:ViaService"},
		},
		{
			name: "kms:CallerAccount follows from the principal when the request leaves it out", policy: keyPolicy,
			req:     Request{Principal: anyone, Action: "kms:Decrypt", Context: map[string][]string{"kms:ViaService": {"ec2.us-west-2.amazonaws.com"}}},
			allowed: true,
		},
		{
			name: "Kublr's user lists grants only for AWS resources", policy: keyPolicy,
			req:     Request{Principal: kublr, Action: "kms:ListGrants", Context: map[string][]string{"kms:GrantIsForAWSResource": {"true"}}},
			allowed: true, decidedBy: []string{"Allow attachment of persistent resources by Kublr"},
		},
		{
			name: "the named Auto Scaling role decrypts without going through EC2", policy: keyPolicy,
			req:     Request{Principal: slr(slrDefault), Action: "kms:Decrypt"},
			allowed: true, decidedBy: []string{"Allow use of the key by AutoScaling"},
		},
	})
}

func TestSeed000RootPrincipalWithUserID(t *testing.T) {
	const east = "us-east-1"
	key := "arn:aws:kms:us-east-1:111122223333:key/0b5c6a1e-1111-2222-3333-444455556666"
	root := Principal{ARN: "arn:aws:iam::111122223333:root", Account: asgAccount, IsRoot: true}
	kmsUser := mustParse(t, `{"Version": "2012-10-17", "Statement": [{"Sid": "UseKeys", "Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}`)
	session := Principal{ARN: "arn:aws:sts::111122223333:assumed-role/Deployer/ci", Account: asgAccount, IdentityPolicies: []*Document{kmsUser}}
	sessionCtx := withContext(ViaEC2Context(east, asgAccount), "aws:userid", "AROAEXAMPLEROLEID:ci")
	withUserID := mustPolicy(t, seed000InstanceStatement, seed000RootStatement)
	withoutUserID := mustPolicy(t, seed000InstanceStatement, seed000WithoutUserID)
	const rootSid = "Allow use of the key by the root user for autoscaling purposes"
	runKMS(t, []kmsCase{
		{
			name: "the root user via EC2 (aws:userid is the account id)", policy: withUserID,
			req:     Request{Principal: root, Action: "kms:CreateGrant", Resource: key, Context: ViaEC2Context(east, asgAccount)},
			allowed: true, decidedBy: []string{rootSid},
		},
		{
			name: "an IAM role session is not the root user", policy: withUserID,
			req:     Request{Principal: session, Action: "kms:Decrypt", Resource: key, Context: sessionCtx},
			allowed: false,
			reason:  []string{`condition StringEquals aws:userid "111122223333" does not hold (request has "AROAEXAMPLEROLEID:ci")`},
		},
		{
			name: "without aws:userid the root principal means every principal the account's IAM allows", policy: withoutUserID,
			req:     Request{Principal: session, Action: "kms:Decrypt", Resource: key, Context: sessionCtx},
			allowed: true, decidedBy: []string{rootSid, "identity:UseKeys"},
		},
		{
			name: "the instance role named directly creates grants", policy: withUserID,
			req:     Request{Principal: Principal{ARN: "arn:aws:sts::111122223333:assumed-role/InstanceRole/i-0abc", Account: asgAccount}, Action: "kms:CreateGrant", Resource: key},
			allowed: true, decidedBy: []string{"Allow use of the key by the instance"},
		},
	})
}
