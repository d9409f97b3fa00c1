package workflows

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/amicrypt/amicrypt/activities"
)

// fakeAWS answers the activities the way a healthy AWS would, records every
// call in order, and fails the calls a test names. env.OnActivity mocks
// delegate to it (see mockActivities).
type fakeAWS struct {
	mu    sync.Mutex
	calls []string
	// errs fails a call: key "<Activity> <account>/<region>" for a target's
	// activities, "<Activity> <source region>" for ShareSource/UnshareSource.
	errs map[string]error
	// boot overrides WaitBootProof's result per target id.
	boot map[string]activities.BootResult
	// waitDelay delays WaitImageAvailable on the workflow clock.
	waitDelay time.Duration
}

func newFake() *fakeAWS {
	return &fakeAWS{errs: map[string]error{}, boot: map[string]activities.BootResult{}}
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

// index is the position of the first call equal to call, -1 if none.
func (f *fakeAWS) index(call string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, c := range f.calls {
		if c == call {
			return i
		}
	}
	return -1
}

func imageID(t activities.Target) string { return "ami-copy-" + t.Account + "-" + t.Region }

func keyARN(t activities.Target) string {
	return "arn:aws:kms:" + t.Region + ":" + t.Account + ":key/k-" + t.Account
}

func (f *fakeAWS) AssumeTarget(_ context.Context, in activities.AssumeTargetInput) (activities.AssumeTargetResult, error) {
	return activities.AssumeTargetResult{Arn: in.Target.RoleARN}, f.record("AssumeTarget", in.Target.ID())
}

func (f *fakeAWS) EnsureServiceLinkedRole(_ context.Context, in activities.EnsureServiceLinkedRoleInput) (activities.EnsureServiceLinkedRoleResult, error) {
	return activities.EnsureServiceLinkedRoleResult{RoleARN: in.Target.ServiceLinkedRoleARN()}, f.record("EnsureServiceLinkedRole", in.Target.ID())
}

func (f *fakeAWS) EnsureKey(_ context.Context, in activities.EnsureKeyInput) (activities.EnsureKeyResult, error) {
	return activities.EnsureKeyResult{KeyARN: keyARN(in.Target), Created: true, Managed: true}, f.record("EnsureKey", in.Target.ID())
}

func (f *fakeAWS) ShareSource(_ context.Context, in activities.ShareSourceInput) (activities.ShareSourceResult, error) {
	return activities.ShareSourceResult{Calls: len(in.Accounts)}, f.record("ShareSource", in.Source.Region, in.Accounts...)
}

func (f *fakeAWS) UnshareSource(_ context.Context, in activities.ShareSourceInput) (activities.ShareSourceResult, error) {
	return activities.ShareSourceResult{Calls: len(in.Accounts)}, f.record("UnshareSource", in.Source.Region, in.Accounts...)
}

func (f *fakeAWS) CopyEncrypted(_ context.Context, in activities.CopyImageInput) (activities.CopyImageResult, error) {
	return activities.CopyImageResult{ImageID: imageID(in.Target)}, f.record("CopyEncrypted", in.Target.ID(), in.Source.ImageID)
}

func (f *fakeAWS) WaitImageAvailable(_ context.Context, in activities.WaitImageInput) (activities.WaitImageResult, error) {
	return activities.WaitImageResult{State: "available"}, f.record("WaitImageAvailable", in.Target.ID())
}

func (f *fakeAWS) StartBootProof(_ context.Context, in activities.BootProofInput) error {
	return f.record("StartBootProof", in.Target.ID())
}

func (f *fakeAWS) WaitBootProof(_ context.Context, in activities.BootProofInput) (activities.BootResult, error) {
	err := f.record("WaitBootProof", in.Target.ID())
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := f.boot[in.Target.ID()]; ok {
		return r, err
	}
	return activities.BootResult{Result: activities.BootInService, InstanceID: "i-0123456789abcdef0"}, err
}

func (f *fakeAWS) DeleteBootProof(_ context.Context, in activities.BootProofInput) error {
	return f.record("DeleteBootProof", in.Target.ID())
}

func (f *fakeAWS) VerifySnapshots(_ context.Context, in activities.VerifyInput) (activities.VerifyResult, error) {
	return activities.VerifyResult{SnapshotsEncrypted: true, Snapshots: []string{"snap-0a"}}, f.record("VerifySnapshots", in.Target.ID())
}

func (f *fakeAWS) MarkImage(_ context.Context, in activities.MarkImageInput) error {
	return f.record("MarkImage", in.Target.ID(), fmt.Sprintf("proven=%t", in.Proven))
}

func (f *fakeAWS) PublishImage(_ context.Context, in activities.PublishInput) (activities.PublishResult, error) {
	return activities.PublishResult{Published: []string{"ssm:" + in.Target.Publish.SSMParameter}}, f.record("PublishImage", in.Target.ID())
}

func (f *fakeAWS) ApplyRetention(_ context.Context, in activities.RetentionInput) (activities.RetentionResult, error) {
	return activities.RetentionResult{Deregistered: []string{"ami-0old"}}, f.record("ApplyRetention", in.Target.ID())
}

// newEnv is a test environment with amicrypt's workflows and activities
// registered and every activity mocked by f.
func newEnv(t *testing.T, f *fakeAWS) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetTestTimeout(30 * time.Second)
	env.RegisterWorkflow(Pipeline)
	env.RegisterWorkflow(Batch)
	env.RegisterWorkflow(Target)
	env.RegisterActivity(&activities.Activities{})
	env.RegisterActivity(&Attach{})

	var a *activities.Activities
	env.OnActivity(a.AssumeTarget, mock.Anything, mock.Anything).Return(f.AssumeTarget)
	env.OnActivity(a.EnsureServiceLinkedRole, mock.Anything, mock.Anything).Return(f.EnsureServiceLinkedRole)
	env.OnActivity(a.EnsureKey, mock.Anything, mock.Anything).Return(f.EnsureKey)
	env.OnActivity(a.ShareSource, mock.Anything, mock.Anything).Return(f.ShareSource)
	env.OnActivity(a.UnshareSource, mock.Anything, mock.Anything).Return(f.UnshareSource)
	env.OnActivity(a.CopyEncrypted, mock.Anything, mock.Anything).Return(f.CopyEncrypted)
	wait := env.OnActivity(a.WaitImageAvailable, mock.Anything, mock.Anything).Return(f.WaitImageAvailable)
	if f.waitDelay > 0 {
		wait.After(f.waitDelay)
	}
	env.OnActivity(a.StartBootProof, mock.Anything, mock.Anything).Return(f.StartBootProof)
	env.OnActivity(a.WaitBootProof, mock.Anything, mock.Anything).Return(f.WaitBootProof)
	env.OnActivity(a.DeleteBootProof, mock.Anything, mock.Anything).Return(f.DeleteBootProof)
	env.OnActivity(a.VerifySnapshots, mock.Anything, mock.Anything).Return(f.VerifySnapshots)
	env.OnActivity(a.MarkImage, mock.Anything, mock.Anything).Return(f.MarkImage)
	env.OnActivity(a.PublishImage, mock.Anything, mock.Anything).Return(f.PublishImage)
	env.OnActivity(a.ApplyRetention, mock.Anything, mock.Anything).Return(f.ApplyRetention)
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

// revoked counts UnshareSource per "<source region> <account>".
func (f *fakeAWS) revoked() map[string]int {
	out := map[string]int{}
	for _, c := range f.callsTo("UnshareSource ") {
		fields := strings.Fields(c)
		for _, a := range fields[2:] {
			out[fields[1]+" "+a]++
		}
	}
	return out
}
