package world

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// parseErrors parses src as world.yaml and returns its error lines.
func parseErrors(t *testing.T, src string) []string {
	t.Helper()
	w, err := Parse([]byte(src), "world.yaml")
	if err == nil {
		t.Fatalf("Parse succeeded, want errors; world: %+v", w)
	}
	if w != nil {
		t.Errorf("Parse returned a world together with an error")
	}
	return strings.Split(err.Error(), "\n")
}

// expectErrors checks that every want is the start of one error line, and,
// with exact, that there are no other errors.
func expectErrors(t *testing.T, src string, exact bool, want ...string) {
	t.Helper()
	got := parseErrors(t, src)
	for _, w := range want {
		found := false
		for _, g := range got {
			if strings.HasPrefix(g, w) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no error starting with\n\t%s\ngot:\n\t%s", w, strings.Join(got, "\n\t"))
		}
	}
	if exact && len(got) != len(want) {
		t.Errorf("%d errors, want %d:\n\t%s", len(got), len(want), strings.Join(got, "\n\t"))
	}
}

func TestRegionErrors(t *testing.T) {
	expectErrors(t, `regions: [us-east-1, us-east-1, useast1]
accounts: [{id: "111111111111"}]
`, true,
		`world.yaml:1:22: regions[1]: region us-east-1 is listed twice`,
		`world.yaml:1:33: regions[2]: "useast1" is not a region name (like us-east-1 or us-gov-west-1)`,
	)
	expectErrors(t, `accounts: [{id: "111111111111"}]
`, true,
		`world.yaml:1:1: regions: required: list the regions the sandbox serves`,
	)
}

func TestAccountErrors(t *testing.T) {
	expectErrors(t, `regions: [us-east-1]
accounts:
  - id: "111111111111"
  - id: "22222222222"
  - id: 33333333333
  - id: "111111111111"
    name: dup
  - id: "444444444444"
    name: dup
  - name: no-id
`, true,
		`world.yaml:4:9: accounts[1].id: "22222222222" is not a 12-digit AWS account id`,
		`world.yaml:5:9: accounts[2].id: "33333333333" is not a 12-digit AWS account id; write account ids as quoted strings, e.g. "012345678901" (an unquoted number loses leading zeros)`,
		`world.yaml:6:9: accounts[3].id: account 111111111111 is declared twice (first at accounts[0].id, line 3)`,
		`world.yaml:9:11: accounts[4].name: account name "dup" is used twice (first at accounts[3].name, line 7)`,
		`world.yaml:10:5: accounts[5].id: required: the 12-digit account id, quoted`,
	)
	// The brief's example exactly: a quoted id gets no quoting hint.
	got := parseErrors(t, "regions: [us-east-1]\naccounts:\n  - id: \"111111111111\"\n  - id: \"22222222222\"\n")
	if len(got) != 1 || got[0] != `world.yaml:4:9: accounts[1].id: "22222222222" is not a 12-digit AWS account id` {
		t.Errorf("got %q", got)
	}
}

func TestImageErrors(t *testing.T) {
	expectErrors(t, `regions: [us-east-1, eu-west-1]
accounts:
  - id: "111111111111"
    images:
      - id: ami-0123456789abcdef0
        region: us-east-1
        name: base
      - id: ami-0123456789abcdef0
        region: ap-south-1
        name: base2
      - id: ami-XYZ
        region: us-east-1
        name: b33
        launch_permissions: ["999999999999", "111111111111"]
        architecture: sparc
        volume_size: 0
        state: gone
        tags: {"aws:cloudformation:stack-name": x}
      - region: us-east-1
        name: base
`, true,
		`world.yaml:8:13: accounts[0].images[1].id: image id ami-0123456789abcdef0 is used twice (first at accounts[0].images[0].id, line 5)`,
		`world.yaml:9:17: accounts[0].images[1].region: region "ap-south-1" is not in regions (us-east-1, eu-west-1); add it there or use one of them`,
		`world.yaml:11:13: accounts[0].images[2].id: "ami-XYZ" is not an AMI id (ami- and 8-17 lowercase hex digits)`,
		`world.yaml:14:30: accounts[0].images[2].launch_permissions[0]: account 999999999999 is not declared in this world (declare it under accounts:, or remove it here)`,
		`world.yaml:14:46: accounts[0].images[2].launch_permissions[1]: 111111111111 owns the image; an owner needs no launch permission`,
		`world.yaml:15:23: accounts[0].images[2].architecture: "sparc" is not an architecture; use x86_64, arm64, i386, x86_64_mac, arm64_mac`,
		`world.yaml:16:22: accounts[0].images[2].volume_size: 0 GiB is out of range: use 1 to 16384`,
		`world.yaml:17:16: accounts[0].images[2].state: "gone" is not an image state; use available, pending, failed`,
		`world.yaml:18:16: accounts[0].images[2].tags["aws:cloudformation:stack-name"]: tag key "aws:cloudformation:stack-name": the aws: prefix is reserved for AWS`,
		`world.yaml:19:9: accounts[0].images[3].id: required: the AMI id`,
		`world.yaml:20:15: accounts[0].images[3].name: account 111111111111 already has an image named base in us-east-1 (at accounts[0].images[0].name, line 7); AMI names are unique per account and region`,
	)
}

func TestEncryptionErrors(t *testing.T) {
	expectErrors(t, `regions: [us-east-1, eu-west-1]
accounts:
  - id: "111111111111"
  - id: "222222222222"
  - id: "333333333333"
    keys:
      - alias: alias/amicrypt
        region: us-east-1
    images:
      - id: ami-0123456789abcdef0
        region: eu-west-1
        name: base
        encrypted: alias/amicrypt
      - id: ami-0123456789abcdef1
        region: us-east-1
        name: base
        encrypted: true
      - id: ami-0123456789abcdef2
        region: us-east-1
        name: shared
        encrypted: aws-managed
        launch_permissions: ["111111111111"]
      - id: ami-0123456789abcdef3
        region: us-east-1
        name: public
        encrypted: alias/amicrypt
        public: true
      - id: ami-0123456789abcdef4
        region: us-east-1
        name: odd
        encrypted: customer
`, true,
		`world.yaml:13:20: accounts[2].images[0].encrypted: key alias/amicrypt is not declared for account 333333333333 in eu-west-1 (declare it under keys:, or use false / aws-managed)`,
		`world.yaml:17:20: accounts[2].images[1].encrypted: true does not say which key; use false (not encrypted), aws-managed (the AWS managed key aws/ebs) or alias/<name> (a key this account declares in the image's region)`,
		`world.yaml:22:30: accounts[2].images[2].launch_permissions[0]: an image encrypted with the AWS managed key cannot be shared`,
		`world.yaml:27:17: accounts[2].images[3].public: an encrypted image cannot be public`,
		`world.yaml:31:20: accounts[2].images[4].encrypted: "customer" is not an encryption; use false (not encrypted), aws-managed`,
	)
}

func TestKeyErrors(t *testing.T) {
	expectErrors(t, `regions: [us-east-1, eu-west-1]
accounts:
  - id: "111111111111"
    ebs_encryption_by_default: true
    ebs_default_kms_key: alias/ebs
    keys:
      - alias: alias/ebs
        region: us-east-1
      - alias: alias/ebs
        region: us-east-1
      - alias: amicrypt
        region: us-east-1
      - alias: alias/aws/ebs
        region: us-east-1
      - alias: alias/signing
        regions: [us-east-1, eu-north-1]
        spec: RSA_1024
        state: Deleted
      - alias: alias/mac
        region: us-east-1
        spec: HMAC_256
        usage: ENCRYPT_DECRYPT
        rotation: true
        id: not-a-uuid
        grants:
          - operations: [Decrypt, Fly]
          - grantee: someone
            operations: []
`, true,
		`world.yaml:5:26: accounts[0].ebs_default_kms_key: key alias/ebs is not declared for account 111111111111 in eu-west-1 (the EBS default key must exist in every region of the world: declare it under keys: with regions: [us-east-1, eu-west-1])`,
		`world.yaml:9:16: accounts[0].keys[1].alias: alias/ebs is declared twice for account 111111111111 in us-east-1 (first at accounts[0].keys[0].alias, line 7)`,
		`world.yaml:11:16: accounts[0].keys[2].alias: "amicrypt" must start with alias/ (e.g. alias/amicrypt)`,
		`world.yaml:13:16: accounts[0].keys[3].alias: alias/aws/ebs: alias/aws/ is reserved for AWS managed keys`,
		`world.yaml:16:30: accounts[0].keys[4].regions[1]: region "eu-north-1" is not in regions (us-east-1, eu-west-1); add it there or use one of them`,
		`world.yaml:17:15: accounts[0].keys[4].spec: "RSA_1024" is not a KMS key spec; use one of SYMMETRIC_DEFAULT, RSA_2048`,
		`world.yaml:18:16: accounts[0].keys[4].state: "Deleted" is not a key state; use Enabled, Disabled, PendingDeletion`,
		`world.yaml:22:16: accounts[0].keys[5].usage: "ENCRYPT_DECRYPT" is not a usage of a HMAC_256 key; use GENERATE_VERIFY_MAC`,
		`world.yaml:23:19: accounts[0].keys[5].rotation: automatic rotation is only for SYMMETRIC_DEFAULT keys, not HMAC_256`,
		`world.yaml:24:13: accounts[0].keys[5].id: "not-a-uuid" is not a key id`,
		`world.yaml:26:13: accounts[0].keys[5].grants[0].grantee: required: the ARN of the principal the grant is for`,
		`world.yaml:26:35: accounts[0].keys[5].grants[0].operations[1]: "Fly" is not a grant operation; use Decrypt, Encrypt`,
		`world.yaml:27:22: accounts[0].keys[5].grants[1].grantee: "someone" is not an IAM principal ARN`,
		`world.yaml:28:25: accounts[0].keys[5].grants[1].operations: required: the operations the grant allows`,
	)
}

func TestKeyRegionForms(t *testing.T) {
	expectErrors(t, `regions: [us-east-1]
accounts:
  - id: "111111111111"
    keys:
      - alias: alias/a
        region: us-east-1
        regions: [us-east-1]
      - alias: alias/b
        regions: []
      - alias: alias/c
`, true,
		`world.yaml:7:9: accounts[0].keys[0].regions: give either region or regions, not both`,
		`world.yaml:9:18: accounts[0].keys[1].regions: list at least one region`,
		`world.yaml:10:9: accounts[0].keys[2].region: required: one of the world's regions (us-east-1)`,
	)
}

func TestIAMErrors(t *testing.T) {
	expectErrors(t, `regions: [us-east-1]
accounts:
  - id: "111111111111"
    service_linked_roles:
      - AWSServiceRoleForAutoScaling
      - AWSServiceRoleForAutoScaling_ci
      - AWSServiceRoleForEC2Spot
      - AWSServiceRoleForAutoScaling
    roles:
      - name: "has space"
        trust: {Version: "2012-10-17", Statement: []}
      - name: AWSServiceRoleForAutoScaling
        trust: {Version: "2012-10-17", Statement: []}
      - name: no-trust
        path: amicrypt
      - name: NO-TRUST
        trust: {Version: "2012-10-17", Statement: []}
        policies:
          - name: "bad name"
            document: {Version: "2012-10-17", Statement: []}
    users:
      - path: /
`, true,
		`world.yaml:7:9: accounts[0].service_linked_roles[2]: "AWSServiceRoleForEC2Spot" is not an Auto Scaling service-linked role name: use AWSServiceRoleForAutoScaling or AWSServiceRoleForAutoScaling_<suffix>`,
		`world.yaml:8:9: accounts[0].service_linked_roles[3]: service-linked role AWSServiceRoleForAutoScaling is listed twice`,
		`world.yaml:10:15: accounts[0].roles[0].name: "has space" is not a valid IAM role name (1-64 of A-Z a-z 0-9 + = , . @ _ -)`,
		`world.yaml:12:15: accounts[0].roles[1].name: AWSServiceRoleForAutoScaling is a service-linked role; list it under service_linked_roles instead`,
		`world.yaml:14:9: accounts[0].roles[2].trust: required: the role's trust policy`,
		`world.yaml:15:15: accounts[0].roles[2].path: "amicrypt" is not an IAM path: it must begin and end with /`,
		`world.yaml:16:15: accounts[0].roles[3].name: role NO-TRUST is declared twice (first at accounts[0].roles[2].name, line 14)`,
		`world.yaml:19:19: accounts[0].roles[3].policies[0].name: "bad name" is not a valid policy name`,
		`world.yaml:22:9: accounts[0].users[0].name: required: the user name`,
	)
}

func TestParameterErrors(t *testing.T) {
	expectErrors(t, `regions: [us-east-1]
accounts:
  - id: "111111111111"
    parameters:
      - {region: us-east-1, name: /amicrypt/base, value: ami-12345678}
      - {region: us-east-1, name: /amicrypt/base, value: ami-12345679, type: Int}
      - {name: /aws/service/x, value: ""}
`, true,
		`world.yaml:6:35: accounts[0].parameters[1].name: parameter /amicrypt/base is declared twice in us-east-1 (first at accounts[0].parameters[0].name, line 5)`,
		`world.yaml:6:78: accounts[0].parameters[1].type: "Int" is not a parameter type; use String, StringList, SecureString`,
		`world.yaml:7:9: accounts[0].parameters[2].region: required: one of the world's regions (us-east-1)`,
		`world.yaml:7:16: accounts[0].parameters[2].name: "/aws/service/x": names beginning with aws or ssm are reserved`,
		`world.yaml:7:39: accounts[0].parameters[2].value: required: SSM parameters cannot be empty`,
	)
}

func TestNumberErrors(t *testing.T) {
	expectErrors(t, `regions: [us-east-1]
accounts: [{id: "111111111111"}]
timing:
  copy_seconds: -1
  boot_seconds: fast
faults:
  throttle: on
  error_rate: 1.5
  latency_ms: -3
  services: {ec3: {latency_ms: 1}}
  actions: {CopyImage: {error_rate: -0.1}, copy-image: {}}
  copy_failures: {ami-1: ""}
limits:
  concurrent_copies: 0
  buckets: {describe: {burst: 0, rate: 1}, list: {burst: 1, rate: 1}}
`, true,
		`world.yaml:4:17: timing.copy_seconds: -1 is not a duration: give a number of seconds, 0 or more`,
		`world.yaml:5:17: timing.boot_seconds: expected a number, got "fast"`,
		`world.yaml:7:13: faults.throttle: expected true or false, got "on"`,
		`world.yaml:8:15: faults.error_rate: 1.5 is not a probability: use a number from 0 to 1`,
		`world.yaml:9:15: faults.latency_ms: -3 is negative: use 0 or more milliseconds`,
		`world.yaml:10:14: faults.services.ec3: "ec3" is not a service of the sandbox; use ec2, kms, iam, sts, autoscaling, ssm`,
		`world.yaml:11:37: faults.actions.CopyImage.error_rate: -0.1 is not a probability: use a number from 0 to 1`,
		`world.yaml:11:44: faults.actions.copy-image: "copy-image" is not an action name`,
		`world.yaml:12:19: faults.copy_failures.ami-1: "ami-1" is not an AMI id`,
		`world.yaml:12:26: faults.copy_failures.ami-1: give the state reason the failed copy reports`,
		`world.yaml:14:22: limits.concurrent_copies: 0: use 1 or more`,
		`world.yaml:15:31: limits.buckets.describe.burst: 0: give the bucket size, 1 or more (AWS: 100)`,
		`world.yaml:15:44: limits.buckets.list: "list" is not a request-rate class; use CopyImage, CreateTags`,
	)
}

func TestUnknownKeysListAllowedKeys(t *testing.T) {
	got := parseErrors(t, `regions: [us-east-1]
accounts:
  - id: "111111111111"
    images:
      - id: ami-12345678
        region: us-east-1
        name: base
        encryption: false
`)
	want := `world.yaml:8:9: accounts[0].images[0].encryption: unknown key "encryption" (did you mean encrypted?); allowed keys: id, region, name, description, encrypted, public, launch_permissions, architecture, root_device_name, root_device_type, volume_size, snapshot_id, tags, state`
	if len(got) != 1 || got[0] != want {
		t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), want)
	}

	expectErrors(t, `regoins: [us-east-1]
accounts: [{id: "111111111111", keys: [{alias: alias/a, region: us-east-1, grants: [{grantee: "arn:aws:iam::111111111111:root", operations: [Decrypt], token: x}]}]}]
`, true,
		`world.yaml:1:1: regions: required`,
		`world.yaml:1:1: regoins: unknown key "regoins" (did you mean regions?); allowed keys: regions, organization_id, organization_management_account, organization, accounts, timing, faults, limits (and x-<anything> for anchors)`,
		`world.yaml:2:152: accounts[0].keys[0].grants[0].token: unknown key "token"; allowed keys: id, name, grantee, operations, retiring_principal`,
	)
	// A key entry also accepts regions.
	expectErrors(t, `regions: [us-east-1]
accounts: [{id: "111111111111", keys: [{alias: alias/a, region: us-east-1, rgn: x}]}]
`, true,
		`world.yaml:2:76: accounts[0].keys[0].rgn: unknown key "rgn"; allowed keys: alias, id, region, description, spec, usage, state, rotation, policy, tags, grants, regions`,
	)
}

func TestAllErrorsTogetherSortedByLine(t *testing.T) {
	src := `regions: [us-east-1]
timing:
  copy_seconds: -5
accounts:
  - id: "1"
    bogus: 1
  - id: "111111111111"
    images: [{id: ami-1, region: us-east-1, name: x}]
`
	_, err := Parse([]byte(src), "world.yaml")
	got := strings.Split(err.Error(), "\n")
	want := []string{
		`world.yaml:3:17: timing.copy_seconds: -5 is not a duration: give a number of seconds, 0 or more`,
		`world.yaml:5:9: accounts[0].id: "1" is not a 12-digit AWS account id`,
		`world.yaml:6:5: accounts[0].bogus: unknown key "bogus"; allowed keys: id, name, organization, status, ebs_encryption_by_default, ebs_default_kms_key, service_linked_roles, roles, users, images, keys, parameters, default_vpc, autoscaling_group_limit`,
		`world.yaml:8:19: accounts[1].images[0].id: "ami-1" is not an AMI id (ami- and 8-17 lowercase hex digits)`,
		`world.yaml:8:51: accounts[1].images[0].name: "x" is not a valid AMI name (3-128 of A-Z a-z 0-9 ( ) [ ] space . / - ' @ _)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
	var first *Error
	if !errors.As(err, &first) || first.Line != 3 || first.Column != 17 || first.Path != "timing.copy_seconds" || first.File != "world.yaml" {
		t.Errorf("errors.As = %+v", first)
	}
}

func TestYAMLErrors(t *testing.T) {
	expectErrors(t, "regions: [us-east-1\naccounts: []\n", true, "world.yaml:2:1: ")
	expectErrors(t, "regions: [us-east-1]\naccounts:\n  - *nope\n", true,
		"world.yaml:3:5: alias *nope refers to no anchor defined before it (define &nope first)")
	expectErrors(t, "", true, "world.yaml: the world file is empty")
	expectErrors(t, "# nothing\n", true, "world.yaml: the world file is empty")
	expectErrors(t, "regions: [us-east-1]\naccounts: [{id: \"111111111111\"}]\n---\nregions: []\n", true,
		"world.yaml:3:1: a world file holds one YAML document")
	expectErrors(t, "regions: [us-east-1]\nregions: [eu-west-1]\naccounts: [{id: \"111111111111\"}]\n", true, "world.yaml:2:1: ")
	expectErrors(t, "regions: !Ref Regions\naccounts: [{id: \"111111111111\"}]\n", false, "world.yaml:1:10: unsupported tag !Ref")
	expectErrors(t, `regions: [us-east-1]
accounts:
  - id: "111111111111"
    public: yes
    images: {id: ami-12345678}
`, true,
		`world.yaml:4:5: accounts[0].public: unknown key "public"`,
		`world.yaml:5:13: accounts[0].images: expected a list, got a mapping`,
	)
}

// goccy/go-yaml v1.19 reads [kms:Decrypt] inside {...} as [{kms: Decrypt}]:
// such input must be refused, not turned into a wrong policy.
func TestColonInsideFlowIsRefused(t *testing.T) {
	expectErrors(t, `regions: [us-east-1]
accounts:
  - id: "111111111111"
    roles:
      - name: r
        trust: {Statement: [{Effect: Allow, Action: [sts:AssumeRole]}]}
        policies:
          - Statement:
              - Condition: {StringEquals: {kms:ViaService: ec2.us-east-1.amazonaws.com}}
`, true,
		`world.yaml:6:54: quote "sts:AssumeRole": inside [...] or {...} a value or key containing ':' must be quoted`,
		`world.yaml:9:44: quote "kms:ViaService:`,
	)
}

func TestPolicyErrors(t *testing.T) {
	old := PolicyValidator
	defer func() { PolicyValidator = old }()
	PolicyValidator = func(doc []byte) error {
		if !bytes.Contains(doc, []byte(`"Statement"`)) {
			return errors.New("policy has no Statement")
		}
		return nil
	}
	expectErrors(t, `regions: [us-east-1]
accounts:
  - id: "111111111111"
    roles:
      - name: a
        trust: '["not", "an", "object"]'
      - name: b
        trust: '{"Version": "2012-10-17"'
      - name: c
        trust: {Version: "2012-10-17"}
      - name: d
        trust: '{"Statement": [], "Statement": []}'
    keys:
      - alias: alias/k
        region: us-east-1
        policy: 42
      - alias: alias/j
        region: us-east-1
        policy:
          Version: "2012-10-17"
`, true,
		`world.yaml:6:16: accounts[0].roles[0].trust: a policy document must be a JSON object`,
		`world.yaml:8:16: accounts[0].roles[1].trust: invalid JSON at line 1, column 25 of the string: unexpected end of JSON`,
		`world.yaml:10:16: accounts[0].roles[2].trust: policy has no Statement`,
		`world.yaml:12:16: accounts[0].roles[3].trust: invalid JSON at line 1, column 30 of the string: key "Statement" is given twice in one object`,
		`world.yaml:16:17: accounts[0].keys[0].policy: expected a policy document: a mapping, or a string holding a JSON object; got "42"`,
		`world.yaml:20:11: accounts[0].keys[1].policy: policy has no Statement`,
	)
}

func TestFaultRateErrors(t *testing.T) {
	expectErrors(t, `regions: [us-east-1]
accounts: [{id: "111111111111"}]
faults:
  lost_response_rate: 1.01
  throttle_rate: -0.5
  services: {kms: {throttle_rate: 2}}
  actions: {CreateKey: {lost_response_rate: -1}, "ec2:CopyImage": {throttle_rate: often}}
`, true,
		`world.yaml:4:23: faults.lost_response_rate: 1.01 is not a probability: use a number from 0 to 1`,
		`world.yaml:5:18: faults.throttle_rate: -0.5 is not a probability: use a number from 0 to 1`,
		`world.yaml:6:35: faults.services.kms.throttle_rate: 2 is not a probability: use a number from 0 to 1`,
		`world.yaml:7:45: faults.actions.CreateKey.lost_response_rate: -1 is not a probability: use a number from 0 to 1`,
		`world.yaml:7:83: faults.actions["ec2:CopyImage"].throttle_rate: expected a number, got "often"`,
	)
}

func TestValidateWithoutPositions(t *testing.T) {
	w := Default()
	if err := w.Validate(); err != nil {
		t.Fatal(err)
	}
	w.Accounts[1].ID = "1"
	w.Accounts[2].Images = append(w.Accounts[2].Images, Image{ID: "ami-12345678", Region: "us-east-1", Name: "xyz", Encrypted: EncryptionSpec{Mode: EncryptionKey, KeyAlias: "alias/none"}})
	w.Faults.ErrorRate = 2
	err := w.Validate()
	want := strings.Join([]string{
		`accounts[1].id: "1" is not a 12-digit AWS account id`,
		`accounts[2].images[0].encrypted: key alias/none is not declared for account 222222222222 in us-east-1 (declare it under keys:, or use false / aws-managed)`,
		`faults.error_rate: 2 is not a probability: use a number from 0 to 1`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("Validate() =\n%v\nwant\n%s", err, want)
	}
	if err := (&World{Regions: []string{"us-east-1"}, Accounts: []Account{{ID: "111111111111"}}}).Validate(); err != nil {
		t.Errorf("a minimal World built in Go: %v", err)
	}
}

func TestInlinePolicyErrors(t *testing.T) {
	expectErrors(t, `regions: [us-east-1]
accounts:
  - id: "111111111111"
    users:
      - name: u
        policies:
          ok: {Version: "2012-10-17", Statement: []}
          "bad name": {Version: "2012-10-17", Statement: []}
          empty:
      - name: v
        policies:
          - '[]'
          - {Version: "2012-10-17", Statement: []}
          - name: inline-2
            document: {Version: "2012-10-17", Statement: []}
`, true,
		`world.yaml:8:23: accounts[0].users[0].policies["bad name"]: "bad name" is not a valid policy name`,
		`world.yaml:9:11: accounts[0].users[0].policies.empty: required: the policy document`,
		`world.yaml:12:13: accounts[0].users[1].policies[0]: a policy document must be a JSON object`,
		`world.yaml:14:19: accounts[0].users[1].policies[2].name: policy name inline-2 is used twice (first at accounts[0].users[1].policies[1], line 13)`,
	)
}

func TestAliasBombIsRefused(t *testing.T) {
	src := "regions: [us-east-1]\nx-0: &l0 [a, a, a, a, a, a, a, a, a, a]\n"
	for i := 1; i <= 9; i++ {
		prev := "*l" + string(rune('0'+i-1))
		src += "x-" + string(rune('0'+i)) + ": &l" + string(rune('0'+i)) + " [" + strings.Repeat(prev+", ", 9) + prev + "]\n"
	}
	src += "accounts:\n  - id: \"111111111111\"\n    roles: [{name: r, trust: {Statement: *l9}}]\n"
	expectErrors(t, src, true, "world.yaml:7:10: this value expands to more than 1000000 values through aliases")
}

// An account's organization is none, the world's or another's id; the
// management account is an account of the world in the world's organization.
func TestOrganizationMembershipErrors(t *testing.T) {
	expectErrors(t, `regions: [us-east-1]
organization_id: o-abcdefghij
organization_management_account: "222222222222"
accounts:
  - {id: "111111111111", organization: O-BAD}
  - {id: "222222222222", organization: none}
`, true,
		`world.yaml:5:40: accounts[0].organization: "O-BAD" is neither "none" nor an AWS Organizations id`,
		`world.yaml:3:34: organization_management_account: account 222222222222 is not in organization o-abcdefghij`,
	)
	expectErrors(t, `regions: [us-east-1]
organization_management_account: "333333333333"
accounts: [{id: "111111111111"}]
`, true, `world.yaml:2:34: organization_management_account: there is no organization to manage`)
	expectErrors(t, `regions: [us-east-1]
organization_id: o-abcdefghij
organization_management_account: "333333333333"
accounts: [{id: "111111111111"}]
`, true, `world.yaml:3:34: organization_management_account: "333333333333" is not an account of this world`)

	w, err := Parse([]byte(`regions: [us-east-1]
organization_id: o-abcdefghij
accounts:
  - {id: "111111111111", organization: none}
  - {id: "222222222222"}
  - {id: "333333333333", organization: o-otherorg00}
  - {id: "444444444444", organization: o-otherorg00}
`), "world.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"", "o-abcdefghij", "o-otherorg00", "o-otherorg00"} {
		if got := w.OrganizationOf(&w.Accounts[i]); got != want {
			t.Errorf("account %d: organization %q, want %q", i, got, want)
		}
	}
	if m := w.ManagementAccountOf("o-abcdefghij"); m != "222222222222" {
		t.Errorf("management of the world's organization %q, want its first member", m)
	}
	if m := w.ManagementAccountOf("o-otherorg00"); m != "333333333333" {
		t.Errorf("management of another organization %q, want its first member", m)
	}
}

// The organization: block: the richer form of organization_id, with OUs and
// delegated administrators; its ids, names and accounts are checked where
// they are written.
func TestOrganizationTreeErrors(t *testing.T) {
	expectErrors(t, `regions: [us-east-1]
organization_id: o-abcdefghij
organization_management_account: "111111111111"
organization:
  id: o-zzzzzzzzzz
  management_account: "222222222222"
  delegated_administrators: ["111111111111", "999999999999", "555555555555", "333333333333", "333333333333"]
  units:
    - id: ou-abcd-11111111
      name: prod
      accounts: ["333333333333", "444444444444", "777777777777"]
      units:
        - {name: payments, accounts: ["444444444444", "555555555555"]}
        - {id: ou-wxyz-22222222, name: payments}
        - {id: OU-1, name: ""}
    - {id: ou-abcd-11111111, name: dev}
    - {name: "tab\there"}
accounts:
  - id: "111111111111"
  - id: "222222222222"
  - {id: "333333333333", status: SUSPENDED}
  - {id: "444444444444", status: closed}
  - {id: "555555555555", organization: none}
  - {id: "666666666666", organization: none, status: ACTIVE}
`, true,
		`world.yaml:5:7: organization.id: o-zzzzzzzzzz is not organization_id o-abcdefghij (at organization_id, line 2): both name the world's organization; give its id once`,
		`world.yaml:6:23: organization.management_account: 222222222222 is not organization_management_account 111111111111 (at organization_management_account, line 3): both name the management account; give it once`,
		`world.yaml:7:30: organization.delegated_administrators[0]: 111111111111 is the management account, which Organizations does not register as a delegated administrator`,
		`world.yaml:7:46: organization.delegated_administrators[1]: "999999999999" is not an account of this world`,
		`world.yaml:7:62: organization.delegated_administrators[2]: account 555555555555 is not in organization o-abcdefghij (its organization: none); a delegated administrator is a member account of the organization`,
		`world.yaml:7:94: organization.delegated_administrators[4]: account 333333333333 is listed twice (first at organization.delegated_administrators[3], line 7)`,
		`world.yaml:11:50: organization.units[0].accounts[2]: "777777777777" is not an account of this world`,
		`world.yaml:13:39: organization.units[0].units[0].accounts[0]: account 444444444444 is already in an OU (at organization.units[0].accounts[1], line 11); an account is in one OU at most`,
		`world.yaml:13:55: organization.units[0].units[0].accounts[1]: account 555555555555 is not in organization o-abcdefghij (its organization: none); an OU holds member accounts only`,
		`world.yaml:14:16: organization.units[0].units[1].id: ou-wxyz-22222222 is not under the organization's root r-abcd (organization.units[0].id, line 9): an OU id begins ou-abcd-`,
		`world.yaml:14:40: organization.units[0].units[1].name: an OU named "payments" is already in this parent (at organization.units[0].units[0].name, line 13)`,
		`world.yaml:15:16: organization.units[0].units[2].id: "OU-1" is not an OU id`,
		`world.yaml:15:28: organization.units[0].units[2].name: required: the OU's name`,
		`world.yaml:16:12: organization.units[1].id: OU id ou-abcd-11111111 is used twice (first at organization.units[0].id, line 9)`,
		`world.yaml:17:14: organization.units[2].name: "tab\there" is not an OU name (1-128 ASCII characters)`,
		`world.yaml:22:34: accounts[3].status: "closed" is not an account status in an organization; use ACTIVE, SUSPENDED, PENDING_CLOSURE`,
		`world.yaml:24:54: accounts[5].status: account 666666666666 is in no organization; status is an account's status in its organization`,
	)

	// An id is required in one form or the other; root_id is checked; OUs
	// nest five levels deep at most; the management account of the block is
	// a member.
	expectErrors(t, `regions: [us-east-1]
organization:
  management_account: "222222222222"
  root_id: R-1
  units:
    - name: a
      units: [{name: b, units: [{name: c, units: [{name: d, units: [{name: e, units: [{name: f}]}]}]}]}]
accounts:
  - id: "111111111111"
  - {id: "222222222222", organization: o-otherorg00}
`, true,
		`world.yaml:3:3: organization.id: required: the organization's id`,
	)
	expectErrors(t, `regions: [us-east-1]
organization:
  id: o-abcdefghij
  management_account: "222222222222"
  root_id: R-1
  units:
    - name: a
      units: [{name: b, units: [{name: c, units: [{name: d, units: [{name: e, units: [{name: f}]}]}]}]}]
accounts:
  - id: "111111111111"
  - {id: "222222222222", organization: o-otherorg00}
`, true,
		`world.yaml:4:23: organization.management_account: account 222222222222 is not in organization o-abcdefghij (its organization: o-otherorg00); the management account is a member of the organization it manages`,
		`world.yaml:5:12: organization.root_id: "R-1" is not a root id`,
		`world.yaml:8:87: organization.units[0].units[0].units[0].units[0].units[0].units[0]: OUs nest at most 5 levels under the root (Organizations quota); this one is at level 6`,
	)
}

// The brief's form: organization: alone gives the world's organization; ids
// left out are derived, stable, and under the root that the ids written name;
// organization_id and the management account key agree with the block.
func TestOrganizationTree(t *testing.T) {
	src := `regions: [us-east-1]
organization:
  id: o-abcdefghij
  management_account: "111111111111"
  delegated_administrators: ["222222222222"]
  units:
    - name: prod
      accounts: ["333333333333", "444444444444"]
      units:
        - {name: payments, accounts: ["555555555555"]}
    - {id: ou-abcd-11111111, name: dev}
accounts:
  - id: "111111111111"
  - id: "222222222222"
  - {id: "333333333333", status: SUSPENDED}
  - id: "444444444444"
  - id: "555555555555"
  - {id: "666666666666", organization: none}
`
	w := mustParse(t, src)
	if w.OrganizationID != "o-abcdefghij" || w.OrganizationManagementAccount != "111111111111" || w.ManagementAccountOf("o-abcdefghij") != "111111111111" {
		t.Errorf("organization %q managed by %q", w.OrganizationID, w.OrganizationManagementAccount)
	}
	if got := w.OrganizationOf(w.Account("555555555555")); got != "o-abcdefghij" {
		t.Errorf("a member's organization %q", got)
	}
	o := w.Organization
	prod, payments := o.Units[0], o.Units[0].Units[0]
	if o.RootID != "r-abcd" || !strings.HasPrefix(prod.ID, "ou-abcd-") || len(prod.ID) != len("ou-abcd-")+8 ||
		!strings.HasPrefix(payments.ID, "ou-abcd-") || prod.ID == payments.ID || o.Units[1].ID != "ou-abcd-11111111" {
		t.Errorf("root %s, units %s %s %s", o.RootID, prod.ID, payments.ID, o.Units[1].ID)
	}
	again := mustParse(t, src)
	if again.Organization.Units[0].Units[0].ID != payments.ID {
		t.Errorf("derived ids change between parses: %s, %s", payments.ID, again.Organization.Units[0].Units[0].ID)
	}

	// The short form and the block together, equal: the same world.
	both := mustParse(t, "organization_id: o-abcdefghij\n"+src)
	if both.Organization.Units[0].ID != prod.ID {
		t.Errorf("organization_id with an equal organization.id: %s", both.Organization.Units[0].ID)
	}
	// Without any unit id written, the root is derived from the organization.
	short := mustParse(t, `regions: [us-east-1]
organization_id: o-abcdefghij
organization: {units: [{name: prod}]}
accounts: [{id: "111111111111"}]
`)
	if r := short.Organization.RootID; r != DefaultRootID("o-abcdefghij") || !strings.HasPrefix(short.Organization.Units[0].ID, "ou-"+r[2:]+"-") {
		t.Errorf("root %s, unit %s", r, short.Organization.Units[0].ID)
	}
}
