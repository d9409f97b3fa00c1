package pipelinerun

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/workflows"
)

// WriteRotation writes a rotation's report: one row per region, then per
// region what moved — old key → new key, the alias, each image old → new
// with its boot proof, the pointers repointed, the images retired and what
// became of each old key — each failure's diagnosis, and a summary line. A
// dry run is written in the plan's form (writeRotationDryRun).
func WriteRotation(w io.Writer, r *workflows.Report) {
	if r.DryRun {
		writeRotationDryRun(w, r)
		return
	}
	fmt.Fprintf(w, "rotation %s", r.RunID)
	if who := reasonAndOperator(r); who != "" {
		fmt.Fprintf(w, " (%s)", who)
	}
	fmt.Fprintln(w)
	writeRotationRows(w, r.Targets)
	for _, t := range r.Targets {
		if t.Diagnosis == nil {
			continue
		}
		fmt.Fprintf(w, "\n%s %s (%s) failed at %s: %s %s\n", t.Account, t.Region, Dash(t.Name), Dash(t.Step), t.Diagnosis.Code, t.Diagnosis.Cause)
		fmt.Fprintf(w, "  fix: %s\n", indent(t.Diagnosis.Fix, "       "))
		if !t.AliasMoved {
			fmt.Fprintf(w, "  the alias and everything published still name the old key %s\n", Dash(ShortKey(t.OldKeyARN)))
		}
	}
	fmt.Fprintf(w, "\n%s\n", SummaryLine(r))
}

func reasonAndOperator(r *workflows.Report) string {
	var parts []string
	if r.Reason != "" {
		parts = append(parts, "reason "+r.Reason)
	}
	if r.Operator != "" {
		parts = append(parts, "by "+r.Operator)
	}
	return strings.Join(parts, ", ")
}

// writeRotationRows is the table of a rotation's regions and the details of each.
func writeRotationRows(w io.Writer, targets []workflows.TargetReport) {
	if len(targets) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tNAME\tREGION\tSTATUS\tOLD KEY → NEW KEY\tALIAS\tIMAGES\tTIME")
	for _, t := range targets {
		alias := "stays"
		if t.AliasMoved {
			alias = "moved"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s → %s\t%s\t%s\t%s\n", t.Account, Dash(t.Name), t.Region, StatusWithStep(t),
			Dash(ShortKey(t.OldKeyARN)), Dash(ShortKey(t.KeyARN)), alias, imageCount(t.Images), duration(t))
	}
	tw.Flush()
	for _, t := range targets {
		fmt.Fprintf(w, "\n%s %s (%s): %s\n", t.Account, t.Region, Dash(t.Name), StatusWithStep(t))
		fmt.Fprintf(w, "  key          %s → %s", Dash(t.OldKeyARN), Dash(t.KeyARN))
		if t.AliasMoved {
			fmt.Fprintf(w, "  (alias moved)")
		} else if t.OldKeyARN != "" {
			fmt.Fprintf(w, "  (alias not moved)")
		}
		fmt.Fprintln(w)
		for _, im := range t.Images {
			fmt.Fprintf(w, "  image        %s → %s  %s\n", im.OldImageID, Dash(im.NewImageID), imageOutcome(im))
		}
		if len(t.Images) == 0 && t.Status == workflows.StatusSucceeded {
			fmt.Fprintln(w, "  image        none under the old key")
		}
		if len(t.Published) > 0 {
			fmt.Fprintf(w, "  repointed    %s\n", strings.Join(t.Published, ", "))
		}
		if t.Retirement == nil && len(t.Deregistered) > 0 {
			fmt.Fprintf(w, "  deregistered %s (with their snapshots)\n", strings.Join(t.Deregistered, ", "))
		}
		for _, l := range RetirementLines(t.Retirement) {
			fmt.Fprintf(w, "  old image    %s\n", l)
		}
		for _, k := range t.OldKeys {
			fmt.Fprintf(w, "  old key      %s %s\n", k.KeyARN, KeyFate(k))
		}
		for _, warn := range t.Warnings {
			fmt.Fprintf(w, "  warning      %s\n", warn)
		}
		for _, a := range t.Actions {
			fmt.Fprintf(w, "  action       %s\n", a)
		}
	}
}

func imageCount(images []activities.RekeyedImage) string {
	if len(images) == 0 {
		return "-"
	}
	proven := 0
	for _, im := range images {
		if im.Status == "proven" {
			proven++
		}
	}
	return fmt.Sprintf("%d/%d proven", proven, len(images))
}

func imageOutcome(im activities.RekeyedImage) string {
	s := im.Status
	if im.Boot.Result != "" {
		s += ", boot " + im.Boot.Result
		if im.Boot.InstanceID != "" {
			s += " (" + im.Boot.InstanceID + ")"
		}
	}
	if im.Boot.Message != "" && im.Boot.Result != activities.BootInService {
		s += ": " + im.Boot.Message
	}
	return s
}

// KeyFate says what became of an old key: "PendingDeletion until
// 2026-12-23", or "still Enabled, held by vol-0123 (i-0456)".
func KeyFate(k activities.OldKeyFate) string {
	var s string
	switch {
	case k.State == "PendingDeletion" && k.DeletionDate != nil:
		s = "PendingDeletion until " + k.DeletionDate.UTC().Format("2006-01-02")
	case len(k.HeldBy) > 0:
		s = "still " + Dash(k.State) + ", held by " + strings.Join(k.HeldBy, ", ")
	case k.State != "":
		s = k.State
	default:
		s = "-"
	}
	if len(k.RevokedGrants) > 0 {
		s += fmt.Sprintf("; %d amicrypt grant(s) revoked", len(k.RevokedGrants))
	}
	if k.Note != "" {
		s += " (" + k.Note + ")"
	}
	return s
}

// ShortKey is a key ARN's key id (the ARN's last part), enough to tell keys
// apart in a table.
func ShortKey(arn string) string {
	if i := strings.LastIndex(arn, "/"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

// WriteSweep writes a sweep's report: one row per target key (rotation on,
// age, policy drift, stale images, whether a rotation is due, the writes the
// sweep made), each key's findings, the rotations the sweep started and, when
// it reports them, their regions. A dry run is written in the plan's form
// (writeSweepDryRun).
func WriteSweep(w io.Writer, r *workflows.Report) {
	if r.DryRun {
		writeSweepDryRun(w, r)
		return
	}
	fmt.Fprintf(w, "sweep %s", r.RunID)
	if r.Operator != "" {
		fmt.Fprintf(w, " (by %s)", r.Operator)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tREGION\tKEY\tROTATION\tAGE\tDRIFT\tSTALE IMAGES\tDUE\tWRITES")
	for _, k := range r.Keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", k.Account, k.Region, keyColumn(k), rotationColumn(k), ageColumn(k),
			driftColumn(k), staleColumn(k), dueColumn(k), k.Writes)
	}
	tw.Flush()
	if len(r.Keys) == 0 {
		fmt.Fprintln(w, "(no key inspected yet)")
	}
	for _, k := range r.Keys {
		if len(k.Findings) == 0 && k.Error == nil {
			continue
		}
		fmt.Fprintf(w, "\n%s %s %s:\n", k.Account, k.Region, Dash(k.Alias))
		for _, f := range k.Findings {
			fmt.Fprintf(w, "  - %s\n", f)
		}
		if d := k.Error; d != nil {
			fmt.Fprintf(w, "  not inspected: %s %s\n  fix: %s\n", d.Code, d.Cause, indent(d.Fix, "       "))
		}
	}
	fmt.Fprintln(w)
	if len(r.Rotations) == 0 {
		fmt.Fprintln(w, "rotations started: none")
	} else {
		fmt.Fprintf(w, "rotations started: %s\n", strings.Join(r.Rotations, ", "))
	}
	if len(r.Targets) > 0 {
		fmt.Fprintln(w)
		writeRotationRows(w, r.Targets)
		for _, t := range r.Targets {
			if t.Diagnosis != nil {
				fmt.Fprintf(w, "\n%s %s failed at %s: %s %s\n  fix: %s\n", t.Account, t.Region, Dash(t.Step), t.Diagnosis.Code, t.Diagnosis.Cause, indent(t.Diagnosis.Fix, "       "))
			}
		}
	}
	writeHousekeeping(w, r)
	fmt.Fprintf(w, "\n%s\n", SweepSummaryLine(r))
}

func keyColumn(k activities.KeyHealth) string {
	switch {
	case k.Error != nil:
		return "error: " + k.Error.Code
	case k.Missing:
		return "missing"
	}
	s := ShortKey(k.KeyARN)
	if !k.Managed {
		s += " (adopted)"
	}
	return s
}

func rotationColumn(k activities.KeyHealth) string {
	switch {
	case k.Error != nil || k.Missing:
		return "-"
	case k.RotationRepaired:
		return "on (turned on)"
	case k.RotationEnabled:
		return "on"
	}
	return "off"
}

func ageColumn(k activities.KeyHealth) string {
	if k.Error != nil || k.Missing {
		return "-"
	}
	return fmt.Sprintf("%dd", k.AgeDays)
}

func driftColumn(k activities.KeyHealth) string {
	switch {
	case len(k.PolicyDrift) == 0:
		return "-"
	case k.PolicyRepaired:
		return fmt.Sprintf("%d repaired", len(k.PolicyDrift))
	case !k.Managed:
		return fmt.Sprintf("%d (adopted: not edited)", len(k.PolicyDrift))
	}
	return fmt.Sprintf("%d", len(k.PolicyDrift))
}

func staleColumn(k activities.KeyHealth) string {
	if len(k.StaleImages) == 0 {
		return "-"
	}
	return strings.Join(k.StaleImages, ",")
}

func dueColumn(k activities.KeyHealth) string {
	var parts []string
	if k.Due != "" {
		parts = append(parts, "rotate ("+k.Due+")")
	}
	if k.Rekey {
		parts = append(parts, "re-encrypt")
	}
	if k.RetireTag != "" && k.Due == "" {
		parts = append(parts, "retire tag "+k.RetireTag)
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// SweepSummaryLine is "5 keys: 3 healthy, 1 repaired, 1 due; 1 rotation
// started; 0 errors".
func SweepSummaryLine(r *workflows.Report) string {
	healthy, repaired, due, errs, missing, writes := 0, 0, 0, 0, 0, 0
	for _, k := range r.Keys {
		writes += k.Writes
		switch {
		case k.Error != nil:
			errs++
		case k.Missing:
			missing++
		case k.Due != "" || k.Rekey:
			due++
		case k.PolicyRepaired || k.RotationRepaired:
			repaired++
		default:
			healthy++
		}
	}
	noun := "keys"
	if len(r.Keys) == 1 {
		noun = "key"
	}
	parts := []string{fmt.Sprintf("%d healthy", healthy)}
	for _, p := range []struct {
		n    int
		what string
	}{{repaired, "repaired"}, {due, "due"}, {missing, "missing"}, {errs, "not inspected"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	s := fmt.Sprintf("%d %s: %s; %d write call(s); %d rotation(s) started", len(r.Keys), noun, strings.Join(parts, ", "), writes, len(r.Rotations))
	if len(r.Targets) > 0 {
		s += "; " + SummaryLine(r)
	}
	return s
}

// sweepLines are a sweep's progress lines: a key once inspected, a rotation
// once started.
func (p *ProgressTracker) sweepLines(r *workflows.Report, stamp string) []string {
	var lines []string
	for _, k := range r.Keys {
		key := "key " + k.Account + "/" + k.Region
		state := fmt.Sprintf("%s|%s|%v|%d", k.KeyARN, k.Due, k.Error != nil, k.Writes)
		if p.last[key] == state {
			continue
		}
		p.last[key] = state
		verdict := "healthy"
		switch {
		case k.Error != nil:
			verdict = "not inspected: [" + k.Error.Code + "] " + k.Error.Cause
		case k.Missing:
			verdict = "no key under " + k.Alias
		case k.Due != "":
			verdict = "rotation due (" + k.Due + ")"
		case k.Rekey:
			verdict = fmt.Sprintf("%d image(s) to re-encrypt", len(k.StaleImages))
		case k.PolicyRepaired || k.RotationRepaired:
			verdict = "repaired"
		}
		lines = append(lines, fmt.Sprintf("%s  %-12s %-14s %-10s inspected: %s", stamp, k.Account, "-", k.Region, verdict))
	}
	rotations := append([]string(nil), r.Rotations...)
	sort.Strings(rotations)
	for _, id := range rotations {
		key := "rotation " + id
		if p.last[key] != "" {
			continue
		}
		p.last[key] = "started"
		lines = append(lines, fmt.Sprintf("%s  rotation %s started", stamp, id))
	}
	return lines
}

// RotationID names a rotation readably and uniquely enough: one account's
// rotations are one at a time, so the account and the start second do.
func RotationID(account string, now time.Time) string {
	return "rotation-" + account + "-" + now.UTC().Format("20060102T150405")
}

// SweepID names a one-off sweep by its start time (UTC, to the
// millisecond: two sweeps started in the same second are two sweeps, not the
// second one attached to the first's report).
func SweepID(now time.Time) string { return now.UTC().Format("20060102T150405.000Z") }
