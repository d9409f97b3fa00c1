package sandbox

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/amicrypt/amicrypt/internal/sandbox/wire"
	"github.com/amicrypt/amicrypt/internal/sandbox/world"
)

// awsCLI finds the real AWS CLI. `make test` sets AMICRYPT_AWSCLI (and installs
// Debian's awscli when missing), so there the test must run; a bare `go test`
// on a machine without the CLI skips it.
func awsCLI(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("AMICRYPT_AWSCLI"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("AMICRYPT_AWSCLI=%s: %v (run `make deps`)", p, err)
		}
		return p
	}
	for _, p := range []string{"/usr/bin/aws"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	p, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("the AWS CLI is not installed; `make test` installs it")
	}
	return p
}

type cliRunner struct {
	t        *testing.T
	bin      string
	endpoint string
	home     string
}

// run calls the AWS CLI as an account (its 12-digit access key id) in a region
// and decodes its JSON output.
func (c *cliRunner) run(account, region string, args ...string) map[string]any {
	c.t.Helper()
	out, err := c.try(account, region, args...)
	if err != nil {
		c.t.Fatalf("aws %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func (c *cliRunner) try(account, region string, args ...string) (map[string]any, error) {
	c.t.Helper()
	full := append([]string{"--endpoint-url", c.endpoint, "--region", region, "--output", "json"}, args...)
	cmd := exec.Command(c.bin, full...)
	cmd.Env = []string{
		"HOME=" + c.home, "PATH=" + os.Getenv("PATH"),
		"AWS_ACCESS_KEY_ID=" + account, "AWS_SECRET_ACCESS_KEY=sandbox",
		"AWS_CONFIG_FILE=" + filepath.Join(c.home, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(c.home, "none"),
		"AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true", "AWS_MAX_ATTEMPTS=1",
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, &cliError{msg: strings.TrimSpace(stderr.String()), err: err}
	}
	out := map[string]any{}
	if s := bytes.TrimSpace(stdout.Bytes()); len(s) > 0 {
		if err := json.Unmarshal(s, &out); err != nil {
			return nil, &cliError{msg: "output is not JSON: " + string(s), err: err}
		}
	}
	return out, nil
}

type cliError struct {
	msg string
	err error
}

func (e *cliError) Error() string { return e.err.Error() + ": " + e.msg }

// dig walks decoded JSON: dig(v, "Images", 0, "State").
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func digStr(v any, path ...any) string {
	s, _ := dig(v, path...).(string)
	return s
}

// waitFor polls until cond is true or fails after the limit (real time: the AWS
// CLI runs against a sandbox on the wall clock with sub-second durations).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

const cliWorld = `
regions: [us-east-1]
organization_id: o-clitest0001
organization:
  units: [{id: ou-c1i0-00000001, name: workloads}]
accounts:
  - id: "111111111111"
    name: builder
    images:
      - {id: ami-0b0000000000a0001, region: us-east-1, name: base-2026-11, encrypted: false}
  - id: "222222222222"
    name: target
    organization: none
timing: {copy_seconds: 0.3, boot_seconds: 0.3, instance_seconds: 0.1, create_image_seconds: 0.1}
faults: {throttle: false}
`

// TestAWSCLIAgreesWithTheSandbox drives the sandbox with the real AWS CLI —
// a client written by nobody here — through the whole story: share, create a
// key and its policy, create the service-linked role, copy encrypted, and watch
// an Auto Scaling group succeed with a key that lets the role in and fail with
// "Client error on launch" with one that does not.
func TestAWSCLIAgreesWithTheSandbox(t *testing.T) {
	bin := awsCLI(t)
	w, err := world.Parse([]byte(cliWorld), "cli.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(w, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rememberServer(srv)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	cli := &cliRunner{t: t, bin: bin, endpoint: hs.URL, home: t.TempDir()}
	const region, builderID, targetID, source = "us-east-1", "111111111111", "222222222222", "ami-0b0000000000a0001"

	who := cli.run(targetID, region, "sts", "get-caller-identity")
	if digStr(who, "Account") != targetID {
		t.Fatalf("get-caller-identity: %v", who)
	}

	// 1. Share the source: launch permission and create-volume permission.
	cli.run(builderID, region, "ec2", "modify-image-attribute", "--image-id", source, "--launch-permission", "Add=[{UserId="+targetID+"}]")
	img := cli.run(builderID, region, "ec2", "describe-images", "--image-ids", source)
	snap := digStr(img, "Images", 0, "BlockDeviceMappings", 0, "Ebs", "SnapshotId")
	cli.run(builderID, region, "ec2", "modify-snapshot-attribute", "--snapshot-id", snap, "--attribute", "createVolumePermission", "--operation-type", "add", "--user-ids", targetID)
	perm := cli.run(builderID, region, "ec2", "describe-snapshot-attribute", "--snapshot-id", snap, "--attribute", "createVolumePermission")
	if digStr(perm, "CreateVolumePermissions", 0, "UserId") != targetID {
		t.Fatalf("create volume permission: %v", perm)
	}
	shared := cli.run(targetID, region, "ec2", "describe-images", "--executable-users", "self")
	if digStr(shared, "Images", 0, "ImageId") != source {
		t.Fatalf("target does not see the shared image: %v", shared)
	}

	// 2. The service-linked role and two keys: one whose policy lets the role in
	// (seed 003, case 1), one with the default policy (root only).
	slr := cli.run(targetID, region, "iam", "create-service-linked-role", "--aws-service-name", "autoscaling.amazonaws.com")
	slrARN := digStr(slr, "Role", "Arn")
	if !strings.HasSuffix(slrARN, "/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling") {
		t.Fatalf("service-linked role: %v", slr)
	}
	good := digStr(cli.run(targetID, region, "kms", "create-key", "--description", "dedicated"), "KeyMetadata", "KeyId")
	policy := `{"Version":"2012-10-17","Statement":[
	 {"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + targetID + `:root"},"Action":"kms:*","Resource":"*"},
	 {"Sid":"Allow use of the key","Effect":"Allow","Principal":{"AWS":["` + slrARN + `"]},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"},
	 {"Sid":"Allow attachment of persistent resources","Effect":"Allow","Principal":{"AWS":["` + slrARN + `"]},"Action":["kms:CreateGrant"],"Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":true}}}]}`
	cli.run(targetID, region, "kms", "put-key-policy", "--key-id", good, "--policy-name", "default", "--policy", policy)
	cli.run(targetID, region, "kms", "create-alias", "--alias-name", "alias/dedicated", "--target-key-id", good)
	got := cli.run(targetID, region, "kms", "get-key-policy", "--key-id", good, "--policy-name", "default") // GetKeyPolicy takes no alias
	if !strings.Contains(digStr(got, "Policy"), "Allow attachment of persistent resources") {
		t.Fatalf("key policy not stored: %v", got)
	}
	bad := digStr(cli.run(targetID, region, "kms", "create-key", "--description", "default policy"), "KeyMetadata", "KeyId")
	cli.run(targetID, region, "kms", "create-alias", "--alias-name", "alias/forgetful", "--target-key-id", bad)

	// 3. Encrypted copies, one under each key.
	copyUnder := func(alias, name string) string {
		out := cli.run(targetID, region, "ec2", "copy-image", "--source-image-id", source, "--source-region", region,
			"--name", name, "--encrypted", "--kms-key-id", alias, "--client-token", name)
		id := digStr(out, "ImageId")
		waitFor(t, "copy "+id+" available", func() bool {
			d := cli.run(targetID, region, "ec2", "describe-images", "--image-ids", id)
			return digStr(d, "Images", 0, "State") == "available"
		})
		return id
	}
	goodAMI := copyUnder("alias/dedicated", "base-good")
	badAMI := copyUnder("alias/forgetful", "base-bad")
	d := cli.run(targetID, region, "ec2", "describe-images", "--image-ids", goodAMI)
	snaps := cli.run(targetID, region, "ec2", "describe-snapshots", "--snapshot-ids", digStr(d, "Images", 0, "BlockDeviceMappings", 0, "Ebs", "SnapshotId"))
	if !strings.HasSuffix(digStr(snaps, "Snapshots", 0, "KmsKeyId"), good) || dig(snaps, "Snapshots", 0, "Encrypted") != true {
		t.Fatalf("copy's snapshot not under the dedicated key: %v", snaps)
	}

	// 4. Boot proof through Auto Scaling, both outcomes.
	prove := func(ami, name string) map[string]any {
		lt := cli.run(targetID, region, "ec2", "create-launch-template", "--launch-template-name", name,
			"--launch-template-data", `{"ImageId":"`+ami+`","InstanceType":"t3.micro"}`)
		ltID := digStr(lt, "LaunchTemplate", "LaunchTemplateId")
		cli.run(targetID, region, "autoscaling", "create-auto-scaling-group", "--auto-scaling-group-name", name,
			"--launch-template", "LaunchTemplateId="+ltID+",Version=$Latest", "--min-size", "0", "--max-size", "1", "--desired-capacity", "1",
			"--availability-zones", region+"a", "--service-linked-role-arn", slrARN)
		var act map[string]any
		waitFor(t, "a finished scaling activity of "+name, func() bool {
			acts := cli.run(targetID, region, "autoscaling", "describe-scaling-activities", "--auto-scaling-group-name", name)
			for _, a := range dig(acts, "Activities").([]any) {
				if s := digStr(a, "StatusCode"); s == "Successful" || s == "Failed" {
					act = a.(map[string]any)
					return true
				}
			}
			return false
		})
		cli.run(targetID, region, "autoscaling", "delete-auto-scaling-group", "--auto-scaling-group-name", name, "--force-delete")
		cli.run(targetID, region, "ec2", "delete-launch-template", "--launch-template-id", ltID)
		return act
	}
	if act := prove(goodAMI, "proof-good"); digStr(act, "StatusCode") != "Successful" {
		t.Fatalf("boot proof with a key that lets the service-linked role in: %v", act)
	}
	act := prove(badAMI, "proof-bad")
	if digStr(act, "StatusCode") != "Failed" || !strings.Contains(digStr(act, "StatusMessage"), "Client.InternalError: Client error on launch") {
		t.Fatalf("boot proof with a root-only key policy: want Failed with Client error on launch, got %v", act)
	}

	// 5. What a key rotation reads and changes: the volumes of an instance of the
	// copy (no kms-key-id filter in EC2: the key is in the output), the alias
	// repointed, the old key scheduled for deletion.
	run := cli.run(targetID, region, "ec2", "run-instances", "--image-id", goodAMI, "--instance-type", "t3.micro", "--count", "1")
	instanceID := digStr(run, "Instances", 0, "InstanceId")
	vols := cli.run(targetID, region, "ec2", "describe-volumes", "--filters", "Name=attachment.instance-id,Values="+instanceID, "Name=encrypted,Values=true")
	if !strings.HasSuffix(digStr(vols, "Volumes", 0, "KmsKeyId"), ":key/"+good) || dig(vols, "Volumes", 0, "Encrypted") != true ||
		digStr(vols, "Volumes", 0, "Attachments", 0, "InstanceId") != instanceID {
		t.Fatalf("describe-volumes of the instance: %v", vols)
	}
	cli.run(targetID, region, "ec2", "terminate-instances", "--instance-ids", instanceID)
	cli.run(targetID, region, "kms", "update-alias", "--alias-name", "alias/dedicated", "--target-key-id", bad)
	if k := cli.run(targetID, region, "kms", "describe-key", "--key-id", "alias/dedicated"); digStr(k, "KeyMetadata", "KeyId") != bad {
		t.Fatalf("alias/dedicated after update-alias: %v", k)
	}
	if _, err := cli.try(targetID, region, "kms", "schedule-key-deletion", "--key-id", good, "--pending-window-in-days", "5"); err == nil || !strings.Contains(err.Error(), "ValidationException") {
		t.Fatalf("schedule-key-deletion with 5 days: want ValidationException, got %v", err)
	}
	sched := cli.run(targetID, region, "kms", "schedule-key-deletion", "--key-id", good, "--pending-window-in-days", "7")
	if digStr(sched, "KeyState") != "PendingDeletion" || digStr(sched, "DeletionDate") == "" || dig(sched, "PendingWindowInDays") != float64(7) {
		t.Fatalf("schedule-key-deletion: %v", sched)
	}

	// 6. An error the CLI must classify: a missing image.
	if _, err := cli.try(targetID, region, "ec2", "describe-images", "--image-ids", "ami-0fffffffffffffff0"); err == nil || !strings.Contains(err.Error(), "InvalidAMIID.NotFound") {
		t.Fatalf("missing image: want InvalidAMIID.NotFound from the CLI, got %v", err)
	}

	// 7. CloudTrail: a Decrypt refused because its key is disabled, read back
	// with lookup-events by the key's ARN.
	trailKey := digStr(cli.run(targetID, region, "kms", "create-key", "--description", "audited"), "KeyMetadata", "Arn")
	dk := cli.run(targetID, region, "kms", "generate-data-key-without-plaintext", "--key-id", trailKey, "--key-spec", "AES_256")
	blob, err := base64.StdEncoding.DecodeString(digStr(dk, "CiphertextBlob"))
	if err != nil || len(blob) == 0 {
		t.Fatalf("generate-data-key-without-plaintext: %v %v", dk, err)
	}
	blobFile := filepath.Join(cli.home, "data-key.bin")
	if err := os.WriteFile(blobFile, blob, 0o600); err != nil {
		t.Fatal(err)
	}
	cli.run(targetID, region, "kms", "disable-key", "--key-id", trailKey)
	if _, err := cli.try(targetID, region, "kms", "decrypt", "--ciphertext-blob", "fileb://"+blobFile); err == nil || !strings.Contains(err.Error(), "DisabledException") {
		t.Fatalf("decrypt under a disabled key: want DisabledException, got %v", err)
	}
	trail := cli.run(targetID, region, "cloudtrail", "lookup-events", "--lookup-attributes", "AttributeKey=ResourceName,AttributeValue="+trailKey)
	events, _ := dig(trail, "Events").([]any)
	var seen []string
	for _, ev := range events {
		seen = append(seen, digStr(ev, "EventName"))
	}
	if strings.Join(seen, ",") != "Decrypt,DisableKey,GenerateDataKeyWithoutPlaintext,CreateKey" {
		t.Fatalf("lookup-events by the key's ARN, newest first: %v", seen)
	}
	refused := events[0]
	var rec struct {
		EventSource       string         `json:"eventSource"`
		ErrorCode         string         `json:"errorCode"`
		ErrorMessage      string         `json:"errorMessage"`
		RequestParameters map[string]any `json:"requestParameters"`
		UserIdentity      struct {
			Type      string `json:"type"`
			AccountID string `json:"accountId"`
		} `json:"userIdentity"`
	}
	if err := json.Unmarshal([]byte(digStr(refused, "CloudTrailEvent")), &rec); err != nil {
		t.Fatalf("CloudTrailEvent: %v", err)
	}
	if rec.EventSource != "kms.amazonaws.com" || rec.ErrorCode != "DisabledException" || !strings.Contains(rec.ErrorMessage, trailKey) ||
		rec.RequestParameters["keyId"] != trailKey || rec.UserIdentity.Type != "Root" || rec.UserIdentity.AccountID != targetID ||
		digStr(refused, "EventSource") != "kms.amazonaws.com" || digStr(refused, "Username") != "root" || digStr(refused, "ReadOnly") != "true" ||
		digStr(refused, "EventTime") == "" || digStr(refused, "Resources", 0, "ResourceType") != "AWS::KMS::Key" || digStr(refused, "Resources", 0, "ResourceName") != trailKey {
		t.Fatalf("the refused Decrypt's event: %v\n%+v", refused, rec)
	}

	// 8. The source's permissions reset, and every change of them read back
	// with lookup-events by the image id, newest first.
	cli.run(builderID, region, "ec2", "reset-image-attribute", "--image-id", source, "--attribute", "launchPermission")
	cli.run(builderID, region, "ec2", "reset-snapshot-attribute", "--snapshot-id", snap, "--attribute", "createVolumePermission")
	if perm := cli.run(builderID, region, "ec2", "describe-snapshot-attribute", "--snapshot-id", snap, "--attribute", "createVolumePermission"); len(dig(perm, "CreateVolumePermissions").([]any)) != 0 {
		t.Fatalf("create volume permission after reset-snapshot-attribute: %v", perm)
	}
	changes := cli.run(builderID, region, "cloudtrail", "lookup-events", "--lookup-attributes", "AttributeKey=ResourceName,AttributeValue="+source)
	var changed []string
	for _, ev := range dig(changes, "Events").([]any) {
		changed = append(changed, digStr(ev, "EventName"))
	}
	if strings.Join(changed, ",") != "ResetImageAttribute,ModifyImageAttribute" {
		t.Fatalf("lookup-events by the source image, newest first: %v", changed)
	}
	var share struct {
		RequestParameters struct {
			LaunchPermission struct {
				Add struct {
					Items []struct {
						UserID string `json:"userId"`
					} `json:"items"`
				} `json:"add"`
			} `json:"launchPermission"`
		} `json:"requestParameters"`
	}
	if err := json.Unmarshal([]byte(digStr(changes, "Events", 1, "CloudTrailEvent")), &share); err != nil ||
		len(share.RequestParameters.LaunchPermission.Add.Items) != 1 || share.RequestParameters.LaunchPermission.Add.Items[0].UserID != targetID {
		t.Fatalf("the share's requestParameters: %v %+v", err, share)
	}

	// 9. Organizations: the builder's organization; the target is in none.
	org := cli.run(builderID, region, "organizations", "describe-organization")
	if digStr(org, "Organization", "Id") != "o-clitest0001" || digStr(org, "Organization", "MasterAccountId") != builderID {
		t.Fatalf("describe-organization: %v", org)
	}
	if _, err := cli.try(targetID, region, "organizations", "describe-organization"); err == nil || !strings.Contains(err.Error(), "AWSOrganizationsNotInUseException") {
		t.Fatalf("describe-organization in no organization: want AWSOrganizationsNotInUseException, got %v", err)
	}
	// The management account reads the tree: the root, the builder directly
	// under it, the one OU; the CLI pages through with --page-size.
	roots := cli.run(builderID, region, "organizations", "list-roots")
	root := digStr(roots, "Roots", 0, "Id")
	if root != "r-c1i0" || digStr(roots, "Roots", 0, "Arn") != "arn:aws:organizations::"+builderID+":root/o-clitest0001/r-c1i0" || digStr(roots, "Roots", 0, "Name") != "Root" {
		t.Fatalf("list-roots: %v", roots)
	}
	accounts := cli.run(builderID, region, "organizations", "list-children", "--parent-id", root, "--child-type", "ACCOUNT")
	if digStr(accounts, "Children", 0, "Id") != builderID || digStr(accounts, "Children", 0, "Type") != "ACCOUNT" || dig(accounts, "Children", 1) != nil {
		t.Fatalf("list-children ACCOUNT: %v", accounts)
	}
	units := cli.run(builderID, region, "organizations", "list-children", "--parent-id", root, "--child-type", "ORGANIZATIONAL_UNIT", "--page-size", "1")
	if digStr(units, "Children", 0, "Id") != "ou-c1i0-00000001" || digStr(units, "Children", 0, "Type") != "ORGANIZATIONAL_UNIT" {
		t.Fatalf("list-children ORGANIZATIONAL_UNIT: %v", units)
	}
	if _, err := cli.try(builderID, region, "organizations", "list-children", "--parent-id", "ou-c1i0-99999999", "--child-type", "ACCOUNT"); err == nil || !strings.Contains(err.Error(), "ParentNotFoundException") {
		t.Fatalf("list-children of no OU: want ParentNotFoundException, got %v", err)
	}
}

// emptyCLICase is one AWS CLI command that finds nothing, and the members of
// its output that must be printed as empty lists.
type emptyCLICase struct {
	op      string // service:Operation
	account string
	args    []string
	empty   []string
}

// neverEmpty are output lists AWS cannot answer empty, so no command reads
// them empty: one entry per instance id, permission or attribute the request
// names (the request must name at least one, or is refused), or the instances
// launched.
var neverEmpty = map[string][]string{
	"ec2:StopInstances":                 {"StoppingInstances"},
	"ec2:StartInstances":                {"StartingInstances"},
	"ec2:TerminateInstances":            {"TerminatingInstances"},
	"ec2:AuthorizeSecurityGroupIngress": {"SecurityGroupRules"},
	"ec2:DescribeAccountAttributes":     {"AccountAttributes"},
	"ec2:RunInstances":                  {"Instances"},
	// An organization has one root; an account or OU one parent; the
	// management account is always a member.
	"organizations:ListRoots":    {"Roots"},
	"organizations:ListParents":  {"Parents"},
	"organizations:ListAccounts": {"Accounts"},
}

// notInTheCLI are list-returning operations newer than the AWS CLI these
// tests drive (2.9.19): TestEmptyListsOfOperationsTheCLILacks reads their
// lists empty through aws-sdk-go-v2 instead.
var notInTheCLI = map[string][]string{
	"ec2:DescribeImageReferences": {"ImageReferences"},
}

// TestEmptyListsOfOperationsTheCLILacks: aws-sdk-go-v2 gets an empty list,
// not an absent one, from each operation in notInTheCLI.
func TestEmptyListsOfOperationsTheCLILacks(t *testing.T) {
	e := newTestEnv(t, "")
	acct := e.srv.world.Accounts[0].ID
	refs, err := e.ec2(acct, e.region).DescribeImageReferences(e.ctx, &ec2.DescribeImageReferencesInput{ImageIds: []string{"ami-0fffffffffffffff0"}, IncludeAllResourceTypes: aws.Bool(true)})
	if err != nil || refs.ImageReferences == nil {
		t.Errorf("DescribeImageReferences: %#v, %v; want an empty list", refs, err)
	}
}

// TestAWSCLIPrintsEmptyLists reads, with the real AWS CLI, an empty result of
// every list-returning operation the sandbox serves, and checks the CLI prints
// each list as [] ({"Images": []}), as it does against AWS, rather than nothing.
func TestAWSCLIPrintsEmptyLists(t *testing.T) {
	bin := awsCLI(t)
	const region, owner, empty = "us-east-1", "111111111111", "333333333333"
	const image, snapshot = "ami-0b0000000000a0001", "snap-0b0000000000a0001"
	e := newTestEnv(t, `
regions: [us-east-1]
organization:
  id: o-clitest0002
  units: [{id: ou-e0e0-00000001, name: empty}]
accounts:
  - id: "111111111111"
    images:
      - {id: ami-0b0000000000a0001, region: us-east-1, name: base, encrypted: false, snapshot_id: snap-0b0000000000a0001}
  - id: "333333333333"
faults: {throttle: false}
`)
	// What the owner's empty lists hang off: a key, a role, a parameter.
	key := aws.ToString(must(e.kms(owner, region).CreateKey(e.ctx, &kms.CreateKeyInput{})).KeyMetadata.KeyId)
	must(e.iam(owner).CreateRole(e.ctx, &iam.CreateRoleInput{RoleName: aws.String("reader"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:AssumeRole"}]}`)}))
	must(e.ssm(owner, region).PutParameter(e.ctx, &ssm.PutParameterInput{Name: aws.String("/base/ami"), Value: aws.String(image), Type: ssmtypes.ParameterTypeString}))

	cases := []emptyCLICase{
		{"ec2:DescribeImages", empty, []string{"ec2", "describe-images", "--owners", "self"}, []string{"Images"}},
		{"ec2:DescribeSnapshots", empty, []string{"ec2", "describe-snapshots", "--owner-ids", "self"}, []string{"Snapshots"}},
		{"ec2:DescribeVolumes", empty, []string{"ec2", "describe-volumes"}, []string{"Volumes"}},
		{"ec2:DescribeTags", empty, []string{"ec2", "describe-tags"}, []string{"Tags"}},
		{"ec2:DescribeInstances", empty, []string{"ec2", "describe-instances"}, []string{"Reservations"}},
		{"ec2:DescribeInstanceStatus", empty, []string{"ec2", "describe-instance-status"}, []string{"InstanceStatuses"}},
		{"ec2:DescribeLaunchTemplates", empty, []string{"ec2", "describe-launch-templates"}, []string{"LaunchTemplates"}},
		{"ec2:DescribeLaunchTemplateVersions", empty, []string{"ec2", "describe-launch-template-versions", "--versions", "$Latest"}, []string{"LaunchTemplateVersions"}},
		{"ec2:DescribeRegions", empty, []string{"ec2", "describe-regions", "--filters", "Name=region-name,Values=xx-nowhere-1"}, []string{"Regions"}},
		{"ec2:DescribeAvailabilityZones", empty, []string{"ec2", "describe-availability-zones", "--filters", "Name=zone-name,Values=xx-nowhere-1a"}, []string{"AvailabilityZones"}},
		{"ec2:DescribeVpcs", empty, []string{"ec2", "describe-vpcs", "--filters", "Name=is-default,Values=false"}, []string{"Vpcs"}},
		{"ec2:DescribeSubnets", empty, []string{"ec2", "describe-subnets", "--filters", "Name=vpc-id,Values=vpc-00000000"}, []string{"Subnets"}},
		{"ec2:DescribeSecurityGroups", empty, []string{"ec2", "describe-security-groups", "--filters", "Name=vpc-id,Values=vpc-00000000"}, []string{"SecurityGroups"}},
		{"ec2:DescribeKeyPairs", empty, []string{"ec2", "describe-key-pairs"}, []string{"KeyPairs"}},
		{"ec2:DescribeInstanceTypes", empty, []string{"ec2", "describe-instance-types", "--filters", "Name=processor-info.supported-architecture,Values=sparc"}, []string{"InstanceTypes"}},
		{"ec2:DescribeImageAttribute", owner, []string{"ec2", "describe-image-attribute", "--image-id", image, "--attribute", "launchPermission"}, []string{"LaunchPermissions"}},
		{"ec2:DescribeSnapshotAttribute", owner, []string{"ec2", "describe-snapshot-attribute", "--snapshot-id", snapshot, "--attribute", "createVolumePermission"}, []string{"CreateVolumePermissions"}},
		{"ec2:RunInstances", owner, []string{"ec2", "run-instances", "--image-id", image, "--instance-type", "t3.micro", "--count", "1"}, []string{"Groups"}},
		{"kms:ListKeys", empty, []string{"kms", "list-keys"}, []string{"Keys"}},
		{"kms:ListAliases", owner, []string{"kms", "list-aliases", "--key-id", key}, []string{"Aliases"}},
		{"kms:ListGrants", owner, []string{"kms", "list-grants", "--key-id", key}, []string{"Grants"}},
		{"kms:ListResourceTags", owner, []string{"kms", "list-resource-tags", "--key-id", key}, []string{"Tags"}},
		{"iam:ListRoles", empty, []string{"iam", "list-roles", "--path-prefix", "/nothing/"}, []string{"Roles"}},
		{"iam:ListRolePolicies", owner, []string{"iam", "list-role-policies", "--role-name", "reader"}, []string{"PolicyNames"}},
		{"iam:ListAttachedRolePolicies", owner, []string{"iam", "list-attached-role-policies", "--role-name", "reader"}, []string{"AttachedPolicies"}},
		{"iam:ListAccountAliases", empty, []string{"iam", "list-account-aliases"}, []string{"AccountAliases"}},
		{"autoscaling:DescribeAutoScalingGroups", empty, []string{"autoscaling", "describe-auto-scaling-groups"}, []string{"AutoScalingGroups"}},
		{"autoscaling:DescribeScalingActivities", empty, []string{"autoscaling", "describe-scaling-activities"}, []string{"Activities"}},
		{"autoscaling:DescribeAutoScalingInstances", empty, []string{"autoscaling", "describe-auto-scaling-instances"}, []string{"AutoScalingInstances"}},
		{"autoscaling:DescribeLaunchConfigurations", empty, []string{"autoscaling", "describe-launch-configurations"}, []string{"LaunchConfigurations"}},
		{"ssm:GetParameters", owner, []string{"ssm", "get-parameters", "--names", "/base/ami"}, []string{"InvalidParameters"}},
		{"ssm:GetParameters", empty, []string{"ssm", "get-parameters", "--names", "/base/ami"}, []string{"Parameters"}},
		{"ssm:DescribeParameters", empty, []string{"ssm", "describe-parameters"}, []string{"Parameters"}},
		{"ssm:GetParametersByPath", owner, []string{"ssm", "get-parameters-by-path", "--path", "/nothing"}, []string{"Parameters"}},
		{"cloudtrail:LookupEvents", empty, []string{"cloudtrail", "lookup-events", "--end-time", "2000-01-01T00:00:00Z"}, []string{"Events"}},
		{"ssm:ListTagsForResource", owner, []string{"ssm", "list-tags-for-resource", "--resource-type", "Parameter", "--resource-id", "/base/ami"}, []string{"TagList"}},
		{"organizations:ListChildren", owner, []string{"organizations", "list-children", "--parent-id", "ou-e0e0-00000001", "--child-type", "ACCOUNT"}, []string{"Children"}},
		{"organizations:ListAccountsForParent", owner, []string{"organizations", "list-accounts-for-parent", "--parent-id", "ou-e0e0-00000001"}, []string{"Accounts"}},
		{"organizations:ListOrganizationalUnitsForParent", owner, []string{"organizations", "list-organizational-units-for-parent", "--parent-id", "ou-e0e0-00000001"}, []string{"OrganizationalUnits"}},
	}

	// Every list the sandbox can answer empty is read empty by some case.
	read := map[string]bool{}
	for _, c := range cases {
		for _, m := range c.empty {
			read[c.op+"."+m] = true
		}
	}
	for _, m := range []map[string][]string{neverEmpty, notInTheCLI} {
		for op, members := range m {
			for _, l := range members {
				read[op+"."+l] = true
			}
		}
	}
	for _, svc := range wire.Services() {
		for _, name := range wire.MustLoad(svc).Operations() {
			op, _ := wire.MustLoad(svc).Operation(name)
			for _, m := range op.EmptyLists() {
				if !read[svc+":"+name+"."+m] {
					t.Errorf("%s:%s returns %s, which no case reads empty", svc, name, m)
				}
			}
		}
	}

	cli := &cliRunner{t: t, bin: bin, endpoint: e.http.URL, home: t.TempDir()}
	results := make([]string, len(cases))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2) // the CLI is a Python start-up per call; two at a time on two cores
	for i, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out, err := cli.try(c.account, region, c.args...)
			if err != nil {
				results[i] = fmt.Sprintf("aws %s: %v", strings.Join(c.args, " "), err)
				return
			}
			for _, m := range c.empty {
				if l, ok := out[m].([]any); !ok || len(l) != 0 {
					b, _ := json.Marshal(out)
					results[i] += fmt.Sprintf("aws %s: %s is %v, want [] in %s\n", strings.Join(c.args, " "), m, out[m], b)
				}
			}
		}()
	}
	wg.Wait()
	for _, r := range results {
		if r != "" {
			t.Error(r)
		}
	}
}
