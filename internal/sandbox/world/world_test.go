package world

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func mustParse(t *testing.T, src string) *World {
	t.Helper()
	w, err := Parse([]byte(src), "world.yaml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return w
}

// policyOf decodes a canonical policy for assertions.
type testPolicy struct {
	Statement []struct {
		Sid       string
		Effect    string
		Principal map[string]any
		Action    any
		Resource  any
		Condition map[string]map[string]any
	}
}

func decodePolicyJSON(t *testing.T, doc []byte) testPolicy {
	t.Helper()
	var p testPolicy
	if err := json.Unmarshal(doc, &p); err != nil {
		t.Fatalf("policy %s: %v", doc, err)
	}
	return p
}

func TestDefaultWorld(t *testing.T) {
	w := Default()

	if !reflect.DeepEqual(w.Regions, []string{"us-east-1", "eu-west-1"}) {
		t.Errorf("regions = %v", w.Regions)
	}
	if got := len(w.Accounts); got != 5 {
		t.Fatalf("%d accounts, want 5", got)
	}
	if w.Timing.Copy() != 3*time.Second || w.Timing.Boot() != 2*time.Second {
		t.Errorf("timing = %+v, want copy 3s, boot 2s", w.Timing)
	}
	if !w.Faults.Throttle || w.Faults.ErrorRate != 0 {
		t.Errorf("faults = %+v, want throttle on, no errors", w.Faults)
	}

	amazon := w.AccountByName("amazon")
	if amazon == nil || amazon.ID != "137112412989" {
		t.Fatalf("amazon account = %+v", amazon)
	}
	for _, region := range w.Regions {
		found := false
		for _, img := range amazon.Images {
			if img.Region == region && img.Public && !img.Encrypted.IsEncrypted() && strings.HasPrefix(img.Name, "al2023-ami-") {
				found = true
			}
		}
		if !found {
			t.Errorf("amazon has no public unencrypted base image in %s", region)
		}
	}

	builder := w.Account("111111111111")
	if builder == nil || builder.Name != "builder" || builder.EBSEncryptionByDefault {
		t.Fatalf("builder = %+v", builder)
	}
	for region, id := range map[string]string{"us-east-1": "ami-0b0000000000a0001", "eu-west-1": "ami-0b0000000000e0001"} {
		owner, img := w.Image(id)
		if owner != builder || img.Region != region || img.Name != "base-2026-11" || img.Encrypted.Mode != EncryptionNone || img.Public {
			t.Errorf("builder image %s = %+v", id, img)
		}
	}
	pipeline := builder.Role("amicrypt-pipeline")
	if pipeline == nil {
		t.Fatal("builder has no amicrypt-pipeline role")
	}
	trust := decodePolicyJSON(t, pipeline.Trust)
	if got := trust.Statement[0].Principal["AWS"]; got != "arn:aws:iam::111111111111:root" {
		t.Errorf("pipeline trust principal = %v", got)
	}
	if len(pipeline.Policies) != 1 || !bytes.Contains(pipeline.Policies[0].Document, []byte(`"Resource":"arn:aws:iam::*:role/amicrypt-target"`)) ||
		!bytes.Contains(pipeline.Policies[0].Document, []byte(`"ec2:ModifySnapshotAttribute"`)) {
		t.Errorf("pipeline policies = %s", pipeline.Policies)
	}

	for _, id := range []string{"222222222222", "333333333333", "444444444444"} {
		a := w.Account(id)
		r := a.Role("amicrypt-target")
		if r == nil || r.Path != "/" {
			t.Fatalf("%s: amicrypt-target role = %+v", id, r)
		}
		st := decodePolicyJSON(t, r.Trust).Statement[0]
		if st.Principal["AWS"] != "arn:aws:iam::111111111111:role/amicrypt-pipeline" || st.Condition["StringEquals"]["sts:ExternalId"] != "amicrypt" {
			t.Errorf("%s: target trust = %s", id, r.Trust)
		}
		doc := string(r.Policies[0].Document)
		for _, action := range []string{"ec2:*", "kms:*", "autoscaling:*", "iam:GetRole", "iam:CreateServiceLinkedRole", "ssm:PutParameter", "ssm:GetParameter"} {
			if !strings.Contains(doc, `"`+action+`"`) {
				t.Errorf("%s: target identity policy lacks %s: %s", id, action, doc)
			}
		}
	}

	payments := w.AccountByName("payments-prod")
	if payments.ID != "222222222222" || !payments.HasServiceLinkedRole("AWSServiceRoleForAutoScaling") || len(payments.Keys) != 0 {
		t.Errorf("payments-prod = %+v", payments)
	}

	analytics := w.AccountByName("analytics-dev")
	if analytics.ID != "333333333333" || len(analytics.ServiceLinkedRoles) != 0 || len(analytics.Keys) != 2 {
		t.Fatalf("analytics-dev = %+v", analytics)
	}
	for _, region := range w.Regions {
		k := analytics.Key(region, "alias/amicrypt")
		if k == nil {
			t.Fatalf("analytics-dev has no alias/amicrypt in %s", region)
		}
		if k.Spec != "SYMMETRIC_DEFAULT" || k.Usage != "ENCRYPT_DECRYPT" || k.State != "Enabled" || !keyIDRe.MatchString(k.ID) {
			t.Errorf("analytics key in %s = %+v", region, k)
		}
		p := decodePolicyJSON(t, k.Policy)
		if len(p.Statement) != 2 || p.Statement[0].Principal["AWS"] != "arn:aws:iam::333333333333:root" || p.Statement[0].Action != "kms:*" {
			t.Fatalf("analytics key policy in %s = %s", region, k.Policy)
		}
		ec2 := p.Statement[1]
		cond := ec2.Condition["StringEquals"]
		if ec2.Principal["AWS"] != "*" || cond["kms:CallerAccount"] != "333333333333" || cond["kms:ViaService"] != "ec2."+region+".amazonaws.com" {
			t.Errorf("analytics EC2 statement in %s = %+v", region, ec2)
		}
		if got := strings.Join(toStrings(ec2.Action), ","); got != "kms:Encrypt,kms:Decrypt,kms:ReEncrypt*,kms:GenerateDataKey*,kms:CreateGrant,kms:DescribeKey" {
			t.Errorf("analytics EC2 actions in %s = %s", region, got)
		}
		// Statement keys stay in file order, merged ones where << was.
		if !bytes.Contains(k.Policy, []byte(`{"Sid":"Allow access through EBS for all principals in the account that are authorized to use EBS","Effect":"Allow","Principal":{"AWS":"*"},"Action":[`)) ||
			!bytes.HasSuffix(k.Policy, []byte(`"Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"333333333333","kms:ViaService":"ec2.`+region+`.amazonaws.com"}}}]}`)) {
			t.Errorf("analytics key policy order in %s: %s", region, k.Policy)
		}
	}

	legacy := w.AccountByName("legacy-batch")
	if legacy.ID != "444444444444" || !legacy.HasServiceLinkedRole("AWSServiceRoleForAutoScaling") || len(legacy.Keys) != 1 {
		t.Fatalf("legacy-batch = %+v", legacy)
	}
	k := legacy.Key("us-east-1", "alias/amicrypt")
	if k == nil || legacy.Key("eu-west-1", "alias/amicrypt") != nil {
		t.Fatalf("legacy-batch keys = %+v", legacy.Keys)
	}
	p := decodePolicyJSON(t, k.Policy)
	if len(p.Statement) != 2 || p.Statement[1].Principal["AWS"] != "arn:aws:iam::444444444444:role/batch-admin" {
		t.Errorf("legacy key policy = %s", k.Policy)
	}
	if bytes.Contains(k.Policy, []byte("AutoScaling")) || bytes.Contains(k.Policy, []byte("ViaService")) {
		t.Errorf("legacy key policy must leave the service-linked role out (F2): %s", k.Policy)
	}
	if !bytes.Contains(DefaultYAML(), []byte("F2")) {
		t.Error("default.yaml does not say legacy-batch fails with F2")
	}
}

func toStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, len(v))
		for i, s := range v {
			out[i], _ = s.(string)
		}
		return out
	}
	return nil
}

func TestDefaultIsStableAndIndependent(t *testing.T) {
	a, b := Default(), Default()
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two Default() calls differ: generated ids are not deterministic")
	}
	a.Accounts[0].Name = "changed"
	if Default().Accounts[0].Name == "changed" {
		t.Fatal("Default() shares state between calls")
	}
	y := DefaultYAML()
	y[0] = 'X'
	if DefaultYAML()[0] == 'X' {
		t.Fatal("DefaultYAML() returns the embedded slice itself")
	}
	if err := Default().Validate(); err != nil {
		t.Fatalf("Validate on the default world: %v", err)
	}
}

func TestAnchorsAliasesAndMergeKeys(t *testing.T) {
	w := mustParse(t, `
regions: [us-east-1, eu-west-1]
x-trust: &trust '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:AssumeRole"}]}'
x-key: &key
  alias: alias/amicrypt
  regions: [us-east-1, eu-west-1]
  rotation: true
accounts:
  - &target
    id: "222222222222"
    name: t1
    service_linked_roles: [AWSServiceRoleForAutoScaling]
    roles:
      - name: amicrypt-target
        trust: *trust
    keys: [*key]
  - <<: *target
    id: "333333333333"
    name: t2
  - <<: *target
    id: "444444444444"
    name: t3
    service_linked_roles: []
    keys:
      - <<: *key
        regions: [eu-west-1]
        state: Disabled
`)
	if len(w.Accounts) != 3 {
		t.Fatalf("%d accounts", len(w.Accounts))
	}
	for i, want := range []struct {
		id, name string
		slr      int
		keys     []string
	}{
		{"222222222222", "t1", 1, []string{"us-east-1/Enabled", "eu-west-1/Enabled"}},
		{"333333333333", "t2", 1, []string{"us-east-1/Enabled", "eu-west-1/Enabled"}},
		{"444444444444", "t3", 0, []string{"eu-west-1/Disabled"}},
	} {
		a := w.Accounts[i]
		if a.ID != want.id || a.Name != want.name || len(a.ServiceLinkedRoles) != want.slr {
			t.Errorf("account %d = %s %s %v", i, a.ID, a.Name, a.ServiceLinkedRoles)
		}
		var keys []string
		for _, k := range a.Keys {
			keys = append(keys, k.Region+"/"+k.State)
			if !k.Rotation || k.Alias != "alias/amicrypt" {
				t.Errorf("account %s key = %+v", a.ID, k)
			}
		}
		if !reflect.DeepEqual(keys, want.keys) {
			t.Errorf("account %s keys = %v, want %v", a.ID, keys, want.keys)
		}
		if r := a.Role("amicrypt-target"); r == nil || !bytes.Contains(r.Trust, []byte("sts:AssumeRole")) {
			t.Errorf("account %s role = %+v", a.ID, r)
		}
	}
	// Each account's keys are its own, with their own derived ids.
	if w.Accounts[0].Keys[0].ID == w.Accounts[1].Keys[0].ID {
		t.Error("two accounts' keys share a derived id")
	}
	w.Accounts[0].Keys[0].Tags = map[string]string{"a": "b"}
	w.Accounts[0].Keys[0].Policy = append(w.Accounts[0].Keys[0].Policy, 'x')
	if w.Accounts[1].Keys[0].Tags != nil {
		t.Error("accounts built from one anchor share a map")
	}
}

func TestMergeKeyListAndOverride(t *testing.T) {
	w := mustParse(t, `
regions: [us-east-1]
x-a: &a {id: "111111111111", name: from-a, ebs_encryption_by_default: true}
x-b: &b {name: from-b, service_linked_roles: [AWSServiceRoleForAutoScaling_ci]}
accounts:
  - <<: [*a, *b]
  - <<: [*b, *a]
    id: "222222222222"
`)
	a, b := w.Accounts[0], w.Accounts[1]
	if a.ID != "111111111111" || a.Name != "from-a" || !a.EBSEncryptionByDefault || !a.HasServiceLinkedRole("AWSServiceRoleForAutoScaling_ci") {
		t.Errorf("first = %+v", a)
	}
	if b.ID != "222222222222" || b.Name != "from-b" || !b.EBSEncryptionByDefault {
		t.Errorf("second = %+v", b)
	}
}

func TestPolicyFormsGiveTheSameCanonicalJSON(t *testing.T) {
	w := mustParse(t, `
regions: [us-east-1]
accounts:
  - id: "111111111111"
    roles:
      - name: mapping
        trust:
          Version: "2012-10-17"
          Statement:
            - Sid: Second
              Effect: Allow
              Principal: {AWS: "arn:aws:iam::111111111111:root"}
              Action: [sts:AssumeRole, sts:TagSession]
              Condition:
                StringEquals:
                  sts:ExternalId: x<y&z
                Bool: {"aws:SecureTransport": true}
                NumericLessThan: {'aws:MultiFactorAuthAge': 3600}
      - name: json-block
        trust: |
          {
            "Version": "2012-10-17",
            "Statement": [
              {
                "Sid": "Second",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
                "Condition": {
                  "StringEquals": {"sts:ExternalId": "x<y&z"},
                  "Bool": {"aws:SecureTransport": true},
                  "NumericLessThan": {"aws:MultiFactorAuthAge": 3600}
                }
              }
            ]
          }
      - name: json-line
        trust: '{"Version":"2012-10-17","Statement":[{"Sid":"Second","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringEquals":{"sts:ExternalId":"x<y&z"},"Bool":{"aws:SecureTransport":true},"NumericLessThan":{"aws:MultiFactorAuthAge":3600}}}]}'
`)
	want := `{"Version":"2012-10-17","Statement":[{"Sid":"Second","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringEquals":{"sts:ExternalId":"x<y&z"},"Bool":{"aws:SecureTransport":true},"NumericLessThan":{"aws:MultiFactorAuthAge":3600}}}]}`
	for _, r := range w.Accounts[0].Roles {
		if string(r.Trust) != want {
			t.Errorf("%s trust =\n%s\nwant\n%s", r.Name, r.Trust, want)
		}
	}
}

func TestInlinePolicyForms(t *testing.T) {
	w := mustParse(t, `
regions: [us-east-1]
accounts:
  - id: "111111111111"
    roles:
      - name: by-map
        trust: {Version: "2012-10-17", Statement: []}
        policies:
          zeta: {Version: "2012-10-17", Statement: []}
          alpha: '{"Version": "2012-10-17", "Statement": []}'
      - name: by-list
        path: /amicrypt/
        trust: {Version: "2012-10-17", Statement: []}
        policies:
          - {Version: "2012-10-17", Statement: []}
          - name: named
            document: '{"Version":"2012-10-17","Statement":[]}'
    users:
      - name: ci
        policies: [{Version: "2012-10-17", Statement: []}]
`)
	doc := `{"Version":"2012-10-17","Statement":[]}`
	check := func(who string, got []NamedPolicy, names ...string) {
		t.Helper()
		if len(got) != len(names) {
			t.Fatalf("%s: %d policies, want %d", who, len(got), len(names))
		}
		for i, p := range got {
			if p.Name != names[i] || string(p.Document) != doc {
				t.Errorf("%s policy %d = %s %s, want %s %s", who, i, p.Name, p.Document, names[i], doc)
			}
		}
	}
	a := w.Accounts[0]
	check("by-map", a.Roles[0].Policies, "zeta", "alpha")
	check("by-list", a.Roles[1].Policies, "inline-1", "named")
	check("user", a.Users[0].Policies, "inline-1")
	if a.Roles[1].Path != "/amicrypt/" || a.Users[0].Path != "/" {
		t.Errorf("paths = %q %q", a.Roles[1].Path, a.Users[0].Path)
	}
}

func TestDefaultsAndDerivedIDs(t *testing.T) {
	src := `
regions: [us-east-1]
accounts:
  - id: "111111111111"
    images:
      - {id: ami-12345678, region: us-east-1, name: plain}
      - id: ami-12345679
        region: us-east-1
        name: explicit
        encrypted: alias/amicrypt
        snapshot_id: snap-0123456789abcdef0
        architecture: arm64
        root_device_name: /dev/sda1
        volume_size: 30
        state: pending
    keys:
      - alias: alias/amicrypt
        region: us-east-1
        grants:
          - grantee: arn:aws:iam::111111111111:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling
            operations: [Decrypt, kms:CreateGrant]
      - alias: alias/signing
        id: 1234abcd-12ab-34cd-56ef-1234567890ab
        region: us-east-1
        spec: ECC_NIST_P256
    parameters:
      - {region: us-east-1, name: /amicrypt/base, value: ami-12345679}
`
	w := mustParse(t, src)
	a := w.Accounts[0]
	plain, explicit := a.Images[0], a.Images[1]
	if plain.Architecture != "x86_64" || plain.RootDeviceName != "/dev/xvda" || plain.VolumeSize != 8 || plain.State != "available" ||
		plain.Encrypted.Mode != EncryptionNone || !snapshotIDRe.MatchString(plain.SnapshotID) {
		t.Errorf("defaults = %+v", plain)
	}
	if explicit.Architecture != "arm64" || explicit.RootDeviceName != "/dev/sda1" || explicit.VolumeSize != 30 || explicit.State != "pending" ||
		explicit.SnapshotID != "snap-0123456789abcdef0" || explicit.Encrypted != (EncryptionSpec{Mode: EncryptionKey, KeyAlias: "alias/amicrypt"}) {
		t.Errorf("explicit = %+v", explicit)
	}
	k := a.Keys[0]
	if !keyIDRe.MatchString(k.ID) || k.Usage != "ENCRYPT_DECRYPT" || k.State != "Enabled" || !grantIDRe.MatchString(k.Grants[0].ID) {
		t.Errorf("key = %+v", k)
	}
	if got := k.ARN("111111111111"); got != "arn:aws:kms:us-east-1:111111111111:key/"+k.ID {
		t.Errorf("ARN = %s", got)
	}
	if got := string(k.EffectivePolicy("111111111111")); got != string(DefaultKeyPolicy("111111111111", "aws")) {
		t.Errorf("EffectivePolicy = %s", got)
	}
	if !json.Valid(DefaultKeyPolicy("111111111111", "")) {
		t.Error("DefaultKeyPolicy is not JSON")
	}
	if s := a.Keys[1]; s.ID != "1234abcd-12ab-34cd-56ef-1234567890ab" || s.Usage != "SIGN_VERIFY" {
		t.Errorf("signing key = %+v", s)
	}
	if a.Key("us-east-1", "1234abcd-12ab-34cd-56ef-1234567890ab") != &a.Keys[1] {
		t.Error("Key by id")
	}
	if a.Parameters[0].Type != "String" {
		t.Errorf("parameter = %+v", a.Parameters[0])
	}
	if w.Timing != (Timing{CopySeconds: 20, BootSeconds: 5, CreateImageSeconds: 5, InstanceSeconds: 2}) ||
		!w.Faults.Throttle || w.Limits.ConcurrentCopies != 100 {
		t.Errorf("world defaults = %+v %+v %+v", w.Timing, w.Faults, w.Limits)
	}
	if again := mustParse(t, src); !reflect.DeepEqual(w, again) {
		t.Error("derived ids differ between two parses of one file")
	}
}

func TestTimingFaultsLimits(t *testing.T) {
	w := mustParse(t, `
regions: [us-east-1]
accounts: [{id: "111111111111"}]
timing: {copy_seconds: 0.5, boot_seconds: 0, create_image_seconds: 1e1, instance_seconds: 2}
faults:
  throttle: false
  error_rate: 0.01
  latency_ms: 3
  services: {ec2: {error_rate: 0.1, latency_ms: 5}, kms: {latency_ms: 7}}
  actions: {CopyImage: {error_rate: 0.5}, "ec2:RunInstances": {error_rate: 1}}
  copy_failures: {ami-0b0000000000a0001: "Copy failed"}
limits:
  concurrent_copies: 2
  buckets: {describe: {burst: 10, rate: 2.5}}
`)
	if w.Timing.Copy() != 500*time.Millisecond || w.Timing.Boot() != 0 || w.Timing.CreateImage() != 10*time.Second || w.Timing.Instance() != 2*time.Second {
		t.Errorf("timing = %+v", w.Timing)
	}
	f := w.Faults
	if f.Throttle {
		t.Error("throttle: false ignored")
	}
	for _, c := range []struct {
		service, action string
		rate            float64
		latency         time.Duration
	}{
		{"sts", "AssumeRole", 0.01, 3 * time.Millisecond},
		{"ec2", "DescribeImages", 0.1, 5 * time.Millisecond},
		{"ec2", "CopyImage", 0.5, 5 * time.Millisecond},
		{"ec2", "RunInstances", 1, 5 * time.Millisecond},
		{"kms", "CreateGrant", 0.01, 7 * time.Millisecond},
		{"autoscaling", "RunInstances", 0.01, 3 * time.Millisecond},
	} {
		got := f.For(c.service, c.action)
		if got.ErrorRate != c.rate || got.Latency != c.latency {
			t.Errorf("For(%s, %s) = %+v; want error rate %v, latency %v", c.service, c.action, got, c.rate, c.latency)
		}
	}
	if f.CopyFailures["ami-0b0000000000a0001"] != "Copy failed" {
		t.Errorf("copy failures = %v", f.CopyFailures)
	}
	if b, ok := w.Limits.Bucket(BucketDescribe); !ok || b != (Bucket{Burst: 10, Rate: 2.5}) {
		t.Errorf("describe bucket = %+v", b)
	}
	if b, ok := w.Limits.Bucket(BucketCopyImage); !ok || b != (Bucket{Burst: 100, Rate: 1}) {
		t.Errorf("CopyImage bucket = %+v", b)
	}
	if _, ok := w.Limits.Bucket("nope"); ok {
		t.Error("unknown bucket class found")
	}
	if w.Limits.ConcurrentCopies != 2 {
		t.Errorf("concurrent copies = %d", w.Limits.ConcurrentCopies)
	}
	// lost_response_rate and throttle_rate: global, per service, per action,
	// each inheriting what a narrower rule does not set.
	f = mustParse(t, `
regions: [us-east-1]
accounts: [{id: "111111111111"}]
faults:
  lost_response_rate: 0.01
  throttle_rate: 0.1
  services: {kms: {lost_response_rate: 0.2}, iam: {throttle_rate: 0}}
  actions: {CreateKey: {throttle_rate: 1}, "kms:CreateKey": {latency_ms: 4}, CopyImage: {lost_response_rate: 0.5, throttle_rate: 0}}
`).Faults
	for _, c := range []struct {
		service, action string
		want            CallFaults
	}{
		{"sts", "AssumeRole", CallFaults{LostResponseRate: 0.01, ThrottleRate: 0.1}},
		{"iam", "CreateRole", CallFaults{LostResponseRate: 0.01}},
		{"kms", "ListKeys", CallFaults{LostResponseRate: 0.2, ThrottleRate: 0.1}},
		{"kms", "CreateKey", CallFaults{LostResponseRate: 0.2, ThrottleRate: 1, Latency: 4 * time.Millisecond}},
		{"ec2", "CopyImage", CallFaults{LostResponseRate: 0.5}},
	} {
		if got := f.For(c.service, c.action); got != c.want {
			t.Errorf("For(%s, %s) = %+v, want %+v", c.service, c.action, got, c.want)
		}
	}
}

func TestAccountIDAsNumber(t *testing.T) {
	w := mustParse(t, `
regions: [us-east-1]
accounts:
  - id: 111111111111
  - id: 012345678901
    images:
      - {id: ami-12345678, region: us-east-1, name: base, launch_permissions: [111111111111]}
`)
	if w.Accounts[0].ID != "111111111111" || w.Accounts[1].ID != "012345678901" {
		t.Errorf("ids = %q %q (12-digit numbers are kept as written)", w.Accounts[0].ID, w.Accounts[1].ID)
	}
	if got := w.Accounts[1].Images[0].LaunchPermissions; !reflect.DeepEqual(got, []string{"111111111111"}) {
		t.Errorf("launch permissions = %v", got)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "world.yaml")
	if err := os.WriteFile(good, DefaultYAML(), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := Load(good)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(w, Default()) {
		t.Error("Load(default.yaml copy) differs from Default()")
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("regions: [us-east-1]\naccounts: [{id: \"1\"}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(bad)
	if err == nil || !strings.HasPrefix(err.Error(), bad+":2:") {
		t.Errorf("Load(bad) = %v, want an error naming %s:2", err, bad)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v", err)
	}
}
