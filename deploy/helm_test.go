package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/amicrypt/amicrypt/internal/temporalconn"
	"github.com/amicrypt/amicrypt/worker"
)

// The Helm chart of the worker, checked with Helm's own packages (the loader,
// lint, the template engine and values.schema.json) and decoded strictly into
// the Kubernetes API types.
const (
	chartDir       = "helm/amicrypt-worker"
	chartNamespace = "amicrypt" // the builder stack's WorkerNamespace default
	chartRelease   = "amicrypt-worker"
)

// measuredPeak is the resident memory of a worker serving a 10,000-target
// run of an organization (543 MB; 4,000 targets: ~330 MB, 1,000: ~300 MB):
// the memory request must cover it.
var measuredPeak = resource.MustParse("543M")

// requiredValues are what an install must add to values.yaml: where Temporal
// is, and which accounts the worker serves.
func requiredValues() map[string]any {
	return map[string]any{
		"temporal": map[string]any{
			"address":   "us-east-1.aws.api.temporal.io:7233",
			"namespace": "amicrypt.a1b2c",
		},
		"allowOrganization": "o-a1b2c3d4e5",
	}
}

// tlsValues: five workers with mTLS (client certificate, key and a private
// CA from a Secret, no API key) and the Prometheus Operator's ServiceMonitor.
func tlsValues() map[string]any {
	return readValues(`
replicaCount: 5
temporal:
  address: amicrypt.a1b2c.tmprl.cloud:7233
  namespace: amicrypt.a1b2c
  apiKey:
    secretName: ""
  tls:
    enabled: true
    secretName: amicrypt-temporal-tls
    caKey: ca.crt
allowAccounts: ["222222222222", "333333333333"]
metrics:
  port: 9464
  serviceMonitor:
    enabled: true
    labels:
      release: kube-prometheus-stack
`)
}

func readValues(text string) map[string]any {
	v, err := common.ReadValues([]byte(text))
	if err != nil {
		panic(err)
	}
	return v.AsMap()
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("loading the chart: %v", err)
	}
	return ch
}

// renderChart renders the chart as helm install would: values coalesced with
// values.yaml, validated against values.schema.json, the templates executed
// (not in lint mode: required values are enforced).
func renderChart(t *testing.T, vals map[string]any) (map[string]string, error) {
	t.Helper()
	ch := loadChart(t)
	defer logHelmTo(t)()
	cvals, err := chartutil.CoalesceValues(ch, vals)
	if err != nil {
		return nil, err
	}
	opts := common.ReleaseOptions{Name: chartRelease, Namespace: chartNamespace, Revision: 1, IsInstall: true}
	rvals, err := chartutil.ToRenderValuesWithSchemaValidation(ch, cvals, opts, common.DefaultCapabilities.Copy(), false)
	if err != nil {
		return nil, err
	}
	return engine.Render(ch, rvals)
}

// lintChart runs helm lint's rules and returns its messages of at least
// warning severity (informational ones are logged).
func lintChart(t *testing.T, vals map[string]any) []support.Message {
	t.Helper()
	defer logHelmTo(t)()
	var bad []support.Message
	for _, m := range lint.RunAll(chartDir, vals, chartNamespace).Messages {
		if m.Severity < support.WarningSev {
			t.Logf("lint: %v", m)
			continue
		}
		bad = append(bad, m)
	}
	return bad
}

// logHelmTo sends what Helm logs (through slog's default logger: a required
// value lint tolerates, a fail it skips) to t's log until the returned
// function restores the default.
func logHelmTo(t *testing.T) (restore func()) {
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(testLogWriter{t}, nil)))
	return func() { slog.SetDefault(prev) }
}

type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log("helm: " + strings.TrimSpace(string(p)))
	return len(p), nil
}

// chartObjects is what a render made, decoded.
type chartObjects struct {
	sa             *corev1.ServiceAccount
	deploy         *appsv1.Deployment
	service        *corev1.Service
	pdb            *policyv1.PodDisruptionBudget
	serviceMonitor *unstructured.Unstructured
	notes          string
}

// strictDecoder decodes the built-in kinds by their apiVersion and kind,
// refusing unknown fields (a misspelt field is an error, as kubectl apply
// --validate=strict would make it).
var strictDecoder = serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()

func decodeChart(t *testing.T, rendered map[string]string) chartObjects {
	t.Helper()
	var objs chartObjects
	for _, name := range slices.Sorted(maps.Keys(rendered)) {
		text := rendered[name]
		switch path.Ext(name) {
		case ".txt":
			objs.notes = text
			continue
		case ".yaml":
		default:
			continue
		}
		r := k8syaml.NewYAMLReader(bufio.NewReader(strings.NewReader(text)))
		for {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if len(bytes.TrimSpace(stripComments(doc))) == 0 {
				continue
			}
			obj, gvk, err := strictDecoder.Decode(doc, nil, nil)
			if runtime.IsNotRegisteredError(err) {
				u := &unstructured.Unstructured{}
				if err := k8syaml.Unmarshal(doc, &u.Object); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if u.GetAPIVersion() != "monitoring.coreos.com/v1" || u.GetKind() != "ServiceMonitor" {
					t.Fatalf("%s: unexpected %s %s", name, u.GetAPIVersion(), u.GetKind())
				}
				if objs.serviceMonitor != nil {
					t.Fatalf("%s: a second ServiceMonitor", name)
				}
				objs.serviceMonitor = u
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v\n%s", name, err, doc)
			}
			dup := func(seen bool) {
				if seen {
					t.Fatalf("%s: a second %s", name, gvk.Kind)
				}
			}
			switch o := obj.(type) {
			case *corev1.ServiceAccount:
				dup(objs.sa != nil)
				objs.sa = o
			case *appsv1.Deployment:
				dup(objs.deploy != nil)
				objs.deploy = o
			case *corev1.Service:
				dup(objs.service != nil)
				objs.service = o
			case *policyv1.PodDisruptionBudget:
				dup(objs.pdb != nil)
				objs.pdb = o
			default:
				t.Fatalf("%s: unexpected %s", name, gvk)
			}
		}
	}
	if objs.deploy == nil {
		t.Fatal("the chart renders no Deployment")
	}
	return objs
}

var commentLine = regexp.MustCompile(`(?m)^\s*#.*$`)

func stripComments(doc []byte) []byte { return commentLine.ReplaceAll(doc, nil) }

// worker is the Deployment's only container.
func (o chartObjects) worker(t *testing.T) corev1.Container {
	t.Helper()
	cs := o.deploy.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("%d containers, want the worker alone", len(cs))
	}
	return cs[0]
}

func TestHelmChartLint(t *testing.T) {
	ch := loadChart(t)
	if ch.Metadata.APIVersion != chart.APIVersionV2 || ch.Metadata.Name != "amicrypt-worker" {
		t.Errorf("Chart.yaml: apiVersion %s, name %s; want v2, amicrypt-worker", ch.Metadata.APIVersion, ch.Metadata.Name)
	}
	if ch.Schema == nil {
		t.Error("the chart has no values.schema.json")
	}
	for name, vals := range map[string]map[string]any{
		"values.yaml alone":        nil,
		"with the required values": requiredValues(),
		"mTLS, ServiceMonitor, 5x": tlsValues(),
	} {
		for _, m := range lintChart(t, vals) {
			t.Errorf("helm lint (%s): %v", name, m)
		}
	}
}

func TestHelmChartDefaults(t *testing.T) {
	builder := instantiate(t, builderTemplate, builderAccount, map[string]string{"EksOidcProvider": eksProvider})
	roleARN := roleOf(t, builder, "PipelineRole").ARN
	vals := requiredValues()
	vals["serviceAccount"] = map[string]any{"roleArn": roleARN}
	rendered, err := renderChart(t, vals)
	if err != nil {
		t.Fatal(err)
	}
	o := decodeChart(t, rendered)
	pod := o.deploy.Spec.Template.Spec
	c := o.worker(t)

	if r := o.deploy.Spec.Replicas; r == nil || *r != 3 {
		t.Errorf("replicas %v, want 3 workers sharing the task queue", r)
	}
	// IRSA: the service account the builder stack trusts, naming its role.
	if o.sa == nil {
		t.Fatal("no ServiceAccount")
	}
	params := builder.params
	if o.sa.Namespace != params["WorkerNamespace"] || o.sa.Name != params["WorkerServiceAccount"] {
		t.Errorf("service account %s/%s, the builder role trusts %s/%s", o.sa.Namespace, o.sa.Name, params["WorkerNamespace"], params["WorkerServiceAccount"])
	}
	if got := o.sa.Annotations["eks.amazonaws.com/role-arn"]; got != roleARN {
		t.Errorf("IRSA annotation %q, want the builder stack's role %s", got, roleARN)
	}
	if pod.ServiceAccountName != o.sa.Name {
		t.Errorf("the pods run as service account %q, not %q", pod.ServiceAccountName, o.sa.Name)
	}
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "AWS_ACCESS_KEY") || strings.HasPrefix(e.Name, "AWS_SECRET") {
			t.Errorf("static AWS credentials in %s: the pods' identity is the service account's role", e.Name)
		}
	}

	checkWorkerPod(t, o)
	env := envOf(c)
	if _, ok := env[temporalconn.EnvAPIKey]; ok {
		t.Errorf("%s is set: the default reads the key from a file (%s)", temporalconn.EnvAPIKey, temporalconn.EnvAPIKeyFile)
	}
	if file := env[temporalconn.EnvAPIKeyFile].Value; !inSecretMount(o, c, file) {
		t.Errorf("%s=%q is not in a read-only mount of a Secret", temporalconn.EnvAPIKeyFile, file)
	}
	if env["AMICRYPT_ALLOW_ORGANIZATION"].Value != "o-a1b2c3d4e5" {
		t.Errorf("AMICRYPT_ALLOW_ORGANIZATION %q, want allowOrganization", env["AMICRYPT_ALLOW_ORGANIZATION"].Value)
	}

	// Resources: the measured peak fits the request, the limit is above it,
	// and the Go runtime's soft limit below the limit.
	req, lim := c.Resources.Requests, c.Resources.Limits
	if m := req[corev1.ResourceMemory]; m.Cmp(resource.MustParse("640Mi")) != 0 || m.Cmp(measuredPeak) < 0 {
		t.Errorf("memory request %s, want 640Mi (the measured peak is %s)", m.String(), measuredPeak.String())
	}
	if m := lim[corev1.ResourceMemory]; m.Cmp(resource.MustParse("896Mi")) != 0 {
		t.Errorf("memory limit %s, want 896Mi", m.String())
	}
	if cpu := req[corev1.ResourceCPU]; cpu.Cmp(resource.MustParse("250m")) != 0 {
		t.Errorf("cpu request %s, want 250m", cpu.String())
	}

	// The PodDisruptionBudget keeps a worker through drains.
	if o.pdb == nil {
		t.Fatal("no PodDisruptionBudget with 3 replicas")
	}
	if o.pdb.Spec.MinAvailable == nil || o.pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("PodDisruptionBudget minAvailable %v, want 1", o.pdb.Spec.MinAvailable)
	}
	checkSelects(t, "the PodDisruptionBudget", o.pdb.Spec.Selector.MatchLabels, o.deploy.Spec.Template.Labels)

	if o.serviceMonitor != nil {
		t.Error("a ServiceMonitor by default: its CRD may not be installed")
	}
	if !strings.Contains(o.notes, "amicrypt-payload-keys") || strings.Contains(o.notes, "WARNING") {
		t.Errorf("NOTES.txt should name the Secrets to create and warn of nothing:\n%s", o.notes)
	}
}

func TestHelmChartTLSAndServiceMonitor(t *testing.T) {
	rendered, err := renderChart(t, tlsValues())
	if err != nil {
		t.Fatal(err)
	}
	o := decodeChart(t, rendered)
	c := o.worker(t)
	if r := o.deploy.Spec.Replicas; r == nil || *r != 5 {
		t.Errorf("replicas %v, want 5", r)
	}
	if o.pdb == nil || o.pdb.Spec.MinAvailable == nil || o.pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("PodDisruptionBudget %+v, want minAvailable 1", o.pdb)
	}
	port := checkWorkerPod(t, o)
	if port != 9464 {
		t.Errorf("metrics port %d, want metrics.port 9464", port)
	}

	env := envOf(c)
	for _, name := range []string{temporalconn.EnvAPIKey, temporalconn.EnvAPIKeyFile} {
		if _, ok := env[name]; ok {
			t.Errorf("%s set with apiKey.secretName empty", name)
		}
	}
	if env[temporalconn.EnvTLS].Value != "true" {
		t.Errorf("%s %q, want true", temporalconn.EnvTLS, env[temporalconn.EnvTLS].Value)
	}
	for _, name := range []string{temporalconn.EnvTLSCert, temporalconn.EnvTLSKey, temporalconn.EnvTLSCA} {
		if file := env[name].Value; !inSecretMount(o, c, file) {
			t.Errorf("%s=%q is not in a read-only mount of a Secret", name, file)
		}
	}
	if env["AMICRYPT_ALLOW_ACCOUNTS"].Value != "222222222222,333333333333" {
		t.Errorf("AMICRYPT_ALLOW_ACCOUNTS %q, want allowAccounts joined by commas", env["AMICRYPT_ALLOW_ACCOUNTS"].Value)
	}

	// The ServiceMonitor scrapes the Service's metrics port, in this namespace.
	sm := o.serviceMonitor
	if sm == nil {
		t.Fatal("metrics.serviceMonitor.enabled renders no ServiceMonitor")
	}
	if sm.GetNamespace() != chartNamespace || sm.GetLabels()["release"] != "kube-prometheus-stack" {
		t.Errorf("ServiceMonitor %s/%s labels %v: want namespace %s and the labels of metrics.serviceMonitor.labels", sm.GetNamespace(), sm.GetName(), sm.GetLabels(), chartNamespace)
	}
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(endpoints) != 1 {
		t.Fatalf("ServiceMonitor endpoints %v, want one", endpoints)
	}
	ep, _ := endpoints[0].(map[string]any)
	if ep["port"] != o.service.Spec.Ports[0].Name || ep["path"] != "/metrics" {
		t.Errorf("ServiceMonitor endpoint %v: want port %q (the Service's) and path /metrics", ep, o.service.Spec.Ports[0].Name)
	}
	sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	checkSelects(t, "the ServiceMonitor", sel, o.service.Labels)
	ns, _, _ := unstructured.NestedStringSlice(sm.Object, "spec", "namespaceSelector", "matchNames")
	if !slices.Equal(ns, []string{chartNamespace}) {
		t.Errorf("ServiceMonitor namespaceSelector %v, want [%s]", ns, chartNamespace)
	}
}

// TestHelmChartAPIKeyFromEnvOneReplica: the API key as TEMPORAL_API_KEY from
// the Secret, and a single worker: no PodDisruptionBudget (it would block
// every drain), and NOTES.txt says a killed pod stops the runs.
func TestHelmChartAPIKeyFromEnvOneReplica(t *testing.T) {
	vals := chartutil.CoalesceTables(readValues("replicaCount: 1\ntemporal: {apiKey: {from: env}}"), requiredValues())
	rendered, err := renderChart(t, vals)
	if err != nil {
		t.Fatal(err)
	}
	o := decodeChart(t, rendered)
	checkWorkerPod(t, o)
	env := envOf(o.worker(t))
	ref := env[temporalconn.EnvAPIKey].ValueFrom
	if ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != "amicrypt-temporal" || ref.SecretKeyRef.Key != temporalconn.EnvAPIKey {
		t.Errorf("%s from %+v, want the Secret amicrypt-temporal's key %s", temporalconn.EnvAPIKey, ref, temporalconn.EnvAPIKey)
	}
	if _, ok := env[temporalconn.EnvAPIKeyFile]; ok {
		t.Errorf("%s set beside %s", temporalconn.EnvAPIKeyFile, temporalconn.EnvAPIKey)
	}
	if o.pdb != nil {
		t.Error("a PodDisruptionBudget of minAvailable 1 over one replica blocks every node drain")
	}
	if !strings.Contains(o.notes, "WARNING: replicaCount=1") {
		t.Errorf("NOTES.txt does not warn of a single worker:\n%s", o.notes)
	}
}

// checkWorkerPod checks what every rendering must hold and returns the
// metrics port: the worker runs with its metrics on the port the Service
// names, non-root on a read-only root, Secrets mounted read-only and
// readable, Temporal's connection complete, only environment variables
// amicrypt reads, no literal API key, an allow-list, a grace period covering
// the worker's stop, limits set.
func checkWorkerPod(t *testing.T, o chartObjects) int {
	t.Helper()
	pod := o.deploy.Spec.Template.Spec
	c := o.worker(t)

	if o.deploy.Namespace != chartNamespace {
		t.Errorf("Deployment in namespace %q, want the release's %q", o.deploy.Namespace, chartNamespace)
	}
	checkSelects(t, "the Deployment", o.deploy.Spec.Selector.MatchLabels, o.deploy.Spec.Template.Labels)
	if len(c.Args) == 0 || c.Args[0] != "worker" {
		t.Errorf("args %v, want amicrypt worker", c.Args)
	}
	checkFlagsExist(t, c.Args[1:])

	// Metrics: --metrics-addr :PORT, the container port "metrics" on PORT,
	// the Service's port "metrics" targeting it.
	addr := ""
	for i, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--metrics-addr="); ok {
			addr = v
		} else if a == "--metrics-addr" && i+1 < len(c.Args) {
			addr = c.Args[i+1]
		}
	}
	_, portText, ok := strings.Cut(addr, ":")
	port, err := strconv.Atoi(portText)
	if !ok || err != nil {
		t.Fatalf("args %v: no --metrics-addr :PORT", c.Args)
	}
	var cport *corev1.ContainerPort
	for i := range c.Ports {
		if c.Ports[i].Name == "metrics" {
			cport = &c.Ports[i]
		}
	}
	if cport == nil || int(cport.ContainerPort) != port {
		t.Errorf("container ports %+v: want \"metrics\" on %d, where --metrics-addr %s listens", c.Ports, port, addr)
	}
	if o.service == nil {
		t.Fatal("no metrics Service")
	}
	if sp := o.service.Spec.Ports; len(sp) != 1 || sp[0].Name != "metrics" || sp[0].TargetPort.String() != "metrics" || int(sp[0].Port) != port {
		t.Errorf("Service ports %+v: want \"metrics\" on %d targeting the container port \"metrics\"", sp, port)
	}
	checkSelects(t, "the metrics Service", o.service.Spec.Selector, o.deploy.Spec.Template.Labels)

	// Probes, if any, ask a port the container declares. (None today: the
	// worker serves no health endpoint.)
	for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
		if p != nil && p.HTTPGet != nil && p.HTTPGet.Port.String() != "metrics" && p.HTTPGet.Port.IntValue() != port {
			t.Errorf("probe on port %s, which the container does not serve", p.HTTPGet.Port.String())
		}
	}

	// Non-root, read-only root, no capabilities, no escalation.
	psc, sc := pod.SecurityContext, c.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Error("the pod must run as a non-root user (the image's nonroot, 65532)")
	}
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container securityContext %+v: want a read-only root filesystem, no privilege escalation, every capability dropped", sc)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the worker does not call the Kubernetes API: mount no service account token")
	}
	if lim := c.Resources.Limits[corev1.ResourceMemory]; lim.IsZero() {
		t.Error("no memory limit")
	} else if req := c.Resources.Requests[corev1.ResourceMemory]; req.Cmp(lim) > 0 {
		t.Errorf("memory request %s above the limit %s", req.String(), lim.String())
	}
	env := envOf(c)
	if v := env["GOMEMLIMIT"].Value; v != "" {
		goLimit := resource.MustParse(strings.TrimSuffix(v, "B"))
		lim := c.Resources.Limits[corev1.ResourceMemory]
		if goLimit.Cmp(lim) >= 0 {
			t.Errorf("GOMEMLIMIT %s is not below the memory limit %s", v, lim.String())
		}
	}
	grace := pod.TerminationGracePeriodSeconds
	if grace == nil || time.Duration(*grace)*time.Second <= worker.DefaultStopTimeout {
		t.Errorf("terminationGracePeriodSeconds %v must exceed the worker's stop timeout (%s)", grace, worker.DefaultStopTimeout)
	}

	// Environment: names amicrypt reads, a complete connection, secrets
	// only from Secrets.
	for name, e := range env {
		if !knownEnv[name] && name != temporalconn.EnvAPIKeyFile {
			t.Errorf("environment variable %s is not one amicrypt reads", name)
		}
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef == nil {
			t.Errorf("%s comes from %+v, not a Secret", name, e.ValueFrom)
		}
	}
	for _, name := range []string{temporalconn.EnvAddress, temporalconn.EnvNamespace, temporalconn.EnvTaskQueue} {
		if env[name].Value == "" {
			t.Errorf("the worker gets no %s", name)
		}
	}
	conn := temporalconn.Options{Address: env[temporalconn.EnvAddress].Value, Namespace: env[temporalconn.EnvNamespace].Value, TaskQueue: env[temporalconn.EnvTaskQueue].Value,
		TLSCertFile: env[temporalconn.EnvTLSCert].Value, TLSKeyFile: env[temporalconn.EnvTLSKey].Value}
	if err := conn.Validate(); err != nil {
		t.Errorf("the worker's connection settings: %v", err)
	}
	if e, ok := env[temporalconn.EnvAPIKey]; ok && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
		t.Errorf("%s is a literal value: it must come from a Secret", temporalconn.EnvAPIKey)
	}
	if file := env[temporalconn.EnvPayloadKeyFile].Value; !inSecretMount(o, c, file) {
		t.Errorf("%s (%q) is not in a read-only mount of a Secret", temporalconn.EnvPayloadKeyFile, file)
	}
	if env["AMICRYPT_ALLOW_ACCOUNTS"].Value == "" && env["AMICRYPT_ALLOW_ORGANIZATION"].Value == "" {
		t.Error("the worker is given no allow-list: it would serve whatever account a workflow names")
	}

	// Secret volumes: root-owned files the worker's user must be able to
	// read (through fsGroup and the group bits, or the other bits).
	for _, problem := range unreadableSecrets(pod) {
		t.Error(problem)
	}
	return port
}

func envOf(c corev1.Container) map[string]corev1.EnvVar {
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	return env
}

// inSecretMount reports whether file lies in a read-only mount of a Secret
// volume, under a key that volume projects.
func inSecretMount(o chartObjects, c corev1.Container, file string) bool {
	if file == "" {
		return false
	}
	for _, vm := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(file, strings.TrimSuffix(vm.MountPath, "/")+"/")
		if !ok || !vm.ReadOnly {
			continue
		}
		for _, v := range o.deploy.Spec.Template.Spec.Volumes {
			if v.Name != vm.Name || v.Secret == nil || v.Secret.SecretName == "" {
				continue
			}
			for _, it := range v.Secret.Items {
				if it.Path == rel {
					return true
				}
			}
		}
	}
	return false
}

func checkSelects(t *testing.T, what string, selector, podLabels map[string]string) {
	t.Helper()
	if len(selector) == 0 || !labels.SelectorFromSet(selector).Matches(labels.Set(podLabels)) {
		t.Errorf("%s selects %v, which does not match %v", what, selector, podLabels)
	}
}

// checkFlagsExist: every flag the chart passes is one amicrypt defines
// (internal/cli, internal/temporalconn): an unknown flag makes every pod exit
// at start.
func checkFlagsExist(t *testing.T, args []string) {
	t.Helper()
	defined := workerFlags(t)
	for _, a := range args {
		name, ok := strings.CutPrefix(a, "--")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(name, "=")
		if !defined[name] {
			t.Errorf("the chart passes --%s, which no amicrypt command defines (internal/cli): every pod would exit at start", name)
		}
	}
}

// workerFlags are the flags amicrypt's commands define (internal/cli,
// internal/temporalconn), read from their source: a superset of `amicrypt
// worker`'s, without building the CLI (and its embedded Temporal server) into
// this test.
func workerFlags(t *testing.T) map[string]bool {
	t.Helper()
	flagDef := regexp.MustCompile(`\.(?:String|Int|Bool|Duration|StringSlice|Float64|Uint)(?:Var)?P?\((?:&[^,]+,\s*)?"([a-z0-9-]+)"`)
	defined := map[string]bool{}
	for _, dir := range []string{"../internal/cli", "../internal/temporalconn"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range flagDef.FindAllSubmatch(src, -1) {
				defined[string(m[1])] = true
			}
		}
	}
	for _, want := range []string{"temporal-address", "allow-accounts", "log-level", "max-concurrent-activities"} {
		if !defined[want] {
			t.Fatalf("reading the worker's flags found no --%s: the pattern no longer matches the source", want)
		}
	}
	return defined
}

// TestHelmChartRefusesBadValues: a values file an operator could write by
// mistake fails helm lint (values.schema.json) or the install (the templates'
// checks), with a message that names the value and says what to set.
func TestHelmChartRefusesBadValues(t *testing.T) {
	cases := []struct {
		name   string
		values string
		lint   string // in a lint error; "" when lint tolerates it (required values)
		render string // in the install's error
	}{
		{name: "negative replicas", values: "replicaCount: -1",
			lint: "at '/replicaCount': minimum: got -1, want 0", render: "/replicaCount"},
		{name: "replicas as text", values: `replicaCount: "three"`,
			lint: "at '/replicaCount': got string, want integer", render: "/replicaCount"},
		{name: "missing temporal address", values: `temporal: {address: ""}`,
			render: "temporal.address is required: the Temporal frontend's host:port"},
		{name: "temporal address without a port", values: "temporal: {address: temporal.example.com}",
			lint: "at '/temporal/address'", render: "/temporal/address"},
		{name: "missing namespace", values: `temporal: {namespace: ""}`,
			render: "temporal.namespace is required"},
		{name: "no allow-list", values: `allowOrganization: ""`,
			render: "no allow-list: set allowOrganization"},
		{name: "unquoted account id", values: "allowAccounts: [222222222222]",
			lint: "at '/allowAccounts/0': got number, want string", render: "/allowAccounts/0"},
		{name: "short account id", values: `allowAccounts: ["2222"]`,
			lint: "at '/allowAccounts/0'", render: "/allowAccounts/0"},
		{name: "misspelt key", values: "replicas: 5",
			lint: "additional properties 'replicas' not allowed", render: "replicas"},
		{name: "ServiceMonitor without metrics", values: "metrics: {enabled: false, serviceMonitor: {enabled: true}}",
			render: "metrics.serviceMonitor.enabled needs metrics.enabled"},
		{name: "literal API key", values: "extraEnv: [{name: TEMPORAL_API_KEY, value: abc}]",
			render: "put the key in a Secret"},
		{name: "half a client certificate", values: "temporal: {tls: {secretName: t, keyKey: \"\"}}",
			render: "certKey and temporal.tls.keyKey go together"},
		{name: "PDB blocking every drain", values: "replicaCount: 2\npodDisruptionBudget: {minAvailable: 2}",
			render: "must be below replicaCount"},
		{name: "grace period shorter than the worker's stop", values: "terminationGracePeriodSeconds: 10",
			lint: "at '/terminationGracePeriodSeconds': minimum", render: "/terminationGracePeriodSeconds"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vals := chartutil.CoalesceTables(readValues(tc.values), requiredValues())

			msgs := lintChart(t, vals)
			if tc.lint == "" {
				for _, m := range msgs {
					t.Errorf("helm lint: %v", m)
				}
			} else if !slices.ContainsFunc(msgs, func(m support.Message) bool {
				return m.Severity == support.ErrorSev && strings.Contains(m.Err.Error(), tc.lint)
			}) {
				t.Errorf("helm lint of %q: want an error with %q, got %v", tc.values, tc.lint, msgs)
			}

			_, err := renderChart(t, vals)
			if err == nil || !strings.Contains(err.Error(), tc.render) {
				t.Errorf("rendering %q: error %v, want one with %q", tc.values, err, tc.render)
			}
		})
	}
}
