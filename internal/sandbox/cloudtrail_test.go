package sandbox

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/amicrypt/amicrypt/internal/sandbox/world"
)

func (e *testEnv) cloudtrail(account, region string) *cloudtrail.Client {
	return cloudtrail.NewFromConfig(e.rootCfg(account, region))
}

// trailRecord is the part of a CloudTrailEvent the tests read.
type trailRecord struct {
	EventID      string `json:"eventID"`
	EventName    string `json:"eventName"`
	EventSource  string `json:"eventSource"`
	AWSRegion    string `json:"awsRegion"`
	ErrorCode    string `json:"errorCode"`
	ErrorMessage string `json:"errorMessage"`
	ReadOnly     bool   `json:"readOnly"`
	RequestID    string `json:"requestID"`
	Recipient    string `json:"recipientAccountId"`
	Shared       string `json:"sharedEventID"`
	UserAgent    string `json:"userAgent"`
	UserIdentity struct {
		Type           string `json:"type"`
		PrincipalID    string `json:"principalId"`
		ARN            string `json:"arn"`
		AccountID      string `json:"accountId"`
		AccessKeyID    string `json:"accessKeyId"`
		InvokedBy      string `json:"invokedBy"`
		SessionContext struct {
			SessionIssuer struct {
				Type string `json:"type"`
				ARN  string `json:"arn"`
			} `json:"sessionIssuer"`
		} `json:"sessionContext"`
	} `json:"userIdentity"`
	RequestParameters map[string]any `json:"requestParameters"`
	Resources         []struct {
		ARN       string `json:"ARN"`
		AccountID string `json:"accountId"`
		Type      string `json:"type"`
	} `json:"resources"`
}

func record(t *testing.T, ev cttypes.Event) trailRecord {
	t.Helper()
	var r trailRecord
	if err := json.Unmarshal([]byte(aws.ToString(ev.CloudTrailEvent)), &r); err != nil {
		t.Fatalf("CloudTrailEvent %s: %v", aws.ToString(ev.CloudTrailEvent), err)
	}
	if r.EventID != aws.ToString(ev.EventId) || r.EventName != aws.ToString(ev.EventName) || r.EventSource != aws.ToString(ev.EventSource) {
		t.Fatalf("CloudTrailEvent does not match its event: %+v vs %+v", r, ev)
	}
	return r
}

// lookup reads every event matching one attribute, newest first, page by page.
func lookup(t *testing.T, e *testEnv, c *cloudtrail.Client, key cttypes.LookupAttributeKey, value string) []cttypes.Event {
	t.Helper()
	in := &cloudtrail.LookupEventsInput{MaxResults: aws.Int32(2)}
	if key != "" {
		in.LookupAttributes = []cttypes.LookupAttribute{{AttributeKey: key, AttributeValue: aws.String(value)}}
	}
	var out []cttypes.Event
	p := cloudtrail.NewLookupEventsPaginator(c, in)
	for p.HasMorePages() {
		out = append(out, must(p.NextPage(e.ctx)).Events...)
	}
	return out
}

func names(evs []cttypes.Event) string {
	var s []string
	for _, ev := range evs {
		s = append(s, aws.ToString(ev.EventName))
	}
	return strings.Join(s, ",")
}

// TestCloudTrailRecordsKMSRequests: every KMS request is an event of the key
// owner's account, and of the caller's when it is another, except a
// cross-account request refused for access, which only the caller's account
// sees; LookupEvents finds them by one attribute, newest first, by pages.
func TestCloudTrailRecordsKMSRequests(t *testing.T) {
	e := newTestEnv(t, kmsWorld)
	a, b := e.kms(acctA, usE1), e.kms(acctB, usE1)
	key := describe(t, e, a, "alias/shared")
	dk := must(a.GenerateDataKeyWithoutPlaintext(e.ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String("alias/shared"), KeySpec: kmstypes.DataKeySpecAes256}))
	must(b.Decrypt(e.ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob}))
	_, err := e.kmsAs(acctB, "app").Decrypt(e.ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob})
	wantCode(t, "a role without KMS permissions", err, "AccessDeniedException")
	must(a.DisableKey(e.ctx, &kms.DisableKeyInput{KeyId: key.KeyId}))
	_, err = b.Decrypt(e.ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob})
	wantCode(t, "decrypt under a disabled key", err, "DisabledException")
	_, err = a.DescribeKey(e.ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/none")})
	wantCode(t, "an alias that does not exist", err, "NotFoundException")

	ownerTrail, callerTrail := e.cloudtrail(acctA, usE1), e.cloudtrail(acctB, usE1)
	owned := lookup(t, e, ownerTrail, cttypes.LookupAttributeKeyResourceName, *key.Arn)
	if got := names(owned); got != "Decrypt,DisableKey,Decrypt,GenerateDataKeyWithoutPlaintext,DescribeKey" {
		t.Fatalf("the owner's events of the key, newest first: %s", got)
	}
	refused := record(t, owned[0])
	if refused.ErrorCode != "DisabledException" || !strings.Contains(refused.ErrorMessage, "is disabled") || refused.UserIdentity.Type != "Root" ||
		refused.UserIdentity.AccountID != acctB || refused.Recipient != acctA || refused.Shared == "" || !refused.ReadOnly ||
		refused.RequestParameters["keyId"] != *key.Arn || refused.RequestParameters["encryptionAlgorithm"] != "SYMMETRIC_DEFAULT" ||
		len(refused.Resources) != 1 || refused.Resources[0].Type != "AWS::KMS::Key" || refused.Resources[0].AccountID != acctA {
		t.Fatalf("the refused cross-account Decrypt in the owner's account: %+v", refused)
	}
	if aws.ToString(owned[0].Username) != "root" || aws.ToString(owned[0].AccessKeyId) != acctB || aws.ToString(owned[0].ReadOnly) != "true" ||
		len(owned[0].Resources) != 1 || aws.ToString(owned[0].Resources[0].ResourceType) != "AWS::KMS::Key" || aws.ToString(owned[0].Resources[0].ResourceName) != *key.Arn {
		t.Fatalf("the refused Decrypt's lookup fields: %+v", owned[0])
	}
	if d := record(t, owned[3]); d.RequestParameters["keyId"] != "alias/shared" || d.ErrorCode != "" || d.UserIdentity.AccountID != acctA || d.Shared != "" {
		t.Fatalf("GenerateDataKeyWithoutPlaintext, as requested: %+v", d)
	}

	// The caller's account sees its own two Decrypts of the key, and the one
	// refused for access, which the owner does not see.
	mine := lookup(t, e, callerTrail, cttypes.LookupAttributeKeyEventName, "Decrypt")
	if len(mine) != 3 {
		t.Fatalf("the caller's Decrypt events: %s", names(mine))
	}
	disabled, denied := record(t, mine[0]), record(t, mine[1])
	if disabled.Shared != refused.Shared || disabled.EventID == refused.EventID || disabled.Recipient != acctB {
		t.Fatalf("the two copies of a cross-account event: %+v and %+v", disabled, refused)
	}
	if denied.ErrorCode != "AccessDeniedException" || denied.UserIdentity.Type != "AssumedRole" || denied.UserIdentity.ARN != "arn:aws:sts::"+acctB+":assumed-role/app/test" ||
		denied.UserIdentity.SessionContext.SessionIssuer.ARN != "arn:aws:iam::"+acctB+":role/app" || aws.ToString(mine[1].Username) != "test" ||
		!strings.HasPrefix(denied.UserIdentity.AccessKeyID, "ASIA") || denied.Shared != "" {
		t.Fatalf("the access-denied Decrypt: %+v", denied)
	}
	for _, ev := range owned {
		if record(t, ev).ErrorCode == "AccessDeniedException" {
			t.Fatal("the owner's account sees a cross-account request refused for access")
		}
	}
	if bykey := lookup(t, e, callerTrail, cttypes.LookupAttributeKeyAccessKeyId, denied.UserIdentity.AccessKeyID); len(bykey) != 1 {
		t.Fatalf("by access key id: %s", names(bykey))
	}
	if notFound := lookup(t, e, ownerTrail, cttypes.LookupAttributeKeyEventName, "DescribeKey"); len(notFound) != 2 || record(t, notFound[0]).ErrorCode != "NotFoundException" || len(notFound[0].Resources) != 0 {
		t.Fatalf("DescribeKey of an alias that does not exist: %+v", notFound)
	}
	if ro := lookup(t, e, ownerTrail, cttypes.LookupAttributeKeyReadOnly, "false"); names(ro) != "DisableKey" {
		t.Fatalf("ReadOnly false: %s", names(ro))
	}
	if id := lookup(t, e, ownerTrail, cttypes.LookupAttributeKeyEventId, refused.EventID); len(id) != 1 {
		t.Fatalf("by event id: %s", names(id))
	}
	if src := lookup(t, e, ownerTrail, cttypes.LookupAttributeKeyEventSource, "kms.amazonaws.com"); len(src) != 6 {
		t.Fatalf("by event source: %s", names(src))
	}
	if all := lookup(t, e, ownerTrail, "", ""); len(all) != 6 {
		t.Fatalf("every event: %s", names(all))
	}

	// Times, errors, insights, permissions.
	now := e.clock.Now()
	if evs := must(ownerTrail.LookupEvents(e.ctx, &cloudtrail.LookupEventsInput{StartTime: aws.Time(now.Add(time.Minute))})).Events; evs == nil || len(evs) != 0 {
		t.Fatalf("StartTime after every event: %+v", evs)
	}
	if evs := must(ownerTrail.LookupEvents(e.ctx, &cloudtrail.LookupEventsInput{StartTime: aws.Time(now.Add(-time.Minute)), EndTime: aws.Time(now)})).Events; len(evs) != 6 {
		t.Fatalf("StartTime..EndTime around every event: %d", len(evs))
	}
	if evs := must(ownerTrail.LookupEvents(e.ctx, &cloudtrail.LookupEventsInput{EventCategory: cttypes.EventCategoryInsight})).Events; len(evs) != 0 {
		t.Fatalf("insight events: %+v", evs)
	}
	page := must(ownerTrail.LookupEvents(e.ctx, &cloudtrail.LookupEventsInput{MaxResults: aws.Int32(1)}))
	for code, in := range map[string]*cloudtrail.LookupEventsInput{
		"InvalidLookupAttributesException": {LookupAttributes: []cttypes.LookupAttribute{
			{AttributeKey: cttypes.LookupAttributeKeyEventName, AttributeValue: aws.String("Decrypt")},
			{AttributeKey: cttypes.LookupAttributeKeyReadOnly, AttributeValue: aws.String("true")}}},
		"InvalidMaxResultsException": {MaxResults: aws.Int32(51)},
		"InvalidTimeRangeException":  {StartTime: aws.Time(now), EndTime: aws.Time(now.Add(-time.Hour))},
		"InvalidNextTokenException":  {NextToken: page.NextToken, MaxResults: aws.Int32(1), LookupAttributes: []cttypes.LookupAttribute{{AttributeKey: cttypes.LookupAttributeKeyEventName, AttributeValue: aws.String("Decrypt")}}},
	} {
		if _, err := ownerTrail.LookupEvents(e.ctx, in); errCode(err) != code {
			t.Errorf("want %s, got %v", code, err)
		}
	}
	reader := cloudtrail.NewFromConfig(must(e.assumeRole(e.rootCfg(acctA, usE1), "arn:aws:iam::"+acctA+":role/reader", "")))
	if _, err := reader.LookupEvents(e.ctx, &cloudtrail.LookupEventsInput{}); errCode(err) != "AccessDeniedException" || !strings.Contains(err.Error(), "cloudtrail:LookupEvents") {
		t.Fatalf("a role without cloudtrail:LookupEvents: %v", err)
	}
	if evs := must(e.cloudtrail(acctA, "eu-west-1").LookupEvents(e.ctx, &cloudtrail.LookupEventsInput{})).Events; len(evs) != 0 {
		t.Fatalf("another region's history: %+v", evs)
	}
	// 90 days later the events are gone.
	e.clock.Advance(91 * 24 * time.Hour)
	if evs := must(ownerTrail.LookupEvents(e.ctx, &cloudtrail.LookupEventsInput{})).Events; len(evs) != 0 {
		t.Fatalf("after 91 days: %d events", len(evs))
	}
}

// TestGetKeyLastUsage: the last successful cryptographic operation of a key,
// made directly or by EC2 for a principal, with its CloudTrail event id in
// the key owner's account.
func TestGetKeyLastUsage(t *testing.T) {
	e := newTestEnv(t, kmsWorld)
	a, b := e.kms(acctA, usE1), e.kms(acctB, usE1)
	worldStart := e.clock.Now().UTC().Truncate(time.Second)
	shared := describe(t, e, a, "alias/shared")
	u := must(a.GetKeyLastUsage(e.ctx, &kms.GetKeyLastUsageInput{KeyId: shared.KeyId}))
	if u.KeyLastUsage == nil || u.KeyLastUsage.Operation != "" || !aws.ToTime(u.TrackingStartDate).Equal(worldStart) ||
		!aws.ToTime(u.KeyCreationDate).Before(worldStart) || aws.ToString(u.KeyId) != aws.ToString(shared.KeyId) {
		t.Fatalf("a key of the world, unused: %+v %+v", u, u.KeyLastUsage)
	}
	e.clock.Advance(time.Minute)
	fresh := must(a.CreateKey(e.ctx, &kms.CreateKeyInput{})).KeyMetadata
	if u := must(a.GetKeyLastUsage(e.ctx, &kms.GetKeyLastUsageInput{KeyId: fresh.Arn})); !aws.ToTime(u.TrackingStartDate).Equal(aws.ToTime(fresh.CreationDate)) {
		t.Fatalf("a new key tracks from its creation: %v vs %v", aws.ToTime(u.TrackingStartDate), aws.ToTime(fresh.CreationDate))
	}

	dk := must(a.GenerateDataKeyWithoutPlaintext(e.ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: shared.KeyId, KeySpec: kmstypes.DataKeySpecAes256}))
	e.clock.Advance(time.Minute)
	must(b.Decrypt(e.ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob}))
	decryptedAt := e.clock.Now().UTC().Truncate(time.Second)
	e.clock.Advance(time.Minute)
	// Neither a refused request nor a non-cryptographic one counts.
	_, err := e.kmsAs(acctB, "app").Decrypt(e.ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob})
	wantCode(t, "a role without KMS permissions", err, "AccessDeniedException")
	must(a.DescribeKey(e.ctx, &kms.DescribeKeyInput{KeyId: shared.KeyId}))
	u = must(a.GetKeyLastUsage(e.ctx, &kms.GetKeyLastUsageInput{KeyId: shared.Arn}))
	last := u.KeyLastUsage
	if last.Operation != kmstypes.KeyLastUsageTrackingOperationDecrypt || !aws.ToTime(last.Timestamp).Equal(decryptedAt) {
		t.Fatalf("after B's Decrypt: %+v", last)
	}
	evs := lookup(t, e, e.cloudtrail(acctA, usE1), cttypes.LookupAttributeKeyEventId, aws.ToString(last.CloudTrailEventId))
	if len(evs) != 1 || record(t, evs[0]).UserIdentity.AccountID != acctB || record(t, evs[0]).RequestID != aws.ToString(last.KmsRequestId) {
		t.Fatalf("the last usage's event in the owner's account: %+v", evs)
	}

	_, err = b.GetKeyLastUsage(e.ctx, &kms.GetKeyLastUsageInput{KeyId: shared.Arn})
	wantCode(t, "GetKeyLastUsage of another account's key", err, "AccessDeniedException")
	_, err = a.GetKeyLastUsage(e.ctx, &kms.GetKeyLastUsageInput{KeyId: aws.String("alias/shared")})
	wantCode(t, "GetKeyLastUsage by alias", err, "NotFoundException")
}

// TestCloudTrailRecordsWhatEC2AsksKMS: the KMS requests EC2 makes for a
// caller (RunInstances) and for an Auto Scaling group's service-linked role
// are recorded as theirs, invoked by the service, refusals included.
func TestCloudTrailRecordsWhatEC2AsksKMS(t *testing.T) {
	e := newTestEnv(t, lgWorld(lgPolicy(append(lgSeed003(lgDefaultSLR), lgRootStatement(lgAcct))...), "", ""))
	key := describe(t, e, e.kms(lgAcct, lgRegion), "alias/k")
	ct := e.cloudtrail(lgAcct, lgRegion)

	must(e.ec2(lgAcct, lgRegion).RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(lgEncAMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}))
	evs := lookup(t, e, ct, cttypes.LookupAttributeKeyResourceName, *key.Arn)
	if names(evs) != "Decrypt,CreateGrant,DescribeKey,DescribeKey" {
		t.Fatalf("RunInstances of an image under the key: %s", names(evs))
	}
	for _, ev := range evs[:3] {
		r := record(t, ev)
		if r.UserIdentity.Type != "Root" || r.UserIdentity.InvokedBy != "ec2.amazonaws.com" || r.UserAgent != "ec2.amazonaws.com" || r.ErrorCode != "" || r.AWSRegion != lgRegion {
			t.Fatalf("%s for RunInstances: %+v", r.EventName, r)
		}
	}
	if u := must(e.kms(lgAcct, lgRegion).GetKeyLastUsage(e.ctx, &kms.GetKeyLastUsageInput{KeyId: key.KeyId})).KeyLastUsage; u.Operation != "Decrypt" || aws.ToString(u.CloudTrailEventId) != aws.ToString(evs[0].EventId) {
		t.Fatalf("last usage after RunInstances: %+v", u)
	}

	lgCreateGroup(t, e, "g", lgGroupOpts{image: lgEncAMI})
	e.clock.Advance(6 * time.Second)
	lgExpectSuccessful(t, e, "g")
	role := lookup(t, e, ct, cttypes.LookupAttributeKeyUsername, "AutoScaling")
	if names(role) != "Decrypt,CreateGrant,DescribeKey" {
		t.Fatalf("the group's launch: %s", names(role))
	}
	if r := record(t, role[0]); r.UserIdentity.Type != "AssumedRole" || r.UserIdentity.InvokedBy != "autoscaling.amazonaws.com" ||
		r.UserIdentity.ARN != "arn:aws:sts::"+lgAcct+":assumed-role/AWSServiceRoleForAutoScaling/AutoScaling" || r.UserIdentity.SessionContext.SessionIssuer.ARN != lgDefaultSLR {
		t.Fatalf("the group's Decrypt: %+v", r)
	}

	// A disabled key: DescribeKey answers, CreateGrant is refused.
	must(e.kms(lgAcct, lgRegion).DisableKey(e.ctx, &kms.DisableKeyInput{KeyId: key.KeyId}))
	must(e.ec2(lgAcct, lgRegion).RunInstances(e.ctx, &ec2.RunInstancesInput{ImageId: aws.String(lgEncAMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}))
	evs = lookup(t, e, ct, cttypes.LookupAttributeKeyResourceName, *key.Arn)
	if r := record(t, evs[0]); r.EventName != "CreateGrant" || r.ErrorCode != "DisabledException" || record(t, evs[1]).EventName != "DescribeKey" || record(t, evs[1]).ErrorCode != "" {
		t.Fatalf("RunInstances under a disabled key: %s %+v", names(evs), r)
	}
}

// TestCloudTrailHistoryPersistsAcrossRestart: the event history is kept in
// the state file.
func TestCloudTrailHistoryPersistsAcrossRestart(t *testing.T) {
	w := must(world.Parse([]byte(kmsWorld), "w.yaml"))
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
	ctx := context.Background()
	cfg := aws.Config{Region: usE1, BaseEndpoint: aws.String(ep), Credentials: credentials.NewStaticCredentialsProvider(acctA, "x", "")}
	must(kms.NewFromConfig(cfg).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/shared")}))
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ep, stop, done = start()
	defer func() { stop(); <-done }()
	cfg.BaseEndpoint = aws.String(ep)
	evs := must(cloudtrail.NewFromConfig(cfg).LookupEvents(ctx, &cloudtrail.LookupEventsInput{})).Events
	if len(evs) != 1 || aws.ToString(evs[0].EventName) != "DescribeKey" {
		t.Fatalf("events after a restart: %+v", evs)
	}
}

// TestCloudTrailCrossAccountLaunch: a group launching an image under another
// account's key. Refused for access (the role has no grant yet), the requests
// are the group's account's events only; once granted, both accounts see them.
func TestCloudTrailCrossAccountLaunch(t *testing.T) {
	otherPolicy := lgPolicy(lgRootStatement(lgOther),
		`{"Sid":"Allow use of the key","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::`+lgAcct+`:root"]},"Action":["kms:Decrypt","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"}`,
		`{"Sid":"Allow attachment of persistent resources","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::`+lgAcct+`:root"]},"Action":["kms:CreateGrant"],"Resource":"*"}`)
	e := newTestEnv(t, lgWorld("", "", `
  - id: "`+lgOther+`"
    images:
      - {id: `+lgShared+`, region: us-east-1, name: shared, encrypted: alias/shared, launch_permissions: ["`+lgAcct+`"]}
    keys:
      - alias: alias/shared
        region: us-east-1
        policy: `+otherPolicy))
	key := describe(t, e, e.kms(lgOther, lgRegion), "alias/shared")
	mine, theirs := e.cloudtrail(lgAcct, lgRegion), e.cloudtrail(lgOther, lgRegion)
	lgCreateGroup(t, e, "x", lgGroupOpts{image: lgShared})
	e.clock.Advance(5 * time.Second)
	lgExpectFailed(t, e, "x", lgClientError)
	denied := lookup(t, e, mine, cttypes.LookupAttributeKeyUsername, "AutoScaling")
	if len(denied) != 1 || record(t, denied[0]).ErrorCode != "AccessDeniedException" || record(t, denied[0]).EventName != "DescribeKey" {
		t.Fatalf("the refused launch in the group's account: %s", names(denied))
	}
	if evs := lookup(t, e, theirs, cttypes.LookupAttributeKeyUsername, "AutoScaling"); len(evs) != 0 {
		t.Fatalf("the key owner sees a cross-account request refused for access: %s", names(evs))
	}

	must(e.kms(lgAcct, lgRegion).CreateGrant(e.ctx, &kms.CreateGrantInput{KeyId: key.Arn, GranteePrincipal: aws.String(lgDefaultSLR),
		Operations: []kmstypes.GrantOperation{"Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKeyWithoutPlaintext", "DescribeKey", "CreateGrant"}}))
	e.clock.Advance(15 * time.Second)
	if acts := lgActivities(t, e, "x"); acts[0].StatusCode != "Successful" {
		t.Fatalf("after the grant: %+v", acts[0])
	}
	theirEvents := lookup(t, e, theirs, cttypes.LookupAttributeKeyResourceName, *key.Arn)
	if names(theirEvents) != "Decrypt,CreateGrant,DescribeKey,CreateGrant,DescribeKey" {
		t.Fatalf("the key owner's events: %s", names(theirEvents))
	}
	myEvents := lookup(t, e, mine, cttypes.LookupAttributeKeyResourceName, *key.Arn)
	if names(myEvents) != "Decrypt,CreateGrant,DescribeKey,CreateGrant,DescribeKey" || record(t, myEvents[4]).ErrorCode != "AccessDeniedException" {
		t.Fatalf("the group's account's events of the key: %s", names(myEvents))
	}
	if a, b := record(t, theirEvents[0]), record(t, myEvents[0]); a.Shared == "" || a.Shared != b.Shared || a.Recipient != lgOther || b.Recipient != lgAcct ||
		a.UserIdentity.AccountID != lgAcct || a.UserIdentity.InvokedBy != "autoscaling.amazonaws.com" {
		t.Fatalf("the launch's Decrypt in both accounts: %+v %+v", a, b)
	}
	if u := must(e.kms(lgOther, lgRegion).GetKeyLastUsage(e.ctx, &kms.GetKeyLastUsageInput{KeyId: key.KeyId})).KeyLastUsage; aws.ToString(u.CloudTrailEventId) != aws.ToString(theirEvents[0].EventId) {
		t.Fatalf("the key's last usage names the owner's event: %+v", u)
	}
}
