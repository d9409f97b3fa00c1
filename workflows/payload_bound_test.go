package workflows

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/amicrypt/amicrypt/activities"
)

// MaxPayload is the size no payload of a run may exceed, whatever its
// targets: Temporal warns above it (and refuses 2 MB).
const MaxPayload = 256 << 10

// sizeRecorder is the default data converter, noting the largest payload
// it makes and of what type. It measures JSON before any codec: the
// compressing codec only makes payloads smaller.
type sizeRecorder struct {
	converter.DataConverter
	mu      sync.Mutex
	largest int
	what    string
}

func (s *sizeRecorder) note(p *commonpb.Payload, v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(p.GetData()); n > s.largest {
		s.largest, s.what = n, fmt.Sprintf("%T", v)
	}
}

func (s *sizeRecorder) ToPayload(v any) (*commonpb.Payload, error) {
	p, err := s.DataConverter.ToPayload(v)
	if err == nil {
		s.note(p, v)
	}
	return p, err
}

func (s *sizeRecorder) ToPayloads(vs ...any) (*commonpb.Payloads, error) {
	ps, err := s.DataConverter.ToPayloads(vs...)
	if err == nil {
		for i, p := range ps.GetPayloads() {
			s.note(p, vs[i])
		}
	}
	return ps, err
}

// A run of 50,000 targets — 40,000 from an organization of 10,000 accounts,
// 10,000 listed one by one and sent in parts — planned and run with batches
// that answer at once: no payload (input, parts, activity inputs and
// results, batch inputs and results, query answers, the report) exceeds
// 256 KB.
func TestNoPayloadOfA50000TargetRunExceeds256KB(t *testing.T) {
	if testing.Short() {
		t.Skip("50,000 targets")
	}
	f := newFake()
	f.org = bigOrg(10000, 400)
	env := newEnv(t, f)
	env.SetTestTimeout(2 * time.Minute)
	// As the worker runs it (worker.DeadlockDetectionTimeout): the sort and
	// checks of 50,000 targets in one workflow task take a good part of a
	// second on a busy core.
	env.SetWorkerOptions(sdkworker.Options{DeadlockDetectionTimeout: 10 * time.Second})
	rec := &sizeRecorder{DataConverter: converter.GetDefaultDataConverter()}
	env.SetDataConverter(rec)
	regions := []string{"us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2"}
	listed := targets(func() []string {
		out := make([]string, 2500)
		for i := range out {
			out[i] = fmt.Sprintf("4%011d", i)
		}
		return out
	}(), regions...)
	in := pipelineInput(listed[:TargetsPerPart])
	in.TargetParts = (len(listed) + TargetsPerPart - 1) / TargetsPerPart
	tmpl := make([]activities.Target, len(regions))
	for i, r := range regions {
		tmpl[i] = template(r, "alias/amicrypt")
	}
	in.Organization = &activities.OrganizationTargets{Selectors: []activities.OrganizationSelector{{RoleName: "amicrypt-target", Regions: tmpl}}}
	env.RegisterDelayedCallback(func() {
		for i := 1; i < in.TargetParts; i++ {
			end := min((i+1)*TargetsPerPart, len(listed))
			env.SignalWorkflow(SignalTargets, TargetsPart{Index: i, Targets: listed[i*TargetsPerPart : end]})
		}
	}, time.Second)

	batches := 0
	env.OnWorkflow(Batch, mock.Anything, mock.Anything).Return(func(ctx workflow.Context, in BatchInput) ([]TargetReport, error) {
		batches++
		_ = workflow.Sleep(ctx, time.Minute)
		rows := make([]TargetReport, len(in.Targets))
		for i, tg := range in.Targets {
			src, _ := NearestSource(in.Sources, tg.Region)
			now := workflow.Now(ctx)
			rows[i] = pendingReport(tg, src)
			rows[i].Status, rows[i].Step = StatusSucceeded, StepDone
			rows[i].EncryptedImageID, rows[i].KeyARN, rows[i].SnapshotsEncrypted = imageID(tg), keyARN(tg), true
			rows[i].Boot = activities.BootResult{Result: activities.BootInService, InstanceID: "i-0123456789abcdef0"}
			rows[i].Published = []string{"ssm:/amicrypt/al2023"}
			rows[i].StartedAt, rows[i].FinishedAt = &now, &now
		}
		return rows, nil
	})
	var mid Report
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryProgress)
		require.NoError(t, err)
		require.NoError(t, v.Get(&mid))
		_, err = env.QueryWorkflow(QueryBatchTargets, 0)
		require.NoError(t, err)
	}, 3*time.Minute)

	env.ExecuteWorkflow(Pipeline, in)
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var r Report
	require.NoError(t, env.GetWorkflowResult(&r))
	assert.Equal(t, 50000, r.Summary["total"])
	assert.Equal(t, 50000, r.Summary[StatusSucceeded])
	assert.Equal(t, 10000, r.Organization.Accounts)
	assert.Equal(t, 50000, mid.Summary["total"])
	assert.Equal(t, len(r.Batches), batches)
	t.Logf("50,000 targets in %d batches; largest payload %d bytes (%s)", batches, rec.largest, rec.what)
	assert.LessOrEqual(t, rec.largest, MaxPayload, "largest payload: %s", rec.what)
}

// A sweep of 10,000 targets from an organization of 2,500 accounts, its
// SweepBatch children answering at once with healthy keys: no payload
// exceeds 256 KB, and the sweep's report counts, not lists, the keys.
func TestNoPayloadOfA10000TargetSweepExceeds256KB(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 targets")
	}
	env, rec, tmpl := orgSweepEnv(t, bigOrg(2500, 250))
	batches := 0
	env.OnWorkflow(SweepBatch, mock.Anything, mock.Anything).Return(func(ctx workflow.Context, in SweepBatchInput) ([]activities.KeyHealth, error) {
		batches++
		keys := make([]activities.KeyHealth, len(in.Targets))
		for i, tg := range in.Targets {
			keys[i] = activities.KeyHealth{Account: tg.Account, Region: tg.Region, Alias: tg.KeyAlias, KeyARN: keyARN(tg), Managed: true, RotationEnabled: true, AgeDays: 200,
				Findings: []string{"key rotation is on; the key policy has amicrypt's statements"}}
		}
		return keys, nil
	})
	env.ExecuteWorkflow(Sweep, SweepInput{SweepID: "big", Operator: "schedule amicrypt-sweep",
		Organization: &activities.OrganizationTargets{Selectors: []activities.OrganizationSelector{{RoleName: "amicrypt-target", Regions: tmpl}}}})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var r Report
	require.NoError(t, env.GetWorkflowResult(&r))
	assert.True(t, r.RowsInBatches)
	assert.Empty(t, r.Keys)
	assert.Equal(t, 10000/SweepBatchTargets, batches)
	inspected := 0
	for _, b := range r.Batches {
		inspected += b.Summary["inspected"]
	}
	assert.Equal(t, 10000, inspected)
	t.Logf("10,000 keys in %d sweep batches; largest payload %d bytes (%s)", batches, rec.largest, rec.what)
	assert.LessOrEqual(t, rec.largest, MaxPayload, "largest payload: %s", rec.what)
}

// A sweep that finds every key too old (the first run made them all on
// one day) starts a rotation per account: their rows stay in the
// rotations' reports, and the sweep's own report names each rotation in a
// few dozen bytes. The test environment runs 250 accounts' rotations (it
// slows down with thousands of children); the report of 2,500 is measured
// from theirs.
func TestNoPayloadOfASweepRotating2500AccountsExceeds256KB(t *testing.T) {
	const accounts = 250
	env, rec, tmpl := orgSweepEnv(t, bigOrg(accounts, 50))
	env.OnWorkflow(SweepBatch, mock.Anything, mock.Anything).Return(func(ctx workflow.Context, in SweepBatchInput) ([]activities.KeyHealth, error) {
		keys := make([]activities.KeyHealth, len(in.Targets))
		for i, tg := range in.Targets {
			keys[i] = activities.KeyHealth{Account: tg.Account, Region: tg.Region, Alias: tg.KeyAlias, KeyARN: keyARN(tg), Managed: true, RotationEnabled: true,
				AgeDays: 400, Due: activities.ReasonScheduled, Findings: []string{"the key is 400 days old (rotation.max_key_age_days 365)"}}
		}
		return keys, nil
	})
	rotations := 0
	env.OnWorkflow(Rotation, mock.Anything, mock.Anything).Return(func(ctx workflow.Context, in RotationInput) (Report, error) {
		rotations++
		rep := Report{RunID: in.RotationID, Kind: KindRotation, Reason: in.Reason, Operator: in.Operator}
		for _, tg := range in.Targets {
			row := TargetReport{Account: tg.Account, Region: tg.Region, Status: StatusSucceeded, KeyARN: keyARN(tg) + "-new", OldKeyARN: keyARN(tg), AliasMoved: true}
			for n := range 5 {
				row.Images = append(row.Images, activities.RekeyedImage{OldImageID: fmt.Sprintf("ami-old%013d", n), NewImageID: fmt.Sprintf("ami-new%013d", n)})
			}
			rep.Targets = append(rep.Targets, row)
		}
		rep.Summary = Summary(rep.Targets)
		return rep, nil
	})
	env.ExecuteWorkflow(Sweep, SweepInput{SweepID: "due", Operator: "schedule amicrypt-sweep", MaxKeyAgeDays: 365, ConcurrentRotations: 50,
		Organization: &activities.OrganizationTargets{Selectors: []activities.OrganizationSelector{{RoleName: "amicrypt-target", Regions: tmpl}}}})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var r Report
	require.NoError(t, env.GetWorkflowResult(&r))
	assert.Equal(t, accounts, rotations)
	assert.Len(t, r.RotationRuns, accounts)
	assert.Empty(t, r.Targets)
	assert.Equal(t, 4*accounts, r.Summary[StatusSucceeded], r.Summary)
	assert.LessOrEqual(t, rec.largest, MaxPayload, "largest payload: %s", rec.what)

	// 2,500 accounts: the same report with ten times the rotations, each
	// with a run id as long as a real one (a UUID).
	big := r
	big.RotationRuns = nil
	for i := range 2500 {
		run := r.RotationRuns[i%accounts]
		run.Account, run.RunID = fmt.Sprintf("%012d", 100000000000+i), fmt.Sprintf("0193b8e0-7c1e-7a3e-9c1d-%012d", i)
		big.RotationRuns = append(big.RotationRuns, run)
	}
	p, err := converter.GetDefaultDataConverter().ToPayload(big)
	require.NoError(t, err)
	t.Logf("%d rotations: largest payload %d bytes (%s); the report of 2,500 rotations: %d bytes", accounts, rec.largest, rec.what, len(p.GetData()))
	assert.LessOrEqual(t, len(p.GetData()), MaxPayload, "the report of a sweep that rotates 2,500 accounts")
}

// orgSweepEnv is a test environment for a sweep of org's accounts in four
// regions (tmpl: the selector's regions), its payloads measured by rec.
func orgSweepEnv(t *testing.T, org *fakeOrg) (*testsuite.TestWorkflowEnvironment, *sizeRecorder, []activities.Target) {
	f := &rotationFake{fakeAWS: newFake(), health: map[string]activities.KeyHealth{}}
	env := newRotationEnv(t, f)
	env.SetTestTimeout(3 * time.Minute)
	env.SetWorkerOptions(sdkworker.Options{DeadlockDetectionTimeout: 10 * time.Second})
	rec := &sizeRecorder{DataConverter: converter.GetDefaultDataConverter()}
	env.SetDataConverter(rec)
	var a *activities.Activities
	env.OnActivity(a.ListOrganizationUnits, mock.Anything, mock.Anything).Return(org.ListOrganizationUnits)
	env.OnActivity(a.ListOrganizationAccounts, mock.Anything, mock.Anything).Return(org.ListOrganizationAccounts)
	regions := []string{"us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2"}
	tmpl := make([]activities.Target, len(regions))
	for i, r := range regions {
		tmpl[i] = template(r, "alias/amicrypt")
	}
	return env, rec, tmpl
}
