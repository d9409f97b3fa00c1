package cli

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/amicrypt/amicrypt/internal/sandbox/world"
	"github.com/amicrypt/amicrypt/workflows"
)

// orgWorld is the default world in an organization managed by the builder:
// payments-prod in the workloads unit, analytics-dev in workloads/analytics
// below it, legacy-batch suspended and directly under the root with the
// builder; Amazon's account in none.
func orgWorld(t *testing.T) *world.World {
	t.Helper()
	text := string(world.DefaultYAML())
	for old, repl := range map[string]string{
		"regions: [us-east-1, eu-west-1]\n": `regions: [us-east-1, eu-west-1]
organization:
  id: o-a1b2c3d4e5
  management_account: "111111111111"
  root_id: r-ab12
  units:
    - id: ou-ab12-workload1
      name: workloads
      accounts: ["222222222222"]
      units: [{name: analytics, accounts: ["333333333333"]}]
`,
		"    name: amazon\n":       "    name: amazon\n    organization: none\n",
		"    name: legacy-batch\n": "    name: legacy-batch\n    status: SUSPENDED\n",
		// A role that reads the organization, trusting the pipeline role,
		// in the builder (the management account) and in payments-prod.
		"\naccounts:\n": `
x-org-reader: &org-reader
  name: amicrypt-organization-reader
  trust:
    Version: "2012-10-17"
    Statement:
      - Effect: Allow
        Principal: {AWS: arn:aws:iam::111111111111:role/amicrypt-pipeline}
        Action: [sts:AssumeRole, sts:SetSourceIdentity]
  policies:
    read-organization:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Action: ["organizations:List*", "organizations:Describe*"]
          Resource: "*"

accounts:
`,
		"    roles:\n      - name: amicrypt-pipeline\n": "    roles:\n      - *org-reader\n      - name: amicrypt-pipeline\n",
		"                Resource: arn:aws:iam::111111111111:role/amicrypt-pipeline\n": `                Resource: arn:aws:iam::111111111111:role/amicrypt-pipeline
              - Sid: AssumeOrganizationReaders
                Effect: Allow
                Action: [sts:AssumeRole, sts:SetSourceIdentity]
                Resource: arn:aws:iam::*:role/amicrypt-organization-reader
`,
		"    name: payments-prod\n    service_linked_roles: [AWSServiceRoleForAutoScaling]\n    roles: [*target-role]\n": "    name: payments-prod\n    service_linked_roles: [AWSServiceRoleForAutoScaling]\n    roles: [*target-role, *org-reader]\n",
	} {
		if !strings.Contains(text, old) {
			t.Fatalf("the default world changed: no %q", old)
		}
		text = strings.Replace(text, old, repl, 1)
	}
	w, err := world.Parse([]byte(text), "org-world.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// A config naming the organization and one of its units: the run reads
// the tree from the management account as it starts and serves each member
// with the settings of the nearest selector above it — the nested unit's
// account with its parent unit's key alias — leaving out the excluded
// builder and the suspended account, which the report lists. A config that
// reads the organization as a member account is refused before anything
// is shared, with the fix.
func TestARunServesTheAccountsOfTheOrganizationItNames(t *testing.T) {
	env := startE2E(t, orgWorld(t))
	sources := builderSources(env.World, env.BuilderAccount)
	head := `builder:
  account: "111111111111"
  role_arn: arn:aws:iam::111111111111:role/amicrypt-pipeline
defaults:
  regions: [us-east-1]
  external_id: amicrypt
  boot_proof: {enabled: false}
`
	path := writeConfig(t, t.TempDir(), "amicrypt.yaml", head+`organization:
  role_arn: arn:aws:iam::111111111111:role/amicrypt-organization-reader
targets:
  - organization: true
    exclude: ["111111111111"]
  - organizational_unit: ou-ab12-workload1
    key_alias: alias/workloads
`)
	// The plan resolves the organization as the run will, with reads only.
	code, stdout, stderr := runCLI(env, "plan", "--config", path, "--source", "us-east-1="+sources["us-east-1"], "--json")
	if code != 0 {
		t.Fatalf("plan exited %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	var plan workflows.PlanReport
	if err := json.Unmarshal([]byte(stdout), &plan); err != nil {
		t.Fatalf("plan --json: %v\n%s", err, stdout)
	}
	var planned []string
	for _, tp := range plan.Targets {
		planned = append(planned, tp.Account+"/"+tp.Region+" "+tp.Outcome)
	}
	if strings.Join(planned, "\n") != "222222222222/us-east-1 will-change\n333333333333/us-east-1 will-change" {
		t.Errorf("planned:\n%s\nwant payments-prod and analytics-dev, both will-change", strings.Join(planned, "\n"))
	}
	if plan.Organization == nil || plan.Organization.Accounts != 2 || plan.Organization.SkippedCount != 1 || plan.Organization.Excluded != 1 {
		t.Errorf("plan's organization: %+v", plan.Organization)
	}
	if !strings.Contains(stdout, "alias/workloads") {
		t.Errorf("the plan does not create the key under the unit's alias/workloads:\n%s", stdout)
	}
	code, stdout, stderr = runCLI(env, "plan", "--config", path, "--source", "us-east-1="+sources["us-east-1"])
	if code != 0 || !strings.Contains(stdout, "organization o-a1b2c3d4e5: 2 accounts, 2 targets (3 units and roots read); 1 excluded by the config; 1 skipped") || !strings.Contains(stdout, "skipped 444444444444 legacy-batch: SUSPENDED") {
		t.Errorf("plan exited %d; its table does not say what the organization resolved to:\n%s\nstderr: %s", code, stdout, stderr)
	}
	if st := sandboxState(t, env); len(st.Accounts["222222222222"].Regions["us-east-1"].Aliases) > 0 {
		t.Fatalf("the plan changed the sandbox: %v", st.Accounts["222222222222"].Regions["us-east-1"].Aliases)
	}

	// The run, planned first (--preflight), resolves it again.
	code, stdout, stderr = runCLI(env, "run", "--config", path, "--source", "us-east-1="+sources["us-east-1"], "--preflight", "--wait", "--json")
	if code != 0 {
		t.Fatalf("run exited %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	r := decodeReport(t, stdout, stderr)
	var served []string
	for _, tr := range r.Targets {
		served = append(served, tr.Account+"/"+tr.Region+" "+tr.Name+" "+tr.Status)
	}
	sort.Strings(served)
	want := []string{
		"222222222222/us-east-1 payments-prod succeeded",
		"333333333333/us-east-1 analytics-dev succeeded",
	}
	if strings.Join(served, "\n") != strings.Join(want, "\n") {
		t.Fatalf("served:\n%s\nwant:\n%s", strings.Join(served, "\n"), strings.Join(want, "\n"))
	}
	if !r.RowsInBatches || r.Summary["total"] != 2 {
		t.Errorf("report: rows in batches %v, summary %v", r.RowsInBatches, r.Summary)
	}
	if r.Organization == nil || r.Organization.OrganizationID != "o-a1b2c3d4e5" || r.Organization.Accounts != 2 || r.Organization.Excluded != 1 {
		t.Fatalf("organization: %+v", r.Organization)
	}
	if len(r.Organization.Skipped) != 1 || r.Organization.Skipped[0].ID != "444444444444" || r.Organization.Skipped[0].Status != "SUSPENDED" {
		t.Errorf("skipped: %+v, want legacy-batch, suspended", r.Organization.Skipped)
	}
	st := sandboxState(t, env)
	for _, acct := range []string{"222222222222", "333333333333"} {
		reg := st.Accounts[acct].Regions["us-east-1"]
		if reg.Aliases["alias/workloads"] == "" {
			t.Errorf("account %s: no key under alias/workloads (aliases %v)", acct, reg.Aliases)
		}
	}
	for _, acct := range []string{"444444444444", "111111111111"} {
		for _, im := range st.Accounts[acct].Regions["us-east-1"].Images {
			if im.SourceImageID == sources["us-east-1"] {
				t.Errorf("account %s (suspended, or excluded) got a copy: %s", acct, im.ID)
			}
		}
	}

	// A sweep reads the organization anew and looks at the same accounts'
	// keys (a dry run: it changes nothing).
	code, stdout, stderr = runCLI(env, "sweep", "--config", path, "--dry-run", "--json")
	if code != 0 {
		t.Fatalf("sweep exited %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	sw := decodeReport(t, stdout, stderr)
	var swept []string
	for _, k := range sw.Keys {
		swept = append(swept, k.Account+"/"+k.Region)
	}
	sort.Strings(swept)
	if strings.Join(swept, " ") != "222222222222/us-east-1 333333333333/us-east-1" || sw.Organization == nil || sw.Organization.SkippedCount != 1 {
		t.Errorf("the sweep looked at %v (organization %+v), want the run's two targets", swept, sw.Organization)
	}

	// A rotation of an account the config does not list finds its targets
	// through the organization (the unit's alias); one of the suspended
	// account is refused, saying so.
	code, stdout, stderr = runCLI(env, "rotate", "--config", path, "--account", "333333333333", "--reason", "scheduled", "--dry-run", "--json")
	if code != 0 {
		t.Fatalf("rotate --dry-run of an organization account exited %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	rot := decodeReport(t, stdout, stderr)
	if len(rot.Targets) != 1 || rot.Targets[0].Region != "us-east-1" || rot.Targets[0].Name != "analytics-dev" || rot.Organization == nil {
		t.Errorf("the rotation of analytics-dev covered %+v (organization %+v), want its one region", rot.Targets, rot.Organization)
	}
	code, stdout, stderr = runCLI(env, "rotate", "--config", path, "--account", "444444444444", "--reason", "scheduled", "--dry-run")
	if code == 0 || !strings.Contains(stdout+stderr, "SUSPENDED") {
		t.Errorf("the rotation of the suspended account exited %d and did not say it is suspended:\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}

	// Read as a member account: refused, nothing shared.
	member := writeConfig(t, t.TempDir(), "member.yaml", head+`organization:
  role_arn: arn:aws:iam::222222222222:role/amicrypt-organization-reader
targets:
  - organization: true
    exclude: ["111111111111"]
    regions: [eu-west-1]
`)
	for _, args := range [][]string{
		{"plan", "--config", member, "--source", "eu-west-1=" + sources["eu-west-1"]},
		{"run", "--config", member, "--source", "eu-west-1=" + sources["eu-west-1"], "--wait", "--json"},
	} {
		code, stdout, stderr = runCLI(env, args...)
		if code == 0 {
			t.Fatalf("%s reading the organization as a member account succeeded\nstdout: %s", args[0], stdout)
		}
		for _, want := range []string{"may not list the organization", "222222222222", "organization.role_arn", "management account"} {
			if !strings.Contains(stdout+stderr, want) {
				t.Errorf("%s: the refusal does not say %q:\nstdout: %s\nstderr: %s", args[0], want, stdout, stderr)
			}
		}
	}
	for _, im := range sandboxState(t, env).Accounts["111111111111"].Regions["eu-west-1"].Images {
		if len(im.LaunchPermissions) > 0 {
			t.Errorf("source %s shared after a refused run: %v", im.ID, im.LaunchPermissions)
		}
	}
}
