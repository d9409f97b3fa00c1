package activities

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"go.temporal.io/sdk/activity"
)

// shareChunk is the most account ids amicrypt puts in one permission change.
const shareChunk = 100

// SourcePermissions are accounts' permissions on a source image: launch
// permission on the image, create-volume permission on each of its
// snapshots.
type SourcePermissions struct {
	Launch []string `json:"launch,omitempty"`
	// Snapshots has an entry per snapshot of the image when read by
	// FindPreexistingShares, with or without accounts.
	Snapshots []SnapshotAccounts `json:"snapshots,omitempty"`
}

// SnapshotAccounts are the accounts with create-volume permission on one
// snapshot.
type SnapshotAccounts struct {
	SnapshotID string   `json:"snapshot_id"`
	Accounts   []string `json:"accounts,omitempty"`
}

// imageResource names the image among a source's resources; the others are
// its snapshots' ids.
const imageResource = ""

// has tells whether account has the permission on resource: the image
// (imageResource) or a snapshot.
func (p SourcePermissions) has(resource, account string) bool {
	if resource == imageResource {
		return slices.Contains(p.Launch, account)
	}
	for _, s := range p.Snapshots {
		if s.SnapshotID == resource {
			return slices.Contains(s.Accounts, account)
		}
	}
	return false
}

// Only is p for accounts only, without the snapshots left with none.
// Deterministic: the Batch workflow calls it.
func (p SourcePermissions) Only(accounts []string) SourcePermissions {
	keep := func(list []string) []string {
		var out []string
		for _, a := range list {
			if slices.Contains(accounts, a) {
				out = append(out, a)
			}
		}
		return out
	}
	out := SourcePermissions{Launch: keep(p.Launch)}
	for _, s := range p.Snapshots {
		if kept := keep(s.Accounts); len(kept) > 0 {
			out.Snapshots = append(out.Snapshots, SnapshotAccounts{SnapshotID: s.SnapshotID, Accounts: kept})
		}
	}
	return out
}

// HasAll tells whether p holds every permission of account: launch, and
// create-volume on every snapshot listed (a Keep FindPreexistingShares read
// lists every snapshot).
func (p SourcePermissions) HasAll(account string) bool {
	if !slices.Contains(p.Launch, account) {
		return false
	}
	for _, s := range p.Snapshots {
		if !slices.Contains(s.Accounts, account) {
			return false
		}
	}
	return true
}

// BatchShare is what one running Batch workflow holds of a source image,
// read from its history (worker.TemporalWorkflows).
type BatchShare struct {
	WorkflowID string `json:"workflow_id"`
	// Needed are the accounts its ShareSource calls shared the image with
	// and it has not handed to UnshareSource yet: their targets may still
	// copy the source.
	Needed []string `json:"needed,omitempty"`
	// Held are Needed and the accounts whose UnshareSource has not
	// completed: their permissions may still be its doing.
	Held []string `json:"held,omitempty"`
	// Keep are the permissions its ShareSource calls were told the source
	// had before amicrypt (their inputs' Keep).
	Keep SourcePermissions `json:"keep,omitzero"`
}

// PreexistingShares is what FindPreexistingShares found.
type PreexistingShares struct {
	// Keep are the permissions of the request's accounts that the source
	// had before amicrypt shared it, with an entry per snapshot.
	Keep SourcePermissions `json:"keep"`
	// Calls counts the builder calls made.
	Calls int `json:"calls"`
}

// FindPreexistingShares reads, before ShareSource, which of the accounts
// already have the source's launch permission and each snapshot's
// create-volume permission, and returns those amicrypt did not add — given
// by hand (a tools account), or before amicrypt ran at all. The Batch
// passes them to ShareSource and UnshareSource as Keep: they are never
// added, never removed.
//
// A permission in place is amicrypt's when another running Batch holds the
// account (see BatchShare: it shared the image with it, and its revocation
// has not completed), unless one of them was told it predates amicrypt.
// Temporal is asked before and after the permissions are read (see below).
// The activity only reads, so its retries read the same facts (ShareSource
// itself, retried after it shared, could no longer tell its own share from
// an older one).
func (a *Activities) FindPreexistingShares(ctx context.Context, in ShareSourceInput) (PreexistingShares, error) {
	ctx, stop := a.keepAlive(ctx)
	defer stop()
	b, src := in.Builder, in.Source
	ec := a.clients.EC2(builderAccess(b, src.Region))
	w := where{Account: b.Account, Region: src.Region, Resource: "source image " + src.ImageID}
	var res PreexistingShares

	accounts := shareAccounts(in.Accounts, b.Account)
	if len(accounts) == 0 {
		return res, nil
	}
	res.Calls++
	im, found, err := describeSource(ctx, ec, src, w)
	if err != nil {
		return res, err
	}
	if !found {
		return res, sourceMissing(src, b)
	}
	snapshots := imageSnapshots(im)
	// Who holds the accounts' shares, asked before and after reading the
	// permissions: a batch that held one while it was read, and let go of
	// it before the second question, is in the first answer; one that
	// shared before the read had scheduled its ShareSource by then, and is
	// in the second — which, before calling a permission pre-existing (it
	// is then never revoked), waits until every batch started before the
	// read is listed (Temporal's visibility lags).
	others, err := a.batchShares(ctx, src.ImageID, accounts, time.Time{})
	if err != nil {
		return res, err
	}
	read := time.Now()
	now, calls, err := readPermissions(ctx, ec, src.ImageID, snapshots, w)
	res.Calls += calls
	if err != nil {
		return res, err
	}
	var present []string
	for _, acct := range accounts {
		if now.has(imageResource, acct) || slices.ContainsFunc(snapshots, func(s string) bool { return now.has(s, acct) }) {
			present = append(present, acct)
		}
	}
	keep := func(r, acct string) bool { return now.has(r, acct) && !amicrypts(r, acct, others) }
	if kept := permissionsOf(present, snapshots, keep); !kept.empty() {
		after, err := a.batchShares(ctx, src.ImageID, kept.accounts(), read)
		if err != nil {
			return res, err
		}
		others = append(others, after...)
	}
	res.Keep = permissionsOf(present, snapshots, keep)
	if len(present) > 0 {
		log := a.logFor(b.Account, src.Region)
		log.Info().Str("image", src.ImageID).Strs("preexisting", res.Keep.Launch).Strs("present", present).
			Strs("other_batches", batchIDs(others)).Msg("permissions the source had before amicrypt are kept")
	}
	return res, nil
}

// amicrypts tells whether account's permission on resource, in place, is
// amicrypt's: a running batch holds the account, and none was told the
// permission predates amicrypt.
func amicrypts(resource, account string, others []BatchShare) bool {
	held := false
	for _, o := range others {
		if o.Keep.has(resource, account) {
			return false
		}
		held = held || slices.Contains(o.Held, account)
	}
	return held
}

// stillNeeded tells whether another running batch needs account's
// permission on resource: it needs the account's share, or was told the
// permission predates amicrypt.
func stillNeeded(resource, account string, others []BatchShare) bool {
	for _, o := range others {
		if slices.Contains(o.Needed, account) || o.Keep.has(resource, account) {
			return true
		}
	}
	return false
}

func batchIDs(others []BatchShare) []string {
	ids := make([]string, len(others))
	for i, o := range others {
		ids[i] = o.WorkflowID
	}
	return ids
}

// batchShares asks Temporal what the other running batches hold of the
// image (nothing without a checker: tests of single activities). The
// caller's own workflow is left out: what it holds is its input.
func (a *Activities) batchShares(ctx context.Context, imageID string, accounts []string, asOf time.Time) ([]BatchShare, error) {
	if a.workflows == nil || len(accounts) == 0 {
		return nil, nil
	}
	self := ""
	if activity.IsActivity(ctx) {
		self = activity.GetInfo(ctx).WorkflowExecution.ID
	}
	others, err := a.workflows.BatchShares(ctx, imageID, accounts, self, asOf)
	if err != nil {
		return nil, fmt.Errorf("asking Temporal which running batches share %s, %w", imageID, err)
	}
	return others, nil
}

// ShareSource lets the accounts launch the source image and create volumes
// from its snapshots (step 4), in as few builder calls as possible: one
// ModifyImageAttribute per 100 accounts, and one ModifySnapshotAttribute per
// snapshot and 100 accounts. Adding a permission that exists is harmless;
// those in in.Keep (they predate amicrypt) are not added. A source whose
// snapshots are under the AWS managed key cannot be shared: F1, refused
// before any change.
func (a *Activities) ShareSource(ctx context.Context, in ShareSourceInput) (ShareSourceResult, error) {
	// The last guard: nothing of the builder's goes to an account this
	// worker may not serve, whatever the workflow's input names.
	if err := a.refuseUnallowed("sharing source image "+in.Source.ImageID, in.Accounts...); err != nil {
		return ShareSourceResult{}, err
	}
	return a.changeShares(ctx, in, true)
}

// UnshareSource removes what ShareSource added (step 8), with the same
// batching; removing a permission that is not there, or from an image that
// is gone, is harmless. The workflow calls it on success, failure and
// cancellation.
//
// It never removes a permission in in.Keep, nor one another running batch
// of the same source still needs or was told predates amicrypt. How it
// knows: at the moment of the call it asks the WorkflowChecker, which asks
// Temporal — the running Batch workflows from its visibility, and from each
// one's history its ShareSource inputs (accounts, Keep) minus the accounts
// it has handed to an UnshareSource (see BatchShare, and
// workflows.RunningShares). The caller's own workflow is left out. After
// removing, it asks again and gives back what a batch that shared the
// source meanwhile needs: between the two questions its share may have
// been removed. What is left: a batch that started and shared within the
// lag of Temporal's visibility before the second question is not listed,
// and loses its share; and a copy started between the removal and the
// giving back is refused.
func (a *Activities) UnshareSource(ctx context.Context, in ShareSourceInput) (ShareSourceResult, error) {
	return a.changeShares(ctx, in, false)
}

func (a *Activities) changeShares(ctx context.Context, in ShareSourceInput, add bool) (ShareSourceResult, error) {
	ctx, stop := a.keepAlive(ctx)
	defer stop()
	b, src := in.Builder, in.Source
	acc := builderAccess(b, src.Region)
	ec := a.clients.EC2(acc)
	log := a.logFor(b.Account, src.Region).With().Str("image", src.ImageID).Logger()
	w := where{Account: b.Account, Region: src.Region, Resource: "source image " + src.ImageID}
	var res ShareSourceResult

	accounts := shareAccounts(in.Accounts, b.Account)
	if len(accounts) == 0 {
		return res, nil
	}
	res.Calls++
	im, found, err := describeSource(ctx, ec, src, w)
	if err != nil {
		return res, err
	}
	if !found {
		if !add {
			return res, nil // nothing left to revoke
		}
		return res, sourceMissing(src, b)
	}
	snapshots := imageSnapshots(im)
	res.Name, res.Created = aws.ToString(im.Name), aws.ToString(im.CreationDate)

	if add {
		n, err := a.refuseAWSManagedSource(ctx, acc, src, snapshots)
		res.Calls += n
		if err != nil {
			return res, err
		}
		change := permissionsOf(accounts, snapshots, func(r, acct string) bool { return !in.Keep.has(r, acct) })
		before := a.launchPermissionsBefore(ctx, ec, src.ImageID, &res)
		// Volumes first, so a target that sees the image can also copy it.
		if err := a.changeSnapshotShares(ctx, ec, change, add, &res, w); err != nil {
			return res, err
		}
		if err := changeImageShares(ctx, ec, src.ImageID, change.Launch, add, &res, w); err != nil {
			return res, err
		}
		a.metrics.SharesChanged(changedShares(change.Launch, before, true), 0)
		log.Info().Int("accounts", len(change.Launch)).Strs("preexisting", in.Keep.Only(accounts).Launch).Int("calls", res.Calls).Msg("source shared")
		return res, nil
	}

	others, err := a.batchShares(ctx, src.ImageID, accounts, time.Time{})
	if err != nil {
		return res, err
	}
	change := permissionsOf(accounts, snapshots, func(r, acct string) bool {
		return !in.Keep.has(r, acct) && !stillNeeded(r, acct, others)
	})
	before := a.launchPermissionsBefore(ctx, ec, src.ImageID, &res)
	// Revoke visibility first.
	if err := changeImageShares(ctx, ec, src.ImageID, change.Launch, add, &res, w); err != nil {
		return res, err
	}
	a.metrics.SharesChanged(0, changedShares(change.Launch, before, false))
	if err := a.changeSnapshotShares(ctx, ec, change, add, &res, w); err != nil {
		return res, err
	}
	kept := slices.DeleteFunc(slices.Clone(accounts), func(acct string) bool { return slices.Contains(change.Launch, acct) })
	log.Info().Int("accounts", len(change.Launch)).Strs("kept", kept).Strs("other_batches", batchIDs(others)).Int("calls", res.Calls).Msg("source unshared")

	// A batch that shared the source after the question above may have
	// lost its share: give it back.
	removed := change.accounts()
	again, err := a.batchShares(ctx, src.ImageID, removed, time.Time{})
	if err != nil {
		return res, err
	}
	back := permissionsOf(removed, snapshots, func(r, acct string) bool { return change.has(r, acct) && stillNeeded(r, acct, again) })
	if back.empty() {
		return res, nil
	}
	if err := a.changeSnapshotShares(ctx, ec, back, true, &res, w); err != nil {
		return res, err
	}
	if err := changeImageShares(ctx, ec, src.ImageID, back.Launch, true, &res, w); err != nil {
		return res, err
	}
	a.metrics.SharesChanged(len(back.Launch), 0)
	log.Warn().Strs("accounts", back.accounts()).Strs("other_batches", batchIDs(again)).Msg("shared again: a batch that started meanwhile needs them")
	return res, nil
}

// permissionsOf are the permissions (launch; create-volume on each
// snapshot) of accounts that pass keep.
func permissionsOf(accounts, snapshots []string, keep func(resource, account string) bool) SourcePermissions {
	var p SourcePermissions
	for _, acct := range accounts {
		if keep(imageResource, acct) {
			p.Launch = append(p.Launch, acct)
		}
	}
	for _, s := range snapshots {
		sa := SnapshotAccounts{SnapshotID: s}
		for _, acct := range accounts {
			if keep(s, acct) {
				sa.Accounts = append(sa.Accounts, acct)
			}
		}
		p.Snapshots = append(p.Snapshots, sa)
	}
	return p
}

// accounts are the accounts with any permission in p, sorted.
func (p SourcePermissions) accounts() []string {
	out := slices.Clone(p.Launch)
	for _, s := range p.Snapshots {
		out = append(out, s.Accounts...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (p SourcePermissions) empty() bool { return len(p.accounts()) == 0 }

// describeSource reads the source image; found is false when it does not
// exist.
func describeSource(ctx context.Context, ec EC2API, src Source, w where) (im ec2types.Image, found bool, err error) {
	out, err := ec.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{src.ImageID}})
	if err != nil && !IsNotFound(err) {
		return im, false, diagnose(err, "ec2:DescribeImages", w)
	}
	if err != nil || len(out.Images) == 0 {
		return im, false, nil
	}
	return out.Images[0], true, nil
}

func sourceMissing(src Source, b Builder) error {
	return Diagnosed(Diagnosis{
		Code:  SourceUnusable,
		Cause: fmt.Sprintf("source image %s does not exist in builder account %s, %s", src.ImageID, b.Account, src.Region),
		Fix:   "Check the source image id and region (the Packer artifact's region:ami-id), then run again.",
	}, nil)
}

// readPermissions reads the accounts with launch permission on the image
// and create-volume permission on each snapshot (groups, such as "all",
// are not accounts and are left out). It returns the number of calls.
func readPermissions(ctx context.Context, ec EC2API, imageID string, snapshots []string, w where) (SourcePermissions, int, error) {
	var p SourcePermissions
	calls := 1
	out, err := ec.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: aws.String(imageID), Attribute: ec2types.ImageAttributeNameLaunchPermission})
	if err != nil {
		return p, calls, diagnose(err, "ec2:DescribeImageAttribute", w)
	}
	for _, lp := range out.LaunchPermissions {
		if id := aws.ToString(lp.UserId); id != "" {
			p.Launch = append(p.Launch, id)
		}
	}
	for _, snap := range snapshots {
		calls++
		out, err := ec.DescribeSnapshotAttribute(ctx, &ec2.DescribeSnapshotAttributeInput{SnapshotId: aws.String(snap), Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission})
		if err != nil {
			sw := w
			sw.Resource += ", snapshot " + snap
			return p, calls, diagnose(err, "ec2:DescribeSnapshotAttribute", sw)
		}
		sa := SnapshotAccounts{SnapshotID: snap}
		for _, cv := range out.CreateVolumePermissions {
			if id := aws.ToString(cv.UserId); id != "" {
				sa.Accounts = append(sa.Accounts, id)
			}
		}
		p.Snapshots = append(p.Snapshots, sa)
	}
	return p, calls, nil
}

// shareAccounts is the sorted, de-duplicated list of accounts to share with,
// without the builder itself.
func shareAccounts(accounts []string, builder string) []string {
	out := slices.Clone(accounts)
	slices.Sort(out)
	out = slices.Compact(out)
	return slices.DeleteFunc(out, func(a string) bool { return a == "" || a == builder })
}

func imageSnapshots(im ec2types.Image) []string {
	var out []string
	for _, bd := range im.BlockDeviceMappings {
		if bd.Ebs != nil && aws.ToString(bd.Ebs.SnapshotId) != "" {
			out = append(out, aws.ToString(bd.Ebs.SnapshotId))
		}
	}
	return out
}

func chunks(ids []string) [][]string {
	var out [][]string
	for len(ids) > shareChunk {
		out = append(out, ids[:shareChunk])
		ids = ids[shareChunk:]
	}
	return append(out, ids)
}

func changeImageShares(ctx context.Context, ec EC2API, imageID string, accounts []string, add bool, res *ShareSourceResult, w where) error {
	if len(accounts) == 0 {
		return nil
	}
	for _, part := range chunks(accounts) {
		perms := make([]ec2types.LaunchPermission, len(part))
		for i, acct := range part {
			perms[i] = ec2types.LaunchPermission{UserId: aws.String(acct)}
		}
		mods := &ec2types.LaunchPermissionModifications{}
		if add {
			mods.Add = perms
		} else {
			mods.Remove = perms
		}
		res.Calls++
		_, err := ec.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(imageID), LaunchPermission: mods})
		if err != nil && add && APICode(err) == "ResourceLimitExceeded" {
			// Not the concurrent-copy limit waiting would lift: the image's
			// sharing quota.
			return Diagnosed(shareLimitDiagnosis(w, apiMessage(err)), err)
		}
		if err != nil && !(IsNotFound(err) && !add) {
			return diagnose(err, "ec2:ModifyImageAttribute", w)
		}
	}
	return nil
}

func (a *Activities) changeSnapshotShares(ctx context.Context, ec EC2API, change SourcePermissions, add bool, res *ShareSourceResult, w where) error {
	for _, sa := range change.Snapshots {
		if len(sa.Accounts) == 0 {
			continue
		}
		snap := sa.SnapshotID
		for _, part := range chunks(sa.Accounts) {
			perms := make([]ec2types.CreateVolumePermission, len(part))
			for i, acct := range part {
				perms[i] = ec2types.CreateVolumePermission{UserId: aws.String(acct)}
			}
			mods := &ec2types.CreateVolumePermissionModifications{}
			if add {
				mods.Add = perms
			} else {
				mods.Remove = perms
			}
			res.Calls++
			_, err := ec.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{
				SnapshotId: aws.String(snap), Attribute: ec2types.SnapshotAttributeNameCreateVolumePermission, CreateVolumePermission: mods,
			})
			if err != nil && !(IsNotFound(err) && !add) {
				sw := w
				sw.Resource += ", snapshot " + snap
				return diagnose(err, "ec2:ModifySnapshotAttribute", sw)
			}
		}
	}
	return nil
}

// awsManagedSourceDiagnosis is F1: a source snapshot under the AWS managed
// key, which cannot be shared.
func awsManagedSourceDiagnosis(src Source, builder, snapshot, key string) Diagnosis {
	return Diagnosis{
		Code: F1,
		Cause: fmt.Sprintf("source image %s in builder account %s, %s has snapshot %s encrypted with the AWS managed key %s, which cannot be shared with other accounts",
			src.ImageID, builder, src.Region, snapshot, key),
		Fix: f1Fix(src.Region),
	}
}

// refuseAWSManagedSource is F1 before any change: a snapshot under an AWS
// managed key (aws/ebs) cannot be shared. Where the builder may not describe
// the key, ModifyImageAttribute's own refusal is diagnosed instead. It
// returns the number of calls made.
func (a *Activities) refuseAWSManagedSource(ctx context.Context, acc Access, src Source, snapshots []string) (int, error) {
	if len(snapshots) == 0 {
		return 0, nil
	}
	calls := 1
	out, err := a.clients.EC2(acc).DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: snapshots})
	if err != nil {
		return calls, diagnose(err, "ec2:DescribeSnapshots", where{Account: acc.Account, Region: acc.Region, Resource: "source image " + src.ImageID})
	}
	seen := map[string]*kmstypes.KeyMetadata{}
	for _, sn := range out.Snapshots {
		key := aws.ToString(sn.KmsKeyId)
		if !aws.ToBool(sn.Encrypted) || key == "" {
			continue
		}
		md, ok := seen[key]
		if !ok {
			calls++
			got, err := a.clients.KMS(acc).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(key)})
			if err == nil {
				md = got.KeyMetadata
			}
			seen[key] = md
		}
		if md != nil && md.KeyManager == kmstypes.KeyManagerTypeAws {
			return calls, Diagnosed(awsManagedSourceDiagnosis(src, acc.Account, aws.ToString(sn.SnapshotId), key), nil)
		}
	}
	return calls, nil
}

// shareLimitDiagnosis: AWS refused to share the source with more accounts
// (its sharing quota, MaxSourceShares, counts every entity it is shared
// with, amicrypt's or not).
func shareLimitDiagnosis(w where, detail string) Diagnosis {
	return Diagnosis{
		Code:  Quota,
		Cause: fmt.Sprintf("the %s cannot be shared with more accounts (%s): EC2 allows sharing one image with %d accounts, organizations and OUs", w, detail, MaxSourceShares),
		Fix:   "A run shares a source with a batch of accounts at a time, within what the quota leaves it; the image is shared with others already. Remove the launch permissions it no longer needs (aws ec2 describe-image-attribute --attribute launchPermission lists them), share through an AWS Organization or OU instead of accounts, or ask AWS to raise the AMI sharing quota; then run again.",
	}
}

// SourcePlan is what a run would do to one source image in the builder
// account: share it with the accounts that do not have it yet.
type SourcePlan struct {
	Region  string `json:"region"`
	ImageID string `json:"image_id"`
	Name    string `json:"name,omitempty"`
	// AlreadyShared: target accounts that can launch it already (their
	// permission predates the run and is left as it is).
	AlreadyShared int `json:"already_shared"`
	// Share is the change, when there is one.
	Share *Action `json:"share,omitempty"`
	// Failure is why sharing it would fail: every target copying it
	// would fail with it.
	Failure *Diagnosis `json:"failure,omitempty"`
}

// PlanShare plans ShareSource with reads only: the image must exist, and
// the accounts it would be shared with, with those it is shared with
// already, must stay within the image's sharing quota.
func (a *Activities) PlanShare(ctx context.Context, in ShareSourceInput) (SourcePlan, error) {
	b, src := in.Builder, in.Source
	ec := a.clients.EC2(builderAccess(b, src.Region))
	w := where{Account: b.Account, Region: src.Region, Resource: "source image " + src.ImageID}
	plan := SourcePlan{Region: src.Region, ImageID: src.ImageID}
	im, found, err := describeSource(ctx, ec, src, w)
	if err == nil && !found {
		err = sourceMissing(src, b)
	}
	if d, ok := DiagnosisOf(err); ok {
		d.Step = StepShare
		plan.Failure = &d
		return plan, nil
	}
	if err != nil {
		return plan, err
	}
	plan.Name = aws.ToString(im.Name)
	have, _, err := readPermissions(ctx, ec, src.ImageID, nil, w)
	if err != nil {
		return plan, err
	}
	shared := map[string]bool{}
	for _, acct := range have.Launch {
		shared[acct] = true
	}
	var add []string
	for _, acct := range shareAccounts(in.Accounts, b.Account) {
		if shared[acct] {
			plan.AlreadyShared++
		} else {
			add = append(add, acct)
		}
	}
	// The run shares a source with one batch's accounts at a time, as
	// many batches at once as the quota leaves room for (the Pipeline's
	// share window); a batch that does not fit even alone fails to share.
	room := max(MaxSourceShares-len(have.Launch), 0) // (accounts: organizations and OUs it is shared with are not read here)
	atOnce := len(add)
	if in.AtOnce > 0 {
		atOnce = min(atOnce, in.AtOnce)
	}
	if atOnce > room {
		d := shareLimitDiagnosis(w, fmt.Sprintf("shared with %d accounts already, leaving room for %d; a batch of the run adds up to %d", MaxSourceShares-room, room, atOnce))
		d.Step = StepShare
		plan.Failure = &d
		return plan, nil
	}
	if len(add) > 0 {
		evidence := fmt.Sprintf("with %d accounts for the run (revoked after it); %d already have it", len(add), plan.AlreadyShared)
		if len(add) > room {
			evidence = fmt.Sprintf("with %d accounts for the run, at most %d at a time (AWS's quota of %d per image, %d in use): the run starts more accounts as earlier ones finish and their share is revoked; %d already have it", len(add), room, MaxSourceShares, MaxSourceShares-room, plan.AlreadyShared)
		}
		plan.Share = &Action{Do: ActShare, Resource: "source image " + src.ImageID + " (" + src.Region + ") and its snapshots", Evidence: evidence}
	}
	return plan, nil
}
