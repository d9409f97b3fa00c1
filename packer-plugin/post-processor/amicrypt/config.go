//go:generate packer-sdc mapstructure-to-hcl2 -type Config,Target

package amicrypt

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/common"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	amiconfig "github.com/amicrypt/amicrypt/internal/config"
	"github.com/amicrypt/amicrypt/internal/temporalconn"
)

// Config is the post-processor's configuration.
//
// The targets come from an amicrypt config file (`config`) or are given
// inline (`builder_account` and `target` blocks, with optional defaults);
// one of the two, not both.
type Config struct {
	common.PackerConfig `mapstructure:",squash"`

	// Temporal frontend host:port. Default: the TEMPORAL_ADDRESS environment
	// variable, else 127.0.0.1:7233 (what `amicrypt dev` listens on).
	TemporalAddress string `mapstructure:"temporal_address"`
	// Temporal namespace. Default: TEMPORAL_NAMESPACE, else `default`.
	TemporalNamespace string `mapstructure:"temporal_namespace"`
	// Task queue amicrypt's workers poll. Default: AMICRYPT_TASK_QUEUE, else
	// `amicrypt`.
	TaskQueue string `mapstructure:"task_queue"`
	// API key for Temporal Cloud (or any server accepting API keys); implies
	// TLS. Default: TEMPORAL_API_KEY. Keep it in the environment rather than
	// in the template.
	TemporalAPIKey string `mapstructure:"temporal_api_key"`
	// Connect to Temporal with TLS, verifying the server's certificate.
	// Default: TEMPORAL_TLS, else false.
	TemporalTLS bool `mapstructure:"temporal_tls"`
	// Client certificate file (PEM) for mTLS; implies TLS. Default:
	// TEMPORAL_TLS_CERT.
	TemporalTLSCert string `mapstructure:"temporal_tls_cert"`
	// Client private key file (PEM) for mTLS. Default: TEMPORAL_TLS_KEY.
	TemporalTLSKey string `mapstructure:"temporal_tls_key"`
	// CA certificates (PEM) the server's certificate must chain to; implies
	// TLS. Default: TEMPORAL_TLS_CA, else the system roots.
	TemporalTLSCA string `mapstructure:"temporal_tls_ca"`
	// Name the server's certificate must carry. Default:
	// TEMPORAL_TLS_SERVER_NAME, else the address's host.
	TemporalTLSServerName string `mapstructure:"temporal_tls_server_name"`

	// Path of an amicrypt config file (YAML: builder, defaults, targets; see
	// amicrypt's README). Relative paths are relative to where Packer runs.
	ConfigFile string `mapstructure:"config"`
	// Inline targets: the builder account (12 digits) where the source AMIs
	// live. Required with `target` blocks.
	BuilderAccount string `mapstructure:"builder_account"`
	// Inline targets: a role in the builder account the worker assumes for
	// builder calls; empty: the worker's own credentials.
	BuilderRoleARN string `mapstructure:"builder_role_arn"`
	// Inline targets: the external id given when assuming builder_role_arn.
	BuilderExternalID string `mapstructure:"builder_external_id"`
	// Inline targets: regions every target copies into unless it names its
	// own.
	Regions []string `mapstructure:"regions"`
	// Inline targets: the role assumed in each target account (default
	// amicrypt-target).
	RoleName string `mapstructure:"role_name"`
	// Inline targets: the external id the target roles' trust policies require.
	ExternalID string `mapstructure:"external_id"`
	// Inline targets: the dedicated key's alias in each target (default
	// alias/amicrypt).
	KeyAlias string `mapstructure:"key_alias"`
	// Inline targets: prove each copy boots through an Auto Scaling group
	// (default true).
	BootProof *bool `mapstructure:"boot_proof"`
	// Inline targets: one block per target account.
	Targets []Target `mapstructure:"target"`

	// The unencrypted source AMIs, region to AMI id. Default: the AMIs of the
	// input artifact (amazon-ebs and the other amazon builders); set it to use
	// AMIs built elsewhere (with the null builder, say).
	SourceAMIs map[string]string `mapstructure:"source_amis"`

	// Wait for the run and return its encrypted AMIs (default true). With
	// false the post-processor starts the run and returns at once; its
	// artifact then names the run only.
	Wait *bool `mapstructure:"wait"`
	// Longest wait for the run, e.g. "2h". When it passes the build fails and
	// the run goes on: build again to attach to it, or follow it with
	// `amicrypt status`. With preflight it bounds the plan's wait as well
	// (the build fails and nothing is started). Default: no limit (Ctrl-C
	// cancels the run).
	Timeout time.Duration `mapstructure:"timeout"`
	// When the build fails because targets failed: `any` (default: one failed
	// target fails the build), `all` (only when no target succeeded), `none`
	// (never; failures are reported), a count N (N or more failed targets) or
	// a percentage N% (N% or more of the targets failed).
	FailOn string `mapstructure:"fail_on"`
	// Plan the run first, with reads only (`amicrypt run --preflight`), and
	// start nothing when a target is predicted to fail: the predicted
	// failures are listed and judged by fail_on as failed targets are (the
	// build fails, or goes on with no AMI copied). Default false.
	Preflight bool `mapstructure:"preflight"`
	// With preflight: start the run even when targets are predicted to fail
	// (they are listed first; the run's failures are then judged by
	// fail_on). Default false.
	AllowPredictedFailures bool `mapstructure:"allow_predicted_failures"`

	ctx interpolate.Context
	// run is the amicrypt config, from the file or the inline targets.
	run *amiconfig.Config
	// failOn is FailOn parsed.
	failOn failThreshold
}

// Target is one inline `target` block: a target account and its overrides of
// the top-level defaults.
type Target struct {
	// The target account id (12 digits). Required.
	Account string `mapstructure:"account" required:"true"`
	// A label for reports.
	Name string `mapstructure:"name"`
	// Regions to copy into; default: the top-level `regions`.
	Regions []string `mapstructure:"regions"`
	// Role assumed in the account: arn:aws:iam::<account>:role/<role_name>.
	RoleName string `mapstructure:"role_name"`
	// The role's full ARN instead of role_name.
	RoleARN string `mapstructure:"role_arn"`
	// External id the role's trust policy requires.
	ExternalID string `mapstructure:"external_id"`
	// The dedicated key's alias.
	KeyAlias string `mapstructure:"key_alias"`
	// A key owned by another account (one region's ARN) instead of the alias.
	KeyARN string `mapstructure:"key_arn"`
	// Reconcile the policy of an existing (adopted) key too.
	ManageKeyPolicy *bool `mapstructure:"manage_key_policy"`
	// Give the Auto Scaling service-linked role a KMS grant on an adopted key
	// instead of editing its policy.
	GrantServiceLinkedRole *bool `mapstructure:"grant_service_linked_role"`
	// Use AWSServiceRoleForAutoScaling_<suffix> instead of the default
	// service-linked role.
	ServiceLinkedRoleSuffix string `mapstructure:"service_linked_role_suffix"`
	// Prove the copies boot (default: the top-level boot_proof).
	BootProof *bool `mapstructure:"boot_proof"`
}

// failThreshold says how many failed targets fail the build.
type failThreshold struct {
	kind  string // any | all | none | count | percent
	count int
}

// fails reports whether failed of total targets fail the build.
func (f failThreshold) fails(failed, total int) bool {
	switch f.kind {
	case "none":
		return false
	case "all":
		return failed > 0 && failed == total
	case "count":
		return failed >= f.count
	case "percent":
		return failed > 0 && failed*100 >= f.count*total
	default:
		return failed > 0
	}
}

func (f failThreshold) String() string {
	switch f.kind {
	case "count":
		return strconv.Itoa(f.count)
	case "percent":
		return strconv.Itoa(f.count) + "%"
	case "":
		return "any"
	}
	return f.kind
}

func parseFailOn(s string) (failThreshold, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "", "any":
		return failThreshold{kind: "any"}, nil
	case "all", "none":
		return failThreshold{kind: s}, nil
	}
	kind, num := "count", s
	if strings.HasSuffix(s, "%") {
		kind, num = "percent", strings.TrimSuffix(s, "%")
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || (kind == "percent" && n > 100) {
		return failThreshold{}, fmt.Errorf(`fail_on %q: expected "any", "all", "none", a number of failed targets (1 or more) or a percentage (1%% to 100%%)`, s)
	}
	return failThreshold{kind: kind, count: n}, nil
}

// waits is the value of `wait`, true unless set to false.
func (c *Config) waits() bool { return c.Wait == nil || *c.Wait }

// temporalOptions fills the connection settings left empty from the
// environment, then from the defaults, as the amicrypt CLI does.
func (c *Config) temporalOptions() temporalconn.Options {
	o := temporalconn.Options{
		Address: c.TemporalAddress, Namespace: c.TemporalNamespace, TaskQueue: c.TaskQueue,
		APIKey: c.TemporalAPIKey, TLS: c.TemporalTLS,
		TLSCertFile: c.TemporalTLSCert, TLSKeyFile: c.TemporalTLSKey, TLSCAFile: c.TemporalTLSCA, TLSServerName: c.TemporalTLSServerName,
		Names: temporalconn.Names{
			Address: "temporal_address", TLS: "temporal_tls", APIKey: "temporal_api_key", APIKeyFile: temporalconn.EnvAPIKeyFile,
			TLSFiles:   "temporal_tls_cert, temporal_tls_key, temporal_tls_ca, temporal_tls_server_name",
			ClientCert: "temporal_tls_cert and temporal_tls_key",
		},
	}
	fill := func(v *string, env, def string) {
		if *v == "" {
			*v = os.Getenv(env)
		}
		if *v == "" {
			*v = def
		}
	}
	fill(&o.Address, temporalconn.EnvAddress, temporalconn.DefaultAddress)
	fill(&o.Namespace, temporalconn.EnvNamespace, temporalconn.DefaultNamespace)
	fill(&o.TaskQueue, temporalconn.EnvTaskQueue, temporalconn.DefaultTaskQueue)
	fill(&o.APIKey, temporalconn.EnvAPIKey, "")
	fill(&o.APIKeyFile, temporalconn.EnvAPIKeyFile, "")
	fill(&o.PayloadKeyFile, temporalconn.EnvPayloadKeyFile, "")
	fill(&o.TLSCertFile, temporalconn.EnvTLSCert, "")
	fill(&o.TLSKeyFile, temporalconn.EnvTLSKey, "")
	fill(&o.TLSCAFile, temporalconn.EnvTLSCA, "")
	fill(&o.TLSServerName, temporalconn.EnvTLSServerName, "")
	if !o.TLS {
		o.TLS, _ = strconv.ParseBool(os.Getenv(temporalconn.EnvTLS))
	}
	return o
}

// prepare validates the decoded configuration and resolves the targets. It
// reports every problem at once, Packer style.
func (c *Config) prepare() error {
	var errs *packersdk.MultiError
	add := func(err error) { errs = packersdk.MultiErrorAppend(errs, err) }

	o := c.temporalOptions()
	if _, port, err := net.SplitHostPort(o.Address); err != nil || port == "" {
		add(fmt.Errorf("temporal_address %q is not host:port, e.g. %s", o.Address, temporalconn.DefaultAddress))
	}
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		add(errors.New("temporal_tls_cert and temporal_tls_key go together: give both for mTLS, or neither"))
	}
	if v := os.Getenv(temporalconn.EnvTLS); v != "" && !c.TemporalTLS {
		if _, err := strconv.ParseBool(v); err != nil {
			add(fmt.Errorf("%s=%q is not true or false", temporalconn.EnvTLS, v))
		}
	}
	for _, f := range []struct{ key, path string }{{"temporal_tls_cert", o.TLSCertFile}, {"temporal_tls_key", o.TLSKeyFile}, {"temporal_tls_ca", o.TLSCAFile}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			add(fmt.Errorf("%s: %v", f.key, err))
		}
	}

	ft, err := parseFailOn(c.FailOn)
	if err != nil {
		add(err)
	}
	c.failOn = ft
	if c.Timeout < 0 {
		add(fmt.Errorf("timeout %s is negative", c.Timeout))
	}
	if c.AllowPredictedFailures && !c.Preflight {
		add(errors.New("allow_predicted_failures only applies with preflight = true (the plan run first): set preflight = true, or leave it out"))
	}

	inline := c.BuilderAccount != "" || len(c.Targets) > 0 || len(c.Regions) > 0 || c.BuilderRoleARN != "" ||
		c.BuilderExternalID != "" || c.RoleName != "" || c.ExternalID != "" || c.KeyAlias != "" || c.BootProof != nil
	switch {
	case c.ConfigFile != "" && inline:
		add(errors.New("give either config (an amicrypt config file) or the targets inline (builder_account, target blocks, ...), not both"))
	case c.ConfigFile != "":
		if _, err := os.Stat(c.ConfigFile); err != nil {
			add(fmt.Errorf("config: %w", err))
			break
		}
		cfg, err := amiconfig.Load(c.ConfigFile)
		if err != nil {
			add(fmt.Errorf("config %s is not valid:\n%w", c.ConfigFile, err))
		}
		c.run = cfg
	case len(c.Targets) == 0:
		add(errors.New("no targets: give config (an amicrypt config file) or builder_account and one or more target blocks"))
	default:
		cfg := c.inlineConfig()
		if err := cfg.Validate(); err != nil {
			for _, e := range splitJoined(err) {
				add(fmt.Errorf("%s", inlinePath(e.Error())))
			}
		} else {
			c.run = cfg
		}
	}

	if len(c.SourceAMIs) > 0 {
		flags := make([]string, 0, len(c.SourceAMIs))
		for region, ami := range c.SourceAMIs {
			flags = append(flags, region+"="+ami)
		}
		if _, err := amiconfig.ParseSources(flags); err != nil {
			for _, e := range splitJoined(err) {
				add(fmt.Errorf("source_amis: %s", strings.TrimPrefix(e.Error(), "--source ")))
			}
		} else if c.run != nil {
			if _, _, _, err := c.run.Expand(c.SourceAMIs); err != nil {
				add(fmt.Errorf("source_amis do not serve every target:\n%w", err))
			}
		}
	}

	if errs != nil && len(errs.Errors) > 0 {
		return errs
	}
	return nil
}

// inlineConfig turns the inline settings into an amicrypt config.
func (c *Config) inlineConfig() *amiconfig.Config {
	str := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	boot := func(b *bool) *amiconfig.BootProof {
		if b == nil {
			return nil
		}
		return &amiconfig.BootProof{Enabled: b}
	}
	cfg := &amiconfig.Config{
		Builder: amiconfig.Builder{Account: c.BuilderAccount, RoleARN: c.BuilderRoleARN, ExternalID: c.BuilderExternalID},
		Defaults: amiconfig.TargetSettings{
			Regions: c.Regions, RoleName: str(c.RoleName), ExternalID: str(c.ExternalID), KeyAlias: str(c.KeyAlias), BootProof: boot(c.BootProof),
		},
		Concurrency: amiconfig.Concurrency{PerAccountRegion: amiconfig.DefaultPerAccountRegion, InFlight: amiconfig.DefaultInFlight},
	}
	for _, t := range c.Targets {
		e := amiconfig.TargetEntry{Account: t.Account, Name: t.Name, TargetSettings: amiconfig.TargetSettings{
			Regions: t.Regions, RoleName: str(t.RoleName), RoleARN: str(t.RoleARN), ExternalID: str(t.ExternalID),
			KeyAlias: str(t.KeyAlias), ManageKeyPolicy: t.ManageKeyPolicy, GrantServiceLinkedRole: t.GrantServiceLinkedRole,
			ServiceLinkedRoleSuffix: str(t.ServiceLinkedRoleSuffix), BootProof: boot(t.BootProof),
		}}
		if t.KeyARN != "" {
			e.KeyARN = &amiconfig.KeyARN{ARN: t.KeyARN}
		}
		cfg.Targets = append(cfg.Targets, e)
	}
	return cfg
}

// splitJoined undoes errors.Join, so each problem is its own Packer error.
func splitJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, splitJoined(e)...)
		}
		return out
	}
	return []error{err}
}

// inlinePath renames the config file's paths to the template's: targets[0]
// is the first target block, defaults.x and builder.x are top-level keys.
func inlinePath(msg string) string {
	r := strings.NewReplacer("targets[", "target[", "defaults.boot_proof.enabled", "boot_proof", "defaults.", "",
		"builder.account", "builder_account", "builder.role_arn", "builder_role_arn", "builder.external_id", "builder_external_id",
		"boot_proof.enabled", "boot_proof", "key_arn.", "key_arn ")
	return r.Replace(msg)
}
