package activities

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func TestShareAndUnshareAreBatched(t *testing.T) {
	h := newHarness(t)
	accounts := []string{payments, analytics, legacy, keyOwner, "666666666666", payments}
	in := ShareSourceInput{Builder: Builder{Account: builderAcct}, Source: Source{Region: region, ImageID: sourceAMI}, Accounts: accounts}
	res := must[ShareSourceResult](h, h.acts.ShareSource, in)
	if n := h.sb.Calls(builderAcct, region, "ec2:ModifyImageAttribute"); n != 1 {
		t.Errorf("ModifyImageAttribute called %d times for 5 accounts, want 1", n)
	}
	if n := h.sb.Calls(builderAcct, region, "ec2:ModifySnapshotAttribute"); n != 1 {
		t.Errorf("ModifySnapshotAttribute called %d times for one snapshot, want 1", n)
	}
	if res.Calls < 3 {
		t.Errorf("reported %d builder calls", res.Calls)
	}
	want := []string{payments, analytics, legacy, keyOwner, "666666666666"}
	slices.Sort(want)
	if got := h.launchPermissions(); !slices.Equal(got, want) {
		t.Fatalf("launch permissions %v, want %v", got, want)
	}
	must[ShareSourceResult](h, h.acts.ShareSource, in) // sharing again is harmless

	must[ShareSourceResult](h, h.acts.UnshareSource, in)
	if got := h.launchPermissions(); len(got) != 0 {
		t.Fatalf("launch permissions after unshare: %v", got)
	}
	if n := h.sb.Calls(builderAcct, region, "ec2:ModifyImageAttribute"); n != 3 {
		t.Errorf("ModifyImageAttribute called %d times for share, share, unshare; want 3", n)
	}
	must[ShareSourceResult](h, h.acts.UnshareSource, in) // unsharing again is harmless
}

func (h *harness) launchPermissions() []string {
	h.t.Helper()
	out, err := h.rootEC2(builderAcct).DescribeImageAttribute(h.ctx, &ec2.DescribeImageAttributeInput{
		ImageId: aws.String(sourceAMI), Attribute: ec2types.ImageAttributeNameLaunchPermission,
	})
	if err != nil {
		h.t.Fatalf("describe image attribute: %v", err)
	}
	var ids []string
	for _, p := range out.LaunchPermissions {
		ids = append(ids, aws.ToString(p.UserId))
	}
	slices.Sort(ids)
	return ids
}

func TestShareRefusesASourceUnderTheAWSManagedKeyWithF1(t *testing.T) {
	h := newHarness(t)
	in := ShareSourceInput{Builder: Builder{Account: builderAcct}, Source: Source{Region: region, ImageID: managedAMI}, Accounts: []string{payments}}
	d := diagnosed(h, h.acts.ShareSource, in, F1)
	if n := h.sb.Calls(builderAcct, region, "ec2:ModifyImageAttribute") + h.sb.Calls(builderAcct, region, "ec2:ModifySnapshotAttribute"); n != 0 {
		t.Errorf("%d permission changes were attempted before refusing", n)
	}
	if !contains(d.Fix, "disable-ebs-encryption-by-default") || !contains(d.Cause, managedAMI) {
		t.Errorf("diagnosis: %s", d)
	}
}

// volumePermissions are the accounts with create-volume permission on the
// source's snapshot.
func (h *harness) volumePermissions() []string {
	h.t.Helper()
	snap := h.sourceSnapshot()
	out, err := h.rootEC2(builderAcct).DescribeSnapshotAttribute(h.ctx, &ec2.DescribeSnapshotAttributeInput{
		SnapshotId: aws.String(snap), Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission,
	})
	if err != nil {
		h.t.Fatalf("describe snapshot attribute: %v", err)
	}
	var ids []string
	for _, p := range out.CreateVolumePermissions {
		ids = append(ids, aws.ToString(p.UserId))
	}
	slices.Sort(ids)
	return ids
}

func (h *harness) sourceSnapshot() string {
	h.t.Helper()
	out, err := h.rootEC2(builderAcct).DescribeImages(h.ctx, &ec2.DescribeImagesInput{ImageIds: []string{sourceAMI}})
	if err != nil || len(out.Images) != 1 {
		h.t.Fatalf("describe source: %v", err)
	}
	snaps := imageSnapshots(out.Images[0])
	if len(snaps) != 1 {
		h.t.Fatalf("the source has snapshots %v; these tests expect one", snaps)
	}
	return snaps[0]
}

// shareByHand gives account the source's launch permission and, with
// volumes, its snapshot's create-volume permission, as an administrator of
// the builder would.
func (h *harness) shareByHand(account string, volumes bool) {
	h.t.Helper()
	if _, err := h.rootEC2(builderAcct).ModifyImageAttribute(h.ctx, &ec2.ModifyImageAttributeInput{
		ImageId:          aws.String(sourceAMI),
		LaunchPermission: &ec2types.LaunchPermissionModifications{Add: []ec2types.LaunchPermission{{UserId: aws.String(account)}}},
	}); err != nil {
		h.t.Fatal(err)
	}
	if !volumes {
		return
	}
	if _, err := h.rootEC2(builderAcct).ModifySnapshotAttribute(h.ctx, &ec2.ModifySnapshotAttributeInput{
		SnapshotId: aws.String(h.sourceSnapshot()), Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission,
		CreateVolumePermission: &ec2types.CreateVolumePermissionModifications{Add: []ec2types.CreateVolumePermission{{UserId: aws.String(account)}}},
	}); err != nil {
		h.t.Fatal(err)
	}
}

// batchesSharing is a WorkflowChecker whose other running batches hold what
// answers says: each BatchShares call takes the next answer, the last one
// repeats.
type batchesSharing struct {
	workflowsRunning
	mu      sync.Mutex
	answers [][]BatchShare
	asked   []string // "<image> <accounts> except <workflow>", and " as of" when asOf is set
}

func (b *batchesSharing) BatchShares(_ context.Context, imageID string, accounts []string, except string, asOf time.Time) ([]BatchShare, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := imageID + " " + strings.Join(accounts, ",") + " except " + except
	if !asOf.IsZero() {
		q += " as of"
	}
	b.asked = append(b.asked, q)
	if len(b.answers) == 0 {
		return nil, nil
	}
	out := b.answers[0]
	if len(b.answers) > 1 {
		b.answers = b.answers[1:]
	}
	return out, nil
}

// A tools account was given the source's launch and create-volume
// permission by hand before amicrypt ran, and is also a target: amicrypt
// records both as pre-existing, and after sharing and revoking they are
// still there, while the other accounts' are gone.
func TestUnshareLeavesWhatTheSourceHadBeforeAmicrypt(t *testing.T) {
	checker := &batchesSharing{}
	h := newHarnessOf(t, testWorld, func(c *Config) { c.Workflows = checker })
	h.shareByHand(payments, true)
	h.shareByHand(keyOwner, false) // launch only: amicrypt adds (and removes) its create-volume permission
	in := ShareSourceInput{Builder: Builder{Account: builderAcct}, Source: Source{Region: region, ImageID: sourceAMI},
		Accounts: []string{payments, analytics, legacy, keyOwner}}

	found := must[PreexistingShares](h, h.acts.FindPreexistingShares, in)
	snap := h.sourceSnapshot()
	want := SourcePermissions{Launch: []string{payments, keyOwner}, Snapshots: []SnapshotAccounts{{SnapshotID: snap, Accounts: []string{payments}}}}
	slices.Sort(want.Launch)
	if !reflect.DeepEqual(found.Keep, want) {
		t.Fatalf("pre-existing permissions %+v, want %+v", found.Keep, want)
	}
	if !slices.ContainsFunc(checker.asked, func(q string) bool { return strings.HasSuffix(q, " as of") }) {
		t.Errorf("before calling permissions pre-existing, Temporal was not asked as of the read: %v", checker.asked)
	}

	in.Keep = found.Keep
	must[ShareSourceResult](h, h.acts.ShareSource, in)
	all := []string{payments, analytics, legacy, keyOwner}
	slices.Sort(all)
	if got := h.launchPermissions(); !slices.Equal(got, all) {
		t.Fatalf("launch permissions after sharing %v, want %v", got, all)
	}
	if got := h.volumePermissions(); !slices.Equal(got, all) {
		t.Fatalf("create-volume permissions after sharing %v, want %v", got, all)
	}

	must[ShareSourceResult](h, h.acts.UnshareSource, in)
	wantLaunch := []string{payments, keyOwner}
	slices.Sort(wantLaunch)
	if got := h.launchPermissions(); !slices.Equal(got, wantLaunch) {
		t.Errorf("launch permissions after revoking %v, want the pre-existing %v", got, wantLaunch)
	}
	if got := h.volumePermissions(); !slices.Equal(got, []string{payments}) {
		t.Errorf("create-volume permissions after revoking %v, want the pre-existing [%s]", got, payments)
	}

	// A second run finds the same, and revoking again changes nothing.
	again := must[PreexistingShares](h, h.acts.FindPreexistingShares, in)
	if !reflect.DeepEqual(again.Keep, want) {
		t.Errorf("a second look found %+v, want %+v", again.Keep, want)
	}
	must[ShareSourceResult](h, h.acts.UnshareSource, in)
	if got := h.launchPermissions(); !slices.Equal(got, wantLaunch) {
		t.Errorf("launch permissions after revoking again %v, want %v", got, wantLaunch)
	}
}

// Another running batch of the same source still needs analytics (its
// targets copy): revoking this batch's shares leaves analytics shared, and
// the question left the caller's own workflow out.
func TestUnshareLeavesWhatAnotherRunningBatchNeeds(t *testing.T) {
	other := &batchesSharing{answers: [][]BatchShare{{{WorkflowID: "amicrypt-batch-other-0", Needed: []string{analytics}, Held: []string{analytics}}}}}
	h := newHarnessOf(t, testWorld, func(c *Config) { c.Workflows = other })
	in := ShareSourceInput{Builder: Builder{Account: builderAcct}, Source: Source{Region: region, ImageID: sourceAMI}, Accounts: []string{payments, analytics}}
	must[ShareSourceResult](h, h.acts.ShareSource, in)
	must[ShareSourceResult](h, h.acts.UnshareSource, in)
	if got := h.launchPermissions(); !slices.Equal(got, []string{analytics}) {
		t.Errorf("launch permissions %v, want [%s] (another batch needs it)", got, analytics)
	}
	if got := h.volumePermissions(); !slices.Equal(got, []string{analytics}) {
		t.Errorf("create-volume permissions %v, want [%s]", got, analytics)
	}
	if len(other.asked) == 0 || strings.HasSuffix(other.asked[0], " except ") {
		t.Errorf("the question did not name the caller's workflow: %v", other.asked)
	}

	// Once that batch handed analytics to its own revocation, this one
	// removes it.
	other.answers = [][]BatchShare{{{WorkflowID: "amicrypt-batch-other-0", Held: []string{analytics}}}}
	must[ShareSourceResult](h, h.acts.UnshareSource, in)
	if got := h.launchPermissions(); len(got) != 0 {
		t.Errorf("launch permissions %v after the other batch let go", got)
	}
}

// A permission in place is amicrypt's when another running batch holds the
// account — unless that batch was told it predates amicrypt.
func TestFindPreexistingSharesTellsAnotherBatchsShareFromAnOlderOne(t *testing.T) {
	other := &batchesSharing{}
	h := newHarnessOf(t, testWorld, func(c *Config) { c.Workflows = other })
	in := ShareSourceInput{Builder: Builder{Account: builderAcct}, Source: Source{Region: region, ImageID: sourceAMI}, Accounts: []string{payments, analytics}}
	// The other batch shared both; it found payments' permission in place
	// before amicrypt (and said so in its ShareSource's Keep).
	h.shareByHand(payments, true)
	h.shareByHand(analytics, true)
	snap := h.sourceSnapshot()
	other.answers = [][]BatchShare{{{WorkflowID: "amicrypt-batch-other-0", Needed: []string{payments, analytics}, Held: []string{payments, analytics},
		Keep: SourcePermissions{Launch: []string{payments}, Snapshots: []SnapshotAccounts{{SnapshotID: snap, Accounts: []string{payments}}}}}}}
	found := must[PreexistingShares](h, h.acts.FindPreexistingShares, in)
	want := SourcePermissions{Launch: []string{payments}, Snapshots: []SnapshotAccounts{{SnapshotID: snap, Accounts: []string{payments}}}}
	if !reflect.DeepEqual(found.Keep, want) {
		t.Errorf("pre-existing %+v, want %+v: analytics' permissions are the other batch's", found.Keep, want)
	}

	// The other batch held analytics while the permissions were read, and
	// let go of it (its revocation completed) before the second question:
	// the first answer still tells.
	other.answers = [][]BatchShare{
		{{WorkflowID: "amicrypt-batch-other-0", Needed: []string{analytics}, Held: []string{analytics}}},
		nil,
	}
	found = must[PreexistingShares](h, h.acts.FindPreexistingShares, in)
	if !reflect.DeepEqual(found.Keep, want) {
		t.Errorf("pre-existing %+v, want %+v: analytics' permission was the other batch's when read", found.Keep, want)
	}
}

// Between UnshareSource's question and its removal, a batch that started
// meanwhile may have shared the source with the same account: asked again
// after removing, UnshareSource gives its share back.
func TestUnshareGivesBackWhatABatchThatStartedMeanwhileNeeds(t *testing.T) {
	other := &batchesSharing{answers: [][]BatchShare{
		nil, // before removing: no other batch
		{{WorkflowID: "amicrypt-batch-new-0", Needed: []string{analytics}, Held: []string{analytics}}}, // after
	}}
	h := newHarnessOf(t, testWorld, func(c *Config) { c.Workflows = other })
	in := ShareSourceInput{Builder: Builder{Account: builderAcct}, Source: Source{Region: region, ImageID: sourceAMI}, Accounts: []string{payments, analytics}}
	must[ShareSourceResult](h, h.acts.ShareSource, in)
	must[ShareSourceResult](h, h.acts.UnshareSource, in)
	if got := h.launchPermissions(); !slices.Equal(got, []string{analytics}) {
		t.Errorf("launch permissions %v, want [%s] given back", got, analytics)
	}
	if got := h.volumePermissions(); !slices.Equal(got, []string{analytics}) {
		t.Errorf("create-volume permissions %v, want [%s] given back", got, analytics)
	}
}

// A run shares a source with a batch of accounts at a time, within what
// AWS's quota leaves: the plan of 2,500 accounts says so, and predicts a
// refusal only when one batch does not fit.
func TestPlanShareOfMoreAccountsThanTheQuotaSharesThemInWaves(t *testing.T) {
	h := newHarness(t)
	h.shareByHand(keyOwner, false) // one entity in use
	accounts := make([]string, 2500)
	for i := range accounts {
		accounts[i] = fmt.Sprintf("3%011d", i)
	}
	in := ShareSourceInput{Builder: Builder{Account: builderAcct}, Source: Source{Region: region, ImageID: sourceAMI}, Accounts: accounts, AtOnce: 25}
	plan := must[SourcePlan](h, h.acts.PlanShare, in)
	if plan.Failure != nil || plan.Share == nil {
		t.Fatalf("plan of 2,500 accounts in batches of 25: failure %+v, share %+v; want a share in waves", plan.Failure, plan.Share)
	}
	if want := "with 2500 accounts for the run, at most 999 at a time"; !strings.Contains(plan.Share.Evidence, want) {
		t.Errorf("the share's evidence %q does not say %q", plan.Share.Evidence, want)
	}

	in.AtOnce = 0 // all at once: more than the quota leaves
	plan = must[SourcePlan](h, h.acts.PlanShare, in)
	if plan.Failure == nil || plan.Failure.Code != Quota || !strings.Contains(plan.Failure.Cause, "leaving room for 999; a batch of the run adds up to 2500") {
		t.Errorf("plan of 2,500 accounts at once: %+v, want the quota refusal", plan.Failure)
	}
	if n := h.sb.Calls(builderAcct, region, "ec2:ModifyImageAttribute"); n != 1 {
		t.Errorf("ModifyImageAttribute called %d times; want only the share by hand", n)
	}
}
