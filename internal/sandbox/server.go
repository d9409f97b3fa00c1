package sandbox

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/amicrypt/amicrypt/internal/sandbox/wire"
	"github.com/amicrypt/amicrypt/internal/sandbox/world"
)

// Server is the AWS sandbox: one HTTP handler for every service, picked by the
// SigV4 credential scope of each request, plus admin endpoints under /_sandbox/.
type Server struct {
	cloud    *Cloud
	world    *world.World
	services map[string]*wire.Service
	handlers map[string]map[string]handler
	limits   *limiter
	counters *counters
	log      zerolog.Logger
	reqSeq   atomic.Uint64
	rnd      *lockedRand
	persist  *persister
	// adminToken is Options.AdminToken.
	adminToken string
}

// Options configure a sandbox.
type Options struct {
	// StateFile, when set, is loaded at start (if it exists) and rewritten as
	// the state changes, so the sandbox survives a restart.
	StateFile string
	// Clock replaces time.Now (tests).
	Clock func() time.Time
	// Logger receives one line per request at debug level.
	Logger zerolog.Logger
	// Seed makes injected faults repeatable.
	Seed uint64
	// AdminToken, when set, lets admin requests in on an address beyond
	// loopback when they carry it (X-Sandbox-Admin-Token); without it the
	// admin endpoints answer on loopback only (see adminRefusal).
	AdminToken string
}

// call is one request being served.
type call struct {
	s         *Server
	c         *Cloud
	caller    *Caller
	service   string
	action    string
	region    string
	in        map[string]any
	now       time.Time
	requestID string
	// sourceIP and userAgent are what CloudTrail records of the request.
	sourceIP  string
	userAgent string
	// kmsKeys are the keys a KMS request acts on, for its CloudTrail event.
	kmsKeys []*Key
}

type handler func(*call) (map[string]any, error)

// New builds a sandbox from a world.
func New(w *world.World, opts Options) (*Server, error) {
	clock := opts.Clock
	if clock == nil {
		clock = time.Now
	}
	s := &Server{
		world:      w,
		services:   map[string]*wire.Service{},
		handlers:   map[string]map[string]handler{},
		limits:     newLimiter(),
		counters:   newCounters(),
		log:        opts.Logger,
		rnd:        newLockedRand(opts.Seed),
		adminToken: opts.AdminToken,
	}
	for _, name := range []string{"ec2", "kms", "iam", "sts", "autoscaling", "ssm", "cloudtrail", "organizations"} {
		svc, err := wire.Load(name)
		if err != nil {
			return nil, fmt.Errorf("loading the %s service model: %w", name, err)
		}
		s.services[name] = svc
		s.handlers[name] = map[string]handler{}
	}
	s.registerSTS()
	s.registerIAM()
	s.registerEC2()
	s.registerKMS()
	s.registerAutoScaling()
	s.registerSSM()
	s.registerCloudTrail()
	s.registerOrganizations()

	st, cfg, err := stateFromWorld(w, clock())
	if err != nil {
		return nil, err
	}
	var trail *Trail
	if opts.StateFile != "" {
		s.persist = &persister{path: opts.StateFile}
		loaded, lcfg, ltrail, err := s.persist.load()
		if err != nil {
			return nil, err
		}
		if loaded != nil {
			st, cfg, trail = loaded, lcfg, ltrail
		}
	}
	s.cloud = newCloud(st, cfg, clock)
	if trail != nil {
		s.cloud.trail = trail
	}
	if s.persist != nil {
		s.persist.cloud = s.cloud
	}
	return s, nil
}

// Cloud gives tests and the admin API access to the modelled state.
func (s *Server) Cloud() *Cloud { return s.cloud }

func (s *Server) handle(service, action string, h handler) {
	if _, ok := s.services[service].Operation(action); !ok {
		panic(fmt.Sprintf("sandbox: %s has no operation %s in its model", service, action))
	}
	s.handlers[service][action] = h
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_sandbox/") {
		if why := s.adminRefusal(r); why != "" {
			writeJSON(w, http.StatusForbidden, map[string]any{"error": why})
			return
		}
		s.serveAdmin(w, r)
		return
	}
	reqID := s.newRequestID()
	scope, err := wire.ParseCredentialScope(r)
	if err != nil {
		svc := s.guessService(r)
		svc.WriteError(w, apiErrStatus(403, "MissingAuthenticationToken", "Request is missing Authentication Token"), reqID)
		return
	}
	svc, ok := s.services[scope.Service]
	if !ok {
		http.Error(w, fmt.Sprintf("the sandbox does not serve the %q service (it serves ec2, kms, iam, sts, autoscaling, ssm, cloudtrail, organizations)", scope.Service), http.StatusBadRequest)
		return
	}
	op, in, err := svc.DecodeRequest(r)
	if err != nil {
		svc.WriteError(w, asAPIError(err), reqID)
		return
	}
	region := scope.Region
	switch scope.Service {
	case "iam":
		region = "us-east-1" // IAM is global; its scope says us-east-1
	case "organizations":
		region = organizationsRegion // global, whatever region a client with an endpoint override signs for
	}
	meta := requestMeta{sourceIP: r.RemoteAddr, userAgent: r.Header.Get("User-Agent")}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		meta.sourceIP = host
	}
	out, apiErr := s.serve(r.Context(), scope, svc.Name, op.Name, region, in, reqID, meta)
	if apiErr != nil {
		s.log.Debug().Str("service", scope.Service).Str("action", op.Name).Str("region", region).Str("code", apiErr.Code).Msg(apiErr.Message)
		svc.WriteError(w, apiErr, reqID)
		return
	}
	if err := svc.WriteResponse(w, op, out, reqID); err != nil {
		s.log.Error().Err(err).Str("action", op.Name).Msg("encoding response")
	}
}

// requestMeta is what a request says of its sender beyond its signature.
type requestMeta struct {
	sourceIP, userAgent string
}

// serve runs one decoded request through identity, faults, limits and its handler.
func (s *Server) serve(ctx context.Context, scope wire.Scope, service, action, region string, in map[string]any, reqID string, meta requestMeta) (map[string]any, *wire.APIError) {
	s.cloud.mu.Lock()
	cfg := s.cloud.cfg
	s.cloud.mu.Unlock()
	faults := faultFor(cfg, service, action)

	if d := faults.Latency; d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil, internalError(service)
		}
	}

	c := s.cloud
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock()
	caller, apiErr := c.identify(scope)
	if apiErr != nil {
		return nil, apiErr
	}
	if service != "iam" && service != "sts" && service != "organizations" && !c.knownRegion(region) {
		return nil, apiErrStatus(401, "AuthFailure", "AWS was not able to validate the provided access credentials (region %s is not in this sandbox's world: %s)", region, strings.Join(c.state.Regions, ", "))
	}
	// A DryRun request (EC2, KMS) changes nothing: it is counted apart, as a
	// read (see DryRunSuffix).
	counted := action
	if wire.Bool(in, "DryRun") {
		counted += DryRunSuffix
	}
	s.counters.add(caller.Account, region, service, counted)
	if s.chance(faults.ErrorRate) {
		s.counters.injectedError(caller.Account, region, service, counted)
		return nil, internalError(service)
	}
	// throttle_rate is a fault of its own: drawn whether or not the request-rate
	// limits apply, before them, so a throttled call takes no token (unknown in
	// AWS's documentation: whether a refused request costs a token).
	if s.chance(faults.ThrottleRate) {
		s.counters.throttled(caller.Account, region, service, counted)
		return nil, throttled(service)
	}
	if cfg.Throttle {
		if class := bucketClass(service, action); class != "" {
			setting := bucketSetting(cfg, class)
			if !s.limits.allow(caller.Account, region, class, setting, now) {
				s.counters.throttled(caller.Account, region, service, counted)
				return nil, throttled(service)
			}
		}
	}
	c.advance(now)
	h := s.handlers[service][action]
	if h == nil {
		return nil, notImplemented(service, "the sandbox models %s:%s in its wire format but does not implement it yet", service, action)
	}
	cl := &call{s: s, c: c, caller: caller, service: service, action: action, region: region, in: in, now: now, requestID: reqID,
		sourceIP: meta.sourceIP, userAgent: meta.userAgent}
	if !selfAuthorized(service, action) {
		if e := c.authorize(caller, service, action, "*"); e != nil {
			if service == "ec2" {
				c.recordEC2Call(cl, e)
				s.persistIfDirty()
			}
			return nil, e
		}
	}
	out, err := h(cl)
	c.lookRegion(caller.Account, region)
	switch service {
	case "kms":
		c.recordKMSCall(cl, err)
		s.persistIfDirty()
	case "ec2":
		c.recordEC2Call(cl, err)
		s.persistIfDirty()
	}
	if err != nil {
		return nil, asAPIError(err)
	}
	if s.persist != nil && c.dirty {
		s.persist.schedule()
	}
	// A lost response: the call took effect, the caller hears a 500. Only a
	// call that succeeded can lose its response this way; a refused one has
	// nothing applied to lose.
	if s.chance(faults.LostResponseRate) {
		s.counters.lostResponse(caller.Account, region, service, counted)
		return nil, lostResponse(service)
	}
	if out == nil {
		out = map[string]any{}
	}
	return out, nil
}

// persistIfDirty schedules a write of the state file when the state
// changed. The cloud's lock is held.
func (s *Server) persistIfDirty() {
	if s.persist != nil && s.cloud.dirty {
		s.persist.schedule()
	}
}

// notImplemented answers an operation the sandbox has not implemented.
func notImplemented(service, format string, args ...any) *wire.APIError {
	code := "InvalidAction"
	if service == "kms" || service == "ssm" || service == "cloudtrail" || service == "organizations" {
		code = "UnknownOperationException"
	}
	return &wire.APIError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// selfAuthorized lists actions whose handlers authorize themselves: KMS (key
// policy, grants and IAM together) and STS (trust policies).
func selfAuthorized(service, action string) bool {
	return service == "kms" || service == "sts"
}

func asAPIError(err error) *wire.APIError {
	var ae *wire.APIError
	if errors.As(err, &ae) {
		return ae
	}
	return &wire.APIError{Code: "InternalError", Message: err.Error(), Status: 500}
}

func (s *Server) guessService(r *http.Request) *wire.Service {
	if t := r.Header.Get("X-Amz-Target"); strings.HasPrefix(t, "AmazonSSM.") {
		return s.services["ssm"]
	} else if i := strings.LastIndexByte(t, '.'); i > 0 && s.services["cloudtrail"].HasTargetPrefix(t[:i]) {
		return s.services["cloudtrail"]
	} else if i > 0 && s.services["organizations"].HasTargetPrefix(t[:i]) {
		return s.services["organizations"]
	} else if t != "" {
		return s.services["kms"]
	}
	if strings.Contains(r.URL.RawQuery, "Version=2016-11-15") {
		return s.services["ec2"]
	}
	return s.services["sts"]
}

func (s *Server) newRequestID() string {
	n := s.reqSeq.Add(1)
	return fmt.Sprintf("00000000-0000-4000-8000-%012x", n)
}

// faultFor resolves the faults of a call as world.Faults.For does: the global
// values, overridden by the service's rule, then the action's, then the
// service:action one's.
func faultFor(cfg Behaviour, service, action string) world.CallFaults {
	c := world.CallFaults{ErrorRate: cfg.ErrorRate, LostResponseRate: cfg.LostResponseRate, ThrottleRate: cfg.ThrottleRate, Latency: cfg.Latency}
	apply := func(f Fault, ok bool) {
		if !ok {
			return
		}
		if f.ErrorRate != nil {
			c.ErrorRate = *f.ErrorRate
		}
		if f.LostResponseRate != nil {
			c.LostResponseRate = *f.LostResponseRate
		}
		if f.ThrottleRate != nil {
			c.ThrottleRate = *f.ThrottleRate
		}
		if f.Latency != nil {
			c.Latency = *f.Latency
		}
	}
	f, ok := cfg.ServiceFaults[service]
	apply(f, ok)
	f, ok = cfg.ActionFaults[action]
	apply(f, ok)
	f, ok = cfg.ActionFaults[service+":"+action]
	apply(f, ok)
	return c
}

// chance draws whether a fault of probability p happens (no draw when p is 0,
// so a world without faults keeps its seeded sequence).
func (s *Server) chance(p float64) bool {
	return p > 0 && s.rnd.Float64() < p
}

type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func newLockedRand(seed uint64) *lockedRand {
	return &lockedRand{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (l *lockedRand) Float64() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Float64()
}

// Serve listens on addr until ctx is cancelled; it flushes persisted state on exit.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	err := hs.Serve(ln)
	if s.persist != nil {
		if ferr := s.persist.flush(); ferr != nil {
			return ferr
		}
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
