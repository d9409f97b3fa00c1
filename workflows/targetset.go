package workflows

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/amicrypt/amicrypt/activities"
)

// How a run gets its targets without an input that grows with them (the
// rows-in-batches version of the Pipeline):
//
//   - Targets listed one by one come in parts: the input's Targets is the
//     first, SignalTargets signals carry the others (pipelinerun.Start sends
//     them, again when it attaches: a part received twice counts once).
//   - Organization targets are resolved as the run starts
//     (resolveOrganization): the units below the selectors, then each
//     unit's accounts in pages, every answer an activity's result, so the
//     run's history records what the run served.
//
// The whole list lives in the Pipeline's memory only; each Batch gets its
// slice as its input.

// TargetPartsTimeout is how long a run waits for the parts of its targets
// that its starter has not sent yet.
const TargetPartsTimeout = 10 * time.Minute

// OrganizationListings caps the Organizations listings in flight at once
// (AWS throttles Organizations per account at a few calls per second).
const OrganizationListings = 4

// gather completes p.all (and p.org): gatherTargets.
func (p *pipelineRun) gather(ctx workflow.Context) error {
	all, org, err := gatherTargets(ctx, p.log, p.in)
	p.all, p.org = all, org
	return err
}

// gatherTargets is in's whole list of targets, sorted: the parts of the
// listed targets, then the organization's (and what resolving them found,
// nil without selectors). Its errors end the run (not retryably).
func gatherTargets(ctx workflow.Context, logger log.Logger, in PipelineInput) ([]activities.Target, *OrganizationResolution, error) {
	targets := append([]activities.Target(nil), in.Targets...)
	if in.TargetParts > 1 {
		parts, err := receiveParts(ctx, in.TargetParts)
		if err != nil {
			return nil, nil, err
		}
		for _, part := range parts {
			targets = append(targets, part...)
		}
	}
	var res *OrganizationResolution
	if in.Organization != nil {
		region := ""
		if len(in.Sources) > 0 {
			region = in.Sources[0].Region
		}
		res = &OrganizationResolution{}
		resolved, err := resolveOrganization(ctx, logger, *in.Organization, region, targets, res)
		if err != nil {
			return nil, res, err
		}
		targets = resolved
	}
	all := sortTargets(targets)
	whole := in
	whole.Targets, whole.TargetParts, whole.Organization = all, 0, nil
	if err := whole.Validate(); err != nil {
		return nil, res, temporal.NewNonRetryableApplicationError(err.Error(), ErrorTypeInvalidInput, nil)
	}
	return all, res, nil
}

// receiveParts waits for parts 1 … n-1 of the listed targets.
func receiveParts(ctx workflow.Context, n int) ([][]activities.Target, error) {
	ch := workflow.GetSignalChannel(ctx, SignalTargets)
	parts := make([][]activities.Target, n)
	got := 1
	tctx, cancelTimer := workflow.WithCancel(ctx)
	defer cancelTimer()
	timer := workflow.NewTimer(tctx, TargetPartsTimeout)
	timedOut := false
	for got < n {
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(ch, func(c workflow.ReceiveChannel, _ bool) {
			var part TargetsPart
			c.Receive(ctx, &part)
			if part.Index >= 1 && part.Index < n && parts[part.Index] == nil {
				parts[part.Index] = append([]activities.Target{}, part.Targets...)
				got++
			}
		})
		sel.AddFuture(timer, func(workflow.Future) { timedOut = true })
		sel.Select(ctx)
		switch {
		case ctx.Err() != nil:
			return nil, temporal.NewCanceledError()
		case timedOut:
			return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
				"the run received %d of the %d parts of its targets within %s; its starter stopped before sending them all: start the same run again (it sends the missing parts, or starts anew)",
				got, n, TargetPartsTimeout), ErrorTypeInvalidInput, nil)
		}
	}
	return parts[1:], nil
}

// resolveOrganization adds the organization selectors' targets to listed
// (the targets of accounts the config lists one by one, which override the
// selectors) and drops the targets of accounts that are suspended or being
// closed; region picks the partition; res is filled in as it goes (a
// Pipeline's, a plan's and a Sweep's report say it).
func resolveOrganization(ctx workflow.Context, logger log.Logger, org activities.OrganizationTargets, region string, listed []activities.Target, res *OrganizationResolution) ([]activities.Target, error) {
	var a *activities.Activities
	rctx := withStep(ctx, stepResolve, activities.Target{})

	var tree activities.OrganizationTree
	if err := workflow.ExecuteActivity(rctx, a.ListOrganizationUnits, activities.ListOrganizationUnitsInput{Organization: org, Region: region}).Get(ctx, &tree); err != nil {
		return nil, resolveError(err)
	}
	res.OrganizationID, res.Units = tree.OrganizationID, len(tree.Units)

	// Each unit belongs to the selector of the nearest unit at or above it.
	selectorAt := map[string]int{}
	for i, s := range org.Selectors {
		u := s.Unit
		if u == "" {
			u = tree.Root
		}
		selectorAt[u] = i
	}
	parent := map[string]string{}
	for _, u := range tree.Units {
		parent[u.ID] = u.Parent
	}
	type unitJob struct {
		id       string
		selector int
		accounts []activities.OrganizationAccount
	}
	var jobs []*unitJob
	for _, u := range tree.Units {
		for x, depth := u.ID, 0; x != "" && depth <= len(tree.Units); x, depth = parent[x], depth+1 {
			if i, ok := selectorAt[x]; ok {
				jobs = append(jobs, &unitJob{id: u.ID, selector: i})
				break
			}
		}
	}

	// Every unit's accounts, page by page, a few units at once.
	var firstErr error
	eachAtMost(ctx, len(jobs), OrganizationListings, func(ctx workflow.Context, k int) {
		job := jobs[k]
		token := ""
		for firstErr == nil {
			var page activities.OrganizationAccountsPage
			in := activities.ListOrganizationAccountsInput{Organization: org, Region: region, Parent: job.id, NextToken: token}
			if err := workflow.ExecuteActivity(rctx, a.ListOrganizationAccounts, in).Get(ctx, &page); err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			job.accounts = append(job.accounts, page.Accounts...)
			if token = page.NextToken; token == "" {
				return
			}
		}
	}, nil)
	if firstErr != nil {
		return nil, resolveError(firstErr)
	}
	if ctx.Err() != nil {
		return nil, temporal.NewCanceledError()
	}

	// The accounts listed one by one: their status, and their entries win.
	listedAccounts := map[string]bool{}
	for _, t := range listed {
		listedAccounts[t.Account] = true
	}
	skip := map[string]bool{}
	if len(listedAccounts) > 0 {
		ids := sortedKeys(listedAccounts)
		for start := 0; start < len(ids); start += activities.MaxOrganizationAccountsPage {
			end := min(start+activities.MaxOrganizationAccountsPage, len(ids))
			var status []activities.OrganizationAccount
			in := activities.DescribeOrganizationAccountsInput{Organization: org, Region: region, Accounts: ids[start:end]}
			if err := workflow.ExecuteActivity(rctx, a.DescribeOrganizationAccounts, in).Get(ctx, &status); err != nil {
				return nil, resolveError(err)
			}
			for _, acct := range status {
				if !activities.ActiveAccount(acct.Status) {
					skip[acct.ID] = true
					res.skip(acct)
				}
			}
		}
	}
	var out []activities.Target
	for _, t := range listed {
		if !skip[t.Account] {
			out = append(out, t)
		}
	}
	served := map[string]bool{}
	partitions := map[string]string{}
	for _, job := range jobs {
		sel := org.Selectors[job.selector]
		excluded := map[string]bool{}
		for _, id := range sel.Exclude {
			excluded[id] = true
		}
		for _, acct := range job.accounts {
			switch {
			case listedAccounts[acct.ID] || served[acct.ID]:
				continue
			case excluded[acct.ID]:
				res.Excluded++
				continue
			case !activities.ActiveAccount(acct.Status):
				res.skip(acct)
				continue
			}
			served[acct.ID] = true
			for _, tmpl := range sel.Regions {
				t := tmpl
				t.Account, t.Name = acct.ID, acct.Name
				part, ok := partitions[t.Region]
				if !ok {
					part = Partition(t.Region)
					partitions[t.Region] = part
				}
				t.RoleARN = "arn:" + part + ":iam::" + acct.ID + ":role/" + sel.RoleName
				out = append(out, t)
				res.Targets++
			}
		}
	}
	res.Accounts = len(served)
	sort.Slice(res.Skipped, func(i, j int) bool { return res.Skipped[i].ID < res.Skipped[j].ID })
	logger.Info("organization targets resolved", "organization", res.OrganizationID, "units", res.Units, "accounts", res.Accounts, "targets", res.Targets, "skipped", res.SkippedCount)
	return out, nil
}

// organizationAccountTargets are account's targets among those the
// organization selectors serve (only region's, when set), resolved as a run
// would resolve them now; an account they do not serve is an input error
// that says why.
func organizationAccountTargets(ctx workflow.Context, logger log.Logger, org activities.OrganizationTargets, account, region string) ([]activities.Target, *OrganizationResolution, error) {
	partition := region // a region of the partition to read the organization in
	if partition == "" {
		partition = firstSelectorRegion(org)
	}
	res := &OrganizationResolution{}
	all, err := resolveOrganization(ctx, logger, org, partition, nil, res)
	if err != nil {
		return nil, res, err
	}
	var mine []activities.Target
	var regions []string
	for _, t := range all {
		if t.Account != account {
			continue
		}
		regions = append(regions, t.Region)
		if region == "" || t.Region == region {
			mine = append(mine, t)
		}
	}
	if len(mine) > 0 {
		return sortTargets(mine), res, nil
	}
	orgName := res.OrganizationID
	if orgName == "" {
		orgName = "the organization"
	}
	why := fmt.Sprintf("account %s is not among the %d accounts the config's organization targets serve in %s", account, res.Accounts, orgName)
	for _, s := range res.Skipped {
		if s.ID == account {
			why = fmt.Sprintf("account %s of %s is %s: amicrypt serves active accounts only", account, orgName, s.Status)
		}
	}
	for _, sel := range org.Selectors {
		for _, x := range sel.Exclude {
			if x == account {
				why += fmt.Sprintf(" (the entry of %s excludes it)", selectorName(sel))
			}
		}
	}
	fix := "list the account in the config's targets, or add its unit to them, and rotate again"
	if len(regions) > 0 {
		why = fmt.Sprintf("the config's organization targets give account %s no region %s; its regions are %v", account, region, regions)
		fix = "rotate one of its regions, or none to rotate them all"
	}
	return nil, res, temporal.NewNonRetryableApplicationError(why+": "+fix+".", ErrorTypeInvalidInput, nil)
}

// firstSelectorRegion is the first region a selector names ("" when none
// does): the partition the organization is read in.
func firstSelectorRegion(org activities.OrganizationTargets) string {
	for _, sel := range org.Selectors {
		if len(sel.Regions) > 0 {
			return sel.Regions[0].Region
		}
	}
	return ""
}

func selectorName(sel activities.OrganizationSelector) string {
	if sel.Unit == "" {
		return "the whole organization"
	}
	return "unit " + sel.Unit
}

func (r *OrganizationResolution) skip(acct activities.OrganizationAccount) {
	r.SkippedCount++
	if len(r.Skipped) < MaxSkippedListed {
		r.Skipped = append(r.Skipped, acct)
	}
}

// resolveError is the run's error when its organization targets could not
// be read: the activity's diagnosis (access refused names the fix), not
// retried by the run.
func resolveError(err error) error {
	if d, ok := activities.DiagnosisOf(err); ok {
		return temporal.NewNonRetryableApplicationError("organization targets: "+d.Cause+" Fix: "+d.Fix, activities.ErrorType(d.Code), nil, d)
	}
	var canceled *temporal.CanceledError
	if errors.As(err, &canceled) {
		return err
	}
	return temporal.NewNonRetryableApplicationError("organization targets could not be read: "+err.Error(), activities.ErrorType(activities.Other), err)
}
