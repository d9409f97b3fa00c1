package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/amicrypt/amicrypt/internal/sandbox/world"
)

// testClock is a settable clock so tests move simulated time instead of sleeping.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward.
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// testEnv is a running sandbox plus a way to make real aws-sdk-go-v2 clients for it.
type testEnv struct {
	t      testing.TB
	srv    *Server
	http   *httptest.Server
	clock  *testClock
	ctx    context.Context
	region string
}

// newTestEnv starts a sandbox on a world given as YAML (empty: the default world).
func newTestEnv(t testing.TB, worldYAML string) *testEnv {
	t.Helper()
	var w *world.World
	if worldYAML == "" {
		w = world.Default()
	} else {
		var err error
		w, err = world.Parse([]byte(worldYAML), "test-world.yaml")
		if err != nil {
			t.Fatalf("world: %v", err)
		}
	}
	clock := &testClock{now: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	srv, err := New(w, Options{Clock: clock.Now})
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	rememberServer(srv)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &testEnv{t: t, srv: srv, http: hs, clock: clock, ctx: context.Background(), region: w.Regions[0]}
}

// cfg is an aws.Config for static credentials (a 12-digit id acts as that account's root).
func (e *testEnv) cfg(accessKey, secret, token, region string) aws.Config {
	return aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(accessKey, secret, token),
		BaseEndpoint: aws.String(e.http.URL),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 1 })
		},
	}
}

func (e *testEnv) rootCfg(account, region string) aws.Config {
	return e.cfg(account, "secret", "", region)
}

func (e *testEnv) ec2(account, region string) *ec2.Client {
	return ec2.NewFromConfig(e.rootCfg(account, region))
}
func (e *testEnv) kms(account, region string) *kms.Client {
	return kms.NewFromConfig(e.rootCfg(account, region))
}
func (e *testEnv) iam(account string) *iam.Client {
	return iam.NewFromConfig(e.rootCfg(account, "us-east-1"))
}
func (e *testEnv) sts(account, region string) *sts.Client {
	return sts.NewFromConfig(e.rootCfg(account, region))
}
func (e *testEnv) autoscaling(account, region string) *autoscaling.Client {
	return autoscaling.NewFromConfig(e.rootCfg(account, region))
}
func (e *testEnv) ssm(account, region string) *ssm.Client {
	return ssm.NewFromConfig(e.rootCfg(account, region))
}

// assumeRole returns an aws.Config acting as a role session.
func (e *testEnv) assumeRole(from aws.Config, roleARN, externalID string) (aws.Config, error) {
	in := &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("test")}
	if externalID != "" {
		in.ExternalId = aws.String(externalID)
	}
	out, err := sts.NewFromConfig(from).AssumeRole(e.ctx, in)
	if err != nil {
		return aws.Config{}, err
	}
	c := out.Credentials
	return e.cfg(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken, from.Region), nil
}

// errCode returns the AWS error code of err ("" when nil or not an API error).
func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// must returns v, or panics on err: a call that should succeed failed, and the
// panic (which fails the test binary, naming the running test) carries the error.
func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("unexpected error: %v", err))
	}
	return v
}
