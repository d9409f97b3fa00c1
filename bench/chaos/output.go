package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/amicrypt/amicrypt/internal/benchkit"
	"github.com/amicrypt/amicrypt/workflows"
)

func printResult(out io.Writer, r result) {
	fmt.Fprintf(out, "amicrypt chaos benchmark: %d targets (%d accounts × %d regions), copy %s, boot %s, %d workers, seed %d\n",
		r.Targets, r.Accounts, len(benchkit.Regions), r.Copy, r.Boot, r.Workers, r.Seed)
	fmt.Fprintf(out, "faults on every service: throttle_rate %g, error_rate %g, lost_response_rate %g; token buckets %t; poll settings: %s\n\n",
		r.ThrottleRate, r.ErrorRate, r.LostResponseRate, r.TokenBuckets, r.PollSettings)

	h := r.History
	fmt.Fprintf(out, "  %-44s %.1f s\n", "wall time", r.WallSeconds)
	fmt.Fprintf(out, "  %-44s %d of %d succeeded %v\n", "report", r.Summary[workflows.StatusSucceeded], r.Targets, r.Summary)
	fmt.Fprintf(out, "  %-44s %d%s\n", "activity attempts beyond the first", r.AttemptsBeyondFirst, byName(r.AttemptsByActivity))
	fmt.Fprintf(out, "  %-44s %d timed out on a lost worker, %d sticky timeouts, %d failed\n", "workflow tasks", h.WorkflowTaskTimeouts, h.StickyTimeouts, h.WorkflowTaskFailures)
	fmt.Fprintf(out, "  %-44s %d failed for good, %d timed out for good\n", "activities", h.Failures, h.TimedOut)
	fmt.Fprintf(out, "  %-44s %d calls: %d throttled, %d injected errors, %d lost responses\n", "AWS calls (sandbox counters)", r.AWS.Total, r.AWS.Throttled, r.AWS.InjectedErrors, r.AWS.LostResponses)
	if len(r.AWS.FaultsByAction) > 0 {
		counts := map[string]int64{}
		for a, f := range r.AWS.FaultsByAction {
			counts[a] = f.InjectedErrors + f.LostResponses
		}
		var parts []string
		for _, a := range benchkit.TopActions(counts, 8) {
			f := r.AWS.FaultsByAction[a]
			parts = append(parts, fmt.Sprintf("%s %d/%d", a, f.InjectedErrors, f.LostResponses))
		}
		fmt.Fprintf(out, "  %-44s %s\n", "  errors/lost responses, most hit actions", strings.Join(parts, ", "))
	}

	made := 0
	for _, k := range r.Kills {
		if k.Missed == "" {
			made++
		}
	}
	fmt.Fprintf(out, "  %-44s %d of %d made\n", "kills (SIGKILL, worker replaced)", made, len(r.Kills))
	for _, k := range r.Kills {
		if k.Missed != "" {
			fmt.Fprintf(out, "    %d. planned %s (k=%d): NOT MADE: %s\n", k.N, k.Planned, k.K, k.Missed)
			continue
		}
		local := 0
		for _, ts := range k.Local {
			local += len(ts)
		}
		fmt.Fprintf(out, "    %d. at %.1f s, %s (pid %d), planned %s (k=%d): hit %s\n", k.N, k.AtSeconds, k.Worker, k.PID, k.Planned, k.K, strings.Join(k.Hit, ", "))
		fmt.Fprintf(out, "       replaced by %s in %.1f s; local activities run again on another worker: %d of %d\n", k.Replacement, k.ReplacementSeconds, k.RerunElsewhere, local)
	}
	for _, e := range r.WorkerExits {
		fmt.Fprintf(out, "  worker exit: %s\n", e)
	}

	fmt.Fprintf(out, "\ninvariants (from the sandbox's state):\n")
	per := map[string]int{}
	for _, v := range r.Violations {
		per[v.Invariant]++
	}
	for _, inv := range r.Checked {
		mark := "holds"
		if per[inv] > 0 {
			mark = fmt.Sprintf("VIOLATED %d times", per[inv])
		}
		fmt.Fprintf(out, "  %-86s %s\n", inv, mark)
	}
	for _, v := range r.Violations {
		fmt.Fprintf(out, "  VIOLATION %s\n", v)
		if v.Faults != "" {
			fmt.Fprintf(out, "    sandbox faults in %s %s: %s\n", v.Account, v.Region, v.Faults)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(out, "  note: %s\n", n)
	}
	fmt.Fprintf(out, "\ntime: build %.1f s, setup %.1f s, run %.1f s, measuring %.1f s\n", r.BuildSeconds, r.SetupSeconds, r.WallSeconds, r.MeasureSeconds)
}

// byName is " (a 3, b 1)" for counts, most first.
func byName(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, k := range benchkit.TopActions(m, len(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
