//go:build linux

package cli

import (
	"context"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/benchkit"
	"github.com/amicrypt/amicrypt/internal/config"
	"github.com/amicrypt/amicrypt/workflows"
)

// Before amicrypt ever ran, an administrator of the builder let a tools
// account — also one of the run's targets — launch the us-east-1 source and
// create volumes from its snapshot. A run on the real worker binary shares
// the sources with its accounts, copies, and revokes: afterwards the tools
// account still has both permissions, and no other account has any, on
// either source. Read from the sandbox's state.
func TestARunLeavesWhatItsSourceWasSharedWithBeforeIt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the amicrypt binary and runs a pipeline")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	w := durWorld(t)
	w.Timing.CopySeconds = 1 // nothing need be caught pending
	s := startOneWorker(ctx, t, w, "preexisting")
	endpoint, c, taskQueue := s.endpoint, s.client, s.taskQueue

	cfg, err := config.Parse(config.Example(), "example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const builder, tools, other, region = "111111111111", "222222222222", "333333333333", "us-east-1"
	builderImages := builderSources(w, builder)
	b, src, all, err := cfg.Expand(builderImages)
	if err != nil {
		t.Fatal(err)
	}
	var targets []activities.Target
	for _, tg := range all {
		if tg.Account == tools || tg.Account == other {
			tg.BootProof.Enabled = false
			targets = append(targets, tg)
		}
	}
	if len(targets) < 2 || len(builderImages) < 2 {
		t.Fatalf("the example config or the default world changed: targets %v, sources %v", targets, builderImages)
	}
	in := workflows.PipelineInput{Builder: b, Sources: src, Targets: targets, InFlight: cfg.Concurrency.InFlight, PerAccountRegion: cfg.Concurrency.PerAccountRegion}
	in.RunID = runIDFor(in)

	// By hand, as the builder's administrator.
	source := builderImages[region]
	st, err := benchkit.ReadState(ctx, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	var snapshots []string
	for _, bd := range durRegion(st, builder, region).Images[source].BlockDevices {
		snapshots = append(snapshots, bd.SnapshotID)
	}
	if len(snapshots) == 0 {
		t.Fatalf("source %s has no snapshot", source)
	}
	admin := ec2.NewFromConfig(aws.Config{Region: region, BaseEndpoint: aws.String(endpoint), Credentials: credentials.NewStaticCredentialsProvider(builder, "sandbox", "")})
	if _, err := admin.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(source),
		LaunchPermission: &ec2types.LaunchPermissionModifications{Add: []ec2types.LaunchPermission{{UserId: aws.String(tools)}}}}); err != nil {
		t.Fatal(err)
	}
	for _, snap := range snapshots {
		if _, err := admin.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{SnapshotId: aws.String(snap), Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission,
			CreateVolumePermission: &ec2types.CreateVolumePermissionModifications{Add: []ec2types.CreateVolumePermission{{UserId: aws.String(tools)}}}}); err != nil {
			t.Fatal(err)
		}
	}

	run, _, err := startPipeline(ctx, c, taskQueue, in)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := followRun(ctx, c, run, io.Discard, true)
	if err != nil {
		t.Fatalf("run %s: %v", in.RunID, err)
	}
	if err := checkOutcomes(rep, expectedOutcomes(w, targets)); err != nil {
		t.Errorf("run %s: %v", in.RunID, err)
	}

	st = durSettledState(ctx, t, endpoint)
	for r, id := range builderImages {
		var want []string
		if r == region {
			want = []string{tools}
		}
		reg := durRegion(st, builder, r)
		im := reg.Images[id]
		if im == nil {
			t.Fatalf("source %s in %s is gone", id, r)
		}
		if got := slices.Sorted(slices.Values(im.LaunchPermissions)); !slices.Equal(got, want) {
			t.Errorf("source %s in %s: launch permissions %v after the run, want %v", id, r, got, want)
		}
		for _, bd := range im.BlockDevices {
			if sn := reg.Snapshots[bd.SnapshotID]; sn != nil && !slices.Equal(slices.Sorted(slices.Values(sn.CreateVolumePermissions)), want) {
				t.Errorf("snapshot %s of source %s in %s: create-volume permissions %v after the run, want %v", sn.ID, id, r, sn.CreateVolumePermissions, want)
			}
		}
	}
}
