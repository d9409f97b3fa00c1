package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/sandbox/world"
	"github.com/amicrypt/amicrypt/internal/yamlconf"
)

var twoSources = map[string]string{"us-east-1": "ami-0b0000000000a0001", "eu-west-1": "ami-0b0000000000e0001"}

func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	c, err := Parse([]byte(src), "amicrypt.yaml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func mustExpand(t *testing.T, c *Config, sources map[string]string) (activities.Builder, []activities.Source, []activities.Target) {
	t.Helper()
	b, src, ts, err := c.Expand(sources)
	if err != nil {
		t.Fatalf("Expand: %v", err)
	}
	return b, src, ts
}

// dur is a pointer to d, as activities.Target holds the retirement delays.
func dur(d time.Duration) *time.Duration { return &d }

const week = 7 * 24 * time.Hour

func ids(ts []activities.Target) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID()
	}
	return out
}

const full = `
builder:
  account: "111111111111"
  role_arn: arn:aws:iam::111111111111:role/amicrypt-pipeline
  external_id: builder-x
defaults:
  regions: [us-east-1, eu-west-1]
  role_name: amicrypt-target
  external_id: amicrypt
  key_alias: alias/amicrypt
  boot_proof: {instance_type: t3.small, timeout: 20m}
  publish: {ssm_parameter: /amicrypt/base/ami-id}
  keep: 5
concurrency: {per_account_region: 10, in_flight: 200}
targets:
  - account: "555555555555"
    name: zeta
    regions: [eu-west-1, us-east-1]
    role_arn: arn:aws:iam::555555555555:role/platform/custom
    role_name: ignored-when-role-arn-is-given
    external_id: ""
    key_alias: alias/zeta
    manage_key_policy: true
    service_linked_role_suffix: CMK
    boot_proof:
      enabled: false
      timeout: 1h30m
      subnet_ids: {us-east-1: [subnet-0123456789abcdef0], eu-west-1: [subnet-0abcdef01]}
    publish: {launch_template: base-template}
    keep: 1
  - account: "222222222222"
    name: payments-prod
    regions: [us-east-1]
    boot_proof: {subnet_ids: [subnet-11111111]}
  - account: "333333333333"
    key_arn: arn:aws:kms:us-east-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab
    regions: [us-east-1]
    grant_service_linked_role: true
  - account: "444444444444"
    key_arn: arn:aws:kms:us-east-1:999999999999:key/mrk-0123456789abcdef0123456789abcdef
  - account: "666666666666"
    key_arn:
      us-east-1: arn:aws:kms:us-east-1:999999999999:key/11111111-1111-4111-8111-111111111111
      eu-west-1: arn:aws:kms:eu-west-1:999999999999:key/22222222-2222-4222-8222-222222222222
`

func TestFullExampleExpands(t *testing.T) {
	c := mustParse(t, full)
	if c.Concurrency != (Concurrency{PerAccountRegion: 10, InFlight: 200}) {
		t.Errorf("concurrency = %+v", c.Concurrency)
	}
	b, src, ts := mustExpand(t, c, twoSources)
	if b != (activities.Builder{Account: "111111111111", RoleARN: "arn:aws:iam::111111111111:role/amicrypt-pipeline", ExternalID: "builder-x"}) {
		t.Errorf("builder = %+v", b)
	}
	if want := []activities.Source{{Region: "eu-west-1", ImageID: "ami-0b0000000000e0001"}, {Region: "us-east-1", ImageID: "ami-0b0000000000a0001"}}; !reflect.DeepEqual(src, want) {
		t.Errorf("sources = %+v", src)
	}
	wantIDs := []string{
		"222222222222/us-east-1",
		"333333333333/us-east-1",
		"444444444444/eu-west-1", "444444444444/us-east-1",
		"555555555555/eu-west-1", "555555555555/us-east-1",
		"666666666666/eu-west-1", "666666666666/us-east-1",
	}
	if got := ids(ts); !reflect.DeepEqual(got, wantIDs) {
		t.Fatalf("targets = %v, want %v", got, wantIDs)
	}
	byID := map[string]activities.Target{}
	for _, tg := range ts {
		byID[tg.ID()] = tg
	}

	// Inherits everything; role ARN from role_name; boot proof merged key by key.
	want := activities.Target{
		Account: "222222222222", Name: "payments-prod", Region: "us-east-1",
		RoleARN: "arn:aws:iam::222222222222:role/amicrypt-target", ExternalID: "amicrypt",
		KeyAlias:  "alias/amicrypt",
		BootProof: activities.BootProof{Enabled: true, InstanceType: "t3.small", SubnetIDs: []string{"subnet-11111111"}, Timeout: 20 * time.Minute},
		Publish:   activities.Publish{SSMParameter: "/amicrypt/base/ami-id"},
		Keep:      5,
		// Set even when they are the defaults.
		RetentionGrace: dur(week), RetireAfter: dur(week),
	}
	if got := byID["222222222222/us-east-1"]; !reflect.DeepEqual(got, want) {
		t.Errorf("payments-prod =\n%+v\nwant\n%+v", got, want)
	}

	// Overrides everything; role_arn wins over role_name; subnets per region.
	for region, subnet := range map[string]string{"us-east-1": "subnet-0123456789abcdef0", "eu-west-1": "subnet-0abcdef01"} {
		want := activities.Target{
			Account: "555555555555", Name: "zeta", Region: region,
			RoleARN: "arn:aws:iam::555555555555:role/platform/custom", ExternalID: "",
			KeyAlias: "alias/zeta", ManageKeyPolicy: true, ServiceLinkedRoleSuffix: "CMK",
			BootProof:      activities.BootProof{Enabled: false, InstanceType: "t3.small", SubnetIDs: []string{subnet}, Timeout: 90 * time.Minute},
			Publish:        activities.Publish{SSMParameter: "/amicrypt/base/ami-id", LaunchTemplate: "base-template"},
			Keep:           1,
			RetentionGrace: dur(week), RetireAfter: dur(week),
		}
		if got := byID["555555555555/"+region]; !reflect.DeepEqual(got, want) {
			t.Errorf("zeta in %s =\n%+v\nwant\n%+v", region, got, want)
		}
	}

	// A key owned by another account.
	k := byID["333333333333/us-east-1"]
	if k.KeyARN != "arn:aws:kms:us-east-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab" || !k.GrantServiceLinkedRole || k.RoleARN != "arn:aws:iam::333333333333:role/amicrypt-target" {
		t.Errorf("key_arn target = %+v", k)
	}
	// A multi-Region key: its replica's ARN in the other region.
	if got := byID["444444444444/eu-west-1"].KeyARN; got != "arn:aws:kms:eu-west-1:999999999999:key/mrk-0123456789abcdef0123456789abcdef" {
		t.Errorf("mrk replica ARN = %s", got)
	}
	if got := byID["444444444444/us-east-1"].KeyARN; got != "arn:aws:kms:us-east-1:999999999999:key/mrk-0123456789abcdef0123456789abcdef" {
		t.Errorf("mrk ARN = %s", got)
	}
	// Per-region keys.
	if got := byID["666666666666/eu-west-1"].KeyARN; got != "arn:aws:kms:eu-west-1:999999999999:key/22222222-2222-4222-8222-222222222222" {
		t.Errorf("per-region key ARN = %s", got)
	}
	// Targets do not share slices.
	byID["555555555555/us-east-1"].BootProof.SubnetIDs[0] = "changed"
	_, _, again := mustExpand(t, c, twoSources)
	for _, tg := range again {
		if tg.ID() == "555555555555/us-east-1" && tg.BootProof.SubnetIDs[0] != "subnet-0123456789abcdef0" {
			t.Error("expanded targets share the config's slices")
		}
	}
}

func TestBuiltInDefaults(t *testing.T) {
	c := mustParse(t, `
builder: {account: "111111111111"}
targets:
  - account: 222222222222
    regions: [us-gov-west-1]
`)
	if c.Concurrency != (Concurrency{PerAccountRegion: 20, InFlight: 1000}) {
		t.Errorf("concurrency = %+v", c.Concurrency)
	}
	b, _, ts := mustExpand(t, c, map[string]string{"us-gov-east-1": "ami-12345678"})
	if b != (activities.Builder{Account: "111111111111"}) {
		t.Errorf("builder = %+v", b)
	}
	want := []activities.Target{{
		Account: "222222222222", Region: "us-gov-west-1",
		RoleARN:   "arn:aws-us-gov:iam::222222222222:role/amicrypt-target",
		KeyAlias:  "alias/amicrypt",
		BootProof: activities.BootProof{Enabled: true, InstanceType: "t3.micro", Timeout: 15 * time.Minute},
		Keep:      3,
		// No family: derived from the source image's name at run time.
		RetentionGrace: dur(week), RetireAfter: dur(week),
	}}
	if !reflect.DeepEqual(ts, want) {
		t.Errorf("targets =\n%+v\nwant\n%+v", ts, want)
	}
}

func TestAnchorsAndMergeKeys(t *testing.T) {
	c := mustParse(t, `
x-prod: &prod
  regions: [us-east-1, eu-west-1]
  boot_proof: {instance_type: m7g.large}
  keep: 7
x-team: &team {external_id: team-secret, key_alias: alias/team}
builder: {account: "111111111111"}
defaults:
  regions: [us-east-1]
targets:
  - <<: *prod
    account: "222222222222"
  - <<: [*team, *prod]
    account: "333333333333"
    keep: 2
  - &plain
    account: "444444444444"
    name: plain
  - <<: [*plain, *team]
    account: "555555555555"
    name: plain-copy
`)
	_, _, ts := mustExpand(t, c, twoSources)
	got := map[string]string{}
	for _, tg := range ts {
		got[tg.ID()] = strings.Join([]string{tg.BootProof.InstanceType, tg.ExternalID, tg.KeyAlias, string(rune('0' + tg.Keep)), tg.Name}, " ")
	}
	want := map[string]string{
		"222222222222/us-east-1": "m7g.large  alias/amicrypt 7 ",
		"222222222222/eu-west-1": "m7g.large  alias/amicrypt 7 ",
		"333333333333/us-east-1": "m7g.large team-secret alias/team 2 ",
		"333333333333/eu-west-1": "m7g.large team-secret alias/team 2 ",
		"444444444444/us-east-1": "t3.micro  alias/amicrypt 3 plain",
		"555555555555/us-east-1": "t3.micro team-secret alias/team 3 plain-copy",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

// expectErrors parses src and checks that every want is the start of one
// error line, and that there are no other errors.
func expectErrors(t *testing.T, src string, want ...string) {
	t.Helper()
	c, err := Parse([]byte(src), "amicrypt.yaml")
	if err == nil {
		t.Fatalf("Parse succeeded, want errors; config: %+v", c)
	}
	if c != nil {
		t.Error("Parse returned a config together with an error")
	}
	matchErrors(t, err, want...)
}

func matchErrors(t *testing.T, err error, want ...string) {
	t.Helper()
	got := strings.Split(err.Error(), "\n")
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
	if len(got) != len(want) {
		t.Errorf("%d errors, want %d:\n\t%s", len(got), len(want), strings.Join(got, "\n\t"))
	}
}

func TestBadInput(t *testing.T) {
	const head = "builder: {account: \"111111111111\"}\ndefaults: {regions: [us-east-1]}\n"
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"unknown key with suggestion", head + "targets:\n  - account: \"222222222222\"\n    regoins: [us-east-1]\n",
			[]string{`amicrypt.yaml:5:5: targets[0].regoins: unknown key "regoins" (did you mean regions?); allowed keys: account, organization, organizational_unit, exclude, name, regions, role_name, role_arn, external_id, key_alias, key_arn, manage_key_policy, grant_service_linked_role, service_linked_role_suffix, boot_proof, publish, family, keep, launch_principals`}},
		{"unknown top-level key", head + "target:\n  - account: \"222222222222\"\n",
			[]string{
				`amicrypt.yaml:1:1: targets: required: list at least one target account`,
				`amicrypt.yaml:3:1: target: unknown key "target" (did you mean targets?); allowed keys: builder, organization, defaults, concurrency, retention, rotation, targets (and x-<anything> for anchors)`,
			}},
		{"unknown nested key", head + "targets: [{account: \"222222222222\", boot_proof: {instance-type: t3.micro}}]\n",
			[]string{`amicrypt.yaml:3:50: targets[0].boot_proof.instance-type: unknown key "instance-type" (did you mean instance_type?); allowed keys: enabled, instance_type, subnet_ids, timeout`}},
		{"short account, quoted", head + "targets:\n  - account: \"22222222222\"\n",
			[]string{`amicrypt.yaml:4:14: targets[0].account: "22222222222" is not a 12-digit AWS account id`}},
		{"short account, unquoted", head + "targets:\n  - account: 22222222222\n",
			[]string{`amicrypt.yaml:4:14: targets[0].account: "22222222222" is not a 12-digit AWS account id; write account ids as quoted strings`}},
		{"builder account missing", "builder: {role_arn: \"arn:aws:iam::111111111111:role/x\"}\ndefaults: {regions: [us-east-1]}\ntargets: [{account: \"222222222222\"}]\n",
			[]string{`amicrypt.yaml:1:10: builder.account: required: the 12-digit id of the account where Packer builds the source images`}},
		{"account listed twice", head + "targets:\n  - account: \"222222222222\"\n  - account: \"333333333333\"\n  - account: \"222222222222\"\n    regions: [eu-west-1]\n",
			[]string{`amicrypt.yaml:6:14: targets[2].account: account 222222222222 is listed twice (first at targets[0].account, line 4): give it one entry listing all its regions`}},
		{"account×region twice", head + "targets:\n  - account: \"222222222222\"\n    regions: [us-east-1, eu-west-1, us-east-1]\n",
			[]string{`amicrypt.yaml:5:37: targets[0].regions[2]: region us-east-1 is listed twice (first at targets[0].regions[0], line 5)`}},
		{"zero targets", head + "targets: []\n",
			[]string{`amicrypt.yaml:3:10: targets: required: list at least one target account`}},
		{"bad region with suggestion", head + "targets:\n  - account: \"222222222222\"\n    regions: [us-est-1, EU-WEST-1, mars-1]\n",
			[]string{
				`amicrypt.yaml:5:15: targets[0].regions[0]: "us-est-1" is not an AWS region name like us-east-1 (did you mean us-east-1?)`,
				`amicrypt.yaml:5:25: targets[0].regions[1]: "EU-WEST-1" is not an AWS region name like us-east-1 (did you mean eu-west-1?)`,
				`amicrypt.yaml:5:36: targets[0].regions[2]: "mars-1" is not an AWS region name like us-east-1`,
			}},
		{"no regions anywhere", "builder: {account: \"111111111111\"}\ntargets: [{account: \"222222222222\"}]\n",
			[]string{`amicrypt.yaml:1:1: defaults.regions: required: no regions are given; list them under defaults:`}},
		{"one target without regions", "builder: {account: \"111111111111\"}\ntargets:\n  - account: \"222222222222\"\n    regions: [us-east-1]\n  - account: \"333333333333\"\n",
			[]string{`amicrypt.yaml:5:5: targets[1].regions: required: this target has no regions and defaults: gives none`}},
		{"regions across partitions", head + "targets:\n  - account: \"222222222222\"\n    regions: [us-east-1, cn-north-1]\n",
			[]string{`amicrypt.yaml:5:14: targets[0].regions: regions in different partitions (aws, aws-cn): an account lives in one partition`}},
		{"key alias without alias/", head + "targets:\n  - account: \"222222222222\"\n    key_alias: amicrypt\n",
			[]string{`amicrypt.yaml:5:16: targets[0].key_alias: "amicrypt" must start with alias/ (e.g. alias/amicrypt)`}},
		{"key alias of AWS", "builder: {account: \"111111111111\"}\ndefaults:\n  regions: [us-east-1]\n  key_alias: alias/aws/ebs\ntargets: [{account: \"222222222222\"}]\n",
			[]string{`amicrypt.yaml:4:14: defaults.key_alias: alias/aws/ebs: alias/aws/ names AWS managed keys, which cannot be shared or given a policy`}},
		{"key arn malformed", head + "targets:\n  - account: \"222222222222\"\n    key_arn: \"arn:aws:kms:us-east-1:999999999999:alias/shared\"\n  - account: \"333333333333\"\n    key_arn: not-an-arn\n",
			[]string{
				`amicrypt.yaml:5:14: targets[0].key_arn: "arn:aws:kms:us-east-1:999999999999:alias/shared" is an alias ARN; key_arn takes the key's ARN`,
				`amicrypt.yaml:7:14: targets[1].key_arn: "not-an-arn" is not a KMS key ARN (arn:aws:kms:<region>:<12-digit account>:key/<key id>)`,
			}},
		{"key arn region not among the target's", head + "targets:\n  - account: \"222222222222\"\n    key_arn: arn:aws:kms:eu-west-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab\n",
			[]string{`amicrypt.yaml:5:14: targets[0].key_arn: the key is in eu-west-1, which is not among the target's regions (us-east-1): a KMS key serves only its own region`}},
		{"single-region key for two regions", head + "targets:\n  - account: \"222222222222\"\n    regions: [us-east-1, eu-west-1]\n    key_arn: arn:aws:kms:us-east-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab\n",
			[]string{`amicrypt.yaml:6:14: targets[0].key_arn: the key is in us-east-1, but the target also copies into eu-west-1, where it cannot be used: give key_arn as a mapping region → key ARN`}},
		{"per-region key map", head + "targets:\n  - account: \"222222222222\"\n    regions: [us-east-1, eu-west-1]\n    key_arn:\n      us-east-1: arn:aws:kms:eu-west-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab\n      ap-south-1: arn:aws:kms:ap-south-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab\n",
			[]string{
				`amicrypt.yaml:6:5: targets[0].key_arn: no key for eu-west-1, a region of the target: add eu-west-1: <key ARN in eu-west-1> here`,
				`amicrypt.yaml:7:18: targets[0].key_arn.us-east-1: this key is in eu-west-1, not in us-east-1`,
				`amicrypt.yaml:8:7: targets[0].key_arn.ap-south-1: ap-south-1 is not among the target's regions (us-east-1, eu-west-1)`,
			}},
		{"role arn malformed", head + "targets:\n  - account: \"222222222222\"\n    role_arn: arn:aws:iam::222222222222:user/bob\n",
			[]string{`amicrypt.yaml:5:15: targets[0].role_arn: "arn:aws:iam::222222222222:user/bob" is not an IAM role ARN like arn:aws:iam::222222222222:role/amicrypt-target`}},
		{"role arn of another account", head + "targets:\n  - account: \"222222222222\"\n    role_name: fine\n    role_arn: arn:aws:iam::333333333333:role/amicrypt-target\n",
			[]string{`amicrypt.yaml:6:15: targets[0].role_arn: the role is in account 333333333333, not in the target's account 222222222222: name a role of 222222222222`}},
		{"role arn in defaults", "builder: {account: \"111111111111\"}\ndefaults:\n  regions: [us-east-1]\n  role_arn: arn:aws:iam::222222222222:role/r\ntargets:\n  - account: \"222222222222\"\n  - account: \"333333333333\"\n    name: other\n",
			[]string{`amicrypt.yaml:4:13: defaults.role_arn: the role is in account 222222222222, not in the target's account 333333333333 (for targets[1] (other, account 333333333333)): name a role of 333333333333`}},
		{"builder role of another account", "builder:\n  account: \"111111111111\"\n  role_arn: arn:aws:iam::999999999999:role/p\ndefaults: {regions: [us-east-1]}\ntargets: [{account: \"222222222222\"}]\n",
			[]string{`amicrypt.yaml:3:13: builder.role_arn: the role is in account 999999999999, not in the builder account 111111111111`}},
		{"external id", head + "targets:\n  - account: \"222222222222\"\n    external_id: \"has space\"\n  - account: \"333333333333\"\n    external_id: \"x\"\n  - account: \"444444444444\"\n    external_id: \"" + strings.Repeat("a", 1225) + "\"\n",
			[]string{
				`amicrypt.yaml:5:18: targets[0].external_id: "has space" is not a valid external id: STS takes 2-1224 characters of A-Z a-z 0-9 + = , . @ : / _ - (got 9 characters)`,
				`amicrypt.yaml:7:18: targets[1].external_id: "x" is not a valid external id`,
				`amicrypt.yaml:9:18: targets[2].external_id: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"... is not a valid external id: STS takes 2-1224 characters of A-Z a-z 0-9 + = , . @ : / _ - (got 1225 characters)`,
			}},
		{"builder external id without role", "builder: {account: \"111111111111\", external_id: abc}\ndefaults: {regions: [us-east-1]}\ntargets: [{account: \"222222222222\"}]\n",
			[]string{`amicrypt.yaml:1:49: builder.external_id: external_id is given when assuming role_arn, and there is none`}},
		{"service-linked role suffix", head + "targets:\n  - account: \"222222222222\"\n    service_linked_role_suffix: \"a b\"\n",
			[]string{`amicrypt.yaml:5:33: targets[0].service_linked_role_suffix: "a b" is not a service-linked role suffix`}},
		{"boot proof timeout", head + "targets:\n  - account: \"222222222222\"\n    boot_proof: {timeout: 30s}\n  - account: \"333333333333\"\n    boot_proof: {timeout: soon}\n  - account: \"444444444444\"\n    boot_proof: {timeout: 15}\n",
			[]string{
				`amicrypt.yaml:5:27: targets[0].boot_proof.timeout: 30s is too short: give the instance at least 1m to reach InService (default 15m)`,
				`amicrypt.yaml:7:27: targets[1].boot_proof.timeout: "soon" is not a duration such as 90s, 15m, 1h30m or 7d`,
				`amicrypt.yaml:9:27: targets[2].boot_proof.timeout: "15" has no unit; write a duration such as 90s, 15m, 1h30m or 7d (e.g. 15m for minutes)`,
			}},
		{"keep negative and concurrency below 1", head + "concurrency: {per_account_region: 0, in_flight: -1}\ntargets:\n  - account: \"222222222222\"\n    keep: -1\n",
			[]string{
				`amicrypt.yaml:3:35: concurrency.per_account_region: 0: use 1 or more (targets of one account and region at once; default 20)`,
				`amicrypt.yaml:3:49: concurrency.in_flight: -1: use 1 or more (targets at once across the run; default 1000)`,
				`amicrypt.yaml:6:11: targets[0].keep: -1 is negative: give how many proven images of the family to keep per account and region (default 3), or 0 to turn retention off`,
			}},
		{"subnets", head + "targets:\n  - account: \"222222222222\"\n    boot_proof: {subnet_ids: [subnet-xyz, subnet-12345678, subnet-12345678]}\n  - account: \"333333333333\"\n    regions: [us-east-1, eu-west-1]\n    boot_proof:\n      subnet_ids: [subnet-12345678]\n",
			[]string{
				`amicrypt.yaml:5:31: targets[0].boot_proof.subnet_ids[0]: "subnet-xyz" is not a subnet id (subnet- and 8-17 lowercase hex digits)`,
				`amicrypt.yaml:5:60: targets[0].boot_proof.subnet_ids[2]: subnet subnet-12345678 is listed twice`,
				`amicrypt.yaml:9:19: targets[1].boot_proof.subnet_ids: a subnet belongs to one region, but this target copies into 2 (us-east-1, eu-west-1): give subnet_ids as a mapping region → list, e.g. {us-east-1: [subnet-12345678]}`,
			}},
		{"duplicate key", head + "defaults:\n  regions: [eu-west-1]\ntargets:\n  - account: \"222222222222\"\n",
			[]string{`amicrypt.yaml:3:1: `}},
		{"publish names", "builder: {account: \"111111111111\"}\ndefaults:\n  regions: [us-east-1]\n  publish: {ssm_parameter: amicrypt/base}\ntargets:\n  - account: \"222222222222\"\n    publish: {ssm_parameter: /aws/x, launch_template: \"a\"}\n",
			[]string{
				`amicrypt.yaml:4:28: defaults.publish.ssm_parameter: "amicrypt/base": a parameter name with a path must begin with /, e.g. /amicrypt/base`,
				`amicrypt.yaml:7:30: targets[0].publish.ssm_parameter: "/aws/x": parameter names beginning with aws or ssm are reserved`,
				`amicrypt.yaml:7:55: targets[0].publish.launch_template: "a" is neither a launch template name`,
			}},
		{"names duplicated", head + "targets:\n  - {account: \"222222222222\", name: prod}\n  - {account: \"333333333333\", name: prod}\n",
			[]string{`amicrypt.yaml:5:37: targets[1].name: name "prod" is used twice (first at targets[0].name, line 4): names tell targets apart in reports`}},
		{"manage and grant", "builder: {account: \"111111111111\"}\ndefaults:\n  regions: [us-east-1]\n  manage_key_policy: true\ntargets:\n  - account: \"222222222222\"\n    grant_service_linked_role: true\n",
			[]string{`amicrypt.yaml:7:32: targets[0].grant_service_linked_role: manage_key_policy and grant_service_linked_role are both true (the other at defaults.manage_key_policy, line 4)`}},
		{"wrong types", head + "targets:\n  - account: \"222222222222\"\n    regions: us-east-1\n    manage_key_policy: yes please\n    keep: three\n",
			[]string{
				`amicrypt.yaml:5:14: targets[0].regions: expected a list, got "us-east-1"`,
				`amicrypt.yaml:6:24: targets[0].manage_key_policy: expected true or false, got "yes please"`,
				`amicrypt.yaml:7:11: targets[0].keep: expected a whole number, got "three"`,
			}},
		{"colon in a flow mapping", head + "targets: [{account: \"222222222222\", key_arn: {us-east-1:arn:aws:kms:us-east-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab}}]\n",
			[]string{`amicrypt.yaml:3:47: quote "us-east-1:arn:aws:kms:us-east-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab": inside [...] or {...} a value or key containing ':' must be quoted`}},
		{"instance type", head + "targets:\n  - account: \"222222222222\"\n    boot_proof: {instance_type: micro}\n",
			[]string{`amicrypt.yaml:5:33: targets[0].boot_proof.instance_type: "micro" is not an EC2 instance type like t3.micro or m7g.large`}},
		{"role name", head + "targets:\n  - account: \"222222222222\"\n    role_name: platform/amicrypt\n",
			[]string{`amicrypt.yaml:5:16: targets[0].role_name: "platform/amicrypt" is not an IAM role name (1-64 of A-Z a-z 0-9 + = , . @ _ -); for a role with a path give role_arn instead`}},
		{"alias to nothing", head + "targets:\n  - <<: *base\n    account: \"222222222222\"\n",
			[]string{`amicrypt.yaml:4:9: alias *base refers to no anchor defined before it (define &base first)`}},
		{"empty file", "# nothing yet\n",
			[]string{`amicrypt.yaml: the config file is empty: it needs at least builder: and targets:`}},
		{"two documents", head + "targets: [{account: \"222222222222\"}]\n---\ntargets: []\n",
			[]string{`amicrypt.yaml:4:1: a config file holds one YAML document; remove the second (after ---)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectErrors(t, tc.src, tc.want...)
		})
	}
}

func TestErrorsAreSortedAndTyped(t *testing.T) {
	_, err := Parse([]byte(`builder: {account: "1"}
defaults:
  regions: [us-east-1]
  keep: -2
targets:
  - account: "2"
`), "cfg.yaml")
	want := strings.Join([]string{
		`cfg.yaml:1:20: builder.account: "1" is not a 12-digit AWS account id`,
		`cfg.yaml:4:9: defaults.keep: -2 is negative: give how many proven images of the family to keep per account and region (default 3), or 0 to turn retention off`,
		`cfg.yaml:6:14: targets[0].account: "2" is not a 12-digit AWS account id`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Fatalf("got\n%v\nwant\n%s", err, want)
	}
	var first *yamlconf.Error
	if !errors.As(err, &first) || first.File != "cfg.yaml" || first.Line != 1 || first.Column != 20 || first.Path != "builder.account" {
		t.Errorf("errors.As = %+v", first)
	}
}

func TestExpandSourceErrors(t *testing.T) {
	c := mustParse(t, `builder: {account: "111111111111"}
defaults:
  regions: [us-east-1, eu-west-1]
targets:
  - account: "222222222222"
  - account: "333333333333"
    regions: [cn-north-1]
`)
	for _, tc := range []struct {
		name    string
		sources map[string]string
		want    []string
	}{
		{"none", nil, []string{"no source images: give at least one --source REGION=AMI"}},
		{"malformed", map[string]string{"us-east-1": "ami-XYZ", "eu-west-1": "ami-0b0000000000e0001", "moon-1": "ami-12345678"},
			[]string{
				`amicrypt.yaml:7:15: targets[1].regions[0]: no source image can reach cn-north-1: images are copied only within a partition, cn-north-1 is in aws-cn and the sources (eu-west-1, us-east-1) are in aws; give --source for a region of aws-cn, or remove cn-north-1 here`,
				`source moon-1=ami-12345678: "moon-1" is not an AWS region name like us-east-1`,
				`source us-east-1=ami-XYZ: "ami-XYZ" is not an AMI id (ami- and 8-17 lowercase hex digits, e.g. ami-0123456789abcdef0)`,
			}},
		{"same image twice", map[string]string{"us-east-1": "ami-12345678", "eu-west-1": "ami-12345678"},
			[]string{
				`amicrypt.yaml:7:15: targets[1].regions[0]: no source image can reach cn-north-1`,
				`source us-east-1=ami-12345678: ami-12345678 is also given for eu-west-1; an AMI lives in one region`,
			}},
		{"two partitions", map[string]string{"us-east-1": "ami-12345678", "cn-north-1": "ami-12345679"},
			[]string{`sources in more than one partition: aws (us-east-1), aws-cn (cn-north-1); the builder account lives in one partition`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, src, ts, err := c.Expand(tc.sources)
			if err == nil {
				t.Fatal("Expand succeeded")
			}
			if b != (activities.Builder{}) || src != nil || ts != nil {
				t.Errorf("Expand returned values together with an error")
			}
			matchErrors(t, err, tc.want...)
		})
	}

	// Reachable from another region of the same partition.
	c = mustParse(t, "builder: {account: \"111111111111\"}\ntargets: [{account: \"222222222222\", regions: [ap-south-1, eu-west-1]}]\n")
	_, src, ts := mustExpand(t, c, map[string]string{"us-east-1": "ami-12345678"})
	if len(src) != 1 || !reflect.DeepEqual(ids(ts), []string{"222222222222/ap-south-1", "222222222222/eu-west-1"}) {
		t.Errorf("sources %v targets %v", src, ids(ts))
	}
}

func TestValidateConfigBuiltInGo(t *testing.T) {
	name := "amicrypt-target"
	c := &Config{
		Builder:  Builder{Account: "111111111111"},
		Defaults: TargetSettings{Regions: []string{"us-east-1"}, RoleName: &name},
		Targets:  []TargetEntry{{Account: "222222222222"}},
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	_, _, ts := mustExpand(t, c, map[string]string{"us-east-1": "ami-12345678"})
	if len(ts) != 1 || ts[0].RoleARN != "arn:aws:iam::222222222222:role/amicrypt-target" || ts[0].Keep != 3 {
		t.Errorf("targets = %+v", ts)
	}
	// A Config built in Go leaves the retirement delays nil: the defaults.
	if g, a := ts[0].RetentionGrace, ts[0].RetireAfter; g == nil || *g != week || a == nil || *a != week {
		t.Errorf("retention grace %v, retire after %v; want 7 days each", g, a)
	}
	c.Targets = append(c.Targets, TargetEntry{Account: "22"})
	if err := c.Validate(); err == nil || err.Error() != `targets[1].account: "22" is not a 12-digit AWS account id` {
		t.Errorf("Validate = %v", err)
	}
}

func TestParseSources(t *testing.T) {
	got, err := ParseSources([]string{"us-east-1=ami-0123456789abcdef0", "eu-west-1:ami-0123456789abcdef1,ap-south-1=ami-12345678", " sa-east-1 = ami-87654321 "})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"us-east-1": "ami-0123456789abcdef0", "eu-west-1": "ami-0123456789abcdef1", "ap-south-1": "ami-12345678", "sa-east-1": "ami-87654321"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v", got)
	}
	if got, err := ParseSources(nil); err != nil || len(got) != 0 {
		t.Errorf("no flags = %v, %v", got, err)
	}
	for _, tc := range []struct {
		flags []string
		want  []string
	}{
		{[]string{"ami-0123456789abcdef0"}, []string{`--source "ami-0123456789abcdef0": expected REGION=AMI, e.g. us-east-1=ami-0123456789abcdef0`}},
		{[]string{"us-east-1="}, []string{`--source "us-east-1=": expected REGION=AMI, e.g. us-east-1=ami-0123456789abcdef0; the AMI id is missing`}},
		{[]string{"=ami-12345678"}, []string{`--source "=ami-12345678": expected REGION=AMI, e.g. us-east-1=ami-0123456789abcdef0; the region is missing`}},
		{[]string{""}, []string{`--source "": expected REGION=AMI, e.g. us-east-1=ami-0123456789abcdef0; got nothing`}},
		{[]string{"us-east-1=ami-12345678", "us-east-1=ami-87654321"}, []string{`--source "us-east-1=ami-87654321": region us-east-1 is given twice (first in --source "us-east-1=ami-12345678"): give one image per region`}},
		{[]string{"us-east-1=ami-XYZ"}, []string{`--source "us-east-1=ami-XYZ": "ami-XYZ" is not an AMI id (ami- and 8-17 lowercase hex digits, e.g. ami-0123456789abcdef0)`}},
		{[]string{"useast1=ami-12345678"}, []string{`--source "useast1=ami-12345678": "useast1" is not an AWS region name like us-east-1 (did you mean us-east-1?)`}},
		{[]string{"us-east-1=ami-12345678,bogus", "eu-west-1=snap-1"}, []string{
			`--source "us-east-1=ami-12345678,bogus" (item "bogus"): expected REGION=AMI`,
			`--source "eu-west-1=snap-1": "snap-1" is not an AMI id`,
		}},
	} {
		got, err := ParseSources(tc.flags)
		if err == nil {
			t.Errorf("ParseSources(%q) = %v, want an error", tc.flags, got)
			continue
		}
		if got != nil {
			t.Errorf("ParseSources(%q) returned a map with an error", tc.flags)
		}
		matchErrors(t, err, tc.want...)
	}
}

func TestExampleMatchesTheSandboxWorld(t *testing.T) {
	c, err := Parse(Example(), "example.yaml")
	if err != nil {
		t.Fatalf("the example config: %v", err)
	}
	w := world.Default()
	sources := map[string]string{}
	builder := w.Account("111111111111")
	for _, img := range builder.Images {
		sources[img.Region] = img.ID
	}
	b, src, ts := mustExpand(t, c, sources)
	if b.Account != builder.ID || b.RoleARN != "arn:aws:iam::111111111111:role/amicrypt-pipeline" || builder.Role("amicrypt-pipeline") == nil {
		t.Errorf("builder = %+v", b)
	}
	if len(src) != 2 {
		t.Errorf("sources = %v", src)
	}
	wantIDs := []string{"222222222222/eu-west-1", "222222222222/us-east-1", "333333333333/eu-west-1", "333333333333/us-east-1", "444444444444/us-east-1"}
	if !reflect.DeepEqual(ids(ts), wantIDs) {
		t.Fatalf("targets = %v, want %v", ids(ts), wantIDs)
	}
	for _, tg := range ts {
		a := w.Account(tg.Account)
		if a == nil || a.Name != tg.Name || !w.HasRegion(tg.Region) {
			t.Errorf("%s: not an account of the default world, or the name differs: %+v", tg.ID(), a)
			continue
		}
		if tg.RoleARN != "arn:aws:iam::"+tg.Account+":role/amicrypt-target" || a.Role("amicrypt-target") == nil {
			t.Errorf("%s: role %s", tg.ID(), tg.RoleARN)
		}
		if tg.ExternalID != "amicrypt" || tg.KeyAlias != "alias/amicrypt" || !tg.BootProof.Enabled || tg.BootProof.InstanceType != "t3.micro" ||
			tg.BootProof.Timeout != 15*time.Minute || tg.Keep != 3 || tg.KeyARN != "" || tg.ManageKeyPolicy || tg.GrantServiceLinkedRole ||
			tg.Family != "" || tg.RetentionGrace == nil || *tg.RetentionGrace != week || tg.RetireAfter == nil || *tg.RetireAfter != week {
			t.Errorf("%s = %+v", tg.ID(), tg)
		}
	}
	if legacy := w.AccountByName("legacy-batch"); legacy.Key("us-east-1", "alias/amicrypt") == nil || legacy.Key("eu-west-1", "alias/amicrypt") != nil {
		t.Error("legacy-batch's key is no longer us-east-1 only; update example.yaml")
	}
	e := Example()
	e[0] = 'X'
	if Example()[0] == 'X' {
		t.Error("Example() returns the embedded slice itself")
	}
}

// TestExampleOrganizationEntries: the example's commented-out organization
// block and selectors, uncommented, are a valid config with the same
// accounts listed one by one.
func TestExampleOrganizationEntries(t *testing.T) {
	uncomment := regexp.MustCompile(`(?m)^(\s*)# (\s*(?:- )?(?:organization|organizational_unit|role_arn|external_id|exclude|regions|key_alias):.*)$`)
	src := uncomment.ReplaceAll(Example(), []byte("$1$2"))
	if n := strings.Count(string(src), "\n") - strings.Count(string(Example()), "\n"); n != 0 {
		t.Fatalf("uncommenting changed the line count by %d", n)
	}
	c, err := Parse(src, "example.yaml")
	if err != nil {
		t.Fatalf("the example, uncommented: %v\n%s", err, src)
	}
	ex, err := Parse(Example(), "example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if ex.Organization() != nil || ex.OrganizationAccess != nil {
		t.Errorf("the example, as it is, has selectors: %+v", ex.Organization())
	}
	_, _, want := mustExpand(t, ex, twoSources)
	_, _, got := mustExpand(t, c, twoSources)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the selectors changed the listed targets: %v, want %v", ids(got), ids(want))
	}
	o := c.Organization()
	if o == nil || o.RoleARN != "arn:aws:iam::999999999999:role/amicrypt-organization-reader" || o.ExternalID != "" || len(o.Selectors) != 2 ||
		!reflect.DeepEqual(o.Listed, []string{"222222222222", "333333333333", "444444444444"}) {
		t.Fatalf("Organization() = %+v", o)
	}
	org, unit := o.Selectors[0], o.Selectors[1]
	if org.Unit != "" || !reflect.DeepEqual(org.Exclude, []string{"555555555555", "666666666666"}) || len(org.Regions) != 2 || org.RoleName != "amicrypt-target" {
		t.Errorf("organization: true = %+v", org)
	}
	if unit.Unit != "ou-ab12-cd34ef56" || len(unit.Regions) != 1 || unit.Regions[0].Region != "us-east-1" || unit.Regions[0].KeyAlias != "alias/amicrypt-prod" || unit.Regions[0].ExternalID != "amicrypt" {
		t.Errorf("organizational_unit = %+v", unit)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "amicrypt.yaml")
	if err := os.WriteFile(good, Example(), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(good)
	if err != nil {
		t.Fatal(err)
	}
	if c.File != good || len(c.Targets) != 3 {
		t.Errorf("Load = %+v", c)
	}
	if line, _, ok := c.Positions().At("targets[2].regions"); !ok || line != 102 {
		t.Errorf("position of targets[2].regions = %d, %v", line, ok)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("builder: {account: \"1\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.HasPrefix(err.Error(), bad+":1:") {
		t.Errorf("Load(bad) = %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v", err)
	}
}

// FuzzParse: no input makes Parse panic, and a config it accepts validates and
// expands with a source in every region it names.
func FuzzParse(f *testing.F) {
	f.Add(Example())
	f.Add([]byte(full))
	f.Add([]byte(withOrganization))
	f.Add([]byte("builder: {account: \"111111111111\"}\ntargets: [{account: \"222222222222\", regions: [us-east-1]}]\n"))
	f.Add([]byte("targets: [{<<: *a}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yaml")
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate rejects: %v", err)
		}
		sources := map[string]string{}
		for i := range c.Targets {
			for _, r := range append(append([]string(nil), c.Targets[i].Regions...), c.Defaults.Regions...) {
				if Partition(r) == "aws" {
					sources[r] = "ami-12345678"
				}
			}
		}
		if len(sources) == 0 {
			return
		}
		// Distinct AMI ids per region.
		n := 0
		for r := range sources {
			sources[r] = fmt.Sprintf("ami-%08x", n)
			n++
		}
		if _, _, ts, err := c.Expand(sources); err == nil && len(ts) == 0 && c.Organization() == nil {
			t.Fatal("Expand succeeded with no targets and no selectors")
		}
	})
}

func TestRotationDefaultsAndOverrides(t *testing.T) {
	c := mustParse(t, "builder: {account: \"111111111111\"}\ndefaults: {regions: [us-east-1]}\ntargets: [{account: \"222222222222\"}]\n")
	if want := (Rotation{RetireAfter: dur(week), DeletionWindowDays: 30, MaxKeyAgeDays: 365, ConcurrentRotations: 5, Every: 24 * time.Hour}); !reflect.DeepEqual(c.Rotation, want) {
		t.Errorf("no rotation block: %+v, want %+v", c.Rotation, want)
	}
	c = mustParse(t, `builder: {account: "111111111111"}
defaults: {regions: [us-east-1]}
rotation:
  deletion_window_days: 7
  max_key_age_days: 0
  every: 1h30m
targets: [{account: "222222222222"}]
`)
	if want := (Rotation{RetireAfter: dur(week), DeletionWindowDays: 7, MaxKeyAgeDays: 0, ConcurrentRotations: 5, Every: 90 * time.Minute}); !reflect.DeepEqual(c.Rotation, want) {
		t.Errorf("partial rotation block: %+v, want %+v", c.Rotation, want)
	}
	ex, err := Parse(Example(), "example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ex.Rotation, DefaultRotation()) {
		t.Errorf("example.yaml's rotation block is not the defaults: %+v", ex.Rotation)
	}
	if !reflect.DeepEqual(ex.Retention, DefaultRetention()) {
		t.Errorf("example.yaml's retention block is not the defaults: %+v", ex.Retention)
	}
	if got := (Rotation{MaxKeyAgeDays: 0}).WithDefaults(); !reflect.DeepEqual(got, Rotation{RetireAfter: dur(week), DeletionWindowDays: 30, ConcurrentRotations: 5, Every: 24 * time.Hour}) {
		t.Errorf("WithDefaults = %+v", got)
	}
	if got := (Rotation{RetireAfter: dur(0)}).WithDefaults(); got.RetireAfter == nil || *got.RetireAfter != 0 {
		t.Errorf("WithDefaults replaced a retire_after of 0: %+v", got)
	}
}

func TestRotationBadInput(t *testing.T) {
	const head = "builder: {account: \"111111111111\"}\ndefaults: {regions: [us-east-1]}\ntargets: [{account: \"222222222222\"}]\n"
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"every problem at once", head + "rotation:\n  deletion_window_days: 6\n  max_key_age_days: -1\n  concurrent_rotations: 0\n  every: 30s\n",
			[]string{
				`amicrypt.yaml:5:25: rotation.deletion_window_days: 6: KMS schedules a key's deletion 7 to 30 days ahead (default 30`,
				`amicrypt.yaml:6:21: rotation.max_key_age_days: -1: give a number of days`,
				`amicrypt.yaml:7:25: rotation.concurrent_rotations: 0: use 1 or more (rotations a sweep runs at once; default 5)`,
				`amicrypt.yaml:8:10: rotation.every: 30s is too often: the sweep runs at most every 1m (it reads every target's key; default 24h)`,
			}},
		{"window too long", head + "rotation: {deletion_window_days: 31}\n",
			[]string{`amicrypt.yaml:4:34: rotation.deletion_window_days: 31: KMS schedules a key's deletion 7 to 30 days ahead`}},
		{"unknown key", head + "rotation:\n  deletion_window: 10\n",
			[]string{`amicrypt.yaml:5:3: rotation.deletion_window: unknown key "deletion_window" (did you mean deletion_window_days?); allowed keys: retire_after, deletion_window_days, max_key_age_days, concurrent_rotations, every`}},
		{"wrong types", head + "rotation:\n  every: daily\n  max_key_age_days: a year\n",
			[]string{
				`amicrypt.yaml:5:10: rotation.every: "daily" is not a duration`,
				`amicrypt.yaml:6:21: rotation.max_key_age_days: expected a whole number, got "a year"`,
			}},
		{"not a mapping", head + "rotation: 30\n",
			[]string{`amicrypt.yaml:4:11: rotation: expected a mapping`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectErrors(t, tc.src, tc.want...)
		})
	}
}

func TestValidateRotationBuiltInGo(t *testing.T) {
	c := &Config{
		Builder:  Builder{Account: "111111111111"},
		Defaults: TargetSettings{Regions: []string{"us-east-1"}},
		Targets:  []TargetEntry{{Account: "222222222222"}},
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("a zero rotation block (the defaults) is refused: %v", err)
	}
	c.Rotation = Rotation{RetireAfter: dur(-time.Hour), DeletionWindowDays: 3, ConcurrentRotations: -1, Every: time.Second}
	c.Retention = Retention{Grace: dur(-2 * 24 * time.Hour)}
	matchErrors(t, c.Validate(),
		"retention.grace: -2d is negative",
		"rotation.retire_after: -1h is negative",
		"rotation.deletion_window_days: 3: KMS schedules",
		"rotation.concurrent_rotations: -1: use 1 or more",
		"rotation.every: 1s is too often",
	)
}

func TestExpandTargetsNeedsNoSources(t *testing.T) {
	c := mustParse(t, full)
	b, ts, err := c.ExpandTargets()
	if err != nil {
		t.Fatal(err)
	}
	b2, _, ts2 := mustExpand(t, c, twoSources)
	if b != b2 || !reflect.DeepEqual(ts, ts2) {
		t.Errorf("ExpandTargets differs from Expand:\n%+v %v\n%+v %v", b, ids(ts), b2, ids(ts2))
	}
	// A target region no source could reach is fine without sources.
	c = mustParse(t, "builder: {account: \"111111111111\"}\ntargets:\n  - {account: \"222222222222\", regions: [us-east-1]}\n  - {account: \"333333333333\", regions: [cn-north-1]}\n")
	if _, ts, err := c.ExpandTargets(); err != nil || !reflect.DeepEqual(ids(ts), []string{"222222222222/us-east-1", "333333333333/cn-north-1"}) {
		t.Errorf("ExpandTargets = %v, %v", ids(ts), err)
	}
	// The config's own problems are still found, and nothing is returned with them.
	c.Targets = append(c.Targets, TargetEntry{Account: "22", TargetSettings: TargetSettings{Regions: []string{"us-east-1"}}})
	b, ts, err = c.ExpandTargets()
	if err == nil || b != (activities.Builder{}) || ts != nil {
		t.Fatalf("ExpandTargets of a bad config = %+v, %v, %v", b, ids(ts), err)
	}
	matchErrors(t, err, `amicrypt.yaml:3:3: targets[2].account: "22" is not a 12-digit AWS account id`)
}

func TestFamilyInheritsAndIsOverridden(t *testing.T) {
	c := mustParse(t, `builder: {account: "111111111111"}
defaults:
  regions: [us-east-1]
  family: base
targets:
  - account: "222222222222"
  - account: "333333333333"
    family: "web app/blue"
`)
	_, _, ts := mustExpand(t, c, map[string]string{"us-east-1": "ami-12345678"})
	got := map[string]string{}
	for _, tg := range ts {
		got[tg.ID()] = tg.Family
	}
	if want := map[string]string{"222222222222/us-east-1": "base", "333333333333/us-east-1": "web app/blue"}; !reflect.DeepEqual(got, want) {
		t.Errorf("families = %v, want %v", got, want)
	}

	// Given nowhere: empty, so the run derives it from the source's name.
	c = mustParse(t, "builder: {account: \"111111111111\"}\ntargets: [{account: \"222222222222\", regions: [us-east-1, eu-west-1]}]\n")
	_, ts, err := c.ExpandTargets()
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range ts {
		if tg.Family != "" {
			t.Errorf("%s: family %q, want none (derived at run time)", tg.ID(), tg.Family)
		}
		if f := activities.FamilyOf(tg, activities.Source{ImageID: "ami-12345678", Name: "base-20261207T101500Z"}); f != "base" {
			t.Errorf("%s: the run would derive family %q, want base", tg.ID(), f)
		}
	}

	// 256 characters (not bytes) are fine: EC2 counts characters.
	long := strings.Repeat("é", MaxFamilyLen)
	c = mustParse(t, "builder: {account: \"111111111111\"}\ntargets: [{account: \"222222222222\", regions: [us-east-1], family: \""+long+"\"}]\n")
	if _, ts, err := c.ExpandTargets(); err != nil || ts[0].Family != long {
		t.Errorf("a 256-character family: %v", err)
	}
}

func TestFamilyBadInput(t *testing.T) {
	const head = "builder: {account: \"111111111111\"}\ndefaults: {regions: [us-east-1]}\n"
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"empty", head + "targets:\n  - account: \"222222222222\"\n    family: \"\"\n",
			[]string{`amicrypt.yaml:5:13: targets[0].family: the family is empty: name it (e.g. family: base), or leave family out to derive it from the source image's name (base-1733500000 → base)`}},
		{"too long", head + "targets:\n  - account: \"222222222222\"\n    family: " + strings.Repeat("a", 257) + "\n",
			[]string{`amicrypt.yaml:5:13: targets[0].family: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"... is 257 characters; the family is the amicrypt:family tag's value, and EC2 takes at most 256`}},
		{"aws: prefix", "builder: {account: \"111111111111\"}\ndefaults:\n  regions: [us-east-1]\n  family: \"AWS:base\"\ntargets: [{account: \"222222222222\"}]\n",
			[]string{`amicrypt.yaml:4:11: defaults.family: "AWS:base" begins with aws:, which AWS reserves in tag values: choose another family name`}},
		{"wildcards", head + "targets:\n  - account: \"222222222222\"\n    family: \"base-*\"\n  - account: \"333333333333\"\n    family: base?\n",
			[]string{
				`amicrypt.yaml:5:13: targets[0].family: "base-*" contains '*': amicrypt finds a family's images with an EC2 tag filter, where * and ? are wildcards (and \ escapes), so retention could take another family's images for this one's; choose a name without *, ? and \`,
				`amicrypt.yaml:7:13: targets[1].family: "base?" contains '?'`,
			}},
		{"line break", head + "targets:\n  - account: \"222222222222\"\n    family: \"base\\nweb\"\n",
			[]string{`amicrypt.yaml:5:13: targets[0].family: "base\nweb" contains a control character (a line break or tab?)`}},
		{"not a string", head + "targets:\n  - account: \"222222222222\"\n    family: [base]\n",
			[]string{`amicrypt.yaml:5:13: targets[0].family: expected a string, got a list`}},
		{"misspelt", head + "targets:\n  - account: \"222222222222\"\n    familiy: base\n",
			[]string{`amicrypt.yaml:5:5: targets[0].familiy: unknown key "familiy" (did you mean family?)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectErrors(t, tc.src, tc.want...)
		})
	}
}

func TestKeepZeroTurnsRetentionOff(t *testing.T) {
	c := mustParse(t, `builder: {account: "111111111111"}
defaults:
  regions: [us-east-1]
  keep: 0
targets:
  - account: "222222222222"
  - account: "333333333333"
    keep: 2
  - account: "444444444444"
    keep: 0
`)
	_, ts, err := c.ExpandTargets()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, tg := range ts {
		got[tg.Account] = tg.Keep
	}
	if want := map[string]int{"222222222222": 0, "333333333333": 2, "444444444444": 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("keep = %v, want %v", got, want)
	}
	// A target's keep: 0 beats a default's.
	c = mustParse(t, "builder: {account: \"111111111111\"}\ndefaults: {regions: [us-east-1], keep: 5}\ntargets: [{account: \"222222222222\", keep: 0}]\n")
	if _, ts, err := c.ExpandTargets(); err != nil || ts[0].Keep != 0 {
		t.Errorf("target keep: 0 under defaults keep: 5: %+v, %v", ts, err)
	}
}

func TestRetentionGraceAndRetireAfter(t *testing.T) {
	const head = "builder: {account: \"111111111111\"}\ndefaults: {regions: [us-east-1, eu-west-1]}\ntargets: [{account: \"222222222222\"}]\n"
	for _, tc := range []struct {
		name, block        string
		grace, retireAfter time.Duration
	}{
		{"defaults", "", week, week},
		{"empty blocks", "retention: {}\nrotation: {}\n", week, week},
		{"days", "retention: {grace: 7d}\nrotation: {retire_after: 14d}\n", week, 2 * week},
		{"zero", "retention: {grace: 0s}\nrotation: {retire_after: 0s}\n", 0, 0},
		{"zero without a unit", "retention: {grace: 0}\nrotation: {retire_after: 0d}\n", 0, 0},
		{"days and hours", "retention:\n  grace: 1d12h\nrotation:\n  retire_after: 36h\n", 36 * time.Hour, 36 * time.Hour},
		{"Go's syntax", "retention: {grace: 90m}\nrotation: {retire_after: 2h30m}\n", 90 * time.Minute, 150 * time.Minute},
		{"null is the default", "retention: {grace: ~}\nrotation: {retire_after: null}\n", week, week},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, head+tc.block)
			_, _, viaExpand := mustExpand(t, c, twoSources)
			_, viaTargets, err := c.ExpandTargets()
			if err != nil {
				t.Fatal(err)
			}
			for _, ts := range [][]activities.Target{viaExpand, viaTargets} {
				if len(ts) != 2 {
					t.Fatalf("targets = %v", ids(ts))
				}
				for _, tg := range ts {
					if tg.RetentionGrace == nil || *tg.RetentionGrace != tc.grace {
						t.Errorf("%s: retention grace %v, want %s", tg.ID(), tg.RetentionGrace, tc.grace)
					}
					if tg.RetireAfter == nil || *tg.RetireAfter != tc.retireAfter {
						t.Errorf("%s: retire after %v, want %s", tg.ID(), tg.RetireAfter, tc.retireAfter)
					}
				}
			}
			// Each target has its own copies.
			*viaExpand[0].RetentionGrace = time.Nanosecond
			if *viaExpand[1].RetentionGrace != tc.grace {
				t.Error("targets share one retention grace")
			}
		})
	}

	// Days work for every duration of the config.
	c := mustParse(t, "builder: {account: \"111111111111\"}\ndefaults: {regions: [us-east-1], boot_proof: {timeout: 1d}}\nrotation: {every: 7d}\ntargets: [{account: \"222222222222\"}]\n")
	_, ts, err := c.ExpandTargets()
	if err != nil || c.Rotation.Every != week || ts[0].BootProof.Timeout != 24*time.Hour {
		t.Errorf("every %s, boot-proof timeout %v, %v", c.Rotation.Every, ts, err)
	}
}

func TestRetentionAndRetireAfterBadInput(t *testing.T) {
	const head = "builder: {account: \"111111111111\"}\ndefaults: {regions: [us-east-1]}\ntargets: [{account: \"222222222222\"}]\n"
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"negative", head + "retention:\n  grace: -1h\nrotation:\n  retire_after: -2d\n",
			[]string{
				`amicrypt.yaml:5:10: retention.grace: -1h is negative: give how long an image retention retired stays disabled before it is deregistered with its snapshots, e.g. 7d (the default), or 0s to deregister it at once`,
				`amicrypt.yaml:7:17: rotation.retire_after: -2d is negative: give how long a key a rotation replaced stays disabled, unused and untried before its deletion is scheduled, e.g. 7d (the default), or 0s to schedule it as soon as it is found unused`,
			}},
		{"no unit", head + "retention: {grace: 7}\nrotation: {retire_after: 1.5}\n",
			[]string{
				`amicrypt.yaml:4:20: retention.grace: "7" has no unit; write a duration such as 90s, 15m, 1h30m or 7d (e.g. 7d for days)`,
				`amicrypt.yaml:5:26: rotation.retire_after: "1.5" has no unit; write a duration such as 90s, 15m, 1h30m or 7d (e.g. 36h for 1.5 days: days are whole)`,
			}},
		{"not durations", head + "retention: {grace: a week}\nrotation: {retire_after: 1w, every: 7days}\n",
			[]string{
				`amicrypt.yaml:4:20: retention.grace: "a week" is not a duration such as 90s, 15m, 1h30m or 7d`,
				`amicrypt.yaml:5:26: rotation.retire_after: "1w" is not a duration such as 90s, 15m, 1h30m or 7d`,
				`amicrypt.yaml:5:37: rotation.every: "7days" is not a duration such as 90s, 15m, 1h30m or 7d`,
			}},
		{"fractional days", head + "retention: {grace: 1.5d}\n",
			[]string{`amicrypt.yaml:4:20: retention.grace: "1.5d" is not a duration such as 90s, 15m, 1h30m or 7d: days are whole; write 36h for 1.5 days`}},
		{"too long", head + "retention: {grace: 1000000d}\nrotation: {retire_after: 106751d24h}\n",
			[]string{
				`amicrypt.yaml:4:20: retention.grace: "1000000d" is not a duration`,
				`amicrypt.yaml:5:26: rotation.retire_after: "106751d24h" is not a duration`,
			}},
		{"unknown keys", head + "retention:\n  grase: 7d\nrotation:\n  retire_afer: 7d\n",
			[]string{
				`amicrypt.yaml:5:3: retention.grase: unknown key "grase" (did you mean grace?); allowed keys: grace`,
				`amicrypt.yaml:7:3: rotation.retire_afer: unknown key "retire_afer" (did you mean retire_after?); allowed keys: retire_after, deletion_window_days, max_key_age_days, concurrent_rotations, every`,
			}},
		{"retention not a mapping", head + "retention: 7d\n",
			[]string{`amicrypt.yaml:4:12: retention: expected a mapping with keys grace; got "7d"`}},
		{"grace as a target setting", head[:len(head)-len("targets: [{account: \"222222222222\"}]\n")] + "targets:\n  - account: \"222222222222\"\n    grace: 7d\n",
			[]string{`amicrypt.yaml:5:5: targets[0].grace: unknown key "grace"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectErrors(t, tc.src, tc.want...)
		})
	}
}

func TestParseDuration(t *testing.T) {
	for s, want := range map[string]time.Duration{
		"0s": 0, "0": 0, "0d": 0, "90s": 90 * time.Second, "1h30m": 90 * time.Minute, "7d": week,
		"1d12h": 36 * time.Hour, "2d30m": 48*time.Hour + 30*time.Minute, "+1d": 24 * time.Hour, "-2d": -48 * time.Hour,
		"106751d": 106751 * 24 * time.Hour,
	} {
		if got, ok := parseDuration(s); !ok || got != want {
			t.Errorf("parseDuration(%q) = %s, %v; want %s", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "d", "7", "1.5d", "7 d", "1d-1h", "1d+1h", "1dd", "d7", "106752d", "106751d24h", "99999999999999999999d"} {
		if got, ok := parseDuration(s); ok {
			t.Errorf("parseDuration(%q) = %s, want a failure", s, got)
		}
	}
	for d, want := range map[time.Duration]string{0: "0s", time.Hour: "1h", 90 * time.Minute: "1h30m", week: "7d", 36 * time.Hour: "1d12h", -48 * time.Hour: "-2d"} {
		if got := formatDays(d); got != want {
			t.Errorf("formatDays(%s) = %q, want %q", d, got, want)
		}
	}
}

const withOrganization = `
builder: {account: "111111111111"}
organization:
  role_arn: arn:aws:iam::999999999999:role/amicrypt-organization-reader
  external_id: org-reader
defaults:
  regions: [us-east-1, eu-west-1]
  role_name: amicrypt-target
  external_id: amicrypt
  boot_proof: {timeout: 30m}
  keep: 5
  launch_principals: [arn:aws:iam::999999999999:role/app-deployer]
retention: {grace: 2d}
targets:
  - organization: true
    exclude: ["777777777777"]
  - organizational_unit: ou-ab12-cd34ef56
    exclude: ["555555555555", "666666666666"]
    regions: [us-east-1]
    role_name: amicrypt-prod
    key_alias: alias/prod
    boot_proof: {instance_type: t3.small}
    publish: {ssm_parameter: /amicrypt/base/ami-id}
    family: base
  - organizational_unit: ou-ab12-0000ffff
    key_arn:
      us-east-1: arn:aws:kms:us-east-1:999999999999:key/11111111-1111-4111-8111-111111111111
      eu-west-1: arn:aws:kms:eu-west-1:999999999999:key/22222222-2222-4222-8222-222222222222
    manage_key_policy: true
  - account: "333333333333"
    name: overridden
    regions: [eu-west-1]
    keep: 1
  - account: "222222222222"
`

func TestOrganizationSelectors(t *testing.T) {
	c := mustParse(t, withOrganization)
	o := c.Organization()
	if o == nil {
		t.Fatal("Organization() = nil")
	}
	// What every account of a selector gets in one region: the defaults,
	// less what belongs to one account.
	base := func(region string) activities.Target {
		return activities.Target{
			Region: region, ExternalID: "amicrypt", KeyAlias: "alias/amicrypt",
			BootProof:        activities.BootProof{Enabled: true, InstanceType: "t3.micro", Timeout: 30 * time.Minute},
			Keep:             5,
			RetentionGrace:   dur(2 * 24 * time.Hour),
			RetireAfter:      dur(week),
			LaunchPrincipals: []string{"arn:aws:iam::999999999999:role/app-deployer"},
		}
	}
	prod := base("us-east-1")
	prod.KeyAlias, prod.BootProof.InstanceType = "alias/prod", "t3.small"
	prod.Publish.SSMParameter, prod.Family = "/amicrypt/base/ami-id", "base"
	central := []activities.Target{base("us-east-1"), base("eu-west-1")}
	central[0].KeyARN = "arn:aws:kms:us-east-1:999999999999:key/11111111-1111-4111-8111-111111111111"
	central[1].KeyARN = "arn:aws:kms:eu-west-1:999999999999:key/22222222-2222-4222-8222-222222222222"
	central[0].ManageKeyPolicy, central[1].ManageKeyPolicy = true, true
	want := &activities.OrganizationTargets{
		RoleARN:    "arn:aws:iam::999999999999:role/amicrypt-organization-reader",
		ExternalID: "org-reader",
		Selectors: []activities.OrganizationSelector{
			{Unit: "", Exclude: []string{"777777777777"}, RoleName: "amicrypt-target", Regions: []activities.Target{base("us-east-1"), base("eu-west-1")}},
			{Unit: "ou-ab12-cd34ef56", Exclude: []string{"555555555555", "666666666666"}, RoleName: "amicrypt-prod", Regions: []activities.Target{prod}},
			{Unit: "ou-ab12-0000ffff", RoleName: "amicrypt-target", Regions: central},
		},
		Listed: []string{"222222222222", "333333333333"},
	}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("Organization() =\n%+v\nwant\n%+v", *o, *want)
	}

	// Expand and ExpandTargets give the accounts listed one by one only,
	// each with its own entry.
	_, _, ts := mustExpand(t, c, twoSources)
	if got, want := ids(ts), []string{"222222222222/eu-west-1", "222222222222/us-east-1", "333333333333/eu-west-1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Expand targets = %v, want %v", got, want)
	}
	if ts[2].Keep != 1 || ts[2].Name != "overridden" || ts[2].KeyAlias != "alias/amicrypt" {
		t.Errorf("account entry = %+v", ts[2])
	}
	if _, ts2, err := c.ExpandTargets(); err != nil || !reflect.DeepEqual(ts, ts2) {
		t.Errorf("ExpandTargets = %v, %v", ids(ts2), err)
	}
	// Each target its own launch_principals.
	ts[0].LaunchPrincipals[0] = "changed"
	if c.Defaults.LaunchPrincipals[0] != "arn:aws:iam::999999999999:role/app-deployer" {
		t.Error("an expanded target shares the config's launch_principals")
	}

	// A selector's settings are exactly an account entry's with the same
	// keys: one resolve and expand for both.
	for i := range c.Targets {
		if !c.Targets[i].IsSelector() {
			continue
		}
		same := *c
		same.Targets = []TargetEntry{c.Targets[i]}
		same.Targets[0].Organization, same.Targets[0].OrganizationalUnit, same.Targets[0].Exclude = nil, "", nil
		same.Targets[0].Account = "444444444444"
		same.OrganizationAccess = nil
		_, asAccount, err := same.ExpandTargets()
		if err != nil {
			t.Fatal(err)
		}
		byRegion := map[string]activities.Target{}
		for _, tg := range asAccount {
			if tg.RoleARN != "arn:aws:iam::444444444444:role/"+o.Selectors[i].RoleName {
				t.Errorf("targets[%d] as an account: role %s, selector's role name %s", i, tg.RoleARN, o.Selectors[i].RoleName)
			}
			tg.Account, tg.RoleARN = "", ""
			byRegion[tg.Region] = tg
		}
		for _, tg := range o.Selectors[i].Regions {
			if !reflect.DeepEqual(byRegion[tg.Region], tg) {
				t.Errorf("targets[%d] in %s: selector\n%+v\nas an account entry\n%+v", i, tg.Region, tg, byRegion[tg.Region])
			}
		}
		if len(byRegion) != len(o.Selectors[i].Regions) {
			t.Errorf("targets[%d]: %d regions as an account, %d as a selector", i, len(byRegion), len(o.Selectors[i].Regions))
		}
	}

	// Its own copies: the config is untouched by a change to the result.
	o.Selectors[0].Exclude[0] = "changed"
	o.Selectors[0].Regions[0].LaunchPrincipals[0] = "changed"
	again := c.Organization()
	if again.Selectors[0].Exclude[0] != "777777777777" {
		t.Error("Organization() shares the config's exclude list")
	}
	if again.Selectors[0].Regions[0].LaunchPrincipals[0] != "arn:aws:iam::999999999999:role/app-deployer" {
		t.Error("Organization() shares the config's launch_principals")
	}
}

func TestOrganizationWithoutAccountsOrBlock(t *testing.T) {
	// Selectors only: valid, and Expand gives no targets.
	c := mustParse(t, "builder: {account: \"111111111111\"}\ndefaults: {regions: [us-east-1]}\ntargets:\n  - organizational_unit: ou-ab12-cd34ef56\n")
	_, _, ts := mustExpand(t, c, twoSources)
	if len(ts) != 0 {
		t.Errorf("Expand = %v, want no targets", ids(ts))
	}
	o := c.Organization()
	if o == nil || o.RoleARN != "" || o.ExternalID != "" || o.Listed != nil || len(o.Selectors) != 1 || o.Selectors[0].Unit != "ou-ab12-cd34ef56" ||
		o.Selectors[0].Exclude != nil || o.Selectors[0].RoleName != DefaultRoleName || len(o.Selectors[0].Regions) != 1 {
		t.Errorf("Organization() = %+v", o)
	}
	// No selector: no organization.
	if o := mustParse(t, full).Organization(); o != nil {
		t.Errorf("Organization() of a config without selectors = %+v", o)
	}
	// A selector assumes role_name, whatever role_arn defaults: gives for
	// the accounts listed.
	c = mustParse(t, `builder: {account: "111111111111"}
defaults:
  regions: [us-east-1]
  role_arn: arn:aws:iam::222222222222:role/path/custom
  role_name: amicrypt-org
targets:
  - account: "222222222222"
  - organization: true
`)
	_, ts, err := c.ExpandTargets()
	if err != nil || ts[0].RoleARN != "arn:aws:iam::222222222222:role/path/custom" {
		t.Errorf("account entry: %+v, %v", ts, err)
	}
	if o := c.Organization(); o.Selectors[0].RoleName != "amicrypt-org" {
		t.Errorf("selector's role name = %q, want amicrypt-org", o.Selectors[0].RoleName)
	}
	// Built in Go.
	yes := true
	c = &Config{
		Builder:            Builder{Account: "111111111111"},
		OrganizationAccess: &OrganizationAccess{RoleARN: "arn:aws:iam::999999999999:role/r"},
		Defaults:           TargetSettings{Regions: []string{"us-east-1"}},
		Targets:            []TargetEntry{{Organization: &yes}},
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if o := c.Organization(); o == nil || o.RoleARN != "arn:aws:iam::999999999999:role/r" || len(o.Selectors) != 1 || o.Selectors[0].Regions[0].RoleARN != "" {
		t.Errorf("Organization() = %+v", o)
	}
}

func TestOrganizationBadInput(t *testing.T) {
	const head = "builder: {account: \"111111111111\"}\ndefaults: {regions: [us-east-1]}\n"
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"organization false", head + "targets:\n  - organization: false\n",
			[]string{`amicrypt.yaml:4:19: targets[0].organization: organization: false selects nothing: leave the entry out (organization: true serves every account of the organization)`}},
		{"organization false on an account", head + "targets:\n  - account: \"222222222222\"\n    organization: false\n",
			[]string{`amicrypt.yaml:5:19: targets[0].organization: organization: false selects nothing, and this entry is account 222222222222's: leave organization out`}},
		{"account and unit", head + "targets:\n  - account: \"222222222222\"\n    organizational_unit: ou-ab12-cd34ef56\n",
			[]string{`amicrypt.yaml:5:26: targets[0].organizational_unit: account and organizational_unit in one entry: a targets entry serves one account (account:), the whole organization (organization: true) or one organizational unit (organizational_unit:); give each its own entry (an account's own entry overrides a selector's settings for it)`}},
		{"organization and unit", head + "targets:\n  - organization: true\n    organizational_unit: ou-ab12-cd34ef56\n",
			[]string{`amicrypt.yaml:5:26: targets[0].organizational_unit: organization and organizational_unit in one entry: a targets entry serves one account`}},
		{"neither", head + "targets:\n  - regions: [us-east-1]\n",
			[]string{`amicrypt.yaml:4:5: targets[0].account: required: the target's 12-digit account id, quoted, e.g. account: "222222222222" (or organization: true, or organizational_unit: ou-..., for accounts of the organization)`}},
		{"unit ids", head + "targets:\n  - organizational_unit: ou-AB12-cd34ef56\n  - organizational_unit: r-ab12\n  - organizational_unit: ou-ab1-cd34ef56\n",
			[]string{
				`amicrypt.yaml:4:26: targets[0].organizational_unit: "ou-AB12-cd34ef56" is not an organizational unit id like ou-ab12-cd34ef56 (ou-, 4-32 lowercase letters or digits, -, 8-32 more; 'aws organizations list-organizational-units-for-parent --parent-id <root or unit>' lists them)`,
				`amicrypt.yaml:5:26: targets[1].organizational_unit: "r-ab12" is the organization's root, not an organizational unit: for every account of the organization write organization: true`,
				`amicrypt.yaml:6:26: targets[2].organizational_unit: "ou-ab1-cd34ef56" is not an organizational unit id`,
			}},
		{"selected twice", head + "targets:\n  - organization: true\n  - organizational_unit: ou-ab12-cd34ef56\n  - organization: true\n    regions: [eu-west-1]\n  - organizational_unit: ou-ab12-cd34ef56\n",
			[]string{
				`amicrypt.yaml:6:19: targets[2].organization: organization: true is given twice (first at targets[0].organization, line 4): give the whole organization one entry`,
				`amicrypt.yaml:8:26: targets[3].organizational_unit: organizational unit ou-ab12-cd34ef56 is selected twice (first at targets[1].organizational_unit, line 5): give it one entry`,
			}},
		{"exclude on an account", head + "targets:\n  - account: \"222222222222\"\n    exclude: [\"333333333333\"]\n",
			[]string{`amicrypt.yaml:5:14: targets[0].exclude: exclude belongs to organization: true and organizational_unit entries; an account's entry serves that account only: remove exclude`}},
		{"exclude ids", head + "targets:\n  - organization: true\n    exclude: [\"22222222222\", 33333333333, \"444444444444\", \"444444444444\"]\n",
			[]string{
				`amicrypt.yaml:5:15: targets[0].exclude[0]: "22222222222" is not a 12-digit AWS account id`,
				`amicrypt.yaml:5:30: targets[0].exclude[1]: "33333333333" is not a 12-digit AWS account id; write account ids as quoted strings`,
				`amicrypt.yaml:5:59: targets[0].exclude[3]: account 444444444444 is excluded twice (first at targets[0].exclude[2], line 5)`,
			}},
		{"role_arn on a selector", head + "targets:\n  - organizational_unit: ou-ab12-cd34ef56\n    role_arn: arn:aws:iam::222222222222:role/amicrypt-target\n  - organization: true\n    role_arn: not-an-arn\n",
			[]string{
				`amicrypt.yaml:5:15: targets[0].role_arn: role_arn names one account's role, and this entry selects the accounts of organizational unit ou-ab12-cd34ef56: give role_name, the role's name in each account (default amicrypt-target)`,
				`amicrypt.yaml:7:15: targets[1].role_arn: role_arn names one account's role, and this entry selects the accounts of the organization: give role_name`,
			}},
		{"name on a selector", head + "targets:\n  - organization: true\n    name: everyone\n  - organizational_unit: ou-ab12-cd34ef56\n    name: \"\"\n",
			[]string{
				`amicrypt.yaml:5:11: targets[0].name: the accounts of the organization are named as in Organizations: remove name (to name one account, give it an entry of its own)`,
				`amicrypt.yaml:7:11: targets[1].name: the accounts of organizational unit ou-ab12-cd34ef56 are named as in Organizations: remove name`,
			}},
		{"block without a selector", "builder: {account: \"111111111111\"}\norganization:\n  role_arn: arn:aws:iam::999999999999:role/reader\ndefaults: {regions: [us-east-1]}\ntargets: [{account: \"222222222222\"}]\n",
			[]string{`amicrypt.yaml:3:3: organization: given, but no targets entry is organization: true or organizational_unit: ou-...: the block says how to read the organization for such entries; add one, or remove the block`}},
		{"block's values", "builder: {account: \"111111111111\"}\norganization: {role_arn: \"arn:aws:iam::999999999999:user/bob\"}\ndefaults: {regions: [us-east-1]}\ntargets: [{organization: true}]\n",
			[]string{`amicrypt.yaml:2:26: organization.role_arn: "arn:aws:iam::999999999999:user/bob" is not an IAM role ARN like arn:aws:iam::999999999999:role/amicrypt-organization-reader (a role in the management account or a delegated administrator account)`}},
		{"block's external id without a role", "builder: {account: \"111111111111\"}\norganization: {external_id: x}\ndefaults: {regions: [us-east-1]}\ntargets: [{organization: true}]\n",
			[]string{
				`amicrypt.yaml:2:29: organization.external_id: "x" is not a valid external id`,
				`amicrypt.yaml:2:29: organization.external_id: external_id is given when assuming role_arn, and there is none: add role_arn, or remove external_id`,
			}},
		{"unknown key in the block", "builder: {account: \"111111111111\"}\norganization: {role-arn: \"arn:aws:iam::999999999999:role/r\"}\ndefaults: {regions: [us-east-1]}\ntargets: [{organization: true}]\n",
			[]string{`amicrypt.yaml:2:16: organization.role-arn: unknown key "role-arn" (did you mean role_arn?); allowed keys: role_arn, external_id`}},
		{"unknown keys in a selector", head + "targets:\n  - organization: true\n    excludes: [\"222222222222\"]\n  - organisational_unit: ou-ab12-cd34ef56\n",
			[]string{
				`amicrypt.yaml:5:5: targets[0].excludes: unknown key "excludes" (did you mean exclude?); allowed keys: account, organization, organizational_unit, exclude, name, regions, role_name, role_arn, external_id, key_alias, key_arn, manage_key_policy, grant_service_linked_role, service_linked_role_suffix, boot_proof, publish, family, keep, launch_principals`,
				`amicrypt.yaml:6:5: targets[1].organisational_unit: unknown key "organisational_unit" (did you mean organizational_unit?); allowed keys: account, organization, organizational_unit, exclude, name`,
				// What the typo leaves: an entry with none of the three.
				`amicrypt.yaml:6:5: targets[1].account: required: the target's 12-digit account id`,
			}},
		{"the block in a targets entry", head + "targets:\n  - organization: {role_arn: \"arn:aws:iam::999999999999:role/r\"}\n",
			[]string{`amicrypt.yaml:4:19: targets[0].organization: expected true or false, got a mapping`}},
		{"block not a mapping", "builder: {account: \"111111111111\"}\norganization: true\ndefaults: {regions: [us-east-1]}\ntargets: [{organization: true}]\n",
			[]string{`amicrypt.yaml:2:15: organization: expected a mapping with keys role_arn, external_id; got "true"`}},
		{"defaults role_arn without a role_name", "builder: {account: \"111111111111\"}\ndefaults:\n  regions: [us-east-1]\n  role_arn: arn:aws:iam::222222222222:role/custom\ntargets:\n  - account: \"222222222222\"\n  - organizational_unit: ou-ab12-cd34ef56\n",
			[]string{`amicrypt.yaml:4:13: defaults.role_arn: role_arn names one account's role; a selector assumes role_name in each of its accounts instead (for targets[1], organizational unit ou-ab12-cd34ef56), and neither it nor defaults: gives one: add role_name under defaults: or on that entry (role_arn stays for the account entries)`}},
		{"selector without regions", "builder: {account: \"111111111111\"}\ntargets:\n  - account: \"222222222222\"\n    regions: [us-east-1]\n  - organization: true\n",
			[]string{`amicrypt.yaml:5:5: targets[1].regions: required: this target has no regions and defaults: gives none`}},
		{"selector's inherited key", "builder: {account: \"111111111111\"}\ndefaults:\n  regions: [us-east-1, eu-west-1]\n  key_arn: arn:aws:kms:us-east-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab\ntargets:\n  - organization: true\n    regions: [us-east-1]\n  - organizational_unit: ou-ab12-cd34ef56\n",
			[]string{`amicrypt.yaml:4:12: defaults.key_arn: the key is in us-east-1, but the target also copies into eu-west-1 (for targets[1], organizational unit ou-ab12-cd34ef56), where it cannot be used`}},
		{"selectors in two partitions", "builder: {account: \"111111111111\"}\norganization: {role_arn: \"arn:aws:iam::999999999999:role/r\"}\ntargets:\n  - organization: true\n    regions: [us-east-1]\n  - organizational_unit: ou-ab12-cd34ef56\n    regions: [cn-north-1]\n",
			[]string{`amicrypt.yaml:7:14: targets[1].regions: these regions are in partition aws-cn, but organization.role_arn, line 2 is in aws: an organization lives in one partition; select its accounts with regions of aws, and those of another partition's organization in a config of their own`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectErrors(t, tc.src, tc.want...)
		})
	}
}

func TestOrganizationSourceErrors(t *testing.T) {
	c := mustParse(t, `builder: {account: "111111111111"}
organization:
  role_arn: arn:aws-cn:iam::999999999999:role/reader
defaults:
  regions: [cn-north-1]
targets:
  - organizational_unit: ou-ab12-cd34ef56
`)
	_, _, _, err := c.Expand(twoSources)
	if err == nil {
		t.Fatal("Expand succeeded")
	}
	matchErrors(t, err,
		`amicrypt.yaml:3:13: organization.role_arn: the role is in partition aws-cn, but the sources (eu-west-1, us-east-1) are in aws: name a role of the organization the targets are in, in aws`,
		`amicrypt.yaml:5:13: defaults.regions[0]: no source image can reach cn-north-1: images are copied only within a partition, cn-north-1 is in aws-cn and the sources (eu-west-1, us-east-1) are in aws; give --source for a region of aws-cn, or remove cn-north-1 here`,
	)
}
