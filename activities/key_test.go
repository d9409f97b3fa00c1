package activities

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

func ensureKeyIn(tg Target) EnsureKeyInput {
	return EnsureKeyInput{Target: tg, RunID: "run-1", SLRARN: tg.ServiceLinkedRoleARN()}
}

func TestEnsureKeyCreatesTheDedicatedKeyOnce(t *testing.T) {
	h := newHarness(t)
	in := ensureKeyIn(target(payments))
	in.Pipeline = in.Target.RoleARN
	first := must[EnsureKeyResult](h, h.acts.ensureKey, in)
	if !first.Created || !first.Managed || first.KeyARN == "" {
		t.Fatalf("first call: %+v, want a created, managed key", first)
	}
	if got := h.keyARN(payments, "alias/amicrypt"); got != first.KeyARN {
		t.Fatalf("alias/amicrypt points at %s, want %s", got, first.KeyARN)
	}
	text := h.keyPolicyText(payments, first.KeyARN)
	for _, want := range []string{"amicrypt:RootAdministration", "amicrypt:EC2ViaServiceUse", "amicrypt:ServiceLinkedRoleUse",
		"amicrypt:ServiceLinkedRoleGrants", "amicrypt:PipelineRoleUse", in.SLRARN, "ec2.us-east-1.amazonaws.com"} {
		if !strings.Contains(text, want) {
			t.Errorf("key policy lacks %s:\n%s", want, text)
		}
	}
	rot, err := h.rootKMS(payments).GetKeyRotationStatus(h.ctx, &kms.GetKeyRotationStatusInput{KeyId: aws.String(first.KeyARN)})
	if err != nil || !rot.KeyRotationEnabled {
		t.Errorf("rotation: %+v, %v", rot, err)
	}
	second := must[EnsureKeyResult](h, h.acts.ensureKey, in)
	if second.Created || second.PolicyChanged || second.KeyARN != first.KeyARN || !second.Managed {
		t.Fatalf("second call: %+v, want the same key untouched", second)
	}
}

func TestEnsureKeyReconcilesAManagedKeyAndKeepsTheOwnersStatements(t *testing.T) {
	h := newHarness(t)
	tg := target(legacy)
	tg.KeyAlias = "alias/managed"
	res := must[EnsureKeyResult](h, h.acts.ensureKey, ensureKeyIn(tg))
	if !res.Managed || !res.PolicyChanged || res.Created {
		t.Fatalf("got %+v, want a managed key whose policy changed", res)
	}
	text := h.keyPolicyText(legacy, res.KeyARN)
	for _, want := range []string{"OwnerAuditors", "amicrypt:ServiceLinkedRoleUse", "amicrypt:ServiceLinkedRoleGrants"} {
		if !strings.Contains(text, want) {
			t.Errorf("reconciled policy lacks %s:\n%s", want, text)
		}
	}
	again := must[EnsureKeyResult](h, h.acts.ensureKey, ensureKeyIn(tg))
	if again.PolicyChanged {
		t.Errorf("reconciling twice changed the policy again")
	}
}

func TestEnsureKeyAdoptedKeyWithoutTheRoleIsF2WithTheStatementsToAdd(t *testing.T) {
	h := newHarness(t)
	tg := target(legacy)
	tg.KeyAlias = "alias/adopted"
	arn := h.keyARN(legacy, tg.KeyAlias)
	before := h.keyPolicyText(legacy, arn)
	d := diagnosed(h, h.acts.ensureKey, ensureKeyIn(tg), F2)
	for _, want := range []string{tg.ServiceLinkedRoleARN(), "kms:CreateGrant", "kms:GrantIsForAWSResource", arn, `"Effect"`} {
		if !strings.Contains(d.Fix, want) {
			t.Errorf("fix lacks %s:\n%s", want, d.Fix)
		}
	}
	if !strings.Contains(d.Cause, legacy) || !strings.Contains(d.Cause, region) {
		t.Errorf("cause does not name account and region: %s", d.Cause)
	}
	if after := h.keyPolicyText(legacy, arn); after != before {
		t.Errorf("an adopted key's policy was edited")
	}
}

func TestEnsureKeyAdoptedKeyWithACustomSuffixRoleIsF3(t *testing.T) {
	h := newHarness(t)
	tg := target(legacy)
	tg.KeyAlias = "alias/adopted"
	tg.ServiceLinkedRoleSuffix = "CMK"
	d := diagnosed(h, h.acts.ensureKey, ensureKeyIn(tg), F3)
	if !strings.Contains(d.Fix, "AWSServiceRoleForAutoScaling_CMK") {
		t.Errorf("fix does not name the suffix role:\n%s", d.Fix)
	}
}

func TestEnsureKeyAdoptedKeyWithManageKeyPolicyIsFixed(t *testing.T) {
	h := newHarness(t)
	tg := target(legacy)
	tg.KeyAlias = "alias/adopted-manage"
	tg.ManageKeyPolicy = true
	res := must[EnsureKeyResult](h, h.acts.ensureKey, ensureKeyIn(tg))
	if res.Managed || !res.PolicyChanged {
		t.Fatalf("got %+v, want an adopted key whose policy amicrypt changed", res)
	}
	if text := h.keyPolicyText(legacy, res.KeyARN); !strings.Contains(text, "Enable IAM User Permissions") || !strings.Contains(text, tg.ServiceLinkedRoleARN()) {
		t.Errorf("merged policy:\n%s", text)
	}
}

func TestEnsureKeyAdoptedKeyWithGrantServiceLinkedRoleGetsAGrant(t *testing.T) {
	h := newHarness(t)
	tg := target(legacy)
	tg.KeyAlias = "alias/adopted-grant"
	tg.GrantServiceLinkedRole = true
	arn := h.keyARN(legacy, tg.KeyAlias)
	before := h.keyPolicyText(legacy, arn)
	res := must[EnsureKeyResult](h, h.acts.ensureKey, ensureKeyIn(tg))
	if res.GrantID == "" || res.PolicyChanged {
		t.Fatalf("got %+v, want a grant and the policy untouched", res)
	}
	grants, err := h.rootKMS(legacy).ListGrants(h.ctx, &kms.ListGrantsInput{KeyId: aws.String(arn)})
	if err != nil || len(grants.Grants) != 1 || aws.ToString(grants.Grants[0].GranteePrincipal) != tg.ServiceLinkedRoleARN() {
		t.Fatalf("grants: %+v, %v", grants, err)
	}
	if after := h.keyPolicyText(legacy, arn); after != before {
		t.Errorf("the key policy was edited")
	}
	again := must[EnsureKeyResult](h, h.acts.ensureKey, ensureKeyIn(tg))
	if again.GrantID != res.GrantID {
		t.Errorf("second call made grant %s, want the same %s", again.GrantID, res.GrantID)
	}
}

func TestEnsureKeyRefusesUnusableKeysWithF5(t *testing.T) {
	h := newHarness(t)
	for alias, want := range map[string]string{"alias/disabled": "disabled", "alias/asymmetric": "RSA_2048"} {
		tg := target(legacy)
		tg.KeyAlias = alias
		tg.ManageKeyPolicy = true
		d := diagnosed(h, h.acts.ensureKey, ensureKeyIn(tg), F5)
		if !strings.Contains(d.Cause, want) {
			t.Errorf("%s: cause lacks %q: %s", alias, want, d)
		}
	}
}

func TestEnsureKeyOfAnotherAccount(t *testing.T) {
	h := newHarness(t)
	t.Run("without permission is F6 with the create-grant call", func(t *testing.T) {
		tg := target(payments)
		tg.KeyARN = h.keyARN(keyOwner, "alias/shared-closed")
		d := diagnosed(h, h.acts.ensureKey, ensureKeyIn(tg), F6)
		want := "aws kms create-grant --key-id " + tg.KeyARN + " --grantee-principal " + tg.ServiceLinkedRoleARN() +
			" --operations Encrypt Decrypt ReEncryptFrom ReEncryptTo GenerateDataKey GenerateDataKeyWithoutPlaintext DescribeKey CreateGrant --region us-east-1"
		if !strings.Contains(d.Fix, want) {
			t.Errorf("fix lacks\n%s\n%s", want, d.Fix)
		}
		if !strings.Contains(d.Fix, "arn:aws:iam::222222222222:root") {
			t.Errorf("fix lacks the key policy statement naming the target account:\n%s", d.Fix)
		}
	})
	t.Run("with permission the role gets a grant", func(t *testing.T) {
		tg := target(payments)
		tg.KeyARN = h.keyARN(keyOwner, "alias/shared-open")
		res := must[EnsureKeyResult](h, h.acts.ensureKey, ensureKeyIn(tg))
		if res.KeyARN != tg.KeyARN || res.GrantID == "" || res.Created {
			t.Fatalf("got %+v", res)
		}
		grants, err := h.rootKMS(keyOwner).ListGrants(h.ctx, &kms.ListGrantsInput{KeyId: aws.String(tg.KeyARN)})
		if err != nil || len(grants.Grants) != 1 || aws.ToString(grants.Grants[0].GranteePrincipal) != tg.ServiceLinkedRoleARN() {
			t.Fatalf("grants: %+v, %v", grants, err)
		}
	})
}
