package wire

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// awsCLIs returns the AWS CLIs installed here: Debian's v2 at /usr/bin/aws
// and whatever `aws` is first on PATH (pip awscli v1), deduplicated.
func awsCLIs() []string {
	var clis []string
	seen := map[string]bool{}
	add := func(p string) {
		if p == "" {
			return
		}
		if _, err := os.Stat(p); err != nil {
			return
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			real = p
		}
		if !seen[real] {
			seen[real] = true
			clis = append(clis, p)
		}
	}
	add("/usr/bin/aws")
	if p, err := exec.LookPath("aws"); err == nil {
		add(p)
	}
	return clis
}

// cliFake serves every sandbox service on one address, like the real sandbox.
func cliFake(t *testing.T) *fakeAWS {
	created := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	fn := func(op *Operation, in map[string]any) (map[string]any, error) {
		switch op.Service().Name + ":" + op.Name {
		case "ec2:DescribeImages":
			if ids := Strs(in, "ImageIds"); len(ids) == 1 && ids[0] == "ami-404" {
				return nil, Errorf("InvalidAMIID.NotFound", "The image id '[ami-404]' does not exist")
			}
			if Filters(in)["tag:Name"][0] != "web" || Strs(in, "Owners")[0] != "self" {
				t.Errorf("cli DescribeImages input %#v", in)
			}
			return map[string]any{"Images": []any{map[string]any{
				"ImageId": Strs(in, "ImageIds")[0], "State": "available",
				"BlockDeviceMappings": []any{map[string]any{"DeviceName": "/dev/xvda",
					"Ebs": map[string]any{"SnapshotId": "snap-1", "VolumeSize": 8, "Encrypted": true}}},
				"Tags": []any{map[string]any{"Key": "Name", "Value": "web"}},
			}}}, nil
		case "ec2:CopyImage":
			if Str(in, "Name") != "copy" || !Bool(in, "Encrypted") || Str(in, "SourceRegion") != "us-east-1" {
				t.Errorf("cli CopyImage input %#v", in)
			}
			return map[string]any{"ImageId": "ami-copy"}, nil
		case "ec2:RunInstances":
			ts := Structs(in, "TagSpecifications")
			if len(ts) != 1 || Str(Structs(ts[0], "Tags")[0], "Value") != "builder" || Str(Struct(in, "LaunchTemplate"), "LaunchTemplateId") != "lt-1" {
				t.Errorf("cli RunInstances input %#v", in)
			}
			return map[string]any{"ReservationId": "r-1", "Instances": []any{map[string]any{
				"InstanceId": "i-1", "LaunchTime": created, "State": map[string]any{"Code": 0, "Name": "pending"},
			}}}, nil
		case "sts:AssumeRole":
			return map[string]any{"Credentials": map[string]any{
				"AccessKeyId": "ASIA1", "SecretAccessKey": "s", "SessionToken": "t", "Expiration": created,
			}}, nil
		case "kms:CreateKey":
			return map[string]any{"KeyMetadata": map[string]any{"KeyId": "k1", "CreationDate": created, "Enabled": true,
				"Description": Str(in, "Description")}}, nil
		case "kms:DescribeKey":
			return nil, Errorf("NotFoundException", "Key 'k404' does not exist")
		case "autoscaling:CreateAutoScalingGroup":
			if Str(Struct(in, "LaunchTemplate"), "LaunchTemplateId") != "lt-1" || Int(in, "MaxSize") != 2 {
				t.Errorf("cli CreateAutoScalingGroup input %#v", in)
			}
			return nil, nil
		case "ec2:DescribeSnapshots", "ec2:DescribeLaunchTemplates", "iam:ListRoles", "autoscaling:DescribeAutoScalingGroups",
			"kms:ListKeys", "ssm:GetParameters":
			return nil, nil // nothing to list
		case "ssm:GetParameter":
			return map[string]any{"Parameter": map[string]any{"Name": Str(in, "Name"), "Value": "v", "Version": 2, "LastModifiedDate": created}}, nil
		}
		return nil, Errorf("InvalidAction", "unexpected %s", op.Name)
	}
	return newFake(t, "", fn)
}

type cliCase struct {
	name     string
	args     []string
	wantErr  string            // substring of stderr for failing commands
	wantJSON map[string]string // dotted path → value in the JSON output
	// wantEmpty are members the JSON output must have as empty lists: what
	// the CLI prints for a list AWS answers empty ({"Images": []}).
	wantEmpty []string
}

var cliCases = []cliCase{
	{name: "ec2 describe-images",
		args: []string{"ec2", "describe-images", "--image-ids", "ami-1", "--owners", "self", "--filters", "Name=tag:Name,Values=web"},
		wantJSON: map[string]string{"Images.0.ImageId": "ami-1", "Images.0.BlockDeviceMappings.0.Ebs.VolumeSize": "8",
			"Images.0.BlockDeviceMappings.0.Ebs.Encrypted": "true", "Images.0.Tags.0.Value": "web"}},
	{name: "ec2 copy-image",
		args:     []string{"ec2", "copy-image", "--name", "copy", "--source-image-id", "ami-1", "--source-region", "us-east-1", "--encrypted"},
		wantJSON: map[string]string{"ImageId": "ami-copy"}},
	{name: "ec2 run-instances",
		args: []string{"ec2", "run-instances", "--count", "1", "--launch-template", "LaunchTemplateId=lt-1",
			"--tag-specifications", "ResourceType=instance,Tags=[{Key=Name,Value=builder}]"},
		wantJSON: map[string]string{"Instances.0.InstanceId": "i-1", "Instances.0.State.Name": "pending", "Instances.0.LaunchTime": "2026-11-23T10:00:00"}},
	{name: "ec2 error", args: []string{"ec2", "describe-images", "--image-ids", "ami-404"}, wantErr: "InvalidAMIID.NotFound"},
	{name: "sts assume-role", args: []string{"sts", "assume-role", "--role-arn", "arn:aws:iam::1:role/r", "--role-session-name", "sess"},
		wantJSON: map[string]string{"Credentials.AccessKeyId": "ASIA1", "Credentials.Expiration": "2026-11-23T10:00:00"}},
	{name: "kms create-key", args: []string{"kms", "create-key", "--description", "d"},
		wantJSON: map[string]string{"KeyMetadata.KeyId": "k1", "KeyMetadata.Description": "d", "KeyMetadata.Enabled": "true"}},
	{name: "kms error", args: []string{"kms", "describe-key", "--key-id", "k404"}, wantErr: "NotFoundException"},
	{name: "autoscaling create-auto-scaling-group",
		args: []string{"autoscaling", "create-auto-scaling-group", "--auto-scaling-group-name", "g", "--min-size", "0", "--max-size", "2",
			"--launch-template", "LaunchTemplateId=lt-1,Version=$Latest", "--vpc-zone-identifier", "subnet-1"}},
	{name: "ec2 describe-snapshots, none", args: []string{"ec2", "describe-snapshots", "--owner-ids", "self"}, wantEmpty: []string{"Snapshots"}},
	{name: "ec2 describe-launch-templates, none", args: []string{"ec2", "describe-launch-templates"}, wantEmpty: []string{"LaunchTemplates"}},
	{name: "iam list-roles, none", args: []string{"iam", "list-roles"}, wantEmpty: []string{"Roles"}},
	{name: "autoscaling describe-auto-scaling-groups, none", args: []string{"autoscaling", "describe-auto-scaling-groups"}, wantEmpty: []string{"AutoScalingGroups"}},
	{name: "kms list-keys, none", args: []string{"kms", "list-keys"}, wantEmpty: []string{"Keys"}},
	{name: "ssm get-parameters, none", args: []string{"ssm", "get-parameters", "--names", "/a"}, wantEmpty: []string{"InvalidParameters", "Parameters"}},
	{name: "ssm get-parameter", args: []string{"ssm", "get-parameter", "--name", "/p"},
		wantJSON: map[string]string{"Parameter.Name": "/p", "Parameter.Value": "v", "Parameter.Version": "2"}},
}

// TestAWSCLI drives the installed AWS CLIs (botocore's own serializers and
// parsers) against the codec. Skipped when no CLI is installed or in -short mode.
func TestAWSCLI(t *testing.T) {
	clis := awsCLIs()
	if len(clis) == 0 || testing.Short() {
		t.Skip("no aws CLI installed (or -short)")
	}
	f := cliFake(t)
	home := t.TempDir()
	env := append(os.Environ(),
		"HOME="+home,
		"AWS_ACCESS_KEY_ID="+testAKID, "AWS_SECRET_ACCESS_KEY=secret", "AWS_SESSION_TOKEN=tok",
		"AWS_DEFAULT_REGION=us-east-1", "AWS_REGION=us-east-1",
		"AWS_CONFIG_FILE="+filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "credentials"),
		"AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true", "AWS_MAX_ATTEMPTS=1", "AWS_RETRY_MODE=standard",
	)
	for _, cli := range clis {
		for _, tc := range cliCases {
			t.Run(filepath.Base(filepath.Dir(cli))+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				args := append([]string{"--endpoint-url", f.URL, "--output", "json"}, tc.args...)
				cmd := exec.Command(cli, args...)
				cmd.Env = env
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				err := cmd.Run()
				if tc.wantErr != "" {
					if err == nil || !strings.Contains(stderr.String(), tc.wantErr) {
						t.Errorf("%s: err %v, stderr %q; want %q", cli, err, stderr.String(), tc.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatalf("%s %v: %v\n%s", cli, tc.args, err, stderr.String())
				}
				if len(tc.wantJSON) == 0 && len(tc.wantEmpty) == 0 {
					return
				}
				var doc any
				if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
					t.Fatalf("output %q: %v", stdout.String(), err)
				}
				for _, key := range tc.wantEmpty {
					if got := jsonPath(doc, key); got != "[]" {
						t.Errorf("%s: %s = %s, want []\n%s", cli, key, got, stdout.String())
					}
				}
				for path, want := range tc.wantJSON {
					if got := jsonPath(doc, path); !strings.HasPrefix(got, want) {
						t.Errorf("%s: %s = %q, want %q\n%s", cli, path, got, want, stdout.String())
					}
				}
			})
		}
	}
}

// jsonPath follows a dotted path (numeric parts index arrays) and renders the leaf.
func jsonPath(doc any, path string) string {
	cur := doc
	for _, part := range strings.Split(path, ".") {
		switch v := cur.(type) {
		case map[string]any:
			cur = v[part]
		case []any:
			i := 0
			for _, c := range part {
				i = i*10 + int(c-'0')
			}
			if i >= len(v) {
				return "<missing>"
			}
			cur = v[i]
		default:
			return "<missing>"
		}
	}
	switch v := cur.(type) {
	case string:
		return v
	case nil:
		return "<missing>"
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}
