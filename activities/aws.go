package activities

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/amicrypt/amicrypt/internal/metrics"
)

// ClientOptions tune a ClientFactory. The zero value is usable.
type ClientOptions struct {
	// Endpoint, when set, is the one address every service is reached at (the
	// AWS sandbox, say). Without it the SDK resolves endpoints itself, which
	// honours AWS_ENDPOINT_URL and the shared config's endpoint_url.
	Endpoint string
	// SessionName is the RoleSessionName of roles assumed outside an
	// activity, or by one without a session class (default
	// "amicrypt-worker"); an activity's sessions are named after its run and
	// step, with its run's operator and its class's policy (session.go).
	SessionName string
	// MaxAttempts is each client's SDK retry budget for one call (default 3).
	// Temporal owns the long retries; this only rides out a blip.
	MaxAttempts int
	// AssumeDuration is how long assumed-role credentials last (default 1 h).
	AssumeDuration time.Duration
	// MaxClients bounds the cache of service clients (one per role,
	// region and service; default 8192) and MaxSessions the cache of role
	// sessions (one per role, external id, run, step class and operator;
	// default 8192): the least recently used go first, and none is kept
	// longer than an hour (a session: AssumeDuration), so a worker serving
	// an organization of thousands of accounts, run after run, stays
	// bounded. An evicted entry is made again when next needed (a session:
	// one more sts:AssumeRole).
	MaxClients, MaxSessions int
	// Metrics, when set, counts every attempt of every call of every
	// client the factory makes (metrics.CountAWSCalls; a not found answer
	// is no error there).
	Metrics *metrics.Metrics
}

// ClientFactory builds and caches AWS clients: credentials per target from
// sts:AssumeRole (cached per role, external id and session — the calling
// activity's run, step class, operator and session policy — and dropped
// when assuming fails, so a fixed trust policy is picked up at the next
// call), and one client per role, region and service, each with its own
// retryer and retry token bucket, so one account's throttling never starves
// another's. A client picks its session's credentials per call, from the
// call's context.
//
// It implements Clients.
type ClientFactory struct {
	base aws.Config
	opts ClientOptions

	mu sync.Mutex
	// roles: the STS client that assumes each role.
	roles    *expirable.LRU[credKey, *sts.Client]
	sessions *expirable.LRU[sessionKey, aws.CredentialsProvider]
	clients  *expirable.LRU[clientKey, any]
}

var _ Clients = (*ClientFactory)(nil)

type credKey struct{ roleARN, externalID string }

type sessionKey struct {
	credKey
	session
}

type clientKey struct {
	credKey
	region, service string
}

// NewClientFactory builds clients from base: its credentials act for the
// worker itself (builder calls without a builder role, and the AssumeRole
// calls into targets). Tests pass a config whose credentials and endpoint
// point at the sandbox.
func NewClientFactory(base aws.Config, opts ClientOptions) *ClientFactory {
	if opts.SessionName == "" {
		opts.SessionName = "amicrypt-worker"
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 3
	}
	if opts.AssumeDuration <= 0 {
		opts.AssumeDuration = time.Hour
	}
	if opts.MaxClients <= 0 {
		opts.MaxClients = 8192
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = 8192
	}
	base.HTTPClient = sharedHTTPClient(base.HTTPClient)
	if opts.Metrics != nil {
		// Not found is an answer: amicrypt looks before it creates.
		base.APIOptions = append(slices.Clip(base.APIOptions), opts.Metrics.CountAWSCalls(IsNotFound))
	}
	return &ClientFactory{base: base, opts: opts,
		roles:    expirable.NewLRU[credKey, *sts.Client](opts.MaxSessions, nil, time.Hour),
		sessions: expirable.NewLRU[sessionKey, aws.CredentialsProvider](opts.MaxSessions, nil, opts.AssumeDuration),
		clients:  expirable.NewLRU[clientKey, any](opts.MaxClients, nil, time.Hour),
	}
}

// Cached is how many service clients and role sessions the factory holds.
func (f *ClientFactory) Cached() (clients, sessions int) {
	return f.clients.Len(), f.sessions.Len()
}

// Connection pool of the HTTP client all clients share.
const (
	maxIdleConns        = 512
	maxIdleConnsPerHost = 128
)

// sharedHTTPClient is one HTTP client for every client the factory makes.
// Left to itself, each service client copies the SDK's buildable HTTP
// client and so gets a transport and connection pool of its own: with a
// client per account, region and service, a run over 250 accounts held
// thousands of idle connections (two goroutines and two buffers each). One
// frozen client shares one pool: connections go per endpoint, not per
// credentials (SigV4 signs each request). A caller's own, non-buildable
// client is kept as it is.
func sharedHTTPClient(c aws.HTTPClient) aws.HTTPClient {
	b, ok := c.(*awshttp.BuildableClient)
	if c == nil {
		b, ok = awshttp.NewBuildableClient(), true
	}
	if !ok {
		return c
	}
	return b.WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = maxIdleConns
		t.MaxIdleConnsPerHost = maxIdleConnsPerHost
	}).Freeze()
}

// LoadClientFactory is NewClientFactory over the SDK's default configuration
// chain (environment, shared files, instance or pod role).
func LoadClientFactory(ctx context.Context, opts ClientOptions, optFns ...func(*config.LoadOptions) error) (*ClientFactory, error) {
	cfg, err := config.LoadDefaultConfig(ctx, optFns...)
	if err != nil {
		return nil, fmt.Errorf("loading the AWS configuration, %w", err)
	}
	return NewClientFactory(cfg, opts), nil
}

// AssumeRoleError is a failure to assume a target's or the builder's role:
// diagnose turns it into F7.
type AssumeRoleError struct {
	RoleARN    string
	ExternalID string
	Err        error
}

func (e *AssumeRoleError) Error() string {
	return fmt.Sprintf("assuming role %s, %v", e.RoleARN, e.Err)
}

func (e *AssumeRoleError) Unwrap() error { return e.Err }

// assumeRoleProvider retrieves credentials for one role session and drops
// itself from the factory when that fails.
type assumeRoleProvider struct {
	f     *ClientFactory
	key   sessionKey
	inner aws.CredentialsProvider
}

func (p *assumeRoleProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := p.inner.Retrieve(ctx)
	if err != nil {
		p.f.forget(p.key)
		return c, &AssumeRoleError{RoleARN: p.key.roleARN, ExternalID: p.key.externalID, Err: err}
	}
	return c, nil
}

// forget drops a session's cached credentials.
func (f *ClientFactory) forget(key sessionKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sessions.Remove(key)
}

// roleCredentials are a role's credentials for whichever session the
// call's context belongs to (sessionFor).
type roleCredentials struct {
	f   *ClientFactory
	key credKey
}

func (r roleCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	s, ok := sessionFor(ctx)
	if !ok {
		s = session{name: r.f.opts.SessionName}
	}
	return r.f.session(sessionKey{r.key, s}).Retrieve(ctx)
}

// session is the cached credentials provider of one role session.
func (f *ClientFactory) session(key sessionKey) aws.CredentialsProvider {
	f.mu.Lock()
	defer f.mu.Unlock()
	if prov, ok := f.sessions.Get(key); ok {
		return prov
	}
	inner := stscreds.NewAssumeRoleProvider(f.stsFor(key.credKey, ""), key.roleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = key.name
		o.Duration = f.opts.AssumeDuration
		if key.externalID != "" {
			o.ExternalID = aws.String(key.externalID)
		}
		if key.sourceIdentity != "" {
			o.SourceIdentity = aws.String(key.sourceIdentity)
		}
		if key.policy != "" {
			o.Policy = aws.String(key.policy)
		}
	})
	prov := aws.NewCredentialsCache(&assumeRoleProvider{f: f, key: key, inner: inner}, func(o *aws.CredentialsCacheOptions) {
		o.ExpiryWindow = CredentialsExpiryWindow
	})
	f.sessions.Add(key, prov)
	return prov
}

// CredentialsExpiryWindow is how long before they expire credentials are
// refreshed: a request signed just before its credentials expire may reach
// AWS after they have (a busy worker takes seconds between signing and
// sending), and AWS refuses it with ExpiredToken. Measured: a 10,000-target
// run on two cores met it at each 15-minute expiry of the worker's own
// profile credentials, until they were refreshed early.
const CredentialsExpiryWindow = 2 * time.Minute

// expiredInFlight are AWS's codes for a request whose credentials or
// signature expired on the way: the SDK retries it, signed anew.
var expiredInFlight = retry.RetryableErrorCode{Codes: map[string]struct{}{
	"ExpiredToken": {}, "ExpiredTokenException": {}, "RequestExpired": {},
}}

// retryer is a fresh standard retryer with its own token bucket.
func (f *ClientFactory) retryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = f.opts.MaxAttempts
		o.RateLimiter = ratelimit.NewTokenRateLimit(retry.DefaultRetryRateTokens)
		o.Retryables = append(slices.Clip(o.Retryables), expiredInFlight)
	})
}

// config is the base configuration for one access: its region, its
// credentials, a retryer per client and the endpoint override. f.mu is held.
func (f *ClientFactory) configFor(a Access) aws.Config {
	cfg := f.base.Copy()
	if a.Region != "" {
		cfg.Region = a.Region
	}
	cfg.Retryer = f.retryer
	if f.opts.Endpoint != "" {
		cfg.BaseEndpoint = aws.String(f.opts.Endpoint)
	}
	if a.RoleARN == "" {
		return cfg
	}
	key := credKey{a.RoleARN, a.ExternalID}
	f.stsFor(key, a.Region)
	cfg.Credentials = roleCredentials{f: f, key: key}
	return cfg
}

// stsFor is the STS client, as the worker itself, that assumes a role (in
// region, else the base configuration's, when made). f.mu is held.
func (f *ClientFactory) stsFor(key credKey, region string) *sts.Client {
	if c, ok := f.roles.Get(key); ok {
		return c
	}
	stsCfg := f.base.Copy()
	if region != "" {
		stsCfg.Region = region
	}
	stsCfg.Retryer = f.retryer
	if f.opts.Endpoint != "" {
		stsCfg.BaseEndpoint = aws.String(f.opts.Endpoint)
	}
	c := sts.NewFromConfig(stsCfg)
	f.roles.Add(key, c)
	return c
}

// client returns the cached client of a service for an access, building it
// with mk on first use.
func client[T any](f *ClientFactory, a Access, service string, mk func(aws.Config) T) T {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := clientKey{credKey: credKey{a.RoleARN, a.ExternalID}, region: a.Region, service: service}
	if c, ok := f.clients.Get(key); ok {
		return c.(T)
	}
	c := mk(f.configFor(a))
	f.clients.Add(key, c)
	return c
}

// EC2 is the EC2 client for an access.
func (f *ClientFactory) EC2(a Access) EC2API {
	return client(f, a, "ec2", func(cfg aws.Config) EC2API { return ec2.NewFromConfig(cfg) })
}

// KMS is the KMS client for an access.
func (f *ClientFactory) KMS(a Access) KMSAPI {
	return client(f, a, "kms", func(cfg aws.Config) KMSAPI { return kms.NewFromConfig(cfg) })
}

// IAM is the IAM client for an access (IAM is global; the region only picks
// the partition).
func (f *ClientFactory) IAM(a Access) IAMAPI {
	return client(f, a, "iam", func(cfg aws.Config) IAMAPI { return iam.NewFromConfig(cfg) })
}

// AutoScaling is the Auto Scaling client for an access.
func (f *ClientFactory) AutoScaling(a Access) AutoScalingAPI {
	return client(f, a, "autoscaling", func(cfg aws.Config) AutoScalingAPI { return autoscaling.NewFromConfig(cfg) })
}

// SSM is the Systems Manager client for an access.
func (f *ClientFactory) SSM(a Access) SSMAPI {
	return client(f, a, "ssm", func(cfg aws.Config) SSMAPI { return ssm.NewFromConfig(cfg) })
}

// CloudTrail is the CloudTrail client for an access.
func (f *ClientFactory) CloudTrail(a Access) CloudTrailAPI {
	return client(f, a, "cloudtrail", func(cfg aws.Config) CloudTrailAPI { return cloudtrail.NewFromConfig(cfg) })
}

// STS is the STS client for an access: with a role, calls act as that role
// (GetCallerIdentity proves the role can be assumed).
func (f *ClientFactory) STS(a Access) STSAPI {
	return client(f, a, "sts", func(cfg aws.Config) STSAPI { return sts.NewFromConfig(cfg) })
}
