package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/benchkit"
	"github.com/amicrypt/amicrypt/internal/sandbox"
	"github.com/amicrypt/amicrypt/workflows"
)

// The invariants, as printed.
const (
	invSucceeded = "every target succeeded (report)"
	invOneImage  = "exactly one amicrypt image per target, available, proven, the one the report names"
	invSnapshots = "the image's snapshots under the key the account's alias names"
	invKeys      = "no managed key enabled without an alias pointing to it"
	invBootProof = "no boot-proof Auto Scaling group, launch template or instance left"
	invShares    = "no launch or create-volume permission left on the source and its snapshots"
	invPublished = "every published pointer (SSM parameter, launch template) on the new image"
)

var invariants = []string{invSucceeded, invOneImage, invSnapshots, invKeys, invBootProof, invShares, invPublished}

// violation is one broken invariant, naming where.
type violation struct {
	Invariant string `json:"invariant"`
	Account   string `json:"account"`
	Region    string `json:"region"`
	Resource  string `json:"resource"`
	What      string `json:"what"`
	// Faults: what the sandbox injected in the account and region, per
	// action (calls, and how many throttled, failed, lost their answer).
	Faults string `json:"sandbox_faults_here,omitempty"`
}

func (v violation) String() string {
	return fmt.Sprintf("account %s, region %s, %s: %s", v.Account, v.Region, v.Resource, v.What)
}

// faultsIn sums up the faults the sandbox injected in account and region.
func faultsIn(rows []sandbox.CounterRow, account, region string) string {
	var parts []string
	for _, r := range rows {
		if r.Account != account || r.Region != region || r.Throttled+r.InjectedErrors+r.LostResponses == 0 {
			continue
		}
		var f []string
		for _, x := range []struct {
			n    int64
			what string
		}{{r.Throttled, "throttled"}, {r.InjectedErrors, "failed"}, {r.LostResponses, "answer lost"}} {
			if x.n > 0 {
				f = append(f, fmt.Sprintf("%d %s", x.n, x.what))
			}
		}
		parts = append(parts, fmt.Sprintf("%s: %d calls, %s", r.Action, r.Calls, strings.Join(f, ", ")))
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

type checks struct {
	checked    []string
	violations []violation
	notes      []string
}

func (c *checks) violate(inv, account, region, resource, format string, args ...any) {
	c.violations = append(c.violations, violation{Invariant: inv, Account: account, Region: region, Resource: resource, What: fmt.Sprintf(format, args...)})
}

// check holds the run's end against the invariants, reading AWS's side
// from the sandbox's state. runErr is the run's own error (it did not end):
// then the report is empty, and the state says what was left.
func check(st *sandbox.State, counters []sandbox.CounterRow, in workflows.PipelineInput, report workflows.Report, runErr error) (c checks) {
	c.checked, c.violations = invariants, []violation{}
	defer func() {
		for i, v := range c.violations {
			c.violations[i].Faults = faultsIn(counters, v.Account, v.Region)
		}
	}()
	rows := map[string]workflows.TargetReport{}
	for _, r := range report.Targets {
		rows[r.Account+"/"+r.Region] = r
		for _, w := range r.Warnings {
			c.notes = append(c.notes, fmt.Sprintf("report warning for %s/%s: %s", r.Account, r.Region, w))
		}
	}
	region := func(account, name string) *sandbox.Region {
		if a := st.Accounts[account]; a != nil {
			return a.Regions[name]
		}
		return nil
	}

	targetAccounts := map[string]bool{}
	for _, t := range in.Targets {
		targetAccounts[t.Account] = true
		src, _ := workflows.NearestSource(in.Sources, t.Region)
		row, reported := rows[t.ID()]
		switch {
		case runErr != nil && !reported:
			c.violate(invSucceeded, t.Account, t.Region, "target", "no report: the run did not end (%v)", runErr)
		case !reported:
			c.violate(invSucceeded, t.Account, t.Region, "target", "missing from the report")
		case row.Status != workflows.StatusSucceeded:
			what := "status " + row.Status
			if row.Step != "" {
				what += " at step " + row.Step
			}
			if d := row.Diagnosis; d != nil {
				what += fmt.Sprintf(" (%s: %s)", d.Code, d.Cause)
			}
			c.violate(invSucceeded, t.Account, t.Region, "target", "%s", what)
		}

		reg := region(t.Account, t.Region)
		if reg == nil {
			c.violate(invOneImage, t.Account, t.Region, "region", "the sandbox has no such account and region")
			continue
		}

		// The copies of the source: exactly one not deregistered.
		var live, gone []*sandbox.Image
		for _, id := range sortedKeys(reg.Images) {
			im := reg.Images[id]
			if im.Owner != t.Account || im.Tags[activities.TagSourceImage] != src.ImageID {
				continue
			}
			if im.State == "deregistered" {
				gone = append(gone, im)
			} else {
				live = append(live, im)
			}
		}
		if len(gone) > 0 {
			c.notes = append(c.notes, fmt.Sprintf("%s: %d copies of %s deregistered (%s)", t.ID(), len(gone), src.ImageID, imageList(gone)))
		}
		if len(live) != 1 {
			c.violate(invOneImage, t.Account, t.Region, "images tagged "+activities.TagSourceImage+"="+src.ImageID,
				"%d not deregistered, want exactly 1: %s", len(live), imageList(live))
		}
		if len(live) == 0 {
			continue
		}
		im := live[0]
		if len(live) > 1 && row.EncryptedImageID != "" {
			for _, l := range live {
				if l.ID == row.EncryptedImageID {
					im = l
				}
			}
		}
		if im.State != "available" || im.Tags[activities.TagProven] != "true" {
			c.violate(invOneImage, t.Account, t.Region, "image "+im.ID, "state %s, %s=%q, want available and proven", im.State, activities.TagProven, im.Tags[activities.TagProven])
		}
		if reported && row.EncryptedImageID != im.ID {
			c.violate(invOneImage, t.Account, t.Region, "image "+im.ID, "the report names %q", row.EncryptedImageID)
		}

		// Its snapshots, under the key the alias names.
		keyARN := ""
		if id, ok := reg.Aliases[t.KeyAlias]; !ok {
			c.violate(invSnapshots, t.Account, t.Region, "alias "+t.KeyAlias, "missing")
		} else if k := reg.Keys[id]; k == nil {
			c.violate(invSnapshots, t.Account, t.Region, "alias "+t.KeyAlias, "names key %s, which does not exist", id)
		} else {
			keyARN = k.ARN
			if k.State != "Enabled" {
				c.violate(invSnapshots, t.Account, t.Region, "key "+k.ARN, "the alias's key is %s", k.State)
			}
		}
		if len(im.BlockDevices) == 0 {
			c.violate(invSnapshots, t.Account, t.Region, "image "+im.ID, "no block devices")
		}
		for _, bd := range im.BlockDevices {
			sn := reg.Snapshots[bd.SnapshotID]
			switch {
			case sn == nil:
				c.violate(invSnapshots, t.Account, t.Region, "snapshot "+bd.SnapshotID, "of image %s (%s) does not exist", im.ID, bd.DeviceName)
			case !sn.Encrypted:
				c.violate(invSnapshots, t.Account, t.Region, "snapshot "+sn.ID, "of image %s is not encrypted", im.ID)
			case keyARN != "" && sn.KMSKeyID != keyARN:
				c.violate(invSnapshots, t.Account, t.Region, "snapshot "+sn.ID, "of image %s is under %s, the alias names %s", im.ID, sn.KMSKeyID, keyARN)
			}
		}

		// Published pointers.
		if name := t.Publish.SSMParameter; name != "" {
			switch p := reg.Parameters[name]; {
			case p == nil:
				c.violate(invPublished, t.Account, t.Region, "SSM parameter "+name, "missing")
			case p.Value != im.ID:
				c.violate(invPublished, t.Account, t.Region, "SSM parameter "+name, "is %s, want the new image %s", p.Value, im.ID)
			}
		}
		if name := t.Publish.LaunchTemplate; name != "" {
			var found []*sandbox.LaunchTemplate
			for _, id := range sortedKeys(reg.LaunchTemplates) {
				if lt := reg.LaunchTemplates[id]; lt.Name == name {
					found = append(found, lt)
				}
			}
			switch {
			case len(found) == 0:
				c.violate(invPublished, t.Account, t.Region, "launch template "+name, "missing")
			case len(found) > 1:
				c.violate(invPublished, t.Account, t.Region, "launch template "+name, "%d templates of that name", len(found))
			default:
				lt := found[0]
				if got := defaultImage(lt); got != im.ID {
					c.violate(invPublished, t.Account, t.Region, fmt.Sprintf("launch template %s (%s)", name, lt.ID),
						"default version %d launches %q, want the new image %s", lt.DefaultVersion, got, im.ID)
				}
			}
		}
	}

	// Keys, boot proofs: every target account, every region.
	publishTemplates := map[string]bool{}
	for _, t := range in.Targets {
		if t.Publish.LaunchTemplate != "" {
			publishTemplates[t.Publish.LaunchTemplate] = true
		}
	}
	pendingDeletion := 0
	for _, account := range sortedKeys(st.Accounts) {
		if !targetAccounts[account] {
			continue
		}
		for _, name := range sortedKeys(st.Accounts[account].Regions) {
			reg := st.Accounts[account].Regions[name]
			aliased := map[string][]string{}
			for alias, id := range reg.Aliases {
				aliased[id] = append(aliased[id], alias)
			}
			for _, id := range sortedKeys(reg.Keys) {
				k := reg.Keys[id]
				if k.Tags[activities.TagManagedKey] != "true" {
					continue
				}
				if k.State == "PendingDeletion" {
					pendingDeletion++
				}
				if k.State == "Enabled" && len(aliased[id]) == 0 {
					c.violate(invKeys, account, name, "key "+k.ARN, "managed (%s=true), Enabled, created %s, no alias names it (tags %v)",
						activities.TagManagedKey, k.Created.Format(time.RFC3339), k.Tags)
				}
			}
			for _, gname := range sortedKeys(reg.Groups) {
				g := reg.Groups[gname]
				c.violate(invBootProof, account, name, "Auto Scaling group "+gname, "left behind (status %q, desired %d, %d instances, created %s)",
					g.Status, g.DesiredCapacity, len(g.Instances), g.Created.Format(time.RFC3339))
			}
			for _, id := range sortedKeys(reg.LaunchTemplates) {
				lt := reg.LaunchTemplates[id]
				if !publishTemplates[lt.Name] {
					c.violate(invBootProof, account, name, fmt.Sprintf("launch template %s (%s)", lt.Name, id), "left behind (created %s)", lt.Created.Format(time.RFC3339))
				}
			}
			for _, id := range sortedKeys(reg.Instances) {
				i := reg.Instances[id]
				if i.State != "terminated" && i.State != "shutting-down" {
					c.violate(invBootProof, account, name, "instance "+id, "%s (group %q, image %s)", i.State, i.GroupName, i.ImageID)
				}
			}
		}
	}
	if pendingDeletion > 0 {
		c.notes = append(c.notes, fmt.Sprintf("%d managed keys pending deletion (made by an attempt whose result was lost, retired)", pendingDeletion))
	}

	// The builder's sources.
	for _, src := range in.Sources {
		reg := region(in.Builder.Account, src.Region)
		var im *sandbox.Image
		if reg != nil {
			im = reg.Images[src.ImageID]
		}
		if im == nil {
			c.violate(invShares, in.Builder.Account, src.Region, "image "+src.ImageID, "the source is gone")
			continue
		}
		if len(im.LaunchPermissions) > 0 || im.Public {
			c.violate(invShares, in.Builder.Account, src.Region, "image "+src.ImageID, "launch permissions left for %s (public %t)", accountList(im.LaunchPermissions), im.Public)
		}
		for _, bd := range im.BlockDevices {
			sn := reg.Snapshots[bd.SnapshotID]
			if sn != nil && (len(sn.CreateVolumePermissions) > 0 || sn.Public) {
				c.violate(invShares, in.Builder.Account, src.Region, "snapshot "+sn.ID, "of source %s: create-volume permissions left for %s (public %t)",
					src.ImageID, accountList(sn.CreateVolumePermissions), sn.Public)
			}
		}
	}
	return c
}

// defaultImage is the image a launch template's default version launches.
func defaultImage(lt *sandbox.LaunchTemplate) string {
	for _, v := range lt.Versions {
		if v.Number == lt.DefaultVersion {
			s, _ := v.Data["ImageId"].(string)
			return s
		}
	}
	return ""
}

func imageList(ims []*sandbox.Image) string {
	if len(ims) == 0 {
		return "none"
	}
	var parts []string
	for _, im := range ims {
		parts = append(parts, fmt.Sprintf("%s (%s, created %s, run %s)", im.ID, im.State, im.Created.Format(time.RFC3339), im.Tags[activities.TagRun]))
	}
	return strings.Join(parts, ", ")
}

// accountList names up to five accounts and how many more.
func accountList(accounts []string) string {
	if len(accounts) <= 5 {
		return strings.Join(accounts, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(accounts[:5], ", "), len(accounts)-5)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// settledState is the sandbox's state once no Auto Scaling group is being
// deleted (a deleted group shows "Delete in progress" for a while), or after
// two minutes: what is still there then is left behind.
func settledState(ctx context.Context, endpoint string) (*sandbox.State, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, err := benchkit.ReadState(ctx, endpoint)
		if err != nil {
			return nil, err
		}
		deleting := false
		for _, a := range st.Accounts {
			for _, reg := range a.Regions {
				for _, g := range reg.Groups {
					deleting = deleting || g.Status == "Delete in progress"
				}
			}
		}
		if !deleting || time.Now().After(deadline) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
