package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/config"
	"github.com/amicrypt/amicrypt/internal/sandbox"
	"github.com/amicrypt/amicrypt/internal/sandbox/world"
	"github.com/amicrypt/amicrypt/internal/temporalconn"
	"github.com/amicrypt/amicrypt/worker"
)

// Defaults of 'amicrypt dev'.
const (
	defaultStateDir     = ".state"
	defaultSandboxAddr  = "127.0.0.1:4566"
	defaultPipelineRole = "amicrypt-pipeline"
	// sandboxSecret is the secret access key the dev worker signs with; the
	// sandbox accepts any secret for an account's root user.
	sandboxSecret = "amicrypt-dev"
)

// devOptions configure a local environment: the embedded Temporal server,
// the AWS sandbox and a worker acting in the sandbox's builder account.
type devOptions struct {
	// World is the sandbox's world (world.Default() when nil).
	World *world.World
	// StateDir holds temporal.db and sandbox.json, so runs and AWS state
	// survive a restart; "" keeps both in memory.
	StateDir string
	// SandboxAddr, TemporalAddr and UIAddr are listen addresses; port 0 picks
	// a free one; UIAddr "" runs no UI.
	SandboxAddr  string
	TemporalAddr string
	UIAddr       string
	// Namespace and TaskQueue of the worker (defaults "default", "amicrypt").
	Namespace string
	TaskQueue string
	// BuilderAccount is the account the worker acts in; "" means the world's
	// account named "builder".
	BuilderAccount string
	// PipelineRole is the builder account's role the worker assumes, as it
	// would run in production, when the world has it ("" means
	// amicrypt-pipeline); without it the worker acts as the account's root.
	PipelineRole string
	// Logger receives everyone's logs (the Temporal server's, quietened).
	Logger zerolog.Logger
	// MetricsAddr, when set, serves the worker's Prometheus metrics
	// (amicrypt dev --metrics-addr).
	MetricsAddr string
}

// devEnv is a running local environment; Stop ends it.
type devEnv struct {
	Temporal        EmbeddedTemporal
	Sandbox         *sandbox.Server
	SandboxEndpoint string
	// Client is connected to the embedded server, in Namespace.
	Client    client.Client
	Namespace string
	TaskQueue string
	World     *world.World
	// BuilderAccount is the account the worker acts in, WorkerIdentity the
	// ARN it acts as (from sts:GetCallerIdentity).
	BuilderAccount string
	WorkerIdentity string
	StateDir       string

	worker        sdkworker.Worker
	metrics       *workerMetrics // nil: none served
	stopSandbox   context.CancelFunc
	sandboxDone   chan struct{} // closed when the sandbox stopped serving
	sandboxErr    error         // why, once sandboxDone is closed
	workerFailure chan error
	stopping      chan struct{} // closed by Stop
	failed        chan error
}

// startDev starts the sandbox, the embedded Temporal server and a worker, in
// that order, and stops whatever started if a later step fails. ctx bounds the
// start only; call Stop to stop.
func startDev(ctx context.Context, o devOptions) (*devEnv, error) {
	if startTemporal == nil {
		return nil, errNoEmbeddedTemporal
	}
	if o.World == nil {
		o.World = world.Default()
	}
	if o.Namespace == "" {
		o.Namespace = temporalconn.DefaultNamespace
	}
	if o.TaskQueue == "" {
		o.TaskQueue = temporalconn.DefaultTaskQueue
	}
	if o.PipelineRole == "" {
		o.PipelineRole = defaultPipelineRole
	}
	builder, err := builderAccount(o.World, o.BuilderAccount)
	if err != nil {
		return nil, err
	}
	env := &devEnv{
		Namespace: o.Namespace, TaskQueue: o.TaskQueue, World: o.World, BuilderAccount: builder.ID, StateDir: o.StateDir,
		workerFailure: make(chan error, 1), stopping: make(chan struct{}), failed: make(chan error, 1),
	}
	ok := false
	defer func() {
		if !ok {
			_ = env.Stop()
		}
	}()

	// The AWS sandbox.
	sandboxState := ""
	if o.StateDir != "" {
		if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
			return nil, fmt.Errorf("creating the state directory: %w", err)
		}
		sandboxState = filepath.Join(o.StateDir, "sandbox.json")
	}
	sb, err := sandbox.New(o.World, sandbox.Options{StateFile: sandboxState, Logger: o.Logger.With().Str("component", "sandbox").Logger()})
	if err != nil {
		return nil, fmt.Errorf("starting the AWS sandbox: %w", err)
	}
	ln, err := net.Listen("tcp", o.SandboxAddr)
	if err != nil {
		return nil, fmt.Errorf("the AWS sandbox cannot listen on %s: %w (is another amicrypt dev or sandbox running? pick another --sandbox-addr)", o.SandboxAddr, err)
	}
	env.Sandbox = sb
	env.SandboxEndpoint = "http://" + ln.Addr().String()
	sctx, cancel := context.WithCancel(context.Background())
	env.stopSandbox = cancel
	env.sandboxDone = make(chan struct{})
	go func() {
		env.sandboxErr = sb.Serve(sctx, ln)
		close(env.sandboxDone)
	}()

	// Temporal, with its UI.
	env.Temporal, err = startTemporal(ctx, TemporalOptions{
		StateDir:  o.StateDir,
		Address:   o.TemporalAddr,
		UIAddress: o.UIAddr,
		Namespace: o.Namespace,
		Logger:    o.Logger,
	})
	if err != nil {
		return nil, err
	}
	if env.metrics, err = startMetrics(o.MetricsAddr, o.Logger); err != nil {
		return nil, err
	}
	env.metrics.Metrics().InitRegions(o.World.Regions...)
	env.Client, err = temporalconn.Dial(ctx, temporalconn.Options{
		Address: env.Temporal.FrontendAddress(), Namespace: o.Namespace, TaskQueue: o.TaskQueue,
		MetricsHandler: env.metrics.TemporalHandler(),
	}, o.Logger)
	if err != nil {
		return nil, err
	}

	// The worker, acting in the builder account through the sandbox.
	factory := activities.NewClientFactory(devAWSConfig(o.World, builder, o.PipelineRole, env.SandboxEndpoint), activities.ClientOptions{
		Endpoint:    env.SandboxEndpoint,
		SessionName: "amicrypt-dev",
		Metrics:     env.metrics.Metrics(),
	})
	env.WorkerIdentity, err = callerIdentity(ctx, factory, o.World.Regions[0])
	if err != nil {
		return nil, fmt.Errorf("the dev worker cannot act in the builder account %s through the sandbox: %w", builder.ID, err)
	}
	// A config naming the pipeline role as the builder's role_arn: the role
	// assumes itself per run and step where its trust policy lets it, else
	// the worker's own credentials are used for it, as in production.
	devCfg := devAWSConfig(o.World, builder, o.PipelineRole, env.SandboxEndpoint)
	clients, whyNot := worker.OwnRoleClients(ctx, factory, env.WorkerIdentity, selfAssumer(devCfg, env.SandboxEndpoint))
	if whyNot != "" {
		o.Logger.Debug().Str("why", whyNot).Msg("the worker's role cannot assume itself: calls as that role use the worker's own session")
	}
	acts := activities.New(activities.Config{
		Clients: clients,
		Logger:  o.Logger.With().Str("component", "activities").Logger(),
		// The sandbox's copies and boots take seconds: poll briskly.
		PollInitial: time.Second,
		PollMax:     5 * time.Second,
		Workflows:   worker.TemporalWorkflows(env.Client),
		Metrics:     env.metrics.Metrics(),
	})
	env.worker = worker.New(env.Client, o.TaskQueue, acts, worker.Options{
		Identity: "amicrypt-dev@" + hostname(),
		OnFatalError: func(err error) {
			select {
			case env.workerFailure <- err:
			default:
			}
		},
	})
	if err := env.worker.Start(); err != nil {
		env.worker = nil
		return nil, fmt.Errorf("starting the worker: %w", err)
	}
	go env.watch()
	ok = true
	return env, nil
}

// watch reports on Failed the first failure of the worker or the sandbox
// before Stop.
func (e *devEnv) watch() {
	select {
	case err := <-e.workerFailure:
		e.failed <- fmt.Errorf("the worker stopped: %w", err)
	case <-e.sandboxDone:
		err := e.sandboxErr
		if err == nil {
			err = errors.New("it stopped serving")
		}
		e.failed <- fmt.Errorf("the AWS sandbox failed: %w", err)
	case <-e.stopping:
	}
}

// Failed delivers a failure of the worker or the sandbox while running.
func (e *devEnv) Failed() <-chan error { return e.failed }

// Stop stops the worker, Temporal and the sandbox (which writes its state
// file); it is safe on a partly started environment.
func (e *devEnv) Stop() error {
	select {
	case <-e.stopping:
		return nil // stopped already
	default:
		close(e.stopping)
	}
	var errs []error
	if e.Temporal != nil {
		e.Temporal.Quiet() // the worker's leaving is no news
	}
	if e.worker != nil {
		e.worker.Stop()
		e.worker = nil
	}
	if e.Client != nil {
		e.Client.Close()
		e.Client = nil
	}
	e.metrics.Stop()
	e.metrics = nil
	if e.Temporal != nil {
		if err := e.Temporal.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stopping Temporal: %w", err))
		}
	}
	if e.stopSandbox != nil {
		e.stopSandbox()
		<-e.sandboxDone
		if e.sandboxErr != nil {
			errs = append(errs, fmt.Errorf("stopping the AWS sandbox: %w", e.sandboxErr))
		}
	}
	return errors.Join(errs...)
}

// builderAccount picks the worker's account: the one asked for, or the
// world's account named "builder".
func builderAccount(w *world.World, id string) (*world.Account, error) {
	for i := range w.Accounts {
		a := &w.Accounts[i]
		if (id != "" && a.ID == id) || (id == "" && a.Name == "builder") {
			return a, nil
		}
	}
	if id != "" {
		return nil, usageError("the builder account %s is not in the sandbox's world: add it to the world file (--world) or fix the config's builder account", id)
	}
	return nil, usageError("the world has no account named \"builder\": name the builder account in a --config file, or name one account \"builder\" in the world file")
}

// devAWSConfig is the dev worker's own AWS identity: the builder account's
// root user (any secret works in the sandbox), or its pipeline role assumed
// from there when the world has it, as the worker would run in production.
func devAWSConfig(w *world.World, builder *world.Account, pipelineRole, endpoint string) aws.Config {
	cfg := aws.Config{
		Region:       w.Regions[0],
		Credentials:  credentials.NewStaticCredentialsProvider(builder.ID, sandboxSecret, ""),
		BaseEndpoint: aws.String(endpoint),
	}
	for _, r := range builder.Roles {
		if r.Name == pipelineRole {
			arn := "arn:aws:iam::" + builder.ID + ":role" + rolePath(r.Path) + r.Name
			cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), arn, func(o *stscreds.AssumeRoleOptions) {
				o.RoleSessionName = "amicrypt-dev-worker"
			}))
			break
		}
	}
	return cfg
}

func rolePath(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// selfAssumer tries sts:AssumeRole with cfg's credentials (the worker's own)
// against endpoint ("" for AWS), a 15-minute session it then drops.
func selfAssumer(cfg aws.Config, endpoint string) worker.SelfAssumer {
	return func(ctx context.Context, roleARN, session, sourceIdentity string) error {
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		c := cfg.Copy()
		if endpoint != "" {
			c.BaseEndpoint = aws.String(endpoint)
		}
		_, err := sts.NewFromConfig(c).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String(session),
			SourceIdentity: aws.String(sourceIdentity), DurationSeconds: aws.Int32(900)})
		return err
	}
}

// callerIdentity asks STS who the worker's own credentials are.
func callerIdentity(ctx context.Context, clients activities.Clients, region string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	out, err := clients.STS(activities.Access{Region: region}).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.Arn), nil
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return h
}

type devFlags struct {
	world        string
	config       string
	stateDir     string
	sandboxAddr  string
	temporalAddr string
	uiAddr       string
	namespace    string
	taskQueue    string
	metricsAddr  string
}

func newDevCmd(g *globalFlags) *cobra.Command {
	f := &devFlags{}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run everything locally in one process: Temporal with its web UI, the AWS sandbox and a worker",
		Long: `Run a complete local amicrypt in one process:

  - a Temporal server (SQLite in the state directory) with its web UI,
  - the AWS sandbox (EC2, KMS, IAM, STS, Auto Scaling, SSM) serving a world file,
  - a worker acting in the world's builder account through the sandbox
    (as its amicrypt-pipeline role when the world has one, else as its root).

Then start runs from another shell with 'amicrypt run'. Ctrl-C stops it all;
the state directory keeps Temporal's runs and the sandbox's AWS state, so a
restart picks up where it stopped. Delete the directory to start afresh.`,
		Example: `  amicrypt dev                                   # default world, state in .state/
  amicrypt dev --world org.yaml --config amicrypt.yaml
  amicrypt dev --state-dir '' --temporal-addr 127.0.0.1:0   # in memory, any free port`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			o, err := f.options()
			if err != nil {
				return err
			}
			o.Logger = log
			ctx := cmd.Context()
			env, err := startDev(ctx, o)
			if err != nil {
				return err
			}
			printDevSummary(cmd.OutOrStdout(), env)
			log.Info().Msg("amicrypt dev is running; Ctrl-C stops it")
			var runErr error
			select {
			case <-ctx.Done():
			case runErr = <-env.Failed():
			}
			log.Info().Msg("stopping")
			if err := env.Stop(); err != nil && runErr == nil {
				runErr = err
			}
			return runErr
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.world, "world", "", "the sandbox's world file (YAML); empty: the default world")
	fl.StringVar(&f.config, "config", "", "amicrypt config file; its builder account is the worker's (default: the world's account named \"builder\")")
	fl.StringVar(&f.stateDir, "state-dir", defaultStateDir, "directory keeping Temporal's database and the sandbox's state across restarts; empty: in memory")
	fl.StringVar(&f.sandboxAddr, "sandbox-addr", defaultSandboxAddr, "AWS sandbox listen address")
	fl.StringVar(&f.temporalAddr, "temporal-addr", defaultTemporalAddr, "Temporal frontend (gRPC) listen address")
	fl.StringVar(&f.uiAddr, "ui-addr", defaultUIAddr, "Temporal web UI listen address; empty: no UI")
	fl.StringVar(&f.namespace, "namespace", temporalconn.DefaultNamespace, "Temporal namespace (created if missing)")
	fl.StringVar(&f.taskQueue, "task-queue", temporalconn.DefaultTaskQueue, "task queue the worker polls")
	fl.StringVar(&f.metricsAddr, "metrics-addr", defaultMetricsAddr(), "serve the worker's Prometheus metrics (/metrics) on this address, as 'amicrypt worker --metrics-addr'; empty: off (env "+envMetricsAddr+")")
	return cmd
}

// options checks the flags; its errors are usage errors.
func (f *devFlags) options() (devOptions, error) {
	for _, a := range []struct{ flag, addr string }{
		{"--sandbox-addr", f.sandboxAddr}, {"--temporal-addr", f.temporalAddr}, {"--ui-addr", f.uiAddr},
	} {
		if a.flag == "--ui-addr" && a.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return devOptions{}, usageError("%s %q is not host:port (e.g. 127.0.0.1:7233; port 0 picks a free one)", a.flag, a.addr)
		}
	}
	if f.namespace == "" {
		return devOptions{}, usageError("--namespace is empty")
	}
	if f.taskQueue == "" {
		return devOptions{}, usageError("--task-queue is empty")
	}
	if err := validMetricsAddr(f.metricsAddr); err != nil {
		return devOptions{}, err
	}
	w, err := loadWorld(f.world)
	if err != nil {
		return devOptions{}, err
	}
	o := devOptions{
		World: w, StateDir: f.stateDir,
		SandboxAddr: f.sandboxAddr, TemporalAddr: f.temporalAddr, UIAddr: f.uiAddr,
		Namespace: f.namespace, TaskQueue: f.taskQueue, MetricsAddr: f.metricsAddr,
	}
	if f.config != "" {
		if _, err := os.Stat(f.config); err != nil {
			return devOptions{}, usageError("--config %s: %v", f.config, err)
		}
		cfg, err := config.Load(f.config)
		if err != nil {
			return devOptions{}, usageError("the config is not valid:\n%v", err)
		}
		o.BuilderAccount = cfg.Builder.Account
	}
	if _, err := builderAccount(w, o.BuilderAccount); err != nil {
		return devOptions{}, err
	}
	return o, nil
}

// printDevSummary tells the user where everything is and how to use it.
func printDevSummary(out io.Writer, env *devEnv) {
	fmt.Fprintln(out, "amicrypt dev: Temporal, the AWS sandbox and a worker are running")
	fmt.Fprintf(out, "  %-13s %s  (namespace %s, task queue %s)\n", "Temporal:", env.Temporal.FrontendAddress(), env.Namespace, env.TaskQueue)
	if ui := env.Temporal.UIURL(); ui != "" {
		fmt.Fprintf(out, "  %-13s %s\n", "Temporal UI:", ui)
	}
	fmt.Fprintf(out, "  %-13s %s  (regions %v)\n", "AWS sandbox:", env.SandboxEndpoint, env.World.Regions)
	fmt.Fprintf(out, "  %-13s %s\n", "worker as:", env.WorkerIdentity)
	if env.metrics != nil {
		fmt.Fprintf(out, "  %-13s http://%s/metrics\n", "metrics:", env.metrics.server.Addr())
	}
	if env.StateDir != "" {
		fmt.Fprintf(out, "  %-13s %s  (delete it to start afresh)\n", "state:", env.StateDir)
	} else {
		fmt.Fprintf(out, "  %-13s in memory, gone at exit\n", "state:")
	}
	fmt.Fprintln(out, "\nIn another shell, for amicrypt and the AWS CLI (as the builder account's root user):")
	if env.Temporal.FrontendAddress() != temporalconn.DefaultAddress {
		fmt.Fprintf(out, "  export %s=%s\n", temporalconn.EnvAddress, env.Temporal.FrontendAddress())
	}
	if env.Namespace != temporalconn.DefaultNamespace {
		fmt.Fprintf(out, "  export %s=%s\n", temporalconn.EnvNamespace, env.Namespace)
	}
	if env.TaskQueue != temporalconn.DefaultTaskQueue {
		fmt.Fprintf(out, "  export %s=%s\n", temporalconn.EnvTaskQueue, env.TaskQueue)
	}
	fmt.Fprintf(out, "  export AWS_ENDPOINT_URL=%s AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=x AWS_DEFAULT_REGION=%s\n",
		env.SandboxEndpoint, env.BuilderAccount, env.World.Regions[0])
	fmt.Fprintln(out, "\nCtrl-C stops everything; the state survives a restart.")
}
