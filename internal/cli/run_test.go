package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amicrypt/amicrypt/internal/config"
)

// TestRunRefusesBadInputBeforeContactingAnything: every case is refused with
// exit 2 and its message, before any connection: the Temporal address given is
// one nothing listens on, so a run that got that far would fail differently.
func TestRunRefusesBadInputBeforeContactingAnything(t *testing.T) {
	dir := t.TempDir()
	good := string(config.Example())
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	goodPath := write("good.yaml", good)
	src := []string{"--source", "us-east-1=ami-0b0000000000a0001", "--source", "eu-west-1=ami-0b0000000000e0001"}
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"no config", append([]string{"run"}, src...), []string{"--config is required"}},
		{"cancel without a run", []string{"cancel"}, []string{"RUN"}},
		{"cancel with no wait", []string{"cancel", "3f2a9c1b7d4e", "--wait", "0s"}, []string{"--wait must be positive", "nothing was cancelled"}},
		{"no source", []string{"run", "--config", goodPath}, []string{"--source REGION=AMI is required"}},
		{"missing file", append([]string{"run", "--config", filepath.Join(dir, "nope.yaml")}, src...), []string{"nope.yaml", "no such file"}},
		{"malformed source", []string{"run", "--config", goodPath, "--source", "us-east-1"}, []string{"us-east-1"}},
		{"malformed AMI id", []string{"run", "--config", goodPath, "--source", "us-east-1=ami-XYZ", "--source", "eu-west-1=ami-0b0000000000e0001"}, []string{"ami-XYZ"}},
		{"duplicate source region", []string{"run", "--config", goodPath, "--source", "us-east-1=ami-0b0000000000a0001", "--source", "us-east-1=ami-0b0000000000a0002"}, []string{"us-east-1"}},
		{"unknown key", append([]string{"run", "--config", write("unknown.yaml", strings.Replace(good, "targets:", "colour: blue\ntargets:", 1))}, src...), []string{"unknown.yaml:", "colour"}},
		{"short account id", append([]string{"run", "--config", write("short.yaml", strings.Replace(good, `"222222222222"`, `"22222"`, 1))}, src...), []string{"short.yaml:", "22222"}},
		{"duplicate target", append([]string{"run", "--config", write("dup.yaml", good+"  - account: \"222222222222\"\n")}, src...), []string{"dup.yaml:", "222222222222"}},
		{"alias without alias/", append([]string{"run", "--config", write("alias.yaml", strings.Replace(good, "key_alias: alias/amicrypt", "key_alias: amicrypt", 1))}, src...), []string{"alias.yaml:", "alias/"}},
		{"bad region", append([]string{"run", "--config", write("region.yaml", strings.Replace(good, "us-east-1, eu-west-1", "us-east-1, eu-wset-1", 1))}, src...), []string{"region.yaml:", "eu-wset-1"}},
		{"no targets", append([]string{"run", "--config", write("none.yaml", good[:strings.Index(good, "targets:")]+"targets: []\n")}, src...), []string{"none.yaml:", "target"}},
		{"region without a source", []string{"run", "--config", goodPath, "--source", "cn-north-1=ami-0b0000000000a0001"}, []string{"cn-north-1"}},
		{"empty file", append([]string{"run", "--config", write("empty.yaml", "")}, src...), []string{"empty.yaml"}},
		{"not YAML", append([]string{"run", "--config", write("broken.yaml", "builder: [unclosed\n")}, src...), []string{"broken.yaml:"}},
		{"extra argument", append([]string{"run", "--config", goodPath, "leftover"}, src...), []string{"leftover"}},
		{"replay without a run", []string{"replay"}, []string{"RUN"}},
		{"replay with a bad account", []string{"replay", "abc", "--account", "12"}, []string{"12", "12-digit"}},
		{"status without a run", []string{"status"}, []string{"RUN"}},
		{"allow without preflight", append([]string{"run", "--config", goodPath, "--allow-predicted-failures"}, src...), []string{"--preflight"}},
		// plan takes run's input, refused the same way.
		{"plan without config", append([]string{"plan"}, src...), []string{"--config is required"}},
		{"plan without source", []string{"plan", "--config", goodPath}, []string{"--source REGION=AMI is required"}},
		{"plan with a bad config", append([]string{"plan", "--config", write("plan-bad.yaml", strings.Replace(good, `"222222222222"`, `"22222"`, 1))}, src...), []string{"plan-bad.yaml:", "22222"}},
		{"plan of a malformed account", append([]string{"plan", "--config", goodPath, "--target-account", "12"}, src...), []string{"12", "12-digit"}},
		{"plan of an account with no target", append([]string{"plan", "--config", goodPath, "--target-account", "999999999999"}, src...), []string{"999999999999"}},
		{"launch principal not a role", append([]string{"plan", "--config", write("lp.yaml", strings.Replace(good, "targets:", "targets:", 1)+"    launch_principals: [arn:aws:iam::222222222222:user/bob]\n")}, src...), []string{"lp.yaml:", "launch_principals", "user/bob"}},
		// --operator becomes every role session's SourceIdentity: AWS's rule for one.
		{"operator too short", append([]string{"run", "--config", goodPath, "--operator", "a"}, src...), []string{"--operator", `"a"`, "2 to 64", "nothing was started"}},
		{"operator with a space", append([]string{"run", "--config", goodPath, "--operator", "jane doe"}, src...), []string{"--operator", `"jane doe"`, "_+=,.@-"}},
		{"operator too long", append([]string{"run", "--config", goodPath, "--operator", strings.Repeat("x", 65)}, src...), []string{"--operator", "2 to 64"}},
		{"operator reserved by AWS", append([]string{"plan", "--config", goodPath, "--operator", "aws:alice"}, src...), []string{"--operator", "aws:"}},
		{"replay by a bad operator", []string{"replay", "abc", "--operator", "jane/doe"}, []string{"--operator", "jane/doe"}},
		{"rotate by a bad operator", []string{"rotate", "--config", goodPath, "--account", "222222222222", "--reason", "leaked", "--operator", "DOMAIN\\jane"}, []string{"--operator", "nothing was started"}},
		{"sweep by a bad operator", []string{"sweep", "--config", goodPath, "--operator", "a"}, []string{"--operator", "2 to 64"}},
		{"schedule by a bad operator", []string{"schedule", "create", "--config", goodPath, "--operator", "aws:x"}, []string{"--operator", "aws:"}},
		// list asks visibility only what its search attributes can hold.
		{"list without a run", []string{"list", "--status", "failed"}, []string{"--run is required"}},
		{"list of an unknown status", []string{"list", "--run", "3f2a9c1b7d4e", "--status", "broken"}, []string{`--status "broken"`, "pending, running, succeeded, failed, cancelled"}},
		{"list of a bad account", []string{"list", "--run", "3f2a9c1b7d4e", "--account", "12"}, []string{`--account "12"`, "12-digit"}},
		{"list of a bad region", []string{"list", "--run", "3f2a9c1b7d4e", "--region", "useast1"}, []string{`--region "useast1"`}},
		{"list of an unknown diagnosis", []string{"list", "--run", "3f2a9c1b7d4e", "--diagnosis", "F9"}, []string{`--diagnosis "F9"`, "F1, F2"}},
		{"list of a diagnosis not failed", []string{"list", "--run", "3f2a9c1b7d4e", "--diagnosis", "f2", "--status", "succeeded"}, []string{"--diagnosis F2 with --status succeeded", "only failed targets"}},
		{"list of a run id with a quote", []string{"list", "--run", "x' OR 'a' = 'a"}, []string{"is not a run id"}},
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
