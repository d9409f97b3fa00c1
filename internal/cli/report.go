package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/amicrypt/amicrypt/workflows"
)

// printReport writes a run's report as a table a person reads, or as JSON.
func printReport(w io.Writer, r *workflows.Report, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
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
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tNAME\tREGION\tSTATUS\tIMAGE\tBOOT\tTIME")
	for _, t := range r.Targets {
		boot := t.Boot.Result
		if boot == "" {
			boot = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Account, dash(t.Name), t.Region, statusWithStep(t), dash(t.EncryptedImageID), boot, duration(t))
	}
	tw.Flush()
	for _, t := range r.Targets {
		if t.Diagnosis == nil {
			continue
		}
		fmt.Fprintf(w, "\n%s %s (%s) failed: %s %s\n", t.Account, t.Region, dash(t.Name), t.Diagnosis.Code, t.Diagnosis.Cause)
		fmt.Fprintf(w, "  fix: %s\n", indent(t.Diagnosis.Fix, "       "))
	}
	fmt.Fprintf(w, "\n%s\n", summaryLine(r))
	return nil
}

func summaryLine(r *workflows.Report) string {
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
	noun := "targets"
	if len(r.Targets) == 1 {
		noun = "target"
	}
	return fmt.Sprintf("%d %s: %s", len(r.Targets), noun, strings.Join(parts, ", "))
}

func statusWithStep(t workflows.TargetReport) string {
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

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func indent(s, prefix string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}

// progressPrinter prints what changed since the last progress report, one line
// per target that moved, so a log or a terminal shows long runs as they go.
type progressPrinter struct {
	w    io.Writer
	last map[string]string
}

func newProgressPrinter(w io.Writer) *progressPrinter {
	return &progressPrinter{w: w, last: map[string]string{}}
}

func (p *progressPrinter) update(r *workflows.Report) {
	for _, t := range r.Targets {
		key := t.Account + "/" + t.Region
		now := statusWithStep(t)
		if p.last[key] == now {
			continue
		}
		p.last[key] = now
		line := fmt.Sprintf("%s  %-12s %-14s %-10s %s", time.Now().Format("15:04:05"), t.Account, dash(t.Name), t.Region, now)
		if t.Diagnosis != nil {
			line += "  [" + t.Diagnosis.Code + "] " + t.Diagnosis.Cause
		}
		fmt.Fprintln(p.w, line)
	}
}
