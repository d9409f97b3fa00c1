package grafana

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/benchkit"
	"github.com/amicrypt/amicrypt/internal/metrics"
	"github.com/amicrypt/amicrypt/internal/metrics/metricstest"
	"github.com/amicrypt/amicrypt/internal/sandbox/world"
	"github.com/amicrypt/amicrypt/internal/temporalconn"
	"github.com/amicrypt/amicrypt/worker"
	"github.com/amicrypt/amicrypt/workflows"
)

// dashboard is the part of a Grafana dashboard the checks read.
type dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID      int      `json:"id"`
	Type    string   `json:"type"`
	Title   string   `json:"title"`
	Panels  []panel  `json:"panels"` // a collapsed row's
	Targets []target `json:"targets"`
}

type target struct {
	RefID string `json:"refId"`
	Expr  string `json:"expr"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile("amicrypt.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("amicrypt.json is not valid JSON: %v", err)
	}
	return d
}

// allPanels is every panel, those inside rows too.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// The dashboard is valid JSON, every panel has its own id, and every panel
// that is not a row queries something.
func TestDashboardIsValidWithUniquePanelIDs(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q, title %q: a dashboard needs both to be imported and linked", d.UID, d.Title)
	}
	seen := map[int]string{}
	for _, p := range allPanels(d.Panels) {
		if other, dup := seen[p.ID]; dup || p.ID == 0 {
			t.Errorf("panel %q: id %d is not unique (also %q) or missing", p.Title, p.ID, other)
		}
		seen[p.ID] = p.Title
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, q := range p.Targets {
			if strings.TrimSpace(q.Expr) == "" {
				t.Errorf("panel %q, query %s: no expression", p.Title, q.RefID)
			}
			if n := strings.Count(q.Expr, "(") - strings.Count(q.Expr, ")"); n != 0 {
				t.Errorf("panel %q, query %s: unbalanced parentheses in %s", p.Title, q.RefID, q.Expr)
			}
		}
	}
}

// metricNames extracts the metric names a PromQL expression selects.
//
// Prometheus' own parser (github.com/prometheus/prometheus/promql/parser)
// would do this exactly, but its module, at the versions the Go proxy
// serves (v0.313+), raises some sixty of amicrypt's dependencies
// (gRPC, the AWS SDK, Kubernetes, OpenTelemetry) when required even by a
// test: too much for a check. So a tokenizer that knows the grammar's
// shape: strings, label matchers {…} and ranges […] are dropped; what
// remains are identifiers, and one is a metric unless it is a function or
// aggregation (followed by "(" or by by/without), a keyword, a label list
// after by/without/on/ignoring/group_left/group_right, or a Grafana
// variable ($…).
func metricNames(expr string) []string {
	s := regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`+"`[^`]*`").ReplaceAllString(expr, `""`)
	s = regexp.MustCompile(`\{[^}]*\}`).ReplaceAllString(s, " ")
	s = regexp.MustCompile(`\[[^\]]*\]`).ReplaceAllString(s, " ")
	labelLists := regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	s = labelLists.ReplaceAllString(s, " $1 ")
	keywords := map[string]bool{
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
		"bool": true, "offset": true, "and": true, "or": true, "unless": true, "atan2": true, "inf": true, "nan": true,
		// aggregations, which may take by/without before their "(".
		"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
		"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true, "limitk": true, "limit_ratio": true,
	}
	ident := regexp.MustCompile(`\$?[a-zA-Z_:][a-zA-Z0-9_:]*`)
	var out []string
	for _, loc := range ident.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		if strings.HasPrefix(name, "$") || keywords[name] {
			continue
		}
		if loc[0] > 0 && (s[loc[0]-1] >= '0' && s[loc[0]-1] <= '9' || s[loc[0]-1] == '.') {
			continue // the exponent or unit of a number: 1e3
		}
		if rest := strings.TrimLeft(s[loc[1]:], " \t\n"); strings.HasPrefix(rest, "(") {
			continue // a function
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string][]string{
		`histogram_quantile(0.95, sum by (le, region) (rate(amicrypt_copy_duration_seconds_bucket{region=~"us-.*", x="a}b"}[$__rate_interval])))`: {"amicrypt_copy_duration_seconds_bucket"},
		`round(sum(increase(a_total[7d])) - sum without (instance) (increase(b_total[7d])))`:                                                      {"a_total", "b_total"},
		`process_resident_memory_bytes and on (job, instance) amicrypt_source_shares_added_total`:                                                 {"amicrypt_source_shares_added_total", "process_resident_memory_bytes"},
		`topk(10, sum by (service, action) (increase(x_total[$__range]))) > 1e3`:                                                                  {"x_total"},
		`sum by (state) (keys)`: {"keys"},
	} {
		if got := metricNames(expr); !slices.Equal(got, want) {
			t.Errorf("metricNames(%s) = %v, want %v", expr, got, want)
		}
	}
}

// Every metric the dashboard's queries name is on a real worker's /metrics:
// the embedded Temporal server, the AWS sandbox, and a worker wired as
// `amicrypt worker --metrics-addr` wires it, after a run of four targets.
func TestDashboardQueriesMetricsAWorkerServes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Temporal and a pipeline")
	}
	d := readDashboard(t)
	used := map[string][]string{} // metric → panels
	for _, p := range allPanels(d.Panels) {
		for _, q := range p.Targets {
			for _, name := range metricNames(q.Expr) {
				used[name] = append(used[name], p.Title)
			}
		}
	}
	if len(used) < 10 {
		t.Fatalf("found only %v in the dashboard's queries: the extraction no longer sees them", used)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	log := zerolog.Nop()
	if testing.Verbose() {
		log = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(zerolog.WarnLevel)
	}
	plan := benchkit.NewPlan(4)
	w, err := world.Parse(plan.WorldYAML(benchkit.WorldOptions{Copy: time.Second, Boot: time.Second}), "world.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const taskQueue = "amicrypt-metrics"
	env, err := benchkit.StartEnv(ctx, w, taskQueue, log)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()

	// The worker, as the CLI wires it with --metrics-addr.
	m := metrics.New(metrics.Options{AWSActions: activities.AWSActions(), TargetOutcomes: workflows.TargetOutcomes(), Regions: []string{"us-east-1"}})
	srv, err := m.Serve("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	sdk, stopSDK := m.SDKHandler(func(err error) { t.Errorf("an SDK metric was not registered: %v", err) })
	defer stopSDK()
	c, err := temporalconn.Dial(ctx, temporalconn.Options{Address: env.Temporal.FrontendAddress(), Namespace: temporalconn.DefaultNamespace,
		TaskQueue: taskQueue, MetricsHandler: m.TemporalHandler(sdk)}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	root := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(env.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(benchkit.BuilderAccount, "x", "")}
	base := root.Copy()
	base.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(root), benchkit.PipelineRole))
	acts := activities.New(activities.Config{
		// As the CLI's worker, running as the pipeline role the config names
		// as the builder's: its own credentials for it (worker.OwnRoleClients).
		Clients: worker.WithOwnRole(activities.NewClientFactory(base, activities.ClientOptions{Endpoint: env.Endpoint, Metrics: m}),
			"arn:aws:sts::"+benchkit.BuilderAccount+":assumed-role/amicrypt-pipeline/amicrypt-test"),
		Logger: log, Metrics: m, Workflows: worker.TemporalWorkflows(c),
		PollInitial: 200 * time.Millisecond, PollMax: time.Second,
	})
	wk := worker.New(c, taskQueue, acts, worker.Options{})
	if err := wk.Start(); err != nil {
		t.Fatal(err)
	}
	defer wk.Stop()

	// Before anything ran, amicrypt's own metrics are listed already.
	url := "http://" + srv.Addr() + "/metrics"
	fresh := metricstest.GetURL(t, url)
	for name := range used {
		if strings.HasPrefix(name, "amicrypt_") && !fresh.Has(name) {
			t.Errorf("%s is not on /metrics before the first event (panels %v)", name, used[name])
		}
	}

	in, err := plan.PipelineInput(plan.ConfigYAML(benchkit.ConfigOptions{InFlight: 4, Boot: time.Second}), "metrics-1")
	if err != nil {
		t.Fatal(err)
	}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.PipelineWorkflowID(in.RunID), TaskQueue: taskQueue}, workflows.Pipeline, in)
	if err != nil {
		t.Fatal(err)
	}
	var report workflows.Report
	if err := run.Get(ctx, &report); err != nil {
		logPending(t, c, run.GetID())
		t.Fatal(err)
	}
	for _, tr := range report.Targets {
		if tr.Status != workflows.StatusSucceeded {
			t.Fatalf("target %s %s: %s at %s (%v): the run must succeed for the figures below", tr.Account, tr.Region, tr.Status, tr.Step, tr.Diagnosis)
		}
	}

	// The SDK's counters and gauges reach the registry on tally's next
	// report (every second).
	var s metricstest.Scrape
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		s = metricstest.GetURL(t, url)
		done, _ := s.Value(metrics.TargetsFinished, metrics.LabelStatus, workflows.StatusSucceeded, metrics.LabelDiagnosisCode, "")
		if done == 4 && s.Has("temporal_worker_task_slots_available") || time.Now().After(deadline) {
			break
		}
	}
	for name, panels := range used {
		if !s.Has(name) {
			t.Errorf("%s, which panels %q query, is not on the worker's /metrics", name, panels)
		}
	}
	if done, _ := s.Value(metrics.TargetsFinished, metrics.LabelStatus, workflows.StatusSucceeded, metrics.LabelDiagnosisCode, ""); done != 4 {
		t.Errorf("%s{status=succeeded} = %v after a run of 4 targets that succeeded", metrics.TargetsFinished, done)
	}
	if n := s.Sum(metrics.CopyDuration + "_count"); n != 4 {
		t.Errorf("%v copies timed, want 4", n)
	}
	if n := s.Sum(metrics.BootProofDuration + "_count"); n != 4 {
		t.Errorf("%v boot proofs timed, want 4", n)
	}
	added, _ := s.Value(metrics.SharesAdded)
	revoked, _ := s.Value(metrics.SharesRevoked)
	if added == 0 || added != revoked {
		t.Errorf("shares added %v, revoked %v: a finished run leaves none outstanding", added, revoked)
	}
	if t.Failed() {
		t.Logf("the scrape:\n%s", s.Text)
	}
}

// logPending logs what a workflow and its children still wait for.
func logPending(t *testing.T, c client.Client, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		t.Logf("describing %s: %v", id, err)
		return
	}
	t.Logf("%s: %s", id, d.GetWorkflowExecutionInfo().GetStatus())
	for _, a := range d.GetPendingActivities() {
		t.Logf("%s: activity %s, attempt %d, %s, last failure %v", id, a.GetActivityType().GetName(), a.GetAttempt(), a.GetState(), a.GetLastFailure().GetMessage())
	}
	for _, ch := range d.GetPendingChildren() {
		logPending(t, c, ch.GetWorkflowId())
	}
}
