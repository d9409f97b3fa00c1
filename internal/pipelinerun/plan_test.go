package pipelinerun

import (
	"bytes"
	"testing"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/workflows"
)

// TestWritePlan holds the plan's form, which the dry runs share: the
// sources, the table grouped by outcome, per target its failures with the
// fix, its changes as "would …" with the detail indented beneath, its
// warnings, and the summary line.
func TestWritePlan(t *testing.T) {
	rep := &workflows.PlanReport{RunID: "597919bd98d9",
		Sources: []activities.SourcePlan{{Region: "us-east-1", ImageID: "ami-0b0000000000a0001", Name: "base-2026-11",
			Share: &activities.Action{Do: "share", Resource: "source image", Evidence: "with 3 accounts"}}},
		Targets: []activities.TargetPlan{
			{Account: "222222222222", Name: "payments-prod", Region: "us-east-1", Outcome: activities.PlanOK, KeyARN: newKey},
			{Account: "333333333333", Region: "us-east-1", Outcome: activities.PlanChange,
				Changes: []activities.Action{{Do: activities.ActCreate, Resource: "key alias/amicrypt", Evidence: "none under the alias", Detail: "{\n  \"Sid\": \"a\"\n}"}}},
			{Account: "444444444444", Name: "legacy-batch", Region: "us-east-1", Outcome: activities.PlanFail, KeyARN: oldKey,
				Failures: []activities.Diagnosis{{Code: "F2", Cause: "the key leaves Auto Scaling out", Fix: "add\nthe statements", Step: "key"}},
				Warnings: []string{"attached policies not read"}},
		}}
	var b bytes.Buffer
	WritePlan(&b, rep)
	want := `PLAN: nothing was changed in AWS (reads only); below is what the run would do, and what AWS would refuse
source us-east-1 ami-0b0000000000a0001 (base-2026-11): share with 3 accounts

OUTCOME      ACCOUNT       REGION     NAME           KEY                                   CHANGES  PREDICTED FAILURE
will-fail    444444444444  us-east-1  legacy-batch   11111111-1111-4111-8111-111111111111  0        F2 (key)
will-change  333333333333  us-east-1  -              (new)                                 1        -
ok           222222222222  us-east-1  payments-prod  22222222-2222-4222-8222-222222222222  0        -

444444444444 us-east-1 (legacy-batch): will-fail
  would fail at key: F2 the key leaves Auto Scaling out
  fix: add
       the statements
  warning      attached policies not read

333333333333 us-east-1 (-): will-change
  would create key alias/amicrypt (none under the alias)
      {
        "Sid": "a"
      }

plan of run 597919bd98d9: 3 targets: 1 ok, 1 will change, 1 will fail
`
	if b.String() != want {
		t.Errorf("the plan reads\n%s\nwant\n%s", b.String(), want)
	}
}

// The line that starts a run says what it serves, organization selectors
// included (an organization-only config lists no target).
func TestDescribeTargetsNamesTheOrganizationsSelectors(t *testing.T) {
	two := []activities.Target{{Account: "222222222222", Region: "us-east-1"}, {Account: "222222222222", Region: "eu-west-1"}}
	org := &activities.OrganizationTargets{Selectors: []activities.OrganizationSelector{{}, {Unit: "ou-ab12-workload1"}}}
	for _, c := range []struct {
		listed []activities.Target
		org    *activities.OrganizationTargets
		want   string
	}{
		{two, nil, "2 targets"},
		{nil, org, "the targets of the organization's (2 selectors, resolved as it starts)"},
		{two, org, "2 listed targets and the organization's (2 selectors, resolved as it starts)"},
	} {
		if got := DescribeTargets(c.listed, c.org); got != c.want {
			t.Errorf("DescribeTargets = %q, want %q", got, c.want)
		}
	}
}
