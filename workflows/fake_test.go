package workflows

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
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
	// waitDelay delays WaitAndVerify, bootDelay ProveBoot, on the
	// workflow clock.
	waitDelay, bootDelay time.Duration
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

// The four activities a Target runs, composed of the fine-grained fakes
// above as the real ones are of theirs (activities/target.go): a step that
// fails stops the activity, its diagnosis naming the step.

func atStep(step string, err error) error {
	d, ok := activities.DiagnosisOf(err)
	if !ok || d.Step != "" {
		return err
	}
	d.Step = step
	if br, ok := activities.BootResultOf(err); ok {
		return temporal.NewNonRetryableApplicationError(d.Cause, activities.ErrorType(d.Code), nil, d, br)
	}
	return activities.Diagnosed(d, nil)
}

func (f *fakeAWS) PrepareTarget(ctx context.Context, in activities.PrepareTargetInput) (activities.PrepareTargetResult, error) {
	var res activities.PrepareTargetResult
	assumed, err := f.AssumeTarget(ctx, activities.AssumeTargetInput{Target: in.Target})
	if err != nil {
		return res, atStep(activities.StepAssume, err)
	}
	res.AssumedARN = assumed.Arn
	slr, err := f.EnsureServiceLinkedRole(ctx, activities.EnsureServiceLinkedRoleInput{Target: in.Target})
	if err != nil {
		return res, atStep(activities.StepServiceLinkedRole, err)
	}
	res.SLRARN = slr.RoleARN
	res.Key, err = f.EnsureKey(ctx, activities.EnsureKeyInput{Target: in.Target, RunID: in.RunID, SLRARN: res.SLRARN, Pipeline: in.Pipeline})
	return res, atStep(activities.StepKey, err)
}

func (f *fakeAWS) WaitAndVerify(ctx context.Context, in activities.WaitAndVerifyInput) (activities.CopiedImage, error) {
	res := activities.CopiedImage{ImageID: in.ImageID, Family: "al2023", RootDevice: "/dev/xvda"}
	if _, err := f.WaitImageAvailable(ctx, activities.WaitImageInput{Target: in.Target, ImageID: in.ImageID}); err != nil {
		return res, atStep(activities.StepWaitAvailable, err)
	}
	var err error
	res.Verify, err = f.VerifySnapshots(ctx, activities.VerifyInput{Target: in.Target, ImageID: in.ImageID, KeyARN: in.KeyARN})
	if err != nil {
		d, ok := activities.DiagnosisOf(err)
		if !ok {
			return res, err
		}
		d.Step = activities.StepVerify
		res.VerifyFailure = &d
	}
	return res, nil
}

func (f *fakeAWS) ProveBoot(ctx context.Context, in activities.BootProofInput) (activities.ProveBootResult, error) {
	var br activities.BootResult
	err := f.StartBootProof(ctx, in)
	if err == nil {
		br, err = f.WaitBootProof(ctx, in)
	}
	cerr := f.DeleteBootProof(ctx, in)
	if err != nil {
		return activities.ProveBootResult{}, atStep(activities.StepBootProof, err)
	}
	return activities.ProveBootResult{Boot: br, Cleaned: cerr == nil}, nil
}

func (f *fakeAWS) FinishTarget(ctx context.Context, in activities.FinishTargetInput) (activities.FinishTargetResult, error) {
	var res activities.FinishTargetResult
	if !in.Proven || in.Target.BootProof.Enabled {
		if err := f.MarkImage(ctx, activities.MarkImageInput{Target: in.Target, ImageID: in.ImageID, Proven: in.Proven, Reason: in.Reason}); err != nil {
			return res, atStep(activities.StepMark, err)
		}
	}
	if !in.Proven {
		return res, nil
	}
	if in.Target.Publish.SSMParameter != "" || in.Target.Publish.LaunchTemplate != "" {
		published, err := f.PublishImage(ctx, activities.PublishInput{Target: in.Target, ImageID: in.ImageID})
		if err != nil {
			return res, atStep(activities.StepPublish, err)
		}
		res.Published = published.Published
	}
	if in.Target.Keep > 0 {
		retained, err := f.ApplyRetention(ctx, activities.RetentionInput{Target: in.Target, Source: in.Source, KeepImageID: in.ImageID, Family: in.Family})
		if err != nil {
			return res, atStep(activities.StepRetention, err)
		}
		res.Deregistered = retained.Deregistered
	}
	return res, nil
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
	env.OnActivity(a.PrepareTarget, mock.Anything, mock.Anything).Return(f.PrepareTarget)
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
			out[fields[1]+" "+a]++
		}
	}
	return out
}
