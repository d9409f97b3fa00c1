package pipelinerun

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/workflows"
)

// A rotation's and a sweep's dry runs are written in the plan's form
// (writePlanTable, writePlanDetails): a row per region (a rotation) or per
// key (a sweep) grouped by outcome — will-fail when the dry run stopped at
// a failure, will-change when the real command would act, ok when there is
// nothing to do — then per row what it would fail at and the fix, the
// facts the actions rest on (what keeps an image, what holds a key, the
// sweep's findings), every action as "would <do> <resource> (evidence)",
// and the warnings; last one summary line.

// dryRunHeading says that nothing was changed.
const dryRunHeading = "DRY RUN: nothing was changed in AWS; every action below is what the real command would do, with its evidence"

// rotationDryRunColumns are a rotation's dry run's columns between REGION
// and CHANGES.
var rotationDryRunColumns = []string{"NAME", "KEY (OLD → NEW)"}

// sweepDryRunColumns are a sweep's dry run's columns between REGION and
// CHANGES: what the sweep found of each key.
var sweepDryRunColumns = []string{"KEY", "ROTATION", "AGE", "DRIFT", "STALE IMAGES", "DUE"}

// writeRotationDryRun writes a rotation's dry run.
func writeRotationDryRun(w io.Writer, r *workflows.Report) {
	fmt.Fprintln(w, dryRunHeading)
	fmt.Fprintf(w, "rotation %s", r.RunID)
	if who := reasonAndOperator(r); who != "" {
		fmt.Fprintf(w, " (%s)", who)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
	items := make([]planItem, len(r.Targets))
	for i, t := range r.Targets {
		items[i] = rotationItem(t)
	}
	writePlanTable(w, rotationDryRunColumns, items)
	writePlanDetails(w, items)
	fmt.Fprintf(w, "\n%s\n", dryRunSummaryLine("rotation "+r.RunID, items, "target", ""))
}

// writeSweepDryRun writes a sweep's dry run: a row per key, the dry runs of
// the rotations due merged into their keys' rows.
func writeSweepDryRun(w io.Writer, r *workflows.Report) {
	fmt.Fprintln(w, dryRunHeading)
	fmt.Fprintf(w, "sweep %s", r.RunID)
	if r.Operator != "" {
		fmt.Fprintf(w, " (by %s)", r.Operator)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
	items := sweepItems(r)
	writePlanTable(w, sweepDryRunColumns, items)
	if len(items) == 0 {
		fmt.Fprintln(w, "(no key inspected yet)")
	}
	writePlanDetails(w, items)
	rotations := "none"
	if len(r.Rotations) > 0 {
		rotations = strings.Join(r.Rotations, ", ")
	}
	fmt.Fprintf(w, "\nrotations due (dry runs): %s\n", rotations)
	writeHousekeeping(w, r)
	fmt.Fprintf(w, "\n%s\n", dryRunSummaryLine("sweep "+r.RunID, items, "key", fmt.Sprintf("; %d rotation(s) due", len(r.Rotations))))
}

// dryRunSummaryLine is "dry run of rotation R: 2 targets: 0 ok, 1 will
// change, 1 will fail", with how many are still under way.
func dryRunSummaryLine(of string, items []planItem, noun, tail string) string {
	ok, change, fail, other := countOutcomes(items)
	s := "dry run of " + of + ": " + outcomeCounts(len(items), noun, ok, change, fail)
	if other > 0 {
		s += fmt.Sprintf(", %d under way", other)
	}
	return s + tail
}

// countOutcomes counts items by outcome; other is the rest (still pending
// or running).
func countOutcomes(items []planItem) (ok, change, fail, other int) {
	for _, it := range items {
		switch it.outcome {
		case activities.PlanOK:
			ok++
		case activities.PlanChange:
			change++
		case activities.PlanFail:
			fail++
		default:
			other++
		}
	}
	return ok, change, fail, other
}

// rotationItem is a rotation's region as a dry run's row.
func rotationItem(t workflows.TargetReport) planItem {
	keys := "-"
	if t.OldKeyARN != "" || t.KeyARN != "" {
		keys = Dash(ShortKey(t.OldKeyARN)) + " → " + successorKey(ShortKey(t.KeyARN))
	}
	it := planItem{account: t.Account, region: t.Region, label: t.Name, columns: []string{Dash(t.Name), keys}}
	addRotationRow(&it, t)
	it.outcome = rowOutcome(it, []workflows.TargetReport{t})
	return it
}

// addRotationRow adds what a rotation's dry run found in a region to its
// row: the failure, the keys, what stays and why, the actions, the
// warnings.
func addRotationRow(it *planItem, t workflows.TargetReport) {
	if t.Diagnosis != nil {
		d := *t.Diagnosis
		if d.Step == "" {
			d.Step = t.Step
		}
		it.failures = append(it.failures, d)
	}
	if t.OldKeyARN != "" || t.KeyARN != "" {
		it.facts = append(it.facts, planFact{"key", Dash(t.OldKeyARN) + " → " + successorKey(t.KeyARN)})
	}
	if len(t.Images) == 0 && t.Status == workflows.StatusSucceeded {
		it.facts = append(it.facts, planFact{"image", "none under the old key"})
	}
	if t.Retirement != nil {
		it.facts = append(it.facts, keptFacts(*t.Retirement)...)
	}
	for _, k := range t.OldKeys {
		it.facts = append(it.facts, planFact{"old key", k.KeyARN + " " + KeyFate(k)})
	}
	it.changes = append(it.changes, withUndo(t.Actions)...)
	it.warnings = append(it.warnings, t.Warnings...)
}

// successorKey is a rotation's new key, or "(new)" when the dry run would make it.
func successorKey(arn string) string {
	if arn == "" {
		return "(new)"
	}
	return arn
}

// keptFacts are the images a retirement leaves, each with what keeps it or
// why it is not amicrypt's to touch; the images it would disable,
// deregister or enable again are its actions.
func keptFacts(r activities.Retirement) []planFact {
	var out []planFact
	for _, l := range (activities.Retirement{Kept: r.Kept, OutOfScope: r.OutOfScope}).Lines() {
		out = append(out, planFact{"old image", l})
	}
	return out
}

// withUndo is the actions with, under an image's disabling, the command
// that undoes it.
func withUndo(actions []activities.Action) []activities.Action {
	out := slices.Clone(actions)
	for i, a := range out {
		if a.Do == activities.ActDisableImage && a.Detail == "" {
			out[i].Detail = "aws ec2 enable-image --image-id " + a.Resource + " undoes it"
		}
	}
	return out
}

// rowOutcome is a dry run's row's outcome: will-fail at a failure, the
// status of a region still under way, will-change with an action, ok.
func rowOutcome(it planItem, rows []workflows.TargetReport) string {
	if len(it.failures) > 0 {
		return activities.PlanFail
	}
	for _, t := range rows {
		if t.Status != workflows.StatusSucceeded {
			return StatusWithStep(t)
		}
	}
	if len(it.changes) > 0 {
		return activities.PlanChange
	}
	return activities.PlanOK
}

// sweepItems are a sweep's keys as a dry run's rows, each with the dry run
// of its region's rotation when one is due; a rotation's region without a
// key (none expected) is a row of its own.
func sweepItems(r *workflows.Report) []planItem {
	rows := map[string][]workflows.TargetReport{}
	for _, t := range r.Targets {
		rows[t.Account+"/"+t.Region] = append(rows[t.Account+"/"+t.Region], t)
	}
	items := make([]planItem, 0, len(r.Keys))
	for _, k := range r.Keys {
		where := k.Account + "/" + k.Region
		items = append(items, keyItem(k, rows[where]))
		delete(rows, where)
	}
	for _, t := range r.Targets {
		if _, alone := rows[t.Account+"/"+t.Region]; alone {
			it := planItem{account: t.Account, region: t.Region, label: t.Name,
				columns: []string{Dash(ShortKey(t.OldKeyARN)), "-", "-", "-", "-", "-"}}
			addRotationRow(&it, t)
			it.outcome = rowOutcome(it, []workflows.TargetReport{t})
			items = append(items, it)
		}
	}
	return items
}

// keyItem is a sweep's key as a dry run's row, with its rotation's regions
// (rows).
func keyItem(k activities.KeyHealth, rows []workflows.TargetReport) planItem {
	it := planItem{account: k.Account, region: k.Region, label: k.Alias,
		columns: []string{keyColumn(k), rotationColumn(k), ageColumn(k), driftColumn(k), staleColumn(k), dueColumn(k)}}
	if d := k.Error; d != nil {
		e := *d
		if e.Step == "" {
			e.Step = "inspect-key"
		}
		it.failures = append(it.failures, e)
	}
	// What the sweep itself would do: the repairs of a key amicrypt
	// manages, and the second steps of retirement. The findings say it
	// too; those that only repeat an action are left out.
	if k.Error == nil && !k.Missing && k.KeyARN != "" && k.Managed {
		if !k.RotationEnabled {
			it.changes = append(it.changes, activities.Action{Do: activities.ActEnableRotation, Resource: "key " + k.KeyARN, Evidence: "automatic rotation is off"})
		}
		if len(k.PolicyDrift) > 0 {
			it.changes = append(it.changes, activities.Action{Do: activities.ActUpdatePolicy, Resource: "key " + k.KeyARN,
				Evidence: "drifted: " + strings.Join(k.PolicyDrift, ", ") + "; the owner's statements kept"})
		}
	}
	repeats := map[string]bool{}
	acted := activities.Retirement{Disabled: k.Retirement.Disabled, Deregistered: k.Retirement.Deregistered, Enabled: k.Retirement.Enabled}
	for _, l := range acted.Lines() {
		repeats[l] = true
	}
	it.changes = append(it.changes, withUndo(k.Retirement.Actions())...)
	for _, f := range k.OldKeys {
		for _, a := range f.Actions {
			repeats[a.String()] = true
		}
		it.changes = append(it.changes, f.Actions...)
	}
	for _, f := range k.Findings {
		if !repeats[f] {
			it.facts = append(it.facts, planFact{"finding", f})
		}
	}
	// An old key the region's rotation looks at again is its row's to
	// describe (what holds it), not twice.
	retold := map[string]bool{}
	for _, t := range rows {
		for _, f := range t.OldKeys {
			retold[f.KeyARN] = true
		}
	}
	for _, f := range k.OldKeys {
		if !retold[f.KeyARN] {
			it.facts = append(it.facts, planFact{"old key", f.KeyARN + " " + KeyFate(f)})
		}
	}
	for _, t := range rows {
		addRotationRow(&it, t)
	}
	switch {
	case len(it.failures) > 0:
		it.outcome = activities.PlanFail
	case !k.Missing && k.KeyARN == "":
		// Not inspected yet.
		it.outcome = workflows.StatusPending
		it.columns = []string{"-", "-", "-", "-", "-", "-"}
	default:
		it.outcome = rowOutcome(it, rows)
	}
	return it
}
