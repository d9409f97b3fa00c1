package workflows

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"

	"github.com/amicrypt/amicrypt/activities"
)

// fakeAWS answers the activities the workflows call (those the worker
// registers) the way a healthy AWS would, records every call in order, and
// fails the calls a test names. env.OnActivity mocks delegate to it (see
// newEnv).
type fakeAWS struct {
	mu    sync.Mutex
	calls []string
	// errs fails a call: key "<Activity> <account>/<region>" for a target's
	// activities, "<Activity> <source region>" for ShareSource/UnshareSource.
	// A PrepareTarget failure names its step with diagnosedAt, as the real
	// one's does.
	errs map[string]error
	// boot overrides ProveBoot's result per target id (a proof that ends
	// "Failed" without an error has cleaned up itself).
	boot map[string]activities.BootResult
	// verify is WaitAndVerify's VerifyFailure per target id (F8: a snapshot
	// not under the key, a result, not an error).
	verify map[string]*activities.Diagnosis
	// waitDelay delays WaitAndVerify, bootDelay ProveBoot, on the
	// workflow clock.
	waitDelay, bootDelay time.Duration
	// stale is what FindStaleShares finds.
	stale []StaleShare
	// preexisting is what FindPreexistingShares finds per source region;
	// unshares are UnshareSource's inputs, in order.
	preexisting map[string]activities.SourcePermissions
	unshares    []activities.ShareSourceInput
	// sleep delays a call ("<Activity> <account>/<region>") in real time,
	// heartbeating, for recordings on a real server (record_history_test.go);
	// a cancellation ends it.
	sleep map[string]time.Duration
	// org is the organization the Organizations activities read (nil:
	// none; they are not expected).
	org *fakeOrg
	// sourceShares is what CountSourceShares answers per source region
	// (entities already on its launch permission).
	sourceShares map[string]int
}

// CountSourceShares answers f.sourceShares; not recorded.
func (f *fakeAWS) CountSourceShares(_ context.Context, in activities.ShareSourceInput) (activities.SourceShares, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return activities.SourceShares{Entities: f.sourceShares[in.Source.Region]}, nil
}

func newFake() *fakeAWS {
	return &fakeAWS{errs: map[string]error{}, boot: map[string]activities.BootResult{}, verify: map[string]*activities.Diagnosis{}, sleep: map[string]time.Duration{}}
}

// pause sleeps for f.sleep[name+" "+key], heartbeating, or until ctx ends.
func (f *fakeAWS) pause(ctx context.Context, name, key string) error {
	f.mu.Lock()
	d := f.sleep[name+" "+key]
	f.mu.Unlock()
	for end := time.Now().Add(d); time.Now().Before(end); {
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

func (f *fakeAWS) record(name, key string, extra ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	call := name + " " + key
	if len(extra) > 0 {
		call += " " + strings.Join(extra, " ")
	}
	f.calls = append(f.calls, call)
	return f.errs[name+" "+key]
}

// callsTo returns the recorded calls whose text starts with one of prefixes
// (all calls when none is given).
func (f *fakeAWS) callsTo(prefixes ...string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if len(prefixes) == 0 {
			out = append(out, c)
			continue
		}
		for _, p := range prefixes {
			if strings.HasPrefix(c, p) {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// index is the position of the first call equal to call, or starting with
// call and a space (its extra words), -1 if none.
func (f *fakeAWS) index(call string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, c := range f.calls {
		if c == call || strings.HasPrefix(c, call+" ") {
			return i
		}
	}
	return -1
}

func imageID(t activities.Target) string { return "ami-copy-" + t.Account + "-" + t.Region }

func keyARN(t activities.Target) string {
	return "arn:aws:kms:" + t.Region + ":" + t.Account + ":key/k-" + t.Account
}

func (f *fakeAWS) PrepareTarget(_ context.Context, in activities.PrepareTargetInput) (activities.PrepareTargetResult, error) {
	err := f.record("PrepareTarget", in.Target.ID())
	return activities.PrepareTargetResult{
		AssumedARN: in.Target.RoleARN,
		SLRARN:     in.Target.ServiceLinkedRoleARN(),
		Key:        activities.EnsureKeyResult{KeyARN: keyARN(in.Target), Created: true, Managed: true},
	}, err
}

func (f *fakeAWS) FindPreexistingShares(_ context.Context, in activities.ShareSourceInput) (activities.PreexistingShares, error) {
	f.mu.Lock()
	keep := f.preexisting[in.Source.Region]
	f.mu.Unlock()
	return activities.PreexistingShares{Keep: keep}, f.record("FindPreexistingShares", in.Source.Region, in.Accounts...)
}

// shareWords are a share's accounts, then "keep=<accounts>" when it keeps
// launch permissions that predate amicrypt.
func shareWords(in activities.ShareSourceInput) []string {
	words := slices.Clone(in.Accounts)
	if len(in.Keep.Launch) > 0 {
		words = append(words, "keep="+strings.Join(in.Keep.Launch, ","))
	}
	return words
}

// VerifyTargets refuses the targets errs names ("VerifyTargets
// <account>/<region>", a diagnosed error); it is not recorded in calls (the
// sequences tests compare are the AWS-changing ones).
func (f *fakeAWS) VerifyTargets(_ context.Context, in activities.VerifyTargetsInput) (activities.VerifyTargetsResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var res activities.VerifyTargetsResult
	for _, t := range in.Targets {
		err := f.errs["VerifyTargets "+t.ID()]
		if err == nil {
			continue
		}
		d, ok := activities.DiagnosisOf(err)
		if !ok {
			return res, err
		}
		if res.Refused == nil {
			res.Refused = map[string]activities.Diagnosis{}
		}
		res.Refused[t.ID()] = d
	}
	return res, nil
}

func (f *fakeAWS) ShareSource(_ context.Context, in activities.ShareSourceInput) (activities.ShareSourceResult, error) {
	return activities.ShareSourceResult{Calls: len(in.Accounts)}, f.record("ShareSource", in.Source.Region, shareWords(in)...)
}

func (f *fakeAWS) UnshareSource(_ context.Context, in activities.ShareSourceInput) (activities.ShareSourceResult, error) {
	f.mu.Lock()
	f.unshares = append(f.unshares, in)
	f.mu.Unlock()
	return activities.ShareSourceResult{Calls: len(in.Accounts)}, f.record("UnshareSource", in.Source.Region, shareWords(in)...)
}

// PlanShare and PlanTargets answer as a healthy world would: nothing
// refused, every target changed.
func (f *fakeAWS) PlanShare(_ context.Context, in activities.ShareSourceInput) (activities.SourcePlan, error) {
	return activities.SourcePlan{Region: in.Source.Region, ImageID: in.Source.ImageID}, f.record("PlanShare", in.Source.Region, shareWords(in)...)
}

func (f *fakeAWS) PlanTargets(_ context.Context, in activities.PlanTargetsInput) ([]activities.TargetPlan, error) {
	out := make([]activities.TargetPlan, len(in.Items))
	for i, it := range in.Items {
		out[i] = activities.TargetPlan{Account: it.Target.Account, Region: it.Target.Region, Outcome: activities.PlanOK}
		if err := f.record("PlanTarget", it.Target.ID()); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (f *fakeAWS) CopyEncrypted(_ context.Context, in activities.CopyImageInput) (activities.CopyImageResult, error) {
	return activities.CopyImageResult{ImageID: imageID(in.Target)}, f.record("CopyEncrypted", in.Target.ID(), in.Source.ImageID)
}

func (f *fakeAWS) WaitAndVerify(ctx context.Context, in activities.WaitAndVerifyInput) (activities.CopiedImage, error) {
	if err := f.pause(ctx, "WaitAndVerify", in.Target.ID()); err != nil {
		return activities.CopiedImage{}, err
	}
	err := f.record("WaitAndVerify", in.Target.ID())
	res := activities.CopiedImage{ImageID: in.ImageID, Family: "al2023", RootDevice: "/dev/xvda",
		Verify: activities.VerifyResult{SnapshotsEncrypted: true, Snapshots: []string{"snap-0a"}}}
	f.mu.Lock()
	defer f.mu.Unlock()
	if d := f.verify[in.Target.ID()]; d != nil {
		res.Verify.SnapshotsEncrypted = false
		res.VerifyFailure = d
	}
	return res, err
}

// ProveBoot deletes its group and template itself, as the real one does:
// Cleaned unless it failed (then the workflow's compensation runs).
func (f *fakeAWS) ProveBoot(ctx context.Context, in activities.BootProofInput) (activities.ProveBootResult, error) {
	if err := f.pause(ctx, "ProveBoot", in.Target.ID()); err != nil {
		return activities.ProveBootResult{}, err
	}
	if err := f.record("ProveBoot", in.Target.ID()); err != nil {
		return activities.ProveBootResult{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := f.boot[in.Target.ID()]; ok {
		return activities.ProveBootResult{Boot: r, Cleaned: true}, nil
	}
	return activities.ProveBootResult{Boot: activities.BootResult{Result: activities.BootInService, InstanceID: "i-0123456789abcdef0"}, Cleaned: true}, nil
}

func (f *fakeAWS) FindStaleShares(_ context.Context) ([]StaleShare, error) {
	f.mu.Lock()
	stale := f.stale
	f.mu.Unlock()
	return stale, f.record("FindStaleShares", "")
}

func (f *fakeAWS) DeleteBootProof(_ context.Context, in activities.BootProofInput) error {
	return f.record("DeleteBootProof", in.Target.ID())
}

// FinishTarget tags, publishes (when the target publishes) and retires
// (when it keeps a number) a proven copy; an unproven one is only tagged.
func (f *fakeAWS) FinishTarget(_ context.Context, in activities.FinishTargetInput) (activities.FinishTargetResult, error) {
	var res activities.FinishTargetResult
	err := f.record("FinishTarget", in.Target.ID(), fmt.Sprintf("proven=%t", in.Proven))
	if err != nil || !in.Proven {
		return res, err
	}
	if p := in.Target.Publish.SSMParameter; p != "" {
		res.Published = []string{"ssm:" + p}
	}
	if in.Target.Keep > 0 {
		res.Retirement.Disabled = []string{"ami-0old"}
	}
	return res, nil
}

// newEnv is a test environment with amicrypt's workflows and activities
// registered and every activity mocked by f.
func newEnv(t *testing.T, f *fakeAWS) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	return newEnvIn(t, &s, f)
}

// newEnvIn is newEnv in a given suite (one with a metrics handler, say).
func newEnvIn(t *testing.T, s *testsuite.WorkflowTestSuite, f *fakeAWS) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	env := s.NewTestWorkflowEnvironment()
	env.SetTestTimeout(30 * time.Second)
	env.RegisterWorkflow(Pipeline)
	env.RegisterWorkflow(Batch)
	env.RegisterWorkflow(Target)
	env.RegisterActivity(&activities.Activities{})
	env.RegisterActivity(&Attach{})
	env.RegisterActivity(&Housekeeping{})

	var hk *Housekeeping
	env.OnActivity(hk.FindStaleShares, mock.Anything).Return(f.FindStaleShares).Maybe()
	var a *activities.Activities
	env.OnActivity(a.PrepareTarget, mock.Anything, mock.Anything).Return(f.PrepareTarget)
	env.OnActivity(a.VerifyTargets, mock.Anything, mock.Anything).Return(f.VerifyTargets)
	env.OnActivity(a.FindPreexistingShares, mock.Anything, mock.Anything).Return(f.FindPreexistingShares)
	env.OnActivity(a.ShareSource, mock.Anything, mock.Anything).Return(f.ShareSource)
	env.OnActivity(a.UnshareSource, mock.Anything, mock.Anything).Return(f.UnshareSource)
	env.OnActivity(a.CopyEncrypted, mock.Anything, mock.Anything).Return(f.CopyEncrypted)
	wait := env.OnActivity(a.WaitAndVerify, mock.Anything, mock.Anything).Return(f.WaitAndVerify)
	if f.waitDelay > 0 {
		wait.After(f.waitDelay)
	}
	prove := env.OnActivity(a.ProveBoot, mock.Anything, mock.Anything).Return(f.ProveBoot)
	if f.bootDelay > 0 {
		prove.After(f.bootDelay)
	}
	// The compensation runs only when a proof did not clean up itself.
	env.OnActivity(a.DeleteBootProof, mock.Anything, mock.Anything).Return(f.DeleteBootProof).Maybe()
	env.OnActivity(a.FinishTarget, mock.Anything, mock.Anything).Return(f.FinishTarget)
	env.OnActivity(a.CountSourceShares, mock.Anything, mock.Anything).Return(f.CountSourceShares).Maybe()
	if f.org != nil {
		env.OnActivity(a.ListOrganizationUnits, mock.Anything, mock.Anything).Return(f.org.ListOrganizationUnits)
		env.OnActivity(a.ListOrganizationAccounts, mock.Anything, mock.Anything).Return(f.org.ListOrganizationAccounts)
		env.OnActivity(a.DescribeOrganizationAccounts, mock.Anything, mock.Anything).Return(f.org.DescribeOrganizationAccounts).Maybe()
	}
	return env
}

// Test fixtures: a builder with images in two regions, and targets.
var (
	builder  = activities.Builder{Account: "111111111111"}
	useast1  = activities.Source{Region: "us-east-1", ImageID: "ami-0a0000000000a0001"}
	euwest1  = activities.Source{Region: "eu-west-1", ImageID: "ami-0a0000000000e0001"}
	bothSrcs = []activities.Source{useast1, euwest1}
)

func target(account, region string) activities.Target {
	return activities.Target{
		Account:   account,
		Region:    region,
		RoleARN:   "arn:aws:iam::" + account + ":role/amicrypt",
		KeyAlias:  "alias/amicrypt",
		BootProof: activities.BootProof{Enabled: true, InstanceType: "t3.micro", Timeout: 10 * time.Minute},
		Publish:   activities.Publish{SSMParameter: "/amicrypt/al2023"},
		Keep:      3,
	}
}

// targets is every account × region.
func targets(accounts []string, regions ...string) []activities.Target {
	var out []activities.Target
	for _, a := range accounts {
		for _, r := range regions {
			out = append(out, target(a, r))
		}
	}
	return out
}

func accountIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("2000000000%02d", i)
	}
	return out
}

func diagnosed(code, cause string) error {
	return activities.Diagnosed(activities.Diagnosis{Code: code, Cause: cause, Fix: "fix for " + code}, nil)
}

// diagnosedAt is a diagnosed failure of one step of a composite activity
// (PrepareTarget's assume-role, service-linked role or key).
func diagnosedAt(step, code, cause string) error {
	return activities.Diagnosed(activities.Diagnosis{Code: code, Cause: cause, Fix: "fix for " + code, Step: step}, nil)
}

// distinct is calls without repeats, in first-seen order.
func distinct(calls []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range calls {
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

// revoked counts UnshareSource per "<source region> <account>".
func (f *fakeAWS) revoked() map[string]int {
	out := map[string]int{}
	for _, c := range f.callsTo("UnshareSource ") {
		fields := strings.Fields(c)
		for _, a := range fields[2:] {
			if !strings.HasPrefix(a, "keep=") {
				out[fields[1]+" "+a]++
			}
		}
	}
	return out
}
