package activities

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/semaphore"

	"github.com/amicrypt/amicrypt/internal/heartbeat"
	"github.com/amicrypt/amicrypt/internal/metrics"
)

// Activities is registered once with the worker; workflows call its methods
// through a nil pointer (var a *Activities; workflow.ExecuteActivity(ctx, a.CopyEncrypted, in)).
//
// Its exported methods are exactly the activities the workflows call, and
// the worker registers exactly those (worker.Register; a test holds the two
// lists together): a Target's PrepareTarget, CopyEncrypted, WaitAndVerify,
// ProveBoot, FinishTarget and, as compensation, DeleteBootProof (target.go,
// copy.go, bootproof.go); a Batch's ShareSource and UnshareSource (share.go);
// a Rotation's PrepareRotation, FindKeyedImages, ReencryptImage, MarkImage,
// SwitchKey and RetireOldKeys (rotate.go, publish.go); a Sweep's InspectKey
// (sweep.go). The steps they are made of are unexported methods, one file
// per concern: assumeTarget (assume.go), ensureServiceLinkedRole (slr.go),
// ensureKey (key.go), verifySnapshots (verify.go), publishImage
// (publish.go), applyRetention (retention.go).
type Activities struct {
	clients Clients
	log     zerolog.Logger
	// Polling of long waits (copies, boot proofs, group deletion): the first
	// interval, doubled after each poll up to the cap.
	pollInitial, pollMax time.Duration
	// defaultBootTimeout applies when a target sets no boot-proof timeout.
	defaultBootTimeout time.Duration
	// heartbeatEvery is how often the waiting activities heartbeat,
	// whatever their poll interval.
	heartbeatEvery time.Duration
	// workflows says whether a workflow still runs (abandoned boot proofs).
	workflows WorkflowChecker
	// accounts remembers per-account facts (role assumable, service-linked
	// role present) for accountMemoTTL.
	accounts *memo
	// allowed: the only accounts served (Config.AllowAccounts); nil: all,
	// or those of organization.
	allowed map[string]bool
	// organization: the organization whose accounts are served, besides
	// allowed (Config.AllowOrganization); "": none.
	organization string
	// metrics records copy and boot durations, shares and old keys (nil:
	// nothing recorded).
	metrics *metrics.Metrics
	// planning bounds the targets the worker plans at once, over every
	// PlanTargets it runs (nil: no bound).
	planning *semaphore.Weighted
}

// refuseUnallowed is NotAllowed for the accounts this worker may not serve
// by its --allow-accounts alone (nil when it may serve them all); what names
// the action refused. With --allow-organization too, an account not listed
// may be of the organization: only its own role can tell
// (verifyOrganization), so refuseUnallowed lets it through.
func (a *Activities) refuseUnallowed(what string, accounts ...string) error {
	if a.allowed == nil || a.organization != "" {
		return nil
	}
	var out []string
	for _, id := range accounts {
		if !a.allowed[id] {
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return Diagnosed(Diagnosis{
		Code: NotAllowed,
		Cause: fmt.Sprintf("%s refused: account %s is not among the accounts this worker may serve (amicrypt worker --allow-accounts), whatever the run's input says",
			what, strings.Join(out, ", ")),
		Fix: "Add the account to the workers' --allow-accounts (or AMICRYPT_ALLOW_ACCOUNTS) if it is one of yours, restart them, then replay the target; if it is not, remove it from the config.",
	}, nil)
}

// accountMemoTTL is how long a per-account fact is trusted without asking
// AWS again: well within assumed credentials' hour.
const accountMemoTTL = 10 * time.Minute

// The production poll settings (Config's zero values).
const (
	DefaultPollInitial = 5 * time.Second
	DefaultPollMax     = 30 * time.Second
)

// LongestPoll is the longest wait between two polls of AWS under cfg (a
// copy's: four times PollMax). The heartbeat does not depend on it.
func LongestPoll(cfg Config) time.Duration {
	a := New(cfg)
	return a.newPoller(pollCopy).max
}

// Config is what the activities need.
type Config struct {
	// Clients hands out the AWS clients (a *ClientFactory, or fakes in tests).
	Clients Clients
	// Logger receives structured logs (account, region, image; never
	// credentials). The zero value discards them.
	Logger zerolog.Logger
	// PollInitial is the first wait between polls of a short wait (a group
	// being deleted; default 5 s); a boot proof waits twice that before its
	// first poll, a copy three times (copies take minutes at least). Each
	// wait is 1.5 times the one before, up to PollMax (default 30 s; four
	// times that for a copy, which can take hours). Tests make both small.
	PollInitial, PollMax time.Duration
	// BootTimeout is the boot-proof timeout of a target that sets none
	// (default 15 min).
	BootTimeout time.Duration
	// HeartbeatInterval is how often WaitAndVerify and ProveBoot record a
	// heartbeat, on a clock of their own: polls stay sparse (up to 4 ×
	// PollMax apart for a copy) while a lost worker is still noticed within
	// the activity's heartbeat timeout. Default heartbeat.DefaultInterval
	// (20 s); tests make it small.
	HeartbeatInterval time.Duration
	// Workflows tells whether a workflow still runs, so that a boot proof a
	// terminated workflow left behind is removed (removeAbandonedProofs);
	// nil: only proofs of no named workflow, a day old, are.
	Workflows WorkflowChecker
	// AllowAccounts, when not empty, are the only accounts this worker acts
	// in or shares the builder's images with, whatever a workflow's input
	// names (amicrypt worker --allow-accounts).
	AllowAccounts []string
	// AllowOrganization, when set, is an AWS Organizations id (o-...) whose
	// accounts this worker serves too, verified as each target's role
	// (amicrypt worker --allow-organization; organization.go).
	AllowOrganization string
	// Metrics, when set, records the copies' and boot proofs' durations,
	// the source shares given and taken back, and the old keys pending
	// retirement (the AWS calls are counted by the ClientFactory's own
	// ClientOptions.Metrics). With it, sharing and revoking read the
	// source's launch permissions first (one ec2:DescribeImageAttribute)
	// to count only what changed.
	Metrics *metrics.Metrics
}

// New builds the activities from cfg.
func New(cfg Config) *Activities {
	a := &Activities{
		clients:            cfg.Clients,
		log:                cfg.Logger,
		pollInitial:        cfg.PollInitial,
		pollMax:            cfg.PollMax,
		defaultBootTimeout: cfg.BootTimeout,
		heartbeatEvery:     cfg.HeartbeatInterval,
		workflows:          cfg.Workflows,
		accounts:           newMemo(accountMemoTTL),
		organization:       cfg.AllowOrganization,
		metrics:            cfg.Metrics,
		planning:           semaphore.NewWeighted(PlanTargetsAtOnce),
	}
	if len(cfg.AllowAccounts) > 0 {
		a.allowed = map[string]bool{}
		for _, id := range cfg.AllowAccounts {
			a.allowed[id] = true
		}
	}
	if a.pollInitial <= 0 {
		a.pollInitial = DefaultPollInitial
	}
	if a.pollMax <= 0 {
		a.pollMax = DefaultPollMax
	}
	if a.pollMax < a.pollInitial {
		a.pollMax = a.pollInitial
	}
	if a.defaultBootTimeout <= 0 {
		a.defaultBootTimeout = 15 * time.Minute
	}
	return a
}

// logFor is the logger of one target (or the builder).
func (a *Activities) logFor(account, region string) zerolog.Logger {
	return a.log.With().Str("account", account).Str("region", region).Logger()
}

// poller waits between polls with a capped backoff (×1.5). It does not
// heartbeat on its own schedule: the activity runs a heartbeat of its own
// (heartbeat.Start, see keepAlive), and each wait only updates what it says.
type poller struct {
	next, max time.Duration
}

// What a poller waits for: its first wait and its cap are multiples of
// PollInitial and PollMax. Polls cost AWS calls from the account's request
// bucket, so long waits start late and stay sparse.
type pollKind struct{ first, max int }

var (
	pollShort = pollKind{1, 1} // a group being deleted
	// An instance launched by Auto Scaling: the launch, the boot and the
	// health check take tens of seconds to minutes, so the first look is at
	// 20 s (with the defaults).
	pollBoot = pollKind{4, 1}
	// An encrypted copy: EC2 copies the snapshots in the background, minutes
	// for a small image and hours for a large one, so the first look is at
	// 30 s.
	pollCopy = pollKind{6, 4}
)

// keepAlive heartbeats every heartbeatEvery until stop, for an activity that
// waits (see internal/heartbeat).
func (a *Activities) keepAlive(ctx context.Context) (context.Context, func()) {
	return heartbeat.Start(ctx, a.heartbeatEvery)
}

func (a *Activities) newPoller(k pollKind) *poller {
	return &poller{next: time.Duration(k.first) * a.pollInitial, max: time.Duration(k.max) * a.pollMax}
}

// wait sets what the heartbeats say, then sleeps the next interval; it
// returns ctx's error when the activity is cancelled or times out.
func (p *poller) wait(ctx context.Context, details ...any) error {
	heartbeat.Progress(ctx, details...)
	t := time.NewTimer(p.next)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	p.next += p.next / 2
	if p.next > p.max {
		p.next = p.max
	}
	return nil
}
