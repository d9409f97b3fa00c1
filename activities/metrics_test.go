package activities

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/amicrypt/amicrypt/internal/metrics"
	"github.com/amicrypt/amicrypt/internal/metrics/metricstest"
)

// newMeteredHarness is a harness over world whose client factory and
// activities record in m, as `amicrypt worker --metrics-addr` wires them.
func newMeteredHarness(t *testing.T, world string) (*harness, *metrics.Metrics) {
	t.Helper()
	m := metrics.New(metrics.Options{AWSActions: AWSActions(), Regions: []string{region}})
	h := newHarnessOf(t, world, func(c *Config) { c.Metrics = m })
	root := h.sb.RootConfig(builderAcct, region)
	base := root.Copy()
	base.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(root), pipelineARN))
	clients := NewClientFactory(base, ClientOptions{Endpoint: h.sb.URL, SessionName: "amicrypt-test", Metrics: m})
	h.acts.clients = clients
	return h, m
}

// What an operator reads on /metrics after a target's copy and boot proof
// ran against AWS (the sandbox): every call amicrypt makes listed from the
// start, the calls made counted by service and action, a copy and a boot
// proof timed in the target's region, the share given and taken back.
func TestMetricsShowTheAWSCallsACopyAndABootProofMade(t *testing.T) {
	h, m := newMeteredHarness(t, testWorld)
	fresh := metricstest.Get(t, m.Handler())
	for _, c := range [][2]string{{"ec2", "CopyImage"}, {"kms", "CreateKey"}, {"autoscaling", "CreateAutoScalingGroup"}, {"sts", "AssumeRole"}} {
		for _, name := range []string{metrics.AWSCalls, metrics.AWSThrottles, metrics.AWSErrors} {
			if v, ok := fresh.Value(name, "service", c[0], "action", c[1]); !ok || v != 0 {
				t.Errorf("before any call: %s{service=%q,action=%q} = %v (listed: %v), want 0 listed", name, c[0], c[1], v, ok)
			}
		}
	}
	if n, ok := fresh.Value(metrics.CopyDuration+"_count", "region", region); !ok || n != 0 {
		t.Errorf("before any copy: %s_count{region=%q} = %v (listed: %v)", metrics.CopyDuration, region, n, ok)
	}

	tg := target(payments)
	key := must[EnsureKeyResult](h, h.acts.ensureKey, ensureKeyIn(tg))
	share := ShareSourceInput{Builder: Builder{Account: builderAcct}, Source: Source{Region: region, ImageID: sourceAMI}, Accounts: []string{payments}}
	must[ShareSourceResult](h, h.acts.ShareSource, share)
	must[ShareSourceResult](h, h.acts.ShareSource, share) // a retry: the permission is there already
	c := must[CopyImageResult](h, h.acts.CopyEncrypted, CopyImageInput{Target: tg, Source: Source{Region: region, ImageID: sourceAMI}, KeyARN: key.KeyARN, RunID: "run-1"})
	copied := must[CopiedImage](h, h.acts.WaitAndVerify, WaitAndVerifyInput{Target: tg, ImageID: c.ImageID, KeyARN: key.KeyARN, Started: true})
	proof := must[ProveBootResult](h, h.acts.ProveBoot, BootProofInput{Target: tg, RunID: "run-1", ImageID: copied.ImageID, KeyARN: key.KeyARN, SLRARN: tg.ServiceLinkedRoleARN(), RootDevice: copied.RootDevice})
	if proof.Boot.Result != BootInService {
		t.Fatalf("boot proof: %+v", proof)
	}
	must[ShareSourceResult](h, h.acts.UnshareSource, share)

	s := metricstest.Get(t, m.Handler())
	for _, c := range []struct{ service, action, sandbox string }{
		{"ec2", "CopyImage", "ec2:CopyImage"},
		{"ec2", "DescribeImages", "ec2:DescribeImages"},
		{"kms", "CreateKey", "kms:CreateKey"},
		{"autoscaling", "CreateAutoScalingGroup", "autoscaling:CreateAutoScalingGroup"},
	} {
		v, _ := s.Value(metrics.AWSCalls, "service", c.service, "action", c.action)
		if v == 0 {
			t.Errorf("%s{service=%q,action=%q} = 0 after the target's calls", metrics.AWSCalls, c.service, c.action)
		}
		// The sandbox counts per account: the metric is the worker's, all of them.
		if n := h.sb.Calls(payments, region, c.sandbox); c.action == "CopyImage" && v != float64(n) {
			t.Errorf("%s: the metric says %v calls, the sandbox served %d", c.sandbox, v, n)
		}
	}
	if v, _ := s.Value(metrics.AWSCalls, "service", "sts", "action", "AssumeRole"); v == 0 {
		t.Errorf("the role sessions' sts:AssumeRole calls are not counted")
	}
	if v := s.Sum(metrics.AWSErrors); v != 0 {
		for _, smp := range s.Samples {
			if smp.Name == metrics.AWSErrors && smp.Value > 0 {
				t.Logf("%v", smp)
			}
		}
		t.Errorf("%v errors counted on a clean run", v)
	}
	if n, _ := s.Value(metrics.CopyDuration+"_count", "region", region); n != 1 {
		t.Errorf("%s_count{region=%q} = %v, want the one copy", metrics.CopyDuration, region, n)
	}
	if sum, _ := s.Value(metrics.CopyDuration+"_sum", "region", region); sum <= 0 || sum > 60 {
		t.Errorf("the copy took %vs by the metric; the sandbox copies in 0.2 s", sum)
	}
	if n, _ := s.Value(metrics.BootProofDuration+"_count", "region", region); n != 1 {
		t.Errorf("%s_count{region=%q} = %v, want the one proof", metrics.BootProofDuration, region, n)
	}
	added, _ := s.Value(metrics.SharesAdded)
	revoked, _ := s.Value(metrics.SharesRevoked)
	if added != 1 || revoked != 1 {
		t.Errorf("shares added %v, revoked %v; want 1 and 1 (the retried share found the permission there)", added, revoked)
	}
}

// A throttled call shows as throttles, and every attempt of it counts:
// the SDK's retries are visible.
func TestMetricsCountEveryThrottledAttempt(t *testing.T) {
	world := testWorld + "\nfaults:\n  actions: {\"ec2:CopyImage\": {throttle_rate: 1}}\n"
	h, m := newMeteredHarness(t, world)
	tg := target(payments)
	key := must[EnsureKeyResult](h, h.acts.ensureKey, ensureKeyIn(tg))
	must[ShareSourceResult](h, h.acts.ShareSource, ShareSourceInput{Builder: Builder{Account: builderAcct}, Source: Source{Region: region, ImageID: sourceAMI}, Accounts: []string{payments}})
	start := time.Now()
	if _, err := run[CopyImageResult](h, h.acts.CopyEncrypted, CopyImageInput{Target: tg, Source: Source{Region: region, ImageID: sourceAMI}, KeyARN: key.KeyARN, RunID: "run-1"}); err == nil {
		t.Fatal("CopyEncrypted succeeded though every CopyImage is throttled")
	}
	t.Logf("three throttled attempts took %s", time.Since(start).Round(time.Millisecond))

	s := metricstest.Get(t, m.Handler())
	served := float64(h.sb.Calls(payments, region, "ec2:CopyImage"))
	calls, _ := s.Value(metrics.AWSCalls, "service", "ec2", "action", "CopyImage")
	throttles, _ := s.Value(metrics.AWSThrottles, "service", "ec2", "action", "CopyImage")
	errs, _ := s.Value(metrics.AWSErrors, "service", "ec2", "action", "CopyImage")
	if calls != 3 || throttles != 3 || errs != 3 || served != 3 {
		t.Errorf("CopyImage: %v calls, %v throttles, %v errors in the metrics, %v served by the sandbox; want 3 of each (the SDK's 3 attempts)", calls, throttles, errs, served)
	}
	if v, _ := s.Value(metrics.AWSThrottles, "service", "kms", "action", "CreateKey"); v != 0 {
		t.Errorf("kms:CreateKey was not throttled, yet counts %v throttles", v)
	}
}
