package devserver

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/common/config"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	sqliteschema "go.temporal.io/server/schema/sqlite"

	"github.com/amicrypt/amicrypt/internal/temporalconn"
	"github.com/amicrypt/amicrypt/workflows"
)

func greet(ctx workflow.Context, name string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var out string
	err := workflow.ExecuteActivity(ctx, greeting, name).Get(ctx, &out)
	return out, err
}

func greeting(_ context.Context, name string) (string, error) { return "hello " + name, nil }

func testLogger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
}

func start(t *testing.T, o Options) *Server {
	t.Helper()
	began := time.Now()
	s, err := Start(context.Background(), o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("started in %v (frontend %s, UI %q)", time.Since(began).Round(time.Millisecond), s.FrontendAddress(), s.UIAddress())
	t.Cleanup(func() { _ = s.Stop() })
	return s
}

func dial(t *testing.T, s *Server) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: s.FrontendAddress(), Namespace: "amicrypt-test"})
	if err != nil {
		t.Fatalf("dial %s: %v", s.FrontendAddress(), err)
	}
	t.Cleanup(c.Close)
	return c
}

// The state directory carries completed runs across a restart, and the UI serves.
func TestPersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	o := Options{
		StateDir:  dir,
		Address:   "127.0.0.1:0",
		UIAddress: "127.0.0.1:0",
		Namespace: "amicrypt-test",
		Logger:    testLogger(t),
	}

	s := start(t, o)
	if _, err := os.Stat(filepath.Join(dir, DatabaseFile)); err != nil {
		t.Fatalf("no database file: %v", err)
	}
	assertUI(t, s)

	c := dial(t, s)
	w := worker.New(c, "devserver-test", worker.Options{})
	w.RegisterWorkflow(greet)
	w.RegisterActivity(greeting)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "greet-1", TaskQueue: "devserver-test"}, greet, "amicrypt")
	if err != nil {
		t.Fatalf("start workflow: %v", err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil || got != "hello amicrypt" {
		t.Fatalf("workflow result = %q, %v", got, err)
	}
	t.Logf("workflow completed %v after it was started", time.Since(began).Round(time.Millisecond))
	w.Stop()
	c.Close()
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}

	// Same directory, new ports: the run is still there, with its history.
	s2 := start(t, o)
	c2 := dial(t, s2)
	desc, err := c2.DescribeWorkflowExecution(ctx, "greet-1", "")
	if err != nil {
		t.Fatalf("describe after restart: %v", err)
	}
	if st := desc.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Errorf("status after restart = %v", st)
	}
	iter := c2.GetWorkflowHistory(ctx, "greet-1", "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var last enumspb.EventType
	events := 0
	for iter.HasNext() {
		e, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		events++
		last = e.GetEventType()
	}
	if last != enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED {
		t.Errorf("history after restart: %d events, last %v", events, last)
	}
}

func assertUI(t *testing.T, s *Server) {
	t.Helper()
	resp, err := http.Get(s.UIURL() + "/")
	if err != nil {
		t.Fatalf("UI: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(strings.ToLower(string(body)), "<html") {
		t.Errorf("UI / = %d, %.200s", resp.StatusCode, body)
	}
}

// In memory, without a UI; a taken address is refused with a clear message.
func TestInMemoryAndPortClash(t *testing.T) {
	s := start(t, Options{Address: "localhost:0", Namespace: "amicrypt-test", Logger: testLogger(t)})
	if s.UIAddress() != "" || s.DatabaseFile() != "" {
		t.Errorf("UI %q, database %q; want neither", s.UIAddress(), s.DatabaseFile())
	}
	c := dial(t, s)
	if _, err := c.CheckHealth(context.Background(), &client.CheckHealthRequest{}); err != nil {
		t.Fatal(err)
	}

	// temporalconn.Dial against a real server: a missing namespace is named.
	_, err := temporalconn.Dial(context.Background(), temporalconn.Options{Address: s.FrontendAddress(), Namespace: "missing", TaskQueue: "q"}, zerolog.Nop())
	if err == nil || !strings.Contains(err.Error(), `namespace "missing" does not exist`) {
		t.Errorf("dial into a missing namespace: %v", err)
	}
	tc, err := temporalconn.Dial(context.Background(), temporalconn.Options{Address: s.FrontendAddress(), Namespace: "amicrypt-test", TaskQueue: "q"}, zerolog.Nop())
	if err != nil {
		t.Errorf("temporalconn.Dial: %v", err)
	} else {
		tc.Close()
	}

	_, err = Start(context.Background(), Options{Address: s.FrontendAddress(), Logger: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), s.FrontendAddress()) {
		t.Errorf("second server on %s: %v", s.FrontendAddress(), err)
	}
}

func TestBadAddresses(t *testing.T) {
	for _, addr := range []string{"7233", "example.com:7233", "127.0.0.1:99999", "127.0.0.1:x"} {
		if _, err := Start(context.Background(), Options{Address: addr}); err == nil {
			t.Errorf("Start with address %q succeeded", addr)
		}
	}
}

// tagged sets a search attribute, as amicrypt's Target does.
func tagged(ctx workflow.Context) error {
	return workflow.UpsertTypedSearchAttributes(ctx, workflows.AttrStep.ValueSet("probe"))
}

// The namespace has amicrypt's search attributes, whether the server created
// it or found it in a database made before them; a workflow sets them at
// once, and visibility answers queries on them.
func TestNamespaceHasAmicryptsSearchAttributes(t *testing.T) {
	s := start(t, Options{Address: "127.0.0.1:0", Namespace: "amicrypt-test", Logger: testLogger(t)})
	assertSearchAttributes(t, dial(t, s))

	// A state directory from before the attributes: the namespace lacks them.
	dir := t.TempDir()
	conf := &config.SQL{PluginName: sqliteplugin.PluginName, ConnectAttributes: map[string]string{"mode": "rwc"}, DatabaseName: filepath.Join(dir, DatabaseFile)}
	if err := sqliteschema.SetupSchema(conf); err != nil {
		t.Fatal(err)
	}
	ns, err := sqliteschema.NewNamespaceConfig(clusterName, "amicrypt-test", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sqliteschema.CreateNamespaces(conf, ns); err != nil {
		t.Fatal(err)
	}
	s2 := start(t, Options{StateDir: dir, Address: "127.0.0.1:0", Namespace: "amicrypt-test", Logger: testLogger(t)})
	c := dial(t, s2)
	assertSearchAttributes(t, c)

	w := worker.New(c, "devserver-attrs", worker.Options{})
	w.RegisterWorkflow(tagged)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "tagged-1", TaskQueue: "devserver-attrs",
		TypedSearchAttributes: temporal.NewSearchAttributes(workflows.AttrRun.ValueSet("r1"))}, tagged)
	if err != nil {
		t.Fatalf("starting a workflow with AmicryptRun: %v", err)
	}
	if err := run.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	iter := c.GetWorkflowHistory(ctx, "tagged-1", "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		e, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		if e.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED {
			t.Errorf("a workflow task failed: %v", e.GetWorkflowTaskFailedEventAttributes().GetFailure().GetMessage())
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: "AmicryptRun = 'r1' AND AmicryptStep = 'probe'"})
		if err == nil && len(resp.GetExecutions()) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("visibility never answered the query: %v %v", resp, err)
		}
	}
}

func assertSearchAttributes(t *testing.T, c client.Client) {
	t.Helper()
	resp, err := c.OperatorService().ListSearchAttributes(context.Background(), &operatorservice.ListSearchAttributesRequest{Namespace: "amicrypt-test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range workflows.SearchAttributes() {
		if got := resp.GetCustomAttributes()[k.GetName()]; got != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
			t.Errorf("search attribute %s: %v, want Keyword", k.GetName(), got)
		}
	}
}
