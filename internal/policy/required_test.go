package policy

import (
	"slices"
	"strings"
	"testing"
)

func sids(stmts []Statement) []string {
	var out []string
	for i, s := range stmts {
		out = append(out, s.Label(i))
	}
	return out
}

func TestRequiredKeyPolicyLetsTheLaunchHappen(t *testing.T) {
	cmk := ServiceLinkedRoleARN("aws", asgAccount, "CMK")
	if cmk != slrCMK {
		t.Fatalf("ServiceLinkedRoleARN(CMK) = %s, want %s", cmk, slrCMK)
	}
	p := RequiredParams{Account: asgAccount, Region: region, ServiceLinkedRoleARNs: []string{slrDefault, cmk}, PipelineRoleARN: operatorRole}
	d := RequiredKeyPolicy(p)
	wantSids := []string{SidRootAdministration, SidEC2ViaService, SidServiceLinkedRoleUse, SidServiceLinkedRoleGrants, SidPipelineRoleUse, SidPipelineRoleGrants}
	if got := sids(d.Statements); !slices.Equal(got, wantSids) {
		t.Fatalf("Sids = %q, want %q", got, wantSids)
	}
	for _, s := range wantSids {
		if !strings.HasPrefix(s, SidPrefix) {
			t.Errorf("Sid %q lacks the %q prefix", s, SidPrefix)
		}
	}
	via := ViaEC2Context(region, asgAccount)
	grantCtx := func(forAWS string) map[string][]string {
		return withContext(via, "kms:GrantIsForAWSResource", forAWS)
	}
	cases := []struct {
		name    string
		req     Request
		allowed bool
	}{
		{"the account root administers the key", Request{Principal: Principal{ARN: "arn:aws:iam::111122223333:root"}, Action: "kms:PutKeyPolicy"}, true},
		{"the default role decrypts via EC2", Request{Principal: slr(slrDefault), Action: "kms:Decrypt", Context: via}, true},
		{"the suffix role re-encrypts", Request{Principal: slr(cmk), Action: "kms:ReEncryptTo"}, true},
		{"the suffix role creates a grant for an AWS resource", Request{Principal: slr(cmk), Action: "kms:CreateGrant", Context: map[string][]string{"kms:GrantIsForAWSResource": {"true"}}}, true},
		{"the suffix role creates no grant for a person", Request{Principal: slr(cmk), Action: "kms:CreateGrant", Context: map[string][]string{"kms:GrantIsForAWSResource": {"false"}}}, false},
		{"any principal of the account through EC2", Request{Principal: developer, Action: "kms:CreateGrant", Context: grantCtx("true")}, true},
		{"any principal of the account, directly", Request{Principal: developer, Action: "kms:Decrypt"}, false},
		{"a principal of another account through EC2", Request{Principal: Principal{ARN: "arn:aws:iam::444455556666:root"}, Action: "kms:Decrypt", Context: ViaEC2Context(region, keyOwner)}, false},
		{"the pipeline role describes the key", Request{Principal: Principal{ARN: "arn:aws:sts::111122223333:assumed-role/Operator/amicrypt"}, Action: "kms:DescribeKey"}, true},
		{"the pipeline role cannot change the policy", Request{Principal: Principal{ARN: "arn:aws:sts::111122223333:assumed-role/Operator/amicrypt"}, Action: "kms:PutKeyPolicy"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Resource = keyARN
			if got := EvaluateKMS(d, asgAccount, nil, tc.req); got.Allowed != tc.allowed {
				t.Errorf("Allowed = %v, want %v: %s", got.Allowed, tc.allowed, got.Reason)
			}
		})
	}
	if d := RequiredKeyPolicy(RequiredParams{Account: asgAccount, Region: region}); slices.Contains(sids(d.Statements), SidPipelineRoleUse) {
		t.Error("pipeline statements without a pipeline role")
	}
	if d := RequiredKeyPolicy(RequiredParams{Account: asgAccount, Region: region}); d.Statements[2].Principal.AWS[0] != slrDefault {
		t.Errorf("default service-linked role = %s, want %s", d.Statements[2].Principal.AWS[0], slrDefault)
	}
}

func TestMergeRequired(t *testing.T) {
	p := RequiredParams{Account: asgAccount, Region: region}
	required := RequiredKeyPolicy(p)
	const ownerSid = "Allow access for Key Administrators"
	owner := `{"Sid": "Allow access for Key Administrators", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/KeyAdmin"}, "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*"], "Resource": "*"}`
	existing := mustPolicy(t, defaultRootStatement(asgAccount), owner)
	before, _ := existing.Marshal()

	merged, report := MergeRequired(existing, required)
	if !report.Changed {
		t.Fatal("merging into the default policy changed nothing")
	}
	wantOrder := []string{"Enable IAM User Permissions", ownerSid, SidEC2ViaService, SidServiceLinkedRoleUse, SidServiceLinkedRoleGrants}
	if got := sids(merged.Statements); !slices.Equal(got, wantOrder) {
		t.Errorf("merged Sids = %q, want %q", got, wantOrder)
	}
	if got := report.AlreadySatisfied[SidRootAdministration]; got != "Enable IAM User Permissions" {
		t.Errorf("root administration satisfied by %q, want the owner's default statement", got)
	}
	if !slices.Equal(report.Added, []string{SidEC2ViaService, SidServiceLinkedRoleUse, SidServiceLinkedRoleGrants}) {
		t.Errorf("Added = %q", report.Added)
	}
	if !slices.Equal(report.Kept, []string{"Enable IAM User Permissions", ownerSid}) {
		t.Errorf("Kept = %q", report.Kept)
	}
	if after, _ := existing.Marshal(); string(after) != string(before) {
		t.Error("MergeRequired modified the existing policy")
	}
	if len(MissingStatements(merged, p)) != 0 {
		t.Errorf("merged policy still misses %q", sids(MissingStatements(merged, p)))
	}

	t.Run("merging twice changes nothing", func(t *testing.T) {
		again, r2 := MergeRequired(merged, required)
		if r2.Changed || len(r2.Added) > 0 || len(r2.Corrected) > 0 {
			t.Errorf("second merge: %+v", r2)
		}
		a, _ := merged.Marshal()
		b, _ := again.Marshal()
		if string(a) != string(b) {
			t.Errorf("second merge rewrote the policy:\n%s\n---\n%s", a, b)
		}
	})

	t.Run("a drifted amicrypt statement is corrected in place", func(t *testing.T) {
		drifted := merged.Clone()
		drifted.Statements[2].Condition[0].Values = []string{"ec2.eu-west-1.amazonaws.com"}
		drifted.Statements = append(drifted.Statements, drifted.Statements[3].Clone()) // a second copy of a required Sid
		fixed, r := MergeRequired(drifted, required)
		if !r.Changed || !slices.Equal(r.Corrected, []string{SidEC2ViaService, SidServiceLinkedRoleUse}) {
			t.Errorf("report %+v", r)
		}
		if got := sids(fixed.Statements); !slices.Equal(got, wantOrder) {
			t.Errorf("Sids after correction = %q, want %q", got, wantOrder)
		}
		if v := fixed.Statements[2].Condition[0].Values[0]; v != "ec2.us-west-2.amazonaws.com" {
			t.Errorf("ViaService still %s", v)
		}
	})

	t.Run("the same statement in another form is not drift", func(t *testing.T) {
		out, _ := merged.Marshal()
		reformatted := strings.Replace(string(out), `"kms:Encrypt"`, `"KMS:ENCRYPT"`, 1)
		_, r := MergeRequired(mustParse(t, reformatted), required)
		if r.Changed {
			t.Errorf("letter case of an action counted as drift: %+v", r)
		}
	})

	t.Run("no existing policy", func(t *testing.T) {
		out, r := MergeRequired(nil, required)
		if !r.Changed || len(r.Added) != len(required.Statements) || out.Version != Version2012 {
			t.Errorf("report %+v, version %q", r, out.Version)
		}
	})

	t.Run("owner statements keep their formatting", func(t *testing.T) {
		out, err := merged.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), `"Action": [
        "kms:Create*",`) {
			t.Errorf("owner's action list rewritten:\n%s", out)
		}
	})
}

func TestMissingStatements(t *testing.T) {
	p := RequiredParams{Account: asgAccount, Region: region}
	t.Run("compliant policy", func(t *testing.T) {
		if got := MissingStatements(RequiredKeyPolicy(p), p); len(got) != 0 {
			t.Errorf("missing %q", sids(got))
		}
	})
	t.Run("default policy (F2)", func(t *testing.T) {
		got := MissingStatements(mustPolicy(t, defaultRootStatement(asgAccount)), p)
		if want := []string{SidEC2ViaService, SidServiceLinkedRoleUse, SidServiceLinkedRoleGrants}; !slices.Equal(sids(got), want) {
			t.Fatalf("missing %q, want %q", sids(got), want)
		}
		if got[1].Principal.AWS[0] != slrDefault {
			t.Errorf("use statement names %q", got[1].Principal.AWS)
		}
		if c := got[2].Condition; len(c) != 1 || c[0].Key != "kms:GrantIsForAWSResource" {
			t.Errorf("grant statement conditions %v", c)
		}
		if _, err := (&Document{Version: Version2012, Statements: got}).Marshal(); err != nil {
			t.Errorf("missing statements cannot be printed: %v", err)
		}
	})
	t.Run("a wildcard statement with CallerAccount and ViaService covers the role", func(t *testing.T) {
		if got := MissingStatements(mustPolicy(t, defaultRootStatement(asgAccount), seed004EBS), p); len(got) != 0 {
			t.Errorf("missing %q", sids(got))
		}
	})
	t.Run("the policy names the default role, the group uses the suffix role (F3)", func(t *testing.T) {
		cmk := RequiredParams{Account: asgAccount, Region: region, ServiceLinkedRoleARNs: []string{slrDefault, slrCMK}}
		existing := mustPolicy(t, defaultRootStatement(asgAccount), seed004AutoScaling,
			strings.Replace(seed003Case1Attach, "AWSServiceRoleForAutoScaling_CMK", "AWSServiceRoleForAutoScaling", 1))
		got := MissingStatements(existing, cmk)
		var use *Statement
		for i := range got {
			if got[i].Sid == SidServiceLinkedRoleUse {
				use = &got[i]
			}
		}
		if use == nil || !slices.Equal(use.Principal.AWS, []string{slrCMK}) {
			t.Fatalf("missing %q; the use statement should name only %s", sids(got), slrCMK)
		}
	})
	t.Run("seed 003 case 1 statements cover their role", func(t *testing.T) {
		cmk := RequiredParams{Account: asgAccount, Region: region, ServiceLinkedRoleARNs: []string{slrCMK}}
		got := MissingStatements(mustPolicy(t, defaultRootStatement(asgAccount), seed003Case1Use, seed003Case1Attach), cmk)
		if slices.Contains(sids(got), SidServiceLinkedRoleUse) || slices.Contains(sids(got), SidServiceLinkedRoleGrants) {
			t.Errorf("missing %q", sids(got))
		}
	})
	t.Run("statements naming the key by ARN count when the key is known", func(t *testing.T) {
		byARN := strings.Replace(seed004EBS, `"Resource": "*"`, `"Resource": "`+keyARN+`"`, 1)
		withKey := p
		withKey.KeyARN = keyARN
		if got := MissingStatements(mustPolicy(t, defaultRootStatement(asgAccount), byARN), withKey); len(got) != 0 {
			t.Errorf("missing %q", sids(got))
		}
	})
}
