package workflows

import (
	"slices"
	"strings"

	"github.com/amicrypt/amicrypt/activities"
)

// How progress is reported, bounded whatever the run's size:
//
//   - A Target answers QueryStep and QueryReport itself; its id is
//     TargetWorkflowID(source image, account, region), so `amicrypt status`
//     can ask it directly.
//   - A Batch answers QueryProgress with a Report of its targets, each
//     pending, running or final: it holds every report of its own children.
//   - The Pipeline answers QueryProgress with a Report of every target, whose
//     statuses it learns when a Batch completes (one result per batch, no
//     signal per target): a target is pending until its batch starts, running
//     while its batch runs, and final once the batch returned. Report.Batches
//     names each batch and its status, for a closer look at a running one.
//
// Signalling the Pipeline as each target finishes would add an event per
// target to its history (51,200 at most); results per batch add about six
// per batch.

// Summary counts targets per status, with every status present, and "total".
func Summary(targets []TargetReport) map[string]int {
	s := map[string]int{
		StatusPending:   0,
		StatusRunning:   0,
		StatusSucceeded: 0,
		StatusFailed:    0,
		StatusCancelled: 0,
		"total":         len(targets),
	}
	for _, t := range targets {
		s[t.Status]++
	}
	return s
}

// sourcesByRegion is Report.Sources: region → source image id.
func sourcesByRegion(sources []activities.Source) map[string]string {
	m := make(map[string]string, len(sources))
	for _, s := range sources {
		m[s.Region] = s.ImageID
	}
	return m
}

// sortTargets orders targets by account, then region: the order of every
// report, and the order in which a Batch starts them (one account's regions
// together, so its shares are revoked early).
func sortTargets(targets []activities.Target) []activities.Target {
	// Sorted by index, then copied once: a Target is a few hundred bytes,
	// and a run's tens of thousands are sorted inside a workflow task.
	order := make([]int, len(targets))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int {
		a, b := &targets[i], &targets[j]
		if c := strings.Compare(a.Account, b.Account); c != 0 {
			return c
		}
		if c := strings.Compare(a.Region, b.Region); c != 0 {
			return c
		}
		return i - j // stable
	})
	out := make([]activities.Target, len(targets))
	for i, k := range order {
		out[i] = targets[k]
	}
	return out
}

// pendingReport is a target's row before its Target workflow reports.
func pendingReport(t activities.Target, src activities.Source) TargetReport {
	return TargetReport{
		Account:       t.Account,
		Name:          t.Name,
		Region:        t.Region,
		Status:        StatusPending,
		SourceImageID: src.ImageID,
	}
}

// final reports whether a status is the end of a target.
func final(status string) bool {
	return status == StatusSucceeded || status == StatusFailed || status == StatusCancelled
}

// copyReports copies rows for a query answer, so the caller's later changes
// do not show through.
func copyReports(in []TargetReport) []TargetReport {
	return append([]TargetReport(nil), in...)
}
