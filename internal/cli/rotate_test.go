package cli

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/config"
	"github.com/amicrypt/amicrypt/workflows"
)

func writeConfig(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRotateSweepScheduleRefuseBadInputBeforeContactingAnything: every case
// exits 2 with its message before any connection (the Temporal address is one
// nothing listens on), so nothing is started and nothing created.
func TestRotateSweepScheduleRefuseBadInputBeforeContactingAnything(t *testing.T) {
	dir := t.TempDir()
	good := string(config.Example())
	goodPath := writeConfig(t, dir, "good.yaml", good)
	rot := func(args ...string) []string {
		return append([]string{"rotate", "--config", goodPath}, args...)
	}
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"rotate: no account", rot("--reason", "leaked"), []string{"--account is required"}},
		{"rotate: short account", rot("--account", "2222", "--reason", "leaked"), []string{`--account "2222" is not a 12-digit AWS account id`}},
		{"rotate: no reason", rot("--account", "222222222222"), []string{"--reason is required: one of leaked, scheduled, policy"}},
		{"rotate: bad reason lists the allowed ones", rot("--account", "222222222222", "--reason", "bored"), []string{`--reason "bored" is not one of leaked, scheduled, policy`}},
		{"rotate: every flag problem at once", []string{"rotate", "--account", "x", "--reason", "y", "--region", "us-est-1", "--deletion-window-days", "3"},
			[]string{`--account "x"`, `--reason "y"`, `--region "us-est-1"`, "--deletion-window-days 3: KMS schedules a key's deletion 7 to 30 days ahead", "--config is required"}},
		{"rotate: window too long", rot("--account", "222222222222", "--reason", "leaked", "--deletion-window-days", "31"), []string{"--deletion-window-days 31"}},
		{"rotate: account not in the config names the config's", rot("--account", "555555555555", "--reason", "leaked"),
			[]string{"account 555555555555 is not a target of the config", "222222222222 (payments-prod), 333333333333 (analytics-dev), 444444444444 (legacy-batch)"}},
		{"rotate: region not the account's names its regions", rot("--account", "444444444444", "--reason", "policy", "--region", "eu-west-1"),
			[]string{"the config gives account 444444444444 no region eu-west-1", "its regions are: us-east-1"}},
		{"rotate: missing config file", []string{"rotate", "--config", filepath.Join(dir, "nope.yaml"), "--account", "222222222222", "--reason", "leaked"}, []string{"nope.yaml", "no such file"}},
		{"rotate: bad config", []string{"rotate", "--config", writeConfig(t, dir, "bad.yaml", strings.Replace(good, "deletion_window_days: 30", "deletion_window_days: 60", 1)), "--account", "222222222222", "--reason", "leaked"},
			[]string{"bad.yaml:", "rotation.deletion_window_days: 60"}},
		{"rotate: extra argument", rot("--account", "222222222222", "--reason", "leaked", "now"), []string{"now"}},
		{"sweep: no config", []string{"sweep"}, []string{"--config is required"}},
		{"sweep: bad config", []string{"sweep", "--config", writeConfig(t, dir, "every.yaml", strings.Replace(good, "every: 24h", "every: 10s", 1))}, []string{"every.yaml:", "rotation.every: 10s is too often"}},
		{"schedule: no subcommand", []string{"schedule"}, []string{"schedule needs a subcommand: create, describe, pause, unpause or delete"}},
		{"schedule: unknown subcommand", []string{"schedule", "start"}, []string{`unknown schedule subcommand "start"`}},
		{"schedule create: no config", []string{"schedule", "create"}, []string{"--config is required"}},
		{"schedule create: too often", []string{"schedule", "create", "--config", goodPath, "--every", "30s"}, []string{"--every 30s is too often: the sweep runs at most every 1m"}},
		{"schedule create: not a duration", []string{"schedule", "create", "--config", goodPath, "--every", "daily"}, []string{"daily"}},
		{"schedule create: empty id", []string{"schedule", "create", "--config", goodPath, "--id", ""}, []string{"--id is empty"}},
		{"schedule describe: extra argument", []string{"schedule", "describe", "nightly"}, []string{"nightly"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append(c.args, "--temporal-address", "127.0.0.1:1")
			code, out, errs := run(args...)
			if code != 2 {
				t.Fatalf("want exit 2, got %d\nstdout: %s\nstderr: %s", code, out, errs)
			}
			for _, w := range c.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
			if strings.Contains(errs, "127.0.0.1:1") {
				t.Errorf("it tried to reach Temporal before refusing the input:\n%s", errs)
			}
		})
	}
}

func TestRotationInputFromFlags(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, "c.yaml", strings.Replace(string(config.Example()), "deletion_window_days: 30", "deletion_window_days: 14", 1))
	now := time.Date(2026, 11, 23, 16, 4, 5, 0, time.FixedZone("CET", 3600))
	t.Setenv("USER", "alice")

	in, err := rotationInputFromFlags(&rotateFlags{config: path, account: "222222222222", reason: "leaked"}, false, now)
	if err != nil {
		t.Fatal(err)
	}
	if in.RotationID != "rotation-222222222222-20261123T150405" || in.Account != "222222222222" || in.Reason != "leaked" ||
		in.Operator != "alice@"+hostname() || in.DeletionWindowDays != 14 {
		t.Errorf("input = %+v", in)
	}
	var regions []string
	for _, tg := range in.Targets {
		if tg.Account != "222222222222" || tg.KeyAlias != "alias/amicrypt" || tg.RoleARN != "arn:aws:iam::222222222222:role/amicrypt-target" {
			t.Errorf("target %+v", tg)
		}
		regions = append(regions, tg.Region)
	}
	if !reflect.DeepEqual(regions, []string{"eu-west-1", "us-east-1"}) {
		t.Errorf("regions = %v", regions)
	}

	in, err = rotationInputFromFlags(&rotateFlags{config: path, account: "333333333333", region: "eu-west-1", reason: "policy", operator: "bob", deletionWindow: 7}, true, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Targets) != 1 || in.Targets[0].Region != "eu-west-1" || in.Operator != "bob" || in.DeletionWindowDays != 7 {
		t.Errorf("one region, window from the flag: %+v", in)
	}
}

// An account the config's organization selectors may serve: the rotation
// carries the selectors and resolves the account as it starts; a region no
// selector gives is refused at once.
func TestRotationInputOfAnOrganizationAccount(t *testing.T) {
	path := writeConfig(t, t.TempDir(), "org.yaml", `builder:
  account: "111111111111"
  role_arn: arn:aws:iam::111111111111:role/amicrypt-pipeline
defaults:
  regions: [us-east-1]
targets:
  - account: "222222222222"
  - organizational_unit: ou-ab12-workload1
    regions: [eu-west-1]
`)
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	in, err := rotationInputFromFlags(&rotateFlags{config: path, account: "333333333333", reason: "scheduled", operator: "bob"}, false, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Targets) != 0 || in.Organization == nil || len(in.Organization.Selectors) != 1 || in.Organization.Selectors[0].Unit != "ou-ab12-workload1" {
		t.Errorf("an organization account's rotation: %+v", in)
	}
	if got := rotationRegions(in); !strings.Contains(got, "organization") {
		t.Errorf("regions shown as %q", got)
	}
	in, err = rotationInputFromFlags(&rotateFlags{config: path, account: "222222222222", reason: "scheduled", operator: "bob"}, false, now)
	if err != nil || in.Organization != nil || len(in.Targets) != 1 {
		t.Errorf("a listed account's rotation: %+v, %v", in, err)
	}
	_, err = rotationInputFromFlags(&rotateFlags{config: path, account: "333333333333", region: "ap-south-1", reason: "scheduled", operator: "bob"}, false, now)
	if err == nil || !strings.Contains(err.Error(), "give no account region ap-south-1") || !strings.Contains(err.Error(), "eu-west-1") {
		t.Errorf("a region no selector gives: %v", err)
	}
}

func TestScheduleOptionsFromFlags(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, "c.yaml", strings.Replace(strings.Replace(string(config.Example()), "every: 24h", "every: 6h", 1), "max_key_age_days: 365", "max_key_age_days: 0", 1))
	f := &scheduleFlags{config: path, id: workflows.ScheduleID}
	f.conn.TaskQueue = "amicrypt"
	o, err := scheduleOptionsFromFlags(f, false)
	if err != nil {
		t.Fatal(err)
	}
	if o.ID != "amicrypt-sweep" || o.Every != 6*time.Hour || o.TaskQueue != "amicrypt" || len(o.Input.Targets) != 5 ||
		o.Input.Operator != "schedule amicrypt-sweep" || o.Input.MaxKeyAgeDays != 0 || o.Input.ConcurrentRotations != 5 || o.Input.DeletionWindowDays != 30 {
		t.Errorf("options = %+v", o)
	}
	a := o.action()
	if a.ID != "amicrypt-sweep" || !strings.HasSuffix(runtime.FuncForPC(reflect.ValueOf(a.Workflow).Pointer()).Name(), "workflows.Sweep") || a.TaskQueue != "amicrypt" || len(a.Args) != 1 {
		t.Errorf("action = %+v", a)
	}
	f.every = 90 * time.Minute
	if o, err := scheduleOptionsFromFlags(f, true); err != nil || o.Every != 90*time.Minute {
		t.Errorf("--every 90m: %+v, %v", o, err)
	}
	if got := formatEvery(90 * time.Second); got != "1m30s" {
		t.Errorf("formatEvery(90s) = %s", got)
	}
	if got := formatEvery(24 * time.Hour); got != "24h" {
		t.Errorf("formatEvery(24h) = %s", got)
	}
}

func TestStatusTakesRotationAndSweepWorkflowIDs(t *testing.T) {
	for arg, want := range map[string]string{
		"3f2a9c1b7d4e":                        "amicrypt-run-3f2a9c1b7d4e",
		"amicrypt-run-3f2a9c1b7d4e":           "amicrypt-run-3f2a9c1b7d4e",
		"amicrypt-rotate-222222222222":        "amicrypt-rotate-222222222222",
		"amicrypt-sweep-20261123T160000Z":     "amicrypt-sweep-20261123T160000Z",
		"amicrypt-sweep-2026-11-23T16:00:00Z": "amicrypt-sweep-2026-11-23T16:00:00Z",
	} {
		if got := statusWorkflowID(arg); got != want {
			t.Errorf("statusWorkflowID(%s) = %s, want %s", arg, got, want)
		}
	}
}

func TestExitForReportByKind(t *testing.T) {
	ok := workflows.TargetReport{Account: "222222222222", Region: "us-east-1", Status: workflows.StatusSucceeded}
	failed := workflows.TargetReport{Account: "222222222222", Region: "eu-west-1", Status: workflows.StatusFailed}
	for _, tc := range []struct {
		name string
		r    workflows.Report
		want string // "" for exit 0
	}{
		{"rotation succeeded", workflows.Report{Kind: workflows.KindRotation, Targets: []workflows.TargetReport{ok}}, ""},
		{"rotation failed", workflows.Report{Kind: workflows.KindRotation, RunID: "rotation-x", Targets: []workflows.TargetReport{ok, failed}},
			"1 of 2 regions of rotation rotation-x did not succeed: 222222222222/eu-west-1 failed; there the alias and what was published still name the old key"},
		{"healthy sweep", workflows.Report{Kind: workflows.KindSweep, Keys: []activities.KeyHealth{{Account: "222222222222", Region: "us-east-1"}}}, ""},
		{"sweep with a key not inspected", workflows.Report{Kind: workflows.KindSweep, RunID: "s", Keys: []activities.KeyHealth{{Account: "777777777777", Region: "us-east-1", Error: &activities.Diagnosis{Code: "F7"}}}},
			"sweep s: 1 of 1 keys could not be inspected: 777777777777/us-east-1 F7"},
		{"sweep whose rotation failed", workflows.Report{Kind: workflows.KindSweep, RunID: "s", Targets: []workflows.TargetReport{failed}},
			"sweep s: 1 rotated regions did not succeed: 222222222222/eu-west-1 failed"},
	} {
		err := exitForReport(&tc.r)
		var ee *exitError
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (!errors.As(err, &ee) || ee.code != 1 || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want exit 1 with %q", tc.name, err, tc.want)
		}
	}
}
