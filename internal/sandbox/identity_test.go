package sandbox

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/amicrypt/amicrypt/internal/sandbox/world"
)

const identityWorld = `
regions: [us-east-1]
accounts:
  - id: "111111111111"
    name: builder
    roles:
      - name: pipeline
        trust: {Version: "2012-10-17", Statement: [{Effect: Allow, Principal: {AWS: "arn:aws:iam::111111111111:root"}, Action: "sts:AssumeRole"}]}
        policies: [{Version: "2012-10-17", Statement: [{Effect: Allow, Action: "sts:AssumeRole", Resource: "arn:aws:iam::*:role/target"}]}]
      - name: no-assume
        trust: {Version: "2012-10-17", Statement: [{Effect: Allow, Principal: {AWS: "arn:aws:iam::111111111111:root"}, Action: "sts:AssumeRole"}]}
        policies: [{Version: "2012-10-17", Statement: [{Effect: Allow, Action: "ec2:Describe*", Resource: "*"}]}]
  - id: "222222222222"
    roles:
      - name: target
        trust:
          Version: "2012-10-17"
          Statement:
            - Effect: Allow
              Principal: {AWS: "arn:aws:iam::111111111111:role/pipeline"}
              Action: "sts:AssumeRole"
              Condition: {StringEquals: {"sts:ExternalId": "amicrypt"}}
        policies: [{Version: "2012-10-17", Statement: [{Effect: Allow, Action: ["ec2:Describe*", "iam:GetRole"], Resource: "*"}]}]
faults: {throttle: false}
`

func TestCallerIdentityOfRootAndOfAnAssumedRole(t *testing.T) {
	e := newTestEnv(t, identityWorld)
	id := must(e.sts("111111111111", "us-east-1").GetCallerIdentity(e.ctx, &sts.GetCallerIdentityInput{}))
	if *id.Account != "111111111111" || *id.Arn != "arn:aws:iam::111111111111:root" {
		t.Fatalf("root identity: %s %s", *id.Account, *id.Arn)
	}
	pipe := must(e.assumeRole(e.rootCfg("111111111111", "us-east-1"), "arn:aws:iam::111111111111:role/pipeline", ""))
	tgt := must(e.assumeRole(pipe, "arn:aws:iam::222222222222:role/target", "amicrypt"))
	id = must(sts.NewFromConfig(tgt).GetCallerIdentity(e.ctx, &sts.GetCallerIdentityInput{}))
	if *id.Account != "222222222222" || *id.Arn != "arn:aws:sts::222222222222:assumed-role/target/test" || !strings.HasPrefix(*id.UserId, "AROA") {
		t.Fatalf("assumed identity: %s %s %s", *id.Account, *id.Arn, *id.UserId)
	}
	// The session's identity policy applies: describe yes, copy no.
	must(ec2.NewFromConfig(tgt).DescribeImages(e.ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}}))
	_, err := ec2.NewFromConfig(tgt).CreateTags(e.ctx, &ec2.CreateTagsInput{Resources: []string{"ami-0123456789abcdef0"}, Tags: []ec2types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}})
	if errCode(err) != "UnauthorizedOperation" {
		t.Fatalf("action outside the role's policy: want UnauthorizedOperation, got %v", err)
	}
}

func TestF7AssumeRoleRefusedWithTheConditionThatFailed(t *testing.T) {
	e := newTestEnv(t, identityWorld)
	pipe := must(e.assumeRole(e.rootCfg("111111111111", "us-east-1"), "arn:aws:iam::111111111111:role/pipeline", ""))
	for name, ext := range map[string]string{"missing external id": "", "wrong external id": "nope"} {
		_, err := e.assumeRole(pipe, "arn:aws:iam::222222222222:role/target", ext)
		if errCode(err) != "AccessDenied" || !strings.Contains(err.Error(), "arn:aws:iam::222222222222:role/target") {
			t.Fatalf("%s: want AccessDenied naming the role, got %v", name, err)
		}
	}
	// The trust policy allows only the pipeline role, not the account root.
	if _, err := e.assumeRole(e.rootCfg("111111111111", "us-east-1"), "arn:aws:iam::222222222222:role/target", "amicrypt"); errCode(err) != "AccessDenied" {
		t.Fatalf("root of the builder: want AccessDenied, got %v", err)
	}
	// A role whose own policy lacks sts:AssumeRole cannot hop, even with the right id.
	other := must(e.assumeRole(e.rootCfg("111111111111", "us-east-1"), "arn:aws:iam::111111111111:role/no-assume", ""))
	if _, err := e.assumeRole(other, "arn:aws:iam::222222222222:role/target", "amicrypt"); errCode(err) != "AccessDenied" {
		t.Fatalf("no identity permission: want AccessDenied, got %v", err)
	}
	if _, err := e.assumeRole(pipe, "arn:aws:iam::222222222222:role/absent", "amicrypt"); errCode(err) != "AccessDenied" {
		t.Fatalf("absent role: want AccessDenied, got %v", err)
	}
}

func TestCredentialsAreChecked(t *testing.T) {
	e := newTestEnv(t, identityWorld)
	_, err := e.sts("999999999999", "us-east-1").GetCallerIdentity(e.ctx, &sts.GetCallerIdentityInput{})
	if errCode(err) != "InvalidClientTokenId" {
		t.Fatalf("account not in the world: want InvalidClientTokenId, got %v", err)
	}
	_, err = ec2.NewFromConfig(e.cfg("ASIAFAKEFAKEFAKE0000", "x", "t", "us-east-1")).DescribeImages(e.ctx, &ec2.DescribeImagesInput{})
	if errCode(err) != "InvalidClientTokenId" {
		t.Fatalf("unknown session: want InvalidClientTokenId, got %v", err)
	}
	// Sessions expire.
	pipe := must(e.assumeRole(e.rootCfg("111111111111", "us-east-1"), "arn:aws:iam::111111111111:role/pipeline", ""))
	e.clock.Advance(2 * time.Hour)
	if _, err := sts.NewFromConfig(pipe).GetCallerIdentity(e.ctx, &sts.GetCallerIdentityInput{}); errCode(err) != "ExpiredToken" {
		t.Fatalf("expired session: want ExpiredToken, got %v", err)
	}
	// A region the world does not have.
	if _, err := e.ec2("111111111111", "ap-south-1").DescribeImages(e.ctx, &ec2.DescribeImagesInput{}); err == nil {
		t.Fatal("a region outside the world answered")
	}
	// No signature at all is refused as AWS refuses it.
	resp, err := http.Post(e.http.URL+"/", "application/x-www-form-urlencoded", strings.NewReader("Action=GetCallerIdentity&Version=2011-06-15"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(body), "MissingAuthenticationToken") {
		t.Fatalf("unsigned request: %d %s", resp.StatusCode, body)
	}
}

func TestServiceLinkedRoles(t *testing.T) {
	e := newTestEnv(t, identityWorld)
	c := e.iam("222222222222")
	if _, err := c.GetRole(e.ctx, &iam.GetRoleInput{RoleName: aws.String("AWSServiceRoleForAutoScaling_CMK")}); errCode(err) != "NoSuchEntity" {
		t.Fatalf("before create: want NoSuchEntity, got %v", err)
	}
	out := must(c.CreateServiceLinkedRole(e.ctx, &iam.CreateServiceLinkedRoleInput{AWSServiceName: aws.String("autoscaling.amazonaws.com"), CustomSuffix: aws.String("CMK")}))
	want := "arn:aws:iam::222222222222:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_CMK"
	if *out.Role.Arn != want {
		t.Fatalf("role ARN: want %s, got %s", want, *out.Role.Arn)
	}
	if _, err := c.CreateServiceLinkedRole(e.ctx, &iam.CreateServiceLinkedRoleInput{AWSServiceName: aws.String("autoscaling.amazonaws.com"), CustomSuffix: aws.String("CMK")}); errCode(err) != "InvalidInput" {
		t.Fatalf("create twice: want InvalidInput, got %v", err)
	}
	got := must(c.GetRole(e.ctx, &iam.GetRoleInput{RoleName: aws.String("AWSServiceRoleForAutoScaling_CMK")}))
	doc, _ := url.QueryUnescape(*got.Role.AssumeRolePolicyDocument)
	if !strings.Contains(doc, "autoscaling.amazonaws.com") {
		t.Fatalf("trust policy: %s", doc)
	}
	roles := must(c.ListRoles(e.ctx, &iam.ListRolesInput{PathPrefix: aws.String("/aws-service-role/")}))
	if len(roles.Roles) != 1 {
		t.Fatalf("service roles listed: %d", len(roles.Roles))
	}
}

func TestAdminEndpoints(t *testing.T) {
	e := newTestEnv(t, identityWorld)
	must(e.sts("111111111111", "us-east-1").GetCallerIdentity(e.ctx, &sts.GetCallerIdentityInput{}))
	var rows []CounterRow
	getJSON(t, e.http.URL+"/_sandbox/counters", &rows)
	if len(rows) != 1 || rows[0].Action != "sts:GetCallerIdentity" || rows[0].Calls != 1 || rows[0].Account != "111111111111" {
		t.Fatalf("counters: %+v", rows)
	}
	var st State
	getJSON(t, e.http.URL+"/_sandbox/state", &st)
	if st.Accounts["222222222222"].Roles["target"] == nil {
		t.Fatalf("state lacks the target role")
	}
	req, _ := http.NewRequest(http.MethodPut, e.http.URL+"/_sandbox/behaviour", strings.NewReader(`{"error_rate": 1}`))
	resp := must(http.DefaultClient.Do(req))
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT behaviour: %d", resp.StatusCode)
	}
	if _, err := e.sts("111111111111", "us-east-1").GetCallerIdentity(e.ctx, &sts.GetCallerIdentityInput{}); err == nil {
		t.Fatal("error_rate 1 did not fail the call")
	}
	req, _ = http.NewRequest(http.MethodPut, e.http.URL+"/_sandbox/behaviour", strings.NewReader(`{"error_rate": 7}`))
	resp = must(http.DefaultClient.Do(req))
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("PUT a bad behaviour: want 400, got %d", resp.StatusCode)
	}
	req, _ = http.NewRequest(http.MethodPut, e.http.URL+"/_sandbox/behaviour", strings.NewReader(`{"copy_seconds": 1.5, "actions": {"CopyImage": {"latency_ms": 20}}}`))
	resp = must(http.DefaultClient.Do(req))
	resp.Body.Close()
	var b map[string]any
	getJSON(t, e.http.URL+"/_sandbox/behaviour", &b)
	if b["copy_seconds"] != 1.5 || b["error_rate"] != 1.0 || b["actions"].(map[string]any)["CopyImage"].(map[string]any)["latency_ms"] != 20.0 {
		t.Fatalf("behaviour after two partial PUTs: %v", b)
	}
	resp = must(http.Post(e.http.URL+"/_sandbox/reset", "", nil))
	resp.Body.Close()
	must(e.sts("111111111111", "us-east-1").GetCallerIdentity(e.ctx, &sts.GetCallerIdentityInput{}))
	getJSON(t, e.http.URL+"/_sandbox/counters", &rows)
	if len(rows) != 1 || rows[0].Calls != 1 {
		t.Fatalf("counters after reset: %+v", rows)
	}
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp := must(http.Get(u))
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

func TestStatePersistsAcrossRestart(t *testing.T) {
	w := must(world.Parse([]byte(identityWorld), "w.yaml"))
	file := filepath.Join(t.TempDir(), "state.json")
	start := func() (string, context.CancelFunc, chan error) {
		srv := must(New(w, Options{StateFile: file}))
		ln := must(net.Listen("tcp", "127.0.0.1:0"))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ctx, ln) }()
		return "http://" + ln.Addr().String(), cancel, done
	}
	ep, stop, done := start()
	e := &testEnv{t: t, ctx: context.Background()}
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(ep), Credentials: credentials.NewStaticCredentialsProvider("222222222222", "x", "")}
	must(iam.NewFromConfig(cfg).CreateServiceLinkedRole(e.ctx, &iam.CreateServiceLinkedRoleInput{AWSServiceName: aws.String("autoscaling.amazonaws.com")}))
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ep, stop, done = start()
	defer func() { stop(); <-done }()
	cfg.BaseEndpoint = aws.String(ep)
	must(iam.NewFromConfig(cfg).GetRole(e.ctx, &iam.GetRoleInput{RoleName: aws.String("AWSServiceRoleForAutoScaling")}))
	// Resource kinds that were empty when saved still take new resources.
	must(ec2.NewFromConfig(cfg).CreateKeyPair(e.ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("after-restart")}))
	must(ec2.NewFromConfig(cfg).CreateLaunchTemplate(e.ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("after-restart"), LaunchTemplateData: &ec2types.RequestLaunchTemplateData{InstanceType: ec2types.InstanceTypeT3Micro}}))
}

func TestIAMRolesAndInlinePolicies(t *testing.T) {
	e := newTestEnv(t, identityWorld)
	c := e.iam("222222222222")
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":"sts:AssumeRole"}]}`
	must(c.CreateRole(e.ctx, &iam.CreateRoleInput{RoleName: aws.String("ops"), AssumeRolePolicyDocument: aws.String(trust)}))
	if _, err := c.CreateRole(e.ctx, &iam.CreateRoleInput{RoleName: aws.String("ops"), AssumeRolePolicyDocument: aws.String(trust)}); errCode(err) != "EntityAlreadyExists" {
		t.Fatalf("second CreateRole: want EntityAlreadyExists, got %v", err)
	}
	if _, err := c.CreateRole(e.ctx, &iam.CreateRoleInput{RoleName: aws.String("bad"), AssumeRolePolicyDocument: aws.String(`{"Statement":[{"Effect":"Permit"}]}`)}); errCode(err) != "MalformedPolicyDocument" {
		t.Fatalf("malformed trust: want MalformedPolicyDocument, got %v", err)
	}
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:DescribeImages","Resource":"*"}]}`
	must(c.PutRolePolicy(e.ctx, &iam.PutRolePolicyInput{RoleName: aws.String("ops"), PolicyName: aws.String("describe"), PolicyDocument: aws.String(doc)}))
	names := must(c.ListRolePolicies(e.ctx, &iam.ListRolePoliciesInput{RoleName: aws.String("ops")}))
	if len(names.PolicyNames) != 1 || names.PolicyNames[0] != "describe" {
		t.Fatalf("inline policies: %v", names.PolicyNames)
	}
	got := must(c.GetRolePolicy(e.ctx, &iam.GetRolePolicyInput{RoleName: aws.String("ops"), PolicyName: aws.String("describe")}))
	if text, _ := url.QueryUnescape(*got.PolicyDocument); text != doc {
		t.Fatalf("policy document round trip: %s", text)
	}
	// The new policy governs the role's sessions.
	ops := must(e.assumeRole(e.rootCfg("222222222222", "us-east-1"), "arn:aws:iam::222222222222:role/ops", ""))
	must(ec2.NewFromConfig(ops).DescribeImages(e.ctx, &ec2.DescribeImagesInput{}))
	if _, err := ec2.NewFromConfig(ops).DescribeSnapshots(e.ctx, &ec2.DescribeSnapshotsInput{}); errCode(err) != "UnauthorizedOperation" {
		t.Fatalf("action outside the inline policy: want UnauthorizedOperation, got %v", err)
	}
	// Service-linked roles are AWS's to change and to delete.
	must(c.CreateServiceLinkedRole(e.ctx, &iam.CreateServiceLinkedRoleInput{AWSServiceName: aws.String("autoscaling.amazonaws.com")}))
	if _, err := c.PutRolePolicy(e.ctx, &iam.PutRolePolicyInput{RoleName: aws.String("AWSServiceRoleForAutoScaling"), PolicyName: aws.String("x"), PolicyDocument: aws.String(doc)}); errCode(err) != "UnmodifiableEntity" {
		t.Fatalf("editing a service-linked role: want UnmodifiableEntity, got %v", err)
	}
	must(c.DeleteServiceLinkedRole(e.ctx, &iam.DeleteServiceLinkedRoleInput{RoleName: aws.String("AWSServiceRoleForAutoScaling")}))
	if _, err := c.GetRole(e.ctx, &iam.GetRoleInput{RoleName: aws.String("AWSServiceRoleForAutoScaling")}); errCode(err) != "NoSuchEntity" {
		t.Fatalf("after delete: want NoSuchEntity, got %v", err)
	}
	user := must(c.GetUser(e.ctx, &iam.GetUserInput{}))
	if *user.User.Arn != "arn:aws:iam::222222222222:root" {
		t.Fatalf("GetUser as root: %s", *user.User.Arn)
	}
	aliases := must(e.iam("111111111111").ListAccountAliases(e.ctx, &iam.ListAccountAliasesInput{}))
	if len(aliases.AccountAliases) != 1 || aliases.AccountAliases[0] != "builder" {
		t.Fatalf("account aliases: %v", aliases.AccountAliases)
	}
}

// TestSeed002IAMUserNeedsCreateGrantToLaunchEncryptedVolumes: John, with full EC2
// permissions but no kms:CreateGrant, cannot start an instance with a volume under
// a customer managed key; with the seed's identity policy he can.
func TestSeed002IAMUserNeedsCreateGrantToLaunchEncryptedVolumes(t *testing.T) {
	e := newTestEnv(t, `
regions: [us-east-1]
accounts:
  - id: "111111111111"
    users:
      - name: john
        policies: [{Version: "2012-10-17", Statement: [{Effect: Allow, Action: "ec2:*", Resource: "*"}]}]
      - name: jane
        policies:
          - {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "ec2:*", Resource: "*"}]}
          - Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Action: ["kms:CreateGrant"]
                Resource: ["*"]
                Condition: {Bool: {"kms:GrantIsForAWSResource": true}}
              - {Effect: Allow, Action: ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext"], Resource: "*"}
    images: [{id: ami-0aaaaaaaaaaaaaaa1, region: us-east-1, name: encrypted-base, encrypted: alias/cmk}]
    keys: [{alias: alias/cmk, region: us-east-1}]
timing: {instance_seconds: 2}
faults: {throttle: false}
`)
	var st State
	getJSON(t, e.http.URL+"/_sandbox/state", &st)
	launch := func(user string) ec2types.InstanceState {
		u := st.Accounts["111111111111"].Users[user]
		id := must(sts.NewFromConfig(e.cfg(u.AccessKeyID, "x", "", "us-east-1")).GetCallerIdentity(e.ctx, &sts.GetCallerIdentityInput{}))
		if *id.Arn != "arn:aws:iam::111111111111:user/"+user {
			t.Fatalf("user identity: %s", *id.Arn)
		}
		c := ec2.NewFromConfig(e.cfg(u.AccessKeyID, "x", "", "us-east-1"))
		run := must(c.RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-0aaaaaaaaaaaaaaa1"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}))
		e.clock.Advance(3 * time.Second)
		out := must(c.DescribeInstances(e.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{*run.Instances[0].InstanceId}}))
		return *out.Reservations[0].Instances[0].State
	}
	if s := launch("john"); s.Name != ec2types.InstanceStateNameTerminated {
		t.Fatalf("john without kms:CreateGrant: want terminated, got %s", s.Name)
	}
	if s := launch("jane"); s.Name != ec2types.InstanceStateNameRunning {
		t.Fatalf("jane with the seed's policy: want running, got %s", s.Name)
	}
}
