// Package devserver runs a Temporal server inside the amicrypt process, for
// `amicrypt dev` and `amicrypt demo`: every service (frontend, history,
// matching, worker) on local ports, persistence in one SQLite file that
// survives restarts, and the Temporal web UI. Its namespace has amicrypt's
// search attributes (workflows.SearchAttributes), which amicrypt's workflows
// set and `amicrypt list` queries.
//
// Building it links go.temporal.io/server (minutes cold); keep the packages
// importing this one few.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/amicrypt/amicrypt/workflows"
)

// Defaults of Options.
const (
	DefaultAddress   = "127.0.0.1:7233"
	DefaultUIAddress = "127.0.0.1:8233"
	DefaultNamespace = "default"
	// DefaultRetention keeps closed runs for a month: long enough that a dev
	// environment left for a while still shows what it did.
	DefaultRetention = 30 * 24 * time.Hour
	// DatabaseFile is the SQLite file's name inside StateDir.
	DatabaseFile = "temporal.db"
)

const clusterName = "active"

// Options configure the dev server.
type Options struct {
	// StateDir holds the SQLite database (StateDir/temporal.db), created if
	// missing; "" keeps everything in memory, gone at Stop.
	StateDir string
	// Address is the frontend's gRPC ip:port; "" means DefaultAddress, port 0
	// picks a free port (see Server.FrontendAddress).
	Address string
	// UIAddress is the web UI's ip:port; "" disables the UI, port 0 picks a
	// free port. The CLI's default is DefaultUIAddress.
	UIAddress string
	// Namespace is created on first start if missing, with amicrypt's
	// search attributes (given to one that lacks them); "" means
	// DefaultNamespace.
	Namespace string
	// Retention of closed workflow runs in a namespace this server creates;
	// 0 means DefaultRetention. It does not change an existing namespace.
	Retention time.Duration
	// Logger receives the server's own log, quietened: its errors at warn, its
	// warnings at debug, its info at trace.
	Logger zerolog.Logger
}

// Server is a running dev server.
type Server struct {
	frontend endpoint
	ui       endpoint
	uiOn     bool
	dbFile   string
	temporal temporal.Server
	uiServer *uiserver.Server
	log      serverLog
	stopOnce sync.Once
	stopErr  error
}

// FrontendAddress is the ip:port SDK clients dial.
func (s *Server) FrontendAddress() string { return s.frontend.String() }

// UIAddress is the web UI's ip:port, or "" when the UI is off.
func (s *Server) UIAddress() string {
	if !s.uiOn {
		return ""
	}
	return s.ui.String()
}

// UIURL is the web UI's URL, or "" when the UI is off.
func (s *Server) UIURL() string {
	if !s.uiOn {
		return ""
	}
	return "http://" + s.ui.String()
}

// DatabaseFile is the SQLite file holding the state, or "" in memory.
func (s *Server) DatabaseFile() string { return s.dbFile }

// Start starts the server and returns once the frontend accepts calls and
// the UI (if on) serves. ctx bounds the start only; call Stop to stop.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Address == "" {
		o.Address = DefaultAddress
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	frontend, err := parseEndpoint("the Temporal address", o.Address)
	if err != nil {
		return nil, err
	}
	s := &Server{frontend: frontend, log: newServerLog(o.Logger)}
	// The other services listen on the frontend's IP, on ports of their own;
	// static membership (below) means no gossip port is needed.
	history, matching, worker := endpoint{ip: frontend.ip}, endpoint{ip: frontend.ip}, endpoint{ip: frontend.ip}
	ports := []*endpoint{&s.frontend, &history, &matching, &worker}
	if o.UIAddress != "" {
		if s.ui, err = parseEndpoint("the UI address", o.UIAddress); err != nil {
			return nil, err
		}
		s.uiOn = true
		ports = append(ports, &s.ui)
	}
	if err := reservePorts(ports...); err != nil {
		return nil, err
	}

	sqlConf, err := s.prepareDatabase(o)
	if err != nil {
		return nil, err
	}
	conf := s.serverConfig(sqlConf, visibilityDatabase(sqlConf), history, matching, worker)
	srv, err := temporal.NewServer(
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(map[primitives.ServiceName]static.Hosts{
			primitives.FrontendService: static.SingleLocalHost(s.frontend.String()),
			primitives.HistoryService:  static.SingleLocalHost(history.String()),
			primitives.MatchingService: static.SingleLocalHost(matching.String()),
			primitives.WorkerService:   static.SingleLocalHost(worker.String()),
		}),
		temporal.WithLogger(s.log),
		temporal.WithAuthorizer(authorization.NewNoopAuthorizer()),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return authorization.NewNoopClaimMapper() }),
		temporal.WithDynamicConfigClient(dynamicConfig()),
	)
	if err != nil {
		return nil, fmt.Errorf("configuring the embedded Temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("starting the embedded Temporal server on %s: %w", s.frontend, err)
	}
	s.temporal = srv
	if err := s.registerSearchAttributes(ctx, o.Namespace); err != nil {
		_ = s.Stop()
		return nil, err
	}

	if s.uiOn {
		if err := s.startUI(ctx, o.Namespace); err != nil {
			_ = s.Stop()
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

// Quiet demotes the server's errors to debug from now on. Call it before
// stopping the server's clients (workers): the server reports their leaving,
// and its own shutdown, as errors. Stop calls it too.
func (s *Server) Quiet() { s.log.stopping.Store(true) }

// Stop stops the UI and the server; it is safe to call more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.Quiet()
		if s.uiServer != nil {
			s.uiServer.Stop()
		}
		if s.temporal != nil {
			s.stopErr = s.temporal.Stop()
		}
	})
	return s.stopErr
}

// prepareDatabase returns the SQLite persistence config, creating the schema
// in a new database file and the namespace when missing.
func (s *Server) prepareDatabase(o Options) (*config.SQL, error) {
	conf := &config.SQL{PluginName: sqliteplugin.PluginName}
	if o.StateDir == "" {
		// Shared cache keeps one in-memory database across the services'
		// connections; a unique name keeps two servers in a process apart.
		conf.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
		conf.DatabaseName = "amicrypt-dev-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	} else {
		if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
			return nil, fmt.Errorf("creating the state directory: %w", err)
		}
		s.dbFile = filepath.Join(o.StateDir, DatabaseFile)
		conf.ConnectAttributes = map[string]string{"mode": "rwc"}
		conf.DatabaseName = s.dbFile
		switch _, err := os.Stat(s.dbFile); {
		case errors.Is(err, os.ErrNotExist):
			if err := sqliteschema.SetupSchema(conf); err != nil {
				_ = os.Remove(s.dbFile) // a half-made schema would fail every later start
				return nil, fmt.Errorf("creating the Temporal schema in %s: %w", s.dbFile, err)
			}
		case err != nil:
			return nil, fmt.Errorf("the Temporal database: %w", err)
		}
	}
	ns, err := sqliteschema.NewNamespaceConfig(clusterName, o.Namespace, false, workflows.SearchAttributeTypes())
	if err != nil {
		return nil, fmt.Errorf("namespace %q: %w", o.Namespace, err)
	}
	ns.Detail.Config.Retention = durationpb.New(o.Retention)
	if err := sqliteschema.CreateNamespaces(conf, ns); err != nil {
		where := "in memory"
		if s.dbFile != "" {
			where = "in " + s.dbFile
		}
		return nil, fmt.Errorf("creating namespace %q %s: %w", o.Namespace, where, err)
	}
	return conf, nil
}

// registerSearchAttributes gives the namespace amicrypt's search attributes
// when it lacks them. A namespace this server created has them from the
// start (prepareDatabase); one in a database made before them gets them
// through the operator service, as `temporal operator search-attribute
// create` would, and the server is ready once its visibility takes a query
// on them and its namespace caches (refreshed every 2 s) have caught up: a
// workflow setting one before that would have its task failed, then retried.
func (s *Server) registerSearchAttributes(ctx context.Context, namespace string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := grpc.NewClient(s.frontend.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("connecting to the embedded Temporal server: %w", err)
	}
	defer conn.Close()
	op := operatorservice.NewOperatorServiceClient(conn)
	var have map[string]enumspb.IndexedValueType
	if err := retry(ctx, func() error {
		resp, err := op.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
		have = resp.GetCustomAttributes()
		return err
	}); err != nil {
		return fmt.Errorf("listing the search attributes of namespace %q: %w", namespace, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range workflows.SearchAttributeTypes() {
		got, ok := have[name]
		switch {
		case !ok:
			missing[name] = typ
		case got != typ:
			return fmt.Errorf("namespace %q has the search attribute %s as %s, amicrypt sets it as %s: remove it (temporal operator search-attribute remove --name %s) and restart",
				namespace, name, got, typ, name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := op.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing}); err != nil {
		return fmt.Errorf("adding amicrypt's search attributes to namespace %q: %w", namespace, err)
	}
	ws := workflowservice.NewWorkflowServiceClient(conn)
	query := workflows.AttrRun.GetName() + " = 'probe'"
	if err := retry(ctx, func() error {
		_, err := ws.CountWorkflowExecutions(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: namespace, Query: query})
		return err
	}); err != nil {
		return fmt.Errorf("namespace %q does not take queries on the search attributes just added: %w", namespace, err)
	}
	select {
	case <-time.After(namespaceCacheRefresh):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// namespaceCacheRefresh is a little more than the server's namespace cache
// refresh interval (system.namespaceCacheRefreshInterval, 2 s).
const namespaceCacheRefresh = 2500 * time.Millisecond

// retry calls fn every 100 ms until it succeeds or ctx ends (then its last
// error).
func retry(ctx context.Context, fn func() error) error {
	for {
		err := fn()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// visibilityDatabase is where the server keeps its visibility records (what
// `temporal workflow list` and amicrypt list read): in memory, a database of
// its own beside the history's, in a file the same file (a state directory
// made before keeps its records where they are).
//
// SQLite has one writer, and Temporal's SQLite plugin gives a database one
// connection; a workflow's every start, search-attribute upsert and close
// writes a visibility record, and in one database those writes queued ahead
// of the history's own (a run of 1,000 targets writes about 7,000 of them,
// most in its first half-minute). In a database of their own they take
// their own connection, as they take their own store (Elasticsearch or a
// second SQL database) in a production cluster.
//
// Its pages are 1 KiB, not SQLite's 4 KiB: a record's write touches a page
// of each of the table's some sixty indexes and full-text tables, and every
// page a transaction touches is first copied whole into its rollback
// journal (in memory, in 1 KiB chunks allocated and freed each time). With
// pages of 1 KiB a write costs about a third of the CPU (measured: a run of
// 1,000 targets, 16.7 → 6.0 CPU-seconds of visibility writes in its first
// 45 s); 512-byte pages cost more again (deeper trees), and the history's
// own database gained nothing from smaller pages (its rows are larger).
func visibilityDatabase(history *config.SQL) *config.SQL {
	if history.ConnectAttributes["mode"] != "memory" {
		return history
	}
	vis := *history
	vis.DatabaseName = history.DatabaseName + "-visibility"
	vis.ConnectAttributes = maps.Clone(history.ConnectAttributes)
	vis.ConnectAttributes["page_size"] = "1024"
	return &vis
}

func (s *Server) serverConfig(sqlConf, visConf *config.SQL, history, matching, worker endpoint) *config.Config {
	const store, visStore = "sqlite", "sqlite-visibility"
	conf := &config.Config{}
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = s.frontend.ip
	conf.Persistence.DefaultStore = store
	conf.Persistence.VisibilityStore = store
	conf.Persistence.NumHistoryShards = 1
	conf.Persistence.DataStores = map[string]config.DataStore{store: {SQL: sqlConf}}
	if visConf != sqlConf {
		conf.Persistence.VisibilityStore = visStore
		conf.Persistence.DataStores[visStore] = config.DataStore{SQL: visConf}
	}
	conf.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             s.frontend.String(),
			},
		},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	service := func(ep endpoint) config.Service {
		var svc config.Service
		svc.RPC.GRPCPort = ep.port
		svc.RPC.BindOnIP = ep.ip
		return svc
	}
	conf.Services = map[string]config.Service{
		string(primitives.FrontendService): service(s.frontend),
		string(primitives.HistoryService):  service(history),
		string(primitives.MatchingService): service(matching),
		string(primitives.WorkerService):   service(worker),
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	conf.PublicClient.HostPort = s.frontend.String()
	return conf
}

// dynamicConfig is sized for one developer's machine, a little above the
// server's defaults where a pipeline fanning out to many targets would
// otherwise wait on rate limits meant for shared clusters.
func dynamicConfig() dynamicconfig.StaticClient {
	return dynamicconfig.StaticClient{
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key():                 8192,
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
		dynamicconfig.FrontendPersistenceMaxQPS.Key():                    10000,
		dynamicconfig.HistoryPersistenceMaxQPS.Key():                     45000,
		dynamicconfig.MatchingPersistenceMaxQPS.Key():                    10000,
	}
}

// startUI serves the web UI (its assets are embedded in the ui-server module)
// and waits until it answers.
func (s *Server) startUI(ctx context.Context, namespace string) error {
	s.uiServer = uiserver.NewServer(uioptions.WithConfigProvider(&uiconfig.Config{
		Host:                s.ui.ip,
		Port:                s.ui.port,
		TemporalGRPCAddress: s.frontend.String(),
		EnableUI:            true,
		DefaultNamespace:    namespace,
		CORS:                uiconfig.CORS{CookieInsecure: true},
		HideLogs:            true,
		DisableNewsFetch:    true,
	}))
	// The UI server's Start blocks, and exits the process if it cannot listen
	// (the port was checked free above, which makes that unlikely).
	go func() { _ = s.uiServer.Start() }()

	url := "http://" + s.ui.String() + "/healthz"
	deadline := time.Now().Add(10 * time.Second)
	hc := &http.Client{Timeout: time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the Temporal UI on %s did not answer within 10s", s.ui)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
