//go:build linux

package cli

import (
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/config"
	"github.com/amicrypt/amicrypt/internal/sandbox/world"
	"github.com/amicrypt/amicrypt/workflows"
)

// A run's three targets: payments is healthy; analytics' role does not trust
// amicrypt's pipeline role; legacy is outside what the worker serves. The
// real worker binary runs the pipeline; afterwards the builder account's
// CloudTrail event history (read through LookupEvents, as an auditor would)
// shows every change of the sources' launch permissions and their
// snapshots' create-volume permissions: replayed in order, neither
// analytics nor legacy ever had either permission, not even for a moment —
// no request even named them — while payments got both and lost them again.
// The report fails analytics with F7 and legacy with not-allowed, naming the
// worker's flag.
//
// Run twice: the worker limited by --allow-accounts (payments and
// analytics, not legacy), and by --allow-organization (legacy is in no
// organization; analytics, listed, would be served but for its role).
func TestNoAccountAmicryptMayNotServeEverHoldsTheSource(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the amicrypt binary and runs a pipeline, twice")
	}
	const org = "o-amicrypt0001"
	for _, c := range []struct {
		name, flag string
		env        []string
		world      func(*world.World)
	}{
		{name: "allow-accounts", flag: "--allow-accounts", env: []string{"AMICRYPT_ALLOW_ACCOUNTS=222222222222,333333333333"}},
		{name: "allow-organization", flag: "--allow-organization",
			env: []string{"AMICRYPT_ALLOW_ORGANIZATION=" + org, "AMICRYPT_ALLOW_ACCOUNTS=333333333333"},
			world: func(w *world.World) {
				w.OrganizationID = org
				w.Account("444444444444").Organization = world.NoOrganization
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			w := durWorld(t)
			w.Timing.CopySeconds = 1
			distrust(t, w, "333333333333")
			allowDescribeOrganization(t, w)
			if c.world != nil {
				c.world(w)
			}
			s := startOneWorker(ctx, t, w, "trail-"+c.name, c.env...)
			checkNoBadShares(ctx, t, w, s, c.flag)
		})
	}
}

const (
	trailBuilder   = "111111111111"
	trailHealthy   = "222222222222"
	trailUntrusted = "333333333333"
	trailOutside   = "444444444444"
)

// distrust makes an account's amicrypt-target role trust its own account
// only: amicrypt's pipeline role cannot assume it.
func distrust(t *testing.T, w *world.World, account string) {
	t.Helper()
	a := w.Account(account)
	for i := range a.Roles {
		if a.Roles[i].Name == "amicrypt-target" {
			a.Roles[i].Trust = json.RawMessage(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + account + `:root"},"Action":"sts:AssumeRole"}]}`)
			return
		}
	}
	t.Fatalf("account %s has no amicrypt-target role", account)
}

// allowDescribeOrganization lets every amicrypt-target role ask its
// organization, as deploy/'s target role may.
func allowDescribeOrganization(t *testing.T, w *world.World) {
	t.Helper()
	for i := range w.Accounts {
		for j := range w.Accounts[i].Roles {
			r := &w.Accounts[i].Roles[j]
			if r.Name == "amicrypt-target" {
				r.Policies = append(r.Policies, world.NamedPolicy{Name: "organization",
					Document: json.RawMessage(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"organizations:DescribeOrganization","Resource":"*"}]}`)})
			}
		}
	}
}

func checkNoBadShares(ctx context.Context, t *testing.T, w *world.World, s *oneWorker, flag string) {
	t.Helper()
	cfg, err := config.Parse(config.Example(), "example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	builderImages := builderSources(w, trailBuilder)
	b, src, all, err := cfg.Expand(builderImages)
	if err != nil {
		t.Fatal(err)
	}
	var targets []activities.Target
	for _, tg := range all {
		if tg.Region == "us-east-1" && (tg.Account == trailHealthy || tg.Account == trailUntrusted || tg.Account == trailOutside) {
			tg.BootProof.Enabled = false
			targets = append(targets, tg)
		}
	}
	if len(targets) != 3 {
		t.Fatalf("the example config or the default world changed: targets %v", targets)
	}
	in := workflows.PipelineInput{Builder: b, Sources: src, Targets: targets, InFlight: cfg.Concurrency.InFlight, PerAccountRegion: cfg.Concurrency.PerAccountRegion}
	in.RunID = runIDFor(in)
	run, _, err := startPipeline(ctx, s.client, s.taskQueue, in)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := followRun(ctx, s.client, run, io.Discard, true)
	if err != nil {
		t.Fatalf("run %s: %v", in.RunID, err)
	}
	for _, tr := range rep.Targets {
		code := ""
		if tr.Diagnosis != nil {
			code = tr.Diagnosis.Code
		}
		switch tr.Account {
		case trailHealthy:
			if tr.Status != workflows.StatusSucceeded {
				t.Errorf("the healthy target: %s %+v", tr.Status, tr.Diagnosis)
			}
		case trailUntrusted:
			if code != activities.F7 || !strings.Contains(tr.Diagnosis.Cause, "arn:aws:iam::333333333333:role/amicrypt-target") {
				t.Errorf("the target whose role does not trust amicrypt: %s %+v, want F7 naming its role", tr.Status, tr.Diagnosis)
			}
		case trailOutside:
			if code != activities.NotAllowed || !strings.Contains(tr.Diagnosis.Cause, flag) || !strings.Contains(tr.Diagnosis.Cause, trailOutside) {
				t.Errorf("the target outside what the worker serves: %s %+v, want %s naming %s", tr.Status, tr.Diagnosis, activities.NotAllowed, flag)
			}
		}
	}

	// Every permission change of every source, from the builder's history.
	ct := func(region string) *cloudtrail.Client {
		return cloudtrail.NewFromConfig(aws.Config{Region: region, BaseEndpoint: aws.String(s.endpoint),
			Credentials: credentials.NewStaticCredentialsProvider(trailBuilder, "sandbox", "")})
	}
	st := durSettledState(ctx, t, s.endpoint)
	sharedHealthy := false
	for region, image := range builderImages {
		resources := []string{image}
		for _, bd := range durRegion(st, trailBuilder, region).Images[image].BlockDevices {
			resources = append(resources, bd.SnapshotID)
		}
		for _, res := range resources {
			changes := permissionHistory(ctx, t, ct(region), res)
			holders := map[string]bool{}
			for _, ch := range changes {
				for _, bad := range []string{trailUntrusted, trailOutside} {
					if strings.Contains(ch.raw, bad) {
						t.Errorf("%s in %s: a %s request names account %s: %s", res, region, ch.name, bad, ch.raw)
					}
				}
				if ch.failed {
					continue
				}
				if ch.reset {
					clear(holders)
				}
				for _, a := range ch.added {
					holders[a] = true
				}
				for _, a := range ch.removed {
					delete(holders, a)
				}
				if holders[trailUntrusted] || holders[trailOutside] {
					t.Errorf("%s in %s: after %s, held by %v", res, region, ch.name, holders)
				}
				if holders[trailHealthy] && region == "us-east-1" {
					sharedHealthy = true
				}
			}
			if len(holders) != 0 {
				t.Errorf("%s in %s: still held by %v after the run", res, region, holders)
			}
			if region == "us-east-1" && len(changes) == 0 {
				t.Errorf("%s in %s: no permission change recorded, yet the healthy target copied it", res, region)
			}
		}
	}
	if !sharedHealthy {
		t.Errorf("the history never shows the healthy account %s holding the us-east-1 source", trailHealthy)
	}
}

// permissionEvent is one recorded change of a resource's permissions.
type permissionEvent struct {
	name           string
	failed, reset  bool
	added, removed []string
	raw            string // requestParameters as recorded
}

// permissionHistory reads, oldest first, the builder's recorded changes of
// a resource's permissions (an image's launch, a snapshot's create-volume).
func permissionHistory(ctx context.Context, t *testing.T, c *cloudtrail.Client, resource string) []permissionEvent {
	t.Helper()
	var evs []cttypes.Event
	p := cloudtrail.NewLookupEventsPaginator(c, &cloudtrail.LookupEventsInput{LookupAttributes: []cttypes.LookupAttribute{{
		AttributeKey: cttypes.LookupAttributeKeyResourceName, AttributeValue: aws.String(resource)}}})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, page.Events...)
	}
	slices.Reverse(evs)
	type items struct {
		Items []map[string]string `json:"items"`
	}
	type mods struct{ Add, Remove items }
	var out []permissionEvent
	for _, ev := range evs {
		var rec struct {
			ErrorCode         string          `json:"errorCode"`
			RequestParameters json.RawMessage `json:"requestParameters"`
		}
		if err := json.Unmarshal([]byte(aws.ToString(ev.CloudTrailEvent)), &rec); err != nil {
			t.Fatal(err)
		}
		var params struct {
			LaunchPermission       *mods  `json:"launchPermission"`
			CreateVolumePermission *mods  `json:"createVolumePermission"`
			OperationType          string `json:"operationType"`
			UserIDs                *struct {
				Items []string `json:"items"`
			} `json:"userIds"`
		}
		if err := json.Unmarshal(rec.RequestParameters, &params); err != nil {
			t.Fatalf("%s: %v", rec.RequestParameters, err)
		}
		name := aws.ToString(ev.EventName)
		pe := permissionEvent{name: name, failed: rec.ErrorCode != "", raw: string(rec.RequestParameters),
			reset: name == "ResetImageAttribute" || name == "ResetSnapshotAttribute" || name == "DisableImage" || name == "DeregisterImage" || name == "DeleteSnapshot"}
		for _, m := range []*mods{params.LaunchPermission, params.CreateVolumePermission} {
			if m == nil {
				continue
			}
			for _, it := range m.Add.Items {
				pe.added = append(pe.added, it["userId"])
			}
			for _, it := range m.Remove.Items {
				pe.removed = append(pe.removed, it["userId"])
			}
		}
		if params.UserIDs != nil {
			ids := params.UserIDs.Items
			if params.OperationType == "add" {
				pe.added = append(pe.added, ids...)
			} else {
				pe.removed = append(pe.removed, ids...)
			}
		}
		out = append(out, pe)
	}
	return out
}
