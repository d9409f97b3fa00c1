package sandbox

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

const faultAccount = "111111111111"

// faultCase is one call per service, and a way to tell whether it took effect.
type faultCase struct {
	action  string // service:Action, as a world file's faults.actions key
	call    func(e *testEnv) error
	applied func(e *testEnv) bool // nil: the call changes nothing
}

var faultCases = []faultCase{
	{"kms:CreateKey",
		func(e *testEnv) error {
			_, err := e.kms(faultAccount, e.region).CreateKey(e.ctx, &kms.CreateKeyInput{Description: aws.String("faulty")})
			return err
		},
		func(e *testEnv) bool { return len(e.keys()) > 0 }},
	{"ec2:CreateSecurityGroup",
		func(e *testEnv) error {
			_, err := e.ec2(faultAccount, e.region).CreateSecurityGroup(e.ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("faulty"), Description: aws.String("faulty")})
			return err
		},
		func(e *testEnv) bool {
			out := must(e.ec2(faultAccount, e.region).DescribeSecurityGroups(e.ctx, &ec2.DescribeSecurityGroupsInput{
				Filters: []ec2types.Filter{{Name: aws.String("group-name"), Values: []string{"faulty"}}}}))
			return len(out.SecurityGroups) > 0
		}},
	{"iam:CreateRole",
		func(e *testEnv) error {
			_, err := e.iam(faultAccount).CreateRole(e.ctx, &iam.CreateRoleInput{RoleName: aws.String("faulty"),
				AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:AssumeRole"}]}`)})
			return err
		},
		func(e *testEnv) bool {
			_, err := e.iam(faultAccount).GetRole(e.ctx, &iam.GetRoleInput{RoleName: aws.String("faulty")})
			return err == nil
		}},
	{"ssm:PutParameter",
		func(e *testEnv) error {
			_, err := e.ssm(faultAccount, e.region).PutParameter(e.ctx, &ssm.PutParameterInput{Name: aws.String("/faulty"), Value: aws.String("v"), Type: ssmtypes.ParameterTypeString})
			return err
		},
		func(e *testEnv) bool {
			_, err := e.ssm(faultAccount, e.region).GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String("/faulty")})
			return err == nil
		}},
	{"sts:GetCallerIdentity",
		func(e *testEnv) error {
			_, err := e.sts(faultAccount, e.region).GetCallerIdentity(e.ctx, &sts.GetCallerIdentityInput{})
			return err
		}, nil},
	{"autoscaling:DescribeAutoScalingGroups",
		func(e *testEnv) error {
			_, err := e.autoscaling(faultAccount, e.region).DescribeAutoScalingGroups(e.ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
			return err
		}, nil},
}

// keys lists the fault account's keys through KMS.
func (e *testEnv) keys() []string {
	var ids []string
	for _, k := range must(e.kms(faultAccount, e.region).ListKeys(e.ctx, &kms.ListKeysInput{})).Keys {
		ids = append(ids, aws.ToString(k.KeyId))
	}
	return ids
}

// faultWorld is a world of one empty account whose faults are rules.
func faultWorld(rules string) string {
	return "regions: [us-east-1]\naccounts: [{id: \"" + faultAccount + "\"}]\nfaults:\n  throttle: false\n" + rules
}

// actionRules gives every action of faultCases the same rule.
func actionRules(rule string) string {
	var b strings.Builder
	b.WriteString("  actions:\n")
	for _, c := range faultCases {
		b.WriteString("    \"" + c.action + "\": " + rule + "\n")
	}
	return b.String()
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// sdkSays is how aws-sdk-go-v2's standard retryer classifies an error.
func sdkSays(err error) (retryable, throttle bool) {
	return retry.NewStandard().IsErrorRetryable(err), retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err).Bool()
}

func (e *testEnv) counter(action string) CounterRow {
	for _, r := range e.srv.counters.snapshot() {
		if r.Account == faultAccount && r.Action == action {
			return r
		}
	}
	return CounterRow{}
}

// TestLostResponseAppliesTheCallThenAnswersInternalError: with
// lost_response_rate 1 every call takes effect and its caller gets the
// service's internal error, HTTP 500, which the SDK retries — so a retried
// create creates again.
func TestLostResponseAppliesTheCallThenAnswersInternalError(t *testing.T) {
	e := newTestEnv(t, faultWorld(actionRules("{lost_response_rate: 1}")))
	want := map[string]string{
		"kms:CreateKey": "KMSInternalException", "ec2:CreateSecurityGroup": "InternalError", "iam:CreateRole": "ServiceFailure",
		"ssm:PutParameter": "InternalServerError", "sts:GetCallerIdentity": "InternalFailure", "autoscaling:DescribeAutoScalingGroups": "InternalFailure",
	}
	for _, c := range faultCases {
		err := c.call(e)
		if errCode(err) != want[c.action] || httpStatus(err) != 500 {
			t.Errorf("%s with lost_response_rate 1: want %s / 500, got %v (HTTP %d)", c.action, want[c.action], err, httpStatus(err))
		}
		if retryable, throttle := sdkSays(err); !retryable || throttle {
			t.Errorf("%s: the SDK's retryer says retryable %v, throttle %v; want a retryable error that is no throttle", c.action, retryable, throttle)
		}
		if c.applied != nil && !c.applied(e) {
			t.Errorf("%s answered %s but did not take effect", c.action, errCode(err))
		}
		if r := e.counter(c.action); r.Calls != 1 || r.LostResponses != 1 || r.Throttled != 0 || r.InjectedErrors != 0 {
			t.Errorf("%s counters: %+v, want 1 call, 1 lost response", c.action, r)
		}
	}

	// The SDK's standard retryer tries three times: three more keys.
	retrying := kms.NewFromConfig(e.rootCfg(faultAccount, e.region), func(o *kms.Options) {
		o.Retryer = retry.NewStandard(func(o *retry.StandardOptions) {
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		})
	})
	if _, err := retrying.CreateKey(e.ctx, &kms.CreateKeyInput{}); errCode(err) != "KMSInternalException" {
		t.Fatalf("CreateKey retried by the SDK: want KMSInternalException after three attempts, got %v", err)
	}
	if keys := e.keys(); len(keys) != 4 {
		t.Fatalf("after one lost CreateKey and one retried three times: %d keys, want 4", len(keys))
	}
	if r := e.counter("kms:CreateKey"); r.Calls != 4 || r.LostResponses != 4 {
		t.Errorf("kms:CreateKey counters: %+v, want 4 calls, 4 lost responses", r)
	}
}

// TestThrottleRateRefusesWithTheServicesThrottlingError: with throttle_rate 1
// every call is refused with the service's throttling error, which the SDK
// retries as a throttle, and nothing is applied — also where the request-rate
// limits are off.
func TestThrottleRateRefusesWithTheServicesThrottlingError(t *testing.T) {
	e := newTestEnv(t, faultWorld(actionRules("{throttle_rate: 1}")))
	type answer struct {
		code   string
		status int
	}
	want := map[string]answer{
		"kms:CreateKey": {"ThrottlingException", 400}, "ec2:CreateSecurityGroup": {"RequestLimitExceeded", 503}, "iam:CreateRole": {"Throttling", 400},
		"ssm:PutParameter": {"ThrottlingException", 400}, "sts:GetCallerIdentity": {"Throttling", 400}, "autoscaling:DescribeAutoScalingGroups": {"Throttling", 400},
	}
	for _, c := range faultCases {
		err := c.call(e)
		if got := (answer{errCode(err), httpStatus(err)}); got != want[c.action] {
			t.Errorf("%s with throttle_rate 1: want %+v, got %+v (%v)", c.action, want[c.action], got, err)
		}
		if retryable, throttle := sdkSays(err); !retryable || !throttle {
			t.Errorf("%s: the SDK's retryer says retryable %v, throttle %v; want a retryable throttle", c.action, retryable, throttle)
		}
		if c.applied != nil && c.applied(e) {
			t.Errorf("%s was throttled yet took effect", c.action)
		}
		if r := e.counter(c.action); r.Calls != 1 || r.Throttled != 1 || r.LostResponses != 0 {
			t.Errorf("%s counters: %+v, want 1 call, 1 throttled", c.action, r)
		}
	}
}

// TestFaultRulesNarrowestWins: an action's rule beats its service's, which
// beats the global one, field by field; a rule inherits what it leaves out,
// a bare action name from the service the call is to.
func TestFaultRulesNarrowestWins(t *testing.T) {
	e := newTestEnv(t, faultWorld(`  throttle_rate: 1
  lost_response_rate: 1
  services: {kms: {throttle_rate: 0}}
  actions: {ListKeys: {lost_response_rate: 0}, "kms:CreateAlias": {throttle_rate: 1}}
`))
	if _, err := e.ec2(faultAccount, e.region).DescribeImages(e.ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}}); errCode(err) != "RequestLimitExceeded" {
		t.Errorf("DescribeImages under the global throttle_rate 1: want RequestLimitExceeded, got %v", err)
	}
	if keys := e.keys(); len(keys) != 0 { // kms throttle_rate 0, ListKeys lost_response_rate 0
		t.Fatalf("keys before any CreateKey: %v", keys)
	}
	_, err := e.kms(faultAccount, e.region).CreateKey(e.ctx, &kms.CreateKeyInput{})
	if errCode(err) != "KMSInternalException" {
		t.Fatalf("CreateKey: kms throttle_rate 0, global lost_response_rate 1: want KMSInternalException, got %v", err)
	}
	keys := e.keys()
	if len(keys) != 1 {
		t.Fatalf("keys after a lost CreateKey: %v, want one", keys)
	}
	_, err = e.kms(faultAccount, e.region).CreateAlias(e.ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/faulty"), TargetKeyId: aws.String(keys[0])})
	if errCode(err) != "ThrottlingException" {
		t.Errorf("CreateAlias: kms:CreateAlias throttle_rate 1 over kms's 0: want ThrottlingException, got %v", err)
	}
	if r := e.counter("kms:CreateAlias"); r.Throttled != 1 || r.LostResponses != 0 {
		t.Errorf("kms:CreateAlias counters: %+v, want throttled and not applied", r)
	}
}

// TestFaultRatesThroughTheAdminEndpoint: the rates change while the sandbox
// runs, are checked, and the counters say what was injected.
func TestFaultRatesThroughTheAdminEndpoint(t *testing.T) {
	e := newTestEnv(t, faultWorld(""))
	put := func(doc string) int {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPut, e.http.URL+"/_sandbox/behaviour", strings.NewReader(doc))
		resp := must(http.DefaultClient.Do(req))
		resp.Body.Close()
		return resp.StatusCode
	}
	callerIdentity := func() error {
		_, err := e.sts(faultAccount, e.region).GetCallerIdentity(e.ctx, &sts.GetCallerIdentityInput{})
		return err
	}
	if code := put(`{"throttle_rate": 1, "actions": {"sts:GetCallerIdentity": {"lost_response_rate": 1}}}`); code != 200 {
		t.Fatalf("PUT throttle_rate: %d", code)
	}
	if err := callerIdentity(); errCode(err) != "Throttling" {
		t.Errorf("GetCallerIdentity with throttle_rate 1: want Throttling, got %v", err)
	}
	if code := put(`{"services": {"sts": {"throttle_rate": 0}}}`); code != 200 {
		t.Fatalf("PUT services: %d", code)
	}
	if err := callerIdentity(); errCode(err) != "InternalFailure" {
		t.Errorf("GetCallerIdentity with sts throttle_rate 0 and lost_response_rate 1: want InternalFailure, got %v", err)
	}
	for _, bad := range []string{`{"lost_response_rate": 1.5}`, `{"throttle_rate": -0.1}`, `{"actions": {"CreateKey": {"throttle_rate": 2}}}`} {
		if code := put(bad); code != 400 {
			t.Errorf("PUT %s: want 400, got %d", bad, code)
		}
	}
	var b map[string]any
	getJSON(t, e.http.URL+"/_sandbox/behaviour", &b)
	if b["throttle_rate"] != 1.0 || b["lost_response_rate"] != 0.0 {
		t.Errorf("behaviour: %v", b)
	}
	resp := must(http.Get(e.http.URL + "/_sandbox/counters"))
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"throttled": 1`) || !strings.Contains(string(body), `"lost_responses": 1`) {
		t.Errorf("counters do not show the throttled call and the lost response:\n%s", body)
	}
}
