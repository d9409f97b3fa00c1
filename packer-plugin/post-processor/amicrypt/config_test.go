package amicrypt

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	amiconfig "github.com/amicrypt/amicrypt/internal/config"
)

// configureHCL decodes an HCL2 post-processor body through the generated
// spec, as Packer does, and configures a post-processor with it.
func configureHCL(t *testing.T, body string) (*PostProcessor, error) {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(body), "test.pkr.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("parsing: %v", diags)
	}
	p := &PostProcessor{}
	val, diags := hcldec.Decode(f.Body, p.ConfigSpec(), nil)
	if diags.HasErrors() {
		t.Fatalf("decoding with the HCL2 spec: %v", diags)
	}
	return p, p.Configure(val)
}

func writeExampleConfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "amicrypt.yaml")
	if err := os.WriteFile(path, amiconfig.Example(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestInlineTargetsDecodeThroughTheHCL2Spec(t *testing.T) {
	for _, env := range []string{"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "AMICRYPT_TASK_QUEUE", "TEMPORAL_API_KEY", "TEMPORAL_TLS", "TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CA", "TEMPORAL_TLS_SERVER_NAME"} {
		t.Setenv(env, "")
	}
	p, err := configureHCL(t, `
temporal_address   = "temporal.example.com:7233"
temporal_namespace = "images"
builder_account    = "111111111111"
builder_role_arn   = "arn:aws:iam::111111111111:role/amicrypt-pipeline"
regions            = ["us-east-1", "eu-west-1"]
external_id        = "amicrypt"
timeout            = "90m"
fail_on            = "50%"
wait               = true
target {
  account = "222222222222"
  name    = "payments-prod"
}
target {
  account    = "444444444444"
  name       = "legacy-batch"
  regions    = ["us-east-1"]
  boot_proof = false
}
`)
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	c := p.config
	if c.Timeout != 90*time.Minute || c.failOn.String() != "50%" || !c.waits() {
		t.Errorf("timeout %s, fail_on %s, wait %v", c.Timeout, c.failOn, c.waits())
	}
	o := c.temporalOptions()
	if o.Address != "temporal.example.com:7233" || o.Namespace != "images" || o.TaskQueue != "amicrypt" {
		t.Errorf("temporal options %+v", o)
	}
	_, _, targets, err := c.run.Expand(map[string]string{"us-east-1": "ami-0b0000000000a0001", "eu-west-1": "ami-0b0000000000e0001"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tg := range targets {
		got = append(got, tg.ID())
	}
	if strings.Join(got, " ") != "222222222222/eu-west-1 222222222222/us-east-1 444444444444/us-east-1" {
		t.Errorf("targets %v", got)
	}
	for _, tg := range targets {
		if tg.ExternalID != "amicrypt" || tg.RoleARN != "arn:aws:iam::"+tg.Account+":role/amicrypt-target" {
			t.Errorf("%s: role %s external id %q", tg.ID(), tg.RoleARN, tg.ExternalID)
		}
		if tg.BootProof.Enabled != (tg.Account == "222222222222") {
			t.Errorf("%s: boot proof %v", tg.ID(), tg.BootProof.Enabled)
		}
	}
}

func TestConfigFileAndEnvironmentFallbacks(t *testing.T) {
	t.Setenv("TEMPORAL_ADDRESS", "10.0.0.1:7233")
	t.Setenv("TEMPORAL_NAMESPACE", "from-env")
	t.Setenv("AMICRYPT_TASK_QUEUE", "images")
	t.Setenv("TEMPORAL_API_KEY", "secret")
	path := writeExampleConfig(t)
	p, err := configureHCL(t, `config = "`+path+`"`)
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	o := p.config.temporalOptions()
	if o.Address != "10.0.0.1:7233" || o.Namespace != "from-env" || o.TaskQueue != "images" || o.APIKey != "secret" || !o.UsesTLS() {
		t.Errorf("options %+v", o)
	}
	if !p.config.waits() || p.config.failOn.String() != "any" || p.config.run == nil || len(p.config.run.Targets) != 3 {
		t.Errorf("defaults: wait %v fail_on %s run %v", p.config.waits(), p.config.failOn, p.config.run)
	}
	// The template beats the environment.
	p, err = configureHCL(t, `
config           = "`+path+`"
temporal_address = "127.0.0.1:7233"
wait             = false`)
	if err != nil {
		t.Fatal(err)
	}
	if p.config.temporalOptions().Address != "127.0.0.1:7233" || p.config.waits() {
		t.Errorf("template values lost: %+v", p.config)
	}
}

// Every problem is reported at once, each as its own Packer error.
func TestValidationReportsEveryProblemAtOnce(t *testing.T) {
	t.Setenv("TEMPORAL_ADDRESS", "")
	t.Setenv("TEMPORAL_TLS_CERT", "")
	t.Setenv("TEMPORAL_TLS_KEY", "")
	_, err := configureHCL(t, `
temporal_address  = "no-port"
temporal_tls_cert = "/nonexistent/cert.pem"
fail_on           = "most"
timeout           = "-5m"
builder_account   = "11"
regions           = ["us-est-1"]
source_amis       = { "us-east-1" = "ami-xyz" }
target {
  account = "222222222222"
}
target {
  account = "222222222222"
}
`)
	if err == nil {
		t.Fatal("Configure accepted a bad config")
	}
	me, ok := err.(*packersdk.MultiError)
	if !ok {
		t.Fatalf("want a *packersdk.MultiError, got %T: %v", err, err)
	}
	text := err.Error()
	for _, want := range []string{
		`temporal_address "no-port" is not host:port`,
		"temporal_tls_cert and temporal_tls_key go together",
		"temporal_tls_cert: stat /nonexistent/cert.pem",
		`fail_on "most"`,
		"timeout -5m0s is negative",
		`builder_account: "11" is not a 12-digit AWS account id`,
		"us-est-1",
		"target[1].account",
		"source_amis",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in:\n%s", want, text)
		}
	}
	if len(me.Errors) < 8 {
		t.Errorf("want each problem as its own error, got %d:\n%s", len(me.Errors), text)
	}
}

func TestTargetsMustComeFromOnePlace(t *testing.T) {
	path := writeExampleConfig(t)
	for name, body := range map[string]string{
		"neither":             `wait = true`,
		"both":                `config = "` + path + `"` + "\nbuilder_account = \"111111111111\"\ntarget {\n account = \"222222222222\"\n}",
		"missing config file": `config = "/nonexistent/amicrypt.yaml"`,
		"bad config file":     `config = "` + writeFile(t, "builder: {account: \"1\"}\n") + `"`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := configureHCL(t, body)
			if err == nil {
				t.Fatal("accepted")
			}
			t.Log(err)
		})
	}
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSourceAMIsMustServeTheTargets(t *testing.T) {
	path := writeExampleConfig(t)
	// The example's targets copy into us-east-1 and eu-west-1; a source in
	// another partition serves neither.
	_, err := configureHCL(t, `
config      = "`+path+`"
source_amis = { "cn-north-1" = "ami-0123456789abcdef0" }`)
	if err == nil || !strings.Contains(err.Error(), "source_amis do not serve every target") {
		t.Fatalf("want the source problem, got %v", err)
	}
	p, err := configureHCL(t, `
config      = "`+path+`"
source_amis = { "us-east-1" = "ami-0b0000000000a0001" }`)
	if err != nil {
		t.Fatal(err)
	}
	if p.config.SourceAMIs["us-east-1"] != "ami-0b0000000000a0001" {
		t.Errorf("source_amis %v", p.config.SourceAMIs)
	}
}

func TestFailOn(t *testing.T) {
	for _, c := range []struct {
		failOn        string
		failed, total int
		fails         bool
	}{
		{"", 0, 5, false}, {"", 1, 5, true}, {"any", 1, 5, true},
		{"none", 5, 5, false},
		{"all", 4, 5, false}, {"all", 5, 5, true}, {"all", 0, 0, false},
		{"2", 1, 5, false}, {"2", 2, 5, true},
		{"50%", 2, 5, false}, {"50%", 3, 5, true}, {"100%", 4, 5, false}, {"100%", 5, 5, true},
	} {
		ft, err := parseFailOn(c.failOn)
		if err != nil {
			t.Fatalf("%q: %v", c.failOn, err)
		}
		if got := ft.fails(c.failed, c.total); got != c.fails {
			t.Errorf("fail_on %q with %d of %d failed: fails = %v, want %v", c.failOn, c.failed, c.total, got, c.fails)
		}
	}
	for _, bad := range []string{"0", "-1", "101%", "0%", "some", "1.5"} {
		if _, err := parseFailOn(bad); err == nil {
			t.Errorf("fail_on %q accepted", bad)
		}
	}
}

func TestPreflightSettings(t *testing.T) {
	path := writeExampleConfig(t)
	p, err := configureHCL(t, `config = "`+path+`"`)
	if err != nil {
		t.Fatal(err)
	}
	if p.config.Preflight || p.config.AllowPredictedFailures {
		t.Errorf("preflight %v, allow_predicted_failures %v: want both off by default", p.config.Preflight, p.config.AllowPredictedFailures)
	}
	for _, body := range []string{"preflight = true", "preflight = true\nallow_predicted_failures = true"} {
		p, err := configureHCL(t, `config = "`+path+`"`+"\n"+body)
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if !p.config.Preflight || p.config.AllowPredictedFailures != strings.Contains(body, "allow") {
			t.Errorf("%s: preflight %v, allow_predicted_failures %v", body, p.config.Preflight, p.config.AllowPredictedFailures)
		}
	}
	// As `amicrypt run --allow-predicted-failures` without --preflight is
	// refused, so is the setting without preflight.
	for _, body := range []string{"allow_predicted_failures = true", "preflight = false\nallow_predicted_failures = true"} {
		_, err := configureHCL(t, `config = "`+path+`"`+"\n"+body)
		if err == nil || !strings.Contains(err.Error(), "allow_predicted_failures only applies with preflight = true") {
			t.Errorf("%s: want the preflight error, got %v", body, err)
		}
	}
}
