package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// kmsWorld: account 111111111111 owns a key whose policy lets account
// 222222222222 use it and create grants on it (seed 003, case 2); account
// 222222222222 has a role allowed kms:CreateGrant on that key, one that is not,
// and an "app" role with no KMS permission at all.
const kmsWorld = `
regions: [us-east-1, eu-west-1]
x-trust-111: &trust111 {Version: "2012-10-17", Statement: [{Effect: Allow, Principal: {AWS: "arn:aws:iam::111111111111:root"}, Action: "sts:AssumeRole"}]}
x-trust-222: &trust222 {Version: "2012-10-17", Statement: [{Effect: Allow, Principal: {AWS: "arn:aws:iam::222222222222:root"}, Action: "sts:AssumeRole"}]}
accounts:
  - id: "111111111111"
    name: owner
    roles:
      - name: reader
        trust: *trust111
        policies:
          ec2-only: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "ec2:Describe*", Resource: "*"}]}
    keys:
      - alias: alias/shared
        region: us-east-1
        policy:
          Version: "2012-10-17"
          Statement:
            - Sid: Enable IAM User Permissions
              Effect: Allow
              Principal: {AWS: "arn:aws:iam::111111111111:root"}
              Action: "kms:*"
              Resource: "*"
            - Sid: Allow use of the key
              Effect: Allow
              Principal: {AWS: ["arn:aws:iam::222222222222:root"]}
              Action: ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
              Resource: "*"
            - Sid: Allow attachment of persistent resources
              Effect: Allow
              Principal: {AWS: ["arn:aws:iam::222222222222:root"]}
              Action: ["kms:CreateGrant"]
              Resource: "*"
  - id: "222222222222"
    name: user
    service_linked_roles: [AWSServiceRoleForAutoScaling_CMK]
    roles:
      - name: granter
        trust: *trust222
        policies:
          AllowCreationOfGrant: {Version: "2012-10-17", Statement: [{Sid: AllowCreationOfGrant, Effect: Allow, Action: "kms:CreateGrant", Resource: "arn:aws:kms:us-east-1:111111111111:key/*"}]}
      - name: nogrant
        trust: *trust222
        policies:
          describe: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "kms:DescribeKey", Resource: "*"}]}
      - name: app
        trust: *trust222
faults: {throttle: false}
`

const (
	acctA = "111111111111"
	acctB = "222222222222"
	usE1  = "us-east-1"
)

// outcome wraps an SDK call's two results so a test can write
// outcome(client.Op(ctx, in)).need(t): Go does not let a multi-value call share
// an argument list with t.
func outcome[T any](v T, err error) sdkOutcome[T] { return sdkOutcome[T]{v, err} }

type sdkOutcome[T any] struct {
	v   T
	err error
}

// need returns the value, failing the test on an error.
func (o sdkOutcome[T]) need(t testing.TB) T {
	t.Helper()
	if o.err != nil {
		t.Fatalf("unexpected error: %v", o.err)
	}
	return o.v
}

func (e *testEnv) kmsAs(account, roleName string) *kms.Client {
	e.t.Helper()
	cfg := outcome(e.assumeRole(e.rootCfg(account, usE1), "arn:aws:iam::"+account+":role/"+roleName, "")).need(e.t)
	return kms.NewFromConfig(cfg)
}

func describe(t *testing.T, e *testEnv, c *kms.Client, id string) *kmstypes.KeyMetadata {
	t.Helper()
	return outcome(c.DescribeKey(e.ctx, &kms.DescribeKeyInput{KeyId: aws.String(id)})).need(t).KeyMetadata
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if errCode(err) != code {
		t.Fatalf("%s: want %s, got %v", what, code, err)
	}
}

func TestKMSCreateKeyDefaultPolicyAliasAndDescribe(t *testing.T) {
	e := newTestEnv(t, kmsWorld)
	c := e.kms(acctA, usE1)
	out := outcome(c.CreateKey(e.ctx, &kms.CreateKeyInput{Description: aws.String("dedicated key")})).need(t)
	md := out.KeyMetadata
	if md.KeySpec != kmstypes.KeySpecSymmetricDefault || md.KeyUsage != kmstypes.KeyUsageTypeEncryptDecrypt ||
		md.KeyState != kmstypes.KeyStateEnabled || !md.Enabled || md.KeyManager != kmstypes.KeyManagerTypeCustomer ||
		md.Origin != kmstypes.OriginTypeAwsKms || *md.AWSAccountId != acctA || *md.Description != "dedicated key" ||
		len(md.EncryptionAlgorithms) != 1 || md.EncryptionAlgorithms[0] != kmstypes.EncryptionAlgorithmSpecSymmetricDefault ||
		aws.ToBool(md.MultiRegion) || md.CreationDate == nil {
		t.Fatalf("metadata: %+v", md)
	}
	if want := "arn:aws:kms:us-east-1:111111111111:key/" + *md.KeyId; *md.Arn != want {
		t.Fatalf("arn %s, want %s", *md.Arn, want)
	}
	pol := outcome(c.GetKeyPolicy(e.ctx, &kms.GetKeyPolicyInput{KeyId: md.KeyId})).need(t)
	if *pol.PolicyName != "default" || !strings.Contains(*pol.Policy, `"arn:aws:iam::111111111111:root"`) || !strings.Contains(*pol.Policy, `"kms:*"`) {
		t.Fatalf("default policy: %s", *pol.Policy)
	}
	_, err := c.GetKeyPolicy(e.ctx, &kms.GetKeyPolicyInput{KeyId: md.KeyId, PolicyName: aws.String("other")})
	wantCode(t, "policy name other than default", err, "NotFoundException")

	outcome(c.CreateAlias(e.ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/dedicated"), TargetKeyId: md.KeyId})).need(t)
	for _, ref := range []string{"alias/dedicated", "arn:aws:kms:us-east-1:111111111111:alias/dedicated", *md.Arn, *md.KeyId} {
		if got := describe(t, e, c, ref); *got.KeyId != *md.KeyId {
			t.Fatalf("describe %s: %s", ref, *got.KeyId)
		}
	}
	_, err = c.CreateAlias(e.ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/dedicated"), TargetKeyId: md.KeyId})
	var exists *kmstypes.AlreadyExistsException
	if !errors.As(err, &exists) {
		t.Fatalf("duplicate alias: want AlreadyExistsException, got %v", err)
	}
	_, err = c.CreateAlias(e.ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/aws/mine"), TargetKeyId: md.KeyId})
	if err == nil {
		t.Fatal("alias/aws/ is reserved")
	}
	_, err = c.CreateAlias(e.ctx, &kms.CreateAliasInput{AliasName: aws.String("dedicated2"), TargetKeyId: md.KeyId})
	wantCode(t, "alias without alias/", err, "ValidationException")
	_, err = c.CreateAlias(e.ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/x"), TargetKeyId: aws.String("alias/dedicated")})
	wantCode(t, "alias to alias", err, "ValidationException")
	// The same alias name in another region is another alias.
	west := e.kms(acctA, "eu-west-1")
	_, err = west.DescribeKey(e.ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/dedicated")})
	var nf *kmstypes.NotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("alias in another region: want NotFoundException, got %v", err)
	}

	// Repoint, then delete.
	k2 := outcome(c.CreateKey(e.ctx, &kms.CreateKeyInput{})).need(t).KeyMetadata
	outcome(c.UpdateAlias(e.ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/dedicated"), TargetKeyId: k2.Arn})).need(t)
	if got := describe(t, e, c, "alias/dedicated"); *got.KeyId != *k2.KeyId {
		t.Fatalf("alias not repointed: %s", *got.KeyId)
	}
	rsa := outcome(c.CreateKey(e.ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecRsa2048, KeyUsage: kmstypes.KeyUsageTypeSignVerify})).need(t).KeyMetadata
	_, err = c.UpdateAlias(e.ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/dedicated"), TargetKeyId: rsa.KeyId})
	wantCode(t, "alias to a key of another type", err, "ValidationException")
	aliases := outcome(c.ListAliases(e.ctx, &kms.ListAliasesInput{KeyId: k2.KeyId})).need(t).Aliases
	if len(aliases) != 1 || *aliases[0].AliasName != "alias/dedicated" || *aliases[0].TargetKeyId != *k2.KeyId ||
		*aliases[0].AliasArn != "arn:aws:kms:us-east-1:111111111111:alias/dedicated" || aliases[0].CreationDate == nil || aliases[0].LastUpdatedDate == nil {
		t.Fatalf("aliases of the key: %+v", aliases)
	}
	outcome(c.DeleteAlias(e.ctx, &kms.DeleteAliasInput{AliasName: aws.String("alias/dedicated")})).need(t)
	_, err = c.DescribeKey(e.ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/dedicated")})
	if !errors.As(err, &nf) {
		t.Fatalf("deleted alias: want NotFoundException, got %v", err)
	}
	_, err = c.DeleteAlias(e.ctx, &kms.DeleteAliasInput{AliasName: aws.String("alias/dedicated")})
	wantCode(t, "delete a missing alias", err, "NotFoundException")

	// Key specs: usage must suit the spec; asymmetric keys report their algorithms.
	if len(rsa.SigningAlgorithms) == 0 || len(rsa.EncryptionAlgorithms) != 0 {
		t.Fatalf("RSA sign key algorithms: %+v", rsa)
	}
	_, err = c.CreateKey(e.ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecHmac256})
	wantCode(t, "HMAC key with the default ENCRYPT_DECRYPT usage", err, "ValidationException")
	_, err = c.CreateKey(e.ctx, &kms.CreateKeyInput{KeySpec: "AES_999"})
	wantCode(t, "unknown key spec", err, "ValidationException")
	hmac := outcome(c.CreateKey(e.ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecHmac256, KeyUsage: kmstypes.KeyUsageTypeGenerateVerifyMac})).need(t).KeyMetadata
	if len(hmac.MacAlgorithms) != 1 || hmac.MacAlgorithms[0] != kmstypes.MacAlgorithmSpecHmacSha256 {
		t.Fatalf("HMAC algorithms: %+v", hmac.MacAlgorithms)
	}
}

func TestKMSListKeysAndAliasesPaginate(t *testing.T) {
	e := newTestEnv(t, kmsWorld)
	c := e.kms(acctB, "eu-west-1")
	want := map[string]bool{}
	for i := 0; i < 7; i++ {
		k := outcome(c.CreateKey(e.ctx, &kms.CreateKeyInput{})).need(t).KeyMetadata
		want[*k.KeyId] = true
		outcome(c.CreateAlias(e.ctx, &kms.CreateAliasInput{AliasName: aws.String(fmt.Sprintf("alias/k%d", i)), TargetKeyId: k.KeyId})).need(t)
	}
	// Another region and another account do not show.
	outcome(e.kms(acctB, usE1).CreateKey(e.ctx, &kms.CreateKeyInput{})).need(t)
	outcome(e.kms(acctA, "eu-west-1").CreateKey(e.ctx, &kms.CreateKeyInput{})).need(t)

	pages, seen := 0, map[string]bool{}
	p := kms.NewListKeysPaginator(c, &kms.ListKeysInput{Limit: aws.Int32(3)})
	for p.HasMorePages() {
		out := outcome(p.NextPage(e.ctx)).need(t)
		pages++
		for _, k := range out.Keys {
			if seen[*k.KeyId] {
				t.Fatalf("key %s listed twice", *k.KeyId)
			}
			seen[*k.KeyId] = true
			if !strings.HasSuffix(*k.KeyArn, *k.KeyId) {
				t.Fatalf("key arn %s", *k.KeyArn)
			}
		}
		if len(out.Keys) > 3 {
			t.Fatalf("page of %d keys with limit 3", len(out.Keys))
		}
	}
	if pages != 3 || len(seen) != 7 {
		t.Fatalf("ListKeys: %d pages, %d keys", pages, len(seen))
	}
	for id := range want {
		if !seen[id] {
			t.Fatalf("key %s not listed", id)
		}
	}

	pages, names := 0, []string{}
	ap := kms.NewListAliasesPaginator(c, &kms.ListAliasesInput{Limit: aws.Int32(2)})
	for ap.HasMorePages() {
		out := outcome(ap.NextPage(e.ctx)).need(t)
		pages++
		for _, a := range out.Aliases {
			names = append(names, *a.AliasName)
		}
	}
	if pages != 4 || len(names) != 7 || names[0] != "alias/k0" || names[6] != "alias/k6" {
		t.Fatalf("ListAliases: %d pages, %v", pages, names)
	}
	_, err := c.ListKeys(e.ctx, &kms.ListKeysInput{Limit: aws.Int32(0)})
	wantCode(t, "limit 0", err, "ValidationException")
	_, err = c.ListKeys(e.ctx, &kms.ListKeysInput{Marker: aws.String("bogus")})
	var badMarker *kmstypes.InvalidMarkerException
	if !errors.As(err, &badMarker) {
		t.Fatalf("bogus marker: want InvalidMarkerException, got %v", err)
	}

	// An AWS managed alias appears once its key exists.
	outcome(c.DescribeKey(e.ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/aws/ebs")})).need(t)
	all := outcome(c.ListAliases(e.ctx, &kms.ListAliasesInput{})).need(t).Aliases
	if len(all) != 8 || *all[0].AliasName != "alias/aws/ebs" {
		t.Fatalf("aliases with aws/ebs: %d, first %s", len(all), *all[0].AliasName)
	}
}

func TestKMSPutKeyPolicyLockoutSizeAndPrincipals(t *testing.T) {
	e := newTestEnv(t, kmsWorld)
	c := e.kms(acctA, usE1)
	k := outcome(c.CreateKey(e.ctx, &kms.CreateKeyInput{})).need(t).KeyMetadata
	others := `{"Version":"2012-10-17","Statement":[{"Sid":"OnlyB","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":"kms:*","Resource":"*"}]}`
	_, err := c.PutKeyPolicy(e.ctx, &kms.PutKeyPolicyInput{KeyId: k.KeyId, Policy: aws.String(others)})
	var mal *kmstypes.MalformedPolicyDocumentException
	if !errors.As(err, &mal) || !strings.Contains(err.Error(), "The new key policy will not allow you to update the key policy in the future.") {
		t.Fatalf("lockout: want MalformedPolicyDocumentException, got %v", err)
	}
	_, err = c.CreateKey(e.ctx, &kms.CreateKeyInput{Policy: aws.String(others)})
	if !errors.As(err, &mal) {
		t.Fatalf("CreateKey lockout: want MalformedPolicyDocumentException, got %v", err)
	}
	// The bypass lets it through, after which the owner cannot read the policy.
	locked := outcome(c.CreateKey(e.ctx, &kms.CreateKeyInput{Policy: aws.String(others), BypassPolicyLockoutSafetyCheck: true})).need(t).KeyMetadata
	_, err = c.GetKeyPolicy(e.ctx, &kms.GetKeyPolicyInput{KeyId: locked.KeyId})
	wantCode(t, "locked-out key", err, "AccessDeniedException")

	// 32 KiB at most.
	pad := strings.Repeat("x", keyPolicyMaxBytes)
	big := `{"Version":"2012-10-17","Statement":[{"Sid":"` + pad + `","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"kms:*","Resource":"*"}]}`
	_, err = c.PutKeyPolicy(e.ctx, &kms.PutKeyPolicyInput{KeyId: k.KeyId, Policy: aws.String(big)})
	var limit *kmstypes.LimitExceededException
	if !errors.As(err, &limit) {
		t.Fatalf("policy over 32 KiB: want LimitExceededException, got %v", err)
	}
	// Grammar and principals.
	_, err = c.PutKeyPolicy(e.ctx, &kms.PutKeyPolicyInput{KeyId: k.KeyId, Policy: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Permit"}]}`)})
	if !errors.As(err, &mal) {
		t.Fatalf("bad grammar: want MalformedPolicyDocumentException, got %v", err)
	}
	missing := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"kms:*","Resource":"*"},` +
		`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"},"Action":"kms:Decrypt","Resource":"*"}]}`
	_, err = c.PutKeyPolicy(e.ctx, &kms.PutKeyPolicyInput{KeyId: k.KeyId, Policy: aws.String(missing)})
	if !errors.As(err, &mal) || !strings.Contains(err.Error(), "invalid principals") {
		t.Fatalf("service-linked role that does not exist: want invalid principals, got %v", err)
	}
	// The _CMK suffix role exists in 222222222222: accepted, and kept verbatim.
	ok := strings.Replace(missing, "AWSServiceRoleForAutoScaling\"", "AWSServiceRoleForAutoScaling_CMK\"", 1)
	outcome(c.PutKeyPolicy(e.ctx, &kms.PutKeyPolicyInput{KeyId: k.KeyId, Policy: aws.String(ok)})).need(t)
	if got := outcome(c.GetKeyPolicy(e.ctx, &kms.GetKeyPolicyInput{KeyId: k.KeyId})).need(t).Policy; *got != ok {
		t.Fatalf("policy not kept verbatim: %s", *got)
	}
	// PutKeyPolicy works on a disabled key.
	outcome(c.DisableKey(e.ctx, &kms.DisableKeyInput{KeyId: k.KeyId})).need(t)
	outcome(c.PutKeyPolicy(e.ctx, &kms.PutKeyPolicyInput{KeyId: k.KeyId, Policy: aws.String(defaultKeyPolicy(acctA))})).need(t)
	// An alias is not accepted by management operations.
	_, err = c.PutKeyPolicy(e.ctx, &kms.PutKeyPolicyInput{KeyId: aws.String("alias/shared"), Policy: aws.String(ok)})
	wantCode(t, "PutKeyPolicy with an alias", err, "NotFoundException")
}

func TestKMSDefaultPolicyDelegatesToIAM(t *testing.T) {
	e := newTestEnv(t, kmsWorld)
	root := e.kms(acctA, usE1)
	k := outcome(root.CreateKey(e.ctx, &kms.CreateKeyInput{})).need(t).KeyMetadata
	reader := e.kmsAs(acctA, "reader")
	_, err := reader.DescribeKey(e.ctx, &kms.DescribeKeyInput{KeyId: k.KeyId})
	if errCode(err) != "AccessDeniedException" { // KMS's model declares no AccessDeniedException type
		t.Fatalf("role without a KMS identity policy: want AccessDeniedException, got %v", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "arn:aws:sts::111111111111:assumed-role/reader/test") || !strings.Contains(msg, "kms:DescribeKey") || !strings.Contains(msg, *k.Arn) {
		t.Fatalf("denial should name caller, action and key: %s", msg)
	}
	_, err = reader.CreateKey(e.ctx, &kms.CreateKeyInput{})
	wantCode(t, "CreateKey without kms:CreateKey", err, "AccessDeniedException")
	_, err = reader.ListKeys(e.ctx, &kms.ListKeysInput{})
	wantCode(t, "ListKeys without kms:ListKeys", err, "AccessDeniedException")

	outcome(e.iam(acctA).PutRolePolicy(e.ctx, &iam.PutRolePolicyInput{
		RoleName: aws.String("reader"), PolicyName: aws.String("kms"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:DescribeKey","kms:ListKeys"],"Resource":"*"}]}`),
	})).need(t)
	if got := describe(t, e, reader, *k.KeyId); *got.KeyId != *k.KeyId {
		t.Fatal("describe after IAM allows")
	}
	outcome(reader.ListKeys(e.ctx, &kms.ListKeysInput{})).need(t)
	_, err = reader.DisableKey(e.ctx, &kms.DisableKeyInput{KeyId: k.KeyId})
	wantCode(t, "action still outside the identity policy", err, "AccessDeniedException")

	// A key whose policy names only the root user of another account: the
	// owner's roles get nothing, whatever IAM says.
	other := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":"kms:*","Resource":"*"}]}`
	k2 := outcome(root.CreateKey(e.ctx, &kms.CreateKeyInput{Policy: aws.String(other), BypassPolicyLockoutSafetyCheck: true})).need(t).KeyMetadata
	_, err = reader.DescribeKey(e.ctx, &kms.DescribeKeyInput{KeyId: k2.KeyId})
	wantCode(t, "key policy without the account", err, "AccessDeniedException")
}

func TestKMSCrossAccountCreateGrantSeed003Case2(t *testing.T) {
	e := newTestEnv(t, kmsWorld)
	owner := e.kms(acctA, usE1)
	key := describe(t, e, owner, "alias/shared")
	keyARN := *key.Arn
	slr := "arn:aws:iam::222222222222:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_CMK"
	ops := []kmstypes.GrantOperation{"Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "DescribeKey", "CreateGrant"}

	// The key id alone resolves in the caller's own account: account B must use the ARN.
	granter := e.kmsAs(acctB, "granter")
	_, err := granter.CreateGrant(e.ctx, &kms.CreateGrantInput{KeyId: key.KeyId, GranteePrincipal: aws.String(slr), Operations: ops})
	wantCode(t, "cross-account key by id", err, "NotFoundException")

	g := outcome(granter.CreateGrant(e.ctx, &kms.CreateGrantInput{KeyId: aws.String(keyARN), GranteePrincipal: aws.String(slr), Operations: ops})).need(t)
	if len(*g.GrantId) != 64 || *g.GrantToken == "" {
		t.Fatalf("grant: %s %s", *g.GrantId, *g.GrantToken)
	}

	// Without kms:CreateGrant in its identity policy, a role of B is refused even
	// though the key policy names its account.
	nogrant := e.kmsAs(acctB, "nogrant")
	_, err = nogrant.CreateGrant(e.ctx, &kms.CreateGrantInput{KeyId: aws.String(keyARN), GranteePrincipal: aws.String(slr), Operations: ops})
	if errCode(err) != "AccessDeniedException" || !strings.Contains(err.Error(), "kms:CreateGrant") {
		t.Fatalf("role without kms:CreateGrant: want AccessDeniedException, got %v", err)
	}
	// ... while DescribeKey, which its identity policy allows, works across
	// accounts with the key ARN or the alias ARN (not the alias name, which
	// names an alias of the caller's own account).
	describe(t, e, nogrant, keyARN)
	if md := describe(t, e, nogrant, "arn:aws:kms:us-east-1:111111111111:alias/shared"); *md.Arn != keyARN {
		t.Fatalf("describe by alias ARN: %s", *md.Arn)
	}
	_, err = nogrant.DescribeKey(e.ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/shared")})
	wantCode(t, "another account's alias by name", err, "NotFoundException")

	// A grantee that does not exist is refused.
	_, err = granter.CreateGrant(e.ctx, &kms.CreateGrantInput{KeyId: aws.String(keyARN), Operations: ops,
		GranteePrincipal: aws.String("arn:aws:iam::222222222222:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_NOPE")})
	var badARN *kmstypes.InvalidArnException
	if !errors.As(err, &badARN) {
		t.Fatalf("grantee that does not exist: want InvalidArnException, got %v", err)
	}

	// The grant lets its grantee act with no policy of its own: the app role of B
	// has no identity policy; it is refused until a grant names it.
	app := e.kmsAs(acctB, "app")
	_, err = app.DescribeKey(e.ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyARN)})
	wantCode(t, "app before its grant", err, "AccessDeniedException")
	appARN := "arn:aws:iam::222222222222:role/app"
	ga := outcome(granter.CreateGrant(e.ctx, &kms.CreateGrantInput{KeyId: aws.String(keyARN), GranteePrincipal: aws.String(appARN),
		Operations: []kmstypes.GrantOperation{"DescribeKey", "GenerateDataKeyWithoutPlaintext", "Decrypt"}, RetiringPrincipal: aws.String(appARN), Name: aws.String("app-use")})).need(t)
	describe(t, e, app, keyARN)
	blob := outcome(app.GenerateDataKeyWithoutPlaintext(e.ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String(keyARN), KeySpec: kmstypes.DataKeySpecAes256})).need(t)
	outcome(app.Decrypt(e.ctx, &kms.DecryptInput{CiphertextBlob: blob.CiphertextBlob})).need(t)
	_, err = app.DisableKey(e.ctx, &kms.DisableKeyInput{KeyId: aws.String(keyARN)})
	wantCode(t, "operation outside the grant (and not cross-account)", err, "AccessDeniedException")

	// Same Name and parameters: the same grant (KMS's documented idempotency).
	again := outcome(granter.CreateGrant(e.ctx, &kms.CreateGrantInput{KeyId: aws.String(keyARN), GranteePrincipal: aws.String(appARN),
		Operations: []kmstypes.GrantOperation{"Decrypt", "DescribeKey", "GenerateDataKeyWithoutPlaintext"}, RetiringPrincipal: aws.String(appARN), Name: aws.String("app-use")})).need(t)
	if *again.GrantId != *ga.GrantId {
		t.Fatalf("same name and parameters gave another grant: %s vs %s", *again.GrantId, *ga.GrantId)
	}

	// The owner lists them, issued by account B.
	grants := outcome(owner.ListGrants(e.ctx, &kms.ListGrantsInput{KeyId: key.KeyId})).need(t).Grants
	if len(grants) != 2 {
		t.Fatalf("grants: %d", len(grants))
	}
	for _, gr := range grants {
		if *gr.IssuingAccount != "arn:aws:iam::222222222222:root" || *gr.KeyId != keyARN || gr.CreationDate == nil {
			t.Fatalf("grant entry: %+v", gr)
		}
	}
	byGrantee := outcome(owner.ListGrants(e.ctx, &kms.ListGrantsInput{KeyId: key.KeyId, GranteePrincipal: aws.String(slr)})).need(t).Grants
	if len(byGrantee) != 1 || *byGrantee[0].GrantId != *g.GrantId || len(byGrantee[0].Operations) != len(ops) {
		t.Fatalf("grants for the service-linked role: %+v", byGrantee)
	}

	// The retiring principal retires by token.
	outcome(app.RetireGrant(e.ctx, &kms.RetireGrantInput{GrantToken: ga.GrantToken})).need(t)
	_, err = app.DescribeKey(e.ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyARN)})
	wantCode(t, "app after its grant was retired", err, "AccessDeniedException")
	_, err = app.RetireGrant(e.ctx, &kms.RetireGrantInput{GrantToken: ga.GrantToken})
	var badToken *kmstypes.InvalidGrantTokenException
	if !errors.As(err, &badToken) {
		t.Fatalf("retire twice: want InvalidGrantTokenException, got %v", err)
	}
	// B's role may not revoke (the key policy gives B no kms:RevokeGrant); the owner may.
	_, err = granter.RevokeGrant(e.ctx, &kms.RevokeGrantInput{KeyId: aws.String(keyARN), GrantId: g.GrantId})
	wantCode(t, "revoke without kms:RevokeGrant", err, "AccessDeniedException")
	outcome(owner.RevokeGrant(e.ctx, &kms.RevokeGrantInput{KeyId: key.KeyId, GrantId: g.GrantId})).need(t)
	_, err = owner.RevokeGrant(e.ctx, &kms.RevokeGrantInput{KeyId: key.KeyId, GrantId: g.GrantId})
	wantCode(t, "revoke twice", err, "NotFoundException")
	_, err = owner.RevokeGrant(e.ctx, &kms.RevokeGrantInput{KeyId: key.KeyId, GrantId: aws.String("nope")})
	var badID *kmstypes.InvalidGrantIdException
	if !errors.As(err, &badID) {
		t.Fatalf("malformed grant id: want InvalidGrantIdException, got %v", err)
	}
	if n := len(outcome(owner.ListGrants(e.ctx, &kms.ListGrantsInput{KeyId: key.KeyId})).need(t).Grants); n != 0 {
		t.Fatalf("%d grants left", n)
	}

	// The account that created a grant (its root user) may retire it by key and id.
	g3 := outcome(granter.CreateGrant(e.ctx, &kms.CreateGrantInput{KeyId: aws.String(keyARN), GranteePrincipal: aws.String(slr), Operations: ops})).need(t)
	_, err = nogrant.RetireGrant(e.ctx, &kms.RetireGrantInput{KeyId: aws.String(keyARN), GrantId: g3.GrantId})
	wantCode(t, "retire by an unrelated role", err, "AccessDeniedException")
	outcome(e.kms(acctB, usE1).RetireGrant(e.ctx, &kms.RetireGrantInput{KeyId: aws.String(keyARN), GrantId: g3.GrantId})).need(t)
}

func TestKMSCreateGrantValidationAndDryRun(t *testing.T) {
	e := newTestEnv(t, kmsWorld)
	c := e.kms(acctA, usE1)
	k := outcome(c.CreateKey(e.ctx, &kms.CreateKeyInput{})).need(t).KeyMetadata
	grantee := aws.String("arn:aws:iam::111111111111:role/reader")
	_, err := c.CreateGrant(e.ctx, &kms.CreateGrantInput{KeyId: k.KeyId, GranteePrincipal: grantee, Operations: []kmstypes.GrantOperation{"Fly"}})
	wantCode(t, "unknown operation", err, "ValidationException")
	_, err = c.CreateGrant(e.ctx, &kms.CreateGrantInput{KeyId: k.KeyId, GranteePrincipal: grantee, Operations: []kmstypes.GrantOperation{"Sign"}})
	wantCode(t, "Sign on a symmetric key", err, "ValidationException")
	_, err = c.CreateGrant(e.ctx, &kms.CreateGrantInput{KeyId: k.KeyId, GranteePrincipal: aws.String("arn:aws:iam::111111111111:group/admins"), Operations: []kmstypes.GrantOperation{"Decrypt"}})
	wantCode(t, "group grantee", err, "InvalidArnException")
	_, err = c.CreateGrant(e.ctx, &kms.CreateGrantInput{KeyId: k.KeyId, GranteePrincipal: grantee, Operations: []kmstypes.GrantOperation{"Decrypt"}, DryRun: aws.Bool(true)})
	var dry *kmstypes.DryRunOperationException
	if !errors.As(err, &dry) {
		t.Fatalf("dry run: want DryRunOperationException, got %v", err)
	}
	g := outcome(c.CreateGrant(e.ctx, &kms.CreateGrantInput{KeyId: k.KeyId, GranteePrincipal: grantee, Operations: []kmstypes.GrantOperation{"Decrypt", "RetireGrant"},
		Constraints: &kmstypes.GrantConstraints{EncryptionContextSubset: map[string]string{"aws:ebs:id": "vol-1"}}})).need(t)
	list := outcome(c.ListGrants(e.ctx, &kms.ListGrantsInput{KeyId: k.KeyId, GrantId: g.GrantId})).need(t).Grants
	if len(list) != 1 || list[0].Constraints == nil || list[0].Constraints.EncryptionContextSubset["aws:ebs:id"] != "vol-1" {
		t.Fatalf("grant constraints: %+v", list)
	}
	// The grantee with RetireGrant in its grant may retire it.
	reader := e.kmsAs(acctA, "reader")
	outcome(reader.RetireGrant(e.ctx, &kms.RetireGrantInput{KeyId: k.Arn, GrantId: g.GrantId})).need(t)

	// ListGrants paginates.
	for i := 0; i < 5; i++ {
		outcome(c.CreateGrant(e.ctx, &kms.CreateGrantInput{KeyId: k.KeyId, GranteePrincipal: grantee, Operations: []kmstypes.GrantOperation{"Decrypt"}})).need(t)
	}
	n, pages := 0, 0
	p := kms.NewListGrantsPaginator(c, &kms.ListGrantsInput{KeyId: k.KeyId, Limit: aws.Int32(2)})
	for p.HasMorePages() {
		n += len(outcome(p.NextPage(e.ctx)).need(t).Grants)
		pages++
	}
	if n != 5 || pages != 3 {
		t.Fatalf("ListGrants paginator: %d grants in %d pages", n, pages)
	}
}

func TestKMSKeyStates(t *testing.T) {
	e := newTestEnv(t, kmsWorld)
	c := e.kms(acctA, usE1)
	k := outcome(c.CreateKey(e.ctx, &kms.CreateKeyInput{})).need(t).KeyMetadata
	outcome(c.CreateAlias(e.ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/doomed"), TargetKeyId: k.KeyId})).need(t)
	grant := func() error {
		_, err := c.CreateGrant(e.ctx, &kms.CreateGrantInput{KeyId: k.KeyId, GranteePrincipal: aws.String("arn:aws:iam::111111111111:role/reader"), Operations: []kmstypes.GrantOperation{"Decrypt"}})
		return err
	}

	outcome(c.DisableKey(e.ctx, &kms.DisableKeyInput{KeyId: k.KeyId})).need(t)
	if md := describe(t, e, c, *k.KeyId); md.Enabled || md.KeyState != kmstypes.KeyStateDisabled {
		t.Fatalf("after DisableKey: %v %s", md.Enabled, md.KeyState)
	}
	var disabled *kmstypes.DisabledException
	if err := grant(); !errors.As(err, &disabled) || !strings.Contains(err.Error(), *k.Arn+" is disabled.") {
		t.Fatalf("CreateGrant on a disabled key: want DisabledException, got %v", err)
	}
	_, err := c.GenerateDataKeyWithoutPlaintext(e.ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: k.KeyId, NumberOfBytes: aws.Int32(32)})
	if !errors.As(err, &disabled) {
		t.Fatalf("GenerateDataKeyWithoutPlaintext on a disabled key: want DisabledException, got %v", err)
	}
	outcome(c.EnableKey(e.ctx, &kms.EnableKeyInput{KeyId: k.KeyId})).need(t)
	if md := describe(t, e, c, *k.KeyId); !md.Enabled || md.KeyState != kmstypes.KeyStateEnabled {
		t.Fatalf("after EnableKey: %v %s", md.Enabled, md.KeyState)
	}

	_, err = c.ScheduleKeyDeletion(e.ctx, &kms.ScheduleKeyDeletionInput{KeyId: k.KeyId, PendingWindowInDays: aws.Int32(6)})
	wantCode(t, "6-day window", err, "ValidationException")
	_, err = c.CancelKeyDeletion(e.ctx, &kms.CancelKeyDeletionInput{KeyId: k.KeyId})
	var invalid *kmstypes.KMSInvalidStateException
	if !errors.As(err, &invalid) || !strings.Contains(err.Error(), "is not pending deletion") {
		t.Fatalf("cancel without deletion: want KMSInvalidStateException, got %v", err)
	}
	sched := outcome(c.ScheduleKeyDeletion(e.ctx, &kms.ScheduleKeyDeletionInput{KeyId: k.KeyId, PendingWindowInDays: aws.Int32(7)})).need(t)
	wantDate := e.clock.Now().Add(7 * 24 * time.Hour)
	if sched.KeyState != kmstypes.KeyStatePendingDeletion || *sched.PendingWindowInDays != 7 || !sched.DeletionDate.Equal(wantDate) || *sched.KeyId != *k.Arn {
		t.Fatalf("schedule: %+v (want deletion %s)", sched, wantDate)
	}
	md := describe(t, e, c, "alias/doomed") // the alias stays while the key waits
	if md.KeyState != kmstypes.KeyStatePendingDeletion || md.Enabled || md.DeletionDate == nil || !md.DeletionDate.Equal(wantDate) {
		t.Fatalf("pending deletion metadata: %+v", md)
	}
	if err := grant(); !errors.As(err, &invalid) || !strings.Contains(err.Error(), *k.Arn+" is pending deletion.") {
		t.Fatalf("CreateGrant on a key pending deletion: want KMSInvalidStateException, got %v", err)
	}
	_, err = c.EnableKey(e.ctx, &kms.EnableKeyInput{KeyId: k.KeyId})
	if !errors.As(err, &invalid) {
		t.Fatalf("EnableKey pending deletion: want KMSInvalidStateException, got %v", err)
	}
	_, err = c.ScheduleKeyDeletion(e.ctx, &kms.ScheduleKeyDeletionInput{KeyId: k.KeyId})
	wantCode(t, "schedule twice", err, "KMSInvalidStateException")
	outcome(c.PutKeyPolicy(e.ctx, &kms.PutKeyPolicyInput{KeyId: k.KeyId, Policy: aws.String(defaultKeyPolicy(acctA))})).need(t)

	cancel := outcome(c.CancelKeyDeletion(e.ctx, &kms.CancelKeyDeletionInput{KeyId: k.KeyId})).need(t)
	if *cancel.KeyId != *k.Arn {
		t.Fatalf("cancel key id %s", *cancel.KeyId)
	}
	if md := describe(t, e, c, *k.KeyId); md.KeyState != kmstypes.KeyStateDisabled || md.DeletionDate != nil {
		t.Fatalf("after CancelKeyDeletion: %s %v", md.KeyState, md.DeletionDate)
	}

	// At the end of the waiting period the key and its alias are gone.
	outcome(c.ScheduleKeyDeletion(e.ctx, &kms.ScheduleKeyDeletionInput{KeyId: k.KeyId, PendingWindowInDays: aws.Int32(7)})).need(t)
	e.clock.Advance(7*24*time.Hour + time.Second)
	_, err = c.DescribeKey(e.ctx, &kms.DescribeKeyInput{KeyId: k.KeyId})
	var nf *kmstypes.NotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("deleted key: want NotFoundException, got %v", err)
	}
	_, err = c.DescribeKey(e.ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/doomed")})
	if !errors.As(err, &nf) {
		t.Fatalf("alias of a deleted key: want NotFoundException, got %v", err)
	}
}

func TestKMSRotation(t *testing.T) {
	e := newTestEnv(t, kmsWorld)
	c := e.kms(acctA, usE1)
	k := outcome(c.CreateKey(e.ctx, &kms.CreateKeyInput{})).need(t).KeyMetadata
	st := outcome(c.GetKeyRotationStatus(e.ctx, &kms.GetKeyRotationStatusInput{KeyId: k.KeyId})).need(t)
	if st.KeyRotationEnabled || st.NextRotationDate != nil {
		t.Fatalf("new key rotation: %+v", st)
	}
	_, err := c.EnableKeyRotation(e.ctx, &kms.EnableKeyRotationInput{KeyId: k.KeyId, RotationPeriodInDays: aws.Int32(30)})
	wantCode(t, "30-day period", err, "ValidationException")
	_, err = c.EnableKeyRotation(e.ctx, &kms.EnableKeyRotationInput{KeyId: k.KeyId, RotationPeriodInDays: aws.Int32(2561)})
	wantCode(t, "2561-day period", err, "ValidationException")
	outcome(c.EnableKeyRotation(e.ctx, &kms.EnableKeyRotationInput{KeyId: k.KeyId})).need(t)
	enabledAt := e.clock.Now()
	st = outcome(c.GetKeyRotationStatus(e.ctx, &kms.GetKeyRotationStatusInput{KeyId: k.KeyId})).need(t)
	if !st.KeyRotationEnabled || *st.RotationPeriodInDays != 365 || !st.NextRotationDate.Equal(enabledAt.Add(365*24*time.Hour)) || *st.KeyId != *k.Arn {
		t.Fatalf("rotation on: %+v", st)
	}
	outcome(c.EnableKeyRotation(e.ctx, &kms.EnableKeyRotationInput{KeyId: k.KeyId, RotationPeriodInDays: aws.Int32(90)})).need(t)
	st = outcome(c.GetKeyRotationStatus(e.ctx, &kms.GetKeyRotationStatusInput{KeyId: k.KeyId})).need(t)
	if *st.RotationPeriodInDays != 90 || !st.NextRotationDate.Equal(enabledAt.Add(90*24*time.Hour)) {
		t.Fatalf("90-day rotation: %+v", st)
	}
	// Automatic rotation changes the key material; so does on-demand rotation.
	before := *describe(t, e, c, *k.KeyId).CurrentKeyMaterialId
	e.clock.Advance(91 * 24 * time.Hour)
	afterAuto := *describe(t, e, c, *k.KeyId).CurrentKeyMaterialId
	if afterAuto == before {
		t.Fatal("key material unchanged after an automatic rotation")
	}
	st = outcome(c.GetKeyRotationStatus(e.ctx, &kms.GetKeyRotationStatusInput{KeyId: k.KeyId})).need(t)
	if !st.NextRotationDate.Equal(enabledAt.Add(180 * 24 * time.Hour)) {
		t.Fatalf("next rotation after one: %s", st.NextRotationDate)
	}
	rot := outcome(c.RotateKeyOnDemand(e.ctx, &kms.RotateKeyOnDemandInput{KeyId: k.KeyId})).need(t)
	if *rot.KeyId != *k.Arn || *describe(t, e, c, *k.KeyId).CurrentKeyMaterialId == afterAuto {
		t.Fatal("on-demand rotation")
	}
	outcome(c.DisableKeyRotation(e.ctx, &kms.DisableKeyRotationInput{KeyId: k.KeyId})).need(t)
	if st := outcome(c.GetKeyRotationStatus(e.ctx, &kms.GetKeyRotationStatusInput{KeyId: k.KeyId})).need(t); st.KeyRotationEnabled {
		t.Fatal("rotation still on")
	}
	// Disabled keys: DisabledException.
	outcome(c.DisableKey(e.ctx, &kms.DisableKeyInput{KeyId: k.KeyId})).need(t)
	_, err = c.EnableKeyRotation(e.ctx, &kms.EnableKeyRotationInput{KeyId: k.KeyId})
	wantCode(t, "rotation on a disabled key", err, "DisabledException")
	// Asymmetric keys cannot rotate.
	rsa := outcome(c.CreateKey(e.ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecRsa2048, KeyUsage: kmstypes.KeyUsageTypeEncryptDecrypt})).need(t).KeyMetadata
	_, err = c.EnableKeyRotation(e.ctx, &kms.EnableKeyRotationInput{KeyId: rsa.KeyId})
	var unsupported *kmstypes.UnsupportedOperationException
	if !errors.As(err, &unsupported) {
		t.Fatalf("rotation of an RSA key: want UnsupportedOperationException, got %v", err)
	}
	_, err = c.RotateKeyOnDemand(e.ctx, &kms.RotateKeyOnDemandInput{KeyId: rsa.KeyId})
	if !errors.As(err, &unsupported) {
		t.Fatalf("on-demand rotation of an RSA key: want UnsupportedOperationException, got %v", err)
	}
}

func TestKMSAWSManagedKey(t *testing.T) {
	e := newTestEnv(t, kmsWorld)
	c := e.kms(acctB, usE1)
	md := describe(t, e, c, "alias/aws/ebs")
	if md.KeyManager != kmstypes.KeyManagerTypeAws || *md.AWSAccountId != acctB {
		t.Fatalf("aws/ebs: %+v", md)
	}
	pol := outcome(c.GetKeyPolicy(e.ctx, &kms.GetKeyPolicyInput{KeyId: md.KeyId})).need(t)
	if !strings.Contains(*pol.Policy, "ec2.us-east-1.amazonaws.com") {
		t.Fatalf("aws/ebs policy: %s", *pol.Policy)
	}
	// Its policy cannot be changed, it cannot be deleted, its rotation is always on.
	_, err := c.PutKeyPolicy(e.ctx, &kms.PutKeyPolicyInput{KeyId: md.KeyId, Policy: aws.String(defaultKeyPolicy(acctB))})
	wantCode(t, "PutKeyPolicy on aws/ebs", err, "AccessDeniedException")
	_, err = c.ScheduleKeyDeletion(e.ctx, &kms.ScheduleKeyDeletionInput{KeyId: md.KeyId})
	wantCode(t, "ScheduleKeyDeletion on aws/ebs", err, "AccessDeniedException")
	_, err = c.DisableKeyRotation(e.ctx, &kms.DisableKeyRotationInput{KeyId: md.KeyId})
	wantCode(t, "DisableKeyRotation on aws/ebs", err, "AccessDeniedException")
	if st := outcome(c.GetKeyRotationStatus(e.ctx, &kms.GetKeyRotationStatusInput{KeyId: md.KeyId})).need(t); !st.KeyRotationEnabled {
		t.Fatal("aws/ebs rotation off")
	}
	// Direct use is not allowed: only through EC2 (kms:ViaService).
	_, err = c.GenerateDataKeyWithoutPlaintext(e.ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String("alias/aws/ebs"), KeySpec: kmstypes.DataKeySpecAes256})
	wantCode(t, "direct use of aws/ebs", err, "AccessDeniedException")
	_, err = c.DeleteAlias(e.ctx, &kms.DeleteAliasInput{AliasName: aws.String("alias/aws/ebs")})
	wantCode(t, "delete alias/aws/ebs", err, "AccessDeniedException")
}

func TestKMSTags(t *testing.T) {
	e := newTestEnv(t, kmsWorld)
	c := e.kms(acctA, usE1)
	k := outcome(c.CreateKey(e.ctx, &kms.CreateKeyInput{Tags: []kmstypes.Tag{{TagKey: aws.String("team"), TagValue: aws.String("platform")}}})).need(t).KeyMetadata
	outcome(c.TagResource(e.ctx, &kms.TagResourceInput{KeyId: k.KeyId, Tags: []kmstypes.Tag{
		{TagKey: aws.String("env"), TagValue: aws.String("prod")}, {TagKey: aws.String("team"), TagValue: aws.String("infra")}}})).need(t)
	tags := outcome(c.ListResourceTags(e.ctx, &kms.ListResourceTagsInput{KeyId: k.KeyId})).need(t).Tags
	if len(tags) != 2 || *tags[0].TagKey != "env" || *tags[1].TagValue != "infra" {
		t.Fatalf("tags: %+v", tags)
	}
	outcome(c.UntagResource(e.ctx, &kms.UntagResourceInput{KeyId: k.KeyId, TagKeys: []string{"env"}})).need(t)
	if tags := outcome(c.ListResourceTags(e.ctx, &kms.ListResourceTagsInput{KeyId: k.KeyId})).need(t).Tags; len(tags) != 1 || *tags[0].TagKey != "team" {
		t.Fatalf("after untag: %+v", tags)
	}
	_, err := c.TagResource(e.ctx, &kms.TagResourceInput{KeyId: k.KeyId, Tags: []kmstypes.Tag{{TagKey: aws.String("aws:owner"), TagValue: aws.String("x")}}})
	var tagErr *kmstypes.TagException
	if !errors.As(err, &tagErr) {
		t.Fatalf("aws: tag: want TagException, got %v", err)
	}
	// aws:ResourceTag conditions see the key's tags.
	pol := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"kms:*","Resource":"*"},` +
		`{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"kms:DescribeKey","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/team":"infra"}}}]}`
	outcome(c.PutKeyPolicy(e.ctx, &kms.PutKeyPolicyInput{KeyId: k.KeyId, Policy: aws.String(pol)})).need(t)
	_, err = c.DescribeKey(e.ctx, &kms.DescribeKeyInput{KeyId: k.KeyId})
	wantCode(t, "deny by resource tag", err, "AccessDeniedException")
}

func TestKMSDataKeysAndDecrypt(t *testing.T) {
	e := newTestEnv(t, kmsWorld)
	c := e.kms(acctA, usE1)
	k := outcome(c.CreateKey(e.ctx, &kms.CreateKeyInput{})).need(t).KeyMetadata
	other := outcome(c.CreateKey(e.ctx, &kms.CreateKeyInput{})).need(t).KeyMetadata
	ec := map[string]string{"purpose": "test"}
	out := outcome(c.GenerateDataKeyWithoutPlaintext(e.ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: k.KeyId, KeySpec: kmstypes.DataKeySpecAes256, EncryptionContext: ec})).need(t)
	if *out.KeyId != *k.Arn || len(out.CiphertextBlob) == 0 {
		t.Fatalf("data key: %+v", out)
	}
	d1 := outcome(c.Decrypt(e.ctx, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: ec})).need(t)
	d2 := outcome(c.Decrypt(e.ctx, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: ec, KeyId: k.KeyId})).need(t)
	if *d1.KeyId != *k.Arn || len(d1.Plaintext) != 32 || !bytes.Equal(d1.Plaintext, d2.Plaintext) || d1.EncryptionAlgorithm != kmstypes.EncryptionAlgorithmSpecSymmetricDefault {
		t.Fatalf("decrypt: %+v", d1)
	}
	_, err := c.Decrypt(e.ctx, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob})
	var badCT *kmstypes.InvalidCiphertextException
	if !errors.As(err, &badCT) {
		t.Fatalf("decrypt without the encryption context: want InvalidCiphertextException, got %v", err)
	}
	_, err = c.Decrypt(e.ctx, &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: ec, KeyId: other.KeyId})
	var incorrect *kmstypes.IncorrectKeyException
	if !errors.As(err, &incorrect) {
		t.Fatalf("decrypt naming another key: want IncorrectKeyException, got %v", err)
	}
	_, err = c.Decrypt(e.ctx, &kms.DecryptInput{CiphertextBlob: []byte("not a ciphertext")})
	if !errors.As(err, &badCT) {
		t.Fatalf("garbage: want InvalidCiphertextException, got %v", err)
	}
	tampered := append([]byte{}, out.CiphertextBlob...)
	tampered[len(tampered)-20] ^= 1
	_, err = c.Decrypt(e.ctx, &kms.DecryptInput{CiphertextBlob: tampered, EncryptionContext: ec})
	if !errors.As(err, &badCT) {
		t.Fatalf("tampered: want InvalidCiphertextException, got %v", err)
	}
	_, err = c.GenerateDataKeyWithoutPlaintext(e.ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: k.KeyId})
	wantCode(t, "neither KeySpec nor NumberOfBytes", err, "ValidationException")
	n := outcome(c.GenerateDataKeyWithoutPlaintext(e.ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: k.KeyId, NumberOfBytes: aws.Int32(16)})).need(t)
	if d := outcome(c.Decrypt(e.ctx, &kms.DecryptInput{CiphertextBlob: n.CiphertextBlob})).need(t); len(d.Plaintext) != 16 {
		t.Fatalf("16-byte data key: %d", len(d.Plaintext))
	}
	// Key state applies to decryption too.
	outcome(c.ScheduleKeyDeletion(e.ctx, &kms.ScheduleKeyDeletionInput{KeyId: k.KeyId})).need(t)
	_, err = c.Decrypt(e.ctx, &kms.DecryptInput{CiphertextBlob: n.CiphertextBlob})
	wantCode(t, "decrypt under a key pending deletion", err, "KMSInvalidStateException")
	sign := outcome(c.CreateKey(e.ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecEccNistP256, KeyUsage: kmstypes.KeyUsageTypeSignVerify})).need(t).KeyMetadata
	_, err = c.GenerateDataKeyWithoutPlaintext(e.ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: sign.KeyId, KeySpec: kmstypes.DataKeySpecAes256})
	var usage *kmstypes.InvalidKeyUsageException
	if !errors.As(err, &usage) {
		t.Fatalf("data key under a signing key: want InvalidKeyUsageException, got %v", err)
	}
}

// TestKMSCutOverToANewKey follows a manual key rotation: a second key like the
// first, the alias repointed, the old key's grants revoked or retired, the old
// key disabled and scheduled for deletion.
func TestKMSCutOverToANewKey(t *testing.T) {
	e := newTestEnv(t, kmsWorld)
	c := e.kms(acctA, usE1)
	old := outcome(c.CreateKey(e.ctx, &kms.CreateKeyInput{Tags: []kmstypes.Tag{{TagKey: aws.String("app"), TagValue: aws.String("web")}}})).need(t).KeyMetadata
	outcome(c.CreateAlias(e.ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: old.KeyId})).need(t)
	e.clock.Advance(90 * time.Minute)
	created := e.clock.Now()
	nk := outcome(c.CreateKey(e.ctx, &kms.CreateKeyInput{})).need(t).KeyMetadata
	if md := describe(t, e, c, *nk.Arn); !md.CreationDate.Equal(created) || !describe(t, e, c, *old.KeyId).CreationDate.Equal(created.Add(-90*time.Minute)) {
		t.Fatalf("CreationDate: %v (want %v)", md.CreationDate, created)
	}
	tags := outcome(c.ListResourceTags(e.ctx, &kms.ListResourceTagsInput{KeyId: old.KeyId})).need(t).Tags
	outcome(c.TagResource(e.ctx, &kms.TagResourceInput{KeyId: nk.KeyId, Tags: tags})).need(t)
	if got := outcome(c.ListResourceTags(e.ctx, &kms.ListResourceTagsInput{KeyId: nk.Arn})).need(t).Tags; len(got) != 1 || *got[0].TagKey != "app" || *got[0].TagValue != "web" {
		t.Fatalf("copied tags: %+v", got)
	}
	outcome(c.EnableKeyRotation(e.ctx, &kms.EnableKeyRotationInput{KeyId: nk.KeyId})).need(t)
	if st := outcome(c.GetKeyRotationStatus(e.ctx, &kms.GetKeyRotationStatusInput{KeyId: nk.Arn})).need(t); !st.KeyRotationEnabled {
		t.Fatal("rotation not on")
	}

	// UpdateAlias: only to a key of the same account and region, not pending deletion.
	_, err := c.UpdateAlias(e.ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/missing"), TargetKeyId: nk.KeyId})
	wantCode(t, "UpdateAlias of a missing alias", err, "NotFoundException")
	west := outcome(e.kms(acctA, "eu-west-1").CreateKey(e.ctx, &kms.CreateKeyInput{})).need(t).KeyMetadata
	_, err = c.UpdateAlias(e.ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: west.Arn})
	wantCode(t, "UpdateAlias to a key of another region", err, "NotFoundException")
	foreign := outcome(e.kms(acctB, usE1).CreateKey(e.ctx, &kms.CreateKeyInput{})).need(t).KeyMetadata
	_, err = c.UpdateAlias(e.ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: foreign.Arn})
	wantCode(t, "UpdateAlias to a key of another account (the code is the sandbox's choice)", err, "AccessDeniedException")
	doomed := outcome(c.CreateKey(e.ctx, &kms.CreateKeyInput{})).need(t).KeyMetadata
	outcome(c.ScheduleKeyDeletion(e.ctx, &kms.ScheduleKeyDeletionInput{KeyId: doomed.KeyId, PendingWindowInDays: aws.Int32(7)})).need(t)
	_, err = c.UpdateAlias(e.ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: doomed.KeyId})
	wantCode(t, "UpdateAlias to a key pending deletion", err, "KMSInvalidStateException")
	e.clock.Advance(time.Minute)
	outcome(c.UpdateAlias(e.ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: nk.Arn})).need(t)
	if md := describe(t, e, c, "alias/app"); *md.KeyId != *nk.KeyId {
		t.Fatalf("alias/app points at %s", *md.KeyId)
	}
	al := outcome(c.ListAliases(e.ctx, &kms.ListAliasesInput{KeyId: nk.KeyId})).need(t).Aliases
	if len(al) != 1 || !al[0].LastUpdatedDate.Equal(e.clock.Now()) || !al[0].CreationDate.Equal(created.Add(-90*time.Minute)) {
		t.Fatalf("repointed alias: %+v", al)
	}

	// Grants on the old key: listed by key, revoked by an administrator, retired
	// by those the grant names or by the account that made it.
	reader := "arn:aws:iam::111111111111:role/reader"
	g1 := outcome(c.CreateGrant(e.ctx, &kms.CreateGrantInput{KeyId: old.KeyId, GranteePrincipal: aws.String(reader), Operations: []kmstypes.GrantOperation{"Decrypt"}})).need(t)
	g2 := outcome(c.CreateGrant(e.ctx, &kms.CreateGrantInput{KeyId: old.KeyId, GranteePrincipal: aws.String(reader), Operations: []kmstypes.GrantOperation{"Decrypt"}})).need(t)
	if gs := outcome(c.ListGrants(e.ctx, &kms.ListGrantsInput{KeyId: old.Arn})).need(t).Grants; len(gs) != 2 || *gs[0].KeyId != *old.Arn {
		t.Fatalf("ListGrants: %+v", gs)
	}
	// A key policy statement allowing kms:RetireGrant is not effective, and
	// IAM allowing it is only for principals of the account that made the grant.
	withRetire := `{"Version":"2012-10-17","Statement":[` +
		`{"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"kms:*","Resource":"*"},` +
		`{"Sid":"retire","Effect":"Allow","Principal":{"AWS":"` + reader + `"},"Action":["kms:RetireGrant","kms:RevokeGrant"],"Resource":"*"}]}`
	outcome(c.PutKeyPolicy(e.ctx, &kms.PutKeyPolicyInput{KeyId: old.KeyId, Policy: aws.String(withRetire)})).need(t)
	asReader := e.kmsAs(acctA, "reader")
	_, err = asReader.RetireGrant(e.ctx, &kms.RetireGrantInput{KeyId: old.Arn, GrantId: g1.GrantId})
	wantCode(t, "RetireGrant allowed by the key policy only", err, "AccessDeniedException")
	outcome(asReader.RevokeGrant(e.ctx, &kms.RevokeGrantInput{KeyId: old.Arn, GrantId: g1.GrantId})).need(t) // RevokeGrant: key policy
	outcome(e.iam(acctA).PutRolePolicy(e.ctx, &iam.PutRolePolicyInput{
		RoleName: aws.String("reader"), PolicyName: aws.String("retire"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:RetireGrant","Resource":"*"}]}`),
	})).need(t)
	outcome(asReader.RetireGrant(e.ctx, &kms.RetireGrantInput{KeyId: old.Arn, GrantId: g2.GrantId})).need(t)
	if gs := outcome(c.ListGrants(e.ctx, &kms.ListGrantsInput{KeyId: old.KeyId})).need(t).Grants; len(gs) != 0 {
		t.Fatalf("grants left: %+v", gs)
	}

	// Disable, then schedule the deletion: 7-30 days, default 30.
	outcome(c.DisableKey(e.ctx, &kms.DisableKeyInput{KeyId: old.KeyId})).need(t)
	_, err = c.ScheduleKeyDeletion(e.ctx, &kms.ScheduleKeyDeletionInput{KeyId: old.KeyId, PendingWindowInDays: aws.Int32(31)})
	wantCode(t, "31-day window", err, "ValidationException")
	sched := outcome(c.ScheduleKeyDeletion(e.ctx, &kms.ScheduleKeyDeletionInput{KeyId: old.KeyId})).need(t)
	if sched.KeyState != kmstypes.KeyStatePendingDeletion || aws.ToInt32(sched.PendingWindowInDays) != 30 || !sched.DeletionDate.Equal(e.clock.Now().Add(30*24*time.Hour)) {
		t.Fatalf("ScheduleKeyDeletion of the disabled key: %+v", sched)
	}
	// The alias moved away, so nothing but the key id reaches the old key.
	if al := outcome(c.ListAliases(e.ctx, &kms.ListAliasesInput{KeyId: old.KeyId})).need(t).Aliases; len(al) != 0 {
		t.Fatalf("aliases of the old key: %+v", al)
	}
}
