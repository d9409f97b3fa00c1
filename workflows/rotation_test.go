package workflows

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/amicrypt/amicrypt/activities"
)

// rotationFake answers a rotation's activities like a healthy account with
// two amicrypt images per region, and records the calls (with fakeAWS's
// record, so errs and boot work the same way).
type rotationFake struct {
	*fakeAWS
	health map[string]activities.KeyHealth // by target id, for InspectKey
}

func oldKey(t activities.Target) string {
	return "arn:aws:kms:" + t.Region + ":" + t.Account + ":key/old"
}
func newKey(t activities.Target) string {
	return "arn:aws:kms:" + t.Region + ":" + t.Account + ":key/new"
}

func (f *rotationFake) PrepareRotation(_ context.Context, in activities.PrepareRotationInput) (activities.PrepareRotationResult, error) {
	res := activities.PrepareRotationResult{SLRARN: in.Target.ServiceLinkedRoleARN(), CurrentKey: oldKey(in.Target), NewKey: oldKey(in.Target)}
	if in.NewKey {
		res.NewKey, res.Created = newKey(in.Target), true
	}
	return res, f.record("PrepareRotation", in.Target.ID(), fmt.Sprintf("new=%v", in.NewKey))
}

func (f *rotationFake) FindKeyedImages(_ context.Context, in activities.FindKeyedImagesInput) (activities.FindKeyedImagesResult, error) {
	var res activities.FindKeyedImagesResult
	for _, n := range []string{"1", "2"} {
		res.Images = append(res.Images, activities.KeyedImage{ImageID: "ami-old" + n + "-" + in.Target.Region, KeyARN: oldKey(in.Target), Family: "al2023"})
	}
	return res, f.record("FindKeyedImages", in.Target.ID())
}

func (f *rotationFake) ReencryptImage(_ context.Context, in activities.ReencryptImageInput) (activities.CopyImageResult, error) {
	return activities.CopyImageResult{ImageID: strings.Replace(in.Image.ImageID, "old", "new", 1)}, f.record("ReencryptImage", in.Target.ID(), in.Image.ImageID)
}

func (f *rotationFake) SwitchKey(_ context.Context, in activities.SwitchKeyInput) (activities.SwitchKeyResult, error) {
	return activities.SwitchKeyResult{AliasMoved: in.MoveAlias, Repointed: []string{"ssm:" + in.Target.Publish.SSMParameter}},
		f.record("SwitchKey", in.Target.ID(), fmt.Sprintf("move=%v", in.MoveAlias), fmt.Sprint(len(in.Images)))
}

func (f *rotationFake) RetireOldKeys(_ context.Context, in activities.RetireOldKeysInput) (activities.RetireOldKeysResult, error) {
	res := activities.RetireOldKeysResult{Deregistered: in.OldImages}
	for _, k := range in.OldKeys {
		res.Keys = append(res.Keys, activities.OldKeyFate{KeyARN: k, State: "PendingDeletion"})
	}
	return res, f.record("RetireOldKeys", in.Target.ID(), "retire="+strings.Join(in.Retire, ","), fmt.Sprint(in.DeletionWindowDays))
}

func (f *rotationFake) InspectKey(_ context.Context, in activities.InspectKeyInput) (activities.KeyHealth, error) {
	f.mu.Lock()
	h, ok := f.health[in.Target.ID()]
	f.mu.Unlock()
	if !ok {
		h = activities.KeyHealth{Account: in.Target.Account, Region: in.Target.Region, KeyARN: oldKey(in.Target), RotationEnabled: true}
	}
	return h, f.record("InspectKey", in.Target.ID())
}

func (f *rotationFake) MarkImage(_ context.Context, in activities.MarkImageInput) error {
	return f.record("MarkImage", in.Target.ID(), in.ImageID, fmt.Sprintf("proven=%v", in.Proven))
}

func newRotationEnv(t *testing.T, f *rotationFake) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetTestTimeout(30 * time.Second)
	env.RegisterWorkflow(Rotation)
	env.RegisterWorkflow(Sweep)
	env.RegisterWorkflow(SweepBatch)
	env.RegisterActivity(&activities.Activities{})
	env.RegisterActivity(&Housekeeping{})
	var hk *Housekeeping
	env.OnActivity(hk.FindStaleShares, mock.Anything).Return(f.FindStaleShares).Maybe()
	env.OnActivity((*activities.Activities)(nil).UnshareSource, mock.Anything, mock.Anything).Return(f.UnshareSource).Maybe()
	var a *activities.Activities
	env.OnActivity(a.PrepareRotation, mock.Anything, mock.Anything).Return(f.PrepareRotation)
	env.OnActivity(a.FindKeyedImages, mock.Anything, mock.Anything).Return(f.FindKeyedImages)
	env.OnActivity(a.ReencryptImage, mock.Anything, mock.Anything).Return(f.ReencryptImage)
	env.OnActivity(a.WaitAndVerify, mock.Anything, mock.Anything).Return(f.WaitAndVerify)
	env.OnActivity(a.ProveBoot, mock.Anything, mock.Anything).Return(f.ProveBoot)
	env.OnActivity(a.DeleteBootProof, mock.Anything, mock.Anything).Return(f.DeleteBootProof).Maybe()
	env.OnActivity(a.MarkImage, mock.Anything, mock.Anything).Return(f.MarkImage)
	env.OnActivity(a.SwitchKey, mock.Anything, mock.Anything).Return(f.SwitchKey)
	env.OnActivity(a.RetireOldKeys, mock.Anything, mock.Anything).Return(f.RetireOldKeys)
	env.OnActivity(a.InspectKey, mock.Anything, mock.Anything).Return(f.InspectKey)
	if f.org != nil {
		env.OnActivity(a.ListOrganizationUnits, mock.Anything, mock.Anything).Return(f.org.ListOrganizationUnits)
		env.OnActivity(a.ListOrganizationAccounts, mock.Anything, mock.Anything).Return(f.org.ListOrganizationAccounts)
	}
	return env
}

func rotationOf(account string, regions ...string) RotationInput {
	return RotationInput{RotationID: "rot-1", Account: account, Targets: targets([]string{account}, regions...), Reason: activities.ReasonLeaked, Operator: "alice"}
}

func runRotation(t *testing.T, f *rotationFake, in RotationInput) Report {
	t.Helper()
	env := newRotationEnv(t, f)
	env.ExecuteWorkflow(Rotation, in)
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var rep Report
	require.NoError(t, env.GetWorkflowResult(&rep))
	return rep
}

func TestRotationSwitchesAndRetiresOnlyAfterEveryImageIsProven(t *testing.T) {
	f := &rotationFake{fakeAWS: newFake()}
	rep := runRotation(t, f, rotationOf(acctA, "us-east-1", "eu-west-1"))
	assert.Equal(t, KindRotation, rep.Kind)
	assert.Equal(t, "leaked", rep.Reason)
	assert.Equal(t, 2, rep.Summary[StatusSucceeded])
	assert.Equal(t, 0, rep.Summary[StatusFailed])
	for _, row := range rep.Targets {
		tg := target(acctA, row.Region)
		assert.Equal(t, StatusSucceeded, row.Status, row.Region)
		assert.Equal(t, newKey(tg), row.KeyARN)
		assert.Equal(t, oldKey(tg), row.OldKeyARN)
		assert.True(t, row.AliasMoved)
		require.Len(t, row.Images, 2)
		for _, im := range row.Images {
			assert.Equal(t, "proven", im.Status)
			assert.Equal(t, activities.BootInService, im.Boot.Result)
		}
		assert.Equal(t, "PendingDeletion", row.OldKeys[0].State)
		// Every image proven before the switch, the switch before the retirement.
		sw := f.index("SwitchKey " + tg.ID() + " move=true 2")
		require.GreaterOrEqual(t, sw, 0, f.callsTo("SwitchKey"))
		for _, n := range []string{"1", "2"} {
			mark := f.index("MarkImage " + tg.ID() + " ami-new" + n + "-" + tg.Region + " proven=true")
			assert.True(t, mark >= 0 && mark < sw, "image %s proven before the switch", n)
		}
		assert.Greater(t, f.index("RetireOldKeys "+tg.ID()+" retire="+oldKey(tg)+" 30"), sw)
	}
}

func TestRotationWhoseBootProofFailsLeavesAliasAndPointers(t *testing.T) {
	f := &rotationFake{fakeAWS: newFake()}
	broken := target(acctA, "us-east-1")
	f.boot[broken.ID()] = activities.BootResult{Result: activities.BootFailed, Message: "Client.InternalError: Client error on launch"}
	rep := runRotation(t, f, rotationOf(acctA, "us-east-1", "eu-west-1"))
	rows := map[string]TargetReport{}
	for _, r := range rep.Targets {
		rows[r.Region] = r
	}
	bad := rows["us-east-1"]
	assert.Equal(t, StatusFailed, bad.Status)
	assert.Equal(t, StepBootProof, bad.Step)
	require.NotNil(t, bad.Diagnosis)
	assert.Contains(t, bad.Diagnosis.Cause, "Client error on launch")
	assert.False(t, bad.AliasMoved)
	assert.Empty(t, f.callsTo("SwitchKey "+broken.ID(), "RetireOldKeys "+broken.ID()), "nothing moves in the failed region")
	assert.NotEmpty(t, f.callsTo("MarkImage "+broken.ID()+" ami-new1-us-east-1 proven=false"), "the unproven copy is tagged so")
	// The other region is not held back.
	assert.Equal(t, StatusSucceeded, rows["eu-west-1"].Status)
	assert.True(t, rows["eu-west-1"].AliasMoved)
}

func TestRotationRekeyRegionMakesNoKeyAndMovesNoAlias(t *testing.T) {
	f := &rotationFake{fakeAWS: newFake()}
	in := rotationOf(acctA, "us-east-1")
	in.RekeyRegions = []string{"us-east-1"}
	rep := runRotation(t, f, in)
	assert.Equal(t, StatusSucceeded, rep.Targets[0].Status)
	tg := target(acctA, "us-east-1")
	assert.Equal(t, []string{"PrepareRotation " + tg.ID() + " new=false"}, f.callsTo("PrepareRotation"))
	assert.Equal(t, []string{"SwitchKey " + tg.ID() + " move=false 2"}, f.callsTo("SwitchKey"))
	// The old keys are retired only if amicrypt rotated away from them (the activity checks the tag).
	assert.Equal(t, []string{"RetireOldKeys " + tg.ID() + " retire= 30"}, f.callsTo("RetireOldKeys"))
}

// An account the config does not list but an organization unit serves:
// the rotation resolves the selectors as it starts and rotates the regions
// the account's selector gives it (the nearest unit's); an account the
// selectors do not serve is refused before anything is touched, saying why.
func TestRotationOfAnOrganizationAccountResolvesItsTargets(t *testing.T) {
	org := &activities.OrganizationTargets{Selectors: []activities.OrganizationSelector{
		{Unit: "ou-ab12-prod0000", RoleName: "amicrypt-prod", Exclude: []string{"555555555555"},
			Regions: []activities.Target{template("us-east-1", "alias/prod"), template("eu-west-1", "alias/prod")}},
		{RoleName: "amicrypt-any", Regions: []activities.Target{template("us-east-1", "alias/any")}},
	}}
	orgRotation := func(account, region string) RotationInput {
		return RotationInput{RotationID: "rot-org", Account: account, Organization: org, Region: region, Reason: activities.ReasonScheduled, Operator: "alice"}
	}

	f := &rotationFake{fakeAWS: newFake()}
	f.org = testOrg()
	rep := runRotation(t, f, orgRotation("222222222222", ""))
	require.Len(t, rep.Targets, 2, "prod's two regions")
	for _, row := range rep.Targets {
		assert.Equal(t, StatusSucceeded, row.Status, row.Region)
		assert.Equal(t, "web", row.Name)
	}
	require.NotNil(t, rep.Organization)
	assert.Equal(t, "o-test000000", rep.Organization.OrganizationID)
	calls := f.callsTo("PrepareRotation")
	require.Len(t, calls, 2, calls)
	assert.Contains(t, calls[0], "222222222222", calls)

	f = &rotationFake{fakeAWS: newFake()}
	f.org = testOrg()
	rep = runRotation(t, f, orgRotation("222222222222", "eu-west-1"))
	require.Len(t, rep.Targets, 1)
	assert.Equal(t, "eu-west-1", rep.Targets[0].Region)

	for name, c := range map[string]struct{ account, region, says string }{
		"excluded":       {"555555555555", "", "excludes it"},
		"suspended":      {"333333333333", "", "SUSPENDED"},
		"not a member":   {"999999999999", "", "not among the"},
		"another region": {"444444444444", "eu-west-1", "no region eu-west-1"},
	} {
		t.Run(name, func(t *testing.T) {
			f := &rotationFake{fakeAWS: newFake()}
			f.org = testOrg()
			env := newRotationEnv(t, f)
			env.ExecuteWorkflow(Rotation, orgRotation(c.account, c.region))
			err := env.GetWorkflowError()
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.says)
			assert.Empty(t, f.callsTo("PrepareRotation"), "nothing rotated")
		})
	}
}

func TestRotationRefusesBadInput(t *testing.T) {
	for name, mutate := range map[string]func(*RotationInput){
		"reason":  func(in *RotationInput) { in.Reason = "bored" },
		"window":  func(in *RotationInput) { in.DeletionWindowDays = 3 },
		"account": func(in *RotationInput) { in.Targets[0].Account = acctB },
		"empty":   func(in *RotationInput) { in.Targets = nil },
	} {
		t.Run(name, func(t *testing.T) {
			f := &rotationFake{fakeAWS: newFake()}
			in := rotationOf(acctA, "us-east-1")
			mutate(&in)
			env := newRotationEnv(t, f)
			env.ExecuteWorkflow(Rotation, in)
			require.Error(t, env.GetWorkflowError())
			assert.Empty(t, f.callsTo(), "nothing called on bad input")
		})
	}
}

func TestSweepStartsRotationsWhereDueOnly(t *testing.T) {
	f := &rotationFake{fakeAWS: newFake(), health: map[string]activities.KeyHealth{}}
	due := target(acctA, "us-east-1")
	stale := target(acctB, "eu-west-1")
	broken := target(acctC, "us-east-1")
	f.health[due.ID()] = activities.KeyHealth{Account: acctA, Region: "us-east-1", Due: activities.ReasonPolicy, RetireTag: "x"}
	f.health[stale.ID()] = activities.KeyHealth{Account: acctB, Region: "eu-west-1", Rekey: true, StaleImages: []string{"ami-1"}}
	d := activities.Diagnosis{Code: activities.F7, Cause: "cannot assume"}
	f.health[broken.ID()] = activities.KeyHealth{Account: acctC, Region: "us-east-1", Error: &d}
	in := SweepInput{SweepID: "sweep-1", Targets: targets([]string{acctA, acctB, acctC}, "us-east-1", "eu-west-1"), Operator: "schedule amicrypt-sweep", ConcurrentRotations: 1}
	env := newRotationEnv(t, f)
	rep := runSweep(t, env, in)
	assert.Equal(t, KindSweep, rep.Kind)
	assert.Len(t, rep.Keys, 6)
	// The rotations' rows stay in their reports (status reads them); the
	// sweep names the rotations and counts their rows.
	var started []string
	for _, run := range rep.RotationRuns {
		started = append(started, RotationWorkflowID(run.Account))
		assert.Equal(t, RotationCompleted, run.Status, run.Account)
		assert.Equal(t, 1, run.Regions, run.Account)
		assert.NotEmpty(t, run.RunID, run.Account)
	}
	assert.Equal(t, []string{RotationWorkflowID(acctA), RotationWorkflowID(acctB)}, sortedCopy(started))
	assert.Empty(t, rep.Rotations, "none was found already running")
	// acctA us-east-1: a new key; acctB eu-west-1: re-encryption only; nothing else.
	assert.ElementsMatch(t, []string{"PrepareRotation " + due.ID() + " new=true", "PrepareRotation " + stale.ID() + " new=false"}, f.callsTo("PrepareRotation"))
	assert.Empty(t, rep.Targets)
	assert.Equal(t, 2, rep.Summary[StatusSucceeded], rep.Summary)
	assert.Equal(t, 2, rep.Summary["total"], rep.Summary)
	assert.Equal(t, 0, rep.Summary[StatusRunning], rep.Summary)
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// A sweep, like a run, starts by revoking what terminated batches left
// shared, and reports it.
func TestSweepRevokesSharesTerminatedBatchesLeft(t *testing.T) {
	f := &rotationFake{fakeAWS: newFake(), health: map[string]activities.KeyHealth{}}
	f.stale = []StaleShare{{Batch: "amicrypt-batch-old-0", Share: activities.ShareSourceInput{Builder: builder, Source: euwest1, Accounts: []string{acctB, acctC}}}}
	env := newRotationEnv(t, f)
	env.ExecuteWorkflow(Sweep, SweepInput{SweepID: "sweep-1", Targets: targets([]string{acctA}, "us-east-1"), Operator: "alice"})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var rep Report
	require.NoError(t, env.GetWorkflowResult(&rep))
	assert.Equal(t, []string{"UnshareSource eu-west-1 " + acctB + " " + acctC}, f.callsTo("UnshareSource"))
	require.Len(t, rep.Housekeeping, 1)
	assert.Contains(t, rep.Housekeeping[0], "amicrypt-batch-old-0")
}

// runSweep runs a Sweep to its report, with the keys its SweepBatch
// children returned (as pipelinerun.Complete reads them).
func runSweep(t *testing.T, env *testsuite.TestWorkflowEnvironment, in SweepInput) Report {
	t.Helper()
	keys := map[string][]activities.KeyHealth{}
	env.SetOnChildWorkflowCompletedListener(func(info *workflow.Info, result converter.EncodedValue, err error) {
		if info.WorkflowType.Name != "SweepBatch" {
			return
		}
		var got []activities.KeyHealth
		if err == nil {
			require.NoError(t, result.Get(&got))
		}
		keys[info.WorkflowExecution.ID] = got
	})
	env.ExecuteWorkflow(Sweep, in)
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var rep Report
	require.NoError(t, env.GetWorkflowResult(&rep))
	if rep.RowsInBatches {
		require.Empty(t, rep.Keys, "a batched sweep's report carries no key")
		for _, b := range rep.Batches {
			rep.Keys = append(rep.Keys, keys[b.WorkflowID]...)
		}
	}
	return rep
}
