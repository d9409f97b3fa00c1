package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/amicrypt/amicrypt/internal/temporalconn"
)

// knownEnv are the environment variables amicrypt reads
// (internal/temporalconn, internal/cli/root.go), plus those the manifests
// give the Go runtime and the AWS SDK.
var knownEnv = map[string]bool{
	temporalconn.EnvAddress: true, temporalconn.EnvNamespace: true, temporalconn.EnvTaskQueue: true,
	temporalconn.EnvAPIKey: true, temporalconn.EnvTLS: true, temporalconn.EnvTLSCert: true,
	temporalconn.EnvTLSKey: true, temporalconn.EnvTLSCA: true, temporalconn.EnvTLSServerName: true,
	"AMICRYPT_LOG_LEVEL": true, "AMICRYPT_LOG_FORMAT": true,
	"AWS_REGION": true, "GOMEMLIMIT": true,
	temporalconn.EnvPayloadKeyFile: true, "AMICRYPT_ALLOW_ACCOUNTS": true, "AMICRYPT_ALLOW_ORGANIZATION": true,
}

// requiredEnv must reach the worker to talk to Temporal Cloud.
var requiredEnv = []string{temporalconn.EnvAddress, temporalconn.EnvNamespace, temporalconn.EnvTaskQueue, temporalconn.EnvAPIKey}

type workerManifests struct {
	sa     corev1.ServiceAccount
	cm     corev1.ConfigMap
	deploy appsv1.Deployment
	pdb    policyv1.PodDisruptionBudget
}

// loadWorkerManifests decodes kubernetes/worker.yaml strictly into the
// Kubernetes API types: a misspelt field is an error.
func loadWorkerManifests(t *testing.T) workerManifests {
	t.Helper()
	data, err := os.ReadFile("kubernetes/worker.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m workerManifests
	seen := map[string]bool{}
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
		var head struct{ APIVersion, Kind string }
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatal(err)
		}
		if head.Kind == "" {
			continue
		}
		var target any
		switch head.APIVersion + " " + head.Kind {
		case "v1 Namespace":
			target = &corev1.Namespace{}
		case "v1 ServiceAccount":
			target = &m.sa
		case "v1 ConfigMap":
			target = &m.cm
		case "apps/v1 Deployment":
			target = &m.deploy
		case "policy/v1 PodDisruptionBudget":
			target = &m.pdb
		default:
			t.Fatalf("worker.yaml: unexpected %s %s", head.APIVersion, head.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), target); err != nil {
			t.Errorf("worker.yaml %s: %v", head.Kind, err)
		}
		seen[head.Kind] = true
	}
	for _, k := range []string{"Namespace", "ServiceAccount", "ConfigMap", "Deployment"} {
		if !seen[k] {
			t.Errorf("worker.yaml has no %s", k)
		}
	}
	return m
}

func TestWorkerManifests(t *testing.T) {
	m := loadWorkerManifests(t)
	builder := instantiate(t, builderTemplate, builderAccount, map[string]string{"EksOidcProvider": eksProvider})
	params := builder.params

	// IRSA: the service account is the one the builder role trusts, and
	// names that role.
	if m.sa.Namespace != params["WorkerNamespace"] || m.sa.Name != params["WorkerServiceAccount"] {
		t.Errorf("service account %s/%s, the builder role trusts %s/%s", m.sa.Namespace, m.sa.Name, params["WorkerNamespace"], params["WorkerServiceAccount"])
	}
	if got, want := m.sa.Annotations["eks.amazonaws.com/role-arn"], roleOf(t, builder, "PipelineRole").ARN; got != want {
		t.Errorf("IRSA annotation %q, the builder stack's role is %s", got, want)
	}

	pod := m.deploy.Spec.Template.Spec
	if pod.ServiceAccountName != m.sa.Name || m.deploy.Namespace != m.sa.Namespace || m.cm.Namespace != m.sa.Namespace {
		t.Errorf("the Deployment (%s/%s, service account %s) and ConfigMap (%s) must use the service account %s/%s",
			m.deploy.Namespace, m.deploy.Name, pod.ServiceAccountName, m.cm.Namespace, m.sa.Namespace, m.sa.Name)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if len(c.Args) == 0 || c.Args[0] != "worker" {
		t.Errorf("container args %v, want amicrypt worker", c.Args)
	}
	if mem := c.Resources.Requests[corev1.ResourceMemory]; mem.Cmp(resource.MustParse("640Mi")) != 0 {
		t.Errorf("memory request %s, want 640Mi (the Helm chart's: the measured peak at 10,000 targets with room)", mem.String())
	}
	if lim := c.Resources.Limits[corev1.ResourceMemory]; lim.Cmp(c.Resources.Requests[corev1.ResourceMemory]) < 0 {
		t.Errorf("memory limit %s below the request", lim.String())
	}
	if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Error("the pod must run as non-root (the image's user is nonroot, 65532)")
	}
	if pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds < 30 {
		t.Error("terminationGracePeriodSeconds must cover the worker's 30 s stop timeout")
	}

	// Environment: every name is one amicrypt reads, the connection is
	// complete, and the API key comes from a Secret, never the ConfigMap.
	env := map[string]string{}
	for k := range m.cm.Data {
		env[k] = "configmap"
	}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil || from.ConfigMapRef.Name != m.cm.Name {
			t.Errorf("envFrom %+v: want the ConfigMap %s", from, m.cm.Name)
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = "secret"
		default:
			env[e.Name] = "value"
		}
	}
	for name, from := range env {
		if !knownEnv[name] {
			t.Errorf("environment variable %s (%s) is not one amicrypt reads", name, from)
		}
	}
	for _, name := range requiredEnv {
		if env[name] == "" {
			t.Errorf("the worker gets no %s", name)
		}
	}
	if env[temporalconn.EnvAPIKey] != "secret" {
		t.Errorf("%s must come from a Secret, not %s", temporalconn.EnvAPIKey, env[temporalconn.EnvAPIKey])
	}
	// The payload key comes from a Secret mounted read-only where
	// AMICRYPT_PAYLOAD_KEY_FILE points, and the worker serves only the
	// accounts it is allowed to.
	keyFile := ""
	for _, e := range c.Env {
		if e.Name == temporalconn.EnvPayloadKeyFile {
			keyFile = e.Value
		}
	}
	mounted := false
	for _, vm := range c.VolumeMounts {
		if keyFile == "" || !strings.HasPrefix(keyFile, strings.TrimSuffix(vm.MountPath, "/")+"/") {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name == vm.Name && v.Secret != nil && vm.ReadOnly {
				mounted = true
			}
		}
	}
	if !mounted {
		t.Errorf("%s (%q) is not in a read-only mount of a Secret", temporalconn.EnvPayloadKeyFile, keyFile)
	}
	for _, problem := range unreadableSecrets(pod) {
		t.Error(problem)
	}
	// The same user, group and fsGroup as the Helm chart's pods.
	if sc := pod.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != 65532 || sc.FSGroup == nil || *sc.FSGroup != 65532 {
		t.Errorf("pod securityContext %+v: want user and fsGroup 65532, as the image's nonroot user and the Helm chart", sc)
	}
	if m.cm.Data["AMICRYPT_ALLOW_ACCOUNTS"] == "" && m.cm.Data["AMICRYPT_ALLOW_ORGANIZATION"] == "" {
		t.Error("the worker is given no allow-list: it would serve whatever account a workflow names")
	}
	if m.pdb.Spec.Selector == nil || m.pdb.Spec.Selector.MatchLabels["app.kubernetes.io/name"] != m.deploy.Spec.Template.Labels["app.kubernetes.io/name"] {
		t.Error("the PodDisruptionBudget does not select the worker's pods")
	}
}

// unreadableSecrets names the Secret volumes of a pod whose files its user
// could not read. The kubelet writes a Secret's files owned by root (a Secret
// volume has no owner field); with the pod's fsGroup it gives them that group,
// which the pod's processes hold, so a non-root user reads them through the
// group bits with fsGroup, else only through the other bits.
func unreadableSecrets(pod corev1.PodSpec) []string {
	psc := pod.SecurityContext
	if psc != nil && psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		return nil // root reads everything
	}
	user := "the image's user"
	if psc != nil && psc.RunAsUser != nil {
		user = fmt.Sprintf("user %d", *psc.RunAsUser)
	}
	fsGroup := psc != nil && psc.FSGroup != nil
	var out []string
	for _, v := range pod.Volumes {
		if v.Secret == nil {
			continue
		}
		modes := map[string]int32{}
		mode := int32(0o644) // the API's default
		if v.Secret.DefaultMode != nil {
			mode = *v.Secret.DefaultMode
		}
		if len(v.Secret.Items) == 0 {
			modes["every key"] = mode
		}
		for _, it := range v.Secret.Items {
			modes[it.Path] = mode
			if it.Mode != nil {
				modes[it.Path] = *it.Mode
			}
		}
		for _, path := range slices.Sorted(maps.Keys(modes)) {
			m := modes[path]
			if m&0o004 != 0 || (fsGroup && m&0o040 != 0) {
				continue
			}
			why := "without fsGroup, a file owned by root is read through its other bits only"
			if fsGroup {
				// The kubelet adds the group's read bit to a read-only
				// volume under fsGroup; the manifest should say so.
				why = "with fsGroup, give its group the read bit (0440), through which the worker reads it"
			}
			out = append(out, fmt.Sprintf("Secret volume %s (%s, mode %#o) is unreadable by %s: %s", v.Name, path, m, user, why))
		}
	}
	return out
}

func TestTemporalEnvExample(t *testing.T) {
	data, err := os.ReadFile("temporal.env.example")
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]string{}
	line := regexp.MustCompile(`^#?\s*([A-Z][A-Z0-9_]*)=(.*)$`)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		text := strings.TrimSpace(sc.Text())
		m := line.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		if !knownEnv[m[1]] {
			t.Errorf("temporal.env.example sets %s, which amicrypt does not read", m[1])
		}
		if !strings.HasPrefix(text, "#") {
			if strings.Contains(m[2], "#") {
				t.Errorf("%s: a comment after the value; env files (docker --env-file, kubectl --from-env-file) keep it in the value", m[1])
			}
			set[m[1]] = m[2]
		}
	}
	for _, name := range requiredEnv {
		if _, ok := set[name]; !ok {
			t.Errorf("temporal.env.example does not set %s", name)
		}
	}
	if set[temporalconn.EnvAPIKey] != "" {
		t.Errorf("temporal.env.example must not hold an API key")
	}
	// The example values pass the worker's own checks.
	o := temporalconn.Options{Address: set[temporalconn.EnvAddress], Namespace: set[temporalconn.EnvNamespace], TaskQueue: set[temporalconn.EnvTaskQueue], APIKey: "k"}
	if err := o.Validate(); err != nil {
		t.Errorf("temporal.env.example: %v", err)
	}
	if !o.UsesTLS() {
		t.Error("an API key connection must use TLS")
	}
}

func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(data)
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	if goVersion == nil {
		t.Fatal("no go directive in go.mod")
	}
	if want := "ARG GO_VERSION=" + string(goVersion[1]); !strings.Contains(df, want) {
		t.Errorf("the Dockerfile must build with go.mod's Go (%s): want %q", goVersion[1], want)
	}
	for _, want := range []string{"FROM golang:${GO_VERSION} AS build", "./cmd/amicrypt-worker", "CGO_ENABLED=0", "FROM gcr.io/distroless/", "USER nonroot", `CMD ["worker"]`} {
		if !strings.Contains(df, want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
	if _, err := os.Stat("../cmd/amicrypt-worker/main.go"); err != nil {
		t.Errorf("the Dockerfile builds ./cmd/amicrypt-worker: %v", err)
	}
}
