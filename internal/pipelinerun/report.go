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

// WriteTable writes a run's report as a person reads it: the sources, one row
// per target, each failure's diagnosis and fix, and a summary line. A
// rotation's and a sweep's reports have their own forms (WriteRotation,
// WriteSweep).
func WriteTable(w io.Writer, r *workflows.Report) {
	switch r.Kind {
	case workflows.KindRotation:
		WriteRotation(w, r)
		return
	case workflows.KindSweep:
		WriteSweep(w, r)
		return
	}
	fmt.Fprintf(w, "run %s", r.RunID)
	if r.ReplayOf != "" {
		fmt.Fprintf(w, " (replay of %s)", r.ReplayOf)
	}
	fmt.Fprintln(w)
	regions := make([]string, 0, len(r.Sources))
	for region := range r.Sources {
		regions = append(regions, region)
	}
	sort.Strings(regions)
	for _, region := range regions {
		fmt.Fprintf(w, "  source %s %s\n", region, r.Sources[region])
	}
	WriteOrganization(w, r.Organization)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tNAME\tREGION\tSTATUS\tIMAGE\tBOOT\tTIME")
	for _, t := range r.Targets {
		boot := t.Boot.Result
		if boot == "" {
			boot = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Account, Dash(t.Name), t.Region, StatusWithStep(t), Dash(t.EncryptedImageID), boot, duration(t))
	}
	tw.Flush()
	for _, t := range r.Targets {
		if t.Diagnosis == nil {
			continue
		}
		fmt.Fprintf(w, "\n%s %s (%s) failed: %s %s\n", t.Account, t.Region, Dash(t.Name), t.Diagnosis.Code, t.Diagnosis.Cause)
		fmt.Fprintf(w, "  fix: %s\n", indent(t.Diagnosis.Fix, "       "))
	}
	for _, t := range r.Targets {
		for _, l := range t.LeftoversRemoved {
			fmt.Fprintf(w, "\n%s %s: removed %s", t.Account, t.Region, l)
		}
		for _, k := range t.RetiredKeys {
			fmt.Fprintf(w, "\n%s %s: key %s, made by an attempt whose answer was lost and never used, scheduled for deletion (7 days; kms cancel-key-deletion undoes it)", t.Account, t.Region, k)
		}
		for _, p := range t.PreviousPointers {
			fmt.Fprintf(w, "\n%s %s: published: %s", t.Account, t.Region, p)
		}
		for _, p := range t.PointersKept {
			fmt.Fprintf(w, "\n%s %s: not published: %s", t.Account, t.Region, p)
		}
		for _, l := range RetirementLines(t.Retirement) {
			fmt.Fprintf(w, "\n%s %s: %s", t.Account, t.Region, l)
		}
		for _, warn := range t.Warnings {
			fmt.Fprintf(w, "\n%s %s: warning: %s", t.Account, t.Region, warn)
		}
	}
	writeHousekeeping(w, r)
	fmt.Fprintf(w, "\n%s\n", SummaryLine(r))
}

// writeHousekeeping prints what the run or sweep cleaned up that terminated
// workflows had left, and what it could not.
func writeHousekeeping(w io.Writer, r *workflows.Report) {
	for _, h := range r.Housekeeping {
		fmt.Fprintf(w, "\nhousekeeping: %s", h)
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "\nwarning: %s", warn)
	}
	if len(r.Housekeeping)+len(r.Warnings) > 0 {
		fmt.Fprintln(w)
	}
}

// WriteOrganization writes what a run's or a plan's organization targets
// resolved to, with the accounts it skipped (nothing without selectors).
func WriteOrganization(w io.Writer, res *workflows.OrganizationResolution) {
	if res == nil {
		return
	}
	fmt.Fprintf(w, "  organization %s: %d accounts, %d targets (%d units and roots read)", Dash(res.OrganizationID), res.Accounts, res.Targets, res.Units)
	if res.Excluded > 0 {
		fmt.Fprintf(w, "; %d excluded by the config", res.Excluded)
	}
	if res.SkippedCount > 0 {
		fmt.Fprintf(w, "; %d skipped (suspended or being closed)", res.SkippedCount)
	}
	fmt.Fprintln(w)
	for _, a := range res.Skipped {
		fmt.Fprintf(w, "    skipped %s %s: %s\n", a.ID, Dash(a.Name), a.Status)
	}
	if more := res.SkippedCount - len(res.Skipped); more > 0 {
		fmt.Fprintf(w, "    … and %d more (the JSON report's organization.skipped_count)\n", more)
	}
}

// SummaryLine is "5 targets: 4 succeeded, 1 failed".
func SummaryLine(r *workflows.Report) string {
	order := []string{workflows.StatusSucceeded, workflows.StatusFailed, workflows.StatusRunning, workflows.StatusPending, workflows.StatusCancelled}
	var parts []string
	for _, s := range order {
		if n := r.Summary[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	if len(parts) == 0 {
		return "no targets"
	}
	total := len(r.Targets)
	if r.RowsInBatches {
		total = r.Summary["total"]
	}
	noun := "targets"
	if total == 1 {
		noun = "target"
	}
	return fmt.Sprintf("%d %s: %s", total, noun, strings.Join(parts, ", "))
}

// StatusWithStep is a target's status, with its step while it runs.
func StatusWithStep(t workflows.TargetReport) string {
	if t.Status == workflows.StatusRunning && t.Step != "" {
		return "running: " + t.Step
	}
	return t.Status
}

func duration(t workflows.TargetReport) string {
	if t.StartedAt == nil || t.FinishedAt == nil {
		return "-"
	}
	return t.FinishedAt.Sub(*t.StartedAt).Round(100 * time.Millisecond).String()
}

// Dash is s, or "-" for an empty s.
func Dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func indent(s, prefix string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}

// ProgressTracker turns successive progress reports into one line per target
// that moved since the last report, so a log or a terminal shows long runs as
// they go.
type ProgressTracker struct {
	last map[string]string
	// Now stamps each line (time.Now when nil).
	Now func() time.Time
	// ShowImage appends a succeeded target's encrypted image id.
	ShowImage bool
}

// NewProgressTracker returns a tracker that has seen nothing yet.
func NewProgressTracker() *ProgressTracker {
	return &ProgressTracker{last: map[string]string{}}
}

// Changes returns a line for each target whose status or step changed.
func (p *ProgressTracker) Changes(r *workflows.Report) []string {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	var lines []string
	if r.RowsInBatches && len(r.Targets) == 0 {
		// A large run's progress is counts: a line when they move.
		line := SummaryLine(r)
		if p.last["\x00counts"] != line {
			p.last["\x00counts"] = line
			lines = append(lines, now().Format("15:04:05")+"  "+line)
		}
		return lines
	}
	for _, t := range r.Targets {
		key := t.Account + "/" + t.Region
		status := StatusWithStep(t)
		if p.last[key] == status {
			continue
		}
		p.last[key] = status
		line := fmt.Sprintf("%s  %-12s %-14s %-10s %s", now().Format("15:04:05"), t.Account, Dash(t.Name), t.Region, status)
		if p.ShowImage && t.EncryptedImageID != "" && t.Status == workflows.StatusSucceeded {
			line += "  " + t.EncryptedImageID
		}
		if t.Diagnosis != nil {
			line += "  [" + t.Diagnosis.Code + "] " + t.Diagnosis.Cause
		}
		lines = append(lines, line)
	}
	if r.Kind == workflows.KindSweep {
		lines = append(lines, p.sweepLines(r, now().Format("15:04:05"))...)
	}
	return lines
}

// RetirementLines says what retention (or a rotation) did with images, one
// line each (activities.Retirement.Lines).
func RetirementLines(r *activities.Retirement) []string {
	if r == nil {
		return nil
	}
	return r.Lines()
}
