package cli

import (
	"fmt"
	"net/url"
	"os"
	"runtime/debug"
	"strings"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/config"
	"github.com/amicrypt/amicrypt/internal/temporalconn"
	"github.com/amicrypt/amicrypt/worker"
)

// WorkerGCPercent is the worker's garbage-collection target (Go's GOGC, 100
// by default) unless the environment sets GOGC. A worker mostly waits: a
// thousand activities polling copies and boot proofs hold a small live heap
// (about 70 MB) and make short-lived garbage (requests, responses, payloads)
// that Go's default lets grow to as much again. Collecting at half the live
// heap kept a worker running 1,000 targets at a peak of 275 MB instead of
// 330 MB, for about 5% more of its CPU (bench/pipeline, README "Figures").
const WorkerGCPercent = 50

// workerGC sets WorkerGCPercent unless getenv("GOGC") is set (Go applied it
// at start); it says which target it set.
func workerGC(getenv func(string) string) (int, bool) {
	if getenv("GOGC") != "" {
		return 0, false
	}
	debug.SetGCPercent(WorkerGCPercent)
	return WorkerGCPercent, true
}

type workerFlags struct {
	conn          temporalconn.Options
	endpoint      string
	maxActivities int
	identity      string
	debugAddr     string
	allowAccounts string
	allowOrg      string
	metricsAddr   string
}

func newWorkerCmd(g *globalFlags) *cobra.Command {
	f := &workerFlags{}
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run amicrypt's Temporal worker: the workflows and every AWS call of the pipeline",
		Long: `Run the worker that executes amicrypt's workflows and activities, until Ctrl-C
(or SIGTERM, as Kubernetes sends it).

AWS credentials come from the SDK's default chain: environment variables,
shared config and credentials files (AWS_PROFILE), web identity (EKS IRSA) or
the instance role. They are the pipeline's own identity in the builder
account; every target is reached by assuming the target role it names.

--aws-endpoint-url sends every AWS call to one address, e.g. the AWS sandbox
('amicrypt sandbox', or use 'amicrypt dev', which runs a worker itself).

--metrics-addr serves Prometheus metrics at /metrics: amicrypt's own
(amicrypt_*), the Temporal SDK's (temporal_*) and the process's;
deploy/grafana/amicrypt.json is a dashboard over them.

Memory: the worker collects garbage once its heap grows by half (GOGC=50;
a GOGC or GOMEMLIMIT in the environment is honoured): about 275 MB at the
peak of 1,000 targets in flight.

The namespace must have amicrypt's search attributes (AmicryptRun,
AmicryptAccount, AmicryptRegion, AmicryptStep, AmicryptStatus,
AmicryptDiagnosis, all Keyword), which the workflows set and 'amicrypt list'
queries: the worker refuses to start without them, printing the
'temporal operator search-attribute create' (or, on Temporal Cloud, 'tcld')
command that creates them; 'amicrypt dev' creates them on its own server.`,
		Example: `  amicrypt worker                                        # Temporal on 127.0.0.1:7233
  amicrypt worker --temporal-address ns.acct.tmprl.cloud:7233 --namespace ns.acct \
    --temporal-api-key-file /run/secrets/temporal-api-key
  AWS_ACCESS_KEY_ID=111111111111 AWS_SECRET_ACCESS_KEY=x AWS_REGION=us-east-1 \
    amicrypt worker --aws-endpoint-url http://127.0.0.1:4566`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if err := f.validate(); err != nil {
				return err
			}
			if gc, ok := workerGC(os.Getenv); ok {
				log.Debug().Int("gc_percent", gc).Msg("garbage collection at this heap growth (GOGC overrides it)")
			}
			ctx := cmd.Context()
			if f.debugAddr != "" {
				stop, err := serveDebug(f.debugAddr)
				if err != nil {
					return err
				}
				defer stop()
				log.Info().Str("addr", f.debugAddr).Msg("Go profiles at /debug/pprof/")
			}

			wm, err := startMetrics(f.metricsAddr, log)
			if err != nil {
				return err
			}
			defer wm.Stop()
			f.conn.MetricsHandler = wm.TemporalHandler()

			c, err := temporalconn.Dial(ctx, f.conn, log)
			if err != nil {
				return err
			}
			defer c.Close()
			if err := checkSearchAttributes(ctx, c, f.conn, log); err != nil {
				return err
			}

			awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithCredentialsCacheOptions(func(o *aws.CredentialsCacheOptions) {
				o.ExpiryWindow = activities.CredentialsExpiryWindow
			}))
			if err != nil {
				return fmt.Errorf("loading the AWS configuration (environment, AWS_PROFILE, shared files): %w", err)
			}
			var clients activities.Clients = activities.NewClientFactory(awsCfg, activities.ClientOptions{Endpoint: f.endpoint, Metrics: wm.Metrics()})
			// Who the worker is in AWS, logged so a wrong profile shows at once;
			// not fatal, as credentials may become valid later.
			region := awsCfg.Region
			if region == "" {
				region = "us-east-1" // STS answers in every region; targets name their own
			}
			wm.Metrics().InitRegions(region)
			if arn, err := callerIdentity(ctx, clients, region); err != nil {
				log.Warn().Err(err).Msg("the worker's AWS credentials do not work yet: every AWS call will fail until they do")
			} else {
				log.Info().Str("identity", arn).Msg("AWS credentials")
				// The config may name the role the worker runs as (the builder's
				// role_arn): the role assumes itself per run and step where its
				// trust policy lets it (deploy/'s does), else the worker's own
				// credentials are used for it.
				var whyNot string
				clients, whyNot = worker.OwnRoleClients(ctx, clients, arn, selfAssumer(awsCfg, f.endpoint))
				if whyNot != "" {
					log.Warn().Str("why", whyNot).Msg("the worker's role cannot assume itself: the builder's shares are made in the worker's own session, without the run's name, operator or session policy (deploy/cloudformation/builder-role.yaml's trust policy lets it)")
				}
			}

			allowed, err := parseAllowAccounts(f.allowAccounts)
			if err != nil {
				return usageError("%v", err)
			}
			org, err := parseAllowOrganization(f.allowOrg)
			if err != nil {
				return usageError("%v", err)
			}
			acts := activities.New(activities.Config{
				Clients:           clients,
				Logger:            log.With().Str("component", "activities").Logger(),
				Workflows:         worker.TemporalWorkflows(c),
				AllowAccounts:     allowed,
				AllowOrganization: org,
				Metrics:           wm.Metrics(),
			})
			switch {
			case len(allowed) > 0 && org != "":
				log.Info().Int("accounts", len(allowed)).Str("organization", org).Msg("serving only the accounts of --allow-accounts and those of --allow-organization")
			case len(allowed) > 0:
				log.Info().Int("accounts", len(allowed)).Msg("serving only the accounts of --allow-accounts")
			case org != "":
				log.Info().Str("organization", org).Msg("serving only the accounts of --allow-organization (asked as each target's role: organizations:DescribeOrganization)")
			}
			fatal := make(chan error, 1)
			w := worker.New(c, f.conn.TaskQueue, acts, worker.Options{
				MaxConcurrentActivities: f.maxActivities,
				Identity:                f.identity,
				OnFatalError: func(err error) {
					select {
					case fatal <- err:
					default:
					}
				},
			})
			if err := w.Start(); err != nil {
				return fmt.Errorf("starting the worker on task queue %s: %w", f.conn.TaskQueue, err)
			}
			ev := log.Info().Str("temporal", f.conn.Address).Str("namespace", f.conn.Namespace).Str("task_queue", f.conn.TaskQueue)
			if f.endpoint != "" {
				ev = ev.Str("aws_endpoint", f.endpoint)
			}
			ev.Msg("worker running; Ctrl-C stops it")
			var runErr error
			select {
			case <-ctx.Done():
				log.Info().Msg("stopping: running activities get a moment to finish")
			case err := <-fatal:
				runErr = fmt.Errorf("the worker stopped: %w", err)
			}
			w.Stop()
			return runErr
		},
	}
	f.conn.BindFlags(cmd.Flags())
	cmd.Flags().StringVar(&f.endpoint, "aws-endpoint-url", os.Getenv("AWS_ENDPOINT_URL"), "send every AWS call to this URL, e.g. the AWS sandbox (env AWS_ENDPOINT_URL)")
	cmd.Flags().IntVar(&f.maxActivities, "max-concurrent-activities", worker.DefaultMaxConcurrentActivities, "activities running at once; a copy or boot proof being waited for holds one")
	cmd.Flags().StringVar(&f.identity, "identity", "", "worker identity shown in Temporal (default pid@host)")
	cmd.Flags().StringVar(&f.allowAccounts, "allow-accounts", os.Getenv(envAllowAccounts),
		"the only account ids this worker acts in or shares the builder's images with, whatever a run names: ID,ID,... or @FILE (ids separated by commas, spaces or lines; # comments); empty: every account (env "+envAllowAccounts+")")
	cmd.Flags().StringVar(&f.allowOrg, "allow-organization", os.Getenv(envAllowOrganization),
		"serve the accounts of this AWS organization (o-...), each verified as its own target role with organizations:DescribeOrganization; with --allow-accounts, an account either allows is served (env "+envAllowOrganization+")")
	cmd.Flags().StringVar(&f.metricsAddr, "metrics-addr", defaultMetricsAddr(),
		"serve Prometheus metrics (/metrics: amicrypt_*, the Temporal SDK's temporal_*, go_*, process_*) on this address, e.g. :9464; empty: off (env "+envMetricsAddr+")")
	cmd.Flags().StringVar(&f.debugAddr, "debug-addr", "", "serve Go's profiles (/debug/pprof/) on this address, e.g. 127.0.0.1:6060; never on a public interface")
	return cmd
}

// envAllowAccounts is --allow-accounts' environment variable.
const envAllowAccounts = "AMICRYPT_ALLOW_ACCOUNTS"

// envAllowOrganization is --allow-organization's environment variable.
const envAllowOrganization = "AMICRYPT_ALLOW_ORGANIZATION"

// parseAllowOrganization reads --allow-organization: "" (none) or an
// organization id.
func parseAllowOrganization(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v != "" && !config.IsOrganizationID(v) {
		return "", fmt.Errorf("--allow-organization %q is not an AWS Organizations id (%s, e.g. o-a1b2c3d4e5; aws organizations describe-organization shows yours)", v, activities.OrganizationIDPattern)
	}
	return v, nil
}

// parseAllowAccounts reads --allow-accounts: a list, or @FILE.
func parseAllowAccounts(v string) ([]string, error) {
	if v == "" {
		return nil, nil
	}
	text, where := v, "--allow-accounts"
	if file, ok := strings.CutPrefix(v, "@"); ok {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--allow-accounts @%s: %w", file, err)
		}
		text, where = string(b), "--allow-accounts @"+file
	}
	var ids []string
	for n, line := range strings.Split(text, "\n") {
		line, _, _ = strings.Cut(line, "#")
		for _, id := range strings.FieldsFunc(line, func(r rune) bool { return r == ',' || unicode.IsSpace(r) }) {
			if !config.IsAccountID(id) {
				return nil, fmt.Errorf("%s: line %d: %q is not a 12-digit account id", where, n+1, id)
			}
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s names no account: give account ids, or leave it empty to serve every account", where)
	}
	return ids, nil
}

func (f *workerFlags) validate() error {
	if _, err := parseAllowAccounts(f.allowAccounts); err != nil {
		return usageError("%v", err)
	}
	if _, err := parseAllowOrganization(f.allowOrg); err != nil {
		return usageError("%v", err)
	}
	if err := f.conn.Validate(); err != nil {
		return usageError("%v", err)
	}
	if f.endpoint != "" {
		u, err := url.Parse(f.endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usageError("--aws-endpoint-url %q is not an http(s) URL, e.g. http://127.0.0.1:4566", f.endpoint)
		}
	}
	if err := validMetricsAddr(f.metricsAddr); err != nil {
		return err
	}
	if f.maxActivities < 1 {
		return usageError("--max-concurrent-activities must be at least 1, not %d", f.maxActivities)
	}
	return nil
}
