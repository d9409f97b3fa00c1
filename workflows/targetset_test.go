package workflows

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/amicrypt/amicrypt/activities"
)

// batchInputs records every Batch's input as it starts.
func batchInputs(env *testsuite.TestWorkflowEnvironment, t *testing.T) map[string]BatchInput {
	got := map[string]BatchInput{}
	env.SetOnChildWorkflowStartedListener(func(info *workflow.Info, _ workflow.Context, args converter.EncodedValues) {
		if info.WorkflowType.Name != "Batch" {
			return
		}
		var in BatchInput
		require.NoError(t, args.Get(&in))
		got[info.WorkflowExecution.ID] = in
	})
	return got
}

func TestPipelineReceivesItsTargetsInParts(t *testing.T) {
	f := newFake()
	env := newEnv(t, f)
	all := targets(accountIDs(6), "us-east-1", "eu-west-1")
	in := pipelineInput(all[:4])
	in.TargetParts = 3
	// The starter sends parts 1 and 2; part 1 twice (a starter that
	// attached again), which counts once.
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalTargets, TargetsPart{Index: 2, Targets: all[8:]})
		env.SignalWorkflow(SignalTargets, TargetsPart{Index: 1, Targets: all[4:8]})
		env.SignalWorkflow(SignalTargets, TargetsPart{Index: 1, Targets: all[4:8]})
	}, time.Minute)
	r, err := runPipeline(t, env, in)
	require.NoError(t, err)
	assert.True(t, r.RowsInBatches)
	assert.Equal(t, 12, r.Summary["total"])
	assert.Equal(t, 12, r.Summary[StatusSucceeded])
	require.Len(t, r.Targets, 12, "every part's targets ran, each once")
	assert.Len(t, f.callsTo("PrepareTarget"), 12)
}

func TestPipelineWithMissingPartsFailsAndStartsNothing(t *testing.T) {
	f := newFake()
	env := newEnv(t, f)
	all := targets(accountIDs(4), "us-east-1")
	in := pipelineInput(all[:2])
	in.TargetParts = 2
	_, err := runPipeline(t, env, in)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v", err)
	assert.Equal(t, ErrorTypeInvalidInput, appErr.Type())
	assert.Contains(t, appErr.Error(), "received 1 of the 2 parts of its targets")
	assert.Empty(t, f.callsTo("ShareSource", "PrepareTarget"), "nothing is shared or copied before all targets are in")
}

// org is a root with prod (A, B suspended) and prod/payments (C) below it,
// dev (E), and D directly under the root.
func testOrg() *fakeOrg {
	return &fakeOrg{
		id: "o-test000000",
		units: []activities.OrganizationUnit{
			{ID: "r-ab12"},
			{ID: "ou-ab12-prod0000", Name: "prod", Parent: "r-ab12"},
			{ID: "ou-ab12-paymnt00", Name: "payments", Parent: "ou-ab12-prod0000"},
			{ID: "ou-ab12-dev00000", Name: "dev", Parent: "r-ab12"},
		},
		accounts: map[string][]activities.OrganizationAccount{
			"r-ab12":           {{ID: "444444444444", Name: "shared", Status: "ACTIVE"}},
			"ou-ab12-prod0000": {{ID: "222222222222", Name: "web", Status: "ACTIVE"}, {ID: "333333333333", Name: "old", Status: "SUSPENDED"}},
			"ou-ab12-paymnt00": {{ID: "555555555555", Name: "payments", Status: "ACTIVE"}},
			"ou-ab12-dev00000": {{ID: "666666666666", Name: "dev", Status: "ACTIVE"}, {ID: "777777777777", Name: "sandbox", Status: "PENDING_CLOSURE"}},
		},
		page: 1,
	}
}

func template(region, alias string) activities.Target {
	t := target("", region)
	t.RoleARN, t.KeyAlias = "", alias
	return t
}

func TestPipelineServesTheAccountsOfOrganizationUnits(t *testing.T) {
	f := newFake()
	f.org = testOrg()
	env := newEnv(t, f)
	starts := batchInputs(env, t)
	listed := target("666666666666", "us-east-1")
	listed.KeyAlias = "alias/dev-own"
	in := pipelineInput([]activities.Target{listed})
	in.Organization = &activities.OrganizationTargets{
		RoleARN: "arn:aws:iam::999999999999:role/org-reader",
		Selectors: []activities.OrganizationSelector{
			{Exclude: []string{"444444444444"}, RoleName: "amicrypt-target", Regions: []activities.Target{template("us-east-1", "alias/amicrypt")}},
			{Unit: "ou-ab12-prod0000", RoleName: "amicrypt-prod", Regions: []activities.Target{template("eu-west-1", "alias/prod"), template("us-east-1", "alias/prod")}},
		},
		Listed: []string{"666666666666"},
	}
	r, err := runPipeline(t, env, in)
	require.NoError(t, err)

	var served []string
	byTarget := map[string]activities.Target{}
	for _, b := range starts {
		for _, tg := range b.Targets {
			served = append(served, tg.ID())
			byTarget[tg.ID()] = tg
		}
	}
	sort.Strings(served)
	assert.Equal(t, []string{
		"222222222222/eu-west-1", "222222222222/us-east-1", // prod
		"555555555555/eu-west-1", "555555555555/us-east-1", // prod/payments: prod's selector, the nearest above it
		"666666666666/us-east-1", // dev: listed, its own entry wins
	}, served, "the suspended, the closing and the excluded accounts are not served")
	assert.Equal(t, "arn:aws:iam::555555555555:role/amicrypt-prod", byTarget["555555555555/eu-west-1"].RoleARN)
	assert.Equal(t, "alias/prod", byTarget["555555555555/eu-west-1"].KeyAlias)
	assert.Equal(t, "payments", byTarget["555555555555/eu-west-1"].Name, "the account's name comes from Organizations")
	assert.Equal(t, "alias/dev-own", byTarget["666666666666/us-east-1"].KeyAlias)
	assert.Equal(t, 5, r.Summary[StatusSucceeded])

	require.NotNil(t, r.Organization)
	assert.Equal(t, "o-test000000", r.Organization.OrganizationID)
	assert.Equal(t, 2, r.Organization.Accounts)
	assert.Equal(t, 4, r.Organization.Targets)
	assert.Equal(t, 1, r.Organization.Excluded)
	assert.Equal(t, 2, r.Organization.SkippedCount)
	assert.Equal(t, []activities.OrganizationAccount{
		{ID: "333333333333", Name: "old", Status: "SUSPENDED"},
		{ID: "777777777777", Name: "sandbox", Status: "PENDING_CLOSURE"},
	}, r.Organization.Skipped)
	assert.Greater(t, f.org.pages, 4, "accounts are read page by page")
}

func TestPipelineRefusedTheOrganizationSaysWhyAndStartsNothing(t *testing.T) {
	f := newFake()
	f.org = testOrg()
	f.org.denied = activities.Diagnosed(activities.Diagnosis{
		Code:  activities.NotAllowed,
		Cause: "the worker's own credentials may not list the organization: organizations:ListRoots was refused",
		Fix:   "Set organization.role_arn in the config to a role in the management account",
	}, nil)
	env := newEnv(t, f)
	in := pipelineInput(nil)
	in.Organization = &activities.OrganizationTargets{Selectors: []activities.OrganizationSelector{{RoleName: "amicrypt-target", Regions: []activities.Target{template("us-east-1", "alias/amicrypt")}}}}
	_, err := runPipeline(t, env, in)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "may not list the organization")
	assert.Contains(t, err.Error(), "organization.role_arn")
	assert.Empty(t, f.callsTo("ShareSource", "PrepareTarget"))
}

func TestPipelineAnswersProgressWithCountsNotRows(t *testing.T) {
	f := newFake()
	f.waitDelay = time.Hour
	env := newEnv(t, f)
	in := pipelineInput(targets(accountIDs(6), "us-east-1", "eu-west-1"))
	in.BatchAccounts = 2
	in.InFlight = 4
	var mid Report
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryProgress)
		require.NoError(t, err)
		require.NoError(t, v.Get(&mid))
	}, 30*time.Minute)
	_, err := runPipeline(t, env, in)
	require.NoError(t, err)
	assert.Empty(t, mid.Targets)
	assert.Equal(t, 12, mid.Summary["total"])
	assert.Equal(t, 4, mid.Summary[StatusRunning], "the first batch runs")
	assert.Equal(t, 8, mid.Summary[StatusPending])
}

// A source already shared with 997 entities leaves the run 3 of AWS's
// 1,000: batches of one account wait until others are revoked, so no more
// than 3 accounts hold the share at once, and every target still runs.
func TestPipelineKeepsASourceWithinAWSsSharingQuota(t *testing.T) {
	f := newFake()
	f.sourceShares = map[string]int{"us-east-1": activities.MaxSourceShares - 3}
	env := newEnv(t, f)
	in := pipelineInput(targets(accountIDs(8), "us-east-1"))
	in.Sources = []activities.Source{useast1}
	in.BatchAccounts = 1
	r, err := runPipeline(t, env, in)
	require.NoError(t, err)
	assert.Equal(t, 8, r.Summary[StatusSucceeded])
	shared, peak := map[string]bool{}, 0
	for _, call := range f.callsTo("ShareSource", "UnshareSource") {
		fields := strings.Fields(call)
		for _, acct := range fields[2:] {
			shared[acct] = fields[0] == "ShareSource"
		}
		n := 0
		for _, on := range shared {
			if on {
				n++
			}
		}
		peak = max(peak, n)
	}
	assert.Equal(t, 3, peak, "accounts holding the source's share at once")
}

// Each sweep reads the organization anew: an account that joined between
// two sweeps has its key inspected by the second, without a change to the
// sweep's input.
func TestEachSweepServesTheAccountsTheOrganizationHasThen(t *testing.T) {
	org := testOrg()
	in := SweepInput{SweepID: "s", Operator: "schedule nightly", Organization: &activities.OrganizationTargets{
		Selectors: []activities.OrganizationSelector{{Unit: "ou-ab12-prod0000", RoleName: "amicrypt-target", Regions: []activities.Target{template("us-east-1", "alias/amicrypt")}}},
	}}
	sweep := func() Report {
		f := &rotationFake{fakeAWS: newFake(), health: map[string]activities.KeyHealth{}}
		f.org = org
		env := newRotationEnv(t, f)
		var a *activities.Activities
		env.OnActivity(a.ListOrganizationUnits, mock.Anything, mock.Anything).Return(org.ListOrganizationUnits)
		env.OnActivity(a.ListOrganizationAccounts, mock.Anything, mock.Anything).Return(org.ListOrganizationAccounts)
		return runSweep(t, env, in)
	}
	inspected := func(r Report) []string {
		var out []string
		for _, k := range r.Keys {
			out = append(out, k.Account+"/"+k.Region)
		}
		sort.Strings(out)
		return out
	}
	first := sweep()
	assert.Equal(t, []string{"222222222222/us-east-1", "555555555555/us-east-1"}, inspected(first))
	org.accounts["ou-ab12-paymnt00"] = append(org.accounts["ou-ab12-paymnt00"], activities.OrganizationAccount{ID: "999999999999", Name: "new", Status: "ACTIVE"})
	second := sweep()
	assert.Equal(t, []string{"222222222222/us-east-1", "555555555555/us-east-1", "999999999999/us-east-1"}, inspected(second))
	require.NotNil(t, second.Organization)
	assert.Equal(t, 3, second.Organization.Accounts)
}

// A plan of any size: the PlanRun gathers the parts its starter signals and
// the organization's accounts as the Pipeline does, then starts a Plan
// workflow per PlanWorkflowTargets targets, named after itself, the first
// planning the sources' shares with every account; it returns counts only.
func TestPlanRunGathersTheTargetsAndPlansThemInSlices(t *testing.T) {
	f := newFake()
	f.org = testOrg()
	env := newEnv(t, f)
	env.RegisterWorkflow(PlanRun)
	env.RegisterWorkflow(Plan)
	var a *activities.Activities
	env.OnActivity(a.PlanShare, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ShareSourceInput) (activities.SourcePlan, error) {
		return activities.SourcePlan{Region: in.Source.Region, ImageID: in.Source.ImageID}, nil
	}).Maybe()
	env.OnActivity(a.PlanTargets, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.PlanTargetsInput) ([]activities.TargetPlan, error) {
		out := make([]activities.TargetPlan, len(in.Items))
		for i, it := range in.Items {
			out[i] = activities.TargetPlan{Account: it.Target.Account, Region: it.Target.Region, Outcome: activities.PlanOK}
		}
		return out, nil
	}).Maybe()
	slices := map[string]PlanInput{}
	env.SetOnChildWorkflowStartedListener(func(info *workflow.Info, _ workflow.Context, args converter.EncodedValues) {
		var in PlanInput
		require.NoError(t, args.Get(&in))
		slices[info.WorkflowExecution.ID] = in
	})

	ids := make([]string, 160)
	for i := range ids {
		ids[i] = fmt.Sprintf("4%011d", i)
	}
	listed := targets(ids, "us-east-1", "eu-west-1") // 320: two parts
	in := pipelineInput(listed[:TargetsPerPart])
	in.TargetParts = 2
	in.Organization = &activities.OrganizationTargets{
		Selectors: []activities.OrganizationSelector{{Unit: "ou-ab12-prod0000", RoleName: "amicrypt-prod", Regions: []activities.Target{template("us-east-1", "alias/prod")}}},
	}
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalTargets, TargetsPart{Index: 1, Targets: listed[TargetsPerPart:]})
	}, time.Minute)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "amicrypt-plan-r1-20261207T000000.000Z"})
	env.ExecuteWorkflow(PlanRun, in)
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var rep PlanRunReport
	require.NoError(t, env.GetWorkflowResult(&rep))

	assert.Equal(t, 322, rep.Targets, "320 listed, and prod's two accounts in us-east-1")
	assert.Equal(t, 3, rep.Slices)
	require.NotNil(t, rep.Organization)
	assert.Equal(t, 2, rep.Organization.Accounts)
	require.Len(t, slices, 3)
	seen := map[string]bool{}
	for n := range 3 {
		s, ok := slices[PlanSliceWorkflowID("amicrypt-plan-r1-20261207T000000.000Z", n)]
		require.True(t, ok, "slice %d", n)
		assert.LessOrEqual(t, len(s.Targets), PlanWorkflowTargets)
		for _, tg := range s.Targets {
			assert.False(t, seen[tg.ID()], "%s planned twice", tg.ID())
			seen[tg.ID()] = true
		}
		if n == 0 {
			require.Len(t, s.Shares, 2, "the first slice plans both sources' shares")
			for _, sh := range s.Shares {
				want := 160
				if sh.Source.Region == "us-east-1" {
					want = 162
				}
				assert.Len(t, sh.Accounts, want, "source %s is planned shared with every account that copies it", sh.Source.Region)
			}
		} else {
			assert.Empty(t, s.Shares)
		}
	}
	assert.Len(t, seen, 322)
	assert.True(t, seen["555555555555/us-east-1"], "the organization's accounts are planned")
}
